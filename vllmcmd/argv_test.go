package vllmcmd

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRecognise: only `vllm serve` and `python -m
// vllm.entrypoints.openai.api_server` are recognised (spec §1).
func TestRecognise(t *testing.T) {
	fsys := newFS("/work/m/")
	for _, tc := range []struct {
		argv []string
		form Form
	}{
		{serve("m"), Serve},
		{[]string{"/opt/venv/bin/vllm", "serve", "m"}, Serve},
		{apiServer("--model", "m"), APIServer},
		{[]string{"python", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"}, APIServer},
		{[]string{"/usr/bin/python3.12", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"}, APIServer},
	} {
		if c := mustParse(t, fsys, tc.argv); c.Form != tc.form {
			t.Errorf("%q: form %v, want %v", tc.argv, c.Form, tc.form)
		}
	}
	for _, argv := range [][]string{
		nil,
		{"vllm"},
		{"vllm", "chat"},
		{"vllm", "--version", "serve", "m"},
		{"vllmx", "serve", "m"},
		{"sh", "-c", "vllm serve m"},
		{"env", "vllm", "serve", "m"},
		{"python", "-u", "-m", "vllm.entrypoints.openai.api_server"},
		{"python", "-mvllm.entrypoints.openai.api_server"},
		{"python", "-m", "vllm.entrypoints.api_server"},
		{"python2", "-m", "vllm.entrypoints.openai.api_server"},
		{"python3.x", "-m", "vllm.entrypoints.openai.api_server"},
		{"pythonw", "-m", "vllm.entrypoints.openai.api_server"},
	} {
		refusal(t, fsys, argv)
	}
}

// TestModel: MODEL is the positional after serve or --model (moved in
// front, as FlexibleArgumentParser does); both, or --model twice, are
// refused; the api_server form reads only --model; no model at all is the
// default hub id.
func TestModel(t *testing.T) {
	fsys := newFS("/work/m/", "/work/n/", "/work/c.yaml")
	fsys.write("/work/c.yaml", "model: n\n")
	for _, tc := range []struct {
		name string
		argv []string
		want string
	}{
		{"positional", serve("m", "--port", "8000"), "m"},
		{"--model", serve("--model", "m", "--port", "8000"), "m"},
		{"--model=", serve("--port", "8000", "--model=m"), "m"},
		{"default", serve(), DefaultModel},
		{"default with flags", serve("--port", "8000", "--enforce-eager"), DefaultModel},
		{"api_server --model", apiServer("--model", "m"), "m"},
		{"api_server repeated --model: last wins", apiServer("--model", "n", "--model", "m"), "m"},
		{"api_server default", apiServer("--port", "8000"), DefaultModel},
		{"config model", serve("--config", "c.yaml"), "n"},
		{"command line beats config", serve("m", "--config", "c.yaml"), "m"},
		{"--model beats config", serve("--config", "c.yaml", "--model", "m"), "m"},
		{"api_server config model", apiServer("--config", "c.yaml"), "n"},
		{"api_server command line beats config", apiServer("--config", "c.yaml", "--model", "m"), "m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, fsys, tc.argv)
			if c.Model != tc.want {
				t.Fatalf("Model = %q, want %q", c.Model, tc.want)
			}
			if c.Artifacts[0].Source != "MODEL" || c.Artifacts[0].Value != tc.want {
				t.Fatalf("first artifact %+v", c.Artifacts[0])
			}
		})
	}
	t.Run("default is a hub id", func(t *testing.T) {
		a := mustParse(t, fsys, serve()).Artifacts[0]
		if a.Location != Hub || a.HubID != "Qwen/Qwen3-0.6B" || a.Kind != KindModel {
			t.Fatalf("%+v", a)
		}
	})
	for _, tc := range []struct {
		name, flag string
		argv       []string
	}{
		{"both", "--model", serve("m", "--model", "n")},
		{"both, --model=", "--model", serve("m", "--model=n")},
		{"--model twice", "--model", serve("--model", "m", "--model", "n")},
		{"--model twice, =", "--model", serve("--model=m", "--port", "1", "--model=n")},
		{"--model without value", "--model", serve("--model")},
		{"--model then flag", "--model", serve("--model", "--port", "1")},
		{"api_server positional", "m", apiServer("m")},
		{"api_server positional and --model", "n", apiServer("--model", "m", "n")},
		{"stray positional", "n", serve("m", "--enforce-eager", "n")},
		{"positional not first", "m", serve("--port", "8000", "m")},
		{"positional after a flag without value", "m", serve("--enforce-eager", "m")},
		{"config without model", "MODEL", serve("--config", "empty.yaml")},
		{"served name without MODEL", "MODEL", serve("--served-model-name", "x")},
		{"served_name without MODEL", "MODEL", serve("--port", "1", "--served_model_name=x")},
	} {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			fsys.write("/work/empty.yaml", "port: 1\n")
			re := refusal(t, fsys, tc.argv)
			if tc.flag != "" && re.Flag != tc.flag {
				t.Errorf("Flag = %q, want %q (%v)", re.Flag, tc.flag, re)
			}
		})
	}
}

// TestFlagSyntax: --flag value and --flag=value are the same, "_" and "-"
// are the same in flag names (not in values), repeated flags: last wins.
func TestFlagSyntax(t *testing.T) {
	fsys := newFS("/work/m/", "/work/tok_a/", "/work/tok-b/")
	for _, tc := range []struct {
		name string
		argv []string
		want string // the tokenizer artifact's path
	}{
		{"space", serve("m", "--tokenizer", "tok_a"), "/work/tok_a"},
		{"equals", serve("m", "--tokenizer=tok_a"), "/work/tok_a"},
		{"underscore flag", serve("m", "--tokenizer", "tok_a"), "/work/tok_a"},
		{"last wins", serve("m", "--tokenizer", "tok-b", "--tokenizer=tok_a"), "/work/tok_a"},
		{"last wins, underscore", serve("m", "--tokenizer", "tok-b", "--tokenizer", "tok_a"), "/work/tok_a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, fsys, tc.argv)
			if len(c.Artifacts) != 2 || c.Artifacts[1].Path != tc.want {
				t.Fatalf("artifacts %+v", c.Artifacts)
			}
		})
	}
	c := mustParse(t, fsys, serve("m", "--trust_remote_code", "--lora_modules", "a_b=tok_a", "--served_model_name", "x_y"))
	if !c.TrustRemoteCode || c.Artifacts[1].Name != "a_b" || !reflect.DeepEqual(c.ServedModelNames, []string{"x_y"}) {
		t.Fatalf("underscores in flag names: %+v", c)
	}
	// A BooleanOptionalAction flag: the last of --X and --no-X wins.
	for argv, want := range map[string]bool{
		"m --trust-remote-code":                          true,
		"m --trust-remote-code --no-trust-remote-code":   false,
		"m --no-trust-remote-code --trust_remote_code":   true,
		"m --no_trust_remote_code":                       false,
		"m --enable-lora --no-enable-lora --enable-lora": true,
	} {
		c := mustParse(t, fsys, serve(strings.Fields(argv)...))
		got := c.TrustRemoteCode
		if strings.Contains(argv, "lora") {
			got = c.EnableLoRA
		}
		if got != want {
			t.Errorf("%s: %v, want %v", argv, got, want)
		}
	}
}

