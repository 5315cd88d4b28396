package modelsig

import "crypto/ecdsa"

// ParsePublicKeyPEM parses the first PEM "PUBLIC KEY" block in data (text
// around it is allowed) and requires an EC key on P-256, P-384 or P-521.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) { return nil, errNotImplemented }

// LoadPublicKey reads and parses a PEM public key file.
func LoadPublicKey(path string) (*ecdsa.PublicKey, error) { return nil, errNotImplemented }

// PublicKeyHint is model_signing's key hint: lowercase hex SHA-256 of the
// key's PEM SubjectPublicKeyInfo encoding.
func PublicKeyHint(pub *ecdsa.PublicKey) string { return "" }

// NewKeyVerifier returns the verifier for the key method (format spec 6.1).
func NewKeyVerifier(pub *ecdsa.PublicKey) Verifier { return nil }
