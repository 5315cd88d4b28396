package gate

import (
	"net/http"
	"strings"
	"testing"
)

// TestEncodedPaths: a load route is recognised however its path is
// spelled, and a path two parsers could read differently is refused
// before anything is decided or forwarded.
func TestEncodedPaths(t *testing.T) {
	rootPath := func(_ *harness, c *Config) { c.RootPath = "/api" }
	for _, tt := range []struct {
		target string
		opts   []option
		want   int // 403: recognised as a load and denied; 400: refused as ambiguous
	}{
		{"/v1/load_lora_adapter", nil, 403},
		{"/v1/load_lora_adapter/", nil, 403},
		{"/v1/%6Coad_lora_adapter", nil, 403},
		{"/%76%31/load_lora_adapter", nil, 403},
		{"/v1/load_lora_adapter?x=1", nil, 403},
		{"/api/v1/load_lora_adapter", []option{rootPath}, 403},
		{"/api/v1/load_lora_adapter/", []option{rootPath}, 403},
		{"/v1/load_lora_adapter", []option{rootPath}, 403}, // Starlette routes without the prefix too
		{"/%61pi/v1/load_lora_adapter", []option{rootPath}, 403},
		{"/v1%2Fload_lora_adapter", nil, 400},
		{"/v1%2fload_lora_adapter", nil, 400},
		{"/v1/load_lora_adapter%2F", nil, 400},
		{"/v1/%2e%2e/v1/load_lora_adapter", nil, 400},
		{"/x/../v1/load_lora_adapter", nil, 400},
		{"/v1/./load_lora_adapter", nil, 400},
		{"/v1/%2E/load_lora_adapter", nil, 400},
		{"//v1/load_lora_adapter", nil, 400},
		{"/v1//load_lora_adapter", nil, 400},
		{"/v1/load_lora_adapter//", nil, 400},
		{"/v1/load%255Flora_adapter", nil, 400},
		{"/v1/load_lora_adapter%00", nil, 400},
		{"/v1/load_lora_adapter%0A", nil, 400},
		{"/v1/load%5Clora_adapter", nil, 400},
		{"/v1/load_lora_adapter%FF", nil, 400},
		{"/v1/load_lora_adapter%C0%AF", nil, 400},
		{"*", nil, 400},
	} {
		t.Run(tt.target, func(t *testing.T) {
			h := newHarness(t, tt.opts...)
			r := h.raw(http.MethodPost, tt.target, loadBody("x", h.fx.unsigned))
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if n := len(h.fake.requests()); n != 0 {
				t.Errorf("the upstream saw %d requests", n)
			}
		})
	}
}

// TestTrailingSlashAllowed: an allowed load sent to "/v1/load_lora_adapter/"
// reaches vLLM, which redirects (307) to the route; the client follows and
// the gate decides again.
func TestTrailingSlashAllowed(t *testing.T) {
	h := newHarness(t)
	r := h.postJSON("/v1/load_lora_adapter/", loadBody("a", h.fx.good))
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, ok := h.fake.loaded("a"); !ok {
		t.Error("not loaded")
	}
}

// TestClassify pins the route table, root path rules included.
func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		path, root string
		want       routeKind
		name       string
	}{
		{"/v1/load_lora_adapter", "", routeLoad, ""},
		{"/v1/unload_lora_adapter/", "", routeUnload, ""},
		{"/adapters", "", routeAdapters, ""},
		{"/adapters/", "", routeAdapters, ""},
		{"/adapters/sql", "", routeAdapterDelete, "sql"},
		{"/adapters/sql/", "", routeAdapterDelete, "sql"},
		{"/adapters/a/b", "", routeOther, ""},
		{"/invocations", "", routeInvocations, ""},
		{"/v1/chat/completions", "", routeInference, ""},
		{"/v1/audio/transcriptions", "", routeInference, ""},
		{"/collective_rpc", "", routeDev, ""},
		{"/trimtab/set_knobs", "", routeDev, ""},
		{"/v1/runtime_config", "", routeDev, ""},
		{"/metrics", "", routeOther, ""},
		{"/V1/load_lora_adapter", "", routeOther, ""},
		{"/api/v1/load_lora_adapter", "/api", routeLoad, ""},
		{"/apix/v1/load_lora_adapter", "/api", routeOther, ""},
		{"/api", "/api", routeOther, ""},
		{"/api/api/v1/load_lora_adapter", "/api", routeOther, ""},
		{"/v1/load_lora_adapter", "/api", routeLoad, ""},
	} {
		got := classify(tt.path, tt.root)
		if got.kind != tt.want || got.name != tt.name {
			t.Errorf("classify(%q, %q) = %v %q, want %v %q", tt.path, tt.root, got.kind, got.name, tt.want, tt.name)
		}
	}
}

// TestDevRoutes: every development route is refused and never forwarded;
// warn mode forwards and counts.
func TestDevRoutes(t *testing.T) {
	h := newHarness(t)
	for p := range devRoutes {
		for _, target := range []string{p, p + "/"} {
			r := h.postJSON(target, `{"method":"load_weights"}`)
			if r.status != http.StatusForbidden || !strings.Contains(r.vllmErr(t).Message, "development route") {
				t.Errorf("%s: %d %s", target, r.status, r.body)
			}
		}
	}
	if r := h.postJSON("/trimtab/reinit", `{}`); r.status != http.StatusForbidden {
		t.Errorf("/trimtab/reinit: %d", r.status)
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("the upstream saw %d requests", n)
	}

	w := newHarness(t, withWarn)
	if r := w.postJSON("/collective_rpc", `{"method":"x"}`); r.status != http.StatusOK {
		t.Errorf("warn mode: %d %s", r.status, r.body)
	}
	if got := testCounter(t, w.gate.metrics.wouldDeny.WithLabelValues("dev-route")); got != 1 {
		t.Errorf("would-refuse count %v, want 1", got)
	}
}

// TestUpgradeRefused: WebSocket upgrades (vLLM's /v1/realtime) are refused
// unless allowed, since the gate cannot read the messages.
func TestUpgradeRefused(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodGet, "/v1/realtime", "", "", "Connection", "Upgrade", "Upgrade", "websocket")
	if r.status != http.StatusForbidden {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := len(h.fake.requests()); n != 0 {
		t.Errorf("the upstream saw %d requests", n)
	}
}

// TestH2CUpgradeIgnored: curl --http2 over cleartext asks to upgrade to
// h2c; the request goes on as HTTP/1.1.
func TestH2CUpgradeIgnored(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodGet, "/health", "", "", "Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := h.fake.received("/health"); len(got) != 1 || got[0].header.Get("Upgrade") != "" {
		t.Errorf("forwarded as %v", got)
	}
}
