package modelsig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// MaxBundleSize bounds how much of a signature file is read. A signature
// lists every file (or shard) with its digest, about 180 bytes each, so this
// allows models of well over a million files while still refusing to read
// an arbitrarily large file as a signature.
const MaxBundleSize = 256 << 20

// bundleSizeLimit is MaxBundleSize; tests lower it to exercise the limit
// without writing hundreds of megabytes.
var bundleSizeLimit int64 = MaxBundleSize

// Bundle media types.
const (
	MediaTypeV03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
	MediaTypeV02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
	MediaTypeV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
)

// MaterialKind says which verification material a bundle carries.
type MaterialKind int

// Verification material kinds.
const (
	MaterialNone             MaterialKind = iota
	MaterialPublicKey                     // publicKey {hint} (or legacy rawBytes/keyDetails)
	MaterialCertificateChain              // x509CertificateChain {certificates}
	MaterialCertificate                   // certificate {rawBytes} (Sigstore)
)

// Bundle is a leniently parsed model_signing bundle: it accepts every shape
// the reference library has written (format spec section 1) and nothing
// that could not be one of them.
//
// ParseBundle never returns a Bundle with MaterialNone, an empty
// Certificates list for the certificate kinds, or an envelope without a
// signature.
type Bundle struct {
	MediaType string
	Material  MaterialKind
	// PublicKeyHint is publicKey.hint ("" when absent).
	PublicKeyHint string
	// Certificates holds DER certificates, leaf first, for
	// MaterialCertificateChain and MaterialCertificate.
	Certificates [][]byte
	Envelope     Envelope

	name string // the file name given to ParseBundle, for messages
	raw  []byte // the file as read, for the sigstore method's strict parser
}

// Name returns the file name the bundle was parsed under, for messages.
func (b *Bundle) Name() string { return b.name }

// Envelope is the bundle's DSSE envelope, base64 already decoded.
type Envelope struct {
	PayloadType string
	Payload     []byte
	Signatures  [][]byte // signatures[].sig in order; keyid is ignored
}

// ParseBundle parses a signature file's bytes. name is used in errors.
//
// The parse is deliberately hand-written rather than protojson: the
// reference library wrote several shapes that strict bundle parsers refuse
// (publicKey.rawBytes, keyid null, a certificate chain in a v0.3 bundle),
// and those must keep verifying. Leniency stops at ambiguity: duplicate
// JSON keys anywhere, two kinds of verification material, or undecodable
// base64 are refused, so no two readers can see different contents.
// Unknown fields are ignored. Keys match exactly (encoding/json's
// case-insensitive field matching is not used).
func ParseBundle(name string, data []byte) (*Bundle, error) {
	b, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("signature %s: %w", name, err)
	}
	b.name = name
	b.raw = data
	return b, nil
}

// ReadBundle reads and parses the signature file at path (at most
// MaxBundleSize bytes).
func ReadBundle(path string) (*Bundle, error) {
	data, err := readBounded(path, bundleSizeLimit)
	if err != nil {
		return nil, fmt.Errorf("read signature: %w (not a model signature?)", err)
	}
	return ParseBundle(path, data)
}

func parseBundle(data []byte) (*Bundle, error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	top, err := asObject(v, "")
	if err != nil {
		return nil, err
	}
	b := &Bundle{}
	if b.MediaType, err = top.str("mediaType", true); err != nil {
		return nil, err
	}
	switch b.MediaType {
	case MediaTypeV03, MediaTypeV02, MediaTypeV01:
	default:
		return nil, fmt.Errorf("unsupported bundle media type %q (want %s)", b.MediaType, MediaTypeV03)
	}
	vm, ok, err := top.obj("verificationMaterial")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("bundle has no verificationMaterial")
	}
	if err := parseMaterial(b, vm); err != nil {
		return nil, err
	}
	env, ok, err := top.obj("dsseEnvelope")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("bundle has no dsseEnvelope (only DSSE-signed model signatures are supported)")
	}
	if b.Envelope, err = parseEnvelope(env); err != nil {
		return nil, err
	}
	return b, nil
}

// parseMaterial reads the one verification material form of vm. Legacy
// publicKey.rawBytes/keyDetails are ignored, as the reference library
// deletes them: the key that verifies always comes from the verifier.
func parseMaterial(b *Bundle, vm jsonObject) error {
	var kinds []string
	if pk, ok, err := vm.obj("publicKey"); err != nil {
		return err
	} else if ok {
		kinds = append(kinds, "publicKey")
		b.Material = MaterialPublicKey
		if b.PublicKeyHint, err = pk.str("hint", false); err != nil {
			return err
		}
	}
	if chain, ok, err := vm.obj("x509CertificateChain"); err != nil {
		return err
	} else if ok {
		kinds = append(kinds, "x509CertificateChain")
		b.Material = MaterialCertificateChain
		certs, _, err := chain.arr("certificates", true)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("verificationMaterial.x509CertificateChain.certificates is empty")
		}
		b.Certificates = nil
		for i, c := range certs {
			co, err := asObject(c, fmt.Sprintf("%s[%d]", chain.field("certificates"), i))
			if err != nil {
				return err
			}
			der, err := co.binary("rawBytes")
			if err != nil {
				return err
			}
			b.Certificates = append(b.Certificates, der)
		}
	}
	if cert, ok, err := vm.obj("certificate"); err != nil {
		return err
	} else if ok {
		kinds = append(kinds, "certificate")
		b.Material = MaterialCertificate
		der, err := cert.binary("rawBytes")
		if err != nil {
			return err
		}
		b.Certificates = [][]byte{der}
	}
	switch len(kinds) {
	case 0:
		return errors.New("verificationMaterial holds no publicKey, x509CertificateChain or certificate")
	case 1:
		return nil
	default:
		return fmt.Errorf("verificationMaterial holds more than one kind of material (%s)", strings.Join(kinds, ", "))
	}
}

