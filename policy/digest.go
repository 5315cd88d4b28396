package policy

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
	"github.com/modelgate/modelgate/modelsig"
)

// digestPrefix starts every pinned digest. Subject digests are always
// SHA-256 (over the files' digests, whatever hash the files were hashed
// with), so there is no other algorithm to name.
const digestPrefix = "sha256:"

// SubjectDigest returns the subject digest of a successful verification as
// "sha256:HEX" (lowercase), or "" when res holds neither a statement nor a
// manifest. It is what a digest pin (spec/policy.md §7) is compared with.
//
// For a model_signing v1.0 statement it is the subject digest the verified
// statement records (res.Statement.SubjectDigest). modelsig has checked
// that it is SHA-256 over the signed resources' digests in the order the
// statement lists them, and that those resources are exactly the files on
// disk; the order is the signer's (model_signing sorts by path
// components, then shard offsets as numbers), so the digest is taken as
// recorded rather than recomputed. A single-file model is no exception:
// its statement records one.
//
// A v0.2 statement (Digests/v0.1) has one subject per file and records no
// overall digest: its subject digest is computed over the verified
// manifest (res.Manifest, in modelgate's resource order), which is what
// `modelgate digest` prints for the model hashed the same way.
func SubjectDigest(res *modelsig.Result) string {
	if res == nil {
		return ""
	}
	if st := res.Statement; st != nil && st.SubjectDigest != nil {
		return digestPrefix + hex.EncodeToString(st.SubjectDigest)
	}
	if res.Manifest == nil {
		return ""
	}
	sum := res.Manifest.SubjectDigest()
	return digestPrefix + hex.EncodeToString(sum[:])
}

// digestPins reads an entry's "digest" option: one "sha256:HEX" string or
// a non-empty list of them without duplicates (spec/policy.md §7). It
// returns nil after reporting any problem.
func (l *loader) digestPins(v *strictjson.Value, path jsonPath) []string {
	switch v.Kind {
	case strictjson.String:
		if d, ok := l.digestPin(v, path); ok {
			return []string{d}
		}
		return nil
	case strictjson.Array:
	default:
		l.errorf(v.Offset, path, `must be a subject digest "sha256:HEX" or a list of them, not %s`, v.Kind)
		return nil
	}
	if len(v.Elems) == 0 {
		l.errorf(v.Offset, path, `must not be an empty list (it would match no model): give at least one "sha256:HEX", or leave "digest" out`)
		return nil
	}
	pins, ok := make([]string, 0, len(v.Elems)), true
	first := map[string]int{}
	for i, e := range v.Elems {
		d, good := l.digestPin(e, path.index(i))
		switch j, dup := first[d]; {
		case !good:
			ok = false
		case dup:
			l.errorf(e.Offset, path.index(i), "duplicate digest %s (also at index %d)", quote(d), j)
			ok = false
		default:
			first[d] = i
			pins = append(pins, d)
		}
	}
	if !ok {
		return nil
	}
	return pins
}

// digestPin checks one pinned digest. The form is exactly what `modelgate
// digest` prints: "sha256:" and 64 lowercase hex digits. Uppercase is
// refused rather than folded so that a digest has one spelling, the one
// found in decision logs, and a search for it finds every use.
func (l *loader) digestPin(v *strictjson.Value, path jsonPath) (string, bool) {
	s, ok := l.str(v, path)
	if !ok {
		return "", false
	}
	if msg := digestFormError(s); msg != "" {
		l.errorf(v.Offset, path, "digest %s: %s", quote(s), msg)
		return "", false
	}
	return s, true
}

// digestFormError says what is wrong with a pinned digest's form, or "".
func digestFormError(s string) string {
	const want = `want "sha256:" and 64 lowercase hex digits, as modelgate digest prints`
	alg, hexPart, found := strings.Cut(s, ":")
	switch {
	case !found && isHex(s) && len(s) == 64:
		return `no algorithm: write it as "sha256:` + strings.ToLower(s) + `"`
	case !found:
		return want
	case alg != "sha256" && strings.EqualFold(alg, "sha256"):
		return `write the algorithm in lowercase: "sha256:"`
	case alg != "sha256":
		return fmt.Sprintf("unsupported algorithm %s: subject digests are SHA-256; %s", quote(alg), want)
	case len(hexPart) != 64:
		return fmt.Sprintf("%d hex digits; %s", len(hexPart), want)
	case !isHex(hexPart):
		return "not hexadecimal; " + want
	case strings.ToLower(hexPart) != hexPart:
		return "uppercase hex digits; " + want
	}
	return ""
}

// isHex reports whether s is non-empty and only hex digits (either case).
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// pinMismatch says why subject digest got is not one of the rule's pins,
// naming both sides, or returns "" when it is (or nothing is pinned).
func (r *rule) pinMismatch(got string) string {
	if len(r.digests) == 0 {
		return ""
	}
	for _, d := range r.digests {
		if d == got {
			return ""
		}
	}
	if got == "" {
		got = "(none)"
	}
	if len(r.digests) == 1 {
		return fmt.Sprintf("the model's subject digest %s is not the pinned digest %s", got, r.digests[0])
	}
	return fmt.Sprintf("the model's subject digest %s is none of the %d pinned digests (%s)", got, len(r.digests), strings.Join(r.digests, ", "))
}
