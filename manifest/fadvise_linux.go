//go:build linux

package manifest

import (
	"os"

	"golang.org/x/sys/unix"
)

// adviseSequential tells the kernel that bytes [off, off+n) of f are about
// to be read front to back. Linux then doubles its readahead window, which
// helps models that are not yet in the page cache. It is only advice, so
// errors are ignored.
func adviseSequential(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), off, n, unix.FADV_SEQUENTIAL)
	})
}
