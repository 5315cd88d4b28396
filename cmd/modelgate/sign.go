package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// hashFlags choose the serialization for sign and digest.
type hashFlags struct {
	walkFlags
	hash      string
	shardSize int64
	cache     cacheFlags
}

func (f *hashFlags) register(cmd *cobra.Command) {
	f.walkFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.hash, "hash", "sha256", "hash for each file or shard: sha256, blake2b or blake3")
	fl.Int64Var(&f.shardSize, "shard-size", 0, "hash files in shards of this many bytes (the shards method); 0 hashes whole files")
	completeValues(cmd, "hash", "sha256", "blake2b", "blake3")
	f.cache.register(cmd)
}

// serialization validates --hash and --shard-size.
func (f *hashFlags) serialization() (manifest.Serialization, error) {
	h, err := manifest.ParseHashType(f.hash)
	if err != nil {
		return manifest.Serialization{}, usageError("--hash: %v", err)
	}
	s := manifest.Serialization{Method: manifest.Files, HashType: h, AllowSymlinks: f.allowSymlinks}
	switch {
	case f.shardSize < 0:
		return s, usageError("--shard-size %d: must be positive (or 0 for whole files)", f.shardSize)
	case f.shardSize > 0:
		s.Method, s.ShardSize = manifest.Shards, f.shardSize
	}
	return s, nil
}

func (a *app) signCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a model or adapter (model_signing v1.1.0 format)",
		Long: `Sign a model or LoRA adapter and write its model.sig in the newest model_signing
format (v1.1.0 layout), which the model_signing verifier and modelgate accept.`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(*cobra.Command, []string) error {
			return usageError("sign needs a method subcommand: key or certificate")
		},
	}
	cmd.AddCommand(a.signKeyCommand(), a.signCertificateCommand())
	return cmd
}

// signFlags are the flags both sign subcommands share.
type signFlags struct {
	hashFlags
	signature    string
	privateKey   string
	passwordFile string
	passwordEnv  string
	password     string
	libraryForm  bool
	flags        *pflag.FlagSet // to tell a given --password from an absent one
}

func (f *signFlags) register(cmd *cobra.Command) {
	f.hashFlags.register(cmd)
	fl := cmd.Flags()
	f.flags = fl
	fl.StringVar(&f.signature, "signature", "", "where to write the signature (default: model.sig in the model's directory); relative to the current directory")
	fl.StringVar(&f.privateKey, "private-key", "", "PEM EC private key (P-256, P-384 or P-521; SEC 1 or PKCS#8, optionally encrypted)")
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding the private key's password (one trailing newline is dropped)")
	fl.StringVar(&f.passwordEnv, "password-env", "MODELGATE_KEY_PASSWORD", "environment variable holding the private key's password")
	fl.BoolVar(&f.libraryForm, "library-shard-form", false, "with --shard-size: name each shard's algorithm <hash>-sharded-<size>, as the model_signing library's API expects, instead of the OpenSSF Model Signing form")
	// model_signing takes --password VALUE; a bare value shows up in process
	// lists, so it is refused with a pointer to the safe ways.
	fl.StringVar(&f.password, "password", "", "refused: use --password-file or --password-env")
	_ = fl.MarkHidden("password")
	_ = cmd.MarkFlagRequired("private-key")
	completeValues(cmd, "password-env") // an environment variable, not a file: offer nothing
	cmd.ValidArgsFunction = onePathArg
}

// loadKey reads the private key, with a password from a file or the
// environment when it is encrypted.
func (f *signFlags) loadKey() (*ecdsa.PrivateKey, error) {
	if f.flags.Changed("password") {
		return nil, usageError("--password would expose the password in process lists; use --password-file FILE or --password-env VAR")
	}
	var password []byte
	switch {
	case f.passwordFile != "":
		b, err := readPasswordFile(f.passwordFile)
		if err != nil {
			return nil, usageError("--password-file %q: %v", f.passwordFile, err)
		}
		password = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	case f.passwordEnv != "":
		password = []byte(os.Getenv(f.passwordEnv))
	}
	key, err := modelsig.LoadPrivateKey(f.privateKey, password)
	if err != nil {
		return nil, failed(err)
	}
	return key, nil
}

