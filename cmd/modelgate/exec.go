package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/launch"
	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/policy"
	"github.com/modelgate/modelgate/vllmcmd"
)

// execFlags are the flags of `modelgate exec`.
type execFlags struct {
	policy     string
	allowFlags []string
	output     string
	tufCache   string
	cache      cacheFlags
	pins       pinFlags

	// --listen: vLLM behind the gate (listen.go).
	listen                      string
	uds                         bool
	gate                        gateFlags
	startupTimeout, stopTimeout time.Duration
}

func (a *app) execCommand() *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec --security-policy POLICY [--allow-flag NAME]... [--output text|json] [--listen ADDR [--uds] [gate flags]] -- COMMAND...",
		Short: "Decide every model and adapter a vLLM command line loads, then run it in modelgate's place",
		Long: `exec reads COMMAND (vllm serve ..., or python -m vllm.entrypoints.openai.api_server ...)
as vLLM will, including its --config file and environment, and decides every artifact it
makes vLLM load under the policy: MODEL, tokenizer, config, generation config, speculative
model, GGUF files, LoRA adapters. Hugging Face ids are resolved in the local cache, never
downloaded. Only when every artifact is allowed does exec run COMMAND, in its own place
(same process id, so signals reach vLLM directly), pinned to the verified commits
(--revision COMMIT ...) and with HF_HUB_OFFLINE=1.

With --listen ADDR, vLLM runs behind the gate instead (the only way to allow
runtime LoRA loading under a policy with a loras section): exec starts it as its
child on a free loopback port (or, with --uds, a unix socket in a private folder)
in place of its --host and --port, serves ADDR through the gate once vLLM is
healthy (503 until then), forwards SIGINT and SIGTERM to it once and exits
with its exit code; if vLLM dies, the gate stops too.

Exit codes: 1 if an artifact is denied, 2 if the command line or environment is refused
(the message says what to write instead) or cannot be run; otherwise vLLM's own.
See docs/vllm.md.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 || len(args) == 0 {
				return usageError("give the vLLM command after --: modelgate exec --security-policy POLICY -- vllm serve MODEL ...")
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExec(cmd.Context(), &f, args, cmd.Flags().Changed)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "security-policy", "", "security policy JSON file (required)")
	fl.StringArrayVar(&f.allowFlags, "allow-flag", nil, "a vLLM flag that loads code to allow (repeatable): "+strings.Join(vllmcmd.CodeFlagNames(), ", "))
	outputFlag(cmd, &f.output, "output format of the decisions: text (a line per artifact) or json (an object per artifact per line)")
	fl.StringVar(&f.tufCache, "tuf-cache-dir", "", "TUF cache folder for Sigstore trusted roots (default: sigstore-go's, ~/.sigstore/root)")
	completeDir(cmd, "tuf-cache-dir")
	completeValues(cmd, "allow-flag", vllmcmd.CodeFlagNames()...)
	f.cache.register(cmd)
	f.pins.register(cmd)
	fl.StringVar(&f.listen, "listen", "", "run vLLM behind the gate and serve its API on ADDR: HOST:PORT or unix:PATH")
	fl.BoolVar(&f.uds, "uds", false, "with --listen: vLLM listens on a unix socket in a private folder instead of a loopback port")
	f.gate.register(cmd, "with --listen: ")
	fl.DurationVar(&f.startupTimeout, "startup-timeout", defaultStartupTimeout, "with --listen: how long vLLM may take to become healthy")
	fl.DurationVar(&f.stopTimeout, "stop-timeout", defaultStopTimeout, "with --listen: how long vLLM may take to exit after SIGINT or SIGTERM before it is killed")
	return cmd
}

// runExec decides every artifact of the vLLM command argv and execs it
// when all are allowed. It returns only when vLLM was not started.
func (a *app) runExec(ctx context.Context, f *execFlags, argv []string, changed func(string) bool) error {
	if err := outputFormat(f.output); err != nil {
		return err
	}
	if f.policy == "" {
		return usageError("exec needs --security-policy POLICY")
	}
	if err := f.checkListen(changed); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return failed(fmt.Errorf("working directory: %w", err))
	}
	// exec --listen opens the store once, for its decisions and then
	// behind the gate's memory (see serverCache): one warning if it
	// cannot be used, the gate's.
	var cache manifest.DigestCache
	if f.listen != "" {
		cache = a.openStoreOrWarn(&f.cache, serverStoreWarning)
	} else {
		cache = a.openCache(&f.cache)
	}
	pins, err := f.pins.open(a, cache)
	if err != nil {
		return err
	}
	p, err := a.loadPolicyWith(f.policy, policy.Options{TUFCacheDir: f.tufCache, Cache: cache, Pins: pins})
	if err != nil {
		return err
	}
	var printErr error
	plan, err := launch.Prepare(ctx, p, argv, launch.Options{
		Dir:        wd,
		Environ:    os.Environ(),
		AllowFlags: f.allowFlags,
		BehindGate: f.listen != "",
		OnDecision: func(d launch.Decision) {
			if printErr == nil && ctx.Err() == nil {
				printErr = a.printLaunchDecision(d, f.output)
			}
		},
	})
	switch {
	case ctx.Err() != nil:
		// Interrupted: what was being decided says nothing.
		return context.Cause(ctx)
	case printErr != nil:
		return printErr
	case err != nil:
		return refusedError(err)
	}
	if n := plan.Denied(); n > 0 {
		return denied(fmt.Errorf("%d of %s denied: vLLM was not started", n, plural(len(plan.Decisions), "artifact")))
	}
	if plan.Refused != nil {
		return refusedError(plan.Refused)
	}
	holds, err := holdCopies(pins, plan.PinnedPaths())
	if err != nil {
		return failed(err)
	}
	// Exec: vLLM inherits the holds and this runs only when it did not
	// start. Behind the gate: modelgate outlives vLLM and holds them
	// until then.
	defer releaseAll(holds)
	if f.listen != "" {
		return a.runBehindGate(ctx, f, plan, wd, pins, cache)
	}
	return a.startVLLM(plan)
}

// refusedError reports a refused command line or environment (exit 2).
func refusedError(err error) error {
	var re *vllmcmd.RefusedError
	if errors.As(err, &re) {
		return usageError("refused: %v; vLLM was not started", err)
	}
	return failed(err)
}

// startVLLM replaces modelgate with vLLM: a private copy of the --config
// file, the pinned argv, the hardened environment. It returns only if the
// exec failed.
func (a *app) startVLLM(plan *launch.Plan) error {
	configCopy := ""
	if plan.Command.ConfigFile != "" {
		var err error
		if configCopy, err = launch.WriteConfigCopy(plan.Command.ConfigData); err != nil {
			return failed(err)
		}
	}
	args, err := plan.Argv(configCopy, nil)
	if err != nil {
		return refusedError(err)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return failed(fmt.Errorf("cannot run %q: %v", args[0], err))
	}
	a.logger.Debug("starting vLLM", "path", path, "argv", redact(args, plan.APIKeys()))
	err = a.execve(path, args, plan.Env.Environ)
	if err != nil {
		return failed(fmt.Errorf("exec %q: %w", path, err))
	}
	return nil
}

// printLaunchDecision writes one of exec's decisions: the decision's text
// line prefixed with where the command line named the artifact, or its
// JSON record with "source".
func (a *app) printLaunchDecision(d launch.Decision, output string) error {
	if output == "json" {
		return a.printJSON(d)
	}
	if a.quiet && d.Allowed() {
		return nil
	}
	return a.printResult("%s\n", oneLine(d.Source+": "+decisionLine(d.Decision)))
}
