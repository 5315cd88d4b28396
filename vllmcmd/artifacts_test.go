package vllmcmd

import (
	"reflect"
	"strings"
	"testing"
)

// art is the part of an Artifact most tests compare.
type art struct {
	Kind     Kind
	Source   string
	Loc      Location
	Where    string // Path, HubID or URI
	Revision string
	Pin      string
}

func short(as []Artifact) []art {
	out := make([]art, len(as))
	for i, a := range as {
		where := a.Path + a.HubID + a.URI
		out[i] = art{a.Kind, a.Source, a.Location, where, a.Revision, a.RevisionFlag}
	}
	return out
}

func wantArtifacts(t *testing.T, c *Command, want ...art) {
	t.Helper()
	if got := short(c.Artifacts); !reflect.DeepEqual(got, want) {
		t.Fatalf("artifacts:\n got %+v\nwant %+v", got, want)
	}
}

// TestModelLocations: MODEL is an existing file or folder (relative to
// vLLM's directory, ~ expanded), else a hub id; object storage is remote.
func TestModelLocations(t *testing.T) {
	fsys := newFS("/work/m/", "/work/org/name/", "/home/u/models/x/", "/abs/m/", "/work/file.bin", "/work/a/")
	for _, tc := range []struct {
		value string
		want  art
	}{
		{"m", art{KindModel, "MODEL", Local, "/work/m", "", ""}},
		{"./m", art{KindModel, "MODEL", Local, "/work/./m", "", ""}},
		{"a/../m", art{KindModel, "MODEL", Local, "/work/a/../m", "", ""}},
		{"/abs/m", art{KindModel, "MODEL", Local, "/abs/m", "", ""}},
		{"~/models/x", art{KindModel, "MODEL", Local, "/home/u/models/x", "", ""}},
		{"org/name", art{KindModel, "MODEL", Local, "/work/org/name", "", ""}},
		{"file.bin", art{KindModel, "MODEL", Local, "/work/file.bin", "", ""}},
		{"meta-llama/Llama-3.1-8B", art{KindModel, "MODEL", Hub, "meta-llama/Llama-3.1-8B", "", PinRevision}},
		{"gpt2", art{KindModel, "MODEL", Hub, "gpt2", "", PinRevision}},
		{"s3://bucket/model", art{KindModel, "MODEL", Remote, "s3://bucket/model", "", ""}},
		{"gs://bucket/model", art{KindModel, "MODEL", Remote, "gs://bucket/model", "", ""}},
		{"az://c/model", art{KindModel, "MODEL", Remote, "az://c/model", "", ""}},
		{"https://huggingface.co/x/y/model.gguf", art{KindModel, "MODEL", Remote, "https://huggingface.co/x/y/model.gguf", "", ""}},
	} {
		t.Run(tc.value, func(t *testing.T) {
			wantArtifacts(t, mustParse(t, fsys, serve(tc.value)), tc.want)
		})
	}
	c := mustParse(t, fsys, serve("org/hub-model", "--revision", "v1.0"))
	wantArtifacts(t, c, art{KindModel, "MODEL", Hub, "org/hub-model", "v1.0", PinRevision})
	for _, v := range []string{
		"missing/folder/deep", "/abs/missing", "~other/models/x", "~/missing", "org/name--x", "org/.hidden",
		"a/b/c.gguf", "org/name.git", "ünïcode/model", "",
	} {
		t.Run("refuse "+v, func(t *testing.T) {
			if re := refusal(t, fsys, serve(v)); re.Flag != "MODEL" {
				t.Fatalf("%v", re)
			}
		})
	}
	o := opts(fsys)
	o.Home = ""
	if _, err := Parse(serve("~/models/x"), o); err == nil {
		t.Fatal("~ without a home directory")
	}
	o.Dir = "relative"
	if _, err := Parse(serve("m"), o); err == nil {
		t.Fatal("relative Dir")
	}
}

