package gate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStreamingNotBuffered: the first server-sent event reaches the client
// while vLLM still holds the last one back.
func TestStreamingNotBuffered(t *testing.T) {
	h := newHarness(t)
	h.fake.release = make(chan struct{})
	h.fake.chunks = 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/v1/completions", strings.NewReader(`{"model":"base","stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		// Event i arrives before the fake is allowed to write event i+1.
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !strings.Contains(line, fmt.Sprintf("chunk %d", i)) {
			t.Fatalf("event %d: %q", i, line)
		}
		if _, err := br.ReadString('\n'); err != nil { // blank line ending the event
			t.Fatal(err)
		}
		if i < 2 {
			h.fake.release <- struct{}{}
		}
	}
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "data: [DONE]\n\n" {
		t.Errorf("end of stream %q, %v", rest, err)
	}
}

// TestClientCancellationReachesUpstream: when the client goes away
// mid-stream, vLLM's request is cancelled too.
func TestClientCancellationReachesUpstream(t *testing.T) {
	h := newHarness(t)
	h.fake.release = make(chan struct{}) // never released: the stream hangs after one event
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/v1/completions", strings.NewReader(`{"model":"base","stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	// The fake's handler returns once its request context ends; the
	// httptest server's Close (in cleanup) would hang otherwise. Check it
	// directly by closing the fake's client connections' view: Close
	// waits for handlers.
	done := make(chan struct{})
	go func() { h.fake.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream handler is still running after the client left")
	}
}

// TestConcurrentLoadsShareOneVerification: 50 concurrent loads of one
// adapter cause exactly one policy decision.
func TestConcurrentLoadsShareOneVerification(t *testing.T) {
	const n = 50
	hold := make(chan struct{})
	var waiting atomic.Int64
	allWaiting := make(chan struct{})
	h := newHarness(t, func(h *harness, _ *Config) { h.hold = hold })
	h.gate.testHookWaitDecision = func() {
		if waiting.Add(1) == n {
			close(allWaiting)
		}
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The same adapter under two spellings of its path.
			p := h.fx.good
			if i%2 == 1 {
				p = h.fx.good + "/"
			}
			statuses[i] = h.postJSON("/v1/load_lora_adapter", loadBody(fmt.Sprintf("a%d", i), p)).status
		}()
	}
	select {
	case <-allWaiting:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d requests reached the decision", waiting.Load(), n)
	}
	close(hold)
	wg.Wait()
	if got := h.calls.Load(); got != 1 {
		t.Errorf("%d decisions for %d concurrent loads of one adapter, want 1", got, n)
	}
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if got := len(h.fake.received("/v1/load_lora_adapter")); got != n {
		t.Errorf("the upstream saw %d loads, want %d", got, n)
	}
}

// TestVerificationPoolBounded: no more than MaxVerifications decisions run
// at once.
func TestVerificationPoolBounded(t *testing.T) {
	hold := make(chan struct{})
	h := newHarness(t, func(h *harness, c *Config) {
		h.hold = hold
		c.MaxVerifications = 2
	})
	paths := []string{h.fx.good, h.fx.unsigned, h.fx.tampered, h.fx.hubSnap}
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.postJSON("/v1/load_lora_adapter", loadBody(fmt.Sprint(i), p))
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// Two decisions hold both slots; the others wait for one.
	if got := h.calls.Load(); got != 2 {
		t.Errorf("%d decisions running, want 2", got)
	}
	if got := testCounter(t, h.gate.metrics.verifying); got != 2 {
		t.Errorf("in-progress gauge %v, want 2", got)
	}
	close(hold)
	wg.Wait()
	if got := h.calls.Load(); got != int64(len(paths)) {
		t.Errorf("%d decisions in all, want %d", got, len(paths))
	}
}
