package modelsig

// MaxBundleSize bounds how much of a signature file is read; real bundles
// are a few KiB, and a larger file is refused rather than parsed.
const MaxBundleSize = 16 << 20

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
type Bundle struct {
	MediaType string
	Material  MaterialKind
	// PublicKeyHint is publicKey.hint ("" when absent).
	PublicKeyHint string
	// Certificates holds DER certificates, leaf first, for
	// MaterialCertificateChain and MaterialCertificate.
	Certificates [][]byte
	Envelope     Envelope

	raw []byte // the file as read, for the sigstore method's strict parser
}

// Envelope is the bundle's DSSE envelope, base64 already decoded.
type Envelope struct {
	PayloadType string
	Payload     []byte
	Signatures  [][]byte // signatures[].sig in order; keyid is ignored
}

// ParseBundle parses a signature file's bytes. name is used in errors.
func ParseBundle(name string, data []byte) (*Bundle, error) { return nil, errNotImplemented }

// ReadBundle reads and parses the signature file at path (at most
// MaxBundleSize bytes).
func ReadBundle(path string) (*Bundle, error) { return nil, errNotImplemented }
