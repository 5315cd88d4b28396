package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/modelgate/modelgate/manifest"
	"github.com/modelgate/modelgate/modelsig"
)

// TestDecideMatching checks spec/policy.md §4 steps 1-6 with skip signers,
// which need no cryptography: the rule that applies is the one named in
// the decision.
func TestDecideMatching(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "models", "granite")
	mkdir(t, d, "models", "a")
	mkdir(t, d, "models", "b")
	mkdir(t, d, "foo", "bar")
	mkdir(t, d, "baz1")
	writeFile(t, d, "baz2", []byte("gguf"))
	mkdir(t, d, "baz10")
	mkdir(t, d, "x")
	mkdir(t, d, "real")
	mkdir(t, d, "other")
	writeFile(t, d, "single.gguf", []byte("gguf"))
	symlink(t, filepath.Join(d, "models", "a"), filepath.Join(d, "link"))
	symlink(t, filepath.Join(d, "real"), filepath.Join(d, "keylink"))
	symlink(t, "granite", filepath.Join(d, "models", "relink"))

	q := reQuote(d)
	models := obj{
		{d + "/foo/bar/", obj{{"signer", "s-foobar"}}},
		{d + "/models/granite", obj{{"signer", "s-granite"}}},
		{d + "/models/a/", obj{{"signer", "s-a"}}},
		{d + "/keylink/", obj{{"signer", "s-keylink"}}},
		{d + "/single.gguf", obj{{"signer", "s-single"}}},
		{"regex:" + q + "/(baz1|baz2)(/)?", obj{{"signer", "s-baz"}}},
		{"regex:" + q + "/other/", obj{{"signer", "s-dirslash"}}},
		{"regex:" + q + "/models/.*", obj{{"signer", "s-models"}}},
	}
	names := []string{"s-foobar", "s-granite", "s-a", "s-keylink", "s-single", "s-baz", "s-dirslash", "s-models"}
	p := mustParse(t, d, doc(skipSigners(names...), models, nil), Options{WorkDir: d, Logger: quietOptions(nil).Logger})

	tests := []struct {
		name      string
		path      string
		rule      string // "" with code set: denied
		canonical string
		code      Code
	}{
		{"exact key with trailing slash, path without", d + "/foo/bar", d + "/foo/bar/", d + "/foo/bar", ""},
		{"exact key with trailing slash, path with", d + "/foo/bar/", d + "/foo/bar/", d + "/foo/bar", ""},
		{"exact key without trailing slash, path with", d + "/models/granite/", d + "/models/granite", d + "/models/granite", ""},
		{"relative path against the work dir", "foo/bar", d + "/foo/bar/", d + "/foo/bar", ""},
		{"dot-dot is cleaned", d + "/models/b/../granite", d + "/models/granite", d + "/models/granite", ""},
		{"symlinked input resolves to the exact key", d + "/link", d + "/models/a/", d + "/models/a", ""},
		{"relative symlink inside the tree", d + "/models/relink", d + "/models/granite", d + "/models/granite", ""},
		{"dot-dot after a symlink goes up from its target", d + "/link/../b", "regex:" + q + "/models/.*", d + "/models/b", ""},
		{"an exact key naming a symlink matches nothing (its target)", d + "/real", "", d + "/real", CodeNoRule},
		{"an exact key naming a symlink matches nothing (the link)", d + "/keylink", "", d + "/real", CodeNoRule},
		{"single-file model", d + "/single.gguf", d + "/single.gguf", d + "/single.gguf", ""},
		{"regex: directory without slash", d + "/baz1", "regex:" + q + "/(baz1|baz2)(/)?", d + "/baz1", ""},
		{"regex: directory with slash", d + "/baz1/", "regex:" + q + "/(baz1|baz2)(/)?", d + "/baz1", ""},
		{"regex: file", d + "/baz2", "regex:" + q + "/(baz1|baz2)(/)?", d + "/baz2", ""},
		{"regex is anchored at the end", d + "/baz10", "", d + "/baz10", CodeNoRule},
		{"regex sees the canonical path, not ../", d + "/baz1/../x", "", d + "/x", CodeNoRule},
		{"regex with a trailing slash matches a directory", d + "/other", "regex:" + q + "/other/", d + "/other", ""},
		{"first matching regex in file order", d + "/models/b", "regex:" + q + "/models/.*", d + "/models/b", ""},
		{"no rule", d + "/x", "", d + "/x", CodeNoRule},
		{"missing path", d + "/nope", "", "", CodeNotFound},
		{"missing relative org/name path is taken for a hub id", "nope/model", "", "", CodeNotLocal},
		{"file used as a directory", d + "/single.gguf/x", "", "", CodeNotFound},
		{"hugging face id", "ibm-granite/granite-3.1-8b-instruct", "", "", CodeNotLocal},
		{"hugging face id with a revision", "ibm-granite/granite@main", "", "", CodeNotLocal},
		{"URL", "hf://ibm-granite/granite", "", "", CodeNotLocal},
		{"dot-dot relative path is local", "../nope/x", "", "", CodeNotFound},
		{"three components are a local path", "a/b/c", "", "", CodeNotFound},
		{"a bare name is a missing local path", "gpt2", "", "", CodeNotFound},
		{"empty path", "", "", "", CodeNotFound},
		{"NUL in path", d + "/x\x00y", "", "", CodeError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(t, p, Model, tt.path)
			if got.CanonicalPath != tt.canonical {
				t.Errorf("canonical path = %q, want %q", got.CanonicalPath, tt.canonical)
			}
			if tt.code != "" {
				if got.Outcome != Denied || got.Code != tt.code {
					t.Fatalf("got %s/%s (%s), want denied/%s", got.Outcome, got.Code, got.Reason, tt.code)
				}
				if got.Rule != "" {
					t.Errorf("denied with rule %q", got.Rule)
				}
				return
			}
			if got.Outcome != Skipped || got.Rule != tt.rule {
				t.Fatalf("got %s rule %q (%s), want skipped by %q", got.Outcome, got.Rule, got.Reason, tt.rule)
			}
			if got.Method != "skip" || got.Signer == "" {
				t.Errorf("signer %q method %q", got.Signer, got.Method)
			}
		})
	}
}

