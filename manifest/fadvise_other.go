//go:build unix && !linux

package manifest

// adviseSequential is a no-op where posix_fadvise is not used.
func (f rawFile) adviseSequential(off, n int64) {}
