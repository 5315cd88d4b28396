package hashcache

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelgate/modelgate/manifest"
)

// records is a slog.Handler that keeps every record as one line of text
// (level, message, attributes), safe for concurrent use.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	line := "level=" + rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
	return nil
}

func (r *records) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// count returns how many records contain s.
func (r *records) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// newStore opens a store in a fresh private folder, logging into the
// returned records.
func newStore(t *testing.T, opts Options) (*Store, *records) {
	t.Helper()
	logs := &records{}
	opts.Logger = slog.New(logs)
	s, err := Open(filepath.Join(t.TempDir(), "cache"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
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