// TestRegexWholeMatch checks the anchoring of spec/policy.md §3 on strings,
// independent of the file system.
func TestRegexWholeMatch(t *testing.T) {
	re, err := compilePattern("/tmp/(baz1|baz2)(/)?")
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		"/tmp/baz1": true, "/tmp/baz1/": true, "/tmp/baz2": true, "/tmp/baz2/": true,
		"/tmp/baz10": false, "/tmp/baz1/../etc": false, "/tmp/baz1//": false, "x/tmp/baz1": false,
		"/tmp/baz1\n": false, "/tmp/baz": false,
	} {
		if got := re.MatchString(s); got != want {
			t.Errorf("match %q = %v, want %v", s, got, want)
		}
	}
	// Alternation must not escape the anchors, and leftmost-first must
	// not stop at a shorter alternative.
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"/a|/ab", "/ab", true},
		{"/a|/b", "/a/x", false},
		{"/a|/b", "/x/b", false},
		{`\Q/a.b\E`, "/a.b", true},
		{`\Q/a.b`, "/a.b", true},
		{`\Q/a.b`, "/axb", false},
		{"(?i)/models/X", "/models/x", true},
		{"(?m)/a$", "/a\n", false},
		{"(?m)^/a", "/b\n/a", false},
	} {
		re, err := compilePattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := re.MatchString(c.s); got != c.want {
			t.Errorf("pattern %q on %q = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// TestFirstRegexWinsInFileOrder uses many regex rules that all match, in
// an order that is neither sorted nor what a Go map would give.
func TestFirstRegexWinsInFileOrder(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "model")
	var models obj
	var names []string
	order := []int{17, 3, 29, 1, 40, 8, 22, 35, 11, 5, 31, 2, 26, 14, 38, 19, 7, 33, 0, 24}
	for _, n := range order {
		name := fmt.Sprintf("s%02d", n)
		names = append(names, name)
		models = append(models, kv{fmt.Sprintf("regex:%s/model|/x%d", reQuote(d), n), obj{{"signer", name}}})
	}
	for i := 0; i < 20; i++ { // also: the order survives repeated loads
		p := mustParse(t, d, doc(skipSigners(names...), models, nil), quietOptions(nil))
		got := decide(t, p, Model, d+"/model")
		if got.Signer != "s17" || got.Rule != models[0].k {
			t.Fatalf("rule %q signer %q, want the first in the file (%q, s17)", got.Rule, got.Signer, models[0].k)
		}
	}
}

// TestExactBeatsRegex: an exact rule applies even after a regex that also
// matches (spec/policy.md §4 step 3 before step 4).
func TestExactBeatsRegex(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	models := obj{
		{"regex:.*", obj{{"signer", "any"}}},
		{d + "/m/", obj{{"signer", "exact"}}},
	}
	p := mustParse(t, d, doc(skipSigners("any", "exact"), models, nil), quietOptions(nil))
	if got := decide(t, p, Model, d+"/m"); got.Signer != "exact" {
		t.Fatalf("signer %q (%s), want exact", got.Signer, got.Reason)
	}
}

// TestSections: a missing section allows without verification; an empty
// one denies everything (spec/policy.md §4 steps 1 and 5).
func TestSections(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	tests := []struct {
		name        string
		models      obj
		loras       obj
		model, lora Outcome
		modelCode   Code
		loraCode    Code
	}{
		{"no sections", nil, nil, NotRequired, NotRequired, "", ""},
		{"empty models, no loras", obj{}, nil, Denied, NotRequired, CodeNoRule, ""},
		{"models only", obj{{d + "/m", obj{{"signer", "s"}}}}, nil, Skipped, NotRequired, "", ""},
		{"loras only", nil, obj{{d + "/m", obj{{"signer", "s"}}}}, NotRequired, Skipped, "", ""},
		{"empty loras", obj{{d + "/m", obj{{"signer", "s"}}}}, obj{}, Skipped, Denied, "", CodeNoRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, d, doc(skipSigners("s"), tt.models, tt.loras), quietOptions(nil))
			m, l := decide(t, p, Model, d+"/m"), decide(t, p, LoRA, d+"/m")
			if m.Outcome != tt.model || m.Code != tt.modelCode {
				t.Errorf("model: %s/%s, want %s/%s (%s)", m.Outcome, m.Code, tt.model, tt.modelCode, m.Reason)
			}
			if l.Outcome != tt.lora || l.Code != tt.loraCode {
				t.Errorf("lora: %s/%s, want %s/%s (%s)", l.Outcome, l.Code, tt.lora, tt.loraCode, l.Reason)
			}
			if p.Governs(Model) != (tt.models != nil) || p.Governs(LoRA) != (tt.loras != nil) {
				t.Errorf("Governs: model %v lora %v", p.Governs(Model), p.Governs(LoRA))
			}
		})
	}
	// Even a path that does not exist is allowed when its kind is not
	// governed: the policy says nothing about it.
	p := mustParse(t, d, doc(skipSigners(), nil, nil), quietOptions(nil))
	if got := decide(t, p, LoRA, "org/name"); got.Outcome != NotRequired {
		t.Errorf("ungoverned HF id: %s", got.Outcome)
	}
	if got := decide(t, p, Kind("adapter"), d+"/m"); got.Outcome != Denied || got.Code != CodeError {
		t.Errorf("unknown kind: %s/%s", got.Outcome, got.Code)
	}
}

