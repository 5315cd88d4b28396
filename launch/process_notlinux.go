//go:build unix && !linux

package launch

import "syscall"

// procAttr puts vLLM in a process group of its own (see Process). There
// is no parent-death signal here: a modelgate killed with SIGKILL leaves
// vLLM running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
