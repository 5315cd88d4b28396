package gate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/modelgate/modelgate/policy"
)

// served is a gate running Serve on loopback listeners.
type served struct {
	h         *harness
	api, adm  string // base URLs
	cancel    context.CancelFunc
	done      chan error
	cancelled atomic.Bool
}

// serve runs the harness's configuration through Serve (instead of the
// harness's httptest server).
func serve(t *testing.T, opts ...option) *served {
	t.Helper()
	h := newHarness(t, opts...)
	h.srv.Close() // the Handler-only server is not used here
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{h: h, api: "http://" + api.Addr().String(), adm: "http://" + adm.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- h.gate.Serve(ctx, api, adm) }()
	t.Cleanup(func() {
		if !s.cancelled.Load() {
			s.stop(t)
		}
	})
	return s
}

// stop cancels Serve and waits for it to return.
func (s *served) stop(t testing.TB) error {
	t.Helper()
	s.cancelled.Store(true)
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postJSON(t testing.TB, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually waits (bounded) until cond holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAdminEndpoints: health, readiness and metrics on the admin
// listener.
func TestAdminEndpoints(t *testing.T) {
	s := serve(t)
	if code, body := get(t, s.adm+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, s.adm+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %q", code, body)
	}
	postJSON(t, s.api+"/v1/load_lora_adapter", loadBody("a", s.h.fx.unsigned))
	code, body := get(t, s.adm+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`modelgate_gate_decisions_total{kind="lora",outcome="denied"} 1`,
		`modelgate_gate_refused_requests_total{reason="policy"} 1`,
		`modelgate_gate_requests_total{route="load_lora_adapter"} 1`,
		`modelgate_gate_policy_reloads_total 1`,
		`modelgate_gate_verification_seconds_count{kind="lora"} 1`,
		"modelgate_gate_hashed_bytes_total",
		"modelgate_gate_policy_reload_failures_total 0",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// vLLM's own /metrics stays on the API port.
	if _, body := get(t, s.api+"/metrics"); body != "vllm:num_requests_running 0\n" {
		t.Errorf("API /metrics: %q", body)
	}
	s.h.fake.srv.Close()
	if code, body := get(t, s.adm+"/readyz"); code != 503 || !strings.Contains(body, "vLLM is not healthy") {
		t.Errorf("/readyz with vLLM down: %d %q", code, body)
	}
}

// TestReloadOnFileChange: a new valid policy takes effect when its file is
// replaced; an invalid one is counted and the old one stays in force.
func TestReloadOnFileChange(t *testing.T) {
	s := serve(t, func(_ *harness, c *Config) {
		c.WatchPolicy = true
		c.ReloadDebounce = 20 * time.Millisecond
	})
	h, fx, m := s.h, s.h.fx, s.h.gate.metrics
	if code, _ := postJSON(t, s.api+"/v1/load_lora_adapter", loadBody("a", fx.good)); code != 200 {
		t.Fatalf("before: %d", code)
	}
	// Only the unsigned folder has a rule now; good has none.
	fx.writePolicy(t, fx.policyDoc(fx.unsigned))
	eventually(t, "the new policy is in force", func() bool { return testCounter(t, m.reloads) == 2 })
	if code, _ := postJSON(t, s.api+"/v1/load_lora_adapter", loadBody("b", fx.good)); code != 403 {
		t.Errorf("after reload: %d, want 403", code)
	}
	fx.writePolicy(t, []byte(`{"policy": {"signatures": {"signers": {}, "loras": {"/x": {"signer": "nobody"}}}}}`))
	eventually(t, "the failed reload is counted", func() bool { return testCounter(t, m.reloadFailures) == 1 })
	if code, _ := postJSON(t, s.api+"/v1/load_lora_adapter", loadBody("c", fx.good)); code != 403 {
		t.Errorf("after a failed reload: %d, want 403 (the previous policy)", code)
	}
	if !strings.Contains(h.logs.String(), "policy reload failed") {
		t.Error("the failed reload was not logged")
	}
	// Touching the invalid file again does not count a second failure;
	// writing the same valid policy back reloads once.
	fx.writePolicy(t, fx.policyDoc("regex:"+fx.root+"/.*"))
	eventually(t, "the fixed policy is in force", func() bool { return testCounter(t, m.reloads) == 3 })
	if code, _ := postJSON(t, s.api+"/v1/load_lora_adapter", loadBody("d", fx.good)); code != 200 {
		t.Errorf("after the fix: %d", code)
	}
	if got := testCounter(t, m.reloadFailures); got != 1 {
		t.Errorf("%v reload failures, want 1", got)
	}
}

// TestReloadAPI: Reload reports what is wrong with a new policy.
func TestReloadAPI(t *testing.T) {
	h := newHarness(t)
	h.fx.writePolicy(t, []byte(`{"policy": {"signatures": {"signers": {}, "lora": {}}}}`))
	err := h.gate.Reload()
	var le *policy.LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "lora") {
		t.Fatalf("Reload: %v", err)
	}
	if r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.good)); r.status != 200 {
		t.Errorf("old policy: %d", r.status)
	}
}

