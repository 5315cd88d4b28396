package hfcache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
)

// rootOf is the Root FindCacheRoot gives for c's environment.
func rootOf(t *testing.T, c *hftest.Cache) Root {
	t.Helper()
	r, err := FindCacheRoot(c.LookupEnv, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// canonical is p with its symlinks resolved (TempDir may sit under one).
func canonical(t *testing.T, p string) string {
	t.Helper()
	c, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var modelFiles = map[string]string{
	"config.json":            `{"model_type":"llama"}`,
	"model.safetensors":      "weights",
	"tokenizer/vocab.json":   "{}",
	"nested/deeper/file.bin": "deep",
}

func TestResolveRefAndCommit(t *testing.T) {
	c := hftest.New(t)
	main := c.Add("org/model", "main", modelFiles)
	r := c.Repo("org/model")
	old := hftest.Commit("old")
	r.Snapshot(old, map[string]string{"config.json": "{}"})
	r.Ref("v1.0", old)
	r.Ref("refs/pr/1", old) // huggingface_hub stores it at refs/refs/pr/1
	r.WriteRef("crlf", []byte(old+"\r\n"))
	r.WriteRef("lf", []byte(old+"\n"))
	repoDir := filepath.Join(canonical(t, c.Root), "models--org--model")

	tests := []struct {
		revision, wantRev, wantRef, wantCommit string
	}{
		{"", "main", "refs/main", main},
		{"main", "main", "refs/main", main},
		{"v1.0", "v1.0", "refs/v1.0", old},
		{"refs/pr/1", "refs/pr/1", "refs/refs/pr/1", old},
		{"lf", "lf", "refs/lf", old},
		{"crlf", "crlf", "refs/crlf", old},
		{old, old, "", old}, // a commit is used directly, refs not consulted
		{main, main, "", main},
	}
	for _, tt := range tests {
		t.Run(tt.wantRev, func(t *testing.T) {
			res, err := Resolve(rootOf(t, c), "org/model", tt.revision)
			if err != nil {
				t.Fatal(err)
			}
			wantRef := ""
			if tt.wantRef != "" {
				wantRef = filepath.Join(repoDir, filepath.FromSlash(tt.wantRef))
			}
			want := Resolution{
				RepoID: "org/model", Revision: tt.wantRev, Ref: wantRef, Commit: tt.wantCommit,
				CacheRoot: rootOf(t, c), RepoDir: repoDir,
				SnapshotDir: filepath.Join(repoDir, "snapshots", tt.wantCommit),
				BlobsDir:    filepath.Join(repoDir, "blobs"),
			}
			if *res != want {
				t.Errorf("got  %+v\nwant %+v", *res, want)
			}
		})
	}
}

func TestResolveCommitIgnoresRefs(t *testing.T) {
	c := hftest.New(t)
	commit := c.Add("org/model", "", modelFiles)
	// A ref file named like the commit, pointing elsewhere, must not be read.
	c.Repo("org/model").WriteRef(commit, []byte("garbage"))
	res, err := Resolve(rootOf(t, c), "org/model", commit)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != commit || res.Ref != "" {
		t.Errorf("got commit %q ref %q", res.Commit, res.Ref)
	}
}

func TestResolveBareID(t *testing.T) {
	c := hftest.New(t)
	commit := c.Add("gpt2", "main", map[string]string{"config.json": "{}"})
	res, err := Resolve(rootOf(t, c), "gpt2", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != commit || filepath.Base(res.RepoDir) != "models--gpt2" {
		t.Errorf("got %+v", res)
	}
}

func TestResolveThroughSymlinkedRoot(t *testing.T) {
	c := hftest.New(t)
	commit := c.Add("org/model", "main", modelFiles)
	link := filepath.Join(t.TempDir(), "hub-link")
	if err := os.Symlink(c.Root, link); err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(Root{Dir: link, Var: EnvHubCache, Value: link}, "org/model", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(canonical(t, c.Root), "models--org--model", "snapshots", commit); res.SnapshotDir != want {
		t.Errorf("SnapshotDir %q, want the canonical %q", res.SnapshotDir, want)
	}
	if res.CacheRoot.Dir != link {
		t.Errorf("CacheRoot.Dir %q, want the root as chosen %q", res.CacheRoot.Dir, link)
	}
}

func TestResolveNotFound(t *testing.T) {
	c := hftest.New(t)
	commit := c.Add("org/model", "main", modelFiles)
	r := c.Repo("org/model")
	orphan := hftest.Commit("orphan")
	r.Ref("dangling", orphan)
	c.Repo("org/empty") // a folder with no refs and no snapshots
	root := rootOf(t, c)
	repoDir := filepath.Join(canonical(t, c.Root), "models--org--model")
	missingRoot := Root{Dir: filepath.Join(t.TempDir(), "nope"), Var: EnvHome, Value: "/x"}

	tests := []struct {
		name    string
		root    Root
		id, rev string
		path    string // NotFoundError.Path
		message []string
		fetch   string
	}{
		{"absent id", root, "org/other", "", filepath.Join(canonical(t, c.Root), "models--org--other"),
			[]string{`"org/other"`, `revision "main"`, `no folder`, `HF_HUB_CACHE=`, "modelgate never downloads"},
			"hf download org/other --revision main --cache-dir " + c.Root},
		{"absent ref", root, "org/model", "dev", filepath.Join(repoDir, "refs", "dev"),
			[]string{`no ref file`, `refs/dev"`},
			"hf download org/model --revision dev --cache-dir " + c.Root},
		{"absent nested ref", root, "org/model", "refs/pr/7", filepath.Join(repoDir, "refs", "refs"),
			[]string{`no ref file`, `refs/refs/pr/7"`},
			"hf download org/model --revision refs/pr/7 --cache-dir " + c.Root},
		{"short commit", root, "org/model", commit[:7], filepath.Join(repoDir, "refs", commit[:7]),
			[]string{"short commit hash is not resolved offline"},
			"hf download org/model --revision " + commit[:7] + " --cache-dir " + c.Root},
		{"absent snapshot for a commit", root, "org/model", orphan, filepath.Join(repoDir, "snapshots", orphan),
			[]string{"no snapshot folder"},
			"hf download org/model --revision " + orphan + " --cache-dir " + c.Root},
		{"ref to a missing snapshot", root, "org/model", "dangling", filepath.Join(repoDir, "snapshots", orphan),
			[]string{"no snapshot folder", "for commit " + orphan, `refs/dangling"`},
			"hf download org/model --revision dangling --cache-dir " + c.Root},
		{"empty repository folder", root, "org/empty", "", filepath.Join(canonical(t, c.Root), "models--org--empty", "refs", "main"),
			[]string{"no ref file"}, "hf download org/empty --revision main --cache-dir " + c.Root},
		{"absent cache root", missingRoot, "org/model", "", missingRoot.Dir,
			[]string{"the cache folder does not exist", `HF_HOME="/x"`},
			"hf download org/model --revision main --cache-dir " + missingRoot.Dir},
		{"default root: no --cache-dir", Root{Dir: missingRoot.Dir}, "org/model", "", missingRoot.Dir,
			[]string{"the default ~/.cache/huggingface/hub"}, "hf download org/model --revision main"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Resolve(tt.root, tt.id, tt.rev)
			var nf *NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("got %+v, %v; want *NotFoundError", res, err)
			}
			if nf.Path != tt.path {
				t.Errorf("Path %q, want %q", nf.Path, tt.path)
			}
			for _, m := range append(tt.message, tt.root.Dir) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not say %q", err, m)
				}
			}
			if got := nf.FetchCommand(); got != tt.fetch {
				t.Errorf("FetchCommand() = %q, want %q", got, tt.fetch)
			}
			if !strings.Contains(err.Error(), "`"+tt.fetch+"`") {
				t.Errorf("message %q does not give the command", err)
			}
		})
	}
}

func TestResolveRefusesBadCache(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, c *hftest.Cache, r *hftest.Repo)
		rev     string
		path    string // relative to the repository folder
		message string
	}{
		{"garbage ref", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.WriteRef("main", []byte("not a commit"))
		}, "", "refs/main", `holds "not a commit", not a commit hash`},
		{"ref with two lines", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.WriteRef("main", []byte(hftest.Commit("a")+"\n"+hftest.Commit("b")))
		}, "", "refs/main", "not a commit hash"},
		{"ref with spaces", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.WriteRef("main", []byte(" "+hftest.Commit("a")))
		}, "", "refs/main", "not a commit hash"},
		{"uppercase ref", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.WriteRef("main", []byte(strings.ToUpper(hftest.Commit("a"))))
		}, "", "refs/main", "not a commit hash"},
		{"empty ref", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.WriteRef("main", nil)
		}, "", "refs/main", `holds ""`},
		{"huge ref", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.WriteRef("main", []byte(strings.Repeat("a", maxRefSize+1)))
		}, "", "refs/main", "larger than 4096 bytes"},
		{"ref is a directory", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			mkdirAll(t, r.RefPath("main"))
		}, "", "refs/main", "is a directory, not a ref file"},
		{"ref is a symlink", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.Ref("other", hftest.Commit("x"))
			symlink(t, "other", r.RefPath("main"))
		}, "", "refs/main", "is a symlink, not a ref file"},
		{"refs folder on the way is a symlink", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			r.Ref("real/pr/1", hftest.Commit("x"))
			symlink(t, "real", r.RefPath("refs"))
		}, "refs/pr/1", "refs/refs", "is a symlink"},
		{"repository folder is a symlink", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			other := c.Repo("org/other")
			c.Add("org/other", "main", modelFiles)
			must(t, os.RemoveAll(r.Dir))
			symlink(t, filepath.Base(other.Dir), r.Dir)
		}, "", "", "is a symlink; huggingface_hub never links its folders"},
		{"snapshots folder is a symlink", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			commit := c.Add("org/other", "", modelFiles)
			r.Ref("main", commit)
			must(t, os.RemoveAll(filepath.Join(r.Dir, "snapshots")))
			symlink(t, "../models--org--other/snapshots", filepath.Join(r.Dir, "snapshots"))
		}, "", "snapshots", "is a symlink"},
		{"snapshot folder is a symlink", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			commit := hftest.Commit("s")
			r.Ref("main", commit)
			r.Snapshot(hftest.Commit("real"), modelFiles)
			symlink(t, hftest.Commit("real"), r.SnapshotDir(commit))
		}, "", "snapshots/" + hftest.Commit("s"), "is a symlink"},
		{"snapshot folder is a file", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			commit := hftest.Commit("s")
			r.Ref("main", commit)
			must(t, os.WriteFile(r.SnapshotDir(commit), nil, 0o644))
		}, "", "snapshots/" + hftest.Commit("s"), "is a regular file, not a directory"},
		{"blobs folder is a symlink", func(t *testing.T, c *hftest.Cache, r *hftest.Repo) {
			c.Add("org/model", "main", modelFiles)
			c.Add("org/other", "main", modelFiles)
			must(t, os.RemoveAll(r.BlobsDir()))
			symlink(t, "../models--org--other/blobs", r.BlobsDir())
		}, "", "blobs", "is a symlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hftest.New(t)
			r := c.Repo("org/model")
			tt.setup(t, c, r)
			res, err := Resolve(rootOf(t, c), "org/model", tt.rev)
			var ce *CacheError
			if !errors.As(err, &ce) {
				t.Fatalf("got %+v, %v (%T); want *CacheError", res, err, err)
			}
			want := filepath.Join(canonical(t, c.Root), "models--org--model", filepath.FromSlash(tt.path))
			if ce.Path != want {
				t.Errorf("Path %q, want %q", ce.Path, want)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), `"`+want+`"`) {
				t.Errorf("message %q: want the quoted path and %q", err, tt.message)
			}
		})
	}
}

