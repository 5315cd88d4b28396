package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SyntaxError is input that is not JSON, or JSON this package refuses.
type SyntaxError struct {
	Offset int    // byte offset of the offending byte (len(data) at end of file)
	Msg    string // what is wrong, in words for people who edit JSON by hand
	err    error  // ErrEmpty, ErrTruncated, ErrTrailingData or nil
}

func (e *SyntaxError) Error() string { return e.Msg }

// Unwrap returns ErrEmpty, ErrTruncated or ErrTrailingData when the error
// is one of those, so that callers can word the common cases their own way.
func (e *SyntaxError) Unwrap() error { return e.err }

// Errors a *SyntaxError may wrap.
var (
	ErrEmpty        = errors.New("empty document")
	ErrTruncated    = errors.New("unexpected end of file")
	ErrTrailingData = errors.New("data after the end of the document")
)

// What the parser expected when it asked the Decoder for a token. The
// Decoder reports only that something is wrong; the step lets explain say
// what, and where.
type stepKind uint8

const (
	topValue    stepKind = iota // the document's value
	memberValue                 // ':' then a value; step.key is the member's key
	firstKey                    // after '{': a key or '}'
	nextKey                     // after a member (step.key): ',' and a key, or '}'
	firstElem                   // after '[': a value or ']'
	nextElem                    // after an element: ',' and a value, or ']'
)

type step struct {
	kind stepKind
	key  string
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) truncated(format string, args ...any) error {
	return &SyntaxError{Offset: len(p.data), Msg: fmt.Sprintf(format, args...), err: ErrTruncated}
}

// explain turns the Decoder's error for a token expected as st, the
// Decoder standing at from, into a SyntaxError: it rereads the raw bytes
// from there to find the offending byte and say what is wrong with it.
func (p *parser) explain(st step, from int, err error) error {
	i := skipSpace(p.data, from)
	switch st.kind {
	case memberValue:
		if i == len(p.data) {
			return p.truncated("unexpected end of file after object key %s: expected ':'", strconv.Quote(st.key))
		}
		if p.data[i] != ':' {
			return p.errorf(i, "expected ':' after object key %s, found %s", strconv.Quote(st.key), p.describe(i))
		}
		return p.badValue(skipSpace(p.data, i+1), -1, err)
	case firstKey:
		return p.badKey(i, -1, err)
	case nextKey:
		switch {
		case i == len(p.data):
			return p.truncated("unexpected end of file inside an object: expected ',' or '}'")
		case p.data[i] != ',':
			return p.unexpectedAfterValue(i, from, "after object member %s: expected ',' or '}'", strconv.Quote(st.key))
		}
		return p.badKey(skipSpace(p.data, i+1), i, err)
	case nextElem:
		switch {
		case i == len(p.data):
			return p.truncated("unexpected end of file inside a list: expected ',' or ']'")
		case p.data[i] != ',':
			return p.unexpectedAfterValue(i, from, "in a list: expected ',' or ']'")
		}
		return p.badValue(skipSpace(p.data, i+1), i, err)
	default: // topValue, firstElem
		return p.badValue(i, -1, err)
	}
}

// trailing reports data after the document's value, which ends at end.
func (p *parser) trailing(end int) error {
	i := skipSpace(p.data, end)
	if err := p.leadingZero(i, end); err != nil {
		return err
	}
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf("unexpected %s after the end of the JSON document", p.describe(i)), err: ErrTrailingData}
}

// unexpectedAfterValue reports the byte at i, found where a separator
// should follow the value that ends at end.
func (p *parser) unexpectedAfterValue(i, end int, format string, args ...any) error {
	if err := p.leadingZero(i, end); err != nil {
		return err
	}
	return p.errorf(i, "unexpected %s %s", p.describe(i), fmt.Sprintf(format, args...))
}

// leadingZero explains a digit right after a number: the Decoder ends a
// number at a leading zero and then finds the next digit out of place.
func (p *parser) leadingZero(i, end int) error {
	if i == end && i > 0 && i < len(p.data) && isDigit(p.data[i]) && isDigit(p.data[i-1]) {
		return p.errorf(i, "numbers must not have leading zeros")
	}
	return nil
}

// badKey explains why no key (or '}') starts at i; comma is the offset of
// the ',' before it, or -1.
func (p *parser) badKey(i, comma int, err error) error {
	if i == len(p.data) {
		return p.truncated("unexpected end of file inside an object: expected a key or '}'")
	}
	switch p.data[i] {
	case '"':
		return p.badToken(i, err)
	case '}':
		if comma >= 0 {
			return p.errorf(comma, "trailing comma before '}' is not allowed in JSON")
		}
	case '\'':
		return p.errorf(i, "object keys must use double quotes (\"), not single quotes")
	case '/':
		return p.errorf(i, "comments are not allowed in JSON")
	}
	return p.errorf(i, "unexpected %s: expected an object key in double quotes", p.describe(i))
}

