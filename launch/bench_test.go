package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
)

// BenchmarkPrepare is what modelgate exec does between reading its flags
// and exec'ing vLLM, for a realistic command line under a skip policy: a
// model by Hugging Face id (resolved in a fake cache, snapshot checked),
// a tokenizer folder, 8 LoRA adapters and a --config file, then the argv
// and a private copy of the config. bench/exec.sh measures the whole
// process instead (start-up included).
func BenchmarkPrepare(b *testing.B) {
	dir, err := filepath.EvalSymlinks(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	hub := hftest.At(b, filepath.Join(dir, "hub"))
	hub.Add("org/m", "main", map[string]string{"config.json": "{}", "model.safetensors": "w", "tokenizer.json": "{}"})
	tok := filepath.Join(dir, "tok")
	if err := os.MkdirAll(tok, 0o755); err != nil {
		b.Fatal(err)
	}
	argv := []string{"vllm", "serve", "org/m", "--tokenizer", tok, "--config", filepath.Join(dir, "serve.yaml"), "--lora-modules"}
	for i := range 8 {
		a := filepath.Join(dir, "adapters", fmt.Sprint(i))
		if err := os.MkdirAll(a, 0o755); err != nil {
			b.Fatal(err)
		}
		argv = append(argv, fmt.Sprintf("a%d=%s", i, a))
	}
	if err := os.WriteFile(filepath.Join(dir, "serve.yaml"), []byte("enable-lora: true\nmax-model-len: 4096\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	runtime := filepath.Join(dir, "run")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		b.Fatal(err)
	}
	b.Setenv("XDG_RUNTIME_DIR", runtime)
	p := skipPolicy(b, dir)
	env := []string{"HOME=" + dir, "HF_HUB_CACHE=" + hub.Root, "PATH=/usr/bin:/bin"}
	b.ResetTimer()
	for b.Loop() {
		plan, err := Prepare(context.Background(), p, argv, Options{Dir: dir, Environ: env})
		if err != nil || !plan.Runnable() {
			b.Fatalf("%v %+v", err, plan)
		}
		cp, err := WriteConfigCopy(plan.Command.ConfigData)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := plan.Argv(cp, nil); err != nil {
			b.Fatal(err)
		}
	}
}
