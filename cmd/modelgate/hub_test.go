//go:build unix

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example hub cache (examples/hf-cache, made by
// examples/make-examples.sh): example-org/tiny-model at refs/main.
const (
	exampleID     = "example-org/tiny-model"
	exampleCommit = "020ca4dda2d86fa762c33847f871df2582badd2b"
)

// exampleCache runs the test from the repository root with HF_HUB_CACHE
// set to the example cache, and returns the cache's absolute path.
func exampleCache(t *testing.T) string {
	t.Helper()
	t.Chdir("../..")
	cache, err := filepath.Abs(filepath.Join("examples", "hf-cache"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_HUB_CACHE", cache)
	return cache
}

// copyTree copies the folder src to dst keeping symlinks as links.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyHubID: verify --security-policy resolves an argument that is
// not a local path as a Hugging Face id in the local cache, at --revision,
// and with --download-dir also there (same commit).
func TestVerifyHubID(t *testing.T) {
	cache := exampleCache(t)
	pol := filepath.Join("examples", "policy.json")
	snap := filepath.Join(cache, "models--example-org--tiny-model", "snapshots", exampleCommit)
	r := runCLI(t, "verify", "--security-policy", pol, "--model", exampleID).want(t, exitOK)
	if want := `verified model "` + exampleID + `" at commit ` + exampleCommit + ` in "` + cache + `": signer "example-key" (key), rule "hf:` + exampleID + `", 3 files, 172 bytes` + "\n"; r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	rec := oneJSON(t, runCLI(t, "verify", "--security-policy", pol, "--model", exampleID, "--output", "json").want(t, exitOK).stdout)
	checkFields(t, rec, map[string]any{
		"path": exampleID, "hub_id": exampleID, "revision": "main", "commit": exampleCommit, "canonical_path": snap,
		"ref": filepath.Join(cache, "models--example-org--tiny-model", "refs", "main"), "cache_dir": cache,
		"cache_chosen_by": `HF_HUB_CACHE="` + cache + `"`, "rule": "hf:" + exampleID, "outcome": "verified",
		"signature": filepath.Join(snap, "model.sig"),
	})
	rec = oneJSON(t, runCLI(t, "verify", "--security-policy", pol, "--model", exampleID, "--revision", exampleCommit, "--output", "json").want(t, exitOK).stdout)
	checkFields(t, rec, map[string]any{"revision": exampleCommit, "commit": exampleCommit})
	if _, ok := rec["ref"]; ok {
		t.Errorf("a commit revision read a ref: %v", rec["ref"])
	}

	// --hf-cache names the cache outright (relative to the working directory).
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	runCLI(t, "verify", "--security-policy", pol, "--model", exampleID, "--hf-cache", filepath.Join("examples", "hf-cache")).want(t, exitOK)
	t.Setenv("HF_HUB_CACHE", cache)

	// Denials name the cache searched and the fetch command.
	r = runCLI(t, "verify", "--security-policy", pol, "--model", exampleID, "--revision", "v2").want(t, exitDenied)
	r.stdoutHas(t, `denied model "`+exampleID+`" (not-found): `, "refs/v2", "hf download "+exampleID+" --revision v2 --cache-dir "+cache)
	r = runCLI(t, "verify", "--security-policy", pol, "--lora", exampleID).want(t, exitDenied)
	r.stdoutHas(t, `denied lora "`+exampleID+`" (no-rule)`, `no key "hf:`+exampleID+`@`+exampleCommit+`"`)

	// --download-dir: a copy of the cache (same commit) verifies, a cache
	// at another commit does not.
	same := t.TempDir()
	copyTree(t, cache, same)
	recs := jsonLines(t, runCLI(t, "verify", "--security-policy", pol, "--model", exampleID, "--download-dir", same, "--output", "json").want(t, exitOK).stdout)
	if len(recs) != 2 || recs[1]["cache_dir"] != same || recs[1]["cache_chosen_by"] != `--download-dir "`+same+`"` {
		t.Errorf("download dir: %v", recs)
	}
	other := t.TempDir()
	copyTree(t, cache, other)
	otherCommit := strings.Repeat("c", 40)
	repo := filepath.Join(other, "models--example-org--tiny-model")
	if err := os.Rename(filepath.Join(repo, "snapshots", exampleCommit), filepath.Join(repo, "snapshots", otherCommit)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, "refs", "main"), []byte(otherCommit))
	r = runCLI(t, "verify", "--security-policy", pol, "--model", exampleID, "--download-dir", other).want(t, exitDenied)
	r.stdoutHas(t, "verification-failed", exampleCommit, otherCommit, "vLLM would read files of two commits").
		stderrHas(t, "1 of 2 artifacts denied")

	// Local first, as vLLM: an existing folder of that name is a path.
	wd := t.TempDir()
	t.Chdir(wd)
	writeFile(t, filepath.Join(wd, exampleID, "config.json"), []byte("{}"))
	rec = oneJSON(t, runCLI(t, "verify", "--security-policy", filepath.Join(filepath.Dir(cache), "policy.json"), "--model", exampleID, "--output", "json").want(t, exitDenied).stdout)
	checkFields(t, rec, map[string]any{"code": "no-rule", "canonical_path": filepath.Join(wd, exampleID)})
	if _, ok := rec["hub_id"]; ok {
		t.Errorf("a local folder was resolved as a hub id: %v", rec)
	}
}

// TestVerifyHubIDUsage: hub flags that would do nothing, and a cache that
// cannot be chosen, are usage errors.
func TestVerifyHubIDUsage(t *testing.T) {
	exampleCache(t)
	pol := filepath.Join("examples", "policy.json")
	for _, c := range []struct {
		env  string
		args []string
		msg  string
	}{
		{"", []string{"--model", "examples/model", "--revision", "main"}, "--revision applies to Hugging Face ids, but no --model or --lora names one"},
		{"", []string{"--model", "examples/model", "--download-dir", "/x"}, "--download-dir applies to Hugging Face ids"},
		{"", []string{"--model", exampleID, "--revision", "../x"}, `--revision: invalid revision "../x"`},
		{"relative", []string{"--model", exampleID}, `the Hugging Face cache cannot be chosen: HF_HUB_CACHE="relative": relative`},
	} {
		if c.env != "" {
			t.Setenv("HF_HUB_CACHE", c.env)
		}
		runCLI(t, append([]string{"verify", "--security-policy", pol}, c.args...)...).want(t, exitError).stderrHas(t, c.msg)
	}
}

// TestExplainHubID: policy explain shows the resolution (cache and what
// chose it, ref, commit) and the rule, for ids and --revision.
func TestExplainHubID(t *testing.T) {
	cache := exampleCache(t)
	pol := filepath.Join("examples", "policy.json")
	r := runCLI(t, "policy", "explain", pol, "--model", exampleID).want(t, exitOK)
	for _, line := range []string{
		`hugging face id:  "` + exampleID + `"`,
		`revision:         "main"`,
		`cache:            "` + cache + `"`,
		`cache chosen by:  HF_HUB_CACHE="` + cache + `"`,
		`ref:              "` + cache + `/models--example-org--tiny-model/refs/main"`,
		`commit:           ` + exampleCommit,
		`action:           verify`,
		`rule:             "hf:` + exampleID + `"`,
	} {
		r.stdoutHas(t, line+"\n")
	}
	e := oneJSON(t, runCLI(t, "policy", "explain", pol, "--model", exampleID, "--revision", exampleCommit, "--output", "json").want(t, exitOK).stdout)
	checkFields(t, e, map[string]any{"hub_id": exampleID, "revision": exampleCommit, "commit": exampleCommit, "action": "verify"})
	e = oneJSON(t, runCLI(t, "policy", "explain", pol, "--model", "org/absent", "--output", "json").want(t, exitOK).stdout)
	checkFields(t, e, map[string]any{"action": "deny", "code": "not-found"})
	runCLI(t, "policy", "explain", pol, "--model", "examples/model", "--revision", "main").want(t, exitError).stderrHas(t, "--revision applies to Hugging Face ids")
}
