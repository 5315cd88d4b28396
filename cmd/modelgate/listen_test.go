//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// These tests run `modelgate exec --listen` as a child process (the test
// binary as modelgate) in front of the test binary playing a vLLM that
// serves HTTP (see serveFakeVLLM), over loopback and unix sockets only.
// Every wait is bounded by watchdog; nothing is timed.

// listenRun is one modelgate exec --listen and the fake vLLM behind it.
type listenRun struct {
	*child
	record          string // the fake's record (and its .events)
	api, admin, dir string // the gate's sockets, in dir
	client          *http.Client
	ready           string // the file that makes the fake healthy
}

// listenOpts says how to run it.
type listenOpts struct {
	env    []string // added to modelgate's environment (and so vLLM's)
	flags  []string // exec flags after --listen and --admin-listen
	vllm   []string // after "vllm serve"
	listen string   // --listen (default: a unix socket)
	ready  bool     // the fake is healthy at once
}

func startListen(t *testing.T, fx *execFixture, o listenOpts) *listenRun {
	t.Helper()
	// Short paths: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "mgl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &listenRun{record: filepath.Join(dir, "record.json"), api: filepath.Join(dir, "api.sock"),
		admin: filepath.Join(dir, "admin.sock"), dir: dir, ready: filepath.Join(dir, "ready")}
	if o.ready {
		writeFile(t, r.ready, nil)
	}
	listen := o.listen
	if listen == "" {
		listen = "unix:" + r.api
	}
	env := append([]string{"PATH=" + vllmBin(t), "HOME=" + t.TempDir(), "HF_HUB_CACHE=" + fx.hub, asModelgate + "=1",
		fakeVLLMRecord + "=" + r.record, fakeServe + "=1", fakeReadyFile + "=" + r.ready, "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1"}, o.env...)
	args := append([]string{"exec", "--security-policy", fx.policy, "--listen", listen, "--admin-listen", "unix:" + r.admin}, o.flags...)
	args = append(append(args, "--", "vllm", "serve"), o.vllm...)
	r.child = startIn(t, t.TempDir(), env, args...)
	r.client = &http.Client{Timeout: watchdog, Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		path := r.api
		if strings.HasPrefix(addr, "admin") {
			path = r.admin
		}
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	t.Cleanup(func() {
		r.client.CloseIdleConnections()
		// Whatever happened, no fake vLLM outlives its test.
		if rec := r.readRecord(); rec != nil && alive(rec.PID) {
			syscall.Kill(rec.PID, syscall.SIGKILL)
		}
	})
	return r
}

// readRecord returns the fake's record, nil before it started.
func (r *listenRun) readRecord() *vllmRecord {
	b, err := os.ReadFile(r.record)
	if err != nil {
		return nil
	}
	var rec vllmRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		r.t.Fatalf("record: %v", err)
	}
	return &rec
}