// maxPasswordFile bounds what --password-file reads: /dev/zero named by
// mistake must not fill memory.
const maxPasswordFile = 64 << 10

// readPasswordFile reads a password file. It may be a pipe, as from
// --password-file <(pass show modelgate/key): reading then waits for the
// writer, and a signal ends the wait (see watchSignals).
func readPasswordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the caller names the file
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) > maxPasswordFile:
		return nil, fmt.Errorf("longer than %d bytes: not a password", maxPasswordFile)
	}
	return b, nil
}

// checkSignatureTarget refuses to sign when the signature file would
// replace something it should not, before anything is hashed. What
// modelsig.Sign never replaces (modelsig.ExistingSignature: anything but
// nothing, an empty file or a signature) is a usage error here. Without
// --signature (explicit false) sign also refuses a model.sig that holds
// the signature of something else: signing a second single file in a
// folder would silently replace the first one's (and signing a folder,
// the signature of a file in it, or the other way round); naming the file
// with --signature replaces it on purpose. The existing signature is
// peeked at, not verified: the peek only decides whether to refuse, and
// a forged file can at most make sign refuse, or be replaced as it always
// was.
func checkSignatureTarget(m model, sigPath string, explicit bool) error {
	b, err := modelsig.ExistingSignature(sigPath)
	var re *modelsig.ReplaceError
	switch {
	case errors.As(err, &re):
		return usageError("%v: remove it first, or pass --signature FILE to write the signature elsewhere", err)
	case err != nil:
		return failed(err)
	case b == nil || explicit:
		return nil // nothing to lose, or asked for
	}
	subject, single, err := statementSubject(b)
	switch {
	case err != nil:
		return usageError("%q already exists and holds a signature whose statement modelgate cannot read; sign does not replace it: remove it first, or pass --signature FILE to write the signature elsewhere", sigPath)
	case subject == modelsig.ModelName(m.abs) && single == !m.dir:
		return nil // an earlier signature of this model: replace it
	}
	holds := fmt.Sprintf("holds the signature of the folder %q", subject)
	if single {
		holds = fmt.Sprintf("holds the signature of the file %q", subject)
	}
	return usageError("%q already exists and %s, not of %q: pass --signature FILE to write this signature elsewhere, or --signature %q to replace it",
		sigPath, holds, m.arg, sigPath)
}

// statementSubject returns the subject name of b's statement and whether
// it signs a single file (exactly one file, named "." or the subject).
func statementSubject(b *modelsig.Bundle) (subject string, single bool, err error) {
	st, err := modelsig.ParseStatement(b.Envelope.PayloadType, b.Envelope.Payload)
	if err != nil {
		return "", false, err
	}
	files := map[string]bool{}
	for _, r := range st.Manifest.Resources {
		files[r.Path] = true
	}
	single = len(files) == 1 && (files["."] || files[st.SubjectName])
	return st.SubjectName, single, nil
}