// TestWarnMode: warn mode forwards what enforce would refuse, and logs
// and counts it.
func TestWarnMode(t *testing.T) {
	h := newHarness(t, withWarn)
	if r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.unsigned)); r.status != 200 {
		t.Fatalf("warn mode load: %d %s", r.status, r.body)
	}
	if r := h.postJSON("/v1/completions", `{"model":"evil"}`); r.status != 404 {
		t.Errorf("warn mode unknown model: %d %s (want vLLM's own 404)", r.status, r.body)
	}
	if len(h.fake.received("/v1/completions")) != 1 {
		t.Error("the unknown model was not forwarded")
	}
	m := h.gate.metrics
	if got := testCounter(t, m.wouldDeny.WithLabelValues("policy")); got != 1 {
		t.Errorf("policy would-refuse %v", got)
	}
	if got := testCounter(t, m.wouldDeny.WithLabelValues("unknown-model")); got != 1 {
		t.Errorf("unknown-model would-refuse %v", got)
	}
	if got := testCounter(t, m.decisions.WithLabelValues("lora", "denied")); got != 1 {
		t.Errorf("denied decisions %v", got)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "warn mode: forwarding a request enforce mode would refuse") || !strings.Contains(logs, "model.sig") {
		t.Errorf("warn mode log: %s", logs)
	}
	// Malformed requests are refused in warn mode too.
	if r := h.postJSON("/v1/load_lora_adapter", `{"lora_name":"a","lora_name":"b","lora_path":"/x"}`); r.status != 400 {
		t.Errorf("malformed in warn mode: %d", r.status)
	}
}

// TestAPIKey: with vLLM's API key, the gate refuses unauthenticated
// requests on protected routes before verifying anything, and uses the
// key for its own calls.
func TestAPIKey(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) {
		c.APIKeys = []string{"s3cret"}
		h.fake.apiKey = "s3cret"
	})
	for _, auth := range []string{"", "Bearer wrong", "Basic s3cret", "Bearer  s3cret"} {
		r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.good), "Authorization", auth)
		if r.status != 401 || r.body != `{"error":"Unauthorized"}` {
			t.Errorf("%q: %d %s", auth, r.status, r.body)
		}
	}
	if h.calls.Load() != 0 || len(h.fake.requests()) != 0 {
		t.Error("an unauthenticated request was decided or forwarded")
	}
	if r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.good), "Authorization", "bearer s3cret"); r.status != 200 {
		t.Errorf("authenticated: %d %s", r.status, r.body)
	}
	// The gate's GET /v1/models carries the key.
	if r := h.postJSON("/v1/completions", `{"model":"a"}`, "Authorization", "Bearer s3cret"); r.status != 200 {
		t.Errorf("completion: %d %s", r.status, r.body)
	}
	// Unprotected routes are vLLM's business.
	if r := h.do(http.MethodGet, "/health", "", ""); r.status != 200 {
		t.Errorf("/health: %d", r.status)
	}
}

// TestUpstreamDown: vLLM unreachable is a 502 in vLLM's shape, counted;
// requests naming a model cannot be checked and are refused (503).
func TestUpstreamDown(t *testing.T) {
	h := newHarness(t)
	h.fake.srv.Close()
	r := h.do(http.MethodGet, "/health", "", "")
	if r.status != http.StatusBadGateway || r.vllmErr(t).Code != 502 {
		t.Errorf("%d %s", r.status, r.body)
	}
	if r := h.postJSON("/v1/completions", `{"model":"base"}`); r.status != http.StatusServiceUnavailable {
		t.Errorf("model check with vLLM down: %d %s", r.status, r.body)
	}
	if got := testCounter(t, h.gate.metrics.upstreamErrors.WithLabelValues("proxy")); got != 1 {
		t.Errorf("upstream errors %v", got)
	}
}

