package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writePolicy writes doc (signers, models, loras; a nil section is left
// out) as dir/policy.json.
func writePolicy(t *testing.T, dir string, signers, models, loras map[string]any) string {
	t.Helper()
	sigs := map[string]any{"signers": signers}
	if models != nil {
		sigs["models"] = models
	}
	if loras != nil {
		sigs["loras"] = loras
	}
	b, err := json.MarshalIndent(map[string]any{"policy": map[string]any{"signatures": sigs}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, "policy.json"), b)
}

// keySigner is a policy's signers section with one signer, "k", that
// verifies with the public key file pub.
func keySigner(pub string) map[string]any {
	return map[string]any{"k": map[string]any{"verification_method": "key", "public_key": pub}}
}

// everyModelByKey writes a policy under which every model must verify
// with the public key file pub (and adapters are not governed).
func everyModelByKey(t *testing.T, pub string) string {
	t.Helper()
	return writePolicy(t, t.TempDir(), keySigner(pub), map[string]any{"regex:.*": map[string]any{"signer": "k"}}, nil)
}

// refSigners are signers for the reference material, one per method. The
// key is copied beside the policy and named relative to it (trust paths
// are relative to the policy's directory).
func refSigners(t *testing.T, policyDir string) map[string]any {
	t.Helper()
	pub, err := os.ReadFile(refPath(t, "keys/certificate/signing-key-pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(policyDir, "keys", "ibm.pub.pem"), pub)
	return map[string]any{
		"ibm-key": map[string]any{"verification_method": "key", "public_key": "keys/ibm.pub.pem"},
		"ibm-ca": map[string]any{"verification_method": "certificate",
			"certificate_chain": []string{refPath(t, "keys/certificate/ca-cert.pem")}},
		"ibm-sigstore": map[string]any{"verification_method": "sigstore", "identity": refIdentity,
			"identity_provider": refIssuer, "trust_config": trustPath(t, "public-good-trusted_root.json")},
		"ibm-client-config": map[string]any{"verification_method": "sigstore", "identity": refIdentity,
			"identity_provider": refIssuer, "trust_config": trustPath(t, "example-client-trust-config.json")},
		"no-signer": map[string]any{"verification_method": "skip"},
	}
}

// decision is what a --output json line must hold; reason is a substring.
type decision struct {
	kind, path, canonical, rule, signer, method, outcome, code, reason string
	extra                                                              map[string]any
}

func checkDecision(t *testing.T, rec map[string]any, want decision) {
	t.Helper()
	fields := map[string]any{
		"kind": want.kind, "path": want.path, "canonical_path": want.canonical, "rule": want.rule,
		"signer": want.signer, "method": want.method, "outcome": want.outcome,
	}
	for k, v := range want.extra {
		fields[k] = v
	}
	checkFields(t, rec, fields)
	if want.code == "" {
		if c, ok := rec["code"]; ok {
			t.Errorf("%s: allowed decision has code %v", want.path, c)
		}
	} else {
		checkFields(t, rec, map[string]any{"code": want.code})
	}
	if reason, _ := rec["reason"].(string); !strings.Contains(reason, want.reason) {
		t.Errorf("%s: reason %q lacks %q", want.path, reason, want.reason)
	}
	for _, k := range []string{"files", "bytes", "duration_ms"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("%s: decision lacks %q", want.path, k)
		}
	}
}

// TestPolicyVerifyPerMethod enforces one policy naming every method, with
// exact and regex keys and entry options, over the reference models.
func TestPolicyVerifyPerMethod(t *testing.T) {
	ref := refPath(t)
	dir := t.TempDir()
	m := func(name string) string { return filepath.Join(ref, name) }
	policyPath := writePolicy(t, dir, refSigners(t, dir),
		map[string]any{
			m("v1.1.0-elliptic-key") + "/":         map[string]any{"signer": "ibm-key"},
			`regex:.*/v1\.1\.0-certificate`:        map[string]any{"signer": "ibm-ca", "log_fingerprints": true},
			m("v1.0.1-sigstore"):                   map[string]any{"signer": "ibm-sigstore", "ignore_paths": []string{"ignore-me"}},
			`regex:/.+/v1\.1\.0-sig(store|nope)/?`: map[string]any{"signer": "ibm-client-config"},
			m("v0.2.0-certificate"):                map[string]any{"signer": "no-signer"},
		},
		map[string]any{
			m("v1.0.0-elliptic-key/signme-1"): map[string]any{"signer": "ibm-key", "signature": "model.sig"},
			`regex:.*/v0\.2\.0-cert[a-z]+`:    map[string]any{"signer": "ibm-ca"},
		})

	args := []string{"verify", "--security-policy", policyPath,
		"--model", m("v1.1.0-elliptic-key"),
		"--model", m("v1.1.0-certificate") + "/",
		"--model", m("v1.0.1-sigstore"),
		"--model", m("v1.1.0-sigstore"),
		"--model", m("v0.2.0-certificate"),
		"--lora", m("v1.0.0-elliptic-key/signme-1"),
		"--lora", m("v0.2.0-certificate"),
	}
	want := []decision{
		{"model", m("v1.1.0-elliptic-key"), m("v1.1.0-elliptic-key"), m("v1.1.0-elliptic-key") + "/", "ibm-key", "key", "verified", "",
			"exact rule", map[string]any{"files": 2, "bytes": 17}},
		{"model", m("v1.1.0-certificate") + "/", m("v1.1.0-certificate"), `regex:.*/v1\.1\.0-certificate`, "ibm-ca", "certificate", "verified", "",
			"regex rule #1", map[string]any{"files": 2, "bytes": 16, "fingerprints": []string{fpIntCA, fpLeaf}}},
		{"model", m("v1.0.1-sigstore"), m("v1.0.1-sigstore"), m("v1.0.1-sigstore"), "ibm-sigstore", "sigstore", "verified", "",
			"exact rule", map[string]any{"files": 2, "bytes": 16, "identity": refIdentity, "issuer": refIssuer}},
		{"model", m("v1.1.0-sigstore"), m("v1.1.0-sigstore"), `regex:/.+/v1\.1\.0-sig(store|nope)/?`, "ibm-client-config", "sigstore", "verified", "",
			"regex rule #2", map[string]any{"identity": refIdentity, "issuer": refIssuer}},
		{"model", m("v0.2.0-certificate"), m("v0.2.0-certificate"), m("v0.2.0-certificate"), "no-signer", "skip", "skipped", "",
			"skips verification on purpose", map[string]any{"files": 0}},
		{"lora", m("v1.0.0-elliptic-key/signme-1"), m("v1.0.0-elliptic-key/signme-1"), m("v1.0.0-elliptic-key/signme-1"), "ibm-key", "key", "verified", "",
			"exact rule", map[string]any{"files": 1, "bytes": 9}},
		{"lora", m("v0.2.0-certificate"), m("v0.2.0-certificate"), `regex:.*/v0\.2\.0-cert[a-z]+`, "ibm-ca", "certificate", "verified", "",
			"regex rule #1", map[string]any{"files": 2, "bytes": 16}},
	}

	r := runCLI(t, append(args, "--output", "json")...).want(t, exitOK)
	recs := jsonLines(t, r.stdout)
	if len(recs) != len(want) {
		t.Fatalf("%d decisions, want %d:\n%s", len(recs), len(want), r.stdout)
	}
	for i, w := range want {
		checkDecision(t, recs[i], w)
	}

	// Text: one line per artifact, in order, each with its outcome.
	r = runCLI(t, args...).want(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d text lines, want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, w := range want {
		prefix := fmt.Sprintf("%s %s %q: signer %q (%s), rule %q", w.outcome, w.kind, w.path, w.signer, w.method, w.rule)
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], prefix)
		}
	}

	// Underscore spelling of the policy flag.
	runCLI(t, "verify", "--security_policy", policyPath, "--model", m("v1.1.0-elliptic-key")).want(t, exitOK)
}

