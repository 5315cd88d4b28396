package modelsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Helpers shared by the key, certificate, verify and sign tests.

func keySigner(t testing.TB, priv *ecdsa.PrivateKey) Signer {
	t.Helper()
	s, err := NewKeySigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func certSigner(t testing.TB, priv *ecdsa.PrivateKey, leaf *x509.Certificate, chain ...*x509.Certificate) Signer {
	t.Helper()
	s, err := NewCertificateSigner(priv, leaf, chain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signedBundle signs payload over the standard PAE with s and returns a
// v0.3 bundle carrying s's material.
func signedBundle(t testing.TB, s Signer, payloadType string, payload []byte) []byte {
	t.Helper()
	sig, err := s.SignPAE(pae(payloadType, payload))
	if err != nil {
		t.Fatal(err)
	}
	return bundleWithSig(t, s, payloadType, payload, sig)
}

func bundleWithSig(t testing.TB, s Signer, payloadType string, payload, sig []byte) []byte {
	t.Helper()
	data, err := marshalBundle(s, payloadType, payload, sig)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rawSign signs msg hashed with h, for signatures the signers never make
// (compat PAE, wrong hash).
func rawSign(t testing.TB, priv *ecdsa.PrivateKey, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest(h, msg))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func parse(t testing.TB, data []byte) *Bundle {
	t.Helper()
	b, err := ParseBundle("test.sig", data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantVerificationError asserts err is a *VerificationError about path
// whose message contains want.
func wantVerificationError(t *testing.T, err error, path, want string) {
	t.Helper()
	var ve *VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *VerificationError", err, err)
	}
	if ve.Path != path || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q (path %q), want path %q and %q", err, ve.Path, path, want)
	}
	if !strings.HasPrefix(ve.Error(), strconv.Quote(path)+": ") {
		t.Errorf("error %q does not start with the path, quoted", ve)
	}
}

func TestCheckBundleFormMessages(t *testing.T) {
	b := &Bundle{name: "m.sig", MediaType: MediaTypeV03, Material: MaterialNone}
	wantVerificationError(t, checkBundleForm(b, MethodKey, MaterialPublicKey), "m.sig", "bundle carries no verification material for the key method")
	b.Material = MaterialCertificate
	wantVerificationError(t, checkBundleForm(b, MethodCertificate, MaterialCertificateChain), "m.sig",
		"signature was made with a Sigstore certificate, not a certificate; use the sigstore method")
}
