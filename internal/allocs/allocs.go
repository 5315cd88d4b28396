// Package allocs measures what code allocates, for tests that bound memory
// by allocation figures: unlike timings, they do not move with the load on
// the machine.
package allocs

import (
	"runtime"
	"testing"
)

// Bytes returns the bytes f allocates (runtime.MemStats.TotalAlloc before
// and after), an upper bound on the heap f's work needs.
func Bytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// SkipUnderRace skips tb when the race detector is on: it changes what
// allocates, so allocation bounds do not hold under it.
func SkipUnderRace(tb testing.TB) {
	tb.Helper()
	if raceEnabled {
		tb.Skip("allocation figures differ under the race detector")
	}
}
