//go:build unix

package launch

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// pipeWaitDelay bounds how long the output of vLLM's descendants is
// copied after vLLM itself exited (only when stdout or stderr is not a
// file, as in tests).
const pipeWaitDelay = 5 * time.Second

// StartProcess starts vLLM in a process group of its own (see Process):
// the program at path with argv (argv[0] included) and env, in dir, its
// output on stdout and stderr, no input (a process outside the terminal's
// foreground group that read the terminal would be stopped).
func StartProcess(path string, argv, env []string, dir string, stdout, stderr io.Writer) (*Process, error) {
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Dir: dir, Stdout: stdout, Stderr: stderr,
		SysProcAttr: procAttr(), WaitDelay: pipeWaitDelay}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// wait reaps vLLM, then kills what it left running in its process group
// (the engine and worker processes of a vLLM that crashed): nothing of
// vLLM outlives it. The group's id stays reserved while any member lives,
// so the kill cannot reach an unrelated process.
func (p *Process) wait() {
	_ = p.cmd.Wait() // the exit status is in ProcessState; an error copying output changes nothing
	p.code, p.ended = exitStatus(p.cmd.ProcessState)
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	close(p.done)
}

// exitStatus is a finished process's exit code, as a shell reports it
// (128+N for a death by signal N), and how it ended, in words.
func exitStatus(ps *os.ProcessState) (int, string) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code := 128 + int(ws.Signal())
		return code, fmt.Sprintf("was ended by signal %s (exit status %d)", SignalName(ws.Signal()), code)
	}
	return ps.ExitCode(), fmt.Sprintf("exited with status %d", ps.ExitCode())
}

// Signal sends sig to vLLM's main process only, as a supervisor would:
// vLLM stops its own engine and workers. It does nothing once vLLM has
// exited.
func (p *Process) Signal(sig os.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// Kill ends vLLM and its whole process group at once (SIGKILL), for when
// vLLM did not stop on a signal in time or modelgate must exit now. It
// does not wait: Done closes once vLLM is reaped. It must not block,
// and does not.
func (p *Process) Kill() {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}
