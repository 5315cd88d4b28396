package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/modelgate/modelgate/launch"
	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/pindir"
	"github.com/modelgate/modelgate/policy"
)

// `modelgate exec --listen ADDR`: vLLM runs as modelgate's child on a
// private address, behind the gate, which serves ADDR (spec vllm.md §5,
// last paragraph; docs/vllm.md).
//
//	decide (as exec does) → open ADDR (503 until vLLM is healthy) → start vLLM
//	→ wait until the gate is Ready → serve through the gate
//	→ vLLM exits, or a signal is forwarded to it → stop the gate → exit with vLLM's code

// Defaults of exec --listen.
const (
	// defaultStartupTimeout is generous: loading a large model and
	// capturing its CUDA graphs takes minutes.
	defaultStartupTimeout = 20 * time.Minute
	// defaultStopTimeout matches Kubernetes' default termination grace.
	defaultStopTimeout = 30 * time.Second
)

// Health polling while vLLM starts: quick at first (a small model is up
// in seconds), then once a second; the wait is reported every
// waitReport.
const (
	healthPollMin = 50 * time.Millisecond
	healthPollMax = time.Second
	waitReport    = time.Minute
)

// listenOnlyFlags are exec's flags that configure vLLM behind the gate.
var listenOnlyFlags = append([]string{"uds", "startup-timeout", "stop-timeout"}, gateFlagNames...)

// checkListen refuses the flags of --listen without it, and values they
// cannot run with (exit 2).
func (f *execFlags) checkListen(changed func(string) bool) error {
	if f.listen == "" {
		for _, name := range listenOnlyFlags {
			if changed(name) {
				return usageError("--%s needs --listen: it configures vLLM behind the gate", name)
			}
		}
		return nil
	}
	if err := f.gate.check(); err != nil {
		return err
	}
	if f.startupTimeout <= 0 || f.stopTimeout <= 0 {
		return usageError("--startup-timeout and --stop-timeout must be positive")
	}
	return nil
}

// runBehindGate runs vLLM, whose every artifact was allowed, behind the
// gate. Everything that can fail without vLLM (its address, its argv,
// the gate and its listeners) is done before vLLM starts, so that such a
// failure (exit 2) never costs a model load. It returns once vLLM has
// exited, with vLLM's exit code (see behindGate.finish). store is the
// hash cache exec's decisions used (nil when there is none).
func (a *app) runBehindGate(ctx context.Context, f *execFlags, plan *launch.Plan, wd string, pins *pindir.Dir, store manifest.DigestCache) error {
	addr, err := launch.NewAddress(f.uds)
	if err != nil {
		return failed(err)
	}
	defer addr.Remove()
	configCopy := ""
	if plan.Command.ConfigFile != "" {
		if configCopy, err = launch.WriteConfigCopy(plan.Command.ConfigData); err != nil {
			return failed(err)
		}
		// modelgate outlives vLLM here: the copy goes with it.
		defer os.RemoveAll(filepath.Dir(configCopy))
	}
	vllmListen := addr.Listen()
	args, err := plan.Argv(configCopy, &vllmListen)
	if err != nil {
		return refusedError(err)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return failed(fmt.Errorf("cannot run %q: %v", args[0], err))
	}
	root, rootErr := plan.HubCache()
	hub, _ := a.gateHubRoot(root, rootErr, false)
	keys := plan.APIKeys()
	// The gate is a server: digests in memory in front of the store
	// (exec's decisions above used the store alone). Adapters it allows
	// are copied into the same pin folder as the start-up artifacts.
	pol := policy.Options{TUFCacheDir: f.tufCache, Cache: serverCache(&f.cache, store), Pins: pins}
	s, err := a.openGate(f.policy, pol, &f.gate, f.listen, gateTarget{
		upstream: addr.Upstream(), workdir: wd, home: plan.Home, resolverDir: plan.Env.ResolverDir,
		rootPath: plan.Command.RootPath, apiKeys: keys, hub: hub, startHeld: true,
	})
	if err != nil {
		return err
	}
	defer s.Close() // Serve closes it too; this covers every other return
	if ctx.Err() != nil {
		// Interrupted while the gate was being set up: nothing to stop.
		s.close()
		return context.Cause(ctx)
	}
	// vLLM's stop and the gate's drain run side by side, then modelgate
	// reaps vLLM: the watchdog of the first signal must wait for both.
	a.setInterruptGrace(f.stopTimeout + f.gate.drainTimeout + drainSlack)
	a.logger.Debug("starting vLLM", "path", path, "argv", redact(args, keys))
	proc, err := launch.StartProcess(path, args, plan.Env.Environ, wd, a.stdout, a.stderr)
	if err != nil {
		s.close()
		return failed(fmt.Errorf("start %q: %w", path, err))
	}
	a.setForcedExit(proc.Kill)
	defer a.setForcedExit(nil)
	a.logger.Info("vLLM started behind the gate", "pid", proc.Pid(), "vllm", addr.Upstream(), "listen", f.listen)
	b := &behindGate{a: a, f: f, g: s, proc: proc, served: make(chan error, 1)}
	err = b.run(ctx)
	proc.Kill() // every path of run has waited for vLLM; this is the guard
	<-proc.Done()
	return err
}

