package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/youmark/pkcs8"
)

func TestChainVerifies(t *testing.T) {
	root := NewRoot(t, "root")
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Leaf(t, "leaf")
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters.AddCert(inter.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.KeyUsage != x509.KeyUsageDigitalSignature || leaf.Cert.IsCA || !inter.Cert.IsCA {
		t.Errorf("usages: leaf KU %v CA %v, intermediate CA %v", leaf.Cert.KeyUsage, leaf.Cert.IsCA, inter.Cert.IsCA)
	}
	if !leaf.Key.PublicKey.Equal(leaf.Cert.PublicKey) {
		t.Error("leaf key does not match its certificate")
	}
	p384 := SelfSigned(t, Options{Name: "p384", Curve: elliptic.P384()})
	if p384.Key.Curve != elliptic.P384() || p384.Cert.KeyUsage != 0 || p384.Cert.Subject.CommonName != "p384" {
		t.Errorf("options not applied: %+v", p384.Cert.Subject)
	}
}

func TestWriteKey(t *testing.T) {
	dir := t.TempDir()
	k := Key(t, elliptic.P521())
	pw := []byte("pw")
	tests := []struct {
		format KeyFormat
		parse  func(*pem.Block) (any, error)
	}{
		{SEC1, func(b *pem.Block) (any, error) { return x509.ParseECPrivateKey(b.Bytes) }},
		{PKCS8, func(b *pem.Block) (any, error) { return x509.ParsePKCS8PrivateKey(b.Bytes) }},
		{PKCS8Encrypted, func(b *pem.Block) (any, error) { return pkcs8.ParsePKCS8PrivateKey(b.Bytes, pw) }},
		{SEC1EncryptedLegacy, func(b *pem.Block) (any, error) {
			der, err := x509.DecryptPEMBlock(b, pw) //nolint:staticcheck // the legacy format under test
			if err != nil {
				return nil, err
			}
			return x509.ParseECPrivateKey(der)
		}},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, "key.pem")
		WriteKey(t, p, k, tc.format, pw)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		got, err := tc.parse(block)
		if err != nil {
			t.Fatalf("format %d: %v", tc.format, err)
		}
		if !k.Equal(got.(*ecdsa.PrivateKey)) {
			t.Errorf("format %d: another key", tc.format)
		}
	}
}

func TestModel(t *testing.T) {
	dir := Model(t, map[string]string{"a/b/c.txt": "c", "top": ""})
	if data, err := os.ReadFile(filepath.Join(dir, "a", "b", "c.txt")); err != nil || string(data) != "c" {
		t.Errorf("a/b/c.txt = %q, %v", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "top")); err != nil || fi.Size() != 0 {
		t.Errorf("top: %v", err)
	}
}
