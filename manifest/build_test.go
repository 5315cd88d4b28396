//go:build unix

package manifest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/shareddata"
)

var (
	filesSHA  = Serialization{Method: Files, HashType: SHA256}
	shards8   = Serialization{Method: Shards, HashType: SHA256, ShardSize: 8}
	emptySHA  = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	f00       = "This is file f00 in d0." // format spec §4.4
	errAbsent = errors.New("no such resource")
)

// tree creates the files under a fresh directory: path → content, with
// parent directories made as needed; a path ending in "/" is an empty
// directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

// build runs Build with a hang guard: no input may block the hasher.
func build(t *testing.T, dir string, opts Options) (*Manifest, Stats, error) {
	t.Helper()
	type result struct {
		m   *Manifest
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, st, err := Build(context.Background(), dir, opts)
		done <- result{m, st, err}
	}()
	select {
	case r := <-done:
		return r.m, r.st, r.err
	case <-time.After(30 * time.Second):
		t.Fatalf("Build(%q) hung", dir)
		return nil, Stats{}, nil
	}
}

func mustBuild(t *testing.T, dir string, opts Options) *Manifest {
	t.Helper()
	m, _, err := build(t, dir, opts)
	if err != nil {
		t.Fatalf("Build(%q): %v", dir, err)
	}
	return m
}

func names(m *Manifest) []string {
	out := []string{}
	for _, r := range m.Resources {
		out = append(out, r.Name())
	}
	return out
}

func digest(m *Manifest, name string) (string, error) {
	for _, r := range m.Resources {
		if r.Name() == name {
			return hex.EncodeToString(r.Digest), nil
		}
	}
	return "", errAbsent
}

