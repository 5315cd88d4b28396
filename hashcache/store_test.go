package hashcache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/modelgate/modelgate/manifest"
)

var sha = manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}

func TestStoreRoundTrip(t *testing.T) {
	s, logs := newStore(t, Options{})
	if _, ok := lookup(s, key(1)); ok {
		t.Fatal("an empty store found a digest")
	}
	putAll(s, []manifest.FileKey{key(1), key(2)}, digestOf(0xaa))
	for _, k := range []manifest.FileKey{key(1), key(2)} {
		if d, ok := lookup(s, k); !ok || !bytes.Equal(d, digestOf(0xaa)) {
			t.Errorf("%+v: got %x, %v", k, d, ok)
		}
	}
	if _, ok := lookup(s, key(3)); ok {
		t.Error("found a digest never stored")
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v, want 0600", fi.Mode())
	}
	if logs.String() != "" {
		t.Errorf("unexpected warnings: %s", logs)
	}
}

// TestStoreKeyFields: every field of the key, the hash and the range
// included, tells entries apart.
func TestStoreKeyFields(t *testing.T) {
	s, _ := newStore(t, Options{})
	base := key(1)
	putAll(s, []manifest.FileKey{base}, digestOf(1))
	for name, k := range map[string]manifest.FileKey{
		"device": func(k manifest.FileKey) manifest.FileKey { k.Device++; return k }(base),
		"inode":  func(k manifest.FileKey) manifest.FileKey { k.Inode++; return k }(base),
		"size":   func(k manifest.FileKey) manifest.FileKey { k.Size--; return k }(base),
		"mtime":  func(k manifest.FileKey) manifest.FileKey { k.ModTime++; return k }(base),
		"ctime":  func(k manifest.FileKey) manifest.FileKey { k.ChangeTime++; return k }(base),
		"hash":   func(k manifest.FileKey) manifest.FileKey { k.Hash = manifest.BLAKE3; return k }(base),
		"start":  func(k manifest.FileKey) manifest.FileKey { k.Start = 1; return k }(base),
		"end":    func(k manifest.FileKey) manifest.FileKey { k.End = 99; return k }(base),
	} {
		if _, ok := lookup(s, k); ok {
			t.Errorf("%s changed: still a hit", name)
		}
	}
	if _, ok := lookup(s, base); !ok {
		t.Error("the stored key itself misses")
	}
}

// TestStoreBuild hashes a real model through the store: the second build
// reads nothing, and a rewrite with the mtime restored is read again.
func TestStoreBuild(t *testing.T) {
	t.Parallel()
	dir := agedModel(t, map[string]string{"a": "alpha", "sub/b": "bravo!"})
	s, logs := newStore(t, Options{})
	opts := manifest.Options{Serialization: sha, Cache: s}
	m1, st1, err := manifest.Build(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	m2, st2, err := manifest.Build(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st1.CachedBytes != 0 || st2.Bytes != 0 || st2.CachedBytes != st1.Bytes || !reflect.DeepEqual(m1, m2) {
		t.Fatalf("cold %+v, warm %+v: want the warm build to read nothing and agree", st1, st2)
	}
	p := filepath.Join(dir, "a")
	fi, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte("ALPHA"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	m3, st3, err := manifest.Build(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st3.Bytes != 5 || reflect.DeepEqual(m1, m3) {
		t.Errorf("after a rewrite with mtime restored: stats %+v; the file must be read again and its digest change", st3)
	}
	if logs.String() != "" {
		t.Errorf("unexpected warnings: %s", logs)
	}
}

// TestStoreUntrusted: a folder or file that someone else could change is
// never used.
func TestStoreUntrusted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent os.FileMode // mode of the folder above the cache folder
		dir    os.FileMode // mode of the cache folder; 0: Open creates it
	}{
		{"folder writable by others", 0o700, 0o777},
		{"folder writable by group", 0o700, 0o770},
		{"parent writable by others, no sticky bit", 0o777, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "p")
			dir := filepath.Join(parent, "c")
			mkdirMode(t, parent, tc.parent)
			if tc.dir != 0 {
				mkdirMode(t, dir, tc.dir)
			}
			if _, err := Open(dir, Options{}); !errors.Is(err, ErrUntrusted) {
				t.Errorf("Open: %v, want ErrUntrusted", err)
			}
		})
	}
	t.Run("file writable by others", func(t *testing.T) {
		s, logs := newStore(t, Options{})
		putAll(s, []manifest.FileKey{key(1)}, digestOf(1))
		if err := os.Chmod(s.Path(), 0o666); err != nil {
			t.Fatal(err)
		}
		if _, ok := lookup(s, key(1)); ok {
			t.Error("a store file writable by others was used")
		}
		if logs.count("not safe to use") != 1 {
			t.Errorf("want one warning, got:\n%s", logs)
		}
		lookup(s, key(1))
		if logs.count("not safe to use") != 1 {
			t.Errorf("the warning was repeated:\n%s", logs)
		}
	})
	t.Run("file is a symlink", func(t *testing.T) {
		s, logs := newStore(t, Options{})
		other := filepath.Join(t.TempDir(), "elsewhere.db")
		s2, err := Open(filepath.Dir(other), Options{})
		if err != nil {
			t.Fatal(err)
		}
		putAll(s2, []manifest.FileKey{key(1)}, digestOf(1))
		if err := os.Symlink(s2.Path(), s.Path()); err != nil {
			t.Fatal(err)
		}
		if _, ok := lookup(s, key(1)); ok {
			t.Error("a store reached through a symlink was used")
		}
		if logs.count("running without it") != 1 {
			t.Errorf("want one warning, got:\n%s", logs)
		}
	})
}

