package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/sigstoretest"
)

// TestVerifyReferenceParity verifies every reference model with the
// arguments the model_signing CLI uses for it (format spec §9), run from
// the reference folder as its tests are, plus the variants modelgate adds:
// absolute and model-relative ignore paths, no ignore path where the
// signature records it, underscore spellings, --output json.
func TestVerifyReferenceParity(t *testing.T) {
	// shareddata finds the material from the CWD: resolve it all first.
	ref := refPath(t)
	publicGood := trustPath(t, "public-good-trusted_root.json")
	clientTrust := trustPath(t, "example-client-trust-config.json")
	t.Chdir(ref)
	const keyPub = "keys/certificate/signing-key-pub.pem"
	const caCert = "keys/certificate/ca-cert.pem"

	key := func(extra ...string) []string {
		return append([]string{"verify", "key", "--public-key", keyPub}, extra...)
	}
	cert := func(extra ...string) []string {
		return append([]string{"verify", "certificate", "--certificate-chain", caCert}, extra...)
	}
	sig := func(trust string, extra ...string) []string {
		return append([]string{"verify", "sigstore", "--identity", refIdentity, "--identity-provider", refIssuer, "--trust-config", trust}, extra...)
	}
	// ignoreVariants gives dir's ignore-me relative to the CWD (as the
	// reference CLI takes it), absolute, and relative to the model.
	ignoreVariants := func(dir string) map[string][]string {
		return map[string][]string{
			"cwd-relative":   {"--ignore-paths", dir + "/ignore-me"},
			"absolute":       {"--ignore-paths", filepath.Join(ref, dir, "ignore-me")},
			"model-relative": {"--ignore-paths", "ignore-me"},
		}
	}

	type tc struct {
		name, model string
		args        []string
		method      string
		files       int
		bytes       int
		signature   string // relative to ref
		record      map[string]any
	}
	var cases []tc
	cases = append(cases,
		tc{name: "v0.2.0-certificate", model: "v0.2.0-certificate/", args: cert("--signature", "v0.2.0-certificate/model.sig"),
			method: "certificate", files: 2, bytes: 16, signature: "v0.2.0-certificate/model.sig",
			record: map[string]any{"fingerprints": []string{fpIntCA, fpLeaf}}},
		tc{name: "v1.0.0-elliptic-key/file", model: "v1.0.0-elliptic-key/signme-1", args: key("--signature", "v1.0.0-elliptic-key/model.sig"),
			method: "key", files: 1, bytes: 9, signature: "v1.0.0-elliptic-key/model.sig",
			// v1.0.0 key bundles carry no hint: verified with a warning.
			record: map[string]any{"warnings": []string{"the bundle has no public key hint (older model_signing format); verified with the given key"}}},
		tc{name: "v1.0.0-elliptic-key/default-signature", model: "v1.0.0-elliptic-key/signme-1", args: key(),
			method: "key", files: 1, bytes: 9, signature: "v1.0.0-elliptic-key/model.sig"},
	)
	type refModel struct {
		dir    string
		args   func(...string) []string
		method string
		bytes  int
		record map[string]any
	}
	refs := []refModel{
		{"v1.1.0-certificate", cert, "certificate", 16, map[string]any{"fingerprints": []string{fpIntCA, fpLeaf}}},
		{"v1.1.0-elliptic-key", key, "key", 17, nil},
		{"v1.0.1-sigstore", func(e ...string) []string { return sig(publicGood, e...) }, "sigstore", 16,
			map[string]any{"identity": refIdentity, "issuer": refIssuer}},
		{"v1.1.0-sigstore", func(e ...string) []string { return sig(publicGood, e...) }, "sigstore", 16,
			map[string]any{"identity": refIdentity, "issuer": refIssuer}},
	}
	for _, r := range refs {
		for variant, ign := range ignoreVariants(r.dir) {
			cases = append(cases, tc{name: r.dir + "/" + variant, model: r.dir,
				args:   r.args(append(ign, "--signature", r.dir+"/model.sig")...),
				method: r.method, files: 2, bytes: r.bytes, signature: r.dir + "/model.sig", record: r.record})
		}
		if strings.HasPrefix(r.dir, "v1.1.0") {
			// ignore-me is recorded in the signature: no flag needed.
			cases = append(cases, tc{name: r.dir + "/no-ignore-flag", model: r.dir, args: r.args(),
				method: r.method, files: 2, bytes: r.bytes, signature: r.dir + "/model.sig", record: r.record})
		}
	}
	for _, dir := range []string{"v1.0.1-sigstore", "v1.1.0-sigstore"} {
		// The ClientTrustConfig holds the production root too. Its TSA is
		// not the one that stamped v1.1.0-sigstore, so that timestamp does
		// not count (the log's time does) and a warning says so.
		rec := map[string]any{"identity": refIdentity, "issuer": refIssuer}
		if dir == "v1.1.0-sigstore" {
			rec["warnings"] = []string{"1 of 1 RFC 3161 timestamps in the bundle did not verify against the trusted root's timestamp authorities; the transparency log time was used"}
		}
		cases = append(cases, tc{name: dir + "/client-trust-config", model: dir,
			args:   sig(clientTrust, "--ignore-paths", dir+"/ignore-me"),
			method: "sigstore", files: 2, bytes: 16, signature: dir + "/model.sig", record: rec})
	}
	// model_signing's underscore spellings.
	cases = append(cases,
		tc{name: "underscores/key", model: "v1.1.0-elliptic-key",
			args:   []string{"verify", "key", "--public_key", keyPub, "--ignore_paths", "v1.1.0-elliptic-key/ignore-me", "--ignore_git_paths=true"},
			method: "key", files: 2, bytes: 17, signature: "v1.1.0-elliptic-key/model.sig"},
		tc{name: "underscores/certificate", model: "v1.1.0-certificate",
			args:   []string{"verify", "certificate", "--certificate_chain", caCert, "--ignore_paths", "v1.1.0-certificate/ignore-me", "--log_fingerprints"},
			method: "certificate", files: 2, bytes: 16, signature: "v1.1.0-certificate/model.sig"},
		tc{name: "underscores/sigstore", model: "v1.0.1-sigstore",
			args: []string{"verify", "sigstore", "--identity", refIdentity, "--identity_provider", refIssuer,
				"--trust_config", publicGood, "--ignore_paths", "v1.0.1-sigstore/ignore-me"},
			method: "sigstore", files: 2, bytes: 16, signature: "v1.0.1-sigstore/model.sig"},
	)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(slices.Clone(c.args), c.model)
			runCLI(t, args...).want(t, exitOK).stdoutHas(t,
				fmt.Sprintf("Verification succeeded: %q (%s, %d file", c.model, c.method, c.files),
				fmt.Sprintf(", %d bytes)", c.bytes))

			r := runCLI(t, append(args, "--output", "json")...).want(t, exitOK)
			rec := oneJSON(t, r.stdout)
			want := map[string]any{
				"kind": "model", "path": c.model, "canonical_path": filepath.Join(ref, c.model),
				"rule": "", "signer": "", // no policy: the same record shape as a decision
				"method": c.method, "outcome": "verified",
				"reason": "signature and every file match", "files": c.files, "bytes": c.bytes,
				"signature": filepath.Join(ref, c.signature),
			}
			for k, v := range c.record {
				want[k] = v
			}
			checkFields(t, rec, want)
			if _, ok := rec["duration_ms"]; !ok {
				t.Errorf("record lacks duration_ms: %v", rec)
			}
			if _, ok := rec["code"]; ok {
				t.Errorf("verified record has a code: %v", rec)
			}
		})
	}
}