func sha(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// wantErr checks that err is non-nil and mentions every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

func TestBuildShardExample(t *testing.T) {
	dir := tree(t, map[string]string{"d0/f00": f00})
	m := mustBuild(t, dir, Options{Serialization: shards8})
	want := map[string]string{
		"d0/f00:0:8":   "a37010c994067764d86540bf479d93b4d0c3bb3955de7b61f951caf2fd0301b0",
		"d0/f00:8:16":  sha(f00[8:16]),
		"d0/f00:16:23": sha(f00[16:23]),
	}
	if got := names(m); !reflect.DeepEqual(got, []string{"d0/f00:0:8", "d0/f00:16:23", "d0/f00:8:16"}) {
		t.Errorf("names = %q, want plain byte order of the full names", got)
	}
	for name, d := range want {
		if got, err := digest(m, name); err != nil || got != d {
			t.Errorf("%s: digest %s (%v), want %s", name, got, err, d)
		}
	}
	for _, r := range m.Resources {
		if !r.Shard || r.Path != "d0/f00" {
			t.Errorf("resource %+v: want a shard of d0/f00", r)
		}
	}
}

func TestBuildEmptyFileDigests(t *testing.T) {
	tests := []struct {
		h    HashType
		want string
	}{
		{SHA256, emptySHA},
		{BLAKE2b, "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"},
		{BLAKE3, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
	}
	for _, tt := range tests {
		dir := tree(t, map[string]string{"empty": ""})
		m := mustBuild(t, dir, Options{Serialization: Serialization{Method: Files, HashType: tt.h}})
		if got, err := digest(m, "empty"); err != nil || got != tt.want {
			t.Errorf("%s of empty file = %s (%v), want %s", tt.h, got, err, tt.want)
		}
		if m.Serialization.HashType != tt.h {
			t.Errorf("manifest hash type %q, want %q", m.Serialization.HashType, tt.h)
		}
	}
}

// TestBuildMethods covers files vs shards, empty files, nested folders,
// and odd names, checking names, digests, order and stats.
func TestBuildMethods(t *testing.T) {
	files := map[string]string{
		"a/b":          "ab",
		"a-b":          "a-b",
		"a.b":          "a.b",
		"B":            "upper",
		"empty":        "",
		"deep/x/y/z/w": "deep",
		"sp ace":       "space",
		"colon:1:2":    "colon",
		"new\nline":    "newline",
		"ünï/cødé":     "unicode",
		".hidden":      ".h",
		"d/.dot/e":     "e",
		"emptydir/":    "",
		"long":         strings.Repeat("x", 20),
	}
	dir := tree(t, files)
	tests := []struct {
		name  string
		s     Serialization
		want  []string
		stats Stats
	}{
		{
			"files", filesSHA,
			[]string{".hidden", "B", "a-b", "a.b", "a/b", "colon:1:2", "d/.dot/e", "deep/x/y/z/w", "empty", "long", "new\nline", "sp ace", "ünï/cødé"},
			Stats{Files: 13, Bytes: 2 + 3 + 3 + 5 + 4 + 5 + 5 + 7 + 7 + 2 + 1 + 20},
		},
		{
			"shards", shards8,
			[]string{".hidden:0:2", "B:0:5", "a-b:0:3", "a.b:0:3", "a/b:0:2", "colon:1:2:0:5", "d/.dot/e:0:1", "deep/x/y/z/w:0:4", "long:0:8", "long:16:20", "long:8:16", "new\nline:0:7", "sp ace:0:5", "ünï/cødé:0:7"},
			Stats{Files: 12, Bytes: 2 + 3 + 3 + 5 + 4 + 5 + 5 + 7 + 7 + 2 + 1 + 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st, err := build(t, dir, Options{Serialization: tt.s})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names\n got %q\nwant %q", got, tt.want)
			}
			if st != tt.stats {
				t.Errorf("stats %+v, want %+v", st, tt.stats)
			}
			for _, r := range m.Resources {
				content := files[r.Path]
				if r.Shard {
					content = content[r.Start:r.End]
				}
				if got := hex.EncodeToString(r.Digest); got != sha(content) {
					t.Errorf("%q: digest %s, want %s", r.Name(), got, sha(content))
				}
			}
			if m.Serialization != tt.s {
				t.Errorf("serialization %+v, want %+v", m.Serialization, tt.s)
			}
		})
	}
}

func TestBuildSingleFile(t *testing.T) {
	dir := tree(t, map[string]string{"model.bin": f00, "empty.bin": "", "other": "x"})
	link := filepath.Join(t.TempDir(), "link.bin")
	symlink(t, filepath.Join(dir, "model.bin"), link)
	tests := []struct {
		name string
		path string
		opts Options
		want []string
	}{
		{"files", filepath.Join(dir, "model.bin"), Options{Serialization: filesSHA}, []string{"."}},
		{"shards", filepath.Join(dir, "model.bin"), Options{Serialization: shards8}, []string{".:0:8", ".:16:23", ".:8:16"}},
		{"empty file, files", filepath.Join(dir, "empty.bin"), Options{Serialization: filesSHA}, []string{"."}},
		{"empty file, shards", filepath.Join(dir, "empty.bin"), Options{Serialization: shards8}, []string{}},
		{"root symlink followed", link, Options{Serialization: filesSHA}, []string{"."}},
		{"ignore paths irrelevant", filepath.Join(dir, "model.bin"),
			Options{Serialization: filesSHA, IgnoreGitPaths: true, IgnorePaths: []string{filepath.Join(dir, "model.bin"), "."}}, []string{"."}},
		{"only dot", filepath.Join(dir, "model.bin"), Options{Serialization: filesSHA, Only: []string{"."}}, []string{"."}},
		{"only other", filepath.Join(dir, "model.bin"), Options{Serialization: filesSHA, Only: []string{"other"}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustBuild(t, tt.path, tt.opts)
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names %q, want %q", got, tt.want)
			}
			if len(m.IgnorePaths) != 0 {
				t.Errorf("IgnorePaths %q, want none for a single-file model", m.IgnorePaths)
			}
			if got, err := digest(m, "."); err == nil && tt.opts.Method == Files &&
				got != sha(f00) && !strings.HasPrefix(tt.name, "empty") {
				t.Errorf("digest %s, want %s", got, sha(f00))
			}
		})
	}
	_, _, err := build(t, filepath.Join(dir, "model.bin"), Options{Serialization: filesSHA, Only: []string{"../x"}})
	wantErr(t, err, `"../x"`, "not a clean path")
}

func TestBuildEmptyModel(t *testing.T) {
	for _, s := range []Serialization{filesSHA, shards8} {
		dir := tree(t, map[string]string{"sub/": "", "sub/deeper/": ""})
		m, st, err := build(t, dir, Options{Serialization: s})
		if err != nil {
			t.Fatal(err)
		}
		if m.Resources == nil || len(m.Resources) != 0 || st != (Stats{}) {
			t.Errorf("%s: resources %v (nil %v), stats %+v; want an empty non-nil list", s.Method, m.Resources, m.Resources == nil, st)
		}
		if d := m.SubjectDigest(); hex.EncodeToString(d[:]) != emptySHA {
			t.Errorf("subject %x, want %s", d, emptySHA)
		}
	}
}

