//go:build unix

package launch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hang bounds every wait on a child, so that a broken test fails rather
// than hangs; it asserts nothing about speed.
const hang = 30 * time.Second

// startSh starts sh -c script as a Process, in dir.
func startSh(t *testing.T, dir, script string) *Process {
	t.Helper()
	sh := "/bin/sh"
	p, err := StartProcess(sh, []string{"sh", "-c", script}, os.Environ(), dir, os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		<-p.Done()
	})
	return p
}

// waitDone waits for p to end and returns its exit status.
func waitDone(t *testing.T, p *Process) (int, string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(hang):
		t.Fatalf("process %d did not end", p.Pid())
	}
	return p.ExitStatus()
}

// waitFile waits until the child created path, its sign that it is ready.
func waitFile(t *testing.T, p *Process, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(hang)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		select {
		case <-p.Done():
			t.Fatalf("the child ended before writing %s", path)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not write %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProcessExitStatus: the exit code is the child's own, or 128+N as a
// shell reports a death by signal N, and the description says which.
func TestProcessExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		want   string
	}{
		{"exit 0", 0, "exited with status 0"},
		{"exit 3", 3, "exited with status 3"},
		{"exit 255", 255, "exited with status 255"},
		{"kill -TERM $$", 143, "was ended by signal SIGTERM (exit status 143)"},
		{"kill -KILL $$", 137, "was ended by signal " + syscall.SIGKILL.String() + " (exit status 137)"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			p := startSh(t, t.TempDir(), tc.script)
			code, desc := waitDone(t, p)
			if code != tc.code || desc != tc.want {
				t.Errorf("ExitStatus() = %d, %q; want %d, %q", code, desc, tc.code, tc.want)
			}
		})
	}
}

// TestProcessGroupAndSignal: the child leads a process group of its own;
// Signal reaches it (its trap decides the exit code); the status is
// unknown until Done; Signal and Kill after the end do nothing.
func TestProcessGroupAndSignal(t *testing.T) {
	dir := t.TempDir()
	p := startSh(t, dir, `trap 'exit 7' TERM; echo ready > ready; while :; do sleep 0.05; done`)
	waitFile(t, p, filepath.Join(dir, "ready"))
	if pgid, err := syscall.Getpgid(p.Pid()); err != nil || pgid != p.Pid() {
		t.Errorf("Getpgid(%d) = %d, %v; want its own group", p.Pid(), pgid, err)
	}
	if code, desc := p.ExitStatus(); code != 0 || desc != "" {
		t.Errorf("ExitStatus() while running = %d, %q; want 0, \"\"", code, desc)
	}
	p.Signal(syscall.SIGTERM)
	if code, desc := waitDone(t, p); code != 7 || desc != "exited with status 7" {
		t.Errorf("ExitStatus() = %d, %q; want 7, \"exited with status 7\"", code, desc)
	}
	p.Signal(syscall.SIGTERM)
	p.Kill()
	if code, _ := p.ExitStatus(); code != 7 {
		t.Errorf("ExitStatus() after a late Signal and Kill = %d, want 7", code)
	}
}

// TestProcessKillEndsGroup: Kill ends the child and its whole group, and
// what a child leaves running in its group when it exits by itself is
// killed too: nothing of vLLM outlives it.
func TestProcessKillEndsGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string // writes the pid of a descendant to "pid"
		kill   bool
		code   int
	}{
		{"killed", `sleep 300 & echo $! > pid; wait`, true, 137},
		{"exited", `sleep 300 & echo $! > pid; while [ ! -e stop ]; do sleep 0.05; done; exit 4`, false, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := startSh(t, dir, tc.script)
			pid, err := strconv.Atoi(strings.TrimSpace(string(waitFile(t, p, filepath.Join(dir, "pid")))))
			if err != nil {
				t.Fatal(err)
			}
			if tc.kill {
				p.Kill()
			} else if err := os.WriteFile(filepath.Join(dir, "stop"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if code, _ := waitDone(t, p); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			deadline := time.Now().Add(hang)
			for running(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("descendant %d still runs after its group was killed", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// running reports whether process pid exists and, where /proc tells, is
// not a zombie waiting for whoever inherited it.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || !dirExists("/proc/self")
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// TestStartProcessFails: a program that cannot start is an error, not a
// Process.
func TestStartProcessFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-vllm")
	if p, err := StartProcess(missing, []string{missing}, nil, "", nil, nil); err == nil {
		p.Kill()
		t.Fatalf("StartProcess(%q) started process %d", missing, p.Pid())
	}
}
