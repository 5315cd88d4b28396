//go:build unix

package gate

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
			start := cpuTime()
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
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
