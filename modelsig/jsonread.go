package modelsig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/modelgate/modelgate/internal/strictjson"
	"github.com/modelgate/modelgate/internal/termsafe"
)

// maxJSONDepth bounds nesting in signatures and statements. Bundles nest
// about seven levels deep (a log entry's checkpoint), statements five; the
// bound keeps hostile input from costing stack or time.
const maxJSONDepth = 64

// jsonReader reads one JSON document token by token with jsontext, for the
// bundle and statement parsers. It never builds a tree: each parser pulls
// exactly the values it wants, in document order, straight into its own
// compact form, so memory follows what is kept rather than the input's
// shape, and a document of the wrong shape is refused at its first wrong
// token.
//
// jsontext is strict where it matters here: invalid UTF-8, unpaired
// surrogate escapes and repeated object names (compared exactly, after
// unescaping) are syntax errors. Names are case-sensitive, so "MediaType"
// is not "mediaType" but an unknown key.
type jsonReader struct {
	dec     *jsontext.Decoder
	doc     []byte // what dec reads: the value at file[base:]
	file    []byte // the whole document, for line and column numbers
	base    int
	scratch []byte // unescaped strings that had escapes
}

// newJSONReader reads the JSON value file[start:end].
func newJSONReader(file []byte, start, end int) *jsonReader {
	doc := file[start:end]
	// A bytes.Buffer is parsed in place: the decoder copies nothing.
	return &jsonReader{dec: jsontext.NewDecoder(bytes.NewBuffer(doc)), doc: doc, file: file, base: start}
}

// jsonPosError is a document that is not JSON, or not acceptable JSON, at
// Line:Col (1-based; the column counts characters, as editors do).
type jsonPosError struct {
	Line, Col int
	Msg       string
}

func (e *jsonPosError) Error() string { return e.Msg }

// errJSONEmpty is a document of nothing but white space.
var errJSONEmpty = errors.New("not valid JSON: empty")

// syntax turns a jsontext error into a *jsonPosError.
func (r *jsonReader) syntax(err error) error {
	if err == io.EOF {
		return errJSONEmpty
	}
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return r.posError(len(r.doc), "not valid JSON: truncated (the document ends inside a value)")
	case errors.Is(err, jsontext.ErrDuplicateName):
		return r.posError(int(se.ByteOffset), "not acceptable JSON: duplicate object key %q", se.JSONPointer.LastToken())
	}
	return r.posError(int(se.ByteOffset), "not valid JSON: %s", termsafe.Line(se.Err.Error()))
}