// TestGGUF: a single-file GGUF MODEL brings its shards and its mmproj
// projector files, found as vLLM finds them.
func TestGGUF(t *testing.T) {
	fsys := newFS(
		"/g/one/model-Q4_K_M.gguf", "/g/one/mmproj-model-f16.gguf", "/g/one/README.md", "/g/one/Model-MMPROJ.GGUF",
		"/g/split/m-00001-of-00003.gguf", "/g/split/m-00002-of-00003.gguf", "/g/split/m-00003-of-00003.gguf",
		"/g/split/m-00001-of-00002.gguf", "/g/split/mmproj.gguf",
		"/g/gap/m-00001-of-00003.gguf", "/g/gap/m-00003-of-00003.gguf",
		"/g/bad/m-00004-of-00003.gguf", "/g/zero/m-00000-of-00000.gguf",
		"/g/proj/m.gguf", "/g/proj/mmproj.gguf/",
		"/g/fifo/m.gguf",
		"/g/plain/weights.bin",
	)
	fsys.write("/g/magic/model", "GGUF\x03\x00\x00\x00")
	fsys.write("/g/magic/mmproj.gguf", "")
	fsys.write("/g/hidden/.gguf", "GGUF")
	fsys.fifos["/g/fifo/mmproj.gguf"] = true
	for _, tc := range []struct {
		model string
		files []string
	}{
		{"/g/one/model-Q4_K_M.gguf", []string{"/g/one/model-Q4_K_M.gguf", "/g/one/Model-MMPROJ.GGUF", "/g/one/mmproj-model-f16.gguf"}},
		{"/g/split/m-00001-of-00003.gguf", []string{"/g/split/m-00001-of-00003.gguf", "/g/split/m-00002-of-00003.gguf",
			"/g/split/m-00003-of-00003.gguf", "/g/split/mmproj.gguf"}},
		{"/g/split/m-00002-of-00003.gguf", []string{"/g/split/m-00001-of-00003.gguf", "/g/split/m-00002-of-00003.gguf",
			"/g/split/m-00003-of-00003.gguf", "/g/split/mmproj.gguf"}},
		{"/g/magic/model", []string{"/g/magic/model"}}, // GGUF by content: vLLM looks for no mmproj
		{"/g/hidden/.gguf", []string{"/g/hidden/.gguf"}},
		{"/g/plain/weights.bin", nil},
	} {
		t.Run(tc.model, func(t *testing.T) {
			a := mustParse(t, fsys, serve(tc.model)).Artifacts[0]
			if !reflect.DeepEqual(a.GGUFFiles, tc.files) {
				t.Fatalf("files:\n got %q\nwant %q", a.GGUFFiles, tc.files)
			}
			if tc.files != nil && a.GGUFDir != tc.model[:strings.LastIndex(tc.model, "/")] {
				t.Fatalf("dir %q", a.GGUFDir)
			}
		})
	}
	for _, tc := range []struct{ model, want string }{
		{"/g/gap/m-00001-of-00003.gguf", "shard 2 of 3 is missing"},
		{"/g/bad/m-00004-of-00003.gguf", "not a valid GGUF shard"},
		{"/g/zero/m-00000-of-00000.gguf", "not a valid GGUF shard"},
		{"/g/proj/m.gguf", "not a regular file"},
		{"/g/fifo/m.gguf", "not a regular file"},
	} {
		t.Run("refuse "+tc.model, func(t *testing.T) {
			if re := refusal(t, fsys, serve(tc.model)); !strings.Contains(re.Reason, tc.want) {
				t.Fatalf("%v", re)
			}
		})
	}
	// The speculative model is read the same way.
	c := mustParse(t, fsys, serve("/g/plain/weights.bin", "--speculative-config", `{"model": "/g/one/model-Q4_K_M.gguf", "num_speculative_tokens": 2}`))
	if len(c.Artifacts[1].GGUFFiles) != 3 {
		t.Fatalf("%+v", c.Artifacts[1])
	}
	// Hub GGUF "org/name:QUANT": the repository, with its quantization.
	a := mustParse(t, fsys, serve("unsloth/Qwen3-0.6B-GGUF:Q4_K_M")).Artifacts[0]
	if a.Location != Hub || a.HubID != "unsloth/Qwen3-0.6B-GGUF" || a.GGUFQuant != "Q4_K_M" {
		t.Fatalf("%+v", a)
	}
	// --trust-remote-code would run code from the file's folder.
	if re := refusal(t, fsys, serve("/g/one/model-Q4_K_M.gguf", "--trust-remote-code")); re.Flag != "--trust-remote-code" {
		t.Fatalf("%v", re)
	}
}

