//go:build unix

package modelsig

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadBundleFIFO: a FIFO as the signature is refused at once, naming
// what it is, never read (it would block until a writer came).
func TestReadBundleFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.sig")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	checkNotRegularBundle(t, fifo, "is a named pipe (FIFO), not a regular file")
}