// posError is an error at offset off of the value being read.
func (r *jsonReader) posError(off int, format string, args ...any) error {
	line, col := strictjson.Position(r.file, r.base+off)
	return &jsonPosError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// tooDeep is the error for nesting beyond maxJSONDepth.
func (r *jsonReader) tooDeep() error {
	return r.posError(int(r.dec.InputOffset())-1, "not acceptable JSON: nested deeper than %d levels", maxJSONDepth)
}

// end checks that nothing but white space follows the document's value.
func (r *jsonReader) end() error {
	off := int(r.dec.InputOffset())
	if _, err := r.dec.ReadToken(); err == io.EOF {
		return nil
	}
	return r.posError(valueStart(r.doc, off), "not valid JSON: unexpected data after the top-level value")
}

// valueStart returns the offset of the first byte at or after off that is
// not white space or a separator.
func valueStart(data []byte, off int) int {
	for off < len(data) {
		switch data[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// offset is how many bytes of the value have been read.
func (r *jsonReader) offset() int { return int(r.dec.InputOffset()) }

// readToken reads the next token, turning a failure into a syntax error.
func (r *jsonReader) readToken() (jsontext.Token, error) {
	tok, err := r.dec.ReadToken()
	if err != nil {
		return tok, r.syntax(err)
	}
	return tok, nil
}

// readValue reads the next value whole (only names, strings and numbers
// are read this way; objects and arrays are walked token by token).
func (r *jsonReader) readValue() (jsontext.Value, error) {
	v, err := r.dec.ReadValue()
	if err != nil {
		return v, r.syntax(err)
	}
	return v, nil
}

// kind is the kind of the next value (0 when the input is broken there:
// the next read reports why).
func (r *jsonReader) kind() jsontext.Kind { return r.dec.PeekKind() }

// wrongKind is the error for a value at path that is not what is wanted.
// Nothing is consumed: the parse stops at the first error.
func (r *jsonReader) wrongKind(path jsonPath, want string) error {
	// What is there may not be a valid value at all: say so, rather
	// than that it is of the wrong kind. An object or array is not read:
	// its start is valid, and the rest may be large.
	switch r.kind() {
	case '{', '[':
	case 0, '}', ']':
		if _, err := r.readToken(); err != nil {
			return err
		}
	default:
		if _, err := r.readValue(); err != nil {
			return err
		}
	}
	if path == at("") {
		return fmt.Errorf("the JSON value is not %s", strings.Replace(want, "a JSON ", "an ", 1))
	}
	return fmt.Errorf("%s is not %s", path, want)
}

// field is one member an object may have: its JSON (lowerCamelCase) name
// and, for protobuf messages, its proto field name, which protobuf JSON
// parsers accept as well ("" when there is none, or when the reference
// does not accept it).
type field struct{ name, alt string }

// fieldSet records which fields of an object were present.
type fieldSet uint64

func (s fieldSet) has(i int) bool { return s&(1<<i) != 0 }

// jsonPath names a value for messages, like "dsseEnvelope.signatures[0]"
// ("" is the top level). It is kept in parts and made a string only for
// an error, so that walking a list of a million entries builds no paths.
type jsonPath struct {
	base  string
	index int    // [index] after base when >= 0
	field string // .field after that when not ""
}

// at is the path of a value at a fixed place.
func at(s string) jsonPath { return jsonPath{base: s, index: -1} }

func (p jsonPath) String() string {
	s := p.base
	if p.index >= 0 {
		s += "[" + strconv.Itoa(p.index) + "]"
	}
	if p.field != "" {
		if s != "" {
			s += "."
		}
		s += p.field
	}
	return s
}

// elem is the path of element i of the array at p.
func (p jsonPath) elem(i int) jsonPath {
	if p.index >= 0 || p.field != "" {
		p = at(p.String())
	}
	p.index = i
	return p
}

// key is the path of member name of the object at p.
func (p jsonPath) key(name string) jsonPath {
	if p.field != "" {
		p = at(p.String())
	}
	p.field = name
	return p
}

// objectShape says how to read one kind of object.
type objectShape struct {
	fields []field
	// strict refuses keys that are not fields (bundles); otherwise unknown
	// members are skipped (statements, whose format says to ignore them).
	strict bool
}

// object reads an object at path, calling member with
// the index in shape.fields of each member present; member must read the
// value. A null member counts as absent, as in protobuf JSON: member is not
// called for it, and it is not in the returned set. A key that is not a
// field (strict shapes) is an error naming the key and path, and so is a
// field given under both its names.
func (r *jsonReader) object(path jsonPath, shape objectShape, member func(i int) error) (fieldSet, error) {
	if r.kind() != '{' {
		return 0, r.wrongKind(path, "a JSON object")
	}
	if _, err := r.readToken(); err != nil {
		return 0, err
	}
	if r.dec.StackDepth() > maxJSONDepth {
		return 0, r.tooDeep()
	}
	var present, named fieldSet
	for {
		if r.kind() == '}' {
			_, err := r.readToken()
			return present, err
		}
		name, err := r.readValue()
		if err != nil {
			return 0, err
		}
		key := r.unquote(name)
		i := lookupField(shape.fields, key)
		switch {
		case i < 0 && shape.strict:
			return 0, unknownKey(path, key, shape.fields)
		case i < 0:
			if err := r.skip(); err != nil {
				return 0, err
			}
			continue
		case named.has(i):
			f := shape.fields[i]
			return 0, fmt.Errorf("%s has both %q and %q, two names of one field", objectName(path), f.name, f.alt)
		}
		named |= 1 << i
		if r.kind() == 'n' {
			if _, err := r.readToken(); err != nil {
				return 0, err
			}
			continue
		}
		present |= 1 << i
		if err := member(i); err != nil {
			return 0, err
		}
	}
}

// lookupField returns the index of the field named key (by either name),
// or -1.
func lookupField(fields []field, key []byte) int {
	for i, f := range fields {
		if string(key) == f.name || (f.alt != "" && string(key) == f.alt) {
			return i
		}
	}
	return -1
}

func objectName(path jsonPath) string {
	if path == at("") {
		return "the bundle"
	}
	return path.String()
}

// unknownKeyError is a key that a strict object does not define.
type unknownKeyError struct {
	path   jsonPath // of the object
	key    string
	fields []field
}

func unknownKey(path jsonPath, key []byte, fields []field) error {
	return &unknownKeyError{path: path, key: string(key), fields: fields}
}

func (e *unknownKeyError) Error() string {
	names := make([]string, len(e.fields))
	for i, f := range e.fields {
		names[i] = f.name
	}
	where := "at the top level of the bundle"
	if e.path != at("") {
		where = "in " + e.path.String()
	}
	return fmt.Sprintf("unknown key %s %s (the bundle format defines only %s there)",
		quoteShort([]byte(e.key)), where, strings.Join(names, ", "))
}

// array reads an array at path, calling elem for each element, which must
// read it. More than limit elements (when limit > 0) is an error: it bounds
// lists that only a hostile file makes long.
func (r *jsonReader) array(path jsonPath, limit int, elem func(i int) error) error {
	if r.kind() != '[' {
		return r.wrongKind(path, "a JSON array")
	}
	if _, err := r.readToken(); err != nil {
		return err
	}
	if r.dec.StackDepth() > maxJSONDepth {
		return r.tooDeep()
	}
	for i := 0; ; i++ {
		if r.kind() == ']' {
			_, err := r.readToken()
			return err
		}
		if limit > 0 && i == limit {
			return fmt.Errorf("%s has more than %d entries", path, limit)
		}
		if err := elem(i); err != nil {
			return err
		}
	}
}

// skip reads past the next value, refusing deep nesting.
func (r *jsonReader) skip() error {
	if k := r.kind(); k != '{' && k != '[' {
		_, err := r.readValue()
		return err
	}
	depth := r.dec.StackDepth()
	for {
		tok, err := r.readToken()
		if err != nil {
			return err
		}
		switch tok.Kind() {
		case '{', '[':
			if r.dec.StackDepth() > maxJSONDepth {
				return r.tooDeep()
			}
		case '}', ']':
			if r.dec.StackDepth() == depth {
				return nil
			}
		}
	}
}

// rawValue reads past the next value and returns where it lies in the
// document, for a parser of its own.
func (r *jsonReader) rawValue() (start, end int, err error) {
	start = valueStart(r.doc, int(r.dec.InputOffset()))
	if err := r.skip(); err != nil {
		return 0, 0, err
	}
	return r.base + start, r.base + int(r.dec.InputOffset()), nil
}

// unquote returns the text of a string value, unescaped. It aliases the
// input when there was nothing to unescape, and r.scratch otherwise; either
// way it is valid only until the next read.
func (r *jsonReader) unquote(v jsontext.Value) []byte {
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	// jsontext has validated the string, so unquoting cannot fail.
	r.scratch, _ = jsontext.AppendUnquote(r.scratch[:0], v)
	return r.scratch
}

// rawString reads a string at path and returns its unescaped text, valid
// only until the next read.
func (r *jsonReader) rawString(path jsonPath) ([]byte, error) {
	if r.kind() != '"' {
		return nil, r.wrongKind(path, "a string")
	}
	v, err := r.readValue()
	if err != nil {
		return nil, err
	}
	return r.unquote(v), nil
}

// str reads a string at path.
func (r *jsonReader) str(path jsonPath) (string, error) {
	s, err := r.rawString(path)
	return string(s), err
}

// boolean reads true or false at path.
func (r *jsonReader) boolean(path jsonPath) (bool, error) {
	if k := r.kind(); k != 't' && k != 'f' {
		return false, r.wrongKind(path, "true or false")
	}
	tok, err := r.readToken()
	return tok.Bool(), err
}

// number reads the next value and returns its literal as written when it
// is a number; ok is false (and the value skipped) when it is not, for
// the caller to judge once it knows whether a number was needed.
func (r *jsonReader) number() (lit string, ok bool, err error) {
	if r.kind() != '0' {
		return "", false, r.skip()
	}
	v, err := r.readValue()
	return string(v), true, err
}

// base64Field reads a base64 string at path and decodes it; empty is an
// error unless allowEmpty.
func (r *jsonReader) base64Field(path jsonPath, allowEmpty bool) ([]byte, error) {
	s, err := r.rawString(path)
	if err != nil {
		return nil, err
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid base64: %v", path, err)
	}
	if len(b) == 0 && !allowEmpty {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// base64Encodings are what protobuf JSON accepts for bytes: the standard
// or URL-safe alphabet, padded or not, tried in this order.
var base64Encodings = []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}

// decodeBase64 decodes s with the first of base64Encodings that takes it,
// into one buffer shared by the attempts.
func decodeBase64(s []byte) ([]byte, error) {
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(s))) // the largest of the four
	var firstErr error
	for _, enc := range base64Encodings {
		n, err := enc.Decode(out, s)
		if err == nil {
			return out[:n], nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
