package modelsig

import "crypto/x509"

// ParseCertificatesPEM returns every PEM CERTIFICATE in data; none is an
// error.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) { return nil, errNotImplemented }

// LoadCertificates reads every certificate from the given PEM files, in
// order. A file without any certificate is an error naming it.
func LoadCertificates(paths ...string) ([]*x509.Certificate, error) {
	return nil, errNotImplemented
}

// Fingerprint returns the SHA-256 fingerprint of c as uppercase hex bytes
// joined with ":" (openssl x509 -fingerprint -sha256 style).
func Fingerprint(c *x509.Certificate) string { return "" }

// NewCertificateVerifier returns the verifier for the certificate method
// (format spec 6.2): the bundle's leaf must chain to a self-signed root
// among trust (intermediates in trust and in the bundle may help), valid at
// the leaf's notBefore. An empty trust list is an error: there is no
// fallback to system roots.
func NewCertificateVerifier(trust []*x509.Certificate) (Verifier, error) {
	return nil, errNotImplemented
}
