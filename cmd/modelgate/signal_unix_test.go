//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run modelgate as a child process (the test binary itself,
// running main), because signals are delivered to a process: they check that SIGINT and SIGTERM end a command promptly with
// "interrupted" and exit 130/143, and that a second signal ends one that
// is stuck. Nothing is timed except watchdogs that fail a test that hangs.

// watchdog bounds every wait on a child process.
const watchdog = 20 * time.Second

// asModelgate, set in a child's environment, makes the test binary run
// main() with its arguments instead of the tests: the child is modelgate
// itself, without a separate build.
const asModelgate = "MODELGATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if isFakeVLLM() {
		fakeVLLM() // exits
	}
	if os.Getenv(asModelgate) == "1" {
		main()
		return // not reached: main exits
	}
	code := withPrivateCache(m.Run)
	if execFx != nil {
		os.RemoveAll(execFx.root)
	}
	os.Exit(code)
}

// child is a running modelgate.
type child struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan struct{}
}

func start(t *testing.T, args ...string) *child {
	t.Helper()
	return startIn(t, "", append(os.Environ(), asModelgate+"=1"), args...)
}

// startIn starts modelgate in dir ("" for the test's) with exactly the
// environment env (which must set asModelgate).
func startIn(t *testing.T, dir string, env []string, args ...string) *child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: exec.Command(self, args...), exited: make(chan struct{})}
	c.cmd.Env, c.cmd.Dir = env, dir
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// waitOpen waits until the child has path open, so that it is past its
// signal setup and busy with the file.
func (c *child) waitOpen(path string) {
	c.t.Helper()
	fdDir := filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "fd")
	deadline := time.Now().Add(watchdog)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			c.t.Fatalf("exited before opening %s: %v\nstderr:\n%s", path, c.cmd.ProcessState, c.stderr.String())
		default:
		}
		entries, _ := os.ReadDir(fdDir)
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && target == path {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("did not open %s within %s", path, watchdog)
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait() int {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(watchdog):
		c.t.Fatalf("still running %s after the signal\nstderr:\n%s", watchdog, c.stderr.String())
		return -1
	}
}

func (c *child) signal(s os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatal(err)
	}
}

// bigModel returns a signed model folder whose only file has since become
// a 64 GiB sparse file: its signature verifies at once, and hashing it
// takes long enough (tens of seconds) to be interrupted.
func bigModel(t *testing.T) (model, big, priv, pub string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc to see when the child is hashing")
	}
	priv, pub = keyPair(t, t.TempDir())
	model = filepath.Join(t.TempDir(), "big-model")
	big = writeFile(t, filepath.Join(model, "weights.bin"), []byte("small for now"))
	sign(t, model, filepath.Join(model, "model.sig"), "sign", "key", "--private-key", priv)
	if err := os.Truncate(big, 64<<30); err != nil {
		t.Skipf("cannot make a 64 GiB sparse file here: %v", err)
	}
	return model, big, priv, pub
}

// TestSignalStopsHashing: one SIGTERM or SIGINT while a command hashes a
// huge file ends it promptly, with "interrupted", exit 143 or 130, and no
// result for the unfinished work.
func TestSignalStopsHashing(t *testing.T) {
	model, big, priv, pub := bigModel(t)
	sigPath := filepath.Join(model, "model.sig")
	signed := mustRead(t, sigPath)
	policyPath := everyModelByKey(t, pub)
	cases := []struct {
		name string
		sig  syscall.Signal
		args []string
		code int
		last string // the last line of stderr
	}{
		{"verify-key-term", syscall.SIGTERM, []string{"verify", "key", "--public-key", pub, model}, 143, "modelgate: interrupted (SIGTERM)"},
		{"verify-key-int-json", syscall.SIGINT, []string{"verify", "key", "--public-key", pub, "--output", "json", model}, 130, "modelgate: interrupted (SIGINT)"},
		{"verify-policy", syscall.SIGTERM, []string{"verify", "--security-policy", policyPath, "--model", model}, 143, "modelgate: interrupted (SIGTERM)"},
		{"sign", syscall.SIGTERM, []string{"sign", "key", "--private-key", priv, model}, 143, "modelgate: interrupted (SIGTERM)"},
		{"digest", syscall.SIGINT, []string{"digest", model}, 130, "modelgate: interrupted (SIGINT)"},
		{"json-log", syscall.SIGTERM, []string{"--log-format", "json", "digest", model}, 143, `"msg":"interrupted (SIGTERM)","exit_code":143}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.args...)
			p.waitOpen(big)
			p.signal(c.sig)
			if code := p.wait(); code != c.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, c.code, p.stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(p.stderr.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasSuffix(last, c.last) {
				t.Errorf("last line of stderr %q, want %q", last, c.last)
			}
			if p.stdout.Len() != 0 {
				t.Errorf("result printed for interrupted work:\n%s", p.stdout.String())
			}
		})
	}
	if b, _ := os.ReadFile(sigPath); !bytes.Equal(b, signed) {
		t.Error("the interrupted sign changed model.sig")
	}
}

// TestSecondSignalExitsAtOnce: a command stuck where the context cannot
// reach it (reading a password pipe nobody writes) is ended by a second
// signal, at once, with exit 143.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	priv, _ := keyPair(t, t.TempDir())
	model := smallModel(t)
	fifo := filepath.Join(t.TempDir(), "password")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	p := start(t, "sign", "key", "--private-key", priv, "--password-file", fifo, model)
	// Opening the write end succeeds once the child has opened the read
	// end; holding it open without writing keeps the child reading.
	var w *os.File
	deadline := time.Now().Add(watchdog)
	for w == nil {
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		switch {
		case err == nil:
			w = f
		case time.Now().After(deadline):
			t.Fatalf("the child never opened the password pipe: %v\nstderr:\n%s", err, p.stderr.String())
		default:
			time.Sleep(10 * time.Millisecond)
		}
	}
	defer w.Close()
	// Signals sent close together can merge into one; keep sending until
	// the child is gone. The first cancels (and cannot unblock the read),
	// the next one exits.
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for done := false; !done; {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			done = true
		case <-ticker.C:
		case <-time.After(watchdog):
			t.Fatal("still running after repeated SIGTERMs")
		}
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit %d, want 143\nstderr:\n%s", code, p.stderr.String())
	}
	if got, want := p.stderr.String(), "modelgate: interrupted (SIGTERM): second signal, exiting at once\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	assertNoFile(t, filepath.Join(model, "model.sig"))
}

// TestSignRefusesFIFOSignature: an existing model.sig that is a FIFO is
// refused without being opened, so sign does not block on it.
func TestSignRefusesFIFOSignature(t *testing.T) {
	priv, _ := keyPair(t, t.TempDir())
	model := smallModel(t)
	if err := syscall.Mkfifo(filepath.Join(model, "model.sig"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	runCLI(t, "sign", "key", "--private-key", priv, model).want(t, exitError).stderrHas(t, "exists and is not a regular file")
}
