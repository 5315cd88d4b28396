package hfcache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
)

func TestMissingFiles(t *testing.T) {
	res, r := snapshotCase(t, func(c *hftest.Cache, r *hftest.Repo, commit string) {
		r.File(commit, "README.md", "# real file")
		r.Symlink(commit, "linked-dir", "tokenizer") // CheckSnapshot refuses it; no name under it is present
	})
	_ = r
	tests := []struct {
		name    string
		names   []string
		missing []string
	}{
		{"complete", []string{"config.json", "model.safetensors", "tokenizer/vocab.json", "nested/deeper/file.bin", "README.md"}, nil},
		{"none asked", nil, nil},
		{"some missing, in signature order", []string{"model-00002-of-00002.safetensors", "config.json", "model-00001-of-00002.safetensors"},
			[]string{"model-00002-of-00002.safetensors", "model-00001-of-00002.safetensors"}},
		{"missing in a missing folder", []string{"absent/dir/x"}, []string{"absent/dir/x"}},
		{"missing in an existing folder", []string{"tokenizer/merges.txt"}, []string{"tokenizer/merges.txt"}},
		{"under a file", []string{"config.json/x"}, []string{"config.json/x"}},
		{"a folder counts as present", []string{"tokenizer"}, nil},
		{"under a linked folder counts as missing", []string{"linked-dir/vocab.json"}, []string{"linked-dir/vocab.json"}},
		{"a linked folder itself is present", []string{"linked-dir"}, nil},
		{"repeated names reported once", []string{"x.bin", "x.bin"}, []string{"x.bin"}},
		{"case matters", []string{"Config.json"}, []string{"Config.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MissingFiles(res, tt.names)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.missing) {
				t.Errorf("MissingFiles = %q, want %q", got, tt.missing)
			}
			err = CheckComplete(res, tt.names)
			var pe *PartialSnapshotError
			if len(tt.missing) == 0 {
				if err != nil {
					t.Errorf("CheckComplete: %v", err)
				}
				return
			}
			if !errors.As(err, &pe) || !slices.Equal(pe.Missing, tt.missing) || pe.Resolution != res {
				t.Fatalf("CheckComplete = %v, want *PartialSnapshotError with %q", err, tt.missing)
			}
			for _, m := range tt.missing {
				if !strings.Contains(err.Error(), `"`+m+`"`) {
					t.Errorf("message %q does not name %q", err, m)
				}
			}
		})
	}
}

func TestMissingFilesRefusesBadNames(t *testing.T) {
	res, _ := snapshotCase(t, nil)
	for _, name := range []string{"", ".", "..", "../x", "a/../b", "/etc/passwd", "a//b", "a/", "./a", "a\x00b"} {
		if got, err := MissingFiles(res, []string{"config.json", name}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("MissingFiles(%q) = %q, %v; want an error quoting the name", name, got, err)
		}
		if err := CheckComplete(res, []string{name}); err == nil || errors.As(err, new(*PartialSnapshotError)) {
			t.Errorf("CheckComplete(%q) = %v; want a plain error", name, err)
		}
	}
}

func TestPartialSnapshotFetchCommand(t *testing.T) {
	tests := []struct {
		name string
		root func(c *hftest.Cache) Root
		want string
	}{
		{"env root", func(c *hftest.Cache) Root { return Root{Dir: c.Root, Var: EnvHubCache, Value: c.Root} },
			"hf download org/model --revision %s --cache-dir %s"},
		{"default root", func(c *hftest.Cache) Root { return Root{Dir: c.Root} },
			"hf download org/model --revision %s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hftest.New(t)
			commit := c.Add("org/model", "main", modelFiles)
			res, err := Resolve(tt.root(c), "org/model", "main")
			if err != nil {
				t.Fatal(err)
			}
			err = CheckComplete(res, []string{"config.json", "model-00001-of-00002.safetensors"})
			var pe *PartialSnapshotError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v", err)
			}
			want := tt.want
			if strings.Count(want, "%s") == 2 {
				want = fmt.Sprintf(want, commit, c.Root)
			} else {
				want = fmt.Sprintf(want, commit)
			}
			if pe.FetchCommand() != want || res.FetchCommand() != want {
				t.Errorf("FetchCommand() = %q, want %q", pe.FetchCommand(), want)
			}
			for _, m := range []string{"`" + want + "`", `"org/model"`, commit, `"` + res.SnapshotDir + `"`, "lacks 1 file its signature lists"} {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not say %q", err, m)
				}
			}
		})
	}
}

func TestPartialSnapshotMessageBounded(t *testing.T) {
	res, _ := snapshotCase(t, nil)
	var names []string
	for i := range 1000 {
		names = append(names, fmt.Sprintf("shard-%04d.bin", i))
	}
	err := CheckComplete(res, names)
	var pe *PartialSnapshotError
	if !errors.As(err, &pe) || len(pe.Missing) != 1000 {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "lacks 1000 files") || !strings.Contains(msg, "and 990 more") || strings.Contains(msg, "shard-0010.bin") {
		t.Errorf("message not bounded to %d names: %q", maxListed, msg)
	}
}

func TestFetchCommandQuotesForShell(t *testing.T) {
	root := Root{Dir: "/data/my cache/it's", Var: EnvHubCache}
	got := fetchCommand("org/model", "refs/pr/1", root)
	want := `hf download org/model --revision refs/pr/1 --cache-dir '/data/my cache/it'\''s'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for in, want := range map[string]string{"": "''", "a-b_c.d/e": "a-b_c.d/e", "~x": "'~x'", "$HOME": "'$HOME'", "a;b": "'a;b'", "é": "'é'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestNothingWritten(t *testing.T) {
	// Resolve and every check only read: the cache's listing is unchanged.
	res, r := snapshotCase(t, func(c *hftest.Cache, r *hftest.Repo, commit string) {
		r.Symlink(commit, "gone.bin", "../../blobs/none")
	})
	before := listing(t, filepath.Dir(r.Dir))
	_ = CheckSnapshot(res)
	_, _ = MissingFiles(res, []string{"a", "b/c"})
	_, _ = Resolve(res.CacheRoot, "org/absent", "")
	_, _ = Resolve(res.CacheRoot, "org/model", "refs/pr/9")
	if after := listing(t, filepath.Dir(r.Dir)); !slices.Equal(before, after) {
		t.Errorf("cache changed:\nbefore %q\nafter  %q", before, after)
	}
}

func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	must(t, filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d %v", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano()))
		return nil
	}))
	return out
}
