package manifest

import "golang.org/x/sys/unix"

// cacheSupported: Linux reports, through fstat on an open descriptor and
// fstatfs, everything a FileKey needs and which file system holds a file.
const cacheSupported = true

// fileStamp is the part of a FileKey that fileInfo does not otherwise
// hold: the modification and change times, in nanoseconds, from the same
// stat as the rest of the fileInfo.
type fileStamp struct{ mtime, ctime int64 }

func stampOf(st *unix.Stat_t) fileStamp {
	return fileStamp{mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// walkedKey returns the FileKey of fi (the hash and range are the
// caller's): the identity and state its stat reported, the walk's for a
// walked file.
func walkedKey(fi *fileInfo) FileKey {
	return FileKey{
		Device:     fi.dev,
		Inode:      fi.ino,
		Size:       fi.size,
		ModTime:    fi.stamp.mtime,
		ChangeTime: fi.stamp.ctime,
	}
}

// statKey describes the open file f, and returns its FileKey (the hash
// and range are the caller's), from one fstat.
func (f rawFile) statKey() (fileInfo, FileKey, error) {
	var st unix.Stat_t
	if _, err := retry(func() (int, error) { return 0, unix.Fstat(f.fd, &st) }); err != nil {
		return fileInfo{}, FileKey{}, err
	}
	fi := infoOf(&st)
	return fi, walkedKey(&fi), nil
}

// cacheKey returns the FileKey of the open file f.
func (f rawFile) cacheKey() (FileKey, error) {
	_, k, err := f.statKey()
	return k, err
}

// zfsSuperMagic is ZFS on Linux's f_type (not in linux/magic.h).
const zfsSuperMagic = 0x2fc12fc1

// fsTrust reports how far the file system holding f can be trusted (see
// fsKind), from one fstatfs.
func (f rawFile) fsTrust() fsKind { return fdFSKind(f.fd) }

// fsTrust is rawFile.fsTrust for the walk's open directory d.
func (d dirHandle) fsTrust() fsKind { return fdFSKind(d.fd) }

func fdFSKind(fd int) fsKind {
	var st unix.Statfs_t
	if _, err := retry(func() (int, error) { return 0, unix.Fstatfs(fd, &st) }); err != nil {
		return fsUntrusted
	}
	return fsKindOf(uint32(st.Type)) //nolint:gosec // magic numbers fit in 32 bits on every platform
}

// fsKindOf classifies the file system with statfs magic number t.
//
// Trusted are file systems whose change times a writer cannot set and
// that stamp every change of content: local Linux file systems with
// POSIX semantics, tmpfs, overlayfs (over those) and NFS (the server
// stamps changes; SETATTR cannot set ctime). Left out on purpose: FAT and
// exFAT (no change time), SMB/CIFS (a client may set the change time),
// FUSE (whoever runs the daemon reports any times it likes), and
// read-only images such as squashfs (their times come from whoever built
// the image).
//
// Of those, the local ones answer a stat by name from the inode itself,
// so the walk's stat is as fresh as an fstat of the opened file: their
// digests may be reused without opening the file (fsLocal). NFS answers a
// stat by name from its attribute cache, which may be a minute behind the
// server, while an open revalidates it (close-to-open consistency); and
// overlayfs passes the stat on to a layer that may be NFS. Those two are
// fsOpened: a digest is reused only under the identity of the opened file.
func fsKindOf(t uint32) fsKind {
	switch t {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC,
		unix.TMPFS_MAGIC, unix.F2FS_SUPER_MAGIC, zfsSuperMagic:
		return fsLocal
	case unix.OVERLAYFS_SUPER_MAGIC, unix.NFS_SUPER_MAGIC:
		return fsOpened
	}
	return fsUntrusted
}
