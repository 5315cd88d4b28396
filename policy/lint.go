package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp/syntax"
	"strings"
	"unicode"

	"github.com/modelgate/modelgate/internal/fsperm"
)

// LintReport is the result of Lint: every load error (any one refuses the
// policy) and warnings about things that load but are probably wrong.
type LintReport struct {
	File     string    `json:"file"`
	Errors   []Problem `json:"errors"`
	Warnings []Problem `json:"warnings"`
}

// OK reports whether the policy loads (warnings allowed).
func (r *LintReport) OK() bool { return len(r.Errors) == 0 }

// Lint checks the policy file at path as Load does, reading its trust
// material, and also reports warnings:
//   - a policy with neither a models nor a loras section (it governs
//     nothing);
//   - a signer no entry uses;
//   - a regex rule that can never apply because an earlier regex rule of
//     its section matches every path, or has the same pattern;
//   - a regex rule that can never match an absolute path, or whose
//     literal prefix goes through a symlink (patterns see canonical
//     paths), or that uses Python's {,n};
//   - a regex rule matching every path whose signer skips verification;
//   - an empty section (it denies everything of its kind);
//   - an exact key that names a symlink or passes through one (exact
//     keys are never resolved, so it matches nothing; the warning names
//     the real path), that is not written in clean form, that does not
//     exist, or whose trailing '/' disagrees with what it names (a
//     directory without '/', a file with '/');
//   - an ignore_paths entry that can leave nothing out: ".", "/", one
//     leading out of the model with "..", an absolute path outside every
//     model the rule can apply to, any entry on a rule for a single file;
//     and one with an inner ".." (it means its cleaned form);
//   - hub keys ("hf:ID") whose ids differ only in case (ids compare
//     exactly, so each applies only to the id spelled its way);
//   - the policy file or a trust file that someone other than root and
//     the current user can change (see fsperm.Replaceable).
//
// The error is non-nil only when the file cannot be read.
func Lint(path string) (*LintReport, error) {
	data, dir, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	l := newLoader(path, data, dir)
	l.load()
	l.lint()
	if why := fsperm.Replaceable(path); why != "" {
		l.warnf(0, "", "the policy file %s: whoever can change it decides which models load and whom they must be signed by", why)
	}
	sortProblems(l.errors)
	sortProblems(l.warnings)
	return &LintReport{File: path, Errors: nonNil(l.errors), Warnings: nonNil(l.warnings)}, nil
}

func nonNil(ps []Problem) []Problem {
	if ps == nil {
		return []Problem{}
	}
	return ps
}

// lint adds the warnings about what was loaded.
func (l *loader) lint() {
	if l.signatures != nil && l.sectionKeys == 0 {
		l.warnf(l.signatures.Offset, "policy.signatures", `neither "models" nor "loras": this policy governs nothing, so every model and adapter loads without verification`)
	}
	for _, s := range l.signerOrder {
		if !s.used {
			l.warnf(s.off, s.path, "signer %s is not used by any entry", quote(s.name))
		}
		for _, tf := range s.trustFiles {
			if why := fsperm.Replaceable(tf.file); why != "" {
				l.warnf(tf.off, tf.path, "trust file %s: whoever can change it chooses whom signer %s trusts", why, quote(s.name))
			}
		}
	}
	for _, kind := range l.sectionOrder {
		sec := l.p.sections[kind]
		if sec.declared == 0 {
			l.warnf(sec.off, sec.path, "empty section: every %s is denied (remove the section to load %ss without verification)", kind, kind)
		}
		for _, r := range sec.exact {
			l.lintExact(r)
			l.lintIgnorePaths(r)
		}
		l.lintRegexes(sec)
		for _, r := range sec.regex {
			l.lintIgnorePaths(r)
		}
		l.lintHub(sec)
		for _, r := range sec.hub {
			l.lintIgnorePaths(r)
		}
	}
}

// lintHub warns about hub keys whose ids differ only in case: ids compare
// exactly (an artifact named "Org/Model" is not "org/model", and each has
// its own cache folder), so the author may believe one rule covers both.
func (l *loader) lintHub(sec *section) {
	first := map[string]*rule{}
	for _, r := range sec.hub {
		folded := strings.ToLower(r.hubID)
		prev := first[folded]
		switch {
		case prev == nil:
			first[folded] = r
		case prev.hubID != r.hubID:
			l.warnf(r.off, r.path, "Hugging Face id %s differs from %s (%s) only in case: ids compare exactly, so each rule applies only to the id spelled its way", quote(r.hubID), quote(prev.hubID), l.at(prev.off))
		}
	}
}

