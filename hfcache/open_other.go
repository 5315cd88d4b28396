//go:build !unix

package hfcache

// openFlags is 0 where open has no O_NOFOLLOW or O_NONBLOCK; the Lstat
// before the open still refuses symlinks and FIFOs, but a file swapped in
// between is opened as it is.
const openFlags = 0
