//go:build unix

package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// expectedOf is a files manifest listing paths (digests irrelevant to the
// walk).
func expectedOf(s Serialization, paths ...string) *Manifest {
	m := &Manifest{Serialization: s}
	for _, p := range paths {
		m.Resources = append(m.Resources, Resource{Path: p, Digest: make([]byte, 32)})
	}
	return m
}

// TestWalkDirectorySymlinks: with symlinks allowed, a symlink to a
// directory is followed exactly when the signature lists files under its
// name (issue 7.4), and is otherwise an extra entry, never skipped.
func TestWalkDirectorySymlinks(t *testing.T) {
	allow := Serialization{Method: Files, HashType: SHA256, AllowSymlinks: true}
	setup := func(t *testing.T) string {
		dir := tree(t, map[string]string{"w": "w", "real/a": "a", "real/sub/b": "b"})
		symlink(t, "real", filepath.Join(dir, "lnk"))
		return dir
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string)
		expected []string
		want     []string
		wantDirs []string
		wantErr  string
		noExpect bool
	}{
		{
			name:     "listed under the link: followed and hashed under the link's name",
			expected: []string{"w", "real/a", "real/sub/b", "lnk/a", "lnk/sub/b"},
			want:     []string{"lnk/a", "lnk/sub/b", "real/a", "real/sub/b", "w"},
		},
		{
			name:     "nothing listed under it: an extra entry",
			expected: []string{"w", "real/a", "real/sub/b"},
			want:     []string{"real/a", "real/sub/b", "w"},
			wantDirs: []string{"lnk"},
		},
		{
			name:     "listed file only, link named exactly: still an extra directory",
			expected: []string{"w", "real/a", "real/sub/b", "lnk"},
			want:     []string{"real/a", "real/sub/b", "w"},
			wantDirs: []string{"lnk"},
		},
		{
			name:     "under a followed link, an unlisted directory is reported, not walked",
			expected: []string{"w", "real/a", "real/sub/b", "lnk/a"},
			want:     []string{"lnk/a", "real/a", "real/sub/b", "w"},
			wantDirs: []string{"lnk/sub"},
		},
		{
			name: "a cycle is an error",
			setup: func(t *testing.T, dir string) {
				symlink(t, "..", filepath.Join(dir, "real", "up"))
			},
			expected: []string{"w", "real/a", "real/sub/b", "real/up/w", "lnk/a"},
			wantErr:  `real/up" is a symlink to a directory that contains it (a cycle)`,
		},
		{
			name: "self link is a cycle",
			setup: func(t *testing.T, dir string) {
				symlink(t, ".", filepath.Join(dir, "self"))
			},
			expected: []string{"w", "self/w"},
			wantErr:  `self" is a symlink to a directory that contains it`,
		},
		{
			name:     "signing (no expected manifest) refuses it",
			noExpect: true,
			wantErr:  `lnk" is a symlink to a directory (-> "real")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := setup(t)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			opts := Options{Serialization: allow}
			if !tt.noExpect {
				opts.Expected = expectedOf(allow, tt.expected...)
			}
			m, _, err := build(t, dir, opts)
			if tt.wantErr != "" {
				wantErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(m.extraDirs, tt.wantDirs) {
				t.Errorf("extra dirs %q, want %q", m.extraDirs, tt.wantDirs)
			}
			if d, _ := digest(m, "lnk/a"); d != "" && d != sha("a") {
				t.Errorf("lnk/a digest %s, want the target's", d)
			}
			// Compare sees the unfollowed links, whatever the digests.
			if len(tt.wantDirs) > 0 {
				var mm *MismatchError
				if err := Compare(m, m); !errors.As(err, &mm) || !reflect.DeepEqual(mm.ExtraDirs, tt.wantDirs) {
					t.Errorf("Compare = %v, want extra dirs %q", err, tt.wantDirs)
				} else if !strings.Contains(err.Error(), `directory symlink`) {
					t.Errorf("message %q does not say what the entry is", err)
				}
			}
		})
	}
}

func TestWalkDepthBound(t *testing.T) {
	dir := t.TempDir()
	// A chain of links, each listed: lnk0 -> d1, d1/lnk1 -> ../d2, ...
	var expected []string
	prefix := ""
	for i := range maxFollowedLinks + 2 {
		d := filepath.Join(dir, "d"+strconv.Itoa(i+1))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		linkDir := dir
		if i > 0 {
			linkDir = filepath.Join(dir, "d"+strconv.Itoa(i))
		}
		symlink(t, d, filepath.Join(linkDir, "lnk"+strconv.Itoa(i)))
		prefix += "lnk" + strconv.Itoa(i) + "/"
		expected = append(expected, prefix+"f")
	}
	s := Serialization{Method: Files, HashType: SHA256, AllowSymlinks: true}
	_, _, err := build(t, dir, Options{Serialization: s, Expected: expectedOf(s, expected...)})
	wantErr(t, err, "nested directory symlinks")
}

// TestLinkRoot: a Hugging Face snapshot's symlinks must land on regular
// files inside blobs/, whatever allow_symlinks says.
func TestLinkRoot(t *testing.T) {
	setup := func(t *testing.T) (snapshot, blobs string) {
		repo := tree(t, map[string]string{
			"blobs/aaa":              "weights",
			"blobs/bbb":              "config",
			"blobs/sub/ccc":          "nested",
			"other/evil":             "evil",
			"snapshots/rev/":         "",
			"snapshots/rev/real.txt": "a regular file",
		})
		snapshot = filepath.Join(repo, "snapshots", "rev")
		symlink(t, "../../blobs/aaa", filepath.Join(snapshot, "model.safetensors"))
		if err := os.Mkdir(filepath.Join(snapshot, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		symlink(t, "../../../blobs/bbb", filepath.Join(snapshot, "sub", "config.json"))
		return snapshot, filepath.Join(repo, "blobs")
	}
	tests := []struct {
		name    string
		add     func(t *testing.T, snap, blobs string)
		wantErr []string
	}{
		{name: "links into blobs are files"},
		{
			name: "two hops, ending in blobs",
			add: func(t *testing.T, snap, blobs string) {
				symlink(t, "model.safetensors", filepath.Join(snap, "alias"))
			},
		},
		{
			name:    "outside blobs",
			add:     func(t *testing.T, snap, blobs string) { symlink(t, "../../other/evil", filepath.Join(snap, "evil.py")) },
			wantErr: []string{`evil.py" is a symlink (-> "../../other/evil")`, "which is outside", `blobs"`},
		},
		{
			name:    "to blobs itself",
			add:     func(t *testing.T, snap, blobs string) { symlink(t, blobs, filepath.Join(snap, "all")) },
			wantErr: []string{`all" is a symlink`, "outside"},
		},
		{
			name: "to a directory inside blobs",
			add: func(t *testing.T, snap, blobs string) {
				symlink(t, filepath.Join(blobs, "sub"), filepath.Join(snap, "d"))
			},
			wantErr: []string{`d" is a symlink`, "not a regular file (a directory)"},
		},
		{
			name:    "broken",
			add:     func(t *testing.T, snap, blobs string) { symlink(t, "../../blobs/nothere", filepath.Join(snap, "gone")) },
			wantErr: []string{`gone" is a symlink (-> "../../blobs/nothere") that does not resolve`},
		},
		{
			name: "cycle",
			add: func(t *testing.T, snap, blobs string) {
				symlink(t, "loop2", filepath.Join(snap, "loop1"))
				symlink(t, "loop1", filepath.Join(snap, "loop2"))
			},
			wantErr: []string{`loop1" is a symlink (-> "loop2") that does not resolve`},
		},
		{
			name: "fifo in blobs",
			add: func(t *testing.T, snap, blobs string) {
				mkfifo(t, filepath.Join(blobs, "pipe"))
				symlink(t, "../../blobs/pipe", filepath.Join(snap, "p"))
			},
			wantErr: []string{`p" is a symlink`, "not a regular file (a named pipe (FIFO))"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, blobs := setup(t)
			if tt.add != nil {
				tt.add(t, snap, blobs)
			}
			// AllowSymlinks false: LinkRoot decides alone.
			m, _, err := build(t, snap, Options{Serialization: filesSHA, LinkRoot: blobs})
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]string{"model.safetensors": "weights", "sub/config.json": "config", "real.txt": "a regular file"} {
				if got, err := digest(m, name); err != nil || got != sha(want) {
					t.Errorf("%s: %s (%v), want sha256(%q)", name, got, err, want)
				}
			}
			// The same links with --ignore-unsigned-files semantics.
			if _, _, err := build(t, snap, Options{Serialization: filesSHA, LinkRoot: blobs, Only: []string{"model.safetensors", "sub/config.json"}}); err != nil {
				t.Errorf("Only: %v", err)
			}
		})
	}
	// A listed path through a symlinked directory is an error in this mode.
	snap, blobs := setup(t)
	symlink(t, filepath.Join(blobs, "sub"), filepath.Join(snap, "dl"))
	_, _, err := build(t, snap, Options{Serialization: filesSHA, LinkRoot: blobs, Only: []string{"dl/ccc"}})
	wantErr(t, err, `dl" is a symlink`, "not a regular file (a directory)")
}

