package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
)

// TestLoadErrors checks every load error of spec/policy.md §1-§3: each is
// refused with FILE:LINE:COL, the JSON path and a useful message.
func TestLoadErrors(t *testing.T) {
	d := tempDir(t)
	pub := writeECPublicKey(t, d, "keys/pub.pem")
	ca := testpki.NewRoot(t, "root")
	testpki.WriteCerts(t, filepath.Join(d, "keys/ca.pem"), ca.Cert)
	writeFile(t, d, "keys/empty.pem", []byte("no certificates here\n"))
	testpki.WritePublicKey(t, filepath.Join(d, "keys/rsa.pem"), &testpki.RSAKey(t).PublicKey)

	// sig wraps a signers object and a models object into a policy.
	sig := func(signers, models string) string {
		return `{"policy": {"signatures": {"signers": ` + signers + `, "models": ` + models + `}}}`
	}
	skip := `{"s": {"verification_method": "skip"}}`
	keySigner := fmt.Sprintf(`{"k": {"verification_method": "key", "public_key": %q}}`, pub)

	tests := []struct {
		name string
		doc  string
		want []string // each problem's String() must contain the matching "&&"-separated strings
	}{
		{"syntax: trailing comma", "{\"policy\": {\"signatures\": {\"signers\": {},}}}",
			[]string{"policy.json:1:41: invalid JSON: trailing comma before '}'"}},
		{"syntax: missing colon on line 3", "{\n  \"policy\": {\n    \"signatures\" {}\n  }\n}",
			[]string{"policy.json:3:18: invalid JSON: expected ':' after object key \"signatures\""}},
		{"syntax: comment", "{\n // c\n}", []string{"policy.json:2:2: invalid JSON: comments are not allowed"}},
		{"syntax: single quotes", "{'policy': 1}", []string{"1:2: invalid JSON: object keys must use double quotes"}},
		{"syntax: two documents", "{} {}", []string{"1:4: invalid JSON: unexpected '{' after the end"}},
		{"syntax: empty", "", []string{"1:1: invalid JSON: empty document"}},
		{"syntax: column counts characters", "{\"é\": x}", []string{"1:7: invalid JSON"}},
		{"syntax: invalid UTF-8", "{\"a\xff\": 1}", []string{"1:4: invalid JSON: invalid UTF-8"}},
		{"syntax: BOM", "\ufeff{}", []string{"byte order mark"}},
		{"syntax: lone surrogate", `{"\ud800": 1}`, []string{"unpaired UTF-16 surrogate"}},
		{"not an object", `[]`, []string{`1:1: the policy must be a JSON object`}},
		{"missing policy", `{}`, []string{`1:1: missing "policy"`}},
		{"unknown top-level key", `{"policy": {"signatures": {"signers": {}}}, "polcy": 1}`,
			[]string{`1:45: polcy: unknown key "polcy" (did you mean "policy"?)`}},
		{"missing signers", `{"policy": {"signatures": {}}}`, []string{`policy.signatures: missing "signers"`}},
		{"signatures not an object", `{"policy": {"signatures": []}}`, []string{`1:27: policy.signatures: must be an object, not a list`}},
		{"duplicate key at top", `{"policy": {"signatures": {"signers": {}}}, "policy": {}}`,
			[]string{`1:45: policy: duplicate key "policy" (first at line 1, column 2)`}},
		{"duplicate key in an entry", sig(skip, `{"/m": {"signer": "s", "signer": "s"}}`),
			[]string{`policy.signatures.models["/m"].signer: duplicate key "signer"`}},
		{"duplicate key in signers", sig(`{"s": {"verification_method": "skip"}, "s": {"verification_method": "skip"}}`, `{}`),
			[]string{`policy.signatures.signers.s: duplicate key "s"`}},
		{"duplicate key by escape", sig(skip, `{"/m": {"signer": "s", "sign\u0065r": "s"}}`),
			[]string{`duplicate key "signer"`}},
		{"unknown entry key with suggestion", sig(skip, `{"/m/": {"signer": "s", "sigature": "x"}}`),
			[]string{`policy.signatures.models["/m/"].sigature: unknown key "sigature" (did you mean "signature"?)`}},
		{"unknown section", `{"policy": {"signatures": {"signers": {}, "model": {}}}}`,
			[]string{`policy.signatures.model: unknown key "model" (did you mean "models"?)`}},
		{"unknown key without suggestion", sig(skip, `{"/m": {"signer": "s", "zzzzzz": 1}}`),
			[]string{`unknown key "zzzzzz" (allowed: signer, signature`}},
		{"unknown method", sig(`{"s": {"verification_method": "gpg"}}`, `{}`),
			[]string{`policy.signatures.signers.s.verification_method: unknown verification method "gpg"`}},
		{"entry naming an invalid signer is not also undefined", sig(`{"s": {"verification_method": "gpg"}}`, `{"/m": {"signer": "s", "use_staging": true}}`),
			[]string{`unknown verification method "gpg"`}},
		{"method typo", sig(`{"s": {"verification_method": "sigstor", "identity": "a", "identity_provider": "b"}}`, `{}`),
			[]string{`did you mean "sigstore"?`}},
		{"missing method", sig(`{"s": {}}`, `{}`), []string{`policy.signatures.signers.s: missing "verification_method"`}},
		{"key on a sigstore signer", sig(`{"s": {"verification_method": "sigstore", "identity": "a", "identity_provider": "b", "public_key": "/k"}}`, `{}`),
			[]string{`policy.signatures.signers.s.public_key: "public_key" does not apply to verification_method "sigstore" (it is a key option)`}},
		{"option on a skip signer", sig(`{"s": {"verification_method": "skip", "identity": "a"}}`, `{}`),
			[]string{`a skip signer takes no other key`}},
		{"unknown signer key with suggestion", sig(`{"s": {"verification_method": "key", "public_kye": "/k"}}`, `{}`),
			[]string{`a key signer needs "public_key"`, `unknown key "public_kye" (did you mean "public_key"?)`}},
		{"sigstore missing identity", sig(`{"s": {"verification_method": "sigstore", "identity_provider": "b"}}`, `{}`),
			[]string{`a sigstore signer needs "identity"`}},
		{"certificate chain empty", sig(`{"c": {"verification_method": "certificate", "certificate_chain": []}}`, `{}`),
			[]string{`certificate_chain: must be a non-empty list of PEM files`}},
		{"certificate chain a string", sig(`{"c": {"verification_method": "certificate", "certificate_chain": "/ca.pem"}}`, `{}`),
			[]string{`certificate_chain: must be a list of PEM files, e.g. ["/ca.pem"]`}},
		{"certificate chain element type", sig(`{"c": {"verification_method": "certificate", "certificate_chain": [1]}}`, `{}`),
			[]string{`certificate_chain[0]: must be a string, not a number`}},
		{"wrong type for a bool", sig(`{"s": {"verification_method": "sigstore", "identity": "a", "identity_provider": "b", "use_staging": "yes"}}`, `{}`),
			[]string{`use_staging: must be true or false, not a string`}},
		{"empty identity", sig(`{"s": {"verification_method": "sigstore", "identity": "", "identity_provider": "b"}}`, `{}`),
			[]string{`identity: must not be empty`}},
		{"use_staging with trust_config", sig(`{"s": {"verification_method": "sigstore", "identity": "a", "identity_provider": "b", "use_staging": true, "trust_config": "/t.json"}}`, `{}`),
			// Every problem of the signer is reported, not only the first.
			[]string{`use_staging has no effect when trust_config is given`, `signers.s.trust_config: signer "s": trust config "/t.json": no such file or directory`}},
		{"undefined signer", sig(skip, `{"/m": {"signer": "t"}}`), []string{`policy.signatures.models["/m"].signer: undefined signer "t" (defined: s)`}},
		{"undefined signer with suggestion", sig(`{"signer1": {"verification_method": "skip"}}`, `{"/m": {"signer": "signer2"}}`),
			[]string{`undefined signer "signer2" (did you mean "signer1"?)`}},
		{"no signers but an entry", sig(`{}`, `{"/m": {"signer": "t"}}`), []string{`undefined signer "t": policy.signatures.signers defines none`}},
		{"entry without signer", sig(skip, `{"/m": {}}`), []string{`policy.signatures.models["/m"]: missing "signer"`}},
		{"entry not an object", sig(skip, `{"/m": "s"}`), []string{`an entry must be an object such as {"signer": "NAME"}, not a string`}},
		{"signer not a string", sig(skip, `{"/m": {"signer": 5}}`), []string{`signer: must be a string, not a number`}},
		{"option on a skip entry", sig(skip, `{"/m": {"signer": "s", "ignore_paths": []}}`),
			[]string{`"ignore_paths" has no effect: signer "s" skips verification`}},
		{"log_fingerprints with key", sig(keySigner, `{"/m": {"signer": "k", "log_fingerprints": true}}`),
			[]string{`"log_fingerprints" makes no sense for signer "k": key signatures carry no certificates`}},
		{"use_staging with key", sig(keySigner, `{"/m": {"signer": "k", "use_staging": true}}`),
			[]string{`"use_staging" makes no sense for signer "k": it applies only to sigstore signers`}},
		{"ignore_path and ignore_paths", sig(keySigner, `{"/m": {"signer": "k", "ignore_path": ["a"], "ignore_paths": ["b"]}}`),
			[]string{`give either "ignore_paths" or its alias "ignore_path", not both`}},
		{"ignore_paths a string", sig(keySigner, `{"/m": {"signer": "k", "ignore_paths": "a"}}`),
			[]string{`ignore_paths: must be a list of paths, e.g. ["a"]`}},
		{"ignore_paths element empty", sig(keySigner, `{"/m": {"signer": "k", "ignore_paths": [""]}}`),
			[]string{`ignore_paths[0]: must not be empty`}},
		{"relative exact key", sig(skip, `{"models/m": {"signer": "s"}}`),
			[]string{`key "models/m" is neither an absolute path, nor "regex:PATTERN", nor "hf:ORG/NAME"`}},
		{"same place twice", sig(skip, `{"/m/x": {"signer": "s"}, "/m/x/": {"signer": "s"}}`),
			[]string{`"/m/x/" names the same path as "/m/x" (line 1, column 90): both are "/m/x" once cleaned`}},
		{"same place after cleaning", sig(skip, `{"/m/./x": {"signer": "s"}, "/m/y/../x": {"signer": "s"}}`),
			[]string{`"/m/y/../x" names the same path as "/m/./x"`}},
		{"bad regex", sig(skip, `{"regex:/m/(a": {"signer": "s"}}`),
			[]string{`bad regex rule "regex:/m/(a": error parsing regexp: missing closing )`}},
		{"empty regex", sig(skip, `{"regex:": {"signer": "s"}}`), []string{`bad regex rule "regex:": empty pattern`}},
		{"look-ahead", sig(skip, `{"regex:/m/(?=a).*": {"signer": "s"}}`), []string{`look-around assertions are Python/PCRE syntax, which RE2`}},
		{"look-behind", sig(skip, `{"regex:/m/(?<=a)b": {"signer": "s"}}`), []string{`look-around assertions`}},
		{"negative look-ahead", sig(skip, `{"regex:/m/(?!a).*": {"signer": "s"}}`), []string{`look-around assertions`}},
		{"back-reference", sig(skip, `{"regex:/m/(a)\\1": {"signer": "s"}}`), []string{`back-references are Python/PCRE syntax`}},
		{"named back-reference", sig(skip, `{"regex:/m/(?P<x>a)(?P=x)": {"signer": "s"}}`), []string{`back-references`}},
		{"possessive", sig(skip, `{"regex:/m/a*+": {"signer": "s"}}`), []string{`possessive quantifiers`}},
		{"atomic group", sig(skip, `{"regex:/m/(?>a)": {"signer": "s"}}`), []string{`atomic groups`}},
		{"python end anchor", sig(skip, `{"regex:/m/a\\Z": {"signer": "s"}}`), []string{`\Z is Python syntax`}},
		{"verbose flag", sig(skip, `{"regex:(?x)/m/ a": {"signer": "s"}}`), []string{`RE2 syntax`}},
		{"unbalanced group cannot escape the anchors", sig(skip, `{"regex:/a)|(/b": {"signer": "s"}}`), []string{`unexpected )`}},
		{"missing key file", sig(`{"k": {"verification_method": "key", "public_key": "keys/missing.pem"}}`, `{}`),
			[]string{`policy.signatures.signers.k.public_key: signer "k": public key "` + d + `/keys/missing.pem": no such file or directory`}},
		{"non-EC key", sig(`{"k": {"verification_method": "key", "public_key": "keys/rsa.pem"}}`, `{}`),
			[]string{`signer "k": public key "` + d + `/keys/rsa.pem": only elliptic`}},
		{"PEM without certificates", sig(`{"c": {"verification_method": "certificate", "certificate_chain": ["keys/ca.pem", "keys/empty.pem"]}}`, `{}`),
			[]string{`policy.signatures.signers.c.certificate_chain[1]: signer "c": certificate file "` + d + `/keys/empty.pem": no PEM CERTIFICATE`}},
		{"every error of a signer", sig(`{"s": {"verification_method": "sigstore", "identity_provider": "", "use_staging": "yes", "trust_config": "nope.json", "zzz": 1}}`, `{}`),
			[]string{`policy.signatures.signers.s: a sigstore signer needs "identity"`,
				`signers.s.identity_provider: must not be empty`,
				`signers.s.use_staging: must be true or false, not a string`,
				`signers.s.trust_config: signer "s": trust config "` + d + `/nope.json": no such file`,
				`signers.s.zzz: unknown key "zzz"`}},
		{"every error of a signer without a valid method", sig(`{"s": {"verification_method": "gpg", "public_key": "keys/rsa.pem", "certificate_chain": ["nope.pem"], "zzz": 1}}`, `{}`),
			[]string{`unknown verification method "gpg"`,
				`signers.s.public_key: signer "s": public key "` + d + `/keys/rsa.pem": only elliptic`,
				`signers.s.certificate_chain[0]: signer "s": certificate file "` + d + `/nope.pem": no such file`,
				`signers.s.zzz: unknown key "zzz"`}},
		{"every missing certificate file", sig(`{"c": {"verification_method": "certificate", "certificate_chain": ["a.pem", "keys/ca.pem", "b.pem"]}}`, `{}`),
			[]string{`certificate_chain[0]: signer "c": certificate file "` + d + `/a.pem"`,
				`certificate_chain[2]: signer "c": certificate file "` + d + `/b.pem"`}},
		{"trust file is a directory", sig(`{"k": {"verification_method": "key", "public_key": "keys"}}`, `{}`),
			[]string{`signers.k.public_key: signer "k": public key "` + d + `/keys" is a directory, not a regular file`}},
		{"hub-id key without an id", sig(skip, `{"hf:": {"signer": "s"}}`),
			[]string{`bad hub-id key "hf:": "" is not a Hugging Face id: it is empty`}},
		{"hub-id key with two slashes", sig(skip, `{"hf:a/b/c": {"signer": "s"}}`),
			[]string{`bad hub-id key "hf:a/b/c": "a/b/c" is not a Hugging Face id`}},
		{"hub-id key with a path", sig(skip, `{"hf:/models/x": {"signer": "s"}}`),
			[]string{`bad hub-id key "hf:/models/x"`}},
		{"hub-id key at a branch", sig(skip, `{"hf:ibm/granite@main": {"signer": "s"}}`),
			[]string{`bad hub-id key "hf:ibm/granite@main": "main" is a branch, tag or other revision name, not a commit`}},
		{"hub-id key at a pull request ref", sig(skip, `{"hf:ibm/granite@refs/pr/1": {"signer": "s"}}`),
			[]string{`"refs/pr/1" is a branch, tag or other revision name`}},
		{"hub-id key at an abbreviated commit", sig(skip, `{"hf:ibm/granite@0123abc": {"signer": "s"}}`),
			[]string{`"0123abc" is an abbreviated commit (7 hex digits)`}},
		{"hub-id key at an uppercase commit", sig(skip, `{"hf:ibm/granite@`+strings.Repeat("AB", 20)+`": {"signer": "s"}}`),
			[]string{`the commit has uppercase hex digits; write it in lowercase`}},
		{"hub-id key with nothing after @", sig(skip, `{"hf:ibm/granite@": {"signer": "s"}}`),
			[]string{`nothing after "@"`}},
		{"hub-id key with two @", sig(skip, `{"hf:ibm/granite@`+strings.Repeat("ab", 20)+`@x": {"signer": "s"}}`),
			[]string{`is a branch, tag or other revision name`}},
		{"digest not a string or list", sig(keySigner, `{"/m": {"signer": "k", "digest": 5}}`),
			[]string{`models["/m"].digest: must be a subject digest "sha256:HEX" or a list of them, not a number`}},
		{"digest empty list", sig(keySigner, `{"/m": {"signer": "k", "digest": []}}`),
			[]string{`models["/m"].digest: must not be an empty list`}},
		{"digest empty string", sig(keySigner, `{"/m": {"signer": "k", "digest": ""}}`),
			[]string{`models["/m"].digest: must not be empty`}},
		{"digest duplicate in list", sig(keySigner, `{"/m": {"signer": "k", "digest": ["sha256:`+hexA+`", "sha256:`+hexB+`", "sha256:`+hexA+`"]}}`),
			[]string{`models["/m"].digest[2]: duplicate digest "sha256:` + hexA + `" (also at index 0)`}},
		{"digest list element not a string", sig(keySigner, `{"/m": {"signer": "k", "digest": ["sha256:`+hexA+`", 1]}}`),
			[]string{`digest[1]: must be a string, not a number`}},
		{"digest uppercase hex", sig(keySigner, `{"/m": {"signer": "k", "digest": "sha256:`+strings.ToUpper(hexA)+`"}}`),
			[]string{`uppercase hex digits; want "sha256:" and 64 lowercase hex digits`}},
		{"digest uppercase algorithm", sig(keySigner, `{"/m": {"signer": "k", "digest": "SHA256:`+hexA+`"}}`),
			[]string{`write the algorithm in lowercase: "sha256:"`}},
		{"digest without algorithm", sig(keySigner, `{"/m": {"signer": "k", "digest": "`+hexA+`"}}`),
			[]string{`no algorithm: write it as "sha256:` + hexA + `"`}},
		{"digest other algorithm", sig(keySigner, `{"/m": {"signer": "k", "digest": "sha512:`+hexA+`"}}`),
			[]string{`unsupported algorithm "sha512": subject digests are SHA-256`}},
		{"digest too short", sig(keySigner, `{"/m": {"signer": "k", "digest": "sha256:`+hexA[:63]+`"}}`),
			[]string{`63 hex digits`}},
		{"digest not hex", sig(keySigner, `{"/m": {"signer": "k", "digest": "sha256:`+hexA[:63]+`g"}}`),
			[]string{`not hexadecimal`}},
		{"digest control characters are quoted", sig(keySigner, `{"/m": {"signer": "k", "digest": "\u001b[31m"}}`),
			[]string{`digest "\x1b[31m": want "sha256:"`}},
		{"digest on a skip entry", sig(skip, `{"/m": {"signer": "s", "digest": "sha256:`+hexA+`"}}`),
			[]string{`"digest" has no effect: signer "s" skips verification`}},
		{"missing trust_config", sig(`{"s": {"verification_method": "sigstore", "identity": "a", "identity_provider": "b", "trust_config": "nope.json"}}`, `{}`),
			[]string{`signers.s.trust_config: signer "s": trust config "` + d + `/nope.json": no such file`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le := parseErr(t, d, []byte(tt.doc))
			if len(le.Problems) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(le.Problems), len(tt.want), le)
			}
			for i, w := range tt.want {
				got := le.Problems[i].String()
				if !containsAll(got, strings.Split(w, "&&")...) {
					t.Errorf("problem %d:\n got  %s\n want %s", i, got, w)
				}
				if !strings.HasPrefix(got, "policy.json:") || le.Problems[i].Line < 1 || le.Problems[i].Col < 1 {
					t.Errorf("problem %d has no FILE:LINE:COL: %s", i, got)
				}
			}
		})
	}
}

