//go:build unix

package pindir

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const supported = true

// Lock modes.
const (
	lockShared    = unix.LOCK_SH
	lockExclusive = unix.LOCK_EX
)

// errBusy: the lock is held by someone else and the wait is over.
var errBusy = errors.New("locked by another process")

// lockedFile is an open lock file holding a flock(2) lock. The lock
// belongs to the open file description: it is released when the last
// descriptor for it closes, in this process or in one that inherited it.
type lockedFile struct {
	f *os.File
}

// lockNamed opens (creating, mode 0600) the lock file at path and takes a
// lock on it, trying until wait has passed (0: once). The lock is on the
// file path names once it is taken: an evictor unlinks a copy's lock file
// while holding it exclusively, so a lock taken on the unlinked file
// would guard nothing, and is taken again on the new one.
func lockNamed(path string, how int, wait time.Duration) (*lockedFile, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, err
		}
		if err := flockUntil(f, how, deadline); err != nil {
			f.Close()
			return nil, err
		}
		same, err := stillNamed(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return &lockedFile{f: f}, nil
		}
		f.Close()
	}
}

// flockUntil takes the lock, polling until deadline while another
// process holds a conflicting one. Polling rather than blocking keeps the
// wait bounded.
func flockUntil(f *os.File, how int, deadline time.Time) error {
	fd := int(f.Fd())
	for delay := 2 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := unix.Flock(fd, how|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err != unix.EWOULDBLOCK:
			return fmt.Errorf("lock %s: %w", strconv.Quote(f.Name()), err)
		case !time.Now().Before(deadline):
			return errBusy
		}
		time.Sleep(delay)
	}
}

// stillNamed reports whether the open file f is the file path names.
func stillNamed(f *os.File, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, err
	}
	if err := unix.Lstat(path, &b); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// touch records a use: the lock file's modification time orders copies
// for eviction (least recently used first).
func (l *lockedFile) touch() {
	now := time.Now()
	_ = os.Chtimes(l.f.Name(), now, now)
}

// keepOnExec clears close-on-exec on the lock's descriptor.
func (l *lockedFile) keepOnExec() error {
	_, err := unix.FcntlInt(l.f.Fd(), unix.F_SETFD, 0)
	return err
}

// writeSize records the bytes a copy being made reserved.
func (l *lockedFile) writeSize(n int64) error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(fmt.Sprintf("%d\n", n)), 0)
	return err
}

// The content of a copy's lock file once the copy is known to be on disk.
const syncedMark = "synced\n"

// synced reports whether the copy's lock file records that the copy is on
// disk (markSynced).
func (l *lockedFile) synced() bool {
	var b [len(syncedMark) + 1]byte
	n, _ := l.f.ReadAt(b[:], 0)
	return string(b[:n]) == syncedMark
}

// markSynced records that the copy is on disk.
func (l *lockedFile) markSynced() error {
	_, err := l.f.WriteAt([]byte(syncedMark), 0)
	return err
}

func (l *lockedFile) close() { l.f.Close() }

// remove unlinks the lock file, then releases the lock: whoever opened
// the file meanwhile finds, once it has the lock, that the name is gone
// (see lockNamed).
func (l *lockedFile) remove() {
	_ = os.Remove(l.f.Name())
	l.f.Close()
}

// freeSpace returns the bytes unprivileged users may still write on the
// file system holding path.
func freeSpace(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:gosec,unconvert // sizes fit; widths differ by platform
}

// sameDevice reports whether the files at a and b are on one file system.
func sameDevice(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev
}
