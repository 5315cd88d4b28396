package manifest

import (
	"context"
	"errors"
)

var errNotImplemented = errors.New("not implemented")

// Options controls Build.
type Options struct {
	Serialization

	// IgnorePaths lists files or folders to leave out. Each is absolute or
	// relative to the model root (callers resolve CWD-relative paths to
	// absolute ones first). Symlinks in the existing part of a path and ".."
	// are resolved, then the path is made relative to the resolved model
	// root; paths outside the model are dropped. None has to exist. A path
	// ignores itself and everything under it, by whole components.
	IgnorePaths []string

	// IgnoreGitPaths leaves out GitPaths at the model root.
	IgnoreGitPaths bool

	// Only, when non-nil, restricts hashing to exactly these model-relative
	// file paths (the paths of an expected manifest, shard suffixes already
	// stripped): --ignore-unsigned-files. Ignore rules still apply. A listed
	// path that is missing is reported as missing by Compare (it produces no
	// resource). A listed path that is absolute or contains ".." is an error.
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
// records). Build stops early when ctx is cancelled.
func Build(ctx context.Context, modelPath string, opts Options) (*Manifest, Stats, error) {
	return nil, Stats{}, errNotImplemented
}