// TestModelFlags: --tokenizer (when not MODEL), --hf-config-path,
// --generation-config (not auto or vllm), each with the revision that
// applies to it.
func TestModelFlags(t *testing.T) {
	fsys := newFS("/work/m/", "/work/tok/", "/work/cfg/", "/work/gen/")
	for _, tc := range []struct {
		name string
		args []string
		want []art
	}{
		{"tokenizer", []string{"m", "--tokenizer", "tok"}, []art{
			{KindModel, "MODEL", Local, "/work/m", "", ""}, {KindModel, "--tokenizer", Local, "/work/tok", "", ""}}},
		{"tokenizer is MODEL", []string{"m", "--tokenizer", "m"}, []art{
			{KindModel, "MODEL, --tokenizer", Local, "/work/m", "", ""}}},
		{"tokenizer None", []string{"m", "--tokenizer", "None"}, []art{{KindModel, "MODEL", Local, "/work/m", "", ""}}},
		{"hub tokenizer", []string{"org/m", "--tokenizer", "org/tok", "--tokenizer-revision", "t1", "--revision", "r1"}, []art{
			{KindModel, "MODEL", Hub, "org/m", "r1", PinRevision}, {KindModel, "--tokenizer", Hub, "org/tok", "t1", PinTokenizerRevision}}},
		{"same hub tokenizer, other revision", []string{"org/m", "--tokenizer", "org/m", "--tokenizer-revision", "t1"}, []art{
			{KindModel, "MODEL", Hub, "org/m", "", PinRevision}, {KindModel, "--tokenizer", Hub, "org/m", "t1", PinTokenizerRevision}}},
		{"hf-config-path", []string{"m", "--hf-config-path", "org/cfg", "--revision", "r"}, []art{
			{KindModel, "MODEL", Local, "/work/m", "", ""}, {KindModel, "--hf-config-path", Hub, "org/cfg", "r", PinRevision}}},
		{"generation-config dir", []string{"m", "--generation-config", "gen"}, []art{
			{KindModel, "MODEL", Local, "/work/m", "", ""}, {KindModel, "--generation-config", Local, "/work/gen", "", ""}}},
		{"generation-config auto", []string{"m", "--generation-config", "auto"}, []art{{KindModel, "MODEL", Local, "/work/m", "", ""}}},
		{"generation-config vllm", []string{"m", "--generation-config=vllm"}, []art{{KindModel, "MODEL", Local, "/work/m", "", ""}}},
		{"model-weights", []string{"m", "--model-weights", "cfg"}, []art{
			{KindModel, "MODEL", Local, "/work/m", "", ""}, {KindModel, "--model-weights", Local, "/work/cfg", "", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantArtifacts(t, mustParse(t, fsys, serve(tc.args...)), tc.want...)
		})
	}
	c := mustParse(t, fsys, serve("m", "--download-dir", "~/w", "--root-path", "/api", "--host", "::", "--uds", "None"))
	if c.DownloadDir != "/home/u/w" || c.RootPath != "/api" || c.Host != "::" || c.UDS != "" {
		t.Fatalf("%+v", c)
	}
	refusal(t, fsys, serve("m", "--tokenizer", "/missing/tok"))
}

// TestSpeculative: --speculative-config's model, its sentinels, MTP and
// the refusals.
func TestSpeculative(t *testing.T) {
	fsys := newFS("/work/m/", "/work/draft/", "/work/my.drafter/")
	model := art{KindModel, "MODEL", Local, "/work/m", "", ""}
	spec := func(json string) []string { return serve("m", "--speculative-config", json) }
	for _, tc := range []struct {
		name string
		argv []string
		want []art
	}{
		{"local draft", spec(`{"model": "draft", "num_speculative_tokens": 3}`),
			[]art{model, {KindModel, "--speculative-config.model", Local, "/work/draft", "", ""}}},
		{"hub draft with revision", spec(`{"model": "yuhuili/EAGLE-LLaMA3-Instruct-8B", "revision": "v2", "method": "eagle"}`),
			[]art{model, {KindModel, "--speculative-config.model", Hub, "yuhuili/EAGLE-LLaMA3-Instruct-8B", "v2", PinSpeculativeRevision}}},
		{"folder with a dot", spec(`{"model": "./my.drafter"}`),
			[]art{model, {KindModel, "--speculative-config.model", Local, "/work/./my.drafter", "", ""}}},
		{"ngram model", spec(`{"model": "ngram", "num_speculative_tokens": 3}`), []art{model}},
		{"[ngram] model", spec(`{"model": "[ngram]"}`), []art{model}},
		{"ngram method", spec(`{"method": "ngram", "prompt_lookup_max": 4}`), []art{model}},
		{"ngram_gpu", spec(`{"method": "ngram_gpu"}`), []art{model}},
		{"suffix", spec(`{"method": "suffix"}`), []art{model}},
		{"suffix model", spec(`{"model": "suffix"}`), []art{model}},
		{"extract_hidden_states", spec(`{"method": "extract_hidden_states"}`), []art{model}},
		{"sentinel method, sentinel model", spec(`{"method": "ngram", "model": "[ngram]"}`), []art{model}},
		{"eagle without model", spec(`{"method": "eagle"}`), []art{model}},
		{"mtp is MODEL", spec(`{"method": "mtp", "num_speculative_tokens": 1}`),
			[]art{{KindModel, "MODEL, --speculative-config.model (mtp: MODEL)", Local, "/work/m", "", ""}}},
		{"empty", serve("m", "--speculative-config", ""), []art{model}},
		{"None", serve("m", "--speculative-config", "None"), []art{model}},
		{"null model", spec(`{"model": null, "method": "ngram"}`), []art{model}},
		{"--spec-model", serve("m", "--spec-model", "draft"),
			[]art{model, {KindModel, "--spec-model", Local, "/work/draft", "", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantArtifacts(t, mustParse(t, fsys, tc.argv), tc.want...)
		})
	}
	// MTP over a hub MODEL: the draft is MODEL at the speculative revision
	// (vLLM passes the JSON's revision, not --revision).
	c := mustParse(t, fsys, serve("org/m", "--revision", "r", "--speculative-config", `{"method": "deepseek_mtp", "revision": "s"}`))
	wantArtifacts(t, c, art{KindModel, "MODEL", Hub, "org/m", "r", PinRevision},
		art{KindModel, "--speculative-config.model (mtp: MODEL)", Hub, "org/m", "s", PinSpeculativeRevision})
	for _, tc := range []struct{ name, json, want string }{
		{"class", `{"model": "my_pkg.drafters.Drafter"}`, "Python class"},
		{"sentinel method with a model", `{"method": "ngram", "model": "evil/x"}`, "reads no model"},
		{"list", `[{"model": "draft"}]`, "a list"},
		{"string", `"draft"`, "a string"},
		{"repeated key", `{"model": "draft", "model": "evil/x"}`, "twice"},
		{"nested repeated key", `{"model": "draft", "x": {"a": 1, "a": 2}}`, "twice"},
		{"Model", `{"Model": "evil/x"}`, "not \"model\""},
		{"MODEL", `{"MODEL": "evil/x", "model": "draft"}`, "not \"model\""},
		{"Revision", `{"model": "draft", "Revision": "x"}`, "not \"revision\""},
		{"number model", `{"model": 1}`, "must be a string"},
		{"code_revision differs", `{"model": "org/d", "revision": "a", "code_revision": "b"}`, "code_revision"},
		{"code_revision without revision", `{"model": "org/d", "code_revision": "b"}`, "code_revision"},
		{"NaN", `{"model": "draft", "x": NaN}`, "not valid JSON"},
		{"trailing data", `{"model": "draft"} x`, "not valid JSON"},
		{"single quotes", `{'model': 'draft'}`, "not valid JSON"},
		{"huge", `{"model": "draft", "x": "` + strings.Repeat("a", maxJSONValue) + `"}`, "larger"},
		{"draft download_dir", `{"model": "draft", "draft_load_config": {"download_dir": "/x"}}`, "download folder"},
		{"draft tensorizer", `{"model": "draft", "draft_load_config": {"load_format": "tensorizer"}}`, "--load-format"},
		{"draft tensorizer keys", `{"model": "draft", "draft_load_config": {"model_loader_extra_config": {"tensorizer_uri": "s3://x"}}}`, "--model-loader-extra-config"},
		{"draft load config not object", `{"model": "draft", "draft_load_config": 1}`, "must be an object"},
		{"missing draft", `{"model": "/missing/draft"}`, "neither"},
	} {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			if re := refusal(t, fsys, spec(tc.json)); !strings.Contains(re.Error(), tc.want) {
				t.Fatalf("%v, want %q", re, tc.want)
			}
		})
	}
	if re := refusal(t, fsys, serve("m", "--spec-model", "draft", "--speculative-config", `{"model": "draft"}`)); re.Flag != "--spec-model" {
		t.Fatalf("%v", re)
	}
	// The draft's tensorizer format, allowed like the main one.
	c = mustParse(t, fsys, spec(`{"model": "draft", "draft_load_config": {"load_format": "tensorizer"}}`), "--load-format")
	if !reflect.DeepEqual(c.CodeFlags, []CodeFlag{{"--load-format", "tensorizer"}}) {
		t.Fatalf("%+v", c.CodeFlags)
	}
}

