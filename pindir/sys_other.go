//go:build !linux

package pindir

import (
	"io/fs"
	"os"
	"path/filepath"
)

// cloneFile: reflinks are used on Linux only.
func cloneFile(*os.File, uintptr) (bool, error) { return false, nil }

func probeClone(string) bool { return false }

// syncTree makes the copy at root durable, a file or folder at a time.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}