// mkdirMode makes the folder p with exactly mode (beyond the umask).
func mkdirMode(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestStoreOtherOwner: a folder or file owned by another user is refused,
// by root too. Changing owners needs root.
func TestStoreOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root; the mode-bit cases run in TestStoreUntrusted")
	}
	const other = 4242
	t.Run("folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, other, other); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrUntrusted) {
			t.Errorf("Open: %v, want ErrUntrusted", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		s, logs := newStore(t, Options{})
		putAll(s, []manifest.FileKey{key(1)}, digestOf(1))
		if err := os.Chown(s.Path(), other, other); err != nil {
			t.Fatal(err)
		}
		if _, ok := lookup(s, key(1)); ok {
			t.Error("a store file owned by another user was used")
		}
		if logs.count("uid 4242") != 1 {
			t.Errorf("want one warning naming the owner, got:\n%s", logs)
		}
	})
}

// TestStoreCorrupt: a damaged store is never fatal and never trusted:
// hashing runs without it, with one warning.
func TestStoreCorrupt(t *testing.T) {
	t.Parallel()
	dir := agedModel(t, map[string]string{"f": "content of f", "g": "content of g"})
	want, _, err := manifest.Build(context.Background(), dir, manifest.Options{Serialization: sha})
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T, path string) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		},
		"pages overwritten": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Keep the two meta pages (which carry checksums), wreck
			// what they point to.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 3*4096), 2*4096); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, wreck := range damage {
		t.Run(name, func(t *testing.T) {
			s, logs := newStore(t, Options{})
			opts := manifest.Options{Serialization: sha, Cache: s}
			if _, _, err := manifest.Build(context.Background(), dir, opts); err != nil {
				t.Fatal(err)
			}
			wreck(t, s.Path())
			for range 2 {
				got, _, err := manifest.Build(context.Background(), dir, opts)
				if err != nil {
					t.Fatalf("a corrupt store made Build fail: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("with a corrupt store the manifest differs:\n%+v\n%+v", got, want)
				}
			}
			if n := logs.count("level=WARN"); n == 0 || n > 2 {
				t.Errorf("want a warning (once for reading, at most once for writing), got:\n%s", logs)
			}
			if _, err := s.Stats(); err == nil && name != "pages overwritten" {
				t.Error("Stats of a corrupt store reported no error")
			}
			if err := s.Clear(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := manifest.Build(context.Background(), dir, opts); err != nil {
				t.Fatal(err)
			}
			if st, err := s.Stats(); err != nil || st.Entries != 2 {
				t.Errorf("after clear, the store is not usable again: %+v, %v", st, err)
			}
		})
	}
}

// TestStoreLocked: a store locked by another process for longer than the
// lock timeout is skipped with a warning; hashing does not wait longer.
func TestStoreLocked(t *testing.T) {
	s, logs := newStore(t, Options{LockTimeout: 200 * time.Millisecond})
	putAll(s, []manifest.FileKey{key(1)}, digestOf(1))
	holder, err := bolt.Open(s.Path(), 0o600, nil) // an exclusive lock, as a writer holds
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	start := time.Now()
	b := s.Batch([]manifest.FileID{key(1).ID()})
	if _, ok := b.Get(key(1)); ok {
		t.Error("hit while the store was locked")
	}
	b.Put(key(2), "/x", digestOf(2))
	b.Close()
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("waited %v for a locked store (lock timeout 200ms)", waited)
	}
	if logs.count("is locked by another modelgate process") != 1 {
		t.Errorf("want one warning, got:\n%s", logs)
	}
	holder.Close()
	if _, ok := lookup(s, key(1)); !ok {
		t.Error("the store is not used again once the lock is released")
	}
}