// lintExact warns about an exact key that cannot do what it seems to.
func (l *loader) lintExact(r *rule) {
	if link := firstSymlink(r.exact); link != "" {
		what := "names a symlink"
		if link != r.exact {
			what = fmt.Sprintf("passes through the symlink %s", quote(link))
		}
		real := "a path that does not exist"
		if rp, err := filepath.EvalSymlinks(r.exact); err == nil {
			real = quote(rp)
		} else if rl, err := filepath.EvalSymlinks(link); err == nil {
			real = quote(rl + strings.TrimPrefix(r.exact, link))
		}
		l.warnf(r.off, r.path, "exact key %s %s: exact keys are never resolved, so this rule matches nothing; its real path is %s, write that if it is what you mean", quote(r.key), what, real)
		return
	}
	if written := strings.TrimSuffix(r.key, "/"); written != r.exact && r.key != "/" {
		l.warnf(r.off, r.path, "exact key %s is taken as %s: keys are cleaned (\".\", \"..\" and repeated '/' applied as text, nothing resolved); write it that way", quote(r.key), quote(r.exact))
	}
	fi, err := os.Stat(r.exact)
	switch {
	case err != nil:
		l.warnf(r.off, r.path, "%s does not exist (yet): this rule applies only once it does", quote(r.exact))
	case fi.IsDir() && !strings.HasSuffix(r.key, "/") && r.exact != "/":
		l.warnf(r.off, r.path, "%s is a directory: write the key with a trailing '/' (%s) to say so; it matches the same either way", quote(r.exact), quote(r.exact+"/"))
	case !fi.IsDir() && strings.HasSuffix(r.key, "/"):
		l.warnf(r.off, r.path, "%s is a file, not a directory: remove the trailing '/'", quote(r.exact))
	}
}

// lintIgnorePaths warns about each ignore_paths entry of r that can leave
// nothing out of verification, which is probably not what its author
// meant (something they wanted left out is then verified, and denies).
func (l *loader) lintIgnorePaths(r *rule) {
	for _, ip := range r.ignorePaths {
		if why := ignoreNoEffect(ip, r); why != "" {
			l.warnf(r.off, r.path.key("ignore_paths"), "ignore path %s %s", quote(ip), why)
		}
	}
}

// ignoreNoEffect says why the ignore path p of rule r leaves nothing out,
// or "" when it may. Ignore paths are relative to the model (a single
// file's directory) unless absolute, and only what lies strictly inside
// the model can be left out: the model itself and anything outside it
// never are.
func ignoreNoEffect(p string, r *rule) string {
	clean := filepath.Clean(p)
	switch {
	case clean == "/":
		return "names the root folder: ignore paths can only leave out something inside the model, so it has no effect"
	case clean == ".":
		return "names the model itself: ignore paths can only leave out something inside the model, so it has no effect"
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return `leads out of the model with "..": ignore paths can only leave out something inside the model, so it has no effect`
	}
	if why := ignoreOutside(clean, r); why != "" {
		return why
	}
	if hasDotDot(p) {
		return fmt.Sprintf(`has a ".." component: it means %s; write that`, quote(clean))
	}
	return ""
}

// ignoreOutside says why the clean ignore path p lies outside every model
// rule r can apply to, as far as that can be known without a model: for
// an exact rule, its key; for a regex rule, the literal prefix every path
// it matches starts with.
func ignoreOutside(p string, r *rule) string {
	if r.isHub() {
		if filepath.IsAbs(p) {
			return "is absolute, but a hub rule applies to snapshot folders in a Hugging Face cache, whose paths the policy does not know: write it relative to the snapshot"
		}
		return ""
	}
	if r.isRegex() {
		if prefix, _ := r.re.LiteralPrefix(); filepath.IsAbs(p) && strings.HasPrefix(prefix, "/") && !strings.HasPrefix(p, prefix) {
			return fmt.Sprintf("is outside every model this rule can apply to (their paths start with %s), so it has no effect", quote(prefix))
		}
		return ""
	}
	if fi, err := os.Stat(r.exact); err == nil && !fi.IsDir() {
		return fmt.Sprintf("has no effect: %s is a single file, and ignore paths leave out things inside a model folder", quote(r.exact))
	}
	switch {
	case !filepath.IsAbs(p):
	case p == r.exact:
		return "names the model itself: ignore paths can only leave out something inside the model, so it has no effect"
	case !strings.HasPrefix(p, strings.TrimSuffix(r.exact, "/")+"/"):
		return fmt.Sprintf("is outside the model %s, so it has no effect", quote(r.exact))
	}
	return ""
}

