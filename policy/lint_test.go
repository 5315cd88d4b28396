package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
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
		`signers.loose.public_key: trust file "` + loose + `" is writable by group or others (mode -rw-rw-rw-): whoever can change it chooses whom signer "loose" trusts`,
		`signers.nobody: signer "nobody" is not used by any entry`,
		`models/file-dir" is a directory: write the key with a trailing '/'`,
		`models/tiny.gguf" is a file, not a directory: remove the trailing '/'`,
		`models/missing" does not exist (yet)`,
		`resolves to "` + d + `/models": patterns are matched against canonical paths`,
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

// lintText lints the policy document d written as dir/name and returns
// the report's text.
func lintText(t *testing.T, dir, name string, d any) (*LintReport, string) {
	t.Helper()
	r, err := Lint(writeFile(t, dir, name, mustJSON(t, d)))
	if err != nil {
		t.Fatal(err)
	}
	return r, r.String()
}

// checkWarnings asserts that the report has exactly the warnings that
// contain each of want (one each, in any order).
func checkWarnings(t *testing.T, r *LintReport, want ...string) {
	t.Helper()
	all := r.String()
	for _, w := range want {
		if n := strings.Count(all, w); n != 1 {
			t.Errorf("lint report has %q %d times, want once", w, n)
		}
	}
	if len(r.Warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(r.Warnings), len(want), all)
	}
}

// TestLintGovernsNothing: a policy without models and loras loads, but
// lets everything through; one whose section is merely invalid is not
// reported as governing nothing.
func TestLintGovernsNothing(t *testing.T) {
	d := tempDir(t)
	r, _ := lintText(t, d, "none.json", doc(obj{}, nil, nil))
	if !r.OK() {
		t.Fatalf("errors: %v", r.Errors)
	}
	checkWarnings(t, r, `policy.signatures: neither "models" nor "loras": this policy governs nothing`)
	r, _ = lintText(t, d, "loras.json", doc(obj{}, nil, obj{}))
	checkWarnings(t, r, `empty section: every lora is denied`)
	bad := writeFile(t, d, "bad.json", []byte(`{"policy": {"signatures": {"signers": {}, "models": 5}}}`))
	r, err := Lint(bad)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || strings.Contains(r.String(), "governs nothing") {
		t.Errorf("invalid section:\n%s", r)
	}
}

// TestLintExactKeysThroughSymlinks: exact keys are never resolved
// (spec/policy.md §4.3), so lint warns about one that names a symlink or
// passes through one, and names the real path.
func TestLintExactKeysThroughSymlinks(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "models", "granite")
	symlink(t, filepath.Join(d, "models", "granite"), filepath.Join(d, "current"))
	symlink(t, filepath.Join(d, "models"), filepath.Join(d, "store"))
	symlink(t, filepath.Join(d, "nowhere"), filepath.Join(d, "dangling"))
	r, _ := lintText(t, d, "p.json", doc(skipSigners("s"), obj{
		{d + "/current/", obj{{"signer", "s"}}},
		{d + "/store/granite/", obj{{"signer", "s"}}},
		{d + "/store/later/", obj{{"signer", "s"}}},
		{d + "/dangling/", obj{{"signer", "s"}}},
		{d + "/models/./granite//", obj{{"signer", "s"}}},
		{d + "/models/granite/x/../", obj{{"signer", "s"}}}, // the same path once cleaned: an error
	}, nil))
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "names the same path") {
		t.Errorf("errors: %v", r.Errors)
	}
	checkWarnings(t, r,
		fmt.Sprintf(`exact key %q names a symlink: exact keys are never resolved, so this rule matches nothing; its real path is %q`, d+"/current/", d+"/models/granite"),
		fmt.Sprintf(`exact key %q passes through the symlink %q: exact keys are never resolved, so this rule matches nothing; its real path is %q`, d+"/store/granite/", d+"/store", d+"/models/granite"),
		fmt.Sprintf(`exact key %q passes through the symlink %q: exact keys are never resolved, so this rule matches nothing; its real path is %q`, d+"/store/later/", d+"/store", d+"/models/later"),
		fmt.Sprintf(`exact key %q names a symlink: exact keys are never resolved, so this rule matches nothing; its real path is a path that does not exist`, d+"/dangling/"),
		fmt.Sprintf(`exact key %q is taken as %q: keys are cleaned`, d+"/models/./granite//", d+"/models/granite"),
	)
}

