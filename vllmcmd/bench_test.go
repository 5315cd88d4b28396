package vllmcmd

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse: a realistic command line (config file, GGUF model with
// shards and projector, LoRA adapters, speculative model) on the real
// file system. modelgate exec's budget before exec is 20 ms in all.
func BenchmarkParse(b *testing.B) {
	dir := b.TempDir()
	for _, f := range []string{"gguf/m-00001-of-00002.gguf", "gguf/m-00002-of-00002.gguf", "gguf/mmproj-f16.gguf",
		"draft/config.json", "loras/sql/adapter_config.json", "loras/chat/adapter_config.json"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("GGUF"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := "tensor-parallel-size: 2\nenable-lora: true\nmax-model-len: 8192\nspeculative-config:\n  model: draft\n  num_speculative_tokens: 3\n"
	if err := os.WriteFile(filepath.Join(dir, "serve.yaml"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	argv := serve("gguf/m-00001-of-00002.gguf", "--config", "serve.yaml", "--tokenizer", "org/tokenizer",
		"--lora-modules", "sql=loras/sql", `{"name": "chat", "path": "loras/chat"}`, "--port", "8000")
	o := Options{Dir: dir, Home: dir}
	for b.Loop() {
		c, err := Parse(argv, o)
		if err != nil || len(c.Artifacts) != 5 {
			b.Fatal(err, c)
		}
	}
}
