package launch

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/pindir"
	"github.com/modelgate/modelgate/policy"
	"github.com/modelgate/modelgate/vllmcmd"
)

// signedFolder writes files into dir and signs it with key (ignoring
// ignore, relative to dir).
func signedFolder(t *testing.T, key *ecdsa.PrivateKey, dir string, files map[string]string, ignore ...string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	opts := modelsig.SignOptions{IgnoreGitPaths: true}
	for _, p := range ignore {
		opts.IgnorePaths = append(opts.IgnorePaths, filepath.Join(dir, p))
	}
	if _, err := modelsig.Sign(context.Background(), dir, s, opts); err != nil {
		t.Fatal(err)
	}
}

// TestPrepareCopies: with a pin folder every verified artifact is loaded
// from its copy (a hub id too, which then needs no pin, and a GGUF file
// from its folder's copy); a skipped one where it is.
func TestPrepareCopies(t *testing.T) {
	dir := tempDir(t)
	key := testpki.Key(t, nil)
	pub := filepath.Join(dir, "pub.pem")
	testpki.WritePublicKey(t, pub, &key.PublicKey)

	model := filepath.Join(dir, "m")
	signedFolder(t, key, model, map[string]string{"config.json": "{}", "w.safetensors": "weights"})
	lora := filepath.Join(dir, "lora")
	signedFolder(t, key, lora, map[string]string{"adapter_config.json": "{}"})
	gguf := filepath.Join(dir, "g")
	signedFolder(t, key, gguf, map[string]string{"m.gguf": "GGUF weights", "tokenizer.json": "{}"})
	partial := filepath.Join(dir, "p")
	signedFolder(t, key, partial, map[string]string{"m.gguf": "GGUF weights", "other.gguf": "GGUF"}, "m.gguf")
	scratch := filepath.Join(dir, "scratch")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	hubFiles := map[string]string{"config.json": `{"model_type":"llama"}`, "model.safetensors": "hub weights"}
	signedHub := filepath.Join(dir, "hubsrc")
	signedFolder(t, key, signedHub, hubFiles)
	sig, err := os.ReadFile(filepath.Join(signedHub, "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	hubFiles["model.sig"] = string(sig)
	hub := hftest.At(t, filepath.Join(dir, "hub"))
	hub.Add("org/m", "main", hubFiles)

	pins, err := pindir.Open(filepath.Join(dir, "pins"), pindir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": "` + pub + `"}, "s": {"verification_method": "skip"}},
		"models": {"` + model + `": {"signer": "k"}, "` + gguf + `": {"signer": "k"}, "` + partial + `": {"signer": "k"}, "hf:org/m": {"signer": "k"}},
		"loras": {"` + lora + `": {"signer": "k"}, "` + scratch + `": {"signer": "s"}}}}}`
	p, err := policy.Parse("policy.json", []byte(doc), dir, policy.Options{Pins: pins, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "HF_HUB_CACHE=" + hub.Root}
	prepare := func(argv ...string) *Plan {
		t.Helper()
		plan, err := Prepare(context.Background(), p, append([]string{"vllm", "serve"}, argv...), Options{Dir: dir, Environ: env})
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Runnable() {
			t.Fatalf("not runnable: %+v", plan.Decisions)
		}
		return plan
	}

	plan := prepare(model, "--enable-lora", "--lora-modules", "a="+lora, "b="+scratch, "--tokenizer", "org/m")
	argv, err := plan.Argv("", nil)
	if err != nil {
		t.Fatal(err)
	}
	pinned := func(i int) string { return plan.Decisions[i].PinnedPath }
	want := []string{"vllm", "serve", pinned(0), "--enable-lora", "--lora-modules", `{"name":"a","path":"` + pinned(2) + `"}`, "b=" + scratch,
		"--tokenizer", "org/m", "--tokenizer", pinned(1), "--served-model-name", model}
	if strings.Join(argv, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("argv\n got %q\nwant %q", argv, want)
	}
	if plan.Pins != (vllmcmd.Pins{}) || pinned(3) != "" {
		t.Errorf("pins %+v; skipped adapter pinned at %q", plan.Pins, pinned(3))
	}
	for _, i := range []int{0, 1, 2} {
		if !strings.HasPrefix(pinned(i), pins.Path()+string(filepath.Separator)) {
			t.Errorf("decision %d pinned at %q", i, pinned(i))
		}
	}

	plan = prepare(filepath.Join(gguf, "m.gguf"))
	argv, err = plan.Argv("", nil)
	if want := filepath.Join(plan.Decisions[0].PinnedPath, "m.gguf"); err != nil || argv[2] != want {
		t.Errorf("GGUF argv %q, %v; want MODEL %s", argv, err, want)
	}

	_, err = Prepare(context.Background(), p, []string{"vllm", "serve", filepath.Join(partial, "m.gguf")}, Options{Dir: dir, Environ: env})
	var re *vllmcmd.RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "not in the verified copy") {
		t.Errorf("GGUF file the signature leaves out: %v", err)
	}
}
