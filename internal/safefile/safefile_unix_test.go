//go:build unix

package safefile

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileDoesNotBlock: a FIFO with no writer and a Unix socket are
// refused at once instead of blocking in open or read.
func TestReadFileDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct{ path, msg string }{
		{fifo, "is a named pipe (FIFO), not a regular file"},
		{sock, "is a socket, not a regular file"},
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(tc.path, 1<<20); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: error %v, want %q", tc.path, err, tc.msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadFile blocked", tc.path)
		}
	}
}
