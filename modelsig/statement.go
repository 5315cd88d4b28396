package modelsig

import "github.com/modelgate/modelgate/manifest"

// In-toto and model_signing type strings.
const (
	PayloadTypeInToto    = "application/vnd.in-toto+json"
	StatementTypeV1      = "https://in-toto.io/Statement/v1"
	PredicateSignatureV1 = "https://model_signing/signature/v1.0"
	PredicateDigestsV01  = "https://model_signing/Digests/v0.1" // v0.1/v0.2 CLI, compat
)

// Statement is a validated in-toto statement taken from a verified payload.
type Statement struct {
	PredicateType string
	SubjectName   string // informational only, never compared
	// Manifest is the expected manifest: resources in payload order, the
	// recorded serialization, and IgnorePaths = the recorded ignore_paths.
	Manifest *manifest.Manifest
}

// ParseStatement validates payloadType and the statement (format spec §3
// and the checks of issue #2: _type, predicateType, exactly one subject
// whose digest matches the resources, safe unique resource names,
// algorithm consistent with hash_type) and returns the expected manifest.
func ParseStatement(payloadType string, payload []byte) (*Statement, error) {
	return nil, errNotImplemented
}

// BuildStatement returns the in-toto statement JSON that model_signing
// v1.1.0 writes for m (predicate signature/v1.0, subject digest over the
// raw resource digests in m's order, recorded ignore_paths).
func BuildStatement(m *manifest.Manifest, modelName string) ([]byte, error) {
	return nil, errNotImplemented
}

// ModelName is the subject name for a model path (format spec §4.6): its
// last component, or the base name of its absolute path for ".", ".." or "".
func ModelName(modelPath string) string { return "" }
