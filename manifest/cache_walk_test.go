//go:build linux

package manifest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// countOpens records the names the hashers open until the test ends.
// Tests that use it must not be parallel (it sets a package variable).
func countOpens(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var names []string
	openHook = func(name string) {
		mu.Lock()
		defer mu.Unlock()
		names = append(names, name)
	}
	t.Cleanup(func() { openHook = nil })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		got := slices.Clone(names)
		names = names[:0]
		slices.Sort(got)
		return got
	}
}

// TestCacheHitOpensNothing: on a warm cache, no file is opened, whatever
// the method, the hash and whether the file is reached through an allowed
// symlink; the manifest is the cold one.
func TestCacheHitOpensNothing(t *testing.T) {
	shortRacyWindow(t)
	opened := countOpens(t)
	for _, s := range []Serialization{
		filesSHA, shards8, {Method: Files, HashType: BLAKE3},
		{Method: Files, HashType: SHA256, AllowSymlinks: true},
	} {
		t.Run(string(s.Method)+"/"+string(s.HashType)+map[bool]string{true: "/symlinks"}[s.AllowSymlinks], func(t *testing.T) {
			files := map[string]string{"a": strings.Repeat("a", 20), "d/b": "bb", "d/e/c": "c"}
			dir := tree(t, files)
			want := []string{"a", "d/b", "d/e/c"}
			if s.AllowSymlinks {
				target := filepath.Join(t.TempDir(), "target")
				if err := os.WriteFile(target, []byte("outside"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(dir, "l")); err != nil {
					t.Fatal(err)
				}
				want = append(want, "l")
			}
			settle()
			c := newMapCache()
			opts := Options{Serialization: s, Cache: c, Workers: 2}
			m1, _, err := build(t, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Compact(opened()) // shards open a file once each
			if !slices.Equal(got, want) {
				t.Fatalf("cold build opened %q, want %q", got, want)
			}
			m2, st, err := build(t, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := opened(); len(got) != 0 || st.Bytes != 0 {
				t.Errorf("warm build opened %q and read %d bytes, want nothing", got, st.Bytes)
			}
			if !manifestsEqual(m1, m2) {
				t.Errorf("warm manifest differs:\n%+v\n%+v", m1, m2)
			}
		})
	}
}

// manifestsEqual compares the resources of two manifests.
func manifestsEqual(a, b *Manifest) bool {
	return slices.EqualFunc(a.Resources, b.Resources, func(x, y Resource) bool {
		return x.Name() == y.Name() && string(x.Digest) == string(y.Digest)
	})
}

// TestCacheWalkedHitServesCache: a digest found under the walk's identity
// is the one used, without opening the file; the cache is trusted (it is
// its owner's), so a wrong digest planted under the file's exact key
// shows that the answer came from the cache and not from the bytes.
func TestCacheWalkedHitServesCache(t *testing.T) {
	opened := countOpens(t)
	dir := tree(t, map[string]string{"f": "content"})
	tr, err := Walk(context.Background(), dir, Options{Serialization: filesSHA})
	if err != nil {
		t.Fatal(err)
	}
	k := walkedKey(&tr.files[0].info)
	k.Hash, k.End = SHA256, int64(len("content"))
	c := newMapCache()
	c.entries[k] = []byte(strings.Repeat("\xee", 32))
	m, st := cachedBuild(t, dir, filesSHA, c)
	if got, _ := digest(m, "f"); got != strings.Repeat("ee", 32) {
		t.Errorf("digest %s, want the planted one", got)
	}
	if got := opened(); len(got) != 0 || st.Bytes != 0 {
		t.Errorf("opened %q, read %d bytes: want no open", got, st.Bytes)
	}
}

// TestCacheWalkedIdentityOnlyOnLocalFS: on a file system whose stat by
// name may be stale (NFS, overlayfs: fsOpened), every file is opened and
// looked up under the identity of the open file, which still hits; on an
// untrusted one, nothing is looked up (TestCacheUntrustedFS).
func TestCacheWalkedIdentityOnlyOnLocalFS(t *testing.T) {
	shortRacyWindow(t)
	opened := countOpens(t)
	dir := tree(t, map[string]string{"f": "x", "g": "yy"})
	settle()
	c := newMapCache()
	cachedBuild(t, dir, filesSHA, c)
	tr, err := Walk(context.Background(), dir, Options{Serialization: filesSHA})
	if err != nil {
		t.Fatal(err)
	}
	opened()
	run := newCacheRun(c, SHA256, tr.files, nil)
	run.fs.m.Store(tr.files[0].info.dev, fsOpened)
	_, n, err := hashAll(context.Background(), tr.loc, plan(tr.files, filesSHA), tr.opts, 1, run)
	run.close()
	if err != nil {
		t.Fatal(err)
	}
	if got := opened(); !slices.Equal(got, []string{"f", "g"}) || n != 0 || run.cachedBytes() != 3 {
		t.Errorf("opened %q, read %d bytes, %d cached: want both opened, both from the cache", got, n, run.cachedBytes())
	}
}

// TestCacheWalkedChanges: a file changed between two builds, in any way
// that keeps its name, is never answered from the cache with its old
// digest: the walk sees the change, so the file is opened and read (its
// new digest), or refused.
func TestCacheWalkedChanges(t *testing.T) {
	shortRacyWindow(t)
	const orig, other = "original content", "tampered content" // same size
	write := func(t *testing.T, p, content string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	restoreTimes := func(t *testing.T, p string, fi os.FileInfo) {
		t.Helper()
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		allow   bool // AllowSymlinks
		change  func(t *testing.T, p string, fi os.FileInfo)
		want    string // the digest's content; "" when an error is expected
		wantErr string
	}{
		{name: "rewritten, mtime restored", change: func(t *testing.T, p string, fi os.FileInfo) {
			write(t, p, other)
			restoreTimes(t, p, fi)
		}, want: other},
		{name: "another inode, mtime restored", change: func(t *testing.T, p string, fi os.FileInfo) {
			write(t, p+".new", other)
			restoreTimes(t, p+".new", fi)
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, want: other},
		{name: "grown", change: func(t *testing.T, p string, fi os.FileInfo) {
			write(t, p, orig+"+")
		}, want: orig + "+"},
		{name: "grown, mtime restored", change: func(t *testing.T, p string, fi os.FileInfo) {
			write(t, p, orig+"+")
			restoreTimes(t, p, fi)
		}, want: orig + "+"},
		{name: "swapped for a symlink", change: func(t *testing.T, p string, fi os.FileInfo) {
			swap(t, p, func(tmp string) error { return os.Symlink("elsewhere", tmp) })
			write(t, filepath.Join(filepath.Dir(p), "elsewhere"), other)
		}, wantErr: "symlink"},
		{name: "swapped for a symlink, allowed", allow: true, change: func(t *testing.T, p string, fi os.FileInfo) {
			write(t, filepath.Join(filepath.Dir(p), "elsewhere"), other)
			swap(t, p, func(tmp string) error { return os.Symlink("elsewhere", tmp) })
		}, want: other},
		{name: "swapped for a FIFO", change: func(t *testing.T, p string, fi os.FileInfo) {
			swap(t, p, func(tmp string) error { mkfifo(t, tmp); return nil })
		}, wantErr: "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opened := countOpens(t)
			dir := tree(t, map[string]string{"w": orig, "keep": "unchanged"})
			settle()
			c := newMapCache()
			s := Serialization{Method: Files, HashType: SHA256, AllowSymlinks: tc.allow}
			opts := Options{Serialization: s, Cache: c, Workers: 2, IgnorePaths: []string{"elsewhere"}}
			if _, _, err := build(t, dir, opts); err != nil {
				t.Fatal(err)
			}
			if _, st, err := build(t, dir, opts); err != nil || st.Bytes != 0 {
				t.Fatalf("warm build before the change: %v, %d bytes read", err, st.Bytes)
			}
			p := filepath.Join(dir, "w")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			settle()
			tc.change(t, p, fi)
			opened()
			m, st, err := build(t, dir, opts)
			if tc.wantErr != "" {
				wantErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := digest(m, "w"); got != sha(tc.want) {
				t.Errorf("digest of w %s, want that of the new content %s", got, sha(tc.want))
			}
			if got := opened(); !slices.Equal(got, []string{"w"}) || st.Bytes != int64(len(tc.want)) {
				t.Errorf("opened %q, read %d bytes: want w alone opened and read", got, st.Bytes)
			}
		})
	}
}

// swap replaces the file p, atomically, with what mk makes at a
// temporary name.
func swap(t *testing.T, p string, mk func(tmp string) error) {
	t.Helper()
	tmp := p + ".swap"
	if err := mk(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// TestCacheLearnsFSFromOpen: a listing that opens no directory (Only)
// tells nothing of the file system; the first file opened does, and the
// files after it on that device are found without an open.
func TestCacheLearnsFSFromOpen(t *testing.T) {
	shortRacyWindow(t)
	opened := countOpens(t)
	dir := tree(t, map[string]string{"f": "x", "g": "yy", "h": "zzz"})
	settle()
	c := newMapCache()
	opts := Options{Serialization: filesSHA, Cache: c, Workers: 1, Only: []string{"f", "g", "h"}}
	if _, _, err := build(t, dir, opts); err != nil {
		t.Fatal(err)
	}
	opened()
	_, st, err := build(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := opened(); len(got) != 1 || st.Bytes != 0 || st.CachedBytes != 6 {
		t.Errorf("opened %q, read %d bytes, %d cached: want one file opened (to learn the file system), all from the cache", got, st.Bytes, st.CachedBytes)
	}
}
