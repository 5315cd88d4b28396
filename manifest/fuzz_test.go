package manifest

import (
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
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

// FuzzModelName: an ignore entry, relative or absolute, becomes either
// nothing or a clean name strictly inside the model; never the root,
// never anything with "..".
func FuzzModelName(f *testing.F) {
	for _, s := range []string{"a", "a/../b", "../x", "/model/a", "/model", "/other/a", "a/./b/", "./", "..", "/model/../model/x", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rel, ok, err := modelName("/model", "/model", p)
		if err != nil || !ok {
			return
		}
		if rel == "." || rel == "" || !filepath.IsLocal(rel) || path.Clean(rel) != rel || strings.HasPrefix(rel, "/") {
			t.Fatalf("entry %q gave name %q", p, rel)
		}
		for _, c := range strings.Split(rel, "/") {
			if c == ".." || c == "." || c == "" {
				t.Fatalf("entry %q gave name %q with component %q", p, rel, c)
			}
		}
	})
}

// FuzzQuoteName: a quoted name prints no control, format or combining
// character on its own, and unquotes to the very name.
func FuzzQuoteName(f *testing.F) {
	for _, s := range []string{"a", "café", "cafe\u0301", "a\u200bb", "x\u202ey", "a\nb", "\xff", "模型"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q := quoteName(name)
		back, err := strconv.Unquote(q)
		if err != nil || back != name {
			t.Fatalf("quoteName(%q) = %s, unquotes to %q (%v)", name, q, back, err)
		}
		for _, r := range q {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) {
				t.Fatalf("quoteName(%q) = %s holds %U", name, q, r)
			}
		}
	})
}

// FuzzShardNameBytes checks the arithmetic against formatting every name.
func FuzzShardNameBytes(f *testing.F) {
	f.Add(int64(23), int64(8))
	f.Add(int64(1000), int64(1))
	f.Add(int64(0), int64(3))
	f.Fuzz(func(t *testing.T, size, shard int64) {
		if size < 0 || size > 100_000 || shard <= 0 || size/shard > 20_000 {
			return
		}
		var want int64
		for start := int64(0); start < size; start += shard {
			want += int64(len("n:" + strconv.FormatInt(start, 10) + ":" + strconv.FormatInt(min(start+shard, size), 10)))
		}
		if got := shardNameBytes(1, size, shard); got != want {
			t.Fatalf("shardNameBytes(size %d, shard %d) = %d, want %d", size, shard, got, want)
		}
	})
}