func TestBuildGitPaths(t *testing.T) {
	files := map[string]string{
		".git/config":       "c",
		".git/objects/x":    "o",
		".gitattributes":    "a",
		".github/workflows": "w",
		".gitignore":        "i",
		".gitmodules":       "m", // not a git path: model_signing adds no extra defaults
		".git2":             "g",
		"sub/.gitignore":    "s",
		"sub/.git/config":   "s",
		"w":                 "w",
	}
	dir := tree(t, files)
	tests := []struct {
		git         bool
		want        []string
		wantIgnored []string
	}{
		{true, []string{".git2", ".gitmodules", "sub/.git/config", "sub/.gitignore", "w"}, []string{".git", ".gitattributes", ".github", ".gitignore"}},
		{false, []string{".git/config", ".git/objects/x", ".git2", ".gitattributes", ".github/workflows", ".gitignore", ".gitmodules", "sub/.git/config", "sub/.gitignore", "w"}, []string{}},
	}
	for _, tt := range tests {
		m := mustBuild(t, dir, Options{Serialization: filesSHA, IgnoreGitPaths: tt.git})
		if got := names(m); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("git=%v: names\n got %q\nwant %q", tt.git, got, tt.want)
		}
		if !reflect.DeepEqual(m.IgnorePaths, tt.wantIgnored) {
			t.Errorf("git=%v: IgnorePaths %q, want %q", tt.git, m.IgnorePaths, tt.wantIgnored)
		}
	}
}

func TestBuildIgnorePaths(t *testing.T) {
	files := map[string]string{
		"foo":        "1",
		"foobar":     "2",
		"dir/foo":    "3",
		"dir/x/y":    "4",
		"dir/xy":     "5",
		"keep":       "6",
		"model.sig":  "7",
		"a b/c:d":    "8",
		"trail/z":    "9",
		"trail2/one": "10",
	}
	dir := tree(t, files)
	outside := tree(t, map[string]string{"foo": "x"})
	linkRoot := filepath.Join(t.TempDir(), "modellink")
	symlink(t, dir, linkRoot)
	all := []string{"a b/c:d", "dir/foo", "dir/x/y", "dir/xy", "foo", "foobar", "keep", "model.sig", "trail/z", "trail2/one"}
	without := func(drop ...string) []string {
		var out []string
	next:
		for _, n := range all {
			for _, d := range drop {
				if n == d {
					continue next
				}
			}
			out = append(out, n)
		}
		return out
	}
	tests := []struct {
		name        string
		model       string
		ignore      []string
		want        []string
		wantIgnored []string
	}{
		{"relative file by component", dir, []string{"foo"}, without("foo"), []string{"foo"}},
		{"relative dir", dir, []string{"dir/x"}, without("dir/x/y"), []string{"dir/x"}},
		{"dir ignores everything under it", dir, []string{"dir"}, without("dir/foo", "dir/x/y", "dir/xy"), []string{"dir"}},
		{"absolute", dir, []string{filepath.Join(dir, "model.sig")}, without("model.sig"), []string{"model.sig"}},
		{"trailing slash", dir, []string{"trail/", filepath.Join(dir, "trail2") + "/"}, without("trail/z", "trail2/one"), []string{"trail", "trail2"}},
		{"dot segments", dir, []string{"./dir/../keep", "dir/./xy"}, without("keep", "dir/xy"), []string{"dir/xy", "keep"}},
		{"space and colon", dir, []string{"a b/c:d"}, without("a b/c:d"), []string{"a b/c:d"}},
		{"non-existent kept", dir, []string{"nothere", "dir/ghost/x"}, all, []string{"dir/ghost/x", "nothere"}},
		{"outside dropped", dir, []string{filepath.Join(outside, "foo"), "../foo", "/"}, all, []string{}},
		{"model root dropped", dir, []string{".", dir, dir + "/", "dir/.."}, all, []string{}},
		{"through symlinked model root", linkRoot, []string{filepath.Join(linkRoot, "foo"), filepath.Join(dir, "keep")}, without("foo", "keep"), []string{"foo", "keep"}},
		{"relative through symlinked root", linkRoot, []string{"dir/foo"}, without("dir/foo"), []string{"dir/foo"}},
		{"duplicates merged", dir, []string{"foo", "./foo", "foo/"}, without("foo"), []string{"foo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustBuild(t, tt.model, Options{Serialization: filesSHA, IgnorePaths: tt.ignore})
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(m.IgnorePaths, tt.wantIgnored) {
				t.Errorf("IgnorePaths %q, want %q", m.IgnorePaths, tt.wantIgnored)
			}
		})
	}
}

