//go:build unix

package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// res makes a files-method resource whose digest is 32 copies of b.
func res(path string, b byte) Resource {
	return Resource{Path: path, Digest: bytes.Repeat([]byte{b}, 32)}
}

func shard(path string, start, end int64, b byte) Resource {
	return Resource{Path: path, Shard: true, Start: start, End: end, Digest: bytes.Repeat([]byte{b}, 32)}
}

func hexOf(b byte) string {
	return strings.Repeat(string("0123456789abcdef"[b>>4])+string("0123456789abcdef"[b&15]), 32)
}

func TestCompare(t *testing.T) {
	files := func(rs ...Resource) *Manifest { return &Manifest{Serialization: filesSHA, Resources: rs} }
	tests := []struct {
		name             string
		expected, actual *Manifest
		want             *MismatchError // nil: equal
		wantText         string
	}{
		{name: "equal", expected: files(res("a", 1), res("b", 2)), actual: files(res("a", 1), res("b", 2))},
		{name: "both empty", expected: files(), actual: files()},
		{name: "nil and empty resources", expected: &Manifest{Serialization: filesSHA}, actual: files()},
		{
			// Python's component order puts a/b before a-b; byte order after.
			name:     "order irrelevant",
			expected: files(res("a/b", 1), res("a-b", 2), res("a.b", 3)),
			actual:   files(res("a-b", 2), res("a.b", 3), res("a/b", 1)),
		},
		{
			name:     "model-level fields irrelevant",
			expected: &Manifest{Serialization: filesSHA, Resources: []Resource{res("a", 1)}, IgnorePaths: []string{"x"}},
			actual:   &Manifest{Serialization: Serialization{Method: Files, HashType: SHA256, AllowSymlinks: true}, Resources: []Resource{res("a", 1)}},
		},
		{
			name:     "extra",
			expected: files(res("a", 1)),
			actual:   files(res("a", 1), res("a\n.bin", 2)),
			want:     &MismatchError{Extra: []string{"a\n.bin"}},
			wantText: `model does not match its signature: 1 extra file ("a\n.bin")`,
		},
		{
			name:     "missing",
			expected: files(res("x", 1), res("a", 2)),
			actual:   files(res("a", 2)),
			want:     &MismatchError{Missing: []string{"x"}},
			wantText: `model does not match its signature: 1 missing ("x")`,
		},
		{
			name:     "changed",
			expected: files(res("w", 1)),
			actual:   files(res("w", 2)),
			want:     &MismatchError{Changed: []Change{{Name: "w", Expected: "sha256:" + hexOf(1), Actual: "sha256:" + hexOf(2)}}},
			wantText: `model does not match its signature: 1 changed ("w": expected sha256:` + hexOf(1) + `, got sha256:` + hexOf(2) + `)`,
		},
		{
			name:     "all kinds, several each, sorted, quoted",
			expected: files(res("m2", 1), res("m1", 1), res("c\"2", 1), res("c1", 1), res("same", 9)),
			actual:   files(res("e2", 1), res("e\t1", 1), res("c\"2", 2), res("c1", 3), res("same", 9)),
			want: &MismatchError{
				Extra:   []string{"e\t1", "e2"},
				Missing: []string{"m1", "m2"},
				Changed: []Change{
					{Name: "c\"2", Expected: "sha256:" + hexOf(1), Actual: "sha256:" + hexOf(2)},
					{Name: "c1", Expected: "sha256:" + hexOf(1), Actual: "sha256:" + hexOf(3)},
				},
			},
			wantText: `model does not match its signature: 2 extra files ("e\t1", "e2"), 2 missing ("m1", "m2"), 2 changed ("c\"2": expected sha256:` +
				hexOf(1) + `, got sha256:` + hexOf(2) + `; "c1": expected sha256:` + hexOf(1) + `, got sha256:` + hexOf(3) + `)`,
		},
		{
			name:     "digest of another length",
			expected: files(res("a", 1)),
			actual:   files(Resource{Path: "a", Digest: bytes.Repeat([]byte{1}, 31)}),
			want:     &MismatchError{Changed: []Change{{Name: "a", Expected: "sha256:" + hexOf(1), Actual: "sha256:" + hexOf(1)[:62]}}},
		},
		{
			name:     "hash type differs, same bytes",
			expected: files(res("a", 1)),
			actual:   &Manifest{Serialization: Serialization{Method: Files, HashType: BLAKE3}, Resources: []Resource{res("a", 1)}},
			want:     &MismatchError{Changed: []Change{{Name: "a", Expected: "sha256:" + hexOf(1), Actual: "blake3:" + hexOf(1)}}},
		},
		{
			name:     "shard size differs, same names",
			expected: &Manifest{Serialization: shards8, Resources: []Resource{shard("f", 0, 5, 1)}},
			actual:   &Manifest{Serialization: Serialization{Method: Shards, HashType: SHA256, ShardSize: 10}, Resources: []Resource{shard("f", 0, 5, 1)}},
			want: &MismatchError{Shards: true, Changed: []Change{{Name: "f:0:5",
				Expected: "sha256-sharded-8:" + hexOf(1), Actual: "sha256-sharded-10:" + hexOf(1)}}},
		},
		{
			// A file literally named "f:0:5" must not pass for shard 0-5 of "f".
			name:     "method differs, names coincide",
			expected: files(res("f:0:5", 1)),
			actual:   &Manifest{Serialization: shards8, Resources: []Resource{shard("f", 0, 5, 1)}},
			want:     &MismatchError{Shards: true, Changed: []Change{{Name: "f:0:5", Expected: "sha256:" + hexOf(1), Actual: "sha256-sharded-8:" + hexOf(1)}}},
		},
		{
			name:     "shards",
			expected: &Manifest{Serialization: shards8, Resources: []Resource{shard("f", 0, 8, 1), shard("f", 8, 16, 2), shard("f", 16, 23, 3)}},
			actual:   &Manifest{Serialization: shards8, Resources: []Resource{shard("f", 16, 20, 3), shard("f", 0, 8, 1), shard("f", 8, 16, 4)}},
			want: &MismatchError{
				Shards:  true,
				Extra:   []string{"f:16:20"},
				Missing: []string{"f:16:23"},
				Changed: []Change{{Name: "f:8:16", Expected: "sha256-sharded-8:" + hexOf(2), Actual: "sha256-sharded-8:" + hexOf(4)}},
			},
			wantText: `model does not match its signature: 1 extra shard ("f:16:20"), 1 missing shard ("f:16:23"), 1 changed shard ("f:8:16": expected sha256-sharded-8:` +
				hexOf(2) + `, got sha256-sharded-8:` + hexOf(4) + `)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Compare(tt.expected, tt.actual)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Compare = %v, want equal", err)
				}
				return
			}
			var got *MismatchError
			if !errors.As(err, &got) {
				t.Fatalf("Compare = %v, want a *MismatchError", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compare\n got %+v\nwant %+v", got, tt.want)
			}
			if tt.wantText != "" && got.Error() != tt.wantText {
				t.Errorf("Error()\n got %s\nwant %s", got.Error(), tt.wantText)
			}
			if strings.ContainsAny(got.Error(), "\n\r") {
				t.Errorf("Error() spans lines: %q", got.Error())
			}
		})
	}
}

func TestCompareErrors(t *testing.T) {
	m := &Manifest{Serialization: filesSHA, Resources: []Resource{res("a", 1)}}
	dup := &Manifest{Serialization: filesSHA, Resources: []Resource{res("a", 1), res("b", 1), res("a", 1)}}
	shardDup := &Manifest{Serialization: shards8, Resources: []Resource{shard("a", 0, 8, 1), shard("a", 0, 8, 2)}}
	tests := []struct {
		name             string
		expected, actual *Manifest
		want             string
	}{
		{"nil expected", nil, m, "missing manifest"},
		{"nil actual", m, nil, "missing manifest"},
		{"repeated signed name", dup, m, `signed manifest lists resource "a" more than once`},
		{"repeated signed shard", shardDup, shardDup, `signed manifest lists resource "a:0:8" more than once`},
		{"repeated computed name", m, dup, `computed manifest lists resource "a" more than once`},
		{"empty, serialization differs", &Manifest{Serialization: filesSHA}, &Manifest{Serialization: shards8}, "signed with sha256, computed with sha256-sharded-8"},
	}
	for _, tt := range tests {
		err := Compare(tt.expected, tt.actual)
		var mm *MismatchError
		if err == nil || errors.As(err, &mm) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Compare = %v, want a plain error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestCompareBuilt compares manifests built from disk: a model compared with
// itself rebuilt matches, and every kind of tampering is reported.
func TestCompareBuilt(t *testing.T) {
	dir := tree(t, map[string]string{"a": "a", "sub/b": "b", "c": "c"})
	for _, s := range []Serialization{filesSHA, shards8, {Method: Files, HashType: BLAKE2b}} {
		signed := mustBuild(t, dir, Options{Serialization: s})
		if err := Compare(signed, mustBuild(t, dir, Options{Serialization: s, Workers: 1})); err != nil {
			t.Errorf("%s: rebuilt model: %v", s.Method, err)
		}
	}
	signed := mustBuild(t, dir, Options{Serialization: filesSHA})
	if err := os.WriteFile(filepath.Join(dir, "sub", "b"), []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "c"))
	os.WriteFile(filepath.Join(dir, "new"), nil, 0o644)
	var mm *MismatchError
	err := Compare(signed, mustBuild(t, dir, Options{Serialization: filesSHA}))
	if !errors.As(err, &mm) || !reflect.DeepEqual(mm.Extra, []string{"new"}) || !reflect.DeepEqual(mm.Missing, []string{"c"}) ||
		len(mm.Changed) != 1 || mm.Changed[0].Name != "sub/b" || mm.Changed[0].Actual != "sha256:"+sha("B") {
		t.Errorf("tampered model: %v", err)
	}
	// --ignore-unsigned-files: extra files are not hashed, missing ones still fail.
	only := []string{}
	for _, r := range signed.Resources {
		only = append(only, r.Path)
	}
	err = Compare(signed, mustBuild(t, dir, Options{Serialization: filesSHA, Only: only}))
	if !errors.As(err, &mm) || len(mm.Extra) != 0 || !reflect.DeepEqual(mm.Missing, []string{"c"}) {
		t.Errorf("tampered model, only signed files: %v", err)
	}
}

// TestExtraDirsBounded: a model may hold any number of directory links
// the signature lists nothing under; Compare and CheckNames list at most
// maxListed of them, count the rest exactly, and keep the message small.
func TestExtraDirsBounded(t *testing.T) {
	const more = 5
	dirs := make([]string, maxListed+more)
	for i := range dirs {
		dirs[i] = "link-" + strconv.Itoa(len(dirs)-i) // reverse order: the first listed are the least
	}
	check := func(what string, err error) {
		t.Helper()
		var mm *MismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("%s = %v, want a *MismatchError", what, err)
		}
		if len(mm.ExtraDirs) != maxListed || mm.ExtraDirsMore != more || !slices.IsSorted(mm.ExtraDirs) || mm.ExtraDirs[0] != "link-1" {
			t.Errorf("%s: %d extra dirs listed + %d more, first %q", what, len(mm.ExtraDirs), mm.ExtraDirsMore, mm.ExtraDirs[0])
		}
		if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(maxListed+more)+" extra directory symlinks") ||
			!strings.Contains(msg, "and "+strconv.Itoa(more)+" more") || len(msg) > 20*maxListed {
			t.Errorf("%s: message of %d bytes: %.200s", what, len(msg), msg)
		}
	}
	empty := &Manifest{Serialization: filesSHA}
	check("Compare", Compare(empty, &Manifest{Serialization: filesSHA, extraDirs: dirs}))
	tr := &Tree{opts: Options{Serialization: filesSHA}, extraDirs: dirs}
	check("CheckNames", tr.CheckNames(empty))
}
