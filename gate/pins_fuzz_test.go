package gate

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzWithPath: a load body the gate accepts, pointed at a verified copy,
// is again a body the gate accepts, that reads the same to encoding/json
// except for the path, which is the copy's.
func FuzzWithPath(f *testing.F) {
	for _, s := range []string{`{"lora_name":"a","lora_path":"/x"}`, `{"lora_name":"\u00e9<>","lora_path":"rel","load_inplace":true,"is_3d_lora_weight":false}`,
		`{ "lora_path" : "/x" , "lora_name" : "b" }`} {
		f.Add([]byte(s), "/pins/0123")
	}
	f.Add([]byte(`{"lora_path":"0","lora_name":"0"}`), "\x80") // JSON cannot carry it
	f.Fuzz(func(t *testing.T, data []byte, pinned string) {
		req, err := parseLoadBody(data)
		if err != nil || pinned == "" {
			return
		}
		out, err := withPath(data, "lora_path", pinned)
		if err != nil {
			if utf8.ValidString(pinned) && len(data) <= MaxLoadBody/2 && len(pinned) < MaxLoadBody/4 {
				t.Fatalf("withPath(%q, %q): %v", data, pinned, err)
			}
			return
		}
		again, err := parseLoadBody(out)
		if pathHasNUL(pinned) {
			if err == nil {
				t.Fatalf("a path with NUL passed: %q", out)
			}
			return
		}
		if err != nil || again.name != req.name || again.path != pinned {
			t.Fatalf("withPath(%q, %q) = %q, read as %+v, %v", data, pinned, out, again, err)
		}
		var before, after map[string]any
		if json.Unmarshal(data, &before) != nil || json.Unmarshal(out, &after) != nil {
			t.Fatalf("not JSON: %q -> %q", data, out)
		}
		before["lora_path"] = pinned
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("members changed: %v -> %v", before, after)
		}
	})
}

func pathHasNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}
