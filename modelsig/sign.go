package modelsig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/modelgate/modelgate/internal/strictjson"
	"github.com/modelgate/modelgate/manifest"
)

// A Signer signs DSSE pre-authentication encodings and describes the
// verification material that goes into the bundle.
type Signer interface {
	Method() Method
	// SignPAE returns an ASN.1 DER ECDSA signature over pae (hashed by the
	// key's curve).
	SignPAE(pae []byte) ([]byte, error)
	// Public returns the key that verifies SignPAE's signatures.
	Public() *ecdsa.PublicKey
	// Certificates returns the bundle's x509CertificateChain, leaf first
	// (certificate method), or nil for a bare key (key method: the bundle
	// then carries publicKey.hint).
	Certificates() []*x509.Certificate
}

// NewKeySigner signs with a bare key; bundles carry publicKey.hint.
func NewKeySigner(priv *ecdsa.PrivateKey) (Signer, error) {
	if priv == nil {
		return nil, errors.New("key signer: no private key")
	}
	if _, err := curveHash(&priv.PublicKey); err != nil {
		return nil, fmt.Errorf("key signer: %w", err)
	}
	return &ecSigner{priv: priv, method: MethodKey}, nil
}

// NewCertificateSigner signs with priv and puts [leaf, chain...] into the
// bundle's x509CertificateChain. leaf must hold priv's public key and be
// usable for signing (key usage digitalSignature or extended key usage
// codeSigning), else verifiers would refuse every signature it makes.
func NewCertificateSigner(priv *ecdsa.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate) (Signer, error) {
	if priv == nil || leaf == nil {
		return nil, errors.New("certificate signer: a private key and a signing certificate are required")
	}
	if _, err := curveHash(&priv.PublicKey); err != nil {
		return nil, fmt.Errorf("certificate signer: %w", err)
	}
	if !priv.PublicKey.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("certificate signer: signing certificate %s does not hold the private key's public key", describe(leaf))
	}
	if !usableForSigning(leaf) {
		return nil, fmt.Errorf("certificate signer: signing certificate %s cannot be used for signing (it has neither key usage digitalSignature nor extended key usage codeSigning)", describe(leaf))
	}
	certs := []*x509.Certificate{leaf}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("certificate signer: chain certificate %d is nil", i+1)
		}
		certs = append(certs, c)
	}
	return &ecSigner{priv: priv, method: MethodCertificate, certs: certs}, nil
}

// ecSigner is the key and certificate methods' signer: the same ECDSA
// signature, different bundle material.
type ecSigner struct {
	priv   *ecdsa.PrivateKey
	method Method
	certs  []*x509.Certificate
}

func (s *ecSigner) Method() Method                    { return s.method }
func (s *ecSigner) Public() *ecdsa.PublicKey          { return &s.priv.PublicKey }
func (s *ecSigner) Certificates() []*x509.Certificate { return s.certs }

func (s *ecSigner) SignPAE(pae []byte) ([]byte, error) {
	return s.sign(func(h crypto.Hash) []byte { return digest(h, pae) })
}

