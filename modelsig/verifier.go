package modelsig

import "errors"

var errNotImplemented = errors.New("not implemented")

// Method names a verification or signing method, as on the command line.
type Method string

// The verification methods.
const (
	MethodKey         Method = "key"
	MethodCertificate Method = "certificate"
	MethodSigstore    Method = "sigstore"
)

// A Verifier checks a bundle's signature with one method and returns what
// was signed. It never looks at the model.
type Verifier interface {
	Method() Method
	// VerifySignature checks b's signature and returns the verified
	// payload and what was learned about the signer. A bundle that does
	// not carry this method's material is a *VerificationError.
	VerifySignature(b *Bundle) (*Signed, error)
}

// Signed is the outcome of a successful signature check.
type Signed struct {
	PayloadType string
	Payload     []byte // the verified DSSE payload (in-toto statement JSON)

	// Identity and Issuer are the Sigstore certificate identity (SAN) and
	// OIDC issuer that matched (sigstore method).
	Identity, Issuer string
	// Fingerprints are SHA-256 fingerprints (uppercase, colon-separated) of
	// the bundle certificates, intermediates first, then the leaf
	// (certificate and sigstore methods).
	Fingerprints []string
	// Warnings are non-fatal findings, e.g. a bundle without a key hint
	// (older format) or a hint that differs but the key verified.
	Warnings []string
}

// VerificationError means the signature, the signed statement or the model
// does not match: the artifact is not what the trusted signer signed. Any
// other error from Verify is an operational failure (I/O, bad input).
// Both must deny.
type VerificationError struct {
	Path string // the signature file or model path concerned
	Err  error  // e.g. a *manifest.MismatchError
}

func (e *VerificationError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *VerificationError) Unwrap() error { return e.Err }
