package policy

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/internal/safefile"
	"github.com/modelgate/modelgate/internal/strictjson"
	"github.com/modelgate/modelgate/modelsig"
)

// The verification methods a signer may name.
const (
	methodSigstore    = string(modelsig.MethodSigstore)
	methodCertificate = string(modelsig.MethodCertificate)
	methodKey         = string(modelsig.MethodKey)
	methodSkip        = "skip"
)

var methods = []string{methodSigstore, methodCertificate, methodKey, methodSkip}

// signerKeys lists the keys each method allows besides verification_method
// (spec/policy.md §2).
var signerKeys = map[string][]string{
	methodSigstore:    {"identity", "identity_provider", "use_staging", "trust_config"},
	methodCertificate: {"certificate_chain", "log_fingerprints"},
	methodKey:         {"public_key"},
	methodSkip:        {},
}

// requiredSignerKeys lists the keys each method cannot do without.
var requiredSignerKeys = map[string][]string{
	methodSigstore:    {"identity", "identity_provider"},
	methodCertificate: {"certificate_chain"},
	methodKey:         {"public_key"},
}

// signer is one entry of policy.signatures.signers, with its trust material
// already read.
type signer struct {
	name   string
	off    int
	path   jsonPath
	method string // "" when the signer has no valid method

	identity, issuer string   // sigstore
	useStaging       bool     // sigstore
	trustConfig      string   // sigstore: absolute path, "" for the TUF root
	logFingerprints  bool     // certificate
	publicKey        string   // key: absolute path
	certChain        []string // certificate: absolute paths

	// trustFiles are the trust-material files the signer names, for the
	// checks that read them (load) and look at who can change them (lint).
	trustFiles []trustFile

	// verifier is built at load for key, certificate and sigstore with
	// trust_config; nil for skip and for sigstore with the TUF root, whose
	// verifier is built at decision time once the root is fetched.
	verifier modelsig.Verifier
	used     bool
}

// trustFile is one trust-material path of a signer and where it is
// written in the policy.
type trustFile struct {
	key  string   // public_key, trust_config or certificate_chain
	file string   // absolute
	off  int      // offset of the JSON string
	path jsonPath // e.g. policy.signatures.signers.k.public_key
}

// trust is the material read from a signer's trust files.
type trust struct {
	pub   *ecdsa.PublicKey
	certs []*x509.Certificate
	tm    root.TrustedMaterial
}

// loadSigners reads policy.signatures.signers.
func (l *loader) loadSigners(obj *strictjson.Value, path jsonPath) {
	for _, m := range members(obj) {
		sp := path.key(m.Key)
		if m.Key == "" {
			l.errorf(m.KeyOffset, sp, "a signer name must not be empty")
			continue
		}
		v := l.object(m.Value, sp, "")
		if v == nil {
			continue
		}
		// A signer with errors is still registered so that entries naming
		// it are not also reported as undefined.
		s := l.loadSigner(m.Key, m.KeyOffset, v, sp)
		l.p.signers[s.name] = s
		l.signerOrder = append(l.signerOrder, s)
	}
}

// loadSigner reads one signer and reports every problem it has, not only
// the first: its method, each key and value, and each trust file (an
// operator fixing a policy should not have to run lint once per mistake).
// Its verifier is built only when it has no problem at all.
func (l *loader) loadSigner(name string, off int, obj *strictjson.Value, path jsonPath) *signer {
	s := &signer{name: name, off: off, path: path}
	before := len(l.errors)
	s.method = l.signerMethod(obj, path)
	f := l.signerFields(s.method, obj, path)
	l.signerValues(s, f, path)
	if s.method != "" {
		for _, key := range requiredSignerKeys[s.method] {
			if f[key] == nil {
				l.errorf(obj.Offset, path, "a %s signer needs %s", s.method, quote(key))
			}
		}
	}
	if s.useStaging && f["trust_config"] != nil {
		l.errorf(f["use_staging"].Offset, path.key("use_staging"), `use_staging has no effect when trust_config is given (trust_config replaces the production and staging roots); remove one`)
	}
	t, ok := l.readTrust(s)
	if ok && len(l.errors) == before && s.method != "" {
		l.buildVerifier(s, t, f)
	}
	return s
}

