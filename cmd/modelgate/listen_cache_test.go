//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExecListenCacheOpenedOnce: exec --listen opens the hash cache once,
// for its decisions and behind the gate's memory, so a folder it cannot
// use is warned about once (in the gate's words), and vLLM still runs.
func TestExecListenCacheOpenedOnce(t *testing.T) {
	fx := newExecFixture(t)
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := startListen(t, fx, listenOpts{flags: []string{"--cache-dir", dir}, vllm: []string{fx.good}, ready: true})
	rec := r.started()
	r.serving()
	r.signal(syscall.SIGTERM)
	r.exit(0, "")
	r.gone(rec)
	stderr := r.stderr.String()
	if n := strings.Count(stderr, "writable by group or others"); n != 1 {
		t.Errorf("warned %d times about the cache folder, want once:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, serverStoreWarning) {
		t.Errorf("no warning %q:\n%s", serverStoreWarning, stderr)
	}
}
