// Package pindir keeps verified private copies of models and adapters, so
// that the server loads exactly the bytes that verified (`--pin-dir DIR`,
// issue 10; the known limit of spec/policy.md §6).
//
// Verification reads a model's files and the server reads them again when
// it loads them: whoever can write the model folder in between defeats any
// check of the folder. A Dir closes that gap by copying each artifact,
// while it is verified, into DIR/<subject digest>/ (one read: each chunk
// is hashed and written from the same buffer, or on file systems with
// reflinks the clone is made first and the clone is what is hashed), and
// by pointing the server at the copy once the policy allows it. The copy
// is written into a private temporary folder, made read-only (files 0444,
// folders 0555) and renamed into place only after the decision; a denial
// or any failure removes it. DIR must belong to the user modelgate runs
// as and be writable by no one else.
//
// A copy that already exists for a digest is re-checked (hashed through
// the hash cache against the verified manifest) instead of copied again,
// and replaced when it does not match. The copies together stay within a
// size bound and the free space of the file system: room for a new copy
// is made by removing the least recently used copies that no process is
// using. A process "uses" a copy while it holds a shared lock on
// DIR/<digest>.lock (Hold): the gate while vLLM has the adapter loaded,
// and vLLM itself when `modelgate exec` passes the locked descriptor on
// across exec (Hold.KeepOnExec).
//
// The package works on Linux and other Unix systems (reflinks on Linux
// only); Open fails elsewhere.
package pindir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/fsperm"
	"github.com/modelgate/modelgate/manifest"
)

// Errors callers may branch on.
var (
	// ErrNoRoom: the copy does not fit within Options.MaxSize or the
	// free space, even after removing every copy not in use.
	ErrNoRoom = errors.New("no room for the verified copy")
	// ErrInUse: a copy that does not match its digest's manifest is in
	// use by some process, so it cannot be replaced now.
	ErrInUse = errors.New("the verified copy is in use")
	// ErrGone: the copy to hold no longer exists (it was evicted).
	ErrGone = errors.New("the verified copy no longer exists")
	// ErrUntrusted: DIR may be changed by someone other than the user
	// modelgate runs as (and root).
	ErrUntrusted = errors.New("the pin folder is not private")
	// ErrUnsupported: pinned copies need file locks this system lacks.
	ErrUnsupported = errors.New("verified copies are supported on Linux and other Unix systems only")
)

// Options configures a Dir. The zero value is usable.
type Options struct {
	// MaxSize bounds the bytes all copies in DIR take together (copies
	// being made count with their full size). 0 means no bound besides
	// the free space of DIR's file system.
	MaxSize int64
	// Cache, when set, is the digest cache that re-checks of existing
	// copies go through (see manifest.DigestCache), so that an unchanged
	// copy is not read again.
	Cache manifest.DigestCache
	// Workers bounds parallel hashing of re-checks; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Logger receives warnings (a damaged copy replaced, copies evicted);
	// nil means slog.Default().
	Logger *slog.Logger
}

// Timing. Tests shorten them.
var (
	// recentUse protects a copy from eviction for this long after its
	// last use, so that a copy a decision just made or re-checked is
	// still there when the caller holds it (Hold) a moment later, even
	// in another process.
	recentUse = time.Minute
	// holdWait bounds the wait for a lock another process holds
	// exclusively: an eviction or replacement, which takes as long as
	// removing a tree of files.
	holdWait = 2 * time.Minute
)

// Dir is a folder of verified copies. It is safe for concurrent use, and
// several processes may share one folder.
type Dir struct {
	path string // absolute, symlinks resolved
	opts Options
	log  *slog.Logger

	cloneOnce sync.Once
	clones    bool // the file system of the folder makes reflinks

	afterWrite func(rel string, off int64) // tests: see target.afterWrite
	afterClone func(rel string)            // tests: see target.afterClone
}

// Open opens (creating it, mode 0755, when missing) the folder of
// verified copies at path. The folder must be owned by the current user
// and writable by no one else, under folders only root and the user can
// change: anyone else who could write it could change a copy after it
// verified.
func Open(path string, opts Options) (*Dir, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	if path == "" {
		return nil, errors.New("pin folder: empty path")
	}
	if opts.MaxSize < 0 {
		return nil, fmt.Errorf("pin folder size bound %d: must not be negative", opts.MaxSize)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pin folder %s: %w", strconv.Quote(path), err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create the pin folder: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("pin folder %s: %w", strconv.Quote(abs), err)
	}
	if !utf8.ValidString(real) {
		// Copies are named in JSON (vLLM's flags, load requests).
		return nil, fmt.Errorf("pin folder %s: the path is not valid UTF-8", strconv.Quote(real))
	}
	fi, err := os.Lstat(real)
	if err != nil {
		return nil, fmt.Errorf("pin folder %s: %w", strconv.Quote(abs), err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("pin folder %s is not a folder", strconv.Quote(abs))
	}
	if why := fsperm.Private(fi); why != "" {
		return nil, fmt.Errorf("%w: %s %s", ErrUntrusted, strconv.Quote(abs), why)
	}
	if why := fsperm.Replaceable(real); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrUntrusted, why)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Dir{path: real, opts: opts, log: log}, nil
}

