package sigstoretest

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestSignPayload checks the fixture against sigstore-go directly (the
// modelsig tests check it through the production path): the bundle
// verifies with every requirement of the sigstore method, including the
// SCT, and a NoSCT certificate has none.
func TestSignPayload(t *testing.T) {
	in := New(t)
	dir := t.TempDir()
	for name, p := range map[string]string{
		"trusted root":        in.WriteTrustedRoot(t, dir),
		"client trust config": in.WriteClientTrustConfig(t, dir),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), root.TrustedRootMediaType01) {
			t.Errorf("%s %s lacks the trusted root", name, filepath.Base(p))
		}
	}
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`)
	tests := []struct {
		name   string
		signer Signer
		want   string // "" means sigstore-go accepts it
	}{
		{"with SCT", Email("a@example.com", "https://issuer.example"), ""},
		{"without SCT", Signer{Emails: []string{"a@example.com"}, Issuer: "https://issuer.example", NoSCT: true}, "SCT"},
	}
	v, err := verify.NewVerifier(in.TrustedRoot(), verify.WithSignedCertificateTimestamps(1),
		verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := in.SignPayload(t, tc.signer, payload)
			var pb protobundle.Bundle
			if err := protojson.Unmarshal(raw, &pb); err != nil {
				t.Fatal(err)
			}
			b, err := bundle.NewBundle(&pb)
			if err != nil {
				t.Fatal(err)
			}
			id, err := verify.NewShortCertificateIdentity("https://issuer.example", "", "a@example.com", "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithCertificateIdentity(id)))
			if tc.want == "" && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Verify = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestIssueExtensions(t *testing.T) {
	in := New(t)
	s := Signer{Emails: []string{"a@example.com"}, URIs: []string{"https://example.com/w"}, OtherNames: []string{"alice"},
		Issuer: "https://one.example", IssuerV2: "https://two.example"}
	raw := in.SignPayload(t, s, []byte(`{}`))
	var doc struct {
		VerificationMaterial struct {
			Certificate struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificate"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(doc.VerificationMaterial.Certificate.RawBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.EmailAddresses) != 1 || len(cert.URIs) != 1 {
		t.Errorf("SANs = %v %v", cert.EmailAddresses, cert.URIs)
	}
	found := map[string]string{}
	for _, e := range cert.Extensions {
		found[e.Id.String()] = string(e.Value)
	}
	if found["1.3.6.1.4.1.57264.1.1"] != "https://one.example" || !strings.HasSuffix(found["1.3.6.1.4.1.57264.1.8"], "https://two.example") {
		t.Errorf("issuer extensions = %q", found)
	}
	if _, ok := found["1.3.6.1.4.1.11129.2.4.2"]; !ok {
		t.Error("no embedded SCT list")
	}
}
