package modelsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Fulcio certificate extensions (github.com/sigstore/fulcio docs/oid-info.md).
var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	// oidIssuerV1 is the legacy OIDC issuer extension; its value is the raw
	// issuer string, not DER. It is the one the reference verifier reads.
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	// oidIssuerV2 holds the issuer as a DER UTF8String. Only used to
	// explain a failure: the reference verifier never consults it.
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	// oidOtherNameSAN is the otherName type Fulcio uses for identities
	// that are neither an email nor a URI (e.g. a username).
	oidOtherNameSAN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7}
)

// NewSigstoreVerifier returns the verifier for the sigstore method (format
// spec 6.3): exact identity (a certificate SAN) and exact issuer, one tlog
// entry, an SCT and at least one verified time source, all against tm.
//
// Matching is exact string equality, never a regular expression or a
// prefix: identity must equal one of the certificate's email (rfc822Name)
// or URI SANs, or the value of a Sigstore otherName SAN
// (1.3.6.1.4.1.57264.1.7); issuer must equal the raw value of the legacy
// OIDC issuer extension 1.3.6.1.4.1.57264.1.1, as in sigstore-python. The
// v2 issuer extension (…1.8) is not consulted, so a certificate carrying
// only the v2 extension does not verify. sigstore-go's own identity matcher
// is not used: it compares only one SAN (the first URI, else the first
// email, else the otherName) and takes the issuer from whichever of the
// two issuer extensions comes last in the certificate (…1.8 in Fulcio's).
func NewSigstoreVerifier(tm root.TrustedMaterial, identity, issuer string) (Verifier, error) {
	switch {
	case tm == nil:
		return nil, errors.New("sigstore method: no trusted root")
	case identity == "":
		return nil, errors.New("sigstore method: an identity (the signer's certificate SAN, e.g. an email) is required")
	case issuer == "":
		return nil, errors.New("sigstore method: an identity provider (the OIDC issuer URL) is required")
	case !utf8.ValidString(identity) || !utf8.ValidString(issuer):
		return nil, errors.New("sigstore method: identity and identity provider must be valid UTF-8")
	}
	// WithoutStatementPredicate: the payload is parsed by ParseStatement,
	// and sigstore-go's predicate decoding (structpb) is costly for the
	// large resource lists of big models.
	sv, err := verify.NewVerifier(tm,
		verify.WithSignedCertificateTimestamps(1),
		verify.WithTransparencyLog(1),
		verify.WithObserverTimestamps(1),
		verify.WithoutStatementPredicate())
	if err != nil {
		return nil, fmt.Errorf("sigstore method: %w", err)
	}
	return &sigstoreVerifier{tm: tm, sv: sv, identity: identity, issuer: issuer}, nil
}

type sigstoreVerifier struct {
	tm               root.TrustedMaterial
	sv               *verify.Verifier
	identity, issuer string
}

func (v *sigstoreVerifier) Method() Method { return MethodSigstore }

// VerifySignature re-reads b's original bytes with the strict Sigstore
// bundle parser and checks them the way sigstore-python's verify_dsse does:
// sigstore-go verifies the transparency log entry (inclusion proof and
// checkpoint, the promise when present), the observed times (log
// integration time and RFC 3161 timestamps), the certificate chain at each
// of them, the SCT and the DSSE signature. On top of that, and because
// sigstore-go is laxer than the reference there, this method checks the
// bundle shape, the certificate profile (key usage, code signing, ECDSA),
// the log entry body against the envelope, the signature over the exact
// payload it returns, and the identity policy.
func (v *sigstoreVerifier) VerifySignature(b *Bundle) (*Signed, error) {
	if b == nil || len(b.raw) == 0 {
		return nil, errors.New("sigstore method: bundle was not read by ParseBundle or ReadBundle")
	}
	pb, err := v.parse(b)
	if err != nil {
		return nil, err
	}
	sb, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, mismatch(b, "invalid Sigstore bundle: %v", err)
	}
	res, err := v.sv.Verify(sb, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, mismatch(b, "%v", explainSigstoreError(err))
	}
	vc, err := sb.VerificationContent()
	if err != nil {
		return nil, mismatch(b, "bundle certificate: %v", err)
	}
	leaf := vc.Certificate()
	if leaf == nil { // cannot happen: parse admitted only certificate material
		return nil, mismatch(b, "bundle has no Fulcio certificate")
	}
	env := pb.GetDsseEnvelope()
	body := pb.GetVerificationMaterial().GetTlogEntries()[0].GetCanonicalizedBody()
	checks := []func() error{
		func() error { return checkSigningProfile(leaf) },
		func() error { return checkEnvelopeSignature(leaf, env) },
		func() error { return checkLogEntryBody(body, leaf, env) },
		func() error { return v.checkIdentity(leaf) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return nil, mismatch(b, "%v", err)
		}
	}
	fps, err := bundleFingerprints(pb, leaf)
	if err != nil {
		return nil, mismatch(b, "%v", err)
	}
	return &Signed{
		PayloadType:  env.GetPayloadType(),
		Payload:      env.GetPayload(),
		Identity:     v.identity,
		Issuer:       v.issuer,
		Fingerprints: fps,
		Warnings:     timestampWarnings(pb, res),
	}, nil
}

