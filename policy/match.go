package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"strings"
	"syscall"
)

// compilePattern compiles a regex rule's pattern so that it must match the
// whole text, as if written ^(?:PATTERN)$ with $ meaning end of text.
//
// The anchors are added to the parsed syntax tree, not by pasting strings:
// a pattern such as `a)|(b` or `\Qx` could otherwise escape the group and
// leave one alternative unanchored.
func compilePattern(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("empty pattern")
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, explainRegexError(pattern, err)
	}
	whole := &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
		{Op: syntax.OpBeginText}, re, {Op: syntax.OpEndText},
	}}
	compiled, err := regexp.Compile(whole.String())
	if err != nil {
		return nil, explainRegexError(pattern, err)
	}
	return compiled, nil
}

// explainRegexError adds a hint when a pattern uses Python or PCRE syntax
// that RE2 (Go's regexp) does not have, so such patterns fail at load and
// the operator learns why.
func explainRegexError(pattern string, err error) error {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err
	}
	hint := ""
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(se.Expr, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("(?=", "(?!", "(?<=", "(?<!"):
		hint = "look-around assertions are Python/PCRE syntax"
	case has(`\k`, `\g`) || (se.Expr == "(?P" && strings.Contains(pattern, "(?P=")) || (se.Code == syntax.ErrInvalidEscape && len(se.Expr) == 2 && se.Expr[1] >= '0' && se.Expr[1] <= '9'):
		hint = "back-references are Python/PCRE syntax"
	case has("(?>"):
		hint = "atomic groups are Python/PCRE syntax"
	case has("(?("):
		hint = "conditional groups are Python/PCRE syntax"
	case has("(?#"):
		hint = "inline comments are Python/PCRE syntax"
	case has(`\Z`):
		hint = `\Z is Python syntax; the pattern must match the whole path anyway, so no end anchor is needed`
	case se.Code == syntax.ErrInvalidRepeatOp && strings.HasSuffix(se.Expr, "+"):
		hint = "possessive quantifiers are Python/PCRE syntax"
	}
	if hint == "" {
		return fmt.Errorf("%v (patterns use RE2 syntax, as in Go's regexp)", se)
	}
	return fmt.Errorf("%v: %s, which RE2 (Go's regexp) does not support", se, hint)
}

// canonicalPath resolves path the way the kernel will when the server
// opens it: made absolute against workDir, then every symlink resolved and
// "." and ".." applied to the resolved prefix (a ".." after a symlink goes
// up from the link's target, not lexically). The result is clean and
// absolute. It fails when the path does not exist.
func canonicalPath(path, workDir string) (string, error) {
	if path == "" {
		return "", &fs.PathError{Op: "resolve", Path: path, Err: fs.ErrNotExist}
	}
	if strings.ContainsRune(path, 0) {
		return "", &fs.PathError{Op: "resolve", Path: path, Err: fs.ErrInvalid}
	}
	if !filepath.IsAbs(path) {
		if workDir == "" {
			wd, err := os.Getwd()
			if err != nil {
				return "", fmt.Errorf("working directory: %w", err)
			}
			workDir = wd
		}
		// No filepath.Join: it would apply ".." lexically before the
		// symlinks are resolved.
		path = workDir + string(filepath.Separator) + path
	}
	return filepath.EvalSymlinks(path)
}

// canonicalKey is the canonical form of an exact key: its canonical path
// when it exists, else the cleaned key (nothing that exists can resolve to
// it, so it matches nothing until it is created).
func canonicalKey(key string) string {
	if c, err := canonicalPath(key, "/"); err == nil {
		return c
	}
	return filepath.Clean(key)
}

// isNotFound reports whether err means the path does not exist (including
// a file used as a directory).
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// hfRepoIDRE matches a Hugging Face Hub repository id, "org/name",
// optionally with "@revision" as some tools write it.
var hfRepoIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?$`)

// notLocal reports whether path, which does not exist, looks like something
// a server would download rather than open: a URL or a Hugging Face repo
// id. Such artifacts are never allowed by the policy, which can only vouch
// for local files that were verified.
func notLocal(path string) bool {
	if i := strings.Index(path, "://"); i > 0 && !strings.ContainsAny(path[:i], "/\\") {
		return true
	}
	return hfRepoIDRE.MatchString(path) && !strings.Contains(path, "..")
}

// match is the rule that applies to a canonical path, and why.
type match struct {
	rule *rule
	why  string
}

// find returns the rule of sec that applies to the canonical path c
// (spec/policy.md §4 steps 3-4). Exact keys are canonicalised now, not at
// load, so a key whose path appears later still works. Two exact keys that
// have come to name the same place make the decision fail (err).
func (sec *section) find(c string, isDir bool) (match, error) {
	var found *rule
	var canonFound string
	for _, r := range sec.exact {
		ck := canonicalKey(r.exact)
		if ck != c {
			continue
		}
		if found != nil {
			return match{}, fmt.Errorf("exact keys %s and %s both name %s: the policy is ambiguous for this path", quoteJSON(found.key), quoteJSON(r.key), c)
		}
		found, canonFound = r, ck
	}
	if found != nil {
		why := fmt.Sprintf("exact rule %s", quoteJSON(found.key))
		if canonFound != strings.TrimSuffix(found.exact, "/") {
			why += fmt.Sprintf(" (canonical form %s)", canonFound)
		}
		return match{found, why + " names this path"}, nil
	}
	candidates := []string{c}
	if isDir && !strings.HasSuffix(c, "/") {
		candidates = append(candidates, c+"/")
	}
	for _, r := range sec.regex {
		for _, s := range candidates {
			if r.re.MatchString(s) {
				return match{r, fmt.Sprintf("regex rule #%d in file order %s matches %s (no exact rule applies)", r.index, quoteJSON(r.key), s)}, nil
			}
		}
	}
	return match{}, nil
}
