package manifest

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"
)

// DigestCache lets Hash reuse the digest of a file (or shard) that has not
// changed since it was last hashed, so that verifying an unchanged 100 GB
// model does not read it again. Package hashcache has the implementations
// (a store on disk, and a bounded one in memory).
//
// A digest is reused only for the very same file in the very same state:
// the key (FileKey) is an identity the kernel reports for a file (device,
// inode, size, modification and change times), never a path, and it
// includes the change time, which an unprivileged writer cannot set:
// rewriting a file and restoring its modification time still changes its
// key. Everything else about a model (which files exist, their names, the
// signature) is checked as without a cache; only the reading and hashing
// of unchanged bytes is skipped. The cache is therefore exactly as trusted
// as whoever can write it: a caller must only pass one that nobody but the
// user running modelgate can change (see package hashcache).
//
// A digest is stored under the identity of the open file descriptor that
// was read (one fstat before the read, checked again after it). It is
// looked up first under the identity the walk took when it listed the
// file (the fstatat that told it the name is a regular file, of its
// size): on a hit the file is not even opened, which for a model of
// 100,000 small files is most of the work left. That is as sound as a
// lookup under the identity of the opened file: both say "the file at
// this name was, at one moment during this verification, inode I in
// state S", neither reads a byte on a hit, and the bytes of I in state S
// are what was hashed when the digest was stored (a change of content
// changes S). Only the moment differs, by the time between the walk and
// the open, during which the file may change either way. On a miss the
// file is opened and checked to be the walked file, and its fstat
// identity is looked up and stored as before. The walk's identity is used
// only on file systems whose stat by name is as fresh as an fstat (see
// fsLocal); HashCopy, which must read every byte it copies, never uses a
// digest.
//
// Digests are reused and stored only on file systems known to keep a
// change time that a writer cannot set (Linux: ext2/3/4, XFS, Btrfs,
// tmpfs, F2FS, ZFS, overlayfs, NFS); elsewhere Hash reads everything, as
// without a cache.
type DigestCache interface {
	// Batch starts one Hash's use of the cache. files are the identities
	// of the files the walk found, so that a store can read everything it
	// holds for them at once and then hold no lock while hashing runs. The
	// batch is used from many goroutines at once, and closed once when
	// hashing ends, whether it succeeded or not.
	Batch(files []FileID) DigestBatch
}

// DigestBatch is one Hash's view of a DigestCache.
type DigestBatch interface {
	// Get returns the digest stored for k. Hash copies it and never
	// changes it; a digest of the wrong length for k.Hash is ignored.
	Get(k FileKey) (digest []byte, ok bool)
	// Put stores digest (which the batch may keep) for k. path is where
	// the file was found, only so that a store can later drop entries
	// whose file is gone: nothing is ever decided from it.
	Put(k FileKey, path string, digest []byte)
	// Close ends the batch; a store writes what was Put.
	Close()
}

// FileID is a file's identity on its machine: device and inode numbers.
type FileID struct {
	Device, Inode uint64
}

// FileKey is what a cached digest is bound to: the identity and state of
// the open file (device, inode, size, modification and change times in
// nanoseconds since the Unix epoch, all from one fstat of the descriptor
// that would be hashed), the hash, and the byte range hashed ([0, Size)
// for a whole file; a shard covering a whole file has the same digest).
type FileKey struct {
	Device, Inode       uint64
	Size                int64
	ModTime, ChangeTime int64
	Hash                HashType
	Start, End          int64
}

// ID returns the file's identity.
func (k FileKey) ID() FileID { return FileID{Device: k.Device, Inode: k.Inode} }

// SameState reports whether k and o describe the same file in the same
// state (hash and range aside).
func (k FileKey) SameState(o FileKey) bool {
	return k.Device == o.Device && k.Inode == o.Inode && k.Size == o.Size &&
		k.ModTime == o.ModTime && k.ChangeTime == o.ChangeTime
}

// CacheProgress may be implemented by a Progress: Hash then reports the
// bytes of each file or shard whose digest came from a DigestCache with
// Cached instead of Hashed (they were not read). A Progress without it
// hears them through Hashed, so that what it hears still adds up to what
// Planned announced.
type CacheProgress interface {
	Cached(bytes int64)
}

// racyWindow is how old a file's change time must be, when its identity is
// taken, for its digest to be stored. File systems stamp changes with a
// clock that ticks coarsely (jiffies; whole seconds on some), so a file
// written again within the same tick as the identity was taken would keep
// its change time: its digest is not stored until the stamp is older than
// any tick. (Git's "racily clean" entries are the same problem.) Tests
// shorten it.
var racyWindow = 2 * time.Second

// fsKind says how far a file system's identities can key a DigestCache.
type fsKind uint8

const (
	fsUnknown   fsKind = iota // not asked yet
	fsUntrusted               // change times may be set by a writer, or are missing: no cache
	fsOpened                  // trusted, by the identity of an open file only (NFS, overlayfs)
	fsLocal                   // trusted, and a stat by name is as fresh as one of the open file
)

// fsTable records which kind of file system each device holds (see
// fsKind), for one Tree: the walk fills it from the directories it opens
// (fstatfs on the directory's descriptor, once per device), and Hash from
// the files it opens on other devices. A device number names one mounted
// file system for as long as it is mounted, and a file's st_dev is its
// file system's, as its directory's is: what one descriptor on a device
// says holds for every file of that device.
type fsTable struct{ m sync.Map } // device (uint64) → fsKind

