package modelsig

import (
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"strconv"
)

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

// Error names the path quoted, like every path from outside in a message.
func (e *VerificationError) Error() string { return strconv.Quote(e.Path) + ": " + e.Err.Error() }
func (e *VerificationError) Unwrap() error { return e.Err }

// mismatch returns a *VerificationError about bundle b.
func mismatch(b *Bundle, format string, args ...any) error {
	return &VerificationError{Path: b.name, Err: fmt.Errorf(format, args...)}
}

// checkBundleForm enforces what the key and certificate methods accept:
// a v0.3 bundle (the only media type the reference library's key and
// certificate verifiers take) carrying want's material.
func checkBundleForm(b *Bundle, method Method, want MaterialKind) error {
	if b.MediaType != MediaTypeV03 {
		return mismatch(b, "the %s method needs a bundle of media type %s, not %q", method, MediaTypeV03, b.MediaType)
	}
	if b.Material == want {
		return nil
	}
	const made = "signature was made with %s, not %s; use the %s method"
	what := map[MaterialKind]string{
		MaterialPublicKey:        "a bare key",
		MaterialCertificateChain: "a certificate",
		MaterialCertificate:      "a Sigstore certificate",
	}
	use := map[MaterialKind]Method{
		MaterialPublicKey:        MethodKey,
		MaterialCertificateChain: MethodCertificate,
		MaterialCertificate:      MethodSigstore,
	}
	if _, ok := what[b.Material]; !ok {
		return mismatch(b, "bundle carries no verification material for the %s method", method)
	}
	return mismatch(b, made, what[b.Material], what[want], use[b.Material])
}

// verifyEnvelope reports whether env.Signatures[0] is pub's ECDSA
// signature over the standard PAE (hashed by pub's curve) or, failing
// that, over the v0.2 compat PAE hashed with compatHash. Like the
// reference library it looks at the first signature only.
func verifyEnvelope(pub *ecdsa.PublicKey, env Envelope, compatHash crypto.Hash) bool {
	if len(env.Signatures) == 0 {
		return false
	}
	h, err := curveHash(pub)
	if err != nil {
		return false
	}
	sig := env.Signatures[0]
	if ecdsa.VerifyASN1(pub, paeDigest(h, env.PayloadType, env.Payload), sig) {
		return true
	}
	return ecdsa.VerifyASN1(pub, paeCompatDigest(compatHash, env.PayloadType, env.Payload), sig)
}
