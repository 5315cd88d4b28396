package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testdata is the absolute testdata folder: tests change directory.
var testdata = func() string {
	p, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return p
}()

// goldenPolicyRun sets up a policy and five artifacts, one of each
// outcome, in a fresh folder that becomes the working directory, and
// returns the arguments that decide them all.
func goldenPolicyRun(t *testing.T) (base string, args []string) {
	t.Helper()
	base = t.TempDir()
	priv, pub := keyPair(t, base)
	good := filepath.Join(base, "models", "good")
	tampered := filepath.Join(base, "models", "tampered")
	for _, m := range []string{good, tampered} {
		writeFile(t, filepath.Join(m, "config.json"), []byte(`{"layers": 2}`))
		writeFile(t, filepath.Join(m, "weights.bin"), []byte("weights"))
		sign(t, m, filepath.Join(m, "model.sig"), "sign", "key", "--private-key", priv)
	}
	writeFile(t, filepath.Join(tampered, "weights.bin"), []byte("Weights"))
	writeFile(t, filepath.Join(base, "scratch", "try", "w.bin"), []byte("w"))
	policyPath := writePolicy(t, base, map[string]any{
		"release": map[string]any{"verification_method": "key", "public_key": pub},
		"scratch": map[string]any{"verification_method": "skip"},
	}, map[string]any{
		good + "/":            map[string]any{"signer": "release"},
		tampered + "/":        map[string]any{"signer": "release"},
		"regex:.*/scratch/.*": map[string]any{"signer": "scratch"},
	}, nil)
	t.Chdir(base)
	return base, []string{"verify", "--security-policy", filepath.Base(policyPath),
		"--model", "models/good", "--model", "models/tampered", "--model", "scratch/try", "--model", "./models/gone", "--lora", "models/good"}
}

// normalize replaces what changes from run to run (the temporary folder,
// times, durations) with fixed placeholders.
func normalize(base, s string) string {
	s = strings.ReplaceAll(s, base, "$TMP")
	s = regexp.MustCompile(`time=\S+`).ReplaceAllString(s, "time=T")
	s = regexp.MustCompile(`duration=\S+`).ReplaceAllString(s, "duration=D")
	return s
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		writeFile(t, path, []byte(got))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestGoldenPolicyVerify: the text output of a policy run, as an operator
// sees it at a terminal (one outcome-first line per artifact, no decision
// records on stderr) and as a script or an init container sees it
// (the same lines, and one log record per decision on stderr). The
// progress cases force the display to draw each bar's last frame: on a
// terminal a bar per verified artifact, each erased (\x1b[1A\x1b[J)
// before its line prints; nothing of it with --quiet or off a terminal.
func TestGoldenPolicyVerify(t *testing.T) {
	for _, c := range []struct {
		name     string
		terminal bool
		extra    []string
		progress bool
	}{
		{"terminal", true, nil, false},
		{"not-terminal", false, nil, false},
		{"terminal-quiet", true, []string{"--quiet"}, false},
		{"not-terminal-quiet", false, []string{"-q"}, false},
		{"terminal-progress", true, nil, true},
		{"terminal-quiet-progress", true, []string{"--quiet"}, true},
		{"not-terminal-progress", false, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, args := goldenPolicyRun(t)
			cfg := progressConfig{every: time.Hour, drawLast: c.progress}
			r := runAppWith(t, c.terminal, cfg, append(c.extra, args...)...).want(t, exitDenied)
			checkGolden(t, "policy-verify-"+c.name+".golden",
				"$ modelgate "+strings.Join(append(c.extra, args...), " ")+"\n"+
					"--- stdout\n"+normalize(base, r.stdout)+"--- stderr\n"+normalizeFrames(normalize(base, r.stderr)))
		})
	}
}

// normalizeFrames makes progress frames comparable: the throughput (and
// so the bar's width, which takes what the numbers leave) depends on the
// machine, and the escape sequences are written out.
func normalizeFrames(s string) string {
	s = regexp.MustCompile(`\[[=>-]*\]`).ReplaceAllString(s, "[BAR]")
	s = regexp.MustCompile(`[0-9.]+ [KMGTPE]?i?B/s`).ReplaceAllString(s, "RATE/s")
	return strings.ReplaceAll(s, "\x1b", `\x1b`)
}

// TestDecisionRecordsWhereTheyAreRead: on a terminal the decision records
// are left out only with text logs below debug; JSON logs and debug keep
// them, and other records (warnings) are never left out.
func TestDecisionRecordsWhereTheyAreRead(t *testing.T) {
	_, args := goldenPolicyRun(t)
	records := func(stderr string) int { return strings.Count(stderr, "outcome") }
	cases := []struct {
		name     string
		terminal bool
		global   []string
		want     int
	}{
		{"terminal-text", true, nil, 0},
		{"terminal-debug", true, []string{"--log-level", "debug"}, 5},
		{"terminal-json", true, []string{"--log-format", "json"}, 5},
		{"pipe-text", false, nil, 5},
		{"pipe-warn", false, []string{"--log-level", "warn"}, 3},
		{"pipe-quiet", false, []string{"--quiet"}, 3},
		{"pipe-quiet-info", false, []string{"--quiet", "--log-level", "info"}, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runApp(t, c.terminal, append(c.global, args...)...).want(t, exitDenied)
			if got := records(r.stderr); got != c.want {
				t.Errorf("%d decision records, want %d:\n%s", got, c.want, r.stderr)
			}
		})
	}
}

// TestTerminalKeepsWarnings: on a terminal only decision records are
// left out; a verification warning (a v1.0 key signature has no key
// hint) is still logged.
func TestTerminalKeepsWarnings(t *testing.T) {
	ref := refPath(t, "v1.0.0-elliptic-key")
	r := runOnTerminal(t, "verify", "key", "--public-key", refPath(t, "keys/certificate/signing-key-pub.pem"), filepath.Join(ref, "signme-1")).want(t, exitOK)
	r.stderrHas(t, "level=WARN")
}

// TestQuietPrintsOnlyWhatWentWrong: --quiet leaves out the result lines of
// what was verified or signed; failures and JSON output stay.
func TestQuietPrintsOnlyWhatWentWrong(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())
	model := smallModel(t)
	r := runCLI(t, "--quiet", "sign", "key", "--private-key", priv, model).want(t, exitOK)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("sign --quiet printed:\n%s%s", r.stdout, r.stderr)
	}
	r = runCLI(t, "verify", "key", "-q", "--public-key", pub, model).want(t, exitOK)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("verify -q printed:\n%s%s", r.stdout, r.stderr)
	}
	checkFields(t, oneJSON(t, runCLI(t, "-q", "verify", "key", "--public-key", pub, "--output", "json", model).want(t, exitOK).stdout),
		map[string]any{"outcome": "verified"})
	runCLI(t, "-q", "digest", model).want(t, exitOK).stdoutHas(t, "sha256:")
	writeFile(t, filepath.Join(model, "extra.bin"), []byte("x"))
	runCLI(t, "-q", "verify", "key", "--public-key", pub, model).want(t, exitDenied).
		stderrHas(t, `modelgate: verification failed: `, `1 extra file ("extra.bin")`)
}