// TestPolicyVerifyDenials: every denial is exit 1 with a decision that
// says why; one denial among allowed artifacts is enough.
func TestPolicyVerifyDenials(t *testing.T) {
	dir := t.TempDir()
	hubCache := filepath.Join(t.TempDir(), "hub")
	t.Setenv("HF_HUB_CACHE", hubCache)
	changed := copyRef(t, "v1.1.0-elliptic-key")
	flipByte(t, filepath.Join(changed, "signme-1"), 2)
	extra := copyRef(t, "v1.1.0-certificate")
	writeFile(t, filepath.Join(extra, "extra.bin"), []byte("x"))
	missing := copyRef(t, "v1.1.0-elliptic-key")
	mustRemove(t, filepath.Join(missing, "signme-2"))
	noSig := copyRef(t, "v1.1.0-elliptic-key")
	mustRemove(t, filepath.Join(noSig, "model.sig"))
	wrongMethod := copyRef(t, "v1.1.0-certificate")
	good := copyRef(t, "v1.1.0-elliptic-key")
	unmatched := t.TempDir()
	gone := filepath.Join(t.TempDir(), "gone")

	policyPath := writePolicy(t, dir, refSigners(t, dir),
		map[string]any{
			changed:     map[string]any{"signer": "ibm-key"},
			extra:       map[string]any{"signer": "ibm-ca"},
			missing:     map[string]any{"signer": "ibm-key"},
			noSig:       map[string]any{"signer": "ibm-key"},
			wrongMethod: map[string]any{"signer": "ibm-key"},
			good:        map[string]any{"signer": "ibm-key"},
			gone:        map[string]any{"signer": "ibm-key"},
		}, nil)

	cases := []struct {
		name string
		kind string
		path string
		want decision
	}{
		{"changed-byte", "model", changed, decision{"model", changed, changed, changed, "ibm-key", "key", "denied", "verification-failed",
			`1 changed ("signme-1"`, nil}},
		{"extra-file", "model", extra, decision{"model", extra, extra, extra, "ibm-ca", "certificate", "denied", "verification-failed",
			`1 extra file ("extra.bin")`, nil}},
		{"missing-file", "model", missing, decision{"model", missing, missing, missing, "ibm-key", "key", "denied", "verification-failed",
			`1 missing ("signme-2")`, nil}},
		{"missing-signature", "model", noSig, decision{"model", noSig, noSig, noSig, "ibm-key", "key", "denied", "error",
			filepath.Join(noSig, "model.sig"), nil}},
		{"certificate-signature-key-signer", "model", wrongMethod, decision{"model", wrongMethod, wrongMethod, wrongMethod, "ibm-key", "key", "denied", "verification-failed",
			"signature was made with a certificate, not a bare key", nil}},
		{"not-found", "model", gone, decision{"model", gone, "", "", "", "", "denied", "not-found", "does not exist", nil}},
		{"hugging-face-id", "model", "ibm-granite/granite-3.0-8b-instruct", decision{"model", "ibm-granite/granite-3.0-8b-instruct", "", "", "", "", "denied", "not-found",
			"is not in the hub cache " + strconv.Quote(hubCache), nil}},
		{"no-rule", "model", unmatched, decision{"model", unmatched, unmatched, "", "", "", "denied", "no-rule", "", nil}},
		{"no-lora-section", "lora", unmatched, decision{"lora", unmatched, "", "", "", "", "not-required", "",
			`the policy has no "loras" section`, nil}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := exitDenied
			if c.want.outcome != "denied" {
				code = exitOK
			}
			r := runCLI(t, "verify", "--security-policy", policyPath, "--"+c.kind, c.path, "--output", "json").want(t, code)
			checkDecision(t, oneJSON(t, r.stdout), c.want)
			if code == exitDenied {
				r.stderrHas(t, "modelgate: 1 of 1 artifact denied")
				text := runCLI(t, "verify", "--security-policy", policyPath, "--"+c.kind, c.path).want(t, code)
				text.stdoutHas(t, fmt.Sprintf("denied %s %q (%s): ", c.kind, c.path, c.want.code), c.want.reason)
			}
		})
	}

	// One denial among allowed artifacts: exit 1, every decision printed.
	r := runCLI(t, "verify", "--security-policy", policyPath, "--model", good, "--model", changed, "--lora", good, "--output", "json").
		want(t, exitDenied).stderrHas(t, "modelgate: 1 of 3 artifacts denied")
	recs := jsonLines(t, r.stdout)
	var outcomes []string
	for _, rec := range recs {
		outcomes = append(outcomes, rec["outcome"].(string))
	}
	if want := []string{"verified", "denied", "not-required"}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %q, want %q", outcomes, want)
	}
}

