package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile is a name part that would recolour the terminal and forge a
// line of output if printed raw.
const hostile = "\x1b[31m\nINJECTED \u202e\x9b"

// checkTerminalSafe fails the test if the run wrote anything that acts on
// a terminal, or a line that a name forged.
func checkTerminalSafe(t *testing.T, r result) {
	t.Helper()
	for stream, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		if !utf8.ValidString(text) {
			t.Errorf("%v: %s is not valid UTF-8: %q", r.args, stream, text)
		}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if strings.HasPrefix(line, "INJECTED") {
				t.Errorf("%v: %s has a forged line: %q", r.args, stream, text)
			}
			if strings.ContainsFunc(line, dangerous) {
				t.Errorf("%v: %s has a control character: %q", r.args, stream, line)
			}
		}
	}
}

// TestHostileNamesNeverReachTheTerminal: model paths and file names with
// escape sequences, newlines, bidi overrides and invalid UTF-8 are
// quoted or escaped in every line of every command's output and log, in
// success and failure, in text and JSON.
func TestHostileNamesNeverReachTheTerminal(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())
	base := t.TempDir()
	model := filepath.Join(base, "model"+hostile)
	writeFile(t, filepath.Join(model, "weights.bin"), []byte("weights"))
	file := writeFile(t, filepath.Join(base, "single"+hostile, "adapter"+hostile+".gguf"), []byte("GGUF"))
	policyDir := t.TempDir()
	policyPath := writePolicy(t, policyDir,
		keySigner(pub),
		map[string]any{
			"regex:(?s).*/model\x1b.*":          map[string]any{"signer": "k"},
			filepath.Join(base, "gone"+hostile): map[string]any{"signer": "k"}, // lint: does not exist
		}, nil)

	var runs []result
	add := func(code int, args ...string) result {
		r := runCLI(t, args...).want(t, code)
		runs = append(runs, r)
		return r
	}
	add(exitOK, "sign", "key", "--private-key", priv, model)
	add(exitOK, "sign", "key", "--private-key", priv, file)
	add(exitOK, "verify", "key", "--public-key", pub, model)
	add(exitOK, "verify", "key", "--public-key", pub, file)
	add(exitOK, "digest", model)
	add(exitOK, "verify", "--security-policy", policyPath, "--model", model)
	add(exitOK, "policy", "explain", policyPath, "--model", model)
	add(exitOK, "policy", "lint", policyPath)
	// Refused: a second single file in the folder of the first.
	other := writeFile(t, filepath.Join(filepath.Dir(file), "other"+hostile), []byte("x"))
	add(exitError, "sign", "key", "--private-key", priv, other)

	// Failures name the hostile file.
	writeFile(t, filepath.Join(model, "extra"+hostile), []byte("added"))
	add(exitDenied, "verify", "key", "--public-key", pub, model)
	add(exitDenied, "verify", "--security-policy", policyPath, "--model", model)
	add(exitDenied, "--log-level", "debug", "verify", "--security-policy", policyPath, "--model", model)
	missing := filepath.Join(base, "gone"+hostile)
	add(exitDenied, "verify", "key", "--public-key", pub, missing)
	add(exitDenied, "verify", "--security-policy", policyPath, "--model", missing, "--lora", missing)
	add(exitError, "sign", "key", "--private-key", priv, missing)
	add(exitError, "digest", missing)
	add(exitOK, "policy", "explain", policyPath, "--model", missing)
	add(exitError, "verify", "key", "--public-key", missing, model)
	add(exitError, "policy", "lint", missing)
	for _, r := range runs {
		checkTerminalSafe(t, r)
	}

	// JSON output and JSON logs carry the name exactly, escaped by JSON.
	r := add(exitDenied, "--log-format", "json", "verify", "key", "--public-key", pub, "--output", "json", model)
	checkTerminalSafe(t, r)
	// JSON strings are UTF-8: an invalid byte reads as U+FFFD.
	inJSON := strings.ToValidUTF8(model, "\ufffd")
	checkFields(t, oneJSON(t, r.stdout), map[string]any{"path": inJSON, "signature": filepath.Join(inJSON, "model.sig")})
	for _, rec := range jsonLines(t, r.stderr) {
		if msg, _ := rec["msg"].(string); !strings.Contains(msg, strconv.Quote(model)) || !strings.Contains(msg, `"extra\x1b[31m\nINJECTED \u202e\x9b"`) {
			t.Errorf("JSON error record does not carry the names: %q", msg)
		}
	}
	r = add(exitDenied, "--log-format", "json", "verify", "--security-policy", policyPath, "--model", model, "--output", "json")
	checkTerminalSafe(t, r)
	checkFields(t, oneJSON(t, r.stdout), map[string]any{"path": inJSON, "canonical_path": inJSON, "outcome": "denied"})
}

