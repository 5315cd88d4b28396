package manifest

import "golang.org/x/sys/unix"

// cacheSupported: Linux reports, through fstat on an open descriptor and
// fstatfs, everything a FileKey needs and which file system holds a file.
const cacheSupported = true

// statKey describes the open file f, and returns its FileKey (the hash
// and range are the caller's), from one fstat.
func (f rawFile) statKey() (fileInfo, FileKey, error) {
	var st unix.Stat_t
	if _, err := retry(func() (int, error) { return 0, unix.Fstat(f.fd, &st) }); err != nil {
		return fileInfo{}, FileKey{}, err
	}
	return infoOf(&st), keyOf(&st), nil
}

// cacheKey returns the FileKey of the open file f.
func (f rawFile) cacheKey() (FileKey, error) {
	var st unix.Stat_t
	if _, err := retry(func() (int, error) { return 0, unix.Fstat(f.fd, &st) }); err != nil {
		return FileKey{}, err
	}
	return keyOf(&st), nil
}

func keyOf(st *unix.Stat_t) FileKey {
	return FileKey{
		Device:     uint64(st.Dev), //nolint:unconvert // widths differ by platform
		Inode:      uint64(st.Ino), //nolint:unconvert // widths differ by platform
		Size:       st.Size,
		ModTime:    st.Mtim.Nano(),
		ChangeTime: st.Ctim.Nano(),
	}
}

// zfsSuperMagic is ZFS on Linux's f_type (not in linux/magic.h).
const zfsSuperMagic = 0x2fc12fc1

// trustedFS reports whether f lies on a file system whose change times a
// writer cannot set and that stamps every change of content: local Linux
// file systems with POSIX semantics, tmpfs, overlayfs (over those) and
// NFS (the server stamps changes; SETATTR cannot set ctime). Left out on
// purpose: FAT and exFAT (no change time), SMB/CIFS (a client may set the
// change time), FUSE (whoever runs the daemon reports any times it
// likes), and read-only images such as squashfs (their times come from
// whoever built the image).
func (f rawFile) trustedFS() bool {
	var st unix.Statfs_t
	if _, err := retry(func() (int, error) { return 0, unix.Fstatfs(f.fd, &st) }); err != nil {
		return false
	}
	return trustedFSType(uint32(st.Type)) //nolint:gosec // magic numbers fit in 32 bits on every platform
}

// trustedFSType reports whether the file system with statfs magic number
// t is one trustedFS accepts.
func trustedFSType(t uint32) bool {
	switch t {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC,
		unix.TMPFS_MAGIC, unix.F2FS_SUPER_MAGIC, zfsSuperMagic,
		unix.OVERLAYFS_SUPER_MAGIC, unix.NFS_SUPER_MAGIC:
		return true
	}
	return false
}
