// Package sigstoretest makes Sigstore-signed model_signing fixtures for
// tests, offline: a private Sigstore instance (Fulcio CA, CT log, Rekor,
// timestamp authority) whose trusted root can be written to disk, and real
// model.sig bundles (v0.3, the layout model_signing v1.1 writes) signed
// through it, which verify through the production code path.
//
// Rekor and the timestamp authority are sigstore-go's testing/ca
// VirtualSigstore. Its own Fulcio is not used, because VirtualSigstore
// issues certificates without SCTs (and with only an email SAN and the
// legacy issuer extension): this package runs its own Fulcio CA and CT log
// key, so certificates carry a verifiable embedded SCT, any mix of email,
// URI and otherName SANs, and either issuer extension. Signer.NoSCT
// produces the VirtualSigstore-like certificate without SCT.
//
// Everything is anchored to the current time, as in VirtualSigstore: the
// CA, CT and Rekor keys are valid until an hour after New, the timestamp
// authority's certificate only until five minutes after New, and each
// signing certificate for ten minutes from a minute before signing. So
// sign soon after New, in the test that uses the instance. (Verification
// uses the times recorded in the bundle, so a bundle made in time keeps
// verifying.)
//
// This package imports modelsig (SignModel builds the statement with it),
// so tests in package modelsig itself must be external (package
// modelsig_test) to use it.
package sigstoretest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// Media types written by this package.
const (
	bundleMediaType            = modelsig.MediaTypeV03
	clientTrustConfigMediaType = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
)

var (
	oidIssuerV1     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidOtherNameSAN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7}
	oidSAN          = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidSCTList      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// Instance is a private, in-memory Sigstore instance.
type Instance struct {
	vs          *ca.VirtualSigstore // Rekor and the timestamp authority
	fulcio      *root.FulcioCertificateAuthority
	fulcioKey   *ecdsa.PrivateKey // the intermediate's key
	ctKey       *ecdsa.PrivateKey
	ctLogID     [32]byte
	trustedRoot *root.TrustedRoot
	trustedJSON []byte
}

// New creates an instance valid from now.
func New(tb testing.TB) *Instance {
	tb.Helper()
	vs, err := ca.NewVirtualSigstore()
	check(tb, err, "virtual sigstore")
	rootCert, rootKey, err := ca.GenerateRootCa()
	check(tb, err, "Fulcio root")
	interCert, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	check(tb, err, "Fulcio intermediate")
	ctKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(tb, err, "CT log key")
	ctDER, err := x509.MarshalPKIXPublicKey(ctKey.Public())
	check(tb, err, "CT log key")

	now := time.Now()
	in := &Instance{
		vs: vs,
		fulcio: &root.FulcioCertificateAuthority{
			Root:                rootCert,
			Intermediates:       []*x509.Certificate{interCert},
			ValidityPeriodStart: now.Add(-5 * time.Hour),
			ValidityPeriodEnd:   now.Add(time.Hour),
			URI:                 "https://fulcio.sigstoretest.invalid",
		},
		fulcioKey: interKey,
		ctKey:     ctKey,
		ctLogID:   sha256.Sum256(ctDER),
	}
	ctlogs := map[string]*root.TransparencyLog{hex.EncodeToString(in.ctLogID[:]): {
		BaseURL:             "https://ctfe.sigstoretest.invalid",
		ID:                  in.ctLogID[:],
		ValidityPeriodStart: now.Add(-time.Hour),
		ValidityPeriodEnd:   now.Add(time.Hour),
		HashFunc:            crypto.SHA256,
		PublicKey:           ctKey.Public(),
		SignatureHashFunc:   crypto.SHA256,
	}}
	// VirtualSigstore's Rekor log carries the hex key ID as its ID bytes;
	// a trusted root file needs the raw key ID, or nothing verifies.
	rekor := map[string]*root.TransparencyLog{}
	for id, l := range vs.RekorLogs() {
		raw, err := hex.DecodeString(id)
		check(tb, err, "Rekor log ID")
		c := *l
		c.ID = raw
		rekor[id] = &c
	}
	in.trustedRoot, err = root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{in.fulcio}, ctlogs, vs.TimestampingAuthorities(), rekor)
	check(tb, err, "trusted root")
	in.trustedJSON, err = json.Marshal(in.trustedRoot)
	check(tb, err, "trusted root JSON")
	// Round-trip, so that tests see exactly what a file would give them.
	in.trustedRoot, err = root.NewTrustedRootFromJSON(in.trustedJSON)
	check(tb, err, "trusted root JSON")
	return in
}

// TrustedRoot returns the instance's trusted root.
func (in *Instance) TrustedRoot() *root.TrustedRoot { return in.trustedRoot }

// TrustedRootJSON returns the instance's trusted_root.json contents.
func (in *Instance) TrustedRootJSON() []byte { return append([]byte(nil), in.trustedJSON...) }

