package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// readRegular reads the regular file at path, refusing one larger than
// limit bytes. Anything else named by mistake or malice fails at once with
// a message saying what it is: a FIFO would block a plain open until a
// writer appears (forever, for a policy), a device can be endless, and a
// directory or socket is not a document. The file is opened without
// blocking and checked on the open handle, so swapping it between the
// check and the read changes nothing.
//
// (Package modelsig has its own reader for signatures, keys and trust
// files; this one is for the policy document.)
func readRegular(path string, limit int64) ([]byte, error) {
	// Stat first: opening a socket fails with an unhelpful ENXIO.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// errNotRegular is wrapped by every "not a regular file" error.
var errNotRegular = errors.New("not a regular file")

func notRegular(mode fs.FileMode) error {
	return fmt.Errorf("is %s, %w", fileKind(mode), errNotRegular)
}

// fileKind names the type of a file that is not a regular file.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode.IsRegular():
		return "a regular file"
	}
	return "a special file"
}
