package launch

import "syscall"

// procAttr puts vLLM in a process group of its own and has the kernel
// send it SIGTERM should modelgate die first (see Process). SIGTERM, not
// SIGKILL: vLLM then stops its engine and workers itself. The signal is
// tied to the thread that started vLLM; Go keeps that thread alive (only
// a thread locked with runtime.LockOSThread exits with its goroutine, and
// the starting goroutine does not lock one).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
