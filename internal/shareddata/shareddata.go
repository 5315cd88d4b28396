// Package shareddata locates the reference test material that every
// developer and CI run has at ../shared/testdata beside the checkout (signed
// models, keys and Sigstore trust roots made by the model_signing library).
// The files are never copied into this repository; tests that need them
// skip with a clear message when the folder is absent.
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Root returns the canonical path (absolute, symlinks resolved) of
// ../shared/testdata beside the repository root, or "" when it does not
// exist. It is computed once, so a test that changes directory (t.Chdir)
// still finds the material. It is canonical because exact policy keys are
// literal (never resolved): a test that writes a key from it must name the
// real path, wherever ../shared is linked from.
func Root() string { return root() }

var root = sync.OnceValue(func() string {
	repo := repoFromSource()
	if repo == "" {
		repo = repoFromWorkDir()
	}
	if repo == "" {
		return ""
	}
	p := filepath.Join(filepath.Dir(repo), "shared", "testdata")
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return ""
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
})

// repoFromSource locates the repository from this file's own path, which
// does not depend on the working directory (it is empty under -trimpath).
func repoFromSource() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	repo := filepath.Dir(filepath.Dir(filepath.Dir(file))) // internal/shareddata/shareddata.go
	if _, err := os.Stat(filepath.Join(repo, "go.mod")); err != nil {
		return ""
	}
	return repo
}

// repoFromWorkDir walks up from the working directory to the go.mod.
func repoFromWorkDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
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