// TestPolicyVerifyRelativePaths: artifact paths are relative to the CWD;
// trust paths relative to the policy file's directory, whatever the CWD.
func TestPolicyVerifyRelativePaths(t *testing.T) {
	ref := refPath(t)
	dir := t.TempDir()
	policyPath := writePolicy(t, dir, refSigners(t, dir),
		map[string]any{filepath.Join(ref, "v1.1.0-elliptic-key"): map[string]any{"signer": "ibm-key"}}, nil)
	t.Chdir(ref)
	rec := oneJSON(t, runCLI(t, "verify", "--security-policy", policyPath, "--model", "./v1.1.0-elliptic-key/", "--output", "json").want(t, exitOK).stdout)
	checkFields(t, rec, map[string]any{"path": "./v1.1.0-elliptic-key/", "canonical_path": filepath.Join(ref, "v1.1.0-elliptic-key"), "outcome": "verified"})
}

// TestPolicyVerifyBadInput: an unusable policy or invocation is exit 2,
// and nothing is decided.
func TestPolicyVerifyBadInput(t *testing.T) {
	dir := t.TempDir()
	model := refPath(t, "v1.1.0-elliptic-key")
	write := func(name, text string) string { return writeFile(t, filepath.Join(dir, name), []byte(text)) }
	syntax := write("syntax.json", `{"policy": {"signatures": {
  "signers": {"s": {"verification_method": "skip"},},
  "models": {}}}}
`)
	dup := write("dup.json", `{"policy": {"signatures": {
  "signers": {"s": {"verification_method": "skip"}},
  "models": {"/m": {"signer": "s"}, "/m": {"signer": "s"}}}}}
`)
	typo := write("typo.json", `{"policy": {"signatures": {
  "signers": {"s": {"verification_method": "skip"}},
  "models": {"/m": {"signer": "s", "ignore_pahts": []}}}}}
`)
	noKey := write("nokey.json", `{"policy": {"signatures": {
  "signers": {"k": {"verification_method": "key", "public_key": "keys/missing.pem"}},
  "models": {"/m": {"signer": "k"}}}}}
`)
	lookaround := write("lookaround.json", `{"policy": {"signatures": {
  "signers": {"s": {"verification_method": "skip"}},
  "models": {"regex:/m/(?!x)": {"signer": "s"}}}}}
`)
	cases := []struct {
		name string
		args []string
		msg  []string
	}{
		{"syntax", []string{"--security-policy", syntax, "--model", model},
			[]string{syntax + ":2:51: invalid JSON: trailing comma"}},
		{"duplicate-key", []string{"--security-policy", dup, "--model", model},
			[]string{dup + `:3:37: policy.signatures.models["/m"]: duplicate key "/m" (first at line 3, column 14)`}},
		{"unknown-key", []string{"--security-policy", typo, "--model", model},
			[]string{typo + `:3:36: policy.signatures.models["/m"].ignore_pahts: unknown key "ignore_pahts" (did you mean "ignore_paths"?)`}},
		{"missing-trust-file", []string{"--security-policy", noKey, "--model", model},
			[]string{noKey + `:2:65: policy.signatures.signers.k.public_key: signer "k": `, filepath.Join(dir, "keys", "missing.pem")}},
		{"python-regex", []string{"--security-policy", lookaround, "--model", model},
			[]string{lookaround + `:3:14: `, "look-around"}},
		{"missing-policy", []string{"--security-policy", filepath.Join(dir, "nope.json"), "--model", model},
			[]string{filepath.Join(dir, "nope.json"), "no such file or directory"}},
		{"nothing-to-verify", []string{"--security-policy", syntax},
			[]string{"nothing to verify: give --model PATH and/or --lora PATH"}},
		{"bad-output", []string{"--security-policy", syntax, "--model", model, "--output", "xml"},
			[]string{`--output "xml": want text or json`}},
		{"stray-argument", []string{"--security-policy", syntax, model},
			[]string{model}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"verify"}, c.args...)...).want(t, exitError).stderrHas(t, c.msg...)
			if r.stdout != "" {
				t.Errorf("decisions printed under an unusable policy:\n%s", r.stdout)
			}
			if strings.Contains(r.stderr, "outcome=") {
				t.Errorf("a decision was logged under an unusable policy:\n%s", r.stderr)
			}
		})
	}
	runCLI(t, "verify", "--security-policy", dup, "--model", model).
		stderrHas(t, "modelgate: invalid security policy (nothing was loaded):\n")
}

