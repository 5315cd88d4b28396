package hftest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSnapshotLinksReadTheirContent(t *testing.T) {
	c := New(t)
	files := map[string]string{"config.json": "{}", "a/b/weights.bin": "w", "same.txt": "{}"}
	commit := c.Add("org/model", "main", files)
	if again := New(t).Add("org/model", "main", files); again != commit {
		t.Errorf("Add is not deterministic: %s vs %s", commit, again)
	}
	r := c.Repo("org/model")
	if r.Dir != filepath.Join(c.Root, "models--org--model") {
		t.Errorf("Dir %q", r.Dir)
	}
	for name, content := range files {
		p := filepath.Join(r.SnapshotDir(commit), filepath.FromSlash(name))
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if target != BlobTarget(name, Etag(content)) {
			t.Errorf("%s -> %q", name, target)
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != content {
			t.Errorf("%s reads %q, %v; want %q", name, got, err, content)
		}
	}
	if got := BlobTarget("a/b/weights.bin", "E"); got != "../../../../blobs/E" {
		t.Errorf("BlobTarget for a nested file = %q", got)
	}
	ref, err := os.ReadFile(r.RefPath("main"))
	if err != nil || string(ref) != commit {
		t.Errorf("refs/main holds %q, %v; want the bare commit", ref, err)
	}
	if c.Env()[0] != "HF_HUB_CACHE="+c.Root {
		t.Errorf("Env() = %q", c.Env())
	}
	if v, ok := c.LookupEnv("HF_HUB_CACHE"); !ok || v != c.Root {
		t.Errorf("LookupEnv(HF_HUB_CACHE) = %q, %v", v, ok)
	}
	if _, ok := c.LookupEnv("HF_HOME"); ok {
		t.Error("LookupEnv sets HF_HOME")
	}
	if len(Commit("x")) != 40 || Commit("x") == Commit("y") {
		t.Error("Commit is not a 40-hex function of its seed")
	}
}
