package policy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

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

// entryKeys lists the options of a models/loras entry (spec/policy.md §3).
var entryKeys = []string{"signer", "signature", "ignore_paths", "ignore_path", "ignore_git_paths", "log_fingerprints", "use_staging"}

// regexPrefix introduces a regex rule key.
const regexPrefix = "regex:"

// signer is one entry of policy.signatures.signers, with its trust material
// already read.
type signer struct {
	name   string
	off    int
	path   jsonPath
	method string

	identity, issuer string   // sigstore
	useStaging       bool     // sigstore
	trustConfig      string   // sigstore: absolute path, "" for the TUF root
	logFingerprints  bool     // certificate
	publicKey        string   // key: absolute path
	certChain        []string // certificate: absolute paths

	// verifier is built at load for key, certificate and sigstore with
	// trust_config; nil for skip and for sigstore with the TUF root, whose
	// verifier is built at decision time once the root is fetched.
	verifier modelsig.Verifier
	used     bool
}

// rule is one entry of a models or loras section.
type rule struct {
	key  string // as written, including "regex:"
	off  int    // offset of the key
	path jsonPath

	exact   string         // exact rules: the key, absolute
	pattern string         // regex rules: the pattern as written
	re      *regexp.Regexp // regex rules: anchored
	index   int            // regex rules: 1-based position in file order

	signer          *signer
	signature       string   // as written; "" means model.sig
	ignorePaths     []string // as written
	ignoreGitPaths  bool
	logFingerprints bool
	useStaging      bool
}

func (r *rule) isRegex() bool { return r.re != nil }

// section is a models or loras object.
type section struct {
	off      int
	path     jsonPath
	exact    []*rule // in file order
	regex    []*rule // in file order
	declared int     // entries written in the file, valid or not
}

// loader turns a policy document into a Policy, collecting every problem.
type loader struct {
	file    string
	data    []byte
	lines   *strictjson.Lines
	baseDir string

	errors   []Problem
	warnings []Problem // for Lint

	p            *Policy
	signerOrder  []*signer
	sectionOrder []Kind
}

func newLoader(file string, data []byte, baseDir string) *loader {
	if baseDir != "" && !filepath.IsAbs(baseDir) {
		if abs, err := filepath.Abs(baseDir); err == nil {
			baseDir = abs
		}
	}
	return &loader{file: file, data: data, lines: strictjson.NewLines(data), baseDir: baseDir}
}

// maxProblems bounds the errors and the warnings reported for one file;
// past it a file is hopeless and the list would only bury the first ones.
const maxProblems = 100

func (l *loader) problem(off int, path jsonPath, format string, args ...any) Problem {
	line, col := l.lines.Position(off)
	return Problem{File: l.file, Line: line, Col: col, Path: string(path), Message: fmt.Sprintf(format, args...)}
}

func (l *loader) errorf(off int, path jsonPath, format string, args ...any) {
	l.errors = l.add(l.errors, off, path, format, args...)
}

func (l *loader) warnf(off int, path jsonPath, format string, args ...any) {
	l.warnings = l.add(l.warnings, off, path, format, args...)
}

// add appends a problem to ps unless maxProblems were already reported;
// the first one over the limit is replaced by a note saying so, and later
// ones cost nothing.
func (l *loader) add(ps []Problem, off int, path jsonPath, format string, args ...any) []Problem {
	switch {
	case len(ps) < maxProblems:
		return append(ps, l.problem(off, path, format, args...))
	case len(ps) == maxProblems:
		return append(ps, l.problem(off, "", "too many problems; only the first %d are reported", maxProblems))
	}
	return ps
}

// full reports whether no more errors will be recorded, so that callers
// can skip work (such as computing positions for a message).
func (l *loader) full() bool { return len(l.errors) > maxProblems }

// at formats an offset as "line L, column C" for messages that point at
// another place in the file.
func (l *loader) at(off int) string {
	line, col := l.lines.Position(off)
	return fmt.Sprintf("line %d, column %d", line, col)
}

