package launch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/policy"
	"github.com/modelgate/modelgate/vllmcmd"
)

// skipPolicy governs models and loras, skipping everything under dir.
func skipPolicy(t testing.TB, dir string) *policy.Policy {
	t.Helper()
	doc := `{"policy": {"signatures": {"signers": {"s": {"verification_method": "skip"}},
		"models": {"regex:` + dir + `/.*": {"signer": "s"}, "hf:org/m": {"signer": "s"}},
		"loras": {"regex:` + dir + `/.*": {"signer": "s"}}}}}`
	p, err := policy.Parse("policy.json", []byte(doc), dir, policy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPrepare covers the plan's bookkeeping; the command line and the
// decisions themselves are tested through `modelgate exec`
// (cmd/modelgate/exec_test.go).
func TestPrepare(t *testing.T) {
	dir := tempDir(t)
	model := filepath.Join(dir, "m")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	hub := hftest.At(t, filepath.Join(dir, "hub"))
	commit := hub.Add("org/m", "main", map[string]string{"config.json": "{}"})
	p := skipPolicy(t, dir)
	env := []string{"HOME=" + dir, "HF_HUB_CACHE=" + hub.Root}

	var heard []Decision
	plan, err := Prepare(context.Background(), p, []string{"vllm", "serve", "org/m", "--lora-modules", "a=" + model},
		Options{Dir: dir, Environ: env, OnDecision: func(d Decision) { heard = append(heard, d) }})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Runnable() || plan.Denied() != 0 || len(plan.Decisions) != 2 || len(heard) != 2 {
		t.Fatalf("plan %+v, heard %d", plan, len(heard))
	}
	if plan.Decisions[0].Source != "MODEL" || plan.Decisions[1].Source != "--lora-modules[1] a" {
		t.Errorf("sources %q %q", plan.Decisions[0].Source, plan.Decisions[1].Source)
	}
	if plan.Pins != (vllmcmd.Pins{Revision: commit, TokenizerRevision: commit}) {
		t.Errorf("pins %+v", plan.Pins)
	}
	argv, err := plan.Argv("", nil)
	if err != nil || strings.Join(argv, " ") != "vllm serve org/m --lora-modules a="+model+" --revision "+commit+" --tokenizer-revision "+commit {
		t.Errorf("argv %q %v", argv, err)
	}
	if !strings.Contains(strings.Join(plan.Env.Environ, " "), "HF_HUB_OFFLINE=1") {
		t.Errorf("env %q", plan.Env.Environ)
	}

	// Denied: Argv refuses.
	plan, err = Prepare(context.Background(), p, []string{"vllm", "serve", tempDir(t)}, Options{Dir: dir, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if _, aerr := plan.Argv("", nil); plan.Runnable() || plan.Denied() != 1 || aerr == nil {
		t.Errorf("a denied plan gives argv: %+v", plan.Decisions)
	}

	// Refusals are *vllmcmd.RefusedError, before any decision.
	heard = nil
	_, err = Prepare(context.Background(), p, []string{"vllm", "serve", model, "--tok", model}, Options{Dir: dir, Environ: env,
		OnDecision: func(d Decision) { heard = append(heard, d) }})
	var re *vllmcmd.RefusedError
	if !errors.As(err, &re) || len(heard) != 0 {
		t.Errorf("refused: %v, %d decisions", err, len(heard))
	}
	if _, err := Prepare(context.Background(), p, []string{"vllm", "serve", model}, Options{Dir: "rel", Environ: env}); err == nil {
		t.Error("relative Dir")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Prepare(ctx, p, []string{"vllm", "serve", model}, Options{Dir: dir, Environ: env}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestDecisionJSON: a launch decision is the policy's record with
// "source" first.
func TestDecisionJSON(t *testing.T) {
	d := Decision{Source: "MODEL", Decision: policy.Decision{Kind: policy.Model, Path: "org/m", Outcome: policy.Skipped, HubResolution: policy.HubResolution{HubID: "org/m"}}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"source":"MODEL","kind":"model","path":"org/m",`) || !strings.Contains(string(b), `"hub_id":"org/m"`) {
		t.Errorf("%s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// TestWriteConfigCopy: the copy is the exact bytes, read-only, in a new
// folder only its owner can enter, preferring a private XDG_RUNTIME_DIR.
func TestWriteConfigCopy(t *testing.T) {
	runtime := tempDir(t)
	if err := os.Chmod(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", runtime)
	data := []byte("model: x\n\x00odd bytes\n")
	p, err := WriteConfigCopy(data)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(filepath.Dir(p)) != runtime || filepath.Base(p) != ConfigCopyName {
		t.Errorf("copy at %q, want in %q", p, runtime)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != string(data) {
		t.Errorf("copy holds %q (%v)", b, err)
	}
	fi, _ := os.Stat(p)
	di, _ := os.Stat(filepath.Dir(p))
	if fi.Mode().Perm() != 0o400 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes %v %v", fi.Mode(), di.Mode())
	}
	// A runtime folder others can enter is not used.
	if err := os.Chmod(runtime, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := privateTempRoot(); got != os.TempDir() {
		t.Errorf("open XDG_RUNTIME_DIR used: %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "relative")
	if got := privateTempRoot(); got != os.TempDir() {
		t.Errorf("relative XDG_RUNTIME_DIR used: %q", got)
	}
}
