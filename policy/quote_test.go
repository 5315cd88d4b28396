package policy

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/modelgate/modelgate/modelsig"
)

// evil is a name that would recolour a terminal and forge a new line of
// output if it were printed raw.
const evil = "x\x1b[31mred\nforged: verified\u202e"

// checkPrintable fails when s holds a control or other non-printable
// character; lines says whether s may be several lines.
func checkPrintable(t *testing.T, what, s string, lines bool) {
	t.Helper()
	for _, r := range s {
		if r == '\n' && lines {
			continue
		}
		if r != ' ' && !strconv.IsPrint(r) {
			t.Errorf("%s holds the raw character %U:\n%s", what, r, s)
			return
		}
	}
}

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain /a/b é":     "plain /a/b é",
		"a\x1b[31mb":       `a\x1b[31mb`,
		"line\nnext\ttab":  `line\nnext\ttab`,
		"bidi\u202eoff":    `bidi\u202eoff`,
		"c1\u009bx":        `c1\u009bx`,
		"bad\xffutf8":      `bad\xffutf8`,
		"\"quoted\" stays": "\"quoted\" stays",
	} {
		if got := safeText(in); got != want {
			t.Errorf("safeText(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/etc/policy.json": "/etc/policy.json",
		"my policy.json":   `"my policy.json"`,
		"a:b":              `"a:b"`,
		"p\x1b.json":       `"p\x1b.json"`,
		"":                 `""`,
	} {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOutsideTextIsQuoted (issue 7.10): paths, keys and names from outside
// never reach reasons, log records, explanations or lint reports raw.
func TestOutsideTextIsQuoted(t *testing.T) {
	d := tempDir(t)
	_, k, s := keySigner(t, d)
	skipped := mkdir(t, d, "skip"+evil)
	norule := mkdir(t, d, "norule"+evil)
	signed := mkdir(t, d, "signed"+evil)
	writeFile(t, signed, "weights.bin", []byte("w"))
	sign(t, s, signed, modelsig.SignOptions{IgnoreGitPaths: true})
	tampered := mkdir(t, d, "tampered"+evil)
	writeFile(t, tampered, "weights.bin", []byte("w"))
	sign(t, s, tampered, modelsig.SignOptions{IgnoreGitPaths: true})
	writeFile(t, tampered, "extra"+evil, []byte("x"))
	symlink(t, skipped, filepath.Join(d, "link"+evil))

	signers := obj{{"none" + evil, obj{{"verification_method", "skip"}}}, {"k" + evil, k}}
	models := obj{
		{skipped, obj{{"signer", "none" + evil}}},
		{d + "/link" + evil + "/", obj{{"signer", "none" + evil}}},
		{d + "/missing" + evil, obj{{"signer", "none" + evil}}},
		{"regex:(?s)" + reQuote(d) + "/(signed|tampered).*", obj{{"signer", "k" + evil}, {"ignore_paths", []string{"../" + evil}}}},
	}
	var logs bytes.Buffer
	opts := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	policyFile := writeFile(t, d, "policy"+evil+".json", mustJSON(t, doc(signers, models, nil)))
	p, err := Load(policyFile, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind Kind
		path string
		want Outcome
	}{
		{Model, skipped, Skipped},
		{Model, norule, Denied},
		{Model, signed, Verified},
		{Model, tampered, Denied},
		{Model, d + "/none" + evil, Denied},
		{Model, "org/name" + evil, Denied},
		{Kind("kind" + evil), skipped, Denied},
	} {
		logs.Reset()
		got := p.Decide(bg, c.kind, c.path)
		if got.Outcome != c.want {
			t.Errorf("%q: %s, want %s: %s", c.path, got.Outcome, c.want, got.Reason)
		}
		checkPrintable(t, "reason", got.Reason, false)
		checkPrintable(t, "log record", strings.TrimSuffix(logs.String(), "\n"), false)
		if c.want != Denied || c.kind != Model {
			continue
		}
		e := p.Explain(c.kind, c.path)
		checkPrintable(t, "explanation", e.String(), true)
		if !strings.Contains(e.String(), "path:             "+strconv.Quote(c.path)+"\n") {
			t.Errorf("explanation does not quote the path:\n%s", e)
		}
	}
	for _, path := range []string{skipped, signed, norule, d + "/link" + evil} {
		checkPrintable(t, "explanation", p.Explain(Model, path).String(), true)
	}

	// Lint: keys, names and paths in messages, and the file name itself.
	r, err := Lint(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) == 0 {
		t.Fatal("no warnings to check")
	}
	checkPrintable(t, "lint report", r.String(), true)
	if want := strconv.Quote(policyFile) + ":"; !strings.HasPrefix(r.Warnings[0].String(), want) {
		t.Errorf("warning does not start with the quoted file name %s: %s", want, r.Warnings[0])
	}
	// Load errors name outside text quoted too.
	bad := fmt.Sprintf(`{"policy": {"signatures": {"signers": {}, "models": {%s: {"signer": %s, %s: 1}}}}}`,
		strconv.Quote("rel"+evil), strconv.Quote("s"+evil), strconv.Quote("k"+evil))
	le := parseErr(t, d, []byte(strings.ReplaceAll(bad, `\x1b`, `\u001b`)))
	checkPrintable(t, "load error", le.Error(), true)
	if n := strings.Count(le.Error(), "\n") + 1; n != len(le.Problems) {
		t.Errorf("%d lines for %d problems: a name broke a line:\n%s", n, len(le.Problems), le)
	}
	for _, r := range evil {
		if r != '\n' && !unicode.IsPrint(r) && strings.ContainsRune(le.Error(), r) {
			t.Errorf("raw %U in %s", r, le)
		}
	}
	_ = os.Remove(policyFile)
}