func (a *app) signKeyCommand() *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "key --private-key PEM [--password-file FILE] [flags] MODEL_PATH",
		Short: "Sign with an elliptic-curve private key (bundle carries the public key's hint)",
		Args:  exactArgs(1, "one MODEL_PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := f.loadKey()
			if err != nil {
				return err
			}
			s, err := modelsig.NewKeySigner(key)
			if err != nil {
				return failed(err)
			}
			return a.runSign(cmd.Context(), args[0], &f, s)
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) signCertificateCommand() *cobra.Command {
	var f signFlags
	var leafPath string
	var chainPaths []string
	cmd := &cobra.Command{
		Use:   "certificate --private-key PEM --signing-certificate PEM [--certificate-chain PEM]... [flags] MODEL_PATH",
		Short: "Sign with a private key and its certificate (bundle carries the certificate chain)",
		Args:  exactArgs(1, "one MODEL_PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := f.loadKey()
			if err != nil {
				return err
			}
			leaf, err := modelsig.LoadCertificates(leafPath)
			if err != nil {
				return failed(err)
			}
			if len(leaf) != 1 {
				return usageError("--signing-certificate %q: holds %d certificates, want exactly the signing certificate", leafPath, len(leaf))
			}
			var chain []*x509.Certificate
			if len(chainPaths) > 0 {
				if chain, err = modelsig.LoadCertificates(chainPaths...); err != nil {
					return failed(err)
				}
			}
			s, err := modelsig.NewCertificateSigner(key, leaf[0], chain)
			if err != nil {
				return failed(err)
			}
			return a.runSign(cmd.Context(), args[0], &f, s)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&leafPath, "signing-certificate", "", "PEM signing certificate (holds the private key's public key)")
	cmd.Flags().StringArrayVar(&chainPaths, "certificate-chain", nil, "PEM file of certificates to put in the bundle after the signing certificate (intermediates first); repeatable")
	_ = cmd.MarkFlagRequired("signing-certificate")
	return cmd
}

// runSign signs the model at modelPath with s and reports what it wrote.
func (a *app) runSign(ctx context.Context, modelPath string, f *signFlags, s modelsig.Signer) error {
	ser, err := f.serialization()
	if err != nil {
		return err
	}
	m, err := statModel(modelPath)
	if err != nil {
		return failed(err)
	}
	if f.libraryForm && ser.Method != manifest.Shards {
		return usageError("--library-shard-form needs --shard-size")
	}
	opts := modelsig.SignOptions{IgnoreGitPaths: f.ignoreGitPaths(), Serialization: ser, Cache: a.openCache(&f.cache), LibraryShardForm: f.libraryForm}
	if opts.SignaturePath, err = m.signaturePath(f.signature); err != nil {
		return err
	}
	if err := checkSignatureTarget(m, opts.SignaturePath, f.signature != ""); err != nil {
		return err
	}
	if opts.IgnorePaths, err = resolveIgnorePaths(m.abs, f.ignorePaths); err != nil {
		return err
	}
	opts.Progress = a.progress.start("sign", m.arg)
	res, err := modelsig.Sign(ctx, m.abs, s, opts)
	a.progress.end()
	if err != nil {
		return failed(err)
	}
	if a.quiet {
		return nil
	}
	digest := res.Manifest.SubjectDigest()
	return a.printResult("Signed %q: wrote %q (%s, %s, sha256:%s)\n", modelPath, res.SignaturePath,
		plural(len(res.Manifest.Resources), "resource"), ser.HashType, hex.EncodeToString(digest[:]))
}

func (a *app) digestCommand() *cobra.Command {
	var f hashFlags
	var signature string
	cmd := &cobra.Command{
		Use:   "digest [flags] MODEL_PATH",
		Short: "Print the subject digest a signature of the model would carry",
		Long: `Hash the model as sign would and print sha256:<subject digest>, the digest a
signature over it carries. Like sign, it leaves out the signature file (model.sig in
the model folder, or --signature) when that lies inside the model.`,
		Args:              exactArgs(1, "one MODEL_PATH"),
		ValidArgsFunction: onePathArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			ser, err := f.serialization()
			if err != nil {
				return err
			}
			m, err := statModel(args[0])
			if err != nil {
				return failed(err)
			}
			sig, err := m.signaturePath(signature)
			if err != nil {
				return err
			}
			ignore, err := resolveIgnorePaths(m.abs, f.ignorePaths)
			if err != nil {
				return err
			}
			cache := a.openCache(&f.cache) // before the progress bar: it may warn
			man, _, err := manifest.Build(cmd.Context(), m.abs, manifest.Options{
				Serialization: ser, IgnorePaths: append(ignore, sig), IgnoreGitPaths: f.ignoreGitPaths(),
				Progress: a.progress.start("digest", m.arg),
				Cache:    cache,
			})
			a.progress.end()
			if err != nil {
				return failed(err)
			}
			d := man.SubjectDigest()
			return a.printResult("sha256:%s\n", hex.EncodeToString(d[:]))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&signature, "signature", "", "signature file to leave out, as sign would (default: model.sig in the model's directory); relative to the current directory")
	return cmd
}