// willClone reports whether copies of the artifact at source will be
// reflinks: source is on the folder's file system, which makes them.
// Such a copy needs no free space (the bound, which counts every copy at
// its full size, still applies).
func (d *Dir) willClone(source string) bool {
	d.cloneOnce.Do(func() { d.clones = probeClone(d.path) })
	return d.clones && sameDevice(source, d.path)
}

// Path returns the folder's absolute real path.
func (d *Dir) Path() string { return d.path }

// Names in DIR: DIR/<hex> copies, DIR/<hex>.lock their locks,
// DIR/.tmp-* copies being made (and removed), each with a .lock holding
// the bytes it reserved, and DIR/.lock, which serialises room-making and
// renames into place.
const (
	lockSuffix = ".lock"
	tmpPrefix  = ".tmp-"
	dirLock    = ".lock"
)

// isKey reports whether name is a copy's name: 64 lowercase hex digits.
func isKey(name string) bool {
	if len(name) != 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (d *Dir) copyPath(key string) string { return filepath.Join(d.path, key) }
func (d *Dir) lockPath(key string) string { return filepath.Join(d.path, key+lockSuffix) }

// keyOf returns the digest key of a pinned path (DIR/<hex> or a file
// inside it), or an error when path is not one.
func (d *Dir) keyOf(pinned string) (string, error) {
	rel, err := filepath.Rel(d.path, filepath.Clean(pinned))
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s is not in the pin folder %s", strconv.Quote(pinned), strconv.Quote(d.path))
	}
	key, _, _ := cutSeparator(rel)
	if !isKey(key) {
		return "", fmt.Errorf("%s is not a verified copy in %s", strconv.Quote(pinned), strconv.Quote(d.path))
	}
	return key, nil
}

// cutSeparator splits a relative path at its first separator.
func cutSeparator(rel string) (first, rest string, found bool) {
	for i := 0; i < len(rel); i++ {
		if os.IsPathSeparator(rel[i]) {
			return rel[:i], rel[i+1:], true
		}
	}
	return rel, "", false
}

// Hold is a process's claim on a copy: while it is held, no process
// evicts or replaces the copy.
type Hold struct {
	lock *lockedFile
	path string
}

// Hold claims the copy at pinned (the path a decision reported): it takes
// a shared lock on the copy's lock file, waiting while another process
// evicts or replaces it, and fails with ErrGone when the copy is no longer
// there. Release it when the server no longer needs the copy.
func (d *Dir) Hold(pinned string) (*Hold, error) {
	key, err := d.keyOf(pinned)
	if err != nil {
		return nil, err
	}
	l, err := lockNamed(d.lockPath(key), lockShared, holdWait)
	if err != nil {
		return nil, fmt.Errorf("lock the verified copy %s: %w", strconv.Quote(d.copyPath(key)), err)
	}
	fi, err := os.Lstat(d.copyPath(key))
	if err != nil || !fi.IsDir() {
		l.close()
		d.dropLock(key)
		return nil, fmt.Errorf("%w: %s", ErrGone, strconv.Quote(d.copyPath(key)))
	}
	if _, err := os.Lstat(pinned); err != nil {
		l.close()
		return nil, fmt.Errorf("%w: %s", ErrGone, strconv.Quote(pinned))
	}
	l.touch()
	return &Hold{lock: l, path: pinned}, nil
}

// Path returns the pinned path held.
func (h *Hold) Path() string { return h.path }

// Release gives up the claim. It is safe to call more than once.
func (h *Hold) Release() {
	if h != nil && h.lock != nil {
		h.lock.close()
		h.lock = nil
	}
}

// KeepOnExec makes the held lock survive exec: the process that replaces
// this one (vLLM, started with syscall.Exec) then holds the copy for as
// long as it runs, and the kernel drops the lock when it exits. A lock
// taken with flock belongs to the open file description, which exec keeps
// when the descriptor is not close-on-exec.
func (h *Hold) KeepOnExec() error {
	if h == nil || h.lock == nil {
		return errors.New("keep a released hold")
	}
	return h.lock.keepOnExec()
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
