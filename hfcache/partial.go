package hfcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxListed bounds the missing names an error message spells out.
const maxListed = 10

// PartialSnapshotError is returned by CheckComplete: files a signature
// lists are absent from the snapshot. vLLM downloads only the files it
// needs, so cached snapshots are often partial; the fix is to fetch the
// whole revision.
type PartialSnapshotError struct {
	Resolution *Resolution
	Missing    []string // names as the signature gives them, in its order
}

func (e *PartialSnapshotError) Error() string {
	n := len(e.Missing)
	shown := make([]string, 0, min(n, maxListed))
	for _, m := range e.Missing[:min(n, maxListed)] {
		shown = append(shown, strconv.Quote(m))
	}
	list := strings.Join(shown, ", ")
	if n > maxListed {
		list += fmt.Sprintf(" and %d more", n-maxListed)
	}
	noun := "files"
	if n == 1 {
		noun = "file"
	}
	r := e.Resolution
	return fmt.Sprintf("snapshot %s of Hugging Face id %s (commit %s) lacks %d %s its signature lists: %s; fetch the whole revision with `%s`",
		strconv.Quote(r.SnapshotDir), strconv.Quote(r.RepoID), r.Commit, n, noun, list, e.FetchCommand())
}

// FetchCommand is the command that downloads the whole commit into the
// snapshot's cache root.
func (e *PartialSnapshotError) FetchCommand() string { return e.Resolution.FetchCommand() }

// MissingFiles returns the names (slash-separated, relative to the
// snapshot, as a signature lists them) that are absent from res's snapshot,
// in their order, each once. A name is present when every folder on its
// way is a real directory and an entry of that name exists, whatever it
// is: whether it is a proper file is CheckSnapshot's and the signature's
// business. No link is followed, so a name under a symlinked folder counts
// as missing; call CheckSnapshot first, which refuses such folders with a
// clearer error. A name that cannot be a file inside a folder ("..",
// absolute, empty components, NUL) is an error.
func MissingFiles(res *Resolution, names []string) ([]string, error) {
	var missing []string
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if !fs.ValidPath(name) || name == "." || strings.ContainsRune(name, 0) {
			return nil, fmt.Errorf("file name %s is not a relative path inside a snapshot", strconv.Quote(name))
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		present, err := exists(res.SnapshotDir, name)
		if err != nil {
			return nil, err
		}
		if !present {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// CheckComplete returns a *PartialSnapshotError when any of names is
// missing from res's snapshot (see MissingFiles), nil when none is.
func CheckComplete(res *Resolution, names []string) error {
	missing, err := MissingFiles(res, names)
	if err != nil || len(missing) == 0 {
		return err
	}
	return &PartialSnapshotError{Resolution: res, Missing: missing}
}

// exists reports whether the valid relative name exists below dir,
// walking it with Lstat one component at a time so that no link is
// followed: anything but a real folder on the way means absent.
func exists(dir, name string) (bool, error) {
	p := dir
	parts := strings.Split(name, "/")
	for i, c := range parts {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		case err != nil:
			return false, &CacheError{Path: p, Reason: "cannot be read: " + describe(err)}
		case i == len(parts)-1:
			return true, nil
		case !fi.IsDir(): // Lstat: a link to a folder is not a folder
			return false, nil
		}
	}
	return true, nil
}