// Two valid subject digests, for digest pins.
const (
	hexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hexB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// TestLoadCollectsAllErrors: every problem is reported, in file order, and
// the policy is refused as a whole.
func TestLoadCollectsAllErrors(t *testing.T) {
	doc := `{"policy": {"signatures": {
  "signers": {"s": {"verification_method": "skip"}, "k": {"verification_method": "key"}},
  "models": {"/a": {"signer": "x"}, "rel": {"signer": "s"}, "/b": {"signer": "s", "sigature": "m"}},
  "loras": {"regex:(": {"signer": "s"}}
}}}`
	le := parseErr(t, "/", []byte(doc))
	want := []string{
		`2:58: policy.signatures.signers.k: a key signer needs "public_key"`,
		`3:31: policy.signatures.models["/a"].signer: undefined signer "x"`,
		`3:37: policy.signatures.models.rel: key "rel" is neither`,
		`3:83: policy.signatures.models["/b"].sigature: unknown key`,
		`4:13: policy.signatures.loras["regex:("]: bad regex rule`,
	}
	if len(le.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(want), le)
	}
	for i, w := range want {
		if !strings.Contains(le.Problems[i].String(), w) {
			t.Errorf("problem %d: %s\nwant %s", i, le.Problems[i], w)
		}
	}
	if lines := strings.Count(le.Error(), "\n") + 1; lines != len(want) {
		t.Errorf("Error() has %d lines, want %d", lines, len(want))
	}
}

