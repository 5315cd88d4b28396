package hashcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/modelgate/modelgate/manifest"
)

// FileName is the store's file inside its folder.
const FileName = "digests.db"

// Defaults of the Options fields left zero.
const (
	// DefaultMaxEntries bounds the entries of a store: about 50 MB on
	// disk, enough for a hundred thousand files or 250 TB in 1 GB shards.
	DefaultMaxEntries = 250_000
	// DefaultLockTimeout bounds the wait for another process's write.
	DefaultLockTimeout = time.Second
)

const (
	// flushInterval: during a long hash, what was hashed is written at
	// least this often, so that an interrupted run keeps its work.
	flushInterval = 5 * time.Second
	// touchAfter: a hit refreshes its entry's last use only when that is
	// older than this, so that a warm run writes nothing.
	touchAfter = 24 * time.Hour
)

// Options configures a Store.
type Options struct {
	// MaxEntries bounds the number of entries (default DefaultMaxEntries).
	MaxEntries int
	// LockTimeout bounds the wait for the file lock (default
	// DefaultLockTimeout); past it the store is not used for that read
	// or write.
	LockTimeout time.Duration
	// Logger receives the warnings; nil means slog.Default().
	Logger *slog.Logger
}

// ErrUntrusted is wrapped by the error for a folder or file that someone
// other than the current user could change.
var ErrUntrusted = errors.New("the hash cache could be changed by someone else")

// Store is the persistent digest cache in one folder. It is safe for
// concurrent use, and by several processes at once. It holds the
// database open only while it reads or writes, so it needs no Close.
type Store struct {
	path    string // the database file, in the real folder
	max     int
	timeout time.Duration
	log     *slog.Logger
	warned  sync.Map // warning kind → true: each is logged once
	now     func() time.Time
}

// Open returns the store in dir, creating dir (mode 0700) when it is
// missing. The error, wrapping ErrUntrusted when that is the reason, says
// why dir cannot be used; callers then run without a cache. Nothing else
// is opened until a batch needs it.
func Open(dir string, opts Options) (*Store, error) {
	real, err := checkDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:    filepath.Join(real, FileName),
		max:     opts.MaxEntries,
		timeout: opts.LockTimeout,
		log:     opts.Logger,
		now:     time.Now,
	}
	if s.max <= 0 {
		s.max = DefaultMaxEntries
	}
	if s.timeout <= 0 {
		s.timeout = DefaultLockTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Batch reads, in one short read transaction, every entry the store holds
// for the given files, and returns a batch that answers from them and
// writes what is Put when it is closed (see manifest.DigestCache).
func (s *Store) Batch(files []manifest.FileID) manifest.DigestBatch {
	now := s.now()
	b := &batch{s: s, last: now, stale: now.Add(-touchAfter).Unix()}
	if err := s.guard(func() error { return s.load(files, b) }); err != nil {
		s.warn(err, "reading")
	}
	return b
}

// load fills b.found with the entries for files.
//
// The files' identities, sorted, are merged with the store's keys, which
// are in the same order (device and inode first): the cursor steps from
// one entry to the next, and seeks only over entries of other files. A
// warm verification of a model of 100,000 files thus reads its 100,000
// entries in one pass instead of searching the tree for each. Digests are
// copied into shared blocks (bbolt's memory lives only as long as the
// transaction), not one allocation each.
func (s *Store) load(files []manifest.FileID, b *batch) error {
	db, err := s.openDB(true)
	if err != nil || db == nil {
		return err
	}
	defer db.Close()
	ids := slices.Clone(files)
	slices.SortFunc(ids, cmpID)
	ids = slices.Compact(ids)
	b.found = make(map[foundKey]found, len(ids))
	return db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDigests)
		if bk == nil || len(ids) == 0 {
			return nil
		}
		var digests arena
		c := bk.Cursor()
		k, v := c.Seek(encodeID(ids[0]))
		for i := 0; k != nil && i < len(ids); {
			if len(k) < idLen {
				k, v = c.Next() // not a key this code wrote
				continue
			}
			switch cmpID(decodeID(k), ids[i]) {
			case -1: // entries of files not walked: skip them at once
				k, v = c.Seek(encodeID(ids[i]))
			case 1:
				i++
			default:
				fk, ok := foundOf(k)
				if e, okV := decodeDigest(v); ok && okV {
					b.found[fk] = found{used: e.used, digest: digests.copy(e.digest)}
				}
				k, v = c.Next()
			}
		}
		return nil
	})
}

// arena hands out copies of small byte slices from shared blocks.
type arena struct{ block []byte }

const arenaBlock = 64 << 10