// signerMethod returns the signer's verification method, or "" after
// reporting why it has none valid.
func (l *loader) signerMethod(obj *strictjson.Value, path jsonPath) string {
	m := obj.Member("verification_method")
	if m == nil {
		l.errorf(obj.Offset, path, `missing "verification_method" (one of %s)`, strings.Join(methods, ", "))
		return ""
	}
	mv, mp := m.Value, path.key("verification_method")
	method, ok := l.str(mv, mp)
	if !ok {
		return ""
	}
	if !slices.Contains(methods, method) {
		msg := fmt.Sprintf("unknown verification method %s (one of %s)", quote(method), strings.Join(methods, ", "))
		if c := closest(method, methods); c != "" {
			msg += fmt.Sprintf("; did you mean %s?", quote(c))
		}
		l.errorf(mv.Offset, mp, "%s", msg)
		return ""
	}
	return method
}

// signerFields returns the signer's keys that belong to method, reporting
// the others. Without a valid method, the keys of every method are read
// (their values can still be checked) and only unknown ones reported.
func (l *loader) signerFields(method string, obj *strictjson.Value, path jsonPath) map[string]*strictjson.Value {
	allowed := signerKeys[method]
	if method == "" {
		allowed = nil
		for _, m := range methods {
			allowed = append(allowed, signerKeys[m]...)
		}
	}
	f := map[string]*strictjson.Value{}
	for _, m := range members(obj) {
		switch {
		case m.Key == "verification_method":
		case slices.Contains(allowed, m.Key):
			f[m.Key] = m.Value
		case methodOf(m.Key) != "":
			l.errorf(m.KeyOffset, path.key(m.Key), "%s does not apply to verification_method %s (it is a %s option)%s",
				quote(m.Key), quote(method), methodOf(m.Key), allowedNote(method))
		default:
			l.unknownKey(m, path, append([]string{"verification_method"}, allowed...))
		}
	}
	return f
}

// signerValues checks and stores the value of every key in f.
func (l *loader) signerValues(s *signer, f map[string]*strictjson.Value, path jsonPath) {
	if v := f["identity"]; v != nil {
		s.identity, _ = l.str(v, path.key("identity"))
	}
	if v := f["identity_provider"]; v != nil {
		s.issuer, _ = l.str(v, path.key("identity_provider"))
	}
	if v := f["use_staging"]; v != nil {
		s.useStaging, _ = l.boolean(v, path.key("use_staging"))
	}
	if v := f["log_fingerprints"]; v != nil {
		s.logFingerprints, _ = l.boolean(v, path.key("log_fingerprints"))
	}
	if v := f["trust_config"]; v != nil {
		s.trustConfig = l.trustFile(s, "trust_config", v, path.key("trust_config"))
	}
	if v := f["public_key"]; v != nil {
		s.publicKey = l.trustFile(s, "public_key", v, path.key("public_key"))
	}
	if v := f["certificate_chain"]; v != nil {
		cp := path.key("certificate_chain")
		switch {
		case v.Kind == strictjson.String:
			l.errorf(v.Offset, cp, "must be a list of PEM files, e.g. [%s]", quote(v.Str))
		case v.Kind != strictjson.Array || len(v.Elems) == 0:
			l.errorf(v.Offset, cp, "must be a non-empty list of PEM files")
		default:
			for i, e := range v.Elems {
				if file := l.trustFile(s, "certificate_chain", e, cp.index(i)); file != "" {
					s.certChain = append(s.certChain, file)
				}
			}
		}
	}
}

