package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// CopyTarget receives a copy of the files HashCopy reads, so that what is
// verified is exactly what was copied: each chunk is hashed and written
// from the same buffer, or, where the target can share the source's
// blocks (a reflink), the clone is made first and the clone is what is
// read and hashed. A source that changes while it is copied therefore
// changes the digest too, and can never yield a copy that differs from
// the bytes that verified. Package pindir has the implementation.
type CopyTarget interface {
	// Open returns where the bytes of the walked file name (the resource
	// path, "." for a single-file model) of size bytes go. HashCopy calls
	// it from any hashing goroutine: once for each whole file (files
	// method) or shard (shards method) before reading any of it, and once
	// for every empty file of a sharded model (which has no shard, and no
	// byte is written). Every CopyFile it returns is closed. HashCopy
	// names the file, quoted, in its errors, and drops an *fs.PathError
	// around a target's error (whose unquoted path may hold the name).
	Open(name string, size int64) (CopyFile, error)
}

// CopyFile is one file's copy, for one whole file or shard.
type CopyFile interface {
	// Clone asks the target to share the source's blocks (a reflink),
	// given the descriptor of the source file that HashCopy opened and
	// checked to be the walked file. It returns a reader over the copy
	// when the copy is now a clone: HashCopy then reads and hashes the
	// clone, and writes nothing. It returns nil, nil when the file system
	// cannot clone: HashCopy then writes each chunk it hashes. Shards of
	// one file call it once each; a target clones the whole file once.
	Clone(src uintptr) (io.ReaderAt, error)
	// WriteAt writes a chunk as hashed, at its offset in the file.
	io.WriterAt
	// Close ends this use of the file, after its range was hashed or
	// hashing failed; an error (such as a failed fsync) fails HashCopy.
	Close() error
}

// HashCopy is Hash, copying every walked file to c as it is read (see
// CopyTarget). Digests are never taken from Options.Cache here (a cached
// digest reads no bytes to copy); digests computed are still stored.
// Empty files are copied too, also those a sharded manifest has no
// resource for, so the copy holds every file the walk found. On error
// the copy is incomplete: the caller throws it away.
func (t *Tree) HashCopy(ctx context.Context, c CopyTarget) (*Manifest, Stats, error) {
	if c == nil {
		return nil, Stats{}, errors.New("hash copy: no copy target")
	}
	if t.opts.Method == Shards {
		// A sharded manifest has no resource for an empty file, so
		// hashing never opens it: copy it here.
		for i := range t.files {
			if t.files[i].info.size != 0 {
				continue
			}
			if err := copyEmpty(c, t.files[i].name); err != nil {
				return nil, Stats{}, fmt.Errorf("copy %q: %w", t.loc.display(t.files[i].name), unwrapPath(err))
			}
		}
	}
	copied := *t
	copied.opts.copy = c
	return copied.Hash(ctx)
}

func copyEmpty(c CopyTarget, name string) error {
	f, err := c.Open(name, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// source is what hashRange reads from: the file as opened (rawFile) or
// its clone.
type source interface {
	pread(p []byte, off int64) (int, error)
}

// cloneReader reads a clone through its io.ReaderAt, where a read that
// reaches the end of the file is not an error (as pread(2) has it).
type cloneReader struct{ r io.ReaderAt }

func (c cloneReader) pread(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// openCopy opens the copy of the item it, whose source f is open and
// checked, and returns the clone to read the bytes from when the target
// made one; nil means read f and write each chunk to the copy.
func (w *hasher) openCopy(f rawFile, it *work) (CopyFile, source, error) {
	dst, err := w.opts.copy.Open(it.file.name, it.file.info.size)
	if err != nil {
		return nil, nil, err
	}
	r, err := dst.Clone(f.sysfd())
	if err != nil {
		dst.Close()
		return nil, nil, err
	}
	if r != nil {
		return dst, cloneReader{r}, nil
	}
	return dst, nil, nil
}
