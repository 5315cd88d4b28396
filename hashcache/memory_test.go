package hashcache

import (
	"bytes"
	"testing"

	"github.com/modelgate/modelgate/manifest"
)

func TestMemory(t *testing.T) {
	m := NewMemory(3, nil)
	b := m.Batch(nil)
	for i := range uint64(5) {
		b.Put(key(i), "", digestOf(byte(i)))
	}
	b.Close()
	if m.Len() != 3 {
		t.Errorf("%d entries, bound 3", m.Len())
	}
	b = m.Batch(nil)
	defer b.Close()
	if _, ok := b.Get(key(0)); ok {
		t.Error("the least recently used entry survived")
	}
	if d, ok := b.Get(key(4)); !ok || !bytes.Equal(d, digestOf(4)) {
		t.Errorf("newest entry: %x, %v", d, ok)
	}
	def := NewMemory(0, nil)
	b2 := def.Batch(nil)
	for i := range uint64(100) {
		b2.Put(key(i), "", digestOf(1))
	}
	b2.Close()
	if def.Len() != 100 {
		t.Errorf("a Memory of size 0 holds %d of 100 entries: 0 must mean the default", def.Len())
	}
}

// TestMemoryOverStore: a Memory in front of a Store answers from memory,
// falls through to the store, remembers what the store had, and writes
// through.
func TestMemoryOverStore(t *testing.T) {
	s, _ := newStore(t, Options{})
	putAll(s, []manifest.FileKey{key(1)}, digestOf(1))
	m := NewMemory(10, s)
	b := m.Batch([]manifest.FileID{key(1).ID(), key(2).ID()})
	if d, ok := b.Get(key(1)); !ok || !bytes.Equal(d, digestOf(1)) {
		t.Errorf("store entry through memory: %x, %v", d, ok)
	}
	b.Put(key(2), "/p", digestOf(2))
	b.Close()
	if m.Len() != 2 {
		t.Errorf("memory holds %d entries, want the store's hit and the put", m.Len())
	}
	if _, ok := lookup(s, key(2)); !ok {
		t.Error("a Put through memory did not reach the store")
	}
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	b = m.Batch(nil)
	defer b.Close()
	if _, ok := b.Get(key(1)); !ok {
		t.Error("memory forgot an entry after the store was cleared")
	}
}