// TestVerifyInModelDir runs from inside the model with model "." and
// --signature model.sig, the reference tests' in-dir variant.
func TestVerifyInModelDir(t *testing.T) {
	keyPub := refPath(t, "keys/certificate/signing-key-pub.pem")
	t.Chdir(refPath(t, "v1.1.0-elliptic-key"))
	runCLI(t, "verify", "key", "--public-key", keyPub, "--signature", "model.sig", "--ignore-paths", "ignore-me", ".").
		want(t, exitOK).stdoutHas(t, `Verification succeeded: "." (key, 2 files, 17 bytes)`)
}

// TestVerifyUnrecordedIgnoreRequired: v1.0.1 signatures do not record
// ignore-me, so without --ignore-paths it is an extra file, as in
// model_signing; and an ignore path taken relative to the CWD that lies
// outside the model does not ignore anything inside it.
func TestVerifyUnrecordedIgnoreRequired(t *testing.T) {
	ref := refPath(t)
	base := []string{"verify", "sigstore", "--identity", refIdentity, "--identity-provider", refIssuer,
		"--trust-config", trustPath(t, "public-good-trusted_root.json")}
	t.Chdir(ref)
	for name, extra := range map[string][]string{
		"no-flag":        nil,
		"other-file":     {"--ignore-paths", "v1.0.1-sigstore/signme-9"},
		"wrong-dir":      {"--ignore-paths", "v1.1.0-sigstore/ignore-me"},
		"prefix-no-glob": {"--ignore-paths", "v1.0.1-sigstore/ignore"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append(append(slices.Clone(base), extra...), "v1.0.1-sigstore")
			runCLI(t, args...).want(t, exitDenied).
				stderrHas(t, "modelgate: verification failed: ", "1 extra file (\"ignore-me\")")
			rec := oneJSON(t, runCLI(t, append(args, "--output", "json")...).want(t, exitDenied).stdout)
			checkFields(t, rec, map[string]any{"outcome": "denied", "code": "verification-failed", "method": "sigstore"})
			if !strings.Contains(rec["reason"].(string), `"ignore-me"`) {
				t.Errorf("reason does not name ignore-me: %v", rec["reason"])
			}
		})
	}
}

