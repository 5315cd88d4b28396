package vllmcmd

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// RefusedError is a command line or environment that modelgate will not
// start vLLM with: either vLLM would read it differently from a simple
// reading, or it makes vLLM load something modelgate cannot verify.
type RefusedError struct {
	// Flag is the flag, argument or environment variable concerned, as the
	// user wrote it: "--lora-mod", "MODEL", "VLLM_PLUGINS".
	Flag string
	// Reason says what is wrong. Values that came from the user are quoted.
	Reason string
	// Hint says what to write instead.
	Hint string
}

// Error formats the refusal as "FLAG: REASON; HINT".
func (e *RefusedError) Error() string {
	msg := showName(e.Flag) + ": " + e.Reason
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// isPlainName reports whether s is a flag or variable name that can be
// printed as is (up to two "-", a letter or digit, then at most 80 of
// letters, digits and "_.+[]=-"); anything else the user wrote is quoted
// so that odd bytes cannot forge a message.
func isPlainName(s string) bool {
	for i := 0; i < 2 && strings.HasPrefix(s, "-"); i++ {
		s = s[1:]
	}
	if s == "" || len(s) > 81 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("_.+[]=-", rune(s[i])) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func showName(s string) string {
	if isPlainName(s) {
		return s
	}
	return strconv.Quote(s)
}

// isPlainPath reports whether s is a file name that can be printed as is:
// 1 to 200 letters, digits and "_./+@~-".
func isPlainPath(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("_./+@~-", rune(s[i])) {
			return false
		}
	}
	return true
}

// lazyRegexp returns a function that compiles pattern on its first call
// and returns the same *regexp.Regexp ever after. Compiling every pattern
// at package init cost modelgate several milliseconds at every start,
// including commands that never read a vLLM command line.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}

// showPath prints a file name from the command line, quoted unless plain.
func showPath(s string) string {
	if isPlainPath(s) {
		return s
	}
	return strconv.Quote(s)
}

func refuse(flag, hint, format string, args ...any) error {
	return &RefusedError{Flag: flag, Reason: fmt.Sprintf(format, args...), Hint: hint}
}
