//go:build !unix

package manifest

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// This is the portable fallback of sys_unix.go, built on package os. It
// has no file identities (so no cycle detection beyond the depth bound,
// and no check that the hasher opened what the walk saw) and no
// O_NOFOLLOW: a file swapped for a symlink after the walk is followed.

type fileInfo struct {
	mode     fs.FileMode
	size     int64
	dev, ino uint64
}

func (fi fileInfo) sameFile(o fileInfo) bool { return true }

func infoOf(fi fs.FileInfo) fileInfo {
	return fileInfo{mode: fi.Mode().Type(), size: fi.Size()}
}

type dirHandle struct{ path string }

func openRootDir(path string) (dirHandle, error) { return dirHandle{path}, nil }

func openDirIn(d dirHandle, name string, follow bool) (dirHandle, error) {
	return dirHandle{filepath.Join(d.path, name)}, nil
}

func (d dirHandle) names() ([]string, error) {
	f, err := os.Open(d.path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return names, unwrapPath(err)
}

func (d dirHandle) stat() (fileInfo, error) { return statPath(d.path) }

func (d dirHandle) statIn(name string, follow bool) (fileInfo, error) {
	if follow {
		return statPath(filepath.Join(d.path, name))
	}
	return lstatPath(filepath.Join(d.path, name))
}

func (d dirHandle) close() {}

func lstatPath(path string) (fileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileInfo{}, unwrapPath(err)
	}
	return infoOf(fi), nil
}

func statPath(path string) (fileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileInfo{}, unwrapPath(err)
	}
	return infoOf(fi), nil
}

type rawFile struct{ f *os.File }

func openFile(path string, noFollow bool) (rawFile, error) {
	f, err := os.Open(path)
	return rawFile{f}, unwrapPath(err)
}

// fileOpener opens walked files by path (see sys_unix.go for why Unix
// keeps a directory open instead).
type fileOpener struct{}

func newFileOpener() fileOpener { return fileOpener{} }

func (o *fileOpener) open(loc location, name string, noFollow bool) (rawFile, error) {
	return openFile(loc.path(name), noFollow)
}

func (o *fileOpener) close() {}

func (f rawFile) stat() (fileInfo, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return fileInfo{}, unwrapPath(err)
	}
	return infoOf(fi), nil
}

func (f rawFile) pread(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (f rawFile) close()                        { f.f.Close() }
func (f rawFile) adviseSequential(off, n int64) {}

func isLoop(err error) bool { return errors.Is(err, errLoop) }

var errLoop = errors.New("too many levels of symbolic links")
