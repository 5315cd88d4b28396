//go:build !unix

package launch

import (
	"errors"
	"io"
	"os"
)

// StartProcess is not available: vLLM behind the gate runs in a process
// group of its own, which only Unix systems have.
func StartProcess(string, []string, []string, string, io.Writer, io.Writer) (*Process, error) {
	return nil, errors.New("modelgate exec --listen runs only on Unix systems")
}

// Signal does nothing: no Process starts here.
func (p *Process) Signal(os.Signal) {}

// Kill does nothing: no Process starts here.
func (p *Process) Kill() {}
