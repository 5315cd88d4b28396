package cputime

import (
	"errors"
	"testing"
	"time"
)

// TestProcessCounts: busy work shows as CPU time, and Since measures from
// an earlier reading.
func TestProcessCounts(t *testing.T) {
	start, err := Process()
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	used, err := Since(start)
	if err != nil || used <= 0 {
		t.Fatalf("Since = %v, %v after %d busy iterations, want > 0", used, err, x)
	}
}