// TestHashSwappedFile: whatever replaces a walked file before it is opened
// is refused (a different inode), never hashed in its place.
func TestHashSwappedFile(t *testing.T) {
	for _, allow := range []bool{false, true} {
		dir := tree(t, map[string]string{"f": "original", "other": "original"})
		tr, err := Walk(context.Background(), dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256, AllowSymlinks: allow}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "other"), filepath.Join(dir, "f")); err != nil {
			t.Fatal(err)
		}
		_, _, err = tr.Hash(context.Background())
		if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "not the file the walk saw") {
			t.Errorf("allow=%v: %v, want ErrChanged (another file)", allow, err)
		}
	}
}

// TestFileOpener: files are opened relative to their directory, which
// stays open while the next files come from it; symlinks are refused or
// followed as asked, and a failure leaves the opener usable.
func TestFileOpener(t *testing.T) {
	dir := tree(t, map[string]string{"d/a": "da", "d/b": "db", "e/c": "ec", "top": "top"})
	if err := os.Symlink("a", filepath.Join(dir, "d", "link")); err != nil {
		t.Fatal(err)
	}
	loc := location{root: dir, shown: dir}
	o := newFileOpener()
	defer o.close()
	read := func(name string, noFollow bool) (string, error) {
		t.Helper()
		f, err := o.open(loc, name, noFollow)
		if err != nil {
			return "", err
		}
		defer f.close()
		buf := make([]byte, 16)
		n, err := f.pread(buf, 0)
		return string(buf[:n]), err
	}
	for _, tc := range []struct {
		name     string
		noFollow bool
		want     string
		dir      string // the directory kept open afterwards
		err      error
	}{
		{"d/a", true, "da", "d", nil},
		{"d/b", true, "db", "d", nil},
		{"e/c", true, "ec", "e", nil},
		{"top", true, "top", ".", nil},
		{"d/link", true, "", "d", syscall.ELOOP},
		{"d/link", false, "da", "d", nil},
		{"gone/x", true, "", "", syscall.ENOENT},
		{"d/gone", true, "", "d", syscall.ENOENT},
		{"d/a", true, "da", "d", nil},
	} {
		got, err := read(tc.name, tc.noFollow)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.dir != "" && o.dir != tc.dir) || (tc.dir == "") != (o.fd < 0) {
			t.Errorf("open %q (noFollow %v) = %q, %v with %q open; want %q, %v with %q open", tc.name, tc.noFollow, got, err, o.dir, tc.want, tc.err, tc.dir)
		}
	}
	// A single-file model: "." is the root itself.
	single := filepath.Join(dir, "top")
	f, err := o.open(location{root: single, shown: single}, ".", false)
	if err != nil {
		t.Fatalf("single file: %v", err)
	}
	f.close()
}

