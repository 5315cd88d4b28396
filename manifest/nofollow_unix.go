//go:build unix

package manifest

import "syscall"

// openNoFollow makes open fail on a symlink in the last path component.
const openNoFollow = syscall.O_NOFOLLOW