// TestBuildIgnoreIsLexical: ignore paths are names inside the model. A
// symlink inside the model is never resolved, so ".." after a link is
// lexical and naming a link (or a path through one) ignores that name
// only, never what it points at; symlinks outside the model (a symlinked
// model root, an alias of it) are followed up to the root.
func TestBuildIgnoreIsLexical(t *testing.T) {
	dir := tree(t, map[string]string{"real/w": "w", "real/v": "v", "u": "u", "real/deep/z": "z", "keep": "k", "target": "t"})
	symlink(t, "real/deep", filepath.Join(dir, "inlink"))
	symlink(t, "target", filepath.Join(dir, "link"))
	symlink(t, ".", filepath.Join(dir, "self"))
	elsewhere := t.TempDir()
	symlink(t, dir, filepath.Join(elsewhere, "rootalias"))
	symlink(t, filepath.Join(dir, "real"), filepath.Join(elsewhere, "intoreal"))
	allow := Serialization{Method: Files, HashType: SHA256, AllowSymlinks: true}
	all := []string{"keep", "link", "real/deep/z", "real/v", "real/w", "target", "u"}
	tests := []struct {
		name        string
		ignore      []string
		want        []string
		wantIgnored []string
	}{
		{"link name only, never its target", []string{"link"}, []string{"keep", "real/deep/z", "real/v", "real/w", "target", "u"}, []string{"link"}},
		{"dotdot after a link is lexical", []string{"inlink/../u"}, []string{"keep", "link", "real/deep/z", "real/v", "real/w", "target"}, []string{"u"}},
		{"path through a directory link names the link's subtree", []string{"inlink/z", "self/keep"}, all, []string{"inlink/z", "self/keep"}},
		{"absolute through an alias of the root", []string{filepath.Join(elsewhere, "rootalias", "keep")}, []string{"link", "real/deep/z", "real/v", "real/w", "target", "u"}, []string{"keep"}},
		{"absolute alias then dotdot", []string{filepath.Join(elsewhere, "rootalias") + "/real/../u"}, []string{"keep", "link", "real/deep/z", "real/v", "real/w", "target"}, []string{"u"}},
		{"outside link into the model resolves through the root", []string{filepath.Join(elsewhere, "intoreal", "w")}, []string{"keep", "link", "real/deep/z", "real/v", "target", "u"}, []string{"real/w"}},
		{"absolute naming the root is dropped", []string{filepath.Join(elsewhere, "rootalias"), filepath.Join(dir, "self") + "/.."}, all, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustBuild(t, dir, Options{Serialization: allow, IgnorePaths: append(tt.ignore, "self", "inlink")})
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names %q, want %q", got, tt.want)
			}
			wantIgnored := slices.Sorted(slices.Values(append(tt.wantIgnored, "self", "inlink")))
			if !reflect.DeepEqual(m.IgnorePaths, wantIgnored) {
				t.Errorf("IgnorePaths %q, want %q", m.IgnorePaths, wantIgnored)
			}
		})
	}
}

func TestBuildSymlinks(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := tree(t, map[string]string{"real": "content", "sub/inner": "inner"})
		return dir
	}
	tests := []struct {
		name    string
		link    func(t *testing.T, dir string)
		allow   bool
		ignore  []string
		want    []string
		wantErr []string
	}{
		{
			name:    "file link refused",
			link:    func(t *testing.T, dir string) { symlink(t, "real", filepath.Join(dir, "lnk")) },
			wantErr: []string{`lnk" is a symlink`, "--allow-symlinks"},
		},
		{
			name:  "file link hashed by target content",
			link:  func(t *testing.T, dir string) { symlink(t, "real", filepath.Join(dir, "lnk")) },
			allow: true,
			want:  []string{"lnk", "real", "sub/inner"},
		},
		{
			name:    "dir link refused when signing",
			link:    func(t *testing.T, dir string) { symlink(t, "sub", filepath.Join(dir, "dirlink")) },
			allow:   true,
			wantErr: []string{`dirlink" is a symlink to a directory (-> "sub")`, "--ignore-paths"},
		},
		{
			name:    "link loop",
			link:    func(t *testing.T, dir string) { symlink(t, "loop", filepath.Join(dir, "loop")) },
			allow:   true,
			wantErr: []string{`loop" is a symlink loop`},
		},
		{
			name:    "dir link refused without allow",
			link:    func(t *testing.T, dir string) { symlink(t, "sub", filepath.Join(dir, "dirlink")) },
			wantErr: []string{`dirlink" is a symlink`},
		},
		{
			name:    "broken link",
			link:    func(t *testing.T, dir string) { symlink(t, "nowhere", filepath.Join(dir, "broken")) },
			allow:   true,
			wantErr: []string{`broken" is a broken symlink`},
		},
		{
			name:   "ignored link is no error",
			link:   func(t *testing.T, dir string) { symlink(t, "nowhere", filepath.Join(dir, "sub", "broken")) },
			ignore: []string{"sub/broken"},
			want:   []string{"real", "sub/inner"},
		},
		{
			name:   "link in ignored dir is no error",
			link:   func(t *testing.T, dir string) { symlink(t, "../real", filepath.Join(dir, "sub", "lnk")) },
			ignore: []string{"sub"},
			want:   []string{"real"},
		},
		{
			name: "link to a file outside the model",
			link: func(t *testing.T, dir string) {
				out := tree(t, map[string]string{"o": "outside"})
				symlink(t, filepath.Join(out, "o"), filepath.Join(dir, "out"))
			},
			allow: true,
			want:  []string{"out", "real", "sub/inner"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := setup(t)
			tt.link(t, dir)
			m, _, err := build(t, dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256, AllowSymlinks: tt.allow}, IgnorePaths: tt.ignore})
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names %q, want %q", got, tt.want)
			}
			if d, _ := digest(m, "lnk"); d != "" && d != sha("content") {
				t.Errorf("lnk digest %s, want the target's %s", d, sha("content"))
			}
		})
	}
}

