package hashcache

import (
	"context"
	"os"
	"testing"

	"github.com/modelgate/modelgate/internal/cputime"
	"github.com/modelgate/modelgate/manifest"
)

// BenchmarkBuildDirCache hashes the directory named by MODELGATE_BENCH_DIR
// (files method, sha256) without a cache and with a warm Store, in one
// process: what the cache saves apart from process start and the
// signature (bench/throughput.sh --cache measures the command). Besides
// wall time it reports cpu-ms/op, the process's CPU time (user+sys, all
// goroutines) per build, which other load on a shared machine hardly
// moves. Skipped when the variable is unset. The files must be more than
// two seconds old for their digests to be stored.
func BenchmarkBuildDirCache(b *testing.B) {
	dir := os.Getenv("MODELGATE_BENCH_DIR")
	if dir == "" {
		b.Skip("MODELGATE_BENCH_DIR is not set")
	}
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		cache manifest.DigestCache
	}{{"uncached", nil}, {"warm", s}} {
		b.Run(bc.name, func(b *testing.B) {
			opts := manifest.Options{Serialization: sha, Cache: bc.cache}
			if _, _, err := manifest.Build(context.Background(), dir, opts); err != nil { // fills the cache
				b.Fatal(err)
			}
			cpu0, _ := cputime.Process() // an error shows again in Since
			for b.Loop() {
				_, st, err := manifest.Build(context.Background(), dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				if bc.cache != nil && st.Bytes != 0 {
					b.Fatalf("a warm build read %d bytes: are the files older than two seconds?", st.Bytes)
				}
			}
			if used, err := cputime.Since(cpu0); err == nil && b.N > 0 {
				b.ReportMetric(float64(used.Milliseconds())/float64(b.N), "cpu-ms/op")
			}
		})
	}
}
