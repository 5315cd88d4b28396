package hashcache

import (
	"bytes"
	"testing"

	"github.com/modelgate/modelgate/manifest"
)

func TestFormatRoundTrip(t *testing.T) {
	for _, k := range []manifest.FileKey{
		key(1),
		{Device: 1<<64 - 1, Inode: 1 << 63, Size: 1<<63 - 1, ModTime: -5, ChangeTime: 1 << 62, Hash: manifest.BLAKE2b, Start: 1 << 40, End: 1<<40 + 1},
	} {
		got, ok := decodeKey(encodeKey(k))
		if !ok || got != k {
			t.Errorf("key %+v → %+v, %v", k, got, ok)
		}
		if !bytes.HasPrefix(encodeKey(k), encodeID(k.ID())) {
			t.Errorf("key %+v does not start with its file id", k)
		}
	}
	e := entry{used: 1_700_000_000, digest: digestOf(9), path: "/m/a b/\"c\""}
	got, ok := decodeValue(encodeValue(e))
	if !ok || got.used != e.used || !bytes.Equal(got.digest, e.digest) || got.path != e.path {
		t.Errorf("value %+v → %+v, %v", e, got, ok)
	}
	for name, v := range map[string][]byte{
		"empty":         nil,
		"other version": append([]byte{2}, encodeValue(e)[1:]...),
		"short":         encodeValue(e)[:valueHead+3],
		"no digest":     encodeValue(entry{used: 1}),
	} {
		if _, ok := decodeValue(v); ok {
			t.Errorf("%s value accepted", name)
		}
	}
	for name, k := range map[string][]byte{
		"no hash":   encodeKey(manifest.FileKey{})[:fixedKey],
		"long hash": encodeKey(manifest.FileKey{Hash: manifest.HashType(bytes.Repeat([]byte("h"), 40))}),
	} {
		if _, ok := decodeKey(k); ok {
			t.Errorf("%s key accepted", name)
		}
	}
}

// FuzzDecode: keys and values read from the store file never crash the
// decoders, and whatever they accept encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(encodeKey(key(1)), encodeValue(entry{used: 5, digest: digestOf(1), path: "/p"}))
	f.Add([]byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if key, ok := decodeKey(k); ok && !bytes.Equal(encodeKey(key), k) {
			t.Errorf("key %x decodes to %+v, which encodes differently", k, key)
		}
		if e, ok := decodeValue(v); ok && !bytes.Equal(encodeValue(e), v) {
			t.Errorf("value %x decodes to %+v, which encodes differently", v, e)
		}
	})
}
