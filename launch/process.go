package launch

import (
	"os"
	"os/exec"
	"syscall"
)

// Process is vLLM running as modelgate's child, behind the gate
// (`modelgate exec --listen`; plain `modelgate exec` replaces itself with
// vLLM instead). Start it with StartProcess.
//
// It runs in a process group of its own. A terminal sends Ctrl-C's SIGINT
// to its foreground process group, which is modelgate's: vLLM gets the
// signal once, forwarded by modelgate with Signal, rather than once from
// the terminal and again from modelgate (uvicorn reads a second SIGINT as
// "exit now, drop what is in flight"). Supervisors (docker stop,
// Kubernetes) signal modelgate's process alone, and modelgate forwards
// that too. On Linux, vLLM also gets SIGTERM when modelgate dies without
// stopping it (killed with SIGKILL, crashed): the parent-death signal.
//
// Process groups are a Unix thing: elsewhere StartProcess fails.
type Process struct {
	pid  int
	cmd  *exec.Cmd
	done chan struct{} // closed once vLLM has exited and been reaped
	// Set before done closes: the exit code (128+N for a death by signal
	// N, as a shell reports it) and how vLLM ended, in words.
	code  int
	ended string
}

// Pid is vLLM's process id, which is also its process group's id.
func (p *Process) Pid() int { return p.pid }

// Done is closed once vLLM has exited and been reaped, and whatever it
// left running in its process group has been killed.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitStatus is how vLLM ended, once Done is closed: its exit code as a
// shell reports it (128+N for a death by signal N, so that a supervisor
// sees the same code as when it ran vLLM itself) and, for messages, a
// description such as "exited with status 1" or "was ended by signal
// SIGTERM (exit status 143)". Before Done is closed it is (0, "").
func (p *Process) ExitStatus() (code int, description string) {
	select {
	case <-p.done:
		return p.code, p.ended
	default:
		return 0, ""
	}
}

// SignalName names a signal in modelgate's messages: the usual names of
// the two signals that stop programs, else the system's description.
func SignalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