// TestVerifyFailsClosed tampers with copies of the reference models and
// gives wrong trust material: every case exits 1 and says what is wrong.
func TestVerifyFailsClosed(t *testing.T) {
	keyPub := refPath(t, "keys/certificate/signing-key-pub.pem")
	caCert := refPath(t, "keys/certificate/ca-cert.pem")
	intCA := refPath(t, "keys/certificate/int-ca-cert.pem")
	leafCert := refPath(t, "keys/certificate/signing-key-cert.pem")
	publicGood := trustPath(t, "public-good-trusted_root.json")
	staging := trustPath(t, "staging-trusted_root.json")
	otherKey := filepath.Join(t.TempDir(), "other.pub.pem")
	writeOtherKey(t, otherKey)
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	writeOtherCA(t, otherCA)

	keyArgs := func(model string, extra ...string) []string {
		return append(append([]string{"verify", "key", "--public-key", keyPub}, extra...), model)
	}
	certArgs := func(model string, extra ...string) []string {
		return append(append([]string{"verify", "certificate", "--certificate-chain", caCert}, extra...), model)
	}
	sigArgs := func(model, identity, issuer, trust string) []string {
		return []string{"verify", "sigstore", "--identity", identity, "--identity-provider", issuer, "--trust-config", trust, model}
	}

	cases := []struct {
		name string
		// setup returns the arguments; it may tamper with a copy.
		setup func(t *testing.T) []string
		msg   []string // substrings of stderr
		code  string   // the JSON record's code
	}{
		{"changed-byte", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			flipByte(t, filepath.Join(m, "signme-2"), 3)
			return keyArgs(m)
		}, []string{`1 changed ("signme-2": expected sha256:32dcb1f8`, ", got sha256:"}, "verification-failed"},
		{"added-file", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			writeFile(t, filepath.Join(m, "sub", "added.bin"), []byte("x"))
			return keyArgs(m)
		}, []string{`1 extra file ("sub/added.bin")`}, "verification-failed"},
		{"removed-file", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			mustRemove(t, filepath.Join(m, "signme-1"))
			return keyArgs(m)
		}, []string{`1 missing ("signme-1")`}, "verification-failed"},
		{"renamed-file", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-certificate")
			if err := os.Rename(filepath.Join(m, "signme-2"), filepath.Join(m, "signme-3")); err != nil {
				t.Fatal(err)
			}
			return certArgs(m)
		}, []string{`1 extra file ("signme-3")`, `1 missing ("signme-2")`}, "verification-failed"},
		{"single-file-changed", func(t *testing.T) []string {
			m := copyRef(t, "v1.0.0-elliptic-key")
			flipByte(t, filepath.Join(m, "signme-1"), 0)
			return keyArgs(filepath.Join(m, "signme-1"))
		}, []string{`1 changed (".": expected sha256:bc9a717d`}, "verification-failed"},
		{"wrong-key", func(*testing.T) []string {
			return []string{"verify", "key", "--public-key", otherKey, refPath(t, "v1.1.0-elliptic-key")}
		}, []string{"the public key does not match", `"e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"`}, "verification-failed"},
		{"wrong-key-no-hint", func(*testing.T) []string {
			return []string{"verify", "key", "--public-key", otherKey, refPath(t, "v1.0.0-elliptic-key", "signme-1")}
		}, []string{"signature does not verify with the given public key"}, "verification-failed"},
		{"wrong-ca", func(*testing.T) []string {
			return []string{"verify", "certificate", "--certificate-chain", otherCA, refPath(t, "v1.1.0-certificate")}
		}, []string{"does not lead to a trusted self-signed root", fpLeaf}, "verification-failed"},
		{"intermediate-only", func(*testing.T) []string {
			return []string{"verify", "certificate", "--certificate-chain", intCA, refPath(t, "v1.1.0-certificate")}
		}, []string{"none of the 1 trusted certificates is self-signed"}, "verification-failed"},
		{"leaf-as-trust", func(*testing.T) []string {
			return []string{"verify", "certificate", "--certificate-chain", leafCert, refPath(t, "v1.1.0-certificate")}
		}, []string{"does not lead to a trusted self-signed root"}, "verification-failed"},
		{"wrong-identity", func(*testing.T) []string {
			return sigArgs(refPath(t, "v1.1.0-sigstore"), "stefanb@us.ibm.co", refIssuer, publicGood)
		}, []string{`certificate identity "stefanb@us.ibm.co" not found; the certificate has "stefanb@us.ibm.com"`}, "verification-failed"},
		{"identity-prefix", func(*testing.T) []string {
			return sigArgs(refPath(t, "v1.1.0-sigstore"), "stefanb", refIssuer, publicGood)
		}, []string{`certificate identity "stefanb" not found`}, "verification-failed"},
		{"wrong-issuer", func(*testing.T) []string {
			return sigArgs(refPath(t, "v1.1.0-sigstore"), refIdentity, "https://sigstore.verify.ibm.com/oauth", publicGood)
		}, []string{`certificate issuer is "https://sigstore.verify.ibm.com/oauth2", expected "https://sigstore.verify.ibm.com/oauth"`}, "verification-failed"},
		{"staging-root", func(*testing.T) []string {
			return sigArgs(refPath(t, "v1.1.0-sigstore"), refIdentity, refIssuer, staging)
		}, []string{"no verified transparency log entry"}, "verification-failed"},
		{"key-bundle-as-certificate", func(*testing.T) []string {
			return certArgs(refPath(t, "v1.1.0-elliptic-key"))
		}, []string{"signature was made with a bare key, not a certificate; use the key method"}, "verification-failed"},
		{"certificate-bundle-as-key", func(*testing.T) []string {
			return keyArgs(refPath(t, "v1.1.0-certificate"))
		}, []string{"signature was made with a certificate, not a bare key; use the certificate method"}, "verification-failed"},
		{"sigstore-bundle-as-key", func(*testing.T) []string {
			return keyArgs(refPath(t, "v1.1.0-sigstore"))
		}, []string{`model.sig": `}, "verification-failed"},
		{"truncated-signature", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			sigPath := filepath.Join(m, "model.sig")
			b, err := os.ReadFile(sigPath)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, sigPath, b[:len(b)/2])
			return keyArgs(m)
		}, []string{`model.sig":1:`, ": not valid JSON: truncated"}, "error"},
		{"garbage-signature", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			writeFile(t, filepath.Join(m, "model.sig"), []byte("\x00\xffnot a bundle"))
			return keyArgs(m)
		}, []string{filepath.Join("v1.1.0-elliptic-key", "model.sig") + `":1:1: not valid JSON`, "(not a model signature?)"}, "error"},
		{"garbled-signature-bytes", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			garbleJSONField(t, filepath.Join(m, "model.sig"), "sig")
			return keyArgs(m)
		}, []string{"signature does not verify with the given public key"}, "verification-failed"},
		{"garbled-payload", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-certificate")
			garbleJSONField(t, filepath.Join(m, "model.sig"), "payload")
			return certArgs(m)
		}, []string{`model.sig": `}, "verification-failed"},
		{"symlink-not-allowed", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			if err := os.Symlink("signme-2", filepath.Join(m, "link")); err != nil {
				t.Fatal(err)
			}
			return keyArgs(m)
		}, []string{`link" is a symlink; symlinks are not allowed (use --allow-symlinks)`}, "error"},
		{"symlink-allowed-still-extra", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			if err := os.Symlink("signme-2", filepath.Join(m, "link")); err != nil {
				t.Fatal(err)
			}
			return keyArgs(m, "--allow-symlinks")
		}, []string{`1 extra file ("link")`}, "verification-failed"},
		{"missing-signature", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			mustRemove(t, filepath.Join(m, "model.sig"))
			return keyArgs(m)
		}, []string{"no signature at ", filepath.Join("v1.1.0-elliptic-key", "model.sig") + `" (name the signature file with --signature)`}, "error"},
		{"missing-signature-flag", func(*testing.T) []string {
			return keyArgs(refPath(t, "v1.1.0-elliptic-key"), "--signature", filepath.Join(t.TempDir(), "nope.sig"))
		}, []string{`nope.sig" (name the signature file with --signature)`}, "error"},
		{"missing-model", func(*testing.T) []string {
			return keyArgs(filepath.Join(t.TempDir(), "nothing-here"))
		}, []string{`nothing-here" does not exist`}, "not-found"},
		{"ignore-unsigned-missing-file", func(t *testing.T) []string {
			m := copyRef(t, "v1.1.0-elliptic-key")
			mustRemove(t, filepath.Join(m, "signme-2"))
			return keyArgs(m, "--ignore-unsigned-files")
		}, []string{`"signme-2"`}, "verification-failed"},
		{"no-ignore-git-paths", func(t *testing.T) []string {
			// .git is recorded in the signature: the verifier can never
			// un-ignore it, but a .gitmodules is not a git path.
			m := copyRef(t, "v1.1.0-elliptic-key")
			writeFile(t, filepath.Join(m, ".git", "HEAD"), []byte("ref"))
			writeFile(t, filepath.Join(m, ".gitmodules"), []byte("x"))
			return keyArgs(m, "--no-ignore-git-paths")
		}, []string{`1 extra file (".gitmodules")`}, "verification-failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.setup(t)
			r := runCLI(t, args...).want(t, exitDenied).stderrHas(t, append([]string{"modelgate: verification failed: "}, c.msg...)...)
			if r.stdout != "" {
				t.Errorf("text output on failure: %q", r.stdout)
			}
			if n := strings.Count("\n"+r.stderr, "\nmodelgate:"); n != 1 {
				t.Errorf("more than one error sentence:\n%s", r.stderr)
			}
			rec := oneJSON(t, runCLI(t, append(args, "--output", "json")...).want(t, exitDenied).stdout)
			checkFields(t, rec, map[string]any{"outcome": "denied", "code": c.code, "files": 0})
			if reason, _ := rec["reason"].(string); !strings.Contains(r.stderr, reason) {
				t.Errorf("JSON reason %q is not the error on stderr:\n%s", reason, r.stderr)
			}
		})
	}
}

