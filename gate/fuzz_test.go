package gate

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// pythonUnquote is urllib.parse.unquote as uvicorn applies it to the
// request path: %XX with two hex digits is decoded, anything else is kept,
// and the bytes are read as UTF-8 with invalid sequences replaced.
func pythonUnquote(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// FuzzRoute: a request target the gate accepts decodes to the same path
// in Go and in Python (so vLLM routes what the gate matched), has nothing
// left to normalise, and classifies consistently.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/v1/load_lora_adapter", "/v1/%6Coad_lora_adapter/", "/v1%2Fload", "/a/%2e%2e/b", "//x", "/x%25y",
		"/api/v1/load_lora_adapter", "/adapters/a%20b", "/adapters/%C3%A9", "/%FF", "/a?b=%2F", "*"} {
		f.Add(s, "/api")
	}
	f.Fuzz(func(t *testing.T, target, root string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // net/http answers 400 before the gate sees it
		}
		escaped := u.EscapedPath()
		if checkPath(escaped, u.Path) != nil {
			return
		}
		if got := pythonUnquote(escaped); got != u.Path {
			t.Fatalf("accepted %q: Go decodes %q, Python %q", escaped, u.Path, got)
		}
		if !utf8.ValidString(u.Path) || strings.Contains(u.Path, "//") || strings.ContainsAny(u.Path, "%\\\x00") {
			t.Fatalf("accepted %q with decoded path %q", escaped, u.Path)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with a dot segment", escaped)
			}
		}
		rt := classify(u.Path, root)
		stripped := strings.TrimSuffix(routePath(u.Path, root), "/")
		switch rt.kind {
		case routeLoad:
			if stripped != "/v1/load_lora_adapter" {
				t.Fatalf("%q (root %q) classified as a load", u.Path, root)
			}
		case routeAdapterDelete:
			if rt.name == "" || strings.Contains(rt.name, "/") || "/adapters/"+rt.name != stripped {
				t.Fatalf("%q: adapter name %q", u.Path, rt.name)
			}
		}
		if stripped == "/v1/load_lora_adapter" && rt.kind != routeLoad {
			t.Fatalf("%q (root %q) not classified as a load", u.Path, root)
		}
	})
}