// WriteTrustedRoot writes the trusted root to dir/trusted_root.json and
// returns the path.
func (in *Instance) WriteTrustedRoot(tb testing.TB, dir string) string {
	tb.Helper()
	p := filepath.Join(dir, "trusted_root.json")
	check(tb, os.WriteFile(p, in.trustedJSON, 0o644), "write trusted root")
	return p
}

// WriteClientTrustConfig writes a ClientTrustConfig holding the trusted
// root (and an empty signing configuration) to dir/trust_config.json and
// returns the path: the --trust_config file of model_signing.
func (in *Instance) WriteClientTrustConfig(tb testing.TB, dir string) string {
	tb.Helper()
	doc, err := json.Marshal(map[string]any{
		"mediaType":   clientTrustConfigMediaType,
		"trustedRoot": json.RawMessage(in.trustedJSON),
		"signingConfig": map[string]any{
			"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
		},
	})
	check(tb, err, "trust config")
	p := filepath.Join(dir, "trust_config.json")
	check(tb, os.WriteFile(p, doc, 0o644), "write trust config")
	return p
}

// Signer describes the certificate the instance's Fulcio issues.
type Signer struct {
	// Emails, URIs and OtherNames become the certificate's SANs, in that
	// order; OtherNames use Sigstore's otherName type
	// 1.3.6.1.4.1.57264.1.7.
	Emails, URIs, OtherNames []string
	// Issuer is the legacy OIDC issuer extension (1.3.6.1.4.1.57264.1.1,
	// raw string); IssuerV2 is the v2 one (…1.8, UTF8String). An empty
	// value leaves the extension out.
	Issuer, IssuerV2 string
	// NoSCT leaves out the embedded SCT, as VirtualSigstore does.
	NoSCT bool

	// Template, when set, edits the certificate template before issuance
	// (e.g. to drop a key usage), for negative tests.
	Template func(*x509.Certificate)
	// LogBody, when set, edits the canonicalized Rekor entry body before
	// it is logged: the edited body gets a valid inclusion proof and
	// promise, so only the body-versus-bundle checks can catch it.
	LogBody func(body []byte) []byte
}

// Email returns the common Signer: one email SAN, and issuer in both
// issuer extensions (as Fulcio writes it today).
func Email(identity, issuer string) Signer {
	return Signer{Emails: []string{identity}, Issuer: issuer, IssuerV2: issuer}
}

// SignPayload signs payload (an in-toto statement) as s and returns the
// model.sig bundle JSON.
func (in *Instance) SignPayload(tb testing.TB, s Signer, payload []byte) []byte {
	tb.Helper()
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(tb, err, "signing key")
	leaf := in.issue(tb, s, leafKey)

	const payloadType = modelsig.PayloadTypeInToto
	digest := sha256.Sum256(dsse.PAE(payloadType, payload))
	sig, err := ecdsa.SignASN1(rand.Reader, leafKey, digest[:])
	check(tb, err, "DSSE signature")

	integrated := time.Now()
	env := &dsse.Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
	entry, err := in.vs.GenerateTlogEntry(leaf, env, sig, integrated.Unix(), false)
	check(tb, err, "Rekor entry")
	body := entry.TransparencyLogEntry().GetCanonicalizedBody()
	if s.LogBody != nil {
		body = s.LogBody(body)
	}
	tle := in.logEntry(tb, body, integrated)
	tsr, err := in.vs.TimestampResponse(sig)
	check(tb, err, "RFC 3161 timestamp")

	b := &protobundle.Bundle{
		MediaType: bundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: leaf.Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
			},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     payload,
			PayloadType: payloadType,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}},
	}
	out, err := protojson.MarshalOptions{Multiline: true}.Marshal(b)
	check(tb, err, "bundle JSON")
	return out
}

// logEntry logs body in the instance's Rekor (always at index 0, in a
// one-entry tree, as VirtualSigstore does) and returns the bundle's entry
// with inclusion proof, checkpoint and promise. (VirtualSigstore keeps the
// promise of its own entries unexported, hence the re-signing here.)
func (in *Instance) logEntry(tb testing.TB, body []byte, integrated time.Time) *protorekor.TransparencyLogEntry {
	tb.Helper()
	logID, err := in.vs.RekorLogID()
	check(tb, err, "Rekor log ID")
	rawID, err := hex.DecodeString(logID)
	check(tb, err, "Rekor log ID")
	const logIndex = 0
	set, err := in.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: integrated.Unix(),
		LogIndex:       logIndex,
		LogID:          logID,
	})
	check(tb, err, "Rekor promise")
	p, err := in.vs.GetInclusionProof(body)
	check(tb, err, "Rekor inclusion proof")
	rootHash, err := hex.DecodeString(*p.RootHash)
	check(tb, err, "Rekor inclusion proof")
	hashes := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		hashes[i], err = hex.DecodeString(h)
		check(tb, err, "Rekor inclusion proof")
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:         logIndex,
		LogId:            &protocommon.LogId{KeyId: rawID},
		KindVersion:      &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"},
		IntegratedTime:   integrated.Unix(),
		InclusionPromise: &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   *p.LogIndex,
			RootHash:   rootHash,
			TreeSize:   *p.TreeSize,
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: *p.Checkpoint},
		},
		CanonicalizedBody: body,
	}
}

