//go:build linux

package modelsig

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// writeSignatureFast writes the signature through an O_TMPFILE file: an
// inode with no name, so no walk can see it and a sign killed at any
// point before the link leaves nothing behind. Once complete and synced it
// is linked into place: straight to path when path does not exist yet
// (no temporary name at all), else to a unique temporary name in tempDir
// (outside the model) that is renamed over path at once. Only when
// tempDir is on another file system is that name made next to path:
// then it is visible for the microseconds between link and rename, a
// verify walking the folder at that instant sees an extra file and fails
// (it can never pass because of it), and a sign killed right then leaves
// the file behind. Concurrent signs of the model are serialized by
// lockModel, so they never see it.
//
// done is false, with no error, where O_TMPFILE or the link is not
// supported (old kernels, some file systems, no /proc): the caller falls
// back to writeFileTemp.
func writeSignatureFast(path, tempDir string, data []byte) (done bool, err error) {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return false, nil
	}
	defer unix.Close(fd)
	for rest := data; len(rest) > 0; {
		n, err := unix.Write(fd, rest)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return true, writeError(path, err)
		}
		rest = rest[n:]
	}
	if err := unix.Fchmod(fd, 0o644); err != nil { // a signature is public, whatever the umask
		return true, writeError(path, err)
	}
	if err := unix.Fsync(fd); err != nil {
		return true, writeError(path, err)
	}
	proc := "/proc/self/fd/" + strconv.Itoa(fd)
	link := func(to string) error {
		return unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, to, unix.AT_SYMLINK_FOLLOW)
	}
	err = link(path)
	switch {
	case err == nil:
		syncDir(dir)
		return true, nil
	case errors.Is(err, unix.EEXIST):
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EXDEV):
		return false, nil // no /proc, or links refused: use the fallback
	default:
		return true, writeError(path, err)
	}
	tmp := tempName(tempDir, path)
	if err := link(tmp); err != nil {
		tmp = tempName(dir, path) // another file system, or not writable
		if err := link(tmp); err != nil {
			return true, writeError(path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil { // same file system: the link proved it
		os.Remove(tmp)
		return true, writeError(path, err)
	}
	syncDir(dir)
	return true, nil
}