// TestExactKeyAppearsAfterLoad: exact keys are compared with the
// canonical path at decision time, so a long-running gate sees a path
// created after the policy was loaded; a symlink created later never
// makes a key apply elsewhere, nor two keys collide.
func TestExactKeyAppearsAfterLoad(t *testing.T) {
	d := tempDir(t)
	models := obj{{d + "/later/", obj{{"signer", "s"}}}, {d + "/alias/", obj{{"signer", "t"}}}}
	p := mustParse(t, d, doc(skipSigners("s", "t"), models, nil), quietOptions(nil))
	if got := decide(t, p, Model, d+"/later"); got.Code != CodeNotFound {
		t.Fatalf("before: %s/%s", got.Outcome, got.Code)
	}
	mkdir(t, d, "later")
	if got := decide(t, p, Model, d+"/later"); got.Outcome != Skipped || got.Signer != "s" {
		t.Fatalf("after mkdir: %s/%s %s", got.Outcome, got.Code, got.Reason)
	}
	symlink(t, d+"/later", d+"/alias")
	for _, path := range []string{d + "/later", d + "/alias"} {
		if got := decide(t, p, Model, path); got.Outcome != Skipped || got.Signer != "s" || got.Rule != d+"/later/" {
			t.Errorf("%s after the alias symlink: %s/%s signer %q: %s", path, got.Outcome, got.Code, got.Signer, got.Reason)
		}
	}
}