// SignModel signs the model directory modelDir as s, the way
// `model_signing sign sigstore` does by default (files serialization,
// SHA-256, the signature file and the git paths left out and recorded),
// writes modelDir/model.sig and returns its path.
func (in *Instance) SignModel(tb testing.TB, modelDir string, s Signer) string {
	tb.Helper()
	sigPath := filepath.Join(modelDir, modelsig.DefaultSignatureName)
	m, _, err := manifest.Build(context.Background(), modelDir, manifest.Options{
		Serialization:  manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256},
		IgnorePaths:    []string{sigPath},
		IgnoreGitPaths: true,
	})
	check(tb, err, "manifest")
	stmt, err := modelsig.BuildStatement(m, modelsig.ModelName(modelDir))
	check(tb, err, "statement")
	check(tb, os.WriteFile(sigPath, in.SignPayload(tb, s, stmt), 0o644), "write signature")
	return sigPath
}

// issue makes the signing certificate for s, with an embedded SCT unless
// s.NoSCT.
func (in *Instance) issue(tb testing.TB, s Signer, key *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	check(tb, err, "serial")
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if s.Template != nil {
		s.Template(tmpl)
	}
	if sans := sanExtension(tb, s); sans != nil {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, *sans)
	}
	if s.Issuer != "" {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidIssuerV1, Value: []byte(s.Issuer)})
	}
	if s.IssuerV2 != "" {
		v, err := asn1.MarshalWithParams(s.IssuerV2, "utf8")
		check(tb, err, "issuer extension")
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidIssuerV2, Value: v})
	}
	inter := in.fulcio.Intermediates[0]
	if !s.NoSCT {
		// The SCT signs the precertificate: this certificate without the
		// SCT list extension, which is therefore added last.
		precert := in.createCert(tb, tmpl, key)
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, in.sctExtension(tb, precert, inter))
	}
	return in.createCert(tb, tmpl, key)
}

func (in *Instance) createCert(tb testing.TB, tmpl *x509.Certificate, key *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, in.fulcio.Intermediates[0], key.Public(), in.fulcioKey)
	check(tb, err, "signing certificate")
	c, err := x509.ParseCertificate(der)
	check(tb, err, "signing certificate")
	return c
}

// sctExtension returns the embedded SCT list extension for precert, as a
// CT log would sign it (RFC 6962 precert entry: issuer key hash and the
// TBSCertificate without the SCT list).
func (in *Instance) sctExtension(tb testing.TB, precert, issuer *x509.Certificate) pkix.Extension {
	tb.Helper()
	ts := uint64(time.Now().UnixMilli())
	leaf := ct.MerkleTreeLeaf{
		Version:  ct.V1,
		LeafType: ct.TimestampedEntryLeafType,
		TimestampedEntry: &ct.TimestampedEntry{
			EntryType: ct.PrecertLogEntryType,
			Timestamp: ts,
			PrecertEntry: &ct.PreCert{
				IssuerKeyHash:  sha256.Sum256(issuer.RawSubjectPublicKeyInfo),
				TBSCertificate: precert.RawTBSCertificate,
			},
		},
	}
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: in.ctLogID}, Timestamp: ts}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: leaf})
	check(tb, err, "SCT")
	digest := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, in.ctKey, digest[:])
	check(tb, err, "SCT")
	sct.Signature = ct.DigitallySigned{
		Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA},
		Signature: sig,
	}
	one, err := cttls.Marshal(sct)
	check(tb, err, "SCT")
	list, err := cttls.Marshal(ctx509.SignedCertificateTimestampList{SCTList: []ctx509.SerializedSCT{{Val: one}}})
	check(tb, err, "SCT list")
	value, err := asn1.Marshal(list)
	check(tb, err, "SCT list")
	return pkix.Extension{Id: oidSCTList, Value: value}
}

// sanExtension encodes s's SANs, critical as Fulcio marks them (the
// subject is empty); nil when s has none.
func sanExtension(tb testing.TB, s Signer) *pkix.Extension {
	tb.Helper()
	if len(s.Emails)+len(s.URIs)+len(s.OtherNames) == 0 {
		return nil
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range s.Emails {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(e)) })
		}
		for _, u := range s.URIs {
			b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
		}
		for _, o := range s.OtherNames {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOtherNameSAN)
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(o)) })
				})
			})
		}
	})
	der, err := b.Bytes()
	check(tb, err, "SAN extension")
	return &pkix.Extension{Id: oidSAN, Critical: true, Value: der}
}

func check(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("sigstoretest: %s: %v", what, err)
	}
}
