package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/modelgate/modelgate/internal/sigstoretest"
	"github.com/modelgate/modelgate/internal/testpki"
)

// TestEmptyPathIsUsageError: an empty MODEL_PATH, --model, --lora or
// POLICY (a variable that was not set) is exit 2, never the current
// directory. The current directory here is a signed model that would
// verify, so reading "" as "." would show.
func TestEmptyPathIsUsageError(t *testing.T) {
	model, priv, pub := signedModel(t)
	policyPath := writePolicy(t, t.TempDir(),
		keySigner(pub),
		map[string]any{"regex:.*": map[string]any{"signer": "k"}}, map[string]any{"regex:.*": map[string]any{"signer": "k"}})
	t.Chdir(model)
	runCLI(t, "verify", "key", "--public-key", pub, ".").want(t, exitOK) // the trap is armed

	const emptyArg = `argument 1 is an empty path (write "." for the current directory)`
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"verify-key", []string{"verify", "key", "--public-key", pub, ""}, emptyArg},
		{"verify-certificate", []string{"verify", "certificate", "--certificate-chain", pub, ""}, emptyArg},
		{"verify-sigstore", []string{"verify", "sigstore", "--identity", "x", "--identity-provider", "y", ""}, emptyArg},
		{"sign-key", []string{"sign", "key", "--private-key", priv, ""}, emptyArg},
		{"sign-certificate", []string{"sign", "certificate", "--private-key", priv, "--signing-certificate", pub, ""}, emptyArg},
		{"digest", []string{"digest", ""}, emptyArg},
		{"policy-model", []string{"verify", "--security-policy", policyPath, "--model", ""}, "--model: empty path"},
		{"policy-lora", []string{"verify", "--security-policy", policyPath, "--lora", ""}, "--lora: empty path"},
		{"policy-model-among-others", []string{"verify", "--security-policy", policyPath, "--model", model, "--model", ""}, "--model: empty path"},
		{"explain-model", []string{"policy", "explain", policyPath, "--model", ""}, "--model: empty path"},
		{"explain-lora", []string{"policy", "explain", policyPath, "--lora="}, "--lora: empty path"},
		{"explain-policy", []string{"policy", "explain", "", "--model", model}, emptyArg},
		{"lint", []string{"policy", "lint", ""}, emptyArg},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.args...).want(t, exitError).stderrHas(t, "modelgate: "+c.msg+"\n")
			if r.stdout != "" {
				t.Errorf("output for an empty path:\n%s", r.stdout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(model, "model.sig")); err != nil {
		t.Errorf("the signature in the current directory: %v", err)
	}
}

// TestExplainNeedsExactlyOneArtifact: explain answers for one artifact;
// a second --model or --lora is refused rather than silently dropped.
func TestExplainNeedsExactlyOneArtifact(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	policyPath := writePolicy(t, dir, map[string]any{"s": map[string]any{"verification_method": "skip"}},
		map[string]any{a: map[string]any{"signer": "s"}}, nil)
	for name, args := range map[string][]string{
		"two-models":     {"--model", a, "--model", b},
		"model-and-lora": {"--model", a, "--lora", b},
		"two-loras":      {"--lora", a, "--lora", b},
		"none":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			want := "explain needs exactly one --model PATH or --lora PATH, got " + strconv.Itoa(len(args)/2)
			r := runCLI(t, append([]string{"policy", "explain", policyPath}, args...)...).want(t, exitError).stderrHas(t, want)
			if r.stdout != "" {
				t.Errorf("explained despite bad usage:\n%s", r.stdout)
			}
		})
	}
	runCLI(t, "policy", "explain", policyPath, "--model", a).want(t, exitOK).stdoutHas(t, "action:           deny")
	runCLI(t, "policy", "explain", policyPath, "--lora", a).want(t, exitOK).stdoutHas(t, "action:           allow")
}

// TestMissingModelExitCodes: a model that does not exist goes against the
// caller in verify (exit 1, code not-found), in both modes and every
// method, and is "could not do its job" (exit 2) in sign and digest.
func TestMissingModelExitCodes(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyPair(t, dir)
	root := testpki.NewRoot(t, "root")
	leaf := root.Leaf(t, "signer")
	ca, leafPath, leafKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf-key.pem")
	testpki.WriteCerts(t, ca, root.Cert)
	testpki.WriteCerts(t, leafPath, leaf.Cert)
	testpki.WriteKey(t, leafKey, leaf.Key, testpki.PKCS8, nil)
	trust := sigstoretest.New(t).WriteTrustedRoot(t, dir)
	gone := filepath.Join(dir, "gone")
	policyPath := everyModelByKey(t, pub)

	for name, args := range map[string][]string{
		"verify-key":         {"verify", "key", "--public-key", pub},
		"verify-certificate": {"verify", "certificate", "--certificate-chain", ca},
		"verify-sigstore":    {"verify", "sigstore", "--identity", "a@example.com", "--identity-provider", "https://issuer.example", "--trust-config", trust},
	} {
		t.Run(name, func(t *testing.T) {
			runCLI(t, append(args, gone)...).want(t, exitDenied).
				stderrHas(t, "modelgate: verification failed: model "+strconv.Quote(gone)+" does not exist\n")
			rec := oneJSON(t, runCLI(t, append(args, "--output", "json", gone)...).want(t, exitDenied).stdout)
			checkFields(t, rec, map[string]any{"path": gone, "canonical_path": "", "outcome": "denied", "code": "not-found"})
		})
	}
	t.Run("verify-policy", func(t *testing.T) {
		rec := oneJSON(t, runCLI(t, "verify", "--security-policy", policyPath, "--model", gone, "--output", "json").want(t, exitDenied).stdout)
		checkFields(t, rec, map[string]any{"outcome": "denied", "code": "not-found"})
	})
	t.Run("explain", func(t *testing.T) {
		rec := oneJSON(t, runCLI(t, "policy", "explain", policyPath, "--model", gone, "--output", "json").want(t, exitOK).stdout)
		checkFields(t, rec, map[string]any{"action": "deny", "code": "not-found"})
	})
	for name, args := range map[string][]string{
		"sign-key":         {"sign", "key", "--private-key", priv, gone},
		"sign-certificate": {"sign", "certificate", "--private-key", leafKey, "--signing-certificate", leafPath, gone},
		"digest":           {"digest", gone},
	} {
		t.Run(name, func(t *testing.T) {
			runCLI(t, args...).want(t, exitError).stderrHas(t, "modelgate: model "+strconv.Quote(gone)+" does not exist\n")
		})
	}
}