// Answers for bundles made by the other methods.
const (
	keyBundleMsg  = "bundle has no Fulcio certificate (it was signed with a key; use the key method)"
	certBundleMsg = "bundle carries a certificate chain, not a Fulcio certificate (it was signed with a certificate; use the certificate method)"
)

// parse reads b.raw strictly (protojson, as sigstore-go does) and checks
// the shape the sigstore method needs before any cryptography, so that a
// bundle made for another method gets an answer naming that method.
func (v *sigstoreVerifier) parse(b *Bundle) (*protobundle.Bundle, error) {
	// Decided first on the lenient parse: old key bundles
	// (publicKey.rawBytes) are not valid protobuf JSON.
	switch {
	case b.Material == MaterialPublicKey:
		return nil, mismatch(b, keyBundleMsg)
	case b.Material == MaterialCertificateChain && b.MediaType == MediaTypeV03:
		return nil, mismatch(b, certBundleMsg)
	}
	switch b.MediaType {
	case MediaTypeV01, MediaTypeV02, MediaTypeV03:
	default:
		return nil, mismatch(b, "the sigstore method needs a Sigstore bundle (media type %s, %s or %s), not %q",
			MediaTypeV03, MediaTypeV02, MediaTypeV01, b.MediaType)
	}
	pb := &protobundle.Bundle{}
	if err := protojson.Unmarshal(b.raw, pb); err != nil {
		return nil, mismatch(b, "not a valid Sigstore bundle: %v", err)
	}
	if pb.GetMediaType() != b.MediaType { // cannot differ: both read the same bytes
		return nil, mismatch(b, "bundle media type is ambiguous")
	}
	// As in sigstore-python: v0.1 and v0.2 bundles carry the Fulcio
	// certificate as x509CertificateChain, v0.3 bundles as certificate.
	vm := pb.GetVerificationMaterial()
	v03 := pb.GetMediaType() == MediaTypeV03
	switch c := vm.GetContent().(type) {
	case *protobundle.VerificationMaterial_Certificate:
		if !v03 {
			return nil, mismatch(b, "a bundle of media type %s must carry its certificate as x509CertificateChain", pb.GetMediaType())
		}
	case *protobundle.VerificationMaterial_X509CertificateChain:
		if v03 {
			return nil, mismatch(b, certBundleMsg)
		}
		if len(c.X509CertificateChain.GetCertificates()) == 0 {
			return nil, mismatch(b, "bundle has an empty certificate chain")
		}
	case *protobundle.VerificationMaterial_PublicKey:
		return nil, mismatch(b, keyBundleMsg)
	default:
		return nil, mismatch(b, "bundle has no Fulcio certificate")
	}
	env := pb.GetDsseEnvelope()
	if env == nil {
		return nil, mismatch(b, "bundle has no DSSE envelope (model signatures are DSSE envelopes)")
	}
	if n := len(env.GetSignatures()); n != 1 {
		return nil, mismatch(b, "DSSE envelope has %d signatures; a Sigstore bundle has exactly one", n)
	}
	// The reference verifier ignores keyid; sigstore-go would reject a
	// signature whose non-empty keyid is not the key's fingerprint.
	env.GetSignatures()[0].Keyid = ""
	if err := checkLogEntryShape(vm.GetTlogEntries()); err != nil {
		return nil, mismatch(b, "%v", err)
	}
	if err := v.checkTimestampShape(vm.GetTimestampVerificationData().GetRfc3161Timestamps()); err != nil {
		return nil, mismatch(b, "%v", err)
	}
	return pb, nil
}