// TestPolicyLint: exit 0 clean (warnings allowed), 1 errors, 2 unreadable;
// text and JSON reports.
func TestPolicyLint(t *testing.T) {
	dir := t.TempDir()
	warn := writeFile(t, filepath.Join(dir, "warn.json"), []byte(`{"policy": {"signatures": {
  "signers": {"s": {"verification_method": "skip"}, "unused": {"verification_method": "skip"}},
  "models": {"regex:/srv/scratch/.*": {"signer": "s"}}}}}
`))
	bad := writeFile(t, filepath.Join(dir, "bad.json"), []byte(`{"policy": {"signatures": {
  "signers": {},
  "models": {"/x": {"signer": "nope"}, "relative/key": {"signer": "nope"}}}}}
`))

	r := runCLI(t, "policy", "lint", warn).want(t, exitOK).
		stdoutHas(t, "warning: "+warn+`:2:53: policy.signatures.signers.unused: signer "unused" is not used by any entry`)
	r.stdoutHas(t, strconv.Quote(warn)+": 0 errors, 1 warning\n")
	if strings.Contains(r.stdout, "error:") {
		t.Errorf("errors on a clean policy:\n%s", r.stdout)
	}
	rep := oneJSON(t, runCLI(t, "policy", "lint", "--output", "json", warn).want(t, exitOK).stdout)
	checkFields(t, rep, map[string]any{"file": warn, "errors": []any{}})
	if ws, _ := rep["warnings"].([]any); len(ws) != 1 {
		t.Errorf("warnings %v, want exactly the unused signer", rep["warnings"])
	} else {
		checkFields(t, ws[0].(map[string]any), map[string]any{"file": warn, "line": 2, "col": 53,
			"json_path": "policy.signatures.signers.unused", "message": `signer "unused" is not used by any entry`})
	}

	runCLI(t, "policy", "lint", bad).want(t, exitDenied).
		stdoutHas(t, "error: "+bad+`:3:31: policy.signatures.models["/x"].signer: undefined signer "nope"`, `"relative/key"`).
		stderrHas(t, "modelgate: "+strconv.Quote(bad)+": 3 errors")
	rep = oneJSON(t, runCLI(t, "policy", "lint", "--output", "json", bad).want(t, exitDenied).stdout)
	if es, _ := rep["errors"].([]any); len(es) != 3 {
		t.Errorf("errors %v, want 3", rep["errors"])
	}

	runCLI(t, "policy", "lint", filepath.Join(dir, "nope.json")).want(t, exitError).
		stderrHas(t, fmt.Sprintf("modelgate: read policy %q: no such file or directory", filepath.Join(dir, "nope.json")))
	runCLI(t, "policy", "lint", dir).want(t, exitError).stderrHas(t, "modelgate: ", "is a directory")
	runCLI(t, "policy", "lint").want(t, exitError).stderrHas(t, "expected one POLICY file, got 0 argument(s)")
	runCLI(t, "policy", "lint", "--output", "yaml", warn).want(t, exitError).stderrHas(t, `--output "yaml"`)
}