func TestBuildSymlinkedModelRoot(t *testing.T) {
	dir := tree(t, map[string]string{"w": "w"})
	link := filepath.Join(t.TempDir(), "model")
	symlink(t, dir, link)
	m := mustBuild(t, link, Options{Serialization: filesSHA}) // AllowSymlinks false: the root is followed anyway
	if got := names(m); !reflect.DeepEqual(got, []string{"w"}) {
		t.Errorf("names %q, want [w]", got)
	}
}

func TestBuildSpecialFiles(t *testing.T) {
	dir := tree(t, map[string]string{"w": "w"})
	mkfifo(t, filepath.Join(dir, "pipe"))
	for _, allow := range []bool{false, true} {
		_, _, err := build(t, dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256, AllowSymlinks: allow}})
		wantErr(t, err, `pipe" is not a regular file`, "named pipe")
	}
	// A FIFO named as the model is refused too, without blocking.
	_, _, err := build(t, filepath.Join(dir, "pipe"), Options{Serialization: filesSHA})
	wantErr(t, err, "not a regular file or directory")
	// Ignored, it is no error.
	m := mustBuild(t, dir, Options{Serialization: filesSHA, IgnorePaths: []string{"pipe"}})
	if got := names(m); !reflect.DeepEqual(got, []string{"w"}) {
		t.Errorf("names %q, want [w]", got)
	}
	// A symlink to a FIFO is refused as well.
	symlink(t, "pipe", filepath.Join(dir, "pipelink"))
	_, _, err = build(t, dir, Options{Serialization: Serialization{Method: Files, HashType: SHA256, AllowSymlinks: true}, IgnorePaths: []string{"pipe"}})
	wantErr(t, err, `pipelink" is not a regular file`)
}

func TestBuildMissingModel(t *testing.T) {
	_, _, err := build(t, filepath.Join(t.TempDir(), "nope"), Options{Serialization: filesSHA})
	wantErr(t, err, "nope", "no such file")
	_, _, err = build(t, "", Options{Serialization: filesSHA})
	wantErr(t, err, "empty")
}

func TestBuildBadOptions(t *testing.T) {
	dir := tree(t, map[string]string{"w": "w"})
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Serialization: Serialization{Method: Files, HashType: "md5"}}, "unknown hash type"},
		{Options{Serialization: Serialization{Method: Shards, HashType: SHA256}}, "must be positive"},
		{Options{Serialization: filesSHA, Workers: -1}, "workers"},
	}
	for _, tt := range tests {
		_, _, err := build(t, dir, tt.opts)
		wantErr(t, err, tt.want)
	}
}

