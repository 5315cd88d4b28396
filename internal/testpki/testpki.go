// Package testpki makes throwaway keys, certificate chains, PEM files and
// small model directories for tests, so that no test needs key material
// checked into the repository.
//
// Everything is generated per test under t.TempDir() and fails the test
// (tb.Fatal) on any error, so callers need no error handling.
//
//	root := testpki.NewRoot(t, "root")
//	inter := root.Intermediate(t, "intermediate")
//	leaf := inter.Leaf(t, "signer")
//	testpki.WriteCerts(t, chainPath, inter.Cert, root.Cert)
//	testpki.WriteKey(t, keyPath, leaf.Key, testpki.PKCS8, nil)
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
)

// Key returns a new ECDSA key on curve (nil means P-256).
func Key(tb testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	if curve == nil {
		curve = elliptic.P256()
	}
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatalf("testpki: generate key: %v", err)
	}
	return k
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// RSAKey returns a 2048-bit RSA key, for tests that check RSA is refused.
// It is generated once per test binary, because that takes a while.
func RSAKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaErr != nil {
		tb.Fatalf("testpki: generate RSA key: %v", rsaErr)
	}
	return rsaKey
}

// Cert is a certificate together with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Options describe a certificate to make. Zero values are literal (no key
// usage, no extended key usage, not a CA) except where noted; NewRoot,
// Intermediate and Leaf fill in the usual values.
type Options struct {
	Name        string            // subject and, for self-signed, issuer CN
	Key         *ecdsa.PrivateKey // the subject key; nil makes one on Curve
	Curve       elliptic.Curve    // nil means P-256
	IsCA        bool
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	// NotBefore and NotAfter default to one hour ago and one day ahead.
	NotBefore, NotAfter time.Time
}

// SelfSigned makes a self-signed certificate as opts says.
func SelfSigned(tb testing.TB, opts Options) *Cert {
	tb.Helper()
	return issue(tb, nil, opts)
}

// NewRoot makes a self-signed root CA (P-256, certificate and CRL signing).
func NewRoot(tb testing.TB, name string) *Cert {
	tb.Helper()
	return SelfSigned(tb, Options{Name: name, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign})
}

// Intermediate makes a CA certificate issued by ca.
func (ca *Cert) Intermediate(tb testing.TB, name string) *Cert {
	tb.Helper()
	return ca.Issue(tb, Options{Name: name, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign})
}

// Leaf makes a signing certificate issued by ca: P-256, key usage
// digitalSignature, extended key usage codeSigning.
func (ca *Cert) Leaf(tb testing.TB, name string) *Cert {
	tb.Helper()
	return ca.Issue(tb, Options{
		Name:        name,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
}

// Issue makes a certificate as opts says, issued by ca.
func (ca *Cert) Issue(tb testing.TB, opts Options) *Cert {
	tb.Helper()
	return issue(tb, ca, opts)
}

func issue(tb testing.TB, parent *Cert, opts Options) *Cert {
	tb.Helper()
	key := opts.Key
	if key == nil {
		key = Key(tb, opts.Curve)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatalf("testpki: serial: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.Name},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              opts.KeyUsage,
		ExtKeyUsage:           opts.ExtKeyUsage,
		IsCA:                  opts.IsCA,
		BasicConstraintsValid: true,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(24 * time.Hour)
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		issuerCert, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, &key.PublicKey, issuerKey)
	if err != nil {
		tb.Fatalf("testpki: create certificate %q: %v", opts.Name, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testpki: parse certificate %q: %v", opts.Name, err)
	}
	return &Cert{Cert: c, Key: key}
}

// WriteCerts writes certs as concatenated PEM CERTIFICATE blocks to path.
func WriteCerts(tb testing.TB, path string, certs ...*x509.Certificate) {
	tb.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	WriteFile(tb, path, out)
}

// KeyFormat is a PEM private key encoding.
type KeyFormat int

// The private key encodings WriteKey can produce.
const (
	SEC1                KeyFormat = iota // "EC PRIVATE KEY" (OpenSSL traditional)
	PKCS8                                // "PRIVATE KEY"
	PKCS8Encrypted                       // "ENCRYPTED PRIVATE KEY" (PBES2, AES-256-CBC)
	SEC1EncryptedLegacy                  // "EC PRIVATE KEY" with Proc-Type: 4,ENCRYPTED (AES-256-CBC)
)

// WriteKey writes key (ECDSA; RSA for the PKCS8 formats) to path in format,
// encrypted with password for the encrypted formats.
func WriteKey(tb testing.TB, path string, key crypto.PrivateKey, format KeyFormat, password []byte) {
	tb.Helper()
	var block *pem.Block
	var err error
	switch format {
	case SEC1, SEC1EncryptedLegacy:
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			tb.Fatalf("testpki: SEC 1 needs an ECDSA key, got %T", key)
		}
		var der []byte
		der, err = x509.MarshalECPrivateKey(ec)
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
		if err == nil && format == SEC1EncryptedLegacy {
			//lint:ignore SA1019 tests must produce the legacy format readers still meet
			block, err = x509.EncryptPEMBlock(rand.Reader, block.Type, der, password, x509.PEMCipherAES256) //nolint:staticcheck
		}
	case PKCS8:
		var der []byte
		der, err = x509.MarshalPKCS8PrivateKey(key)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case PKCS8Encrypted:
		var der []byte
		der, err = pkcs8.MarshalPrivateKey(key, password, nil)
		block = &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}
	default:
		tb.Fatalf("testpki: unknown key format %d", format)
	}
	if err != nil {
		tb.Fatalf("testpki: encode key: %v", err)
	}
	WriteFile(tb, path, pem.EncodeToMemory(block))
}

// WritePublicKey writes pub (any type x509 can marshal) as a PEM PUBLIC KEY.
func WritePublicKey(tb testing.TB, path string, pub crypto.PublicKey) {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatalf("testpki: marshal public key: %v", err)
	}
	WriteFile(tb, path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// WriteFile writes data to path, creating parent directories.
func WriteFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatalf("testpki: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatalf("testpki: %v", err)
	}
}

// Model makes a model directory in a fresh temporary directory and returns
// its path. files maps slash-separated relative paths to contents; parent
// folders are created.
func Model(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("testpki: %v", err)
	}
	for name, content := range files {
		WriteFile(tb, filepath.Join(dir, filepath.FromSlash(name)), []byte(content))
	}
	return dir
}
