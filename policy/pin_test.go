package policy

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/pindir"
)

// pinDir opens a fresh pin folder.
func pinDir(t *testing.T) *pindir.Dir {
	t.Helper()
	d, err := pindir.Open(filepath.Join(t.TempDir(), "pins"), pindir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// copies lists the copies in a pin folder.
func copies(t *testing.T, d *pindir.Dir) []string {
	t.Helper()
	entries, err := os.ReadDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// treeFiles maps every regular file under root (slash path) to its
// content, and fails on anything else.
func treeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if !e.Type().IsRegular() {
			t.Errorf("%s is a %v, not a regular file", p, e.Type())
			return nil
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDecidePinned: with Options.Pins, a verified model is copied while
// it verifies and the decision reports the copy (JSON pinned_path, the
// log record); the next decision re-checks it; denials, digest-pin
// mismatches and skipped models leave nothing in the folder.
func TestDecidePinned(t *testing.T) {
	t.Parallel()
	d := tempDir(t)
	_, signer, s := keySigner(t, d)
	model := mkdir(t, d, "model")
	writeFile(t, model, "weights.bin", []byte("the signed weights"))
	writeFile(t, model, "sub/config.json", []byte(`{"a":1}`))
	writeFile(t, model, "README.md", []byte("ignored by the rule"))
	sign(t, s, model, modelsig.SignOptions{IgnoreGitPaths: true, IgnorePaths: []string{filepath.Join(model, "README.md")}})
	bad := mkdir(t, d, "bad")
	writeFile(t, bad, "weights.bin", []byte("the signed weights"))
	sign(t, s, bad, modelsig.SignOptions{})
	writeFile(t, bad, "weights.bin", []byte("THE SIGNED WEIGHTS"))
	other := mkdir(t, d, "other")
	writeFile(t, other, "weights.bin", []byte("other weights"))
	sign(t, s, other, modelsig.SignOptions{})
	scratch := mkdir(t, d, "scratch")

	pins := pinDir(t)
	var log bytes.Buffer
	opts := quietOptions(&log)
	opts.Pins = pins
	p := mustParse(t, d, doc(obj{{"k", signer}, {"none", obj{{"verification_method", "skip"}}}}, obj{
		{model + "/", obj{{"signer", "k"}, {"ignore_paths", []string{"README.md"}}}},
		{bad + "/", obj{{"signer", "k"}}},
		{other + "/", obj{{"signer", "k"}, {"digest", "sha256:" + strings.Repeat("0", 64)}}},
		{scratch + "/", obj{{"signer", "none"}}},
	}, nil), opts)

	first := decide(t, p, Model, model)
	if first.Outcome != Verified || first.PinnedPath == "" {
		t.Fatalf("%s %q: %s", first.Outcome, first.PinnedPath, first.Reason)
	}
	if want := filepath.Join(pins.Path(), strings.TrimPrefix(first.SubjectDigest, "sha256:")); first.PinnedPath != want {
		t.Errorf("pinned at %s, want %s", first.PinnedPath, want)
	}
	if got := treeFiles(t, first.PinnedPath); len(got) != 2 || got["weights.bin"] != "the signed weights" || got["sub/config.json"] != `{"a":1}` {
		t.Errorf("copy holds %v", got)
	}
	if !strings.Contains(first.Reason, "copied into") {
		t.Errorf("reason %q", first.Reason)
	}
	js, _ := json.Marshal(first)
	if !strings.Contains(string(js), `"pinned_path":`+string(mustJSON(t, first.PinnedPath))) {
		t.Errorf("JSON %s", js)
	}
	if !strings.Contains(log.String(), `"pinned_path":`) {
		t.Errorf("log %s", log.String())
	}

	again := decide(t, p, Model, model)
	if again.Outcome != Verified || again.PinnedPath != first.PinnedPath || !strings.Contains(again.Reason, "re-checked") {
		t.Errorf("second decision: %s %q: %s", again.Outcome, again.PinnedPath, again.Reason)
	}

	// The copy is what verifies: a change to the original after the
	// decision does not reach it.
	writeFile(t, model, "weights.bin", []byte("THE SIGNED WEIGHTS"))
	if got := treeFiles(t, first.PinnedPath)["weights.bin"]; got != "the signed weights" {
		t.Errorf("copy changed with the original: %q", got)
	}

	for _, tc := range []struct {
		path string
		code Code
	}{{bad, CodeVerificationFailed}, {other, CodeVerificationFailed}} {
		got := decide(t, p, Model, tc.path)
		if got.Code != tc.code || got.PinnedPath != "" {
			t.Errorf("%s: %s/%s %q: %s", tc.path, got.Outcome, got.Code, got.PinnedPath, got.Reason)
		}
	}
	if got := decide(t, p, Model, scratch); got.Outcome != Skipped || got.PinnedPath != "" {
		t.Errorf("skipped: %s %q", got.Outcome, got.PinnedPath)
	}
	if got := copies(t, pins); !slices.Equal(got, []string{filepath.Base(first.PinnedPath)}) {
		t.Errorf("pin folder holds copies %q", got)
	}
}

// TestDecideHubPinned: a hub snapshot is copied with its links made
// regular files, and its pinned path is a local folder.
func TestDecideHubPinned(t *testing.T) {
	t.Parallel()
	fx := newHubFixture(t)
	fx.cache.Add("org/m", "main", signedFiles(t, fx.s, tinyModel))
	opts := quietOptions(nil)
	opts.Pins = pinDir(t)
	p := mustParse(t, tempDir(t), doc(obj{{"k", fx.signer}}, obj{{"hf:org/m", obj{{"signer", "k"}}}}, nil), opts)
	got := p.DecideHub(bg, Model, fx.root, "org/m", "")
	if got.Outcome != Verified || got.PinnedPath == "" {
		t.Fatalf("%s %q: %s", got.Outcome, got.PinnedPath, got.Reason)
	}
	files := treeFiles(t, got.PinnedPath)
	if len(files) != len(tinyModel) {
		t.Errorf("copy holds %v", files)
	}
	for name, content := range tinyModel {
		if files[name] != content {
			t.Errorf("%s: %q, want %q", name, files[name], content)
		}
	}
}
