//go:build unix

package hashcache

import "syscall"

// oNoFollow refuses a symlink in the last component of the store's path.
const oNoFollow = syscall.O_NOFOLLOW
