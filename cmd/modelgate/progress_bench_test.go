package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/cputime"
	"github.com/modelgate/modelgate/manifest"
)

// noProgress is a sink that does nothing: the floor any sink is
// measured against.
type noProgress struct{}

func (noProgress) Planned(int, int64) {}
func (noProgress) Hashed(int64)       {}

// BenchmarkHashProgress hashes the model of manifest's BenchmarkBuild
// (4 × 16 MiB plus 64 × 64 KiB, SHA-256, whole files) without a progress
// sink, with a sink that does nothing, and with the terminal display
// itself (drawing into io.Discard, at its real rate and at a frame per
// millisecond), to show
// that progress costs hashing nothing measurable. Compare cpu-s/GB (the
// process's user+system time per GB hashed, the display's goroutines
// included): unlike MB/s it hardly moves with other load on the machine.
func BenchmarkHashProgress(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(name string, size int) {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 4 {
		write(fmt.Sprintf("big%d", i), 16<<20)
	}
	for i := range 64 {
		write(fmt.Sprintf("small%02d", i), 64<<10)
	}
	display := newProgressDisplay(io.Discard, progressConfig{every: progressEvery})
	// One build takes less than progressEvery on a fast machine, so the
	// display above draws only each bar's end; this one draws a frame
	// every millisecond, 150 times the real rate: an upper bound.
	busy := newProgressDisplay(io.Discard, progressConfig{every: time.Millisecond})
	for _, c := range []struct {
		name string
		sink func() manifest.Progress
		end  func()
	}{
		{"none", func() manifest.Progress { return nil }, func() {}},
		{"noop", func() manifest.Progress { return noProgress{} }, func() {}},
		{"display", func() manifest.Progress { return display.start("verify", dir) }, display.end},
		{"display-1ms", func() manifest.Progress { return busy.start("verify", dir) }, busy.end},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			build := func() int64 {
				opts := manifest.Options{Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}, Progress: c.sink()}
				_, st, err := manifest.Build(ctx, dir, opts)
				c.end()
				if err != nil {
					b.Fatal(err)
				}
				return st.Bytes
			}
			n := build() // warm the page cache
			b.SetBytes(n)
			cpu0, _ := cputime.Process() // an error shows again in Since
			for b.Loop() {
				build()
			}
			if used, err := cputime.Since(cpu0); err == nil {
				b.ReportMetric(used.Seconds()/float64(b.N)/(float64(n)/1e9), "cpu-s/GB")
			}
		})
	}
}
