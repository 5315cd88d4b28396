package vllmcmd

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeFS is an in-memory file system for tests: files by absolute path,
// folders implied by them or listed explicitly. Lookups walk the path as
// an operating system does: ".." needs its folder to exist.
type fakeFS struct {
	files map[string][]byte
	dirs  map[string]bool
	fifos map[string]bool
}

func newFS(files ...string) *fakeFS {
	f := &fakeFS{files: map[string][]byte{}, dirs: map[string]bool{"/": true}, fifos: map[string]bool{}}
	for _, p := range files {
		if strings.HasSuffix(p, "/") {
			f.mkdir(strings.TrimSuffix(p, "/"))
			continue
		}
		f.write(p, "")
	}
	return f
}

func (f *fakeFS) mkdir(p string) {
	for p = path.Clean(p); p != "/"; p = path.Dir(p) {
		f.dirs[p] = true
	}
}

func (f *fakeFS) write(p, data string) *fakeFS {
	p = path.Clean(p)
	f.files[p] = []byte(data)
	f.mkdir(path.Dir(p))
	return f
}

type fakeInfo struct {
	name string
	mode fs.FileMode
	size int64
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return i.size }
func (i fakeInfo) Mode() fs.FileMode  { return i.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

// resolve walks name component by component; ok is false when a folder
// on the way does not exist.
func (f *fakeFS) resolve(name string) (string, bool) {
	cur := "/"
	parts := strings.Split(name, "/")
	for i, c := range parts {
		switch {
		case c == "" || c == ".":
			continue
		case c == "..":
			if !f.dirs[cur] {
				return "", false
			}
			cur = path.Dir(cur)
		default:
			cur = path.Join(cur, c)
			if i < len(parts)-1 && !f.dirs[cur] {
				return "", false
			}
		}
	}
	return cur, true
}

func (f *fakeFS) Stat(name string) (fs.FileInfo, error) {
	p, ok := f.resolve(name)
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	switch {
	case f.fifos[p]:
		return fakeInfo{path.Base(p), fs.ModeNamedPipe, 0}, nil
	case f.dirs[p]:
		return fakeInfo{path.Base(p), fs.ModeDir | 0o755, 0}, nil
	}
	if d, ok := f.files[p]; ok {
		return fakeInfo{path.Base(p), 0o644, int64(len(d))}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (f *fakeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, ok := f.resolve(name)
	if !ok || !f.dirs[p] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	seen := map[string]bool{}
	var out []fs.DirEntry
	add := func(child string) {
		if path.Dir(child) == p && child != p && !seen[child] {
			seen[child] = true
			info, _ := f.Stat(child)
			out = append(out, fs.FileInfoToDirEntry(info))
		}
	}
	for c := range f.files {
		add(c)
	}
	for c := range f.dirs {
		add(c)
	}
	for c := range f.fifos {
		add(c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *fakeFS) Open(name string) (io.ReadCloser, error) {
	p, ok := f.resolve(name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if f.fifos[p] || f.dirs[p] {
		return nil, errors.New("not a regular file")
	}
	d, ok := f.files[p]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

// opts are the Options of most tests: vLLM runs in /work, home is /home/u.
func opts(fsys FS, allow ...string) Options {
	return Options{Dir: "/work", Home: "/home/u", FS: fsys, AllowFlags: allow}
}

// mustParse parses argv (a shell-like string split on spaces) or fails.
func mustParse(t *testing.T, fsys FS, argv []string, allow ...string) *Command {
	t.Helper()
	c, err := Parse(argv, opts(fsys, allow...))
	if err != nil {
		t.Fatalf("Parse(%q): %v", argv, err)
	}
	return c
}

// refusal parses argv and returns the refusal, failing if there is none.
func refusal(t *testing.T, fsys FS, argv []string, allow ...string) *RefusedError {
	t.Helper()
	c, err := Parse(argv, opts(fsys, allow...))
	if err == nil {
		t.Fatalf("Parse(%q) = %+v, want a refusal", argv, c)
	}
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Parse(%q): %T %v, want *RefusedError", argv, err, err)
	}
	return re
}

func serve(args ...string) []string { return append([]string{"vllm", "serve"}, args...) }

func apiServer(args ...string) []string {
	return append([]string{"python3", "-m", "vllm.entrypoints.openai.api_server"}, args...)
}
