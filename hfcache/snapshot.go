package hfcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/safefile"
)

// maxLinkHops bounds the links followed from one snapshot entry (Linux
// follows at most 40). huggingface_hub writes exactly one.
const maxLinkHops = 40

// maxComponents bounds the path components resolved for one snapshot
// entry, so that a few long targets cannot make one entry cost more than a
// few thousand Lstat calls. "../../blobs/ETAG" is four.
const maxComponents = 4096

// LinkError is returned by CheckSnapshot for a snapshot symlink that does
// not resolve to a regular file directly inside the repository's blobs/.
type LinkError struct {
	Entry  string // the snapshot entry (a symlink), full path
	Link   string // the link being followed when it went wrong: Entry or a later hop
	Target string // Link's target as stored
	Reason string // already quoted where it names paths
}

func (e *LinkError) Error() string {
	if e.Link == e.Entry {
		return fmt.Sprintf("snapshot link %s -> %s: %s", strconv.Quote(e.Entry), strconv.Quote(e.Target), e.Reason)
	}
	return fmt.Sprintf("snapshot link %s, via link %s -> %s: %s", strconv.Quote(e.Entry), strconv.Quote(e.Link), strconv.Quote(e.Target), e.Reason)
}

// CheckSnapshot checks every entry of res's snapshot folder, recursively,
// without following links:
//   - a real directory is fine (a repository has folders);
//   - a regular file is fine: huggingface_hub stores real files on systems
//     without symlinks, and a copied cache may hold them; its content is
//     checked by the signature like any other file;
//   - a symlink must resolve, through at most maxLinkHops relative links
//     that never leave the repository folder, to a regular file directly
//     in the repository's own blobs/ (not another repository's, not a
//     directory, not an unfinished *.incomplete download); otherwise it is
//     a *LinkError naming the link and its target. A link to a directory
//     is refused: vLLM would see files no listing of the snapshot shows;
//   - anything else (FIFO, socket, device) is a *CacheError.
//
// It reads only folder entries and link targets inside the repository
// folder, never file contents, and stops at the first problem.
func CheckSnapshot(res *Resolution) error {
	base, err := filepath.Rel(res.RepoDir, res.SnapshotDir)
	if err != nil || !filepath.IsLocal(base) {
		return fmt.Errorf("snapshot folder %s is not inside repository folder %s", strconv.Quote(res.SnapshotDir), strconv.Quote(res.RepoDir))
	}
	return filepath.WalkDir(res.SnapshotDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &CacheError{Path: p, Reason: "cannot be read: " + describe(err)}
		}
		t := d.Type()
		switch {
		case p == res.SnapshotDir && !d.IsDir():
			return &CacheError{Path: p, Reason: "is " + safefile.Kind(t) + ", not a snapshot folder"}
		case t.IsDir(), t.IsRegular():
			return nil
		case t&fs.ModeSymlink != 0:
			rel, _ := filepath.Rel(res.RepoDir, p) // p is below RepoDir: WalkDir joins onto SnapshotDir
			return checkLink(res.RepoDir, p, filepath.ToSlash(rel))
		}
		return &CacheError{Path: p, Reason: "is " + safefile.Kind(t) + "; a snapshot holds only folders, files and links to blobs"}
	})
}

// linkWalk follows one snapshot link inside a repository folder, one path
// component at a time, as the kernel would, but refusing absolute targets
// and ".." above the repository folder, so that it never looks outside it.
type linkWalk struct {
	repo    string   // canonical repository folder
	entry   string   // the snapshot entry being checked, full path
	dirs    []string // real (non-link) components resolved so far, below repo
	pending []string // components still to resolve
	hops    int
	seen    map[string]bool // link path + remaining components: a repeat is a cycle
	link    string          // the last link followed, full path
	target  string          // its target
}

