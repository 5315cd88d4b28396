//go:build linux

package manifest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// mapCache is a DigestCache in a map that records what it is asked.
type mapCache struct {
	mu      sync.Mutex
	entries map[FileKey][]byte
	paths   map[FileKey]string
	batches [][]FileID
	closed  int
	gets    int
}

func newMapCache() *mapCache {
	return &mapCache{entries: map[FileKey][]byte{}, paths: map[FileKey]string{}}
}

func (c *mapCache) Batch(ids []FileID) DigestBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, ids)
	return mapBatch{c}
}

type mapBatch struct{ c *mapCache }

func (b mapBatch) Get(k FileKey) ([]byte, bool) {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	b.c.gets++
	d, ok := b.c.entries[k]
	return d, ok
}

func (b mapBatch) Put(k FileKey, path string, d []byte) {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	b.c.entries[k] = d
	b.c.paths[k] = path
}

func (b mapBatch) Close() {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	b.c.closed++
}

func (c *mapCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// keys returns the stored keys.
func (c *mapCache) keys() []FileKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []FileKey
	for k := range c.entries {
		ks = append(ks, k)
	}
	return ks
}

// shortRacyWindow lets digests of files written a moment ago be stored:
// tests wait settle after writing instead of two seconds. Tests that use it
// must not be parallel (it sets a package variable).
func shortRacyWindow(t *testing.T) {
	t.Helper()
	old := racyWindow
	racyWindow = 20 * time.Millisecond
	t.Cleanup(func() { racyWindow = old })
}

// settle waits until files written before it are older than the shortened
// racy window, and older than any timestamp tick: a later write gets a
// later change time.
func settle() { time.Sleep(40 * time.Millisecond) }

// cachedBuild builds dir with c and checks that the batch was closed.
func cachedBuild(t *testing.T, dir string, s Serialization, c *mapCache) (*Manifest, Stats) {
	t.Helper()
	closed := c.closed
	m, st, err := build(t, dir, Options{Serialization: s, Cache: c, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if c.closed != closed+1 {
		t.Errorf("batch closed %d times, want once", c.closed-closed)
	}
	return m, st
}

func TestCacheHit(t *testing.T) {
	shortRacyWindow(t)
	for _, s := range []Serialization{filesSHA, shards8, {Method: Files, HashType: BLAKE2b}} {
		t.Run(string(s.Method)+"/"+string(s.HashType), func(t *testing.T) {
			const a, b = "the first file", "second"
			const total = int64(len(a) + len(b))
			dir := tree(t, map[string]string{"a": a, "d/b": b, "e": ""})
			settle()
			c := newMapCache()
			m1, st1 := cachedBuild(t, dir, s, c)
			if st1.CachedBytes != 0 || st1.Bytes != total {
				t.Fatalf("cold: stats %+v, want %d bytes read, none cached", st1, total)
			}
			if c.len() != len(m1.Resources) {
				t.Fatalf("stored %d digests, want one per resource (%d)", c.len(), len(m1.Resources))
			}
			for k, p := range c.paths {
				if !filepath.IsAbs(p) || k.Hash != s.HashType {
					t.Errorf("entry %+v: path %q, want an absolute path and hash %s", k, p, s.HashType)
				}
			}
			m2, st2 := cachedBuild(t, dir, s, c)
			if st2.Bytes != 0 || st2.CachedBytes != total || st2.Files != st1.Files {
				t.Errorf("warm: stats %+v, want nothing read, %d bytes cached, %d files", st2, total, st1.Files)
			}
			if !reflect.DeepEqual(m1, m2) {
				t.Errorf("warm manifest differs:\n%+v\n%+v", m1, m2)
			}
			ids := c.batches[len(c.batches)-1]
			if len(ids) != 3 {
				t.Errorf("batch got %d file ids, want the 3 walked files", len(ids))
			}
		})
	}
}

// TestCacheMisses: each part of a file's identity and state, and the hash
// and range, is part of the key: changing any one of them re-reads the
// file and yields the digest of what is on disk now.
func TestCacheMisses(t *testing.T) {
	shortRacyWindow(t)
	const orig, other = "original content", "tampered content" // same size
	cases := []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"same-size rewrite", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(other), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewrite with mtime restored (change time)", func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(other), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if fi2, _ := os.Stat(p); !fi2.ModTime().Equal(fi.ModTime()) || fi2.Size() != fi.Size() {
				t.Fatalf("mtime or size not restored: %v/%d, want %v/%d", fi2.ModTime(), fi2.Size(), fi.ModTime(), fi.Size())
			}
		}},
		{"renamed over (inode)", func(t *testing.T, p string) {
			tmp := p + ".new"
			if err := os.WriteFile(tmp, []byte(other), 0o644); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tree(t, map[string]string{"w": orig, "keep": "unchanged"})
			settle()
			c := newMapCache()
			cachedBuild(t, dir, filesSHA, c)
			settle()
			tc.change(t, filepath.Join(dir, "w"))
			m, st := cachedBuild(t, dir, filesSHA, c)
			if got, _ := digest(m, "w"); got != sha(other) {
				t.Errorf("digest of w %s, want that of the new content %s", got, sha(other))
			}
			if st.Bytes != int64(len(other)) || st.CachedBytes != int64(len("unchanged")) {
				t.Errorf("stats %+v: want only w read and keep from the cache", st)
			}
		})
	}
}

