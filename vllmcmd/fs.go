package vllmcmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/modelgate/modelgate/internal/safefile"
)

// FS is the file system as vLLM will see it. Paths are operating-system
// paths, absolute and not cleaned: ".." after a symbolic link means what the
// operating system says it means, as it does for vLLM. Tests use a fake.
type FS interface {
	// Stat describes the file at name, following symbolic links (os.Stat).
	Stat(name string) (fs.FileInfo, error)
	// ReadDir lists the directory at name (os.ReadDir).
	ReadDir(name string) ([]fs.DirEntry, error)
	// Open opens the regular file at name for reading. It must not block
	// on a FIFO or device and must refuse anything but a regular file.
	Open(name string) (io.ReadCloser, error)
}

// OSFS is the real file system.
type OSFS struct{}

// Stat calls os.Stat.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// ReadDir calls os.ReadDir.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Open opens name without blocking (a FIFO would otherwise wait for a
// writer) and refuses anything that is not a regular file.
func (OSFS) Open(name string) (io.ReadCloser, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		// A *fs.PathError, like the other failures: messages name the
		// path once themselves and show only Err.
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%s, not a regular file", safefile.Kind(fi.Mode()))}
	}
	return f, nil
}

// errTooLarge is returned by readBounded for a file over its limit.
var errTooLarge = errors.New("file too large")

// readBounded reads at most limit bytes of the regular file at name.
func readBounded(fsys FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
	}
	return data, nil
}
