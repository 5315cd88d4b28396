//go:build !linux

package hashcache

import "github.com/modelgate/modelgate/manifest"

// statKey: package manifest keys files only on Linux, so an entry found
// elsewhere cannot be checked and Prune drops it.
func statKey(string) (manifest.FileKey, bool) { return manifest.FileKey{}, false }