// TestWalkParallel: a wide tree walked by several goroutines lists exactly
// what one goroutine lists; an error anywhere in it (a FIFO, a symlink
// where none are allowed, a cycle through an allowed link) is reported
// whichever goroutine meets it, and no goroutine is left running.
func TestWalkParallel(t *testing.T) {
	wide := func(t *testing.T) string {
		files := map[string]string{}
		for i := range forkMinEntries + 8 {
			for j := range 3 {
				files[fmt.Sprintf("d%02d/f%d", i, j)] = "x"
				files[fmt.Sprintf("d%02d/sub/g%d", i, j)] = "y"
			}
			files[fmt.Sprintf("top%02d", i)] = "z"
		}
		return tree(t, files)
	}
	names := func(tr *Tree) []string {
		var out []string
		for _, f := range tr.files {
			out = append(out, f.name)
		}
		sort.Strings(out)
		return out
	}
	dir := wide(t)
	one, err := Walk(context.Background(), dir, Options{Serialization: filesSHA, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{2, 4, 16} {
		many, err := Walk(context.Background(), dir, Options{Serialization: filesSHA, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(many), names(one); !reflect.DeepEqual(got, want) || len(got) != (forkMinEntries+8)*7 {
			t.Errorf("%d workers listed %d files, one worker %d", workers, len(got), len(want))
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		allow bool
		want  string
	}{
		{"a FIFO deep in a subtree", func(t *testing.T, dir string) { mkfifo(t, filepath.Join(dir, "d07", "sub", "fifo")) }, false, `d07/sub/fifo" is not a regular file or directory (a named pipe (FIFO))`},
		{"a symlink deep in a subtree", func(t *testing.T, dir string) { symlink(t, "g0", filepath.Join(dir, "d31", "sub", "lnk")) }, false, `d31/sub/lnk" ` + errSymlink},
		{"a link to an ancestor", func(t *testing.T, dir string) { symlink(t, "..", filepath.Join(dir, "d20", "sub", "up")) }, true, `d20/sub/up" is a symlink to a directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			dir := wide(t)
			tc.setup(t, dir)
			_, err := Walk(context.Background(), dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256, AllowSymlinks: tc.allow}, Workers: 4})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
