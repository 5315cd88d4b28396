package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/internal/ctxerr"
	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/pindir"
)

// Outcome is what a decision allowed or denied.
type Outcome string

// The outcomes (spec/policy.md §4).
const (
	Verified    Outcome = "verified"     // allowed: the signature verified
	Skipped     Outcome = "skipped"      // allowed: the rule's signer is "skip"
	NotRequired Outcome = "not-required" // allowed: the policy has no section for the kind
	Denied      Outcome = "denied"       // not allowed; Code says why
)

// Code classifies a denial.
type Code string

// The denial codes.
const (
	CodeNotFound           Code = "not-found"           // the path does not exist
	CodeNotLocal           Code = "not-local"           // a URL, or a Hugging Face id given where a path is expected
	CodeNoRule             Code = "no-rule"             // no rule of the section applies
	CodeVerificationFailed Code = "verification-failed" // the signature or the files do not match
	CodeError              Code = "error"               // anything else went wrong: nothing is allowed because of an error
)

// Decision is the result of deciding one artifact. Only Allowed matters for
// enforcement; the rest explains it and is what gets logged.
type Decision struct {
	Kind          Kind
	Path          string // as given
	CanonicalPath string // absolute, symlinks resolved; "" when it could not be resolved
	Rule          string // the key of the rule that applied, "" when none
	Signer        string
	Method        string // the signer's verification method
	Signature     string // the signature file read, when verification ran
	// SubjectDigest is the verified model's subject digest, "sha256:HEX"
	// (see SubjectDigest), set whenever the signature verified, also when
	// a digest pin then refused it; "" otherwise.
	SubjectDigest string
	// PinnedPath is the verified private copy the server must load
	// instead of Path (Options.Pins): a folder DIR/<digest>, or a file
	// inside one for a single-file model. "" when nothing was copied.
	// Hold it (pindir.Dir.Hold) for as long as the server uses it.
	PinnedPath string
	Outcome    Outcome
	Code       Code // set when Outcome is Denied
	Reason     string

	Files int   // files hashed
	Bytes int64 // bytes read and hashed
	// CachedBytes counts the bytes whose digests came from the hash
	// cache instead of being read (not in Bytes).
	CachedBytes int64
	Duration    time.Duration

	// Identity and Issuer are the Sigstore identity and OIDC issuer found
	// in the signing certificate (sigstore method).
	Identity, Issuer string
	// Fingerprints are the SHA-256 fingerprints of the certificates used,
	// intermediates first, then the leaf; set only with log_fingerprints.
	Fingerprints []string
	// Warnings are non-fatal findings of verification (e.g. an older
	// signature format without a key hint).
	Warnings []string

	// HubResolution is set for an artifact named by Hugging Face id
	// (DecideHub); all "" for a path.
	HubResolution

	hub *hfcache.Resolution // the resolution, for DecideHubSameCommit
}

// HubResolution is where an artifact named by Hugging Face id was looked
// for and found, as decisions and explanations report it.
type HubResolution struct {
	// HubID is the id as given (a decision's Path holds it too).
	HubID string `json:"hub_id,omitempty"`
	// HubRevision is the revision asked, "main" when none was given.
	HubRevision string `json:"revision,omitempty"`
	// HubCommit is the commit it resolved to: pin vLLM to it.
	HubCommit string `json:"commit,omitempty"`
	// HubRef is the ref file read, "" when the revision is a commit.
	HubRef string `json:"ref,omitempty"`
	// HubCache is the cache root searched, and HubCacheChosenBy what
	// chose it (`HF_HUB_CACHE="/x"`, `--download-dir "/d"`, the default).
	HubCache         string `json:"cache_dir,omitempty"`
	HubCacheChosenBy string `json:"cache_chosen_by,omitempty"`
}

// Allowed reports whether the artifact may be loaded.
func (d Decision) Allowed() bool {
	switch d.Outcome {
	case Verified, Skipped, NotRequired:
		return d.Code == ""
	}
	return false
}

