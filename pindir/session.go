package pindir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/modelgate/modelgate/manifest"
)

// Request describes the artifact a Session pins.
type Request struct {
	// Source is the artifact's canonical path: a folder, or a single
	// file (whose copy keeps its name: DIR/<digest>/<name>).
	Source string
	// File is set when Source is a single file.
	File bool
	// Progress, when set, hears about the re-check of an existing copy
	// (as it heard the walk of Source announce the work).
	Progress manifest.Progress
}

// Result is a pinned copy.
type Result struct {
	// Path is what the server must load: DIR/<digest>, or for a single
	// file DIR/<digest>/<name>.
	Path string
	// Digest is the copy's name: the hex subject digest of the verified
	// manifest (SHA-256 over its resources' digests in signed order).
	Digest string
	// Reused is set when an existing copy re-checked good; otherwise the
	// copy was made by this Session.
	Reused bool
	// CopiedBytes counts the bytes written into a new copy, and
	// ClonedBytes those it shares with the source instead (reflinks).
	CopiedBytes, ClonedBytes int64
}

// Session pins one artifact during one verification: Hash (called by the
// verifier in place of hashing the model) copies the model while hashing
// it, or re-checks an existing copy; Commit, called only once the decision
// allows the artifact, puts the copy in place. Close, always called,
// removes anything not committed and ends the session's own claim on the
// copy. A Session is used by one goroutine.
type Session struct {
	d   *Dir
	req Request

	key      string             // the digest, once Hash has run
	expected *manifest.Manifest // what Hash verified against
	lock     *lockedFile        // shared lock on DIR/<key>.lock while the session runs
	tmp      string             // the private folder being filled, "" when none
	tmpLock  *lockedFile        // exclusive lock on tmp's reservation
	tgt      *target
	result   *Result // set when Hash re-checked an existing copy, or by Commit
}

// Begin starts pinning the artifact r names.
func (d *Dir) Begin(r Request) *Session { return &Session{d: d, req: r} }

// Hash has the signature of modelsig.VerifyOptions.Hash: it returns the
// manifest of the bytes the server will load, for the verifier to compare
// with expected. When DIR/<digest> exists, that is the existing copy,
// hashed again through the hash cache; when it is missing (or does not
// match, and no process uses it) the tree is copied into a private folder
// as it is hashed, after room was made for it.
func (s *Session) Hash(ctx context.Context, tree *manifest.Tree, expected *manifest.Manifest) (*manifest.Manifest, manifest.Stats, error) {
	if s.key != "" {
		return nil, manifest.Stats{}, errors.New("pin: Hash called twice in one session")
	}
	sum := expected.SubjectDigest()
	s.key, s.expected = hex.EncodeToString(sum[:]), expected
	l, err := lockNamed(s.d.lockPath(s.key), lockShared, holdWait)
	if err != nil {
		return nil, manifest.Stats{}, fmt.Errorf("lock the verified copy %s: %w", strconv.Quote(s.d.copyPath(s.key)), err)
	}
	s.lock = l
	l.touch()
	if exists(s.d.copyPath(s.key)) {
		m, stats, err := s.recheck(ctx, expected)
		if err == nil {
			s.result = &Result{Path: s.target(), Digest: s.key, Reused: true}
			return m, stats, nil
		}
		if ctx.Err() != nil {
			return nil, manifest.Stats{}, err
		}
		if err := s.replaceDamaged(err); err != nil {
			return nil, manifest.Stats{}, err
		}
	}
	if err := s.start(tree.Bytes()); err != nil {
		return nil, manifest.Stats{}, err
	}
	return tree.HashCopy(ctx, s.tgt)
}

// target is the path to load from the copy.
func (s *Session) target() string {
	p := s.d.copyPath(s.key)
	if s.req.File {
		return filepath.Join(p, filepath.Base(s.req.Source))
	}
	return p
}

// recheck hashes the existing copy against expected, through the cache:
// an unchanged copy costs a walk and cache lookups. The copy must hold
// exactly the manifest's files (for a single file: that one name).
//
// A copy is not synced when it is made (the decision would wait for the
// disk to write the whole model): the first re-check syncs it, before any
// digest of its files can enter the cache, and records that in its lock
// file. A copy a crash damaged is then read from disk as it is, and
// replaced; a digest is never cached for bytes the disk does not hold.
func (s *Session) recheck(ctx context.Context, expected *manifest.Manifest) (*manifest.Manifest, manifest.Stats, error) {
	if s.req.File {
		entries, err := os.ReadDir(s.d.copyPath(s.key))
		if err != nil {
			return nil, manifest.Stats{}, err
		}
		if len(entries) != 1 || entries[0].Name() != filepath.Base(s.req.Source) {
			return nil, manifest.Stats{}, fmt.Errorf("the copy of a single file must hold exactly %s", strconv.Quote(filepath.Base(s.req.Source)))
		}
	}
	synced := s.lock.synced()
	if !synced {
		if err := syncTree(s.d.copyPath(s.key)); err != nil {
			return nil, manifest.Stats{}, fmt.Errorf("sync the copy: %w", err)
		}
	}
	opts := manifest.Options{
		Serialization: expected.Serialization,
		Expected:      expected,
		Workers:       s.d.opts.Workers,
		Cache:         s.d.opts.Cache,
	}
	opts.AllowSymlinks = false // a copy holds regular files only
	if s.req.Progress != nil {
		opts.Progress = unplanned{s.req.Progress}
	}
	tree, err := manifest.Walk(ctx, s.target(), opts)
	if err != nil {
		return nil, manifest.Stats{}, err
	}
	if err := tree.CheckNames(expected); err != nil {
		return nil, manifest.Stats{}, err
	}
	actual, stats, err := tree.Hash(ctx)
	if err != nil {
		return nil, manifest.Stats{}, err
	}
	if err := manifest.Compare(expected, actual); err != nil {
		return nil, manifest.Stats{}, err
	}
	if !synced {
		if err := s.lock.markSynced(); err != nil {
			s.d.log.Warn("could not record that a verified copy is on disk", "copy", s.d.copyPath(s.key), "error", err.Error())
		}
	}
	return actual, stats, nil
}

