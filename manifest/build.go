package manifest

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/modelgate/modelgate/internal/ctxerr"
	"github.com/modelgate/modelgate/internal/safefile"
)

// Options controls Walk and Build.
type Options struct {
	Serialization

	// IgnorePaths lists files or folders to leave out, as NAMES inside the
	// model: each is relative to the model root, or absolute (callers
	// resolve CWD-relative paths to absolute ones first). Names are
	// matched lexically, never through symlinks inside the model, so a
	// symlink cannot take its target out of verification: an entry is
	// cleaned ("a/../b" is "b") and an absolute one made relative to the
	// model root as given or as resolved (symlinks outside the model, such
	// as a symlinked model root, are followed; see resolveToRoot). None
	// has to exist. A path ignores itself and everything under it, by
	// whole components. Entries outside the model, and one naming the
	// model root itself (which would make any model match an empty
	// signature), are dropped. For a single-file model every ignore path
	// is irrelevant.
	IgnorePaths []string

	// IgnoreGitPaths leaves out GitPaths at the model root.
	IgnoreGitPaths bool

	// Only, when non-nil, restricts hashing to exactly these model-relative
	// file paths (the paths of an expected manifest, shard suffixes already
	// stripped): --ignore-unsigned-files. Ignore rules still apply. A listed
	// path that is missing is reported as missing by Compare (it produces no
	// resource). A listed path that is absolute, contains "..", or is not
	// clean is an error, as is one that is a directory (or a symlink to
	// one) or not a regular file, or that passes through a symlink the
	// symlink rules refuse. For a single-file model the only path that can
	// exist is ".".
	Only []string

	// Expected is the signed manifest the model is being verified against
	// (nil when signing). With symlinks allowed, the walk follows a
	// symlink to a directory only when Expected lists files under the
	// link's name, and hashes them under that name; any other directory
	// symlink is reported as an extra entry by CheckNames and Compare.
	// Without Expected, a directory symlink is an error: a signature
	// never covers one (the reference verifier would not descend it), so
	// signing refuses rather than write a signature that cannot verify.
	Expected *Manifest

	// LinkRoot, when set, confines symlinks for a Hugging Face cache
	// snapshot, whatever AllowSymlinks says: every symlink in the model is
	// treated as a regular file and must resolve, through all its hops, to
	// a regular file strictly inside LinkRoot (the repository's blobs/
	// folder). Any other target (outside LinkRoot, a directory, a FIFO, a
	// broken link, a cycle) is an error naming the link and where it
	// points. Symlinks to directories are errors in this mode.
	LinkRoot string

	// Progress, when set, hears about the work (see Progress).
	Progress Progress

	// Workers bounds the number of files/shards hashed at once, and of
	// goroutines walking a wide directory tree; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int

	// Cache, when set, lets Hash reuse the digests of unchanged files
	// (see DigestCache).
	Cache DigestCache

	copy CopyTarget // set by HashCopy only
}

// workers resolves Workers: the goroutines that hash, and that may walk.
func (o *Options) workers() int {
	if o.Workers == 0 {
		return runtime.GOMAXPROCS(0)
	}
	return o.Workers
}

// Progress receives progress reports from Walk and Hash. Planned is called
// once after the walk, before any hashing, with the number of files and
// bytes to hash; Hashed after each chunk read, with its size, from any
// hashing goroutine (so it must be safe for concurrent use and cheap).
type Progress interface {
	Planned(files int, bytes int64)
	Hashed(bytes int64)
}

// Stats reports how much work Build did.
type Stats struct {
	Files int   // regular files hashed
	Bytes int64 // bytes read and hashed
	// CachedBytes counts the bytes whose digests came from Options.Cache
	// instead of being read (they are not in Bytes).
	CachedBytes int64
}

// Tree is a walked model: the files to hash and the resources they will
// produce, before any file is read. It lets callers decide before the
// expensive part: CheckNames compares resource names with a signed
// manifest, Resources and NameBytes size the signature to be written.
type Tree struct {
	loc       location
	opts      Options
	files     []fileEntry
	extraDirs []string
	ignored   []string
	fs        *fsTable // the file systems the walk saw, for a cache; nil without one
}

