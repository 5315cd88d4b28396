package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/modelgate/modelgate/internal/ctxerr"
	"github.com/modelgate/modelgate/internal/safefile"
)

// fileEntry is one file to hash. It holds only the resource name (full
// paths are derived from a location when needed), so a listing of many
// small files stays small.
type fileEntry struct {
	name string   // resource path: slash-separated, model-relative ("." for a single-file model)
	info fileInfo // what the walk saw: the hasher checks it opens this very file, of this size
	link bool     // reached through a symlink in the last component: open follows it
}

// fileList collects the walked files without the garbage of growing one
// slice: a 100,000-file walk appended entry by entry copied the list a
// dozen times over (30 MB of garbage for a 5.6 MB list). Each directory's
// files go into a slice of that directory's size, and all is the one
// exact-size list, built once at the end.
type fileList struct {
	done  [][]fileEntry // finished directories' files
	n     int           // entries in done
	cur   []fileEntry   // the directory being listed
	room  int           // its entry count: cur's capacity, once a file shows up
	outer []dirFiles    // the directories being listed further up
}

type dirFiles struct {
	files []fileEntry
	room  int
}

// openDir starts a directory of entries entries (or the list of
// Options.Only); closeDir ends it. Subdirectories are opened and closed
// while their parent is open.
func (l *fileList) openDir(entries int) {
	l.outer = append(l.outer, dirFiles{l.cur, l.room})
	l.cur, l.room = nil, entries
}

func (l *fileList) closeDir() {
	l.flush()
	top := l.outer[len(l.outer)-1]
	l.outer = l.outer[:len(l.outer)-1]
	l.cur, l.room = top.files, top.room
}

// add appends a file to the directory being listed.
func (l *fileList) add(f fileEntry) {
	if l.cur == nil {
		l.cur = make([]fileEntry, 0, l.room)
	}
	l.cur = append(l.cur, f) // grows only past room, which a listing cannot
}

// take moves the files of another (finished) list to l.
func (l *fileList) take(o *fileList) {
	o.flush()
	l.done = append(l.done, o.done...)
	l.n += o.n
	o.done, o.n = nil, 0
}

func (l *fileList) flush() {
	if len(l.cur) > 0 {
		l.done = append(l.done, l.cur)
		l.n += len(l.cur)
	}
	l.cur = nil
}

// all returns every file added, in one slice of exactly that length.
func (l *fileList) all() []fileEntry {
	l.flush()
	out := make([]fileEntry, 0, l.n)
	for _, d := range l.done {
		out = append(out, d...)
	}
	return out
}

// location says where a model's files are.
type location struct {
	root  string // the resolved model path: files are opened under it
	shown string // the model path as the caller gave it, for messages
}

// path returns the path to open for the resource name.
func (l location) path(name string) string {
	if name == "." {
		return l.root
	}
	return l.root + string(filepath.Separator) + filepath.FromSlash(name)
}

// display returns the path to name in messages.
func (l location) display(name string) string {
	return filepath.Join(l.shown, filepath.FromSlash(name))
}

// errSymlink is the message for a symlink found while symlinks are not
// allowed; the CLI flag is named so the user knows the way out.
const errSymlink = "is a symlink; symlinks are not allowed (use --allow-symlinks)"

// Bounds on following symlinked directories (allowed symlinks whose name
// the signature lists files under). A cycle is refused outright; these
// catch long chains and absurdly deep trees.
const (
	maxFollowedLinks = 40   // nested followed directory links on one path
	maxDepth         = 1024 // directory levels below the model root
)

// walker lists a model directory as format spec §4.1 says: recursively,
// dot-files included, skipping ignored names before looking at them, and
// failing on anything that is neither a regular file nor a directory.
// Symlinks follow the rules of Options (see Options.AllowSymlinks,
// Options.LinkRoot and Options.Expected).
type walker struct {
	ctx      context.Context // checked once per directory and listed file
	loc      location
	ignore   ignoreSet
	allow    bool   // symlinks to files (and listed directories) allowed
	linkRoot string // resolved Options.LinkRoot, or ""
	expected *expectedNames

	files     fileList
	extraDirs []string   // directory links (and directories under them) nothing is expected under
	stack     []fileInfo // directories on the current path, for cycle detection
	followed  int        // directory links followed on the current path

	fork *walkFork // hands subdirectories to other goroutines; nil: walk alone
	fs   *fsTable  // learns the directories' file systems for a cache; nil without one
}

// forkMinEntries is how many entries a directory must list before its
// subdirectories may be walked by other goroutines (walkFork): small
// trees, most models, are walked by one goroutine in a fixed order.
const forkMinEntries = 32

