package modelsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/manifest"
)

// Digests used in the test statements.
var (
	hexA  = strings.Repeat("a1", 32) // 32 bytes
	hexB  = strings.Repeat("b2", 32)
	hexB2 = strings.Repeat("c3", 64) // 64 bytes: blake2b
)

type res struct{ name, alg, digest string }

// subjectOf is the subject digest of resources, computed independently
// of the package.
func subjectOf(t testing.TB, rs []res) string {
	t.Helper()
	h := sha256.New()
	for _, r := range rs {
		d, err := hex.DecodeString(r.digest)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(d)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// nativeStmt is a signature/v1.0 statement as a mutable map, with a
// consistent subject digest.
func nativeStmt(t testing.TB, ser map[string]any, rs ...res) map[string]any {
	t.Helper()
	resources := []any{}
	for _, r := range rs {
		resources = append(resources, map[string]any{"name": r.name, "algorithm": r.alg, "digest": r.digest})
	}
	return map[string]any{
		"_type":         StatementTypeV1,
		"subject":       []any{map[string]any{"name": "model", "digest": map[string]any{"sha256": subjectOf(t, rs)}}},
		"predicateType": PredicateSignatureV1,
		"predicate":     map[string]any{"serialization": ser, "resources": resources},
	}
}

func filesSer(hash string) map[string]any {
	return map[string]any{"method": "files", "hash_type": hash, "allow_symlinks": false}
}

func shardsSer(hash string, size any) map[string]any {
	return map[string]any{"method": "shards", "hash_type": hash, "allow_symlinks": false, "shard_size": size}
}

// twoFiles is a valid files/sha256 statement over a and b.
func twoFiles(t testing.TB) map[string]any {
	return nativeStmt(t, filesSer("sha256"), res{"a", "sha256", hexA}, res{"dir/b", "sha256", hexB})
}

func pred(s map[string]any) map[string]any { return s["predicate"].(map[string]any) }
func ser(s map[string]any) map[string]any  { return pred(s)["serialization"].(map[string]any) }

// refPayload returns the decoded DSSE payload of a reference vector.
func refPayload(t *testing.T, vector string) []byte {
	t.Helper()
	b, err := ReadBundle(refPath(t, vector, "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Envelope.Payload
}

func TestParseStatementReference(t *testing.T) {
	tests := []struct {
		vector     string
		predicate  string
		names      []string
		ignorePath []string
	}{
		{"v0.2.0-certificate", PredicateDigestsV01, []string{"signme-1", "signme-2"}, []string{}},
		{"v1.0.0-elliptic-key", PredicateSignatureV1, []string{"."}, []string{}},
		{"v1.1.0-elliptic-key", PredicateSignatureV1, []string{"signme-1", "signme-2"},
			[]string{".git", ".gitattributes", ".github", ".gitignore", "ignore-me", "model.sig"}},
	}
	for _, tc := range tests {
		t.Run(tc.vector, func(t *testing.T) {
			st, err := ParseStatement(PayloadTypeInToto, refPayload(t, tc.vector))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range st.Manifest.Resources {
				names = append(names, r.Name())
			}
			if st.PredicateType != tc.predicate || !reflect.DeepEqual(names, tc.names) ||
				!reflect.DeepEqual(st.Manifest.IgnorePaths, tc.ignorePath) {
				t.Errorf("got %s %q ignore %q", st.PredicateType, names, st.Manifest.IgnorePaths)
			}
			want := manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}
			if st.Manifest.Serialization != want {
				t.Errorf("serialization %+v", st.Manifest.Serialization)
			}
			// The recorded subject digest comes with a native statement
			// (SHA-256 over the digests in payload order); compat records none.
			sum := st.Manifest.SubjectDigest()
			if native := tc.predicate == PredicateSignatureV1; native && !bytes.Equal(st.SubjectDigest, sum[:]) || !native && st.SubjectDigest != nil {
				t.Errorf("subject digest %x (manifest's: %x)", st.SubjectDigest, sum)
			}
		})
	}
}

func TestParseStatementAccepts(t *testing.T) {
	tests := []struct {
		name  string
		stmt  map[string]any
		check func(t *testing.T, m *manifest.Manifest)
	}{
		{"files sha256", twoFiles(t), func(t *testing.T, m *manifest.Manifest) {
			if len(m.Resources) != 2 || m.Resources[1].Path != "dir/b" || m.Resources[1].Shard {
				t.Errorf("resources %+v", m.Resources)
			}
		}},
		{"payload order is kept, never re-sorted", nativeStmt(t, filesSer("sha256"), res{"z", "sha256", hexA}, res{"a", "sha256", hexB}), func(t *testing.T, m *manifest.Manifest) {
			if m.Resources[0].Path != "z" {
				t.Errorf("resources %+v", m.Resources)
			}
		}},
		{"uppercase hex", nativeStmt(t, filesSer("sha256"), res{"a", "sha256", strings.ToUpper(hexA)}), nil},
		{"blake2b", nativeStmt(t, filesSer("blake2b"), res{"a", "blake2b", hexB2}), func(t *testing.T, m *manifest.Manifest) {
			if m.Serialization.HashType != manifest.BLAKE2b || len(m.Resources[0].Digest) != 64 {
				t.Errorf("%+v", m)
			}
		}},
		{"blake3 allow_symlinks", func() map[string]any {
			s := nativeStmt(t, filesSer("blake3"), res{"a", "blake3", hexA})
			ser(s)["allow_symlinks"] = true
			return s
		}(), func(t *testing.T, m *manifest.Manifest) {
			if !m.Serialization.AllowSymlinks {
				t.Error("allow_symlinks lost")
			}
		}},
		{"shards, OMS algorithm and int size, colon in path", nativeStmt(t, shardsSer("sha256", 8),
			res{"a:b:0:8", "sha256", hexA}, res{"a:b:8:11", "sha256", hexB}), func(t *testing.T, m *manifest.Manifest) {
			r := m.Resources[1]
			if m.Serialization.ShardSize != 8 || r.Path != "a:b" || !r.Shard || r.Start != 8 || r.End != 11 {
				t.Errorf("%+v", m)
			}
		}},
		{"shards, Python algorithm and float size", nativeStmt(t, shardsSer("blake2b", 1000000000.0),
			res{"w.bin:0:1000000000", "blake2b-sharded-1000000000", hexB2}), func(t *testing.T, m *manifest.Manifest) {
			if m.Serialization.ShardSize != 1000000000 {
				t.Errorf("%+v", m.Serialization)
			}
		}},
		{"several shards of a single file", nativeStmt(t, shardsSer("sha256", 4), res{".:0:4", "sha256", hexA}, res{".:4:5", "sha256", hexB}), nil},
		{"single file", nativeStmt(t, filesSer("sha256"), res{".", "sha256", hexA}), nil},
		{"empty model", nativeStmt(t, filesSer("sha256")), func(t *testing.T, m *manifest.Manifest) {
			if len(m.Resources) != 0 {
				t.Errorf("%+v", m)
			}
		}},
		{"unknown fields ignored, shard_size ignored for files", func() map[string]any {
			s := twoFiles(t)
			s["future"] = 1
			pred(s)["extra"] = []any{}
			ser(s)["shard_size"] = "whatever"
			return s
		}(), nil},
		{"ignore_paths recorded, sorted", func() map[string]any {
			s := twoFiles(t)
			ser(s)["ignore_paths"] = []any{"z", "model.sig", ".git"}
			return s
		}(), func(t *testing.T, m *manifest.Manifest) {
			if !reflect.DeepEqual(m.IgnorePaths, []string{".git", "model.sig", "z"}) {
				t.Errorf("ignore %q", m.IgnorePaths)
			}
		}},
		{"unicode and spaces in names", nativeStmt(t, filesSer("sha256"), res{"mödel weights/ä b.bin", "sha256", hexA}), nil},
		{"compat Digests/v0.1", map[string]any{
			"_type": StatementTypeV1, "predicateType": PredicateDigestsV01,
			"subject": []any{
				map[string]any{"name": "b", "digest": map[string]any{"sha256": hexB}, "annotations": map[string]any{"actual_hash_algorithm": "file-sha256"}},
				map[string]any{"name": "a", "digest": map[string]any{"sha256": hexA}},
			},
			"predicate": map[string]any{"unused": "Unused, just passed due to API requirements"},
		}, func(t *testing.T, m *manifest.Manifest) {
			if len(m.Resources) != 2 || m.Resources[0].Path != "b" || m.Serialization.Method != manifest.Files {
				t.Errorf("%+v", m)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseStatement(PayloadTypeInToto, mustJSON(t, tc.stmt))
			if err != nil {
				t.Fatalf("ParseStatement: %v", err)
			}
			if tc.check != nil {
				tc.check(t, st.Manifest)
			}
		})
	}
}

// stmtCase is a statement that ParseStatement must refuse with want.
type stmtCase struct {
	name string
	data []byte
	want string
}

func rejectCases(t testing.TB) []stmtCase {
	js := func(v any) []byte { return mustJSON(t, v) }
	with := func(f func(s map[string]any)) []byte {
		s := twoFiles(t)
		f(s)
		return js(s)
	}
	named := func(names ...string) []byte {
		var rs []res
		for i, n := range names {
			rs = append(rs, res{n, "sha256", []string{hexA, hexB}[i%2]})
		}
		return js(nativeStmt(t, filesSer("sha256"), rs...))
	}
	shardNamed := func(names ...string) []byte {
		var rs []res
		for _, n := range names {
			rs = append(rs, res{n, "sha256", hexA})
		}
		return js(nativeStmt(t, shardsSer("sha256", 8), rs...))
	}
	return []stmtCase{
		{"not UTF-8", []byte("{\"_type\": \"\xff\"}"), "not valid UTF-8"},
		{"not JSON", []byte("nope"), "not valid JSON"},
		{"duplicate key", bytes.Replace(js(twoFiles(t)), []byte(`"method":"files"`), []byte(`"method":"files","method":"shards"`), 1), `duplicate object key "method"`},
		{"wrong _type", with(func(s map[string]any) { s["_type"] = "https://in-toto.io/Statement/v0.1" }), `_type "https://in-toto.io/Statement/v0.1" is not https://in-toto.io/Statement/v1`},
		{"missing _type", with(func(s map[string]any) { delete(s, "_type") }), "_type is missing"},
		{"unknown predicate", with(func(s map[string]any) { s["predicateType"] = "https://slsa.dev/provenance/v1" }), `unsupported predicate type "https://slsa.dev/provenance/v1"`},
		{"v0.1 API predicate", with(func(s map[string]any) { s["predicateType"] = "https://model_signing/DigestOfShardDigests/v0.1" }), `unsupported predicate type "https://model_signing/DigestOfShardDigests/v0.1"`},
		{"zero subjects", with(func(s map[string]any) { s["subject"] = []any{} }), "statement has 0 subjects; exactly one is required"},
		{"two subjects", with(func(s map[string]any) { s["subject"] = append(s["subject"].([]any), s["subject"].([]any)[0]) }), "statement has 2 subjects; exactly one is required"},
		{"subject without digest", with(func(s map[string]any) { s["subject"] = []any{map[string]any{"name": "m"}} }), "subject[0] has no digest"},
		{"subject digest mismatch", with(func(s map[string]any) {
			s["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": hexA}
		}), "manifest is inconsistent: subject digest " + hexA + " does not match the resources"},
		{"resources reordered after signing", with(func(s map[string]any) {
			r := pred(s)["resources"].([]any)
			r[0], r[1] = r[1], r[0]
		}), "manifest is inconsistent"},
		{"no predicate", with(func(s map[string]any) { delete(s, "predicate") }), "predicate is missing"},
		{"no serialization", with(func(s map[string]any) { delete(pred(s), "serialization") }), "predicate.serialization is missing"},
		{"no resources", with(func(s map[string]any) { delete(pred(s), "resources") }), "predicate.resources is missing"},
		{"unknown method", with(func(s map[string]any) { ser(s)["method"] = "chunks" }), `unknown serialization method "chunks"`},
		{"unknown hash", with(func(s map[string]any) { ser(s)["hash_type"] = "md5" }), `unsupported hash_type "md5"`},
		{"blake2 alias is not a recorded hash_type", with(func(s map[string]any) { ser(s)["hash_type"] = "blake2" }), `unsupported hash_type "blake2"`},
		{"allow_symlinks not bool", with(func(s map[string]any) { ser(s)["allow_symlinks"] = "false" }), "serialization.allow_symlinks is not true or false"},
		{"ignore_paths entry not a string", with(func(s map[string]any) { ser(s)["ignore_paths"] = []any{"a", 1} }), "predicate.serialization.ignore_paths[1] is not a string"},
		{"algorithm does not match hash_type", js(nativeStmt(t, filesSer("sha256"), res{"a", "blake2b", hexA})), `resource "a": algorithm "blake2b" does not match hash_type "sha256"`},
		{"sharded algorithm in files mode", js(nativeStmt(t, filesSer("sha256"), res{"a", "sha256-sharded-8", hexA})), `algorithm "sha256-sharded-8" does not match hash_type "sha256"`},
		{"sharded algorithm with another size", js(nativeStmt(t, shardsSer("sha256", 8), res{"a:0:8", "sha256-sharded-9", hexA})), `algorithm "sha256-sharded-9" does not match hash_type "sha256"`},
		{"digest too short", js(nativeStmt(t, filesSer("blake2b"), res{"a", "blake2b", hexA})), "digest has 32 bytes; blake2b digests have 64"},
		{"digest not hex", func() []byte {
			s := twoFiles(t)
			pred(s)["resources"].([]any)[0].(map[string]any)["digest"] = "zz"
			return js(s)
		}(), `digest "zz" is not hex`},
		{"missing name", func() []byte {
			s := twoFiles(t)
			delete(pred(s)["resources"].([]any)[0].(map[string]any), "name")
			return js(s)
		}(), "predicate.resources[0].name is missing"},
		{"shard_size missing", js(nativeStmt(t, map[string]any{"method": "shards", "hash_type": "sha256"})), "shard_size is missing"},
		{"shard_size zero", js(nativeStmt(t, shardsSer("sha256", 0))), "shard_size 0 is not positive"},
		{"shard_size negative", js(nativeStmt(t, shardsSer("sha256", -8))), "shard_size -8 is not positive"},
		{"shard_size fractional", js(nativeStmt(t, shardsSer("sha256", 1.5))), "shard_size 1.5 is not a positive integer"},
		{"shard_size huge", js(nativeStmt(t, shardsSer("sha256", 1e300))), "is not a positive integer"},
		{"shard_size string", js(nativeStmt(t, shardsSer("sha256", "8"))), "shard_size is not a number"},
		{"empty name", named(""), `name "" is empty`},
		{"absolute name", named("/etc/passwd"), `name "/etc/passwd" is absolute`},
		{"parent escape", named("../x"), `name "../x" has a ".." component`},
		{"inner parent", named("a/../../b"), `has a ".." component`},
		{"dot prefix", named("./a"), `name "./a" is not a clean relative path`},
		{"double slash", named("a//b"), "is not a clean relative path"},
		{"trailing slash", named("a/"), "is not a clean relative path"},
		{"NUL", named("a\x00b"), `name "a\x00b" contains a control character`},
		{"newline", named("a\nb"), "contains a control character"},
		{"DEL", named("a\x7f"), "contains a control character"},
		{"C1 control", named("a\u0085"), "contains a control character"},
		{"unpaired surrogate", []byte(strings.Replace(string(named("PLACEHOLDER")), "PLACEHOLDER", `\ud800`, 1)), "invalid surrogate pair"},
		{"duplicate names", named("a", "b", "a"), `resource "a" is listed more than once`},
		{"dot with other files", named(".", "a"), `resource "." (a single-file model) is listed together with other resources`},
		{"two dots", named(".", "."), `resource "." is listed more than once`},
		{"shard name without range", shardNamed("a:0"), `shard name "a:0" is not path:start:end`},
		{"shard name plain", shardNamed("a"), "is not path:start:end"},
		{"shard start not a number", shardNamed("a:x:8"), "has a start or end that is not a decimal number"},
		{"shard leading zero", shardNamed("a:08:16"), "not a decimal number"},
		{"shard negative", shardNamed("a:-1:8"), "not a decimal number"},
		{"shard empty range", shardNamed("a:8:8"), "has start >= end"},
		{"shard parent escape", shardNamed("../a:0:8"), `has a ".." component`},
		{"shard empty path", shardNamed(":0:8"), `name ":0:8" is empty`},
		{"duplicate shard", shardNamed("a:0:8", "a:0:8"), `resource "a:0:8" is listed more than once`},
		{"compat escape", js(map[string]any{
			"_type": StatementTypeV1, "predicateType": PredicateDigestsV01,
			"subject": []any{map[string]any{"name": "../x", "digest": map[string]any{"sha256": hexA}}},
		}), `subject[0]: name "../x" has a ".." component`},
		{"compat short digest", js(map[string]any{
			"_type": StatementTypeV1, "predicateType": PredicateDigestsV01,
			"subject": []any{map[string]any{"name": "x", "digest": map[string]any{"sha256": "abcd"}}},
		}), "digest has 2 bytes; sha256 digests have 32"},
	}
}

func TestParseStatementRejects(t *testing.T) {
	for _, tc := range rejectCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseStatement(PayloadTypeInToto, tc.data)
			if err == nil {
				t.Fatalf("accepted: %+v", st.Manifest)
			}
			if !strings.HasPrefix(err.Error(), "signed statement: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("wrong payload type", func(t *testing.T) {
		_, err := ParseStatement("application/json", mustJSON(t, twoFiles(t)))
		if want := `payload type "application/json" is not application/vnd.in-toto+json`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	})
}

func TestBuildStatementLayout(t *testing.T) {
	digest := func(h string) []byte { d, _ := hex.DecodeString(h); return d }
	m := &manifest.Manifest{
		Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.SHA256, ShardSize: 8},
		Resources: []manifest.Resource{
			{Path: "d/<f>&", Shard: true, Start: 0, End: 8, Digest: digest(hexA)},
			{Path: "d/<f>&", Shard: true, Start: 8, End: 9, Digest: digest(hexB)},
		},
		IgnorePaths: []string{".git", "model.sig"},
	}
	got, err := BuildStatement(m, "my model")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "_type": "https://in-toto.io/Statement/v1",
  "subject": [
    {
      "name": "my model",
      "digest": {
        "sha256": "` + subjectOf(t, []res{{digest: hexA}, {digest: hexB}}) + `"
      }
    }
  ],
  "predicateType": "https://model_signing/signature/v1.0",
  "predicate": {
    "serialization": {
      "method": "shards",
      "hash_type": "sha256",
      "allow_symlinks": false,
      "shard_size": 8,
      "ignore_paths": [
        ".git",
        "model.sig"
      ]
    },
    "resources": [
      {
        "name": "d/<f>&:0:8",
        "algorithm": "sha256",
        "digest": "` + hexA + `"
      },
      {
        "name": "d/<f>&:8:9",
        "algorithm": "sha256",
        "digest": "` + hexB + `"
      }
    ]
  }
}`
	if string(got) != want {
		t.Errorf("BuildStatement =\n%s\nwant\n%s", got, want)
	}
	st, err := ParseStatement(PayloadTypeInToto, got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Manifest, m) || st.SubjectName != "my model" {
		t.Errorf("round trip: %+v", st)
	}

	// Files: no shard_size, no ignore_paths when there are none.
	files := &manifest.Manifest{
		Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.BLAKE3, AllowSymlinks: true},
		Resources:     []manifest.Resource{{Path: "a", Digest: digest(hexA)}},
	}
	got, err = BuildStatement(files, "m")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("shard_size")) || bytes.Contains(got, []byte("ignore_paths")) ||
		!bytes.Contains(got, []byte(`"allow_symlinks": true`)) || !bytes.Contains(got, []byte(`"algorithm": "blake3"`)) {
		t.Errorf("files statement:\n%s", got)
	}
}

func TestBuildStatementRefuses(t *testing.T) {
	d32 := bytes.Repeat([]byte{1}, 32)
	files := manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}
	tests := []struct {
		name string
		m    *manifest.Manifest
		want string
	}{
		{"nil", nil, "no manifest"},
		{"control character", &manifest.Manifest{Serialization: files, Resources: []manifest.Resource{{Path: "a\nb", Digest: d32}}}, `file name "a\nb" contains a control character`},
		{"parent", &manifest.Manifest{Serialization: files, Resources: []manifest.Resource{{Path: "../a", Digest: d32}}}, `has a ".." component`},
		{"invalid UTF-8", &manifest.Manifest{Serialization: files, Resources: []manifest.Resource{{Path: "a\xff", Digest: d32}}}, "not valid UTF-8"},
		{"short digest", &manifest.Manifest{Serialization: files, Resources: []manifest.Resource{{Path: "a", Digest: d32[:5]}}}, `resource "a" does not fit the serialization`},
		{"shard in files mode", &manifest.Manifest{Serialization: files, Resources: []manifest.Resource{{Path: "a", Shard: true, End: 1, Digest: d32}}}, "does not fit the serialization"},
		{"shards without size", &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.SHA256}}, "shard size 0 does not fit the shards method"},
		{"unknown method", &manifest.Manifest{Serialization: manifest.Serialization{Method: "x", HashType: manifest.SHA256}}, `unknown serialization method "x"`},
		{"unknown hash", &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Files, HashType: "md5"}}, `unsupported hash type "md5"`},
		{"ignore path not UTF-8", &manifest.Manifest{Serialization: files, IgnorePaths: []string{"\xff"}}, "ignore path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildStatement(tc.m, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestModelName(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"/models/llama", "llama"},
		{"/models/llama/", "llama"},
		{"models/w.gguf", "w.gguf"},
		{".", filepath.Base(cwd)},
		{"", filepath.Base(cwd)},
		{"..", filepath.Base(filepath.Dir(cwd))},
		{"a/..", filepath.Base(cwd)},
	}
	for _, tc := range tests {
		if got := ModelName(tc.in); got != tc.want {
			t.Errorf("ModelName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseStatement(f *testing.F) {
	f.Add(mustJSON(f, twoFiles(f)))
	f.Add(mustJSON(f, nativeStmt(f, shardsSer("blake2b", 8.0), res{"a:b:0:8", "blake2b-sharded-8", hexB2})))
	for _, c := range rejectCases(f) {
		f.Add(c.data)
	}
	for _, name := range []string{"v0.2.0-certificate", "v1.0.0-elliptic-key", "v1.1.0-elliptic-key"} {
		data, err := os.ReadFile(refSeed(name, "model.sig"))
		if err != nil {
			continue
		}
		var b struct{ DSSEEnvelope struct{ Payload string } }
		if json.Unmarshal(data, &b) == nil {
			if p, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload); err == nil {
				f.Add(p)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatement(PayloadTypeInToto, data)
		if err != nil {
			return
		}
		m := st.Manifest
		for _, r := range m.Resources {
			if checkName(r.Path) != nil || len(r.Digest) != m.Serialization.HashType.Size() ||
				r.Shard != (m.Serialization.Method == manifest.Shards) || (r.Shard && (r.Start < 0 || r.Start >= r.End)) {
				t.Fatalf("accepted bad resource %+v", r)
			}
		}
		// What was accepted must survive a write and a re-read unchanged,
		// and be written as encoding/json would write it.
		out, err := BuildStatement(m, st.SubjectName)
		if err != nil {
			t.Fatalf("accepted statement does not rebuild: %v", err)
		}
		if want := referenceStatement(t, m, st.SubjectName, StatementOptions{}); !bytes.Equal(out, want) {
			t.Fatalf("BuildStatement =\n%s\nencoding/json writes\n%s", out, want)
		}
		st2, err := ParseStatement(PayloadTypeInToto, out)
		if err != nil {
			t.Fatalf("rebuilt statement does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(st2.Manifest, m) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, st2.Manifest)
		}
	})
}

// TestLibraryShardForm: with the option, shard resources name their
// algorithm as the model_signing library does (its API compares that
// string and cannot verify the OMS form); files are unaffected, and
// modelgate verifies what it signed either way.
func TestLibraryShardForm(t *testing.T) {
	digest := func(h string) []byte { d, _ := hex.DecodeString(h); return d }
	shards := &manifest.Manifest{
		Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.BLAKE2b, ShardSize: 1000000000},
		Resources: []manifest.Resource{
			{Path: "w.bin", Shard: true, Start: 0, End: 1000000000, Digest: digest(hexB2)},
			{Path: "w.bin", Shard: true, Start: 1000000000, End: 1000000001, Digest: digest(hexB2)},
		},
	}
	files := &manifest.Manifest{
		Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256},
		Resources:     []manifest.Resource{{Path: "a", Digest: digest(hexA)}},
	}
	for _, tc := range []struct {
		name    string
		m       *manifest.Manifest
		library bool
		want    string
	}{
		{"shards, OMS form (default)", shards, false, `"algorithm": "blake2b",`},
		{"shards, library form", shards, true, `"algorithm": "blake2b-sharded-1000000000",`},
		{"files, library form changes nothing", files, true, `"algorithm": "sha256",`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := BuildStatementWith(tc.m, "m", StatementOptions{LibraryShardForm: tc.library})
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(out, []byte(tc.want)); n != len(tc.m.Resources) {
				t.Errorf("%d of %d resources have %s:\n%s", n, len(tc.m.Resources), tc.want, out)
			}
			if tc.m.Serialization.Method == manifest.Shards && !bytes.Contains(out, []byte("\"shard_size\": 1000000000\n")) {
				t.Errorf("shard_size not written as an integer:\n%s", out)
			}
			st, err := ParseStatement(PayloadTypeInToto, out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st.Manifest.Resources, tc.m.Resources) {
				t.Errorf("round trip: %+v", st.Manifest.Resources)
			}
		})
	}

	t.Run("Sign and Verify", func(t *testing.T) {
		ctx := t.Context()
		sc := signerCases(t)[0]
		model := testpki.Model(t, map[string]string{"w.bin": "0123456789", "x": "xyz"})
		ser := manifest.Serialization{Method: manifest.Shards, HashType: manifest.SHA256, ShardSize: 4}
		res, err := Sign(ctx, model, sc.signer, SignOptions{Serialization: ser, LibraryShardForm: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadBundle(res.SignaturePath)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b.Envelope.Payload, []byte(`"algorithm": "sha256-sharded-4"`)); n != 4 {
			t.Errorf("%d shards in the library form, want 4:\n%s", n, b.Envelope.Payload)
		}
		if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{}); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

// referenceStatement is BuildStatementWith as it was first written, with
// encoding/json and structs: what the direct writer must reproduce byte
// for byte (the layout of the reference library). m must be valid.
func referenceStatement(t testing.TB, m *manifest.Manifest, modelName string, opts StatementOptions) []byte {
	t.Helper()
	type resourceJSON struct {
		Name      string `json:"name"`
		Algorithm string `json:"algorithm"`
		Digest    string `json:"digest"`
	}
	type serializationJSON struct {
		Method        string   `json:"method"`
		HashType      string   `json:"hash_type"`
		AllowSymlinks bool     `json:"allow_symlinks"`
		ShardSize     int64    `json:"shard_size,omitempty"`
		IgnorePaths   []string `json:"ignore_paths,omitempty"`
	}
	type subjectJSON struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	type predicateJSON struct {
		Serialization serializationJSON `json:"serialization"`
		Resources     []resourceJSON    `json:"resources"`
	}
	type statementJSON struct {
		Type          string        `json:"_type"`
		Subject       []subjectJSON `json:"subject"`
		PredicateType string        `json:"predicateType"`
		Predicate     predicateJSON `json:"predicate"`
	}
	s := m.Serialization
	st := statementJSON{
		Type:          StatementTypeV1,
		PredicateType: PredicateSignatureV1,
		Predicate: predicateJSON{
			Serialization: serializationJSON{Method: string(s.Method), HashType: string(s.HashType), AllowSymlinks: s.AllowSymlinks, IgnorePaths: m.IgnorePaths},
			Resources:     []resourceJSON{},
		},
	}
	algorithm := string(s.HashType)
	if s.Method == manifest.Shards {
		st.Predicate.Serialization.ShardSize = s.ShardSize
		if opts.LibraryShardForm {
			algorithm = libraryShardAlgorithm(s)
		}
	}
	for _, r := range m.Resources {
		st.Predicate.Resources = append(st.Predicate.Resources, resourceJSON{Name: r.Name(), Algorithm: algorithm, Digest: hex.EncodeToString(r.Digest)})
	}
	d := m.SubjectDigest()
	st.Subject = []subjectJSON{{Name: modelName, Digest: map[string]string{"sha256": hex.EncodeToString(d[:])}}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestBuildStatementMatchesEncodingJSON: the direct writer produces
// exactly what encoding/json writes for the same statement, for names
// and strings that are plain, escaped, or left alone only by
// encoding/json's own rules (HTML characters, U+2028, invalid UTF-8 in
// the model name), for files and shards, with and without ignore paths.
func TestBuildStatementMatchesEncodingJSON(t *testing.T) {
	digest := func(h string) []byte { d, _ := hex.DecodeString(h); return d }
	files := manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}
	odd := []string{"plain/name.bin", `quote"d`, `back\slash`, "<html>&amp;", "mödel/ä b", "line\u2028sep\u2029para"}
	var rs []manifest.Resource
	for _, n := range odd {
		rs = append(rs, manifest.Resource{Path: n, Digest: digest(hexA)})
	}
	tests := []struct {
		name      string
		m         *manifest.Manifest
		modelName string
		opts      StatementOptions
	}{
		{"odd names", &manifest.Manifest{Serialization: files, Resources: rs}, "model", StatementOptions{}},
		{"odd model name", &manifest.Manifest{Serialization: files, Resources: rs[:1]}, "m\x00\"\\\n\xff\u2028<>&é", StatementOptions{}},
		{"ignore paths with escapes", &manifest.Manifest{Serialization: files, Resources: rs[:1], IgnorePaths: []string{".git", "a\nb", `c"d`, "\x7f\x01"}}, "m", StatementOptions{}},
		{"empty model", &manifest.Manifest{Serialization: files}, "m", StatementOptions{}},
		{"empty ignore paths", &manifest.Manifest{Serialization: files, Resources: rs[:1], IgnorePaths: []string{}}, "m", StatementOptions{}},
		{"blake2b, symlinks", &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.BLAKE2b, AllowSymlinks: true}, Resources: []manifest.Resource{{Path: "a", Digest: digest(hexB2)}}}, "m", StatementOptions{}},
		{"shards", &manifest.Manifest{
			Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.BLAKE3, ShardSize: 1 << 40},
			Resources: []manifest.Resource{
				{Path: `a"b`, Shard: true, Start: 0, End: 1 << 40, Digest: digest(hexA)},
				{Path: `a"b`, Shard: true, Start: 1 << 40, End: 1<<40 + 1, Digest: digest(hexB)},
				{Path: ".", Shard: true, Start: 0, End: 9_223_372_036_854_775_807, Digest: digest(hexB)},
			},
		}, "m", StatementOptions{}},
		{"shards, library form", &manifest.Manifest{
			Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.SHA256, ShardSize: 8},
			Resources:     []manifest.Resource{{Path: "w", Shard: true, Start: 0, End: 8, Digest: digest(hexA)}},
		}, "m", StatementOptions{LibraryShardForm: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BuildStatementWith(tc.m, tc.modelName, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceStatement(t, tc.m, tc.modelName, tc.opts); !bytes.Equal(got, want) {
				t.Errorf("BuildStatementWith =\n%s\nencoding/json writes\n%s", got, want)
			}
		})
	}
}
