package pindir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelgate/modelgate/manifest"
)

// target is a manifest.CopyTarget writing into a private folder: the copy
// being made.
type target struct {
	root   string // the private folder
	single string // for a single-file model: the file's name in root

	mu    sync.Mutex
	files map[string]*fileState // by path relative to root
	dirs  map[string]bool       // folders created below root

	noClone atomic.Bool  // a clone failed: write every later file
	cloned  atomic.Int64 // bytes cloned rather than written
	written atomic.Int64 // bytes written

	afterWrite func(rel string, off int64) // tests: runs after each chunk is written
	afterClone func(rel string)            // tests: runs after a file is cloned
}

// fileState is one file of the copy, shared by the shards that write it.
type fileState struct {
	create sync.Once
	err    error // creating it failed

	clone  sync.Once
	cloned bool
	cerr   error
}

func newTarget(root, single string) *target {
	return &target{root: root, single: single, files: map[string]*fileState{}, dirs: map[string]bool{}}
}

// rel maps a resource path to the file's path below root. Resource paths
// come from the walk (clean, relative, slash-separated); anything else is
// refused rather than trusted to stay inside root.
func (t *target) rel(name string) (string, error) {
	switch {
	case name == ".":
		if t.single == "" {
			return "", errors.New("a folder's copy got a single-file resource")
		}
		return t.single, nil
	case t.single != "":
		return "", fmt.Errorf("a single file's copy got the resource %s", strconv.Quote(name))
	case path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)):
		return "", fmt.Errorf("resource name %s is not a clean relative path", strconv.Quote(name))
	}
	return filepath.FromSlash(name), nil
}

// Open implements manifest.CopyTarget: it creates the file (and its
// folders) the first time, private to the user, and opens it for this
// whole file or shard.
func (t *target) Open(name string, size int64) (manifest.CopyFile, error) {
	rel, err := t.rel(name)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	st := t.files[rel]
	if st == nil {
		st = &fileState{}
		t.files[rel] = st
	}
	t.mu.Unlock()
	p := filepath.Join(t.root, rel)
	st.create.Do(func() { st.err = t.create(rel, p) })
	if st.err != nil {
		return nil, st.err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &copyFile{t: t, st: st, f: f, rel: rel, size: size}, nil
}

// create makes the empty file rel (path p) and the folders above it.
func (t *target) create(rel, p string) error {
	if dir := filepath.Dir(rel); dir != "." {
		if err := os.MkdirAll(filepath.Join(t.root, dir), 0o700); err != nil {
			return err
		}
		t.mu.Lock()
		for d := dir; d != "."; d = filepath.Dir(d) {
			t.dirs[d] = true
		}
		t.mu.Unlock()
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// readOnly makes every file 0444 and every folder 0555, root included.
func (t *target) readOnly() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for rel := range t.files {
		if err := os.Chmod(filepath.Join(t.root, rel), 0o444); err != nil {
			return err
		}
	}
	for rel := range t.dirs {
		if err := os.Chmod(filepath.Join(t.root, rel), 0o555); err != nil {
			return err
		}
	}
	return os.Chmod(t.root, 0o555)
}

// copyFile is one whole file or shard being copied.
type copyFile struct {
	t    *target
	st   *fileState
	f    *os.File
	rel  string
	size int64 // the whole file's walked size
}

// Clone implements manifest.CopyFile: the first shard to get here clones
// the whole file; the other shards wait for that and share the result.
func (c *copyFile) Clone(src uintptr) (io.ReaderAt, error) {
	c.st.clone.Do(func() {
		if c.size == 0 || c.t.noClone.Load() {
			return
		}
		c.st.cloned, c.st.cerr = cloneFile(c.f, src)
		if c.st.cloned {
			c.t.cloned.Add(c.size)
			if c.t.afterClone != nil {
				c.t.afterClone(c.rel)
			}
		} else if c.st.cerr == nil {
			c.t.noClone.Store(true) // the next files will not clone either
		}
	})
	if c.st.cerr != nil {
		return nil, c.st.cerr
	}
	if c.st.cloned {
		return c.f, nil
	}
	return nil, nil
}

// WriteAt implements manifest.CopyFile.
func (c *copyFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.f.WriteAt(p, off)
	c.t.written.Add(int64(n))
	if err == nil && c.t.afterWrite != nil {
		c.t.afterWrite(c.rel, off)
	}
	return n, err
}

// Close implements manifest.CopyFile. The copy is not synced here: see
// Session.Commit.
func (c *copyFile) Close() error { return c.f.Close() }
