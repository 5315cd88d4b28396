//go:build !unix

package main

import (
	"errors"
	"io"
	"os"
)

// vllmProcess is not available: exec --listen manages vLLM's process
// group, which only Unix systems have.
type vllmProcess struct {
	pid   int
	done  chan struct{}
	code  int
	ended string
}

func startVLLMProcess(string, []string, []string, string, io.Writer, io.Writer) (*vllmProcess, error) {
	return nil, errors.New("modelgate exec --listen runs only on Unix systems")
}

func (p *vllmProcess) signal(os.Signal) {}
func (p *vllmProcess) kill()            {}