// redact replaces the API keys in argv, for the log.
func redact(argv, secrets []string) []string {
	out := make([]string, len(argv))
	for i, arg := range argv {
		for _, s := range secrets {
			arg = strings.ReplaceAll(arg, s, "[redacted]")
		}
		out[i] = arg
	}
	return out
}

// behindGate supervises vLLM and the gate in front of it.
type behindGate struct {
	a    *app
	f    *execFlags
	g    *gateServer
	proc *launch.Process

	served      chan error // Serve's result
	serveDone   bool       // served has been received
	stopServing context.CancelFunc
}

// end is what ended a phase of the run.
type end int

const (
	healthy        end = iota
	vllmExited         // vLLM exited by itself
	interrupted        // modelgate got SIGINT or SIGTERM
	startupTimeout     // vLLM was not healthy within --startup-timeout
	gateFailed         // the gate stopped serving
)

// run serves the gate, waits until vLLM is healthy, releases the gate and
// waits for the end; then it stops what is left. It returns after vLLM
// and the gate have stopped.
func (b *behindGate) run(ctx context.Context) error {
	serveCtx, stop := context.WithCancel(context.Background())
	b.stopServing = stop
	defer stop()
	go func() { b.served <- b.g.serve(serveCtx) }()
	started := time.Now()
	ev, err := b.waitHealthy(ctx, started)
	if ev != healthy {
		return b.finish(ctx, ev, err, false)
	}
	b.g.Release()
	b.a.logger.Info("vLLM is healthy: serving its API through the gate", "listen", b.f.listen,
		"after", time.Since(started).Round(time.Millisecond).String())
	ev, err = b.waitEnd(ctx)
	return b.finish(ctx, ev, err, true)
}