// checkLogEntryShape requires what sigstore-python requires: exactly one
// log entry, a Rekor v1 "dsse" 0.0.1 entry (sigstore-go v1.3.0 cannot
// verify DSSE entries of Rekor v2).
func checkLogEntryShape(entries []*protorekor.TransparencyLogEntry) error {
	switch len(entries) {
	case 0:
		return errors.New("no transparency log entry in the bundle (a key- or certificate-method signature? the sigstore method needs a Rekor entry)")
	case 1:
	default:
		return fmt.Errorf("bundle has %d transparency log entries; a Sigstore bundle has exactly one", len(entries))
	}
	kv := entries[0].GetKindVersion()
	if kv.GetKind() != "dsse" || kv.GetVersion() != "0.0.1" {
		return fmt.Errorf("transparency log entry is of kind %q version %q; only Rekor dsse 0.0.1 entries are supported",
			kv.GetKind(), kv.GetVersion())
	}
	return nil
}

// checkTimestampShape mirrors two rules of sigstore-python that sigstore-go
// lacks: a bundle with RFC 3161 timestamps needs a trusted root with a
// timestamp authority, and the same timestamp may not appear twice.
// Timestamps that fail to verify are then ignored by both, as long as the
// log entry provides a verified time.
func (v *sigstoreVerifier) checkTimestampShape(ts []*protocommon.RFC3161SignedTimestamp) error {
	if len(ts) == 0 {
		return nil
	}
	if len(v.tm.TimestampingAuthorities()) == 0 {
		return errors.New("bundle has RFC 3161 timestamps but the trusted root has no timestamp authority to check them")
	}
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if bytes.Equal(ts[i].GetSignedTimestamp(), ts[j].GetSignedTimestamp()) {
				return errors.New("bundle has a duplicate RFC 3161 timestamp")
			}
		}
	}
	return nil
}

// explainSigstoreError puts a hint for the operator in front of
// sigstore-go's error, keyed on the step that failed.
func explainSigstoreError(err error) error {
	if strings.HasPrefix(err.Error(), "failed to verify log inclusion: not enough verified log entries") {
		return fmt.Errorf("no verified transparency log entry: the entry's log is not in the trusted root, or its promise does not verify (is the trusted root the right one: production, staging or a private instance?): %w", err)
	}
	hints := []struct{ prefix, hint string }{
		{"failed to verify log inclusion", "the transparency log entry does not match the bundle or does not verify"},
		{"failed to verify timestamps", "no verified signing time (neither a trusted RFC 3161 timestamp nor a log entry with a verified promise)"},
		{"failed to verify leaf certificate", "the signing certificate does not chain to a trusted Fulcio CA at the signing time (is the trusted root the right one?)"},
		{"failed to verify signed certificate timestamp", "the signing certificate has no SCT that verifies against the trusted CT logs"},
		{"failed to summarize certificate", "the signing certificate has no usable identity (email, URI or otherName SAN)"},
		{"failed to verify signature", "the DSSE signature does not verify with the certificate's key"},
	}
	hint := "sigstore verification failed"
	for _, h := range hints {
		if strings.HasPrefix(err.Error(), h.prefix) {
			hint = h.hint
			break
		}
	}
	// sigstore-go formats an empty error list as "%!w(<nil>)".
	if msg := err.Error(); strings.Contains(msg, "%!w(<nil>)") {
		return fmt.Errorf("%s: %s", hint, strings.ReplaceAll(strings.ReplaceAll(msg, "; error: %!w(<nil>)", ""), "%!w(<nil>)", ""))
	}
	return fmt.Errorf("%s: %w", hint, err)
}

