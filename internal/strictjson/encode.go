package strictjson

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Encode writes v compactly: members in document order (repeated keys
// included), numbers as written, strings escaped by encoding/json without
// HTML escaping. A document parsed and encoded again therefore says the
// same to any reader; callers change a member's Value and encode to pass
// a document on with one value replaced.
func Encode(v *Value) []byte {
	var b bytes.Buffer
	encode(&b, v)
	return b.Bytes()
}

func encode(b *bytes.Buffer, v *Value) {
	switch v.Kind {
	case Null:
		b.WriteString("null")
	case Bool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case Number:
		b.WriteString(v.Str)
	case String:
		encodeString(b, v.Str)
	case Array:
		b.WriteByte('[')
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			encode(b, e)
		}
		b.WriteByte(']')
	case Object:
		b.WriteByte('{')
		for i, m := range v.Members {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeString(b, m.Key)
			b.WriteByte(':')
			encode(b, m.Value)
		}
		b.WriteByte('}')
	}
}

// encodeString writes s as a JSON string (see AppendString).
func encodeString(b *bytes.Buffer, s string) {
	b.Write(AppendString(b.AvailableBuffer(), s))
}

// AppendString appends s as a JSON string exactly as encoding/json writes
// it with HTML escaping off. Strings of printable ASCII other than the
// quote and the backslash, nearly all of them, are copied as they are;
// anything else goes through encoding/json itself (control characters,
// U+2028 and U+2029 are its business). JSON holds only Unicode text: an
// invalid UTF-8 byte is written as U+FFFD, so a caller whose string may
// hold one must refuse it first.
func AppendString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// NewString returns a string value. s should be valid UTF-8, as every
// string Parse returns is: Encode writes an invalid byte as U+FFFD.
func NewString(s string) *Value { return &Value{Kind: String, Str: s} }

// With returns a copy of the object v with the member key's value set to
// val: replaced where key appears (every time, when repeated), else added
// at the end. v itself is not changed.
func (v *Value) With(key string, val *Value) *Value {
	out := *v
	out.Members = make([]Member, 0, len(v.Members)+1)
	found := false
	for _, m := range v.Members {
		if m.Key == key {
			m.Value, found = val, true
		}
		out.Members = append(out.Members, m)
	}
	if !found {
		out.Members = append(out.Members, Member{Key: key, Value: val})
	}
	return &out
}
