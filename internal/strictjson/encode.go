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

// encodeString writes s as a JSON string. Strings come from Parse, which
// refuses invalid UTF-8, so encoding cannot fail.
func encodeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// NewString returns a string value.
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
