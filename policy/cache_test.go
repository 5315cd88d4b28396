package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/hashcache"
	"github.com/modelgate/modelgate/modelsig"
)

// TestDecideWithCache: with a digest cache, a second decision on an
// unchanged model reads nothing; a file rewritten with its modification
// time restored, an added file and a removed file are still denied.
func TestDecideWithCache(t *testing.T) {
	t.Parallel()
	d := tempDir(t)
	_, signer, s := keySigner(t, d)
	model := mkdir(t, d, "model")
	weights := writeFile(t, model, "weights.bin", []byte("the signed weights"))
	writeFile(t, model, "config.json", []byte(`{"a":1}`))
	sign(t, s, model, modelsig.SignOptions{IgnoreGitPaths: true})
	// Digests are stored only for files whose change time is older than
	// two seconds (a change in the same timestamp tick would go unseen).
	time.Sleep(2100 * time.Millisecond)

	opts := quietOptions(nil)
	opts.Cache = hashcache.NewMemory(0, nil)
	p := mustParse(t, d, doc(obj{{"k", signer}}, obj{{model + "/", obj{{"signer", "k"}}}}, nil), opts)

	cold := decide(t, p, Model, model)
	warm := decide(t, p, Model, model)
	if cold.Outcome != Verified || warm.Outcome != Verified {
		t.Fatalf("outcomes %s, %s: %s", cold.Outcome, warm.Outcome, warm.Reason)
	}
	if cold.CachedBytes != 0 || warm.Bytes != 0 || warm.CachedBytes != cold.Bytes || warm.SubjectDigest != cold.SubjectDigest {
		t.Errorf("cold %d read/%d cached, warm %d read/%d cached: want the warm decision to read nothing", cold.Bytes, cold.CachedBytes, warm.Bytes, warm.CachedBytes)
	}
	js, err := json.Marshal(warm)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"cached_bytes":25`) {
		t.Errorf("JSON lacks cached_bytes: %s", js)
	}

	fi, err := os.Stat(weights)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(weights, []byte("THE SIGNED WEIGHTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(weights, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := decide(t, p, Model, model); got.Code != CodeVerificationFailed || !strings.Contains(got.Reason, "weights.bin") {
		t.Errorf("tampered with mtime restored: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
	if err := os.WriteFile(weights, []byte("the signed weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, model, "extra.py", []byte("import os"))
	if got := decide(t, p, Model, model); got.Code != CodeVerificationFailed || !strings.Contains(got.Reason, "extra.py") {
		t.Errorf("extra file: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
	if err := os.Remove(filepath.Join(model, "extra.py")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(model, "config.json")); err != nil {
		t.Fatal(err)
	}
	if got := decide(t, p, Model, model); got.Code != CodeVerificationFailed || !strings.Contains(got.Reason, "config.json") {
		t.Errorf("missing file: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
}
