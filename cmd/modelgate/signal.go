package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/modelgate/modelgate/launch"
)

// interruptGrace is how long a command may take to stop after the first
// SIGINT or SIGTERM before modelgate exits anyway. Hashing stops between
// chunks within milliseconds; the grace only matters when something blocks
// outside modelgate's control (a read stuck on a hung network file system,
// a password pipe nobody writes). A command that shuts down gracefully on
// its own may ask for longer with setInterruptGrace.
const interruptGrace = 5 * time.Second

// setInterruptGrace gives the running command d, instead of
// interruptGrace, to stop after the first signal: a server draining its
// connections needs longer than a hash loop. A second signal still exits
// at once.
func (a *app) setInterruptGrace(d time.Duration) { a.grace.Store(int64(d)) }

// setForcedExit sets what must happen before modelgate exits at once
// (second signal, grace run out): exec --listen kills vLLM, which would
// otherwise outlive it. nil clears it. f must not block.
func (a *app) setForcedExit(f func()) {
	if f == nil {
		a.forcedExit.Store(nil)
		return
	}
	a.forcedExit.Store(&f)
}

// interruptedError is why a command stopped early: a signal. It is the
// cause of the command's context, so the command's own error ("context
// canceled" from wherever it was) is replaced by this one.
type interruptedError struct {
	sig os.Signal
	// atOnce says why modelgate exits without waiting for the command:
	// "" while waiting, else the reason (a second signal, a grace that
	// ran out).
	atOnce string
}

func (e *interruptedError) Error() string {
	if e.atOnce != "" {
		return fmt.Sprintf("interrupted (%s): %s, exiting at once", signalName(e.sig), e.atOnce)
	}
	return fmt.Sprintf("interrupted (%s)", signalName(e.sig))
}

// code is the exit code for the signal, 128 plus its number as shells
// report a process a signal ended (130 for SIGINT, 143 for SIGTERM), so
// that a supervisor sees "stopped on request" rather than a denial (1) or
// bad input (2).
func (e *interruptedError) code() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}

// signalName names a signal in messages, as launch does in vLLM's exit
// status.
func signalName(s os.Signal) string { return launch.SignalName(s) }

// watchSignals turns the first signal into a cancelled context, so that
// the command stops at its next check (between hashed chunks, between
// artifacts) and reports "interrupted". A second signal, or a command
// still running its grace (see setInterruptGrace) after the first, exits
// at once through exit.
//
// It returns when sigs is closed; main never closes it, tests do.
func (a *app) watchSignals(sigs <-chan os.Signal, cancel context.CancelCauseFunc, exit func(int)) {
	first, ok := <-sigs
	if !ok {
		return
	}
	cancel(&interruptedError{sig: first})
	grace := time.Duration(a.grace.Load())
	e := &interruptedError{sig: first}
	select {
	case s, ok := <-sigs:
		if !ok {
			return
		}
		e.sig, e.atOnce = s, "second signal"
	case <-time.After(grace):
		e.atOnce = fmt.Sprintf("still running %s after the signal", grace)
	}
	if f := a.forcedExit.Load(); f != nil {
		(*f)()
	}
	a.reportError(e, e.code())
	exit(e.code())
}
