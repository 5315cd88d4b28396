//go:build unix

package manifest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/cputime"
)

// benchModel writes nFiles files of size bytes each (pseudo-random content)
// under a fresh temporary directory.
func benchModel(b *testing.B, nFiles int, size int) string {
	b.Helper()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size)
	for i := range nFiles {
		for j := 0; j+8 <= len(buf); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// benchBuild hashes dir with s b.N times, reporting throughput.
func benchBuild(b *testing.B, dir string, s Serialization) {
	b.Helper()
	ctx := context.Background()
	opts := Options{Serialization: s}
	_, st, err := Build(ctx, dir, opts) // warm the page cache, learn the size
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Bytes)
	cpu0, _ := cputime.Process() // an error shows again in Since
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Build(ctx, dir, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// CPU time per GB hardly depends on other load on the machine, unlike
	// wall time; compare it with the user+sys time of `openssl dgst`.
	if b.N > 0 && st.Bytes > 0 {
		if used, err := cputime.Since(cpu0); err == nil {
			b.ReportMetric(used.Seconds()/float64(b.N)/(float64(st.Bytes)/1e9), "cpu-s/GB")
		}
	}
}

// BenchmarkBuild hashes a small in-memory-sized model (4 × 16 MiB plus 64
// small files) with every hash and method; it runs in seconds.
func BenchmarkBuild(b *testing.B) {
	big := benchModel(b, 4, 16<<20)
	small := benchModel(b, 64, 64<<10)
	for _, h := range []HashType{SHA256, BLAKE2b, BLAKE3} {
		for _, m := range []Method{Files, Shards} {
			s := Serialization{Method: m, HashType: h}
			if m == Shards {
				s.ShardSize = 4 << 20
			}
			b.Run(fmt.Sprintf("%s/%s/big", h, m), func(b *testing.B) { benchBuild(b, big, s) })
			b.Run(fmt.Sprintf("%s/%s/small", h, m), func(b *testing.B) { benchBuild(b, small, s) })
		}
	}
}

// BenchmarkBuildDir hashes the directory named by MODELGATE_BENCH_DIR with
// sha256 (files method, or shards of MODELGATE_BENCH_SHARD bytes), so the
// hashing path can be compared with `openssl dgst` on a real-sized model
// (see bench/throughput.sh). Skipped when the variable is unset.
func BenchmarkBuildDir(b *testing.B) {
	dir := os.Getenv("MODELGATE_BENCH_DIR")
	if dir == "" {
		b.Skip("MODELGATE_BENCH_DIR is not set")
	}
	s := Serialization{Method: Files, HashType: SHA256}
	if v := os.Getenv("MODELGATE_BENCH_SHARD"); v != "" {
		if _, err := fmt.Sscan(v, &s.ShardSize); err != nil {
			b.Fatalf("MODELGATE_BENCH_SHARD=%q: %v", v, err)
		}
		s.Method = Shards
	}
	if v := os.Getenv("MODELGATE_BENCH_HASH"); v != "" {
		h, err := ParseHashType(v)
		if err != nil {
			b.Fatal(err)
		}
		s.HashType = h
	}
	benchBuild(b, dir, s)
}
