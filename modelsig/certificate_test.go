package modelsig

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/testpki"
)

func TestCertificateVerifier(t *testing.T) {
	payload := []byte(`{"y": 2}`)
	root := testpki.NewRoot(t, "root")
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Leaf(t, "leaf")
	otherRoot := testpki.NewRoot(t, "root") // same name, another key

	issue := func(ca *testpki.Cert, opts testpki.Options) *testpki.Cert {
		if opts.Name == "" {
			opts.Name = "leaf"
		}
		return ca.Issue(t, opts)
	}
	now := time.Now()
	codeSigning := []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	expired := issue(inter, testpki.Options{KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-30 * time.Minute), NotAfter: now.Add(-time.Minute)})
	early := issue(inter, testpki.Options{KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-2 * time.Hour)}) // before the CA's notBefore
	ekuOnly := issue(inter, testpki.Options{ExtKeyUsage: codeSigning})
	kuServer := issue(inter, testpki.Options{KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	caLeaf := issue(inter, testpki.Options{IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign})
	noUsage := issue(inter, testpki.Options{KeyUsage: x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p384 := issue(inter, testpki.Options{Curve: elliptic.P384(), ExtKeyUsage: codeSigning})
	p224 := issue(inter, testpki.Options{Curve: elliptic.P224(), ExtKeyUsage: codeSigning})
	selfSigned := testpki.SelfSigned(t, testpki.Options{Name: "self", KeyUsage: x509.KeyUsageDigitalSignature})

	// bundle signs payload with c's key and carries [c, chain...].
	bundle := func(c *testpki.Cert, chain ...*x509.Certificate) []byte {
		s := &ecSigner{priv: c.Key, method: MethodCertificate, certs: append([]*x509.Certificate{c.Cert}, chain...)}
		return signedBundle(t, s, PayloadTypeInToto, payload)
	}
	withSig := func(c *testpki.Cert, sig []byte, chain ...*x509.Certificate) []byte {
		s := &ecSigner{priv: c.Key, method: MethodCertificate, certs: append([]*x509.Certificate{c.Cert}, chain...)}
		return bundleWithSig(t, s, PayloadTypeInToto, payload, sig)
	}
	notSelfSigned := `does not lead to a trusted self-signed root: none of the 1 trusted certificates is self-signed`
	tests := []struct {
		name   string
		trust  []*x509.Certificate
		bundle []byte
		want   string // "" = verifies
		fps    []*x509.Certificate
	}{
		{"root trusted, intermediate in bundle", []*x509.Certificate{root.Cert}, bundle(leaf, inter.Cert), "", []*x509.Certificate{inter.Cert, leaf.Cert}},
		{"intermediate in the trust list", []*x509.Certificate{inter.Cert, root.Cert}, bundle(leaf), "", []*x509.Certificate{leaf.Cert}},
		{"root repeated in the bundle", []*x509.Certificate{root.Cert}, bundle(leaf, inter.Cert, root.Cert), "", []*x509.Certificate{inter.Cert, root.Cert, leaf.Cert}},
		{"expired leaf: checked at its notBefore", []*x509.Certificate{root.Cert}, bundle(expired, inter.Cert), "", nil},
		{"EKU codeSigning without KU", []*x509.Certificate{root.Cert}, bundle(ekuOnly, inter.Cert), "", nil},
		{"KU digitalSignature with EKU serverAuth", []*x509.Certificate{root.Cert}, bundle(kuServer, inter.Cert), "", nil},
		{"CA leaf", []*x509.Certificate{root.Cert}, bundle(caLeaf, inter.Cert), "", nil},
		{"self-signed leaf trusted directly", []*x509.Certificate{selfSigned.Cert}, bundle(selfSigned), "", nil},
		{"P-384 leaf", []*x509.Certificate{root.Cert}, bundle(p384, inter.Cert), "", nil},
		{"compat PAE hashed with SHA-256 on P-384", []*x509.Certificate{root.Cert},
			withSig(p384, rawSign(t, p384.Key, crypto.SHA256, paeCompat(PayloadTypeInToto, payload)), inter.Cert), "", nil},
		{"compat PAE hashed by curve is not the certificate method's", []*x509.Certificate{root.Cert},
			withSig(p384, rawSign(t, p384.Key, crypto.SHA384, paeCompat(PayloadTypeInToto, payload)), inter.Cert), "signature does not verify with the key of signing certificate", nil},
		{"intermediate-only trust list", []*x509.Certificate{inter.Cert}, bundle(leaf), notSelfSigned, nil},
		{"intermediate-only trust list, intermediate in bundle", []*x509.Certificate{inter.Cert}, bundle(leaf, inter.Cert), notSelfSigned, nil},
		{"wrong CA", []*x509.Certificate{otherRoot.Cert}, bundle(leaf, inter.Cert), "does not lead to a trusted self-signed root (x509: certificate signed by unknown authority", nil},
		{"missing intermediate", []*x509.Certificate{root.Cert}, bundle(leaf), "does not lead to a trusted self-signed root", nil},
		{"CA not yet valid at the leaf's notBefore", []*x509.Certificate{root.Cert}, bundle(early, inter.Cert), `certificate "CN=intermediate" (SHA-256 `, nil},
		{"unusable leaf", []*x509.Certificate{root.Cert}, bundle(noUsage, inter.Cert), "cannot be used for signing (it has neither key usage digitalSignature nor extended key usage codeSigning)", nil},
		{"P-224 leaf", []*x509.Certificate{root.Cert}, withSig(p224, []byte("sig"), inter.Cert), "only elliptic-curve keys on P-256, P-384 or P-521 are supported (got curve P-224)", nil},
		{"bad signature", []*x509.Certificate{root.Cert}, withSig(leaf, rawSign(t, otherRoot.Key, crypto.SHA256, pae(PayloadTypeInToto, payload)), inter.Cert),
			`signature does not verify with the key of signing certificate "CN=leaf"`, nil},
		{"key bundle", []*x509.Certificate{root.Cert}, signedBundle(t, keySigner(t, leaf.Key), PayloadTypeInToto, payload),
			"signature was made with a bare key, not a certificate; use the key method", nil},
		{"garbage certificate", []*x509.Certificate{root.Cert}, []byte(strings.Replace(string(bundle(leaf, inter.Cert)), b64(leaf.Cert.Raw), b64([]byte("junk")), 1)),
			"bundle certificate 1: x509: malformed certificate", nil},
		{"v0.1 media type", []*x509.Certificate{root.Cert}, []byte(strings.Replace(string(bundle(leaf, inter.Cert)), MediaTypeV03, MediaTypeV01, 1)),
			"the certificate method needs a bundle of media type " + MediaTypeV03, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewCertificateVerifier(tc.trust)
			if err != nil {
				t.Fatal(err)
			}
			if v.Method() != MethodCertificate {
				t.Errorf("method %s", v.Method())
			}
			s, err := v.VerifySignature(parse(t, tc.bundle))
			if tc.want != "" {
				wantVerificationError(t, err, "test.sig", tc.want)
				return
			}
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if string(s.Payload) != string(payload) || s.PayloadType != PayloadTypeInToto {
				t.Errorf("signed %+v", s)
			}
			if tc.fps != nil {
				var want []string
				for _, c := range tc.fps {
					want = append(want, Fingerprint(c))
				}
				if strings.Join(s.Fingerprints, " ") != strings.Join(want, " ") {
					t.Errorf("fingerprints %q, want %q", s.Fingerprints, want)
				}
			}
		})
	}
}

func TestCertificateVerifierNotYetValidMessage(t *testing.T) {
	root := testpki.NewRoot(t, "root")
	inter := root.Intermediate(t, "intermediate")
	early := inter.Issue(t, testpki.Options{Name: "leaf", KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-2 * time.Hour)})
	v, err := NewCertificateVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	s := &ecSigner{priv: early.Key, method: MethodCertificate, certs: []*x509.Certificate{early.Cert, inter.Cert}}
	_, err = v.VerifySignature(parse(t, signedBundle(t, s, PayloadTypeInToto, []byte("{}"))))
	re := regexp.MustCompile(`certificate "CN=intermediate" \(SHA-256 [0-9A-F:]{95}\) is not valid at the signing certificate's notBefore \S+ \(valid \S+ to \S+\)`)
	if err == nil || !re.MatchString(err.Error()) {
		t.Errorf("error %v, want %s", err, re)
	}
}

func TestCertificateVerifierReference(t *testing.T) {
	keys := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, refPath(t, "keys", "certificate", n))
		}
		return out
	}
	b, err := ReadBundle(refPath(t, "v1.1.0-certificate", "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		trust []string
		want  string
	}{
		{"root", keys("ca-cert.pem"), ""},
		{"root and intermediate", keys("int-ca-cert.pem", "ca-cert.pem"), ""},
		// Like OpenSSL without PARTIAL_CHAIN: an intermediate is no anchor.
		{"intermediate only", keys("int-ca-cert.pem"), "none of the 1 trusted certificates is self-signed"},
		// The reference leaf has subject == issuer but is not self-signed.
		{"leaf only", keys("signing-key-cert.pem"), "none of the 1 trusted certificates is self-signed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := certVerifierFrom(t, tc.trust...)
			_, err := v.VerifySignature(b)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantVerificationError(t, err, b.Name(), tc.want)
		})
	}
}

