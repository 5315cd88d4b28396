package modelsig

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/modelgate/modelgate/internal/safefile"
	"github.com/modelgate/modelgate/internal/termsafe"
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
// and those must keep verifying. Leniency stops there: like the reference
// (whose bundle models forbid extra inputs), a key the bundle format does
// not define is refused wherever it is, and so are repeated keys, two
// kinds of verification material and undecodable base64, so that no two
// readers can see different contents. Keys match exactly, case included.
//
// Each field may be spelt with its JSON name or its protobuf field name
// (mediaType or media_type), as protobuf JSON parsers, sigstore-go and the
// reference's bundle models all accept; one field under both names is
// refused. The reference's key and certificate verifiers trip over two of
// those spellings (verification_material, tlog_entries) before their
// models see them; accepting them here changes nothing that is verified.
// The legacy publicKey.rawBytes and keyDetails are accepted only under
// those names, as the reference deletes exactly those before parsing.
//
// The file is read as a stream of tokens (jsontext), never as a tree:
// memory is the decoded payload and certificates plus a fixed amount, and
// a file of the wrong shape (a 30 MB array, a huge unknown member, a list
// of a million signatures) is refused at its first wrong token.
func ParseBundle(name string, data []byte) (*Bundle, error) {
	b, err := parseBundle(data)
	if err != nil {
		// Said only where it helps: the file is not a bundle at all,
		// rather than a damaged one.
		hint := ""
		if errors.As(err, new(notBundleError)) {
			hint = " (not a model signature?)"
		}
		var pe *jsonPosError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("signature %q:%d:%d: %w%s", name, pe.Line, pe.Col, err, hint)
		}
		return nil, fmt.Errorf("signature %q: %w%s", name, err, hint)
	}
	b.name = name
	b.raw = data
	return b, nil
}

// notBundleError marks a file that is not a Sigstore bundle at all (not
// JSON, not an object, keys or a media type of another format).
type notBundleError struct{ error }

func (e notBundleError) Unwrap() error { return e.error }