// sign signs the digest that hashed returns for the hash of s's curve.
func (s *ecSigner) sign(hashed func(crypto.Hash) []byte) ([]byte, error) {
	h, err := curveHash(&s.priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return ecdsa.SignASN1(rand.Reader, s.priv, hashed(h))
}

// signStatement signs the PAE of the in-toto statement stmt with s. This
// package's signers hash the encoding anyway, so for them it is hashed in
// place (paeDigest) rather than built, which would copy the whole
// statement; any other Signer gets the bytes, as SignPAE promises.
func signStatement(s Signer, stmt []byte) ([]byte, error) {
	if es, ok := s.(*ecSigner); ok {
		return es.sign(func(h crypto.Hash) []byte { return paeDigest(h, PayloadTypeInToto, stmt) })
	}
	return s.SignPAE(pae(PayloadTypeInToto, stmt))
}

// SignOptions controls Sign. Paths are absolute or relative to the model
// directory (for a single-file model, the file's directory).
type SignOptions struct {
	// SignaturePath is where the bundle is written (atomically); ""
	// means DefaultSignatureName in the model directory.
	SignaturePath  string
	IgnorePaths    []string
	IgnoreGitPaths bool
	// Serialization: method, hash, shard size and allow_symlinks. The zero
	// value means files + sha256; shards with ShardSize 0 means
	// manifest.DefaultShardSize.
	Serialization manifest.Serialization
	Workers       int
	// LibraryShardForm writes shard resources in the model_signing
	// library's form (see StatementOptions); the default is the OMS form.
	LibraryShardForm bool
	// Progress, when set, hears how many files and bytes will be hashed
	// and how many have been; see manifest.Progress.
	Progress manifest.Progress
	// Cache, when set, lets hashing reuse the digests of unchanged files;
	// see manifest.DigestCache.
	Cache manifest.DigestCache
}

// SignResult describes a written signature.
type SignResult struct {
	SignaturePath string
	Manifest      *manifest.Manifest
	Stats         manifest.Stats
}

// Sign hashes modelPath, signs the in-toto statement with s and writes a
// v0.3 bundle in model_signing's v1.1.0 layout. An empty model is refused.
//
// The signature file is left out of the model (and recorded in
// ignore_paths) when it lies inside it. Before anything is written the new
// signature is parsed back and checked with s's public key, so a faulty
// signer cannot leave a signature that does not verify.
//
// Concurrency and crashes: signs of one model folder are serialized with
// an advisory lock on the folder (flock; it creates nothing), so no sign
// walks another's output, and the signature is written so that no reader
// ever sees a partial file and a killed sign leaves nothing behind (see
// writeSignature). Before any file is hashed, the resources the walk found
// are counted against what a signature can hold (MaxBundleSize), so an
// impossible signature (say, a tiny shard size) fails at once with the
// shard size that would work. Directory symlinks are refused (see
// manifest.Options.Expected): a signature must never be one its own
// verification rejects. The signature path must hold nothing, an empty
// file or a signature (see ExistingSignature): anything else is a
// *ReplaceError, before anything is hashed.
func Sign(ctx context.Context, modelPath string, s Signer, opts SignOptions) (*SignResult, error) {
	if s == nil {
		return nil, errors.New("sign: no signer")
	}
	single, err := modelKind(modelPath)
	if err != nil {
		return nil, err
	}
	sigPath, err := signaturePath(modelPath, single, opts.SignaturePath, true)
	if err != nil {
		return nil, err
	}
	if isModelItself(modelPath, sigPath) {
		return nil, fmt.Errorf("sign %q: the signature path %q is the model itself", modelPath, sigPath)
	}
	if _, err := ExistingSignature(sigPath); err != nil {
		return nil, err
	}
	ser := opts.Serialization
	if ser.Method == "" {
		ser.Method = manifest.Files
	}
	if ser.HashType == "" {
		ser.HashType = manifest.SHA256
	}
	if ser.Method == manifest.Shards && ser.ShardSize == 0 {
		ser.ShardSize = manifest.DefaultShardSize
	}
	// One sign at a time per model folder: a concurrent sign must not
	// walk this one's signature (or its temporary file) into its manifest.
	unlock, err := lockModel(ctx, lockDir(modelPath, single))
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", modelPath, err)
	}
	defer unlock()
	tree, err := manifest.Walk(ctx, modelPath, manifest.Options{
		Serialization:  ser,
		IgnorePaths:    append(append([]string(nil), opts.IgnorePaths...), sigPath),
		IgnoreGitPaths: opts.IgnoreGitPaths,
		Progress:       opts.Progress,
		Workers:        opts.Workers,
		Cache:          opts.Cache,
	})
	if err != nil {
		return nil, err
	}
	if err := checkCapacity(modelPath, tree, ser, StatementOptions{LibraryShardForm: opts.LibraryShardForm}); err != nil {
		return nil, err
	}
	m, stats, err := tree.Hash(ctx)
	if err != nil {
		return nil, err
	}
	if len(m.Resources) == 0 {
		return nil, fmt.Errorf("model %q has no files to sign", modelPath)
	}
	stmt, err := BuildStatementWith(m, ModelName(modelPath), StatementOptions{LibraryShardForm: opts.LibraryShardForm})
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", modelPath, err)
	}
	large := len(stmt) >= collectAbove
	collectIf(large) // the walk's list and the work items are garbage now
	if err := checkOwnStatement(stmt, m); err != nil {
		return nil, fmt.Errorf("sign %q: internal error: %w", modelPath, err)
	}
	collectIf(large) // and the statement parsed back
	sig, err := signStatement(s, stmt)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", modelPath, err)
	}
	data, err := marshalBundle(s, PayloadTypeInToto, stmt, sig)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", modelPath, err)
	}
	collectIf(large) // and the statement, now in the bundle
	if int64(len(data)) > bundleSizeLimit {
		return nil, fmt.Errorf("sign %q: the signature would be %d bytes, more than the %d bytes verifiers read (%d resources; use a larger shard size)",
			modelPath, len(data), bundleSizeLimit, len(m.Resources))
	}
	if err := checkOwnBundle(sigPath, data, s); err != nil {
		return nil, fmt.Errorf("sign %q: the new signature failed its self-check, nothing written: %w", modelPath, err)
	}
	if err := writeSignature(sigPath, filepath.Dir(lockDir(modelPath, single)), data); err != nil {
		return nil, err
	}
	return &SignResult{SignaturePath: sigPath, Manifest: m, Stats: stats}, nil
}

