//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// wantDecision is one decision exec must record, in order.
type wantDecision struct {
	source, outcome, code string
}

func (w wantDecision) check(t *testing.T, rec map[string]any) {
	t.Helper()
	if rec["source"] != w.source || rec["outcome"] != w.outcome || (w.code != "" && rec["code"] != w.code) {
		t.Errorf("decision %v %v %v (%v), want %s %s %s", rec["source"], rec["outcome"], rec["code"], rec["reason"], w.source, w.outcome, w.code)
	}
}

func verified(source string) wantDecision       { return wantDecision{source, "verified", ""} }
func deniedAs(source, code string) wantDecision { return wantDecision{source, "denied", code} }

// TestExecArtifacts: every artifact kind of spec vllm.md §2 (and the hub
// ids of §4) is decided, each once, in order; vLLM is started only when
// all are allowed, with argv pinned to the verified commits; a denial
// leaves it unstarted (exit 1) and a refusal too (exit 2, saying what to
// write instead).
func TestExecArtifacts(t *testing.T) {
	fx := newExecFixture(t)
	rev := func(c string) []string { return []string{"--revision", c, "--tokenizer-revision", c} }
	spec := func(model string) string { return `{"model": "` + model + `", "num_speculative_tokens": 3}` }
	cases := []struct {
		name      string
		policy    string // default fx.policy
		flags     []string
		vllm      []string // after "vllm serve"
		code      int
		decisions []wantDecision
		pins      []string // appended to argv, exit 0 only
		msg       []string // in stdout or stderr
	}{
		// MODEL: a local folder, a hub id (§4: ref, branch, commit), GGUF.
		{name: "local folder", vllm: []string{fx.good}, decisions: []wantDecision{verified("MODEL")}},
		{name: "local folder, relative", vllm: []string{"../" + filepath.Base(fx.root) + "/models/good"}, code: -1},
		{name: "local folder not signed", vllm: []string{fx.unsigned}, code: exitDenied,
			decisions: []wantDecision{deniedAs("MODEL", "error")}, msg: []string{"model.sig", "vLLM was not started"}},
		{name: "skip signer", vllm: []string{fx.skipped}, decisions: []wantDecision{{"MODEL", "skipped", ""}}},
		{name: "hub id at main", vllm: []string{"org/good"}, decisions: []wantDecision{verified("MODEL")}, pins: rev(fx.goodCommit)},
		{name: "hub id at a branch", vllm: []string{"org/good", "--revision", "v2"}, decisions: []wantDecision{verified("MODEL")}, pins: rev(fx.v2Commit)},
		{name: "hub id at a commit", vllm: []string{"org/good", "--revision", fx.goodCommit}, decisions: []wantDecision{verified("MODEL")}, pins: rev(fx.goodCommit)},
		{name: "--model form", vllm: []string{"--model", "org/good"}, decisions: []wantDecision{verified("MODEL")}, pins: rev(fx.goodCommit)},
		{name: "no model: vLLM's default id", vllm: nil, code: exitDenied,
			decisions: []wantDecision{deniedAs("MODEL", "not-found")}, msg: []string{`"Qwen/Qwen3-0.6B"`, "hf download Qwen/Qwen3-0.6B"}},
		{name: "id not in the cache", vllm: []string{"org/absent"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "not-found")},
			msg: []string{`no folder "` + fx.hub + `/models--org--absent"`, `chosen by HF_HUB_CACHE="` + fx.hub + `"`, "hf download org/absent --revision main --cache-dir " + fx.hub}},
		{name: "revision not in the cache", vllm: []string{"org/good", "--revision", "v9"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "not-found")}},
		{name: "partial snapshot", vllm: []string{"org/partial"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "partial-snapshot")},
			msg: []string{`lacks 1 file its signature lists: "tokenizer.json"`, "hf download org/partial --revision " + fx.partialCommit}},
		{name: "snapshot link out of blobs", vllm: []string{"org/escape"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "verification-failed")},
			msg: []string{"leads out of the repository folder", "blobs folder"}},
		{name: "snapshot link cycle", vllm: []string{"org/cycle"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "verification-failed")}, msg: []string{"cycle"}},
		{name: "unsigned snapshot", vllm: []string{"org/unsigned"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "partial-snapshot")}, msg: []string{"has no signature file"}},
		{name: "object storage", vllm: []string{"s3://bucket/model"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "not-local")}},
		{name: "GGUF file: its folder", vllm: []string{filepath.Join(fx.gguf, "tiny.gguf")}, decisions: []wantDecision{verified("MODEL (GGUF file: its folder)")}},

		// --download-dir: both snapshots, one commit.
		{name: "download dir, same commit", vllm: []string{"org/good", "--download-dir", fx.dlSame},
			decisions: []wantDecision{verified("MODEL"), verified("MODEL (--download-dir)")}, pins: rev(fx.goodCommit)},
		{name: "download dir, another commit", vllm: []string{"org/good", "--download-dir", fx.dlOther}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("MODEL (--download-dir)", "verification-failed")},
			msg:       []string{fx.goodCommit, fx.otherDLCommit, "two commits"}},
		{name: "download dir, not there", vllm: []string{"org/good", "--download-dir", fx.root}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("MODEL (--download-dir)", "not-found")}, msg: []string{"--cache-dir " + fx.root}},
		{name: "download dir with a local model", vllm: []string{fx.good, "--download-dir", fx.dlOther}, decisions: []wantDecision{verified("MODEL")}},

		// The other model artifacts.
		{name: "tokenizer by id", vllm: []string{fx.good, "--tokenizer", "org/config"},
			decisions: []wantDecision{verified("MODEL"), verified("--tokenizer")}, pins: []string{"--tokenizer-revision", fx.configCommit}},
		{name: "tokenizer not signed", vllm: []string{fx.good, "--tokenizer", fx.unsigned}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("--tokenizer", "error")}},
		{name: "tokenizer that is MODEL", vllm: []string{"org/good", "--tokenizer", "org/good"}, decisions: []wantDecision{verified("MODEL, --tokenizer")}, pins: rev(fx.goodCommit)},
		{name: "hf config path", vllm: []string{fx.good, "--hf-config-path", "org/config"},
			decisions: []wantDecision{verified("MODEL"), verified("--hf-config-path")}, pins: []string{"--revision", fx.configCommit}},
		{name: "--revision for two ids", vllm: []string{"org/good", "--hf-config-path", "org/config"}, code: exitError,
			msg: []string{"refused: --revision: vLLM reads both", "hf download org/config --local-dir DIR"}},
		{name: "tokenizer revision of MODEL", vllm: []string{"org/good", "--tokenizer-revision", "v2"}, code: exitError,
			msg: []string{"refused: --tokenizer-revision", "remove --tokenizer-revision"}},
		{name: "generation config folder", vllm: []string{fx.good, "--generation-config", fx.unsigned}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("--generation-config", "error")}},
		{name: "generation config auto", vllm: []string{fx.good, "--generation-config", "auto"}, decisions: []wantDecision{verified("MODEL")}},
		{name: "speculative model by id", vllm: []string{fx.good, "--speculative-config", spec("org/verifier")},
			decisions: []wantDecision{verified("MODEL"), verified("--speculative-config.model")},
			pins:      []string{"--speculative-config", `{"model":"org/verifier","num_speculative_tokens":3,"revision":"` + fx.verC + `"}`}},
		{name: "speculative model not signed", vllm: []string{fx.good, "--speculative-config", spec(fx.unsigned)}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("--speculative-config.model", "error")}},
		{name: "speculative sentinel", vllm: []string{fx.good, "--speculative-config", `{"method": "ngram", "num_speculative_tokens": 3}`},
			decisions: []wantDecision{verified("MODEL")}},
		{name: "speculative Python class", vllm: []string{fx.good, "--speculative-config", spec("pkg.Drafter")}, code: exitError,
			msg: []string{"names a Python class"}},
		{name: "speculators verifier by id", vllm: []string{fx.specHub},
			decisions: []wantDecision{verified("MODEL"), verified("MODEL's config.json speculators_config.verifier")}, pins: rev(fx.verC)},
		{name: "speculators verifier by path", vllm: []string{fx.specLocal},
			decisions: []wantDecision{verified("MODEL"), verified("MODEL's config.json speculators_config.verifier")}},
		{name: "speculators verifier not signed", vllm: []string{fx.specBad}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("MODEL's config.json speculators_config.verifier", "partial-snapshot")}},
		{name: "speculators model by id", vllm: []string{"org/spec"}, code: exitError,
			decisions: []wantDecision{verified("MODEL")}, msg: []string{"refused: MODEL: MODEL is a speculators model", "hf download org/spec --local-dir DIR"}},
		{name: "speculators model with --speculative-config", vllm: []string{fx.specLocal, "--speculative-config", spec(fx.good)}, code: exitError,
			decisions: []wantDecision{verified("MODEL")}, msg: []string{"remove --speculative-config"}},

		// LoRA adapters.
		{name: "lora modules, both forms", vllm: []string{fx.good, "--enable-lora", "--lora-modules", "a=" + fx.adapterA, `{"name": "b", "path": "` + fx.adapterB + `"}`},
			decisions: []wantDecision{verified("MODEL"), verified("--lora-modules[1] a"), verified("--lora-modules[2] b")}},
		{name: "lora not signed", vllm: []string{fx.good, "--lora-modules", "x=" + fx.adapterUnsigned}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("--lora-modules[1] x", "error")}},
		{name: "lora by id is decided at main", vllm: []string{fx.good, "--lora-modules", "x=org/good"}, code: exitDenied,
			decisions: []wantDecision{verified("MODEL"), deniedAs("--lora-modules[1] x", "no-rule")}},
		{name: "default mm loras", vllm: []string{fx.good, "--default-mm-loras", `{"audio": "` + fx.adapterA + `"}`},
			decisions: []wantDecision{verified("MODEL"), verified("--default-mm-loras[audio]")}},
		{name: "every decision before the answer", vllm: []string{fx.unsigned, "--lora-modules", "x=" + fx.adapterUnsigned, "y=" + fx.adapterA}, code: exitDenied,
			decisions: []wantDecision{deniedAs("MODEL", "error"), deniedAs("--lora-modules[1] x", "error"), verified("--lora-modules[2] y")},
			msg:       []string{"2 of 3 artifacts denied: vLLM was not started"}},

		// Code: flags and --trust-remote-code.
		{name: "code flag refused", vllm: []string{fx.good, "--worker-cls", "pkg.Worker"}, code: exitError, msg: []string{"refused: --worker-cls", "--allow-flag"}},
		{name: "code flag allowed", flags: []string{"--allow-flag", "--worker-cls"}, vllm: []string{fx.good, "--worker-cls", "pkg.Worker"}, decisions: []wantDecision{verified("MODEL")}},
		{name: "trust remote code over a verified model", vllm: []string{"org/good", "--trust-remote-code"}, decisions: []wantDecision{verified("MODEL")}, pins: rev(fx.goodCommit)},
		{name: "trust remote code over a skipped model", vllm: []string{fx.skipped, "--trust-remote-code"}, code: exitError,
			decisions: []wantDecision{{"MODEL", "skipped", ""}}, msg: []string{"refused: --trust-remote-code: MODEL", "is skipped, not verified"}},
		{name: "trust remote code, models not governed", policy: "nomodels", vllm: []string{fx.good, "--trust-remote-code"}, code: exitError,
			decisions: []wantDecision{{"MODEL", "not-required", ""}}, msg: []string{"is not-required, not verified"}},
		{name: "trust remote code over a skipped tokenizer", vllm: []string{fx.good, "--tokenizer", fx.skipped, "--trust-remote-code"}, code: exitError,
			decisions: []wantDecision{verified("MODEL"), {"--tokenizer", "skipped", ""}}},
		{name: "trust remote code with a GGUF file", vllm: []string{filepath.Join(fx.gguf, "tiny.gguf"), "--trust-remote-code"}, code: exitError,
			msg: []string{"refused: --trust-remote-code", "GGUF"}},
		{name: "code revision differs", vllm: []string{"org/good", "--trust-remote-code", "--code-revision", "v2"}, code: exitError,
			msg: []string{"refused: --code-revision", "remove --code-revision"}},
		{name: "code revision pinned with the revision", vllm: []string{"org/good", "--trust-remote-code", "--revision", "v2", "--code-revision", "v2"},
			decisions: []wantDecision{verified("MODEL")}, pins: []string{"--revision", fx.v2Commit, "--code-revision", fx.v2Commit, "--tokenizer-revision", fx.v2Commit}},

		// The command line (§1).
		{name: "MODEL and --model", vllm: []string{fx.good, "--model", fx.good}, code: exitError, msg: []string{"refused"}},
		{name: "abbreviation", vllm: []string{fx.good, "--tok", fx.good}, code: exitError, msg: []string{"refused: --tok", "--tokenizer"}},
		{name: "dotted form", vllm: []string{fx.good, "--speculative-config.model", fx.good}, code: exitError, msg: []string{"refused", "JSON"}},
		{name: "--config=", vllm: []string{fx.good, "--config=x.yaml"}, code: exitError, msg: []string{"refused: --config="}},
		{name: "repeated lora groups", vllm: []string{fx.good, "--lora-modules", "a=" + fx.adapterA, "--lora-modules", "b=" + fx.adapterB}, code: exitError,
			msg: []string{"refused: --lora-modules", "single --lora-modules"}},
		{name: "--omni", vllm: []string{fx.good, "--omni"}, code: exitError, msg: []string{"refused: --omni"}},
		{name: "--grpc", vllm: []string{fx.good, "--grpc"}, code: exitError, msg: []string{"refused: --grpc"}},
		{name: "--headless still loads the model", vllm: []string{fx.unsigned, "--headless"}, code: exitDenied, decisions: []wantDecision{deniedAs("MODEL", "error")}},
		{name: "--flag=value", vllm: []string{fx.good, "--tokenizer=org/config"}, decisions: []wantDecision{verified("MODEL"), verified("--tokenizer")},
			pins: []string{"--tokenizer-revision", fx.configCommit}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			execWorld(t, fx)
			pol := fx.policy
			if c.policy == "nomodels" {
				pol = fx.noModels
			}
			if c.code == -1 {
				// A relative MODEL is resolved against the working
				// directory vLLM inherits.
				t.Chdir(fx.root)
				c.code = exitOK
				c.decisions = []wantDecision{verified("MODEL")}
			}
			vllm := append([]string{"vllm", "serve"}, c.vllm...)
			r := runExec(t, pol, append([]string{"--output", "json"}, c.flags...), vllm...)
			r.want(t, c.code)
			recs := r.records(t)
			if len(recs) != len(c.decisions) {
				t.Fatalf("%d decisions, want %d:\n%s\n%s", len(recs), len(c.decisions), r.stdout, r.stderr)
			}
			for i, w := range c.decisions {
				w.check(t, recs[i])
			}
			text := r.stderr
			for _, rec := range recs {
				text += "\n" + rec["reason"].(string)
			}
			for _, m := range c.msg {
				if !strings.Contains(text, m) {
					t.Errorf("reasons and stderr lack %q:\n%s", m, text)
				}
			}
			if c.code == exitOK {
				r.wantExec(t, append(vllm, c.pins...))
			}
		})
	}
}

