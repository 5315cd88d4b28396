//go:build unix

package hfcache

import "syscall"

// openFlags make opening a ref file fail on a symlink and return at once on
// a FIFO (which would otherwise block until a writer appears); the file is
// then checked to be regular on the open descriptor.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
