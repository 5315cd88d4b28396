//go:build !linux

package manifest

import "errors"

// cacheSupported is false outside Linux: which file systems keep change
// times that writers cannot set is only checked there, so Hash reads
// every file, as without a cache.
const cacheSupported = false

func (f rawFile) cacheKey() (FileKey, error) { return FileKey{}, errors.ErrUnsupported }

// statKey is stat: no key is ever used here.
func (f rawFile) statKey() (fileInfo, FileKey, error) {
	fi, err := f.stat()
	return fi, FileKey{}, err
}

func (f rawFile) fsTrust() fsKind   { return fsUntrusted }
func (d dirHandle) fsTrust() fsKind { return fsUntrusted }

// walkedKey is never called: no cacheRun exists here.
func walkedKey(*fileInfo) FileKey { return FileKey{} }
