// Package strictjson reads one JSON document strictly and keeps what
// encoding/json's own decoding throws away: object members in document
// order, every repeated key, and the byte offset where each key and value
// starts.
//
// Policies need the order (regex rules are tried in file order), the
// offsets (errors say FILE:LINE:COL) and every repeated key (reported, not
// just refused), and a hand-written file deserves errors in words.
//
// Signatures do not use the tree: a signature may be tens of megabytes,
// and modelsig streams it through jsontext (go-json-experiment), which
// refuses repeated keys itself, straight into the compact form it keeps.
// Position is shared by both for LINE:COL.
//
// Tokens come from encoding/json's Decoder, so the grammar, string
// unescaping and number syntax are the standard library's. This package
// adds what RFC 8259 requires or allows a parser to refuse and the Decoder
// lets through: invalid UTF-8 (which the Decoder would replace with U+FFFD),
// a byte order mark, unpaired UTF-16 surrogate escapes (also replaced),
// trailing data and nesting deeper than MaxDepth. When the input is not
// JSON, errors say what is wrong in words for people who edit JSON by hand
// (a trailing comma, a comment, single quotes) at the offset of the
// offending byte.
package strictjson

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// MaxDepth bounds nesting. Policies, bundles and statements nest about six
// levels deep; the bound only keeps hostile input from costing stack.
const MaxDepth = 64

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// String names the kind for messages to people ("must be a string, not a
// number"); arrays are called lists, as most people who write JSON by hand
// call them.
func (k Kind) String() string {
	switch k {
	case Object:
		return "an object"
	case Array:
		return "a list"
	case String:
		return "a string"
	case Number:
		return "a number"
	case Bool:
		return "a boolean"
	default:
		return "null"
	}
}

// Value is one parsed JSON value and where it starts in the document.
type Value struct {
	Kind   Kind
	Bool   bool   // Bool: the value
	Offset int    // byte offset of the value's first byte
	Str    string // String: the decoded text; Number: the literal as written
	// Members are an Object's members in document order, repeated keys
	// included.
	Members []Member
	Elems   []*Value // Array: the elements
}

// Member is one "key": value pair of an object.
type Member struct {
	Key       string // decoded
	KeyOffset int    // offset of the key's opening quote
	Value     *Value
	// Repeated is set when an earlier member of the same object has the
	// same (decoded) key.
	Repeated bool
}

// Member returns the first member of object v named key, or nil when there
// is none or v is not an object.
func (v *Value) Member(key string) *Member {
	if v.Kind != Object {
		return nil
	}
	for i := range v.Members {
		if v.Members[i].Key == key {
			return &v.Members[i]
		}
	}
	return nil
}

// RepeatedKey returns the first member, in document order, of any object
// in v whose key repeats an earlier key of the same object, or nil when
// every object in v has unique keys.
func (v *Value) RepeatedKey() *Member {
	for i := range v.Members {
		m := &v.Members[i]
		if m.Repeated {
			return m
		}
		if r := m.Value.RepeatedKey(); r != nil {
			return r
		}
	}
	for _, e := range v.Elems {
		if r := e.RepeatedKey(); r != nil {
			return r
		}
	}
	return nil
}

// Parse parses exactly one JSON value, surrounded by optional whitespace,
// from data. Besides anything RFC 8259 does not allow, it refuses invalid
// UTF-8, a byte order mark, unpaired surrogate escapes and nesting deeper
// than MaxDepth. Repeated keys are kept (see Member.Repeated), not refused:
// callers decide how to report them. Every error is a *SyntaxError.
func Parse(data []byte) (*Value, error) {
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		return nil, &SyntaxError{Offset: 0, Msg: "the file starts with a UTF-8 byte order mark, which JSON does not allow; remove it"}
	}
	if !utf8.Valid(data) {
		return nil, &SyntaxError{Offset: invalidUTF8(data), Msg: "invalid UTF-8"}
	}
	if skipSpace(data, 0) == len(data) {
		return nil, &SyntaxError{Offset: len(data), Msg: "empty document", err: ErrEmpty}
	}
	p := &parser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	tok, start, err := p.next(step{kind: topValue})
	if err != nil {
		return nil, err
	}
	v, err := p.value(tok, start)
	if err != nil {
		return nil, err
	}
	if end := int(p.dec.InputOffset()); skipSpace(data, end) < len(data) {
		return nil, p.trailing(end)
	}
	return v, nil
}