// isModelItself reports whether writing sigPath would replace the model
// (a single-file model, or the model directory) instead of adding a file.
func isModelItself(modelPath, sigPath string) bool {
	mi, err := os.Stat(modelPath)
	if err != nil {
		return false
	}
	si, err := os.Stat(sigPath)
	return err == nil && os.SameFile(mi, si)
}

// marshalBundle writes the bundle exactly as model_signing v1.1.0 does:
// compact JSON, field order as there, "tlogEntries": [] and "keyid": "".
// It is appended into one buffer of the bundle's size, the payload
// base64-encoded straight into it: the bundle of a many-file model is tens
// of megabytes, and an encoder would hold it twice over.
func marshalBundle(s Signer, payloadType string, payload, sig []byte) ([]byte, error) {
	certs := s.Certificates()
	var hint string
	if len(certs) == 0 {
		if hint = PublicKeyHint(s.Public()); hint == "" {
			return nil, errors.New("signer has no usable public key")
		}
	}
	enc := base64.StdEncoding
	size := 256 + len(hint) + len(payloadType) + enc.EncodedLen(len(payload)) + enc.EncodedLen(len(sig))
	for _, c := range certs {
		size += 16 + enc.EncodedLen(len(c.Raw))
	}
	b := make([]byte, 0, size)
	b = append(b, `{"mediaType":`...)
	b = strictjson.AppendString(b, MediaTypeV03)
	b = append(b, `,"verificationMaterial":{`...)
	if len(certs) > 0 {
		b = append(b, `"x509CertificateChain":{"certificates":[`...)
		for i, c := range certs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rawBytes":"`...)
			b = enc.AppendEncode(b, c.Raw)
			b = append(b, `"}`...)
		}
		b = append(b, `]}`...)
	} else {
		b = append(b, `"publicKey":{"hint":`...)
		b = strictjson.AppendString(b, hint)
		b = append(b, '}')
	}
	b = append(b, `,"tlogEntries":[]},"dsseEnvelope":{"payload":"`...)
	b = enc.AppendEncode(b, payload)
	b = append(b, `","payloadType":`...)
	b = strictjson.AppendString(b, payloadType)
	b = append(b, `,"signatures":[{"sig":"`...)
	b = enc.AppendEncode(b, sig)
	return append(b, `","keyid":""}]}}`...), nil
}

// checkOwnStatement parses a freshly built statement as a verifier will and
// checks that it says exactly what was hashed: the same serialization,
// ignore paths and resources (names, offsets and digests, compared as
// Verify compares). With checkOwnBundle, which proves that the bundle
// carries the signed payload, it catches builder, encoder and signer bugs
// before a signature that would not verify, or would verify something
// else, is ever written.
func checkOwnStatement(stmt []byte, m *manifest.Manifest) error {
	st, err := ParseStatement(PayloadTypeInToto, stmt)
	if err != nil {
		return fmt.Errorf("the statement does not parse back: %w", err)
	}
	got := st.Manifest
	switch {
	case got.Serialization != m.Serialization:
		return fmt.Errorf("the statement records serialization %+v, not %+v", got.Serialization, m.Serialization)
	case !slices.Equal(got.IgnorePaths, m.IgnorePaths):
		return fmt.Errorf("the statement records ignore paths %q, not %q", got.IgnorePaths, m.IgnorePaths)
	}
	if err := manifest.Compare(got, m); err != nil {
		return fmt.Errorf("the statement does not list what was hashed: %w", err)
	}
	return nil
}

// checkOwnBundle parses a freshly made bundle back and checks that its
// signature verifies with the signer's public key over the standard PAE and
// that it carries the signer's material. It catches signer and encoder
// bugs before a bad signature is ever written.
func checkOwnBundle(name string, data []byte, s Signer) error {
	b, err := ParseBundle(name, data)
	if err != nil {
		return err
	}
	pub := s.Public()
	h, err := curveHash(pub)
	if err != nil {
		return err
	}
	env := b.Envelope
	if !ecdsa.VerifyASN1(pub, paeDigest(h, env.PayloadType, env.Payload), env.Signatures[0]) {
		return errors.New("the signature does not verify with the signer's public key")
	}
	switch certs := s.Certificates(); {
	case len(certs) == 0 && (b.Material != MaterialPublicKey || b.PublicKeyHint != PublicKeyHint(pub)):
		return errors.New("the bundle does not carry the signer's key hint")
	case len(certs) > 0 && (b.Material != MaterialCertificateChain || !bytes.Equal(b.Certificates[0], certs[0].Raw)):
		return errors.New("the bundle does not carry the signing certificate")
	}
	return nil
}
