//go:build unix

package hfcache

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/hftest"
)

func mkfifo(t *testing.T, p string) {
	t.Helper()
	mkdirAll(t, filepath.Dir(p))
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
}

// withDeadline fails the test if f has not returned in 10s: a FIFO opened
// for reading without O_NONBLOCK blocks until a writer appears.
func withDeadline(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("hung on a FIFO")
	}
}

func TestResolveFIFORef(t *testing.T) {
	c := hftest.New(t)
	r := c.Repo("org/model")
	mkfifo(t, r.RefPath("main"))
	withDeadline(t, func() {
		_, err := Resolve(rootOf(t, c), "org/model", "")
		var ce *CacheError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("got %v, want *CacheError about the named pipe", err)
		}
	})
}

func TestReadBoundedFIFO(t *testing.T) {
	// The open itself must not block even when the FIFO appears after the
	// Lstat (the race readRefIn's Lstat cannot close).
	p := filepath.Join(t.TempDir(), "fifo")
	mkfifo(t, p)
	withDeadline(t, func() {
		var ce *CacheError
		if _, err := readBounded(p); !errors.As(err, &ce) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("got %v, want *CacheError about the named pipe", err)
		}
	})
}

func TestCheckSnapshotFIFOs(t *testing.T) {
	t.Run("FIFO entry", func(t *testing.T) {
		res, r := snapshotCase(t, nil)
		mkfifo(t, filepath.Join(r.SnapshotDir(res.Commit), "pipe"))
		var ce *CacheError
		withDeadline(t, func() {
			if err := CheckSnapshot(res); !errors.As(err, &ce) || !strings.Contains(err.Error(), "named pipe") {
				t.Errorf("got %v, want *CacheError about the named pipe", err)
			}
		})
	})
	t.Run("link to a FIFO in blobs", func(t *testing.T) {
		res, r := snapshotCase(t, nil)
		mkfifo(t, filepath.Join(r.BlobsDir(), "fifo"))
		r.Symlink(res.Commit, "pipe.bin", "../../blobs/fifo")
		var le *LinkError
		withDeadline(t, func() {
			if err := CheckSnapshot(res); !errors.As(err, &le) || !strings.Contains(err.Error(), "named pipe") {
				t.Errorf("got %v, want *LinkError about the named pipe", err)
			}
		})
	})
}