// TestPathsAreQuoted: the CLI's own sentences quote every path they name,
// so that a name with spaces or quotes reads unambiguously.
func TestPathsAreQuoted(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())
	model := filepath.Join(t.TempDir(), `my "model" dir`)
	writeFile(t, filepath.Join(model, "w.bin"), []byte("w"))
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // == %q for these names
	runCLI(t, "sign", "key", "--private-key", priv, model).want(t, exitOK).
		stdoutHas(t, "Signed "+q(model)+": wrote "+q(filepath.Join(model, "model.sig"))+" (")
	runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitOK).
		stdoutHas(t, "Verification succeeded: "+q(model)+" (key, 1 file, 1 bytes)\n")
	if err := os.RemoveAll(model); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitDenied).
		stderrHas(t, "modelgate: verification failed: model "+q(model)+" does not exist\n")
}

// TestJSONSafe: the characters encoding/json leaves raw but a terminal
// acts on are escaped, and the JSON still decodes to the same value.
func TestJSONSafe(t *testing.T) {
	for _, s := range []string{"plain", "del\x7f", "c1\u0085\u009b", "bidi\u202e\u2066", "tag\U000e0041", "mixed é 模型 \u200b"} {
		raw, err := json.Marshal(map[string]string{"k": s})
		if err != nil {
			t.Fatal(err)
		}
		safe := jsonSafe(raw)
		if strings.ContainsFunc(string(safe), dangerous) {
			t.Errorf("jsonSafe(%s) = %s: still has a control character", raw, safe)
		}
		var back map[string]string
		if err := json.Unmarshal(safe, &back); err != nil || back["k"] != s {
			t.Errorf("jsonSafe(%s) = %s: decodes to %q (%v), want %q", raw, safe, back["k"], err, s)
		}
	}
}

func TestShortDigests(t *testing.T) {
	const h64 = "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
	cases := []struct{ in, want string }{
		{"expected sha256:" + h64 + ", got blake3:" + h64, "expected sha256:9a129038…3b2c, got blake3:9a129038…3b2c"},
		{"blake2b:" + h64 + h64, "blake2b:9a129038…3b2c"},
		{`hint "` + h64 + `"`, `hint "` + h64 + `"`},   // not a digest: kept whole
		{"sha256:9a129038d9a0", "sha256:9a129038d9a0"}, // short already
		{"sha256:" + h64 + "x", "sha256:" + h64 + "x"}, // not a whole word
	}
	for _, c := range cases {
		if got := shortDigests(c.in); got != c.want {
			t.Errorf("shortDigests(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzTerminalSafe: whatever a name holds, oneLine gives one valid UTF-8
// line with nothing a terminal acts on, terminalSafe keeps exactly the
// newlines, and jsonSafe keeps the JSON value while escaping the rest.
func FuzzTerminalSafe(f *testing.F) {
	for _, s := range []string{"plain", hostile, "a\r\nb\tc\x7f", "\u202e\u2066\u200b\ufeff", "\xff\xfe\xc0\x80", "é\x9b模型"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		one := oneLine(s)
		if !utf8.ValidString(one) || strings.ContainsFunc(one, dangerous) {
			t.Fatalf("oneLine(%q) = %q", s, one)
		}
		multi := terminalSafe(s)
		if !utf8.ValidString(multi) || strings.ContainsFunc(multi, func(r rune) bool { return r != '\n' && dangerous(r) }) ||
			strings.Count(multi, "\n") != strings.Count(s, "\n") {
			t.Fatalf("terminalSafe(%q) = %q", s, multi)
		}
		raw, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		safe := jsonSafe(raw)
		var want, got string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(safe, &got); err != nil || got != want || strings.ContainsFunc(string(safe), dangerous) {
			t.Fatalf("jsonSafe(%s) = %s: %q, %v", raw, safe, got, err)
		}
	})
}