// checkSigningProfile enforces the leaf usage sigstore-python requires.
// Go's chain verification alone would accept a leaf without any key usage,
// or without an extended key usage extension at all.
func checkSigningProfile(leaf *x509.Certificate) error {
	if leaf.IsCA {
		return errors.New("signing certificate is a CA certificate")
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("signing certificate lacks key usage digitalSignature")
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return errors.New("signing certificate lacks extended key usage codeSigning")
	}
	return nil
}

// checkEnvelopeSignature verifies the DSSE signature once more, over the
// exact payload bytes this method returns, with ECDSA and SHA-256 as
// sigstore-python does (sigstore-go would also take SHA-384 for a P-384
// key, or a non-ECDSA key). The returned payload is therefore the one
// whose signature was checked, whatever sigstore-go did internally.
func checkEnvelopeSignature(leaf *x509.Certificate, env *protodsse.Envelope) error {
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("signing certificate key is %s; only ECDSA keys are supported", leaf.PublicKeyAlgorithm)
	}
	h := paeDigest(crypto.SHA256, env.GetPayloadType(), env.GetPayload())
	if !ecdsa.VerifyASN1(pub, h, env.GetSignatures()[0].GetSig()) {
		return errors.New("the DSSE signature does not verify over the payload with the certificate's key (ECDSA, SHA-256)")
	}
	return nil
}

// checkLogEntryBody compares the logged dsse body with the bundle, as
// sigstore-python does: payloadHash is SHA-256 of the payload, and the
// signature list is exactly the envelope's one signature with the leaf
// certificate (base64 of its PEM) as verifier. sigstore-go checks the
// payload hash and the first logged signature only.
func checkLogEntryBody(body []byte, leaf *x509.Certificate, env *protodsse.Envelope) error {
	var entry struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			PayloadHash struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"value"`
			} `json:"payloadHash"`
			Signatures []struct {
				Signature string `json:"signature"`
				Verifier  string `json:"verifier"`
			} `json:"signatures"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &entry); err != nil {
		return fmt.Errorf("transparency log entry body: %v", err)
	}
	if entry.Kind != "dsse" || entry.APIVersion != "0.0.1" {
		return fmt.Errorf("transparency log entry body is %q %q, not dsse 0.0.1", entry.Kind, entry.APIVersion)
	}
	sum := sha256.Sum256(env.GetPayload())
	if ph := entry.Spec.PayloadHash; ph.Algorithm != "sha256" || ph.Value != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("transparency log entry records payload %s:%s, but the envelope payload is sha256:%x",
			strconv.Quote(ph.Algorithm), strconv.Quote(ph.Value), sum)
	}
	wantSig := base64.StdEncoding.EncodeToString(env.GetSignatures()[0].GetSig())
	wantVerifier := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	sigs := entry.Spec.Signatures
	if len(sigs) != 1 || sigs[0].Signature != wantSig || sigs[0].Verifier != wantVerifier {
		return errors.New("transparency log entry signatures do not match the bundle's signature and certificate")
	}
	return nil
}

// checkIdentity applies the identity policy (see NewSigstoreVerifier).
// Both halves are reported when both are wrong.
func (v *sigstoreVerifier) checkIdentity(leaf *x509.Certificate) error {
	var problems []string
	if issuer, ok := certIssuer(leaf); !ok {
		msg := "certificate has no OIDC issuer extension (1.3.6.1.4.1.57264.1.1)"
		if v2, ok := certIssuerV2(leaf); ok {
			msg += fmt.Sprintf("; its v2 issuer extension (1.3.6.1.4.1.57264.1.8) says %q, which model_signing does not consult", v2)
		}
		problems = append(problems, msg)
	} else if issuer != v.issuer {
		problems = append(problems, fmt.Sprintf("certificate issuer is %q, expected %q", issuer, v.issuer))
	}
	ids, err := certIdentities(leaf)
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case !slices.Contains(ids, v.identity):
		has := "no email, URI or Sigstore otherName SAN"
		if len(ids) > 0 {
			q := make([]string, len(ids))
			for i, id := range ids {
				q[i] = strconv.Quote(id)
			}
			has = strings.Join(q, ", ")
		}
		problems = append(problems, fmt.Sprintf("certificate identity %q not found; the certificate has %s", v.identity, has))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// certIssuer returns the raw value of the legacy OIDC issuer extension.
// (crypto/x509 refuses certificates with duplicate extensions.)
func certIssuer(c *x509.Certificate) (string, bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidIssuerV1) {
			return string(e.Value), true
		}
	}
	return "", false
}