// Walk lists modelPath (a directory or a single file) as Build does,
// without hashing anything. modelPath itself may be a symlink: the user
// named it, so it is followed. It stops early when ctx is cancelled
// (checked before each directory), with an error that matches
// context.Canceled (or context.DeadlineExceeded) and reads as the
// context's cause, such as "interrupted (SIGTERM)", or "interrupted" when
// it has none: users see it in denial reasons.
func Walk(ctx context.Context, modelPath string, opts Options) (*Tree, error) {
	if err := opts.Serialization.validate(); err != nil {
		return nil, err
	}
	if opts.Workers < 0 {
		return nil, fmt.Errorf("workers %d: must not be negative", opts.Workers)
	}
	if err := ctxerr.Err(ctx); err != nil {
		return nil, err
	}
	t, err := list(ctx, modelPath, opts)
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress.Planned(t.countHashed(), t.Bytes())
	}
	return t, nil
}

// Build walks modelPath (a directory or a single file) and hashes it as
// opts.Serialization says: Walk, then Tree.Hash. The returned manifest's
// resources are sorted in plain byte order of their full names (format
// spec §10), and its IgnorePaths hold the effective model-relative ignore
// set (what a signer records; empty for a single-file model). Build stops
// early when ctx is cancelled, with an error as Walk's. A file whose
// size or identity changes while it is hashed makes Build fail with an
// error wrapping ErrChanged.
func Build(ctx context.Context, modelPath string, opts Options) (*Manifest, Stats, error) {
	t, err := Walk(ctx, modelPath, opts)
	if err != nil {
		return nil, Stats{}, err
	}
	return t.Hash(ctx)
}

// Hash reads and hashes the walked files and returns the manifest (see
// Build). Directory symlinks the walk did not follow travel with the
// manifest, so Compare reports them.
func (t *Tree) Hash(ctx context.Context) (*Manifest, Stats, error) {
	items := plan(t.files, t.opts.Serialization)
	cache := newCacheRun(t.opts.Cache, t.opts.HashType, t.files, t.fs)
	if cache != nil && t.opts.copy != nil {
		cache.noHits = true // every byte must be read to be copied
	}
	digests, n, err := hashAll(ctx, t.loc, items, t.opts, t.opts.workers(), cache)
	cache.close()
	if err != nil {
		return nil, Stats{}, err
	}
	m := &Manifest{
		Serialization: t.opts.Serialization,
		Resources:     make([]Resource, len(items)),
		IgnorePaths:   t.ignored,
		extraDirs:     t.extraDirs,
	}
	size := t.opts.HashType.Size()
	for i, it := range items {
		m.Resources[i] = Resource{Path: it.file.name, Shard: it.shard, Digest: digests[i*size : (i+1)*size : (i+1)*size]}
		if it.shard {
			m.Resources[i].Start, m.Resources[i].End = it.start, it.end
		}
	}
	sortResources(m.Resources)
	return m, Stats{Files: t.countHashed(), Bytes: n, CachedBytes: cache.cachedBytes()}, nil
}

// Files returns the number of files walked.
func (t *Tree) Files() int { return len(t.files) }

// Bytes returns the total size of the walked files.
func (t *Tree) Bytes() int64 {
	var n int64
	for i := range t.files {
		n += t.files[i].info.size
	}
	return n
}

// IgnorePaths returns the effective model-relative ignore set, sorted.
func (t *Tree) IgnorePaths() []string { return t.ignored }

// Resources returns the number of resources hashing will produce: one per
// file, or one per shard (empty files have none).
func (t *Tree) Resources() int64 {
	return t.resourcesAt(t.opts.ShardSize)
}

func (t *Tree) resourcesAt(shardSize int64) int64 {
	if t.opts.Method != Shards {
		return int64(len(t.files))
	}
	var n int64
	for i := range t.files {
		n += shardCount(t.files[i].info.size, shardSize)
	}
	return n
}

// shardCount is the number of shards of a file of size bytes.
func shardCount(size, shardSize int64) int64 {
	if size <= 0 {
		return 0
	}
	return (size-1)/shardSize + 1
}

// NameBytes returns the total length in bytes of all resource names
// hashing will produce (shard names included), computed without building
// them: signers use it to size a signature before hashing.
func (t *Tree) NameBytes() int64 {
	var total int64
	for i := range t.files {
		f := &t.files[i]
		if t.opts.Method != Shards {
			total += int64(len(f.name))
			continue
		}
		total += shardNameBytes(int64(len(f.name)), f.info.size, t.opts.ShardSize)
	}
	return total
}