// TestCacheKeyFields: a stored digest is found only under exactly its key;
// a key differing in any field (device included, which a test cannot
// change on disk) is a miss and the file is read.
func TestCacheKeyFields(t *testing.T) {
	shortRacyWindow(t)
	dir := tree(t, map[string]string{"f": "0123456789abcdef"})
	settle()
	c := newMapCache()
	cachedBuild(t, dir, filesSHA, c)
	real := c.keys()
	if len(real) != 1 {
		t.Fatalf("stored %d keys, want 1", len(real))
	}
	k := real[0]
	poison := bytes.Repeat([]byte{0xee}, 32)
	variants := map[string]func(FileKey) FileKey{
		"device":      func(k FileKey) FileKey { k.Device++; return k },
		"inode":       func(k FileKey) FileKey { k.Inode++; return k },
		"size":        func(k FileKey) FileKey { k.Size++; return k },
		"mtime":       func(k FileKey) FileKey { k.ModTime++; return k },
		"change time": func(k FileKey) FileKey { k.ChangeTime++; return k },
		"hash":        func(k FileKey) FileKey { k.Hash = BLAKE3; return k },
		"range":       func(k FileKey) FileKey { k.Start, k.End = 0, 8; return k },
	}
	for name, change := range variants {
		t.Run(name, func(t *testing.T) {
			// Only the variant is in the cache, with a digest that is not
			// the file's: a lookup that ignored the field would return it.
			c := newMapCache()
			c.entries[change(k)] = poison
			m, st := cachedBuild(t, dir, filesSHA, c)
			if got, _ := digest(m, "f"); got != sha("0123456789abcdef") || st.CachedBytes != 0 {
				t.Errorf("digest %s (cached %d bytes), want the file's own %s", got, st.CachedBytes, sha("0123456789abcdef"))
			}
		})
	}
	t.Run("exact key", func(t *testing.T) {
		c := newMapCache()
		c.entries[k] = poison
		m, _ := cachedBuild(t, dir, filesSHA, c)
		if got, _ := digest(m, "f"); got != strings.Repeat("ee", 32) {
			t.Errorf("digest %s: the exact key must be a hit (the cache is trusted: it is its owner's)", got)
		}
	})
	t.Run("wrong length", func(t *testing.T) {
		c := newMapCache()
		c.entries[k] = poison[:31]
		m, st := cachedBuild(t, dir, filesSHA, c)
		if got, _ := digest(m, "f"); got != sha("0123456789abcdef") || st.CachedBytes != 0 {
			t.Errorf("digest %s: a stored digest of the wrong length must be ignored", got)
		}
	})
}

// TestCacheRacyFiles: a file whose change time is within the racy window
// when it is hashed is not stored (a write in the same timestamp tick
// would not change its key).
func TestCacheRacyFiles(t *testing.T) {
	dir := tree(t, map[string]string{"fresh": "just written"})
	c := newMapCache()
	_, st := cachedBuild(t, dir, filesSHA, c) // the default two-second window
	if c.len() != 0 {
		t.Errorf("stored %d digests of a file written just now, want none", c.len())
	}
	if st.Bytes != int64(len("just written")) {
		t.Errorf("stats %+v", st)
	}
}

// TestCacheHardLinks: two names of one file share its identity, and so its
// digest, which is right: they are the same bytes.
func TestCacheHardLinks(t *testing.T) {
	shortRacyWindow(t)
	dir := tree(t, map[string]string{"a": "shared bytes"})
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Skipf("link: %v", err)
	}
	settle()
	c := newMapCache()
	cachedBuild(t, dir, filesSHA, c)
	if c.len() != 1 {
		t.Errorf("stored %d entries for one file with two names, want 1", c.len())
	}
	m, st := cachedBuild(t, dir, filesSHA, c)
	a, _ := digest(m, "a")
	b, _ := digest(m, "b")
	if a != sha("shared bytes") || b != a || st.Bytes != 0 {
		t.Errorf("digests %s %s, stats %+v", a, b, st)
	}
}

