package modelsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
)

func pemPublic(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestParsePublicKeyPEM(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testpki.NewRoot(t, "r").Cert.Raw})
	tests := []struct {
		name string
		data []byte
		want string // "" = accepted
	}{
		{"P-256", pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), ""},
		{"P-384 with text around", append(append([]byte("Public Key Info:\n\tcurve: SECP384R1\n"), pemPublic(t, &testpki.Key(t, elliptic.P384()).PublicKey)...), "trailer\n"...), ""},
		{"P-521", pemPublic(t, &testpki.Key(t, elliptic.P521()).PublicKey), ""},
		{"CRLF line ends", bytes.ReplaceAll(pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), []byte("\n"), []byte("\r\n")), ""},
		{"two keys", append(pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey)...),
			"holds 2 PEM PUBLIC KEY blocks; a public key file must hold exactly one key"},
		{"the same key twice", bytes.Repeat(pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), 2),
			"holds 2 PEM PUBLIC KEY blocks"},
		{"a key after a certificate", append(append([]byte{}, certPEM...), pemPublic(t, &testpki.Key(t, elliptic.P521()).PublicKey)...),
			"holds PEM blocks besides the PUBLIC KEY (CERTIFICATE, PUBLIC KEY)"},
		{"a key and a trailing block", append(pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), pem.EncodeToMemory(&pem.Block{Type: "GARBAGE", Bytes: []byte("x")})...),
			"holds PEM blocks besides the PUBLIC KEY (PUBLIC KEY, GARBAGE)"},
		{"a key and a damaged block", append(pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), "-----BEGIN PUBLIC KEY-----\n%%%\n-----END PUBLIC KEY-----\n"...),
			"holds 1 PEM block(s) that do not decode"},
		{"a key and an unterminated block", append(pemPublic(t, &testpki.Key(t, elliptic.P256()).PublicKey), "-----BEGIN PUBLIC KEY-----\nMFkw\n"...),
			"holds 1 PEM block(s) that do not decode"},
		{"P-224", pemPublic(t, &p224.PublicKey), "only elliptic-curve keys on P-256, P-384 or P-521 are supported (got curve P-224)"},
		{"RSA", pemPublic(t, &testpki.RSAKey(t).PublicKey), "only elliptic-curve keys on P-256, P-384 or P-521 are supported (got RSA)"},
		{"Ed25519", pemPublic(t, edPub), "(got Ed25519)"},
		{"no PEM", []byte("not a key"), "no PEM PUBLIC KEY block found"},
		{"only a certificate", certPEM, "no PEM PUBLIC KEY block found (found CERTIFICATE)"},
		{"garbage block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")}), "PUBLIC KEY block: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := ParsePublicKeyPEM(tc.data)
			if tc.want == "" {
				if err != nil || pub == nil {
					t.Fatalf("ParsePublicKeyPEM: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadPublicKeyReference(t *testing.T) {
	pub, err := LoadPublicKey(refPath(t, "keys", "certificate", "signing-key-pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := PublicKeyHint(pub), "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"; got != want {
		t.Errorf("hint = %s, want %s", got, want)
	}
	if pub.Curve != elliptic.P384() {
		t.Errorf("curve %s", pub.Curve.Params().Name)
	}
}

func TestLoadPublicKeyErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	if _, err := LoadPublicKey(missing); err == nil || !strings.HasPrefix(err.Error(), "read public key: open "+strconv.Quote(missing)+": no such file") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	testpki.WriteFile(t, bad, []byte("hello"))
	if _, err := LoadPublicKey(bad); err == nil || err.Error() != "public key "+strconv.Quote(bad)+": no PEM PUBLIC KEY block found" {
		t.Errorf("bad file: %v", err)
	}
	big := filepath.Join(dir, "big.pem")
	testpki.WriteFile(t, big, make([]byte, maxKeyFileSize+1))
	if _, err := LoadPublicKey(big); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("larger than %d bytes", maxKeyFileSize)) {
		t.Errorf("big file: %v", err)
	}
}

func TestKeyVerifier(t *testing.T) {
	payload := []byte(`{"x": 1}`)
	k256, k384, k521 := testpki.Key(t, elliptic.P256()), testpki.Key(t, elliptic.P384()), testpki.Key(t, elliptic.P521())
	other := testpki.Key(t, elliptic.P384())
	root := testpki.NewRoot(t, "root")
	leaf := root.Leaf(t, "leaf")

	// withHint rewrites a key bundle's hint.
	withHint := func(data []byte, hint string) []byte {
		return []byte(strings.Replace(string(data), `"hint":"`+PublicKeyHint(&k384.PublicKey)+`"`, `"hint":"`+hint+`"`, 1))
	}
	std384 := signedBundle(t, keySigner(t, k384), PayloadTypeInToto, payload)
	tests := []struct {
		name     string
		key      *ecdsa.PublicKey
		bundle   []byte
		want     string // "" = verifies
		warnings int
	}{
		{"P-256", &k256.PublicKey, signedBundle(t, keySigner(t, k256), PayloadTypeInToto, payload), "", 0},
		{"P-384", &k384.PublicKey, std384, "", 0},
		{"P-521", &k521.PublicKey, signedBundle(t, keySigner(t, k521), PayloadTypeInToto, payload), "", 0},
		{"any payload type is signed", &k256.PublicKey, signedBundle(t, keySigner(t, k256), "text/plain", payload), "", 0},
		{"compat PAE, curve hash P-384", &k384.PublicKey, bundleWithSig(t, keySigner(t, k384), PayloadTypeInToto, payload,
			rawSign(t, k384, crypto.SHA384, paeCompat(PayloadTypeInToto, payload))), "", 0},
		{"compat PAE with SHA-256 on P-384 is not the key method's", &k384.PublicKey, bundleWithSig(t, keySigner(t, k384), PayloadTypeInToto, payload,
			rawSign(t, k384, crypto.SHA256, paeCompat(PayloadTypeInToto, payload))), "signature does not verify with the given public key", 0},
		{"standard PAE hashed with the wrong hash", &k384.PublicKey, bundleWithSig(t, keySigner(t, k384), PayloadTypeInToto, payload,
			rawSign(t, k384, crypto.SHA256, pae(PayloadTypeInToto, payload))), "signature does not verify", 0},
		{"no hint: warning", &k384.PublicKey, withHint(std384, ""), "", 1},
		{"hint differs but key verifies: warning", &k384.PublicKey, withHint(std384, "00ff"), "", 1},
		{"wrong key, hint differs", &other.PublicKey, std384, "the public key does not match: the signature was made with the key whose hint is \"" + PublicKeyHint(&k384.PublicKey) + "\"", 0},
		{"wrong key, no hint", &other.PublicKey, withHint(std384, ""), "signature does not verify with the given public key", 0},
		{"tampered payload", &k384.PublicKey, []byte(strings.Replace(string(std384), b64(payload), b64([]byte(`{"x": 2}`)), 1)), "signature does not verify", 0},
		{"tampered payload type", &k384.PublicKey, []byte(strings.Replace(string(std384), PayloadTypeInToto, "application/vnd.in-toto+jsoN", 1)), "signature does not verify", 0},
		{"only signatures[0] counts", &k384.PublicKey, []byte(strings.Replace(string(std384), `"signatures":[`, `"signatures":[{"sig":"`+b64([]byte("bad"))+`"},`, 1)), "signature does not verify", 0},
		{"certificate bundle", &leaf.Key.PublicKey, signedBundle(t, certSigner(t, leaf.Key, leaf.Cert), PayloadTypeInToto, payload),
			"signature was made with a certificate, not a bare key; use the certificate method", 0},
		{"v0.2 media type", &k384.PublicKey, []byte(strings.Replace(string(std384), MediaTypeV03, MediaTypeV02, 1)),
			`the key method needs a bundle of media type application/vnd.dev.sigstore.bundle.v0.3+json, not "application/vnd.dev.sigstore.bundle+json;version=0.2"`, 0},
		{"nil key", nil, std384, "only elliptic-curve keys", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewKeyVerifier(tc.key)
			if v.Method() != MethodKey {
				t.Errorf("method %s", v.Method())
			}
			s, err := v.VerifySignature(parse(t, tc.bundle))
			if tc.want != "" {
				if tc.key == nil {
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("error %v, want %q", err, tc.want)
					}
					return
				}
				wantVerificationError(t, err, "test.sig", tc.want)
				return
			}
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if string(s.Payload) != string(payload) || len(s.Warnings) != tc.warnings || len(s.Fingerprints) != 0 {
				t.Errorf("signed %+v", s)
			}
		})
	}
}

