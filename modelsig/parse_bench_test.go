package modelsig

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/modelgate/modelgate/manifest"
)

// bigManifest is a files/sha256 manifest of n resources spread over
// folders of 100 files, like the many-file model of bench/throughput.sh.
func bigManifest(n int) *manifest.Manifest {
	m := &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}}
	for i := range n {
		d := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		m.Resources = append(m.Resources, manifest.Resource{Path: fmt.Sprintf("d%04d/f%06d.bin", i/100, i), Digest: d[:]})
	}
	return m
}

// bigBundle is a key bundle whose payload is the statement of
// bigManifest(n), as the signer writes it (about 220 bytes per resource).
func bigBundle(tb testing.TB, n int) []byte {
	tb.Helper()
	stmt, err := BuildStatement(bigManifest(n), "big")
	if err != nil {
		tb.Fatal(err)
	}
	b := keyBundle()
	b["dsseEnvelope"].(map[string]any)["payload"] = b64(stmt)
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkParseSignature100k measures what verify does with a signature
// before and after the signature check, for a 100,000-file model: parse the
// bundle, then parse the signed statement into the expected manifest.
func BenchmarkParseSignature100k(b *testing.B) {
	data := bigBundle(b, 100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bundle, err := ParseBundle("model.sig", data)
		if err != nil {
			b.Fatal(err)
		}
		st, err := ParseStatement(bundle.Envelope.PayloadType, bundle.Envelope.Payload)
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Manifest.Resources) != 100_000 {
			b.Fatalf("%d resources", len(st.Manifest.Resources))
		}
	}
}