// kind returns what is known of device dev's file system.
func (t *fsTable) kind(dev uint64) fsKind {
	if v, ok := t.m.Load(dev); ok {
		return v.(fsKind)
	}
	return fsUnknown
}

// learn records the kind of dev's file system, asking ask only when it is
// not known yet, and returns it.
func (t *fsTable) learn(dev uint64, ask func() fsKind) fsKind {
	if k := t.kind(dev); k != fsUnknown {
		return k
	}
	k := ask()
	t.m.Store(dev, k)
	return k
}

// cacheRun is one Hash's use of a DigestCache.
//
// A file is looked up without opening it only on a device known to be
// fsLocal, from the walk's directories or from a file opened before; on
// any other, and for a device not known yet, the file is opened and its
// fstat identity is the key, as before hits without an open existed.
type cacheRun struct {
	batch  DigestBatch
	hash   HashType
	fs     *fsTable
	cached atomic.Int64 // bytes whose digests came from the cache
	noHits bool         // store digests, never use one (HashCopy)
}

// newCacheRun starts a batch for the walked files, or returns nil (no
// cache) when c is nil or this system cannot key files safely. fs is what
// the walk learnt of the files' file systems (nil: nothing).
func newCacheRun(c DigestCache, h HashType, files []fileEntry, fs *fsTable) *cacheRun {
	if c == nil || !cacheSupported {
		return nil
	}
	ids := make([]FileID, len(files))
	for i := range files {
		ids[i] = FileID{Device: files[i].info.dev, Inode: files[i].info.ino}
	}
	b := c.Batch(ids)
	if b == nil {
		return nil
	}
	if fs == nil {
		fs = &fsTable{}
	}
	return &cacheRun{batch: b, hash: h, fs: fs}
}

func (r *cacheRun) close() {
	if r != nil {
		r.batch.Close()
	}
}

// cachedBytes returns the bytes whose digests came from the cache.
func (r *cacheRun) cachedBytes() int64 {
	if r == nil {
		return 0
	}
	return r.cached.Load()
}

// probe is a lookup that missed, kept so that store can put the digest
// under the identity taken before the bytes were read.
type probe struct {
	key FileKey
	at  time.Time // just before the identity was taken
	ok  bool      // the file can be cached
}

// clock returns the time, taken before the identity of a file is (see
// probe.at); the zero time without a cache, which needs none.
func (r *cacheRun) clock() time.Time {
	if r == nil {
		return time.Time{}
	}
	return time.Now()
}

// lookupWalked looks the item it up under the identity the walk took (see
// DigestCache), without opening the file, and on a hit writes the digest
// into out (which has room for it). It reports whether it asked the cache
// at all (asked), so that lookup does not ask again for the same key.
func (r *cacheRun) lookupWalked(it *work, out []byte) (hit, asked bool) {
	if r == nil || r.noHits || r.fs.kind(it.file.info.dev) != fsLocal {
		return false, false
	}
	key := walkedKey(&it.file.info)
	key.Hash, key.Start, key.End = r.hash, it.start, it.end
	return r.get(key, out), true
}

// lookup completes key, the identity of the open file f taken after at,
// for the item it and, when the cache holds a digest for it, writes the
// digest into out (which has room for it) and reports a hit. Anything
// else is a miss: the file is then simply read. asked says lookupWalked
// already asked under the walk's identity: when the open file's is the
// same, the answer is known.
func (r *cacheRun) lookup(f rawFile, key FileKey, at time.Time, it *work, out []byte, asked bool) (probe, bool) {
	if r == nil || r.trusted(key.Device, f) == fsUntrusted {
		return probe{}, false
	}
	key.Hash, key.Start, key.End = r.hash, it.start, it.end
	if r.noHits {
		return probe{key: key, at: at, ok: true}, false
	}
	if !(asked && key.SameState(walkedKey(&it.file.info))) && r.get(key, out) {
		return probe{}, true
	}
	return probe{key: key, at: at, ok: true}, false
}

// get writes the digest stored for key into out and counts its bytes as
// cached, or reports false.
func (r *cacheRun) get(key FileKey, out []byte) bool {
	d, ok := r.batch.Get(key)
	if !ok || len(d) != r.hash.Size() {
		return false
	}
	copy(out[:len(d)], d)
	r.cached.Add(key.End - key.Start)
	return true
}

// store puts the digest just computed from f, unless the file's change
// time was too recent when its identity was taken (see racyWindow), or
// the file is no longer in that state now that it has been read (a change
// during the read could otherwise be stored under the old identity).
func (r *cacheRun) store(f rawFile, p probe, path string, digest []byte) {
	if r == nil || !p.ok || p.key.ChangeTime > p.at.Add(-racyWindow).UnixNano() {
		return
	}
	now, err := f.cacheKey()
	if err != nil || !now.SameState(p.key) {
		return
	}
	r.batch.Put(p.key, path, bytes.Clone(digest))
}

// trusted returns the kind of f's file system (see fsKind), dev being
// f's device, asking the kernel once per device and Tree.
func (r *cacheRun) trusted(dev uint64, f rawFile) fsKind {
	return r.fs.learn(dev, f.fsTrust)
}

// reportCached tells p about size bytes whose digest came from the cache.
func reportCached(p Progress, size int64) {
	switch p := p.(type) {
	case nil:
	case CacheProgress:
		p.Cached(size)
	default:
		p.Hashed(size)
	}
}
