//go:build linux

package pindir

import (
	"os"

	"golang.org/x/sys/unix"
)

// cloneFile makes dst share all of src's blocks (ioctl FICLONE: a reflink,
// on Btrfs, XFS with reflink=1, OCFS2, bcachefs; NFS 4.2 and overlayfs over
// those). It reports false with no error when the file system cannot
// (ext4, tmpfs, ZFS, two file systems...): the caller then writes the
// bytes it hashes.
func cloneFile(dst *os.File, src uintptr) (bool, error) {
	err := unix.IoctlFileClone(int(dst.Fd()), int(src)) //nolint:gosec // a descriptor fits an int
	switch err {
	case nil:
		return true, nil
	case unix.EOPNOTSUPP, unix.ENOTTY, unix.EXDEV, unix.EINVAL, unix.ENOSYS, unix.EPERM, unix.EBADF:
		return false, nil
	}
	return false, err
}

// preallocate reserves size bytes for f, so that a full disk fails the
// copy at its start rather than after reading most of the model, and the
// file is laid out in few extents. A file system without fallocate is no
// error.
func preallocate(f *os.File, size int64) error {
	if size <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	switch err {
	case unix.EOPNOTSUPP, unix.ENOSYS, unix.EINVAL:
		return nil
	}
	return err
}

// startWriteback asks the kernel to start writing bytes [off, off+n) of f
// to disk now, without waiting: the copy is then written while the rest
// is read, instead of all at once when the copy is synced.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// syncTree makes the copy at root durable: one syncfs(2) for the file
// system, where fsync of each file would cost a disk flush per file of a
// 100,000-file model.
func syncTree(root string) error {
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
