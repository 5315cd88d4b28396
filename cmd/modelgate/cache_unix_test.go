//go:build unix

package main

import (
	"path/filepath"
	"testing"
)

// TestCacheTwoProcesses: two modelgate processes verifying the same model
// with the same cache folder at once both succeed, promptly (each child is
// bounded by the watchdog).
func TestCacheTwoProcesses(t *testing.T) {
	t.Parallel()
	model, pub := agedSignedModel(t)
	dir := filepath.Join(t.TempDir(), "cache")
	args := []string{"verify", "key", "--public-key", pub, "--cache-dir", dir, "--output", "json", model}
	a, b := start(t, args...), start(t, args...)
	for _, c := range []*child{a, b} {
		if code := c.wait(); code != 0 {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, c.stdout.String(), c.stderr.String())
		}
	}
	warm := oneJSON(t, runCLI(t, args...).want(t, 0).stdout)
	if warm["bytes"].(float64) != 0 {
		t.Errorf("a third run read %v bytes, want all from the cache the first two filled", warm["bytes"])
	}
}