// TestExecHubKeyOrder: for an artifact named by id the rule is
// hf:ID@COMMIT, then hf:ID, then the path rules on the snapshot.
func TestExecHubKeyOrder(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	q := strings.ReplaceAll(fx.hub, ".", `\.`)
	pol := writeFile(t, filepath.Join(t.TempDir(), "policy.json"), must(json.Marshal(map[string]any{"policy": map[string]any{"signatures": map[string]any{
		"signers": map[string]any{"k": map[string]any{"verification_method": "key", "public_key": fx.pub}, "skip": map[string]any{"verification_method": "skip"}},
		"models": map[string]any{
			"regex:" + q + "/.*":         map[string]any{"signer": "skip"},
			"hf:org/good@" + fx.v2Commit: map[string]any{"signer": "skip"},
			"hf:org/good":                map[string]any{"signer": "k"},
		},
	}}})))
	for _, c := range []struct {
		vllm          []string
		rule, outcome string
		commit        string
	}{
		{[]string{"org/good"}, "hf:org/good", "verified", fx.goodCommit},
		{[]string{"org/good", "--revision", "v2"}, "hf:org/good@" + fx.v2Commit, "skipped", fx.v2Commit},
		{[]string{"org/verifier"}, "regex:" + q + "/.*", "skipped", fx.verC},
	} {
		r := runExec(t, pol, []string{"--output", "json"}, append([]string{"vllm", "serve"}, c.vllm...)...).want(t, exitOK)
		rec := oneJSON(t, r.stdout)
		checkFields(t, rec, map[string]any{"rule": c.rule, "outcome": c.outcome, "commit": c.commit, "hub_id": c.vllm[0]})
	}
}