// walkFork lets a walk hand subdirectories of wide directories to other
// goroutines while some are free. The walk is a system call per entry
// (the stat that says what it is, its size and identity), about 0.4 s for
// 100,000 files, and nothing else can run meanwhile: the hashing plan
// needs the whole listing. Each helper walks its subtree with its own
// path (for cycle detection), its own file list and extra directories,
// gathered when the walk ends; the first error stops every goroutine at
// its next directory and is the one reported.
type walkFork struct {
	free chan struct{} // a token per goroutine that may still start
	wg   sync.WaitGroup

	mu      sync.Mutex
	helpers []*walker
	err     error
	failed  atomic.Bool
}

func newWalkFork(goroutines int) *walkFork {
	if goroutines < 2 {
		return nil
	}
	return &walkFork{free: make(chan struct{}, goroutines-1)}
}

// start reports whether a helper may start now, taking its token.
func (f *walkFork) start() bool {
	if f == nil || f.failed.Load() {
		return false
	}
	select {
	case f.free <- struct{}{}:
		f.wg.Add(1)
		return true
	default:
		return false
	}
}

// stopped reports whether some goroutine of the walk failed.
func (f *walkFork) stopped() bool { return f != nil && f.failed.Load() }

// fail records err if it is the walk's first error.
func (f *walkFork) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
		f.failed.Store(true)
	}
}

// done records a helper that finished its subtree with err.
func (f *walkFork) done(h *walker, err error) {
	if err != nil {
		f.fail(err)
	}
	f.mu.Lock()
	f.helpers = append(f.helpers, h)
	f.mu.Unlock()
	<-f.free
	f.wg.Done()
}

// wait waits for the helpers, gives their files and extra directories to
// w (the walk's first goroutine, which ended with err) and returns the
// walk's error.
func (f *walkFork) wait(w *walker, err error) error {
	if f == nil {
		return err
	}
	if err != nil {
		f.fail(err)
	}
	f.wg.Wait()
	for _, h := range f.helpers {
		w.files.take(&h.files)
		w.extraDirs = append(w.extraDirs, h.extraDirs...)
	}
	return f.err
}

// errWalkStopped ends a goroutine's part of a walk that failed elsewhere.
var errWalkStopped = errors.New("walk stopped")

// helper returns a walker for a subtree whose directory on top has fi: it
// shares w's options and fork, with a copy of w's path.
func (w *walker) helper(fi fileInfo, link bool) *walker {
	h := &walker{ctx: w.ctx, loc: w.loc, ignore: w.ignore, allow: w.allow, linkRoot: w.linkRoot, expected: w.expected, fork: w.fork, fs: w.fs, followed: w.followed}
	h.stack = append(append(make([]fileInfo, 0, len(w.stack)+1), w.stack...), fi)
	if link {
		h.followed++
	}
	return h
}

// walk lists the model directory at loc.
func (w *walker) walk() error {
	d, err := openRootDir(w.loc.root)
	if err != nil {
		return fmt.Errorf("read %q: %w", w.loc.shown, unwrapPath(err))
	}
	defer d.close()
	fi, err := d.stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", w.loc.shown, unwrapPath(err))
	}
	w.stack = append(w.stack, fi)
	return w.fork.wait(w, w.dir(d, "."))
}

// dir lists the directory d, whose resource name is rel.
func (w *walker) dir(d dirHandle, rel string) error {
	if err := ctxerr.Err(w.ctx); err != nil {
		return err
	}
	if w.fork.stopped() {
		return errWalkStopped
	}
	names, err := d.names()
	if err != nil {
		return fmt.Errorf("read %q: %w", w.loc.display(rel), unwrapPath(err))
	}
	if w.fs != nil && len(w.stack) > 0 {
		// d's own stat is on top of the stack: its device's file system
		// is d's, and so is that of every file on that device.
		w.fs.learn(w.stack[len(w.stack)-1].dev, d.fsTrust)
	}
	wide := len(names) >= forkMinEntries
	w.files.openDir(len(names))
	defer w.files.closeDir()
	for _, name := range names {
		child := name
		if rel != "." {
			child = rel + "/" + name
		}
		if w.ignore.ignores(child) {
			continue // before any look at it: an ignored name may be anything
		}
		if w.fork.stopped() {
			return errWalkStopped
		}
		fi, err := d.statIn(name, false)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone since the listing: as if it never was
			}
			return fmt.Errorf("stat %q: %w", w.loc.display(child), unwrapPath(err))
		}
		switch {
		case fi.mode == 0:
			w.files.add(fileEntry{name: child, info: fi})
		case fi.mode.IsDir():
			if w.followed > 0 && !w.expected.dirs(child) {
				// Under a followed link, a directory the signature lists
				// nothing under is reported, not walked: a link must not
				// turn into a walk of some big tree elsewhere.
				w.extraDirs = append(w.extraDirs, child)
				continue
			}
			if err := w.descend(d, name, child, fi, false, wide); err != nil {
				return err
			}
		case fi.mode&fs.ModeSymlink != 0:
			if err := w.symlink(d, name, child); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%q is not a regular file or directory (%s)", w.loc.display(child), safefile.Kind(fi.mode))
		}
	}
	return nil
}

