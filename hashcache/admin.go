package hashcache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/modelgate/modelgate/manifest"
)

// Stats describes a store.
type Stats struct {
	Path       string    `json:"path"`
	Entries    int       `json:"entries"`
	Bytes      int64     `json:"bytes"` // size of the file
	MaxEntries int       `json:"max_entries"`
	Oldest     time.Time `json:"oldest_use,omitzero"` // least recent last use
	Newest     time.Time `json:"newest_use,omitzero"`
}

// Stats reports the store's size; a store never written is empty. Unlike
// hashing, which runs without a store it cannot use, this is an error
// when the store cannot be read.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Path: s.path, MaxEntries: s.max}
	err := s.guard(func() error {
		db, err := s.openDB(true)
		if err != nil || db == nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketDigests)
			if bk == nil {
				return nil
			}
			var oldest, newest int64
			err := bk.ForEach(func(k, v []byte) error {
				st.Entries++
				if e, ok := decodeValue(v); ok {
					if oldest == 0 || e.used < oldest {
						oldest = e.used
					}
					newest = max(newest, e.used)
				}
				return nil
			})
			if oldest != 0 {
				st.Oldest, st.Newest = time.Unix(oldest, 0), time.Unix(newest, 0)
			}
			return err
		})
	})
	if err != nil {
		return st, s.adminError("read", err)
	}
	if fi, err := os.Lstat(s.path); err == nil {
		st.Bytes = fi.Size()
	}
	return st, nil
}

// PruneResult says what Prune did.
type PruneResult struct {
	Before      int   `json:"entries_before"`
	Stale       int   `json:"stale"`   // dropped: file gone or changed, or unreadable entry
	Evicted     int   `json:"evicted"` // dropped to enforce the bound
	After       int   `json:"entries_after"`
	BytesBefore int64 `json:"bytes_before"`
	BytesAfter  int64 `json:"bytes_after"`
}

// Prune drops the entries whose file no longer exists at the path it was
// hashed from or is no longer in the recorded state, and entries of
// another format; enforces the bound; and compacts the file to reclaim
// the space. Files are looked at with no lock held, so that other
// processes are kept waiting only for the deletions and the compaction.
func (s *Store) Prune(ctx context.Context) (PruneResult, error) {
	var r PruneResult
	if fi, err := os.Lstat(s.path); err == nil {
		r.BytesBefore = fi.Size()
	}
	var stale [][]byte
	err := s.guard(func() error {
		var err error
		stale, r.Before, err = s.staleEntries(ctx)
		return err
	})
	if err == nil {
		err = s.guard(func() error { return s.dropAndCompact(stale, &r) })
	}
	if err != nil {
		return r, s.adminError("prune", err)
	}
	if fi, err := os.Lstat(s.path); err == nil {
		r.BytesAfter = fi.Size()
	}
	return r, nil
}

// staleEntries lists the keys of entries to drop, and counts all entries.
func (s *Store) staleEntries(ctx context.Context) ([][]byte, int, error) {
	type candidate struct {
		key  []byte
		file manifest.FileKey
		path string
	}
	var all []candidate
	var stale [][]byte
	total := 0
	db, err := s.openDB(true)
	if err != nil || db == nil {
		return nil, 0, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDigests)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			total++
			key, okK := decodeKey(k)
			e, okV := decodeValue(v)
			if !okK || !okV {
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			all = append(all, candidate{append([]byte(nil), k...), key, e.path})
			return nil
		})
	})
	db.Close()
	if err != nil {
		return nil, 0, err
	}
	for _, c := range all {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		now, ok := statKey(c.path)
		if !ok || !now.SameState(c.file) {
			stale = append(stale, c.key)
		}
	}
	return stale, total, nil
}

// dropAndCompact deletes the stale keys, enforces the bound, and rewrites
// the file compactly (bbolt never shrinks a file by itself).
func (s *Store) dropAndCompact(stale [][]byte, r *PruneResult) error {
	src, err := s.openDB(false)
	if err != nil {
		return err
	}
	defer src.Close()
	err = src.Update(func(tx *bolt.Tx) error {
		bk, meta, err := buckets(tx)
		if err != nil {
			return err
		}
		for _, k := range stale {
			if bk.Get(k) != nil {
				r.Stale++
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
		}
		n := countKeys(bk)
		if n > s.max {
			left, err := evict(bk, s.max)
			if err != nil {
				return err
			}
			r.Evicted, n = n-left, left
		}
		r.After = n
		return writeCount(meta, n)
	})
	if err != nil {
		return err
	}
	return s.compact(src)
}

// compact copies src into a new file and renames it over the store. The
// caller holds src open, so no other process writes meanwhile.
func (s *Store) compact(src *bolt.DB) error {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), FileName+".compact-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name) // after a successful rename there is nothing left to remove
	dst, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: s.timeout, OpenFile: openTrusted})
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, src, 1<<20); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Rename(name, s.path)
}

// Clear removes the store (and any file a stopped compaction left). A
// process using it at that moment keeps its open file, and its writes are
// lost: nothing worse.
func (s *Store) Clear() error {
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(s.path), FileName+".compact-*"))
	for _, p := range append([]string{s.path}, leftovers...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear the hash cache: %w", err)
		}
	}
	return nil
}

// adminError words a failure of Stats or Prune.
func (s *Store) adminError(doing string, err error) error {
	if errors.Is(err, errCorrupt) {
		return fmt.Errorf("%s the hash cache %s: %w; \"modelgate cache clear\" removes it", doing, strconv.Quote(s.path), err)
	}
	return fmt.Errorf("%s the hash cache %s: %w", doing, strconv.Quote(s.path), err)
}