// TestPolicyExplain: which rule and signer apply and why, in text and
// JSON, without reading the model: it works on a model whose files (and
// signature) cannot be read, which verification then denies.
func TestPolicyExplain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hub"))
	ref := refPath(t)
	model := filepath.Join(t.TempDir(), "granite")
	if err := os.Mkdir(model, 0o755); err != nil {
		t.Fatal(err)
	}
	// Unreadable for anyone, root included: a symlink loop and a dangling
	// signature link.
	if err := os.Symlink("loop", filepath.Join(model, "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/model.sig", filepath.Join(model, "model.sig")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(model, "weights.bin"), []byte("w"))
	if err := os.Chmod(filepath.Join(model, "weights.bin"), 0); err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	policyPath := writePolicy(t, dir, refSigners(t, dir),
		map[string]any{
			`regex:.*/gran(ite)?`: map[string]any{"signer": "ibm-sigstore", "ignore_paths": []string{"README.md"}},
			scratch:               map[string]any{"signer": "no-signer"},
		}, nil)

	r := runCLI(t, "policy", "explain", policyPath, "--model", model).want(t, exitOK)
	// Values that came from outside (paths, keys, names) are quoted.
	for _, line := range []string{
		"kind:             model",
		"path:             " + strconv.Quote(model),
		"canonical path:   " + strconv.Quote(model),
		"action:           verify",
		`rule:             "regex:.*/gran(ite)?"`,
		`signer:           "ibm-sigstore"`,
		"method:           sigstore",
		"signature:        " + strconv.Quote(filepath.Join(model, "model.sig")),
	} {
		r.stdoutHas(t, line+"\n")
	}
	r.stdoutHas(t, refIdentity, refIssuer, "public-good-trusted_root.json")

	e := oneJSON(t, runCLI(t, "policy", "explain", "--output", "json", policyPath, "--model", model).want(t, exitOK).stdout)
	checkFields(t, e, map[string]any{
		"kind": "model", "path": model, "canonical_path": model, "action": "verify", "rule": `regex:.*/gran(ite)?`,
		"signer": "ibm-sigstore", "method": "sigstore", "identity": refIdentity, "issuer": refIssuer,
		"signature_path": filepath.Join(model, "model.sig"), "ignore_paths": []string{filepath.Join(model, "README.md")},
		"ignore_git_paths": true, "log_fingerprints": false, "use_staging": false,
	})
	if why, _ := e["why"].(string); !strings.Contains(why, "regex rule #1") {
		t.Errorf("why %q does not name the regex rule", why)
	}

	// Verification reads the files, and denies.
	runCLI(t, "verify", "--security-policy", policyPath, "--model", model).want(t, exitDenied).
		stdoutHas(t, fmt.Sprintf("denied model %q (error): ", model))

	cases := []struct {
		name string
		args []string
		want map[string]any
	}{
		{"skip", []string{"--model", scratch + "/"}, map[string]any{"action": "skip", "signer": "no-signer", "method": "skip", "rule": scratch}},
		{"ungoverned-kind", []string{"--lora", model}, map[string]any{"kind": "lora", "action": "allow"}},
		{"hugging-face-id", []string{"--model", "ibm-granite/granite-3.0-8b"}, map[string]any{"action": "deny", "code": "not-found", "hub_id": "ibm-granite/granite-3.0-8b"}},
		{"no-rule", []string{"--model", ref}, map[string]any{"action": "deny", "code": "no-rule", "canonical_path": ref}},
		{"not-found", []string{"--model", filepath.Join(ref, "nope")}, map[string]any{"action": "deny", "code": "not-found"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := oneJSON(t, runCLI(t, append([]string{"policy", "explain", policyPath, "--output", "json"}, c.args...)...).want(t, exitOK).stdout)
			checkFields(t, e, c.want)
		})
	}

	for name, args := range map[string][]string{
		"neither":     {"policy", "explain", policyPath},
		"both":        {"policy", "explain", policyPath, "--model", model, "--lora", model},
		"no-policy":   {"policy", "explain", "--model", model},
		"bad-policy":  {"policy", "explain", filepath.Join(dir, "keys", "ibm.pub.pem"), "--model", model},
		"bad-output":  {"policy", "explain", policyPath, "--model", model, "--output", "yaml"},
		"missing-pol": {"policy", "explain", filepath.Join(dir, "nope.json"), "--model", model},
	} {
		t.Run("usage/"+name, func(t *testing.T) {
			if r := runCLI(t, args...).want(t, exitError); r.stdout != "" {
				t.Errorf("explained despite bad usage:\n%s", r.stdout)
			}
		})
	}
}

