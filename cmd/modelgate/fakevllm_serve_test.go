//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The fake vLLM of exec --listen tests serves HTTP as vLLM does, after
// recording how it was started (see fakeVLLM). The environment it gets
// from modelgate drives it:
//
//	fakeServe=1         serve, on the --host/--port or --uds of its argv
//	fakeReadyFile=PATH  /health answers 503 until PATH exists
//	fakeExitAtStart=N   exit N at once instead of serving
//	fakeOnSignal=ACTION on SIGINT/SIGTERM: exit:N (default exit:0),
//	                    ignore, or die (the default action: killed by it)
//
// It appends what happens to it, one line each, to the record file's
// name + ".events": "signal SIGTERM", "load NAME PATH", "request METHOD
// PATH". Like vLLM it requires --api-key's key on /v1 routes, serves
// --served-model-name (else MODEL) and the adapters loaded, with and
// without --root-path, and answers POST /test/exit?code=N by exiting N.
const (
	fakeServe       = "MODELGATE_TEST_FAKE_VLLM_SERVE"
	fakeReadyFile   = "MODELGATE_TEST_FAKE_VLLM_READY_FILE"
	fakeExitAtStart = "MODELGATE_TEST_FAKE_VLLM_EXIT_AT_START"
	fakeOnSignal    = "MODELGATE_TEST_FAKE_VLLM_ON_SIGNAL"
)

// servingFake is the fake vLLM's state.
type servingFake struct {
	events           *os.File
	mu               sync.Mutex
	served           []string // model names: the base, then loaded adapters
	rootPath, apiKey string
	readyFile        string
	network, address string
	exitRequested    chan int
	eventsMu         sync.Mutex
}

// serveFakeVLLM runs the serving fake; it never returns.
func serveFakeVLLM(record string) {
	if code := os.Getenv(fakeExitAtStart); code != "" {
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	events, err := os.OpenFile(record+".events", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		os.Exit(3)
	}
	f := &servingFake{events: events, readyFile: os.Getenv(fakeReadyFile), exitRequested: make(chan int, 1)}
	f.readArgv(os.Args)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	l, err := net.Listen(f.network, f.address)
	if err != nil {
		f.event("listen-error %v", err)
		os.Exit(4)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	for {
		select {
		case code := <-f.exitRequested:
			os.Exit(code)
		case s := <-sigs:
			f.event("signal %s", signalName(s))
			f.onSignal(s.(syscall.Signal), srv)
		}
	}
}

// readArgv finds what vLLM would read from its command line: where to
// listen, the served name, the root path and the API key.
func (f *servingFake) readArgv(argv []string) {
	value := func(flag string) string {
		v := ""
		for i, a := range argv {
			if a == flag && i+1 < len(argv) {
				v = argv[i+1]
			}
		}
		return v
	}
	f.network, f.address = "tcp", net.JoinHostPort(value("--host"), value("--port"))
	if uds := value("--uds"); uds != "" {
		f.network, f.address = "unix", uds
	}
	name := value("--served-model-name")
	if name == "" && len(argv) > 2 {
		name = argv[2]
	}
	f.served = []string{name}
	f.rootPath, f.apiKey = value("--root-path"), value("--api-key")
}

func (f *servingFake) event(format string, args ...any) {
	f.eventsMu.Lock()
	defer f.eventsMu.Unlock()
	fmt.Fprintf(f.events, format+"\n", args...)
	f.events.Sync()
}

func (f *servingFake) onSignal(s syscall.Signal, srv *http.Server) {
	action := os.Getenv(fakeOnSignal)
	switch {
	case action == "ignore":
	case action == "die":
		signal.Reset(s)
		syscall.Kill(os.Getpid(), s)
		time.Sleep(time.Minute) // the signal ends the process
	default:
		code, _ := strconv.Atoi(strings.TrimPrefix(action, "exit:"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		os.Exit(code)
	}
}

func (f *servingFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if f.rootPath != "" {
		if p, ok := strings.CutPrefix(path, f.rootPath); ok {
			path = p
		}
	}
	f.event("request %s %s", r.Method, path)
	if strings.HasPrefix(path, "/v1/") && f.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+f.apiKey {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"Unauthorized"}`)
		return
	}
	switch path {
	case "/health":
		if f.readyFile != "" {
			if _, err := os.Stat(f.readyFile); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	case "/v1/models":
		f.mu.Lock()
		data := make([]map[string]string, 0, len(f.served))
		for _, n := range f.served {
			data = append(data, map[string]string{"id": n, "object": "model"})
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	case "/v1/load_lora_adapter":
		var req struct {
			Name string `json:"lora_name"`
			Path string `json:"lora_path"`
		}
		if !decodeJSON(w, r, &req) {
			return
		}
		f.event("load %s %s", req.Name, req.Path)
		f.addServed(req.Name)
		fmt.Fprintf(w, "Success: LoRA adapter '%s' added successfully.", req.Name)
	case "/v1/completions":
		f.complete(w, r)
	case "/test/exit":
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(http.StatusOK)
		f.exitRequested <- code
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"detail":"Not Found"}`)
	}
}

// complete answers a completion: three server-sent events and [DONE]
// when it asks for a stream, else one JSON object. An unknown model is
// one vLLM's resolver loaded (the gate decided it).
func (f *servingFake) complete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if f.addServed(req.Model) {
		f.event("resolve %s", req.Model)
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"text_completion","model":%q,"choices":[{"text":"hi"}]}`, req.Model)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i := range 3 {
		fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"t%d\"}]}\n\n", i)
		fl.Flush()
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

// decodeJSON reads the request's JSON body into v; false when it
// answered 400 instead.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// addServed adds name to the served names; false when it was served
// already.
func (f *servingFake) addServed(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Contains(f.served, name) {
		return false
	}
	f.served = append(f.served, name)
	return true
}

// fakeEvents reads the fake's events.
func fakeEvents(record string) []string {
	b, err := os.ReadFile(record + ".events")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
