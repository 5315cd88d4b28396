package modelsig_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/internal/shareddata"
	"github.com/modelgate/modelgate/internal/sigstoretest"
	"github.com/modelgate/modelgate/modelsig"
)

// The identity that signed the reference sigstore vectors.
const (
	vectorIdentity = "stefanb@us.ibm.com"
	vectorIssuer   = "https://sigstore.verify.ibm.com/oauth2"
)

var fingerprintRE = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2}){31}$`)

func loadTrust(t *testing.T, elem ...string) root.TrustedMaterial {
	t.Helper()
	tm, err := modelsig.LoadTrustConfig(shareddata.Path(t, elem...))
	if err != nil {
		t.Fatalf("LoadTrustConfig: %v", err)
	}
	return tm
}

func newSigstoreVerifier(t *testing.T, tm root.TrustedMaterial, identity, issuer string) modelsig.Verifier {
	t.Helper()
	v, err := modelsig.NewSigstoreVerifier(tm, identity, issuer)
	if err != nil {
		t.Fatalf("NewSigstoreVerifier: %v", err)
	}
	return v
}

func readBundle(t *testing.T, path string) *modelsig.Bundle {
	t.Helper()
	b, err := modelsig.ReadBundle(path)
	if err != nil {
		t.Fatalf("ReadBundle: %v", err)
	}
	return b
}

// wantVerificationError fails unless err is a *VerificationError whose
// message contains every one of want.
func wantVerificationError(t *testing.T, err error, want ...string) {
	t.Helper()
	t.Logf("error: %v", err)
	var ve *modelsig.VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *VerificationError", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\n does not contain %q", err, w)
		}
	}
}

func TestSigstoreVectors(t *testing.T) {
	trusts := map[string][]string{
		"trusted root":        {"sigstore-trust", "public-good-trusted_root.json"},
		"client trust config": {"sigstore-trust", "example-client-trust-config.json"},
	}
	vectors := []struct {
		name string
		// noIgnoreOK: the vector also verifies without --ignore-paths
		// ignore-me (v1.1.0 records it in ignore_paths).
		noIgnoreOK bool
		// tsaWarning: the bundle's RFC 3161 timestamp is from
		// timestamp.sigstore.dev, which the example trust config lacks;
		// the log's time is used instead, with a warning.
		tsaWarning map[string]bool
	}{
		{name: "v1.0.1-sigstore", noIgnoreOK: false},
		{name: "v1.1.0-sigstore", noIgnoreOK: true, tsaWarning: map[string]bool{"client trust config": true}},
	}
	for _, vec := range vectors {
		for trustName, trustPath := range trusts {
			t.Run(vec.name+"/"+trustName, func(t *testing.T) {
				dir := shareddata.Path(t, "model-signing", vec.name)
				v := newSigstoreVerifier(t, loadTrust(t, trustPath...), vectorIdentity, vectorIssuer)
				if v.Method() != modelsig.MethodSigstore {
					t.Errorf("Method() = %q", v.Method())
				}
				signed, err := v.VerifySignature(readBundle(t, filepath.Join(dir, "model.sig")))
				if err != nil {
					t.Fatalf("VerifySignature: %v", err)
				}
				if signed.Identity != vectorIdentity || signed.Issuer != vectorIssuer {
					t.Errorf("identity, issuer = %q, %q", signed.Identity, signed.Issuer)
				}
				if signed.PayloadType != modelsig.PayloadTypeInToto {
					t.Errorf("payload type = %q", signed.PayloadType)
				}
				if _, err := modelsig.ParseStatement(signed.PayloadType, signed.Payload); err != nil {
					t.Errorf("verified payload does not parse: %v", err)
				}
				if len(signed.Fingerprints) != 1 || !fingerprintRE.MatchString(signed.Fingerprints[0]) {
					t.Errorf("fingerprints = %q, want the leaf's", signed.Fingerprints)
				}
				if got, want := len(signed.Warnings) > 0, vec.tsaWarning[trustName]; got != want {
					t.Errorf("warnings = %q, want a timestamp warning: %v", signed.Warnings, want)
				}

				ctx := context.Background()
				quiet := slog.New(slog.DiscardHandler)
				opts := modelsig.VerifyOptions{IgnoreGitPaths: true, IgnorePaths: []string{filepath.Join(dir, "ignore-me")}, Logger: quiet}
				res, err := modelsig.Verify(ctx, dir, v, opts)
				if err != nil {
					t.Fatalf("Verify with ignore-me ignored: %v", err)
				}
				if res.Method != modelsig.MethodSigstore || res.Signed.Identity != vectorIdentity {
					t.Errorf("result = %+v", res)
				}
				_, err = modelsig.Verify(ctx, dir, v, modelsig.VerifyOptions{IgnoreGitPaths: true, Logger: quiet})
				if vec.noIgnoreOK && err != nil {
					t.Errorf("Verify without ignore paths: %v", err)
				}
				if !vec.noIgnoreOK {
					wantVerificationError(t, err, "ignore-me")
				}
			})
		}
	}
}

func TestSigstoreVectorRejections(t *testing.T) {
	goodRoot := []string{"sigstore-trust", "public-good-trusted_root.json"}
	tests := []struct {
		name             string
		trust            []string
		identity, issuer string
		want             []string
	}{
		{"wrong identity", goodRoot, "alice@example.com", vectorIssuer,
			[]string{`certificate identity "alice@example.com" not found; the certificate has "stefanb@us.ibm.com"`}},
		{"identity prefix", goodRoot, "stefanb@us.ibm", vectorIssuer, []string{`identity "stefanb@us.ibm" not found`}},
		{"identity suffix", goodRoot, "us.ibm.com", vectorIssuer, []string{`identity "us.ibm.com" not found`}},
		{"identity regexp", goodRoot, ".*@us.ibm.com", vectorIssuer, []string{`identity ".*@us.ibm.com" not found`}},
		{"identity anchored regexp", goodRoot, "^stefanb@us\\.ibm\\.com$", vectorIssuer, []string{"not found"}},
		{"identity case", goodRoot, "Stefanb@us.ibm.com", vectorIssuer, []string{"not found"}},
		{"identity trailing space", goodRoot, vectorIdentity + " ", vectorIssuer, []string{"not found"}},
		{"wrong issuer", goodRoot, vectorIdentity, "https://accounts.google.com",
			[]string{`certificate issuer is "https://sigstore.verify.ibm.com/oauth2", expected "https://accounts.google.com"`}},
		{"issuer prefix", goodRoot, vectorIdentity, "https://sigstore.verify.ibm.com", []string{"certificate issuer is"}},
		{"issuer trailing slash", goodRoot, vectorIdentity, vectorIssuer + "/", []string{"certificate issuer is"}},
		{"issuer regexp", goodRoot, vectorIdentity, "https://sigstore.verify.ibm.com/.*", []string{"certificate issuer is"}},
		{"both wrong", goodRoot, "alice@example.com", "https://accounts.google.com",
			[]string{"certificate issuer is", `identity "alice@example.com" not found`}},
		{"staging root", []string{"sigstore-trust", "staging-trusted_root.json"}, vectorIdentity, vectorIssuer,
			[]string{"no verified transparency log entry"}},
	}
	for _, vec := range []string{"v1.0.1-sigstore", "v1.1.0-sigstore"} {
		for _, tc := range tests {
			t.Run(vec+"/"+tc.name, func(t *testing.T) {
				v := newSigstoreVerifier(t, loadTrust(t, tc.trust...), tc.identity, tc.issuer)
				b := readBundle(t, shareddata.Path(t, "model-signing", vec, "model.sig"))
				signed, err := v.VerifySignature(b)
				if signed != nil {
					t.Errorf("VerifySignature returned a result along with error %v", err)
				}
				wantVerificationError(t, err, append([]string{b.Name()}, tc.want...)...)
			})
		}
	}
}

// TestSigstoreOtherMethodBundles: bundles of the key and certificate
// methods are refused with a pointer to the right method.
func TestSigstoreOtherMethodBundles(t *testing.T) {
	v := newSigstoreVerifier(t, loadTrust(t, "sigstore-trust", "public-good-trusted_root.json"), vectorIdentity, vectorIssuer)
	tests := []struct{ vector, want string }{
		{"v1.1.0-elliptic-key", "bundle has no Fulcio certificate (it was signed with a key; use the key method)"},
		{"v1.0.0-elliptic-key", "use the key method"}, // legacy publicKey.rawBytes, which strict parsers refuse
		{"v1.1.0-certificate", "use the certificate method"},
		{"v0.2.0-certificate", "use the certificate method"},
	}
	for _, tc := range tests {
		t.Run(tc.vector, func(t *testing.T) {
			_, err := v.VerifySignature(readBundle(t, shareddata.Path(t, "model-signing", tc.vector, "model.sig")))
			wantVerificationError(t, err, tc.want)
		})
	}
}

// TestSigstoreKeySignedModel: a model signed here with the key method is
// refused by the sigstore method, which names the key method.
func TestSigstoreKeySignedModel(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeModel(t)
	ctx := context.Background()
	if _, err := modelsig.Sign(ctx, dir, signer, modelsig.SignOptions{IgnoreGitPaths: true}); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	v := newSigstoreVerifier(t, sigstoretest.New(t).TrustedRoot(), alice, aliceIdP)
	res, err := modelsig.Verify(ctx, dir, v, modelsig.VerifyOptions{IgnoreGitPaths: true})
	if res != nil {
		t.Error("Verify returned a result")
	}
	wantVerificationError(t, err, filepath.Join(dir, "model.sig"), "it was signed with a key; use the key method")
}

func TestNewSigstoreVerifierArguments(t *testing.T) {
	tm := sigstoretest.New(t).TrustedRoot()
	tests := []struct {
		name             string
		tm               root.TrustedMaterial
		identity, issuer string
		want             string
	}{
		{"no trust", nil, "a@example.com", "https://issuer.example", "no trusted root"},
		{"no identity", tm, "", "https://issuer.example", "identity"},
		{"no issuer", tm, "a@example.com", "", "identity provider"},
		{"bad UTF-8", tm, "a@example.com\xff", "https://issuer.example", "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := modelsig.NewSigstoreVerifier(tc.tm, tc.identity, tc.issuer)
			if err == nil || v != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewSigstoreVerifier = %v, %v; want an error about %s", v, err, tc.want)
			}
		})
	}
}

// writeModel creates a small model directory.
func writeModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"weights.bin": "0123456789", "config.json": `{"layers": 2}`, "sub/tokenizer.json": "{}"}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	alice     = "alice@example.com"
	aliceIdP  = "https://issuer.example/oauth2"
	workflow  = "https://github.com/example/models/.github/workflows/sign.yml@refs/heads/main"
	githubIdP = "https://token.actions.githubusercontent.com"
)

// TestSigstoreVirtualEndToEnd signs models with a private Sigstore
// instance and verifies them through the production path: trust config
// file, ReadBundle, the sigstore verifier, Verify.
func TestSigstoreVirtualEndToEnd(t *testing.T) {
	inst := sigstoretest.New(t)
	trustDir := t.TempDir()
	trustFiles := map[string]string{
		"trusted root":        inst.WriteTrustedRoot(t, trustDir),
		"client trust config": inst.WriteClientTrustConfig(t, trustDir),
	}
	tests := []struct {
		name             string
		signer           sigstoretest.Signer
		identity, issuer string
		want             []string // nil: verifies
	}{
		{name: "email", signer: sigstoretest.Email(alice, aliceIdP), identity: alice, issuer: aliceIdP},
		{name: "URI SAN", signer: sigstoretest.Signer{URIs: []string{workflow}, Issuer: githubIdP, IssuerV2: githubIdP},
			identity: workflow, issuer: githubIdP},
		{name: "otherName SAN", signer: sigstoretest.Signer{OtherNames: []string{"alice"}, Issuer: aliceIdP},
			identity: "alice", issuer: aliceIdP},
		{name: "second of several SANs", signer: sigstoretest.Signer{Emails: []string{"bob@example.com", alice}, URIs: []string{workflow}, Issuer: aliceIdP},
			identity: alice, issuer: aliceIdP},
		{name: "legacy issuer extension only", signer: sigstoretest.Signer{Emails: []string{alice}, Issuer: aliceIdP},
			identity: alice, issuer: aliceIdP},
		{name: "issuer extensions disagree, legacy one asked", signer: sigstoretest.Signer{Emails: []string{alice}, Issuer: aliceIdP, IssuerV2: githubIdP},
			identity: alice, issuer: aliceIdP},

		{name: "wrong identity", signer: sigstoretest.Email(alice, aliceIdP), identity: "bob@example.com", issuer: aliceIdP,
			want: []string{`certificate identity "bob@example.com" not found; the certificate has "alice@example.com"`}},
		{name: "identity prefix", signer: sigstoretest.Email(alice, aliceIdP), identity: "alice", issuer: aliceIdP,
			want: []string{`identity "alice" not found`}},
		{name: "URI prefix", signer: sigstoretest.Signer{URIs: []string{workflow}, Issuer: githubIdP}, identity: "https://github.com/example/models/", issuer: githubIdP,
			want: []string{"not found"}},
		{name: "several SANs listed", signer: sigstoretest.Signer{Emails: []string{"bob@example.com"}, URIs: []string{workflow}, OtherNames: []string{"bobby"}, Issuer: aliceIdP},
			identity: alice, issuer: aliceIdP, want: []string{`the certificate has "bob@example.com", "` + workflow + `", "bobby"`}},
		{name: "no identity SAN", signer: sigstoretest.Signer{Issuer: aliceIdP}, identity: alice, issuer: aliceIdP,
			want: []string{"no usable identity"}},
		{name: "wrong issuer", signer: sigstoretest.Email(alice, aliceIdP), identity: alice, issuer: githubIdP,
			want: []string{`certificate issuer is "` + aliceIdP + `", expected "` + githubIdP + `"`}},
		{name: "v2 issuer extension only", signer: sigstoretest.Signer{Emails: []string{alice}, IssuerV2: aliceIdP}, identity: alice, issuer: aliceIdP,
			want: []string{"no OIDC issuer extension (1.3.6.1.4.1.57264.1.1)", `v2 issuer extension (1.3.6.1.4.1.57264.1.8) says "` + aliceIdP + `"`}},
		{name: "issuer extensions disagree, v2 one asked", signer: sigstoretest.Signer{Emails: []string{alice}, Issuer: aliceIdP, IssuerV2: githubIdP},
			identity: alice, issuer: githubIdP, want: []string{"certificate issuer is"}},
		{name: "no SCT", signer: func() sigstoretest.Signer { s := sigstoretest.Email(alice, aliceIdP); s.NoSCT = true; return s }(),
			identity: alice, issuer: aliceIdP, want: []string{"no SCT that verifies"}},
		{name: "no digitalSignature key usage", identity: alice, issuer: aliceIdP,
			signer: withTemplate(sigstoretest.Email(alice, aliceIdP), func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCertSign }),
			want:   []string{"lacks key usage digitalSignature"}},
		{name: "no extended key usage", identity: alice, issuer: aliceIdP,
			signer: withTemplate(sigstoretest.Email(alice, aliceIdP), func(c *x509.Certificate) { c.ExtKeyUsage = nil }),
			want:   []string{"lacks extended key usage codeSigning"}},
		{name: "log entry lists a second signature", identity: alice, issuer: aliceIdP,
			signer: withLogBody(sigstoretest.Email(alice, aliceIdP), duplicateLoggedSignature),
			want:   []string{"transparency log entry signatures do not match"}},
	}
	for _, tc := range tests {
		for trustName, trustPath := range trustFiles {
			t.Run(tc.name+"/"+trustName, func(t *testing.T) {
				dir := writeModel(t)
				inst.SignModel(t, dir, tc.signer)
				tm, err := modelsig.LoadTrustConfig(trustPath)
				if err != nil {
					t.Fatal(err)
				}
				v := newSigstoreVerifier(t, tm, tc.identity, tc.issuer)
				res, err := modelsig.Verify(context.Background(), dir, v, modelsig.VerifyOptions{IgnoreGitPaths: true})
				if tc.want != nil {
					if res != nil {
						t.Errorf("Verify returned a result along with error %v", err)
					}
					wantVerificationError(t, err, append([]string{filepath.Join(dir, "model.sig")}, tc.want...)...)
					return
				}
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.Signed.Identity != tc.identity || res.Signed.Issuer != tc.issuer || len(res.Signed.Warnings) != 0 {
					t.Errorf("signed = %+v", res.Signed)
				}
				if len(res.Manifest.Resources) != 3 {
					t.Errorf("verified manifest has %d resources, want 3", len(res.Manifest.Resources))
				}
			})
		}
	}
}

func withTemplate(s sigstoretest.Signer, f func(*x509.Certificate)) sigstoretest.Signer {
	s.Template = f
	return s
}

func withLogBody(s sigstoretest.Signer, f func([]byte) []byte) sigstoretest.Signer {
	s.LogBody = f
	return s
}

// duplicateLoggedSignature makes the logged dsse entry list its signature
// twice, which sigstore-go alone would accept.
func duplicateLoggedSignature(body []byte) []byte {
	var entry map[string]any
	if err := json.Unmarshal(body, &entry); err != nil {
		panic(err)
	}
	spec := entry["spec"].(map[string]any)
	sigs := spec["signatures"].([]any)
	spec["signatures"] = append(sigs, sigs[0])
	out, err := json.Marshal(entry)
	if err != nil {
		panic(err)
	}
	return out
}

// TestSigstoreVirtualTampering edits a valid model.sig and expects the
// verification to fail.
func TestSigstoreVirtualTampering(t *testing.T) {
	inst := sigstoretest.New(t)
	other := sigstoretest.New(t) // another instance, for foreign material
	foreignCert := jsonPath(t, decodeJSON(t, other.SignPayload(t, sigstoretest.Email(alice, aliceIdP), []byte(`{}`))),
		"verificationMaterial", "certificate", "rawBytes")
	tests := []struct {
		name string
		edit func(t *testing.T, b map[string]any)
		want string // "" means it must still verify
	}{
		{"unchanged", func(*testing.T, map[string]any) {}, ""},
		{"payload", func(t *testing.T, b map[string]any) {
			env := b["dsseEnvelope"].(map[string]any)
			p := decodeB64(t, env["payload"].(string))
			env["payload"] = base64.StdEncoding.EncodeToString(append(p, ' '))
		}, "transparency log"},
		{"payload type", func(t *testing.T, b map[string]any) {
			b["dsseEnvelope"].(map[string]any)["payloadType"] = "application/json"
		}, "DSSE"},
		{"signature", func(t *testing.T, b map[string]any) {
			sig := b["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)
			raw := decodeB64(t, sig["sig"].(string))
			raw[len(raw)-1] ^= 1
			sig["sig"] = base64.StdEncoding.EncodeToString(raw)
		}, "signature"},
		{"certificate from another instance", func(t *testing.T, b map[string]any) {
			jsonSet(b, foreignCert, "verificationMaterial", "certificate", "rawBytes")
		}, "transparency log entry does not match"},
		{"log body", func(t *testing.T, b map[string]any) {
			e := tlogEntry(b)
			var body map[string]any
			if err := json.Unmarshal(decodeB64(t, e["canonicalizedBody"].(string)), &body); err != nil {
				t.Fatal(err)
			}
			body["spec"].(map[string]any)["payloadHash"].(map[string]any)["value"] = strings.Repeat("0", 64)
			raw, _ := json.Marshal(body)
			e["canonicalizedBody"] = base64.StdEncoding.EncodeToString(raw)
		}, "no verified transparency log entry"},
		{"log index", func(t *testing.T, b map[string]any) { tlogEntry(b)["logIndex"] = "7" }, "no verified transparency log entry"},
		{"integrated time", func(t *testing.T, b map[string]any) {
			e := tlogEntry(b)
			e["integratedTime"] = "1700000000"
		}, "no verified transparency log entry"},
		{"log ID", func(t *testing.T, b map[string]any) {
			tlogEntry(b)["logId"] = map[string]any{"keyId": base64.StdEncoding.EncodeToString(make([]byte, 32))}
		}, "no verified transparency log entry"},
		{"inclusion proof root hash", func(t *testing.T, b map[string]any) {
			jsonSet(tlogEntry(b), base64.StdEncoding.EncodeToString(make([]byte, 32)), "inclusionProof", "rootHash")
		}, "transparency log entry does not match the bundle or does not verify"},
		{"no inclusion proof", func(t *testing.T, b map[string]any) { delete(tlogEntry(b), "inclusionProof") }, "inclusion proof missing"},
		{"no promise (timestamp and proof suffice)", func(t *testing.T, b map[string]any) { delete(tlogEntry(b), "inclusionPromise") }, ""},
		{"no promise and no timestamp", func(t *testing.T, b map[string]any) {
			delete(tlogEntry(b), "inclusionPromise")
			delete(b["verificationMaterial"].(map[string]any), "timestampVerificationData")
		}, "no verified signing time"},
		{"no timestamp (promise suffices)", func(t *testing.T, b map[string]any) {
			delete(b["verificationMaterial"].(map[string]any), "timestampVerificationData")
		}, ""},
		{"duplicate timestamp", func(t *testing.T, b map[string]any) {
			tv := b["verificationMaterial"].(map[string]any)["timestampVerificationData"].(map[string]any)
			ts := tv["rfc3161Timestamps"].([]any)
			tv["rfc3161Timestamps"] = append(ts, ts[0])
		}, "duplicate RFC 3161 timestamp"},
		{"no log entry", func(t *testing.T, b map[string]any) {
			b["verificationMaterial"].(map[string]any)["tlogEntries"] = []any{}
		}, "no transparency log entry"},
		{"two log entries", func(t *testing.T, b map[string]any) {
			vm := b["verificationMaterial"].(map[string]any)
			vm["tlogEntries"] = append(vm["tlogEntries"].([]any), vm["tlogEntries"].([]any)[0])
		}, "exactly one"},
		{"log entry kind", func(t *testing.T, b map[string]any) {
			tlogEntry(b)["kindVersion"] = map[string]any{"kind": "intoto", "version": "0.0.2"}
		}, `kind "intoto" version "0.0.2"`},
		{"keyid set (ignored, as by the reference)", func(t *testing.T, b map[string]any) {
			b["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)["keyid"] = "somebody"
		}, ""},
		{"two signatures", func(t *testing.T, b map[string]any) {
			env := b["dsseEnvelope"].(map[string]any)
			env["signatures"] = append(env["signatures"].([]any), env["signatures"].([]any)[0])
		}, "DSSE envelope has 2 signatures"},
		{"media type v0.2 with a v0.3 certificate", func(t *testing.T, b map[string]any) { b["mediaType"] = modelsig.MediaTypeV02 }, "x509CertificateChain"},
		{"media type v0.2 with a chain", func(t *testing.T, b map[string]any) {
			b["mediaType"] = modelsig.MediaTypeV02
			vm := b["verificationMaterial"].(map[string]any)
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{vm["certificate"]}}
			delete(vm, "certificate")
		}, ""},
		{"media type v0.1 (needs a promise, has one)", func(t *testing.T, b map[string]any) {
			b["mediaType"] = modelsig.MediaTypeV01
			vm := b["verificationMaterial"].(map[string]any)
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{vm["certificate"]}}
			delete(vm, "certificate")
		}, ""},
		{"v0.3 with a chain", func(t *testing.T, b map[string]any) {
			vm := b["verificationMaterial"].(map[string]any)
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{vm["certificate"]}}
			delete(vm, "certificate")
		}, "use the certificate method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeModel(t)
			sigPath := inst.SignModel(t, dir, sigstoretest.Email(alice, aliceIdP))
			b := decodeJSON(t, mustRead(t, sigPath))
			tc.edit(t, b)
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(sigPath, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			v := newSigstoreVerifier(t, inst.TrustedRoot(), alice, aliceIdP)
			_, err = modelsig.Verify(context.Background(), dir, v, modelsig.VerifyOptions{IgnoreGitPaths: true})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantVerificationError(t, err, tc.want)
		})
	}
}

// TestSigstoreVirtualOtherTrust: a fixture bundle is refused under other
// trusted roots.
func TestSigstoreVirtualOtherTrust(t *testing.T) {
	inst := sigstoretest.New(t)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"00"}}],"predicateType":"x","predicate":{}}`)
	bundlePath := filepath.Join(t.TempDir(), "model.sig")
	if err := os.WriteFile(bundlePath, inst.SignPayload(t, sigstoretest.Email(alice, aliceIdP), payload), 0o644); err != nil {
		t.Fatal(err)
	}
	noTSA := decodeJSON(t, inst.TrustedRootJSON())
	delete(noTSA, "timestampAuthorities")
	tests := []struct {
		name string
		tm   func(t *testing.T) root.TrustedMaterial
		want string
	}{
		{"production", func(t *testing.T) root.TrustedMaterial {
			return loadTrust(t, "sigstore-trust", "public-good-trusted_root.json")
		}, "no verified transparency log entry"},
		{"another instance", func(t *testing.T) root.TrustedMaterial { return sigstoretest.New(t).TrustedRoot() },
			"no verified transparency log entry"},
		{"own root without timestamp authority", func(t *testing.T) root.TrustedMaterial {
			raw, _ := json.Marshal(noTSA)
			p := filepath.Join(t.TempDir(), "root.json")
			if err := os.WriteFile(p, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			tm, err := modelsig.LoadTrustConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}, "the trusted root has no timestamp authority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newSigstoreVerifier(t, tc.tm(t), alice, aliceIdP)
			_, err := v.VerifySignature(readBundle(t, bundlePath))
			wantVerificationError(t, err, bundlePath, tc.want)
		})
	}
	// The same bundle under its own root verifies, and returns exactly the
	// signed payload.
	signed, err := newSigstoreVerifier(t, inst.TrustedRoot(), alice, aliceIdP).VerifySignature(readBundle(t, bundlePath))
	if err != nil {
		t.Fatal(err)
	}
	if string(signed.Payload) != string(payload) || len(signed.Fingerprints) != 1 {
		t.Errorf("signed = %+v", signed)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeJSON(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tlogEntry(b map[string]any) map[string]any {
	return b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
}

func jsonPath(t *testing.T, m map[string]any, keys ...string) any {
	t.Helper()
	var v any = m
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %s in JSON", strings.Join(keys, "."))
		}
		v = obj[k]
	}
	return v
}

