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
	return isURL(path) || hfRepoIDRE.MatchString(path) && !strings.Contains(path, "..")
}

// isURL reports whether path starts with a URL scheme ("s3://").
func isURL(path string) bool {
	i := strings.Index(path, "://")
	return i > 0 && !strings.ContainsAny(path[:i], "/\\")
}

// match is the rule that applies to a canonical path, and why.
type match struct {
	rule *rule
	why  string
}

// find returns the path rule of sec that applies to the canonical path c
// (spec/policy.md §4 steps 3-4), or a match without a rule.
//
// Exact keys are literal (§4.3): the rule applies when its cleaned key is
// c, compared as strings. Nothing is resolved, neither here nor at load,
// so a key that names a symlink or passes through one matches nothing
// (c never contains a symlink), and whoever can create or change a
// symlink cannot aim a rule at another model. Load refuses two keys that
// are equal once cleaned, so at most one exact rule can apply.
//
// Rules for artifacts named by Hugging Face id (spec/policy.md §7, keys
// "hf:ORG/NAME[@COMMIT]") are a separate lookup by id (findHub), tried
// before the snapshot's path comes here.
func (sec *section) find(c string, isDir bool) match {
	if r := sec.byPath[c]; r != nil {
		return match{r, fmt.Sprintf("exact rule %s names this path", quote(r.key))}
	}
	candidates := []string{c}
	if isDir && !strings.HasSuffix(c, "/") {
		candidates = append(candidates, c+"/")
	}
	for _, r := range sec.regex {
		for _, s := range candidates {
			if r.re.MatchString(s) {
				return match{r, fmt.Sprintf("regex rule #%d in file order %s matches %s (no exact rule applies)", r.index, quote(r.key), quote(s))}
			}
		}
	}
	return match{}
}

// unresolvedKeys explains each exact key of sec that does not apply to the
// canonical path c although it leads there through a symlink: exact keys
// are never resolved (spec/policy.md §4.3), which surprises an operator
// who wrote a symlink as a key. It resolves every exact key, so it is for
// explanations and denials, not for every decision.
func (sec *section) unresolvedKeys(c string) []string {
	var notes []string
	for _, r := range sec.exact {
		if r.exact == c {
			continue
		}
		real, err := filepath.EvalSymlinks(r.exact)
		if err != nil || real != c {
			continue
		}
		notes = append(notes, fmt.Sprintf("exact key %s %s; exact keys are never resolved, so it does not apply", quote(r.key), describeLink(r.exact, real)))
	}
	return notes
}

// describeLink says how the absolute path p reaches its real path real:
// "names a symlink to REAL" or "passes through the symlink LINK and
// resolves to REAL".
func describeLink(p, real string) string {
	link := firstSymlink(p)
	if link == p || link == "" {
		return fmt.Sprintf("names a symlink to %s", quote(real))
	}
	return fmt.Sprintf("passes through the symlink %s and resolves to %s", quote(link), quote(real))
}

// firstSymlink returns the shortest prefix of the clean absolute path p
// (p itself included) that is a symlink, or "" when none is, as far as the
// path exists.
func firstSymlink(p string) string {
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != filepath.Separator {
			continue
		}
		fi, err := os.Lstat(p[:i])
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return p[:i]
		}
	}
	return ""
}
