package policy

import (
	"fmt"
	"strings"

	"github.com/modelgate/modelgate/manifest"
)

// Explanation says which rule and signer apply to an artifact and with
// which effective options, without hashing or verifying anything.
type Explanation struct {
	Kind          Kind   `json:"kind"`
	Path          string `json:"path"`
	CanonicalPath string `json:"canonical_path"`
	// Action is what Decide would do: "allow" (the kind is not governed),
	// "skip" (allowed without verification), "verify", or "deny" (Code
	// says why).
	Action string `json:"action"`
	Code   Code   `json:"code,omitempty"`
	// Why explains Action: the section absent, the exact key, the regex
	// rule's position and pattern, or the reason for a denial.
	Why string `json:"why"`
	// Notes explain exact keys that lead to this path through a symlink
	// and therefore do not apply (exact keys are never resolved).
	Notes  []string `json:"notes,omitempty"`
	Rule   string   `json:"rule"`
	Signer string   `json:"signer"`
	Method string   `json:"method"`

	// The effective verification options (Action "verify" only).
	Identity        string   `json:"identity,omitempty"`       // sigstore: required certificate identity
	Issuer          string   `json:"issuer,omitempty"`         // sigstore: required OIDC issuer
	TrustSource     string   `json:"trust_source,omitempty"`   // the trust material used
	SignaturePath   string   `json:"signature_path,omitempty"` // absolute
	IgnorePaths     []string `json:"ignore_paths,omitempty"`   // absolute
	IgnoreGitPaths  bool     `json:"ignore_git_paths"`         // leave out GitPaths at the model root
	GitPaths        []string `json:"git_paths,omitempty"`      // the paths left out by IgnoreGitPaths
	LogFingerprints bool     `json:"log_fingerprints"`         // certificate fingerprints logged
	UseStaging      bool     `json:"use_staging"`              // sigstore staging root
	// Digests are the pinned subject digests ("sha256:HEX"): the verified
	// model's must be one of them. Empty when the entry pins none.
	Digests []string `json:"digest,omitempty"`

	// HubResolution is set for an artifact named by Hugging Face id
	// (ExplainHub), as in Decision.
	HubResolution
}

// Explain reports what Decide would do for the artifact of the given kind
// at path, up to (not including) verification: it resolves the path and
// finds the rule, but hashes nothing and never contacts the network.
func (p *Policy) Explain(kind Kind, path string) Explanation {
	d := Decision{Kind: kind, Path: path}
	t, m, ok := p.resolve(&d)
	return p.explain(d, t, m, ok)
}

// explain builds the explanation of a resolved decision d: the rule m
// applies to t when ok, else d holds the outcome.
func (p *Policy) explain(d Decision, t target, m match, ok bool) Explanation {
	kind := d.Kind
	e := Explanation{Kind: kind, Path: d.Path, CanonicalPath: d.CanonicalPath}
	if sec := p.sections[kind]; sec != nil && d.CanonicalPath != "" {
		e.Notes = sec.unresolvedKeys(d.CanonicalPath)
	}
	if !ok {
		e.Code, e.Why = d.Code, d.Reason
		e.Action = "deny"
		if d.Outcome == NotRequired {
			e.Action = "allow"
		}
		return e
	}
	r, s := m.rule, m.rule.signer
	e.Rule, e.Signer, e.Method, e.Why = r.key, s.name, s.method, m.why
	if s.method == methodSkip {
		e.Action = "skip"
		e.Why += fmt.Sprintf("; signer %s skips verification", quote(s.name))
		return e
	}
	e.Action = "verify"
	opts := p.verifyOptions(r, t)
	e.SignaturePath, e.IgnorePaths, e.IgnoreGitPaths = opts.SignaturePath, opts.IgnorePaths, opts.IgnoreGitPaths
	if e.IgnoreGitPaths {
		e.GitPaths = manifest.GitPaths
	}
	e.LogFingerprints, e.UseStaging, e.Digests = r.logFingerprints, r.useStaging, r.digests
	switch s.method {
	case methodKey:
		e.TrustSource = "public key " + quote(s.publicKey)
	case methodCertificate:
		e.TrustSource = "certificate chain " + quoteAll(s.certChain)
	case methodSigstore:
		e.Identity, e.Issuer = s.identity, s.issuer
		if s.trustConfig != "" {
			e.TrustSource = "trust_config " + quote(s.trustConfig)
		} else {
			e.TrustSource = fmt.Sprintf("Sigstore %s trusted root (TUF, fetched on first use)", instance(r.useStaging))
		}
	}
	return e
}

// String formats the explanation for people, one "name: value" per line.
// Every value that came from outside (paths, keys, names, identities) is
// quoted, so nothing in a path can act on the terminal.
func (e Explanation) String() string {
	var b strings.Builder
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-17s %s\n", name+":", safeText(value))
		}
	}
	quoted := func(name, value string) {
		if value != "" {
			line(name, quote(value))
		}
	}
	line("kind", kindLabel(e.Kind))
	if e.HubID != "" {
		quoted("hugging face id", e.HubID)
		quoted("revision", e.HubRevision)
		quoted("cache", e.HubCache)
		line("cache chosen by", e.HubCacheChosenBy)
		quoted("ref", e.HubRef)
		line("commit", e.HubCommit)
		quoted("snapshot", e.CanonicalPath)
	} else {
		quoted("path", e.Path)
		quoted("canonical path", e.CanonicalPath)
	}
	action := e.Action
	if e.Code != "" {
		action += " (" + string(e.Code) + ")"
	}
	line("action", action)
	line("why", e.Why)
	for _, n := range e.Notes {
		line("note", n)
	}
	quoted("rule", e.Rule)
	quoted("signer", e.Signer)
	line("method", e.Method)
	if e.Action != "verify" {
		return b.String()
	}
	quoted("identity", e.Identity)
	quoted("issuer", e.Issuer)
	line("trust", e.TrustSource)
	quoted("signature", e.SignaturePath)
	line("ignore paths", quoteAll(e.IgnorePaths))
	line("digest pin", strings.Join(e.Digests, ", "))
	git := "no"
	if e.IgnoreGitPaths {
		git = "yes (" + strings.Join(e.GitPaths, ", ") + " at the model root)"
	}
	line("ignore git paths", git)
	line("log fingerprints", yesNo(e.LogFingerprints))
	if e.Method == methodSigstore {
		line("use staging", yesNo(e.UseStaging))
	}
	return b.String()
}

// quoteAll quotes each string and joins them with ", ".
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