// TestLintIgnorePaths: ignore_paths entries that can leave nothing out of
// verification are reported, each with its reason; useful ones are not.
func TestLintIgnorePaths(t *testing.T) {
	d := tempDir(t)
	granite := mkdir(t, d, "models", "granite")
	gguf := writeFile(t, d, "models/tiny.gguf", []byte("GGUF"))
	pub := writeECPublicKey(t, d, "pub.pem")
	team := "regex:" + reQuote(d) + "/models/team/[^/]+"
	r, _ := lintText(t, d, "p.json", doc(obj{{"k", obj{{"verification_method", "key"}, {"public_key", pub}}}}, obj{
		{granite + "/", obj{{"signer", "k"}, {"ignore_paths", []string{
			".", "./", "/", "..", "../x", "a/../../x", "a/../b", "/elsewhere/x", granite, granite + "/../other",
			"logs", "./logs", "a/b/", granite + "/logs", granite + "/../granite/logs",
		}}}},
		{team, obj{{"signer", "k"}, {"ignore_paths", []string{"/other/x", d + "/models/team/x/logs", "logs", d + "/models/teamwork"}}}},
		{"regex:(?i)" + reQuote(d) + "/models/mixed", obj{{"signer", "k"}, {"ignore_path", []string{"/other/x"}}}},
		{gguf, obj{{"signer", "k"}, {"ignore_paths", []string{"x"}}}},
	}, nil))
	if !r.OK() {
		t.Fatalf("errors: %v", r.Errors)
	}
	noEffect := "ignore paths can only leave out something inside the model, so it has no effect"
	g := func(p string) string { return fmt.Sprintf(`models[%q].ignore_paths: ignore path %q `, granite+"/", p) }
	checkWarnings(t, r,
		g(".")+"names the model itself: "+noEffect,
		g("./")+"names the model itself: "+noEffect,
		g("/")+"names the root folder: "+noEffect,
		g("..")+`leads out of the model with "..": `+noEffect,
		g("../x")+`leads out of the model with "..": `+noEffect,
		g("a/../../x")+`leads out of the model with "..": `+noEffect,
		g("a/../b")+`has a ".." component: it means "b"; write that`,
		g("/elsewhere/x")+fmt.Sprintf("is outside the model %q, so it has no effect", granite),
		g(granite)+"names the model itself: "+noEffect,
		g(granite+"/../other")+fmt.Sprintf("is outside the model %q, so it has no effect", granite),
		g(granite+"/../granite/logs")+fmt.Sprintf(`has a ".." component: it means %q; write that`, granite+"/logs"),
		fmt.Sprintf(`models[%q].ignore_paths: ignore path "/other/x" is outside every model this rule can apply to (their paths start with %q)`, team, d+"/models/team/"),
		fmt.Sprintf(`models[%q].ignore_paths: ignore path %q is outside every model this rule can apply to`, team, d+"/models/teamwork"),
		fmt.Sprintf(`ignore path "x" has no effect: %q is a single file`, gguf),
	)
}

// TestLintReplaceableFiles: the policy and its trust files must not be
// changeable by anyone but root and the current user: not writable by
// group or others, not in a folder they can write (unless it is sticky,
// like /tmp), not owned by another user.
func TestLintReplaceableFiles(t *testing.T) {
	d := tempDir(t)
	chmod := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	open := mkdir(t, d, "open")
	chmod(open, 0o777)
	sticky := mkdir(t, d, "sticky")
	chmod(sticky, os.ModeSticky|0o777)
	inOpen := writeECPublicKey(t, open, "k.pem")
	inSticky := writeECPublicKey(t, sticky, "k.pem")
	safe := writeECPublicKey(t, d, "safe.pem")
	groupWritable := writeECPublicKey(t, d, "group.pem")
	chmod(groupWritable, 0o664)
	symlink(t, inOpen, filepath.Join(d, "link.pem")) // the link is safe, its target is not
	ca := testpki.NewRoot(t, "root")
	chainOpen := filepath.Join(open, "ca.pem")
	testpki.WriteCerts(t, chainOpen, ca.Cert)
	chainSafe := filepath.Join(d, "ca.pem")
	testpki.WriteCerts(t, chainSafe, ca.Cert)
	key := func(file string) obj { return obj{{"verification_method", "key"}, {"public_key", file}} }
	signers := obj{
		{"open", key(inOpen)}, {"sticky", key(inSticky)}, {"safe", key(safe)}, {"group", key(groupWritable)},
		{"link", key(filepath.Join(d, "link.pem"))},
		{"chain", obj{{"verification_method", "certificate"}, {"certificate_chain", []string{chainSafe, chainOpen}}}},
	}
	var entries obj
	for _, s := range signers {
		entries = append(entries, kv{mkdir(t, d, "m", s.k) + "/", obj{{"signer", s.k}}})
	}
	policy := doc(signers, entries, nil)
	folder := fmt.Sprintf("can be changed by others: %q is a folder writable by group or others without the sticky bit (mode drwxrwxrwx)", open)
	r, _ := lintText(t, d, "p.json", policy)
	if !r.OK() {
		t.Fatalf("errors: %v", r.Errors)
	}
	checkWarnings(t, r,
		fmt.Sprintf(`signers.open.public_key: trust file %q %s: whoever can change it chooses whom signer "open" trusts`, inOpen, folder),
		fmt.Sprintf(`signers.group.public_key: trust file %q is writable by group or others (mode -rw-rw-r--)`, groupWritable),
		fmt.Sprintf(`signers.link.public_key: trust file %q %s`, filepath.Join(d, "link.pem"), folder),
		fmt.Sprintf(`signers.chain.certificate_chain[1]: trust file %q %s`, chainOpen, folder),
	)
	for _, w := range r.Warnings {
		if w.Line < 1 || w.Path == "" {
			t.Errorf("warning without position or path: %+v", w)
		}
	}

	// The policy file itself: in an open folder, or writable itself.
	r, _ = lintText(t, open, "p.json", doc(obj{}, obj{}, nil))
	checkWarnings(t, r, `empty section`, fmt.Sprintf(`p.json:1:1: the policy file %q %s: whoever can change it decides which models load`, filepath.Join(open, "p.json"), folder))
	p := writeFile(t, d, "loose.json", mustJSON(t, doc(obj{}, obj{}, nil)))
	chmod(p, 0o646)
	r, err := Lint(p)
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, r, `empty section`, fmt.Sprintf(`the policy file %q is writable by group or others (mode -rw-r--rw-)`, p))

	// Owned by someone else (needs root to arrange).
	other := writeECPublicKey(t, d, "other.pem")
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Logf("cannot give a file to another user (%v): ownership not tested", err)
		return
	}
	r, _ = lintText(t, d, "p.json", doc(obj{{"k", key(other)}}, obj{{d + "/m/", obj{{"signer", "k"}}}}, nil))
	checkWarnings(t, r, fmt.Sprintf(`trust file %q is owned by uid 65534, neither root nor the current user (uid %d)`, other, os.Geteuid()))
}
