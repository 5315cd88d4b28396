package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/internal/shareddata"
	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// copyDir copies the read-only reference model at src into a fresh
// writable temporary directory and returns the copy's path.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(tempDir(t), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

const (
	testIdentity = "stefanb@us.ibm.com"
	testIssuer   = "https://sigstore.verify.ibm.com/oauth2"
	leafFP       = "DA:36:62:B6"
	intFP        = "9B:BF:CF:17"
)

// TestDecideReferenceModels verifies models signed by the reference
// model_signing library through whole policies (spec/policy.md §4 step 7).
func TestDecideReferenceModels(t *testing.T) {
	keys := shareddata.Path(t, "model-signing", "keys", "certificate")
	vec := func(name string) string { return copyDir(t, shareddata.Path(t, "model-signing", name)) }
	trustRoot := shareddata.Path(t, "sigstore-trust", "public-good-trusted_root.json")
	otherKey := writeECPublicKey(t, tempDir(t), "other.pem")

	signers := obj{
		{"key", obj{{"verification_method", "key"}, {"public_key", filepath.Join(keys, "signing-key-pub.pem")}}},
		{"other-key", obj{{"verification_method", "key"}, {"public_key", otherKey}}},
		{"cert", obj{{"verification_method", "certificate"}, {"certificate_chain", []string{filepath.Join(keys, "ca-cert.pem")}}}},
		{"int-only", obj{{"verification_method", "certificate"}, {"certificate_chain", []string{filepath.Join(keys, "int-ca-cert.pem")}}}},
		{"ibm", obj{{"verification_method", "sigstore"}, {"identity", testIdentity}, {"identity_provider", testIssuer}, {"trust_config", trustRoot}}},
		{"not-ibm", obj{{"verification_method", "sigstore"}, {"identity", "someone@else.com"}, {"identity_provider", testIssuer}, {"trust_config", trustRoot}}},
	}

	type result struct {
		outcome Outcome
		code    Code
		reason  []string // substrings of the reason
	}
	verified := result{outcome: Verified}
	tests := []struct {
		name   string
		model  func() string // returns the path to decide
		entry  obj
		want   result
		fps    []string // fingerprint prefixes
		issuer bool
	}{
		{"key v1.1.0", func() string { return vec("v1.1.0-elliptic-key") }, obj{{"signer", "key"}}, verified, nil, false},
		{"key v1.0.0 single file", func() string { return filepath.Join(vec("v1.0.0-elliptic-key"), "signme-1") }, obj{{"signer", "key"}}, verified, nil, false},
		{"certificate v1.1.0 with fingerprints", func() string { return vec("v1.1.0-certificate") }, obj{{"signer", "cert"}, {"log_fingerprints", true}}, verified, []string{intFP, leafFP}, false},
		{"certificate v1.1.0 without fingerprints", func() string { return vec("v1.1.0-certificate") }, obj{{"signer", "cert"}}, verified, nil, false},
		{"certificate v0.2.0", func() string { return vec("v0.2.0-certificate") }, obj{{"signer", "cert"}}, verified, nil, false},
		{"sigstore v1.1.0", func() string { return vec("v1.1.0-sigstore") }, obj{{"signer", "ibm"}}, verified, nil, true},
		{"sigstore v1.0.1 with ignore_paths relative to the model", func() string { return vec("v1.0.1-sigstore") }, obj{{"signer", "ibm"}, {"ignore_paths", []string{"ignore-me"}}}, verified, nil, true},
		{"sigstore v1.0.1 without ignore_paths", func() string { return vec("v1.0.1-sigstore") }, obj{{"signer", "ibm"}},
			result{Denied, CodeVerificationFailed, []string{"ignore-me"}}, nil, false},
		{"signature outside the model", func() string {
			m := vec("v1.1.0-elliptic-key")
			if err := os.Rename(filepath.Join(m, "model.sig"), filepath.Join(filepath.Dir(m), "elsewhere.sig")); err != nil {
				t.Fatal(err)
			}
			return m
		}, obj{{"signer", "key"}, {"signature", "../elsewhere.sig"}}, verified, nil, false},
		{"tampered file", func() string {
			m := vec("v1.1.0-elliptic-key")
			writeFile(t, m, "signme-1", []byte("tampered"))
			return m
		}, obj{{"signer", "key"}}, result{Denied, CodeVerificationFailed, []string{"signme-1", "verification failed", `signer "key"`}}, nil, false},
		{"extra file", func() string {
			m := vec("v1.1.0-certificate")
			writeFile(t, m, "sneaky.bin", []byte("x"))
			return m
		}, obj{{"signer", "cert"}}, result{Denied, CodeVerificationFailed, []string{"sneaky.bin"}}, nil, false},
		{"missing file", func() string {
			m := vec("v1.1.0-certificate")
			if err := os.Remove(filepath.Join(m, "signme-2")); err != nil {
				t.Fatal(err)
			}
			return m
		}, obj{{"signer", "cert"}}, result{Denied, CodeVerificationFailed, []string{"signme-2"}}, nil, false},
		{"wrong key", func() string { return vec("v1.1.0-elliptic-key") }, obj{{"signer", "other-key"}}, result{Denied, CodeVerificationFailed, nil}, nil, false},
		{"intermediate is not a root", func() string { return vec("v1.1.0-certificate") }, obj{{"signer", "int-only"}}, result{Denied, CodeVerificationFailed, nil}, nil, false},
		{"wrong sigstore identity", func() string { return vec("v1.1.0-sigstore") }, obj{{"signer", "not-ibm"}}, result{Denied, CodeVerificationFailed, []string{"someone@else.com"}}, nil, false},
		{"method mismatch: key signer on a certificate signature", func() string { return vec("v1.1.0-certificate") }, obj{{"signer", "key"}}, result{Denied, CodeVerificationFailed, nil}, nil, false},
		{"missing signature", func() string {
			m := vec("v1.1.0-elliptic-key")
			if err := os.Remove(filepath.Join(m, "model.sig")); err != nil {
				t.Fatal(err)
			}
			return m
		}, obj{{"signer", "key"}}, result{Denied, CodeError, []string{"model.sig"}}, nil, false},
		{"malformed signature", func() string {
			m := vec("v1.1.0-elliptic-key")
			writeFile(t, m, "model.sig", []byte(`{"mediaType": 1`))
			return m
		}, obj{{"signer", "key"}}, result{Denied, CodeError, []string{"model.sig"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.model()
			var logs bytes.Buffer
			p := mustParse(t, "/", doc(signers, obj{{path, tt.entry}}, nil), quietOptions(&logs))
			got := decide(t, p, Model, path)
			t.Logf("%s/%s: %s", got.Outcome, got.Code, got.Reason)
			if got.Outcome != tt.want.outcome || got.Code != tt.want.code {
				t.Fatalf("got %s/%s, want %s/%s: %s", got.Outcome, got.Code, tt.want.outcome, tt.want.code, got.Reason)
			}
			if !containsAll(got.Reason, tt.want.reason...) {
				t.Errorf("reason %q lacks %q", got.Reason, tt.want.reason)
			}
			if got.Rule != path || got.Signer != tt.entry[0].v {
				t.Errorf("rule %q signer %q", got.Rule, got.Signer)
			}
			if got.Outcome == Verified && (got.Files < 1 || got.Bytes < 1) {
				t.Errorf("verified but files=%d bytes=%d", got.Files, got.Bytes)
			}
			if len(got.Fingerprints) != len(tt.fps) {
				t.Fatalf("fingerprints %v, want prefixes %v", got.Fingerprints, tt.fps)
			}
			for i, fp := range tt.fps {
				if !strings.HasPrefix(got.Fingerprints[i], fp) {
					t.Errorf("fingerprint %d = %s, want %s...", i, got.Fingerprints[i], fp)
				}
			}
			if tt.issuer && (got.Identity != testIdentity || got.Issuer != testIssuer) {
				t.Errorf("identity %q issuer %q", got.Identity, got.Issuer)
			}
			var rec map[string]any
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["outcome"] != string(got.Outcome) || rec["msg"] != "model "+string(got.Outcome) {
				t.Errorf("last log record %v", rec)
			}
			if (rec["fingerprints"] != nil) != (len(tt.fps) > 0) || (rec["identity"] != nil) != tt.issuer {
				t.Errorf("log record fingerprints %v identity %v", rec["fingerprints"], rec["identity"])
			}
		})
	}
}

// TestDecideSignedHere signs fresh models with fresh keys (no reference
// material needed) and checks the entry options end to end.
func TestDecideSignedHere(t *testing.T) {
	d := tempDir(t)
	key := testpki.Key(t, nil)
	etc := mkdir(t, d, "etc")
	testpki.WritePublicKey(t, filepath.Join(etc, "pub.pem"), &key.PublicKey)
	signer, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(model string, opts modelsig.SignOptions) {
		t.Helper()
		if _, err := modelsig.Sign(bg, model, signer, opts); err != nil {
			t.Fatalf("sign %s: %v", model, err)
		}
	}
	models := mkdir(t, d, "models")
	mkdir(t, d, "sigs")
	// a: signed with a signature kept outside the model.
	a := mkdir(t, models, "a")
	writeFile(t, a, "weights.bin", []byte("weights"))
	sign(a, modelsig.SignOptions{SignaturePath: filepath.Join(d, "sigs", "a.sig"), IgnoreGitPaths: true})
	// b: signed, then a log file appears that the entry ignores.
	b := mkdir(t, models, "b")
	writeFile(t, b, "weights.bin", []byte("weights b"))
	sign(b, modelsig.SignOptions{IgnoreGitPaths: true})
	writeFile(t, b, "logs/run.txt", []byte("later"))
	// c: signed without git paths ignored; a .gitignore was signed.
	c := mkdir(t, models, "c")
	writeFile(t, c, "weights.bin", []byte("weights c"))
	writeFile(t, c, ".gitignore", []byte("*.tmp"))
	sign(c, modelsig.SignOptions{IgnoreGitPaths: false})
	// gguf: a single-file model with its signature beside it.
	gguf := writeFile(t, models, "tiny.gguf", []byte("GGUF"))
	sign(gguf, modelsig.SignOptions{SignaturePath: filepath.Join(models, "tiny.gguf.sig")})

	policy := doc(obj{{"k", obj{{"verification_method", "key"}, {"public_key", "etc/pub.pem"}}}}, obj{
		{a + "/", obj{{"signer", "k"}, {"signature", "../../sigs/a.sig"}}},
		{b + "/", obj{{"signer", "k"}, {"ignore_paths", []string{"logs"}}}},
		{c + "/", obj{{"signer", "k"}, {"ignore_git_paths", false}}},
		{gguf, obj{{"signer", "k"}, {"signature", "tiny.gguf.sig"}}},
		{"regex:" + reQuote(models) + "/other-.*", obj{{"signer", "k"}, {"signature", filepath.Join(d, "sigs", "a.sig")}}},
	}, nil)
	p, err := Load(writeFile(t, d, "policy.json", mustJSON(t, policy)), quietOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{a, b, c, gguf} {
		if got := decide(t, p, Model, path); got.Outcome != Verified {
			t.Errorf("%s: %s/%s %s", path, got.Outcome, got.Code, got.Reason)
		}
	}
	// A copy of a elsewhere verifies against the same absolute signature
	// through the regex rule; a changed copy does not.
	other := mkdir(t, models, "other-a")
	writeFile(t, other, "weights.bin", []byte("weights"))
	if got := decide(t, p, Model, other); got.Outcome != Verified || !strings.HasPrefix(got.Rule, "regex:") {
		t.Errorf("other-a: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
	writeFile(t, other, "weights.bin", []byte("WEIGHTS"))
	if got := decide(t, p, Model, other); got.Code != CodeVerificationFailed || !strings.Contains(got.Reason, "weights.bin") {
		t.Errorf("changed other-a: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
	// A .git directory appearing in c is an extra file: c's entry does
	// not ignore git paths.
	writeFile(t, c, ".git/HEAD", []byte("ref"))
	if got := decide(t, p, Model, c); got.Code != CodeVerificationFailed || !strings.Contains(got.Reason, ".git") {
		t.Errorf("c with .git: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
	// A LoRA is not governed by this policy.
	if got := decide(t, p, LoRA, c); got.Outcome != NotRequired {
		t.Errorf("lora: %s", got.Outcome)
	}
}

// TestDecideSigstoreFetchedRoot: a sigstore signer without trust_config
// uses the root from Options.TrustRoot, fetched once on first use and
// cached; use_staging asks for the staging root.
func TestDecideSigstoreFetchedRoot(t *testing.T) {
	model := copyDir(t, shareddata.Path(t, "model-signing", "v1.1.0-sigstore"))
	tm, err := modelsig.LoadTrustConfig(shareddata.Path(t, "sigstore-trust", "public-good-trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	var calls []bool
	opts := quietOptions(nil)
	opts.TrustRoot = func(_ context.Context, staging bool) (root.TrustedMaterial, error) {
		calls = append(calls, staging)
		if staging {
			return nil, errors.New("staging unavailable")
		}
		return tm, nil
	}
	signers := obj{{"ibm", obj{{"verification_method", "sigstore"}, {"identity", testIdentity}, {"identity_provider", testIssuer}}}}
	staging := mkdir(t, tempDir(t), "staging-model")
	p := mustParse(t, "/", doc(signers, obj{{model, obj{{"signer", "ibm"}}}, {staging, obj{{"signer", "ibm"}, {"use_staging", true}}}}, nil), opts)
	for i := 0; i < 2; i++ {
		if got := decide(t, p, Model, model); got.Outcome != Verified || got.Identity != testIdentity {
			t.Fatalf("%s/%s: %s", got.Outcome, got.Code, got.Reason)
		}
	}
	if got := decide(t, p, Model, staging); got.Code != CodeError || !strings.Contains(got.Reason, "staging") {
		t.Fatalf("staging: %s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
	if fmt.Sprint(calls) != "[false true]" {
		t.Errorf("trust root requests %v, want one production (cached) then one staging", calls)
	}
	if e := p.Explain(Model, staging); e.TrustSource != "Sigstore staging trusted root (TUF, fetched on first use)" || !e.UseStaging {
		t.Errorf("explain: %+v", e)
	}
}

// TestDecidePanicDenies: a panic anywhere in deciding denies instead of
// crashing the server.
func TestDecidePanicDenies(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	opts := quietOptions(nil)
	opts.TrustRoot = func(context.Context, bool) (root.TrustedMaterial, error) { panic("boom") }
	signers := obj{{"g", obj{{"verification_method", "sigstore"}, {"identity", "a"}, {"identity_provider", "b"}}}}
	p := mustParse(t, d, doc(signers, obj{{d + "/m", obj{{"signer", "g"}}}}, nil), opts)
	got := p.Decide(bg, Model, d+"/m")
	if got.Allowed() || got.Code != CodeError || !strings.Contains(got.Reason, "boom") {
		t.Fatalf("%s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
}

type panicVerifier struct{}

func (panicVerifier) Method() modelsig.Method { return modelsig.MethodKey }
func (panicVerifier) VerifySignature(*modelsig.Bundle) (*modelsig.Signed, error) {
	panic("verifier bug")
}

// TestDecideVerifierPanicDenies: a panic inside verification denies.
func TestDecideVerifierPanicDenies(t *testing.T) {
	d := tempDir(t)
	key := testpki.Key(t, nil)
	pub := filepath.Join(d, "pub.pem")
	testpki.WritePublicKey(t, pub, &key.PublicKey)
	m := mkdir(t, d, "m")
	writeFile(t, m, "w.bin", []byte("w"))
	s, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := modelsig.Sign(bg, m, s, modelsig.SignOptions{IgnoreGitPaths: true}); err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, d, doc(obj{{"k", obj{{"verification_method", "key"}, {"public_key", pub}}}}, obj{{m, obj{{"signer", "k"}}}}, nil), quietOptions(nil))
	if got := decide(t, p, Model, m); got.Outcome != Verified {
		t.Fatalf("before: %s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
	p.signers["k"].verifier = panicVerifier{}
	got := decide(t, p, Model, m)
	if got.Allowed() || got.Code != CodeError || !strings.Contains(got.Reason, "verifier bug") {
		t.Fatalf("%s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
}

// statementSubjects returns the predicate type and the subjects (names and
// sha256 hex digests) the signed statement of the bundle at sigPath
// records, in payload order, read with encoding/json independently of
// modelsig.
func statementSubjects(t *testing.T, sigPath string) (predicateType string, names, digests []string) {
	t.Helper()
	raw, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		DSSEEnvelope struct {
			Payload []byte `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(b.DSSEEnvelope.Payload, &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Subject {
		names = append(names, s.Name)
		digests = append(digests, s.Digest["sha256"])
	}
	return st.PredicateType, names, digests
}

// expectedSubjectDigest is the subject digest of the signature at
// sigPath: the one it records (v1.x, one subject), or for a v0.2
// signature (one subject per file) SHA-256 over the files' digests in
// name order.
func expectedSubjectDigest(t *testing.T, sigPath string) string {
	t.Helper()
	pt, names, digests := statementSubjects(t, sigPath)
	if pt == modelsig.PredicateSignatureV1 {
		if len(digests) != 1 {
			t.Fatalf("%s: %d subjects", sigPath, len(digests))
		}
		return "sha256:" + digests[0]
	}
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
	h := sha256.New()
	for _, i := range idx {
		raw, err := hex.DecodeString(digests[i])
		if err != nil {
			t.Fatal(err)
		}
		h.Write(raw)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// TestSubjectDigestReference: the subject digest a decision carries is the
// one the reference library's signed statement records (v1.0, v1.1, a
// single file), and for a v0.2 signature the digest over its files in
// name order; a pin on it verifies.
func TestSubjectDigestReference(t *testing.T) {
	keys := shareddata.Path(t, "model-signing", "keys", "certificate")
	trustRoot := shareddata.Path(t, "sigstore-trust", "public-good-trusted_root.json")
	signers := obj{
		{"key", obj{{"verification_method", "key"}, {"public_key", filepath.Join(keys, "signing-key-pub.pem")}}},
		{"cert", obj{{"verification_method", "certificate"}, {"certificate_chain", []string{filepath.Join(keys, "ca-cert.pem")}}}},
		{"ibm", obj{{"verification_method", "sigstore"}, {"identity", testIdentity}, {"identity_provider", testIssuer}, {"trust_config", trustRoot}}},
	}
	for _, c := range []struct {
		vector, file, signer string
		ignore               []string
	}{
		{"v1.1.0-elliptic-key", "", "key", nil},
		{"v1.0.0-elliptic-key", "signme-1", "key", nil},
		{"v1.1.0-certificate", "", "cert", nil},
		{"v0.2.0-certificate", "", "cert", nil},
		{"v1.1.0-sigstore", "", "ibm", nil},
		{"v1.0.1-sigstore", "", "ibm", []string{"ignore-me"}},
	} {
		t.Run(c.vector, func(t *testing.T) {
			dir := copyDir(t, shareddata.Path(t, "model-signing", c.vector))
			model := dir
			if c.file != "" {
				model = filepath.Join(dir, c.file)
			}
			want := expectedSubjectDigest(t, filepath.Join(dir, "model.sig"))
			entry := obj{{"signer", c.signer}}
			if c.ignore != nil {
				entry = append(entry, kv{"ignore_paths", c.ignore})
			}
			for _, pin := range []any{want, []string{"sha256:" + hexA, want}} {
				p := mustParse(t, "/", doc(signers, obj{{model, append(entry, kv{"digest", pin})}}, nil), quietOptions(nil))
				got := decide(t, p, Model, model)
				if got.Outcome != Verified || got.SubjectDigest != want {
					t.Fatalf("pin %v: %s/%s subject digest %q, want verified with %q: %s", pin, got.Outcome, got.Code, got.SubjectDigest, want, got.Reason)
				}
			}
			p := mustParse(t, "/", doc(signers, obj{{model, append(entry, kv{"digest", "sha256:" + hexA})}}, nil), quietOptions(nil))
			got := decide(t, p, Model, model)
			if got.Code != CodeVerificationFailed || got.SubjectDigest != want ||
				!strings.Contains(got.Reason, fmt.Sprintf("the model's subject digest %s is not the pinned digest sha256:%s", want, hexA)) {
				t.Fatalf("wrong pin: %s/%s %q: %s", got.Outcome, got.Code, got.SubjectDigest, got.Reason)
			}
		})
	}
}

// TestDigestPins (issue 10 item 3): a signer's signature is not enough
// when the entry pins digests; another model (or version) the same signer
// signed is refused, naming both digests; the decision and its log record
// carry the subject digest whenever the signature verified.
func TestDigestPins(t *testing.T) {
	d := tempDir(t)
	_, k, s := keySigner(t, d)
	models := mkdir(t, d, "models")
	digests := map[string]string{}
	for _, name := range []string{"v1", "v2", "other"} {
		m := mkdir(t, models, name)
		writeFile(t, m, "weights.bin", []byte("weights of "+name))
		writeFile(t, m, "config.json", []byte("{}"))
		sign(t, s, m, modelsig.SignOptions{IgnoreGitPaths: true})
		digests[name] = expectedSubjectDigest(t, filepath.Join(m, "model.sig"))
	}
	gguf := writeFile(t, models, "tiny.gguf", []byte("GGUF"))
	sign(t, s, gguf, modelsig.SignOptions{SignaturePath: gguf + ".sig"})
	ggufDigest := expectedSubjectDigest(t, gguf+".sig")
	signers := obj{{"k", k}}
	v1, v2, other := models+"/v1", models+"/v2", models+"/other"

	tests := []struct {
		name   string
		pin    any // nil: no pin
		model  string
		code   Code
		reason string
	}{
		{"no pin: any model of the signer", nil, other, "", "verified with signer"},
		{"pinned, matching", digests["v1"], v1, "", "subject digest " + digests["v1"] + " is pinned"},
		{"pinned, another model of the same signer", digests["v1"], other, CodeVerificationFailed,
			fmt.Sprintf("verified with signer \"k\" (key), but the model's subject digest %s is not the pinned digest %s", digests["other"], digests["v1"])},
		{"list, second matches", []string{digests["v1"], digests["v2"]}, v2, "", "is pinned"},
		{"list, none matches", []string{digests["v1"], digests["v2"]}, other, CodeVerificationFailed,
			fmt.Sprintf("the model's subject digest %s is none of the 2 pinned digests (%s, %s)", digests["other"], digests["v1"], digests["v2"])},
		{"single-file model", ggufDigest, gguf, "", "is pinned"},
		{"single-file model, wrong pin", digests["v1"], gguf, CodeVerificationFailed, "is not the pinned digest " + digests["v1"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry := obj{{"signer", "k"}}
			if tt.model == gguf {
				entry = append(entry, kv{"signature", "tiny.gguf.sig"})
			}
			if tt.pin != nil {
				entry = append(entry, kv{"digest", tt.pin})
			}
			var logs bytes.Buffer
			p := mustParse(t, d, doc(signers, obj{{"regex:" + reQuote(models) + "/.*", entry}}, nil), quietOptions(&logs))
			got := decide(t, p, Model, tt.model)
			if got.Code != tt.code || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("%s/%s: %s\nwant code %q and %q", got.Outcome, got.Code, got.Reason, tt.code, tt.reason)
			}
			want := digests[filepath.Base(tt.model)]
			if tt.model == gguf {
				want = ggufDigest
			}
			if got.SubjectDigest != want || got.Files < 1 {
				t.Errorf("subject digest %q files %d, want %q", got.SubjectDigest, got.Files, want)
			}
			var rec map[string]any
			if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["subject_digest"] != want {
				t.Errorf("log record subject_digest %v, want %s", rec["subject_digest"], want)
			}
		})
	}

	// A pin never makes a failed verification pass, and a decision whose
	// signature did not verify carries no subject digest.
	writeFile(t, v1, "weights.bin", []byte("tampered"))
	p := mustParse(t, d, doc(signers, obj{{v1, obj{{"signer", "k"}, {"digest", digests["v1"]}}}}, nil), quietOptions(nil))
	if got := decide(t, p, Model, v1); got.Code != CodeVerificationFailed || got.SubjectDigest != "" || strings.Contains(got.Reason, "pinned") {
		t.Errorf("tampered: %s/%s %q: %s", got.Outcome, got.Code, got.SubjectDigest, got.Reason)
	}
}

// TestSubjectDigestSignerOrder: model_signing lists resources by path
// components ("d/x" before "d-1/x"), modelgate's manifest by whole
// strings ("d-1/x" first). The subject digest a decision carries, and
// that pins are compared with, is the one the signed statement records,
// whatever order the signer used.
func TestSubjectDigestSignerOrder(t *testing.T) {
	d := tempDir(t)
	_, k, s := keySigner(t, d)
	model := mkdir(t, d, "model")
	files := []string{"d/x", "d-1/x"} // model_signing's order
	m := &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}}
	var sums [][]byte
	for i, f := range files {
		content := []byte(fmt.Sprintf("file %d", i))
		writeFile(t, model, f, content)
		sum := sha256.Sum256(content)
		sums = append(sums, sum[:])
		m.Resources = append(m.Resources, manifest.Resource{Path: f, Digest: sum[:]})
	}
	recorded := fmt.Sprintf("sha256:%x", sha256.Sum256(bytes.Join([][]byte{sums[0], sums[1]}, nil)))
	stringOrder := fmt.Sprintf("sha256:%x", sha256.Sum256(bytes.Join([][]byte{sums[1], sums[0]}, nil)))
	payload, err := modelsig.BuildStatement(m, "model")
	if err != nil {
		t.Fatal(err)
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(modelsig.PayloadTypeInToto), modelsig.PayloadTypeInToto, len(payload), payload)
	sig, err := s.SignPAE([]byte(pae))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"publicKey": map[string]any{"hint": modelsig.PublicKeyHint(s.Public())}, "tlogEntries": []any{}},
		"dsseEnvelope": map[string]any{"payload": payload, "payloadType": modelsig.PayloadTypeInToto,
			"signatures": []any{map[string]any{"sig": sig, "keyid": ""}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, model, "model.sig", bundle)
	signers := obj{{"k", k}}
	for _, pin := range []string{"", recorded, stringOrder} {
		entry := obj{{"signer", "k"}}
		if pin != "" {
			entry = append(entry, kv{"digest", pin})
		}
		p := mustParse(t, d, doc(signers, obj{{model, entry}}, nil), quietOptions(nil))
		got := decide(t, p, Model, model)
		if got.SubjectDigest != recorded {
			t.Errorf("pin %q: subject digest %s, want the recorded %s (%s/%s: %s)", pin, got.SubjectDigest, recorded, got.Outcome, got.Code, got.Reason)
		}
		if wantOK := pin != stringOrder; got.Allowed() != wantOK {
			t.Errorf("pin %q: %s/%s: %s", pin, got.Outcome, got.Code, got.Reason)
		}
	}
}