// FuzzLoadBody: an accepted load body means exactly one thing: every
// reader (Python's json, Go's map decoding) finds the same name and path,
// and no key could be read another way.
func FuzzLoadBody(f *testing.F) {
	for _, s := range []string{`{"lora_name":"a","lora_path":"/x"}`, `{"lora_name":"a","lora_path":"/x","lora_path":"/y"}`,
		`{"lora_name":"a","Lora_Path":"/x"}`, `{"lora_name":"a","lora_p\u0061th":"/x","load_inplace":true}`, `[]`, `{"lora_name":"a","lora_path":"/x"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseLoadBody(data)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
		var name, path string
		if json.Unmarshal(m["lora_name"], &name) != nil || json.Unmarshal(m["lora_path"], &path) != nil {
			t.Fatalf("accepted %q without string name and path", data)
		}
		if name != req.name || path != req.path || path == "" {
			t.Fatalf("accepted %q as %+v, encoding/json reads %q %q", data, req, name, path)
		}
		for k := range m {
			if _, ok := loadSchema.fields[k]; !ok {
				t.Fatalf("accepted %q with key %q", data, k)
			}
		}
	})
}

// FuzzAdapterRequest: SageMaker's body-or-query request.
func FuzzAdapterRequest(f *testing.F) {
	f.Add([]byte(`{"name":"a","src":"/x"}`), "")
	f.Add([]byte(""), "name=a&src=%2Fx")
	f.Add([]byte(`{"name":"a","src":"/x"}`), "src=%2Fy")
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		req, err := parseAdapterRequest(body, query)
		if err != nil {
			return
		}
		if req.name == "" || req.path == "" {
			t.Fatalf("accepted %q %q without a name and a path", body, query)
		}
		q, _ := url.ParseQuery(query)
		if !blank(body) && (q.Has("name") || q.Has("src")) {
			t.Fatalf("accepted %q with a body and %q", body, query)
		}
	})
}

// FuzzFindModels: when the gate accepts a JSON body, the model it found
// is the one a full strict parse finds at the top level, and there is no
// other spelling of the key.
func FuzzFindModels(f *testing.F) {
	for _, s := range []string{`{"model":"base","messages":[{"role":"user","content":"hi"}]}`, `{"model":"a","model":"b"}`,
		`{"Model":"a"}`, `[{"model":"a"},{"model":"b"}]`, `{"model":null}`, `{"x":{"model":"y"}}`, `{"model":"a\ud800"}`, ``, `"x"`} {
		f.Add("application/json", []byte(s))
	}
	f.Add("multipart/form-data; boundary=B", []byte("--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nbase\r\n--B--\r\n"))
	f.Add("application/x-www-form-urlencoded", []byte("model=a&x=1"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		names, err := findModels(contentType, body)
		if err != nil || !strings.HasPrefix(contentType, "application/json") {
			return
		}
		v, perr := strictjson.Parse(body)
		if perr != nil {
			return // a value the reference refuses (e.g. a lone surrogate elsewhere)
		}
		var want []string
		collect := func(o *strictjson.Value) {
			if o.Kind != strictjson.Object {
				return
			}
			n := 0
			for _, m := range o.Members {
				if strings.EqualFold(m.Key, "model") && m.Key != "model" {
					t.Fatalf("accepted %q with the key %q", body, m.Key)
				}
				if m.Key == "model" {
					n++
					if m.Value.Kind == strictjson.String {
						want = append(want, m.Value.Str)
					} else {
						want = append(want, "")
					}
				}
			}
			if n > 1 {
				t.Fatalf("accepted %q with model %d times", body, n)
			}
		}
		collect(v)
		for _, e := range v.Elems {
			collect(e)
		}
		if strings.Join(names, "\x00") != strings.Join(want, "\x00") || len(names) != len(want) {
			t.Fatalf("%q: found %q, want %q", body, names, want)
		}
	})
}

// FuzzJSONModels: the fast walk of valid JSON (scanModels) reads exactly
// what encoding/json's tokenizer reads (tokenModels): the same names, and
// the same refusal in the same words.
func FuzzJSONModels(f *testing.F) {
	for _, s := range []string{`{"model":"base","messages":[{"role":"user","content":"hi \"x\" \\"}]}`, `{"model":"a","model":"b"}`,
		`{"Model":"a"}`, `{"mod\u0065l":"a"}`, `{"MOD\u0045L":"a"}`, `{"model":"a\ud800"}`, `{"model":"\u0061"}`, `{"model":7}`,
		`{"model":{"x":1}}`, `{"model":null}`, ` [ {"model":"a"} , 1, "s", [{"model":"x"}], {"model":"b"} ] `, `{"x":{"model":"y"},"model":"z"}`,
		`{"a":[1,{"b":"]}\"["}],"model":"m","c":-1.5e3}`, `{}`, `[]`, `"x"`, `12`, `true`, `{"k":"\\","model":"q"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if blank(body) || !utf8.Valid(body) || !json.Valid(body) {
			return
		}
		got, gerr := scanModels(body)
		want, werr := tokenModels(body)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("%q: scan %v, tokenizer %v", body, gerr, werr)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("%q: scan %q, tokenizer %q", body, got, want)
		}
	})
}

// FuzzResolverPath: an accepted model name is exactly one folder of the
// resolver directory, as os.path.join would build it.
func FuzzResolverPath(f *testing.F) {
	for _, s := range []string{"a", "..", ".", "a/b", "/abs", "a\x00", "é", "a\\b", ".hidden", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := resolverPath("/srv/loras", name)
		if err != nil {
			return
		}
		if filepath.Dir(p) != "/srv/loras" || filepath.Base(p) != name || p != "/srv/loras/"+name {
			t.Fatalf("name %q gives %q", name, p)
		}
	})
}