// TestExecEnvironment: spec vllm.md §3. vLLM gets HF_HUB_OFFLINE=1 and
// TRANSFORMERS_OFFLINE=1 (replacing what was set), VLLM_PLUGINS="" unless
// set; variables that redirect models, add code or routes are refused.
func TestExecEnvironment(t *testing.T) {
	fx := newExecFixture(t)
	for _, c := range []struct {
		name   string
		env    map[string]string
		policy string
		model  string
		code   int
		added  []string // the hardening expected (exit 0)
		msg    string
	}{
		{name: "nothing set", code: exitOK},
		{name: "offline switched on in place", env: map[string]string{"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "false"}, code: exitOK,
			added: []string{"HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "VLLM_PLUGINS="}},
		{name: "plugins given", env: map[string]string{"VLLM_PLUGINS": "my_plugin"}, code: exitOK,
			added: []string{"HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"}},
		{name: "model redirect", env: map[string]string{"VLLM_MODEL_REDIRECT_PATH": "/x"}, code: exitError, msg: "refused: VLLM_MODEL_REDIRECT_PATH"},
		{name: "modelscope", env: map[string]string{"VLLM_USE_MODELSCOPE": "True"}, code: exitError, msg: "refused: VLLM_USE_MODELSCOPE"},
		{name: "dev mode", env: map[string]string{"VLLM_SERVER_DEV_MODE": "1"}, code: exitError, msg: "refused: VLLM_SERVER_DEV_MODE"},
		{name: "runtime lora updating with a loras section", env: map[string]string{"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}, code: exitError,
			msg: "refused: VLLM_ALLOW_RUNTIME_LORA_UPDATING"},
		{name: "runtime lora updating without a loras section", env: map[string]string{"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1"}, policy: "nolora", code: exitOK},
		{name: "sagemaker handler", env: map[string]string{"CUSTOM_SCRIPT_FILENAME": "h.py"}, code: exitError, msg: "refused: CUSTOM_SCRIPT_FILENAME"},
		{name: "fastapi handler", env: map[string]string{"CUSTOM_FASTAPI_PING_HANDLER": "x"}, code: exitError, msg: "refused: CUSTOM_FASTAPI_PING_HANDLER"},
		{name: "lora resolver plugin", env: map[string]string{"VLLM_PLUGINS": "lora_filesystem_resolver"}, code: exitError, msg: "--listen"},
		{name: "skip model name validation without the gate", env: map[string]string{"VLLM_SKIP_MODEL_NAME_VALIDATION": "1"}, code: exitOK},
		{name: "relative hub cache", env: map[string]string{"HF_HUB_CACHE": "hub"}, model: "org/good", code: exitError, msg: `refused: HF_HUB_CACHE: relative`},
		{name: "relative hub cache, local model", env: map[string]string{"HF_HUB_CACHE": "hub"}, code: exitOK},
		{name: "cache from HF_HOME", env: map[string]string{"HF_HUB_CACHE": "", "HF_HOME": filepath.Dir(fx.hub)}, model: "org/good", code: exitOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			execWorld(t, fx)
			for k, v := range c.env {
				if v == "" {
					os.Unsetenv(k)
					continue
				}
				t.Setenv(k, v)
			}
			pol := fx.policy
			if c.policy == "nolora" {
				pol = fx.noLoRAs
			}
			model := fx.good
			if c.model != "" {
				model = c.model
			}
			r := runExec(t, pol, nil, "vllm", "serve", model).wantCode(t, c.code)
			if c.msg != "" {
				r.stderrHas(t, c.msg)
			}
			if c.code != exitOK {
				return
			}
			argv := []string{"vllm", "serve", model}
			if c.model != "" {
				argv = append(argv, "--revision", fx.goodCommit, "--tokenizer-revision", fx.goodCommit)
			}
			r.wantExec(t, argv, c.added...)
		})
	}
}

// TestExecConfigFile: the --config YAML is read as vLLM reads it (its
// artifacts decided), and vLLM is pointed at a private, read-only copy of
// exactly the bytes that were read.
func TestExecConfigFile(t *testing.T) {
	fx := newExecFixture(t)
	wd := execWorld(t, fx)
	yaml := "tokenizer: org/config\nlora-modules:\n  - a=" + fx.adapterA + "\nenable-lora: true\n"
	cfg := writeFile(t, filepath.Join(wd, "serve.yaml"), []byte(yaml))
	r := runExec(t, fx.policy, []string{"--output", "json"}, "vllm", "serve", "org/good", "--config", "serve.yaml").wantCode(t, exitOK)
	recs := r.records(t)
	if len(recs) != 3 {
		t.Fatalf("%d decisions:\n%s", len(recs), r.stdout)
	}
	verified("MODEL").check(t, recs[0])
	verified("--tokenizer").check(t, recs[1])
	verified("--lora-modules[1] a").check(t, recs[2])
	argv := r.call.argv
	i := slices.Index(argv, "--config")
	if i < 0 || argv[i+1] == "serve.yaml" || !filepath.IsAbs(argv[i+1]) {
		t.Fatalf("argv %q does not name a copy of the config file", argv)
	}
	cp := argv[i+1]
	if got := string(mustRead(t, cp)); got != yaml {
		t.Errorf("copy holds %q, want %q", got, yaml)
	}
	if fi, err := os.Stat(cp); err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("copy mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(cp)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("copy folder mode: %v %v", fi.Mode(), err)
	}
	want := []string{"vllm", "serve", "org/good", "--config", cp, "--revision", fx.goodCommit, "--tokenizer-revision", fx.configCommit}
	r.wantExec(t, want)
	os.RemoveAll(filepath.Dir(cp))
	if string(mustRead(t, cfg)) != yaml {
		t.Error("the config file changed")
	}

	// A denial writes no copy.
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "modelgate-exec-*"))
	writeFile(t, cfg, []byte("lora-modules:\n  - a="+fx.adapterUnsigned+"\n"))
	runExec(t, fx.policy, nil, "vllm", "serve", fx.good, "--config", "serve.yaml").want(t, exitDenied)
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "modelgate-exec-*"))
	if len(after) > len(before) {
		t.Errorf("a denied start left a config copy: %v", after)
	}
}

