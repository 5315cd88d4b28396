//go:build unix

package manifest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/allocs"
)

// manyFiles is a model of n 1 KiB files in folders of 100, named like the
// many-file model of bench/throughput.sh.
func manyFiles(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	content := []byte(strings.Repeat("x", 1024))
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i/100))
		if i%100 == 0 {
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", i)), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildMemoryPerFile bounds what Build allocates per file of a
// many-file model (issue 12): the walk's list, the names, the work items,
// the digests and the resources, about 330 bytes a file beyond half a
// megabyte of workers' buffers. Allocation counts, unlike timings, do not
// depend on the machine's load.
func TestBuildMemoryPerFile(t *testing.T) {
	allocs.SkipUnderRace(t)
	const n = 3000
	dir := manyFiles(t, n)
	opts := Options{Serialization: filesSHA, Workers: 2}
	var m *Manifest
	var err error
	got := allocs.Bytes(func() { m, _, err = Build(context.Background(), dir, opts) })
	if err != nil || len(m.Resources) != n {
		t.Fatalf("Build: %v", err)
	}
	const base, perFile = 640 << 10, 400 // base: the workers' read buffers and hashers
	if limit := uint64(base + perFile*n); got > limit {
		t.Errorf("Build of %d files allocated %d bytes, more than %d (%d + %d a file)", n, got, limit, base, perFile)
	}
}

// TestFileListMemory: collecting a walk's files costs the per-directory
// slices and one exact-size list, twice the list's size; appending to one
// growing slice cost five times (every reallocation left a copy behind).
func TestFileListMemory(t *testing.T) {
	allocs.SkipUnderRace(t)
	const dirs, perDir = 1000, 100
	var all []fileEntry
	got := allocs.Bytes(func() {
		var l fileList
		for range dirs {
			l.openDir(perDir + 3) // a few names are not files
			for range perDir {
				l.add(fileEntry{name: "f"})
			}
			l.closeDir()
		}
		all = l.all()
	})
	if len(all) != dirs*perDir || cap(all) != len(all) {
		t.Fatalf("%d files in a list of capacity %d, want %d exactly", len(all), cap(all), dirs*perDir)
	}
	// The per-directory slices are rounded up to the allocator's size
	// classes: up to an eighth more (a 72-byte entry: 103 of them take
	// 8192 bytes, not 7416).
	size := uint64(reflect.TypeFor[fileEntry]().Size()) * dirs * perDir
	if limit := size*2 + size/5 + 64<<10; got > limit {
		t.Errorf("collecting %d files (%d bytes) allocated %d bytes, more than %d", dirs*perDir, size, got, limit)
	}
}
