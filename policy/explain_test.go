package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/internal/testpki"
)

func TestExplain(t *testing.T) {
	d := tempDir(t)
	pub := writeECPublicKey(t, d, "pub.pem")
	ca := testpki.NewRoot(t, "root")
	testpki.WriteCerts(t, filepath.Join(d, "ca.pem"), ca.Cert)
	mkdir(t, d, "models", "granite")
	mkdir(t, d, "models", "baz1")
	mkdir(t, d, "models", "test")
	mkdir(t, d, "models", "other")
	mkdir(t, d, "models", "pinned")
	mkdir(t, d, "adapters", "sql")
	symlink(t, filepath.Join(d, "models", "granite"), filepath.Join(d, "current"))
	// The model must never be read: make every model file unreadable.
	writeFile(t, d, "models/granite/model.sig", []byte("not a signature"))

	signers := obj{
		{"sig", obj{{"verification_method", "sigstore"}, {"identity", "foo@bar.com"}, {"identity_provider", "https://baz.com/oauth2"}}},
		{"cert", obj{{"verification_method", "certificate"}, {"certificate_chain", []string{"ca.pem"}}, {"log_fingerprints", true}}},
		{"key", obj{{"verification_method", "key"}, {"public_key", pub}}},
		{"none", obj{{"verification_method", "skip"}}},
	}
	models := obj{
		{d + "/current/", obj{{"signer", "sig"}, {"use_staging", true}}},
		{d + "/models/pinned/", obj{{"signer", "key"}, {"digest", []string{"sha256:" + hexA, "sha256:" + hexB}}}},
		{"regex:" + reQuote(d) + "/models/(baz1|baz2)(/)?", obj{{"signer", "cert"}, {"ignore_paths", []string{"foo", "/abs/bar"}}}},
		{d + "/models/test/", obj{{"signer", "none"}}},
		{"regex:" + reQuote(d) + "/models/.*", obj{{"signer", "key"}, {"ignore_git_paths", false}, {"signature", "../sigs/x.sig"}}},
	}
	opts := quietOptions(nil)
	opts.TrustRoot = func(context.Context, bool) (root.TrustedMaterial, error) {
		t.Error("Explain fetched a trust root")
		return nil, os.ErrInvalid
	}
	p := mustParse(t, d, doc(signers, models, nil), opts)

	tests := []struct {
		name  string
		kind  Kind
		path  string
		check func(t *testing.T, e Explanation)
	}{
		{"exact key through a symlink does not apply", Model, d + "/models/granite", func(t *testing.T, e Explanation) {
			want := Explanation{Kind: Model, Path: d + "/models/granite", CanonicalPath: d + "/models/granite", Action: "verify",
				Rule: "regex:" + reQuote(d) + "/models/.*", Signer: "key", Method: "key",
				TrustSource: "public key " + strconv.Quote(pub), SignaturePath: d + "/models/sigs/x.sig",
				Notes: []string{fmt.Sprintf("exact key %q names a symlink to %q; exact keys are never resolved, so it does not apply", d+"/current/", d+"/models/granite")}}
			want.Why = e.Why
			if !equalJSON(e, want) {
				t.Errorf("got  %+v\nwant %+v", e, want)
			}
			if !containsAll(e.Why, "regex rule #2") {
				t.Errorf("why: %s", e.Why)
			}
		}},
		{"the symlink an exact key names", Model, d + "/current", func(t *testing.T, e Explanation) {
			if e.Rule != "regex:"+reQuote(d)+"/models/.*" || e.CanonicalPath != d+"/models/granite" || len(e.Notes) != 1 {
				t.Errorf("%+v", e)
			}
		}},
		{"exact rule with digest pins", Model, d + "/models/pinned/", func(t *testing.T, e Explanation) {
			if e.Rule != d+"/models/pinned/" || !containsAll(e.Why, "exact rule") || len(e.Notes) != 0 {
				t.Errorf("%+v", e)
			}
			if fmt.Sprint(e.Digests) != fmt.Sprint([]string{"sha256:" + hexA, "sha256:" + hexB}) {
				t.Errorf("digests %v", e.Digests)
			}
			if s := e.String(); !strings.Contains(s, "digest pin:       sha256:"+hexA+", sha256:"+hexB+"\n") {
				t.Errorf("String() does not print the pins:\n%s", s)
			}
			if b, _ := json.Marshal(e); !strings.Contains(string(b), `"digest":["sha256:`+hexA+`","sha256:`+hexB+`"]`) {
				t.Errorf("JSON %s", b)
			}
		}},
		{"regex with ignore paths", Model, d + "/models/baz1/", func(t *testing.T, e Explanation) {
			if e.Action != "verify" || e.Signer != "cert" || !e.LogFingerprints || e.UseStaging {
				t.Errorf("%+v", e)
			}
			if strings.Join(e.IgnorePaths, ",") != d+"/models/baz1/foo,/abs/bar" {
				t.Errorf("ignore paths %v", e.IgnorePaths)
			}
			if e.TrustSource != "certificate chain "+strconv.Quote(d+"/ca.pem") {
				t.Errorf("trust %q", e.TrustSource)
			}
			if !containsAll(e.Why, "regex rule #1", "matches "+strconv.Quote(d+"/models/baz1")) {
				t.Errorf("why: %s", e.Why)
			}
		}},
		{"second regex, signature relative to the model", Model, d + "/models/other", func(t *testing.T, e Explanation) {
			if e.Signer != "key" || e.SignaturePath != d+"/models/sigs/x.sig" || e.IgnoreGitPaths || e.GitPaths != nil {
				t.Errorf("%+v", e)
			}
			if e.TrustSource != "public key "+strconv.Quote(pub) || !strings.Contains(e.Why, "regex rule #2") {
				t.Errorf("trust %q why %q", e.TrustSource, e.Why)
			}
		}},
		{"skip", Model, d + "/models/test", func(t *testing.T, e Explanation) {
			if e.Action != "skip" || e.Method != "skip" || e.SignaturePath != "" || !strings.Contains(e.Why, "skips verification") {
				t.Errorf("%+v", e)
			}
		}},
		{"no rule", Model, d + "/adapters/sql", func(t *testing.T, e Explanation) {
			if e.Action != "deny" || e.Code != CodeNoRule || e.Rule != "" || !strings.Contains(e.Why, "no rule in policy.signatures.models") {
				t.Errorf("%+v", e)
			}
		}},
		{"section absent", LoRA, d + "/adapters/sql", func(t *testing.T, e Explanation) {
			if e.Action != "allow" || e.Code != "" || !strings.Contains(e.Why, `no "loras" section`) {
				t.Errorf("%+v", e)
			}
		}},
		{"missing", Model, d + "/nope", func(t *testing.T, e Explanation) {
			if e.Action != "deny" || e.Code != CodeNotFound {
				t.Errorf("%+v", e)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := p.Explain(tt.kind, tt.path)
			tt.check(t, e)
			s := e.String()
			if !containsAll(s, "kind:", "action:", "why:") {
				t.Errorf("String():\n%s", s)
			}
			if e.Action == "verify" && !containsAll(s, "signature:", "trust:", "ignore git paths:") {
				t.Errorf("String():\n%s", s)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
