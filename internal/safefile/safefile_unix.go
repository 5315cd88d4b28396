//go:build unix

package safefile

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// open opens path for reading without blocking (O_NONBLOCK: a FIFO with
// no writer, or a device, cannot hold open), checks with fstat that it is
// a regular file, and only then hands the descriptor to an *os.File, in
// blocking mode: a regular file never blocks anyway, and os.NewFile then
// does not register it with the runtime's poller (which fails, costing a
// system call, for regular files).
func open(path string) (*os.File, int64, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.ENXIO || err == unix.EOPNOTSUPP {
		// What open(2) says for a socket (or a device with no driver):
		// name what the path is instead.
		if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
			return nil, 0, notRegular(path, fi.Mode())
		}
	}
	if err != nil {
		return nil, 0, &PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, &PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, 0, notRegular(path, TypeMode(uint32(st.Mode))) // uint16 on Darwin
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, 0, &PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}

// TypeMode returns the type bits of a stat(2) mode as an fs.FileMode (0
// for a regular file), for Kind and for callers that stat through
// golang.org/x/sys/unix rather than package os.
func TypeMode(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
