package strictjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestEncode: a parsed document encodes compactly with members in order,
// numbers as written and no HTML escaping; With replaces or adds one
// member without changing the original.
func TestEncode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"b": 1.50e3, "a": [true, false, null], "s": "<é\u0001\"\\>"}`, `{"b":1.50e3,"a":[true,false,null],"s":"<é\u0001\"\\>"}`},
		{` [ {} , [] , "x" ] `, `[{},[],"x"]`},
		{`{"k":1,"k":2}`, `{"k":1,"k":2}`},
		{`-0`, `-0`},
	} {
		v, err := Parse([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(Encode(v)); got != tc.want {
			t.Errorf("Encode(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	v, err := Parse([]byte(`{"name":"a","path":"/old","extra":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Encode(v.With("path", NewString("/new")))); got != `{"name":"a","path":"/new","extra":{"x":1}}` {
		t.Errorf("replaced: %s", got)
	}
	if got := string(Encode(v.With("revision", NewString("abc")))); got != `{"name":"a","path":"/old","extra":{"x":1},"revision":"abc"}` {
		t.Errorf("added: %s", got)
	}
	if got := string(Encode(v)); got != `{"name":"a","path":"/old","extra":{"x":1}}` {
		t.Errorf("original changed: %s", got)
	}
}

// TestAppendString: the plain-ASCII shortcut and the encoding/json path
// both write what encoding/json writes with HTML escaping off.
func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "model.safetensors", "a b/c~", `q"uote`, `back\slash`, "<&>", "tab\there", "\x7f", "é", "\u2028\u2029", "bad\xffbyte"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(AppendString([]byte("x"), s)); got != "x"+strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want.String())
		}
	}
}