func jsonSet(m map[string]any, value any, keys ...string) {
	for _, k := range keys[:len(keys)-1] {
		m = m[k].(map[string]any)
	}
	m[keys[len(keys)-1]] = value
}

// FuzzSigstoreVerifySignature mutates a valid bundle: whatever the
// mutation, verification must not panic, and a bundle that still verifies
// must yield exactly the payload that was signed.
func FuzzSigstoreVerifySignature(f *testing.F) {
	inst := sigstoretest.New(f)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"00"}}],"predicateType":"x","predicate":{}}`)
	good := inst.SignPayload(f, sigstoretest.Email(alice, aliceIdP), payload)
	f.Add(good)
	var compact bytes.Buffer
	if err := json.Compact(&compact, good); err != nil {
		f.Fatal(err)
	}
	f.Add(compact.Bytes())
	v, err := modelsig.NewSigstoreVerifier(inst.TrustedRoot(), alice, aliceIdP)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := modelsig.ParseBundle("fuzz.sig", data)
		if err != nil {
			return
		}
		signed, err := v.VerifySignature(b)
		if err != nil {
			if signed != nil {
				t.Fatal("a result along with an error")
			}
			return
		}
		if !bytes.Equal(signed.Payload, payload) || signed.PayloadType != modelsig.PayloadTypeInToto {
			t.Fatalf("verified another payload: %q %q", signed.PayloadType, signed.Payload)
		}
	})
}
