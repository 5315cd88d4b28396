package vllmcmd

import (
	"regexp"
	"strings"
	"testing"
)

// TestPlainNames: isPlainName and isPlainPath accept exactly what their
// regular expressions (kept here as the specification) accept.
func TestPlainNames(t *testing.T) {
	nameRE := regexp.MustCompile(`^-{0,2}[A-Za-z0-9][A-Za-z0-9_.+\[\]=-]{0,80}$`)
	pathRE := regexp.MustCompile(`^[A-Za-z0-9_./+@~-]{1,200}$`)
	inputs := []string{"", "-", "--", "---", "---a", "--a", "-a", "a", "--lora-modules[1]", "A=b", "--x.y+z",
		"--a b", "--a\x1b", "é", "--é", "a/b", "~/models/x", "./m", "a@b", "a b", "a\n",
		strings.Repeat("a", 81), strings.Repeat("a", 82), "--" + strings.Repeat("a", 81), "--" + strings.Repeat("a", 82),
		strings.Repeat("p", 200), strings.Repeat("p", 201), "_x", ".x", "[x", "x]", "-_"}
	for _, s := range inputs {
		if got, want := isPlainName(s), nameRE.MatchString(s); got != want {
			t.Errorf("isPlainName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isPlainPath(s), pathRE.MatchString(s); got != want {
			t.Errorf("isPlainPath(%q) = %v, want %v", s, got, want)
		}
	}
}