// TestSymlinkCannotAimAnExactKey is the attack of issue 7.3: a skip rule
// for a scratch folder and a regex rule demanding a signature for every
// model. Whoever can replace the scratch folder by a symlink to a model
// must not get that model skipped: it is decided by the regex rule and
// verified, whichever name it is asked under.
func TestSymlinkCannotAimAnExactKey(t *testing.T) {
	d := tempDir(t)
	_, k, s := keySigner(t, d)
	srv := mkdir(t, d, "srv")
	models := mkdir(t, d, "models")
	unsigned := mkdir(t, models, "unsigned")
	writeFile(t, unsigned, "weights.bin", []byte("evil"))
	signed := mkdir(t, models, "signed")
	writeFile(t, signed, "weights.bin", []byte("good"))
	sign(t, s, signed, modelsig.SignOptions{IgnoreGitPaths: true})
	signers := obj{{"none", obj{{"verification_method", "skip"}}}, {"k", k}}
	entries := obj{
		{srv + "/scratch/", obj{{"signer", "none"}}},
		{srv + "/through/signed/", obj{{"signer", "none"}}},
		{"regex:" + reQuote(models) + "/.*", obj{{"signer", "k"}}},
	}
	p := mustParse(t, d, doc(signers, entries, nil), quietOptions(nil))

	for _, target := range []string{unsigned, signed} {
		scratch, through := srv+"/scratch", srv+"/through"
		for _, l := range []string{scratch, through} {
			_ = os.Remove(l)
		}
		symlink(t, target, scratch)               // the key names a symlink
		symlink(t, filepath.Dir(target), through) // the key passes through one
		wantOutcome := Verified
		if target == unsigned {
			wantOutcome = Denied
		}
		for _, path := range []string{scratch, scratch + "/", target, through + "/" + filepath.Base(target)} {
			got := decide(t, p, Model, path)
			if got.Rule != entries[2].k || got.Method != "key" || got.Outcome != wantOutcome {
				t.Errorf("%s -> %s: rule %q %s/%s, want the regex rule, %s: %s", path, target, got.Rule, got.Outcome, got.Code, wantOutcome, got.Reason)
			}
			if got.CanonicalPath != target {
				t.Errorf("%s: canonical path %q, want %q", path, got.CanonicalPath, target)
			}
		}
		// Explain says why the skip rules did not apply: both lead to the
		// signed model, only the scratch one to the unsigned.
		wantNotes := []string{fmt.Sprintf("exact key %q names a symlink to %q; exact keys are never resolved, so it does not apply", srv+"/scratch/", target)}
		if target == signed {
			wantNotes = append(wantNotes, fmt.Sprintf("exact key %q passes through the symlink %q and resolves to %q; exact keys are never resolved, so it does not apply", srv+"/through/signed/", through, target))
		}
		if e := p.Explain(Model, scratch); e.Action != "verify" || fmt.Sprint(e.Notes) != fmt.Sprint(wantNotes) {
			t.Errorf("explain %s: action %s notes %q, want %q", scratch, e.Action, e.Notes, wantNotes)
		}
	}
	// The symlinked key applies to nothing at all, and a denial for want
	// of a rule says why the key did not apply.
	p = mustParse(t, d, doc(signers, entries[:2], nil), quietOptions(nil))
	got := decide(t, p, Model, srv+"/scratch")
	if got.Code != CodeNoRule || !strings.Contains(got.Reason, fmt.Sprintf("exact key %q names a symlink to %q; exact keys are never resolved", srv+"/scratch/", signed)) {
		t.Errorf("no rule: %s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
	got = decide(t, p, Model, srv+"/through/signed")
	if got.Code != CodeNoRule || !strings.Contains(got.Reason, fmt.Sprintf("exact key %q passes through the symlink %q and resolves to %q", srv+"/through/signed/", srv+"/through", signed)) {
		t.Errorf("through: %s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
}

// TestDecisionLog checks spec/policy.md §5: one record per decision, its
// fields and its level.
func TestDecisionLog(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	var buf bytes.Buffer
	p := mustParse(t, d, doc(skipSigners("s"), obj{{d + "/m", obj{{"signer", "s"}}}}, nil), quietOptions(&buf))
	cases := []struct {
		kind  Kind
		path  string
		level string
		out   Outcome
	}{
		{Model, d + "/m", "WARN", Skipped},
		{Model, d + "/none", "ERROR", Denied},
		{LoRA, d + "/m", "INFO", NotRequired},
	}
	for _, c := range cases {
		buf.Reset()
		got := p.Decide(bg, c.kind, c.path)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("%s: %d log records, want 1:\n%s", c.path, len(lines), buf.String())
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] != c.level || rec["outcome"] != string(c.out) {
			t.Errorf("%s: level %v outcome %v, want %s %s", c.path, rec["level"], rec["outcome"], c.level, c.out)
		}
		for _, f := range []string{"kind", "path", "canonical_path", "rule", "signer", "method", "outcome", "reason", "files", "bytes", "duration"} {
			if _, ok := rec[f]; !ok {
				t.Errorf("%s: log record has no %q: %v", c.path, f, rec)
			}
		}
		if (rec["code"] != nil) != (got.Outcome == Denied) {
			t.Errorf("%s: code field %v for outcome %s", c.path, rec["code"], got.Outcome)
		}
		if rec["path"] != c.path || rec["reason"] != got.Reason {
			t.Errorf("%s: logged path %v reason %v", c.path, rec["path"], rec["reason"])
		}
	}
}

// TestDecisionJSON checks the stable JSON form of cli.md --output json.
func TestDecisionJSON(t *testing.T) {
	dd := Decision{Kind: Model, Path: "m", CanonicalPath: "/m", Rule: "/m/", Signer: "s", Method: "certificate",
		Signature: "/m/model.sig", Outcome: Verified, Reason: "ok", Files: 2, Bytes: 10, Duration: 1500 * 1000, Fingerprints: []string{"AA:BB"}}
	b, err := json.Marshal(dd)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"model","path":"m","canonical_path":"/m","rule":"/m/","signer":"s","method":"certificate","signature":"/m/model.sig","subject_digest":"","outcome":"verified","reason":"ok","files":2,"bytes":10,"duration_ms":1.5,"fingerprints":["AA:BB"]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	// Every field a script may read is always present (issue 7.14):
	// signature and subject_digest too, empty when nothing was read.
	b, _ = json.Marshal(Decision{Kind: LoRA, Path: "x", Outcome: Denied, Code: CodeNoRule, Reason: "r"})
	for _, f := range []string{`"canonical_path":""`, `"rule":""`, `"signer":""`, `"method":""`, `"signature":""`, `"subject_digest":""`, `"code":"no-rule"`} {
		if !strings.Contains(string(b), f) {
			t.Errorf("denial JSON %s lacks %s", b, f)
		}
	}
	dd.SubjectDigest = "sha256:" + hexA
	if b, _ = json.Marshal(dd); !strings.Contains(string(b), `"subject_digest":"sha256:`+hexA+`"`) {
		t.Errorf("JSON %s lacks the subject digest", b)
	}
}

// TestTrustRootFailureDenies: a sigstore signer without trust_config
// needs the production root; failing to get it denies (and is retried),
// and a success is cached.
func TestTrustRootFailureDenies(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	writeFile(t, d, "m/model.sig", []byte("{}"))
	signers := obj{{"ss", obj{{"verification_method", "sigstore"}, {"identity", "a@b.c"}, {"identity_provider", "https://i"}}}}
	calls := 0
	opts := quietOptions(nil)
	opts.TrustRoot = func(ctx context.Context, staging bool) (root.TrustedMaterial, error) {
		calls++
		if staging {
			t.Error("staging root requested")
		}
		return nil, errors.New("network unreachable")
	}
	p := mustParse(t, d, doc(signers, obj{{d + "/m", obj{{"signer", "ss"}}}}, nil), opts)
	for i := 0; i < 2; i++ {
		got := decide(t, p, Model, d+"/m")
		if got.Outcome != Denied || got.Code != CodeError || !strings.Contains(got.Reason, "network unreachable") {
			t.Fatalf("%s/%s: %s", got.Outcome, got.Code, got.Reason)
		}
	}
	if calls != 2 {
		t.Errorf("trust root fetched %d times, want 2 (failures are not cached)", calls)
	}
}

// TestDecideCanceled: a cancelled context denies, and the reason says
// why the verification stopped (the context's cause, as the command line
// gives it: "interrupted (SIGTERM)"; "interrupted" without one), never
// "context canceled".
func TestDecideCanceled(t *testing.T) {
	d := tempDir(t)
	_, k, s := keySigner(t, d)
	m := mkdir(t, d, "m")
	writeFile(t, m, "f", []byte("x"))
	sign(t, s, m, modelsig.SignOptions{IgnoreGitPaths: true})
	p := mustParse(t, d, doc(obj{{"k", k}}, obj{{m, obj{{"signer", "k"}}}}, nil), quietOptions(nil))
	if got := p.Decide(bg, Model, m); got.Outcome != Verified {
		t.Fatalf("not verified before cancelling: %s/%s: %s", got.Outcome, got.Code, got.Reason)
	}

	sigterm := errors.New("interrupted (SIGTERM)")
	for _, c := range []struct {
		name   string
		cancel func(context.CancelCauseFunc)
		want   string
	}{
		{"cause", func(cancel context.CancelCauseFunc) { cancel(sigterm) }, ": interrupted (SIGTERM)"},
		{"no-cause", func(cancel context.CancelCauseFunc) { cancel(nil) }, ": interrupted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(bg)
			c.cancel(cancel)
			got := p.Decide(ctx, Model, m)
			if got.Allowed() || got.Code != CodeError {
				t.Fatalf("%s/%s with a cancelled context: %s", got.Outcome, got.Code, got.Reason)
			}
			if !strings.HasSuffix(got.Reason, c.want) || strings.Contains(got.Reason, "context canceled") {
				t.Errorf("reason %q, want it to end with %q", got.Reason, c.want)
			}
		})
	}
}

// TestDecideConcurrent: a Policy is safe for concurrent use (run with
// -race), including the lazily fetched trust root.
func TestDecideConcurrent(t *testing.T) {
	d := tempDir(t)
	mkdir(t, d, "m")
	mkdir(t, d, "s")
	writeFile(t, d, "s/model.sig", []byte("{}"))
	signers := obj{
		{"skip", obj{{"verification_method", "skip"}}},
		{"ss", obj{{"verification_method", "sigstore"}, {"identity", "a@b.c"}, {"identity_provider", "https://i"}}},
	}
	opts := quietOptions(nil)
	opts.TrustRoot = func(ctx context.Context, staging bool) (root.TrustedMaterial, error) {
		return nil, errors.New("offline")
	}
	p := mustParse(t, d, doc(signers, obj{{d + "/m", obj{{"signer", "skip"}}}, {d + "/s", obj{{"signer", "ss"}}}}, nil), opts)
	done := make(chan Decision)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 10; j++ {
				done <- p.Decide(bg, Model, []string{d + "/m", d + "/s", d + "/none"}[(i+j)%3])
			}
		}()
	}
	for i := 0; i < 80; i++ {
		got := <-done
		if got.Allowed() != (got.Path == d+"/m") {
			t.Errorf("%s: %s/%s %s", got.Path, got.Outcome, got.Code, got.Reason)
		}
	}
}

