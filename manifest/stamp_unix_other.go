//go:build unix && !linux

package manifest

import "golang.org/x/sys/unix"

// stampOf keeps nothing: outside Linux no cache key is ever taken (see
// cacheSupported).
func stampOf(*unix.Stat_t) fileStamp { return fileStamp{} }

// fileStamp is empty outside Linux.
type fileStamp struct{}