// TestLoRAModules: both item forms of --lora-modules, resolved as vLLM's
// get_adapter_absolute_path resolves them.
func TestLoRAModules(t *testing.T) {
	fsys := newFS("/work/m/", "/work/adapters/sql/", "/work/x/")
	model := art{KindModel, "MODEL", Local, "/work/m", "", ""}
	c := mustParse(t, fsys, serve("m", "--lora-modules",
		"sql=adapters/./sql",
		`{"name": "abs", "path": "/srv/a", "base_model_name": "m", "is_3d_lora_weight": false}`,
		"hub=org/adapter",
		"home=~/a",
		`{"name": "weird name", "path": "s3://b/a"}`,
		"None", "",
		"rel=x/../adapters/sql",
	))
	wantArtifacts(t, c, model,
		art{KindLoRA, "--lora-modules[1] sql", Local, "/work/adapters/sql", "", ""},
		art{KindLoRA, "--lora-modules[2] abs", Local, "/srv/a", "", ""},
		art{KindLoRA, "--lora-modules[3] hub", Hub, "org/adapter", "", ""},
		art{KindLoRA, "--lora-modules[4] home", Local, "/home/u/a", "", ""},
		art{KindLoRA, `--lora-modules[5] "weird name"`, Remote, "s3://b/a", "", ""},
		art{KindLoRA, "--lora-modules[8] rel", Local, "/work/adapters/sql", "", ""},
	)
	if c.Artifacts[1].Name != "sql" || c.Artifacts[5].Name != "weird name" {
		t.Fatalf("names %+v", c.Artifacts)
	}
	for _, tc := range []struct{ name, item, want string }{
		{"JSON list", `[{"name": "a", "path": "/a"}]`, "not accept a JSON list"},
		{"two =", "a=b=c", "more than one"},
		{"empty name", "=/a", "empty"},
		{"empty path", "a=", "empty"},
		{"unknown key", `{"name": "a", "path": "/a", "scale": 1}`, "unknown key"},
		{"case variant", `{"Name": "a", "path": "/a"}`, "unknown key"},
		{"repeated key", `{"name": "a", "path": "/a", "path": "/evil"}`, "twice"},
		{"missing path", `{"name": "a", "base_model_name": null}`, "required"},
		{"number path", `{"name": "a", "path": 1}`, "must be a string"},
		{"null name", `{"name": null, "path": "/a"}`, "must be a string"},
		{"bool as string", `{"name": "a", "path": "/a", "is_3d_lora_weight": "yes"}`, "must be a boolean"},
		{"not JSON", "a,b", "not valid JSON"},
		{"comma in NAME=PATH", "a=/x,y", "not valid JSON"},
		{"JSON with one key and =", `{"name": "x=y"}`, "neither"},
		{"missing relative path", "a=no/such/../../x", "neither"},
		{"other user's home", "a=~bob/x", "another user"},
		{"duplicate names", "a=/a a=/b", "twice"},
	} {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			re := refusal(t, fsys, serve(append([]string{"m", "--lora-modules"}, strings.Fields(tc.item)...)...))
			if tc.name == "JSON list" || strings.HasPrefix(tc.item, "{") || strings.HasPrefix(tc.item, "[") {
				re = refusal(t, fsys, serve("m", "--lora-modules", tc.item))
			}
			if !strings.Contains(re.Error(), tc.want) {
				t.Fatalf("%v, want %q", re, tc.want)
			}
		})
	}
}

