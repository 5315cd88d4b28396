// Package hftest builds fake Hugging Face hub caches for tests: blobs with
// content, refs, snapshots of symlinks into blobs (with the ../ depth
// huggingface_hub gives files in folders), and the broken shapes an
// attacker could leave (raw links, raw ref bytes, real files).
//
// Everything is created under tb.TempDir() and fails the test on any error,
// so callers need no error handling:
//
//	c := hftest.New(t)
//	commit := c.Add("org/model", "main", map[string]string{"config.json": "{}"})
//	root, _ := hfcache.FindCacheRoot(c.LookupEnv, "")
//
// It does not import hfcache, so hfcache's own tests can use it.
package hftest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Cache is a fake hub cache root.
type Cache struct {
	tb   testing.TB
	Root string // the folder that holds models--* folders
}

// New returns an empty cache in a new temporary folder.
func New(tb testing.TB) *Cache {
	tb.Helper()
	return At(tb, filepath.Join(tb.TempDir(), "hub"))
}

// At returns a cache rooted at root, creating the folder (for a second
// root such as vLLM's --download-dir).
func At(tb testing.TB, root string) *Cache {
	tb.Helper()
	mkdir(tb, root)
	return &Cache{tb: tb, Root: root}
}

// LookupEnv is an os.LookupEnv that sets only HF_HUB_CACHE, to this root.
func (c *Cache) LookupEnv(name string) (string, bool) {
	if name == "HF_HUB_CACHE" {
		return c.Root, true
	}
	return "", false
}

// Env is the environment that makes huggingface_hub (and modelgate) use
// this cache, as "NAME=value" entries to append to a command's environment.
func (c *Cache) Env() []string { return []string{"HF_HUB_CACHE=" + c.Root} }

// Add creates repository id (if needed) with a snapshot of files at a
// commit derived from id and files, points ref at it (unless ref is ""),
// and returns the commit.
func (c *Cache) Add(id, ref string, files map[string]string) string {
	c.tb.Helper()
	h := sha1.New()
	h.Write([]byte(id))
	for _, name := range slices.Sorted(maps.Keys(files)) {
		h.Write([]byte("\x00" + name + "\x00" + files[name]))
	}
	commit := hex.EncodeToString(h.Sum(nil))
	r := c.Repo(id)
	r.Snapshot(commit, files)
	if ref != "" {
		r.Ref(ref, commit)
	}
	return commit
}

// Repo returns repository id, creating its folder with empty blobs/, refs/
// and snapshots/.
func (c *Cache) Repo(id string) *Repo {
	c.tb.Helper()
	r := &Repo{tb: c.tb, ID: id, Dir: filepath.Join(c.Root, "models--"+strings.ReplaceAll(id, "/", "--"))}
	for _, sub := range []string{"blobs", "refs", "snapshots"} {
		mkdir(c.tb, filepath.Join(r.Dir, sub))
	}
	return r
}

// Repo is one repository folder of a fake cache.
type Repo struct {
	tb  testing.TB
	ID  string
	Dir string // ROOT/models--ORG--NAME
}

// BlobsDir is the repository's blobs folder.
func (r *Repo) BlobsDir() string { return filepath.Join(r.Dir, "blobs") }

// SnapshotDir is the snapshot folder of commit.
func (r *Repo) SnapshotDir(commit string) string { return filepath.Join(r.Dir, "snapshots", commit) }

// Snapshot writes each file's content as a blob and links
// snapshots/COMMIT/NAME to it (NAME may hold "/"), as huggingface_hub does,
// and returns the snapshot folder.
func (r *Repo) Snapshot(commit string, files map[string]string) string {
	r.tb.Helper()
	dir := r.SnapshotDir(commit)
	mkdir(r.tb, dir)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		etag := r.Blob(files[name])
		r.Symlink(commit, name, BlobTarget(name, etag))
	}
	return dir
}

// BlobTarget is the relative link target huggingface_hub writes for the
// snapshot file name (slash-separated) pointing at blob etag.
func BlobTarget(name, etag string) string {
	return strings.Repeat("../", 2+strings.Count(name, "/")) + "blobs/" + etag
}

// Blob writes content into blobs/ under its sha256 (the etag the Hub gives
// LFS files) and returns that name.
func (r *Repo) Blob(content string) string {
	r.tb.Helper()
	etag := Etag(content)
	writeFile(r.tb, filepath.Join(r.BlobsDir(), etag), []byte(content))
	return etag
}

// Symlink creates snapshots/COMMIT/NAME as a link to target, whatever
// target is (for escapes, cycles and broken links).
func (r *Repo) Symlink(commit, name, target string) {
	r.tb.Helper()
	p := filepath.Join(r.SnapshotDir(commit), filepath.FromSlash(name))
	mkdir(r.tb, filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		r.tb.Fatalf("hftest: %v", err)
	}
}

// File creates snapshots/COMMIT/NAME as a regular file (huggingface_hub's
// layout where symlinks are not supported).
func (r *Repo) File(commit, name, content string) {
	r.tb.Helper()
	writeFile(r.tb, filepath.Join(r.SnapshotDir(commit), filepath.FromSlash(name)), []byte(content))
}

// Ref points ref name (which may hold "/", as "refs/pr/1") at commit, as
// huggingface_hub writes it: the bare hash, no line ending.
func (r *Repo) Ref(name, commit string) { r.WriteRef(name, []byte(commit)) }

// WriteRef writes data as the ref file of name.
func (r *Repo) WriteRef(name string, data []byte) {
	r.tb.Helper()
	writeFile(r.tb, r.RefPath(name), data)
}

// RefPath is the path of the ref file of name.
func (r *Repo) RefPath(name string) string {
	return filepath.Join(r.Dir, "refs", filepath.FromSlash(name))
}

// Commit returns a fixed 40-hex commit hash made from seed.
func Commit(seed string) string {
	sum := sha1.Sum([]byte(seed))
	return hex.EncodeToString(sum[:])
}

// Etag is the blob name hftest gives content: its sha256 in hex.
func Etag(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

func mkdir(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("hftest: %v", err)
	}
}

func writeFile(tb testing.TB, p string, data []byte) {
	tb.Helper()
	mkdir(tb, filepath.Dir(p))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatalf("hftest: %v", err)
	}
}
