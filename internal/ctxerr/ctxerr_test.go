package ctxerr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

type signalError struct{ name string }

func (e *signalError) Error() string { return "interrupted (" + e.name + ")" }

// TestErr: an ended context's error reads as its cause, or "interrupted"
// / "timed out" without one, and still matches context.Canceled or
// context.DeadlineExceeded and the cause; a live context has none.
func TestErr(t *testing.T) {
	sig := &signalError{"SIGTERM"}
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	timeoutCause := errors.New("policy decision took longer than 30s")
	expiredWithCause, cancelEWC := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second), timeoutCause)
	defer cancelEWC()

	cases := []struct {
		name  string
		ctx   func() context.Context
		msg   string
		is    []error
		isNot []error
	}{
		{"live", context.Background, "", nil, nil},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "interrupted", []error{context.Canceled}, []error{context.DeadlineExceeded}},
		{"cancelled-with-cause", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(sig)
			return ctx
		}, "interrupted (SIGTERM)", []error{context.Canceled, sig}, []error{context.DeadlineExceeded}},
		{"cancel-cause-nil", func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(nil)
			return ctx
		}, "interrupted", []error{context.Canceled}, nil},
		{"deadline", func() context.Context { return expired }, "timed out", []error{context.DeadlineExceeded}, []error{context.Canceled}},
		{"deadline-with-cause", func() context.Context { return expiredWithCause }, timeoutCause.Error(), []error{context.DeadlineExceeded, timeoutCause}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Err(c.ctx())
			if c.msg == "" {
				if err != nil {
					t.Fatalf("Err = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != c.msg {
				t.Fatalf("Err = %v, want %q", err, c.msg)
			}
			for _, target := range c.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			for _, target := range c.isNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true", err, target)
				}
			}
		})
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(sig)
	var se *signalError
	if !errors.As(Err(ctx), &se) || se != sig {
		t.Error("errors.As does not find the cause")
	}
}

// TestReplace: an error that is the context ending seen from inside (an
// HTTP error wrapping context.Canceled) becomes the context's own error
// once it has ended; any other error, or any error while the context is
// live, is kept.
func TestReplace(t *testing.T) {
	sig := &signalError{"SIGINT"}
	ended, cancel := context.WithCancelCause(context.Background())
	cancel(sig)
	inside := fmt.Errorf("Get \"https://tuf.example/root.json\": %w", context.Canceled)
	other := errors.New("no such file or directory")

	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"nil", ended, nil, ""},
		{"inside-ended", ended, inside, "interrupted (SIGINT)"},
		{"deadline-inside-ended", ended, fmt.Errorf("read: %w", context.DeadlineExceeded), "interrupted (SIGINT)"},
		{"other-ended", ended, other, other.Error()},
		{"inside-live", context.Background(), inside, inside.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Replace(c.ctx, c.err)
			if (got == nil) != (c.want == "") || (got != nil && got.Error() != c.want) {
				t.Errorf("Replace = %v, want %q", got, c.want)
			}
		})
	}
}
