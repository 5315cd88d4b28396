package hashcache

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelgate/modelgate/manifest"
)

// logBuffer collects log records, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count returns how many records contain s.
func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// newStore opens a store in a fresh private folder, logging into the
// returned buffer.
func newStore(t *testing.T, opts Options) (*Store, *logBuffer) {
	t.Helper()
	var logs logBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := Open(filepath.Join(t.TempDir(), "cache"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

// key returns a synthetic key for file n.
func key(n uint64) manifest.FileKey {
	return manifest.FileKey{Device: 7, Inode: n, Size: 100, ModTime: 1, ChangeTime: 2, Hash: manifest.SHA256, End: 100}
}

// digestOf returns a synthetic 32-byte digest.
func digestOf(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// putAll stores digests for keys in one batch.
func putAll(s *Store, keys []manifest.FileKey, d []byte) {
	b := s.Batch(ids(keys))
	for _, k := range keys {
		b.Put(k, "/nowhere", d)
	}
	b.Close()
}

func ids(keys []manifest.FileKey) []manifest.FileID {
	out := make([]manifest.FileID, len(keys))
	for i, k := range keys {
		out[i] = k.ID()
	}
	return out
}

// lookup reports the digest a fresh batch finds for k.
func lookup(s *Store, k manifest.FileKey) ([]byte, bool) {
	b := s.Batch([]manifest.FileID{k.ID()})
	defer b.Close()
	return b.Get(k)
}

// agedModel writes files under a fresh folder and waits until their change
// times are older than manifest's racy window (2 s), so that hashing them
// stores their digests. Tests calling it should be parallel, so that the
// waits overlap.
func agedModel(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	return dir
}
