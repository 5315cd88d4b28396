package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

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
}

func (f *hashFlags) register(cmd *cobra.Command) {
	f.walkFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.hash, "hash", "sha256", "hash for each file or shard: sha256, blake2b or blake3")
	fl.Int64Var(&f.shardSize, "shard-size", 0, "hash files in shards of this many bytes (the shards method); 0 hashes whole files")
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
		Args: cobra.NoArgs,
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
	// model_signing takes --password VALUE; a bare value shows up in process
	// lists, so it is refused with a pointer to the safe ways.
	fl.StringVar(&f.password, "password", "", "refused: use --password-file or --password-env")
	_ = fl.MarkHidden("password")
	_ = cmd.MarkFlagRequired("private-key")
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
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return nil, usageError("read password file: %v", err)
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
				return usageError("--signing-certificate %s: holds %d certificates, want exactly the signing certificate", leafPath, len(leaf))
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
	absModel, err := filepath.Abs(modelPath)
	if err != nil {
		return usageError("model path %q: %v", modelPath, err)
	}
	opts := modelsig.SignOptions{IgnoreGitPaths: f.ignoreGitPaths(), Serialization: ser}
	if f.signature != "" {
		if opts.SignaturePath, err = filepath.Abs(f.signature); err != nil {
			return usageError("--signature %q: %v", f.signature, err)
		}
	}
	if opts.IgnorePaths, err = resolveIgnorePaths(absModel, f.ignorePaths); err != nil {
		return err
	}
	res, err := modelsig.Sign(ctx, absModel, s, opts)
	if err != nil {
		return failed(err)
	}
	digest := res.Manifest.SubjectDigest()
	fmt.Fprintf(a.stdout, "Signed %s: wrote %s (%s, %s, sha256:%s)\n", modelPath, res.SignaturePath,
		plural(len(res.Manifest.Resources), "resource"), ser.HashType, hex.EncodeToString(digest[:]))
	return nil
}

func (a *app) digestCommand() *cobra.Command {
	var f hashFlags
	cmd := &cobra.Command{
		Use:   "digest [flags] MODEL_PATH",
		Short: "Print the subject digest a signature of the model would carry",
		Long: `Hash the model as sign would and print sha256:<subject digest>, the digest a
signature over it carries. No signature file is left out automatically.`,
		Args: exactArgs(1, "one MODEL_PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ser, err := f.serialization()
			if err != nil {
				return err
			}
			absModel, err := filepath.Abs(args[0])
			if err != nil {
				return usageError("model path %q: %v", args[0], err)
			}
			ignore, err := resolveIgnorePaths(absModel, f.ignorePaths)
			if err != nil {
				return err
			}
			m, _, err := manifest.Build(cmd.Context(), absModel, manifest.Options{
				Serialization: ser, IgnorePaths: ignore, IgnoreGitPaths: f.ignoreGitPaths(),
			})
			if err != nil {
				return failed(err)
			}
			d := m.SubjectDigest()
			fmt.Fprintf(a.stdout, "sha256:%s\n", hex.EncodeToString(d[:]))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
