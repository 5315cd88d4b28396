package main

import "syscall"

// vllmProcAttr puts vLLM in a process group of its own and has the kernel
// send it SIGTERM should modelgate die first (see vllmProcess). SIGTERM,
// not SIGKILL: vLLM then stops its engine and workers itself. The signal
// is tied to the thread that started vLLM; Go keeps that thread alive
// (only a thread locked with runtime.LockOSThread exits with its
// goroutine, and the starting goroutine does not lock one).
func vllmProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