// TestDefaultMMLoRAs: --default-mm-loras '{"modality": "path"}'.
func TestDefaultMMLoRAs(t *testing.T) {
	fsys := newFS("/work/m/", "/work/speech/")
	c := mustParse(t, fsys, serve("m", "--default-mm-loras", `{"audio": "speech", "image": "org/vision-lora"}`))
	wantArtifacts(t, c, art{KindModel, "MODEL", Local, "/work/m", "", ""},
		art{KindLoRA, "--default-mm-loras[audio]", Local, "/work/speech", "", ""},
		art{KindLoRA, "--default-mm-loras[image]", Hub, "org/vision-lora", "", ""})
	if c.Artifacts[1].Name != "audio" {
		t.Fatalf("%+v", c.Artifacts[1])
	}
	wantArtifacts(t, mustParse(t, fsys, serve("m", "--default-mm-loras", "None")), art{KindModel, "MODEL", Local, "/work/m", "", ""})
	for _, v := range []string{`{"audio": 1}`, `{"audio": "speech", "audio": "/evil"}`, `["speech"]`, `{"audio": null}`, `{`} {
		refusal(t, fsys, serve("m", "--default-mm-loras", v))
	}
}

// TestCodeFlags: flags that load code are refused unless allowed, and
// reported when allowed.
func TestCodeFlags(t *testing.T) {
	fsys := newFS("/work/m/")
	for _, tc := range []struct {
		args  []string
		allow string
		value string
	}{
		{[]string{"--load-format", "tensorizer"}, "--load-format", "tensorizer"},
		{[]string{"--load-format", "NPCACHE"}, "--load-format", "NPCACHE"},
		{[]string{"--model-loader-extra-config", `{"tensorizer_uri": "s3://b/m.tensors"}`}, "--model-loader-extra-config", "tensorizer_uri"},
		{[]string{"--model-loader-extra-config", `{"tensorizer_config": {}}`}, "--model-loader-extra-config", "tensorizer_config"},
		{[]string{"--tool-parser-plugin", "/x/p.py"}, "--tool-parser-plugin", "/x/p.py"},
		{[]string{"--reasoning-parser-plugin", "/x/r.py"}, "--reasoning-parser-plugin", "/x/r.py"},
		{[]string{"--structured-outputs-config", `{"reasoning_parser_plugin": "/x/r.py"}`}, "--reasoning-parser-plugin", "/x/r.py"},
		{[]string{"--middleware", "pkg.mw"}, "--middleware", "pkg.mw"},
		{[]string{"--logits-processors", "pkg.LP"}, "--logits-processors", "pkg.LP"},
		{[]string{"--worker-cls", "pkg.W"}, "--worker-cls", "pkg.W"},
		{[]string{"--worker-extension-cls", "pkg.E"}, "--worker-extension-cls", "pkg.E"},
		{[]string{"--scheduler-cls", "pkg.S"}, "--scheduler-cls", "pkg.S"},
		{[]string{"--io-processor-plugin", "p"}, "--io-processor-plugin", "p"},
		{[]string{"--kv-transfer-config", `{"kv_connector": "C", "kv_connector_module_path": "pkg.c"}`}, "--kv-transfer-config", "kv_connector_module_path=pkg.c"},
		{[]string{"--kv-transfer-config", `{"kv_connector_extra_config": {"x_module_path": "pkg.c"}}`}, "--kv-transfer-config", "x_module_path=pkg.c"},
		{[]string{"--ec-transfer-config", `{"ec_connector_module_path": "pkg.e"}`}, "--ec-transfer-config", "ec_connector_module_path=pkg.e"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			argv := serve(append([]string{"m"}, tc.args...)...)
			re := refusal(t, fsys, argv)
			if re.Flag != tc.allow || !strings.Contains(re.Hint, "--allow-flag "+tc.allow) {
				t.Fatalf("%v", re)
			}
			c := mustParse(t, fsys, argv, strings.TrimPrefix(tc.allow, "--"))
			if !reflect.DeepEqual(c.CodeFlags, []CodeFlag{{tc.allow, tc.value}}) {
				t.Fatalf("%+v", c.CodeFlags)
			}
		})
	}
	// Values that load nothing.
	c := mustParse(t, fsys, serve("m", "--load-format", "safetensors", "--worker-cls", "auto", "--scheduler-cls", "None",
		"--model-loader-extra-config", `{"enable_multithread_load": true}`, "--kv-transfer-config", `{"kv_connector": "NixlConnector", "kv_connector_module_path": null}`,
		"--tool-parser-plugin", "", "--structured-outputs-config", `{"backend": "xgrammar"}`))
	if len(c.CodeFlags) != 0 {
		t.Fatalf("%+v", c.CodeFlags)
	}
	// Every --middleware counts (argparse appends them).
	c = mustParse(t, fsys, serve("m", "--middleware", "a.b", "--middleware", "c.d"), "middleware")
	if len(c.CodeFlags) != 2 {
		t.Fatalf("%+v", c.CodeFlags)
	}
	for _, bad := range []string{"--model", "tokenizer", "--trust-remote-code", ""} {
		if re := refusal(t, fsys, serve("m"), bad); re.Flag != "--allow-flag" {
			t.Errorf("%q: %v", bad, re)
		}
	}
	refusal(t, fsys, serve("m", "--model-loader-extra-config", "not json"))
	refusal(t, fsys, serve("m", "--kv-transfer-config", `{"a": 1, "a": 2}`))
	for _, name := range []string{"worker_cls", "--worker-cls", "worker-cls"} {
		mustParse(t, fsys, serve("m", "--worker-cls", "x.Y"), name)
	}
}