// hasDotDot reports whether the slash-separated path p has a ".."
// component.
func hasDotDot(p string) bool {
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

func (l *loader) lintRegexes(sec *section) {
	var universal *rule
	seen := map[string]*rule{}
	for _, r := range sec.regex {
		if len(l.warnings) > maxProblems {
			return
		}
		switch prev := seen[r.pattern]; {
		case universal != nil:
			l.warnf(r.off, r.path, "never applies: the earlier rule %s (%s) matches every path", quote(universal.key), l.at(universal.off))
		case prev != nil:
			l.warnf(r.off, r.path, "never applies: the earlier rule %s (%s) has the same pattern", quote(prev.key), l.at(prev.off))
		}
		seen[r.pattern] = r
		l.lintPattern(r)
		if universal == nil && matchesEveryPath(r.pattern) {
			universal = r
			if r.signer.method == methodSkip {
				l.warnf(r.off, r.path, "every path matched only by this rule loads without verification (signer %s skips)", quote(r.signer.name))
			}
		}
	}
}

// lintPattern warns about patterns that cannot do what they seem to.
func (l *loader) lintPattern(r *rule) {
	prefix, _ := r.re.LiteralPrefix()
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		l.warnf(r.off, r.path, "never matches: the pattern must match the whole canonical path, which is absolute (starts with '/'), but it starts with %s", quote(prefix))
	}
	if dir := filepath.Dir(prefix); strings.HasPrefix(prefix, "/") && dir != "/" {
		if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
			l.warnf(r.off, r.path, "%s resolves to %s: patterns are matched against canonical paths (symlinks resolved), so write the pattern with %s", quote(dir), quote(real), quote(real))
		}
	}
	if strings.Contains(r.pattern, "{,") {
		l.warnf(r.off, r.path, "RE2 reads {,n} as literal text; Python reads it as a repetition {0,n}: write {0,n}")
	}
}

// matchesEveryPath reports whether pattern (matched against the whole
// text) certainly matches every canonical path: every string that starts
// with '/' and contains no newline. It recognises the forms that matter
// (.*, .+, /.*, (.*), .*/?, alternatives containing one of them, ...) and
// answers false when unsure, so a warning built on it is never wrong.
func matchesEveryPath(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	return coversPaths(re.Simplify())
}

// coversPaths reports whether re, matched against the whole text,
// certainly matches every string that starts with '/' and has no newline.
func coversPaths(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpCapture:
		return coversPaths(re.Sub[0])
	case syntax.OpAlternate:
		// Each alternative is matched against the whole text too.
		for _, s := range re.Sub {
			if coversPaths(s) {
				return true
			}
		}
		return false
	}
	subs := trimAnchors(re)
	if coversAllConcat(subs, false) {
		return true
	}
	// "/" followed by anything.
	return len(subs) >= 1 && subs[0].Op == syntax.OpLiteral && string(subs[0].Rune) == "/" &&
		coversAllConcat(subs[1:], true)
}

// coversAll reports whether re certainly matches every newline-free string
// (allowEmpty: including the empty one; otherwise every non-empty one).
func coversAll(re *syntax.Regexp, allowEmpty bool) bool {
	switch re.Op {
	case syntax.OpStar:
		return anyChar(re.Sub[0])
	case syntax.OpPlus:
		return !allowEmpty && anyChar(re.Sub[0])
	case syntax.OpQuest:
		return coversAll(re.Sub[0], false)
	case syntax.OpCapture:
		return coversAll(re.Sub[0], allowEmpty)
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if coversAll(s, allowEmpty) {
				return true
			}
		}
		return false
	case syntax.OpConcat:
		return coversAllConcat(re.Sub, allowEmpty)
	}
	return false
}

// coversAllConcat reports whether the concatenation of subs certainly
// covers every newline-free string (non-empty unless allowEmpty): it does
// when one part covers them all and every other part can match nothing.
func coversAllConcat(subs []*syntax.Regexp, allowEmpty bool) bool {
	for i, s := range subs {
		if !coversAll(s, allowEmpty) {
			continue
		}
		rest := true
		for j, o := range subs {
			if j != i && !matchesEmpty(o) {
				rest = false
				break
			}
		}
		if rest {
			return true
		}
	}
	return len(subs) == 0 && allowEmpty
}

// matchesEmpty reports whether re certainly matches the empty string
// anywhere (assertions count as not matching, to stay on the safe side).
func matchesEmpty(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpCapture, syntax.OpPlus:
		return matchesEmpty(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !matchesEmpty(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if matchesEmpty(s) {
				return true
			}
		}
	}
	return false
}

// trimAnchors returns the parts of a whole-text concatenation (or re
// itself) without empty matches and without the text anchors at its ends,
// which always hold there.
func trimAnchors(re *syntax.Regexp) []*syntax.Regexp {
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var out []*syntax.Regexp
	for i, s := range subs {
		switch {
		case s.Op == syntax.OpEmptyMatch:
		case i == 0 && (s.Op == syntax.OpBeginText || s.Op == syntax.OpBeginLine):
		case i == len(subs)-1 && (s.Op == syntax.OpEndText || s.Op == syntax.OpEndLine):
		default:
			out = append(out, s)
		}
	}
	return out
}

// anyChar reports whether re matches every single character except
// possibly newline.
func anyChar(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpCharClass:
		next := rune(0)
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo > next && !(next == '\n' && lo == '\n'+1) {
				return false
			}
			next = max(next, hi+1)
		}
		return next > unicode.MaxRune
	}
	return false
}

// String formats the report for people: errors, then warnings.
func (r *LintReport) String() string {
	var b strings.Builder
	for _, p := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", p)
	}
	for _, p := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", p)
	}
	return b.String()
}
