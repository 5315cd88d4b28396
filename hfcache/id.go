package hfcache

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest namespace or repository name accepted, as in
// huggingface_hub's REPO_ID_REGEX (which caps the name at 96 characters;
// modelgate caps the namespace the same way, far above what the Hub allows).
const MaxNameLen = 96

// DefaultRevision is the revision used when none is given, as in
// huggingface_hub and vLLM.
const DefaultRevision = "main"

// maxRevisionLen bounds a revision string. Git itself has no limit; branch
// and tag names on the Hub are far shorter.
const maxRevisionLen = 255

// InvalidIDError is returned for a string that is not a syntactically valid
// Hugging Face model id. It is an error, not a cache miss: nothing was
// looked up.
type InvalidIDError struct {
	ID     string // as given
	Reason string
}

func (e *InvalidIDError) Error() string {
	return fmt.Sprintf("invalid Hugging Face id %s: %s", strconv.Quote(e.ID), e.Reason)
}

// InvalidRevisionError is returned for a revision that modelgate does not
// accept. Nothing was looked up.
type InvalidRevisionError struct {
	Revision string // as given
	Reason   string
}

func (e *InvalidRevisionError) Error() string {
	return fmt.Sprintf("invalid revision %s: %s", strconv.Quote(e.Revision), e.Reason)
}

// ValidateRepoID checks id against huggingface_hub's validate_repo_id rules:
// "name" or "namespace/name", each part made of ASCII letters, digits, '-',
// '_' and '.', starting and ending with a letter, digit or '_', at most
// MaxNameLen long; no "--" or ".." anywhere (the cache folder name joins the
// parts with "--", so this keeps the mapping one-to-one) and no ".git"
// suffix.
//
// A bare "name" without namespace is valid: huggingface_hub and vLLM accept
// legacy ids such as "gpt2" and cache them in models--gpt2. The returned
// error is an *InvalidIDError.
func ValidateRepoID(id string) error {
	bad := func(reason string) error { return &InvalidIDError{ID: id, Reason: reason} }
	if id == "" {
		return bad("it is empty")
	}
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return bad(`an id is "name" or "namespace/name", with at most one "/"`)
	}
	for _, p := range parts {
		if err := checkIDPart(p); err != "" {
			return bad(err)
		}
	}
	if strings.Contains(id, "--") || strings.Contains(id, "..") {
		return bad(`it contains "--" or ".."`)
	}
	if strings.HasSuffix(id, ".git") {
		return bad(`it ends in ".git"`)
	}
	return nil
}

// IsRepoID reports whether s is a syntactically valid Hugging Face id. Like
// vLLM, callers should first check whether s exists as a local path, and
// treat it as a hub id only when it does not: "models/llama" is both a
// valid id and a plausible relative folder.
func IsRepoID(s string) bool { return ValidateRepoID(s) == nil }

// checkIDPart returns why p cannot be a namespace or name, or "".
func checkIDPart(p string) string {
	switch {
	case p == "":
		return "the namespace or name is empty"
	case len(p) > MaxNameLen:
		return fmt.Sprintf("a namespace or name is longer than %d characters", MaxNameLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isWordByte(c) && c != '-' && c != '.' {
			return fmt.Sprintf("it contains %s; only ASCII letters, digits, \"-\", \"_\" and \".\" are allowed", charAt(p, i))
		}
	}
	if !isWordByte(p[0]) || !isWordByte(p[len(p)-1]) {
		return `a namespace or name starts or ends with "-" or "."`
	}
	return ""
}

// isWordByte is Python's ASCII \w: a letter, a digit or '_'.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// IsCommit reports whether s is a full commit hash as huggingface_hub
// recognises one (REGEX_COMMIT_HASH): exactly 40 lowercase hex digits.
func IsCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// ValidateRevision checks a revision before it is used as a path under
// refs/: a commit (see IsCommit) or a branch, tag or "refs/pr/N" name made
// of "/"-separated components of ASCII letters, digits, '-', '_' and '.',
// none empty or starting with '.' (so no "..", no absolute path, no NUL).
// That is stricter than git, which allows more characters in ref names;
// such a revision can always be given as its commit instead.
//
// A 40-digit hex string with uppercase letters is refused: huggingface_hub
// would treat it as a branch name, not a commit, which is never what was
// meant. The returned error is an *InvalidRevisionError.
func ValidateRevision(rev string) error {
	bad := func(reason string) error { return &InvalidRevisionError{Revision: rev, Reason: reason} }
	switch {
	case rev == "":
		return bad("it is empty")
	case len(rev) > maxRevisionLen:
		return bad(fmt.Sprintf("it is longer than %d characters", maxRevisionLen))
	case IsCommit(rev):
		return nil
	case len(rev) == 40 && isHex(rev):
		return bad("a commit hash must be written in lowercase")
	}
	for _, c := range strings.Split(rev, "/") {
		if c == "" {
			return bad(`it has an empty component (a leading, trailing or doubled "/")`)
		}
		if c[0] == '.' {
			return bad(`a component starts with "."`)
		}
		for i := 0; i < len(c); i++ {
			if b := c[i]; !isWordByte(b) && b != '-' && b != '.' {
				return bad(fmt.Sprintf("it contains %s; only ASCII letters, digits, \"-\", \"_\", \".\" and \"/\" are allowed (give the commit hash instead)", charAt(c, i)))
			}
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerHex(c) && !(c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// charAt quotes the character at byte offset i of s for a message: the
// whole UTF-8 sequence when it is valid, else the single byte.
func charAt(s string, i int) string {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return strconv.Quote(s[i : i+1])
	}
	return strconv.Quote(s[i : i+n])
}

// folderName is huggingface_hub's repo_folder_name for a model: the
// validated id with "/" replaced by "--".
func folderName(id string) string { return "models--" + strings.ReplaceAll(id, "/", "--") }