// waitHealthy polls the gate's Ready (policy in force, vLLM's /health
// answers, its model names learnt) until it holds, vLLM exits, a signal
// arrives, the gate fails or --startup-timeout passes. err is the last
// reason vLLM was not ready, or the gate's failure.
func (b *behindGate) waitHealthy(ctx context.Context, started time.Time) (end, error) {
	wctx, cancel := context.WithTimeout(ctx, b.f.startupTimeout)
	defer cancel()
	go func() {
		// A poll in flight ends with vLLM.
		select {
		case <-b.proc.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	b.a.logger.Info("waiting for vLLM to become healthy", "timeout", b.f.startupTimeout.String())
	delay, reported := healthPollMin, started
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		err := b.g.Ready(wctx)
		if err == nil {
			return healthy, nil
		}
		t.Reset(delay)
		select {
		case <-b.proc.Done():
			return vllmExited, nil
		case serr := <-b.served:
			b.serveDone = true
			return gateFailed, serr
		case <-wctx.Done():
			select {
			case <-b.proc.Done():
				return vllmExited, nil
			default:
			}
			if ctx.Err() != nil {
				return interrupted, nil
			}
			return startupTimeout, err
		case <-t.C:
		}
		if time.Since(reported) >= waitReport {
			reported = time.Now()
			b.a.logger.Info("still waiting for vLLM to become healthy", "waited", time.Since(started).Round(time.Second).String(), "reason", err.Error())
		}
		delay = min(2*delay, healthPollMax)
	}
}

// waitEnd waits, while the gate serves, for vLLM to exit, a signal or
// the gate to fail.
func (b *behindGate) waitEnd(ctx context.Context) (end, error) {
	select {
	case <-b.proc.Done():
		return vllmExited, nil
	case <-ctx.Done():
		return interrupted, nil
	case err := <-b.served:
		b.serveDone = true
		if err == nil {
			err = errors.New("it stopped serving")
		}
		return gateFailed, err
	}
}

// finish stops what is left after ev and returns how modelgate exits:
//
//   - vLLM exited: the gate drains and stops; vLLM's exit code.
//   - a signal: forwarded to vLLM once while the gate drains; vLLM's exit
//     code (it may be 0: vLLM stops cleanly on SIGTERM), 128+9 if it had
//     to be killed after --stop-timeout.
//   - --startup-timeout, or the gate failed: vLLM is stopped; exit 2.
func (b *behindGate) finish(ctx context.Context, ev end, err error, wasHealthy bool) error {
	switch ev {
	case vllmExited:
		b.stopGate()
		code, ended := b.proc.ExitStatus()
		if !wasHealthy {
			return programExit(code, fmt.Errorf("vLLM %s before it became healthy", ended))
		}
		if code != 0 {
			return programExit(code, fmt.Errorf("vLLM %s", ended))
		}
		b.a.logger.Info("vLLM exited", "exit_code", code)
		return programExit(code, nil)
	case interrupted:
		sig := interruptSignal(ctx)
		b.stopServing() // the gate drains while vLLM stops
		code, killed := b.stopVLLM(sig)
		b.stopGate()
		switch {
		case killed:
			return programExit(code, fmt.Errorf("interrupted (%s): vLLM did not exit within %s (--stop-timeout) and was killed", signalName(sig), b.f.stopTimeout))
		case code != 0:
			_, ended := b.proc.ExitStatus()
			return programExit(code, fmt.Errorf("interrupted (%s): vLLM %s", signalName(sig), ended))
		}
		b.a.logger.Info("vLLM stopped", "signal", signalName(sig))
		return programExit(0, nil)
	case startupTimeout:
		b.stopServing()
		b.stopVLLM(syscall.SIGTERM)
		b.stopGate()
		return failed(fmt.Errorf("vLLM did not become healthy within %s (--startup-timeout): %v; it was stopped", b.f.startupTimeout, err))
	default: // gateFailed
		b.stopVLLM(syscall.SIGTERM)
		b.stopGate()
		return failed(fmt.Errorf("the gate failed: %v; vLLM was stopped", err))
	}
}

// interruptSignal is the signal that interrupted modelgate (SIGTERM when
// the context ended otherwise, as in tests).
func interruptSignal(ctx context.Context) os.Signal {
	var ie *interruptedError
	if errors.As(context.Cause(ctx), &ie) {
		return ie.sig
	}
	return syscall.SIGTERM
}

// stopVLLM sends sig to vLLM, once, and waits for it to exit, at most
// --stop-timeout; then it kills vLLM's process group. It returns vLLM's
// exit code and whether it had to be killed.
func (b *behindGate) stopVLLM(sig os.Signal) (code int, killed bool) {
	b.a.logger.Info("stopping vLLM", "signal", signalName(sig), "timeout", b.f.stopTimeout.String())
	b.proc.Signal(sig)
	t := time.NewTimer(b.f.stopTimeout)
	defer t.Stop()
	select {
	case <-b.proc.Done():
		code, _ := b.proc.ExitStatus()
		return code, false
	case <-t.C:
	}
	b.a.logger.Warn("vLLM did not exit in time: killing it and its process group", "signal", signalName(sig), "timeout", b.f.stopTimeout.String())
	b.proc.Kill()
	<-b.proc.Done()
	code, _ = b.proc.ExitStatus()
	return code, true
}

// stopGate stops the gate (draining requests in flight, for at most
// --drain-timeout) and waits for Serve to return.
func (b *behindGate) stopGate() {
	b.stopServing()
	if !b.serveDone {
		<-b.served
		b.serveDone = true
	}
}
