//go:build unix

package manifest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// memTarget is a CopyTarget in memory that records how it was used.
type memTarget struct {
	mu      sync.Mutex
	files   map[string][]byte
	opens   []string
	closes  int
	writes  int
	cloneOf map[string][]byte // name → the bytes a "clone" returns instead of the source's
	failAt  string            // WriteAt of this file fails
	// afterWrite runs after each chunk is written (outside the lock).
	afterWrite func(name string, off int64)
}

func newMemTarget() *memTarget {
	return &memTarget{files: map[string][]byte{}, cloneOf: map[string][]byte{}}
}

func (m *memTarget) Open(name string, size int64) (CopyFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opens = append(m.opens, name)
	if _, ok := m.files[name]; !ok {
		m.files[name] = make([]byte, size)
	}
	return &memFile{m: m, name: name}, nil
}

type memFile struct {
	m    *memTarget
	name string
}

func (f *memFile) Clone(src uintptr) (io.ReaderAt, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if src == 0 {
		return nil, errors.New("no source descriptor")
	}
	if b, ok := f.m.cloneOf[f.name]; ok {
		f.m.files[f.name] = b
		return bytes.NewReader(b), nil
	}
	return nil, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	f.m.writes++
	if f.name == f.m.failAt {
		f.m.mu.Unlock()
		return 0, errors.New("disk full")
	}
	copy(f.m.files[f.name][off:], p)
	f.m.mu.Unlock()
	if f.m.afterWrite != nil {
		f.m.afterWrite(f.name, off)
	}
	return len(p), nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	f.m.closes++
	return nil
}

