// Command modelgate decides which AI models and LoRA adapters an inference
// server may load, and proves each one is what its publisher signed with the
// model_signing library.
//
// The command line is a contract (see docs/cli.md): exit code 0 means every
// artifact was allowed or verified, 1 means a decision went against the
// caller, 2 means the command could not do its job, and 130 or 143 mean a
// SIGINT or SIGTERM interrupted it; exec, once vLLM runs, exits with
// vLLM's own code. This package parses flags, prints results and maps
// errors to exit codes; the work is done by packages policy, modelsig,
// manifest, hashcache and pindir, and for vLLM by vllmcmd, launch and gate.
// What it does itself beyond that is orchestrating vLLM behind the gate
// (exec --listen, listen.go): when to release the gate, forward a signal
// or stop; the child process and its private address are launch's.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes of every command. An interruption exits with 128 plus the
// signal number (see interruptedError).
const (
	exitOK     = 0 // allowed / verified / clean
	exitDenied = 1 // a decision went against the caller
	exitError  = 2 // bad usage, unreadable or invalid input
)

func main() {
	a := newApp(os.Stdout, os.Stderr)
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go a.watchSignals(sigs, cancel, os.Exit)
	os.Exit(a.run(ctx, os.Args[1:]))
}

// run executes the command line args and returns the process exit code. It
// is the whole program minus signals and os.Exit, so tests can call it
// in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return newApp(stdout, stderr).run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) (code int) {
	defer func() {
		// A crash must never read as success, and never print a stack
		// trace at a user: report it as an internal error.
		if r := recover(); r != nil {
			a.progress.end()
			fmt.Fprintf(a.stderr, "modelgate: internal error: %s\n", oneLine(fmt.Sprint(r)))
			code = exitError
		}
	}()
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// A signal cancelled the context and the command stopped: whatever
	// error that produced ("context canceled" from deep inside), the
	// truth is that it was interrupted. Unless the command ran a program
	// to the end and exits with its code (exec --listen: vLLM stopped on
	// the signal modelgate forwarded).
	var ex *exitCodeError
	isEx := errors.As(err, &ex)
	var ie *interruptedError
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &ie) && !(isEx && ex.program) {
		a.reportError(ie, ie.code())
		return ie.code()
	}
	if isEx {
		if ex.err != nil {
			a.reportError(ex.err, ex.code)
		}
		return ex.code
	}
	// Anything cobra itself returns (unknown command, bad arguments) is
	// a usage error.
	a.reportError(err, exitError)
	return exitError
}

// reportError writes the one sentence that says why the command failed.
// With --log-format json it is a log record like every other line on
// stderr, so that a log pipeline never meets a line it cannot parse. In
// text, anything in the message that could act on a terminal is escaped
// (see oneLine); an error that is a list (an invalid policy's problems)
// keeps one line per item. It may be called from the signal watcher while
// the command runs, hence the lock; a progress bar still on screen is
// erased first.
func (a *app) reportError(err error, code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.progress.end()
	if a.jsonLogger != nil {
		a.jsonLogger.Error(err.Error(), "exit_code", code)
		return
	}
	var ml interface{ Lines() []string }
	if errors.As(err, &ml) {
		lines := ml.Lines()
		for i, l := range lines {
			lines[i] = oneLine(l)
		}
		fmt.Fprintf(a.stderr, "modelgate: %s\n", strings.Join(lines, "\n"))
		return
	}
	fmt.Fprintf(a.stderr, "modelgate: %s\n", oneLine(err.Error()))
}

// exitCodeError carries the exit code a failure maps to. A nil err means
// the failure was already reported (on stdout, e.g. JSON records), or
// that there is nothing to report.
type exitCodeError struct {
	code int
	err  error
	// program: code is the exit code of a program modelgate ran and
	// waited for, which stands even when a signal interrupted modelgate
	// (see programExit).
	program bool
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

// programExit makes modelgate exit with code, the exit code of a program
// it ran to its end (vLLM behind the gate), reporting err unless it is
// nil.
func programExit(code int, err error) error {
	return &exitCodeError{code: code, err: err, program: true}
}

// failed wraps an operational error (exit 2).
func failed(err error) error { return &exitCodeError{code: exitError, err: err} }

// denied reports a decision against the caller (exit 1); err may be nil
// when the outcome was already printed.
func denied(err error) error { return &exitCodeError{code: exitDenied, err: err} }
