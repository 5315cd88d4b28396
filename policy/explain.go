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
	// Why explains Action: the section absent, the exact key and its
	// canonical form, the regex rule's position and pattern, or the
	// reason for a denial.
	Why    string `json:"why"`
	Rule   string `json:"rule"`
	Signer string `json:"signer"`
	Method string `json:"method"`

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
}

// Explain reports what Decide would do for the artifact of the given kind
// at path, up to (not including) verification: it resolves the path and
// finds the rule, but hashes nothing and never contacts the network.
func (p *Policy) Explain(kind Kind, path string) Explanation {
	d := Decision{Kind: kind, Path: path}
	t, m, ok := p.resolve(&d)
	e := Explanation{Kind: kind, Path: path, CanonicalPath: d.CanonicalPath}
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
		e.Why += fmt.Sprintf("; signer %s skips verification", quoteJSON(s.name))
		return e
	}
	e.Action = "verify"
	opts := p.verifyOptions(r, t)
	e.SignaturePath, e.IgnorePaths, e.IgnoreGitPaths = opts.SignaturePath, opts.IgnorePaths, opts.IgnoreGitPaths
	if e.IgnoreGitPaths {
		e.GitPaths = manifest.GitPaths
	}
	e.LogFingerprints, e.UseStaging = r.logFingerprints, r.useStaging
	switch s.method {
	case methodKey:
		e.TrustSource = "public key " + s.publicKey
	case methodCertificate:
		e.TrustSource = "certificate chain " + strings.Join(s.certChain, ", ")
	case methodSigstore:
		e.Identity, e.Issuer = s.identity, s.issuer
		if s.trustConfig != "" {
			e.TrustSource = "trust_config " + s.trustConfig
		} else {
			e.TrustSource = fmt.Sprintf("Sigstore %s trusted root (TUF, fetched on first use)", instance(r.useStaging))
		}
	}
	return e
}

// String formats the explanation for people, one "name: value" per line.
func (e Explanation) String() string {
	var b strings.Builder
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-17s %s\n", name+":", value)
		}
	}
	line("kind", string(e.Kind))
	line("path", e.Path)
	line("canonical path", e.CanonicalPath)
	action := e.Action
	if e.Code != "" {
		action += " (" + string(e.Code) + ")"
	}
	line("action", action)
	line("why", e.Why)
	line("rule", e.Rule)
	line("signer", e.Signer)
	line("method", e.Method)
	if e.Action != "verify" {
		return b.String()
	}
	line("identity", e.Identity)
	line("issuer", e.Issuer)
	line("trust", e.TrustSource)
	line("signature", e.SignaturePath)
	line("ignore paths", strings.Join(e.IgnorePaths, ", "))
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

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
