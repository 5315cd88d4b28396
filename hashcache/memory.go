package hashcache

import (
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/modelgate/modelgate/manifest"
)

// DefaultMemoryEntries bounds a Memory made with a size of 0: about
// 10 MB, the files of thousands of adapters.
const DefaultMemoryEntries = 65536

// Memory is a bounded in-process digest cache (least recently used
// entries go first), optionally in front of another cache such as a
// Store. A long-running gate keeps one for its life: an adapter that vLLM
// evicted and loads again is not read again if it did not change. It is
// safe for concurrent use.
type Memory struct {
	lru  *lru.Cache[manifest.FileKey, []byte]
	next manifest.DigestCache
}

// NewMemory returns a Memory holding at most maxEntries digests (0 means
// DefaultMemoryEntries). With next, a miss is looked up there (and a hit
// there remembered), and every Put is passed on to it.
func NewMemory(maxEntries int, next manifest.DigestCache) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMemoryEntries
	}
	c, err := lru.New[manifest.FileKey, []byte](maxEntries)
	if err != nil {
		panic(err) // only for a size that is not positive, excluded above
	}
	return &Memory{lru: c, next: next}
}

// Len returns the number of digests held in memory.
func (m *Memory) Len() int { return m.lru.Len() }

// Batch implements manifest.DigestCache.
func (m *Memory) Batch(files []manifest.FileID) manifest.DigestBatch {
	b := &memoryBatch{m: m}
	if m.next != nil {
		b.next = m.next.Batch(files)
	}
	return b
}

type memoryBatch struct {
	m    *Memory
	next manifest.DigestBatch // nil without a next cache
}

func (b *memoryBatch) Get(k manifest.FileKey) ([]byte, bool) {
	if d, ok := b.m.lru.Get(k); ok {
		return d, true
	}
	if b.next == nil {
		return nil, false
	}
	d, ok := b.next.Get(k)
	if ok {
		b.m.lru.Add(k, d)
	}
	return d, ok
}

func (b *memoryBatch) Put(k manifest.FileKey, path string, digest []byte) {
	b.m.lru.Add(k, digest)
	if b.next != nil {
		b.next.Put(k, path, digest)
	}
}

func (b *memoryBatch) Close() {
	if b.next != nil {
		b.next.Close()
	}
}
