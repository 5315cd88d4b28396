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

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"strconv"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/blake2b"
)

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

	// extraDirs are directory symlinks (and directories under followed
	// ones) that the walk did not descend because the expected manifest
	// lists nothing under them; Compare reports them as extra entries.
	extraDirs []string
}

// ParseHashType accepts the hash names used by model_signing ("sha256",
// "blake2b", and the CLI/config alias "blake2" for blake2b, "blake3").
func ParseHashType(s string) (HashType, error) {
	switch s {
	case "sha256":
		return SHA256, nil
	case "blake2b", "blake2":
		return BLAKE2b, nil
	case "blake3":
		return BLAKE3, nil
	}
	return "", fmt.Errorf("unknown hash %q (valid: sha256, blake2b, blake2, blake3)", s)
}

// Size returns the digest length in bytes of h, or 0 for an unknown hash.
// Callers parsing a signed manifest use it to reject digests of the wrong
// length before comparing anything.
func (h HashType) Size() int {
	switch h {
	case SHA256, BLAKE3:
		return 32
	case BLAKE2b:
		return blake2b.Size
	}
	return 0
}

// newHash returns a fresh hasher for h, or nil for an unknown hash (callers
// validate h first).
func newHash(h HashType) hash.Hash {
	switch h {
	case SHA256:
		return sha256.New()
	case BLAKE2b:
		d, _ := blake2b.New512(nil) // cannot fail without a key
		return d
	case BLAKE3:
		return blake3.New() // 32-byte output
	}
	return nil
}

// validate reports whether s describes something Build can produce.
func (s Serialization) validate() error {
	if s.HashType.Size() == 0 {
		return fmt.Errorf("unknown hash type %q (valid: sha256, blake2b, blake3)", s.HashType)
	}
	switch s.Method {
	case Files:
		if s.ShardSize != 0 {
			return fmt.Errorf("shard size %d given for the files method (it must be 0)", s.ShardSize)
		}
	case Shards:
		if s.ShardSize <= 0 {
			return fmt.Errorf("shard size %d: it must be positive", s.ShardSize)
		}
	default:
		return fmt.Errorf("unknown serialization method %q (valid: files, shards)", s.Method)
	}
	return nil
}

// algorithm is the per-resource algorithm string model_signing writes for
// s: "sha256" for files, "sha256-sharded-<size>" for shards. Compare uses it
// as part of each resource's identity so that a different method, hash or
// shard size always counts as a difference, never as a match.
func (s Serialization) algorithm() string {
	if s.Method == Shards {
		return string(s.HashType) + "-sharded-" + strconv.FormatInt(s.ShardSize, 10)
	}
	if s.Method != Files {
		// Keep unknown methods distinct from files so they never compare equal.
		return string(s.HashType) + "-" + string(s.Method)
	}
	return string(s.HashType)
}

// Name returns the model_signing resource name: Path for a file, and
// "Path:Start:End" (decimal) for a shard.
func (r Resource) Name() string {
	if !r.Shard {
		return r.Path
	}
	return r.Path + ":" + strconv.FormatInt(r.Start, 10) + ":" + strconv.FormatInt(r.End, 10)
}

// SubjectDigest returns SHA-256 over the concatenated raw digests of the
// resources, in manifest order: the in-toto subject digest.
func (m *Manifest) SubjectDigest() [32]byte {
	h := sha256.New()
	for _, r := range m.Resources {
		h.Write(r.Digest)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