func (a *arena) copy(p []byte) []byte {
	if len(p) > cap(a.block)-len(a.block) {
		a.block = make([]byte, 0, max(arenaBlock, len(p)))
	}
	n := len(a.block)
	a.block = append(a.block, p...)
	return a.block[n:len(a.block):len(a.block)]
}

func cmpID(a, b manifest.FileID) int {
	if c := cmpUint(a.Device, b.Device); c != 0 {
		return c
	}
	return cmpUint(a.Inode, b.Inode)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// put is one digest waiting to be written.
type put struct {
	key manifest.FileKey
	e   entry
}

// foundKey is a FileKey as a batch's map key: fixed-size fields only, the
// hash as a small number, which hashes several times faster than a struct
// holding a string (lookups are per file: 100,000 for some models).
type foundKey struct {
	id                             manifest.FileID
	size, mtime, ctime, start, end int64
	hash                           uint8
}

// found is a digest a batch read, with its last use (Unix seconds).
type found struct {
	used   int64
	digest []byte
}

// toFound returns k's map key; ok is false for a hash this code does not
// know (it cannot have been stored by it).
func toFound(k manifest.FileKey) (foundKey, bool) {
	h := hashCode(string(k.Hash))
	return foundKey{k.ID(), k.Size, k.ModTime, k.ChangeTime, k.Start, k.End, h}, h != 0
}

// foundOf is toFound for an encoded key (see encodeKey), without decoding
// it into a FileKey, whose hash name would be a new string for every
// entry.
func foundOf(b []byte) (foundKey, bool) {
	if len(b) <= fixedKey || len(b) > fixedKey+maxHash {
		return foundKey{}, false
	}
	u := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[i:])) } //nolint:gosec // see encodeKey
	h := hashCode(string(b[fixedKey:]))                                     // not kept: no allocation
	return foundKey{decodeID(b), u(16), u(24), u(32), u(40), u(48), h}, h != 0
}

// hashCode numbers the hashes this code stores; 0 for any other name.
func hashCode(h string) uint8 {
	switch manifest.HashType(h) {
	case manifest.SHA256:
		return 1
	case manifest.BLAKE2b:
		return 2
	case manifest.BLAKE3:
		return 3
	}
	return 0
}

// batch is one Hash's use of a Store.
type batch struct {
	s     *Store
	found map[foundKey]found // read-only once Batch returns
	stale int64              // a hit on an entry last used before this (Unix seconds) refreshes it

	mu      sync.Mutex
	pending []put
	touched []manifest.FileKey
	last    time.Time // of the last write

	writing sync.Mutex // one write at a time
}

func (b *batch) Get(k manifest.FileKey) ([]byte, bool) {
	fk, ok := toFound(k)
	if !ok {
		return nil, false
	}
	e, ok := b.found[fk]
	if !ok {
		return nil, false
	}
	if e.used < b.stale {
		b.mu.Lock()
		b.touched = append(b.touched, k)
		b.mu.Unlock()
	}
	return e.digest, true
}

func (b *batch) Put(k manifest.FileKey, path string, digest []byte) {
	if len(k.Hash) == 0 || len(k.Hash) > maxHash || len(digest) == 0 || len(digest) > 255 {
		return
	}
	now := b.s.now()
	b.mu.Lock()
	b.pending = append(b.pending, put{key: k, e: entry{used: now.Unix(), digest: digest, path: path}})
	due := now.Sub(b.last) >= flushInterval
	b.mu.Unlock()
	if due && b.writing.TryLock() {
		defer b.writing.Unlock()
		b.flush()
	}
}

func (b *batch) Close() {
	b.writing.Lock()
	defer b.writing.Unlock()
	b.flush()
}

// flush writes what is pending in one write transaction.
func (b *batch) flush() {
	b.mu.Lock()
	puts, touched := b.pending, b.touched
	b.pending, b.touched, b.last = nil, nil, b.s.now()
	b.mu.Unlock()
	if len(puts)+len(touched) == 0 {
		return
	}
	if err := b.s.guard(func() error { return b.s.write(puts, touched) }); err != nil {
		b.s.warn(err, "writing")
	}
}