// TestVerifyUsageErrors: the command cannot do its job: exit 2, one
// sentence on stderr naming what is wrong, nothing on stdout.
func TestVerifyUsageErrors(t *testing.T) {
	model := refPath(t, "v1.1.0-elliptic-key")
	keyPub := refPath(t, "keys/certificate/signing-key-pub.pem")
	caCert := refPath(t, "keys/certificate/ca-cert.pem")
	dir := t.TempDir()
	rsaPub := filepath.Join(dir, "rsa.pub.pem")
	writeRSAKey(t, rsaPub)
	garbage := writeFile(t, filepath.Join(dir, "garbage.pem"), []byte("not a key\n"))
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name string
		args []string
		msg  []string
	}{
		{"missing-public-key-file", []string{"verify", "key", "--public-key", missing, model}, []string{missing, "no such file or directory"}},
		{"rsa-public-key", []string{"verify", "key", "--public-key", rsaPub, model}, []string{"public key " + strconv.Quote(rsaPub) + ": only elliptic-curve keys on P-256, P-384 or P-521 are supported (got RSA)"}},
		{"garbage-public-key", []string{"verify", "key", "--public-key", garbage, model}, []string{"public key " + strconv.Quote(garbage) + ": no PEM PUBLIC KEY block found"}},
		{"certificate-as-public-key", []string{"verify", "key", "--public-key", caCert, model}, []string{strconv.Quote(caCert) + ": no PEM PUBLIC KEY block found (found CERTIFICATE)"}},
		{"public-key-as-chain", []string{"verify", "certificate", "--certificate-chain", keyPub, model}, []string{keyPub}},
		{"missing-chain-file", []string{"verify", "certificate", "--certificate-chain", missing, model}, []string{missing}},
		{"public-key-flag-absent", []string{"verify", "key", model}, []string{`required flag(s) "public-key" not set`}},
		{"certificate-chain-absent", []string{"verify", "certificate", model}, []string{"--certificate-chain is required: modelgate never falls back to system roots"}},
		{"identity-absent", []string{"verify", "sigstore", "--identity-provider", refIssuer, model}, []string{`required flag(s) "identity" not set`}},
		{"missing-trust-config", []string{"verify", "sigstore", "--identity", refIdentity, "--identity-provider", refIssuer, "--trust-config", missing, model}, []string{missing}},
		{"unknown-flag", []string{"verify", "key", "--public-key", keyPub, "--bogus", model}, []string{"unknown flag: --bogus"}},
		{"missing-model-path", []string{"verify", "key", "--public-key", keyPub}, []string{"expected one MODEL_PATH, got 0 argument(s)"}},
		{"two-model-paths", []string{"verify", "key", "--public-key", keyPub, model, model}, []string{"expected one MODEL_PATH, got 2 argument(s)"}},
		{"bad-output", []string{"verify", "key", "--public-key", keyPub, "--output", "yaml", model}, []string{`--output "yaml": want text or json`}},
		{"empty-ignore-path", []string{"verify", "key", "--public-key", keyPub, "--ignore-paths", "", model}, []string{"--ignore-paths: empty path"}},
		{"bad-log-level", []string{"--log-level", "loud", "verify", "key", "--public-key", keyPub, model}, []string{`--log-level "loud"`}},
		{"bad-log-format", []string{"--log-format", "xml", "verify", "key", "--public-key", keyPub, model}, []string{`--log-format "xml": want text or json`}},
		{"verify-without-policy", []string{"verify", "--model", model}, []string{"verify needs --security-policy POLICY, or a method subcommand"}},
		{"unknown-method", []string{"verify", "pkcs11", model}, []string{"pkcs11"}},
		{"unknown-command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"bad-hash", []string{"digest", "--hash", "md5", model}, []string{`--hash: unknown hash "md5"`}},
		{"negative-shard-size", []string{"digest", "--shard-size", "-1", model}, []string{"--shard-size -1: must be positive"}},
		{"sign-no-method", []string{"sign"}, []string{"sign needs a method subcommand: key or certificate"}},
		{"sign-unknown-method", []string{"sign", "sigstore", model}, []string{`unknown command "sigstore" for "modelgate sign"`}},
		{"policy-no-subcommand", []string{"policy"}, []string{"policy needs a subcommand: lint or explain"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.args...).want(t, exitError).stderrHas(t, append([]string{"modelgate: "}, c.msg...)...)
			if r.stdout != "" {
				t.Errorf("stdout on a usage error: %q", r.stdout)
			}
			if strings.Contains(r.stderr, "Usage:") {
				t.Errorf("usage dump on stderr:\n%s", r.stderr)
			}
		})
	}
}