// TestJSONCarriesSignature: in method mode the JSON record names the
// signature file whether verification succeeded or not, default or given.
func TestJSONCarriesSignature(t *testing.T) {
	model, _, pub := signedModel(t)
	unsigned := smallModel(t)
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "adapter.gguf"), []byte("GGUF"))
	elsewhere := filepath.Join(t.TempDir(), "elsewhere.sig")
	t.Chdir(filepath.Dir(elsewhere))
	cases := []struct {
		name      string
		args      []string
		code      int
		signature string
	}{
		{"verified-default", []string{model}, exitOK, filepath.Join(model, "model.sig")},
		{"no-signature-default", []string{unsigned}, exitDenied, filepath.Join(unsigned, "model.sig")},
		{"single-file-default", []string{file}, exitDenied, filepath.Join(dir, "model.sig")},
		{"relative-flag", []string{"--signature", "elsewhere.sig", model}, exitDenied, elsewhere},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"verify", "key", "--public-key", pub, "--output", "json"}, c.args...)
			checkFields(t, oneJSON(t, runCLI(t, args...).want(t, c.code).stdout), map[string]any{"signature": c.signature})
		})
	}
}

// TestJSONCarriesSubjectDigest: in method mode, as in policy mode, a
// verified model's JSON record carries its subject digest (the one a
// policy's digest pin compares, and sign and digest print) for every
// method; a record that did not verify carries "".
func TestJSONCarriesSubjectDigest(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyPair(t, dir)
	keyModel := smallModel(t)
	sign(t, keyModel, filepath.Join(keyModel, "model.sig"), "sign", "key", "--private-key", priv)

	root := testpki.NewRoot(t, "test-root")
	leaf := root.Leaf(t, "test-signer")
	leafKey, leafCert, rootCert := filepath.Join(dir, "leaf-key.pem"), filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "root.pem")
	testpki.WriteKey(t, leafKey, leaf.Key, testpki.PKCS8, nil)
	testpki.WriteCerts(t, leafCert, leaf.Cert)
	testpki.WriteCerts(t, rootCert, root.Cert)
	certModel := smallModel(t)
	sign(t, certModel, filepath.Join(certModel, "model.sig"), "sign", "certificate", "--private-key", leafKey, "--signing-certificate", leafCert)

	in := sigstoretest.New(t)
	sigModel := smallModel(t)
	in.SignModel(t, sigModel, sigstoretest.Email("a@example.com", "https://issuer.example"))
	trust := in.WriteTrustedRoot(t, dir)

	for _, c := range []struct {
		name  string
		args  []string
		model string
	}{
		{"key", []string{"verify", "key", "--public-key", pub}, keyModel},
		{"certificate", []string{"verify", "certificate", "--certificate-chain", rootCert}, certModel},
		{"sigstore", []string{"verify", "sigstore", "--identity", "a@example.com", "--identity-provider", "https://issuer.example", "--trust-config", trust}, sigModel},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(slices.Clone(c.args), "--output", "json", c.model)
			want := "sha256:" + subjectDigest(t, filepath.Join(c.model, "model.sig"))
			checkFields(t, oneJSON(t, runCLI(t, args...).want(t, exitOK).stdout),
				map[string]any{"outcome": "verified", "subject_digest": want})
			// Another signer's model: denied, and no digest vouched for.
			other := keyModel
			if c.model == keyModel {
				other = certModel
			}
			args[len(args)-1] = other
			checkFields(t, oneJSON(t, runCLI(t, args...).want(t, exitDenied).stdout),
				map[string]any{"outcome": "denied", "subject_digest": ""})
		})
	}

	// The same digest as policy mode's record for the same model.
	rec := oneJSON(t, runCLI(t, "verify", "--security-policy", everyModelByKey(t, pub), "--model", keyModel, "--output", "json").want(t, exitOK).stdout)
	checkFields(t, rec, map[string]any{"subject_digest": "sha256:" + subjectDigest(t, filepath.Join(keyModel, "model.sig"))})
}
