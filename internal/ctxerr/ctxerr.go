// Package ctxerr words the error of a context that has ended for the
// people who read it.
//
// ctx.Err() says only "context canceled", which is what a decision record
// or a denial reason would show after modelgate was interrupted, or after
// an HTTP client went away: true, but not why. The command line cancels
// its context with the signal as cause ("interrupted (SIGTERM)"), and a
// server may give a cause too; Err reports that cause, and plain
// "interrupted" or "timed out" when there is none, while errors.Is still
// finds context.Canceled or context.DeadlineExceeded (and the cause) for
// callers that branch on them.
package ctxerr

import (
	"context"
	"errors"
)

// Err returns nil while ctx is live, and once it has ended an error whose
// message is its cause (see the package doc) and which wraps both
// ctx.Err() and context.Cause(ctx).
func Err(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	return &ended{err: err, cause: context.Cause(ctx)}
}

// Replace returns Err(ctx) in place of err when err is ctx ending seen
// from inside an operation (it wraps context.Canceled or
// context.DeadlineExceeded, as an HTTP or TUF error does) and ctx has
// indeed ended; otherwise err unchanged. Callers wrap the result with
// what they were doing, so the message keeps the operation and gains the
// reason.
func Replace(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Err(ctx)
	}
	return err
}

// ended is the error of an ended context.
type ended struct {
	err   error // ctx.Err(): context.Canceled or context.DeadlineExceeded
	cause error // context.Cause(ctx); err itself when none was given
}

func (e *ended) Error() string {
	switch {
	case e.cause != nil && e.cause != e.err:
		return e.cause.Error()
	case errors.Is(e.err, context.DeadlineExceeded):
		return "timed out"
	}
	return "interrupted"
}

func (e *ended) Unwrap() []error {
	if e.cause != nil && e.cause != e.err {
		return []error{e.err, e.cause}
	}
	return []error{e.err}
}
