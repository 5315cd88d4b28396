package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/internal/testpki"
)

// proxyPolicy writes a policy whose loras section requires a signature by
// a fresh key for everything under dir, and returns its path.
func proxyPolicy(t *testing.T, dir string) string {
	t.Helper()
	pub := filepath.Join(dir, "team.pub.pem")
	testpki.WritePublicKey(t, pub, &testpki.Key(t, nil).PublicKey)
	doc := map[string]any{"policy": map[string]any{"signatures": map[string]any{
		"signers": map[string]any{"team": map[string]any{"verification_method": "key", "public_key": pub}},
		"loras":   map[string]any{"regex:" + dir + "/.*": map[string]any{"signer": "team"}},
	}}}
	b, _ := json.Marshal(doc)
	p := filepath.Join(dir, "policy.json")
	testpki.WriteFile(t, p, b)
	return p
}

func TestProxyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	pol := proxyPolicy(t, dir)
	bad := filepath.Join(dir, "bad.json")
	testpki.WriteFile(t, bad, []byte(`{"policy": {"signatures": {"signers": {}, "lora": {}}}}`))
	sock := "unix:" + filepath.Join(dir, "s")
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"proxy", "--listen", sock, "--upstream", "http://127.0.0.1:1"}, "--security-policy is required"},
		{[]string{"proxy", "--security-policy", pol, "--upstream", "http://127.0.0.1:1"}, "--listen is required"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock}, "--upstream is required"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1", "--mode", "audit"}, `--mode "audit"`},
		{[]string{"proxy", "--security-policy", bad, "--listen", sock, "--upstream", "http://127.0.0.1:1"}, "invalid security policy"},
		{[]string{"proxy", "--security-policy", filepath.Join(dir, "none.json"), "--listen", sock, "--upstream", "http://127.0.0.1:1"}, "none.json"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "ftp://x"}, "upstream"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1/v1"}, "upstream"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1", "--root-path", "api"}, "root path"},
		{[]string{"proxy", "--security-policy", pol, "--listen", "256.0.0.1:99999", "--upstream", "http://127.0.0.1:1"}, "--listen"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1", "--upstream-api-key-file", filepath.Join(dir, "nokey")}, "--upstream-api-key-file"},
		{[]string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1", "--max-body-size", "0"}, "--max-body-size"},
		{[]string{"proxy", "extra", "--security-policy", pol}, "unknown command"},
	} {
		runCLI(t, tt.args...).want(t, exitError).stderrHas(t, tt.msg)
	}
	t.Setenv("HF_HUB_CACHE", "relative/hub")
	runCLI(t, "proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1").want(t, exitError).
		stderrHas(t, `the Hugging Face cache cannot be chosen: HF_HUB_CACHE="relative/hub": relative`, "--hf-cache DIR")
}

// TestProxyServes runs the command against a stand-in vLLM: a denied load
// never reaches it, a passing request does, and cancelling the context
// (what SIGTERM does in main) stops it with exit 0.
func TestProxyServes(t *testing.T) {
	dir, err := os.MkdirTemp("", "proxy-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dir, _ = filepath.EvalSymlinks(dir)
	pol := proxyPolicy(t, dir)
	adapter := filepath.Join(dir, "adapters", "unsigned")
	testpki.WriteFile(t, filepath.Join(adapter, "adapter_config.json"), []byte(`{}`))
	hub := hftest.At(t, filepath.Join(dir, "hub"))
	hub.Add("org/adapter", "main", map[string]string{"adapter_config.json": "{}"})
	var mu sync.Mutex
	var reached []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/models":
			io.WriteString(w, `{"object":"list","data":[{"id":"base"}]}`)
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer upstream.Close()
	sock := filepath.Join(dir, "gate.sock")
	admin := filepath.Join(dir, "admin.sock")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--log-format", "json", "proxy", "--security-policy", pol, "--listen", "unix:" + sock,
			"--admin-listen", "unix:" + admin, "--upstream", upstream.URL, "--drain-timeout", "5s", "--hf-cache", hub.Root}, &stdout, &stderr)
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		path := sock
		if strings.HasPrefix(addr, "admin") {
			path = admin
		}
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://admin/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the proxy did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	body := `{"lora_name":"a","lora_path":` + string(must(json.Marshal(adapter))) + `}`
	resp, err := client.Post("http://gate/v1/load_lora_adapter", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "PermissionDenied") {
		t.Errorf("unsigned load: %d %s", resp.StatusCode, b)
	}
	// An adapter named by id is decided in the hub cache: its snapshot
	// has no signature.
	resp, err = client.Post("http://gate/v1/load_lora_adapter", "application/json", strings.NewReader(`{"lora_name":"b","lora_path":"org/adapter"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "has no signature file") || !strings.Contains(string(b), "hf download org/adapter") {
		t.Errorf("hub load: %d %s", resp.StatusCode, b)
	}
	resp, err = client.Post("http://gate/v1/completions", "application/json", strings.NewReader(`{"model":"base"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("completion: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d, want 0\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the proxy did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range reached {
		if p == "/v1/load_lora_adapter" {
			t.Error("the denied load reached the upstream")
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"gate stopped"`) {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