func TestNewCertificateVerifierEmpty(t *testing.T) {
	if _, err := NewCertificateVerifier(nil); err == nil || !strings.Contains(err.Error(), "no trusted certificates given (system roots are never used)") {
		t.Errorf("error %v", err)
	}
	if _, err := NewCertificateVerifier([]*x509.Certificate{nil}); err == nil {
		t.Error("nil certificate accepted")
	}
}

func TestLoadCertificates(t *testing.T) {
	dir := t.TempDir()
	root := testpki.NewRoot(t, "root")
	inter := root.Intermediate(t, "inter")
	chain := filepath.Join(dir, "chain.pem")
	testpki.WriteCerts(t, chain, inter.Cert, root.Cert)
	rootOnly := filepath.Join(dir, "root.pem")
	// Text and other PEM blocks around certificates are skipped.
	testpki.WriteFile(t, rootOnly, append([]byte("Certificate:\n  Data: ...\n"),
		append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8}}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw})...)...))
	certs, err := LoadCertificates(chain, rootOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 3 || !certs[0].Equal(inter.Cert) || !certs[1].Equal(root.Cert) || !certs[2].Equal(root.Cert) {
		t.Errorf("got %d certificates in the wrong order", len(certs))
	}

	empty := filepath.Join(dir, "empty.pem")
	testpki.WriteFile(t, empty, []byte("nothing here"))
	if _, err := LoadCertificates(chain, empty); err == nil || err.Error() != "certificate file "+strconv.Quote(empty)+": no PEM CERTIFICATE found" {
		t.Errorf("file without certificates: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	testpki.WriteFile(t, bad, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})...))
	if _, err := LoadCertificates(bad); err == nil || !strings.HasPrefix(err.Error(), "certificate file "+strconv.Quote(bad)+": certificate 2: ") {
		t.Errorf("bad certificate: %v", err)
	}
	damaged := filepath.Join(dir, "damaged.pem")
	testpki.WriteFile(t, damaged, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw}), "-----BEGIN CERTIFICATE-----\n!!\n"...))
	if _, err := LoadCertificates(damaged); err == nil || !strings.Contains(err.Error(), "1 PEM block(s) that do not decode") {
		t.Errorf("damaged block: %v", err)
	}
	missing := filepath.Join(dir, "missing.pem")
	if _, err := LoadCertificates(missing); err == nil || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing file: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	c := testpki.NewRoot(t, "r").Cert
	fp := Fingerprint(c)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q", fp)
	}
}

func FuzzParseCertificatesPEM(f *testing.F) {
	root := testpki.NewRoot(f, "root")
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw})
	f.Add(one)
	f.Add(append(append([]byte("text\n"), one...), one...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	if data, err := os.ReadFile(refSeed("keys", "certificate", "int-ca-cert.pem")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificatesPEM(data)
		if err != nil {
			return
		}
		var n int
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				if !bytes.Equal(b.Bytes, certs[n].Raw) {
					t.Fatalf("certificate %d is not the file's", n)
				}
				n++
			}
		}
		if n != len(certs) || n == 0 {
			t.Fatalf("%d certificates returned, %d in the file", len(certs), n)
		}
	})
}