// TestStoreEviction: past its bound the store drops the least recently
// used entries.
func TestStoreEviction(t *testing.T) {
	s, _ := newStore(t, Options{MaxEntries: 10})
	clock := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return clock }
	for i := range uint64(25) {
		clock = clock.Add(time.Hour)
		putAll(s, []manifest.FileKey{key(i)}, digestOf(byte(i)))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries > 10 {
		t.Errorf("%d entries, bound 10", st.Entries)
	}
	if _, ok := lookup(s, key(24)); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := lookup(s, key(0)); ok {
		t.Error("the oldest entry survived")
	}
	// A hit a day later refreshes an old entry, which then outlives newer
	// ones.
	survivors := 0
	var oldest uint64
	for i := range uint64(25) {
		if _, ok := lookup(s, key(i)); ok {
			if survivors == 0 {
				oldest = i
			}
			survivors++
		}
	}
	clock = clock.Add(48 * time.Hour)
	b := s.Batch([]manifest.FileID{key(oldest).ID()})
	b.Get(key(oldest))
	b.Close()
	for i := uint64(100); i < 100+uint64(10-survivors)+2; i++ {
		clock = clock.Add(time.Minute)
		putAll(s, []manifest.FileKey{key(i)}, digestOf(1))
	}
	if _, ok := lookup(s, key(oldest)); !ok {
		t.Error("an entry used again was evicted before entries not used since")
	}
}

// TestStoreTouchInterval: a hit refreshes its entry's last use only when
// that is older than touchAfter, so that a warm batch writes nothing; an
// older entry is refreshed (eviction goes by last use).
func TestStoreTouchInterval(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name     string
		later    time.Duration // from the Put to the hit
		wantUsed time.Time     // the entry's last use after the hit
		write    bool          // the hit's batch writes the store
	}{
		{"same second", 0, t0, false},
		{"an hour later", time.Hour, t0, false},
		{"just within the interval", touchAfter, t0, false},
		{"past the interval", touchAfter + time.Second, t0.Add(touchAfter + time.Second), true},
		{"a month later", 30 * touchAfter, t0.Add(30 * touchAfter), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, Options{})
			s.now = func() time.Time { return t0 }
			putAll(s, []manifest.FileKey{key(1), key(2)}, digestOf(1))
			before, err := os.Stat(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // a write would show in the file's mtime
			s.now = func() time.Time { return t0.Add(tc.later) }
			if _, ok := lookup(s, key(1)); !ok {
				t.Fatal("miss")
			}
			after, _ := os.Stat(s.Path())
			if wrote := !after.ModTime().Equal(before.ModTime()); wrote != tc.write {
				t.Errorf("the hit's batch wrote the store: %v, want %v", wrote, tc.write)
			}
			if got := lastUse(t, s, key(1)); !got.Equal(tc.wantUsed) {
				t.Errorf("last use %v, want %v", got, tc.wantUsed)
			}
			if got := lastUse(t, s, key(2)); !got.Equal(t0) {
				t.Errorf("an entry not hit: last use %v, want the Put's %v", got, t0)
			}
		})
	}
}

