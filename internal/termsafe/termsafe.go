// Package termsafe escapes text that came from outside (file names,
// paths, JSON values, other packages' error messages) before it reaches a
// terminal or a text log, so that it can neither drive the terminal nor
// forge a line: no escape sequence, no carriage return, no bidi override,
// no zero-width character, no invalid UTF-8 byte is left raw.
//
// It is the one rule for package policy (reasons, problems), package
// modelsig (parsers' messages that repeat bytes of a signature) and the
// command line (every text line it prints).
package termsafe

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable reports whether r prints as itself: a letter, mark, number,
// punctuation or symbol (strconv.IsPrint), or the ASCII space. Everything
// else — C0 and C1 controls, DEL, format characters such as bidi
// overrides and zero-width spaces, other spaces and separators, private
// use and unassigned code points — is escaped by Line and Lines.
func Printable(r rune) bool { return r == ' ' || strconv.IsPrint(r) }

// Line returns s as one line with every character that is not Printable
// written as a Go escape without quotes (\n, \x1b, \u202e, \U000e0041),
// and every invalid UTF-8 byte as \xNN. Printable text, including
// %q-quoted strings, is returned unchanged.
func Line(s string) string { return escape(s, false) }

// Lines is Line for text meant to be several lines: it keeps '\n'.
func Lines(s string) string { return escape(s, true) }

func escape(s string, keepNewlines bool) string {
	if clean(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines, Printable(r):
			b.WriteString(s[i : i+size])
		default:
			writeEscape(&b, r)
		}
		i += size
	}
	return b.String()
}

// clean reports whether s needs no escaping.
func clean(s string, keepNewlines bool) bool {
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd") {
			return false // an invalid byte, not a U+FFFD in the text
		}
		if !Printable(r) && !(r == '\n' && keepNewlines) {
			return false
		}
	}
	return true
}

// writeEscape writes r as Go would inside a string literal, with \x for
// every other ASCII control (\x07, not \a: one form to search for).
func writeEscape(b *strings.Builder, r rune) {
	switch {
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < 0x80:
		fmt.Fprintf(b, `\x%02x`, r)
	case r <= 0xFFFF:
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		fmt.Fprintf(b, `\U%08x`, r)
	}
}