func parseEnvelope(env jsonObject) (Envelope, error) {
	var e Envelope
	var err error
	if e.Payload, err = env.binaryAllowEmpty("payload"); err != nil {
		return e, err
	}
	if e.PayloadType, err = env.str("payloadType", true); err != nil {
		return e, err
	}
	sigs, _, err := env.arr("signatures", true)
	if err != nil {
		return e, err
	}
	if len(sigs) == 0 {
		return e, errors.New("dsseEnvelope has no signatures")
	}
	for i, s := range sigs {
		so, err := asObject(s, fmt.Sprintf("%s[%d]", env.field("signatures"), i))
		if err != nil {
			return e, err
		}
		sig, err := so.binary("sig")
		if err != nil {
			return e, err
		}
		e.Signatures = append(e.Signatures, sig)
	}
	return e, nil
}

// decodeBase64 accepts what protobuf JSON accepts for bytes: standard or
// URL-safe alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// parseJSON parses a signature or statement. Repeated object keys
// (after unescaping) are refused anywhere: parsers disagree on which
// repeat wins, and a signature must mean one thing to every reader.
// strictjson also refuses trailing data, invalid UTF-8, unpaired surrogate
// escapes and deep nesting.
func parseJSON(data []byte) (*strictjson.Value, error) {
	v, err := strictjson.Parse(data)
	if err != nil {
		return nil, jsonError(err)
	}
	if m := v.RepeatedKey(); m != nil {
		return nil, fmt.Errorf("not acceptable JSON at byte %d: duplicate object key %q", m.KeyOffset+1, m.Key)
	}
	return v, nil
}

// jsonError words a strictjson error; byte numbers count from 1.
func jsonError(err error) error {
	var se *strictjson.SyntaxError
	switch {
	case errors.Is(err, strictjson.ErrEmpty):
		return errors.New("not valid JSON: empty")
	case errors.Is(err, strictjson.ErrTruncated):
		return errors.New("not valid JSON: truncated")
	case !errors.As(err, &se):
		return fmt.Errorf("not valid JSON: %w", err)
	case errors.Is(err, strictjson.ErrTrailingData):
		return fmt.Errorf("not valid JSON: unexpected data after the top-level value at byte %d", se.Offset+1)
	default:
		return fmt.Errorf("not valid JSON at byte %d: %s", se.Offset+1, se.Msg)
	}
}

// jsonObject is a decoded JSON object plus its location (like
// "dsseEnvelope"; "" at the top level), so that errors say which field is
// wrong.
type jsonObject struct {
	at string
	v  *strictjson.Value
}

func asObject(v *strictjson.Value, at string) (jsonObject, error) {
	if v.Kind != strictjson.Object {
		if at == "" {
			return jsonObject{}, errors.New("the JSON value is not an object")
		}
		return jsonObject{}, fmt.Errorf("%s is not a JSON object", at)
	}
	return jsonObject{at: at, v: v}, nil
}

// field names key inside o for messages; the top level has no prefix.
func (o jsonObject) field(key string) string {
	if o.at == "" {
		return key
	}
	return o.at + "." + key
}

// get returns the value of key; a JSON null counts as absent, as it does
// for protobuf JSON.
func (o jsonObject) get(key string) (*strictjson.Value, bool) {
	m := o.v.Member(key)
	if m == nil || m.Value.Kind == strictjson.Null {
		return nil, false
	}
	return m.Value, true
}

func (o jsonObject) str(key string, required bool) (string, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return "", fmt.Errorf("%s is missing", o.field(key))
		}
		return "", nil
	}
	if v.Kind != strictjson.String {
		return "", fmt.Errorf("%s is not a string", o.field(key))
	}
	return v.Str, nil
}

func (o jsonObject) obj(key string) (jsonObject, bool, error) {
	v, ok := o.get(key)
	if !ok {
		return jsonObject{}, false, nil
	}
	obj, err := asObject(v, o.field(key))
	return obj, err == nil, err
}

func (o jsonObject) arr(key string, required bool) ([]*strictjson.Value, bool, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return nil, false, fmt.Errorf("%s is missing", o.field(key))
		}
		return nil, false, nil
	}
	if v.Kind != strictjson.Array {
		return nil, false, fmt.Errorf("%s is not a JSON array", o.field(key))
	}
	return v.Elems, true, nil
}

func (o jsonObject) boolean(key string) (bool, error) {
	v, ok := o.get(key)
	if !ok {
		return false, nil
	}
	if v.Kind != strictjson.Bool {
		return false, fmt.Errorf("%s is not true or false", o.field(key))
	}
	return v.Bool, nil
}

// binary decodes a required, non-empty base64 field.
func (o jsonObject) binary(key string) ([]byte, error) {
	b, err := o.binaryAllowEmpty(key)
	if err == nil && len(b) == 0 {
		err = fmt.Errorf("%s is empty", o.field(key))
	}
	return b, err
}

// binaryAllowEmpty decodes a required base64 field that may be "".
func (o jsonObject) binaryAllowEmpty(key string) ([]byte, error) {
	s, err := o.str(key, true)
	if err != nil {
		return nil, err
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid base64: %v", o.field(key), err)
	}
	return b, nil
}
