package hfcache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/safefile"
)

// maxRefSize bounds what is read of a ref file; a valid one holds 40 or 41
// bytes.
const maxRefSize = 4096

// Resolution is where a hub id at a revision lives in a cache root.
// RepoDir, SnapshotDir and BlobsDir are canonical (the root's own symlinks,
// if any, resolved; the folders below it checked to be real directories),
// so path rules can match SnapshotDir.
type Resolution struct {
	RepoID   string // the id, as given (ids compare exactly)
	Revision string // as asked; DefaultRevision when none was given
	Ref      string // path of the ref file read; "" when Revision is a commit
	Commit   string // 40 lowercase hex digits

	CacheRoot   Root
	RepoDir     string // CacheRoot/models--ORG--NAME
	SnapshotDir string // RepoDir/snapshots/Commit
	BlobsDir    string // RepoDir/blobs (need not exist when no entry links there)
}

// FetchCommand is the command that downloads this resolution's whole
// commit into its cache root.
func (r *Resolution) FetchCommand() string { return fetchCommand(r.RepoID, r.Commit, r.CacheRoot) }

// NotFoundError is returned when an id, or the asked revision of it, is not
// in the cache. modelgate never downloads; the error names what was looked
// for and the command that fetches it.
type NotFoundError struct {
	RepoID   string
	Revision string // as asked
	Root     Root
	Path     string // the folder or file that does not exist
	Reason   string // which part is missing, already quoted
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Hugging Face id %s at revision %s is not in the hub cache %s (chosen by %s): %s; modelgate never downloads: fetch it with `%s`",
		strconv.Quote(e.RepoID), strconv.Quote(e.Revision), strconv.Quote(e.Root.Dir), e.Root.Source(), e.Reason, e.FetchCommand())
}

// FetchCommand is the command that downloads the asked revision into the
// searched cache root.
func (e *NotFoundError) FetchCommand() string { return fetchCommand(e.RepoID, e.Revision, e.Root) }

// CacheError is returned for something in the cache that is present but
// not what huggingface_hub writes there: a ref file that is not a commit,
// a FIFO or symlink where a file or folder belongs, an unreadable folder.
// Such a cache is refused, never interpreted.
type CacheError struct {
	Path   string
	Reason string
}

func (e *CacheError) Error() string {
	return fmt.Sprintf("hub cache: %s %s", strconv.Quote(e.Path), e.Reason)
}

// Resolve finds id at revision ("" means DefaultRevision) in root, reading
// nothing but folder entries and, for a revision that is not a commit, the
// ref file refs/REVISION. Errors: *InvalidIDError, *InvalidRevisionError,
// *NotFoundError, *CacheError.
func Resolve(root Root, id, revision string) (*Resolution, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := ValidateRepoID(id); err != nil {
		return nil, err
	}
	if err := ValidateRevision(revision); err != nil {
		return nil, err
	}
	res := &Resolution{RepoID: id, Revision: revision, CacheRoot: root}
	notFound := func(path, reason string) error {
		return &NotFoundError{RepoID: id, Revision: revision, Root: root, Path: path, Reason: reason}
	}

	if !filepath.IsAbs(root.Dir) {
		return nil, fmt.Errorf("hub cache root %s (chosen by %s) is not an absolute path", strconv.Quote(root.Dir), root.Source())
	}
	canon, err := filepath.EvalSymlinks(root.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(root.Dir, "the cache folder does not exist")
	} else if err != nil {
		return nil, &CacheError{Path: root.Dir, Reason: "cannot be read: " + describe(err)}
	}
	if fi, err := os.Stat(canon); err != nil || !fi.IsDir() {
		return nil, &CacheError{Path: root.Dir, Reason: "is not a directory"}
	}
	res.RepoDir = filepath.Join(canon, folderName(id))
	res.BlobsDir = filepath.Join(res.RepoDir, "blobs")
	if err := realDirs(res.RepoDir); err != nil {
		return nil, orNotFound(err, notFound, "no folder "+strconv.Quote(res.RepoDir))
	}
	if err := realDirs(res.BlobsDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	if IsCommit(revision) {
		res.Commit = revision
	} else {
		res.Ref = filepath.Join(res.RepoDir, "refs", filepath.FromSlash(revision))
		if res.Commit, err = readRefIn(res.RepoDir, revision); err != nil {
			return nil, orNotFound(err, notFound, "no ref file "+strconv.Quote(res.Ref)+shortCommitHint(revision))
		}
	}

	res.SnapshotDir = filepath.Join(res.RepoDir, "snapshots", res.Commit)
	if err := realDirs(res.RepoDir, "snapshots", res.Commit); err != nil {
		reason := "no snapshot folder " + strconv.Quote(res.SnapshotDir)
		if res.Ref != "" {
			reason += fmt.Sprintf(" for commit %s (named by %s)", res.Commit, strconv.Quote(res.Ref))
		}
		return nil, orNotFound(err, notFound, reason)
	}
	return res, nil
}

// orNotFound turns a "does not exist" error from realDirs or readRefIn into
// the caller's *NotFoundError and passes any other error through.
func orNotFound(err error, notFound func(path, reason string) error, reason string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
		return notFound(pe.Path, reason)
	}
	return err
}

