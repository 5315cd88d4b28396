//go:build !unix

package safefile

import "os"

// open opens path and checks that it is a regular file. Systems other
// than Unix have no FIFOs or devices that a plain path can name and that
// block on open.
func open(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, &PathError{Op: "open", Path: path, Err: unwrapPathError(err)}
	}
	size, err := regular(f, path)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// regular checks an open file's mode and returns its size.
func regular(f *os.File, path string) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, &PathError{Op: "stat", Path: path, Err: unwrapPathError(err)}
	}
	if !fi.Mode().IsRegular() {
		return 0, notRegular(path, fi.Mode())
	}
	return fi.Size(), nil
}