// write stores puts, refreshes the last use of touched, and evicts when
// the store is over its bound.
func (s *Store) write(puts []put, touched []manifest.FileKey) error {
	db, err := s.openDB(false)
	if err != nil {
		return err
	}
	defer db.Close()
	now := s.now().Unix()
	return db.Update(func(tx *bolt.Tx) error {
		bk, meta, err := buckets(tx)
		if err != nil {
			return err
		}
		count := readCount(meta, bk)
		// In key order: bbolt inserts into a sorted page in memory, so
		// keys in random order cost a copy of the page each (quadratic
		// for a first run over 100,000 files); sorted ones append.
		kvs := make([][2][]byte, len(puts))
		for i, p := range puts {
			kvs[i] = [2][]byte{encodeKey(p.key), encodeValue(p.e)}
		}
		slices.SortFunc(kvs, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
		for _, kv := range kvs {
			if bk.Get(kv[0]) == nil {
				count++
			}
			if err := bk.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		for _, key := range touched {
			k := encodeKey(key)
			e, ok := decodeValue(bk.Get(k))
			if !ok {
				continue
			}
			e.used = now
			if err := bk.Put(k, encodeValue(e)); err != nil {
				return err
			}
		}
		if count > s.max {
			if count, err = evict(bk, s.max*9/10); err != nil {
				return err
			}
		}
		return writeCount(meta, count)
	})
}

// buckets returns the entries' and the metadata's buckets, creating them
// in a new store.
func buckets(tx *bolt.Tx) (entries, meta *bolt.Bucket, err error) {
	if entries, err = tx.CreateBucketIfNotExists(bucketDigests); err != nil {
		return nil, nil, err
	}
	meta, err = tx.CreateBucketIfNotExists(bucketMeta)
	return entries, meta, err
}

// readCount returns the number of entries: the stored count, or a count
// of the bucket when there is none.
func readCount(meta, bk *bolt.Bucket) int {
	if v := meta.Get(keyCount); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v)) //nolint:gosec // at most the entries a file can hold
	}
	return countKeys(bk)
}

// countKeys counts the entries of bk through a cursor, which, unlike
// Bucket.Stats, sees the changes of the transaction.
func countKeys(bk *bolt.Bucket) int {
	n := 0
	c := bk.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func writeCount(meta *bolt.Bucket, n int) error {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(n)) //nolint:gosec // not negative
	return meta.Put(keyCount, v)
}

// evict drops entries until at most target remain: first those this code
// cannot read (another version, malformed), then the least recently used.
// It returns the number left.
func evict(bk *bolt.Bucket, target int) (int, error) {
	type aged struct {
		used int64
		key  []byte
	}
	var all []aged
	err := bk.ForEach(func(k, v []byte) error {
		used := int64(-1) // unreadable: first to go
		if _, ok := decodeKey(k); ok {
			if e, ok := decodeValue(v); ok {
				used = e.used
			}
		}
		all = append(all, aged{used, slices.Clone(k)})
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortStableFunc(all, func(a, b aged) int {
		switch {
		case a.used < b.used:
			return -1
		case a.used > b.used:
			return 1
		}
		return 0
	})
	n := len(all)
	for _, a := range all {
		if n <= target && a.used >= 0 {
			break
		}
		if err := bk.Delete(a.key); err != nil {
			return 0, err
		}
		n--
	}
	return n, nil
}

// openDB opens the database, waiting at most the lock timeout. Read-only,
// a missing or empty file is no database (nil, nil): nothing was ever
// written.
func (s *Store) openDB(readOnly bool) (*bolt.DB, error) {
	if readOnly {
		fi, err := os.Lstat(s.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		case err != nil:
			return nil, err
		case fi.Mode().IsRegular() && fi.Size() == 0:
			return nil, nil
		}
	}
	return bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:  s.timeout,
		ReadOnly: readOnly,
		OpenFile: openTrusted,
	})
}

// errCorrupt is wrapped by the error for a database that made bbolt
// panic or fault.
var errCorrupt = errors.New("the database is corrupt")

// guard runs f, turning a panic or a memory fault in bbolt (which trusts
// its file, and panics or faults on some corruptions) into an error: a
// damaged cache must never crash modelgate.
func (s *Store) guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v)", errCorrupt, r)
		}
	}()
	return f()
}

// warn logs, once per kind of problem, that the store is not used.
func (s *Store) warn(err error, doing string) {
	kind, msg := "unusable", "cannot be used"
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		kind, msg = "locked", fmt.Sprintf("is locked by another modelgate process (waited %s)", s.timeout)
	case errors.Is(err, ErrUntrusted):
		kind, msg = "untrusted", "is not safe to use"
	}
	if _, seen := s.warned.LoadOrStore(kind, true); seen {
		return
	}
	hint := `; "modelgate cache clear" removes it`
	if kind == "locked" {
		hint = ""
	}
	s.log.Warn(fmt.Sprintf("hash cache %s %s: running without it%s", strconv.Quote(s.path), msg, hint),
		"doing", doing, "error", err.Error())
}
