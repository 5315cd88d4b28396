package hashcache

import (
	"os"
	"syscall"

	"github.com/modelgate/modelgate/manifest"
)

// statKey returns the identity and state of the file at path (following
// symlinks, as hashing did), for Prune.
func statKey(path string) (manifest.FileKey, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return manifest.FileKey{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return manifest.FileKey{}, false
	}
	return manifest.FileKey{
		Device:     uint64(st.Dev), //nolint:unconvert // widths differ by platform
		Inode:      uint64(st.Ino), //nolint:unconvert // widths differ by platform
		Size:       st.Size,
		ModTime:    st.Mtim.Nano(),
		ChangeTime: st.Ctim.Nano(),
	}, true
}