// cachedProgress also counts Cached calls.
type cachedProgress struct {
	countingProgress
	cached int64
}

func (p *cachedProgress) Cached(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cached += n
}

func TestCacheProgress(t *testing.T) {
	shortRacyWindow(t)
	dir := tree(t, map[string]string{"x": strings.Repeat("x", 100), "y": "yy"})
	settle()
	c := newMapCache()
	cachedBuild(t, dir, filesSHA, c)

	var plain countingProgress
	if _, _, err := build(t, dir, Options{Serialization: filesSHA, Cache: c, Progress: &plain}); err != nil {
		t.Fatal(err)
	}
	if plain.hashed() != 102 {
		t.Errorf("a Progress without Cached heard %d bytes, want all 102 through Hashed", plain.hashed())
	}
	var p cachedProgress
	if _, _, err := build(t, dir, Options{Serialization: filesSHA, Cache: c, Progress: &p}); err != nil {
		t.Fatal(err)
	}
	if p.hashed() != 0 || p.cached != 102 {
		t.Errorf("a CacheProgress heard Hashed %d, Cached %d; want 0 and 102", p.hashed(), p.cached)
	}
}

// TestCacheChangedDuringHash: a file that changes while it is read is not
// stored under the identity taken before the read.
func TestCacheChangedDuringHash(t *testing.T) {
	shortRacyWindow(t)
	dir := tree(t, map[string]string{"f": strings.Repeat("a", 3*chunkSize)})
	settle()
	p := filepath.Join(dir, "f")
	c := newMapCache()
	once := sync.Once{}
	touch := &hookProgress{hashed: func() {
		once.Do(func() {
			// Same size, new content: the hash may mix old and new
			// bytes, and nothing may be stored for it.
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("b"), 0); err != nil {
				t.Error(err)
			}
		})
	}}
	if _, _, err := build(t, dir, Options{Serialization: filesSHA, Cache: c, Progress: touch, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if c.len() != 0 {
		t.Errorf("stored %d digests of a file changed while it was read, want none", c.len())
	}
}

// hookProgress runs hashed after each chunk.
type hookProgress struct{ hashed func() }

func (h *hookProgress) Planned(int, int64) {}
func (h *hookProgress) Hashed(int64)       { h.hashed() }

// TestCacheUntrustedFS: on a device whose file system is not trusted to
// keep change times, nothing is looked up or stored.
func TestCacheUntrustedFS(t *testing.T) {
	shortRacyWindow(t)
	dir := tree(t, map[string]string{"f": "x", "g": "y"})
	settle()
	tr, err := Walk(context.Background(), dir, Options{Serialization: filesSHA})
	if err != nil {
		t.Fatal(err)
	}
	c := newMapCache()
	run := newCacheRun(c, SHA256, tr.files, nil)
	run.fs.m.Store(tr.files[0].info.dev, fsUntrusted) // as if the device were FUSE or FAT
	if _, _, err := hashAll(context.Background(), tr.loc, plan(tr.files, filesSHA), tr.opts, 1, run); err != nil {
		t.Fatal(err)
	}
	run.close()
	if c.gets != 0 || c.len() != 0 {
		t.Errorf("%d lookups and %d entries stored on an untrusted file system, want none", c.gets, c.len())
	}
}

// TestFSKindOf: local file systems key digests by the walk's stat; NFS
// and overlayfs only by the open file's (their stat by name may be stale);
// the rest never.
func TestFSKindOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    uint32
		want fsKind
	}{
		{"ext4", 0xef53, fsLocal}, {"xfs", 0x58465342, fsLocal}, {"btrfs", 0x9123683e, fsLocal},
		{"tmpfs", 0x01021994, fsLocal}, {"zfs", 0x2fc12fc1, fsLocal}, {"f2fs", 0xf2f52010, fsLocal},
		{"overlayfs", 0x794c7630, fsOpened}, {"nfs", 0x6969, fsOpened},
		{"vfat", 0x4d44, fsUntrusted}, {"exfat", 0x2011bab0, fsUntrusted}, {"fuse", 0x65735546, fsUntrusted},
		{"smb2", 0xfe534d42, fsUntrusted}, {"cifs", 0xff534d42, fsUntrusted}, {"squashfs", 0x73717368, fsUntrusted},
		{"procfs", 0x9fa0, fsUntrusted}, {"unknown", 0, fsUntrusted},
	} {
		if got := fsKindOf(tc.t); got != tc.want {
			t.Errorf("%s (%#x): kind %d, want %d", tc.name, tc.t, got, tc.want)
		}
	}
}
