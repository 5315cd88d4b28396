package pindir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// entry is one copy in DIR, or a copy being made.
type entry struct {
	key  string    // a copy's digest; "" for a copy being made
	size int64     // bytes held (a copy), or reserved (being made)
	used time.Time // last use: its lock file's modification time
}

// reserve makes room for a copy of size bytes, free of them new on disk
// (0 for reflinks), and creates the private folder to make it in, with an
// exclusively locked reservation beside it (DIR/.tmp-X.lock, holding
// size) that counts the copy at its full size while it is made and tells
// other processes it is not abandoned. Under DIR/.lock, so that processes
// making copies at once count each other.
func (d *Dir) reserve(size, free int64) (string, *lockedFile, error) {
	if d.opts.MaxSize > 0 && size > d.opts.MaxSize {
		return "", nil, fmt.Errorf("%w: the model has %d bytes, more than the pin folder may hold (%d bytes)", ErrNoRoom, size, d.opts.MaxSize)
	}
	dl, err := lockNamed(filepath.Join(d.path, dirLock), lockExclusive, holdWait)
	if err != nil {
		return "", nil, fmt.Errorf("lock the pin folder %s: %w", strconv.Quote(d.path), err)
	}
	defer dl.close()
	if err := d.makeRoom(size, free); err != nil {
		return "", nil, err
	}
	tmp := filepath.Join(d.path, randomName())
	l, err := lockNamed(tmp+lockSuffix, lockExclusive, 0)
	if err != nil {
		return "", nil, fmt.Errorf("create a private folder in %s: %w", strconv.Quote(d.path), err)
	}
	if err := l.writeSize(size); err != nil {
		l.remove()
		return "", nil, fmt.Errorf("create a private folder in %s: %w", strconv.Quote(d.path), err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		l.remove()
		return "", nil, fmt.Errorf("create a private folder in %s: %w", strconv.Quote(d.path), err)
	}
	return tmp, l, nil
}

// makeRoom removes copies nobody uses, least recently used first, until
// size more bytes fit within MaxSize and need more bytes in the free
// space. Copies used in the last recentUse are kept: a decision may have
// just reported one. Copies being made by processes that are gone are
// removed on the way.
func (d *Dir) makeRoom(size, need int64) error {
	copies, total, err := d.scan()
	if err != nil {
		return err
	}
	free, err := freeSpace(d.path)
	if err != nil {
		return fmt.Errorf("free space of %s: %w", strconv.Quote(d.path), err)
	}
	over := func() bool {
		return d.opts.MaxSize > 0 && total+size > d.opts.MaxSize || free < need
	}
	slices.SortFunc(copies, func(a, b entry) int { return a.used.Compare(b.used) })
	var kept int64
	for _, c := range copies {
		if !over() {
			return nil
		}
		if time.Since(c.used) < recentUse {
			kept += c.size
			continue
		}
		evicted, err := d.evict(c.key)
		if err != nil {
			return err
		}
		if !evicted {
			kept += c.size
			continue
		}
		d.log.Info("evicted a verified copy to make room", "copy", d.copyPath(c.key), "bytes", c.size, "last_used", c.used)
		total -= c.size
		free += c.size
	}
	if !over() {
		return nil
	}
	if free < need {
		return fmt.Errorf("%w: the model has %d bytes, and %s has %d bytes free after removing every copy not in use (%d bytes are in copies in use or used in the last %v)",
			ErrNoRoom, size, strconv.Quote(d.path), free, kept, recentUse)
	}
	return fmt.Errorf("%w: the model has %d bytes, and the copies in %s in use or used in the last %v hold %d of at most %d bytes",
		ErrNoRoom, size, strconv.Quote(d.path), recentUse, total, d.opts.MaxSize)
}

// scan lists the copies in DIR and returns them with the bytes all copies
// and reservations take. Reservations whose maker is gone are removed.
func (d *Dir) scan() ([]entry, int64, error) {
	names, err := readNames(d.path)
	if err != nil {
		return nil, 0, fmt.Errorf("list the pin folder %s: %w", strconv.Quote(d.path), err)
	}
	var (
		copies []entry
		total  int64
	)
	for _, name := range names {
		switch {
		case isKey(name):
			size, err := treeSize(filepath.Join(d.path, name))
			if err != nil {
				return nil, 0, fmt.Errorf("size of the copy %s: %w", strconv.Quote(filepath.Join(d.path, name)), err)
			}
			copies = append(copies, entry{key: name, size: size, used: d.lastUse(name)})
			total += size
		case strings.HasPrefix(name, tmpPrefix) && strings.HasSuffix(name, lockSuffix):
			n, live := d.reservation(filepath.Join(d.path, name))
			total += n
			if !live {
				d.log.Info("removed an unfinished copy whose maker is gone", "folder", filepath.Join(d.path, strings.TrimSuffix(name, lockSuffix)))
			}
		case strings.HasPrefix(name, tmpPrefix) && !slices.Contains(names, name+lockSuffix):
			// A copy being removed (removeCopy), or left behind by a
			// process that died removing it: a copy being made always
			// has its reservation beside it.
			_ = removeTree(filepath.Join(d.path, name))
		}
	}
	return copies, total, nil
}

// reservation returns the bytes a copy being made reserved, and whether
// its maker still runs. An abandoned one (its lock is free) is removed
// with its folder.
func (d *Dir) reservation(lockPath string) (int64, bool) {
	l, err := lockNamed(lockPath, lockExclusive, 0)
	if errors.Is(err, errBusy) {
		data, err := os.ReadFile(lockPath)
		if err != nil {
			return 0, true
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		return max(n, 0), true
	}
	if err != nil {
		return 0, true
	}
	if err := removeTree(strings.TrimSuffix(lockPath, lockSuffix)); err == nil || isNotExist(err) {
		l.remove()
	} else {
		l.close()
	}
	return 0, false
}

// lastUse is when the copy key was last used: its lock file's
// modification time, else the copy's own.
func (d *Dir) lastUse(key string) time.Time {
	if fi, err := os.Stat(d.lockPath(key)); err == nil {
		return fi.ModTime()
	}
	if fi, err := os.Lstat(d.copyPath(key)); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

// evict removes the copy key unless a process holds it; false means it
// is in use.
func (d *Dir) evict(key string) (bool, error) {
	l, err := lockNamed(d.lockPath(key), lockExclusive, 0)
	if errors.Is(err, errBusy) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock the copy %s: %w", strconv.Quote(d.copyPath(key)), err)
	}
	if err := d.removeCopy(key); err != nil {
		l.close()
		return false, fmt.Errorf("remove the copy %s: %w", strconv.Quote(d.copyPath(key)), err)
	}
	l.remove()
	return true, nil
}

// dropLock removes the lock file of a digest that has no copy (a denied
// or failed copy), unless some process holds it.
func (d *Dir) dropLock(key string) {
	if key == "" || exists(d.copyPath(key)) {
		return
	}
	if l, err := lockNamed(d.lockPath(key), lockExclusive, 0); err == nil {
		if exists(d.copyPath(key)) {
			l.close()
			return
		}
		l.remove()
	}
}

// removeCopy takes the copy key out of DIR at once (renamed to a private
// name) and then removes it; the caller holds its lock exclusively.
func (d *Dir) removeCopy(key string) error {
	gone := filepath.Join(d.path, randomName())
	if err := os.Rename(d.copyPath(key), gone); err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	return removeTree(gone)
}

// place renames the finished copy tmp to DIR/key, unless a copy is
// already there (false). Under DIR/.lock, so that two processes cannot
// both find the name free. The rename need not be durable: a copy lost
// in a crash is made again.
func (d *Dir) place(tmp, key string) (bool, error) {
	dl, err := lockNamed(filepath.Join(d.path, dirLock), lockExclusive, holdWait)
	if err != nil {
		return false, fmt.Errorf("lock the pin folder %s: %w", strconv.Quote(d.path), err)
	}
	defer dl.close()
	if _, err := os.Lstat(d.copyPath(key)); err == nil {
		return false, nil
	}
	if err := os.Rename(tmp, d.copyPath(key)); err != nil {
		return false, fmt.Errorf("put the copy in place: %w", err)
	}
	return true, nil
}

// readNames lists a folder's entries.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// treeSize adds up the sizes of the regular files under root.
func treeSize(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			fi, err := e.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// removeTree removes root and everything under it, making read-only
// folders writable first (a copy's folders are 0555).
func removeTree(root string) error {
	err := os.RemoveAll(root)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(root)
}
