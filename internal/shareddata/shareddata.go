// Package shareddata locates the reference test material that every
// developer and CI run has at ../shared/testdata beside the checkout (signed
// models, keys and Sigstore trust roots made by the model_signing library).
// The files are never copied into this repository; tests that need them
// skip with a clear message when the folder is absent.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the absolute path of ../shared/testdata beside the
// repository root, or "" when it does not exist.
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", "testdata")
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return ""
	}
	return p
}

// Path returns the absolute path of elem under ../shared/testdata, and
// skips the test when the shared folder is absent.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	r := Root()
	if r == "" {
		tb.Skip("skipping: ../shared/testdata (reference model_signing test material) is not present beside the checkout")
	}
	return filepath.Join(append([]string{r}, elem...)...)
}
