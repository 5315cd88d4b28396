package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// fileEntry is one file to hash. It holds only the resource name (full
// paths are derived from a location when needed), so a listing of many
// small files stays small.
type fileEntry struct {
	name string // resource path: slash-separated, model-relative ("." for a single-file model)
	size int64  // size seen by the walk; hashing checks the file still has it
}

// location says where a model's files are.
type location struct {
	root  string // the resolved model path: files are opened under it
	shown string // the model path as the caller gave it, for messages
}

// path returns the path to open for the resource name.
func (l location) path(name string) string { return filepath.Join(l.root, filepath.FromSlash(name)) }

// display returns the path to name in messages.
func (l location) display(name string) string {
	return filepath.Join(l.shown, filepath.FromSlash(name))
}

// errSymlink is the message for a symlink found while symlinks are not
// allowed; the CLI flag is named so the user knows the way out.
const errSymlink = "is a symlink; symlinks are not allowed (use --allow-symlinks)"

// walk lists the files of the model directory at loc as format spec §4.1
// says: recursively, dot-files included, never descending into symlinked
// directories, skipping ignored paths before looking at them, and failing
// on anything that is neither a regular file nor a directory.
func walk(loc location, ignore ignoreSet, allowSymlinks bool) ([]fileEntry, error) {
	var files []fileEntry
	err := filepath.WalkDir(loc.root, func(p string, d fs.DirEntry, err error) error {
		rel := loc.rel(p)
		if err != nil {
			return fmt.Errorf("read %q: %w", loc.display(rel), unwrapPath(err))
		}
		if rel == "." {
			return nil
		}
		if ignore.ignores(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		f, err := classify(loc, rel, d.Type(), allowSymlinks)
		if err != nil || f == nil {
			return err
		}
		files = append(files, *f)
		return nil
	})
	return files, err
}

// rel returns the resource name of p, a path WalkDir produced under root.
func (l location) rel(p string) string {
	sub := strings.TrimPrefix(p[len(l.root):], string(filepath.Separator))
	if sub == "" {
		return "."
	}
	return filepath.ToSlash(sub)
}

// classify applies the per-candidate rules of format spec §4.1 steps 2-4 to
// the resource rel whose lstat type is typ. It returns nil for things that
// produce no resource: directories, and symlinks to directories.
func classify(loc location, rel string, typ fs.FileMode, allowSymlinks bool) (*fileEntry, error) {
	link := typ&fs.ModeSymlink != 0 // a link to a regular file is hashed by its target's content
	if link && !allowSymlinks {
		return nil, fmt.Errorf("%q %s", loc.display(rel), errSymlink)
	}
	if typ.IsDir() {
		return nil, nil
	}
	fi, err := os.Stat(loc.path(rel)) // follows a link: its target decides
	if err != nil {
		if link {
			return nil, fmt.Errorf("%q is a broken symlink: %w", loc.display(rel), unwrapPath(err))
		}
		return nil, fmt.Errorf("stat %q: %w", loc.display(rel), unwrapPath(err))
	}
	switch {
	case fi.IsDir():
		return nil, nil // a symlink to a directory: skipped, never descended
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%q is not a regular file or directory (%s)", loc.display(rel), kind(fi.Mode()))
	}
	return &fileEntry{name: rel, size: fi.Size()}, nil
}

// kind names a file type for error messages.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// listOnly resolves the model-relative paths only (Options.Only) in the
// model directory at loc. Each must be clean and local. A path that does
// not exist, or that can only be reached through a symlink or a
// non-directory, yields no entry: the walk would never have produced it,
// so Compare reports it as missing. A listed directory, or a link to one,
// is an error, as is a listed symlink when symlinks are not allowed.
func listOnly(loc location, only []string, ignore ignoreSet, allowSymlinks bool) ([]fileEntry, error) {
	var files []fileEntry
	seen := make(map[string]bool, len(only))
	for _, rel := range only {
		if err := checkOnlyPath(rel); err != nil {
			return nil, err
		}
		if seen[rel] || ignore.ignores(rel) {
			continue
		}
		seen[rel] = true
		fi, ok, err := lstatNoLinks(loc, rel)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%q is a directory, not a file", loc.display(rel))
		}
		f, err := classify(loc, rel, fi.Mode().Type(), allowSymlinks)
		if err != nil {
			return nil, err
		}
		if f == nil {
			return nil, fmt.Errorf("%q is a symlink to a directory, not a file", loc.display(rel))
		}
		files = append(files, *f)
	}
	return files, nil
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

// lstatNoLinks lstats the resource rel, descending only through real
// directories. ok is false when the path does not exist that way.
func lstatNoLinks(loc location, rel string) (fi fs.FileInfo, ok bool, err error) {
	parts := strings.Split(rel, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		fi, err = os.Lstat(loc.path(sub))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("stat %q: %w", loc.display(sub), unwrapPath(err))
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return nil, false, nil // a file or a link in the middle: not reachable by the walk
		}
	}
	return fi, true, nil
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

var errNotDir = syscall.ENOTDIR
