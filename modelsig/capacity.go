package modelsig

import (
	"bytes"
	"fmt"

	"github.com/modelgate/modelgate/manifest"
)

// checkCapacity refuses, before anything is hashed, a model whose
// signature could not be read back: one whose bundle would exceed the
// size verifiers read (bundleSizeLimit). The estimate is a lower bound
// (the statement's bytes per resource, measured on a two-resource
// statement, plus the exact name bytes, base64-encoded), so a signature
// that fits is never refused here; the size of the real bundle is checked
// again after signing. For shards the error names a shard size that fits.
func checkCapacity(modelPath string, t *manifest.Tree, s manifest.Serialization, opts StatementOptions) error {
	n := t.Resources()
	if n == 0 {
		return nil
	}
	per, ok := perResourceBytes(s, opts)
	if !ok {
		return nil // the statement cannot be built; signing says why
	}
	minBundle := base64Len(n*per + t.NameBytes())
	if minBundle <= bundleSizeLimit {
		return nil
	}
	what := "files"
	if s.Method == manifest.Shards {
		what = "shards"
	}
	msg := fmt.Sprintf("sign %q: %d %s would make a signature of at least %d bytes, more than the %d bytes a verifier reads",
		modelPath, n, what, minBundle, bundleSizeLimit)
	if s.Method != manifest.Shards {
		return fmt.Errorf("%s; the model has too many files for one signature (leave some out with --ignore-paths, or sign parts separately)", msg)
	}
	// Resources that fit, with a tenth to spare for longer offsets.
	avg := per + (t.NameBytes()+n-1)/n
	maxResources := bundleSizeLimit / 4 * 3 / avg * 9 / 10
	if size := t.MinShardSize(maxResources); size > 0 {
		return fmt.Errorf("%s; a shard size of at least %d would work (%d is given)", msg, roundShardSize(size), s.ShardSize)
	}
	return fmt.Errorf("%s; the model has too many non-empty files for one signature at any shard size", msg)
}

// perResourceBytes measures how many statement bytes one resource adds
// besides its name, by building statements of one and two resources.
func perResourceBytes(s manifest.Serialization, opts StatementOptions) (int64, bool) {
	r := func(name string) manifest.Resource {
		res := manifest.Resource{Path: name, Digest: bytes.Repeat([]byte{0xab}, s.HashType.Size())}
		if s.Method == manifest.Shards {
			res.Shard, res.End = true, 1
		}
		return res
	}
	one, err1 := BuildStatementWith(&manifest.Manifest{Serialization: s, Resources: []manifest.Resource{r("a")}}, "m", opts)
	two, err2 := BuildStatementWith(&manifest.Manifest{Serialization: s, Resources: []manifest.Resource{r("a"), r("b")}}, "m", opts)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return int64(len(two)-len(one)) - int64(len(r("b").Name())), true
}

// base64Len is the standard base64 length of n bytes.
func base64Len(n int64) int64 { return (n + 2) / 3 * 4 }

// roundShardSize rounds a suggested shard size up to something a person
// would type: a power of two below 1 MiB, whole MiB above.
func roundShardSize(n int64) int64 {
	const mib = 1 << 20
	if n >= mib {
		return (n + mib - 1) / mib * mib
	}
	p := int64(1)
	for p < n {
		p *= 2
	}
	return p
}
