//go:build !linux

package manifest

import "os"

// adviseSequential is a no-op where posix_fadvise is not used.
func adviseSequential(*os.File, int64, int64) {}
