//go:build unix

package manifest

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/modelgate/modelgate/internal/safefile"
)

// This file is the only place that talks to the kernel for the walk and
// the hashing. Everything goes through raw file descriptors: Go's *os.File
// would register every file with the network poller (an epoll_ctl that
// fails with EPERM for each regular file) and cost garbage per file, which
// is most of the per-file cost of a 100,000-file model.

// fileInfo is what the walk and the hasher need to know about a file.
type fileInfo struct {
	mode     fs.FileMode // type bits only
	size     int64
	dev, ino uint64    // identity: the hasher checks it opened what the walk saw
	stamp    fileStamp // change stamps: with the above, a DigestCache key (Linux only)
}

func (fi fileInfo) sameFile(o fileInfo) bool { return fi.dev == o.dev && fi.ino == o.ino }

func infoOf(st *unix.Stat_t) fileInfo {
	return fileInfo{
		mode:  safefile.TypeMode(uint32(st.Mode)), //nolint:unconvert // uint16 on Darwin
		size:  st.Size,
		dev:   uint64(st.Dev), //nolint:unconvert // widths differ by platform
		ino:   uint64(st.Ino), //nolint:unconvert // widths differ by platform
		stamp: stampOf(st),
	}
}

// retry repeats a system call interrupted by a signal.
func retry[T any](f func() (T, error)) (T, error) {
	for {
		v, err := f()
		if err != unix.EINTR {
			return v, err
		}
	}
}

// dirHandle is an open directory.
type dirHandle struct {
	fd   int
	path string // for os.NewFile's name only
}

// openRootDir opens the resolved model root.
func openRootDir(path string) (dirHandle, error) {
	fd, err := retry(func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	return dirHandle{fd: fd, path: path}, err
}

// openDirIn opens the directory name inside d. Without follow, a name that
// is (or was swapped for) a symlink is refused by the kernel, so the walk
// only ever descends through the directories it looked at.
func openDirIn(d dirHandle, name string, follow bool) (dirHandle, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := retry(func() (int, error) { return unix.Openat(d.fd, name, flags, 0) })
	return dirHandle{fd: fd, path: d.path + "/" + name}, err
}

// names lists d's entries (without "." and ".."), in directory order.
func (d dirHandle) names() ([]string, error) {
	// Readdirnames on a dup: the *os.File closes what it wraps, and d.fd
	// stays in use for the fstatat calls. A blocking directory fd is not
	// registered with the poller.
	fd, err := retry(func() (int, error) { return unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 0) })
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, unwrapPath(err)
	}
	return names, nil
}

// stat describes d itself.
func (d dirHandle) stat() (fileInfo, error) {
	var st unix.Stat_t
	_, err := retry(func() (int, error) { return 0, unix.Fstat(d.fd, &st) })
	return infoOf(&st), err
}

// statIn describes name inside d, following a symlink only when asked.
func (d dirHandle) statIn(name string, follow bool) (fileInfo, error) {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	var st unix.Stat_t
	_, err := retry(func() (int, error) { return 0, unix.Fstatat(d.fd, name, &st, flags) })
	return infoOf(&st), err
}

func (d dirHandle) close() { unix.Close(d.fd) }

// lstatPath and statPath describe the file at path.
func lstatPath(path string) (fileInfo, error) {
	var st unix.Stat_t
	_, err := retry(func() (int, error) { return 0, unix.Lstat(path, &st) })
	return infoOf(&st), err
}

func statPath(path string) (fileInfo, error) {
	var st unix.Stat_t
	_, err := retry(func() (int, error) { return 0, unix.Stat(path, &st) })
	return infoOf(&st), err
}

// rawFile is a file opened for hashing.
type rawFile struct{ fd int }

// openFile opens path for reading. O_NONBLOCK keeps a FIFO swapped in
// after the walk from blocking the open (the caller's fstat then refuses
// it before any read; for a regular file the flag changes nothing); with
// noFollow a symlink in the last component is refused (ELOOP).
func openFile(path string, noFollow bool) (rawFile, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := retry(func() (int, error) { return unix.Open(path, flags, 0) })
	return rawFile{fd}, err
}

// fileOpener opens walked files for one hashing worker. It keeps the
// directory of the last file open and opens the next file of that
// directory relative to it: the kernel then looks up one name instead of
// every component of the path (a quarter of the per-file cost of a
// 100,000-file model went to path lookup), and no path string is built.
// What was opened is checked against the walk (hasher.open) exactly as
// before; a directory swapped meanwhile only means that the walked files
// are found through the descriptor of the directory the walk saw, or not
// at all.
type fileOpener struct {
	dir string // model-relative name of the directory fd is open on
	fd  int    // -1 when none
}

func newFileOpener() fileOpener { return fileOpener{fd: -1} }

// open opens the walked file name (see openFile) of the model at loc.
func (o *fileOpener) open(loc location, name string, noFollow bool) (rawFile, error) {
	if name == "." {
		return openFile(loc.root, noFollow) // a single-file model
	}
	dir, base := ".", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	if o.fd < 0 || o.dir != dir {
		o.close()
		fd, err := retry(func() (int, error) {
			return unix.Open(loc.path(dir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		})
		if err != nil {
			return rawFile{-1}, err
		}
		o.dir, o.fd = dir, fd
	}
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := retry(func() (int, error) { return unix.Openat(o.fd, base, flags, 0) })
	return rawFile{fd}, err
}

// close closes the directory kept open, if any.
func (o *fileOpener) close() {
	if o.fd >= 0 {
		unix.Close(o.fd)
		o.fd = -1
	}
}

func (f rawFile) stat() (fileInfo, error) {
	var st unix.Stat_t
	_, err := retry(func() (int, error) { return 0, unix.Fstat(f.fd, &st) })
	return infoOf(&st), err
}

func (f rawFile) pread(p []byte, off int64) (int, error) {
	return retry(func() (int, error) { return unix.Pread(f.fd, p, off) })
}

func (f rawFile) close() { unix.Close(f.fd) }

// isLoop reports whether err is the kernel's answer to O_NOFOLLOW on a
// symlink, or to a symlink loop.
func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
