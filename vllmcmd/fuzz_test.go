package vllmcmd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fuzzFS is the file system the fuzz targets run against.
func fuzzFS() *fakeFS {
	f := newFS("/work/m/", "/work/t/", "/work/a/", "/g/m.gguf", "/g/mmproj.gguf", "/g/s-00001-of-00002.gguf", "/g/s-00002-of-00002.gguf")
	f.write("/work/c.yaml", "tokenizer: t\nlora-modules: [a=a]\n")
	return f
}

// checkRefusal fails unless err is nil or a *RefusedError.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var re *RefusedError
	if err != nil && !errors.As(err, &re) {
		t.Fatalf("%T %v, want *RefusedError", err, err)
	}
}

// fuzzArgv is a fuzzed command line: args split at spaces, after `vllm
// serve` or, with api, the api_server module.
func fuzzArgv(args string, api bool) []string {
	if api {
		return apiServer(strings.Split(args, " ")...)
	}
	return serve(strings.Split(args, " ")...)
}

// FuzzParse: any argv ends in a command or a refusal; a command rewrites
// to its own argv and, pinned, reads back with the pins.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"m --tokenizer t",
		"--model m --lora-modules a=a {\"name\":\"b\",\"path\":\"a\"}",
		"m --config c.yaml --port 8000",
		"m --speculative-config {\"model\":\"t\",\"revision\":\"main\"}",
		"--lora-mod a=a",
		"m --speculative-config.model x",
		"/g/s-00002-of-00002.gguf -O3 --hf-token",
		"m --served-model-name a b --seed -1 --chat-template -x.y",
		"org/name:Q4_K_M --trust_remote_code --no-trust-remote-code",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	fsys := fuzzFS()
	f.Fuzz(func(t *testing.T, args string, api bool) {
		argv := fuzzArgv(args, api)
		c, err := Parse(argv, opts(fsys))
		checkRefusal(t, err)
		if err != nil {
			return
		}
		if len(c.Artifacts) == 0 || c.Artifacts[0].Source[:5] != "MODEL" {
			t.Fatalf("no MODEL artifact: %+v", c.Artifacts)
		}
		same, err := c.Rewrite(RewriteOptions{})
		if err != nil || !reflect.DeepEqual(same, argv) {
			t.Fatalf("Rewrite without pins: %q %v", same, err)
		}
		pins := Pins{Revision: commitA, TokenizerRevision: commitB}
		if c.speculator != nil {
			pins.SpeculativeRevision = commitB
		}
		pinned, err := c.Rewrite(RewriteOptions{Pins: pins, Listen: &Listen{Host: "127.0.0.1", Port: 1234}})
		checkRefusal(t, err)
		if err != nil {
			return
		}
		again, err := Parse(pinned, opts(fsys))
		if err != nil {
			t.Fatalf("pinned argv %q: %v", pinned, err)
		}
		if again.Revision != commitA || again.TokenizerRevision != commitB || again.Host != "127.0.0.1" || again.Port != "1234" {
			t.Fatalf("pinned argv %q reads back as %+v", pinned, again)
		}
	})
}

// FuzzConfig: any --config file ends in arguments or a refusal, quickly.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"port: 8000\ntrust-remote-code: yes\n",
		"speculative-config: {model: d, n: [1, 2.5, ~]}\n",
		"a: &a [x]\nb: [*a, *a]\n",
		"x: !!str 1\ny: ! 'z'\n",
		"lora-modules:\n  - a=/a\n  - b=/b\n",
		"? [a]\n: b\n",
		"x: 0x1F\ny: 1:30\nz: .inf\nw: 2024-01-01\n",
		"---\na: 1\n...\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, form := range []Form{Serve, APIServer} {
			toks, err := configArgs(data, "c.yaml", form)
			checkRefusal(t, err)
			for _, tok := range toks {
				if tok.argv != -1 {
					t.Fatalf("config token with an argv index: %+v", tok)
				}
			}
		}
		fsys := newFS("/work/m/").write("/work/c.yaml", string(data))
		_, err := Parse(serve("m", "--config", "c.yaml"), opts(fsys))
		checkRefusal(t, err)
	})
}

// FuzzLoRAItem: an item is skipped, read in one of vLLM's two forms, or
// refused.
func FuzzLoRAItem(f *testing.F) {
	for _, s := range []string{"a=/b", `{"name":"a","path":"b"}`, `{"name":"a=b"}`, "a=b=c", "None", "", `[{}]`,
		`{"name":"a","path":"b","base_model_name":null,"is_3d_lora_weight":true}`, `{"name":"a","name":"b","path":"c"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, item string) {
		it, skip, err := parseLoRAItem(item, "--lora-modules")
		checkRefusal(t, err)
		switch {
		case err != nil:
		case skip:
			if item != "" && item != "None" {
				t.Fatalf("skipped %q", item)
			}
		case it.name == "" || it.path == "":
			t.Fatalf("%q: empty name or path %+v", item, it)
		case strings.Contains(item, "=") && !strings.Contains(item, ","):
			if it.name+"="+it.path != item {
				t.Fatalf("%q read as %+v", item, it)
			}
		}
	})
}

// FuzzSpeculative: any --speculative-config ends in an artifact list or
// a refusal, and a pinned one reads back at the pinned revision.
func FuzzSpeculative(f *testing.F) {
	for _, s := range []string{`{"model":"t","num_speculative_tokens":3}`, `{"method":"mtp","revision":"r"}`,
		`{"method":"ngram"}`, `{"model":"a.b.C"}`, `{"Model":"x"}`, `{"model":"t","model":"u"}`, `None`, ``,
		`{"model":"org/d","revision":"r","code_revision":"r"}`, `{"model":"t","draft_load_config":{"load_format":"npcache"}}`} {
		f.Add(s)
	}
	fsys := fuzzFS()
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := Parse(serve("org/m", "--speculative-config", spec), opts(fsys))
		checkRefusal(t, err)
		if err != nil || c.speculator == nil {
			return
		}
		pinned, err := c.Rewrite(RewriteOptions{Pins: Pins{SpeculativeRevision: commitA}})
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(pinned, opts(fsys))
		if err != nil {
			t.Fatalf("%q: %v", pinned, err)
		}
		if rev := deref(again.speculator.revision); rev != commitA {
			t.Fatalf("%q: revision %q", pinned, rev)
		}
	})
}

// FuzzHardenEnv: any environment is hardened or refused; a hardened one
// is offline.
func FuzzHardenEnv(f *testing.F) {
	f.Add("PATH=/bin\x00VLLM_PLUGINS=lora_filesystem_resolver", true, false)
	f.Add("VLLM_ALLOW_RUNTIME_LORA_UPDATING= TRUE\x00HF_HUB_OFFLINE=0", false, true)
	f.Fuzz(func(t *testing.T, env string, gate, loras bool) {
		e, err := HardenEnv(strings.Split(env, "\x00"), EnvOptions{BehindGate: gate, HasLoRASection: loras})
		checkRefusal(t, err)
		if err == nil && (!contains(e.Environ, "HF_HUB_OFFLINE=1") || !contains(e.Environ, "TRANSFORMERS_OFFLINE=1")) {
			t.Fatalf("%q", e.Environ)
		}
	})
}
