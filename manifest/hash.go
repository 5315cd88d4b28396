package manifest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/modelgate/modelgate/internal/ctxerr"
	"github.com/modelgate/modelgate/internal/safefile"
)

// chunkSize is the read size; the digest does not depend on it. Reads this
// large keep syscall overhead negligible, and the buffer stays in the
// core's L2 cache between the kernel's copy and the hash: on the 2-core
// test VM, 256 KiB cost 3-4% less CPU per byte than 1 MiB (model_signing's
// chunk) and hashed 2 files in parallel up to 20% faster. Each worker
// reuses one buffer, so memory is chunkSize per worker whatever the model.
const chunkSize = 256 << 10

// adviseMin is the smallest read for which readahead advice is worth its
// system call: below it the kernel's default window already covers the
// whole read.
const adviseMin = 4 << 20

// Batching: small files are handed to workers in runs of up to batchFiles
// files or batchBytes bytes, so that workers do not contend on the shared
// counter once per 1 KiB file.
const (
	batchFiles = 64
	batchBytes = 1 << 20
)

// ErrChanged is wrapped by the error Build returns when a file's size
// changed between the walk and the end of hashing it, or when the file
// opened for hashing is not the one the walk saw.
var ErrChanged = errors.New("file changed while it was being hashed")

// work is one unit for the worker pool: a whole file (files method) or one
// shard of a file.
type work struct {
	file       *fileEntry
	start, end int64 // byte range; for a whole file, 0 and the walked size
	shard      bool
}

// plan splits files into work items, biggest first so that one big file
// does not start last and leave the other workers idle at the end. Items
// smaller than a batch (batchBytes) take a moment each whatever their
// order, so they keep the walk's: a directory's files stay together, and
// a worker's fileOpener opens each directory once.
func plan(files []fileEntry, s Serialization) []work {
	items := make([]work, 0, len(files))
	for i := range files {
		f := &files[i]
		size := f.info.size
		if s.Method != Shards {
			items = append(items, work{file: f, end: size})
			continue
		}
		for start, end := int64(0), int64(0); start < size; start = end {
			end = start + min(s.ShardSize, size-start) // no overflow, whatever the shard size
			items = append(items, work{file: f, start: start, end: end, shard: true})
		}
	}
	weight := func(it work) int64 {
		if n := it.end - it.start; n >= batchBytes {
			return n
		}
		return 0
	}
	slices.SortStableFunc(items, func(a, b work) int { return cmp.Compare(weight(b), weight(a)) })
	return items
}

// batches groups consecutive items into runs for the workers: big items
// alone, small ones together (see batchFiles). It returns the end index
// of each run.
func batches(items []work) []int {
	var ends []int
	var bytes int64
	n := 0
	for i, it := range items {
		bytes += it.end - it.start
		n++
		if n >= batchFiles || bytes >= batchBytes {
			ends = append(ends, i+1)
			bytes, n = 0, 0
		}
	}
	if n > 0 {
		ends = append(ends, len(items))
	}
	return ends
}

// hasher is one worker's state: a reusable hash, read buffer and the
// digests arena.
type hasher struct {
	loc      location
	opts     *Options
	stop     *atomic.Bool // another worker failed
	ctx      context.Context
	done     <-chan struct{} // ctx.Done(), checked between chunks
	h        hash.Hash
	buf      []byte
	progress Progress
	files    fileOpener
	cache    *cacheRun   // nil: no cache
	dst      io.WriterAt // the copy of the item being hashed, when chunks are written to it (HashCopy)
}