// shardNameBytes sums len("name:start:end") over the shards of one file
// of size bytes, by counting for each power of ten how many starts and
// ends reach it rather than formatting every shard.
func shardNameBytes(nameLen, size, shardSize int64) int64 {
	n := shardCount(size, shardSize)
	total := n * (nameLen + 4) // two colons, at least one digit in start and end
	for p := int64(10); p <= size; p *= 10 {
		c := (p-1)/shardSize + 1 // the first k with k·shardSize ≥ p
		total += max(0, n-c)     // starts k·shardSize, k < n
		total += max(0, n-c+1)   // ends min((k+1)·shardSize, size)
		if p > math.MaxInt64/10 {
			break
		}
	}
	return total
}

// MinShardSize returns the smallest shard size at which hashing would
// produce at most maxResources resources, or 0 when no shard size can
// (there are more non-empty files than that).
func (t *Tree) MinShardSize(maxResources int64) int64 {
	var biggest int64
	for i := range t.files {
		biggest = max(biggest, t.files[i].info.size)
	}
	if biggest == 0 || t.resourcesAt(biggest) > maxResources {
		return 0
	}
	lo, hi := int64(1), biggest // resourcesAt(hi) fits
	for lo < hi {
		mid := lo + (hi-lo)/2
		if t.resourcesAt(mid) <= maxResources {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// countHashed counts the files that produce resources: all of them for
// the files method, the non-empty ones for shards.
func (t *Tree) countHashed() int {
	n := 0
	for i := range t.files {
		if t.opts.Method != Shards || t.files[i].info.size > 0 {
			n++
		}
	}
	return n
}

// list resolves modelPath and walks it.
func list(ctx context.Context, modelPath string, opts Options) (*Tree, error) {
	if modelPath == "" {
		return nil, fmt.Errorf("model path is empty")
	}
	given, err := filepath.Abs(modelPath)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", modelPath, unwrapPath(err))
	}
	root, err := filepath.EvalSymlinks(given)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", modelPath, unwrapPath(err))
	}
	t := &Tree{loc: location{root: root, shown: modelPath}, opts: opts, ignored: []string{}}
	fi, err := statPath(root)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", modelPath, unwrapPath(err))
	}
	switch {
	case fi.mode == 0:
		t.files, err = listSingle(fi, opts.Only)
		return t, err
	case !fi.mode.IsDir():
		return nil, fmt.Errorf("model %q is not a regular file or directory (%s)", modelPath, safefile.Kind(fi.mode))
	}
	ignore, err := resolveIgnorePaths(given, root, opts.IgnorePaths, opts.IgnoreGitPaths)
	if err != nil {
		return nil, err
	}
	w := &walker{ctx: ctx, loc: t.loc, ignore: ignore, allow: opts.AllowSymlinks, expected: newExpectedNames(opts.Expected), fork: newWalkFork(opts.workers())}
	if opts.LinkRoot != "" {
		if w.linkRoot, err = filepath.EvalSymlinks(opts.LinkRoot); err != nil {
			return nil, fmt.Errorf("link root %q: %w", opts.LinkRoot, unwrapPath(err))
		}
		if w.linkRoot, err = filepath.Abs(w.linkRoot); err != nil {
			return nil, fmt.Errorf("link root %q: %w", opts.LinkRoot, err)
		}
	}
	if opts.Cache != nil && cacheSupported {
		w.fs = &fsTable{}
	}
	if opts.Only != nil {
		err = w.listOnly(opts.Only)
	} else {
		err = w.walk()
	}
	if err != nil {
		return nil, err
	}
	t.files, t.extraDirs, t.ignored, t.fs = w.files.all(), w.extraDirs, ignore.sorted(), w.fs
	return t, nil
}

// listSingle handles a model that is one file: its resource is ".".
func listSingle(fi fileInfo, only []string) ([]fileEntry, error) {
	single := []fileEntry{{name: ".", info: fi, link: true}} // the user named it: followed
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
// A file's name is its path; shards' names are built once, not per
// comparison.
func sortResources(rs []Resource) {
	if !slices.ContainsFunc(rs, func(r Resource) bool { return r.Shard }) {
		slices.SortFunc(rs, func(a, b Resource) int { return strings.Compare(a.Path, b.Path) })
		return
	}
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
