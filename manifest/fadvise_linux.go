//go:build linux

package manifest

import "golang.org/x/sys/unix"

// adviseSequential tells the kernel that bytes [off, off+n) are about to
// be read front to back; Linux then doubles its readahead window, which
// helps big files that are not yet in the page cache. Only advice: errors
// are ignored. Callers skip it for small files, where it is a wasted
// system call.
func (f rawFile) adviseSequential(off, n int64) {
	_ = unix.Fadvise(f.fd, off, n, unix.FADV_SEQUENTIAL)
}
