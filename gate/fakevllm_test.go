package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeVLLM is an HTTP server that answers the routes of spec §5 as vLLM
// does (plain-text load successes, {"error": {...}} errors, /v1/models
// listing loaded adapters, server-sent-event completions, its filesystem
// LoRA resolver) and records every request that reaches it.
type fakeVLLM struct {
	srv         *httptest.Server
	rootPath    string // vLLM's --root-path
	resolverDir string // VLLM_LORA_RESOLVER_CACHE_DIR; "" means no resolver
	apiKey      string // --api-key; "" means none
	chunks      int    // SSE events per streamed completion (default 3)
	// release, when not nil, holds every SSE event after the first until
	// a value arrives (or the request ends).
	release chan struct{}
	// noLoadRoute answers 404 to /v1/load_lora_adapter, as vLLM does
	// without VLLM_ALLOW_RUNTIME_LORA_UPDATING.
	noLoadRoute bool

	mu    sync.Mutex
	base  []string
	loras map[string]string // loaded adapters: name → path
	got   []recorded
}

type recorded struct {
	method, uri, path string
	header            http.Header
	body              []byte
}

func newFakeVLLM(t testing.TB, base ...string) *fakeVLLM {
	t.Helper()
	if len(base) == 0 {
		base = []string{"base"}
	}
	f := &fakeVLLM{base: base, loras: map[string]string{}, chunks: 3}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVLLM) url() string { return f.srv.URL }

// requests returns the requests received so far.
func (f *fakeVLLM) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

// received returns the requests whose route path is path.
func (f *fakeVLLM) received(path string) []recorded {
	var out []recorded
	for _, r := range f.requests() {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeVLLM) loaded(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.loras[name]
	return p, ok
}

func (f *fakeVLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := routePath(r.URL.Path, f.rootPath)
	f.mu.Lock()
	f.got = append(f.got, recorded{method: r.Method, uri: r.RequestURI, path: path, header: r.Header.Clone(), body: body})
	f.mu.Unlock()
	if id := r.Header.Get("X-Test-ID"); id != "" {
		w.Header().Set("X-Test-ID", id)
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if f.apiKey != "" && guarded(path) && (!strings.EqualFold(scheme, "bearer") || token != f.apiKey) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"Unauthorized"}`)
		return
	}
	switch {
	case path == "/health" && r.Method == http.MethodGet:
		w.WriteHeader(http.StatusOK)
	case path == "/metrics" && r.Method == http.MethodGet:
		io.WriteString(w, "vllm:num_requests_running 0\n")
	case path == "/v1/models" && r.Method == http.MethodGet:
		f.models(w)
	case path == "/v1/load_lora_adapter" && r.Method == http.MethodPost && !f.noLoadRoute:
		var req struct {
			Name    string `json:"lora_name"`
			Path    string `json:"lora_path"`
			Inplace bool   `json:"load_inplace"`
		}
		json.Unmarshal(body, &req)
		f.load(w, req.Name, req.Path, req.Inplace, "Success: LoRA adapter '%s' added successfully.")
	case path == "/v1/unload_lora_adapter" && r.Method == http.MethodPost:
		var req struct {
			Name string `json:"lora_name"`
		}
		json.Unmarshal(body, &req)
		f.unload(w, req.Name, "Success: LoRA adapter '%s' removed successfully.")
	case path == "/adapters" && r.Method == http.MethodPost:
		var req struct{ Name, Src string }
		if json.Unmarshal(body, &req) != nil {
			req.Name, req.Src = r.URL.Query().Get("name"), r.URL.Query().Get("src")
		}
		f.load(w, req.Name, req.Src, false, "Adapter %s registered")
	case strings.HasPrefix(path, "/adapters/") && r.Method == http.MethodDelete:
		f.unload(w, strings.TrimPrefix(path, "/adapters/"), "Adapter %s unregistered")
	case inferenceRoutes[path] || path == "/invocations":
		f.inference(w, r, path, body)
	case devRoutes[path]:
		io.WriteString(w, `{"status":"done"}`)
	case len(path) > 1 && strings.HasSuffix(path, "/"):
		// Starlette's redirect_slashes.
		loc := strings.TrimSuffix(r.URL.Path, "/")
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"detail":"Not Found"}`)
	}
}

func (f *fakeVLLM) models(w http.ResponseWriter) {
	type card struct {
		ID      string  `json:"id"`
		Object  string  `json:"object"`
		OwnedBy string  `json:"owned_by"`
		Root    string  `json:"root"`
		Parent  *string `json:"parent"`
	}
	f.mu.Lock()
	list := struct {
		Object string `json:"object"`
		Data   []card `json:"data"`
	}{Object: "list"}
	for _, b := range f.base {
		list.Data = append(list.Data, card{ID: b, Object: "model", OwnedBy: "vllm", Root: "/models/" + b})
	}
	for name, p := range f.loras {
		parent := f.base[0]
		list.Data = append(list.Data, card{ID: name, Object: "model", OwnedBy: "vllm", Root: p, Parent: &parent})
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

func (f *fakeVLLM) load(w http.ResponseWriter, name, path string, inplace bool, success string) {
	if name == "" || path == "" {
		vllmError(w, http.StatusBadRequest, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.")
		return
	}
	f.mu.Lock()
	_, exists := f.loras[name]
	if !exists || inplace {
		f.loras[name] = path
	}
	f.mu.Unlock()
	if exists && !inplace {
		vllmError(w, http.StatusBadRequest, "InvalidUserInput", fmt.Sprintf("The lora adapter '%s' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.", name))
		return
	}
	// FastAPI's Response(content=str): no media type.
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, success, name)
}

func (f *fakeVLLM) unload(w http.ResponseWriter, name, success string) {
	f.mu.Lock()
	_, exists := f.loras[name]
	delete(f.loras, name)
	f.mu.Unlock()
	if !exists {
		vllmError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The lora adapter '%s' cannot be found.", name))
		return
	}
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, success, name)
}

func (f *fakeVLLM) inference(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	media, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch media {
	case "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Header.Set("Content-Type", mime.FormatMediaType(media, params))
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			req.Model = r.FormValue("model")
		}
	default:
		if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &req) != nil {
			vllmError(w, http.StatusBadRequest, "BadRequestError", "JSON decode error")
			return
		}
	}
	if path == "/invocations" {
		if h := r.Header.Get(AdapterHeader); h != "" {
			req.Model = h
		}
	}
	if !f.serves(req.Model) {
		vllmError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"id": r.Header.Get("X-Test-ID"), "model": req.Model, "path": path})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i := 0; i < f.chunks; i++ {
		if i > 0 && f.release != nil {
			select {
			case <-f.release:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "data: {\"id\":%q,\"choices\":[{\"index\":0,\"text\":\"chunk %d\"}]}\n\n", r.Header.Get("X-Test-ID"), i)
		fl.Flush()
	}
	io.WriteString(w, "data: [DONE]\n\n")
	fl.Flush()
}

// serves reports whether the fake serves model, loading it through the
// filesystem resolver as vLLM would when it can.
func (f *fakeVLLM) serves(model string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if model == "" {
		return true
	}
	for _, b := range f.base {
		if b == model {
			return true
		}
	}
	if _, ok := f.loras[model]; ok {
		return true
	}
	if f.resolverDir == "" {
		return false
	}
	p := filepath.Join(f.resolverDir, model)
	if _, err := os.Stat(filepath.Join(p, "adapter_config.json")); err != nil {
		return false
	}
	f.loras[model] = p
	return true
}

func vllmError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": status}})
}
