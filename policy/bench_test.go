package policy

import (
	"fmt"
	"testing"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// BenchmarkSubjectDigest measures what a decision adds to a verification
// to report the subject digest: reading the recorded digest from the
// verified payload of a 100,000-file statement (about 17 MB), against a
// full second parse of the statement, which it avoids.
func BenchmarkSubjectDigest(b *testing.B) {
	m := &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}}
	for i := 0; i < 100_000; i++ {
		d := make([]byte, 32)
		d[0], d[1], d[2] = byte(i), byte(i>>8), byte(i>>16)
		m.Resources = append(m.Resources, manifest.Resource{Path: fmt.Sprintf("dir%03d/file%06d.bin", i%1000, i), Digest: d})
	}
	payload, err := modelsig.BuildStatement(m, "model")
	if err != nil {
		b.Fatal(err)
	}
	res := &modelsig.Result{Signed: &modelsig.Signed{PayloadType: modelsig.PayloadTypeInToto, Payload: payload}, Manifest: m}
	b.Run("recorded", func(b *testing.B) {
		for b.Loop() {
			if SubjectDigest(res) == "" {
				b.Fatal("no digest")
			}
		}
	})
	b.Run("reparse", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := modelsig.ParseStatement(modelsig.PayloadTypeInToto, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
