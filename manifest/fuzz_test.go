package manifest

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckOnlyPath: a listed path that checkOnlyPath accepts can never
// leave the model directory.
func FuzzCheckOnlyPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", ".", "..", "../a", "a/../b", "/abs", "a//b", "a/", "./a", "", "a\x00b", "...", "a/..b", "..a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if checkOnlyPath(rel) != nil {
			return
		}
		if !filepath.IsLocal(filepath.FromSlash(rel)) && rel != "." {
			t.Fatalf("accepted non-local path %q", rel)
		}
		joined := filepath.Join("/model", filepath.FromSlash(rel))
		if joined != "/model" && !strings.HasPrefix(joined, "/model/") {
			t.Fatalf("accepted %q, which joins to %q", rel, joined)
		}
	})
}

// FuzzIgnores checks the component-wise matching against its definition:
// rel is ignored iff it equals an ignore path or starts with one plus "/".
func FuzzIgnores(f *testing.F) {
	f.Add("foo", "foo/x")
	f.Add("foo", "foobar")
	f.Add("a/b", "a/b")
	f.Add("a/b", "a")
	f.Add("", "x")
	f.Add("x/", "x//y")
	f.Fuzz(func(t *testing.T, ignore, rel string) {
		set := ignoreSet{ignore: {}}
		want := rel == ignore || strings.HasPrefix(rel, ignore+"/")
		if got := set.ignores(rel); got != want {
			t.Fatalf("ignore %q, path %q: got %v, want %v", ignore, rel, got, want)
		}
	})
}

// FuzzParseHashType: only the documented names parse, each to a hash with a
// digest size.
func FuzzParseHashType(f *testing.F) {
	for _, s := range []string{"sha256", "blake2b", "blake2", "blake3", "", "SHA256", "blake2s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHashType(s)
		if err != nil {
			return
		}
		switch s {
		case "sha256", "blake2b", "blake2", "blake3":
		default:
			t.Fatalf("ParseHashType accepted %q", s)
		}
		if h.Size() == 0 || newHash(h) == nil {
			t.Fatalf("%q parsed to unusable %q", s, h)
		}
	})
}