// TestVerifySigstorePrivateInstance verifies models signed through a
// private Sigstore instance (air-gapped deployments): a CI workflow
// identity (URI SAN), trust from a TrustedRoot or a ClientTrustConfig
// file, on the command line and in a policy.
func TestVerifySigstorePrivateInstance(t *testing.T) {
	const (
		workflow = "https://github.com/example-org/models/.github/workflows/release.yml@refs/heads/main"
		actions  = "https://token.actions.githubusercontent.com"
	)
	in := sigstoretest.New(t)
	model := smallModel(t)
	in.SignModel(t, model, sigstoretest.Signer{URIs: []string{workflow}, Issuer: actions, IssuerV2: actions})
	trustDir := t.TempDir()
	trustedRoot := in.WriteTrustedRoot(t, trustDir)
	clientConfig := in.WriteClientTrustConfig(t, trustDir)
	verify := func(identity, issuer, trust string, extra ...string) []string {
		return append(append([]string{"verify", "sigstore", "--identity", identity, "--identity-provider", issuer, "--trust-config", trust}, extra...), model)
	}

	for name, trust := range map[string]string{"trusted-root": trustedRoot, "client-trust-config": clientConfig} {
		t.Run(name, func(t *testing.T) {
			rec := oneJSON(t, runCLI(t, verify(workflow, actions, trust, "--output", "json")...).want(t, exitOK).stdout)
			checkFields(t, rec, map[string]any{"outcome": "verified", "method": "sigstore", "identity": workflow, "issuer": actions, "files": 5})
		})
	}
	runCLI(t, verify(workflow+"x", actions, trustedRoot)...).want(t, exitDenied).stderrHas(t, `certificate identity "`+workflow+`x" not found`)
	runCLI(t, verify(workflow, "https://accounts.google.com", trustedRoot)...).want(t, exitDenied).stderrHas(t, "certificate issuer is")
	// Production trust does not vouch for a private instance.
	runCLI(t, verify(workflow, actions, trustPath(t, "public-good-trusted_root.json"))...).want(t, exitDenied)

	// In a policy, trust_config is relative to the policy file.
	policyPath := writePolicy(t, trustDir, map[string]any{
		"release": map[string]any{"verification_method": "sigstore", "identity": workflow, "identity_provider": actions, "trust_config": "trust_config.json"},
	}, map[string]any{model: map[string]any{"signer": "release"}}, nil)
	rec := oneJSON(t, runCLI(t, "verify", "--security-policy", policyPath, "--model", model, "--output", "json").want(t, exitOK).stdout)
	checkFields(t, rec, map[string]any{"outcome": "verified", "signer": "release", "method": "sigstore", "identity": workflow, "issuer": actions})

	writeFile(t, filepath.Join(model, "config.json"), []byte(`{"layers": 3}`))
	runCLI(t, verify(workflow, actions, trustedRoot)...).want(t, exitDenied).stderrHas(t, `1 changed ("config.json"`)
	rec = oneJSON(t, runCLI(t, "verify", "--security-policy", policyPath, "--model", model, "--output", "json").want(t, exitDenied).stdout)
	checkFields(t, rec, map[string]any{"outcome": "denied", "code": "verification-failed"})
}