// checkLink checks the snapshot symlink at full path entry, rel being its
// slash-separated path below repo (all of whose folders are real).
func checkLink(repo, entry, rel string) error {
	dir, name := path.Split(rel)
	w := &linkWalk{repo: repo, entry: entry, link: entry, pending: []string{name}, seen: map[string]bool{}}
	if dir != "" {
		w.dirs = strings.Split(strings.TrimSuffix(dir, "/"), "/")
	}
	fi, err := w.resolve()
	if err != nil {
		return err
	}
	final := w.here()
	switch {
	case fi.IsDir():
		return w.fail("links to the directory " + strconv.Quote(final) + "; snapshot entries must link to blob files")
	case len(w.dirs) != 2 || w.dirs[0] != "blobs":
		return w.fail(fmt.Sprintf("resolves to %s, not a file directly in this repository's blobs folder %s", strconv.Quote(final), strconv.Quote(filepath.Join(repo, "blobs"))))
	case !fi.Mode().IsRegular():
		return w.fail("resolves to " + strconv.Quote(final) + ", which is " + safefile.Kind(fi.Mode()))
	case strings.HasSuffix(w.dirs[1], ".incomplete"):
		return w.fail("resolves to " + strconv.Quote(final) + ", an unfinished download")
	}
	return nil
}

// resolve consumes w.pending and returns the Lstat of the final file; the
// resolved components are then in w.dirs.
func (w *linkWalk) resolve() (fs.FileInfo, error) {
	var fi fs.FileInfo
	for steps := 0; len(w.pending) > 0; steps++ {
		if steps == maxComponents {
			return nil, w.fail(fmt.Sprintf("more than %d path components to resolve", maxComponents))
		}
		c := w.pending[0]
		w.pending = w.pending[1:]
		if fi != nil && !fi.IsDir() { // as the kernel: "file/x", "file/..", "file/" fail
			return nil, w.fail(strconv.Quote(w.here()) + " is " + safefile.Kind(fi.Mode()) + ", not a directory")
		}
		switch c {
		case "", ".":
			continue
		case "..":
			if len(w.dirs) == 0 {
				return nil, w.fail("leads out of the repository folder " + strconv.Quote(w.repo))
			}
			w.dirs = w.dirs[:len(w.dirs)-1]
			fi = nil // a parent of a real directory is a real directory
			continue
		}
		p := filepath.Join(w.here(), c)
		var err error
		if fi, err = os.Lstat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, w.fail("broken: " + strconv.Quote(p) + " does not exist")
			}
			return nil, w.fail(strconv.Quote(p) + " cannot be read: " + describe(err))
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			w.dirs = append(w.dirs, c)
			continue
		}
		if err := w.follow(p); err != nil {
			return nil, err
		}
		fi = nil // the link's folder is a real directory: resolution continues from it
	}
	if fi == nil { // ended on ".." or right after a link: stat the folder reached
		var err error
		if fi, err = os.Lstat(w.here()); err != nil {
			return nil, w.fail(strconv.Quote(w.here()) + " cannot be read: " + describe(err))
		}
	}
	return fi, nil
}

// follow reads the link at p and queues its target's components.
func (w *linkWalk) follow(p string) error {
	w.hops++
	if w.hops > maxLinkHops {
		return w.fail(fmt.Sprintf("more than %d links to follow (a cycle?)", maxLinkHops))
	}
	target, err := os.Readlink(p)
	if err != nil {
		return w.fail(strconv.Quote(p) + " cannot be read: " + describe(err))
	}
	w.link, w.target = p, target
	key := p + "\x00" + strings.Join(w.pending, "/")
	if w.seen[key] {
		return w.fail("is part of a link cycle")
	}
	w.seen[key] = true
	slashed := filepath.ToSlash(target)
	if target == "" || filepath.IsAbs(target) || strings.HasPrefix(slashed, "/") || filepath.VolumeName(target) != "" || strings.ContainsRune(target, 0) {
		return w.fail("absolute or empty target; huggingface_hub writes relative links into blobs/")
	}
	w.pending = append(strings.Split(slashed, "/"), w.pending...)
	return nil
}

// here is the full path of the components resolved so far.
func (w *linkWalk) here() string {
	return filepath.Join(append([]string{w.repo}, w.dirs...)...)
}

// fail returns a *LinkError about the link being followed.
func (w *linkWalk) fail(reason string) error {
	return &LinkError{Entry: w.entry, Link: w.link, Target: w.target, Reason: reason}
}
