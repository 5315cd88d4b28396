package manifest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
)

// Options controls Build.
type Options struct {
	Serialization

	// IgnorePaths lists files or folders to leave out. Each is absolute or
	// relative to the model root (callers resolve CWD-relative paths to
	// absolute ones first). Symlinks in the existing part of a path and ".."
	// are resolved, then the path is made relative to the resolved model
	// root; paths outside the model are dropped. None has to exist. A path
	// ignores itself and everything under it, by whole components. A path
	// whose last component is a symlink ignores both the link and what it
	// resolves to. A path that resolves to the model root itself is dropped
	// too: it would otherwise leave nothing to hash and make any model
	// match an empty signature. For a single-file model every ignore path
	// is irrelevant.
	IgnorePaths []string

	// IgnoreGitPaths leaves out GitPaths at the model root.
	IgnoreGitPaths bool

	// Only, when non-nil, restricts hashing to exactly these model-relative
	// file paths (the paths of an expected manifest, shard suffixes already
	// stripped): --ignore-unsigned-files. Ignore rules still apply. A listed
	// path that is missing is reported as missing by Compare (it produces no
	// resource); so is one reachable only through a symlinked directory,
	// which the walk would never enter. A listed path that is absolute,
	// contains "..", or is not clean is an error, as is one that is a
	// directory (or a symlink to one) or not a regular file. For a
	// single-file model the only path that can exist is ".".
	Only []string

	// Workers bounds the number of files/shards hashed at once; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
}

// Stats reports how much work Build did.
type Stats struct {
	Files int   // regular files hashed
	Bytes int64 // bytes read and hashed
}

// Build walks modelPath (a directory or a single file) and hashes it as
// opts.Serialization says. The returned manifest's resources are sorted in
// plain byte order of their full names (format spec §10), and its
// IgnorePaths hold the effective model-relative ignore set (what a signer
// records; empty for a single-file model). modelPath itself may be a
// symlink: the user named it, so it is followed. Build stops early when ctx
// is cancelled and then returns ctx.Err(). A file whose size changes while
// it is hashed makes Build fail with an error wrapping ErrChanged.
func Build(ctx context.Context, modelPath string, opts Options) (*Manifest, Stats, error) {
	if err := opts.Serialization.validate(); err != nil {
		return nil, Stats{}, err
	}
	if opts.Workers < 0 {
		return nil, Stats{}, fmt.Errorf("workers %d: must not be negative", opts.Workers)
	}
	loc, files, ignored, err := list(modelPath, opts)
	if err != nil {
		return nil, Stats{}, err
	}
	items := plan(files, opts.Serialization)
	workers := opts.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	digests, n, err := hashAll(ctx, loc, items, opts.Serialization, workers)
	if err != nil {
		return nil, Stats{}, err
	}
	m := &Manifest{
		Serialization: opts.Serialization,
		Resources:     make([]Resource, len(items)),
		IgnorePaths:   ignored,
	}
	for i, it := range items {
		m.Resources[i] = Resource{Path: it.file.name, Shard: it.shard, Digest: digests[i]}
		if it.shard {
			m.Resources[i].Start, m.Resources[i].End = it.start, it.end
		}
	}
	sortResources(m.Resources)
	return m, Stats{Files: countHashed(files, opts.Method), Bytes: n}, nil
}

// countHashed counts the files that produced resources: all of them for
// the files method, the non-empty ones for shards.
func countHashed(files []fileEntry, method Method) int {
	n := 0
	for _, f := range files {
		if method != Shards || f.size > 0 {
			n++
		}
	}
	return n
}

// list resolves modelPath and returns where the model is, the files to
// hash and the sorted effective ignore set.
func list(modelPath string, opts Options) (location, []fileEntry, []string, error) {
	var loc location
	if modelPath == "" {
		return loc, nil, nil, fmt.Errorf("model path is empty")
	}
	root, err := filepath.Abs(modelPath)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return loc, nil, nil, fmt.Errorf("model %q: %w", modelPath, unwrapPath(err))
	}
	loc = location{root: root, shown: modelPath}
	fi, err := os.Stat(root)
	if err != nil {
		return loc, nil, nil, fmt.Errorf("model %q: %w", modelPath, unwrapPath(err))
	}
	switch {
	case fi.Mode().IsRegular():
		files, err := listSingle(fi.Size(), opts.Only)
		return loc, files, []string{}, err
	case !fi.IsDir():
		return loc, nil, nil, fmt.Errorf("model %q is not a regular file or directory (%s)", modelPath, kind(fi.Mode()))
	}
	ignore, err := resolveIgnorePaths(root, opts.IgnorePaths, opts.IgnoreGitPaths)
	if err != nil {
		return loc, nil, nil, err
	}
	var files []fileEntry
	if opts.Only != nil {
		files, err = listOnly(loc, opts.Only, ignore, opts.AllowSymlinks)
	} else {
		files, err = walk(loc, ignore, opts.AllowSymlinks)
	}
	return loc, files, ignore.sorted(), err
}

// listSingle handles a model that is one file: its resource is ".".
func listSingle(size int64, only []string) ([]fileEntry, error) {
	single := []fileEntry{{name: ".", size: size}}
	if only == nil {
		return single, nil
	}
	found := false
	for _, rel := range only {
		if rel == "." {
			found = true
			continue
		}
		if err := checkOnlyPath(rel); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, nil
	}
	return single, nil
}

// sortResources orders resources by the plain byte order of their full
// names (format spec §10), which both Python's and OMS verifiers accept.
func sortResources(rs []Resource) {
	names := make([]string, len(rs))
	for i := range rs {
		names[i] = rs[i].Name()
	}
	sort.Sort(byName{rs, names})
}

type byName struct {
	rs    []Resource
	names []string
}

func (b byName) Len() int           { return len(b.rs) }
func (b byName) Less(i, j int) bool { return b.names[i] < b.names[j] }
func (b byName) Swap(i, j int) {
	b.rs[i], b.rs[j] = b.rs[j], b.rs[i]
	b.names[i], b.names[j] = b.names[j], b.names[i]
}
