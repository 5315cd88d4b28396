package modelsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelgate/modelgate/internal/safefile"
)

// ParseCertificatesPEM returns every PEM CERTIFICATE in data; none is an
// error, and so is a PEM block that does not decode. Other PEM blocks and
// text around them are skipped.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, block := range blocks {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE found")
	}
	return certs, nil
}

// LoadCertificates reads every certificate from the given PEM files, in
// order. A file without any certificate is an error naming it.
func LoadCertificates(paths ...string) ([]*x509.Certificate, error) {
	var all []*x509.Certificate
	for _, p := range paths {
		data, err := safefile.ReadFile(p, maxKeyFileSize)
		if err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		certs, err := ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("certificate file %q: %w", p, err)
		}
		all = append(all, certs...)
	}
	return all, nil
}

// Fingerprint returns the SHA-256 fingerprint of c as uppercase hex bytes
// joined with ":" (openssl x509 -fingerprint -sha256 style).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var sb strings.Builder
	for i, b := range sum {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", b)
	}
	return sb.String()
}

// NewCertificateVerifier returns the verifier for the certificate method
// (format spec 6.2): the bundle's leaf must chain to a self-signed root
// among trust (intermediates in trust and in the bundle may help), valid at
// the leaf's notBefore. An empty trust list is an error: there is no
// fallback to system roots.
//
// Only self-signed certificates in trust become anchors. The reference
// library (OpenSSL without PARTIAL_CHAIN) needs a self-signed trusted root,
// whereas Go's x509 would anchor at any pooled certificate; so trusting an
// intermediate alone must not be enough. Self-signed means subject ==
// issuer and a valid signature by its own key: the reference leaf has
// subject == issuer but is signed by its CA.
func NewCertificateVerifier(trust []*x509.Certificate) (Verifier, error) {
	if len(trust) == 0 {
		return nil, errors.New("certificate method: no trusted certificates given (system roots are never used)")
	}
	v := &certVerifier{roots: x509.NewCertPool(), trust: trust}
	for _, c := range trust {
		if c == nil {
			return nil, errors.New("certificate method: nil certificate in the trust list")
		}
		if isSelfSigned(c) {
			v.roots.AddCert(c)
			v.nRoots++
		} else {
			v.others = append(v.others, c)
		}
	}
	return v, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

type certVerifier struct {
	trust  []*x509.Certificate
	roots  *x509.CertPool
	nRoots int
	others []*x509.Certificate // trusted but not self-signed: intermediates
}

func (v *certVerifier) Method() Method { return MethodCertificate }

// VerifySignature checks the chain (at the leaf's notBefore), the leaf's
// usage, then signatures[0] with the leaf key: standard PAE hashed by the
// curve, else the v0.2 compat PAE hashed with SHA-256 (what v0.2 did).
func (v *certVerifier) VerifySignature(b *Bundle) (*Signed, error) {
	if err := checkBundleForm(b, MethodCertificate, MaterialCertificateChain); err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, len(b.Certificates))
	for i, der := range b.Certificates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, mismatch(b, "bundle certificate %d: %v", i+1, err)
		}
		certs[i] = c
	}
	leaf := certs[0]
	if err := v.verifyChain(leaf, certs[1:]); err != nil {
		return nil, &VerificationError{Path: b.name, Err: err}
	}
	if !usableForSigning(leaf) {
		return nil, mismatch(b, "signing certificate %s cannot be used for signing (it has neither key usage digitalSignature nor extended key usage codeSigning)", describe(leaf))
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, mismatch(b, "signing certificate %s: %v (got %s)", describe(leaf), errCurve, keyTypeName(leaf.PublicKey))
	}
	if _, err := curveHash(pub); err != nil {
		return nil, mismatch(b, "signing certificate %s: %v", describe(leaf), err)
	}
	if !verifyEnvelope(pub, b.Envelope, crypto.SHA256) {
		return nil, mismatch(b, "signature does not verify with the key of signing certificate %s", describe(leaf))
	}
	s := &Signed{PayloadType: b.Envelope.PayloadType, Payload: b.Envelope.Payload}
	for _, c := range certs[1:] {
		s.Fingerprints = append(s.Fingerprints, Fingerprint(c))
	}
	s.Fingerprints = append(s.Fingerprints, Fingerprint(leaf))
	return s, nil
}

// verifyChain builds a chain from leaf to a trusted self-signed root at the
// leaf's notBefore, with any extended key usage (usage is checked on the
// leaf only, as the reference library does).
func (v *certVerifier) verifyChain(leaf *x509.Certificate, bundleChain []*x509.Certificate) error {
	inter := x509.NewCertPool()
	for _, c := range slices.Concat(v.others, bundleChain) {
		inter.AddCert(c)
	}
	at := leaf.NotBefore
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return nil
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		if v.nRoots == 0 {
			return fmt.Errorf("certificate chain of %s does not lead to a trusted self-signed root: none of the %d trusted certificates is self-signed (add the root CA, not only an intermediate)", describe(leaf), len(v.trust))
		}
		return fmt.Errorf("certificate chain of %s does not lead to a trusted self-signed root (%v)", describe(leaf), err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		return fmt.Errorf("certificate %s is not valid at the signing certificate's notBefore %s (valid %s to %s)",
			describe(invalid.Cert), at.UTC().Format(time.RFC3339),
			invalid.Cert.NotBefore.UTC().Format(time.RFC3339), invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
	default:
		return fmt.Errorf("certificate chain of %s is not valid: %w", describe(leaf), err)
	}
}

// usableForSigning is the reference library's rule: key usage
// digitalSignature or extended key usage codeSigning.
func usableForSigning(c *x509.Certificate) bool {
	return c.KeyUsage&x509.KeyUsageDigitalSignature != 0 ||
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning)
}

// describe names a certificate for messages by subject and fingerprint
// (subjects alone are not unique: the reference leaf is named like its CA).
func describe(c *x509.Certificate) string {
	if c == nil {
		return "(unknown)"
	}
	return fmt.Sprintf("%q (SHA-256 %s)", c.Subject.String(), Fingerprint(c))
}