// badValue explains why no value starts at i; comma is the offset of the
// ',' before it in a list, or -1.
func (p *parser) badValue(i, comma int, err error) error {
	if i == len(p.data) {
		return p.truncated("unexpected end of file: expected a value")
	}
	switch c := p.data[i]; {
	case c == ']' && comma >= 0:
		return p.errorf(comma, "trailing comma before ']' is not allowed in JSON")
	case c == '"' || c == '-' || isDigit(c):
		return p.badToken(i, err)
	case c == 't' || c == 'f' || c == 'n':
		word := "null"
		if c == 't' {
			word = "true"
		} else if c == 'f' {
			word = "false"
		}
		if bytes.HasPrefix([]byte(word), p.data[i:]) {
			return p.truncated("unexpected end of file inside %s", word)
		}
		return p.errorf(i, "unexpected %s: expected a value (did you mean %s?)", p.describe(i), word)
	case c == '/':
		return p.errorf(i, "comments are not allowed in JSON")
	case c == '\'':
		return p.errorf(i, "strings must use double quotes (\"), not single quotes")
	}
	return p.errorf(i, "unexpected %s: expected a value", p.describe(i))
}

// badToken explains what is wrong inside the string or number starting at
// i, which the Decoder refused with err.
func (p *parser) badToken(i int, err error) error {
	str := p.data[i] == '"'
	var syn *json.SyntaxError
	if !errors.As(err, &syn) { // the Decoder hit the end of the file
		if str {
			return p.truncated("unexpected end of file inside a string: missing closing '\"'")
		}
		return p.truncated("unexpected end of file in a number: expected a digit")
	}
	// The Decoder's offsets count only the bytes it scanned inside values,
	// so find the offending byte by checking the token on its own: the
	// scanner stops at the first byte that cannot continue it.
	var at *json.SyntaxError
	if !errors.As(json.Unmarshal(p.data[i:], new(struct{})), &at) {
		return p.errorf(i, "%v", err) // not reached: the token is invalid
	}
	bad := min(i+int(at.Offset)-1, len(p.data)-1)
	if bad <= i {
		return p.errorf(i, "%v", err) // not reached: the first byte is valid
	}
	c, prev := p.data[bad], p.data[bad-1]
	switch {
	case str && c < 0x20:
		return p.errorf(bad, "control character %U inside a string must be escaped (a string cannot span lines)", rune(c))
	case str && prev == '\\':
		r, _ := utf8.DecodeRune(p.data[bad:])
		return p.errorf(bad, "invalid escape '\\%c' in a string (a backslash in a path or pattern is written \\\\)", r)
	case str:
		return p.errorf(bad, "invalid \\u escape: expected four hex digits")
	case prev == '.':
		return p.errorf(bad, "unexpected %s in a number: expected a digit after '.'", p.describe(bad))
	case prev == 'e' || prev == 'E' || (prev == '+' || prev == '-') && bad-1 > i:
		return p.errorf(bad, "unexpected %s in a number: expected a digit in the exponent", p.describe(bad))
	}
	return p.errorf(bad, "unexpected %s in a number: expected a digit", p.describe(bad))
}

// checkSurrogates refuses a string token s, starting at start, that was
// written with an unpaired UTF-16 surrogate escape: the Decoder quietly
// turns one into U+FFFD, so another reader could see different text.
func (p *parser) checkSurrogates(s string, start int) error {
	if !strings.Contains(s, "\uFFFD") {
		return nil
	}
	raw := p.data[start:min(int(p.dec.InputOffset()), len(p.data))]
	for i := 1; i+5 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped byte, which may be a backslash
			continue
		}
		r := hex4(raw[i+2 : i+6])
		if !utf16.IsSurrogate(r) {
			i += 5
			continue
		}
		if i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' && utf16.DecodeRune(r, hex4(raw[i+8:i+12])) != utf8.RuneError {
			i += 11
			continue
		}
		return p.errorf(start+i, "unpaired UTF-16 surrogate escape \\u%04X in a string: text holding it is not valid UTF-8", r)
	}
	return nil
}

// hex4 decodes four hex digits (checked by the Decoder already); it
// returns -1 for anything else.
func hex4(b []byte) rune {
	n, err := strconv.ParseUint(string(b), 16, 16)
	if err != nil {
		return -1
	}
	return rune(n)
}

// describe names the byte at offset i for an error message.
func (p *parser) describe(i int) string {
	if i >= len(p.data) {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.data[i:])
	if r < 0x20 || r == utf8.RuneError {
		return fmt.Sprintf("character %U", r)
	}
	return strconv.QuoteRune(r)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
