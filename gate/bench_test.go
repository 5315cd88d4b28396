package gate

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/cputime"
)

// benchUpstream is a minimal vLLM stand-in: it answers a completion with
// a small JSON body, /v1/models with the base model, and a streamed
// completion with sseEvents events of sseEventSize bytes, each flushed.
const (
	sseEvents    = 2048
	sseEventSize = 512
)

func benchUpstream(tb testing.TB) *httptest.Server { return benchUpstreamDelay(tb, 0) }

// benchUpstreamDelay is benchUpstream answering each completion after
// delay: the time a real model takes to generate, during which the
// client waits and nothing runs.
func benchUpstreamDelay(tb testing.TB, delay time.Duration) *httptest.Server {
	event := []byte("data: " + strings.Repeat("x", sseEventSize-8) + "\n\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/v1/models":
			io.WriteString(w, `{"object":"list","data":[{"id":"base","object":"model"}]}`)
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for range sseEvents {
				w.Write(event)
				fl.Flush()
			}
		default:
			if delay > 0 {
				time.Sleep(delay)
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"cmpl-1","object":"text_completion","model":"base","choices":[{"index":0,"text":"ok"}]}`)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// benchGate puts a gate (enforce mode, real policy) in front of up.
func benchGate(tb testing.TB, up string) *httptest.Server {
	fx := newFixture(tb)
	g, err := New(Config{Upstream: up, PolicyFile: fx.policyFile, UpstreamWorkDir: fx.workdir, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	tb.Cleanup(func() { srv.Close(); g.Close() })
	return srv
}

// completionBody is a typical small chat request.
const completionBody = `{"model":"base","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about the sea."}],"max_tokens":64,"temperature":0.7}`

// BenchmarkAddedLatency measures the latency the gate adds to a non-LoRA
// request (a chat completion naming the base model: the gate reads the
// body to find the model, checks it and forwards it) at 64 concurrent
// clients. Each client alternates a request through the gate and one
// straight to the upstream, so both see the same machine load; the
// reported p50/p99 are per-request latencies and their differences.
//
// With an upstream that answers at once (upstream-0ms) the clients keep
// every core busy and latency is mostly queueing for CPU, client and
// upstream included: the gate's CPU cost times the concurrency. With an
// upstream that takes 20 ms per completion (upstream-20ms, still far
// quicker than a model) the cores are not saturated and the difference is
// the gate's own work on the request's path.
//
// The bare-proxy row puts a plain httputil.ReverseProxy, with the gate's
// transport settings and none of its checks, in the gate's place (its
// gate-* figures are the bare proxy's): what any reverse proxy in Go adds
// on this machine, against which to read the gate's figures.
func BenchmarkAddedLatency(b *testing.B) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("upstream-%dms", delay.Milliseconds()), func(b *testing.B) {
			up := benchUpstreamDelay(b, delay)
			benchAddedLatency(b, up, benchGate(b, up.URL))
		})
	}
	b.Run("upstream-20ms-bare-proxy", func(b *testing.B) {
		up := benchUpstreamDelay(b, 20*time.Millisecond)
		benchAddedLatency(b, up, bareProxy(b, up.URL))
	})
}

// bareProxy is a reverse proxy to up with the gate's transport and
// nothing else.
func bareProxy(tb testing.TB, up string) *httptest.Server {
	u, err := parseUpstream(up, DefaultDialTimeout)
	if err != nil {
		tb.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = u.scheme, u.host
			pr.SetXForwarded()
		},
		Transport: u.transport,
	}
	srv := httptest.NewServer(rp)
	tb.Cleanup(srv.Close)
	return srv
}

func benchAddedLatency(b *testing.B, up, gw *httptest.Server) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxIdleConns: 256}}
	defer client.CloseIdleConnections()
	do := func(url string) time.Duration {
		start := time.Now()
		resp, err := client.Post(url, "application/json", strings.NewReader(completionBody))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	// Warm both paths (connections, the gate's model list).
	do(gw.URL + "/v1/chat/completions")
	do(up.URL + "/v1/chat/completions")

	var mu sync.Mutex
	var direct, gated []time.Duration
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var d, g []time.Duration
		for pb.Next() {
			g = append(g, do(gw.URL+"/v1/chat/completions"))
			d = append(d, do(up.URL+"/v1/chat/completions"))
		}
		mu.Lock()
		direct, gated = append(direct, d...), append(gated, g...)
		mu.Unlock()
	})
	b.StopTimer()
	dp50, dp99 := percentiles(direct)
	gp50, gp99 := percentiles(gated)
	b.ReportMetric(float64(dp50.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(dp99.Microseconds()), "direct-p99-µs")
	b.ReportMetric(float64(gp50.Microseconds()), "gate-p50-µs")
	b.ReportMetric(float64(gp99.Microseconds()), "gate-p99-µs")
	b.ReportMetric(float64((gp50 - dp50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((gp99 - dp99).Microseconds()), "added-p99-µs")
}

// percentiles returns the 50th and 99th percentiles.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99)
}

// BenchmarkSSEThroughput measures a streamed completion (2048 events of
// 512 bytes, each flushed by the upstream) through the gate and straight
// from the upstream, alternating, and reports both throughputs and their
// ratio.
func BenchmarkSSEThroughput(b *testing.B) {
	up := benchUpstream(b)
	gw := benchGate(b, up.URL)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	stream := func(url string) time.Duration {
		start := time.Now()
		resp, err := client.Post(url, "application/json", strings.NewReader(`{"model":"base","stream":true}`))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != sseEvents*sseEventSize {
			b.Fatalf("streamed %d bytes (%v), want %d", n, err, sseEvents*sseEventSize)
		}
		return time.Since(start)
	}
	stream(gw.URL + "/stream")
	var direct, gated time.Duration
	b.ResetTimer()
	for range b.N {
		gated += stream(gw.URL + "/stream")
		direct += stream(up.URL + "/stream")
	}
	b.StopTimer()
	mb := func(d time.Duration) float64 {
		return float64(b.N) * sseEvents * sseEventSize / d.Seconds() / (1 << 20)
	}
	b.ReportMetric(mb(direct), "direct-MiB/s")
	b.ReportMetric(mb(gated), "gate-MiB/s")
	b.ReportMetric(100*mb(gated)/mb(direct), "gate-%-of-direct")
	b.ReportMetric(float64(b.N)*sseEvents/gated.Seconds(), "gate-events/s")
}

// BenchmarkCPUPerRequest measures the CPU time (user+system, the whole
// test process: client, gate and upstream) per chat completion at 64
// concurrent clients, straight to the upstream and through the gate. The
// difference is the gate's own cost per request; unlike latency, it
// hardly depends on what else the machine is running.
func BenchmarkCPUPerRequest(b *testing.B) {
	up := benchUpstream(b)
	gw := benchGate(b, up.URL)
	for _, tt := range []struct{ name, url string }{{"direct", up.URL}, {"gate", gw.URL}} {
		b.Run(tt.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxIdleConns: 256}}
			defer client.CloseIdleConnections()
			url := tt.url + "/v1/chat/completions"
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			start, err := cputime.Process()
			if err != nil {
				b.Skip(err)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(url, "application/json", strings.NewReader(completionBody))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.StopTimer()
			if used, err := cputime.Since(start); err == nil {
				b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
			}
		})
	}
}

// BenchmarkFindModels measures reading the model of a request body: the
// typical small chat request, and a 1 MiB one (long messages, escapes)
// whose model comes last.
func BenchmarkFindModels(b *testing.B) {
	var long strings.Builder
	long.WriteString(`{"messages":[`)
	for i := 0; long.Len() < 1<<20; i++ {
		if i > 0 {
			long.WriteByte(',')
		}
		fmt.Fprintf(&long, `{"role":"user","content":"line %d with \"quotes\", \\u00e9 and [brackets] {braces}: %s"}`, i, strings.Repeat("lorem ipsum ", 20))
	}
	long.WriteString(`],"max_tokens":64,"model":"base"}`)
	for _, tt := range []struct{ name, body string }{{"chat", completionBody}, {"1MiB", long.String()}} {
		b.Run(tt.name, func(b *testing.B) {
			body := []byte(tt.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				names, err := findModels("application/json", body)
				if err != nil || len(names) != 1 || names[0] != "base" {
					b.Fatalf("%q %v", names, err)
				}
			}
		})
	}
}
