//go:build unix

package main

import "syscall"

// sysExec replaces this process with the program at path: vLLM keeps
// modelgate's process id, so a container's signals reach it directly.
var sysExec = syscall.Exec