func TestBuildOnly(t *testing.T) {
	files := map[string]string{"a": "a", "sub/b": "b", "sub/c": "c", "ign/d": "d", "empty": ""}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		only    []string
		allow   bool
		ignore  []string
		s       Serialization
		want    []string
		wantErr []string
	}{
		{name: "subset", only: []string{"a", "sub/c"}, want: []string{"a", "sub/c"}},
		{name: "empty list hashes nothing", only: []string{}, want: []string{}},
		{name: "missing gives no resource", only: []string{"a", "gone", "sub/gone", "a/under-a-file"}, want: []string{"a"}},
		{name: "duplicates once", only: []string{"a", "a", "sub/b"}, s: shards8, want: []string{"a:0:1", "sub/b:0:1"}},
		{name: "empty file in shards", only: []string{"empty"}, s: shards8, want: []string{}},
		{name: "ignore still applies", only: []string{"a", "ign/d"}, ignore: []string{"ign"}, want: []string{"a"}},
		{name: "dotdot", only: []string{"../a"}, wantErr: []string{`"../a"`, "not a clean path"}},
		{name: "dotdot inside", only: []string{"sub/../a"}, wantErr: []string{`"sub/../a"`}},
		{name: "bare dotdot", only: []string{".."}, wantErr: []string{`".."`}},
		{name: "absolute", only: []string{"/etc/passwd"}, wantErr: []string{`"/etc/passwd"`}},
		{name: "not clean", only: []string{"sub//b"}, wantErr: []string{`"sub//b"`}},
		{name: "dot slash", only: []string{"./a"}, wantErr: []string{`"./a"`}},
		{name: "empty name", only: []string{""}, wantErr: []string{`""`}},
		{name: "directory", only: []string{"sub"}, wantErr: []string{`sub" is a directory`}},
		{name: "root", only: []string{"."}, wantErr: []string{"is a directory"}},
		{
			name:  "listed file under a symlinked dir is followed",
			setup: func(t *testing.T, dir string) { symlink(t, "sub", filepath.Join(dir, "sublink")) },
			only:  []string{"sublink/b"}, allow: true, want: []string{"sublink/b"},
		},
		{
			name:    "listed file under a symlinked dir, symlinks not allowed",
			setup:   func(t *testing.T, dir string) { symlink(t, "sub", filepath.Join(dir, "sublink")) },
			only:    []string{"sublink/b"},
			wantErr: []string{`sublink" is a symlink`},
		},
		{
			name:    "listed file symlink refused",
			setup:   func(t *testing.T, dir string) { symlink(t, "a", filepath.Join(dir, "alink")) },
			only:    []string{"alink"},
			wantErr: []string{`alink" is a symlink`},
		},
		{
			name:  "listed file symlink allowed",
			setup: func(t *testing.T, dir string) { symlink(t, "a", filepath.Join(dir, "alink")) },
			only:  []string{"alink"}, allow: true, want: []string{"alink"},
		},
		{
			name:  "listed dir symlink",
			setup: func(t *testing.T, dir string) { symlink(t, "sub", filepath.Join(dir, "sublink")) },
			only:  []string{"sublink"}, allow: true,
			wantErr: []string{`sublink" is a symlink to a directory`},
		},
		{
			name:  "listed broken symlink",
			setup: func(t *testing.T, dir string) { symlink(t, "nowhere", filepath.Join(dir, "broken")) },
			only:  []string{"broken"}, allow: true,
			wantErr: []string{`broken" is a broken symlink`},
		},
		{
			name:    "listed fifo",
			setup:   func(t *testing.T, dir string) { mkfifo(t, filepath.Join(dir, "pipe")) },
			only:    []string{"pipe"},
			wantErr: []string{`pipe" is not a regular file`},
		},
		{
			name: "unlisted fifo and symlink are not looked at",
			setup: func(t *testing.T, dir string) {
				mkfifo(t, filepath.Join(dir, "pipe"))
				symlink(t, "a", filepath.Join(dir, "alink"))
			},
			only: []string{"a"}, want: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t, files)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			s := tt.s
			if s.Method == "" {
				s = filesSHA
			}
			s.AllowSymlinks = tt.allow
			m, _, err := build(t, dir, Options{Serialization: s, Only: tt.only, IgnorePaths: tt.ignore})
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	dir := tree(t, map[string]string{"a": "a", "b": strings.Repeat("b", 3*chunkSize)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Build(ctx, dir, Options{Serialization: filesSHA})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build with a cancelled context: %v, want context.Canceled", err)
	}
	// The error says why, for the reasons and logs that show it: the
	// cause (the command line's signal), or "interrupted".
	if err.Error() != "interrupted" {
		t.Errorf("Build with a cancelled context: %q, want \"interrupted\"", err)
	}
	sigterm := errors.New("interrupted (SIGTERM)")
	caused, cancelCause := context.WithCancelCause(context.Background())
	cancelCause(sigterm)
	if _, _, err := Build(caused, dir, Options{Serialization: filesSHA}); !errors.Is(err, context.Canceled) || !errors.Is(err, sigterm) || err.Error() != sigterm.Error() {
		t.Errorf("Build cancelled with a cause: %v, want %q", err, sigterm)
	}
	// Cancellation is seen between chunks of one file, too.
	tr, err := Walk(context.Background(), dir, Options{Serialization: filesSHA})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	w := &hasher{loc: tr.loc, opts: &tr.opts, stop: &stop, ctx: ctx, done: ctx.Done(), h: newHash(SHA256), buf: make([]byte, chunkSize)}
	for i := range tr.files {
		if tr.files[i].name != "b" {
			continue
		}
		n, err := w.item(&work{file: &tr.files[i], end: tr.files[i].info.size}, nil)
		if !errors.Is(err, context.Canceled) || err.Error() != "interrupted" || n != 0 {
			t.Errorf("hashing a file with a cancelled context: %d bytes, %v", n, err)
		}
	}
}

// TestBuildFileChanged changes files between the walk and the hashing.
func TestBuildFileChanged(t *testing.T) {
	tests := []struct {
		name   string
		s      Serialization
		change func(t *testing.T, p string)
		want   []string
	}{
		{"truncated, files", filesSHA, func(t *testing.T, p string) { os.Truncate(p, 3) }, []string{"changed while it was being hashed", "size 3"}},
		{"grown, shards", shards8, func(t *testing.T, p string) { os.WriteFile(p, []byte(f00+"more"), 0o644) }, []string{"changed"}},
		{"truncated, shards", shards8, func(t *testing.T, p string) { os.Truncate(p, 0) }, []string{"changed"}},
		{
			"swapped for a symlink", filesSHA,
			func(t *testing.T, p string) {
				other := p + ".other"
				os.WriteFile(other, []byte(f00), 0o644)
				os.Remove(p)
				symlink(t, other, p)
			},
			[]string{"is a symlink"},
		},
		{
			"swapped for a fifo", filesSHA,
			func(t *testing.T, p string) { os.Remove(p); mkfifo(t, p) },
			[]string{"not a regular file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t, map[string]string{"f": f00})
			tr, err := list(context.Background(), dir, Options{Serialization: tt.s})
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, filepath.Join(dir, "f"))
			done := make(chan error, 1)
			go func() {
				_, _, err := tr.Hash(context.Background())
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("hashing hung")
			}
			wantErr(t, err, append([]string{`"` + filepath.Join(dir, "f") + `"`}, tt.want...)...)
			if tt.name != "swapped for a symlink" && tt.name != "swapped for a fifo" && !errors.Is(err, ErrChanged) {
				t.Errorf("error %v does not wrap ErrChanged", err)
			}
		})
	}
}