// TestExecUsage: exec's own usage errors (exit 2), and commands that are
// not vLLM.
func TestExecUsage(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"exec", "--security-policy", fx.policy}, "give the vLLM command after --"},
		{[]string{"exec", "--security-policy", fx.policy, "vllm", "serve", fx.good}, "give the vLLM command after --"},
		{[]string{"exec", "--", "vllm", "serve", fx.good}, "--security-policy"},
		{[]string{"exec", "--security-policy", fx.policy, "--output", "yaml", "--", "vllm", "serve", fx.good}, "--output"},
		{[]string{"exec", "--security-policy", filepath.Join(fx.root, "none.json"), "--", "vllm", "serve", fx.good}, "none.json"},
		{[]string{"exec", "--security-policy", fx.policy, "--allow-flag", "--tokenizer", "--", "vllm", "serve", fx.good}, "not a flag that loads code"},
		{[]string{"exec", "--security-policy", fx.policy, "--", "bash", "-c", "vllm serve x"}, "refused"},
		{[]string{"exec", "--security-policy", fx.policy, "--", "python3", "-m", "vllm.entrypoints.cli.main"}, "refused"},
	} {
		runCLI(t, c.args...).want(t, exitError).stderrHas(t, c.msg)
	}
	// The module form is recognised and started as written.
	argv := []string{"python3", "-m", "vllm.entrypoints.openai.api_server", "--model", fx.good}
	runExec(t, fx.policy, nil, argv...).wantExec(t, argv)
	// vLLM that is not on PATH.
	t.Setenv("PATH", t.TempDir())
	runExec(t, fx.policy, nil, "vllm", "serve", fx.good).want(t, exitError).stderrHas(t, `cannot run "vllm"`)
}

