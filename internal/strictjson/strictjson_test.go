package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseErrors: every refusal names the offending byte's offset and
// says what is wrong; the common cases wrap a sentinel.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		off  int
		msg  string
		wrap error
	}{
		{"", 0, "empty document", ErrEmpty},
		{" \n\t", 3, "empty document", ErrEmpty},
		{"\ufeff{}", 0, "the file starts with a UTF-8 byte order mark, which JSON does not allow; remove it", nil},
		{"{\"a\xff\": 1}", 3, "invalid UTF-8", nil},
		{`"\ud800"`, 1, `unpaired UTF-16 surrogate escape \uD800 in a string: text holding it is not valid UTF-8`, nil},
		{`{"k\udc00\ud800": 1}`, 3, `unpaired UTF-16 surrogate escape \uDC00`, nil},
		{`["\ud83d\ude00", "x\ud800\u0041"]`, 19, `unpaired UTF-16 surrogate escape \uD800`, nil},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), 64, "nested deeper than 64 levels", nil},
		{`{"a":1,}`, 6, "trailing comma before '}' is not allowed in JSON", nil},
		{`[1, 2 ,  ]`, 6, "trailing comma before ']' is not allowed in JSON", nil},
		{"{\n // c\n}", 3, "comments are not allowed in JSON", nil},
		{`[1, /* c */ 2]`, 4, "comments are not allowed in JSON", nil},
		{`{'a': 1}`, 1, `object keys must use double quotes ("), not single quotes`, nil},
		{`{"a": 'b'}`, 6, `strings must use double quotes ("), not single quotes`, nil},
		{`{"a" 1}`, 5, `expected ':' after object key "a", found '1'`, nil},
		{`{"a":1 "b":2}`, 7, `unexpected '"' after object member "a": expected ',' or '}'`, nil},
		{`[1 2]`, 3, `unexpected '2' in a list: expected ',' or ']'`, nil},
		{`{1: 2}`, 1, `unexpected '1': expected an object key in double quotes`, nil},
		{`{]`, 1, `unexpected ']': expected an object key in double quotes`, nil},
		{`[}`, 1, `unexpected '}': expected a value`, nil},
		{`{"é": x}`, 7, `unexpected 'x': expected a value`, nil},
		{"[\x01]", 1, `unexpected character U+0001: expected a value`, nil},
		{`{"a": nul}`, 6, `unexpected 'n': expected a value (did you mean null?)`, nil},
		{`[ttrue]`, 1, `unexpected 't': expected a value (did you mean true?)`, nil},
		{"{\"a\": \"x\ny\"}", 8, "control character U+000A inside a string must be escaped (a string cannot span lines)", nil},
		{`{"a": "C:\dir"}`, 10, `invalid escape '\d' in a string (a backslash in a path or pattern is written \\)`, nil},
		{`["\\\é"]`, 5, `invalid escape '\é' in a string`, nil},
		{`["\u12x4"]`, 6, `invalid \u escape: expected four hex digits`, nil},
		{`[-x]`, 2, `unexpected 'x' in a number: expected a digit`, nil},
		{`[1.]`, 3, `unexpected ']' in a number: expected a digit after '.'`, nil},
		{`[1e+]`, 4, `unexpected ']' in a number: expected a digit in the exponent`, nil},
		{`[1E]`, 3, `unexpected ']' in a number: expected a digit in the exponent`, nil},
		{`[01]`, 2, "numbers must not have leading zeros", nil},
		{`-01`, 2, "numbers must not have leading zeros", nil},
		{`{} {}`, 3, "unexpected '{' after the end of the JSON document", ErrTrailingData},
		{`1x`, 1, "unexpected 'x' after the end of the JSON document", ErrTrailingData},
		{`{"a":1}}`, 7, "unexpected '}' after the end of the JSON document", ErrTrailingData},
		{`"abc`, 4, `unexpected end of file inside a string: missing closing '"'`, ErrTruncated},
		{`["a\`, 4, `unexpected end of file inside a string`, ErrTruncated},
		{`[-`, 2, `unexpected end of file in a number: expected a digit`, ErrTruncated},
		{`tru`, 3, `unexpected end of file inside true`, ErrTruncated},
		{`{"a"`, 4, `unexpected end of file after object key "a": expected ':'`, ErrTruncated},
		{`{"a":`, 5, `unexpected end of file: expected a value`, ErrTruncated},
		{`{"a":1`, 6, `unexpected end of file inside an object: expected ',' or '}'`, ErrTruncated},
		{`{"a":1,`, 7, `unexpected end of file inside an object: expected a key or '}'`, ErrTruncated},
		{`{`, 1, `unexpected end of file inside an object: expected a key or '}'`, ErrTruncated},
		{`[1`, 2, `unexpected end of file inside a list: expected ',' or ']'`, ErrTruncated},
		{`[1,`, 3, `unexpected end of file: expected a value`, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			v, err := Parse([]byte(tt.in))
			var se *SyntaxError
			if v != nil || !errors.As(err, &se) {
				t.Fatalf("Parse = %v, %v; want a *SyntaxError", v, err)
			}
			if se.Offset != tt.off || !strings.HasPrefix(se.Msg, tt.msg) || err.Error() != se.Msg {
				t.Errorf("got %d: %s\nwant %d: %s", se.Offset, se.Msg, tt.off, tt.msg)
			}
			for _, sentinel := range []error{ErrEmpty, ErrTruncated, ErrTrailingData} {
				if errors.Is(err, sentinel) != (sentinel == tt.wrap) {
					t.Errorf("errors.Is(err, %v) = %v", sentinel, !(sentinel == tt.wrap))
				}
			}
		})
	}
}

// TestParseAccepts: valid documents at the limits are accepted.
func TestParseAccepts(t *testing.T) {
	for _, in := range []string{
		`0`, `-0`, `-1.5E-7`, ` "x" `, "\t\r\n null \n", `true`, `false`, `[]`, `{}`,
		strings.Repeat("[", 64) + strings.Repeat("]", 64),
		`"\ud83d\ude00 \uFFFD \\ud800 ` + "\uFFFD" + `"`,
		`{"":{"":[]}}`,
	} {
		if _, err := Parse([]byte(in)); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}

// TestParseTree: members keep document order and repeats, and every key
// and value records where it starts.
func TestParseTree(t *testing.T) {
	doc := "{\"b\": [1, -2.50e3, \"s\\u00e9\"],\n \"a\": {\"x\": true, \"y\": null},\n \"b\": false, \"c\\u0061\": {}}"
	v, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) int { return strings.Index(doc, s) }
	if v.Kind != Object || v.Offset != 0 || len(v.Members) != 4 {
		t.Fatalf("top: %+v", v)
	}
	var keys []string
	for _, m := range v.Members {
		keys = append(keys, fmt.Sprintf("%s@%d:%v", m.Key, m.KeyOffset, m.Repeated))
	}
	want := []string{
		fmt.Sprintf("b@%d:false", at(`"b"`)),
		fmt.Sprintf("a@%d:false", at(`"a"`)),
		fmt.Sprintf("b@%d:true", at(`"b": false`)),
		fmt.Sprintf("ca@%d:false", at(`"c\u0061"`)),
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("members %v, want %v", keys, want)
	}
	arr := v.Members[0].Value
	if arr.Kind != Array || arr.Offset != at("[") || len(arr.Elems) != 3 {
		t.Fatalf("array: %+v", arr)
	}
	for i, w := range []Value{
		{Kind: Number, Offset: at("1"), Str: "1"},
		{Kind: Number, Offset: at("-2"), Str: "-2.50e3"},
		{Kind: String, Offset: at(`"s`), Str: "sé"},
	} {
		if got := *arr.Elems[i]; !reflect.DeepEqual(got, w) {
			t.Errorf("element %d = %+v, want %+v", i, got, w)
		}
	}
	if m := v.Member("b"); m != &v.Members[0] {
		t.Errorf("Member(b) = %+v, want the first b", m)
	}
	if v.Member("z") != nil || arr.Member("b") != nil {
		t.Error("Member found a key that is not there")
	}
	a := v.Member("a").Value
	if x := a.Member("x").Value; x.Kind != Bool || !x.Bool || x.Offset != at("true") {
		t.Errorf("a.x = %+v", x)
	}
	if y := a.Member("y").Value; y.Kind != Null || y.Offset != at("null") {
		t.Errorf("a.y = %+v", y)
	}
	if r := v.RepeatedKey(); r != &v.Members[2] {
		t.Errorf("RepeatedKey = %+v, want the second b", r)
	}
}

// TestRepeatedKey: the first repeat in document order is found at any
// depth, in small objects and in large ones alike.
func TestRepeatedKey(t *testing.T) {
	var big strings.Builder
	big.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&big, `"k%d": %d, `, i, i)
	}
	big.WriteString(`"k7": 0}`)
	tests := []struct {
		in   string
		want string // "key@offset", "" for none
	}{
		{`{"a": 1, "b": 2}`, ""},
		{`[{"a": 1}, {"a": 2}]`, ""},
		{`{"a": {"a": 1}}`, ""},
		{`[1, {"a": [{"x": 1, "x": 2}]}, {"b": 1, "b": 2}]`, "x@20"},
		{`{"a": {"x": 1, "x": 2}, "a": 3}`, "x@15"},
		{`{"a": 1, "\u0061": 2}`, "a@9"},
		{big.String(), fmt.Sprintf("k7@%d", big.Len()-8)},
	}
	for _, tt := range tests {
		v, err := Parse([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got := ""
		if m := v.RepeatedKey(); m != nil {
			got = fmt.Sprintf("%s@%d", m.Key, m.KeyOffset)
		}
		if got != tt.want {
			t.Errorf("%.40s: RepeatedKey = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{Null: "null", Bool: "a boolean", Number: "a number", String: "a string", Array: "a list", Object: "an object"}
	for k, w := range want {
		if k.String() != w {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), w)
		}
	}
}

// TestLinesPosition: Lines.Position and Position (no index) agree, and
// count lines from 1 and columns in characters from 1.
func TestLinesPosition(t *testing.T) {
	data := []byte("ab\n\"é\": x\n\nz")
	x := NewLines(data)
	for _, tt := range []struct{ off, line, col int }{
		{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {8, 2, 5}, {9, 2, 6}, {10, 2, 7}, {11, 3, 1}, {12, 4, 1}, {13, 4, 2},
		{-5, 1, 1}, {99, 4, 2},
	} {
		if l, c := x.Position(tt.off); l != tt.line || c != tt.col {
			t.Errorf("Lines.Position(%d) = %d:%d, want %d:%d", tt.off, l, c, tt.line, tt.col)
		}
		if l, c := Position(data, tt.off); l != tt.line || c != tt.col {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", tt.off, l, c, tt.line, tt.col)
		}
	}
	if l, c := NewLines(nil).Position(0); l != 1 || c != 1 {
		t.Errorf("empty document: %d:%d", l, c)
	}
	if l, c := Position(nil, 0); l != 1 || c != 1 {
		t.Errorf("empty document: %d:%d", l, c)
	}
}

// FuzzParse: Parse accepts only what encoding/json accepts, and all of it
// except what it refuses on purpose (invalid UTF-8, a byte order mark,
// unpaired surrogate escapes, deep nesting); it decodes as encoding/json
// decodes; every offset points at what it claims to; Repeated marks exactly
// the repeats.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"policy": {"signatures": {"signers": {"s": {"verification_method": "skip"}}, "models": {"/m/": {"signer": "s"}, "regex:.*": {"signer": "s"}}}}}`,
		`{"a": [1, -0.5e+3, true, false, null, "\u00e9\ud83d\ude00\n"], "b": {"a": 1, "a": 2}}`,
		"{\n  \"policy\": {,}\n}",
		strings.Repeat("[", 70) + strings.Repeat("]", 70),
		`"\/\b\f\n\r\t\\\"\u0041"`, `-0`, `1.5E-7`, `01`, `1.`, `"a` + "\x01" + `"`, ` {"a" : [ ] } `, `nul`,
		`"\ud800"`, `"\ud800\u0041"`, `{"a":1,}`, `[1,]`, "{\n// c\n}", `{'a':1}`, `{} {}`, "\ufeff{}", "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		valid := json.Valid(data)
		if err != nil {
			var se *SyntaxError
			if v != nil || !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) || se.Msg == "" {
				t.Fatalf("bad error %#v", err)
			}
			if valid && utf8.Valid(data) && !bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) &&
				!strings.Contains(se.Msg, "surrogate") && !strings.Contains(se.Msg, "nested") {
				t.Fatalf("refused valid JSON %q: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted what encoding/json refuses: %q", data)
		}
		checkOffsets(t, data, v)
		var want any
		if v.RepeatedKey() == nil && json.Unmarshal(data, &want) == nil {
			if got := plain(v); !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded differently:\n%#v\n%#v", got, want)
			}
		}
	})
}

// checkOffsets checks that each offset in v points at the first byte of
// its key or value, and that Repeated marks exactly the repeated keys.
func checkOffsets(t *testing.T, data []byte, v *Value) {
	first := map[Kind]string{Null: "n", Bool: "tf", Number: "-0123456789", String: `"`, Array: "[", Object: "{"}[v.Kind]
	if v.Offset < 0 || v.Offset >= len(data) || !strings.ContainsRune(first, rune(data[v.Offset])) {
		t.Fatalf("%s at offset %d of %q", v.Kind, v.Offset, data)
	}
	seen := map[string]bool{}
	for _, m := range v.Members {
		if m.KeyOffset < 0 || m.KeyOffset >= m.Value.Offset || data[m.KeyOffset] != '"' || m.Repeated != seen[m.Key] {
			t.Fatalf("member %+v of %q", m, data)
		}
		seen[m.Key] = true
		checkOffsets(t, data, m.Value)
	}
	for _, e := range v.Elems {
		checkOffsets(t, data, e)
	}
}

// plain converts a parsed value to what encoding/json would produce.
func plain(v *Value) any {
	switch v.Kind {
	case Object:
		m := map[string]any{}
		for _, mem := range v.Members {
			m[mem.Key] = plain(mem.Value)
		}
		return m
	case Array:
		out := []any{}
		for _, e := range v.Elems {
			out = append(out, plain(e))
		}
		return out
	case String:
		return v.Str
	case Number:
		var n float64
		if err := json.Unmarshal([]byte(v.Str), &n); err != nil {
			return v.Str
		}
		return n
	case Bool:
		return v.Bool
	}
	return nil
}

// BenchmarkParseStatement parses a signature statement of 100k files
// (about 19 MB), the size modelsig must handle.
func BenchmarkParseStatement(b *testing.B) {
	var doc bytes.Buffer
	doc.WriteString(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],` +
		`"predicateType":"https://model_signing/signature/v1.0","predicate":{"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false,"ignore_paths":[]},"resources":[`)
	for i := range 100_000 {
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `{"algorithm":"sha256","digest":"%064x","name":"dir%03d/sub/file-%06d.safetensors"}`, i, i%1000, i)
	}
	doc.WriteString(`]}}`)
	data := doc.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
