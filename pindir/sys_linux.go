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

// syncTree makes the copy at root durable: one syncfs(2) for the file
// system, where fsync of each file would cost a disk flush per file of a
// 100,000-file model. By the time it runs (see Session.recheck) the
// kernel has long written the copy out, so it waits for little.
func syncTree(root string) error {
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// probeClone reports whether the file system of dir makes reflinks, by
// cloning a one-block file into another there.
func probeClone(dir string) bool {
	a, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return false
	}
	defer os.Remove(a.Name())
	defer a.Close()
	if _, err := a.Write(make([]byte, 4096)); err != nil {
		return false
	}
	b, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return false
	}
	defer os.Remove(b.Name())
	defer b.Close()
	ok, err := cloneFile(b, a.Fd())
	return ok && err == nil
}
