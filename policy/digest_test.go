package policy

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// TestRecordedSubjectDigest: the recorded digest is read from a native
// statement whatever the order of its top-level keys; anything else falls
// back to the manifest.
func TestRecordedSubjectDigest(t *testing.T) {
	subject := `"subject": [{"name": "m", "digest": {"sha256": "` + hexA + `"}}]`
	native := `"predicateType": "` + modelsig.PredicateSignatureV1 + `"`
	pred := `"predicate": {"resources": [{"name": "a", "digest": "x"}]}`
	for _, c := range []struct {
		name, payload, want string
	}{
		{"model_signing order", `{"_type": "t", ` + subject + `, ` + native + `, ` + pred + `}`, "sha256:" + hexA},
		{"predicate first", `{` + pred + `, ` + native + `, ` + subject + `}`, "sha256:" + hexA},
		{"compat statement", `{` + subject + `, "predicateType": "` + modelsig.PredicateDigestsV01 + `"}`, ""},
		{"two subjects", `{"subject": [{"digest": {"sha256": "` + hexA + `"}}, {"digest": {"sha256": "` + hexB + `"}}], ` + native + `}`, ""},
		{"short digest", `{"subject": [{"digest": {"sha256": "abc"}}], ` + native + `}`, ""},
		{"no predicate type", `{` + subject + `}`, ""},
		{"not an object", `[]`, ""},
		{"not JSON", `{`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := recordedSubjectDigest([]byte(c.payload))
			if got != c.want || ok != (c.want != "") {
				t.Errorf("got %q %v, want %q", got, ok, c.want)
			}
		})
	}
	// Without a recorded digest, the subject digest is the manifest's.
	m := &manifest.Manifest{Resources: []manifest.Resource{{Path: "a", Digest: make([]byte, 32)}}}
	res := &modelsig.Result{Signed: &modelsig.Signed{Payload: []byte(`{"predicateType": "` + modelsig.PredicateDigestsV01 + `"}`)}, Manifest: m}
	sum := m.SubjectDigest()
	if got := SubjectDigest(res); !strings.HasPrefix(got, "sha256:") || got != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("compat: %q", got)
	}
	if got := SubjectDigest(&modelsig.Result{}); got != "" {
		t.Errorf("empty result: %q", got)
	}
	if got := SubjectDigest(nil); got != "" {
		t.Errorf("nil result: %q", got)
	}
}