// certIssuerV2 returns the v2 OIDC issuer extension's UTF8String, for
// messages only.
func certIssuerV2(c *x509.Certificate) (string, bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidIssuerV2) {
			var s string
			if _, err := asn1.UnmarshalWithParams(e.Value, &s, "utf8"); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return "", false
}

// certIdentities returns the identities a Fulcio certificate names, as
// sigstore-python collects them: every rfc822Name and URI SAN exactly as
// encoded (crypto/x509 would re-serialize URIs), and the UTF8String of
// every otherName of type 1.3.6.1.4.1.57264.1.7.
func certIdentities(c *x509.Certificate) ([]string, error) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSubjectAltName) {
			ids, err := parseSANIdentities(e.Value)
			if err != nil {
				return nil, fmt.Errorf("certificate subject alternative names: %v", err)
			}
			return ids, nil
		}
	}
	return nil, errors.New("certificate has no subject alternative name")
}

var errMalformedSAN = errors.New("malformed extension")

func parseSANIdentities(der []byte) ([]string, error) {
	var (
		in    = cryptobyte.String(der)
		names cryptobyte.String
		ids   []string
	)
	if !in.ReadASN1(&names, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errMalformedSAN
	}
	for !names.Empty() {
		var (
			gn  cryptobyte.String
			tag cbasn1.Tag
		)
		if !names.ReadAnyASN1(&gn, &tag) {
			return nil, errMalformedSAN
		}
		switch tag {
		case cbasn1.Tag(1).ContextSpecific(), cbasn1.Tag(6).ContextSpecific(): // rfc822Name, URI
			ids = append(ids, string(gn))
		case cbasn1.Tag(0).ContextSpecific().Constructed(): // otherName
			var (
				oid      asn1.ObjectIdentifier
				val, str cryptobyte.String
			)
			if !gn.ReadASN1ObjectIdentifier(&oid) ||
				!gn.ReadASN1(&val, cbasn1.Tag(0).ContextSpecific().Constructed()) || !gn.Empty() {
				return nil, errMalformedSAN
			}
			if !oid.Equal(oidOtherNameSAN) {
				continue
			}
			if !val.ReadASN1(&str, cbasn1.UTF8String) || !val.Empty() || !utf8.Valid(str) {
				return nil, errMalformedSAN
			}
			ids = append(ids, string(str))
		}
	}
	return ids, nil
}

// bundleFingerprints lists the bundle's certificates, intermediates first
// and the leaf last. Only v0.1/v0.2 bundles may carry intermediates; they
// are informational, since the chain is built from the trusted root.
func bundleFingerprints(pb *protobundle.Bundle, leaf *x509.Certificate) ([]string, error) {
	var fps []string
	if chain := pb.GetVerificationMaterial().GetX509CertificateChain(); chain != nil {
		for i, c := range chain.GetCertificates()[1:] {
			cert, err := x509.ParseCertificate(c.GetRawBytes())
			if err != nil {
				return nil, fmt.Errorf("bundle certificate %d: %v", i+2, err)
			}
			fps = append(fps, Fingerprint(cert))
		}
	}
	return append(fps, Fingerprint(leaf)), nil
}

// timestampWarnings notes RFC 3161 timestamps that did not verify. Like
// the reference verifier, sigstore-go then relies on the log entry's time,
// which is enough; the operator may still want to know (e.g. a trusted
// root without the timestamp authority that was used).
func timestampWarnings(pb *protobundle.Bundle, res *verify.VerificationResult) []string {
	n := len(pb.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps())
	verified := 0
	for _, t := range res.VerifiedTimestamps {
		if t.Type == "TimestampAuthority" {
			verified++
		}
	}
	if verified < n {
		return []string{fmt.Sprintf("%d of %d RFC 3161 timestamps in the bundle did not verify against the trusted root's timestamp authorities; the transparency log time was used", n-verified, n)}
	}
	return nil
}
