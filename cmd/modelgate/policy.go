package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/policy"
)

// policyVerifyFlags are the flags of `modelgate verify --security-policy`.
type policyVerifyFlags struct {
	policy   string
	models   []string
	loras    []string
	output   string
	tufCache string
}

func (f *policyVerifyFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "security-policy", "", "security policy JSON file")
	fl.StringArrayVar(&f.models, "model", nil, "model path to decide and verify (repeatable)")
	fl.StringArrayVar(&f.loras, "lora", nil, "LoRA adapter path to decide and verify (repeatable)")
	fl.StringVar(&f.output, "output", "text", "output format: text (a line per artifact) or json (an object per artifact per line)")
	fl.StringVar(&f.tufCache, "tuf-cache-dir", "", "TUF cache folder for Sigstore trusted roots (default: sigstore-go's, ~/.sigstore/root)")
}

// loadPolicy loads a policy for enforcement; any problem is exit 2.
func (a *app) loadPolicy(path, tufCache string) (*policy.Policy, error) {
	p, err := policy.Load(path, policy.Options{Logger: a.logger, TUFCacheDir: tufCache})
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			return nil, usageError("invalid security policy (nothing was loaded):\n%v", err)
		}
		return nil, failed(err)
	}
	return p, nil
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
	p, err := a.loadPolicy(f.policy, f.tufCache)
	if err != nil {
		return err
	}
	deniedCount := 0
	decide := func(kind policy.Kind, paths []string) error {
		for _, path := range paths {
			d := p.Decide(ctx, kind, path)
			if !d.Allowed() {
				deniedCount++
			}
			if err := a.printDecision(d, f.output); err != nil {
				return err
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
	if ctx.Err() != nil {
		return failed(ctx.Err())
	}
	if deniedCount > 0 {
		total := len(f.models) + len(f.loras)
		return denied(fmt.Errorf("%d of %s denied", deniedCount, plural(total, "artifact")))
	}
	return nil
}

// printDecision writes one decision to stdout: a line of text, or one JSON
// object per line.
func (a *app) printDecision(d policy.Decision, output string) error {
	if output == "json" {
		b, err := json.Marshal(d)
		if err != nil {
			return failed(fmt.Errorf("encode decision: %w", err))
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		if err != nil {
			return failed(fmt.Errorf("write output: %w", err))
		}
		return nil
	}
	line := fmt.Sprintf("%s %q: %s", d.Kind, d.Path, d.Outcome)
	if d.Code != "" {
		line += fmt.Sprintf(" (%s)", d.Code)
	}
	if d.Rule != "" {
		line += fmt.Sprintf(" by rule %q, signer %q (%s)", d.Rule, d.Signer, d.Method)
	}
	if d.Outcome == policy.Verified {
		line += fmt.Sprintf(", %s, %d bytes", plural(d.Files, "file"), d.Bytes)
	}
	line += ": " + d.Reason
	_, err := fmt.Fprintln(a.stdout, line)
	if err != nil {
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
		Use:   "lint [--output text|json] POLICY",
		Short: "Report every error and warning in a policy (exit 0 clean, 1 errors, 2 unreadable)",
		Args:  exactArgs(1, "one POLICY file"),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := outputFormat(output); err != nil {
				return err
			}
			r, err := policy.Lint(args[0])
			if err != nil {
				return failed(err)
			}
			if output == "json" {
				b, err := json.Marshal(r)
				if err != nil {
					return failed(fmt.Errorf("encode lint report: %w", err))
				}
				fmt.Fprintf(a.stdout, "%s\n", b)
			} else {
				fmt.Fprint(a.stdout, r.String())
				fmt.Fprintf(a.stdout, "%s: %s, %s\n", args[0], plural(len(r.Errors), "error"), plural(len(r.Warnings), "warning"))
			}
			if !r.OK() {
				return denied(fmt.Errorf("%s: %s", args[0], plural(len(r.Errors), "error")))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&output, "output", "text", "output format: text or json")
	return cmd
}

func (a *app) policyExplainCommand() *cobra.Command {
	var model, lora, output string
	cmd := &cobra.Command{
		Use:   "explain POLICY (--model PATH | --lora PATH)",
		Short: "Show which rule and signer apply to a path, and why; hashes nothing",
		Args:  exactArgs(1, "one POLICY file"),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := outputFormat(output); err != nil {
				return err
			}
			kind, path := policy.Model, model
			switch {
			case (model == "") == (lora == ""):
				return usageError("explain needs exactly one of --model PATH or --lora PATH")
			case lora != "":
				kind, path = policy.LoRA, lora
			}
			p, err := a.loadPolicy(args[0], "")
			if err != nil {
				return err
			}
			e := p.Explain(kind, path)
			if output == "json" {
				b, err := json.Marshal(e)
				if err != nil {
					return failed(fmt.Errorf("encode explanation: %w", err))
				}
				fmt.Fprintf(a.stdout, "%s\n", b)
				return nil
			}
			fmt.Fprint(a.stdout, e.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "model path to explain")
	cmd.Flags().StringVar(&lora, "lora", "", "LoRA adapter path to explain")
	cmd.Flags().StringVar(&output, "output", "text", "output format: text or json")
	return cmd
}