// TestResolveIgnorePaths: a relative ignore path is read relative to the
// CWD, and relative to the model only when the CWD reading lies outside
// it; never both ways at once.
func TestResolveIgnorePaths(t *testing.T) {
	parent := t.TempDir()
	model := filepath.Join(parent, "m")
	writeFile(t, filepath.Join(model, "w.bin"), []byte("w"))
	file := writeFile(t, filepath.Join(parent, "single.gguf"), []byte("g"))
	t.Chdir(parent)
	cases := []struct {
		name  string
		model string
		paths []string
		want  []string
	}{
		{"cwd-relative-inside", model, []string{"m/sub"}, []string{filepath.Join(model, "sub")}},
		{"cwd-relative-outside", model, []string{"ignore-me"}, []string{filepath.Join(parent, "ignore-me"), filepath.Join(model, "ignore-me")}},
		{"dot-dot-into-model", model, []string{"x/../m/y"}, []string{filepath.Join(model, "y")}},
		{"names-the-model", model, []string{"m"}, []string{model}},
		{"absolute", model, []string{"/abs/path/"}, []string{"/abs/path"}},
		{"single-file-model", file, []string{"ignore-me"}, []string{filepath.Join(parent, "ignore-me")}},
		{"several", model, []string{"m/a", "b"}, []string{filepath.Join(model, "a"), filepath.Join(parent, "b"), filepath.Join(model, "b")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := resolveIgnorePaths(c.model, c.paths)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("resolveIgnorePaths(%q) = %q, want %q", c.paths, got, c.want)
			}
		})
	}
	if _, err := resolveIgnorePaths(model, []string{""}); err == nil {
		t.Error("an empty ignore path was accepted")
	}
}