// TestHashRangeShortRead is the shard-level check: a range beyond the end
// of the file is an error, not a digest of fewer bytes.
func TestHashRangeShortRead(t *testing.T) {
	dir := tree(t, map[string]string{"f": f00})
	f, err := openFile(filepath.Join(dir, "f"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	var stop atomic.Bool
	w := &hasher{opts: &Options{Serialization: shards8}, stop: &stop, ctx: context.Background(), h: newHash(SHA256), buf: make([]byte, 4)}
	n, err := w.hashRange(f, 16, 30, false)
	if !errors.Is(err, ErrChanged) || n != 7 {
		t.Errorf("hashRange past EOF: %d bytes, %v; want 7 bytes and ErrChanged", n, err)
	}
	// A file longer than listed is noticed by the read that asks for one
	// byte more than remains.
	w.h.Reset()
	n, err = w.hashRange(f, 0, 20, true)
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("hashRange of a grown file: %d bytes, %v; want ErrChanged", n, err)
	}
}

// TestBuildWorkers checks that the result does not depend on the number of
// workers or on shard scheduling.
func TestBuildWorkers(t *testing.T) {
	files := map[string]string{}
	for i := range 50 {
		files[string(rune('a'+i%26))+"/"+strings.Repeat("n", i+1)] = strings.Repeat(string(rune('0'+i%10)), i*37)
	}
	dir := tree(t, files)
	for _, s := range []Serialization{filesSHA, {Method: Shards, HashType: BLAKE2b, ShardSize: 100}, {Method: Files, HashType: BLAKE3}} {
		ref := mustBuild(t, dir, Options{Serialization: s, Workers: 1})
		for _, w := range []int{0, 2, 7, 100} {
			m := mustBuild(t, dir, Options{Serialization: s, Workers: w})
			if !reflect.DeepEqual(m, ref) {
				t.Errorf("%s/%s with %d workers differs from 1 worker", s.Method, s.HashType, w)
			}
		}
	}
}

func TestBuildUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	dir := tree(t, map[string]string{"secret": "s", "locked/x": "x"})
	os.Chmod(filepath.Join(dir, "secret"), 0)
	_, _, err := build(t, dir, Options{Serialization: filesSHA, IgnorePaths: []string{"locked"}})
	wantErr(t, err, `secret"`, "permission denied")
	os.Chmod(filepath.Join(dir, "locked"), 0)
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o755) })
	_, _, err = build(t, dir, Options{Serialization: filesSHA, IgnorePaths: []string{"secret"}})
	wantErr(t, err, `locked"`, "permission denied")
}

