// Package policy decides which AI models and LoRA adapters an inference
// server may load, and whose signature each must carry: the "security
// policy" JSON document (see docs/policy.md and spec/policy.md).
//
// A Policy is loaded once, checked completely and with all its trust
// material (public keys, certificate chains, Sigstore trust roots) read
// before anything is decided; any problem refuses the whole policy. It is
// then immutable and safe for concurrent use, so a long-running server can
// hold one for its whole life and call Decide for every artifact it is
// asked to load.
//
// The package does no cryptography. It canonicalises paths, finds the rule
// that applies and hands verification to package modelsig. Every decision
// fails closed: an artifact is allowed only when the policy does not govern
// its kind, when its rule says to skip verification, or when its signature
// verified.
package policy

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/internal/safefile"
	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/pindir"
)

// Kind is the kind of artifact being decided; each has its own section in
// the policy.
type Kind string

// The kinds of artifact.
const (
	Model Kind = "model" // governed by policy.signatures.models
	LoRA  Kind = "lora"  // governed by policy.signatures.loras
)

// section returns the policy key of the kind's section.
func (k Kind) section() string {
	switch k {
	case Model:
		return "models"
	case LoRA:
		return "loras"
	}
	return ""
}

// MaxPolicySize bounds how much of a policy file is read.
const MaxPolicySize = 16 << 20

// Options configures a Policy. The zero value is ready to use.
type Options struct {
	// Logger receives one record per decision; nil means slog.Default().
	Logger *slog.Logger
	// Workers bounds parallel hashing during verification; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// WorkDir is the directory relative artifact paths are resolved
	// against (made absolute at load); "" means the process's working
	// directory at decision time.
	WorkDir string
	// TrustRoot returns the Sigstore production (staging false) or staging
	// trusted root, for sigstore signers without trust_config. It is
	// called lazily, on the first decision that needs it, and a success is
	// cached for the life of the Policy (a failure denies that decision
	// and is retried next time). nil means modelsig.FetchTrustedRoot
	// (TUF, online) with TUFCacheDir.
	TrustRoot func(ctx context.Context, staging bool) (root.TrustedMaterial, error)
	// TUFCacheDir is the TUF cache used by the default TrustRoot; "" means
	// sigstore-go's default.
	TUFCacheDir string
	// Progress, when set, is asked for a progress sink (see
	// manifest.Progress) for each decision that is about to verify, with
	// the kind and path given to Decide; it may return nil. A command line
	// draws a bar per artifact with it; a server leaves it nil.
	Progress func(kind Kind, path string) manifest.Progress
	// Cache, when set, lets verification reuse the digests of unchanged
	// files (see manifest.DigestCache); decisions are otherwise the same.
	// A gate passes one Cache for its life, through every reload.
	Cache manifest.DigestCache
	// Pins, when set, makes a verified private copy of every artifact
	// whose signature verifies, while it is verified, and reports it in
	// Decision.PinnedPath: the server loads the copy, exactly the bytes
	// that verified, instead of the original (see package pindir and
	// docs/policy.md, "Known limit"). Skipped and not-required artifacts
	// are not copied: nothing about them was verified.
	Pins *pindir.Dir
}

// Policy is a loaded, fully checked security policy. It is safe for
// concurrent use.
type Policy struct {
	file     string
	opts     Options
	log      *slog.Logger
	signers  map[string]*signer
	sections map[Kind]*section // a kind absent from the map has no section

	rootMu sync.Mutex
	roots  map[bool]root.TrustedMaterial // by staging
}

// Load reads, parses and checks the policy file at path and reads all the
// trust material it names (relative trust paths are relative to the
// directory of path). Any problem refuses the whole policy: the error is a
// *LoadError listing every problem with FILE:LINE:COL, or a plain error
// when the file cannot be read.
func Load(path string, opts Options) (*Policy, error) {
	data, dir, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, dir, opts)
}

// Parse is Load for a policy already in memory. name is used in messages;
// baseDir is the directory relative trust-material paths are resolved
// against (normally the policy file's directory; "" refuses relative
// trust paths).
func Parse(name string, data []byte, baseDir string, opts Options) (*Policy, error) {
	l := newLoader(name, data, baseDir)
	p := l.load()
	if len(l.errors) > 0 {
		sortProblems(l.errors)
		return nil, &LoadError{Problems: l.errors}
	}
	if opts.WorkDir != "" && !filepath.IsAbs(opts.WorkDir) {
		abs, err := filepath.Abs(opts.WorkDir)
		if err != nil {
			return nil, fmt.Errorf("work directory %s: %w", quote(opts.WorkDir), err)
		}
		opts.WorkDir = abs
	}
	p.file = name
	p.opts = opts
	p.log = opts.Logger
	if p.log == nil {
		p.log = slog.Default()
	}
	p.roots = map[bool]root.TrustedMaterial{}
	return p, nil
}

// File returns the name the policy was loaded from.
func (p *Policy) File() string { return p.file }

// Governs reports whether the policy has a section for kind, that is,
// whether artifacts of that kind need a rule to load.
func (p *Policy) Governs(kind Kind) bool {
	return p.sections[kind] != nil
}

// readPolicyFile reads the policy at path (a regular file of at most
// MaxPolicySize bytes) and returns it with the absolute directory of path.
func readPolicyFile(path string) ([]byte, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fmt.Errorf("policy %s: %w", quote(path), err)
	}
	data, err := safefile.ReadFile(path, MaxPolicySize)
	if err != nil {
		return nil, "", fmt.Errorf("read policy %s: %w", quote(path), innerError(err))
	}
	return data, filepath.Dir(abs), nil
}

// trustRoot returns the cached production or staging trusted root,
// fetching it on first use.
func (p *Policy) trustRoot(ctx context.Context, staging bool) (root.TrustedMaterial, error) {
	p.rootMu.Lock()
	defer p.rootMu.Unlock()
	if tm := p.roots[staging]; tm != nil {
		return tm, nil
	}
	fetch := p.opts.TrustRoot
	if fetch == nil {
		fetch = func(ctx context.Context, staging bool) (root.TrustedMaterial, error) {
			return modelsig.FetchTrustedRoot(ctx, modelsig.TrustRootOptions{Staging: staging, CacheDir: p.opts.TUFCacheDir, Logger: p.log})
		}
	}
	tm, err := fetch(ctx, staging)
	if err != nil {
		return nil, err
	}
	if tm == nil {
		return nil, fmt.Errorf("no trusted root returned")
	}
	p.roots[staging] = tm
	return tm, nil
}
