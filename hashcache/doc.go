// Package hashcache keeps the digests of model files that have not
// changed since modelgate last hashed them, so that verifying an
// unchanged model does not read it again. It implements
// manifest.DigestCache twice: Store, a file on disk shared by every
// modelgate process of one user (bbolt), and Memory, a bounded LRU in
// front of it for long-running servers (the gate).
//
// # What the cache trusts
//
// An entry maps a file's identity and state (device, inode, size,
// modification and change times to the nanosecond, as fstat reports them
// for the descriptor about to be hashed), the hash and the byte range to a
// digest. Package manifest reuses the digest only for exactly that key; the
// change time cannot be set by an unprivileged writer, so a file rewritten
// with its modification time restored has a new key. Nothing else is
// taken from the cache: the signature, the list of files and their names
// are checked as without it, and the cache never decides anything on its
// own (a value is a digest, and a digest is only ever compared with what
// the signature says).
//
// The cache is as trusted as the user running modelgate: whoever can write
// it can make any file seem to have any digest, and so make a tampered
// model verify. Store therefore uses its folder and file only when both
// are owned by the current user (for root too: a root-run modelgate
// refuses a folder owned by anyone else) and not writable by group or
// others, and no folder above can be changed by anyone but root and the
// user (fsperm.Replaceable); the file is opened without following a
// symlink and checked on the open descriptor. A cache that fails these
// checks, is corrupt, or is locked by another process for longer than a
// bounded wait is ignored with a warning (once per problem and Store):
// modelgate then hashes everything, as with --no-cache. None of these is
// ever fatal, and none makes anything pass.
//
// Residual risks, beyond anyone who can write the cache: a file system
// that lies about change times (the manifest package only keys files on
// local Linux file systems, tmpfs, overlayfs and NFS), and a wall clock
// stepped back past a file's change time, after which a rewrite could get
// the old change time back to the nanosecond.
//
// # Invalidation, size and sharing
//
// A changed file simply gets a new key; the old entry is never read again
// and ages out. Entries record when they were last used (refreshed at most
// once a day, so a warm verification writes nothing); when a write makes
// the store hold more than its bound (DefaultMaxEntries), the least
// recently used entries are dropped down to 90% of it. Prune also drops
// entries whose file is gone or changed, and compacts the file.
//
// Processes share the store through bbolt's file lock, held only for a
// moment: a batch reads everything it may need for the walked files in one
// read transaction when hashing starts, and writes what it hashed in one
// write transaction at the end (and every few seconds during a long run).
// A process that cannot get the lock within LockTimeout runs without the
// cache rather than wait.
package hashcache
