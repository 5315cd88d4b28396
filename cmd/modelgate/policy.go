package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/policy"
)

// policyVerifyFlags are the flags of `modelgate verify --security-policy`.
type policyVerifyFlags struct {
	policy   string
	models   []string
	loras    []string
	output   string
	tufCache string
	cache    cacheFlags
	hub      hubFlags
}

// hubFlags say how Hugging Face ids are resolved: at which revision, in
// which cache, and (verify) whether vLLM's --download-dir holds the
// weights.
type hubFlags struct {
	revision    string
	cache       string
	downloadDir string
}

func (h *hubFlags) register(cmd *cobra.Command, downloadDir bool) {
	fl := cmd.Flags()
	fl.StringVar(&h.revision, "revision", "", "revision of the Hugging Face ids named (branch, tag or 40-hex commit; default main), as vLLM's --revision")
	fl.StringVar(&h.cache, "hf-cache", "", "Hugging Face hub cache to resolve ids in (default: as huggingface_hub chooses it: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)")
	completeDir(cmd, "hf-cache")
	if downloadDir {
		fl.StringVar(&h.downloadDir, "download-dir", "", "vLLM's --download-dir: models named by id are decided there too, and must be the same commit")
		completeDir(cmd, "download-dir")
	}
}

// check refuses hub flags that would do nothing: no artifact is named by
// Hugging Face id (an existing local path is a path, as for vLLM).
func (h *hubFlags) check(ids int) error {
	if h.revision != "" {
		if err := hfcache.ValidateRevision(h.revision); err != nil {
			return usageError("--revision: %v", err)
		}
	}
	for _, f := range []struct{ name, value string }{{"--revision", h.revision}, {hfCacheFlag, h.cache}, {"--download-dir", h.downloadDir}} {
		if f.value != "" && ids == 0 {
			return usageError("%s applies to Hugging Face ids, but no --model or --lora names one (an existing local path is decided as a path)", f.name)
		}
	}
	return nil
}

func (f *policyVerifyFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "security-policy", "", "security policy JSON file")
	fl.StringArrayVar(&f.models, "model", nil, "model path, or Hugging Face id resolved in the local cache, to decide and verify (repeatable)")
	fl.StringArrayVar(&f.loras, "lora", nil, "LoRA adapter path, or Hugging Face id resolved in the local cache, to decide and verify (repeatable)")
	outputFlag(cmd, &f.output, "output format: text (a line per artifact) or json (an object per artifact per line)")
	fl.StringVar(&f.tufCache, "tuf-cache-dir", "", "TUF cache folder for Sigstore trusted roots (default: sigstore-go's, ~/.sigstore/root)")
	completeDir(cmd, "tuf-cache-dir")
	f.hub.register(cmd, true)
	f.cache.register(cmd)
}

// nonEmpty refuses an empty --model or --lora value: "" would otherwise
// mean the current directory, which nobody means to name by accident.
func nonEmpty(flag string, paths []string) error {
	for _, p := range paths {
		if p == "" {
			return usageError("--%s: empty path", flag)
		}
	}
	return nil
}

// loadPolicy loads a policy for enforcement; any problem is exit 2.
func (a *app) loadPolicy(path, tufCache string) (*policy.Policy, error) {
	return a.loadPolicyWith(path, policy.Options{TUFCacheDir: tufCache})
}

// loadPolicyWith is loadPolicy with more options (the logger is the
// app's).
func (a *app) loadPolicyWith(path string, opts policy.Options) (*policy.Policy, error) {
	opts.Logger = a.logger
	p, err := policy.Load(path, opts)
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			return nil, failed(&invalidPolicyError{le})
		}
		return nil, failed(err)
	}
	return p, nil
}

// invalidPolicyError reports every problem of a policy that did not load,
// one per line.
type invalidPolicyError struct{ *policy.LoadError }

func (e *invalidPolicyError) Error() string { return strings.Join(e.Lines(), "\n") }

