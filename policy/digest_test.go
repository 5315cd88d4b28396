package policy

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// TestSubjectDigest: a statement's recorded digest is the subject digest;
// without one (a compat statement, or no statement at all) it is computed
// over the verified manifest.
func TestSubjectDigest(t *testing.T) {
	recorded, _ := hex.DecodeString(hexA)
	m := &manifest.Manifest{Resources: []manifest.Resource{{Path: "a", Digest: make([]byte, 32)}}}
	sum := m.SubjectDigest()
	computed := "sha256:" + hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name string
		res  *modelsig.Result
		want string
	}{
		{"recorded", &modelsig.Result{Statement: &modelsig.Statement{PredicateType: modelsig.PredicateSignatureV1, SubjectDigest: recorded}, Manifest: m}, "sha256:" + hexA},
		{"recorded, no manifest", &modelsig.Result{Statement: &modelsig.Statement{SubjectDigest: recorded}}, "sha256:" + hexA},
		{"compat statement", &modelsig.Result{Statement: &modelsig.Statement{PredicateType: modelsig.PredicateDigestsV01}, Manifest: m}, computed},
		{"no statement", &modelsig.Result{Manifest: m}, computed},
		{"empty result", &modelsig.Result{}, ""},
		{"nil result", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := SubjectDigest(c.res); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestRecordResult: a verification result fills the decision's record of
// what was verified, and leaves the outcome to the caller.
func TestRecordResult(t *testing.T) {
	recorded, _ := hex.DecodeString(hexA)
	res := &modelsig.Result{
		SignaturePath: "/m/model.sig",
		Signed: &modelsig.Signed{Identity: "a@example.com", Issuer: "https://issuer.example",
			Fingerprints: []string{"AA:BB"}, Warnings: []string{"w"}},
		Statement: &modelsig.Statement{SubjectDigest: recorded},
		Stats:     manifest.Stats{Files: 3, Bytes: 10, CachedBytes: 20},
	}
	d := Decision{Outcome: Denied, Code: CodeVerificationFailed, Reason: "kept", Signature: "/given.sig"}
	d.RecordResult(res)
	want := Decision{Outcome: Denied, Code: CodeVerificationFailed, Reason: "kept", Signature: "/m/model.sig",
		SubjectDigest: "sha256:" + hexA, Files: 3, Bytes: 10, CachedBytes: 20,
		Identity: "a@example.com", Issuer: "https://issuer.example",
		Fingerprints: []string{"AA:BB"}, Warnings: []string{"w"}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("RecordResult:\n got %+v\nwant %+v", d, want)
	}
}