// progressRecorder is a manifest.Progress that remembers what it heard.
type progressRecorder struct {
	files          int
	planned        int64
	hashed         atomic.Int64
	plannedCounter int
}

func (r *progressRecorder) Planned(files int, bytes int64) {
	r.files, r.planned = files, bytes
	r.plannedCounter++
}
func (r *progressRecorder) Hashed(n int64) { r.hashed.Add(n) }

// TestDecideProgress: Options.Progress is asked for a sink once per
// decision that verifies, with the kind and path given to Decide, and the
// sink hears the whole of the hashing; decisions that hash nothing (skip,
// not found, no rule, kind not governed) do not ask.
func TestDecideProgress(t *testing.T) {
	d := tempDir(t)
	_, k, s := keySigner(t, d)
	m := mkdir(t, d, "m")
	writeFile(t, m, "a.bin", []byte("weights"))
	writeFile(t, m, "b.json", []byte(`{"x": 1}`))
	sign(t, s, m, modelsig.SignOptions{IgnoreGitPaths: true})
	scratch := mkdir(t, d, "scratch")
	type call struct {
		kind Kind
		path string
		rec  *progressRecorder
	}
	var calls []call
	opts := quietOptions(nil)
	opts.Progress = func(kind Kind, path string) manifest.Progress {
		r := &progressRecorder{}
		calls = append(calls, call{kind, path, r})
		return r
	}
	signers := obj{{"k", k}, {"none", obj{{"verification_method", "skip"}}}}
	p := mustParse(t, d, doc(signers, obj{{m, obj{{"signer", "k"}}}, {scratch, obj{{"signer", "none"}}}}, nil), opts)

	if got := decide(t, p, Model, m); got.Outcome != Verified {
		t.Fatalf("%s/%s: %s", got.Outcome, got.Code, got.Reason)
	}
	if len(calls) != 1 || calls[0].kind != Model || calls[0].path != m {
		t.Fatalf("progress asked %+v, want once for the model", calls)
	}
	if r := calls[0].rec; r.plannedCounter != 1 || r.files != 2 || r.planned != 15 || r.hashed.Load() != 15 {
		t.Errorf("sink heard %d plans of %d files, %d bytes, %d hashed; want 1 of 2 files, 15 bytes, 15 hashed",
			r.plannedCounter, r.files, r.planned, r.hashed.Load())
	}
	for _, path := range []string{scratch, filepath.Join(d, "gone"), d} {
		decide(t, p, Model, path)
	}
	decide(t, p, LoRA, m)
	if len(calls) != 1 {
		t.Errorf("progress asked for decisions that hash nothing: %+v", calls[1:])
	}
}
