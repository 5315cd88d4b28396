package policy

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// entryKeys lists the options of a models/loras entry (spec/policy.md §3).
var entryKeys = []string{"signer", "signature", "ignore_paths", "ignore_path", "ignore_git_paths", "log_fingerprints", "use_staging", "digest"}

// Key prefixes: a regex rule, and a Hugging Face hub id (spec/policy.md
// §7: "hf:ORG/NAME" or "hf:ORG/NAME@COMMIT").
const (
	regexPrefix = "regex:"
	hubPrefix   = "hf:"
)

// rule is one entry of a models or loras section.
type rule struct {
	key  string // as written, including "regex:"
	off  int    // offset of the key
	path jsonPath

	exact   string         // exact rules: the key, absolute and cleaned, never resolved
	hubID   string         // hub rules: the id, compared exactly
	commit  string         // hub rules: the 40-hex commit after "@", "" for every commit
	pattern string         // regex rules: the pattern as written
	re      *regexp.Regexp // regex rules: anchored
	index   int            // regex rules: 1-based position in file order

	signer          *signer
	signature       string   // as written; "" means model.sig
	ignorePaths     []string // as written
	ignoreGitPaths  bool
	logFingerprints bool
	useStaging      bool
	digests         []string // pinned subject digests, "sha256:HEX"; nil when not pinned
}

func (r *rule) isRegex() bool { return r.re != nil }

func (r *rule) isHub() bool { return r.hubID != "" }

// section is a models or loras object.
type section struct {
	off    int
	path   jsonPath
	exact  []*rule          // in file order
	byPath map[string]*rule // exact rules by their cleaned key (unique: load refuses duplicates)
	regex  []*rule          // in file order
	// byHub holds the hub rules (spec/policy.md §7) by "ORG/NAME" and
	// "ORG/NAME@COMMIT", hub in file order. Keys are unique (a JSON key
	// appears once and ids are never normalised), so at most one rule
	// has each.
	byHub    map[string]*rule
	hub      []*rule
	declared int // entries written in the file, valid or not
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
	// signatures is the policy.signatures object, and sectionKeys how
	// many of "models" and "loras" it has (valid or not), for Lint.
	signatures  *strictjson.Value
	sectionKeys int
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
	return Problem{File: l.file, Line: line, Col: col, Path: string(path), Message: safeText(fmt.Sprintf(format, args...))}
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
	l.signatures = sigv
	if f["signers"] == nil {
		l.errorf(sigv.Offset, path, `missing "signers" (use "signers": {} when no entry names a signer)`)
	} else if sv := l.object(f["signers"], path.key("signers"), ""); sv != nil {
		l.loadSigners(sv, path.key("signers"))
	}
	for _, kind := range []Kind{Model, LoRA} {
		name := kind.section()
		if v := f[name]; v != nil {
			l.sectionKeys++
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
			l.errorf(m.KeyOffset, path.key(m.Key), "duplicate key %s (first at %s): JSON keys must be unique", quote(m.Key), l.at(first.KeyOffset))
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
				l.errorf(obj.Offset, path, "missing %s", quote(k))
			}
		}
	}
	return out
}

func (l *loader) unknownKey(m strictjson.Member, path jsonPath, allowed []string) {
	msg := "unknown key " + quote(m.Key)
	if s := closest(m.Key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", quote(s))
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
		l.errorf(v.Offset, path, "relative path %s, but the policy has no directory to resolve it against: use an absolute path", quote(s))
		return "", false
	}
	return filepath.Join(l.baseDir, s), true
}