// TestReadmeFirstCommand runs the README's first command from the
// repository root: both example artifacts verify.
func TestReadmeFirstCommand(t *testing.T) {
	t.Chdir("../..")
	args := []string{"verify", "--security-policy", "examples/policy.json", "--model", "examples/model", "--lora", "examples/adapter"}
	r := runCLI(t, args...).want(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 ||
		lines[0] != `verified model "examples/model": signer "example-key" (key), rule "regex:.*/examples/model", 3 files, 207 bytes` ||
		lines[1] != `verified lora "examples/adapter": signer "example-ca" (certificate), rule "regex:.*/examples/adapter", 2 files, 157 bytes` {
		t.Errorf("README command output:\n%s", r.stdout)
	}
	recs := jsonLines(t, runCLI(t, append(args, "--output", "json")...).want(t, exitOK).stdout)
	if len(recs) != 2 {
		t.Fatalf("%d decisions, want 2", len(recs))
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, recs[0], map[string]any{"kind": "model", "outcome": "verified", "canonical_path": filepath.Join(cwd, "examples", "model")})
	checkFields(t, recs[1], map[string]any{"kind": "lora", "outcome": "verified", "canonical_path": filepath.Join(cwd, "examples", "adapter")})
	fps, _ := recs[1]["fingerprints"].([]any)
	if len(fps) == 0 {
		t.Errorf("log_fingerprints on the adapter's rule gave no fingerprints: %v", recs[1])
	}
	for _, fp := range fps {
		if s, _ := fp.(string); !fingerprintRE.MatchString(s) {
			t.Errorf("fingerprint %v is not uppercase colon-separated SHA-256", fp)
		}
	}
}

// fingerprintRE is an uppercase colon-separated SHA-256.
var fingerprintRE = regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`)