// TestExecText: the text records name where each artifact was named, and
// --quiet prints only what went wrong.
func TestExecText(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	r := runExec(t, fx.policy, nil, "vllm", "serve", "org/good", "--lora-modules", "x="+fx.adapterUnsigned).want(t, exitDenied)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `MODEL: verified model "org/good" at commit `+fx.goodCommit+` in "`+fx.hub+`": signer "k" (key), rule "hf:org/good"`) ||
		!strings.HasPrefix(lines[1], `--lora-modules[1] x: denied lora "`+fx.adapterUnsigned+`" (error): `) {
		t.Errorf("text:\n%s", r.stdout)
	}
	r.stderrHas(t, "modelgate: 1 of 2 artifacts denied: vLLM was not started")
	quiet := runQuietExec(t, fx)
	if strings.Contains(quiet.stdout, "MODEL:") || !strings.Contains(quiet.stdout, "--lora-modules[1] x: denied") {
		t.Errorf("--quiet:\n%s", quiet.stdout)
	}
}

// runQuietExec runs a denied exec with --quiet.
func runQuietExec(t *testing.T, fx *execFixture) execRun {
	t.Helper()
	var r execRun
	args := []string{"--quiet", "exec", "--security-policy", fx.policy, "--", "vllm", "serve", "org/good", "--lora-modules", "x=" + fx.adapterUnsigned}
	r.result = runCLI(t, args...).want(t, exitDenied)
	return r
}

