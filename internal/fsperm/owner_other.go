//go:build !unix

package fsperm

import "io/fs"

// Owner is unknown on systems without Unix owners; only mode bits are
// checked there.
func Owner(fs.FileInfo) (int, bool) { return 0, false }