// descend walks the subdirectory name of d (resource name child), whose
// stat is fi; link says it is reached through a symlink. When fork, the
// subdirectory may be walked by another goroutine while this one goes on.
func (w *walker) descend(d dirHandle, name, child string, fi fileInfo, link, fork bool) error {
	if len(w.stack) > maxDepth {
		return fmt.Errorf("%q: more than %d directory levels", w.loc.display(child), maxDepth)
	}
	for _, up := range w.stack {
		if (fi.dev != 0 || fi.ino != 0) && fi.sameFile(up) {
			return fmt.Errorf("%q is a symlink to a directory that contains it (a cycle)", w.loc.display(child))
		}
	}
	sub, err := openDirIn(d, name, link)
	if err != nil {
		if isLoop(err) {
			return fmt.Errorf("%q changed to a symlink during the walk", w.loc.display(child))
		}
		return fmt.Errorf("read %q: %w", w.loc.display(child), unwrapPath(err))
	}
	if got, err := sub.stat(); err != nil || !got.sameFile(fi) {
		sub.close()
		return fmt.Errorf("%q changed during the walk", w.loc.display(child))
	}
	if fork && w.fork.start() {
		h := w.helper(fi, link)
		go func() {
			err := h.dir(sub, child)
			sub.close()
			h.fork.done(h, err)
		}()
		return nil
	}
	defer sub.close()
	w.stack = append(w.stack, fi)
	if link {
		w.followed++
	}
	err = w.dir(sub, child)
	w.stack = w.stack[:len(w.stack)-1]
	if link {
		w.followed--
	}
	return err
}

// symlink applies the symlink rules to the link name in d (resource name
// child).
func (w *walker) symlink(d dirHandle, name, child string) error {
	shown := w.loc.display(child)
	if w.linkRoot != "" {
		fi, err := w.confinedLink(child)
		if err != nil {
			return err
		}
		w.files.add(fileEntry{name: child, info: fi, link: true})
		return nil
	}
	if !w.allow {
		return fmt.Errorf("%q %s", shown, errSymlink)
	}
	fi, err := d.statIn(name, true)
	switch {
	case isLoop(err):
		return fmt.Errorf("%q is a symlink loop (%s)", shown, linkTarget(w.loc.path(child)))
	case err != nil:
		return fmt.Errorf("%q is a broken symlink (%s): %w", shown, linkTarget(w.loc.path(child)), unwrapPath(err))
	case fi.mode == 0:
		w.files.add(fileEntry{name: child, info: fi, link: true})
		return nil
	case !fi.mode.IsDir():
		return fmt.Errorf("%q is not a regular file or directory (%s, through a symlink)", shown, safefile.Kind(fi.mode))
	}
	// A symlink to a directory: followed only where the signature lists
	// files under its name, so that those files are verified; anything
	// else is an extra entry (verifying) or an error (signing, where no
	// signature says what it should hold).
	switch {
	case w.expected == nil:
		return fmt.Errorf("%q is a symlink to a directory (%s); directory symlinks are not signed: replace it with the directory, or leave it out with --ignore-paths", shown, linkTarget(w.loc.path(child)))
	case !w.expected.dirs(child):
		w.extraDirs = append(w.extraDirs, child)
		return nil
	case w.followed >= maxFollowedLinks:
		return fmt.Errorf("%q: more than %d nested directory symlinks", shown, maxFollowedLinks)
	}
	return w.descend(d, name, child, fi, true, false)
}

// confinedLink resolves the symlink at the resource name child for
// Options.LinkRoot: every hop is followed, and the end must be a regular
// file strictly inside the link root.
func (w *walker) confinedLink(child string) (fileInfo, error) {
	p := w.loc.path(child)
	shown := w.loc.display(child)
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fileInfo{}, fmt.Errorf("%q is a symlink (%s) that does not resolve: %w", shown, linkTarget(p), unwrapPath(err))
	}
	if rel, err := filepath.Rel(w.linkRoot, resolved); err != nil || rel == "." || !filepath.IsLocal(rel) {
		return fileInfo{}, fmt.Errorf("%q is a symlink (%s) to %q, which is outside %q", shown, linkTarget(p), resolved, w.linkRoot)
	}
	fi, err := lstatPath(resolved)
	if err != nil {
		return fileInfo{}, fmt.Errorf("%q is a symlink (%s) to %q: %w", shown, linkTarget(p), resolved, unwrapPath(err))
	}
	if fi.mode != 0 {
		return fileInfo{}, fmt.Errorf("%q is a symlink (%s) to %q, which is not a regular file (%s)", shown, linkTarget(p), resolved, safefile.Kind(fi.mode))
	}
	return fi, nil
}

