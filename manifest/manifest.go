// Package manifest turns a model on disk into a manifest (the list of
// resources the model_signing library signs: whole files or byte ranges of
// files, each with a digest) and compares manifests.
//
// It implements sections 4 and 5 of the model_signing format: the walk
// (ignore rules, git paths at the model root, symlink rules), the files and
// shards serializations, the sha256, blake2b and blake3 hashes, and the
// map comparison that decides whether a model on disk is what was signed.
//
// Nothing here knows about signatures or bundles; package modelsig builds
// the expected manifest from a signed payload and calls Build and Compare.
package manifest

// HashType names the hash applied to each file or shard. The values are the
// strings model_signing records as serialization.hash_type.
type HashType string

// The supported hashes.
const (
	SHA256  HashType = "sha256"
	BLAKE2b HashType = "blake2b" // BLAKE2b-512, default parameters
	BLAKE3  HashType = "blake3"  // BLAKE3, 32-byte output
)

// Method names the serialization: one resource per file, or one per shard.
type Method string

// The supported serialization methods.
const (
	Files  Method = "files"
	Shards Method = "shards"
)

// DefaultShardSize is model_signing's default shard size (decimal 1 GB).
const DefaultShardSize int64 = 1_000_000_000

// GitPaths are the paths left out at the model root (only there) unless the
// caller turns git-path ignoring off.
var GitPaths = []string{".git", ".gitattributes", ".github", ".gitignore"}

// Serialization says how a model is turned into a manifest.
type Serialization struct {
	Method        Method
	HashType      HashType
	ShardSize     int64 // > 0 when Method is Shards, 0 otherwise
	AllowSymlinks bool
}

// Resource is one manifest entry: a whole file (files method) or the byte
// range [Start, End) of a file (shards method).
type Resource struct {
	// Path is the slash-separated path relative to the model root, with no
	// leading "./"; "." when the model is a single file.
	Path       string
	Shard      bool
	Start, End int64
	Digest     []byte
}

// Manifest is a model's content as model_signing signs it. Resources keep
// the order they were given in (payload order for an expected manifest).
type Manifest struct {
	Serialization Serialization
	Resources     []Resource

	// IgnorePaths is the effective set of model-relative ignore paths:
	// what Build left out, and what a signer records in
	// serialization.ignore_paths. Sorted; informational when verifying.
	IgnorePaths []string
}

// ParseHashType accepts the hash names used by model_signing ("sha256",
// "blake2b", and the CLI/config alias "blake2" for blake2b, "blake3").
func ParseHashType(s string) (HashType, error) { return "", errNotImplemented }

// Name returns the model_signing resource name: Path for a file, and
// "Path:Start:End" (decimal) for a shard.
func (r Resource) Name() string { return "" }

// SubjectDigest returns SHA-256 over the concatenated raw digests of the
// resources, in manifest order: the in-toto subject digest.
func (m *Manifest) SubjectDigest() [32]byte { return [32]byte{} }