// TestVerifyKeyHintMismatchIsWarning: publicKey.hint is only a hint
// (format spec §10): a signature that verifies with the given key passes,
// with a warning that shows both hints.
func TestVerifyKeyHintMismatchIsWarning(t *testing.T) {
	keyPub := refPath(t, "keys/certificate/signing-key-pub.pem")
	model := copyRef(t, "v1.1.0-elliptic-key")
	sigPath := filepath.Join(model, "model.sig")
	b, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	const hint = "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"
	other := strings.Repeat("0", 64)
	if !strings.Contains(string(b), hint) {
		t.Fatalf("%s holds no hint %s", sigPath, hint)
	}
	writeFile(t, sigPath, []byte(strings.Replace(string(b), hint, other, 1)))
	r := runCLI(t, "verify", "key", "--public-key", keyPub, "--output", "json", model).want(t, exitOK)
	rec := oneJSON(t, r.stdout)
	checkFields(t, rec, map[string]any{"outcome": "verified"})
	ws, _ := rec["warnings"].([]any)
	if len(ws) != 1 || !strings.Contains(ws[0].(string), other) || !strings.Contains(ws[0].(string), hint) {
		t.Errorf("warnings %v, want one naming both hints", rec["warnings"])
	}
	r.stderrHas(t, "level=WARN", "but the signature verifies with the given key")
}