// linkTarget describes where the symlink at p points, for messages.
func linkTarget(p string) string {
	t, err := os.Readlink(p)
	if err != nil {
		return "unreadable target"
	}
	return fmt.Sprintf("-> %q", t)
}

// listOnly resolves the model-relative paths only (Options.Only) in the
// model directory at loc. Each must be clean and local. A path that does
// not exist yields no entry, so Compare reports it as missing. A listed
// directory is an error, as is a symlink anywhere on a listed path where
// the symlink rules refuse it; a listed path under an allowed directory
// symlink is followed (the signature lists it, see Options.Expected).
func (w *walker) listOnly(only []string) error {
	seen := make(map[string]bool, len(only))
	w.files.openDir(len(only))
	defer w.files.closeDir()
	for _, rel := range only {
		if err := checkOnlyPath(rel); err != nil {
			return err
		}
		if err := ctxerr.Err(w.ctx); err != nil {
			return err
		}
		if seen[rel] || w.ignore.ignores(rel) {
			continue
		}
		seen[rel] = true
		if err := w.listOne(rel); err != nil {
			return err
		}
	}
	return nil
}

// listOne adds the listed file rel, looking at each component on the way.
func (w *walker) listOne(rel string) error {
	parts := strings.Split(rel, "/")
	links := 0
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		fi, err := lstatPath(w.loc.path(sub))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // missing: Compare says so
		}
		if err != nil {
			return fmt.Errorf("stat %q: %w", w.loc.display(sub), unwrapPath(err))
		}
		link := fi.mode&fs.ModeSymlink != 0
		if link {
			if w.linkRoot != "" {
				if fi, err = w.confinedLink(sub); err != nil {
					return err
				}
			} else {
				if !w.allow {
					return fmt.Errorf("%q %s", w.loc.display(sub), errSymlink)
				}
				if links++; links > maxFollowedLinks {
					return fmt.Errorf("%q: more than %d nested directory symlinks", w.loc.display(sub), maxFollowedLinks)
				}
				if fi, err = statPath(w.loc.path(sub)); err != nil {
					return fmt.Errorf("%q is a broken symlink (%s): %w", w.loc.display(sub), linkTarget(w.loc.path(sub)), unwrapPath(err))
				}
			}
		}
		switch {
		case !last && fi.mode.IsDir():
			continue
		case !last:
			return nil // a file in the middle: the path cannot exist
		case fi.mode.IsDir() && link:
			return fmt.Errorf("%q is a symlink to a directory, not a file", w.loc.display(sub))
		case fi.mode.IsDir():
			return fmt.Errorf("%q is a directory, not a file", w.loc.display(sub))
		case fi.mode != 0:
			return fmt.Errorf("%q is not a regular file (%s)", w.loc.display(sub), safefile.Kind(fi.mode))
		}
		w.files.add(fileEntry{name: rel, info: fi, link: links > 0 || link})
	}
	return nil
}

// checkOnlyPath rejects a listed path that is not a clean, relative,
// slash-separated path inside the model.
func checkOnlyPath(rel string) error {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." ||
		strings.HasPrefix(rel, "../") || strings.Contains(rel, "\x00") {
		return fmt.Errorf("listed file %q is not a clean path inside the model", rel)
	}
	return nil
}

// unwrapPath strips the *fs.PathError wrapper, whose message repeats the
// (unquoted) path we already name, quoted, in our own message.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// expectedNames answers, for the manifest a model is verified against,
// whether it lists any file under a directory name.
type expectedNames struct {
	m     *Manifest
	once  sync.Once           // the walk's goroutines may ask at once
	under map[string]struct{} // built on first use
}

func newExpectedNames(m *Manifest) *expectedNames {
	if m == nil {
		return nil
	}
	return &expectedNames{m: m}
}

// dirs reports whether the manifest lists a file strictly under dir.
func (e *expectedNames) dirs(dir string) bool {
	if e == nil {
		return false
	}
	e.once.Do(func() {
		e.under = map[string]struct{}{}
		for _, r := range e.m.Resources {
			for i := 0; i < len(r.Path); i++ {
				if r.Path[i] == '/' {
					e.under[r.Path[:i]] = struct{}{}
				}
			}
		}
	})
	_, ok := e.under[dir]
	return ok
}
