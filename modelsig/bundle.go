package modelsig

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
	v, err := decodeJSON(data)
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

// maxJSONDepth bounds nesting. Bundles and statements nest about 6 deep;
// the bound keeps hostile input from costing stack or time.
const maxJSONDepth = 64

// decodeJSON parses exactly one JSON value into nil, bool, json.Number,
// string, []any or map[string]any. Unlike encoding/json.Unmarshal it
// refuses duplicate object keys (after unescaping): parsers disagree on
// which duplicate wins, and a signature must mean one thing to every
// reader. It also refuses trailing data and nesting deeper than
// maxJSONDepth.
func decodeJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("not valid JSON: empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, jsonError(dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("not valid JSON: unexpected data after the top-level value at byte %d", dec.InputOffset())
	}
	return v, nil
}

func jsonError(dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not valid JSON: truncated")
	case errors.As(err, &syn):
		return fmt.Errorf("not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, errDuplicateKey), errors.Is(err, errTooDeep):
		return fmt.Errorf("not acceptable JSON at byte %d: %w", dec.InputOffset(), err)
	default:
		return fmt.Errorf("not valid JSON: %w", err)
	}
}

var (
	errDuplicateKey = errors.New("duplicate object key")
	errTooDeep      = fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
)

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // nil, bool, json.Number or string
	}
	if depth >= maxJSONDepth {
		return nil, errTooDeep
	}
	switch d {
	case '{':
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string) // the decoder only yields string keys here
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("%w %q", errDuplicateKey, k)
			}
			if m[k], err = decodeValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, err
		}
		return m, nil
	case '[':
		a := []any{}
		for dec.More() {
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, err
		}
		return a, nil
	default: // the decoder reports a stray closing delimiter itself
		return nil, fmt.Errorf("unexpected %q", rune(d))
	}
}

// jsonObject is a decoded JSON object plus its location (like
// "dsseEnvelope"; "" at the top level), so that errors say which field is
// wrong.
type jsonObject struct {
	at string
	m  map[string]any
}

func asObject(v any, at string) (jsonObject, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if at == "" {
			return jsonObject{}, errors.New("the JSON value is not an object")
		}
		return jsonObject{}, fmt.Errorf("%s is not a JSON object", at)
	}
	return jsonObject{at: at, m: m}, nil
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
func (o jsonObject) get(key string) (any, bool) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

func (o jsonObject) str(key string, required bool) (string, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return "", fmt.Errorf("%s is missing", o.field(key))
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s is not a string", o.field(key))
	}
	return s, nil
}

func (o jsonObject) obj(key string) (jsonObject, bool, error) {
	v, ok := o.get(key)
	if !ok {
		return jsonObject{}, false, nil
	}
	obj, err := asObject(v, o.field(key))
	return obj, err == nil, err
}

func (o jsonObject) arr(key string, required bool) ([]any, bool, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return nil, false, fmt.Errorf("%s is missing", o.field(key))
		}
		return nil, false, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, false, fmt.Errorf("%s is not a JSON array", o.field(key))
	}
	return a, true, nil
}

func (o jsonObject) boolean(key string) (bool, error) {
	v, ok := o.get(key)
	if !ok {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s is not true or false", o.field(key))
	}
	return b, nil
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