// until waits until cond holds, failing the test if modelgate exits
// first or the watchdog runs out.
func (r *listenRun) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(watchdog)
	for !cond() {
		select {
		case <-r.exited:
			r.t.Fatalf("modelgate exited (%v) before %s\nstderr:\n%s", r.cmd.ProcessState, what, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not %s within %s\nstderr:\n%s", what, watchdog, r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// started waits for the fake to start and returns its record.
func (r *listenRun) started() *vllmRecord {
	r.t.Helper()
	var rec *vllmRecord
	r.until("vLLM started", func() bool { rec = r.readRecord(); return rec != nil })
	return rec
}

// serving waits until the gate serves vLLM's API.
func (r *listenRun) serving() {
	r.t.Helper()
	writeFile(r.t, r.ready, nil)
	r.until("the gate serves", func() bool {
		resp, err := r.client.Get("http://api/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// do sends a request to the gate ("http://api/...") or its admin
// listener ("http://admin/...").
func (r *listenRun) do(method, url, body string, header ...string) (int, http.Header, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v\nstderr:\n%s", method, url, err, r.stderr.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// events returns the fake's events that start with prefix.
func (r *listenRun) events(prefix string) []string {
	var out []string
	for _, e := range fakeEvents(r.record) {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// exit waits for modelgate to exit and checks its code and the last line
// of its stderr (want: a substring; "" for no error line at all).
func (r *listenRun) exit(code int, want string) {
	r.t.Helper()
	if got := r.wait(); got != code {
		r.t.Errorf("exit %d, want %d\nstderr:\n%s", got, code, r.stderr.String())
	}
	var last string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr.String()), "\n") {
		if strings.HasPrefix(l, "modelgate: ") {
			last = l
		}
	}
	switch {
	case want == "" && last != "":
		r.t.Errorf("error line %q, want none", last)
	case want != "" && !strings.Contains(last, want):
		r.t.Errorf("error line %q, want one containing %q\nstderr:\n%s", last, want, r.stderr.String())
	}
}

// alive reports whether process pid runs: it exists and, where /proc
// tells, is not a zombie waiting for whoever inherited it to reap it.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// gone waits until the fake is gone: reaped by modelgate, or by init
// after it.
func (r *listenRun) gone(rec *vllmRecord) {
	r.t.Helper()
	deadline := time.Now().Add(watchdog)
	for alive(rec.PID) {
		if time.Now().After(deadline) {
			r.t.Fatalf("vLLM (process %d) still runs after modelgate exited", rec.PID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExecListen: vLLM runs as modelgate's child in its own process
// group, on a free loopback port in place of the user's --host and
// --port, with the hardened environment (runtime LoRA updating allowed
// behind the gate). Until it is healthy the gate answers 503; then it
// serves through the gate: API keys checked first, loads decided (the
// denied one never reaches vLLM), streams passed through, resolver names
// decided in VLLM_LORA_RESOLVER_CACHE_DIR, routes under --root-path. A
// SIGTERM reaches vLLM once and modelgate exits with vLLM's code.
func TestExecListen(t *testing.T) {
	fx := newExecFixture(t)
	r := startListen(t, fx, listenOpts{
		env:  []string{"VLLM_PLUGINS=lora_filesystem_resolver", "VLLM_LORA_RESOLVER_CACHE_DIR=" + filepath.Join(fx.root, "adapters")},
		vllm: []string{fx.good, "--host", "0.0.0.0", "--port", "8000", "--served-model-name", "base", "--enable-lora", "--api-key", "sesame", "--root-path", "/api"},
	})
	rec := r.started()
	if rec.PID == r.cmd.Process.Pid || rec.PGID != rec.PID {
		t.Errorf("vLLM is process %d in group %d, modelgate %d: want a child in its own group", rec.PID, rec.PGID, r.cmd.Process.Pid)
	}
	n := len(rec.Argv)
	if n < 4 || !slices.Equal(rec.Argv[:n-4], []string{"vllm", "serve", fx.good, "--served-model-name", "base", "--enable-lora", "--api-key", "sesame", "--root-path", "/api"}) ||
		rec.Argv[n-4] != "--host" || rec.Argv[n-3] != "127.0.0.1" || rec.Argv[n-2] != "--port" {
		t.Fatalf("argv %q", rec.Argv)
	}
	if port, err := strconv.Atoi(rec.Argv[n-1]); err != nil || port <= 0 || port == 8000 {
		t.Errorf("port %q", rec.Argv[n-1])
	}
	for _, kv := range []string{"HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1", "VLLM_PLUGINS=lora_filesystem_resolver"} {
		if !slices.Contains(rec.Env, kv) {
			t.Errorf("vLLM's environment lacks %s", kv)
		}
	}

	// Starting: the gate answers, vLLM sees nothing of it.
	if code, h, body := r.do("GET", "http://api/health", ""); code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "vLLM is starting") {
		t.Errorf("before vLLM is healthy: %d %q", code, body)
	}
	if code, _, body := r.do("GET", "http://admin/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before vLLM is healthy: %d %q", code, body)
	}
	r.serving()
	if code, _, body := r.do("GET", "http://admin/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if got := r.events("request GET /health"); len(got) == 0 {
		t.Error("the gate never asked vLLM's /health")
	}

	auth := []string{"Authorization", "Bearer sesame"}
	load := func(path string) string { return `{"lora_name":"x","lora_path":` + strconv.Quote(path) + `}` }
	if code, _, body := r.do("POST", "http://api/v1/load_lora_adapter", load(fx.adapterA)); code != http.StatusUnauthorized {
		t.Errorf("load without the API key: %d %s", code, body)
	}
	if code, _, body := r.do("POST", "http://api/api/v1/load_lora_adapter", load(fx.adapterA), auth...); code != http.StatusOK || !strings.Contains(body, "added successfully") {
		t.Errorf("allowed load: %d %s", code, body)
	}
	if code, _, body := r.do("POST", "http://api/api/v1/load_lora_adapter", load(fx.adapterUnsigned), auth...); code != http.StatusForbidden || !strings.Contains(body, "PermissionDenied") {
		t.Errorf("denied load: %d %s", code, body)
	}
	if got := r.events("load "); !slices.Equal(got, []string{"load x " + fx.adapterA}) {
		t.Errorf("loads that reached vLLM: %q", got)
	}

	complete := func(model string) (int, string) {
		code, _, body := r.do("POST", "http://api/v1/completions", `{"model":`+strconv.Quote(model)+`,"prompt":"p","stream":true}`, auth...)
		return code, body
	}
	if code, body := complete("base"); code != http.StatusOK || !strings.Contains(body, "data: {\"choices\":[{\"text\":\"t2\"}]}\n\ndata: [DONE]\n\n") {
		t.Errorf("stream: %d %q", code, body)
	}
	if code, body := complete("a"); code != http.StatusOK {
		t.Errorf("resolver name of a signed adapter: %d %s", code, body)
	}
	if code, body := complete("unsigned"); code != http.StatusForbidden || !strings.Contains(body, `"param":"model"`) {
		t.Errorf("resolver name of an unsigned adapter: %d %s", code, body)
	}
	if code, body := complete("absent"); code != http.StatusNotFound {
		t.Errorf("unknown name: %d %s", code, body)
	}
	if got := r.events("resolve "); !slices.Equal(got, []string{"resolve a"}) {
		t.Errorf("resolver loads that reached vLLM: %q", got)
	}

	r.signal(syscall.SIGTERM)
	r.exit(0, "")
	if got := r.events("signal "); !slices.Equal(got, []string{"signal SIGTERM"}) {
		t.Errorf("vLLM got %q, want SIGTERM once", got)
	}
	r.gone(rec)
	if strings.Contains(r.stderr.String(), "sesame") {
		t.Error("the API key is in the log")
	}
}

// TestExecListenUDS: with --uds vLLM listens on a unix socket in a
// private folder (removed afterwards) instead of any port; SIGINT is
// forwarded as SIGINT, and a vLLM killed by it makes modelgate exit 130.
// --mode warn forwards what the policy denies.
func TestExecListenUDS(t *testing.T) {
	fx := newExecFixture(t)
	r := startListen(t, fx, listenOpts{
		flags: []string{"--uds", "--mode", "warn"},
		env:   []string{fakeOnSignal + "=die", "TMPDIR=" + t.TempDir()},
		vllm:  []string{fx.good, "--port", "8000", "--uds", "/tmp/theirs.sock", "--enable-lora"},
		ready: true,
	})
	rec := r.started()
	n := len(rec.Argv)
	if !slices.Equal(rec.Argv[:n-2], []string{"vllm", "serve", fx.good, "--enable-lora"}) || rec.Argv[n-2] != "--uds" {
		t.Fatalf("argv %q", rec.Argv)
	}
	sock := rec.Argv[n-1]
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 || filepath.Base(sock) != "vllm.sock" {
		t.Errorf("vLLM's socket %q: folder %v %v", sock, fi.Mode(), err)
	}
	r.serving()
	load := `{"lora_name":"u","lora_path":` + strconv.Quote(fx.adapterUnsigned) + `}`
	if code, _, body := r.do("POST", "http://api/v1/load_lora_adapter", load); code != http.StatusOK {
		t.Errorf("warn mode: %d %s", code, body)
	}
	r.signal(syscall.SIGINT)
	r.exit(130, "interrupted (SIGINT): vLLM was ended by signal SIGINT (exit status 130)")
	if got := r.events("signal "); !slices.Equal(got, []string{"signal SIGINT"}) {
		t.Errorf("vLLM got %q, want SIGINT once", got)
	}
	r.gone(rec)
	if _, err := os.Stat(filepath.Dir(sock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket's folder is left: %v", err)
	}
}

// TestExecListenEnds: however it ends, modelgate exits with vLLM's code
// (or 2 when it could not run vLLM behind the gate), stops the gate and
// leaves no vLLM running.
func TestExecListenEnds(t *testing.T) {
	fx := newExecFixture(t)
	for _, code := range []int{3, 130} {
		t.Run("vLLM exits by itself with "+strconv.Itoa(code), func(t *testing.T) {
			r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, ready: true})
			rec := r.started()
			r.serving()
			r.do("POST", "http://api/test/exit?code="+strconv.Itoa(code), "")
			r.exit(code, "modelgate: vLLM exited with status "+strconv.Itoa(code))
			r.gone(rec)
		})
	}
	t.Run("vLLM dies while starting", func(t *testing.T) {
		r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, env: []string{fakeExitAtStart + "=5"}})
		rec := r.started()
		r.exit(5, "vLLM exited with status 5 before it became healthy")
		r.gone(rec)
	})
	t.Run("vLLM never healthy", func(t *testing.T) {
		r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, flags: []string{"--startup-timeout", "300ms"}})
		rec := r.started()
		r.exit(exitError, "vLLM did not become healthy within 300ms (--startup-timeout): vLLM is not healthy")
		if got := r.events("signal "); !slices.Equal(got, []string{"signal SIGTERM"}) {
			t.Errorf("vLLM got %q, want SIGTERM once", got)
		}
		r.gone(rec)
	})
	t.Run("vLLM ignores SIGTERM", func(t *testing.T) {
		r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, env: []string{fakeOnSignal + "=ignore"}, flags: []string{"--stop-timeout", "200ms"}, ready: true})
		rec := r.started()
		r.serving()
		r.signal(syscall.SIGTERM)
		r.exit(128+int(syscall.SIGKILL), "vLLM did not exit within 200ms (--stop-timeout) and was killed")
		r.gone(rec)
	})
	t.Run("second signal", func(t *testing.T) {
		r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, env: []string{fakeOnSignal + "=ignore"}, ready: true})
		rec := r.started()
		r.serving()
		r.signal(syscall.SIGTERM)
		r.until("vLLM got the first signal", func() bool { return len(r.events("signal ")) > 0 })
		r.signal(syscall.SIGTERM)
		r.exit(143, "interrupted (SIGTERM): second signal, exiting at once")
		if got := r.events("signal "); !slices.Equal(got, []string{"signal SIGTERM"}) {
			t.Errorf("vLLM got %q, want the first SIGTERM only (then SIGKILL)", got)
		}
		r.gone(rec)
	})
	t.Run("address in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, listen: l.Addr().String(), ready: true})
		r.exit(exitError, `--listen "`+l.Addr().String()+`"`)
		if r.readRecord() != nil {
			t.Error("vLLM was started though the gate could not listen")
		}
	})
	t.Run("modelgate killed", func(t *testing.T) {
		if _, err := os.Stat("/proc/self"); err != nil {
			t.Skip("the parent-death signal is Linux's")
		}
		r := startListen(t, fx, listenOpts{vllm: []string{fx.good}, ready: true})
		rec := r.started()
		r.serving()
		r.signal(syscall.SIGKILL)
		r.wait()
		r.gone(rec)
		if got := r.events("signal "); !slices.Equal(got, []string{"signal SIGTERM"}) {
			t.Errorf("vLLM got %q after modelgate was killed, want SIGTERM", got)
		}
	})
}