// TestTrustRemoteCode: reported; a --code-revision other than --revision
// is refused.
func TestTrustRemoteCode(t *testing.T) {
	fsys := newFS("/work/m/")
	c := mustParse(t, fsys, serve("org/m", "--trust-remote-code", "--revision", "v1", "--code-revision", "v1"))
	if !c.TrustRemoteCode || c.Revision != "v1" || c.CodeRevision != "v1" {
		t.Fatalf("%+v", c)
	}
	for _, args := range [][]string{
		{"org/m", "--code-revision", "v2", "--revision", "v1"},
		{"org/m", "--code-revision", "main"},
	} {
		if re := refusal(t, fsys, serve(args...)); re.Flag != "--code-revision" {
			t.Fatalf("%v", re)
		}
	}
}

// TestPinFlagsAndWeights: a hub artifact lists every flag that pins it,
// including those of artifacts merged into it, and says whether vLLM reads
// weights from it (those come from --download-dir).
func TestPinFlagsAndWeights(t *testing.T) {
	fsys := newFS("/work/local/")
	type pw struct {
		Source  string
		Pins    []string
		Weights bool
	}
	got := func(c *Command) []pw {
		var out []pw
		for _, a := range c.Artifacts {
			out = append(out, pw{a.Source, a.PinFlags, a.Weights})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		argv []string
		want []pw
	}{
		{"hub MODEL", serve("org/m"), []pw{{"MODEL", []string{PinRevision}, true}}},
		{"local MODEL", serve("local"), []pw{{"MODEL", nil, true}}},
		{"tokenizer is MODEL", serve("org/m", "--tokenizer", "org/m"),
			[]pw{{"MODEL, --tokenizer", []string{PinRevision, PinTokenizerRevision}, true}}},
		{"tokenizer at another revision", serve("org/m", "--tokenizer", "org/m", "--tokenizer-revision", "t"),
			[]pw{{"MODEL", []string{PinRevision}, true}, {"--tokenizer", []string{PinTokenizerRevision}, false}}},
		{"config and generation config", serve("org/m", "--hf-config-path", "org/c", "--generation-config", "local"),
			[]pw{{"MODEL", []string{PinRevision}, true}, {"--hf-config-path", []string{PinRevision}, false}, {"--generation-config", nil, false}}},
		{"mtp draft is MODEL", serve("org/m", "--speculative-config", `{"method": "mtp"}`),
			[]pw{{"MODEL, --speculative-config.model (mtp: MODEL)", []string{PinRevision, PinSpeculativeRevision}, true}}},
		{"hub draft", serve("local", "--speculative-config", `{"model": "org/d"}`),
			[]pw{{"MODEL", nil, true}, {"--speculative-config.model", []string{PinSpeculativeRevision}, true}}},
		{"--spec-model cannot be pinned", serve("local", "--spec-model", "org/d"),
			[]pw{{"MODEL", nil, true}, {"--spec-model", nil, true}}},
		{"hub LoRA cannot be pinned", serve("local", "--lora-modules", "a=org/a"),
			[]pw{{"MODEL", nil, true}, {"--lora-modules[1] a", nil, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(mustParse(t, fsys, tc.argv)); !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("\n got %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

// TestVerifierArtifact: a speculators verifier is resolved like MODEL, at
// --revision; a GGUF verifier is refused with --trust-remote-code.
func TestVerifierArtifact(t *testing.T) {
	fsys := newFS("/work/m/", "/work/v/", "/work/v.gguf")
	c := mustParse(t, fsys, serve("m", "--revision", "r1"))
	for _, tc := range []struct {
		verifier string
		want     art
		pins     []string
	}{
		{"org/verifier", art{KindModel, SpeculatorsSource, Hub, "org/verifier", "r1", PinRevision}, []string{PinRevision}},
		{"v", art{KindModel, SpeculatorsSource, Local, "/work/v", "", ""}, nil},
	} {
		a, err := c.VerifierArtifact(tc.verifier, opts(fsys))
		if err != nil {
			t.Fatal(err)
		}
		if got := short([]Artifact{a})[0]; got != tc.want || !reflect.DeepEqual(a.PinFlags, tc.pins) || !a.Weights {
			t.Errorf("%s: %+v pins %v weights %v", tc.verifier, got, a.PinFlags, a.Weights)
		}
	}
	if _, err := c.VerifierArtifact("no/such/thing", opts(fsys)); err == nil {
		t.Error("a verifier that is neither a path nor an id")
	}
	trc := mustParse(t, fsys, serve("m", "--trust-remote-code"))
	if _, err := trc.VerifierArtifact("v.gguf", opts(fsys)); err == nil || !strings.Contains(err.Error(), "GGUF") {
		t.Errorf("GGUF verifier with --trust-remote-code: %v", err)
	}
}