// loadSection reads a models or loras object.
func (l *loader) loadSection(obj *strictjson.Value, path jsonPath) *section {
	sec := &section{off: obj.Offset, path: path, declared: len(members(obj)), byPath: map[string]*rule{}, byHub: map[string]*rule{}}
	seen := map[string]*rule{} // exact keys once cleaned, valid entries or not
	for _, m := range members(obj) {
		rp := path.key(m.Key)
		r := &rule{key: m.Key, off: m.KeyOffset, path: rp}
		ok := l.ruleKey(r, seen)
		if v := l.object(m.Value, rp, fmt.Sprintf(`an entry must be an object such as {"signer": "NAME"}, not %s`, m.Value.Kind)); v != nil {
			ok = l.loadEntry(r, v, rp) && ok
		} else {
			ok = false
		}
		if !ok {
			continue
		}
		switch {
		case r.isRegex():
			r.index = len(sec.regex) + 1
			sec.regex = append(sec.regex, r)
		case r.isHub():
			sec.hub = append(sec.hub, r)
			sec.byHub[strings.TrimPrefix(r.key, hubPrefix)] = r
		default:
			sec.exact = append(sec.exact, r)
			sec.byPath[r.exact] = r
		}
	}
	return sec
}

// ruleKey reads the key of an entry: a regex rule, or an exact rule whose
// key is taken literally (spec/policy.md §4.3): made clean, never resolved
// through symlinks, so that nobody who can create or change a symlink can
// aim a rule at another path. Two keys equal once cleaned are an error.
func (l *loader) ruleKey(r *rule, seen map[string]*rule) bool {
	switch {
	case strings.HasPrefix(r.key, regexPrefix):
		r.pattern = strings.TrimPrefix(r.key, regexPrefix)
		re, err := compilePattern(r.pattern)
		if err != nil {
			l.errorf(r.off, r.path, "bad regex rule %s: %v", quote(r.key), err)
			return false
		}
		r.re = re
	case strings.HasPrefix(r.key, hubPrefix):
		if why := parseHubKey(r); why != "" {
			l.errorf(r.off, r.path, "bad hub-id key %s: %s", quote(r.key), why)
			return false
		}
	case filepath.IsAbs(r.key) && !strings.ContainsRune(r.key, 0):
		r.exact = filepath.Clean(r.key)
		if prev := seen[r.exact]; prev != nil {
			if !l.full() {
				l.errorf(r.off, r.path, "%s names the same path as %s (%s): both are %s once cleaned", quote(r.key), quote(prev.key), l.at(prev.off), quote(r.exact))
			}
			return false
		}
		seen[r.exact] = r
	default:
		l.errorf(r.off, r.path, "key %s is neither an absolute path, nor %s, nor %s: exact rules must be absolute paths (relative paths would depend on the server's working directory)", quote(r.key), quote(regexPrefix+"PATTERN"), quote(hubPrefix+"ORG/NAME"))
		return false
	}
	return true
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
				l.errorf(v.Offset, op, "must be a list of paths, e.g. [%s]", quote(v.Str))
			} else {
				r.ignorePaths, _ = l.strList(v, op)
			}
		case "ignore_git_paths":
			r.ignoreGitPaths, _ = l.boolean(v, op)
		case "log_fingerprints":
			r.logFingerprints, _ = l.boolean(v, op)
		case "use_staging":
			r.useStaging, _ = l.boolean(v, op)
		case "digest":
			r.digests = l.digestPins(v, op)
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
	msg := fmt.Sprintf("undefined signer %s", quote(name))
	switch c := closest(name, names); {
	case c != "":
		msg += fmt.Sprintf(" (did you mean %s?)", quote(c))
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
	case "signature", "ignore_paths", "ignore_path", "ignore_git_paths", "digest":
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
		return fmt.Sprintf("%s has no effect: signer %s skips verification, so an entry naming it takes only \"signer\"", quote(option), quote(s.name))
	case option == "log_fingerprints":
		return fmt.Sprintf(`"log_fingerprints" makes no sense for signer %s: %s signatures carry no certificates`, quote(s.name), s.method)
	case option == "use_staging" && s.method == methodSigstore:
		return fmt.Sprintf(`"use_staging" has no effect: signer %s has trust_config, which replaces the production and staging roots`, quote(s.name))
	default:
		return fmt.Sprintf("%s makes no sense for signer %s: it applies only to sigstore signers, and this one uses %s", quote(option), quote(s.name), s.method)
	}
}
