package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	cases := []struct{ in, line, lines string }{
		{"plain/path with spaces", "plain/path with spaces", "plain/path with spaces"},
		{"ünïcödé 模型", "ünïcödé 模型", "ünïcödé 模型"},
		{`"quoted \x1b"`, `"quoted \x1b"`, `"quoted \x1b"`}, // already escaped: unchanged
		{"a\x1b[31mred", `a\x1b[31mred`, `a\x1b[31mred`},
		{"two\nlines", `two\nlines`, "two\nlines"},
		{"cr\rover", `cr\rover`, `cr\rover`},
		{"tab\there", `tab\there`, `tab\there`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"bell\a", `bell\x07`, `bell\x07`},
		{"nul\x00", `nul\x00`, `nul\x00`},
		{"c1\u009b31m", `c1\u009b31m`, `c1\u009b31m`},
		{"bidi\u202eexe.txt", `bidi\u202eexe.txt`, `bidi\u202eexe.txt`},
		{"zero\u200bwidth", `zero\u200bwidth`, `zero\u200bwidth`},
		{"nbsp\u00a0looks like a space", `nbsp\u00a0looks like a space`, `nbsp\u00a0looks like a space`},
		{"line\u2028separator", `line\u2028separator`, `line\u2028separator`},
		{"tag\U000e0041", `tag\U000e0041`, `tag\U000e0041`},
		{"bad\x9bbyte", `bad\x9bbyte`, `bad\x9bbyte`},
		{"bad\xffutf8", `bad\xffutf8`, `bad\xffutf8`},
		{"real \ufffd stays", "real \ufffd stays", "real \ufffd stays"},
		{"real \ufffd and bad \xff", `real ` + "\ufffd" + ` and bad \xff`, `real ` + "\ufffd" + ` and bad \xff`},
		{"", "", ""},
	}
	for _, c := range cases {
		if got := Line(c.in); got != c.line {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.line)
		}
		if got := Lines(c.in); got != c.lines {
			t.Errorf("Lines(%q) = %q, want %q", c.in, got, c.lines)
		}
	}
}

// FuzzLine: whatever s holds, Line gives one valid UTF-8 line of
// printable characters, Lines keeps exactly the newlines, and text that
// needs nothing is returned as is.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31m\nINJECTED \u202e\x9b", "a\r\nb\tc\x7f", "\u202e\u2066\u200b\ufeff", "\xff\xfe\xc0\x80", "é\x9b模型\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		one := Line(s)
		if !utf8.ValidString(one) || strings.ContainsFunc(one, func(r rune) bool { return !Printable(r) }) {
			t.Fatalf("Line(%q) = %q", s, one)
		}
		multi := Lines(s)
		if !utf8.ValidString(multi) || strings.ContainsFunc(multi, func(r rune) bool { return r != '\n' && !Printable(r) }) ||
			strings.Count(multi, "\n") != strings.Count(s, "\n") {
			t.Fatalf("Lines(%q) = %q", s, multi)
		}
		if one == s && (!utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !Printable(r) })) {
			t.Fatalf("Line(%q) left it unchanged", s)
		}
	})
}