// replaceDamaged removes the existing copy, which did not re-check
// (why), unless some process uses it: then it can be neither trusted nor
// replaced.
func (s *Session) replaceDamaged(why error) error {
	p := s.d.copyPath(s.key)
	s.lock.close()
	s.lock = nil
	ex, err := lockNamed(s.d.lockPath(s.key), lockExclusive, 0)
	if err != nil {
		if errors.Is(err, errBusy) {
			return fmt.Errorf("%w: %s does not match the signed manifest (%v), and a process is using it, so it cannot be replaced now", ErrInUse, strconv.Quote(p), why)
		}
		return err
	}
	s.d.log.Warn("replacing a verified copy that does not match its signed manifest", "copy", p, "reason", why.Error())
	err = s.d.removeCopy(s.key)
	ex.close()
	if err != nil {
		return fmt.Errorf("remove the damaged copy %s: %w", strconv.Quote(p), err)
	}
	if s.lock, err = lockNamed(s.d.lockPath(s.key), lockShared, holdWait); err != nil {
		return fmt.Errorf("lock the verified copy %s: %w", strconv.Quote(p), err)
	}
	return nil
}

// start makes room for size bytes and the private folder to copy into.
func (s *Session) start(size int64) error {
	free := size
	if s.d.willClone(s.req.Source) {
		free = 0
	}
	tmp, lock, err := s.d.reserve(size, free)
	if err != nil {
		return err
	}
	s.tmp, s.tmpLock = tmp, lock
	single := ""
	if s.req.File {
		single = filepath.Base(s.req.Source)
	}
	s.tgt = newTarget(tmp, single)
	s.tgt.afterWrite, s.tgt.afterClone = s.d.afterWrite, s.d.afterClone
	return nil
}

// Commit puts the copy in place once the decision allowed the artifact,
// and returns where the server must load it from. A copy Hash re-checked
// is returned as it is. The new copy is made read-only and renamed to
// DIR/<digest>; should another process have put a copy there meanwhile,
// that copy is re-checked and used instead. Commit does not wait for the
// disk: the server reads the copy from the page cache, and the first
// re-check syncs it (see recheck).
func (s *Session) Commit(ctx context.Context) (Result, error) {
	switch {
	case s.result != nil:
		return *s.result, nil
	case s.tgt == nil:
		return Result{}, errors.New("pin: nothing was copied")
	}
	if err := s.tgt.readOnly(); err != nil {
		return Result{}, fmt.Errorf("make the copy read-only: %w", err)
	}
	placed, err := s.d.place(s.tmp, s.key)
	if err != nil {
		return Result{}, err
	}
	if !placed {
		// Another process made this copy meanwhile.
		if _, _, err := s.recheck(ctx, s.expected); err != nil {
			return Result{}, fmt.Errorf("another process put a copy at %s meanwhile, and it does not match the signed manifest: %w", strconv.Quote(s.d.copyPath(s.key)), err)
		}
		s.result = &Result{Path: s.target(), Digest: s.key, Reused: true}
		return *s.result, nil
	}
	s.tmp = ""
	s.lock.touch()
	s.result = &Result{Path: s.target(), Digest: s.key, CopiedBytes: s.tgt.written.Load(), ClonedBytes: s.tgt.cloned.Load()}
	return *s.result, nil
}

// Close removes an uncommitted copy and ends the session's claims. It is
// safe to call more than once.
func (s *Session) Close() {
	if s.tmp != "" {
		if err := removeTree(s.tmp); err != nil {
			s.d.log.Warn("could not remove an unfinished copy", "folder", s.tmp, "error", err.Error())
		}
		s.tmp = ""
	}
	if s.tmpLock != nil {
		s.tmpLock.remove()
		s.tmpLock = nil
	}
	if s.lock != nil {
		s.lock.close()
		s.lock = nil
		s.d.dropLock(s.key)
	}
}

// unplanned forwards progress without announcing the work again.
type unplanned struct{ p manifest.Progress }

func (u unplanned) Planned(int, int64) {}
func (u unplanned) Hashed(n int64)     { u.p.Hashed(n) }
func (u unplanned) Cached(bytes int64) {
	if c, ok := u.p.(manifest.CacheProgress); ok {
		c.Cached(bytes)
		return
	}
	u.p.Hashed(bytes)
}

// exists reports whether p names a folder (not following a symlink).
func exists(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// randomName returns a fresh name for a private folder in DIR.
func randomName() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return tmpPrefix + hex.EncodeToString(b[:])
}