// load builds the policy. It always returns a (possibly partial) Policy so
// that Lint can look at what was understood; callers must check l.errors.
func (l *loader) load() *Policy {
	l.p = &Policy{signers: map[string]*signer{}, sections: map[Kind]*section{}}
	doc, err := strictjson.Parse(l.data)
	if err != nil {
		off := 0
		var se *strictjson.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		l.errorf(off, "", "invalid JSON: %v", err)
		return l.p
	}
	l.checkDuplicates(doc, "")
	top := l.object(doc, "", `the policy must be a JSON object: {"policy": {"signatures": {...}}}`)
	if top == nil {
		return l.p
	}
	pol := l.fields(top, "", []string{"policy"}, true)
	polv := l.object(pol["policy"], "policy", "")
	if polv == nil {
		return l.p
	}
	sigs := l.fields(polv, "policy", []string{"signatures"}, true)
	sigv := l.object(sigs["signatures"], "policy.signatures", "")
	if sigv == nil {
		return l.p
	}
	path := jsonPath("policy.signatures")
	f := l.fields(sigv, path, []string{"signers", "models", "loras"}, false)
	if f["signers"] == nil {
		l.errorf(sigv.Offset, path, `missing "signers" (use "signers": {} when no entry names a signer)`)
	} else if sv := l.object(f["signers"], path.key("signers"), ""); sv != nil {
		l.loadSigners(sv, path.key("signers"))
	}
	for _, kind := range []Kind{Model, LoRA} {
		name := kind.section()
		if v := f[name]; v != nil {
			if ov := l.object(v, path.key(name), ""); ov != nil {
				l.p.sections[kind] = l.loadSection(ov, path.key(name))
				l.sectionOrder = append(l.sectionOrder, kind)
			}
		}
	}
	return l.p
}

// checkDuplicates reports every repeated key in every object of v.
func (l *loader) checkDuplicates(v *strictjson.Value, path jsonPath) {
	for _, m := range v.Members {
		if !m.Repeated {
			l.checkDuplicates(m.Value, path.key(m.Key))
		} else if !l.full() {
			first := v.Member(m.Key)
			l.errorf(m.KeyOffset, path.key(m.Key), "duplicate key %s (first at %s): JSON keys must be unique", quoteJSON(m.Key), l.at(first.KeyOffset))
		}
	}
	for i, e := range v.Elems {
		l.checkDuplicates(e, path.index(i))
	}
}

// members returns v's members without repeated keys (first occurrence
// wins; the repetition itself is reported by checkDuplicates).
func members(v *strictjson.Value) []strictjson.Member {
	out := make([]strictjson.Member, 0, len(v.Members))
	for _, m := range v.Members {
		if !m.Repeated {
			out = append(out, m)
		}
	}
	return out
}

// object returns v when it is an object, else reports an error (msg, or a
// generic one) and returns nil. A nil v (absent key) returns nil silently.
func (l *loader) object(v *strictjson.Value, path jsonPath, msg string) *strictjson.Value {
	if v == nil {
		return nil
	}
	if v.Kind != strictjson.Object {
		if msg == "" {
			msg = fmt.Sprintf("must be an object, not %s", v.Kind)
		}
		l.errorf(v.Offset, path, "%s", msg)
		return nil
	}
	return v
}

// fields returns the members of obj whose keys are in allowed, reporting
// every other key as unknown (with a suggestion) and, when required, every
// allowed key that is missing.
func (l *loader) fields(obj *strictjson.Value, path jsonPath, allowed []string, required bool) map[string]*strictjson.Value {
	out := map[string]*strictjson.Value{}
	for _, m := range members(obj) {
		if slices.Contains(allowed, m.Key) {
			out[m.Key] = m.Value
			continue
		}
		l.unknownKey(m, path, allowed)
	}
	if required {
		for _, k := range allowed {
			if out[k] == nil {
				l.errorf(obj.Offset, path, "missing %s", quoteJSON(k))
			}
		}
	}
	return out
}