// TestBuildSharedVector checks Build against a model signed by the Python
// model_signing library (format spec §9, v1.1.0-elliptic-key).
func TestBuildSharedVector(t *testing.T) {
	dir := shareddata.Path(t, "model-signing", "v1.1.0-elliptic-key")
	raw, err := os.ReadFile(filepath.Join(dir, "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		DSSEEnvelope struct{ Payload string } `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(bundle.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Subject   []struct{ Digest struct{ SHA256 string } }
		Predicate struct {
			Resources []struct{ Name, Algorithm, Digest string }
		}
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	expected := &Manifest{Serialization: filesSHA}
	for _, r := range st.Predicate.Resources {
		d, err := hex.DecodeString(r.Digest)
		if err != nil {
			t.Fatal(err)
		}
		expected.Resources = append(expected.Resources, Resource{Path: r.Name, Digest: d})
	}
	for _, absolute := range []bool{false, true} {
		ignore := []string{"ignore-me", "model.sig"}
		if absolute {
			ignore = []string{filepath.Join(dir, "ignore-me"), filepath.Join(dir, "model.sig")}
		}
		m := mustBuild(t, dir, Options{Serialization: filesSHA, IgnorePaths: ignore, IgnoreGitPaths: true})
		if err := Compare(expected, m); err != nil {
			t.Errorf("Compare with the signed manifest: %v", err)
		}
		for name, want := range map[string]string{
			"signme-1": "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc",
			"signme-2": "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028",
		} {
			if got, err := digest(m, name); err != nil || got != want {
				t.Errorf("%s: %s (%v), want %s", name, got, err, want)
			}
		}
		subject := m.SubjectDigest()
		if got := hex.EncodeToString(subject[:]); len(st.Subject) != 1 || got != st.Subject[0].Digest.SHA256 ||
			got != "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4" {
			t.Errorf("subject digest %s, signed %+v", got, st.Subject)
		}
		if want := []string{".git", ".gitattributes", ".github", ".gitignore", "ignore-me", "model.sig"}; !reflect.DeepEqual(m.IgnorePaths, want) {
			t.Errorf("IgnorePaths %q, want %q", m.IgnorePaths, want)
		}
	}

	// Tampering (on a copy: the shared data is read-only) is detected.
	cp := t.TempDir()
	for _, n := range []string{"signme-1", "signme-2", "ignore-me"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(cp, "signme-2"), []byte("tampered"), 0o644)
	m := mustBuild(t, cp, Options{Serialization: filesSHA, IgnorePaths: []string{"ignore-me"}, IgnoreGitPaths: true})
	var mm *MismatchError
	if err := Compare(expected, m); !errors.As(err, &mm) || len(mm.Changed) != 1 || mm.Changed[0].Name != "signme-2" {
		t.Errorf("tampered copy: %v, want signme-2 changed", err)
	}
}

// TestPlan: items of a batch's size or more come first, biggest first;
// smaller ones keep the walk's order (a directory's files together).
func TestPlan(t *testing.T) {
	const mid = 2 * batchBytes
	files := []fileEntry{{name: "a", info: fileInfo{size: 23}}, {name: "empty"}, {name: "b", info: fileInfo{size: 8}},
		{name: "mid", info: fileInfo{size: mid}}, {name: "huge", info: fileInfo{size: math.MaxInt64}}}
	type item struct {
		name       string
		start, end int64
	}
	tests := []struct {
		s    Serialization
		want []item
	}{
		{filesSHA, []item{{"huge", 0, math.MaxInt64}, {"mid", 0, mid}, {"a", 0, 23}, {"empty", 0, 0}, {"b", 0, 8}}},
		{
			Serialization{Method: Shards, HashType: SHA256, ShardSize: math.MaxInt64 / 2},
			[]item{{"huge", 0, math.MaxInt64 / 2}, {"huge", math.MaxInt64 / 2, math.MaxInt64 - 1}, {"mid", 0, mid}, {"a", 0, 23}, {"b", 0, 8}, {"huge", math.MaxInt64 - 1, math.MaxInt64}},
		},
		{
			Serialization{Method: Shards, HashType: SHA256, ShardSize: math.MaxInt64},
			[]item{{"huge", 0, math.MaxInt64}, {"mid", 0, mid}, {"a", 0, 23}, {"b", 0, 8}},
		},
	}
	for _, tt := range tests {
		var got []item
		for _, w := range plan(files, tt.s) {
			got = append(got, item{w.file.name, w.start, w.end})
			if w.shard != (tt.s.Method == Shards) {
				t.Errorf("%+v: shard flag %v", w, w.shard)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("plan(%s, %d)\n got %v\nwant %v", tt.s.Method, tt.s.ShardSize, got, tt.want)
		}
	}
	// Small shards keep file order: a 23-byte file with shard size 8.
	got := []item{}
	for _, w := range plan(files[:1], shards8) {
		got = append(got, item{w.file.name, w.start, w.end})
	}
	if want := []item{{"a", 0, 8}, {"a", 8, 16}, {"a", 16, 23}}; !reflect.DeepEqual(got, want) {
		t.Errorf("plan(a, 8) = %v, want %v", got, want)
	}
}

// TestIgnorePathLinkLoop: an absolute ignore path through a symlink loop
// outside the model is an error that quotes the path as given.
func TestIgnorePathLinkLoop(t *testing.T) {
	model := tree(t, map[string]string{"w": "w"})
	outside := t.TempDir()
	loop := filepath.Join(outside, "loop\n")
	if err := os.Symlink("loop\n", loop); err != nil {
		t.Fatal(err)
	}
	_, err := Walk(context.Background(), model, Options{Serialization: filesSHA, IgnorePaths: []string{filepath.Join(loop, "x")}})
	if err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Fatalf("Walk = %v, want a symlink loop error", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `loop\n`) {
		t.Errorf("the ignore path is not quoted: %q", err)
	}
}