// TestUnixSocketUpstream: vLLM behind a unix socket.
func TestUnixSocketUpstream(t *testing.T) {
	dir, err := os.MkdirTemp("", "gate-sock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := dir + "/vllm.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeVLLM(t)
	us := &http.Server{Handler: fake}
	go us.Serve(l)
	defer us.Close()
	h := newHarness(t, func(_ *harness, c *Config) { c.Upstream = "unix:" + sock })
	if r := h.postJSON("/v1/load_lora_adapter", loadBody("a", h.fx.good)); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, ok := fake.loaded("a"); !ok {
		t.Error("not loaded through the socket")
	}
}

// TestGracefulShutdown: on shutdown a stream in flight runs to its end,
// new connections are refused, and no goroutine is left behind.
func TestGracefulShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := serve(t)
	s.h.fake.release = make(chan struct{})
	resp, err := http.Post(s.api+"/v1/completions", "application/json", strings.NewReader(`{"model":"base","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "chunk 0") {
		t.Fatalf("first event %q %v", line, err)
	}
	s.cancelled.Store(true)
	s.cancel()
	eventually(t, "the listener is closed", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.api, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	s.h.fake.release <- struct{}{}
	s.h.fake.release <- struct{}{}
	rest, err := io.ReadAll(br)
	if err != nil || !strings.Contains(string(rest), "chunk 2") || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("the stream did not finish: %q %v", rest, err)
	}
	if err := <-s.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	s.h.fake.srv.Close()
}

// TestDrainTimeout: a stream that outlives the drain timeout is cut, and
// Serve still returns with nothing left running.
func TestDrainTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := serve(t, func(_ *harness, c *Config) { c.DrainTimeout = 100 * time.Millisecond })
	s.h.fake.release = make(chan struct{}) // never released
	resp, err := http.Post(s.api+"/v1/completions", "application/json", strings.NewReader(`{"model":"base","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := io.ReadAll(br); err == nil {
		t.Error("the stream was not cut")
	}
	http.DefaultClient.CloseIdleConnections()
	s.h.fake.srv.Close()
	if !strings.Contains(s.h.logs.String(), "drain timeout") {
		t.Error("the cut was not logged")
	}
}

// TestMixedLoad sends a bounded mix of traffic from concurrent clients
// over loopback and checks that every request got its own answer: nothing
// lost, nothing misrouted, every denial denied.
func TestMixedLoad(t *testing.T) {
	const workers, perWorker = 16, 40
	s := serve(t, withResolver)
	fx := s.h.fx
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()

	type kind struct {
		method, path, body string
		status             int
		check              func(id, body string) bool
	}
	echo := func(id, body string) bool {
		var v map[string]string
		return json.Unmarshal([]byte(body), &v) == nil && v["id"] == id
	}
	stream := func(id, body string) bool {
		return strings.Count(body, fmt.Sprintf(`"id":%q`, id)) == 3 && strings.HasSuffix(body, "data: [DONE]\n\n")
	}
	anyBody := func(string, string) bool { return true }
	kinds := []kind{
		{"POST", "/v1/completions", `{"model":"base","prompt":"x"}`, 200, echo},
		{"POST", "/v1/chat/completions", `{"model":"base","stream":true}`, 200, stream},
		{"POST", "/v1/completions", `{"model":"evil"}`, 404, anyBody},
		{"POST", "/v1/completions", `{"model":"allowed"}`, 200, echo},
		{"POST", "/v1/completions", `{"model":"unsigned"}`, 403, anyBody},
		{"POST", "/v1/load_lora_adapter", `{"lora_name":"L","lora_path":` + quoteJSON(fx.good) + `,"load_inplace":true}`, 200, anyBody},
		{"POST", "/v1/load_lora_adapter", `{"lora_name":"U","lora_path":` + quoteJSON(fx.unsigned) + `}`, 403, anyBody},
		{"GET", "/health", "", 200, anyBody},
		{"POST", "/collective_rpc", `{}`, 403, anyBody},
	}
	var failures atomic.Int64
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := kinds[(w+i)%len(kinds)]
				id := fmt.Sprintf("w%d-%d", w, i)
				req, _ := http.NewRequestWithContext(ctx, k.method, s.api+k.path, strings.NewReader(k.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Test-ID", id)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					t.Errorf("%s %s: %v", k.method, k.path, err)
					failures.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != k.status || !k.check(id, string(b)) {
					t.Errorf("%s %s (%s): %d %q", k.method, k.path, id, resp.StatusCode, b)
					failures.Add(1)
				}
				if resp.StatusCode == 200 && k.path != "/health" && k.path != "/v1/load_lora_adapter" && resp.Header.Get("X-Test-ID") != id {
					t.Errorf("%s: answer for %q", id, resp.Header.Get("X-Test-ID"))
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := sent.Load(); got != workers*perWorker {
		t.Errorf("sent %d requests, want %d", got, workers*perWorker)
	}
	// What reached vLLM is exactly what should have.
	for _, r := range s.h.fake.requests() {
		b := string(r.body)
		if strings.Contains(b, "evil") || strings.Contains(b, `"unsigned"`) || strings.Contains(b, fx.unsigned) || r.path == "/collective_rpc" {
			t.Errorf("the upstream saw %s %s", r.path, b)
		}
	}
	t.Logf("%d requests, %d failures", sent.Load(), failures.Load())
}

// TestStartHeld: a held gate answers every API request with 503 in
// vLLM's shape (nothing reaches vLLM, no decision is made), its admin
// endpoints answer from the start with /readyz not ready; once released it
// serves through the gate.
func TestStartHeld(t *testing.T) {
	s := serve(t, func(_ *harness, c *Config) { c.StartHeld = true })
	eventually(t, "the admin listener answers", func() bool {
		resp, err := http.Get(s.adm + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/health", ""},
		{"GET", "/v1/models", ""},
		{"POST", "/v1/load_lora_adapter", loadBody("a", s.h.fx.good)},
		{"POST", "/v1/completions", `{"model":"base","prompt":"x"}`},
		{"POST", "/sleep", ""},
		{"GET", "/%2e%2e/etc", ""},
	} {
		r, err := http.NewRequest(req.method, s.api+req.path, strings.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rep := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
		if rep.status != http.StatusServiceUnavailable || rep.header.Get("Retry-After") == "" {
			t.Errorf("%s %s while held: %d (Retry-After %q) %s", req.method, req.path, rep.status, rep.header.Get("Retry-After"), rep.body)
			continue
		}
		if e := rep.vllmErr(t); e.Type != typeServiceUnavailable || e.Code != 503 || !strings.Contains(e.Message, "vLLM is starting") {
			t.Errorf("%s %s while held: %+v", req.method, req.path, e)
		}
	}
	if code, body := get(t, s.adm+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "vLLM is starting") {
		t.Errorf("/readyz while held: %d %q", code, body)
	}
	if n := len(s.h.fake.requests()); n != 0 {
		t.Errorf("vLLM saw %d request(s) while the gate was held", n)
	}
	if n := s.h.calls.Load(); n != 0 {
		t.Errorf("%d decisions while held", n)
	}
	if got := testCounter(t, s.h.gate.metrics.refused.WithLabelValues("starting")); got != 6 {
		t.Errorf("refused{starting} = %v, want 6", got)
	}
	// Ready does not depend on the hold: the launcher uses it to decide
	// when to release.
	if err := s.h.gate.Ready(context.Background()); err != nil {
		t.Fatalf("Ready while held: %v", err)
	}
	s.h.gate.Release()
	s.h.gate.Release() // twice is harmless
	if code, _ := get(t, s.adm+"/readyz"); code != 200 {
		t.Errorf("/readyz after Release: %d", code)
	}
	if code, body := postJSON(t, s.api+"/v1/completions", `{"model":"base","prompt":"x"}`); code != 200 {
		t.Errorf("completion after Release: %d %s", code, body)
	}
	if len(s.h.fake.received("/v1/completions")) != 1 {
		t.Error("the completion did not reach vLLM after Release")
	}
}

// TestStartHeldHealthErrors: while held, vLLM not answering /health is
// the expected state of a loading vLLM, not an upstream error to count.
func TestStartHeldHealthErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	h := newHarness(t, func(_ *harness, c *Config) { c.StartHeld = true; c.Upstream = down; c.ControlTimeout = 5 * time.Second })
	health := h.gate.metrics.upstreamErrors.WithLabelValues("health")
	if err := h.gate.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "vLLM is not healthy") {
		t.Fatalf("Ready: %v", err)
	}
	if got := testCounter(t, health); got != 0 {
		t.Errorf("upstream_errors{health} = %v while held", got)
	}
	h.gate.Release()
	if err := h.gate.Ready(context.Background()); err == nil {
		t.Fatal("Ready with vLLM down")
	}
	if got := testCounter(t, health); got != 1 {
		t.Errorf("upstream_errors{health} = %v after Release, want 1", got)
	}
}
