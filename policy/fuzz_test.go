package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/internal/testpki"
)

var fuzzSeeds = []string{
	`{"policy": {"signatures": {"signers": {}}}}`,
	`{"policy": {"signatures": {"signers": {"s": {"verification_method": "skip"}}, "models": {"/m/": {"signer": "s"}, "regex:.*": {"signer": "s"}}}}}`,
	`{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": "pub.pem"}},
	  "models": {"regex:/tmp/(baz1|baz2)(/)?": {"signer": "k", "ignore_paths": ["a", "/b"], "signature": "../s.sig", "ignore_git_paths": false}},
	  "loras": {"/adapters/sql/": {"signer": "k"}}}}}`,
	`{"policy": {"signatures": {"signers": {"c": {"verification_method": "certificate", "certificate_chain": ["ca.pem"], "log_fingerprints": true}},
	  "models": {"/a": {"signer": "c", "log_fingerprints": false}}}}}`,
	`{"policy": {"signatures": {"signers": {"g": {"verification_method": "sigstore", "identity": "a@b", "identity_provider": "https://x", "use_staging": true}},
	  "models": {"/a": {"signer": "g", "use_staging": false, "ignore_path": ["x"]}}}}}`,
	`{"policy": {"signatures": {"signers": {}, "models": {"/a": {"signer": "x"}, "/a/": {}, "regex:(?=x)": 1}}}}`,
	`{"a": [1, -0.5e+3, true, false, null, "\u00e9\ud83d\ude00\n"], "b": {"a": 1, "a": 2}}`,
	"{\n  \"policy\": {,}\n}",
	`{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": "pub.pem"}},
	  "models": {"/m": {"signer": "k", "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	    "regex:/n/.*": {"signer": "k", "digest": ["sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"]}}}}}`,
	`{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": "pub.pem"}, "s": {"verification_method": "skip"}},
	  "models": {"/a": {"signer": "k", "digest": []}, "/b": {"signer": "k", "digest": "SHA256:AB"}, "/c": {"signer": "s", "digest": "sha256:x"},
	    "/d": {"signer": "k", "digest": ["sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]}}}}}`,
	`{"policy": {"signatures": {"signers": {"s": {"verification_method": "skip"}}, "models": {"/m/./x/": {"signer": "s"}, "/m/x": {"signer": "s"}, "hf:org/name": {"signer": "s"}}}}}`,
	`{"policy": {"signatures": {"signers": {"s": {"verification_method": "skip"}, "k": {"verification_method": "key", "public_key": "pub.pem"}},
	  "models": {"hf:org/name@0123456789abcdef0123456789abcdef01234567": {"signer": "s"}, "hf:org/name": {"signer": "k", "ignore_paths": ["x"]}, "hf:gpt2": {"signer": "k"}},
	  "loras": {"hf:Org/Name": {"signer": "s"}, "hf:org/name@main": {"signer": "s"}, "hf:a/b/c": {"signer": "s"}, "hf:": {"signer": "s"}}}}}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

// fuzzBase makes a directory with the trust files the seeds name.
func fuzzBase(f *testing.F) string {
	d := tempDir(f)
	k := testpki.Key(f, nil)
	testpki.WritePublicKey(f, filepath.Join(d, "pub.pem"), &k.PublicKey)
	testpki.WriteCerts(f, filepath.Join(d, "ca.pem"), testpki.NewRoot(f, "root").Cert)
	return d
}

// FuzzParse: the loader never panics, reports positions inside the file,
// and a policy it accepts is accepted again, identically, after the JSON
// is re-indented; deciding under it never panics and never allows
// anything that was not verified or skipped on purpose.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	base := fuzzBase(f)
	hub := hftest.At(f, filepath.Join(base, "hub"))
	hub.Add("org/name", "main", map[string]string{"config.json": "{}"})
	hubRoot := hfcache.Root{Dir: hub.Root, Var: hfcache.EnvHubCache, Value: hub.Root}
	opts := Options{
		Logger:  quietOptions(nil).Logger,
		WorkDir: base,
		TrustRoot: func(context.Context, bool) (root.TrustedMaterial, error) {
			return nil, errors.New("offline")
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.json", data, base, opts)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			for _, pr := range le.Problems {
				if pr.Line < 1 || pr.Line > lines || pr.Col < 1 || pr.Message == "" {
					t.Fatalf("problem outside the file (%d lines): %+v", lines, pr)
				}
			}
			return
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "\t"); err != nil {
			t.Fatalf("accepted invalid JSON: %v", err)
		}
		p2, err := Parse("f.json", buf.Bytes(), base, opts)
		if err != nil {
			t.Fatalf("re-indented policy refused: %v", err)
		}
		if a, b := describePolicy(p), describePolicy(p2); a != b {
			t.Fatalf("re-indented policy differs:\n%s\n%s", a, b)
		}
		for _, k := range []Kind{Model, LoRA} {
			if sec := p.sections[k]; sec != nil {
				checkSection(t, sec)
			}
		}
		for _, path := range []string{base, base + "/pub.pem", "org/name", "/nonexistent", "rel"} {
			for _, kind := range []Kind{Model, LoRA} {
				d := p.Decide(context.Background(), kind, path)
				if d.Allowed() && d.Outcome != NotRequired && d.Outcome != Skipped {
					t.Fatalf("allowed %s %s: %s (%s)", kind, path, d.Outcome, d.Reason)
				}
				e := p.Explain(kind, path)
				if (e.Action == "deny") != (d.Outcome == Denied) && d.Code != CodeError && d.Code != CodeVerificationFailed {
					t.Fatalf("explain %s vs decide %s/%s for %s", e.Action, d.Outcome, d.Code, path)
				}
			}
		}
		for _, id := range []string{"org/name", "Org/Name", "gpt2", "org/absent"} {
			for _, kind := range []Kind{Model, LoRA} {
				d := p.DecideHub(context.Background(), kind, hubRoot, id, "")
				if d.Allowed() && d.Outcome != NotRequired && d.Outcome != Skipped {
					t.Fatalf("allowed hub %s %s: %s (%s)", kind, id, d.Outcome, d.Reason)
				}
				if e := p.ExplainHub(kind, hubRoot, id, ""); (e.Action == "deny") != (d.Outcome == Denied) && d.Code != CodeVerificationFailed && d.Code != CodePartialSnapshot && d.Code != CodeError {
					t.Fatalf("explain %s vs decide %s/%s for hub id %s", e.Action, d.Outcome, d.Code, id)
				}
			}
		}
	})
}

// checkSection checks the invariants of a loaded section: exact keys
// are clean absolute paths, unique, each findable by its key; pins are
// well-formed, unique, and never on a skip entry.
func checkSection(t *testing.T, sec *section) {
	t.Helper()
	if len(sec.byPath) != len(sec.exact) {
		t.Fatalf("%d exact rules, %d by path", len(sec.exact), len(sec.byPath))
	}
	for _, r := range sec.exact {
		if r.exact != filepath.Clean(r.exact) || !filepath.IsAbs(r.exact) || sec.byPath[r.exact] != r {
			t.Fatalf("exact rule %q stored as %q", r.key, r.exact)
		}
	}
	if len(sec.byHub) != len(sec.hub) {
		t.Fatalf("%d hub rules, %d by id", len(sec.hub), len(sec.byHub))
	}
	for _, r := range sec.hub {
		key := r.hubID
		if r.commit != "" {
			key += "@" + r.commit
		}
		if hfcache.ValidateRepoID(r.hubID) != nil || (r.commit != "" && !hfcache.IsCommit(r.commit)) || r.key != hubPrefix+key || sec.byHub[key] != r {
			t.Fatalf("hub rule %q stored as %q @ %q", r.key, r.hubID, r.commit)
		}
	}
	for _, r := range append(append(append([]*rule(nil), sec.exact...), sec.regex...), sec.hub...) {
		if len(r.digests) > 0 && r.signer.method == methodSkip {
			t.Fatalf("digest pin on skip entry %q", r.key)
		}
		seen := map[string]bool{}
		for _, d := range r.digests {
			if digestFormError(d) != "" || seen[d] {
				t.Fatalf("rule %q: bad or repeated pin %q", r.key, d)
			}
			seen[d] = true
		}
	}
}

// describePolicy renders what a policy decides with, for comparisons.
func describePolicy(p *Policy) string {
	var b strings.Builder
	for _, k := range []Kind{Model, LoRA} {
		sec := p.sections[k]
		if sec == nil {
			b.WriteString(string(k) + ": none\n")
			continue
		}
		for _, r := range append(append(append([]*rule(nil), sec.exact...), sec.regex...), sec.hub...) {
			j, _ := json.Marshal([]any{r.key, r.exact, r.hubID, r.commit, r.index, r.signer.name, r.signature, r.ignorePaths, r.ignoreGitPaths, r.logFingerprints, r.useStaging, r.digests})
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
