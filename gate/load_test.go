package gate

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadLoRAAdapter covers POST /v1/load_lora_adapter with real signed
// adapters: allowed loads reach vLLM byte for byte, denied ones never do.
func TestLoadLoRAAdapter(t *testing.T) {
	h := newHarness(t)
	body := loadBody("good", h.fx.good)
	r := h.postJSON("/v1/load_lora_adapter", body)
	if r.status != http.StatusOK || r.body != "Success: LoRA adapter 'good' added successfully." {
		t.Fatalf("allowed load: %d %q", r.status, r.body)
	}
	got := h.fake.received("/v1/load_lora_adapter")
	if len(got) != 1 || string(got[0].body) != body {
		t.Fatalf("the upstream got %v, want the original body %q", got, body)
	}
	// The adapter is now a served name: a completion naming it passes.
	if r := h.postJSON("/v1/completions", `{"model":"good","prompt":"hi"}`); r.status != http.StatusOK {
		t.Errorf("completion with the loaded adapter: %d %s", r.status, r.body)
	}

	for _, tt := range []struct {
		name   string
		path   func(fx *fixture) string
		reason []string
	}{
		{"tampered", func(fx *fixture) string { return fx.tampered }, []string{"verification failed", "adapter_model.safetensors"}},
		{"unsigned", func(fx *fixture) string { return fx.unsigned }, []string{"model.sig"}},
		{"outside the policy", func(*fixture) string { return t.TempDir() }, []string{"no rule"}},
		{"missing", func(fx *fixture) string { return filepath.Join(fx.root, "adapters", "nothing") }, []string{"does not exist"}},
		{"dot-dot out of the signed folder", func(fx *fixture) string { return fx.good + "/../unsigned" }, []string{"model.sig"}},
		{"object storage", func(*fixture) string { return "s3://bucket/adapter" }, []string{"not a local path"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustDeny(h.postJSON("/v1/load_lora_adapter", loadBody("x", tt.path(h.fx))), "lora_path", "/v1/load_lora_adapter", tt.reason...)
		})
	}
}

// TestLoadInplace: load_inplace true replaces an adapter under an
// existing name; it is decided like a new load.
func TestLoadInplace(t *testing.T) {
	h := newHarness(t)
	if r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.good)); r.status != http.StatusOK {
		t.Fatalf("first load: %d %s", r.status, r.body)
	}
	r := h.postJSON("/v1/load_lora_adapter", `{"lora_name":"a","lora_path":`+quoteJSON(h.fx.unsigned)+`,"load_inplace":true}`)
	h.t.Helper()
	if r.status != http.StatusForbidden {
		t.Fatalf("in-place load of an unsigned adapter: %d %s", r.status, r.body)
	}
	if n := len(h.fake.received("/v1/load_lora_adapter")); n != 1 {
		t.Errorf("the upstream saw %d loads, want 1", n)
	}
	if p, _ := h.fake.loaded("a"); p != h.fx.good {
		t.Errorf("adapter a is %s, want %s", p, h.fx.good)
	}
	r = h.postJSON("/v1/load_lora_adapter", `{"lora_name":"a","lora_path":`+quoteJSON(h.fx.home+"/mine")+`,"load_inplace":true}`)
	if r.status != http.StatusOK {
		t.Fatalf("in-place load of a signed adapter: %d %s", r.status, r.body)
	}
}

func quoteJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestSageMakerAdapters covers POST /adapters with a JSON body and with a
// query string, and DELETE /adapters/NAME.
func TestSageMakerAdapters(t *testing.T) {
	t.Run("body allowed", func(t *testing.T) {
		h := newHarness(t)
		r := h.do(http.MethodPost, "/adapters", "application/json", `{"name":"sm","src":`+quoteJSON(h.fx.good)+`,"preload":true}`)
		if r.status != http.StatusOK || r.body != "Adapter sm registered" {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if r := h.postJSON("/invocations", `{"prompt":"x"}`, AdapterHeader, "sm"); r.status != http.StatusOK {
			t.Errorf("invocation of the registered adapter: %d %s", r.status, r.body)
		}
		if r := h.do(http.MethodDelete, "/adapters/sm", "", ""); r.status != http.StatusOK || r.body != "Adapter sm unregistered" {
			t.Fatalf("delete: %d %q", r.status, r.body)
		}
		r = h.postJSON("/invocations", `{"prompt":"x"}`, AdapterHeader, "sm")
		if r.status != http.StatusNotFound || r.vllmErr(t).Message != "The model `sm` does not exist." {
			t.Errorf("invocation after delete: %d %s", r.status, r.body)
		}
	})
	t.Run("body denied", func(t *testing.T) {
		h := newHarness(t)
		h.mustDeny(h.do(http.MethodPost, "/adapters", "", `{"name":"sm","src":`+quoteJSON(h.fx.unsigned)+`}`), "src", "/adapters", "model.sig")
	})
	t.Run("query allowed", func(t *testing.T) {
		h := newHarness(t)
		r := h.do(http.MethodPost, "/adapters?name=q&src="+url.QueryEscape(h.fx.good), "", "")
		if r.status != http.StatusOK {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if _, ok := h.fake.loaded("q"); !ok {
			t.Error("the upstream did not load the adapter")
		}
	})
	t.Run("query denied", func(t *testing.T) {
		h := newHarness(t)
		h.mustDeny(h.do(http.MethodPost, "/adapters?name=q&src="+url.QueryEscape(h.fx.tampered), "", ""), "src", "/adapters")
	})
	for _, tt := range []struct{ name, target, body string }{
		{"body and query", "/adapters?src=%2Fx", `{"name":"a","src":"/y"}`},
		{"query twice", "/adapters?name=a&src=%2Fx&src=%2Fy", ""},
		{"query case variant", "/adapters?name=a&SRC=%2Fx", ""},
		{"query semicolon", "/adapters?name=a;src=%2Fx", ""},
		{"body case variant", "/adapters", `{"name":"a","Src":"/y"}`},
		{"body empty src", "/adapters", `{"name":"a","src":""}`},
		{"body not JSON", "/adapters", `name=a&src=/y`},
		{"nothing", "/adapters", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.do(http.MethodPost, tt.target, "application/json", tt.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", r.status, r.body)
			}
			if n := len(h.fake.received("/adapters")); n != 0 {
				t.Errorf("the upstream saw %d requests", n)
			}
			if h.calls.Load() != 0 {
				t.Errorf("%d decisions for a refused request", h.calls.Load())
			}
		})
	}
	t.Run("query raw non-ASCII", func(t *testing.T) {
		// Starlette decodes the query string as Latin-1 before it
		// percent-decodes it: raw "é" in src is "Ã©" to SageMaker's
		// handler, so vLLM would load another folder than the one
		// decided.
		h := newHarness(t)
		r := h.raw(http.MethodPost, "/adapters?name=q&src="+h.fx.good+"\xc3\xa9", "")
		if r.status != http.StatusBadRequest {
			t.Fatalf("%d %s, want 400", r.status, r.body)
		}
		if n := len(h.fake.received("/adapters")); n != 0 || h.calls.Load() != 0 {
			t.Errorf("the upstream saw %d requests; %d decisions", n, h.calls.Load())
		}
	})
}

// TestLoadBodyStrict: the load body is read exactly as vLLM reads it, or
// refused.
func TestLoadBodyStrict(t *testing.T) {
	good := func(h *harness) string { return quoteJSON(h.fx.good) }
	for _, tt := range []struct {
		name   string
		ctype  string
		body   func(h *harness) string
		status int
	}{
		{"case-variant key", "application/json", func(h *harness) string { return `{"lora_name":"a","Lora_Path":` + good(h) + `}` }, 400},
		{"case-variant key beside the real one", "application/json", func(h *harness) string {
			return `{"lora_name":"a","lora_path":` + good(h) + `,"LORA_PATH":` + quoteJSON(h.fx.unsigned) + `}`
		}, 400},
		{"duplicate key", "application/json", func(h *harness) string {
			return `{"lora_name":"a","lora_path":` + good(h) + `,"lora_path":` + quoteJSON(h.fx.unsigned) + `}`
		}, 400},
		{"duplicate key spelled with an escape", "application/json", func(h *harness) string {
			return `{"lora_name":"a","lora_path":` + good(h) + `,"lora_p\u0061th":` + quoteJSON(h.fx.unsigned) + `}`
		}, 400},
		{"unknown key", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":` + good(h) + `,"revision":"x"}` }, 400},
		{"path not a string", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":["/x"]}` }, 400},
		{"name not a string", "application/json", func(h *harness) string { return `{"lora_name":1,"lora_path":` + good(h) + `}` }, 400},
		{"load_inplace not a bool", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":` + good(h) + `,"load_inplace":"yes"}` }, 400},
		{"no path", "application/json", func(h *harness) string { return `{"lora_name":"a"}` }, 400},
		{"empty path", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":""}` }, 400},
		{"NUL in path", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":"/x\u0000y"}` }, 400},
		{"list", "application/json", func(h *harness) string { return `[` + good(h) + `]` }, 400},
		{"trailing data", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":` + good(h) + `} {}` }, 400},
		{"byte order mark", "application/json", func(h *harness) string { return "\ufeff" + `{"lora_name":"a","lora_path":` + good(h) + `}` }, 400},
		{"NaN", "application/json", func(h *harness) string { return `{"lora_name":"a","lora_path":` + good(h) + `,"lora_int_id":NaN}` }, 400},
		{"oversized", "application/json", func(h *harness) string {
			return `{"lora_name":"` + strings.Repeat("a", MaxLoadBody) + `","lora_path":` + good(h) + `}`
		}, 413},
		{"text/plain", "text/plain", func(h *harness) string { return `{"lora_name":"a","lora_path":` + good(h) + `}` }, 415},
		{"no content type", "", func(h *harness) string { return `{"lora_name":"a","lora_path":` + good(h) + `}` }, 415},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.do(http.MethodPost, "/v1/load_lora_adapter", tt.ctype, tt.body(h))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if e := r.vllmErr(t); e.Code != tt.status {
				t.Errorf("error code %d, want %d", e.Code, tt.status)
			}
			if n := len(h.fake.requests()); n != 0 {
				t.Errorf("the upstream saw %d requests", n)
			}
			if h.calls.Load() != 0 {
				t.Errorf("%d decisions for a refused request", h.calls.Load())
			}
		})
	}
	t.Run("charset parameter", func(t *testing.T) {
		h := newHarness(t)
		if r := h.do(http.MethodPost, "/v1/load_lora_adapter", "application/json; charset=utf-8", loadBody("a", h.fx.good)); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// TestLoadMethods: a load route takes POST; OPTIONS (CORS preflight) goes
// to vLLM; anything else is refused without being forwarded.
func TestLoadMethods(t *testing.T) {
	h := newHarness(t)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if r := h.do(m, "/v1/load_lora_adapter", "application/json", loadBody("a", h.fx.unsigned)); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("%s: %d, Allow %q", m, r.status, r.header.Get("Allow"))
		}
	}
	if r := h.do(http.MethodGet, "/adapters/x", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /adapters/x: %d", r.status)
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("the upstream saw %d requests", n)
	}
	h.do(http.MethodOptions, "/v1/load_lora_adapter", "", "")
	if got := h.fake.received("/v1/load_lora_adapter"); len(got) != 1 || got[0].method != http.MethodOptions {
		t.Errorf("OPTIONS was not forwarded: %v", got)
	}
}

// TestLoRAPathResolution: lora_path is resolved as vLLM resolves it.
func TestLoRAPathResolution(t *testing.T) {
	hub := func(h *harness, c *Config) { c.HubCache = h.fx.hubRoot }
	home := func(h *harness, c *Config) { c.UpstreamHome = h.fx.home }
	for _, tt := range []struct {
		name    string
		path    string
		opts    []option
		allowed bool
		reason  string
	}{
		{"relative in vLLM's working directory", "rel", nil, true, ""},
		{"relative with ./", "./rel", nil, true, ""},
		{"relative that looks like a hub id but exists", "org/name", []option{hub}, true, ""},
		{"relative with .. out of the signed folder", "rel/../../adapters/unsigned", nil, false, "model.sig"},
		{"~ with vLLM's home", "~/mine", []option{home}, true, ""},
		{"~ without vLLM's home", "~/mine", nil, false, "--upstream-home"},
		{"~user", "~root/mine", []option{home}, false, "another user's home"},
		{"hub id in the cache", "org/adapter", []option{hub}, true, ""},
		{"hub id not in the cache", "org/absent", []option{hub}, false, "is not in the hub cache"},
		{"hub id without a hub cache", "org/adapter", nil, false, "not a local path"},
		{"neither a local path nor a hub id", "no/such/adapter", []option{hub}, false, "nor a Hugging Face id"},
		{"relative path that exists only in the gate's directory", "adapters/good", []option{func(h *harness, _ *Config) { t.Chdir(h.fx.root) }}, false, "not a local path"},
		{"hub snapshot with a link out of blobs", "org/escape", []option{hub}, false, "blobs"},
		{"partial hub snapshot", "org/partial", []option{hub}, false, "fetch the whole revision"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts...)
			body := loadBody("a", tt.path)
			r := h.postJSON("/v1/load_lora_adapter", body)
			if !tt.allowed {
				h.mustDeny(r, "lora_path", "/v1/load_lora_adapter", tt.reason)
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := h.fake.received("/v1/load_lora_adapter"); len(got) != 1 || string(got[0].body) != body {
				t.Errorf("the upstream did not get the original body: %v", got)
			}
		})
	}
}

// TestNoLoRASection: a policy without a loras section lets every adapter
// load (its decision says not-required), hub ids included, resolved or
// not.
func TestNoLoRASection(t *testing.T) {
	h := newHarness(t)
	h.fx.writePolicy(t, []byte(`{"policy":{"signatures":{"signers":{}}}}`))
	if err := h.gate.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{h.fx.unsigned, "org/adapter", "~/x"} {
		if r := h.postJSON("/v1/load_lora_adapter", loadBody(filepath.Base(p), p)); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

// TestHubKeysAtRunTime: an adapter named by Hugging Face id is decided by
// the policy's hub rules (hf:ID@COMMIT, hf:ID), not only by path rules on
// its snapshot.
func TestHubKeysAtRunTime(t *testing.T) {
	hub := func(h *harness, c *Config) { c.HubCache = h.fx.hubRoot }
	for _, tt := range []struct {
		name    string
		key     func(fx *fixture) string
		allowed bool
	}{
		{"hf:ID", func(*fixture) string { return "hf:org/adapter" }, true},
		{"hf:ID@COMMIT", func(fx *fixture) string { return "hf:org/adapter@" + fx.hubCommit }, true},
		{"hf:ID@another commit", func(*fixture) string { return "hf:org/adapter@" + strings.Repeat("0", 40) }, false},
		{"another id", func(*fixture) string { return "hf:org/other" }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, hub)
			h.fx.writePolicy(t, h.fx.policyDoc(tt.key(h.fx)))
			if err := h.gate.Reload(); err != nil {
				t.Fatal(err)
			}
			r := h.postJSON("/v1/load_lora_adapter", loadBody("a", "org/adapter"))
			if !tt.allowed {
				h.mustDeny(r, "lora_path", "/v1/load_lora_adapter", "no rule")
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if h.hubCalls.Load() != 1 {
				t.Errorf("%d hub decisions, want 1", h.hubCalls.Load())
			}
		})
	}
}
