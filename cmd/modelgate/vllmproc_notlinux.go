//go:build unix && !linux

package main

import "syscall"

// vllmProcAttr puts vLLM in a process group of its own (see vllmProcess).
// There is no parent-death signal here: a modelgate killed with SIGKILL
// leaves vLLM running.
func vllmProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