// decisionJSON is the stable JSON form of a Decision (cli.md --output json).
type decisionJSON struct {
	Kind          Kind     `json:"kind"`
	Path          string   `json:"path"`
	CanonicalPath string   `json:"canonical_path"`
	Rule          string   `json:"rule"`
	Signer        string   `json:"signer"`
	Method        string   `json:"method"`
	Signature     string   `json:"signature"`
	SubjectDigest string   `json:"subject_digest"`
	PinnedPath    string   `json:"pinned_path,omitempty"`
	Outcome       Outcome  `json:"outcome"`
	Code          Code     `json:"code,omitempty"`
	Reason        string   `json:"reason"`
	Files         int      `json:"files"`
	Bytes         int64    `json:"bytes"`
	CachedBytes   int64    `json:"cached_bytes,omitempty"`
	DurationMS    float64  `json:"duration_ms"`
	Identity      string   `json:"identity,omitempty"`
	Issuer        string   `json:"issuer,omitempty"`
	Fingerprints  []string `json:"fingerprints,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
	HubResolution
}

// MarshalJSON encodes the decision with the field names of the command
// line's --output json: kind, path, canonical_path, rule, signer, method,
// signature and subject_digest (always present, "" when none),
// pinned_path (when the artifact was copied, see Options.Pins), outcome,
// code (denials only), reason, files, bytes, cached_bytes (when some
// digests came from the hash cache), duration_ms, and identity,
// issuer, fingerprints, warnings when set; for an artifact named by
// Hugging Face id also hub_id, revision, commit, ref, cache_dir and
// cache_chosen_by (each when known).
func (d Decision) MarshalJSON() ([]byte, error) {
	return json.Marshal(decisionJSON{
		Kind: d.Kind, Path: d.Path, CanonicalPath: d.CanonicalPath, Rule: d.Rule,
		Signer: d.Signer, Method: d.Method, Signature: d.Signature, SubjectDigest: d.SubjectDigest, PinnedPath: d.PinnedPath, Outcome: d.Outcome, Code: d.Code, Reason: d.Reason,
		Files: d.Files, Bytes: d.Bytes, CachedBytes: d.CachedBytes, DurationMS: float64(d.Duration.Microseconds()) / 1000,
		Identity: d.Identity, Issuer: d.Issuer, Fingerprints: d.Fingerprints, Warnings: d.Warnings,
		HubResolution: d.HubResolution,
	})
}

// deny records a denial. The reason is passed through safeText: it may
// hold other packages' error text, which is not always quoted.
func (d *Decision) deny(code Code, format string, args ...any) {
	d.Outcome, d.Code, d.Reason = Denied, code, safeText(fmt.Sprintf(format, args...))
}

// RecordResult records in d what a successful verification found: the
// signature checked, the subject digest a digest pin compares, how much
// was hashed (and how much of it came from the cache), the signer's
// identity and issuer and the certificate fingerprints as res reports
// them, and its warnings. It leaves the outcome alone: a verified model
// may still be denied (by a digest pin, a copy that failed), and a caller
// that reports less (Decide: identity for sigstore only, fingerprints
// when the signer logs them) clears the rest after it.
func (d *Decision) RecordResult(res *modelsig.Result) {
	d.Signature = res.SignaturePath
	d.SubjectDigest = SubjectDigest(res)
	d.Files, d.Bytes, d.CachedBytes = res.Stats.Files, res.Stats.Bytes, res.Stats.CachedBytes
	d.Identity, d.Issuer = res.Signed.Identity, res.Signed.Issuer
	d.Fingerprints, d.Warnings = res.Signed.Fingerprints, res.Signed.Warnings
}

// Decide decides whether the artifact of the given kind at path may be
// loaded, verifying its signature when its rule requires it
// (spec/policy.md §4). It never panics and never allows because something
// went wrong. It writes exactly one log record: INFO for verified and
// not-required, WARN for skipped, ERROR for every denial.
//
// path is a local path. A Hugging Face id is denied as not local here:
// DecideHub resolves ids in the local hub cache.
//
// The decision is about the files as they are now: see docs/policy.md
// ("Known limit") for what keeps them that way until the server reads them.
func (p *Policy) Decide(ctx context.Context, kind Kind, path string) (d Decision) {
	d = Decision{Kind: kind, Path: path}
	p.record(ctx, &d, func() { p.decide(ctx, &d) })
	return d
}

// record runs work, which decides d, and then times and logs d. A panic in
// work denies.
func (p *Policy) record(ctx context.Context, d *Decision, work func()) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			d.Outcome, d.Files, d.Bytes, d.CachedBytes = "", 0, 0, 0
			d.deny(CodeError, "internal error while deciding: %v", r)
		}
		d.Duration = time.Since(start)
		p.logDecision(ctx, *d)
	}()
	work()
}

func (p *Policy) decide(ctx context.Context, d *Decision) {
	t, m, ok := p.resolve(d)
	if !ok {
		p.noteUnresolvedKeys(d)
		return
	}
	p.apply(ctx, d, t, m, "")
}

// noteUnresolvedKeys adds to the reason of a no-rule denial each exact
// key that leads to the path through a symlink: the operator may expect
// it to apply. Explanations list them as Notes instead.
func (p *Policy) noteUnresolvedKeys(d *Decision) {
	if d.Code != CodeNoRule {
		return
	}
	for _, note := range p.sections[d.Kind].unresolvedKeys(d.CanonicalPath) {
		d.Reason += "; " + note
	}
}

// apply decides d by the rule m that applies to the canonical target t:
// skipped, or verified with the rule's signer and options. linkRoot, when
// set, confines symlinks in the model to regular files inside it (a
// Hugging Face snapshot's blobs/). It returns the verification error when
// verification ran and failed (d is then denied), so that a caller can
// say more about it.
func (p *Policy) apply(ctx context.Context, d *Decision, t target, m match, linkRoot string) error {
	r := m.rule
	d.Rule, d.Signer, d.Method = r.key, r.signer.name, r.signer.method
	if r.signer.method == methodSkip {
		d.Outcome = Skipped
		d.Reason = safeText(fmt.Sprintf("%s; signer %s skips verification on purpose", m.why, quote(r.signer.name)))
		return nil
	}
	opts := p.verifyOptions(r, t)
	opts.LinkRoot = linkRoot
	if p.opts.Progress != nil {
		opts.Progress = p.opts.Progress(d.Kind, d.Path)
	}
	d.Signature = opts.SignaturePath
	v, err := p.verifier(ctx, r)
	if err != nil {
		d.deny(CodeError, "signer %s: %v", quote(r.signer.name), err)
		return nil
	}
	var pin *pindir.Session
	if p.opts.Pins != nil {
		pin = p.opts.Pins.Begin(pindir.Request{Source: t.path, File: !t.isDir, Progress: opts.Progress})
		defer pin.Close() // removes a copy not committed below
		opts.Hash = pin.Hash
	}
	res, err := verify(ctx, t.path, v, opts)
	if err != nil {
		err = ctxerr.Replace(ctx, err) // "interrupted (SIGTERM)", not "context canceled"
		var ve *modelsig.VerificationError
		if errors.As(err, &ve) {
			d.deny(CodeVerificationFailed, "verification failed (signer %s, %s): %v", quote(r.signer.name), r.signer.method, err)
		} else {
			d.deny(CodeError, "cannot verify (signer %s, %s): %v", quote(r.signer.name), r.signer.method, err)
		}
		return err
	}
	if res == nil || res.Signed == nil {
		d.deny(CodeError, "verification returned no result")
		return nil
	}
	d.RecordResult(res)
	if r.signer.method != methodSigstore {
		d.Identity, d.Issuer = "", "" // only a sigstore signer's identity is checked
	}
	if !r.logFingerprints {
		d.Fingerprints = nil // reported when the signer asks (log_fingerprints)
	}
	verified := fmt.Sprintf("%s; signature %s verified with signer %s (%s)", m.why, quote(res.SignaturePath), quote(r.signer.name), r.signer.method)
	if why := r.pinMismatch(d.SubjectDigest); why != "" {
		// The signer signed this model, but the entry accepts only the
		// pinned ones: another model, or another version, by the same
		// signer must not pass.
		d.deny(CodeVerificationFailed, "%s, but %s", verified, why)
		return nil
	}
	if pin != nil {
		c, err := pin.Commit(ctx)
		if err != nil {
			d.deny(CodeError, "%s, but the verified copy could not be made: %v", verified, ctxerr.Replace(ctx, err))
			return nil
		}
		d.PinnedPath = c.Path
		verified += pinnedPhrase(c)
	}
	d.Outcome = Verified
	d.Reason = safeText(verified)
	if len(r.digests) > 0 {
		d.Reason += "; subject digest " + d.SubjectDigest + " is pinned"
	}
	return nil
}

// pinnedPhrase says, for a decision's reason, where the server loads the
// artifact from and how the copy came to be.
func pinnedPhrase(c pindir.Result) string {
	switch {
	case c.Reused:
		return fmt.Sprintf("; the verified copy %s re-checked against it, and is what loads", quote(c.Path))
	case c.ClonedBytes > 0:
		return fmt.Sprintf("; cloned (reflink) into the verified copy %s as it verified, which is what loads", quote(c.Path))
	}
	return fmt.Sprintf("; copied into %s as it verified, and that copy is what loads", quote(c.Path))
}

// target is an artifact path that exists, in canonical form.
type target struct {
	path  string
	isDir bool
}

// resolve performs the steps of a decision that hash nothing: section,
// canonical path, rule. It fills d and returns ok only when a rule applies
// (d is then still undecided); otherwise d holds the final outcome.
func (p *Policy) resolve(d *Decision) (target, match, bool) {
	name := d.Kind.section()
	if name == "" {
		d.deny(CodeError, "unknown artifact kind %s (want %q or %q)", quote(string(d.Kind)), Model, LoRA)
		return target{}, match{}, false
	}
	sec := p.sections[d.Kind]
	if sec == nil {
		d.Outcome = NotRequired
		d.Reason = fmt.Sprintf("the policy has no %q section, so %ss load without verification", name, d.Kind)
		return target{}, match{}, false
	}
	c, err := canonicalPath(d.Path, p.opts.WorkDir)
	switch {
	case err != nil && isNotFound(err) && isURL(d.Path):
		d.deny(CodeNotLocal, "%s is not a local path but a URL; the policy can only allow local files that are verified before loading: download it first", quote(d.Path))
		return target{}, match{}, false
	case err != nil && isNotFound(err) && notLocal(d.Path):
		d.deny(CodeNotLocal, "%s is not a local path (it looks like a Hugging Face id, which is looked up only where modelgate resolves ids in the local Hugging Face cache: `modelgate verify --model ORG/NAME`, `modelgate exec`, the gate); the policy can only allow local files that are verified before loading", quote(d.Path))
		return target{}, match{}, false
	case err != nil && isNotFound(err):
		d.deny(CodeNotFound, "%s does not exist: %v", quote(d.Path), unwrapPathError(err))
		return target{}, match{}, false
	case err != nil:
		d.deny(CodeError, "cannot resolve %s: %v", quote(d.Path), unwrapPathError(err))
		return target{}, match{}, false
	}
	d.CanonicalPath = c
	fi, err := os.Stat(c)
	if err != nil {
		d.deny(CodeError, "cannot stat %s: %v", quote(c), unwrapPathError(err))
		return target{}, match{}, false
	}
	t := target{path: c, isDir: fi.IsDir()}
	m := sec.find(c, t.isDir)
	if m.rule == nil {
		d.deny(CodeNoRule, "no rule in %s matches %s", sec.path, quote(c))
		return target{}, match{}, false
	}
	return t, m, true
}

// unwrapPathError drops the path from an *fs.PathError that the message
// around it already names.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// verifyOptions resolves the entry's options for the model at t:
// signature and ignore_paths are relative to the model directory (for a
// single-file model, to its directory) unless absolute.
func (p *Policy) verifyOptions(r *rule, t target) modelsig.VerifyOptions {
	base := t.path
	if !t.isDir {
		base = filepath.Dir(t.path)
	}
	resolve := func(s string) string {
		if filepath.IsAbs(s) {
			return filepath.Clean(s)
		}
		return filepath.Join(base, s)
	}
	sig := modelsig.DefaultSignatureName
	if r.signature != "" {
		sig = r.signature
	}
	opts := modelsig.VerifyOptions{
		SignaturePath:  resolve(sig),
		IgnoreGitPaths: r.ignoreGitPaths,
		Workers:        p.opts.Workers,
		Logger:         p.log,
		Cache:          p.opts.Cache,
	}
	for _, ip := range r.ignorePaths {
		opts.IgnorePaths = append(opts.IgnorePaths, resolve(ip))
	}
	return opts
}

// verifier returns the signer's verifier, building a sigstore verifier
// from the production or staging root on first use.
func (p *Policy) verifier(ctx context.Context, r *rule) (modelsig.Verifier, error) {
	s := r.signer
	if s.verifier != nil {
		return s.verifier, nil
	}
	if s.method != methodSigstore {
		return nil, fmt.Errorf("no verifier for method %s", s.method)
	}
	tm, err := p.trustRoot(ctx, r.useStaging)
	if err != nil {
		return nil, fmt.Errorf("get the Sigstore %s trusted root: %w", instance(r.useStaging), ctxerr.Replace(ctx, err))
	}
	return modelsig.NewSigstoreVerifier(tm, s.identity, s.issuer)
}

func instance(staging bool) string {
	if staging {
		return "staging"
	}
	return "production"
}

// verify calls modelsig.Verify, turning a panic into an error so that a bug
// in verification denies instead of crashing the server.
func verify(ctx context.Context, path string, v modelsig.Verifier, opts modelsig.VerifyOptions) (res *modelsig.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("internal error in verification: %v", r)
		}
	}()
	return modelsig.Verify(ctx, path, v, opts)
}

// logDecision writes the decision's one log record.
func (p *Policy) logDecision(ctx context.Context, d Decision) {
	level := slog.LevelInfo
	switch d.Outcome {
	case Skipped:
		level = slog.LevelWarn
	case Verified, NotRequired:
	default:
		level = slog.LevelError
	}
	if !p.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("kind", string(d.Kind)),
		slog.String("path", d.Path),
		slog.String("canonical_path", d.CanonicalPath),
	}
	for _, a := range [][2]string{
		{"hub_id", d.HubID}, {"revision", d.HubRevision}, {"commit", d.HubCommit},
		{"ref", d.HubRef}, {"cache_dir", d.HubCache}, {"cache_chosen_by", d.HubCacheChosenBy},
	} {
		if a[1] != "" {
			attrs = append(attrs, slog.String(a[0], a[1]))
		}
	}
	attrs = append(attrs,
		slog.String("rule", d.Rule),
		slog.String("signer", d.Signer),
		slog.String("method", d.Method),
	)
	if d.Signature != "" {
		attrs = append(attrs, slog.String("signature", d.Signature))
	}
	if d.SubjectDigest != "" {
		attrs = append(attrs, slog.String("subject_digest", d.SubjectDigest))
	}
	if d.PinnedPath != "" {
		attrs = append(attrs, slog.String("pinned_path", d.PinnedPath))
	}
	attrs = append(attrs, slog.String("outcome", string(d.Outcome)))
	if d.Code != "" {
		attrs = append(attrs, slog.String("code", string(d.Code)))
	}
	attrs = append(attrs,
		slog.String("reason", d.Reason),
		slog.Int("files", d.Files),
		slog.Int64("bytes", d.Bytes),
	)
	if d.CachedBytes > 0 {
		attrs = append(attrs, slog.Int64("cached_bytes", d.CachedBytes))
	}
	attrs = append(attrs, slog.Duration("duration", d.Duration))
	if d.Identity != "" || d.Issuer != "" {
		attrs = append(attrs, slog.String("identity", d.Identity), slog.String("issuer", d.Issuer))
	}
	if len(d.Fingerprints) > 0 {
		attrs = append(attrs, slog.Any("fingerprints", d.Fingerprints))
	}
	if len(d.Warnings) > 0 {
		attrs = append(attrs, slog.Any("warnings", d.Warnings))
	}
	p.log.LogAttrs(ctx, level, fmt.Sprintf("%s %s", kindLabel(d.Kind), d.Outcome), attrs...)
}

// kindLabel names a kind in a log message: as is when it is one of the
// kinds, quoted when a caller passed something else (the record's "kind"
// attribute keeps it as given, and handlers escape attributes).
func kindLabel(k Kind) string {
	if k.section() != "" {
		return string(k)
	}
	return quote(string(k))
}