// TestExecWritesNothing: deciding, allowed or not, writes nothing into the
// model folders or the hub caches (entries, sizes, modes, times).
func TestExecWritesNothing(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	roots := []string{filepath.Join(fx.root, "models"), fx.gguf, filepath.Join(fx.root, "adapters"), fx.hub, fx.dlSame, fx.dlOther}
	before := treeState(t, roots...)
	for _, vllm := range [][]string{
		{"org/good", "--download-dir", fx.dlSame, "--lora-modules", "a=" + fx.adapterA},
		{"org/good", "--download-dir", fx.dlOther},
		{fx.specHub, "--trust-remote-code"},
		{filepath.Join(fx.gguf, "tiny.gguf")},
		{"org/partial"}, {"org/escape"}, {"org/cycle"}, {fx.unsigned}, {fx.skipped, "--trust-remote-code"},
	} {
		runExec(t, fx.policy, nil, append([]string{"vllm", "serve"}, vllm...)...)
	}
	after := treeState(t, roots...)
	if len(before) != len(after) {
		t.Errorf("%d entries before, %d after", len(before), len(after))
	}
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed: %s -> %s", p, v, after[p])
		}
	}
}

// vllmBin returns a folder holding "vllm" and "python3" that are this
// test binary, which plays vLLM (see fakeVLLM) when started by those
// names.
func vllmBin(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"vllm", "python3"} {
		if err := os.Symlink(self, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// TestExecReplacesProcess runs modelgate as a real process: when every
// artifact is allowed, vLLM replaces it (same process id) with exactly the
// pinned argv, the hardened environment, modelgate's working directory and
// the checked bytes of its --config file; when something is denied or
// refused, vLLM never runs.
func TestExecReplacesProcess(t *testing.T) {
	fx := newExecFixture(t)
	bin := vllmBin(t)
	wd := t.TempDir()
	yaml := "served-model-name: tiny\n"
	writeFile(t, filepath.Join(wd, "serve.yaml"), []byte(yaml))
	env := []string{"PATH=" + bin, "HOME=" + t.TempDir(), "HF_HUB_CACHE=" + fx.hub, asModelgate + "=1"}
	// run starts modelgate exec with env plus extra and returns it, what
	// the fake vLLM recorded (nil: it did not run) and the environment
	// modelgate had.
	run := func(t *testing.T, extra []string, vllm ...string) (*child, *vllmRecord, []string) {
		t.Helper()
		record := filepath.Join(t.TempDir(), "record.json")
		childEnv := append(append(slices.Clone(env), extra...), fakeVLLMRecord+"="+record)
		c := startIn(t, wd, childEnv, append([]string{"exec", "--security-policy", fx.policy, "--"}, vllm...)...)
		c.wait()
		b, err := os.ReadFile(record)
		if err != nil {
			return c, nil, childEnv
		}
		var rec vllmRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		return c, &rec, childEnv
	}

	t.Run("allowed", func(t *testing.T) {
		c, rec, childEnv := run(t, []string{"HF_HUB_OFFLINE=0"}, "vllm", "serve", "org/good", "--config", "serve.yaml", "--lora-modules", "a="+fx.adapterA, "--enable-lora")
		if code := c.cmd.ProcessState.ExitCode(); code != 0 || rec == nil {
			t.Fatalf("exit %d, vLLM ran: %v\nstdout:\n%s\nstderr:\n%s", code, rec != nil, c.stdout.String(), c.stderr.String())
		}
		if rec.PID != c.cmd.Process.Pid {
			t.Errorf("vLLM ran as process %d, modelgate was %d: not exec'd in place", rec.PID, c.cmd.Process.Pid)
		}
		i := slices.Index(rec.Argv, "--config")
		if i < 0 {
			t.Fatalf("argv %q", rec.Argv)
		}
		copyPath := rec.Argv[i+1]
		defer os.RemoveAll(filepath.Dir(copyPath))
		want := []string{"vllm", "serve", "org/good", "--config", copyPath, "--lora-modules", "a=" + fx.adapterA, "--enable-lora",
			"--revision", fx.goodCommit, "--tokenizer-revision", fx.goodCommit}
		if !slices.Equal(rec.Argv, want) {
			t.Errorf("argv:\n got %q\nwant %q", rec.Argv, want)
		}
		if copyPath == filepath.Join(wd, "serve.yaml") || rec.Config != yaml {
			t.Errorf("vLLM read %q from %q, want a copy holding %q", rec.Config, copyPath, yaml)
		}
		if wantEnv := hardened(childEnv); !slices.Equal(rec.Env, wantEnv) {
			t.Errorf("env:\n got %q\nwant %q", rec.Env, wantEnv)
		}
		if rec.Dir != wd {
			t.Errorf("vLLM ran in %q, want %q", rec.Dir, wd)
		}
		if !strings.Contains(c.stdout.String(), "MODEL: verified model") {
			t.Errorf("stdout:\n%s", c.stdout.String())
		}
	})
	t.Run("module form", func(t *testing.T) {
		c, rec, _ := run(t, nil, "python3", "-m", "vllm.entrypoints.openai.api_server", "--model", fx.good)
		want := []string{"python3", "-m", "vllm.entrypoints.openai.api_server", "--model", fx.good}
		if rec == nil || !slices.Equal(rec.Argv, want) {
			t.Fatalf("record %+v\nstderr:\n%s", rec, c.stderr.String())
		}
	})
	for _, c := range []struct {
		name string
		env  []string
		vllm []string
		code int
	}{
		{"denied", nil, []string{"vllm", "serve", fx.good, "--lora-modules", "x=" + fx.adapterUnsigned}, exitDenied},
		{"refused command line", nil, []string{"vllm", "serve", fx.good, "--lora-mod", "x=" + fx.adapterA}, exitError},
		{"refused environment", []string{"VLLM_MODEL_REDIRECT_PATH=/x"}, []string{"vllm", "serve", fx.good}, exitError},
		{"refused after deciding", nil, []string{"vllm", "serve", fx.skipped, "--trust-remote-code"}, exitError},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, rec, _ := run(t, c.env, c.vllm...)
			if code := p.cmd.ProcessState.ExitCode(); code != c.code || rec != nil {
				t.Errorf("exit %d (want %d), vLLM ran: %v\nstderr:\n%s", code, c.code, rec != nil, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), "vLLM was not started") {
				t.Errorf("stderr:\n%s", p.stderr.String())
			}
		})
	}
}
