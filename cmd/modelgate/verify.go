package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/policy"
)

// verifyCommand is `modelgate verify`: with --security-policy it enforces a
// policy (policy.go); its subcommands verify one model with one method, as
// the model_signing CLI does.
func (a *app) verifyCommand() *cobra.Command {
	var pf policyVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify --security-policy POLICY [--model PATH|ORG/NAME]... [--lora PATH|ORG/NAME]... [--revision REV]",
		Short: "Enforce a security policy, or verify one model's signature (key, certificate, sigstore)",
		Long: `With --security-policy, decide and verify every --model and --lora under the policy.
Exit 0 only if all are allowed. An argument that is not an existing local path but a
Hugging Face id (ORG/NAME) is resolved in the local hub cache at --revision (default
main), never downloaded, as vLLM resolves it with HF_HUB_OFFLINE=1.

The subcommands key, certificate and sigstore verify a single model's model.sig
without a policy, with the model_signing CLI's flags.`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pf.policy == "" {
				return usageError("verify needs --security-policy POLICY, or a method subcommand: key, certificate or sigstore")
			}
			return a.runPolicyVerify(cmd.Context(), &pf)
		},
	}
	pf.register(cmd)
	cmd.AddCommand(a.verifyKeyCommand(), a.verifyCertificateCommand(), a.verifySigstoreCommand())
	return cmd
}

// walkFlags choose what of a model is hashed; verify, sign and digest share
// them.
type walkFlags struct {
	ignorePaths   []string
	ignoreGit     bool
	noIgnoreGit   bool
	allowSymlinks bool
}

func (f *walkFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.ignorePaths, "ignore-paths", nil, "file or folder to leave out (repeatable); relative to the current directory, or to the model when that lies outside it")
	fl.BoolVar(&f.ignoreGit, "ignore-git-paths", true, "leave out .git, .gitattributes, .github and .gitignore at the model root")
	fl.BoolVar(&f.noIgnoreGit, "no-ignore-git-paths", false, "same as --ignore-git-paths=false")
	fl.BoolVar(&f.allowSymlinks, "allow-symlinks", false, "follow symlinks to files (hashed by target content)")
	_ = fl.MarkHidden("no-ignore-git-paths")
}

func (f *walkFlags) ignoreGitPaths() bool { return f.ignoreGit && !f.noIgnoreGit }

// commonVerifyFlags are the flags every method subcommand shares.
type commonVerifyFlags struct {
	walkFlags
	signature        string
	ignoreUnsigned   bool
	noIgnoreUnsigned bool
	output           string
	cache            cacheFlags
}

func (f *commonVerifyFlags) register(cmd *cobra.Command) {
	f.walkFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.signature, "signature", "", "signature file (default: model.sig in the model's directory); relative to the current directory")
	fl.BoolVar(&f.ignoreUnsigned, "ignore-unsigned-files", false, "hash only the files the signature lists; extra files on disk are not an error")
	fl.BoolVar(&f.noIgnoreUnsigned, "no-ignore-unsigned-files", false, "same as --ignore-unsigned-files=false")
	outputFlag(cmd, &f.output, "output format: text or json")
	f.cache.register(cmd)
	_ = fl.MarkHidden("no-ignore-unsigned-files")
	cmd.ValidArgsFunction = onePathArg
}

// options turns the flags into modelsig options for the model m,
// resolving relative paths against the current directory.
func (f *commonVerifyFlags) options(m model, a *app) (modelsig.VerifyOptions, error) {
	opts := modelsig.VerifyOptions{
		IgnoreGitPaths:      f.ignoreGitPaths(),
		AllowSymlinks:       f.allowSymlinks,
		IgnoreUnsignedFiles: f.ignoreUnsigned && !f.noIgnoreUnsigned,
		Logger:              a.logger,
		Cache:               a.openCache(&f.cache),
	}
	var err error
	if opts.SignaturePath, err = m.signaturePath(f.signature); err != nil {
		return opts, err
	}
	if opts.IgnorePaths, err = resolveIgnorePaths(m.abs, f.ignorePaths); err != nil {
		return opts, err
	}
	return opts, nil
}