// Lines is the heading and then one line per problem, each to be
// printed as one line whatever it holds.
func (e *invalidPolicyError) Lines() []string {
	lines := []string{"invalid security policy (nothing was loaded):"}
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	return lines
}

// runPolicyVerify decides every --model and --lora under the policy. It
// exits 0 only if all are allowed.
func (a *app) runPolicyVerify(ctx context.Context, f *policyVerifyFlags) error {
	if err := outputFormat(f.output); err != nil {
		return err
	}
	if len(f.models)+len(f.loras) == 0 {
		return usageError("nothing to verify: give --model PATH and/or --lora PATH")
	}
	if err := nonEmpty("model", f.models); err != nil {
		return err
	}
	if err := nonEmpty("lora", f.loras); err != nil {
		return err
	}
	ids := 0
	for _, arg := range append(append([]string(nil), f.models...), f.loras...) {
		if hubID(arg) {
			ids++
		}
	}
	if err := f.hub.check(ids); err != nil {
		return err
	}
	// Each decision that hashes gets a progress bar (on a terminal),
	// erased before its line is printed.
	p, err := a.loadPolicyWith(f.policy, policy.Options{TUFCacheDir: f.tufCache, Progress: a.progress.policyHook(), Cache: a.openCache(&f.cache)})
	if err != nil {
		return err
	}
	var d policyDecider
	if ids > 0 {
		if d.root, err = hubRoot(f.hub.cache, os.LookupEnv); err != nil {
			return hubRootError(err)
		}
		if f.hub.downloadDir != "" {
			abs, err := filepath.Abs(f.hub.downloadDir)
			if err != nil {
				return usageError("--download-dir %q: %v", f.hub.downloadDir, err)
			}
			dl, err := hfcache.DownloadDirRoot(abs)
			if err != nil {
				return usageError("%v", err)
			}
			d.downloadDir = &dl
		}
	}
	d.p, d.revision = p, f.hub.revision
	deniedCount, total := 0, 0
	decide := func(kind policy.Kind, paths []string) error {
		for _, path := range paths {
			decisions := d.decide(ctx, kind, path)
			a.progress.end()
			for _, dec := range decisions {
				if ctx.Err() != nil {
					// A signal stopped the decision halfway: its outcome
					// says nothing about the artifact, so it is not
					// printed. The run ends as interrupted.
					return context.Cause(ctx)
				}
				total++
				if !dec.Allowed() {
					deniedCount++
				}
				if err := a.printDecision(dec, f.output); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := decide(policy.Model, f.models); err != nil {
		return err
	}
	if err := decide(policy.LoRA, f.loras); err != nil {
		return err
	}
	if deniedCount > 0 {
		return denied(fmt.Errorf("%d of %s denied", deniedCount, plural(total, "artifact")))
	}
	return nil
}

// policyDecider decides what verify names: local paths as paths,
// anything else that is a Hugging Face id in the hub cache.
type policyDecider struct {
	p           *policy.Policy
	root        hfcache.Root
	revision    string
	downloadDir *hfcache.Root // vLLM's --download-dir, or nil
}

// decide returns the decisions for one argument: one, or for a model named
// by id with a download dir, one per cache (same commit required).
func (d *policyDecider) decide(ctx context.Context, kind policy.Kind, arg string) []policy.Decision {
	if !hubID(arg) {
		return []policy.Decision{d.p.Decide(ctx, kind, arg)}
	}
	first := d.p.DecideHub(ctx, kind, d.root, arg, d.revision)
	if d.downloadDir == nil || kind != policy.Model || ctx.Err() != nil {
		return []policy.Decision{first}
	}
	return []policy.Decision{first, d.p.DecideHubSameCommit(ctx, kind, *d.downloadDir, first)}
}

// printDecision writes one decision to stdout: a line of text (see
// decisionLine; none for an allowed artifact with --quiet), or one JSON
// object per line.
func (a *app) printDecision(d policy.Decision, output string) error {
	if output == "json" {
		return a.printJSON(d)
	}
	if a.quiet && d.Allowed() {
		return nil
	}
	return a.printResult("%s\n", decisionLine(d))
}

// printResult writes a result to stdout; failing to write one (a closed
// pipe, a full disk) fails the command, since its caller did not get the
// answer.
func (a *app) printResult(format string, args ...any) error {
	if _, err := fmt.Fprintf(a.stdout, format, args...); err != nil {
		return failed(fmt.Errorf("write output: %w", err))
	}
	return nil
}

func (a *app) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check a security policy (lint) or see which rule applies to a path (explain)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError("policy needs a subcommand: lint or explain")
		},
	}
	cmd.AddCommand(a.policyLintCommand(), a.policyExplainCommand())
	return cmd
}

