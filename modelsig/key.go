package modelsig

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/modelgate/modelgate/internal/safefile"
)

// maxKeyFileSize bounds key and certificate files; real ones are a few KiB.
const maxKeyFileSize = 1 << 20

// errCurve is the one answer for keys the reference library cannot use.
var errCurve = errors.New("only elliptic-curve keys on P-256, P-384 or P-521 are supported")

// ParsePublicKeyPEM parses data, which must hold exactly one PEM block, a
// "PUBLIC KEY" (text around it is allowed, as certtool writes), and
// requires an EC key on P-256, P-384 or P-521.
//
// The reference library takes the first PUBLIC KEY block and ignores the
// rest; here a second key, or any other block, is an error: a file that
// someone reads as one key must not verify with another.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	var keys int
	var types []string
	for _, b := range blocks {
		types = append(types, b.Type)
		if b.Type == "PUBLIC KEY" {
			keys++
		}
	}
	switch {
	case keys == 0 && len(types) > 0:
		return nil, fmt.Errorf("no PEM PUBLIC KEY block found (found %s)", strings.Join(types, ", "))
	case keys == 0:
		return nil, errors.New("no PEM PUBLIC KEY block found")
	case keys > 1:
		return nil, fmt.Errorf("holds %d PEM PUBLIC KEY blocks; a public key file must hold exactly one key", keys)
	case len(blocks) > 1:
		return nil, fmt.Errorf("holds PEM blocks besides the PUBLIC KEY (%s); a public key file must hold exactly one key and nothing else", strings.Join(types, ", "))
	}
	k, err := x509.ParsePKIXPublicKey(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("PUBLIC KEY block: %w", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w (got %s)", errCurve, keyTypeName(k))
	}
	if _, err := curveHash(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// decodePEM returns every PEM block of data, in order. Text between blocks
// is allowed (certtool and openssl write some), but a block that does not
// decode is an error: pem.Decode would skip it silently, so that a reader
// of the file sees a block the parser never saw.
func decodePEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	// pem.Decode starts a block only at "-----BEGIN " at the start of the
	// data or of a line; every such start must have become a block.
	starts := bytes.Count(data, []byte("\n-----BEGIN "))
	if bytes.HasPrefix(data, []byte("-----BEGIN ")) {
		starts++
	}
	if starts != len(blocks) {
		return nil, fmt.Errorf("holds %d PEM block(s) that do not decode (a damaged -----BEGIN/-----END pair or base64 body)", starts-len(blocks))
	}
	return blocks, nil
}

// LoadPublicKey reads and parses a PEM public key file.
func LoadPublicKey(path string) (*ecdsa.PublicKey, error) {
	data, err := safefile.ReadFile(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	pub, err := ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("public key %q: %w", path, err)
	}
	return pub, nil
}

// PublicKeyHint is model_signing's key hint: lowercase hex SHA-256 of the
// key's PEM SubjectPublicKeyInfo encoding.
//
// It returns "" for a nil key or one on another curve: such keys can sign
// nothing this package accepts, and "" matches no hint.
func PublicKeyHint(pub *ecdsa.PublicKey) string {
	if _, err := curveHash(pub); err != nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return hex.EncodeToString(sum[:])
}

// curveHash returns the hash model_signing pairs with pub's curve, and
// refuses every other key.
func curveHash(pub *ecdsa.PublicKey) (crypto.Hash, error) {
	if pub == nil || pub.Curve == nil {
		return 0, errCurve
	}
	switch pub.Curve {
	case elliptic.P256():
		return crypto.SHA256, nil
	case elliptic.P384():
		return crypto.SHA384, nil
	case elliptic.P521():
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("%w (got curve %s)", errCurve, pub.Curve.Params().Name)
}

// digest hashes data with h, one of the hashes curveHash returns.
func digest(h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(data)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(data)
		return d[:]
	default:
		d := sha256.Sum256(data)
		return d[:]
	}
}

// keyTypeName names a parsed key's algorithm for messages.
func keyTypeName(k any) string {
	switch k.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PublicKey, *ecdh.PrivateKey:
		return "X25519"
	default:
		return fmt.Sprintf("%T", k)
	}
}

// NewKeyVerifier returns the verifier for the key method (format spec 6.1).
func NewKeyVerifier(pub *ecdsa.PublicKey) Verifier {
	return &keyVerifier{pub: pub, hint: PublicKeyHint(pub)}
}

type keyVerifier struct {
	pub  *ecdsa.PublicKey
	hint string
}

func (v *keyVerifier) Method() Method { return MethodKey }

// VerifySignature checks signatures[0] with the key: standard PAE first,
// then the v0.2 compat PAE, both hashed by the key's curve. The bundle's
// key hint only selects the message: a hint that differs from the key is
// a warning when the signature verifies (format spec §10), and the reason
// given when it does not.
func (v *keyVerifier) VerifySignature(b *Bundle) (*Signed, error) {
	if err := checkBundleForm(b, MethodKey, MaterialPublicKey); err != nil {
		return nil, err
	}
	h, err := curveHash(v.pub)
	if err != nil {
		return nil, err
	}
	hintDiffers := b.PublicKeyHint != "" && b.PublicKeyHint != v.hint
	if !verifyEnvelope(v.pub, b.Envelope, h) {
		if hintDiffers {
			return nil, mismatch(b, "the public key does not match: the signature was made with the key whose hint is %q, the given key's hint is %s", b.PublicKeyHint, v.hint)
		}
		return nil, mismatch(b, "signature does not verify with the given public key")
	}
	s := &Signed{PayloadType: b.Envelope.PayloadType, Payload: b.Envelope.Payload}
	switch {
	case b.PublicKeyHint == "":
		s.Warnings = append(s.Warnings, "the bundle has no public key hint (older model_signing format); verified with the given key")
	case hintDiffers:
		s.Warnings = append(s.Warnings, fmt.Sprintf("the bundle's public key hint %q differs from the given key's %s, but the signature verifies with the given key", b.PublicKeyHint, v.hint))
	}
	return s, nil
}