// ReadBundle reads and parses the signature file at path (a regular file
// of at most MaxBundleSize bytes).
func ReadBundle(path string) (*Bundle, error) {
	data, err := safefile.ReadFile(path, bundleSizeLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &noSignatureError{path: path, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("read signature: %w", err)
	}
	return ParseBundle(path, data)
}

// noSignatureError is a signature file that does not exist.
type noSignatureError struct {
	path string
	err  error
}

func (e *noSignatureError) Error() string {
	return fmt.Sprintf("no signature at %q (name the signature file with --signature)", e.path)
}

func (e *noSignatureError) Unwrap() error { return e.err }

// Bundle limits. No signer writes more than one signature or a chain of
// more than a few certificates; the bounds keep a hostile file from
// making a list of millions before any signature check.
const (
	maxSignatures   = 16
	maxCertificates = 32
	maxTlogEntries  = 16
	maxTimestamps   = 32 // sigstore-python's bound on RFC 3161 timestamps
)

// The shapes of the Sigstore bundle (protobuf-specs dev.sigstore.bundle.v1
// Bundle, and the DSSE envelope) that a model signature may use.
var (
	bundleShape = objectShape{strict: true, fields: []field{
		{"mediaType", "media_type"},
		{"verificationMaterial", "verification_material"},
		{"dsseEnvelope", "dsse_envelope"},
		{"messageSignature", "message_signature"},
	}}
	materialShape = objectShape{strict: true, fields: []field{
		{"publicKey", "public_key"},
		{"x509CertificateChain", "x509_certificate_chain"},
		{"certificate", ""},
		{"tlogEntries", "tlog_entries"},
		{"timestampVerificationData", "timestamp_verification_data"},
	}}
	// publicKeyShape: hint, plus what model_signing v0.3-v1.0 wrote there.
	publicKeyShape   = objectShape{strict: true, fields: []field{{"hint", ""}, {"rawBytes", ""}, {"keyDetails", ""}}}
	chainShape       = objectShape{strict: true, fields: []field{{"certificates", ""}}}
	certificateShape = objectShape{strict: true, fields: []field{{"rawBytes", "raw_bytes"}}}
	envelopeShape    = objectShape{strict: true, fields: []field{{"payload", ""}, {"payloadType", "payload_type"}, {"signatures", ""}}}
	signatureShape   = objectShape{strict: true, fields: []field{{"sig", ""}, {"keyid", ""}}}
)

func parseBundle(data []byte) (*Bundle, error) {
	r := newJSONReader(data, 0, len(data))
	if r.kind() != '{' {
		// Not JSON (the read reports where), or JSON of another shape.
		return nil, notBundleError{r.wrongKind(at(""), "a JSON object")}
	}
	b := &Bundle{}
	var hasMessageSignature bool
	present, err := r.object(at(""), bundleShape, func(i int) (err error) {
		switch i {
		case 0:
			b.MediaType, err = r.str(at("mediaType"))
		case 1:
			err = parseMaterial(r, b)
		case 2:
			b.Envelope, err = parseEnvelope(r)
		case 3:
			hasMessageSignature = true
			err = r.skip()
		}
		return err
	})
	var unknown *unknownKeyError
	if errors.As(err, &unknown) && unknown.path == at("") {
		return nil, notBundleError{err}
	}
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	switch {
	case !present.has(0):
		return nil, notBundleError{errors.New("mediaType is missing")}
	case !present.has(1):
		return nil, errors.New("bundle has no verificationMaterial")
	case hasMessageSignature:
		return nil, errors.New("bundle holds a messageSignature: model signatures are DSSE envelopes (dsseEnvelope)")
	case !present.has(2):
		return nil, errors.New("bundle has no dsseEnvelope (only DSSE-signed model signatures are supported)")
	}
	switch b.MediaType {
	case MediaTypeV03, MediaTypeV02, MediaTypeV01:
	default:
		return nil, notBundleError{fmt.Errorf("unsupported bundle media type %q (want %s)", b.MediaType, MediaTypeV03)}
	}
	return b, nil
}

// parseMaterial reads verificationMaterial into b: its one material form,
// and the checked shape of the log entries and timestamps (which only the
// sigstore method uses, reading them again with sigstore-go). Legacy
// publicKey.rawBytes/keyDetails are read and ignored, as the reference
// library deletes them: the key that verifies always comes from the
// verifier.
func parseMaterial(r *jsonReader, b *Bundle) error {
	vm := at("verificationMaterial")
	present, err := r.object(vm, materialShape, func(i int) (err error) {
		switch i {
		case 0:
			b.Material = MaterialPublicKey
			b.PublicKeyHint, err = parsePublicKey(r, vm.key("publicKey"))
		case 1:
			b.Material = MaterialCertificateChain
			b.Certificates, err = parseChain(r, vm.key("x509CertificateChain"))
		case 2:
			b.Material = MaterialCertificate
			var der []byte
			der, err = parseCertificate(r, vm.key("certificate"))
			b.Certificates = [][]byte{der}
		case 3:
			entries := vm.key("tlogEntries")
			err = r.array(entries, maxTlogEntries, func(i int) error {
				return r.protoObject(entries.elem(i), &protorekor.TransparencyLogEntry{})
			})
		case 4:
			err = r.protoObject(vm.key("timestampVerificationData"), &protobundle.TimestampVerificationData{})
		}
		return err
	})
	if err != nil {
		return err
	}
	var kinds []string
	for i, f := range materialShape.fields[:3] {
		if present.has(i) {
			kinds = append(kinds, f.name)
		}
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

// parsePublicKey reads publicKey and returns its hint ("" when absent).
func parsePublicKey(r *jsonReader, pk jsonPath) (hint string, err error) {
	_, err = r.object(pk, publicKeyShape, func(i int) (err error) {
		switch i {
		case 0:
			hint, err = r.str(pk.key("hint"))
		case 1:
			_, err = r.str(pk.key("rawBytes"))
		case 2:
			_, err = r.str(pk.key("keyDetails"))
		}
		return err
	})
	return hint, err
}

// parseChain reads x509CertificateChain: at least one certificate.
func parseChain(r *jsonReader, chain jsonPath) ([][]byte, error) {
	var certs [][]byte
	list := chain.key("certificates")
	present, err := r.object(chain, chainShape, func(int) error {
		return r.array(list, maxCertificates, func(i int) error {
			der, err := parseCertificate(r, list.elem(i))
			certs = append(certs, der)
			return err
		})
	})
	switch {
	case err != nil:
		return nil, err
	case !present.has(0):
		return nil, fmt.Errorf("%s is missing", list)
	case len(certs) == 0:
		return nil, fmt.Errorf("%s is empty", list)
	}
	return certs, nil
}

// parseCertificate reads an X509Certificate: non-empty DER.
func parseCertificate(r *jsonReader, cert jsonPath) ([]byte, error) {
	var der []byte
	present, err := r.object(cert, certificateShape, func(int) (err error) {
		der, err = r.base64Field(cert.key("rawBytes"), false)
		return err
	})
	if err == nil && !present.has(0) {
		err = fmt.Errorf("%s is missing", cert.key("rawBytes"))
	}
	return der, err
}

// protoObject reads the object at path whole and checks it with protojson
// as msg: the Sigstore messages the bundle carries but this package does
// not read (log entries, timestamps) must still be what the format
// defines, without unknown fields.
func (r *jsonReader) protoObject(path jsonPath, msg proto.Message) error {
	if r.kind() != '{' {
		return r.wrongKind(path, "a JSON object")
	}
	start, end, err := r.rawValue()
	if err != nil {
		return err
	}
	if err := (protojson.UnmarshalOptions{RecursionLimit: maxJSONDepth}).Unmarshal(r.file[start:end], msg); err != nil {
		return fmt.Errorf("%s is not a valid %s: %s", path, msg.ProtoReflect().Descriptor().Name(), termsafe.Line(err.Error()))
	}
	return nil
}

func parseEnvelope(r *jsonReader) (Envelope, error) {
	env := at("dsseEnvelope")
	sigs := env.key("signatures")
	var e Envelope
	present, err := r.object(env, envelopeShape, func(i int) (err error) {
		switch i {
		case 0:
			e.Payload, err = r.base64Field(env.key("payload"), true)
		case 1:
			e.PayloadType, err = r.str(env.key("payloadType"))
		case 2:
			err = r.array(sigs, maxSignatures, func(i int) error {
				sig, err := parseSignature(r, sigs.elem(i))
				e.Signatures = append(e.Signatures, sig)
				return err
			})
		}
		return err
	})
	switch {
	case err != nil:
		return e, err
	case !present.has(0):
		return e, fmt.Errorf("%s is missing", env.key("payload"))
	case !present.has(1):
		return e, fmt.Errorf("%s is missing", env.key("payloadType"))
	case !present.has(2):
		return e, fmt.Errorf("%s is missing", sigs)
	case len(e.Signatures) == 0:
		return e, errors.New("dsseEnvelope has no signatures")
	}
	return e, nil
}

// parseSignature reads one DSSE signature: sig is required; keyid, when
// present, must be a string and is otherwise ignored (as by the reference).
func parseSignature(r *jsonReader, path jsonPath) ([]byte, error) {
	var sig []byte
	present, err := r.object(path, signatureShape, func(i int) (err error) {
		if i == 0 {
			sig, err = r.base64Field(path.key("sig"), false)
		} else {
			_, err = r.str(path.key("keyid"))
		}
		return err
	})
	if err == nil && !present.has(0) {
		err = fmt.Errorf("%s is missing", path.key("sig"))
	}
	return sig, err
}