func (a *app) policyLintCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:               "lint [--output text|json] POLICY",
		Short:             "Report every error and warning in a policy (exit 0 clean, 1 errors, 2 unreadable)",
		Args:              exactArgs(1, "one POLICY file"),
		ValidArgsFunction: onePathArg,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := outputFormat(output); err != nil {
				return err
			}
			r, err := policy.Lint(args[0])
			if err != nil {
				return failed(err)
			}
			if output == "json" {
				err = a.printJSON(r)
			} else {
				err = a.printResult("%s%q: %s, %s\n", lintText(r), args[0],
					plural(len(r.Errors), "error"), plural(len(r.Warnings), "warning"))
			}
			if err != nil {
				return err
			}
			if !r.OK() {
				return denied(fmt.Errorf("%q: %s", args[0], plural(len(r.Errors), "error")))
			}
			return nil
		},
	}
	outputFlag(cmd, &output, "output format: text or json")
	return cmd
}

func (a *app) policyExplainCommand() *cobra.Command {
	var models, loras []string
	var output string
	var hub hubFlags
	cmd := &cobra.Command{
		Use:               "explain POLICY (--model PATH|ORG/NAME | --lora PATH|ORG/NAME) [--revision REV]",
		Short:             "Show which rule and signer apply to a path or Hugging Face id, and why; hashes nothing",
		Args:              exactArgs(1, "one POLICY file"),
		ValidArgsFunction: onePathArg,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := outputFormat(output); err != nil {
				return err
			}
			kind, path, err := oneArtifact(models, loras)
			if err != nil {
				return err
			}
			ids := 0
			if hubID(path) {
				ids = 1
			}
			if err := hub.check(ids); err != nil {
				return err
			}
			p, err := a.loadPolicy(args[0], "") // explain hashes nothing: no cache
			if err != nil {
				return err
			}
			var e policy.Explanation
			if ids > 0 {
				root, err := hubRoot(hub.cache, os.LookupEnv)
				if err != nil {
					return hubRootError(err)
				}
				e = p.ExplainHub(kind, root, path, hub.revision)
			} else {
				e = p.Explain(kind, path)
			}
			if output == "json" {
				return a.printJSON(e)
			}
			return a.printResult("%s", explanationText(e))
		},
	}
	// Arrays, not strings: a repeated --model must be refused, not
	// silently explain only the last one.
	cmd.Flags().StringArrayVar(&models, "model", nil, "model path or Hugging Face id to explain")
	cmd.Flags().StringArrayVar(&loras, "lora", nil, "LoRA adapter path or Hugging Face id to explain")
	outputFlag(cmd, &output, "output format: text or json")
	hub.register(cmd, false)
	return cmd
}

// oneArtifact returns the one artifact explain was asked about: exactly
// one --model or --lora, not empty.
func oneArtifact(models, loras []string) (policy.Kind, string, error) {
	if n := len(models) + len(loras); n != 1 {
		return "", "", usageError("explain needs exactly one --model PATH or --lora PATH, got %d", n)
	}
	if len(models) == 1 {
		return policy.Model, models[0], nonEmpty("model", models)
	}
	return policy.LoRA, loras[0], nonEmpty("lora", loras)
}