// TestAbbreviations: argparse accepts any unambiguous prefix of a flag;
// a prefix of a watched flag is refused, full names and prefixes of
// other flags are not.
func TestAbbreviations(t *testing.T) {
	fsys := newFS("/work/m/", "/work/t/")
	for _, tc := range []struct {
		arg, flag, full string
	}{
		{"--lora-mod", "--lora-mod", "--lora-modules"},
		{"--lora_mod", "--lora-mod", "--lora-modules"},
		{"--tok", "--tok", "--tokenizer"},
		{"--tokenizer-rev", "--tokenizer-rev", "--tokenizer-revision"},
		{"--trust-remote", "--trust-remote", "--trust-remote-code"},
		{"--no-trust", "--no-trust", "--no-trust-remote-code"},
		{"--speculative", "--speculative", "--speculative-config"},
		{"--default-mm", "--default-mm", "--default-mm-loras"},
		{"--hf-config", "--hf-config", "--hf-config-path"},
		{"--generation", "--generation", "--generation-config"},
		{"--worker-c", "--worker-c", "--worker-cls"},
		{"--reasoning-parser-plug", "--reasoning-parser-plug", "--reasoning-parser-plugin"},
		{"--kv-transfer", "--kv-transfer", "--kv-transfer-config"},
		{"--conf", "--conf", "--config"},
		{"--ho", "--ho", "--host"},
		{"--por", "--por", "--port"},
		{"--mod", "--mod", "--model"},
		{"--download", "--download", "--download-dir"},
		{"--middle", "--middle", "--middleware"},
		{"--api-k", "--api-k", "--api-key"},
		{"--ssl-key", "--ssl-key", "--ssl-keyfile"},
		{"--lora-mod=a=b", "--lora-mod", "--lora-modules"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			re := refusal(t, fsys, serve("m", tc.arg, "t"))
			if re.Flag != tc.flag || !strings.Contains(re.Reason, tc.full) || re.Hint != "write the full flag name" {
				t.Fatalf("%v", re)
			}
		})
	}
	if got := refusal(t, fsys, serve("m", "--lora-mod", "a=t")).Error(); got != "--lora-mod: abbreviation of --lora-modules; write the full flag name" {
		t.Errorf("message %q", got)
	}
	// Full names that are prefixes of watched flags, and abbreviations of
	// other flags, are read as they are.
	mustParse(t, fsys, serve("m", "--reasoning-parser", "x", "--tokenizer", "t", "--revision", "main", "--enforce", "--max-model", "4096"))
}

