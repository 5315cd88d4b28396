//go:build unix

package manifest

// sysfd is the descriptor a CopyTarget clones from.
func (f rawFile) sysfd() uintptr { return uintptr(f.fd) }