// trustFile resolves a trust-material path and records it on s; it
// returns "" after reporting an invalid one.
func (l *loader) trustFile(s *signer, key string, v *strictjson.Value, path jsonPath) string {
	file, ok := l.trustPath(v, path)
	if !ok {
		return ""
	}
	s.trustFiles = append(s.trustFiles, trustFile{key: key, file: file, off: v.Offset, path: path})
	return file
}

// methodOf returns the method a signer key belongs to, or "".
func methodOf(key string) string {
	for _, m := range methods {
		if slices.Contains(signerKeys[m], key) {
			return m
		}
	}
	return ""
}

func allowedNote(method string) string {
	if len(signerKeys[method]) == 0 {
		return fmt.Sprintf("; a %s signer takes no other key", method)
	}
	return fmt.Sprintf("; a %s signer takes %s", method, strings.Join(signerKeys[method], ", "))
}

// readTrust reads every trust file of s, reporting each one that cannot
// be used (not only the first). ok is false when any failed.
func (l *loader) readTrust(s *signer) (t trust, ok bool) {
	ok = true
	for _, tf := range s.trustFiles {
		if err := l.readTrustFile(s, tf, &t); err != nil {
			l.errorf(tf.off, tf.path, "signer %s: %s", quote(s.name), err)
			ok = false
		}
	}
	return t, ok
}

// readTrustFile reads one trust file into t, according to which key of
// the signer names it. The modelsig loaders read through safefile, so a
// FIFO, device or directory is refused before anything blocks on it.
func (l *loader) readTrustFile(s *signer, tf trustFile, t *trust) error {
	switch tf.key {
	case "public_key":
		pub, err := modelsig.LoadPublicKey(tf.file)
		if err != nil {
			return trustError("public key", tf.file, err)
		}
		t.pub = pub
	case "trust_config":
		tm, err := modelsig.LoadTrustConfig(tf.file)
		if err != nil {
			return trustError("trust config", tf.file, err)
		}
		t.tm = tm
	case "certificate_chain":
		certs, err := modelsig.LoadCertificates(tf.file)
		if err != nil {
			return trustError("certificate file", tf.file, err)
		}
		t.certs = append(t.certs, certs...)
	}
	return nil
}

// trustError names the file once, quoted, and says what it was read as:
// a read failure keeps only the reason (the reader's own wording repeats
// the path), and a parse error that already names the file is kept whole.
func trustError(what, file string, err error) error {
	var pe *safefile.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s%s", what, quote(file), describe(pe))
	}
	if strings.Contains(err.Error(), quote(file)) {
		return err
	}
	return fmt.Errorf("%s %s: %w", what, quote(file), err)
}

// describe is the reason of a safefile error, worded to follow a quoted
// path: "is a directory, not a regular file" or ": no such file or
// directory".
func describe(pe *safefile.PathError) string {
	if pe.Op == "" {
		return " " + pe.Err.Error()
	}
	return ": " + pe.Err.Error()
}

// innerError drops the path from a safefile error that the message around
// it already names.
func innerError(err error) error {
	var pe *safefile.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// buildVerifier builds the verifier of a signer whose trust material was
// read without error.
func (l *loader) buildVerifier(s *signer, t trust, f map[string]*strictjson.Value) {
	switch s.method {
	case methodKey:
		s.verifier = modelsig.NewKeyVerifier(t.pub)
	case methodCertificate:
		v, err := modelsig.NewCertificateVerifier(t.certs)
		if err != nil {
			l.errorf(f["certificate_chain"].Offset, s.path.key("certificate_chain"), "signer %s: %v", quote(s.name), err)
			return
		}
		s.verifier = v
	case methodSigstore:
		if s.trustConfig == "" {
			return // production or staging root, fetched on first use
		}
		v, err := modelsig.NewSigstoreVerifier(t.tm, s.identity, s.issuer)
		if err != nil {
			l.errorf(f["trust_config"].Offset, s.path.key("trust_config"), "signer %s: %v", quote(s.name), err)
			return
		}
		s.verifier = v
	}
}
