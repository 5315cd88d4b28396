package hashcache

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/modelgate/modelgate/internal/fsperm"
)

// checkDir creates dir when it is missing and returns its real path if it
// can be trusted: a folder owned by the current user (root included: a
// root-run modelgate refuses another user's folder), not writable by
// group or others, under folders only root and the user can change.
func checkDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("hash cache folder: empty path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("hash cache folder %s: %w", strconv.Quote(dir), err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create the hash cache folder: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("hash cache folder %s: %w", strconv.Quote(abs), err)
	}
	fi, err := os.Lstat(real)
	if err != nil {
		return "", fmt.Errorf("hash cache folder %s: %w", strconv.Quote(abs), err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("hash cache folder %s is not a folder", strconv.Quote(abs))
	}
	if why := fsperm.Private(fi); why != "" {
		return "", fmt.Errorf("%w: the folder %s %s", ErrUntrusted, strconv.Quote(abs), why)
	}
	if why := fsperm.Replaceable(abs); why != "" {
		return "", fmt.Errorf("%w: %s", ErrUntrusted, why)
	}
	return real, nil
}

// openTrusted is bbolt's OpenFile: it never follows a symlink, and checks
// on the open descriptor that the file is a regular file owned by the
// current user and writable by nobody else.
func openTrusted(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|oNoFollow, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		switch why := fsperm.Private(fi); {
		case !fi.Mode().IsRegular():
			err = fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, strconv.Quote(name))
		case why != "":
			err = fmt.Errorf("%w: the file %s %s", ErrUntrusted, strconv.Quote(name), why)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
