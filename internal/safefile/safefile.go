// Package safefile reads small files named by users or attackers
// (signatures, keys, certificates, trust roots, policies) without letting
// the file decide how long that takes or how much memory it costs.
//
// A path may name a FIFO (open blocks until a writer appears, for ever), a
// device (/dev/zero never ends), a socket or a directory. ReadFile opens
// without blocking, checks with fstat on the open descriptor (so a file
// swapped after a stat cannot slip through) that it is a regular file,
// refuses one larger than the caller's limit before reading a byte, and
// reads at most limit bytes even if the file grows meanwhile.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// ErrNotRegular is wrapped by the error for a path that is not a regular
// file (after following symlinks).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error for a file larger than the limit.
var ErrTooLarge = errors.New("file too large")

// PathError is a failure to read the file at Path. Its message quotes the
// path, which may hold any bytes.
type PathError struct {
	Op   string // "open", "read", ...
	Path string
	Err  error // a syscall error, or wraps ErrNotRegular or ErrTooLarge
}

func (e *PathError) Error() string {
	if e.Op == "" {
		return strconv.Quote(e.Path) + " " + e.Err.Error()
	}
	return e.Op + " " + strconv.Quote(e.Path) + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

// ReadFile returns the contents of the regular file at path, which must
// hold at most limit bytes. Symlinks are followed (the user named the
// path). Errors are *PathError; errors.Is works with fs.ErrNotExist,
// fs.ErrPermission, ErrNotRegular and ErrTooLarge.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, size, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, tooLarge(path, limit)
	}
	// Sized from fstat, so that a genuine file costs one allocation that
	// the read fills (bytes.Buffer would first clear it, touching every
	// page of a large signature twice); read one byte past the limit to
	// notice a file that grew meanwhile.
	buf := make([]byte, 0, min(size, limit)+512)
	r := io.LimitReader(f, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the file grew: let append grow the buffer
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &PathError{Op: "read", Path: path, Err: unwrapPathError(err)}
		}
	}
	if int64(len(buf)) > limit {
		return nil, tooLarge(path, limit)
	}
	return buf, nil
}

func tooLarge(path string, limit int64) error {
	return &PathError{Path: path, Err: fmt.Errorf("is larger than %d bytes: %w", limit, ErrTooLarge)}
}

// notRegular is the error for a file of mode m that is not regular.
func notRegular(path string, m fs.FileMode) error {
	return &PathError{Path: path, Err: fmt.Errorf("is %s, %w", Kind(m), ErrNotRegular)}
}

// Kind names a file mode's type for messages ("a named pipe (FIFO)", "a
// directory"...). It is the one naming every package uses when it refuses
// a file for its type (safefile, manifest's walk, hfcache's cache
// checks), so that a FIFO reads the same whichever check met it.
func Kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symlink"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "a special file (" + m.Type().String() + ")"
}

// unwrapPathError drops an *fs.PathError layer (whose message does not
// quote the path) around a syscall error.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