func FuzzParsePublicKeyPEM(f *testing.F) {
	f.Add(pemPublic(f, &testpki.Key(f, elliptic.P256()).PublicKey))
	f.Add(pemPublic(f, &testpki.Key(f, elliptic.P521()).PublicKey))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"))
	if data, err := os.ReadFile(refSeed("keys", "certificate", "signing-key-pub.pem")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKeyPEM(data)
		if err != nil {
			return
		}
		if _, err := curveHash(pub); err != nil {
			t.Fatalf("accepted a key on %s", pub.Curve.Params().Name)
		}
		// Exactly one PEM block, and it is the key.
		var blocks int
		for rest := data; ; blocks++ {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "PUBLIC KEY" {
				t.Fatalf("accepted a file with a %q block", b.Type)
			}
		}
		if blocks != 1 {
			t.Fatalf("accepted a file with %d PEM blocks", blocks)
		}
		if h := PublicKeyHint(pub); len(h) != 64 {
			t.Fatalf("hint %q", h)
		}
		again, err := ParsePublicKeyPEM(pemPublic(t, pub))
		if err != nil || !again.Equal(pub) {
			t.Fatalf("re-encoded key does not parse back: %v", err)
		}
	})
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	k := testpki.Key(f, elliptic.P256())
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	f.Add(sec1)
	f.Add(append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), sec1...))
	f.Add(append(append([]byte{}, sec1...), sec1...))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	if data, err := os.ReadFile(refSeed("keys", "certificate", "signing-key.pem")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pw := range [][]byte{nil, []byte("password")} {
			priv, err := parsePrivateKeyPEM(data, pw)
			if err != nil {
				continue
			}
			if _, err := curveHash(&priv.PublicKey); err != nil {
				t.Fatalf("accepted a key on %s", priv.Curve.Params().Name)
			}
			var keys int
			for rest := data; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				if slices.Contains(privateKeyTypes, b.Type) {
					keys++
				}
			}
			if keys != 1 {
				t.Fatalf("accepted a file with %d private keys", keys)
			}
		}
	})
}