func (l *loader) unknownKey(m strictjson.Member, path jsonPath, allowed []string) {
	msg := "unknown key " + quoteJSON(m.Key)
	if s := closest(m.Key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", quoteJSON(s))
	} else if len(allowed) > 0 {
		msg += " (allowed: " + strings.Join(allowed, ", ") + ")"
	}
	l.errorf(m.KeyOffset, path.key(m.Key), "%s", msg)
}

// str checks that v is a non-empty string without NUL bytes.
func (l *loader) str(v *strictjson.Value, path jsonPath) (string, bool) {
	switch {
	case v.Kind != strictjson.String:
		l.errorf(v.Offset, path, "must be a string, not %s", v.Kind)
	case v.Str == "":
		l.errorf(v.Offset, path, "must not be empty")
	case strings.ContainsRune(v.Str, 0):
		l.errorf(v.Offset, path, "must not contain a NUL character")
	default:
		return v.Str, true
	}
	return "", false
}

func (l *loader) boolean(v *strictjson.Value, path jsonPath) (bool, bool) {
	if v.Kind != strictjson.Bool {
		l.errorf(v.Offset, path, "must be true or false, not %s", v.Kind)
		return false, false
	}
	return v.Bool, true
}

// strList checks that v is a list of non-empty strings.
func (l *loader) strList(v *strictjson.Value, path jsonPath) ([]string, bool) {
	if v.Kind != strictjson.Array {
		l.errorf(v.Offset, path, "must be a list of paths, not %s", v.Kind)
		return nil, false
	}
	out, ok := make([]string, 0, len(v.Elems)), true
	for i, e := range v.Elems {
		s, good := l.str(e, path.index(i))
		out = append(out, s)
		ok = ok && good
	}
	return out, ok
}

// trustPath resolves a trust-material path: absolute, or relative to the
// policy file's directory, never to a model.
func (l *loader) trustPath(v *strictjson.Value, path jsonPath) (string, bool) {
	s, ok := l.str(v, path)
	if !ok {
		return "", false
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(s), true
	}
	if l.baseDir == "" {
		l.errorf(v.Offset, path, "relative path %s, but the policy has no directory to resolve it against: use an absolute path", quoteJSON(s))
		return "", false
	}
	return filepath.Join(l.baseDir, s), true
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
		// A signer with errors is still registered (with an empty method)
		// so that entries naming it are not also reported as undefined.
		s := l.loadSigner(m.Key, m.KeyOffset, v, sp)
		l.p.signers[s.name] = s
		l.signerOrder = append(l.signerOrder, s)
	}
}

