package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptedRun: when a signal has cancelled the context, every
// command that was working stops with exit 128+signal and the one
// sentence "interrupted (SIG…)", and prints no result for the work it did
// not finish (no decision, no JSON record, no digest, no signature).
func TestInterruptedRun(t *testing.T) {
	model, priv, pub := signedModel(t)
	sigPath := filepath.Join(model, "model.sig")
	signed := mustRead(t, sigPath)
	policyPath := everyModelByKey(t, pub)

	cases := []struct {
		name string
		sig  syscall.Signal
		code int
		args []string
		msg  string
	}{
		{"verify-key", syscall.SIGTERM, 143, []string{"verify", "key", "--public-key", pub, model}, "modelgate: interrupted (SIGTERM)\n"},
		{"verify-key-json", syscall.SIGINT, 130, []string{"verify", "key", "--public-key", pub, "--output", "json", model}, "modelgate: interrupted (SIGINT)\n"},
		{"verify-policy", syscall.SIGTERM, 143, []string{"verify", "--security-policy", policyPath, "--model", model, "--model", model}, "modelgate: interrupted (SIGTERM)\n"},
		{"verify-policy-json", syscall.SIGTERM, 143, []string{"verify", "--security-policy", policyPath, "--model", model, "--output", "json"}, "modelgate: interrupted (SIGTERM)\n"},
		{"sign", syscall.SIGTERM, 143, []string{"sign", "key", "--private-key", priv, "--hash", "blake3", model}, "modelgate: interrupted (SIGTERM)\n"},
		{"digest", syscall.SIGINT, 130, []string{"digest", model}, "modelgate: interrupted (SIGINT)\n"},
		{"json-log", syscall.SIGTERM, 143, []string{"--log-format", "json", "verify", "key", "--public-key", pub, model}, `"msg":"interrupted (SIGTERM)","exit_code":143}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&interruptedError{sig: c.sig})
			var stdout, stderr bytes.Buffer
			code := run(ctx, c.args, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("results printed for interrupted work:\n%s", stdout.String())
			}
			if !strings.HasSuffix(stderr.String(), c.msg) {
				t.Errorf("stderr does not end with %q:\n%s", c.msg, stderr.String())
			}
			// Nor anywhere else: a decision record logged for the
			// stopped work gives the signal as its reason.
			if strings.Contains(stderr.String(), "context canceled") {
				t.Errorf("says context canceled:\n%s", stderr.String())
			}
		})
	}
	if b, _ := os.ReadFile(sigPath); !bytes.Equal(b, signed) {
		t.Error("an interrupted sign changed model.sig")
	}
}

// TestWatchSignals: the first signal cancels the context with the signal
// as cause; a second one, or a command still running when the grace runs
// out, exits at once with 128+signal and says so, after the forced-exit
// hook.
func TestWatchSignals(t *testing.T) {
	cases := []struct {
		name    string
		signals []os.Signal
		grace   time.Duration
		code    int
		msg     string
	}{
		{"second-signal", []os.Signal{syscall.SIGTERM, syscall.SIGTERM}, time.Hour, 143,
			"modelgate: interrupted (SIGTERM): second signal, exiting at once\n"},
		{"int-then-term", []os.Signal{syscall.SIGINT, syscall.SIGTERM}, time.Hour, 143,
			"modelgate: interrupted (SIGTERM): second signal, exiting at once\n"},
		{"grace-runs-out", []os.Signal{syscall.SIGINT}, time.Millisecond, 130,
			"modelgate: interrupted (SIGINT): still running 1ms after the signal, exiting at once\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := newApp(&bytes.Buffer{}, &stderr)
			a.setInterruptGrace(c.grace)
			ctx, cancel := context.WithCancelCause(context.Background())
			sigs := make(chan os.Signal, len(c.signals))
			exited := make(chan int, 1)
			done := make(chan struct{})
			// What must not outlive modelgate (exec --listen's vLLM) is
			// stopped before it exits.
			var forced bool
			a.setForcedExit(func() { forced = true })
			go func() {
				defer close(done)
				a.watchSignals(sigs, cancel, func(code int) {
					if !forced {
						t.Error("exited without running the forced-exit hook")
					}
					exited <- code
				})
			}()
			sigs <- c.signals[0]
			<-ctx.Done()
			if ie, ok := context.Cause(ctx).(*interruptedError); !ok || ie.sig != c.signals[0] || ie.atOnce != "" {
				t.Errorf("cause %v, want the first signal", context.Cause(ctx))
			}
			for _, s := range c.signals[1:] {
				sigs <- s
			}
			select {
			case code := <-exited:
				if code != c.code {
					t.Errorf("exit %d, want %d", code, c.code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no exit 10s after the signals")
			}
			<-done
			if stderr.String() != c.msg {
				t.Errorf("stderr %q, want %q", stderr.String(), c.msg)
			}
		})
	}

	// Closing the channel ends the watcher without exiting.
	a := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	sigs := make(chan os.Signal)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.watchSignals(sigs, func(error) {}, func(int) { t.Error("exited without a signal") })
	}()
	close(sigs)
	<-done
}