// invalidUTF8 returns the offset of the first byte of data that is not
// valid UTF-8.
func invalidUTF8(data []byte) int {
	off := 0
	for off < len(data) {
		r, n := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		off += n
	}
	return off
}

// parser builds the tree from the Decoder's tokens, working out from the
// raw bytes where each token starts.
type parser struct {
	data  []byte
	dec   *json.Decoder
	depth int
	slab  []Value // Values are carved from here: far fewer allocations

	members []Member // members of the objects being read, innermost last
	elems   []*Value // elements of the arrays being read, innermost last
}

// next reads the next token, which the caller expects as st says, and
// returns it with its offset.
func (p *parser) next(st step) (json.Token, int, error) {
	from := int(p.dec.InputOffset())
	tok, err := p.dec.Token()
	if err != nil {
		return nil, 0, p.explain(st, from, err)
	}
	// The Decoder stood after the previous token; this one follows
	// whitespace and at most one separator, which the Decoder has checked.
	start := skipSpace(p.data, from)
	if start < len(p.data) && (p.data[start] == ',' || p.data[start] == ':') {
		start = skipSpace(p.data, start+1)
	}
	if s, ok := tok.(string); ok {
		if err := p.checkSurrogates(s, start); err != nil {
			return nil, 0, err
		}
	}
	return tok, start, nil
}

func (p *parser) newValue(kind Kind, off int) *Value {
	if len(p.slab) == cap(p.slab) {
		p.slab = make([]Value, 0, 128)
	}
	p.slab = append(p.slab, Value{Kind: kind, Offset: off})
	return &p.slab[len(p.slab)-1]
}

// value turns tok, a value's first token, read at off, into a Value,
// reading the rest of an object or array.
func (p *parser) value(tok json.Token, off int) (*Value, error) {
	switch t := tok.(type) {
	case string:
		v := p.newValue(String, off)
		v.Str = t
		return v, nil
	case json.Number:
		v := p.newValue(Number, off)
		v.Str = string(t)
		return v, nil
	case bool:
		v := p.newValue(Bool, off)
		v.Bool = t
		return v, nil
	case nil:
		return p.newValue(Null, off), nil
	case json.Delim:
		if p.depth == MaxDepth {
			return nil, p.errorf(off, "nested deeper than %d levels", MaxDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
		if t == '{' {
			v := p.newValue(Object, off)
			return v, p.object(v)
		}
		if t == '[' {
			v := p.newValue(Array, off)
			return v, p.array(v)
		}
	}
	// The Decoder returns closing delimiters only where they close.
	return nil, p.errorf(off, "unexpected %s", p.describe(off))
}

// smallObject is the member count up to which repeated keys are found by
// comparing with every earlier key rather than through a map: most objects
// are small, and a map each would cost more than the comparisons.
const smallObject = 16

// object reads v's members. They are gathered on p.members, shared by all
// objects being read, and copied out once complete, so that each object
// costs one exactly sized allocation.
func (p *parser) object(v *Value) error {
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	var seen map[string]bool // built once the object stops being small
	for {
		st := step{kind: firstKey}
		if n := len(p.members); n > base {
			st = step{kind: nextKey, key: p.members[n-1].Key}
		}
		tok, keyOff, err := p.next(st)
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok { // '}'
			v.Members = slices.Clone(p.members[base:])
			return nil
		}
		tok, off, err := p.next(step{kind: memberValue, key: key})
		if err != nil {
			return err
		}
		val, err := p.value(tok, off)
		if err != nil {
			return err
		}
		m := Member{Key: key, KeyOffset: keyOff, Value: val}
		if earlier := p.members[base:]; len(earlier) < smallObject {
			for i := range earlier {
				if earlier[i].Key == key {
					m.Repeated = true
					break
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]bool, 2*len(earlier))
				for _, e := range earlier {
					seen[e.Key] = true
				}
			}
			m.Repeated = seen[key]
			seen[key] = true
		}
		p.members = append(p.members, m)
	}
}

// array reads v's elements, gathered like object's members on p.elems.
func (p *parser) array(v *Value) error {
	base := len(p.elems)
	defer func() { p.elems = p.elems[:base] }()
	for {
		st := step{kind: firstElem}
		if len(p.elems) > base {
			st.kind = nextElem
		}
		tok, off, err := p.next(st)
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			v.Elems = slices.Clone(p.elems[base:])
			return nil
		}
		e, err := p.value(tok, off)
		if err != nil {
			return err
		}
		p.elems = append(p.elems, e)
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
