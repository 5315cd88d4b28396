package hfcache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
)

// snapshotCase builds a repository "org/model" whose main snapshot holds
// modelFiles plus whatever setup adds, and resolves it.
func snapshotCase(t *testing.T, setup func(c *hftest.Cache, r *hftest.Repo, commit string)) (*Resolution, *hftest.Repo) {
	t.Helper()
	c := hftest.New(t)
	commit := c.Add("org/model", "main", modelFiles)
	r := c.Repo("org/model")
	if setup != nil {
		setup(c, r, commit)
	}
	res, err := Resolve(rootOf(t, c), "org/model", "")
	if err != nil {
		t.Fatal(err)
	}
	return res, r
}

func TestCheckSnapshotAccepts(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *hftest.Cache, r *hftest.Repo, commit string)
	}{
		{"huggingface_hub layout with nested folders", nil},
		{"regular files (no-symlink systems)", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.File(commit, "README.md", "# model")
			r.File(commit, "sub/real.txt", "real")
		}},
		{"empty folder", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			mkdirAll(t, filepath.Join(r.SnapshotDir(commit), "empty"))
		}},
		{"a chain of links ending in blobs", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			// snapshots/C/alias -> config.json -> ../../blobs/ETAG
			r.Symlink(commit, "alias", "config.json")
		}},
		{"a link through another snapshot of the same repository", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			old := hftest.Commit("old")
			r.Snapshot(old, map[string]string{"old.bin": "old"})
			r.Symlink(commit, "old.bin", "../"+old+"/old.bin")
		}},
		{"a link with redundant components", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "odd.bin", "./../..//blobs/./"+hftest.Etag("weights"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := snapshotCase(t, tt.setup)
			if err := CheckSnapshot(res); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCheckSnapshotRefuses(t *testing.T) {
	etag := hftest.Etag("weights")
	tests := []struct {
		name   string
		setup  func(c *hftest.Cache, r *hftest.Repo, commit string)
		entry  string // the offending snapshot entry
		link   string // the link reported, relative to the snapshot ("" = entry)
		target string
		reason string
	}{
		{"absolute target", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "abs.bin", "/etc/passwd")
		}, "abs.bin", "", "/etc/passwd", "absolute or empty target"},
		{"absolute target into its own blobs", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "abs.bin", filepath.Join(r.BlobsDir(), etag))
		}, "abs.bin", "", "", "absolute or empty target"},
		{"escape with ../../../", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "up.bin", "../../../../../../etc/passwd")
		}, "up.bin", "", "../../../../../../etc/passwd", "leads out of the repository folder"},
		{"another repository's blobs", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			c.Add("org/other", "main", map[string]string{"evil.bin": "evil"})
			r.Symlink(commit, "evil.bin", "../../../models--org--other/blobs/"+hftest.Etag("evil"))
		}, "evil.bin", "", "../../../models--org--other/blobs/" + hftest.Etag("evil"), "leads out of the repository folder"},
		{"file of the repository outside blobs", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "ref.txt", "../../refs/main")
		}, "ref.txt", "", "../../refs/main", "not a file directly in this repository's blobs folder"},
		{"a real file in another snapshot", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			old := hftest.Commit("old")
			r.File(old, "x.bin", "x")
			r.Symlink(commit, "x.bin", "../"+old+"/x.bin")
		}, "x.bin", "", "../" + hftest.Commit("old") + "/x.bin", "not a file directly in this repository's blobs folder"},
		{"nested blob folder", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			must(t, os.MkdirAll(filepath.Join(r.BlobsDir(), "sub"), 0o755))
			must(t, os.WriteFile(filepath.Join(r.BlobsDir(), "sub", "x"), nil, 0o644))
			r.Symlink(commit, "x.bin", "../../blobs/sub/x")
		}, "x.bin", "", "../../blobs/sub/x", "not a file directly in this repository's blobs folder"},
		{"link cycle", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "a", "b")
			r.Symlink(commit, "b", "a")
		}, "a", "", "b", "link cycle"},
		{"self link", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "self", "self")
		}, "self", "", "self", "link cycle"},
		{"growing link chain", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "grow", "grow/x")
		}, "grow", "", "grow/x", "more than 40 links"},
		{"too many path components", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			// "." then 3000 empty components: 3002 components in 3004 bytes.
			r.Symlink(commit, "l1", "."+strings.Repeat("/", 3000)+"l2")
			r.Symlink(commit, "l2", "."+strings.Repeat("/", 3000)+"l3")
			r.Symlink(commit, "l3", "config.json")
		}, "l1", "l2", "." + strings.Repeat("/", 3000) + "l3", "more than 4096 path components"},
		{"link to a directory", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "dir", "tokenizer")
		}, "dir", "", "tokenizer", "links to the directory"},
		{"link to blobs itself", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "blobs", "../../blobs")
		}, "blobs", "", "../../blobs", "links to the directory"},
		{"link to the repository folder", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "repo", "../..")
		}, "repo", "", "../..", "links to the directory"},
		{"broken link", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "gone.bin", "../../blobs/"+hftest.Etag("never written"))
		}, "gone.bin", "", "../../blobs/" + hftest.Etag("never written"), "broken"},
		{"through a file as if a folder", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "thru.bin", "../../blobs/"+etag+"/x")
		}, "thru.bin", "", "../../blobs/" + etag + "/x", "not a directory"},
		{"file then ..", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "back.bin", "../../blobs/"+etag+"/../"+etag)
		}, "back.bin", "", "../../blobs/" + etag + "/../" + etag, "not a directory"},
		{"unfinished download", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			must(t, os.WriteFile(filepath.Join(r.BlobsDir(), etag+".incomplete"), []byte("wei"), 0o644))
			r.Symlink(commit, "partial.bin", "../../blobs/"+etag+".incomplete")
		}, "partial.bin", "", "../../blobs/" + etag + ".incomplete", "an unfinished download"},
		{"escape in a later hop", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "first", "second")
			r.Symlink(commit, "second", "../../../../outside")
		}, "first", "second", "../../../../outside", "leads out of the repository folder"},
		{"nested entry escaping", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "a/b/c.bin", "../../../../blobs/../../x")
		}, "a/b/c.bin", "", "../../../../blobs/../../x", "leads out of the repository folder"},
		{"nested entry one ../ short", func(c *hftest.Cache, r *hftest.Repo, commit string) {
			r.Symlink(commit, "a/b/c.bin", "../../../blobs/"+etag) // resolves to snapshots/blobs/...
		}, "a/b/c.bin", "", "../../../blobs/" + etag, "broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := snapshotCase(t, tt.setup)
			err := CheckSnapshot(res)
			var le *LinkError
			if !errors.As(err, &le) {
				t.Fatalf("got %v (%T), want *LinkError", err, err)
			}
			entry := filepath.Join(res.SnapshotDir, filepath.FromSlash(tt.entry))
			link := entry
			if tt.link != "" {
				link = filepath.Join(res.SnapshotDir, filepath.FromSlash(tt.link))
			}
			target := tt.target
			if target == "" {
				target, _ = os.Readlink(link)
			}
			if le.Entry != entry || le.Link != link || le.Target != target {
				t.Errorf("got entry %q link %q target %q\nwant      %q      %q        %q", le.Entry, le.Link, le.Target, entry, link, target)
			}
			for _, m := range []string{tt.reason, `"` + entry + `"`, `"` + target + `"`} {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not say %q", err, m)
				}
			}
		})
	}
}

func TestCheckSnapshotBlobsLinkedElsewhere(t *testing.T) {
	// blobs/ replaced by a link after Resolve: the links in the snapshot
	// now lead out of the repository, and the check says so.
	res, r := snapshotCase(t, nil)
	must(t, os.Rename(r.BlobsDir(), filepath.Join(t.TempDir(), "moved")))
	symlink(t, "../elsewhere", r.BlobsDir())
	var le *LinkError
	if err := CheckSnapshot(res); !errors.As(err, &le) || !strings.Contains(err.Error(), "leads out of the repository folder") {
		t.Errorf("got %v, want *LinkError leading out", err)
	}
}