func hashCopy(t *testing.T, dir string, opts Options, c CopyTarget) (*Manifest, Stats, error) {
	t.Helper()
	tr, err := Walk(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr.HashCopy(context.Background(), c)
}

// TestHashCopy: every walked file is copied with the bytes hashed (empty
// files too, also under the shards method where they have no resource),
// each CopyFile opened is closed, and the manifest is Build's.
func TestHashCopy(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789", 70_000) // 700,000 bytes: several chunks and shards
	dir := tree(t, map[string]string{"a/big.bin": big, "b.txt": "b", "empty": "", "ignored": "x"})
	for _, s := range []Serialization{
		{Method: Files, HashType: SHA256},
		{Method: Shards, HashType: BLAKE2b, ShardSize: 300_000},
	} {
		opts := Options{Serialization: s, IgnorePaths: []string{filepath.Join(dir, "ignored")}}
		c := newMemTarget()
		m, st, err := hashCopy(t, dir, opts, c)
		if err != nil {
			t.Fatal(err)
		}
		if want := mustBuild(t, dir, opts); !slices.Equal(names(m), names(want)) || Compare(want, m) != nil {
			t.Errorf("%s: manifest %q, Build's %q", s.Method, names(m), names(want))
		}
		got := map[string]string{}
		for k, v := range c.files {
			got[k] = string(v)
		}
		if want := map[string]string{"a/big.bin": big, "b.txt": "b", "empty": ""}; !equalMaps(got, want) {
			t.Errorf("%s: copied %d files %v", s.Method, len(got), mapKeys(got))
		}
		if c.closes != len(c.opens) {
			t.Errorf("%s: %d opens, %d closes", s.Method, len(c.opens), c.closes)
		}
		if st.Bytes != int64(len(big)+1) {
			t.Errorf("%s: read %d bytes", s.Method, st.Bytes)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestHashCopyChangedSource: bytes changed in the source between two
// chunks are both hashed and copied: the digest is the copy's, never the
// signed one with different bytes copied.
func TestHashCopyChangedSource(t *testing.T) {
	t.Parallel()
	orig := strings.Repeat("A", 3*chunkSize)
	dir := tree(t, map[string]string{"w": orig})
	opts := Options{Serialization: Serialization{Method: Files, HashType: SHA256}}
	c := newMemTarget()
	var once sync.Once
	c.afterWrite = func(name string, off int64) {
		once.Do(func() {
			if err := os.WriteFile(filepath.Join(dir, "w"), []byte(strings.Repeat("B", 3*chunkSize)), 0o644); err != nil {
				t.Error(err)
			}
		})
	}
	m, _, err := hashCopy(t, dir, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	copied := c.files["w"]
	if string(copied) == orig {
		t.Fatal("the change was not seen: the test did not change the source between chunks")
	}
	sum := sha256.Sum256(copied)
	if got, _ := digest(m, "w"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s, but the copy hashes to %x", got, sum)
	}
	if got, _ := digest(m, "w"); got == sha(orig) {
		t.Error("the digest is the original's although the copy differs")
	}
}

// TestHashCopyClone: when the target clones, the clone is what is read
// and hashed, and nothing is written.
func TestHashCopyClone(t *testing.T) {
	t.Parallel()
	dir := tree(t, map[string]string{"w": "source bytes", "x": "not cloned"})
	c := newMemTarget()
	c.cloneOf["w"] = []byte("clone bytes!")
	m, _, err := hashCopy(t, dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256}}, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := digest(m, "w"); got != sha("clone bytes!") {
		t.Errorf("digest of w is %s: not the clone's", got)
	}
	if got, _ := digest(m, "x"); got != sha("not cloned") || string(c.files["x"]) != "not cloned" {
		t.Errorf("x: digest %s, copy %q", got, c.files["x"])
	}
	if c.writes != 1 {
		t.Errorf("%d writes, want 1 (x only)", c.writes)
	}
}

// TestHashCopyIgnoresCacheHits: a cached digest is not used while
// copying (its bytes must be read to be copied).
func TestHashCopyIgnoresCacheHits(t *testing.T) {
	t.Parallel()
	dir := tree(t, map[string]string{"w": "weights"})
	opts := Options{Serialization: Serialization{Method: Files, HashType: SHA256}, Cache: poisonCache{}}
	c := newMemTarget()
	m, st, err := hashCopy(t, dir, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := digest(m, "w"); got != sha("weights") || st.CachedBytes != 0 || string(c.files["w"]) != "weights" {
		t.Errorf("digest %s, cached %d, copy %q", got, st.CachedBytes, c.files["w"])
	}
}

// poisonCache answers every lookup with a wrong digest.
type poisonCache struct{}

func (poisonCache) Batch([]FileID) DigestBatch { return poisonCache{} }
func (poisonCache) Get(k FileKey) ([]byte, bool) {
	return make([]byte, k.Hash.Size()), true
}
func (poisonCache) Put(FileKey, string, []byte) {}
func (poisonCache) Close()                      {}

// TestHashCopyErrors: a copy that cannot be written fails hashing,
// naming the file.
func TestHashCopyErrors(t *testing.T) {
	t.Parallel()
	dir := tree(t, map[string]string{"w": "weights"})
	c := newMemTarget()
	c.failAt = "w"
	_, _, err := hashCopy(t, dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256}}, c)
	wantErr(t, err, "w", "disk full")
	tr, err := Walk(context.Background(), dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.HashCopy(context.Background(), nil); err == nil {
		t.Error("nil target accepted")
	}
}

// pathErrTarget fails as package os does, with an *fs.PathError whose
// path (unquoted in its message) holds the file's name.
type pathErrTarget struct{ failOpen bool }

func (p pathErrTarget) Open(name string, size int64) (CopyFile, error) {
	if p.failOpen {
		return nil, &fs.PathError{Op: "open", Path: "/pin/.tmp-x/" + name, Err: syscall.EEXIST}
	}
	return pathErrFile{name}, nil
}

type pathErrFile struct{ name string }

func (pathErrFile) Clone(uintptr) (io.ReaderAt, error) { return nil, nil }
func (f pathErrFile) WriteAt([]byte, int64) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: "/pin/.tmp-x/" + f.name, Err: syscall.ENOSPC}
}
func (pathErrFile) Close() error { return nil }

// TestHashCopyErrorsQuoteNames: a target's error never prints the file's
// name unquoted (it comes from the model folder), for an empty file
// under shards, a whole file, and a chunk written.
func TestHashCopyErrorsQuoteNames(t *testing.T) {
	t.Parallel()
	const name = "a\nb\x1b[31m"
	for _, tt := range []struct {
		what     string
		content  string
		s        Serialization
		failOpen bool
		want     string
	}{
		{"open", "w", Serialization{Method: Files, HashType: SHA256}, true, "file exists"},
		{"open empty", "", Serialization{Method: Shards, HashType: SHA256, ShardSize: 8}, true, "file exists"},
		{"write", "w", Serialization{Method: Files, HashType: SHA256}, false, "no space left"},
	} {
		dir := tree(t, map[string]string{name: tt.content})
		_, _, err := hashCopy(t, dir, Options{Serialization: tt.s}, pathErrTarget{tt.failOpen})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `a\nb\x1b[31m`) {
			t.Errorf("%s: error %v", tt.what, err)
			continue
		}
		if strings.ContainsAny(err.Error(), "\n\x1b") {
			t.Errorf("%s: raw name in %q", tt.what, err)
		}
	}
}
