//go:build unix

package manifest

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func walkT(t *testing.T, dir string, opts Options) *Tree {
	t.Helper()
	tr, err := Walk(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCheckNames: names are compared before any hashing, for files and
// for shards, including a huge file that would have millions of shards.
func TestCheckNames(t *testing.T) {
	dir := tree(t, map[string]string{"a": f00, "b/c": "12345678", "empty": ""})
	files := func(paths ...string) *Manifest { return expectedOf(filesSHA, paths...) }
	shards := func(rs ...Resource) *Manifest { return &Manifest{Serialization: shards8, Resources: rs} }
	tests := []struct {
		name     string
		s        Serialization
		expected *Manifest
		want     *MismatchError
	}{
		{name: "files equal", s: filesSHA, expected: files("a", "b/c", "empty")},
		{name: "files extra and missing", s: filesSHA, expected: files("a", "gone", "b"),
			want: &MismatchError{Extra: []string{"b/c", "empty"}, Missing: []string{"b", "gone"}}},
		{name: "shards equal (empty file has none)", s: shards8,
			expected: shards(shard("a", 0, 8, 0), shard("a", 8, 16, 0), shard("a", 16, 23, 0), shard("b/c", 0, 8, 0))},
		{name: "shards differ", s: shards8,
			expected: shards(shard("a", 0, 8, 0), shard("a", 8, 16, 0), shard("a", 16, 24, 0), shard("gone", 0, 1, 0)),
			want:     &MismatchError{Shards: true, Extra: []string{"a:16:23", "b/c:0:8"}, Missing: []string{"a:16:24", "gone:0:1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p countingProgress
			tr := walkT(t, dir, Options{Serialization: tt.s, Progress: &p})
			err := tr.CheckNames(tt.expected)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckNames = %v", err)
				}
				return
			}
			var got *MismatchError
			if !errors.As(err, &got) {
				t.Fatalf("CheckNames = %v, want a *MismatchError", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckNames\n got %+v\nwant %+v", got, tt.want)
			}
			if p.hashed() != 0 {
				t.Errorf("%d bytes hashed before CheckNames", p.hashed())
			}
		})
	}
	// A sparse 1 TiB file against a signature in 8-byte shards: bounded
	// time and memory, and exact counts.
	big := tree(t, map[string]string{"w": "x"})
	if err := os.Truncate(filepath.Join(big, "w"), 1<<40); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	tr := walkT(t, big, Options{Serialization: shards8})
	err := tr.CheckNames(shards(shard("w", 0, 8, 0), shard("w", 8, 16, 0)))
	var mm *MismatchError
	if !errors.As(err, &mm) || len(mm.Extra) != maxListed || mm.ExtraMore != (1<<40)/8-2-maxListed || len(mm.Missing) != 0 {
		t.Fatalf("CheckNames on a huge file: %d extra listed + %d more, %d missing (%v)", len(mm.Extra), mm.ExtraMore, len(mm.Missing), err != nil)
	}
	if !strings.Contains(err.Error(), "and "+strconv.Itoa(mm.ExtraMore)+" more") {
		t.Errorf("message does not count the rest: %.200s", err)
	}
}

func TestShardNameBytes(t *testing.T) {
	for _, size := range []int64{0, 1, 7, 8, 9, 10, 99, 100, 101, 999, 1000, 1001, 12345} {
		for _, s := range []int64{1, 2, 3, 7, 8, 10, 64, 100, 1000, 1 << 20} {
			var want int64
			for start := int64(0); start < size; start += s {
				end := min(start+s, size)
				want += int64(len("name:" + strconv.FormatInt(start, 10) + ":" + strconv.FormatInt(end, 10)))
			}
			if got := shardNameBytes(4, size, s); got != want {
				t.Errorf("shardNameBytes(size %d, shard %d) = %d, want %d", size, s, got, want)
			}
		}
	}
	if got := shardNameBytes(1, math.MaxInt64, math.MaxInt64); got != int64(len("a:0:"+strconv.FormatInt(math.MaxInt64, 10))) {
		t.Errorf("huge: %d", got)
	}
}

func TestTreeSizing(t *testing.T) {
	dir := tree(t, map[string]string{"a": strings.Repeat("x", 1000), "b": strings.Repeat("y", 10), "e": ""})
	tr := walkT(t, dir, Options{Serialization: Serialization{Method: Shards, HashType: SHA256, ShardSize: 1}})
	if tr.Resources() != 1010 || tr.Files() != 3 || tr.Bytes() != 1010 {
		t.Errorf("resources %d files %d bytes %d", tr.Resources(), tr.Files(), tr.Bytes())
	}
	m, _, err := tr.Hash(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var nameBytes int64
	for _, r := range m.Resources {
		nameBytes += int64(len(r.Name()))
	}
	if tr.NameBytes() != nameBytes {
		t.Errorf("NameBytes %d, built names %d", tr.NameBytes(), nameBytes)
	}
	for _, tt := range []struct{ max, want int64 }{{1010, 1}, {1009, 2}, {2, 1000}, {3, 500}, {1, 0}, {100, 11}} {
		if got := tr.MinShardSize(tt.max); got != tt.want {
			t.Errorf("MinShardSize(%d) = %d, want %d", tt.max, got, tt.want)
		}
	}
	files := walkT(t, dir, Options{Serialization: filesSHA})
	if files.Resources() != 3 || files.NameBytes() != 3 {
		t.Errorf("files: resources %d, name bytes %d", files.Resources(), files.NameBytes())
	}
}

// countingProgress records Progress calls; safe for concurrent Hashed.
type countingProgress struct {
	mu      sync.Mutex
	planned []int64
	bytes   int64
}

func (p *countingProgress) Planned(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.planned = append(p.planned, int64(files), bytes)
}

func (p *countingProgress) Hashed(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += n
}

func (p *countingProgress) hashed() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

func TestProgress(t *testing.T) {
	files := map[string]string{"big": strings.Repeat("b", 3*chunkSize+5), "e": ""}
	for i := range 100 {
		files["s/"+strconv.Itoa(i)] = strings.Repeat("s", i)
	}
	dir := tree(t, files)
	for _, s := range []Serialization{filesSHA, {Method: Shards, HashType: BLAKE3, ShardSize: 1000}} {
		var p countingProgress
		_, st, err := build(t, dir, Options{Serialization: s, Progress: &p, Workers: 3})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles := int64(102)
		if s.Method == Shards {
			wantFiles = 100 // "e" and "s/0" are empty: no shards
		}
		if want := []int64{wantFiles, st.Bytes}; !reflect.DeepEqual(p.planned, want) {
			t.Errorf("%s: Planned calls %v, want once with %v", s.Method, p.planned, want)
		}
		if p.hashed() != st.Bytes || st.Bytes != int64(3*chunkSize+5+99*100/2) {
			t.Errorf("%s: Hashed total %d, stats %d", s.Method, p.hashed(), st.Bytes)
		}
	}
}

// TestHashCancelPrompt: cancelling stops hashing between chunks, well
// before a big file is read (no timing assertion: the bytes hashed tell).
func TestHashCancelPrompt(t *testing.T) {
	dir := tree(t, map[string]string{"big": strings.Repeat("z", 64*chunkSize)})
	ctx, cancel := context.WithCancel(context.Background())
	p := &cancelAfter{cancel: cancel}
	done := make(chan error, 1)
	go func() {
		_, _, err := Build(ctx, dir, Options{Serialization: filesSHA, Progress: p})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Build = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Build did not stop")
	}
	if n := p.n.Load(); n > 2*chunkSize {
		t.Errorf("%d bytes hashed after cancelling at the first chunk", n)
	}
}

type cancelAfter struct {
	cancel context.CancelFunc
	n      atomicInt
}

func (c *cancelAfter) Planned(int, int64) {}
func (c *cancelAfter) Hashed(n int64)     { c.n.Add(n); c.cancel() }

func TestMismatchNames(t *testing.T) {
	nfc, nfd := "caf\u00e9", "cafe\u0301"
	tests := []struct {
		name string
		e    MismatchError
		want []string
	}{
		{"normalisation pair", MismatchError{Extra: []string{nfd}, Missing: []string{nfc}},
			[]string{`1 extra file ("cafe\u0301" (differs from the missing "café" only in Unicode normalisation))`, `1 missing ("café")`}},
		{"invisible characters", MismatchError{Extra: []string{"a\u200bb", "x\u202ey"}},
			[]string{`"a\u200bb"`, `"x\u202ey"`}},
		{"plain unicode stays readable", MismatchError{Missing: []string{"ünï/cødé", "模型.bin"}},
			[]string{`"ünï/cødé"`, `"模型.bin"`}},
		{"control characters", MismatchError{Changed: []Change{{Name: "a\nb\x1b[31m", Expected: "sha256:00", Actual: "sha256:01"}}},
			[]string{`"a\nb\x1b[31m": expected sha256:00`}},
		{"shards", MismatchError{Shards: true, Extra: []string{"a:0:1", "a:1:2"}, Missing: []string{"b:0:1"}, Changed: []Change{{Name: "c:0:1"}}},
			[]string{"2 extra shards", "1 missing shard", "1 changed shard"}},
		{"bounded", MismatchError{Extra: []string{"a"}, ExtraMore: 5}, []string{`6 extra files ("a", and 5 more)`}},
		{"extra dirs", MismatchError{ExtraDirs: []string{"lnk"}}, []string{`1 extra directory symlink or directory the signature lists no files under ("lnk")`}},
	}
	for _, tt := range tests {
		msg := tt.e.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %s\n lacks %s", tt.name, msg, w)
			}
		}
		if strings.ContainsAny(msg, "\n\x1b\u200b\u202e") {
			t.Errorf("%s: raw control or invisible character in %q", tt.name, msg)
		}
	}
}

type atomicInt = atomic.Int64

// TestWalkCancelled: a cancelled walk stops at the next directory.
func TestWalkCancelled(t *testing.T) {
	dir := tree(t, map[string]string{"a/b/c": "c", "d/e": "e"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Walk(ctx, dir, Options{Serialization: filesSHA}); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk = %v, want context.Canceled", err)
	}
	w := &walker{ctx: ctx, loc: location{root: dir, shown: dir}}
	if err := w.walk(); !errors.Is(err, context.Canceled) || len(w.files.all()) != 0 {
		t.Errorf("walker = %v with %d files, want context.Canceled before listing", err, len(w.files.all()))
	}
}