// hashAll hashes every item with at most workers goroutines and returns the
// digests, item i's at arena[i*size:(i+1)*size] (size is the hash's), and
// the bytes read. The first error stops the rest; a cancelled ctx stops
// every worker between chunks.
func hashAll(ctx context.Context, loc location, items []work, opts Options, workers int, cache *cacheRun) ([]byte, int64, error) {
	var stop atomic.Bool

	size := opts.HashType.Size()
	arena := make([]byte, len(items)*size)
	runs := batches(items)
	var (
		next     atomic.Int64 // index of the next run to take
		total    atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; stop.Store(true) })
	}
	workers = max(1, min(workers, len(runs)))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &hasher{loc: loc, opts: &opts, stop: &stop, ctx: ctx, done: ctx.Done(), h: newHash(opts.HashType), buf: make([]byte, chunkSize), progress: opts.Progress, files: newFileOpener(), cache: cache}
			defer w.files.close()
			for !w.stopped() {
				r := int(next.Add(1) - 1)
				if r >= len(runs) {
					return
				}
				first := 0
				if r > 0 {
					first = runs[r-1]
				}
				for i := first; i < runs[r]; i++ {
					n, err := w.item(&items[i], arena[i*size:i*size:(i+1)*size])
					total.Add(n)
					if err != nil {
						fail(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctxerr.Err(ctx) // the caller's ctx was cancelled
	}
	return arena, total.Load(), firstErr
}

// item hashes one work item, appending the digest to out (which has room
// for it). A digest the cache holds under the walk's identity of the file
// is taken without opening it (see DigestCache); otherwise the file is
// opened, checked, looked up under the open file's identity, and read.
// With a copy target (HashCopy), the item is copied as it is hashed.
func (w *hasher) item(it *work, out []byte) (n int64, err error) {
	hit, asked := w.cache.lookupWalked(it, out)
	if hit {
		reportCached(w.progress, it.end-it.start)
		return 0, nil
	}
	at := w.cache.clock()
	f, key, err := w.open(it.file)
	if err != nil {
		return 0, err
	}
	defer f.close()
	var src source = f
	if w.opts.copy != nil {
		dst, clone, err := w.openCopy(f, it)
		if err != nil {
			return 0, fmt.Errorf("copy %q: %w", w.loc.display(it.file.name), unwrapPath(err))
		}
		if clone != nil {
			src = clone
		} else {
			w.dst = dst
		}
		defer func() {
			w.dst = nil
			if cerr := dst.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("copy %q: %w", w.loc.display(it.file.name), unwrapPath(cerr))
			}
		}()
	}
	p, hit := w.cache.lookup(f, key, at, it, out, asked)
	if hit {
		reportCached(w.progress, it.end-it.start)
		return 0, nil
	}
	if it.end-it.start >= adviseMin {
		f.adviseSequential(it.start, it.end-it.start)
	}
	w.h.Reset()
	if it.shard {
		n, err = w.hashRange(src, it.start, it.end, it.end == it.file.info.size)
	} else {
		n, err = w.hashRange(src, 0, it.file.info.size, true)
	}
	if err != nil {
		if errors.Is(err, errStopped) {
			if err := ctxerr.Err(w.ctx); err != nil {
				return n, err
			}
			return n, err // another worker failed; its error is reported
		}
		return n, fmt.Errorf("hash %q: %w", w.loc.display(it.file.name), unwrapPath(err))
	}
	sum := w.h.Sum(out)
	if p.ok { // a miss the cache may keep: only then is the path worth building
		w.cache.store(f, p, w.loc.path(it.file.name), sum)
	}
	return n, nil
}

// open opens a walked file and makes sure that what was opened is the
// very regular file the walk saw, at the walked size: one open and one
// fstat, the least the kernel allows. A name that was no symlink in the
// walk is opened with O_NOFOLLOW, so a file swapped for a link afterwards
// is refused; a file swapped for a FIFO does not block the open
// (O_NONBLOCK) and the fstat refuses it before any read; any other swap
// shows as another device/inode. The same fstat gives the file's key for
// a DigestCache.
func (w *hasher) open(fe *fileEntry) (rawFile, FileKey, error) {
	if openHook != nil {
		openHook(fe.name)
	}
	f, err := w.files.open(w.loc, fe.name, !fe.link)
	shown := func() string { return w.loc.display(fe.name) } // for errors only: it allocates
	if err != nil {
		if isLoop(err) && !fe.link {
			if w.opts.AllowSymlinks || w.opts.LinkRoot != "" {
				return f, FileKey{}, fmt.Errorf("hash %q: %w: it is now a symlink", shown(), ErrChanged)
			}
			return f, FileKey{}, fmt.Errorf("%q %s", shown(), errSymlink)
		}
		return f, FileKey{}, fmt.Errorf("open %q: %w", shown(), unwrapPath(err))
	}
	fi, key, err := f.statKey()
	switch {
	case err != nil:
		err = fmt.Errorf("stat %q: %w", shown(), unwrapPath(err))
	case fi.mode != 0:
		err = fmt.Errorf("%q is not a regular file (%s)", shown(), safefile.Kind(fi.mode))
	case !fi.sameFile(fe.info):
		err = fmt.Errorf("hash %q: %w: it is not the file the walk saw", shown(), ErrChanged)
	case fi.size != fe.info.size:
		err = fmt.Errorf("hash %q: %w: size %d, %d when listed", shown(), ErrChanged, fi.size, fe.info.size)
	}
	if err != nil {
		f.close()
		return f, FileKey{}, err
	}
	return f, key, nil
}

// openHook, when set, hears the name of every walked file the hashers
// open: tests set it to prove that a cache hit opens nothing.
var openHook func(name string)

// stopped reports whether the work was cancelled or another worker
// failed. The context is checked directly rather than through a flag set by
// context.AfterFunc, whose goroutine may run only after many more chunks.
func (w *hasher) stopped() bool {
	if w.stop.Load() {
		return true
	}
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// errStopped ends a read loop when the work was cancelled or another
// worker failed.
var errStopped = errors.New("stopped")

// hashRange feeds bytes [start, end) of f to the worker's hash. When atEnd
// (end is the walked size of the file), the last read asks for one byte
// more than remains, so a file that grew is noticed without another
// system call, and a short read that reaches end is taken as the end of
// the file. Reading fewer bytes than the range holds is an ErrChanged
// error. A whole small file thus costs exactly one read. Reads are
// positioned (pread), so shards and whole files share one loop. Each
// chunk hashed is also written to w.dst, when set, from the same buffer.
func (w *hasher) hashRange(f source, start, end int64, atEnd bool) (int64, error) {
	var total int64
	for off := start; ; {
		if w.stopped() {
			return total, errStopped
		}
		remaining := end - off
		want := int64(len(w.buf))
		if remaining < want {
			want = remaining
			if atEnd {
				want++
			}
		}
		if want == 0 {
			return total, nil
		}
		n, err := f.pread(w.buf[:want], off)
		switch {
		case err != nil:
			return total, err
		case int64(n) > remaining:
			return total, fmt.Errorf("%w: larger than the %d bytes listed", ErrChanged, end)
		case n == 0 && remaining == 0:
			return total, nil
		case n == 0:
			return total, fmt.Errorf("%w: ended at byte %d, %d expected", ErrChanged, off, end)
		}
		w.h.Write(w.buf[:n])
		if w.dst != nil {
			if _, err := w.dst.WriteAt(w.buf[:n], off); err != nil {
				return total, fmt.Errorf("copy: %w", unwrapPath(err))
			}
		}
		total += int64(n)
		off += int64(n)
		if w.progress != nil {
			w.progress.Hashed(int64(n))
		}
		if off == end && (!atEnd || int64(n) < want) {
			return total, nil
		}
	}
}