// resolveIgnorePaths makes user ignore paths absolute. As in the
// model_signing CLI a relative path is taken relative to the current
// directory. Only when that lies outside the model (where model_signing
// would silently drop it) is it taken relative to the model directory
// instead, so `--ignore-paths ignore-me` works from anywhere. A path is
// never read both ways: from the model's parent, `--ignore-paths m/sub`
// must leave out m/sub only, not also m/m/sub (which sign would record in
// the signature, widening what every later verification ignores). None of
// the paths has to exist; the ones outside the model are dropped by
// package manifest.
func resolveIgnorePaths(modelPath string, paths []string) ([]string, error) {
	var out []string
	modelDir := modelPath
	if fi, err := os.Stat(modelPath); err == nil && !fi.IsDir() {
		modelDir = "" // a single-file model has nothing inside it to ignore
	}
	for _, p := range paths {
		if p == "" {
			return nil, usageError("--ignore-paths: empty path")
		}
		if filepath.IsAbs(p) {
			out = append(out, filepath.Clean(p))
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, usageError("--ignore-paths %q: %v", p, err)
		}
		out = append(out, abs)
		if modelDir != "" && !within(modelDir, abs) {
			out = append(out, filepath.Join(modelDir, p))
		}
	}
	return out, nil
}

// within reports whether the absolute path p is dir or lies under it,
// lexically. Symlinks are not resolved: when they make the answer "no"
// wrongly, the path is merely also read relative to the model, and the
// CWD reading still counts.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

func (a *app) verifyKeyCommand() *cobra.Command {
	var common commonVerifyFlags
	var publicKey string
	cmd := &cobra.Command{
		Use:   "key --public-key PEM [flags] MODEL_PATH",
		Short: "Verify a model signed with an elliptic-curve private key",
		Args:  exactArgs(1, "one MODEL_PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := modelsig.LoadPublicKey(publicKey)
			if err != nil {
				return failed(err)
			}
			return a.runMethodVerify(cmd.Context(), args[0], &common, modelsig.NewKeyVerifier(pub), false)
		},
	}
	common.register(cmd)
	cmd.Flags().StringVar(&publicKey, "public-key", "", "PEM public key (EC P-256, P-384 or P-521)")
	_ = cmd.MarkFlagRequired("public-key")
	return cmd
}

func (a *app) verifyCertificateCommand() *cobra.Command {
	var common commonVerifyFlags
	var chain []string
	var logFingerprints bool
	cmd := &cobra.Command{
		Use:   "certificate --certificate-chain PEM [--certificate-chain PEM]... [flags] MODEL_PATH",
		Short: "Verify a model signed with a certificate that chains to a trusted root",
		Args:  exactArgs(1, "one MODEL_PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(chain) == 0 {
				return usageError("--certificate-chain is required: modelgate never falls back to system roots")
			}
			certs, err := modelsig.LoadCertificates(chain...)
			if err != nil {
				return failed(err)
			}
			if logFingerprints {
				for _, c := range certs {
					a.logger.Info("certificate fingerprint", "stage", "init", "sha256", modelsig.Fingerprint(c), "subject", c.Subject.String())
				}
			}
			v, err := modelsig.NewCertificateVerifier(certs)
			if err != nil {
				return failed(err)
			}
			return a.runMethodVerify(cmd.Context(), args[0], &common, v, logFingerprints)
		},
	}
	common.register(cmd)
	cmd.Flags().StringArrayVar(&chain, "certificate-chain", nil, "PEM file of trusted certificates (root, and intermediates); repeatable")
	cmd.Flags().BoolVar(&logFingerprints, "log-fingerprints", false, "log the SHA-256 fingerprint of every certificate used")
	return cmd
}

func (a *app) verifySigstoreCommand() *cobra.Command {
	var common commonVerifyFlags
	var identity, issuer, trustConfig, tufCache string
	var staging bool
	cmd := &cobra.Command{
		Use:   "sigstore --identity ID --identity-provider URL [--use-staging] [--trust-config FILE] [flags] MODEL_PATH",
		Short: "Verify a model signed with Sigstore (Fulcio certificate, Rekor transparency log)",
		Long: `Verify a Sigstore-signed model. The certificate must name exactly --identity (an
email, URI or Sigstore otherName SAN) and exactly --identity-provider (the OIDC issuer).

Trust comes from --trust-config (a TrustedRoot or ClientTrustConfig JSON file, for
air-gapped and private deployments) or else from the Sigstore production (or
--use-staging) trusted root, fetched with TUF and cached on disk.`,
		Args: exactArgs(1, "one MODEL_PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tm, err := a.loadSigstoreTrust(cmd.Context(), trustConfig, staging, tufCache)
			if err != nil {
				return failed(err)
			}
			v, err := modelsig.NewSigstoreVerifier(tm, identity, issuer)
			if err != nil {
				return failed(err)
			}
			return a.runMethodVerify(cmd.Context(), args[0], &common, v, false)
		},
	}
	common.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&identity, "identity", "", "expected signer identity (certificate SAN), matched exactly")
	fl.StringVar(&issuer, "identity-provider", "", "expected OIDC issuer, matched exactly")
	fl.BoolVar(&staging, "use-staging", false, "use the Sigstore staging instance's trusted root")
	fl.StringVar(&trustConfig, "trust-config", "", "Sigstore TrustedRoot or ClientTrustConfig JSON file (takes precedence over --use-staging)")
	fl.StringVar(&tufCache, "tuf-cache-dir", "", "TUF cache folder for the fetched trusted root (default: sigstore-go's, ~/.sigstore/root)")
	completeDir(cmd, "tuf-cache-dir")
	_ = cmd.MarkFlagRequired("identity")
	_ = cmd.MarkFlagRequired("identity-provider")
	return cmd
}

