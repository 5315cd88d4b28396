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
// the key (FileKey) is the identity the kernel reports for the open file
// descriptor about to be hashed, never for a path, and it includes the
// change time, which an unprivileged writer cannot set: rewriting a file
// and restoring its modification time still changes its key. Everything
// else about a model (which files exist, their names, the signature) is
// checked as without a cache; only the reading and hashing of unchanged
// bytes is skipped. The cache is therefore exactly as trusted as whoever
// can write it: a caller must only pass one that nobody but the user
// running modelgate can change (see package hashcache).
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

// cacheRun is one Hash's use of a DigestCache.
type cacheRun struct {
	batch  DigestBatch
	hash   HashType
	fs     sync.Map     // device (uint64) → bool: its change times can be trusted
	cached atomic.Int64 // bytes whose digests came from the cache
	noHits bool         // store digests, never use one (HashCopy)
}

// newCacheRun starts a batch for the walked files, or returns nil (no
// cache) when c is nil or this system cannot key files safely.
func newCacheRun(c DigestCache, h HashType, files []fileEntry) *cacheRun {
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
	return &cacheRun{batch: b, hash: h}
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

// lookup completes key, the identity of the open file f taken after at,
// for the item it and, when the cache holds a digest for it, writes the
// digest into out (which has room for it) and reports a hit. Anything
// else is a miss: the file is then simply read.
func (r *cacheRun) lookup(f rawFile, key FileKey, at time.Time, it *work, out []byte) (probe, bool) {
	if r == nil || !r.trusted(key.Device, f) {
		return probe{}, false
	}
	key.Hash, key.Start, key.End = r.hash, it.start, it.end
	if r.noHits {
		return probe{key: key, at: at, ok: true}, false
	}
	if d, ok := r.batch.Get(key); ok && len(d) == r.hash.Size() {
		copy(out[:len(d)], d)
		r.cached.Add(it.end - it.start)
		return probe{}, true
	}
	return probe{key: key, at: at, ok: true}, false
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

// trusted reports whether change times on f's device can be trusted (see
// DigestCache), asking the kernel once per device and Hash.
func (r *cacheRun) trusted(dev uint64, f rawFile) bool {
	if v, ok := r.fs.Load(dev); ok {
		return v.(bool)
	}
	ok := f.trustedFS()
	r.fs.Store(dev, ok)
	return ok
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