func TestResolveRefusesInvalidInput(t *testing.T) {
	c := hftest.New(t)
	c.Add("org/model", "main", modelFiles)
	tests := []struct {
		id, rev string
		want    any
	}{
		{"org/../model", "", new(*InvalidIDError)},
		{"../../etc", "", new(*InvalidIDError)},
		{"/abs/path", "", new(*InvalidIDError)},
		{"org/model", "../../../etc/passwd", new(*InvalidRevisionError)},
		{"org/model", "/etc/passwd", new(*InvalidRevisionError)},
		{"org/model", "main\x00", new(*InvalidRevisionError)},
		{"org/model", strings.ToUpper(hftest.Commit("x")), new(*InvalidRevisionError)},
	}
	for _, tt := range tests {
		res, err := Resolve(rootOf(t, c), tt.id, tt.rev)
		if err == nil || !errors.As(err, tt.want) {
			t.Errorf("Resolve(%q, %q) = %+v, %v; want %T", tt.id, tt.rev, res, err, tt.want)
		}
	}
}

func TestResolveRelativeRoot(t *testing.T) {
	if _, err := Resolve(Root{Dir: "hub", Var: EnvHubCache, Value: "hub"}, "org/model", ""); err == nil || !strings.Contains(err.Error(), `"hub"`) {
		t.Errorf("got %v, want an error naming the relative root", err)
	}
}

func TestResolveRootIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(f, nil, 0o644))
	_, err := Resolve(Root{Dir: f}, "org/model", "")
	var ce *CacheError
	if !errors.As(err, &ce) || ce.Path != f || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("got %v, want *CacheError saying the root is not a directory", err)
	}
}

func TestSameCommitDownloadDir(t *testing.T) {
	cache := hftest.New(t)
	dl := hftest.At(t, filepath.Join(t.TempDir(), "dl"))
	commit := cache.Add("org/model", "main", modelFiles)
	if got := dl.Add("org/model", "main", modelFiles); got != commit {
		t.Fatalf("fixture: commits differ")
	}
	dlRoot, err := DownloadDirRoot(dl.Root)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Resolve(rootOf(t, cache), "org/model", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Resolve(dlRoot, "org/model", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := SameCommit(a, b); err != nil {
		t.Errorf("same commit: %v", err)
	}

	// The download dir's main moves on: a mismatch naming both commits.
	newer := dl.Add("org/model", "main", map[string]string{"config.json": "{}", "model.safetensors": "v2"})
	b, err = Resolve(dlRoot, "org/model", "")
	if err != nil {
		t.Fatal(err)
	}
	err = SameCommit(a, b)
	var me *CommitMismatchError
	if !errors.As(err, &me) || me.A != a || me.B != b {
		t.Fatalf("got %v, want *CommitMismatchError", err)
	}
	for _, m := range []string{commit, newer, `"` + cache.Root + `"`, `"` + dl.Root + `"`, `--download-dir "` + dl.Root + `"`,
		"hf download org/model --revision " + commit + " --cache-dir " + dl.Root} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("message %q does not say %q", err, m)
		}
	}

	other := *b
	other.RepoID = "org/other"
	if err := SameCommit(a, &other); err == nil || errors.As(err, &me) {
		t.Errorf("different ids: got %v, want a plain error", err)
	}
}