// lastUse reads the last use stored for k.
func lastUse(t *testing.T, s *Store, k manifest.FileKey) time.Time {
	t.Helper()
	db, err := bolt.Open(s.Path(), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var e entry
	var ok bool
	err = db.View(func(tx *bolt.Tx) error {
		e, ok = decodeValue(tx.Bucket(bucketDigests).Get(encodeKey(k)))
		return nil
	})
	if err != nil || !ok {
		t.Fatalf("entry %+v: %v, decoded %v", k, err, ok)
	}
	return time.Unix(e.used, 0)
}

// TestStoreBatchLoad: a batch finds every entry of the walked files and
// nothing else, whether the store's other entries come before, between
// or after them, whatever the order and repetitions of the walked files,
// and skips entries of a hash this code does not know.
func TestStoreBatchLoad(t *testing.T) {
	stored := []manifest.FileKey{key(1), key(3), key(4), key(6), key(9), key(10)}
	shard := key(4)
	shard.Start, shard.End = 0, 50
	blake := key(6)
	blake.Hash = manifest.BLAKE3
	unknown := key(9)
	unknown.Hash = "md5"
	otherDev := key(3)
	otherDev.Device = 8
	stored = append(stored, shard, blake, unknown, otherDev)
	for _, tc := range []struct {
		name   string
		walked []manifest.FileKey // the batch's files
		hits   []manifest.FileKey // found
		misses []manifest.FileKey // stored, not found: not walked (or unknown hash)
	}{
		{"all", stored, []manifest.FileKey{key(1), key(3), key(4), shard, key(6), blake, key(9), key(10), otherDev}, []manifest.FileKey{unknown}},
		{"sparse", []manifest.FileKey{key(3), key(9)}, []manifest.FileKey{key(3), key(9)}, []manifest.FileKey{key(1), key(4), shard, key(10), otherDev}},
		{"unordered, repeated, some missing", []manifest.FileKey{key(10), key(2), key(4), key(10), key(5), key(1)}, []manifest.FileKey{key(10), key(4), shard, key(1)}, []manifest.FileKey{key(3), key(6), key(9)}},
		{"none stored", []manifest.FileKey{key(0), key(2), key(11)}, nil, stored},
		{"other device only", []manifest.FileKey{otherDev}, []manifest.FileKey{otherDev}, []manifest.FileKey{key(3)}},
		{"nothing walked", nil, nil, stored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, Options{})
			putAll(s, stored, digestOf(5))
			b := s.Batch(ids(tc.walked))
			defer b.Close()
			for _, k := range tc.hits {
				if d, ok := b.Get(k); !ok || !bytes.Equal(d, digestOf(5)) {
					t.Errorf("%+v: %x, %v; want its digest", k, d, ok)
				}
			}
			for _, k := range tc.misses {
				if d, ok := b.Get(k); ok {
					t.Errorf("%+v: found %x, want a miss", k, d)
				}
			}
		})
	}
}

func TestStorePrune(t *testing.T) {
	t.Parallel()
	dir := agedModel(t, map[string]string{"keep": "kept", "gone": "removed later", "changed": "changed later"})
	s, _ := newStore(t, Options{})
	opts := manifest.Options{Serialization: sha, Cache: s}
	if _, _, err := manifest.Build(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	// An entry of a format this code does not know.
	db, err := bolt.Open(s.Path(), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDigests).Put(encodeKey(key(9)), []byte{99, 0, 0})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "changed"), []byte("CHANGED LATER"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := s.Prune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Before != 4 || r.Stale != 3 || r.After != 1 || r.Evicted != 0 {
		t.Errorf("prune: %+v, want 4 before, 3 stale (gone, changed, unknown format), 1 after", r)
	}
	st, err := s.Stats()
	if err != nil || st.Entries != 1 {
		t.Errorf("stats after prune: %+v, %v", st, err)
	}
	_, stw, err := manifest.Build(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if stw.CachedBytes != int64(len("kept")) {
		t.Errorf("the kept entry is not used after prune: %+v", stw)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Path()), "*.compact-*"))
	if len(left) != 0 {
		t.Errorf("compaction left %v", left)
	}
}

func TestStorePruneBound(t *testing.T) {
	s, _ := newStore(t, Options{MaxEntries: 1000})
	var keys []manifest.FileKey
	for i := range uint64(50) {
		keys = append(keys, key(i))
	}
	putAll(s, keys, digestOf(3))
	small, err := Open(filepath.Dir(s.Path()), Options{MaxEntries: 5})
	if err != nil {
		t.Fatal(err)
	}
	r, err := small.Prune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The synthetic keys name no file: all are stale.
	if r.Before != 50 || r.Stale != 50 || r.After != 0 {
		t.Errorf("prune: %+v", r)
	}
	if r.BytesAfter > r.BytesBefore {
		t.Errorf("compaction grew the file: %d → %d bytes", r.BytesBefore, r.BytesAfter)
	}
}

func TestStoreClear(t *testing.T) {
	s, _ := newStore(t, Options{})
	putAll(s, []manifest.FileKey{key(1)}, digestOf(1))
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("store file still there: %v", err)
	}
	if err := s.Clear(); err != nil {
		t.Errorf("clearing an absent store: %v", err)
	}
	st, err := s.Stats()
	if err != nil || st.Entries != 0 || st.Path != s.Path() {
		t.Errorf("stats of a cleared store: %+v, %v", st, err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, err := DefaultDir(); err != nil || d != "/x/cache/modelgate" {
		t.Errorf("with XDG_CACHE_HOME: %q, %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if d, err := DefaultDir(); err != nil || d != "/home/u/.cache/modelgate" {
		t.Errorf("with a relative XDG_CACHE_HOME: %q, %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if d, err := DefaultDir(); err == nil {
		t.Errorf("without HOME: %q, want an error", d)
	}
}
