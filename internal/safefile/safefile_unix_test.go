//go:build unix

package safefile

import (
	"io/fs"
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

// TestTypeMode: every file type stat(2) reports maps to the type
// package os gives it, a regular file to 0.
func TestTypeMode(t *testing.T) {
	for _, tt := range []struct {
		st   uint32
		want fs.FileMode
	}{
		{syscall.S_IFREG | 0o644, 0},
		{syscall.S_IFDIR | 0o755, fs.ModeDir},
		{syscall.S_IFLNK | 0o777, fs.ModeSymlink},
		{syscall.S_IFIFO, fs.ModeNamedPipe},
		{syscall.S_IFSOCK, fs.ModeSocket},
		{syscall.S_IFCHR, fs.ModeDevice | fs.ModeCharDevice},
		{syscall.S_IFBLK, fs.ModeDevice},
		{0, fs.ModeIrregular},
	} {
		if got := TypeMode(tt.st); got != tt.want {
			t.Errorf("TypeMode(%#o) = %v, want %v", tt.st, got, tt.want)
		}
	}
}