// loadSigner reads one signer; its method is "" when it has none valid.
func (l *loader) loadSigner(name string, off int, obj *strictjson.Value, path jsonPath) *signer {
	s := &signer{name: name, off: off, path: path}
	var mv *strictjson.Value
	for _, m := range members(obj) {
		if m.Key == "verification_method" {
			mv = m.Value
		}
	}
	if mv == nil {
		l.errorf(obj.Offset, path, `missing "verification_method" (one of %s)`, strings.Join(methods, ", "))
		return s
	}
	mp := path.key("verification_method")
	method, ok := l.str(mv, mp)
	if !ok {
		return s
	}
	if !slices.Contains(methods, method) {
		msg := fmt.Sprintf("unknown verification method %s (one of %s)", quoteJSON(method), strings.Join(methods, ", "))
		if c := closest(method, methods); c != "" {
			msg += fmt.Sprintf("; did you mean %s?", quoteJSON(c))
		}
		l.errorf(mv.Offset, mp, "%s", msg)
		return s
	}
	s.method = method
	allowed := signerKeys[method]
	f := map[string]*strictjson.Value{}
	for _, m := range members(obj) {
		switch {
		case m.Key == "verification_method":
		case slices.Contains(allowed, m.Key):
			f[m.Key] = m.Value
		case methodOf(m.Key) != "":
			l.errorf(m.KeyOffset, path.key(m.Key), "%s does not apply to verification_method %s (it is a %s option)%s",
				quoteJSON(m.Key), quoteJSON(method), methodOf(m.Key), allowedNote(method))
		default:
			l.unknownKey(m, path, append([]string{"verification_method"}, allowed...))
		}
	}
	before := len(l.errors)
	require := func(key string) *strictjson.Value {
		if f[key] == nil {
			l.errorf(obj.Offset, path, "a %s signer needs %s", method, quoteJSON(key))
		}
		return f[key]
	}
	switch method {
	case methodSigstore:
		if v := require("identity"); v != nil {
			s.identity, _ = l.str(v, path.key("identity"))
		}
		if v := require("identity_provider"); v != nil {
			s.issuer, _ = l.str(v, path.key("identity_provider"))
		}
		if v := f["use_staging"]; v != nil {
			s.useStaging, _ = l.boolean(v, path.key("use_staging"))
		}
		if v := f["trust_config"]; v != nil {
			s.trustConfig, _ = l.trustPath(v, path.key("trust_config"))
			if s.useStaging {
				l.errorf(f["use_staging"].Offset, path.key("use_staging"), `use_staging has no effect when trust_config is given (trust_config replaces the production and staging roots); remove one`)
			}
		}
	case methodCertificate:
		if v := require("certificate_chain"); v != nil {
			if v.Kind == strictjson.String {
				l.errorf(v.Offset, path.key("certificate_chain"), "must be a list of PEM files, e.g. [%s]", quoteJSON(v.Str))
			} else if v.Kind != strictjson.Array || len(v.Elems) == 0 {
				l.errorf(v.Offset, path.key("certificate_chain"), "must be a non-empty list of PEM files")
			} else {
				for i, e := range v.Elems {
					abs, _ := l.trustPath(e, path.key("certificate_chain").index(i))
					s.certChain = append(s.certChain, abs)
				}
			}
		}
		if v := f["log_fingerprints"]; v != nil {
			s.logFingerprints, _ = l.boolean(v, path.key("log_fingerprints"))
		}
	case methodKey:
		if v := require("public_key"); v != nil {
			s.publicKey, _ = l.trustPath(v, path.key("public_key"))
		}
	}
	if len(l.errors) == before {
		l.loadTrust(s, f)
	}
	return s
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

// loadTrust reads the signer's trust material and builds its verifier.
// Errors name the signer and the file.
func (l *loader) loadTrust(s *signer, f map[string]*strictjson.Value) {
	fail := func(v *strictjson.Value, key jsonPath, file string, err error) {
		msg := err.Error()
		if !strings.Contains(msg, file) {
			msg = file + ": " + msg
		}
		l.errorf(v.Offset, s.path+key, "signer %s: %s", quoteJSON(s.name), msg)
	}
	switch s.method {
	case methodKey:
		l.checkTrustFile(s, f["public_key"], ".public_key", s.publicKey)
		pub, err := modelsig.LoadPublicKey(s.publicKey)
		if err != nil {
			fail(f["public_key"], ".public_key", s.publicKey, err)
			return
		}
		s.verifier = modelsig.NewKeyVerifier(pub)
	case methodCertificate:
		var all []*x509.Certificate
		ok := true
		for i, file := range s.certChain {
			key := jsonPath(fmt.Sprintf(".certificate_chain[%d]", i))
			l.checkTrustFile(s, f["certificate_chain"].Elems[i], key, file)
			certs, err := modelsig.LoadCertificates(file)
			if err != nil {
				fail(f["certificate_chain"].Elems[i], key, file, err)
				ok = false
				continue
			}
			all = append(all, certs...)
		}
		if !ok {
			return
		}
		v, err := modelsig.NewCertificateVerifier(all)
		if err != nil {
			l.errorf(f["certificate_chain"].Offset, s.path+".certificate_chain", "signer %s: %v", quoteJSON(s.name), err)
			return
		}
		s.verifier = v
	case methodSigstore:
		if s.trustConfig == "" {
			return // production or staging root, fetched on first use
		}
		l.checkTrustFile(s, f["trust_config"], ".trust_config", s.trustConfig)
		tm, err := modelsig.LoadTrustConfig(s.trustConfig)
		if err != nil {
			fail(f["trust_config"], ".trust_config", s.trustConfig, err)
			return
		}
		v, err := modelsig.NewSigstoreVerifier(tm, s.identity, s.issuer)
		if err != nil {
			l.errorf(f["trust_config"].Offset, s.path+".trust_config", "signer %s: %v", quoteJSON(s.name), err)
			return
		}
		s.verifier = v
	}
}

// checkTrustFile warns (for Lint) when a trust file can be replaced by
// users other than its owner: whoever can write it chooses whom to trust.
func (l *loader) checkTrustFile(s *signer, v *strictjson.Value, key jsonPath, file string) {
	fi, err := os.Stat(file)
	if err != nil {
		return // reported by the loader
	}
	if fi.Mode().Perm()&0o022 != 0 {
		l.warnf(v.Offset, s.path+key, "trust file %s is writable by group or others (mode %v): anyone who can write it chooses whom this signer trusts", file, fi.Mode().Perm())
	}
}

// loadSection reads a models or loras object.
func (l *loader) loadSection(obj *strictjson.Value, path jsonPath) *section {
	sec := &section{off: obj.Offset, path: path, declared: len(members(obj))}
	canon := map[string]*rule{}
	for _, m := range members(obj) {
		rp := path.key(m.Key)
		r := &rule{key: m.Key, off: m.KeyOffset, path: rp}
		ok := true
		switch {
		case strings.HasPrefix(m.Key, regexPrefix):
			r.pattern = strings.TrimPrefix(m.Key, regexPrefix)
			re, err := compilePattern(r.pattern)
			if err != nil {
				l.errorf(m.KeyOffset, rp, "bad regex rule %s: %v", quoteJSON(m.Key), err)
				ok = false
			}
			r.re = re
		case filepath.IsAbs(m.Key) && !strings.ContainsRune(m.Key, 0):
			r.exact = m.Key
			c := canonicalKey(m.Key)
			if prev := canon[c]; prev != nil && !l.full() {
				l.errorf(m.KeyOffset, rp, "%s names the same place as %s (%s): both are %s", quoteJSON(m.Key), quoteJSON(prev.key), l.at(prev.off), c)
				ok = false
			}
			canon[c] = r
		default:
			l.errorf(m.KeyOffset, rp, "key %s is neither an absolute path nor %s: exact rules must be absolute paths (relative paths would depend on the server's working directory)", quoteJSON(m.Key), quoteJSON(regexPrefix+"PATTERN"))
			ok = false
		}
		if v := l.object(m.Value, rp, fmt.Sprintf(`an entry must be an object such as {"signer": "NAME"}, not %s`, m.Value.Kind)); v != nil {
			ok = l.loadEntry(r, v, rp) && ok
		} else {
			ok = false
		}
		if !ok {
			continue
		}
		if r.isRegex() {
			r.index = len(sec.regex) + 1
			sec.regex = append(sec.regex, r)
		} else {
			sec.exact = append(sec.exact, r)
		}
	}
	return sec
}

// loadEntry reads one entry's options into r.
func (l *loader) loadEntry(r *rule, obj *strictjson.Value, path jsonPath) bool {
	f := l.fields(obj, path, entryKeys, false)
	before := len(l.errors)
	sv := f["signer"]
	if sv == nil {
		l.errorf(obj.Offset, path, `missing "signer"`)
		return false
	}
	name, ok := l.str(sv, path.key("signer"))
	if ok {
		r.signer = l.p.signers[name]
		switch {
		case r.signer == nil:
			l.undefinedSigner(sv, path.key("signer"), name)
		case r.signer.method == "":
			r.signer.used = true
			r.signer = nil // its own errors are reported; no option checks
		default:
			r.signer.used = true
		}
	}
	if f["ignore_path"] != nil && f["ignore_paths"] != nil {
		l.errorf(f["ignore_path"].Offset, path.key("ignore_path"), `give either "ignore_paths" or its alias "ignore_path", not both`)
	}
	r.ignoreGitPaths = true
	for _, m := range members(obj) {
		v, op := f[m.Key], path.key(m.Key)
		if v == nil || m.Key == "signer" {
			continue
		}
		if r.signer != nil && !optionApplies(r.signer, m.Key) {
			l.errorf(m.KeyOffset, op, "%s", optionMisfit(r.signer, m.Key))
			continue
		}
		switch m.Key {
		case "signature":
			r.signature, _ = l.str(v, op)
		case "ignore_paths", "ignore_path":
			if v.Kind == strictjson.String {
				l.errorf(v.Offset, op, "must be a list of paths, e.g. [%s]", quoteJSON(v.Str))
			} else {
				r.ignorePaths, _ = l.strList(v, op)
			}
		case "ignore_git_paths":
			r.ignoreGitPaths, _ = l.boolean(v, op)
		case "log_fingerprints":
			r.logFingerprints, _ = l.boolean(v, op)
		case "use_staging":
			r.useStaging, _ = l.boolean(v, op)
		}
	}
	if r.signer != nil {
		if f["log_fingerprints"] == nil {
			r.logFingerprints = r.signer.logFingerprints
		}
		if f["use_staging"] == nil {
			r.useStaging = r.signer.useStaging
		}
	}
	return len(l.errors) == before && r.signer != nil
}

func (l *loader) undefinedSigner(v *strictjson.Value, path jsonPath, name string) {
	names := make([]string, len(l.signerOrder))
	for i, s := range l.signerOrder {
		names[i] = s.name
	}
	msg := fmt.Sprintf("undefined signer %s", quoteJSON(name))
	switch c := closest(name, names); {
	case c != "":
		msg += fmt.Sprintf(" (did you mean %s?)", quoteJSON(c))
	case len(names) == 0:
		msg += ": policy.signatures.signers defines none"
	default:
		msg += " (defined: " + strings.Join(names, ", ") + ")"
	}
	l.errorf(v.Offset, path, "%s", msg)
}

// optionApplies reports whether an entry option makes sense for a signer.
func optionApplies(s *signer, option string) bool {
	switch option {
	case "signature", "ignore_paths", "ignore_path", "ignore_git_paths":
		return s.method != methodSkip
	case "log_fingerprints":
		return s.method == methodCertificate || s.method == methodSigstore
	case "use_staging":
		return s.method == methodSigstore && s.trustConfig == ""
	}
	return true
}

func optionMisfit(s *signer, option string) string {
	switch {
	case s.method == methodSkip:
		return fmt.Sprintf("%s has no effect: signer %s skips verification, so an entry naming it takes only \"signer\"", quoteJSON(option), quoteJSON(s.name))
	case option == "log_fingerprints":
		return fmt.Sprintf(`"log_fingerprints" makes no sense for signer %s: %s signatures carry no certificates`, quoteJSON(s.name), s.method)
	case option == "use_staging" && s.method == methodSigstore:
		return fmt.Sprintf(`"use_staging" has no effect: signer %s has trust_config, which replaces the production and staging roots`, quoteJSON(s.name))
	default:
		return fmt.Sprintf("%s makes no sense for signer %s: it applies only to sigstore signers, and this one uses %s", quoteJSON(option), quoteJSON(s.name), s.method)
	}
}
