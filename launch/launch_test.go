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
	if root, err := plan.HubCache(); err != nil || root.Dir != hub.Root || plan.Home != dir {
		t.Errorf("hub cache %+v (%v), home %q", root, err, plan.Home)
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

// TestTokenizerRevisionNotFooledByNames: whether --tokenizer names the
// tokenizer is read from how the command line names each model, not from
// the text of the artifacts' sources, which hold LoRA names: an adapter
// named "x, --tokenizer y" does not stop modelgate from refusing a
// tokenizer read at a revision that is not the verified one.
func TestTokenizerRevisionNotFooledByNames(t *testing.T) {
	dir := tempDir(t)
	model := filepath.Join(dir, "m")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	hub := hftest.At(t, filepath.Join(dir, "hub"))
	hub.Add("org/m", "main", map[string]string{"config.json": "{}"})
	env := []string{"HOME=" + dir, "HF_HUB_CACHE=" + hub.Root}
	item := `{"name": "x, --tokenizer y", "path": "` + model + `"}`
	for _, argv := range [][]string{
		{"vllm", "serve", "org/m", "--tokenizer-revision", "other"},
		{"vllm", "serve", "org/m", "--tokenizer-revision", "other", "--lora-modules", item},
	} {
		_, err := Prepare(context.Background(), skipPolicy(t, dir), argv, Options{Dir: dir, Environ: env})
		var re *vllmcmd.RefusedError
		if !errors.As(err, &re) || re.Flag != "--tokenizer-revision" {
			t.Errorf("Prepare(%q) = %v, want a refusal of --tokenizer-revision", argv, err)
		}
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

// TestBehindGate: behind the gate, a vLLM that serves no API (--headless)
// or serves it over TLS is refused before anything is decided; the API
// keys are chosen as vLLM's api_server chooses them.
func TestBehindGate(t *testing.T) {
	dir := tempDir(t)
	model := filepath.Join(dir, "m")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	p := skipPolicy(t, dir)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--headless"}, "--headless"},
		{[]string{"--ssl-keyfile", "k.pem", "--ssl-certfile", "c.pem"}, "--ssl-keyfile"},
		{[]string{"--ssl-certfile=c.pem"}, "--ssl-certfile"},
	} {
		argv := append([]string{"vllm", "serve", model}, tc.args...)
		var heard int
		_, err := Prepare(context.Background(), p, argv, Options{Dir: dir, BehindGate: true, OnDecision: func(Decision) { heard++ }})
		var re *vllmcmd.RefusedError
		if !errors.As(err, &re) || re.Flag != tc.flag || heard != 0 {
			t.Errorf("%q: %v (%d decisions), want a refusal of %s", tc.args, err, heard, tc.flag)
		}
		// Without the gate they are vLLM's business.
		if _, err := Prepare(context.Background(), p, argv, Options{Dir: dir}); err != nil {
			t.Errorf("%q without the gate: %v", tc.args, err)
		}
	}
	// No hub cache: said, not refused, for a command line without ids.
	plan, err := Prepare(context.Background(), p, []string{"vllm", "serve", model}, Options{Dir: dir, BehindGate: true, Environ: []string{"HF_HUB_CACHE=rel"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.HubCache(); err == nil || plan.Home != "" {
		t.Errorf("relative HF_HUB_CACHE: %v, home %q", err, plan.Home)
	}
	// "None" is vLLM's spelling of unset.
	if _, err := Prepare(context.Background(), p, []string{"vllm", "serve", model, "--ssl-keyfile", "None"}, Options{Dir: dir, BehindGate: true}); err != nil {
		t.Errorf("--ssl-keyfile None: %v", err)
	}

	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"none", nil, nil, nil},
		{"flag", []string{"--api-key", "a", "b"}, []string{"VLLM_API_KEY=e"}, []string{"a", "b"}},
		{"flag, last wins", []string{"--api-key", "a", "--api-key=b"}, nil, []string{"b"}},
		{"environment", nil, []string{"VLLM_API_KEY=e"}, []string{"e"}},
		{"empty environment", nil, []string{"VLLM_API_KEY="}, nil},
		{"empty flag turns it off", []string{"--api-key", ""}, []string{"VLLM_API_KEY=e"}, nil},
		{"empty values dropped", []string{"--api-key", "", "a"}, nil, []string{"a"}},
	} {
		plan, err := Prepare(context.Background(), p, append([]string{"vllm", "serve", model}, tc.args...), Options{Dir: dir, Environ: tc.env, BehindGate: true})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := plan.APIKeys(); strings.Join(got, ",") != strings.Join(tc.want, ",") || len(got) != len(tc.want) {
			t.Errorf("%s: keys %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPrivateDir: a new folder only its owner can enter, in a private
// XDG_RUNTIME_DIR when there is one.
func TestPrivateDir(t *testing.T) {
	runtime := tempDir(t)
	if err := os.Chmod(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", runtime)
	d1, err := PrivateDir("x-")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := PrivateDir("x-")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(d1)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || filepath.Dir(d1) != runtime || !strings.HasPrefix(filepath.Base(d1), "x-") || d1 == d2 {
		t.Errorf("%q %q: %v %v", d1, d2, fi.Mode(), err)
	}
}