// shortCommitHint explains a miss for a revision that looks like an
// abbreviated commit, which only the Hub (not the cache) can expand.
func shortCommitHint(rev string) string {
	if len(rev) < 5 || len(rev) >= 40 || !isHex(rev) {
		return ""
	}
	return " (a short commit hash is not resolved offline: give all 40 hex digits)"
}

// realDirs checks that base, then each of base/names[0], base/names[0]/names[1]
// ... is a directory and not a symlink. A missing one is returned as the
// *fs.PathError from Lstat (errors.Is fs.ErrNotExist); anything else is a
// *CacheError.
func realDirs(base string, names ...string) error {
	p := base
	for i := -1; i < len(names); i++ {
		if i >= 0 {
			p = filepath.Join(p, names[i])
		}
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return err
		case err != nil:
			return &CacheError{Path: p, Reason: "cannot be read: " + describe(err)}
		case fi.Mode()&fs.ModeSymlink != 0:
			return &CacheError{Path: p, Reason: "is a symlink; huggingface_hub never links its folders"}
		case !fi.IsDir():
			return &CacheError{Path: p, Reason: "is " + safefile.Kind(fi.Mode()) + ", not a directory"}
		}
	}
	return nil
}

// readRefIn reads the commit of ref rev (a validated revision that is not a
// commit) from repoDir/refs/REV: every folder on the way must be real, the
// file a regular file (not a symlink, FIFO or device: opened non-blocking,
// without following links) of at most maxRefSize bytes.
func readRefIn(repoDir, rev string) (string, error) {
	parts := append([]string{"refs"}, strings.Split(rev, "/")...)
	if err := realDirs(repoDir, parts[:len(parts)-1]...); err != nil {
		return "", err
	}
	path := filepath.Join(repoDir, filepath.Join(parts...))
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", &CacheError{Path: path, Reason: "cannot be read: " + describe(err)}
	}
	if !fi.Mode().IsRegular() {
		return "", &CacheError{Path: path, Reason: "is " + safefile.Kind(fi.Mode()) + ", not a ref file"}
	}
	data, err := readBounded(path)
	if err != nil {
		return "", err
	}
	commit, err := parseRef(data)
	if err != nil {
		return "", &CacheError{Path: path, Reason: err.Error()}
	}
	return commit, nil
}

// readBounded reads the regular file at path, refusing one that became
// something else since it was checked or is larger than maxRefSize.
func readBounded(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, &CacheError{Path: path, Reason: "cannot be opened: " + describe(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &CacheError{Path: path, Reason: "cannot be read: " + describe(err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, &CacheError{Path: path, Reason: "is " + safefile.Kind(fi.Mode()) + ", not a ref file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxRefSize+1))
	if err != nil {
		return nil, &CacheError{Path: path, Reason: "cannot be read: " + describe(err)}
	}
	if len(data) > maxRefSize {
		return nil, &CacheError{Path: path, Reason: fmt.Sprintf("is larger than %d bytes, not a ref file", maxRefSize)}
	}
	return data, nil
}

// parseRef returns the commit a ref file holds: exactly 40 lowercase hex
// digits, optionally followed by one line ending (huggingface_hub writes
// none; an editor may add one). Anything else is an error.
func parseRef(data []byte) (string, error) {
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if IsCommit(s) {
		return s, nil
	}
	const show = 64
	shown := string(data)
	if len(shown) > show {
		shown = shown[:show] + "..."
	}
	return "", fmt.Errorf("holds %s, not a commit hash (40 lowercase hex digits)", strconv.Quote(shown))
}

// CommitMismatchError is returned by SameCommit: vLLM would read the
// config and tokenizer from one commit and the weights from another.
type CommitMismatchError struct {
	A, B *Resolution
}

func (e *CommitMismatchError) Error() string {
	return fmt.Sprintf("Hugging Face id %s is commit %s in %s (chosen by %s) but commit %s in %s (chosen by %s): vLLM would read files of two commits; fetch one commit into both, e.g. `%s`, and pass --revision COMMIT",
		strconv.Quote(e.A.RepoID),
		e.A.Commit, strconv.Quote(e.A.CacheRoot.Dir), e.A.CacheRoot.Source(),
		e.B.Commit, strconv.Quote(e.B.CacheRoot.Dir), e.B.CacheRoot.Source(),
		fetchCommand(e.A.RepoID, e.A.Commit, e.B.CacheRoot))
}

// SameCommit checks that a and b, resolutions of one id in two roots (the
// cache root and vLLM's --download-dir), are the same commit. It returns a
// *CommitMismatchError if not.
func SameCommit(a, b *Resolution) error {
	if a.RepoID != b.RepoID {
		return fmt.Errorf("compare commits of two different ids %s and %s", strconv.Quote(a.RepoID), strconv.Quote(b.RepoID))
	}
	if a.Commit != b.Commit {
		return &CommitMismatchError{A: a, B: b}
	}
	return nil
}

// describe is err without the path an *fs.PathError repeats (messages name
// the path once, quoted).
func describe(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
