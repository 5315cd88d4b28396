// Command modelgate decides which AI models and LoRA adapters an inference
// server may load, and proves each one is what its publisher signed with the
// model_signing library.
//
// The command line is a contract (see docs/cli.md): exit code 0 means every
// artifact was allowed or verified, 1 means a decision went against the
// caller, 2 means the command could not do its job. This package only parses
// flags, prints results and maps errors to exit codes; the work is done by
// packages policy, modelsig and manifest.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of every command.
const (
	exitOK     = 0 // allowed / verified / clean
	exitDenied = 1 // a decision went against the caller
	exitError  = 2 // bad usage, unreadable or invalid input
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the process exit code. It
// is the whole program minus os.Exit, so tests can call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A crash must never read as success, and never print a stack
		// trace at a user: report it as an internal error.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "modelgate: internal error: %v\n", r)
			code = exitError
		}
	}()
	app := newApp(stdout, stderr)
	root := app.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ex *exitCodeError
	if errors.As(err, &ex) {
		if ex.err != nil {
			app.reportError(ex.err, ex.code)
		}
		return ex.code
	}
	// Anything cobra itself returns (unknown command, bad arguments) is
	// a usage error.
	app.reportError(err, exitError)
	return exitError
}

// reportError writes the one sentence that says why the command failed.
// With --log-format json it is a log record like every other line on
// stderr, so that a log pipeline never meets a line it cannot parse.
func (a *app) reportError(err error, code int) {
	if a.logger != nil && a.logFormat == "json" {
		a.logger.Error(err.Error(), "exit_code", code)
		return
	}
	fmt.Fprintf(a.stderr, "modelgate: %v\n", err)
}

// exitCodeError carries the exit code a failure maps to. A nil err means
// the failure was already reported (on stdout, e.g. JSON records).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// usageError reports bad usage or unusable input (exit 2).
func usageError(format string, args ...any) error {
	return &exitCodeError{code: exitError, err: fmt.Errorf(format, args...)}
}

// failed wraps an operational error (exit 2).
func failed(err error) error { return &exitCodeError{code: exitError, err: err} }

// denied reports a decision against the caller (exit 1); err may be nil
// when the outcome was already printed.
func denied(err error) error { return &exitCodeError{code: exitDenied, err: err} }
