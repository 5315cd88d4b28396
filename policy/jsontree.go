package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The policy is decoded by this small strict RFC 8259 parser rather than by
// encoding/json because the policy needs three things encoding/json does
// not give: object members in document order (regex rules are tried in
// file order), every duplicate key (a policy must never be ambiguous), and
// the byte offset of every key and value (errors say FILE:LINE:COL).

// jsonKind is the type of a JSON value.
type jsonKind int

const (
	jsonObject jsonKind = iota
	jsonArray
	jsonString
	jsonNumber
	jsonBool
	jsonNull
)

func (k jsonKind) String() string {
	switch k {
	case jsonObject:
		return "an object"
	case jsonArray:
		return "a list"
	case jsonString:
		return "a string"
	case jsonNumber:
		return "a number"
	case jsonBool:
		return "a boolean"
	default:
		return "null"
	}
}

// jsonValue is one parsed value and where it starts in the document.
type jsonValue struct {
	kind    jsonKind
	off     int          // byte offset of the value's first byte
	str     string       // jsonString: the decoded text; jsonNumber: the literal
	b       bool         // jsonBool
	members []jsonMember // jsonObject, in document order, duplicates kept
	elems   []*jsonValue // jsonArray
}

// jsonMember is one "key": value pair of an object.
type jsonMember struct {
	key    string // decoded
	keyOff int    // offset of the key's opening quote
	val    *jsonValue
}

// maxJSONDepth bounds nesting. A policy is six levels deep; the bound only
// keeps hostile input from exhausting the stack.
const maxJSONDepth = 64

// jsonSyntaxError is a syntax error at a byte offset.
type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string { return e.msg }

type jsonParser struct {
	data  []byte
	pos   int
	depth int
}

// parseJSON parses exactly one JSON value, surrounded by optional
// whitespace, from data. Invalid UTF-8, a byte order mark, lone surrogate
// escapes and anything RFC 8259 does not allow are errors.
func parseJSON(data []byte) (*jsonValue, error) {
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return nil, &jsonSyntaxError{0, "the file starts with a UTF-8 byte order mark, which JSON does not allow; remove it"}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, &jsonSyntaxError{off, "invalid UTF-8"}
	}
	p := &jsonParser{data: data}
	p.skipSpace()
	if p.pos == len(data) {
		return nil, &jsonSyntaxError{p.pos, "empty document: expected a JSON object"}
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(data) {
		return nil, p.errorf("unexpected %s after the end of the JSON document", p.describe())
	}
	return v, nil
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return &jsonSyntaxError{p.pos, fmt.Sprintf(format, args...)}
}

// describe names the byte at the current position for an error message.
func (p *jsonParser) describe() string {
	if p.pos >= len(p.data) {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	if r < 0x20 || r == utf8.RuneError {
		return fmt.Sprintf("character %U", r)
	}
	return strconv.QuoteRune(r)
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (*jsonValue, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of file: expected a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		off := p.pos
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jsonString, off: off, str: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", &jsonValue{kind: jsonBool, b: true})
	case c == 'f':
		return p.literal("false", &jsonValue{kind: jsonBool})
	case c == 'n':
		return p.literal("null", &jsonValue{kind: jsonNull})
	case c == '/':
		return nil, p.errorf("comments are not allowed in JSON")
	case c == '\'':
		return nil, p.errorf("strings must use double quotes (\"), not single quotes")
	default:
		return nil, p.errorf("unexpected %s: expected a value", p.describe())
	}
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.errorf("nesting deeper than %d levels", maxJSONDepth)
	}
	return nil
}

func (p *jsonParser) object() (*jsonValue, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	v := &jsonValue{kind: jsonObject, off: p.pos}
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for comma := -1; ; {
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of file inside an object: expected a key or '}'")
		}
		switch p.data[p.pos] {
		case '"':
		case '}':
			return nil, &jsonSyntaxError{comma, "trailing comma before '}' is not allowed in JSON"}
		case '\'':
			return nil, p.errorf("object keys must use double quotes (\"), not single quotes")
		case '/':
			return nil, p.errorf("comments are not allowed in JSON")
		default:
			return nil, p.errorf("unexpected %s: expected an object key in double quotes", p.describe())
		}
		keyOff := p.pos
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after object key %s, found %s", strconv.Quote(key), p.describe())
		}
		p.pos++
		p.skipSpace()
		val, err := p.value()
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, jsonMember{key: key, keyOff: keyOff, val: val})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of file inside an object: expected ',' or '}'")
		}
		switch p.data[p.pos] {
		case ',':
			comma = p.pos
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return nil, p.errorf("unexpected %s after object member %s: expected ',' or '}'", p.describe(), strconv.Quote(key))
		}
	}
}