// TestDotted: FlexibleArgumentParser merges --flag.key value into the JSON
// of --flag and appends it last, replacing any plain --flag: refused for
// watched flags, in any spelling, from the command line or the config.
func TestDotted(t *testing.T) {
	fsys := newFS("/work/m/", "/work/d.yaml")
	for _, argv := range [][]string{
		serve("m", "--speculative-config.model", "evil/x"),
		serve("m", "--speculative-config.model=evil/x"),
		serve("m", "--speculative_config.model", "evil/x"),
		serve("m", "--default-mm-loras.audio", "/x"),
		serve("m", "--kv-transfer-config.kv_connector_module_path", "evil"),
		serve("m", "--model-loader-extra-config.tensorizer_uri", "s3://x"),
		serve("m", "--lora-modules.name", "x"),
		serve("m", "--tokenizer.x", "y"),
		serve("m", "--spec.model", "x"),
		serve("m", "--logits-processors.x+", "a,b"),
		serve("m", "--port.x", "1"),
	} {
		re := refusal(t, fsys, argv)
		if !strings.Contains(re.Reason, "dotted form") || !strings.Contains(re.Hint, "JSON") {
			t.Errorf("%q: %v", argv, re)
		}
	}
	fsys.write("/work/d.yaml", "speculative-config.model: evil/x\n")
	if re := refusal(t, fsys, serve("m", "--config", "d.yaml")); !strings.Contains(re.Reason, "dotted form of --speculative-config") {
		t.Errorf("config: %v", re)
	}
	// Dotted forms of other flags are vLLM's business; a value with a dot
	// is not a dotted flag.
	mustParse(t, fsys, serve("m", "--compilation-config.level", "3", "--tokenizer=./m", "--hf-overrides.x=1"))
	// A dotted key without a value makes vLLM crash.
	refusal(t, fsys, serve("m", "--compilation-config.level"))
}

// TestConfigFlag: --config FILE is expanded; --config=FILE (ignored by
// vLLM) and two config files are refused.
func TestConfigFlag(t *testing.T) {
	fsys := newFS("/work/m/", "/work/a.yaml", "/work/b.yml", "/work/c.json", "/work/d.YAML")
	fsys.write("/work/a.yaml", "tokenizer: m\n").write("/work/b.yml", "port: 1\n").write("/work/c.json", "{}")
	for _, tc := range []struct {
		argv []string
		flag string
	}{
		{serve("m", "--config=a.yaml"), "--config=a.yaml"},
		{apiServer("--config=a.yaml"), "--config=a.yaml"},
		{serve("m", "--config", "a.yaml", "--config", "b.yml"), "--config"},
		{serve("m", "--config"), "--config"},
		{serve("m", "--config", "c.json"), "--config"},
		{serve("m", "--config", "d.YAML"), "--config"},
		{serve("m", "--config", "missing.yaml"), "--config"},
		{serve("m", "--config", "/work/"), "--config"},
	} {
		if re := refusal(t, fsys, tc.argv); re.Flag != tc.flag {
			t.Errorf("%q: %v", tc.argv, re)
		}
	}
	c := mustParse(t, fsys, serve("m", "--config", "b.yml"))
	if c.ConfigFile != "/work/b.yml" || c.Port != "1" {
		t.Fatalf("%+v", c)
	}
	fsys.fifos["/work/fifo.yaml"] = true
	refusal(t, fsys, serve("m", "--config", "fifo.yaml"))
}

// TestLoRAGroups: vLLM keeps only the last --lora-modules group: a second
// group, on the command line or in the config, is refused.
func TestLoRAGroups(t *testing.T) {
	fsys := newFS("/work/m/", "/work/l.yaml")
	fsys.write("/work/l.yaml", "lora-modules: [a=/a]\n")
	for _, argv := range [][]string{
		serve("m", "--lora-modules", "a=/a", "--lora-modules", "b=/b"),
		serve("m", "--lora-modules", "a=/a", "--enforce-eager", "--lora_modules=b=/b"),
		serve("m", "--config", "l.yaml", "--lora-modules", "b=/b"),
	} {
		if re := refusal(t, fsys, argv); re.Flag != "--lora-modules" || !strings.Contains(re.Reason, "only the last") {
			t.Errorf("%q: %v", argv, re)
		}
	}
	c := mustParse(t, fsys, serve("m", "--lora-modules", "a=/a", "b=/b", "None", ""))
	if len(c.Artifacts) != 3 {
		t.Fatalf("%+v", c.Artifacts)
	}
}