// loadSigstoreTrust returns the Sigstore trust material: the given file,
// else the production or staging root through TUF (whose offline-fallback
// warning goes to our logger, in the chosen format).
func (a *app) loadSigstoreTrust(ctx context.Context, trustConfig string, staging bool, cacheDir string) (root.TrustedMaterial, error) {
	if trustConfig != "" {
		return modelsig.LoadTrustConfig(trustConfig)
	}
	return modelsig.FetchTrustedRoot(ctx, modelsig.TrustRootOptions{Staging: staging, CacheDir: cacheDir, Logger: a.logger})
}

// runMethodVerify verifies one model with v and reports the outcome. A
// model that is missing or cannot be read is a denial (exit 1), as in
// policy mode: in verify, whatever keeps the model from being proven
// goes against the caller.
func (a *app) runMethodVerify(ctx context.Context, modelPath string, f *commonVerifyFlags, v modelsig.Verifier, logFingerprints bool) error {
	if err := outputFormat(f.output); err != nil {
		return err
	}
	start := time.Now()
	// The JSON record has the same shape as a policy decision, so scripts
	// read one format whichever way a model was verified.
	d := policy.Decision{Kind: policy.Model, Path: modelPath, Method: string(v.Method())}
	m, err := statModel(modelPath)
	if err == nil {
		d.CanonicalPath = m.canonical()
		var opts modelsig.VerifyOptions
		if opts, err = f.options(m, a); err != nil {
			return err
		}
		d.Signature = opts.SignaturePath
		err = a.verifyInto(ctx, &d, m, v, opts, logFingerprints)
	}
	if err != nil {
		var me *modelError
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx) // interrupted: no outcome to report
		case errors.As(err, &me):
			d.Outcome, d.Code, d.Reason = policy.Denied, me.code, err.Error()
		default:
			return err
		}
	}
	d.Duration = time.Since(start)
	switch {
	case f.output == "json":
		if err := a.printDecision(d, "json"); err != nil {
			return err
		}
	case d.Outcome == policy.Verified && !a.quiet:
		if err := a.printResult("Verification succeeded: %q (%s, %s, %s)\n", modelPath, d.Method, plural(d.Files, "file"), bytesPhrase(d.Bytes, d.CachedBytes)); err != nil {
			return err
		}
	}
	if d.Outcome != policy.Verified {
		return denied(fmt.Errorf("verification failed: %s", d.Reason))
	}
	return nil
}

// verifyInto verifies m with v and fills d with the outcome. A failed
// verification is a *modelError; other errors are the command's own.
func (a *app) verifyInto(ctx context.Context, d *policy.Decision, m model, v modelsig.Verifier, opts modelsig.VerifyOptions, logFingerprints bool) error {
	opts.Progress = a.progress.start("verify", m.arg)
	res, err := modelsig.Verify(ctx, m.abs, v, opts)
	a.progress.end()
	if err != nil {
		var ve *modelsig.VerificationError
		if errors.As(err, &ve) {
			return &modelError{code: policy.CodeVerificationFailed, err: err}
		}
		return &modelError{code: policy.CodeError, err: err}
	}
	d.Outcome, d.Reason = policy.Verified, "signature and every file match"
	d.RecordResult(res)
	if logFingerprints {
		for _, fp := range res.Signed.Fingerprints {
			a.logger.Info("certificate fingerprint", "stage", "verify", "sha256", fp)
		}
	}
	return nil
}