func (p *jsonParser) array() (*jsonValue, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	v := &jsonValue{kind: jsonArray, off: p.pos}
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for comma := -1; ; {
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			return nil, &jsonSyntaxError{comma, "trailing comma before ']' is not allowed in JSON"}
		}
		elem, err := p.value()
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, elem)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of file inside a list: expected ',' or ']'")
		}
		switch p.data[p.pos] {
		case ',':
			comma = p.pos
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return nil, p.errorf("unexpected %s in a list: expected ',' or ']'", p.describe())
		}
	}
}

func (p *jsonParser) literal(word string, v *jsonValue) (*jsonValue, error) {
	v.off = p.pos
	if !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		return nil, p.errorf("unexpected %s: expected a value (did you mean %s?)", p.describe(), word)
	}
	p.pos += len(word)
	return v, nil
}

func (p *jsonParser) number() (*jsonValue, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
		if p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			return nil, p.errorf("numbers must not have leading zeros")
		}
	} else if digits() == 0 {
		return nil, p.errorf("unexpected %s in a number: expected a digit", p.describe())
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("unexpected %s in a number: expected a digit after '.'", p.describe())
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("unexpected %s in a number: expected a digit in the exponent", p.describe())
		}
	}
	return &jsonValue{kind: jsonNumber, off: start, str: string(p.data[start:p.pos])}, nil
}

// string decodes the string starting at the current '"'.
func (p *jsonParser) string() (string, error) {
	p.pos++ // opening quote
	var sb strings.Builder
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf("unexpected end of file inside a string: missing closing '\"'")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return sb.String(), nil
		case c == '\\':
			if err := p.escape(&sb); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", p.errorf("control character %U inside a string must be escaped (a string cannot span lines)", rune(c))
		default:
			_, n := utf8.DecodeRune(p.data[p.pos:]) // valid: checked up front
			sb.Write(p.data[p.pos : p.pos+n])
			p.pos += n
		}
	}
}

func (p *jsonParser) escape(sb *strings.Builder) error {
	p.pos++ // backslash
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of file inside a string escape")
	}
	c := p.data[p.pos]
	if i := strings.IndexByte("\"\\/bfnrt", c); i >= 0 {
		sb.WriteByte("\"\\/\b\f\n\r\t"[i])
		p.pos++
		return nil
	}
	if c != 'u' {
		return p.errorf("invalid escape '\\%c' in a string (a backslash in a path or pattern is written \\\\)", c)
	}
	r1, err := p.hex4()
	if err != nil {
		return err
	}
	if !utf16.IsSurrogate(r1) {
		sb.WriteRune(r1)
		return nil
	}
	if r1 < 0xDC00 && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
		save := p.pos
		p.pos++
		r2, err := p.hex4()
		if err != nil {
			return err
		}
		if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
			sb.WriteRune(r)
			return nil
		}
		p.pos = save
	}
	return p.errorf("unpaired UTF-16 surrogate escape \\u%04X in a string", r1)
}

// hex4 reads the four hex digits after "\u" (p.pos is at the 'u').
func (p *jsonParser) hex4() (rune, error) {
	p.pos++ // u
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("unexpected end of file inside a \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil || strings.ContainsAny(string(p.data[p.pos:p.pos+4]), "+-_xX") {
		return 0, p.errorf("invalid \\u escape: expected four hex digits")
	}
	p.pos += 4
	return rune(n), nil
}

// lineIndex converts byte offsets into positions.
type lineIndex struct {
	data   []byte
	starts []int // offset of the first byte of each line
}

func newLineIndex(data []byte) *lineIndex {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &lineIndex{data: data, starts: starts}
}

// pos converts a byte offset into a 1-based line and a 1-based column
// counted in characters, as editors show them.
func (x *lineIndex) pos(off int) (line, col int) {
	off = max(0, min(off, len(x.data)))
	i := sort.SearchInts(x.starts, off+1) - 1 // last line start <= off
	return i + 1, utf8.RuneCount(x.data[x.starts[i]:off]) + 1
}
