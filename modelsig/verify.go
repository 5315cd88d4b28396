package modelsig

import (
	"context"
	"log/slog"

	"github.com/modelgate/modelgate/manifest"
)

// DefaultSignatureName is the signature file name inside a model directory.
const DefaultSignatureName = "model.sig"

// VerifyOptions controls Verify. Paths are absolute (callers resolve
// relative paths by their own rules: the CLI against the working directory,
// the policy against the model).
type VerifyOptions struct {
	// SignaturePath is the model.sig to read; "" means DefaultSignatureName
	// in the model directory (a single-file model: the file's directory).
	// It is always left out of the model when it lies inside it.
	SignaturePath string
	// IgnorePaths are extra files or folders to leave out (absolute, or
	// relative to the model root); see manifest.Options.IgnorePaths.
	IgnorePaths    []string
	IgnoreGitPaths bool
	// AllowSymlinks permits symlinks to files (hashed by target content).
	// A signature that recorded allow_symlinks true also permits them.
	AllowSymlinks bool
	// IgnoreUnsignedFiles hashes only the files the signature lists.
	IgnoreUnsignedFiles bool
	Workers             int
	// Logger receives progress and warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Result describes a successful verification.
type Result struct {
	Method        Method
	SignaturePath string
	Signed        *Signed
	Manifest      *manifest.Manifest // the verified (expected == actual) manifest
	Stats         manifest.Stats
}

// Verify checks that modelPath is exactly what the signature says and that
// v accepts the signature. Failures where the model or signature does not
// match are *VerificationError; anything else is an operational error.
func Verify(ctx context.Context, modelPath string, v Verifier, opts VerifyOptions) (*Result, error) {
	return nil, errNotImplemented
}