func TestParseRef(t *testing.T) {
	commit := hftest.Commit("x")
	for _, ok := range []string{commit, commit + "\n", commit + "\r\n"} {
		if got, err := parseRef([]byte(ok)); err != nil || got != commit {
			t.Errorf("parseRef(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", "\n", commit + "\n\n", commit + " ", "\n" + commit, commit[:39], commit + "0",
		strings.ToUpper(commit), commit + "\x00", commit + "\r", "ref: refs/heads/main\n", strings.Repeat("x", 200)} {
		if got, err := parseRef([]byte(bad)); err == nil {
			t.Errorf("parseRef(%q) = %q, want an error", bad, got)
		} else if len(err.Error()) > 200 {
			t.Errorf("parseRef(%q): message not bounded: %d bytes", bad, len(err.Error()))
		}
	}
}

func FuzzParseRef(f *testing.F) {
	commit := hftest.Commit("x")
	for _, s := range []string{commit, commit + "\n", commit + "\r\n", "", "garbage", commit + "\n\n", strings.Repeat("\xff", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseRef(data)
		s := string(data)
		wantOK := len(s) >= 40 && IsCommit(s[:40]) && (s[40:] == "" || s[40:] == "\n" || s[40:] == "\r\n")
		if (err == nil) != wantOK {
			t.Fatalf("parseRef(%q) = %q, %v; want ok=%v", data, got, err, wantOK)
		}
		if err == nil && got != s[:40] {
			t.Fatalf("parseRef(%q) = %q", data, got)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Fatalf("unbounded message for %d bytes", len(data))
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, dir string) { t.Helper(); must(t, os.MkdirAll(dir, 0o755)) }

func symlink(t *testing.T, target, link string) {
	t.Helper()
	mkdirAll(t, filepath.Dir(link))
	must(t, os.Symlink(target, link))
}
