package modelsig

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"

	"github.com/modelgate/modelgate/manifest"
)

// A Signer signs DSSE pre-authentication encodings and describes the
// verification material that goes into the bundle.
type Signer interface {
	Method() Method
	// SignPAE returns an ASN.1 DER ECDSA signature over pae (hashed by the
	// key's curve).
	SignPAE(pae []byte) ([]byte, error)
}

// LoadPrivateKey reads a PEM EC private key (SEC 1 or PKCS#8, optionally
// encrypted with password) on P-256, P-384 or P-521.
func LoadPrivateKey(path string, password []byte) (*ecdsa.PrivateKey, error) {
	return nil, errNotImplemented
}

// NewKeySigner signs with a bare key; bundles carry publicKey.hint.
func NewKeySigner(priv *ecdsa.PrivateKey) (Signer, error) { return nil, errNotImplemented }

// NewCertificateSigner signs with priv and puts [leaf, chain...] into the
// bundle's x509CertificateChain. leaf must hold priv's public key.
func NewCertificateSigner(priv *ecdsa.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate) (Signer, error) {
	return nil, errNotImplemented
}

// SignOptions controls Sign. Paths are absolute or relative to the model.
type SignOptions struct {
	// SignaturePath is where the bundle is written (atomically); ""
	// means DefaultSignatureName in the model directory.
	SignaturePath  string
	IgnorePaths    []string
	IgnoreGitPaths bool
	// Serialization: method, hash, shard size and allow_symlinks. The zero
	// value means files + sha256.
	Serialization manifest.Serialization
	Workers       int
}

// SignResult describes a written signature.
type SignResult struct {
	SignaturePath string
	Manifest      *manifest.Manifest
	Stats         manifest.Stats
}

// Sign hashes modelPath, signs the in-toto statement with s and writes a
// v0.3 bundle in model_signing's v1.1.0 layout. An empty model is refused.
func Sign(ctx context.Context, modelPath string, s Signer, opts SignOptions) (*SignResult, error) {
	return nil, errNotImplemented
}
