//go:build unix

package gate

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/modelgate/modelgate/pindir"
)

// withPins gives the gate a fresh pin folder.
func withPins(h *harness, c *Config) {
	d, err := pindir.Open(filepath.Join(h.t.(*testing.T).TempDir(), "pins"), pindir.Options{Logger: quietLogger()})
	if err != nil {
		h.t.Fatal(err)
	}
	c.PolicyOptions.Pins = d
}

// pinDir is the harness's pin folder.
func (h *harness) pinDir() *pindir.Dir { return h.gate.cfg.PolicyOptions.Pins }

// copies lists the copies in the harness's pin folder.
func (h *harness) copies() []string {
	h.t.Helper()
	entries, err := os.ReadDir(h.pinDir().Path())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) == 64 {
			out = append(out, filepath.Join(h.pinDir().Path(), e.Name()))
		}
	}
	return out
}

// inUse reports whether some process holds the copy (an eviction would
// fail), by trying to take it the way an evictor does.
func (h *harness) inUse(copyPath string) bool {
	h.t.Helper()
	if _, err := os.Stat(copyPath); err != nil {
		h.t.Fatalf("copy %s: %v", copyPath, err)
	}
	f, err := os.OpenFile(copyPath+".lock", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return lockedElsewhere(f)
}

// TestLoadPinned: an allowed load reaches vLLM with lora_path pointing at
// the verified copy (every other member as sent); the gate holds the copy
// until vLLM confirms the unload; a denied load leaves no copy.
func TestLoadPinned(t *testing.T) {
	h := newHarness(t, withPins)
	body := `{"lora_name":"good","lora_path":` + quoteJSON(h.fx.good) + `,"load_inplace":false,"is_3d_lora_weight":false}`
	r := h.postJSON("/v1/load_lora_adapter", body)
	if r.status != http.StatusOK {
		t.Fatalf("load: %d %s", r.status, r.body)
	}
	copies := h.copies()
	if len(copies) != 1 {
		t.Fatalf("copies %q", copies)
	}
	got := h.fake.received("/v1/load_lora_adapter")
	want := `{"lora_name":"good","lora_path":` + quoteJSON(copies[0]) + `,"load_inplace":false,"is_3d_lora_weight":false}`
	if len(got) != 1 || string(got[0].body) != want {
		t.Fatalf("the upstream got %q, want %q", got[0].body, want)
	}
	if p, _ := h.fake.loaded("good"); p != copies[0] {
		t.Errorf("vLLM loaded %q", p)
	}
	if !h.inUse(copies[0]) {
		t.Error("the copy of a loaded adapter is not held")
	}
	if r := h.postJSON("/v1/unload_lora_adapter", `{"lora_name":"good"}`); r.status != http.StatusOK {
		t.Fatalf("unload: %d %s", r.status, r.body)
	}
	if h.inUse(copies[0]) {
		t.Error("the copy is still held after the unload")
	}

	// vLLM refuses the load (the name exists): the copy is not held.
	h.postJSON("/v1/load_lora_adapter", loadBody("good", h.fx.good))
	r = h.postJSON("/v1/load_lora_adapter", loadBody("good", h.fx.good))
	if r.status != http.StatusBadRequest {
		t.Fatalf("second load: %d %s", r.status, r.body)
	}
	h.postJSON("/v1/unload_lora_adapter", `{"lora_name":"good"}`)
	if h.inUse(copies[0]) {
		t.Error("a copy is held for a load vLLM refused")
	}

	h = newHarness(t, withPins)
	h.mustDeny(h.postJSON("/v1/load_lora_adapter", loadBody("x", h.fx.tampered)), "lora_path", "/v1/load_lora_adapter", "verification failed")
	if n := len(h.copies()); n != 0 {
		t.Errorf("%d copies after a denial", n)
	}
}

// TestSageMakerPinned: /adapters with a body and with a query string
// reach vLLM with src pointing at the copy; DELETE releases it.
func TestSageMakerPinned(t *testing.T) {
	h := newHarness(t, withPins)
	r := h.do(http.MethodPost, "/adapters", "application/json", `{"name":"sm","src":`+quoteJSON(h.fx.good)+`,"preload":true}`)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	copy := h.copies()[0]
	if got := h.fake.received("/adapters"); string(got[0].body) != `{"name":"sm","src":`+quoteJSON(copy)+`,"preload":true}` {
		t.Errorf("body %s", got[0].body)
	}
	r = h.do(http.MethodPost, "/adapters?name=q&src="+url.QueryEscape(h.fx.good), "", "")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if p, _ := h.fake.loaded("q"); p != copy {
		t.Errorf("query form: vLLM loaded %q", p)
	}
	for _, name := range []string{"sm", "q"} {
		if r := h.do(http.MethodDelete, "/adapters/"+name, "", ""); r.status != http.StatusOK {
			t.Fatalf("delete %s: %d", name, r.status)
		}
	}
	if h.inUse(copy) {
		t.Error("held after both deletes")
	}
}

// TestResolverPinned: a request naming an adapter of the resolver folder
// makes the gate load it from its verified copy under that name first;
// vLLM then serves the request without reading the resolver folder.
func TestResolverPinned(t *testing.T) {
	h := newHarness(t, withResolver, withPins)
	r := h.postJSON("/v1/completions", `{"model":"allowed","prompt":"hi"}`)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	copies := h.copies()
	if len(copies) != 1 {
		t.Fatalf("copies %q", copies)
	}
	loads := h.fake.received("/v1/load_lora_adapter")
	if len(loads) != 1 {
		t.Fatalf("%d loads", len(loads))
	}
	var req map[string]any
	if err := json.Unmarshal(loads[0].body, &req); err != nil || req["lora_name"] != "allowed" || req["lora_path"] != copies[0] {
		t.Errorf("the gate's load: %s", loads[0].body)
	}
	if p, _ := h.fake.loaded("allowed"); p != copies[0] {
		t.Errorf("vLLM loaded %q, not the copy", p)
	}
	if !h.inUse(copies[0]) {
		t.Error("the copy is not held")
	}
	// The name is served now: no second load.
	if r := h.postJSON("/v1/completions", `{"model":"allowed","prompt":"again"}`); r.status != http.StatusOK || len(h.fake.received("/v1/load_lora_adapter")) != 1 {
		t.Errorf("second request: %d, %d loads", r.status, len(h.fake.received("/v1/load_lora_adapter")))
	}
	r = h.postJSON("/v1/completions", `{"model":"unsigned","prompt":"hi"}`)
	if r.status != http.StatusForbidden || len(h.copies()) != 1 {
		t.Errorf("unsigned: %d %s; copies %q", r.status, r.body, h.copies())
	}
}

// TestResolverPinnedNoRuntimeLoading: when vLLM does not offer the load
// route, the request is refused, saying what to set.
func TestResolverPinnedNoRuntimeLoading(t *testing.T) {
	h := newHarness(t, withResolver, withPins)
	h.fake.noLoadRoute = true
	r := h.postJSON("/v1/completions", `{"model":"allowed","prompt":"hi"}`)
	if r.status != http.StatusBadGateway || !strings.Contains(r.vllmErr(t).Message, "VLLM_ALLOW_RUNTIME_LORA_UPDATING") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := len(h.fake.received("/v1/completions")); n != 0 {
		t.Errorf("the request reached vLLM %d times", n)
	}
	if h.inUse(h.copies()[0]) {
		t.Error("the copy is held for a load that failed")
	}
}

// lockedElsewhere reports whether another open file description holds a
// lock on f's file.
func lockedElsewhere(f *os.File) bool {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	return err == syscall.EWOULDBLOCK
}