// TestServers: --omni and --grpc start something else and are refused;
// --headless still loads the model and is allowed.
func TestServers(t *testing.T) {
	fsys := newFS("/work/m/", "/work/o.yaml")
	fsys.write("/work/o.yaml", "grpc: true\n")
	for _, argv := range [][]string{
		serve("m", "--omni"), serve("m", "--grpc"), apiServer("--grpc"), serve("m", "--config", "o.yaml"),
	} {
		refusal(t, fsys, argv)
	}
	if c := mustParse(t, fsys, serve("m")); c.Headless {
		t.Fatal("no --headless")
	}
	c := mustParse(t, fsys, serve("m", "--headless", "--data-parallel-size-local", "2"))
	if !c.Headless || c.Artifacts[0].Path != "/work/m" {
		t.Fatalf("%+v", c)
	}
}

// TestArgparseShapes: values are told from flags as argparse does.
func TestArgparseShapes(t *testing.T) {
	fsys := newFS("/work/m/")
	for _, tc := range []struct {
		name string
		argv []string
		ok   bool
	}{
		{"negative number is a value", serve("m", "--seed", "-1"), true},
		{"value with space", serve("m", "--chat-template", "--x y"), true},
		{"short flag with value", serve("m", "-tp", "2", "-q", "awq"), true},
		{"glued short flag", serve("m", "-qawq"), true},
		{"-O3", serve("m", "-O3"), true},
		{"-O 3", serve("m", "-O", "3"), true},
		{"hf-token optional value", serve("m", "--hf-token"), true},
		{"hf-token with value", serve("m", "--hf-token", "abc"), true},
		{"served names", serve("m", "--served-model-name", "a", "b", "--port", "1"), true},
		{"unknown flag with value", serve("m", "--some-future-flag", "x"), true},
		{"unknown flag, no MODEL first", serve("--some-future-flag", "x"), false},
		{"flag missing its value", serve("m", "--tokenizer"), false},
		{"flag followed by flag", serve("m", "--tokenizer", "--port", "1"), false},
		{"nargs+ without value", serve("m", "--lora-modules"), false},
		{"value to a switch", serve("m", "--trust-remote-code=yes"), false},
		{"end of options", serve("m", "--", "x"), false},
		{"dotted negative number", serve("m", "--seed", "-1.5"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.argv, opts(fsys))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v (%+v)", err, tc.ok, c)
			}
		})
	}
	c := mustParse(t, fsys, serve("m", "--served-model-name", "a", "b", "--port", "1"))
	if !reflect.DeepEqual(c.ServedModelNames, []string{"a", "b"}) || c.Port != "1" {
		t.Fatalf("%+v", c)
	}
}

// TestAPIKeysAndTLS: --api-key (several values, the last group wins, from
// the command line or the config file) and the TLS flags are reported for
// the gate.
func TestAPIKeysAndTLS(t *testing.T) {
	fsys := newFS("/work/m/", "/work/k.yaml")
	fsys.write("/work/k.yaml", "api-key: [x, y]\nssl-certfile: c.pem\n")
	for _, tc := range []struct {
		name string
		argv []string
		keys []string
		tls  string
	}{
		{"none", serve("m"), nil, ""},
		{"several", serve("m", "--api-key", "a", "b", "--port", "1"), []string{"a", "b"}, ""},
		{"last group", serve("m", "--api-key", "a", "--api_key=b"), []string{"b"}, ""},
		{"empty", serve("m", "--api-key", ""), []string{""}, ""},
		{"config", serve("m", "--config", "k.yaml"), []string{"x", "y"}, "--ssl-certfile"},
		{"command line beats config", serve("m", "--config", "k.yaml", "--api-key", "z"), []string{"z"}, "--ssl-certfile"},
		{"keyfile", serve("m", "--ssl-keyfile", "k.pem"), nil, "--ssl-keyfile"},
		{"None is unset", serve("m", "--ssl-keyfile", "None"), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, fsys, tc.argv)
			if !reflect.DeepEqual(c.APIKeys, tc.keys) || c.TLSFlag != tc.tls {
				t.Errorf("keys %q, TLS %q; want %q, %q", c.APIKeys, c.TLSFlag, tc.keys, tc.tls)
			}
		})
	}
}

// TestConfigNotRegularOSFS: on the real file system, a --config name that
// is not a regular file is refused naming the file once and what it is.
func TestConfigNotRegularOSFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Parse(serve("m", "--config", "d.yaml"), Options{Dir: dir, Home: dir})
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Parse = %v, want a refusal", err)
	}
	if msg := re.Error(); strings.Count(msg, "d.yaml") != 1 || !strings.Contains(msg, "a directory, not a regular file") {
		t.Errorf("message %q: want the file named once and what it is", msg)
	}
}
