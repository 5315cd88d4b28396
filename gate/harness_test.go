package gate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/modelgate/modelgate/policy"
)

// harness is a gate between a test client and a fake vLLM, with a real
// policy over real signed adapters.
type harness struct {
	t        testing.TB
	fx       *fixture
	fake     *fakeVLLM
	gate     *Gate
	srv      *httptest.Server
	calls    *atomic.Int64 // Decide calls
	hubCalls *atomic.Int64 // DecideHub calls
	logs     *logBuffer
	hold     chan struct{} // when set before New, Decide waits for it
}

type option func(h *harness, c *Config)

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, fx: newFixture(t), fake: newFakeVLLM(t), calls: new(atomic.Int64), hubCalls: new(atomic.Int64), logs: &logBuffer{}}
	cfg := Config{
		Upstream:        h.fake.url(),
		PolicyFile:      h.fx.policyFile,
		UpstreamWorkDir: h.fx.workdir,
		Logger:          slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(h, &cfg)
	}
	cfg.LoadPolicy = func(path string) (Decider, error) {
		p, err := policy.Load(path, policy.Options{Logger: quietLogger(), Cache: cfg.PolicyOptions.Cache, Pins: cfg.PolicyOptions.Pins})
		if err != nil {
			return nil, err
		}
		return countingDecider{Decider: p, calls: h.calls, hubCalls: h.hubCalls, hold: h.hold}, nil
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.gate = g
	h.srv = httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		h.srv.Close()
		g.Close()
	})
	return h
}

func withResolver(h *harness, c *Config) {
	c.LoRAResolverDir = h.fx.resolver
	h.fake.resolverDir = h.fx.resolver
}

func withWarn(_ *harness, c *Config) { c.Mode = Warn }

// reply is a response as the client saw it.
type reply struct {
	status int
	header http.Header
	body   string
}

// vllmErr decodes a vLLM error body.
func (r reply) vllmErr(t testing.TB) errorInfo {
	t.Helper()
	var e struct {
		Error *errorInfo `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == nil {
		t.Fatalf("the body is not vLLM's error shape: %q", r.body)
	}
	return *e.Error
}

func (h *harness) do(method, path, contentType, body string, header ...string) reply {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (h *harness) postJSON(path, body string, header ...string) reply {
	h.t.Helper()
	return h.do(http.MethodPost, path, "application/json", body, header...)
}

// raw sends a request line exactly as written (Go's client would
// normalise the path) and returns the status.
func (h *harness) raw(method, target, body string) reply {
	h.t.Helper()
	conn, err := net.DialTimeout("tcp", h.srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", method, target, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func loadBody(name, path string) string {
	b, _ := json.Marshal(map[string]string{"lora_name": name, "lora_path": path})
	return string(b)
}

// mustDeny checks a 403 in vLLM's shape naming param, and that the
// upstream never saw a request on route.
func (h *harness) mustDeny(r reply, param, route string, reason ...string) {
	h.t.Helper()
	if r.status != http.StatusForbidden {
		h.t.Fatalf("status %d, want 403; body %s", r.status, r.body)
	}
	e := r.vllmErr(h.t)
	if e.Type != "PermissionDenied" || e.Code != 403 || e.Param == nil || *e.Param != param {
		h.t.Errorf("error %+v (param %v), want type PermissionDenied, code 403, param %q", e, e.Param, param)
	}
	for _, s := range reason {
		if !strings.Contains(e.Message, s) {
			h.t.Errorf("message %q does not contain %q", e.Message, s)
		}
	}
	if got := h.fake.received(route); len(got) != 0 {
		h.t.Errorf("the upstream saw %d request(s) on %s: %q", len(got), route, got[0].body)
	}
}

// testCounter reads a counter or gauge.
func testCounter(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}
