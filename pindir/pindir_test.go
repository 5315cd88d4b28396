//go:build unix

package pindir

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modelgate/modelgate/manifest"
)

var bg = context.Background()

// files is a model's content by slash path.
type files map[string][]byte

// randomBytes returns n pseudo-random bytes from seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeModel writes fs under a fresh folder and returns its real path.
func writeModel(t *testing.T, fs files) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root = filepath.Join(root, "model")
	for name, data := range fs {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// newDir opens a fresh pin folder.
func newDir(t *testing.T, opts Options) *Dir {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := Open(filepath.Join(t.TempDir(), "pins"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// signed is the manifest a signer would have signed for the model now:
// what a verification compares against.
func signed(t *testing.T, model string, s manifest.Serialization) *manifest.Manifest {
	t.Helper()
	m, _, err := manifest.Build(bg, model, manifest.Options{Serialization: s})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pin runs what a verification does with a session: walk, hash through
// the session, compare with expected, and commit only when they match.
// It returns the result, or the error that denied.
func pin(t *testing.T, d *Dir, model string, expected *manifest.Manifest, opts manifest.Options) (Result, error) {
	t.Helper()
	fi, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Begin(Request{Source: model, File: !fi.IsDir()})
	defer s.Close()
	opts.Serialization = expected.Serialization
	opts.Expected = expected
	tree, err := manifest.Walk(bg, model, opts)
	if err != nil {
		return Result{}, err
	}
	actual, _, err := s.Hash(bg, tree, expected)
	if err != nil {
		return Result{}, err
	}
	if err := manifest.Compare(expected, actual); err != nil {
		return Result{}, err
	}
	return s.Commit(bg)
}

// listTree returns every file and folder under root (relative, slash
// separated, folders with a trailing /) with the files' content.
func listTree(t *testing.T, root string) (names []string, content files) {
	t.Helper()
	content = files{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
		case e.IsDir():
			names = append(names, rel+"/")
		case e.Type().IsRegular():
			names = append(names, rel)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content[rel] = data
		default:
			names = append(names, rel+" ("+e.Type().String()+")")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names, content
}

// dirNames lists the pin folder's own entries.
func dirNames(t *testing.T, d *Dir) []string {
	t.Helper()
	names, err := readNames(d.path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

var sharded = manifest.Serialization{Method: manifest.Shards, HashType: manifest.SHA256, ShardSize: 100_000}
var whole = manifest.Serialization{Method: manifest.Files, HashType: manifest.BLAKE3}

// TestCopyEqualsVerified: the committed copy holds exactly the walked
// files (ignored ones and the signature left out, empty files kept), with
// the very bytes verified, read-only, named by the subject digest.
func TestCopyEqualsVerified(t *testing.T) {
	t.Parallel()
	src := files{
		"config.json":          []byte(`{"a":1}`),
		"weights/part1.bin":    randomBytes(1, 350_000), // 4 shards
		"weights/part2.bin":    randomBytes(2, 100_000), // exactly one
		"weights/deep/x/y.txt": []byte("y"),
		"empty":                {},
		"README.md":            []byte("ignored"),
		"model.sig":            []byte("{}"),
	}
	for _, tc := range []struct {
		name string
		ser  manifest.Serialization
	}{{"shards", sharded}, {"files", whole}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model := writeModel(t, src)
			d := newDir(t, Options{})
			opts := manifest.Options{IgnorePaths: []string{"README.md", "model.sig"}}
			ignored := opts
			ignored.Serialization = tc.ser
			expected, _, err := manifest.Build(bg, model, ignored)
			if err != nil {
				t.Fatal(err)
			}
			res, err := pin(t, d, model, expected, opts)
			if err != nil {
				t.Fatal(err)
			}
			sum := expected.SubjectDigest()
			if want := filepath.Join(d.Path(), hex.EncodeToString(sum[:])); res.Path != want || res.Reused {
				t.Errorf("result %+v, want a new copy at %s", res, want)
			}
			if res.CopiedBytes != 350_000+100_000+1+7 {
				t.Errorf("copied %d bytes", res.CopiedBytes)
			}
			names, content := listTree(t, res.Path)
			want := []string{"config.json", "empty", "weights/", "weights/deep/", "weights/deep/x/", "weights/deep/x/y.txt", "weights/part1.bin", "weights/part2.bin"}
			if !slices.Equal(names, want) {
				t.Errorf("copy holds %q, want %q", names, want)
			}
			for name, data := range content {
				if !bytes.Equal(data, src[name]) {
					t.Errorf("%s differs from the source", name)
				}
			}
			// What the copy holds hashes to what was signed.
			if err := manifest.Compare(expected, signed(t, res.Path, tc.ser)); err != nil {
				t.Errorf("copy does not verify: %v", err)
			}
			checkReadOnly(t, res.Path)
			if got := dirNames(t, d); !slices.Equal(got, []string{".lock", res.Digest, res.Digest + ".lock"}) {
				t.Errorf("pin folder holds %q", got)
			}
		})
	}
}

// checkReadOnly asserts files 0444 and folders 0555 under root.
func checkReadOnly(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o444)
		if e.IsDir() {
			want = 0o555 | fs.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCopySingleFile: a single-file model is copied under its own name
// in the digest's folder, and that file is the path to load.
func TestCopySingleFile(t *testing.T) {
	t.Parallel()
	model := filepath.Join(writeModel(t, files{"m.gguf": randomBytes(3, 300_001)}), "m.gguf")
	d := newDir(t, Options{})
	expected := signed(t, model, sharded)
	res, err := pin(t, d, model, expected, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(res.Path) != "m.gguf" || filepath.Base(filepath.Dir(res.Path)) != res.Digest {
		t.Errorf("path %s", res.Path)
	}
	names, _ := listTree(t, filepath.Dir(res.Path))
	if !slices.Equal(names, []string{"m.gguf"}) {
		t.Errorf("copy holds %q", names)
	}
	if err := manifest.Compare(expected, signed(t, res.Path, sharded)); err != nil {
		t.Error(err)
	}
	again, err := pin(t, d, model, expected, manifest.Options{})
	if err != nil || !again.Reused || again.Path != res.Path {
		t.Errorf("second pin: %+v, %v", again, err)
	}
}

// TestCopyHubSnapshot: a Hugging Face snapshot's links become regular
// files holding the blobs' bytes.
func TestCopyHubSnapshot(t *testing.T) {
	t.Parallel()
	repo := writeModel(t, files{"blobs/aaa": []byte("weights"), "blobs/bbb": []byte(`{"c":1}`)})
	snap := filepath.Join(repo, "snapshots", "0123")
	if err := os.MkdirAll(filepath.Join(snap, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"model.safetensors": "../../blobs/aaa", "sub/config.json": "../../../blobs/bbb"} {
		if err := os.Symlink(target, filepath.Join(snap, link)); err != nil {
			t.Fatal(err)
		}
	}
	opts := manifest.Options{LinkRoot: filepath.Join(repo, "blobs")}
	opts.Serialization = whole
	expected, _, err := manifest.Build(bg, snap, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pin(t, newDir(t, Options{}), snap, expected, manifest.Options{LinkRoot: opts.LinkRoot})
	if err != nil {
		t.Fatal(err)
	}
	names, content := listTree(t, res.Path)
	if !slices.Equal(names, []string{"model.safetensors", "sub/", "sub/config.json"}) {
		t.Errorf("copy holds %q", names)
	}
	if string(content["model.safetensors"]) != "weights" || string(content["sub/config.json"]) != `{"c":1}` {
		t.Errorf("content %q", content)
	}
}

// TestSourceChangedWhileCopying: a file rewritten between two chunks of
// its copy makes the hash differ from the signed one, so nothing is
// committed; and what was hashed is exactly what was copied, changed
// bytes included.
func TestSourceChangedWhileCopying(t *testing.T) {
	t.Parallel()
	orig := randomBytes(4, 1<<20)
	model := writeModel(t, files{"w.bin": orig, "c.json": []byte("{}")})
	expected := signed(t, model, whole)
	d := newDir(t, Options{})
	var once sync.Once
	var tmpCopy string
	d.afterWrite = func(rel string, off int64) {
		if rel != "w.bin" {
			return
		}
		once.Do(func() {
			// The writer flips bytes past the first chunk, in place.
			f, err := os.OpenFile(filepath.Join(model, "w.bin"), os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xAA}, 4096), 900_000); err != nil {
				t.Error(err)
			}
			matches, _ := filepath.Glob(filepath.Join(d.path, tmpPrefix+"*", "w.bin"))
			if len(matches) == 1 {
				tmpCopy = matches[0]
			}
		})
	}
	s := d.Begin(Request{Source: model})
	tree, err := manifest.Walk(bg, model, manifest.Options{Serialization: whole, Expected: expected})
	if err != nil {
		t.Fatal(err)
	}
	actual, _, err := s.Hash(bg, tree, expected)
	if err != nil {
		t.Fatal(err)
	}
	err = manifest.Compare(expected, actual)
	var mm *manifest.MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "w.bin") {
		t.Fatalf("compare: %v, want a mismatch of w.bin", err)
	}
	// The copy, before it is thrown away, holds what was hashed.
	if tmpCopy == "" {
		t.Fatal("no copy in progress was seen")
	}
	copied, err := os.ReadFile(tmpCopy)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(copied, orig) {
		t.Error("the copy holds the signed bytes, yet the hash differs")
	}
	got := digestOf(t, actual, "w.bin")
	if want := blake3Of(t, copied); got != want {
		t.Errorf("digest of the copy %s, hashed %s: the verified bytes are not the copied ones", want, got)
	}
	s.Close()
	if names := dirNames(t, d); !slices.Equal(names, []string{".lock"}) {
		t.Errorf("after the denial the pin folder holds %q", names)
	}
}

func digestOf(t *testing.T, m *manifest.Manifest, name string) string {
	t.Helper()
	for _, r := range m.Resources {
		if r.Path == name {
			return hex.EncodeToString(r.Digest)
		}
	}
	t.Fatalf("no resource %s", name)
	return ""
}

func blake3Of(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return digestOf(t, signed(t, p, whole), ".")
}

// TestDenialLeavesNothing: a model that does not match its signature
// leaves no copy, no private folder and no lock behind.
func TestDenialLeavesNothing(t *testing.T) {
	t.Parallel()
	model := writeModel(t, files{"a": []byte("signed")})
	expected := signed(t, model, whole)
	if err := os.WriteFile(filepath.Join(model, "a"), []byte("SIGNED"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newDir(t, Options{})
	_, err := pin(t, d, model, expected, manifest.Options{})
	var mm *manifest.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("pin: %v, want a mismatch", err)
	}
	if names := dirNames(t, d); !slices.Equal(names, []string{".lock"}) {
		t.Errorf("pin folder holds %q", names)
	}
}

// TestExistingCopyRechecked: a second verification of the same model
// re-checks the copy and writes nothing; a tampered copy is replaced, or,
// while a process holds it, refused.
func TestExistingCopyRechecked(t *testing.T) {
	t.Parallel()
	model := writeModel(t, files{"w.bin": randomBytes(5, 200_000), "c.json": []byte("{}")})
	expected := signed(t, model, whole)
	d := newDir(t, Options{})
	first, err := pin(t, d, model, expected, manifest.Options{})
	if err != nil || first.Reused || first.CopiedBytes != 200_002 {
		t.Fatalf("first pin: %+v, %v", first, err)
	}
	copyFile := filepath.Join(first.Path, "w.bin")
	before, err := os.Stat(copyFile)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pin(t, d, model, expected, manifest.Options{})
	if err != nil || !again.Reused || again.CopiedBytes != 0 || again.Path != first.Path {
		t.Fatalf("second pin: %+v, %v; want the copy re-checked, nothing written", again, err)
	}
	if after, _ := os.Stat(copyFile); !os.SameFile(before, after) {
		t.Error("the copy was replaced")
	}

	tamper := func() {
		t.Helper()
		if err := os.Chmod(first.Path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(first.Path, "extra.py"), []byte("import os"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(first.Path, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	tamper()
	h, err := d.Hold(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pin(t, d, model, expected, manifest.Options{}); !errors.Is(err, ErrInUse) {
		t.Errorf("tampered copy in use: %v, want ErrInUse", err)
	}
	h.Release()
	fixed, err := pin(t, d, model, expected, manifest.Options{})
	if err != nil || fixed.Reused || fixed.CopiedBytes != 200_002 {
		t.Fatalf("tampered copy: %+v, %v; want it replaced", fixed, err)
	}
	names, _ := listTree(t, fixed.Path)
	if !slices.Equal(names, []string{"c.json", "w.bin"}) {
		t.Errorf("replaced copy holds %q", names)
	}

	// Changed bytes, same names: replaced too.
	if err := os.Chmod(filepath.Join(fixed.Path, "c.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fixed.Path, "c.json"), []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err = pin(t, d, model, expected, manifest.Options{})
	if err != nil || again.Reused {
		t.Fatalf("changed copy: %+v, %v", again, err)
	}
	if data, _ := os.ReadFile(filepath.Join(again.Path, "c.json")); string(data) != "{}" {
		t.Errorf("c.json holds %q", data)
	}
	if err := manifest.Compare(expected, signed(t, again.Path, whole)); err != nil {
		t.Error(err)
	}
}

// TestEviction: making room removes the least recently used copies no
// process holds, and never one that is held or was used a moment ago.
func TestEviction(t *testing.T) {
	const size = 10_000
	models := make([]string, 5)
	expected := make([]*manifest.Manifest, 5)
	for i := range models {
		models[i] = writeModel(t, files{"w": randomBytes(uint64(10+i), size)})
		expected[i] = signed(t, models[i], whole)
	}
	d := newDir(t, Options{MaxSize: 3 * size})
	results := make([]Result, 3)
	for i := range 3 {
		r, err := pin(t, d, models[i], expected[i], manifest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		results[i] = r
	}
	// Use order: 1 oldest, then 0, then 2; 1 is held.
	for i, age := range []time.Duration{3 * time.Hour, 4 * time.Hour, 2 * time.Hour} {
		at := time.Now().Add(-age)
		if err := os.Chtimes(d.lockPath(results[i].Digest), at, at); err != nil {
			t.Fatal(err)
		}
	}
	h, err := d.Hold(results[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	// Hold touched 1; age it again so that only the lock protects it.
	old := time.Now().Add(-4 * time.Hour)
	if err := os.Chtimes(d.lockPath(results[1].Digest), old, old); err != nil {
		t.Fatal(err)
	}
	r3, err := pin(t, d, models[3], expected[3], manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	present := func() []bool {
		var out []bool
		for _, r := range append(results, r3) {
			out = append(out, exists(filepath.Join(d.path, r.Digest)))
		}
		return out
	}
	if got := present(); !slices.Equal(got, []bool{false, true, true, true}) {
		t.Errorf("after one eviction, copies present %v; want 0 (least recently used, not held) gone", got)
	}
	// 2 and 3 were used a moment ago (3 just made); 1 is held: no room.
	if err := os.Chtimes(d.lockPath(results[2].Digest), old, old); err != nil {
		t.Fatal(err)
	}
	r4, err := pin(t, d, models[4], expected[4], manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := append(present(), exists(filepath.Join(d.path, r4.Digest))); !slices.Equal(got, []bool{false, true, false, true, true}) {
		t.Errorf("after a second eviction, present %v; want 2 gone, 1 held and 3 recent kept", got)
	}
	// Everything left is held or recent: a new copy does not fit.
	_, err = pin(t, d, models[0], expected[0], manifest.Options{})
	if !errors.Is(err, ErrNoRoom) {
		t.Errorf("no room: %v", err)
	}
	h.Release()
	if _, err := d.Hold(results[0].Path); !errors.Is(err, ErrGone) {
		t.Errorf("hold of an evicted copy: %v, want ErrGone", err)
	}
	if names := dirNames(t, d); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, tmpPrefix) }) {
		t.Errorf("private folders left behind: %q", names)
	}
}

// TestTooLarge: a model larger than the bound is refused before anything
// is copied.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	model := writeModel(t, files{"w": randomBytes(20, 5000)})
	d := newDir(t, Options{MaxSize: 4999})
	if _, err := pin(t, d, model, signed(t, model, whole), manifest.Options{}); !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), "5000 bytes") {
		t.Errorf("err %v", err)
	}
	if names := dirNames(t, d); len(names) != 0 {
		t.Errorf("pin folder holds %q", names)
	}
}

// TestAbandonedCopyRemoved: a private folder whose maker died (its
// reservation is not locked) is removed when room is next made.
func TestAbandonedCopyRemoved(t *testing.T) {
	t.Parallel()
	d := newDir(t, Options{})
	dead := filepath.Join(d.path, tmpPrefix+"dead")
	if err := os.MkdirAll(filepath.Join(dead, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dead+lockSuffix, []byte("123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dead, "sub"), 0o555); err != nil {
		t.Fatal(err)
	}
	model := writeModel(t, files{"w": []byte("x")})
	res, err := pin(t, d, model, signed(t, model, whole), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, d); !slices.Equal(names, []string{".lock", res.Digest, res.Digest + ".lock"}) {
		t.Errorf("pin folder holds %q", names)
	}
}

// TestConcurrentPins: sessions pinning one model at once all end with the
// same copy, each verified, and no private folder left.
func TestConcurrentPins(t *testing.T) {
	t.Parallel()
	model := writeModel(t, files{"w": randomBytes(30, 300_000), "c": []byte("c")})
	expected := signed(t, model, whole)
	d := newDir(t, Options{})
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Go(func() {
			r, err := pin(t, d, model, expected, manifest.Options{})
			if err != nil {
				t.Error(err)
			}
			paths[i] = r.Path
		})
	}
	wg.Wait()
	for _, p := range paths {
		if p != paths[0] {
			t.Errorf("paths %q", paths)
		}
	}
	if names := dirNames(t, d); len(names) != 3 {
		t.Errorf("pin folder holds %q", names)
	}
	if err := manifest.Compare(expected, signed(t, paths[0], whole)); err != nil {
		t.Error(err)
	}
}

// TestHoldKeepOnExec: a hold's descriptor survives exec once asked, and
// the lock is shared: another hold succeeds, an eviction does not.
func TestHoldKeepOnExec(t *testing.T) {
	t.Parallel()
	model := writeModel(t, files{"w": []byte("x")})
	d := newDir(t, Options{})
	res, err := pin(t, d, model, signed(t, model, whole), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h1, err := d.Hold(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := d.Hold(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(h1.lock.f.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("fd flags %#x, %v: want close-on-exec before KeepOnExec", flags, err)
	}
	if err := h1.KeepOnExec(); err != nil {
		t.Fatal(err)
	}
	if flags, _ := unix.FcntlInt(h1.lock.f.Fd(), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC != 0 {
		t.Error("close-on-exec still set")
	}
	if ok, err := d.evict(res.Digest); ok || err != nil {
		t.Errorf("evict a held copy: %v, %v", ok, err)
	}
	h1.Release()
	if ok, _ := d.evict(res.Digest); ok {
		t.Error("evicted while the second hold remains")
	}
	h2.Release()
	h2.Release()
	if ok, err := d.evict(res.Digest); !ok || err != nil {
		t.Errorf("evict a released copy: %v, %v", ok, err)
	}
	if names := dirNames(t, d); !slices.Equal(names, []string{".lock"}) {
		t.Errorf("pin folder holds %q", names)
	}
	if _, err := d.Hold(filepath.Join(d.path, "not-a-digest")); err == nil {
		t.Error("held a path that is no copy")
	}
	if _, err := d.Hold("/elsewhere/" + res.Digest); err == nil {
		t.Error("held a path outside the folder")
	}
}

// TestOpen: the folder is created when missing, and refused when others
// can write it.
func TestOpen(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	d, err := Open(filepath.Join(base, "a", "pins"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.Path()); err != nil || !fi.IsDir() {
		t.Fatalf("not created: %v", err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(open, Options{}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("world-writable folder: %v", err)
	}
	if _, err := Open(filepath.Join(open, "below"), Options{}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("folder below a world-writable one: %v", err)
	}
	// A sticky bit protects entries from other users once they exist,
	// not the names of copies they may make first: DIR/<digest> is
	// public, and a copy someone else owns can change after it verified.
	for _, mode := range []os.FileMode{0o777 | os.ModeSticky, 0o770 | os.ModeSticky, 0o757} {
		sticky := filepath.Join(base, "shared-"+strconv.FormatUint(uint64(mode), 8))
		if err := os.Mkdir(sticky, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(sticky, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(sticky, Options{}); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "writable by group or others") {
			t.Errorf("folder of mode %v: %v", mode, err)
		}
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, Options{}); err == nil {
		t.Error("opened a file")
	}
	if _, err := Open(base, Options{MaxSize: -1}); err == nil {
		t.Error("negative size accepted")
	}
}

// TestCopyReflink: on a file system with reflinks, the copy is a clone
// (nothing written) and the clone is what is hashed: a source changed
// after the clone leaves the copy and the verdict as the clone has them.
// It needs such a folder: MODELGATE_TEST_REFLINK_DIR (for example an XFS
// image made with mkfs.xfs -m reflink=1 and mounted on a loop device).
func TestCopyReflink(t *testing.T) {
	base := os.Getenv("MODELGATE_TEST_REFLINK_DIR")
	if base == "" {
		t.Skip("set MODELGATE_TEST_REFLINK_DIR to a folder on Btrfs or XFS (reflink=1) to test clones")
	}
	root, err := os.MkdirTemp(base, "reflink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(root) })
	model := filepath.Join(root, "model")
	src := files{"w.bin": randomBytes(40, 3<<20), "c.json": []byte("{}"), "empty": {}}
	for name, data := range src {
		if err := os.MkdirAll(model, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(model, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Open(filepath.Join(root, "pins"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ser := range []manifest.Serialization{whole, {Method: manifest.Shards, HashType: manifest.SHA256, ShardSize: 1 << 20}} {
		expected := signed(t, model, ser)
		res, err := pin(t, d, model, expected, manifest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.ClonedBytes != 3<<20+2 || res.CopiedBytes != 0 {
			t.Errorf("%s: cloned %d, written %d: want every byte cloned", ser.Method, res.ClonedBytes, res.CopiedBytes)
		}
		_, content := listTree(t, res.Path)
		for name, data := range src {
			if !bytes.Equal(content[name], data) {
				t.Errorf("%s: %s differs", ser.Method, name)
			}
		}
		removeTree(res.Path)
		os.Remove(res.Path + lockSuffix)
	}

	// The source changes once the clone is made: the clone, what the
	// server will load, is what is hashed, and it holds the signed bytes.
	expected := signed(t, model, whole)
	d.afterClone = func(rel string) {
		if rel == "w.bin" {
			if err := os.WriteFile(filepath.Join(model, "w.bin"), []byte("changed"), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := pin(t, d, model, expected, manifest.Options{})
	if err != nil {
		t.Fatalf("a source changed after its clone was made: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(res.Path, "w.bin")); !bytes.Equal(got, src["w.bin"]) {
		t.Error("the copy is not the clone of the signed bytes")
	}
}
