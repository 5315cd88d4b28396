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
	})
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
		for _, r := range append(append([]*rule(nil), sec.exact...), sec.regex...) {
			j, _ := json.Marshal([]any{r.key, r.index, r.signer.name, r.signature, r.ignorePaths, r.ignoreGitPaths, r.logFingerprints, r.useStaging})
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