// TestTrustPathsRelativeToPolicy: trust material is resolved against the
// policy file's directory, never the working directory or a model.
func TestTrustPathsRelativeToPolicy(t *testing.T) {
	d := tempDir(t)
	etc := mkdir(t, d, "etc", "modelgate")
	writeECPublicKey(t, etc, "pub.pem")
	ca := testpki.NewRoot(t, "root")
	testpki.WriteCerts(t, filepath.Join(etc, "ca", "ca.pem"), ca.Cert)
	doc := doc(obj{
		{"k", obj{{"verification_method", "key"}, {"public_key", "pub.pem"}}},
		{"c", obj{{"verification_method", "certificate"}, {"certificate_chain", []string{"ca/ca.pem"}}}},
	}, obj{{"/m", obj{{"signer", "k"}}}, {"/n", obj{{"signer", "c"}}}}, nil)
	path := writeFile(t, etc, "policy.json", mustJSON(t, doc))

	p, err := Load(path, quietOptions(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := p.signers["k"].publicKey; got != filepath.Join(etc, "pub.pem") {
		t.Errorf("public_key resolved to %s", got)
	}
	if got := p.signers["c"].certChain; len(got) != 1 || got[0] != filepath.Join(etc, "ca", "ca.pem") {
		t.Errorf("certificate_chain resolved to %v", got)
	}
	// The same document under another directory does not find the files.
	if _, err := Parse("x.json", mustJSON(t, doc), d, Options{}); err == nil || !strings.Contains(err.Error(), filepath.Join(d, "pub.pem")) {
		t.Errorf("Parse with another base dir: %v", err)
	}
	// Without a base directory, relative trust paths are refused.
	if _, err := Parse("x.json", mustJSON(t, doc), "", Options{}); err == nil || !strings.Contains(err.Error(), "no directory to resolve it against") {
		t.Errorf("Parse without a base dir: %v", err)
	}
	// Load through a relative path resolves against the policy file too.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, path)
	if err == nil {
		if _, err := Load(rel, quietOptions(nil)); err != nil {
			t.Errorf("Load(%s): %v", rel, err)
		}
	}
}

// TestLoadUnreadable: an unreadable policy is a plain error naming it.
func TestLoadUnreadable(t *testing.T) {
	d := tempDir(t)
	_, err := Load(filepath.Join(d, "none.json"), Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(d, "none.json")) {
		t.Fatalf("Load missing file: %v", err)
	}
	if _, ok := err.(*LoadError); ok {
		t.Errorf("unreadable file reported as *LoadError")
	}
	if err == nil || err.Error() != fmt.Sprintf("read policy %q: no such file or directory", filepath.Join(d, "none.json")) {
		t.Errorf("Load missing file: %v", err)
	}
	big := writeFile(t, d, "big.json", []byte(strings.Repeat(" ", MaxPolicySize+1)))
	if _, err := Load(big, Options{}); err == nil || err.Error() != fmt.Sprintf("read policy %q: is larger than %d bytes: file too large", big, MaxPolicySize) {
		t.Errorf("Load huge file: %v", err)
	}
}

// TestLoadAccepts covers valid forms: the description's example (made
// valid), the ignore_path alias, option defaults and inheritance.
func TestLoadAccepts(t *testing.T) {
	d := tempDir(t)
	pub := writeECPublicKey(t, d, "pub.pem")
	ca := testpki.NewRoot(t, "root")
	testpki.WriteCerts(t, filepath.Join(d, "cert1.pem"), ca.Cert)
	testpki.WriteCerts(t, filepath.Join(d, "cert2.pem"), ca.Cert)
	text := fmt.Sprintf(`{
  "policy": {
    "signatures": {
      "signers": {
        "signer1":   {"verification_method": "sigstore", "identity": "foo@bar.com",
                      "identity_provider": "https://baz.com/oauth2"},
        "signer2":   {"verification_method": "certificate",
                      "certificate_chain": ["cert1.pem", "cert2.pem"], "log_fingerprints": true},
        "signer3":   {"verification_method": "key", "public_key": %q},
        "no-signer": {"verification_method": "skip"}
      },
      "models": {
        "/models/granite/":              {"signer": "signer1", "use_staging": true},
        "regex:/models/(baz1|baz2)(/)?": {"signer": "signer2", "log_fingerprints": false,
                                          "ignore_path": ["foo", "bar"]},
        "/models/test/":                 {"signer": "no-signer"},
        "regex:.*":                      {"signer": "signer3", "ignore_git_paths": false, "signature": "../sigs/m.sig"}
      },
      "loras": {
        "/adapters/sql/":                {"signer": "signer2"}
      }
    }
  }
}`, pub)
	p, err := Parse("policy.json", []byte(text), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := p.sections[Model]
	if len(m.exact) != 2 || len(m.regex) != 2 {
		t.Fatalf("models: %d exact, %d regex", len(m.exact), len(m.regex))
	}
	g, baz, any := m.exact[0], m.regex[0], m.regex[1]
	if !g.useStaging || g.logFingerprints || !g.ignoreGitPaths {
		t.Errorf("granite options: %+v", g)
	}
	if baz.logFingerprints || strings.Join(baz.ignorePaths, ",") != "foo,bar" || baz.index != 1 {
		t.Errorf("baz options: %+v", baz)
	}
	if any.ignoreGitPaths || any.signature != "../sigs/m.sig" || any.index != 2 {
		t.Errorf("regex:.* options: %+v", any)
	}
	if l := p.sections[LoRA].exact[0]; !l.logFingerprints {
		t.Errorf("lora entry does not inherit log_fingerprints from its signer")
	}
	if p.signers["signer2"].verifier == nil || p.signers["signer3"].verifier == nil {
		t.Errorf("verifiers not built at load")
	}
	if p.File() != "policy.json" {
		t.Errorf("File() = %q", p.File())
	}
}

// TestLoadManyProblems: a hopeless file reports a bounded number of
// problems, quickly (each costs a position lookup).
func TestLoadManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"policy": {"signatures": {"signers": {}, "models": {`)
	for i := 0; i < 20000; i++ {
		b.WriteString(`"/m": 1, `)
	}
	b.WriteString(`"/n": 2}}}}`)
	le := parseErr(t, "/", []byte(b.String()))
	if len(le.Problems) != maxProblems+1 {
		t.Fatalf("%d problems, want %d", len(le.Problems), maxProblems+1)
	}
	if last := le.Problems[len(le.Problems)-1]; !strings.Contains(last.Message, "too many problems") {
		t.Errorf("last problem: %s", last)
	}
}
