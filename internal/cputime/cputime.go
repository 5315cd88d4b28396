// Package cputime reads the CPU time this process has used, for
// benchmarks that report CPU seconds per unit of work: unlike wall time,
// it hardly moves with other load on a shared machine.
package cputime

import (
	"errors"
	"time"
)

// ErrUnsupported is returned where the system offers no per-process CPU
// time (see cputime_other.go).
var ErrUnsupported = errors.New("process CPU time is not available on this system")

// Since returns the CPU time (user+system) used since start, a value
// earlier returned by Process.
func Since(start time.Duration) (time.Duration, error) {
	now, err := Process()
	return now - start, err
}
