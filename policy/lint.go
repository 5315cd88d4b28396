package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp/syntax"
	"strings"
	"unicode"
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
//   - a signer no entry uses;
//   - a regex rule that can never apply because an earlier regex rule of
//     its section matches every path, or has the same pattern;
//   - a regex rule that can never match an absolute path, or whose
//     literal prefix goes through a symlink (patterns see canonical
//     paths), or that uses Python's {,n};
//   - a regex rule matching every path whose signer skips verification;
//   - an empty section (it denies everything of its kind);
//   - an exact key that does not exist, or whose trailing '/' disagrees
//     with what it names (a directory without '/', a file with '/');
//   - a trust file writable by group or others.
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
	for _, s := range l.signerOrder {
		if !s.used {
			l.warnf(s.off, s.path, "signer %s is not used by any entry", quoteJSON(s.name))
		}
	}
	for _, kind := range l.sectionOrder {
		sec := l.p.sections[kind]
		if sec.declared == 0 {
			l.warnf(sec.off, sec.path, "empty section: every %s is denied (remove the section to load %ss without verification)", kind, kind)
		}
		for _, r := range sec.exact {
			l.lintExact(r)
		}
		l.lintRegexes(sec)
	}
}

func (l *loader) lintExact(r *rule) {
	fi, err := os.Stat(filepath.Clean(r.exact))
	switch {
	case err != nil:
		l.warnf(r.off, r.path, "%s does not exist (yet): this rule applies only once it does", r.exact)
	case fi.IsDir() && !strings.HasSuffix(r.exact, "/"):
		l.warnf(r.off, r.path, "%s is a directory: write the key with a trailing '/' (%s) to say so; it matches the same either way", r.exact, quoteJSON(r.exact+"/"))
	case !fi.IsDir() && strings.HasSuffix(r.exact, "/"):
		l.warnf(r.off, r.path, "%s is a file, not a directory: remove the trailing '/'", strings.TrimSuffix(r.exact, "/"))
	}
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
			l.warnf(r.off, r.path, "never applies: the earlier rule %s (%s) matches every path", quoteJSON(universal.key), l.at(universal.off))
		case prev != nil:
			l.warnf(r.off, r.path, "never applies: the earlier rule %s (%s) has the same pattern", quoteJSON(prev.key), l.at(prev.off))
		}
		seen[r.pattern] = r
		l.lintPattern(r)
		if universal == nil && matchesEveryPath(r.pattern) {
			universal = r
			if r.signer.method == methodSkip {
				l.warnf(r.off, r.path, "every path matched only by this rule loads without verification (signer %s skips)", quoteJSON(r.signer.name))
			}
		}
	}
}

// lintPattern warns about patterns that cannot do what they seem to.
func (l *loader) lintPattern(r *rule) {
	prefix, _ := r.re.LiteralPrefix()
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		l.warnf(r.off, r.path, "never matches: the pattern must match the whole canonical path, which is absolute (starts with '/'), but it starts with %s", quoteJSON(prefix))
	}
	if dir := filepath.Dir(prefix); strings.HasPrefix(prefix, "/") && dir != "/" {
		if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
			l.warnf(r.off, r.path, "%s resolves to %s: patterns are matched against canonical paths (symlinks resolved), so write the pattern with %s", dir, real, real)
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