// TestExecListenUsage: the flags of --listen need it, values are checked,
// and what vLLM cannot do behind the gate is refused before anything is
// decided or started (exit 2).
func TestExecListenUsage(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	base := []string{"exec", "--security-policy", fx.policy}
	withListen := append(slices.Clone(base), "--listen", "127.0.0.1:0")
	for _, c := range []struct {
		args []string
		env  map[string]string
		msg  string
	}{
		{append(slices.Clone(base), "--uds", "--", "vllm", "serve", fx.good), nil, "--uds needs --listen"},
		{append(slices.Clone(base), "--admin-listen", "127.0.0.1:0", "--", "vllm", "serve", fx.good), nil, "--admin-listen needs --listen"},
		{append(slices.Clone(base), "--mode", "warn", "--", "vllm", "serve", fx.good), nil, "--mode needs --listen"},
		{append(slices.Clone(base), "--stop-timeout", "1s", "--", "vllm", "serve", fx.good), nil, "--stop-timeout needs --listen"},
		{append(slices.Clone(withListen), "--mode", "audit", "--", "vllm", "serve", fx.good), nil, `--mode "audit"`},
		{append(slices.Clone(withListen), "--startup-timeout", "0s", "--", "vllm", "serve", fx.good), nil, "--startup-timeout and --stop-timeout must be positive"},
		{append(slices.Clone(withListen), "--", "vllm", "serve", fx.good, "--headless"), nil, "refused: --headless"},
		{append(slices.Clone(withListen), "--", "vllm", "serve", fx.good, "--ssl-keyfile", "k.pem"), nil, "refused: --ssl-keyfile"},
		{append(slices.Clone(withListen), "--", "vllm", "serve", fx.good), map[string]string{"VLLM_SKIP_MODEL_NAME_VALIDATION": "1"}, "refused: VLLM_SKIP_MODEL_NAME_VALIDATION"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		res := runCLI(t, c.args...).want(t, exitError).stderrHas(t, c.msg)
		if strings.Contains(res.stdout, "MODEL:") {
			t.Errorf("%q: decided before refusing:\n%s", c.args, res.stdout)
		}
		for k := range c.env {
			os.Unsetenv(k)
		}
	}
	// Runtime LoRA updating under a loras section: refused without the
	// gate, saying how to run it behind the gate.
	t.Setenv("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "1")
	runCLI(t, append(slices.Clone(base), "--", "vllm", "serve", fx.good)...).want(t, exitError).
		stderrHas(t, "refused: VLLM_ALLOW_RUNTIME_LORA_UPDATING", "modelgate exec --listen")
}

// TestExecListenNoLeaks runs exec --listen in-process, stops it as a
// signal would (the context ends) and checks that it exits with vLLM's
// code and leaves no goroutine and no vLLM behind.
func TestExecListenNoLeaks(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	dir, err := os.MkdirTemp("", "mgl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	record, sock := filepath.Join(dir, "record.json"), filepath.Join(dir, "api.sock")
	t.Setenv("PATH", vllmBin(t))
	t.Setenv(fakeVLLMRecord, record)
	t.Setenv(fakeServe, "1")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// The gate's SIGHUP reload starts os/signal's dispatcher, which
		// runs for the rest of the process once started.
		goleak.IgnoreTopFunction("os/signal.signal_recv"), goleak.IgnoreAnyFunction("os/signal.loop"))

	var out syncBuffer // the logger and the copies of vLLM's output write it
	a := newApp(&out, &out)
	a.isTerminal = func(io.Writer) bool { return false }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- a.run(ctx, []string{"exec", "--security-policy", fx.policy, "--listen", "unix:" + sock, "--", "vllm", "serve", fx.good})
	}()
	client := &http.Client{Timeout: watchdog, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(watchdog)
	for {
		resp, err := client.Get("http://api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the gate never served vLLM's /health: %v\n%s", err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	client.CloseIdleConnections()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, want vLLM's 0\n%s", code, out.String())
		}
	case <-time.After(watchdog):
		t.Fatalf("exec --listen did not stop\n%s", out.String())
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var rec vllmRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if alive(rec.PID) {
		syscall.Kill(rec.PID, syscall.SIGKILL)
		t.Errorf("vLLM (process %d) outlived exec --listen", rec.PID)
	}
	if got := fakeEvents(record); !slices.Contains(got, "signal SIGTERM") {
		t.Errorf("vLLM's events %q lack the forwarded SIGTERM", got)
	}
}

// TestExecListenPinDir: with --pin-dir, vLLM behind the gate starts on
// the verified copy of its model (served under the name the user gave),
// and the gate has a runtime load read the adapter's copy in the same
// folder: both copies exist, and the load that reaches vLLM names the
// copy, not the folder the client sent.
func TestExecListenPinDir(t *testing.T) {
	fx := newExecFixture(t)
	pins := filepath.Join(t.TempDir(), "pins")
	r := startListen(t, fx, listenOpts{
		flags: []string{"--pin-dir", pins},
		vllm:  []string{fx.good, "--enable-lora"},
		ready: true,
	})
	rec := r.started()
	copies := copiesIn(t, pins)
	if len(copies) != 1 || len(rec.Argv) < 5 || rec.Argv[2] != copies[0] || !slices.Contains(rec.Argv, "--served-model-name") {
		t.Fatalf("argv %q, copies %q", rec.Argv, copies)
	}
	model := copies[0]
	r.serving()
	body := `{"lora_name":"x","lora_path":` + strconv.Quote(fx.adapterA) + `}`
	if code, _, resp := r.do("POST", "http://api/v1/load_lora_adapter", body); code != http.StatusOK {
		t.Fatalf("allowed load: %d %s", code, resp)
	}
	copies = copiesIn(t, pins)
	if len(copies) != 2 {
		t.Fatalf("copies %q, want the model's and the adapter's", copies)
	}
	adapter := copies[0]
	if adapter == model {
		adapter = copies[1]
	}
	if got := r.events("load "); !slices.Equal(got, []string{"load x " + adapter}) {
		t.Errorf("loads that reached vLLM: %q, want the adapter's copy %q", got, adapter)
	}
	r.signal(syscall.SIGTERM)
	r.exit(0, "")
	r.gone(rec)
}
