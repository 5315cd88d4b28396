//go:build !unix

package cputime

import "time"

// Process returns ErrUnsupported: only Unix systems report it here.
func Process() (time.Duration, error) { return 0, ErrUnsupported }
