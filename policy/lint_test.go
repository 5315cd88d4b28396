package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLintWarnings(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "models", "granite")
	mkdir(t, d, "models", "file-dir")
	writeFile(t, d, "models/tiny.gguf", []byte("GGUF"))
	symlink(t, filepath.Join(d, "models"), filepath.Join(d, "store"))
	pub := writeECPublicKey(t, d, "pub.pem")
	loose := writeECPublicKey(t, d, "loose.pem")
	if err := os.Chmod(loose, 0o666); err != nil {
		t.Fatal(err)
	}
	text := mustJSON(t, doc(obj{
		{"used", obj{{"verification_method", "key"}, {"public_key", pub}}},
		{"loose", obj{{"verification_method", "key"}, {"public_key", loose}}},
		{"unused", obj{{"verification_method", "skip"}}},
		{"nobody", obj{{"verification_method", "skip"}}},
	}, obj{
		{d + "/models/granite/", obj{{"signer", "used"}}},
		{d + "/models/file-dir", obj{{"signer", "used"}}},
		{d + "/models/tiny.gguf/", obj{{"signer", "loose"}}},
		{d + "/models/missing/", obj{{"signer", "used"}}},
		{"regex:" + reQuote(d) + "/models/a.*", obj{{"signer", "used"}}},
		{"regex:" + reQuote(d) + "/models/a.*", obj{{"signer", "used"}}}, // JSON duplicate: an error
		{"regex:" + reQuote(d) + "/store/.*", obj{{"signer", "used"}}},
		{"regex:models/.*", obj{{"signer", "used"}}},
		{"regex:/x{,3}", obj{{"signer", "used"}}},
		{"regex:(.*)", obj{{"signer", "used"}}},
		{"regex:/b", obj{{"signer", "used"}}},
	}, obj{
		{"regex:/.*", obj{{"signer", "unused"}}},
	}))
	path := writeFile(t, d, "policy.json", text)
	r, err := Lint(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "duplicate key") {
		t.Errorf("errors: %v", r.Errors)
	}
	wants := []string{
		`signers.loose.public_key: trust file ` + loose + ` is writable by group or others`,
		`signers.nobody: signer "nobody" is not used by any entry`,
		`models/file-dir is a directory: write the key with a trailing '/'`,
		`models/tiny.gguf is a file, not a directory: remove the trailing '/'`,
		`models/missing/ does not exist (yet)`,
		`resolves to ` + d + `/models: patterns are matched against canonical paths`,
		`"regex:models/.*"]: never matches: the pattern must match the whole canonical path, which is absolute`,
		`RE2 reads {,n} as literal text`,
		`"regex:/b"]: never applies: the earlier rule "regex:(.*)"`,
		`every path matched only by this rule loads without verification (signer "unused" skips)`,
	}
	all := r.String()
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("lint report lacks %q", w)
		}
	}
	if len(r.Warnings) != len(wants) {
		t.Errorf("%d warnings, want %d:\n%s", len(r.Warnings), len(wants), all)
	}
	for _, w := range r.Warnings {
		if w.Line < 1 || w.Path == "" || w.File != path {
			t.Errorf("warning without position or path: %+v", w)
		}
	}
	if strings.Contains(all, `signer "unused" is not used`) {
		t.Errorf("a signer used only in loras is reported unused")
	}
}

func TestLintCleanAndUnreadable(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	path := writeFile(t, d, "p.json", mustJSON(t, doc(skipSigners("s"), obj{{d + "/m/", obj{{"signer", "s"}}}}, nil)))
	r, err := Lint(path)
	if err != nil || !r.OK() || len(r.Warnings) != 0 {
		t.Fatalf("clean policy: %v %+v", err, r)
	}
	if r.Errors == nil || r.Warnings == nil {
		t.Errorf("empty lists must be non-nil (JSON [] rather than null)")
	}
	if _, err := Lint(filepath.Join(d, "none.json")); err == nil {
		t.Errorf("Lint of a missing file returned no error")
	}
	bad := writeFile(t, d, "bad.json", []byte("{"))
	if r, err := Lint(bad); err != nil || r.OK() || !strings.Contains(r.Errors[0].String(), "bad.json:1:2: invalid JSON") {
		t.Errorf("Lint of bad JSON: %v %+v", err, r)
	}
}

// TestLintEmptySection: only a section with no entries at all is reported
// as empty; one whose entries are all invalid is not empty, it has errors.
func TestLintEmptySection(t *testing.T) {
	d := tempDir(t)
	for _, tc := range []struct {
		name      string
		models    obj
		wantEmpty bool
	}{
		{"no entries", obj{}, true},
		{"only invalid entries", obj{{"relative/key", obj{{"signer", "s"}}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, d, "p.json", mustJSON(t, doc(skipSigners("s"), tc.models, nil)))
			r, err := Lint(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(r.String(), "empty section"); got != tc.wantEmpty {
				t.Errorf("empty-section warning = %v, want %v:\n%s", got, tc.wantEmpty, r)
			}
		})
	}
}

// TestMatchesEveryPath checks the shadowing analysis: it must recognise
// the usual catch-alls and never claim one that is not.
func TestMatchesEveryPath(t *testing.T) {
	for pattern, want := range map[string]bool{
		".*": true, ".+": true, "/.*": true, "(.*)": true, ".*/?": true, "^.*$": true, "(?s).*": true,
		"(?:.*)": true, ".*.*": true, "/.*|x": true, "/.+|x": false, ".*/?|/a": true, "(/.*)": true, "a|(/.*)": true, "x|.*": true, "[^\n]*": true, "(.+)?": true, ".{0,}": true,
		"/.*/.*": false, ".+.+": false, "/models/.*": false, ".": false, "..*x": false, "/.+": false,
		"a(^.*)": false, "[^a]*": false, "[a-z]*": false, ".*a": false, "(?i)/.*": true, `\/.*`: true,
	} {
		if got := matchesEveryPath(pattern); got != want {
			t.Errorf("matchesEveryPath(%q) = %v, want %v", pattern, got, want)
		}
	}
}
