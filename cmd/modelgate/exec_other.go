//go:build !unix

package main

import "errors"

// sysExec is not available: modelgate exec replaces its own process,
// which only Unix systems can do.
func sysExec(string, []string, []string) error {
	return errors.New("modelgate exec runs only on Unix systems")
}
