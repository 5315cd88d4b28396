//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// vllmProcess is vLLM running as modelgate's child (exec --listen).
//
// It runs in a process group of its own. A terminal sends Ctrl-C's SIGINT
// to its foreground process group, which is modelgate's: vLLM gets the
// signal once, forwarded by modelgate, rather than once from the terminal
// and again from modelgate (uvicorn reads a second SIGINT as "exit now,
// drop what is in flight"). Supervisors (docker stop, Kubernetes) signal
// modelgate's process alone, and modelgate forwards that too. On Linux,
// vLLM also gets SIGTERM when modelgate dies without stopping it (killed
// with SIGKILL, crashed): the parent-death signal.
type vllmProcess struct {
	pid  int
	cmd  *exec.Cmd
	done chan struct{} // closed once vLLM has exited and been reaped
	// Set before done closes: the exit code (128+N for a death by signal
	// N, as a shell reports it) and how vLLM ended, in words.
	code  int
	ended string
}

// pipeWaitDelay bounds how long the output of vLLM's descendants is
// copied after vLLM itself exited (only when modelgate's stdout or stderr
// is not a file, as in tests).
const pipeWaitDelay = 5 * time.Second

// startVLLMProcess starts vLLM: path with argv and env, in dir, its
// output on stdout and stderr, no input (a process outside the terminal's
// foreground group that read the terminal would be stopped).
func startVLLMProcess(path string, argv, env []string, dir string, stdout, stderr io.Writer) (*vllmProcess, error) {
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Dir: dir, Stdout: stdout, Stderr: stderr,
		SysProcAttr: vllmProcAttr(), WaitDelay: pipeWaitDelay}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &vllmProcess{pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// wait reaps vLLM, then kills what it left running in its process group
// (the engine and worker processes of a vLLM that crashed): nothing of
// vLLM outlives it. The group's id stays reserved while any member lives,
// so the kill cannot reach an unrelated process.
func (p *vllmProcess) wait() {
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
		return code, fmt.Sprintf("was ended by signal %s (exit status %d)", signalName(ws.Signal()), code)
	}
	return ps.ExitCode(), fmt.Sprintf("exited with status %d", ps.ExitCode())
}

// signal sends sig to vLLM's main process only, as a supervisor would:
// vLLM stops its own engine and workers.
func (p *vllmProcess) signal(sig os.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill ends vLLM and its whole process group at once (SIGKILL). It does
// not wait: done closes once vLLM is reaped.
func (p *vllmProcess) kill() {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}
