package main

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8/decor"

	"github.com/modelgate/modelgate/manifest"
)

// runWithProgress runs modelgate in-process with stderr a terminal or
// not, and the progress display forced to draw its last frame (see
// progressConfig.drawLast) wherever it is on: a run on a fast machine
// shows the same frames as one on a slow one.
func runWithProgress(t *testing.T, terminal bool, args ...string) result {
	t.Helper()
	return runAppWith(t, terminal, progressConfig{every: time.Hour, drawLast: true}, args...)
}

// escape matches the only escape sequences the display may write: cursor
// up N lines, and erase from the cursor to the end of the screen.
var escape = regexp.MustCompile(`^\x1b\[(\d*)([AJ])`)

// screen plays s on a terminal and returns what is left on it, one string
// per line, "\n"-terminated: what the operator sees once the command has
// ended. It fails the test on any control character or escape sequence
// other than newline, cursor up and erase down (the display must not
// draw anything else, and nothing else modelgate writes may hold one).
func screen(t *testing.T, s string) string {
	t.Helper()
	lines := []string{""}
	row := 0
	for len(s) > 0 {
		switch c := s[0]; {
		case c == '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
			s = s[1:]
		case c == 0x1b:
			m := escape.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("unexpected escape sequence %q", s[:min(len(s), 8)])
			}
			n := 1
			if m[1] != "" {
				n, _ = strconv.Atoi(m[1])
			}
			switch m[2] {
			case "A":
				row = max(0, row-n)
			case "J": // the cursor is always at the start of a line here
				lines = lines[:row+1]
				lines[row] = ""
			}
			s = s[len(m[0]):]
		case c < 0x20 || c == 0x7f:
			t.Fatalf("control character %q on stderr", c)
		default:
			i := strings.IndexAny(s, "\n\x1b")
			if i < 0 {
				i = len(s)
			}
			lines[row] += s[:i]
			s = s[i:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestProgressOnTerminal: on a terminal with text logs, verify, sign,
// digest and every decision of a policy run show a bar that says what is
// hashed and how much (the total, the files), and erase it: what stays
// on the terminal is exactly what a run without progress leaves, and
// stdout is untouched.
func TestProgressOnTerminal(t *testing.T) {
	base, policyArgs := goldenPolicyRun(t)
	priv, pub := keyPair(t, t.TempDir())
	model := smallModel(t) // 5 files, 487 bytes
	tampered := smallModel(t)
	sign(t, tampered, filepath.Join(tampered, "model.sig"), "sign", "key", "--private-key", priv)
	writeFile(t, filepath.Join(tampered, "config.json"), []byte(`{"layers": 3}`))
	cases := []struct {
		name   string
		args   []string
		code   int
		frames []string // each must appear in a frame
	}{
		{"sign", []string{"sign", "key", "--private-key", priv, model}, exitOK,
			[]string{"sign …", `/model" [`, " 487 B / 487 B ", " 5 files ", " ETA "}},
		{"verify", []string{"verify", "key", "--public-key", pub, model}, exitOK,
			[]string{"verify …", " 487 B / 487 B ", " 5 files "}},
		{"verify-denied", []string{"verify", "key", "--public-key", pub, tampered}, exitDenied,
			[]string{"verify …", " 487 B / 487 B "}},
		{"digest", []string{"digest", model}, exitOK,
			[]string{"digest …", " 487 B / 487 B ", " 5 files "}},
		{"policy", policyArgs, exitDenied,
			[]string{`model "models/good" [`, `model "models/tampered" [`, " 20 B / 20 B ", " 2 files "}},
		// Records written while a bar is up go out above it, whole.
		{"policy-debug-records", append([]string{"--log-level", "debug"}, policyArgs...), exitDenied,
			[]string{`model "models/good" [`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			with := runWithProgress(t, true, c.args...).want(t, c.code)
			without := runAppWith(t, true, progressConfig{every: time.Hour}, c.args...).want(t, c.code)
			for _, f := range c.frames {
				if !strings.Contains(with.stderr, f) {
					t.Errorf("no frame shows %q:\n%q", f, with.stderr)
				}
			}
			if got, want := screen(t, normalize(base, with.stderr)), screen(t, normalize(base, without.stderr)); got != want {
				t.Errorf("the terminal keeps\n%s\nwant what a run without progress leaves:\n%s", got, want)
			}
			if normalize(base, with.stdout) != normalize(base, without.stdout) {
				t.Errorf("stdout differs with progress:\n%s\nwithout:\n%s", with.stdout, without.stdout)
			}
			if c.name == "policy-debug-records" {
				for _, l := range strings.Split(strings.TrimSuffix(screen(t, with.stderr), "\n"), "\n") {
					if !strings.HasPrefix(l, "time=") && !strings.HasPrefix(l, "modelgate: ") {
						t.Errorf("torn or stray line on the terminal: %q", l)
					}
				}
			}
		})
	}
}

// TestNoProgressOffTerminal: with stderr not a terminal, with --quiet and
// with --log-format json, hashing shows no progress at all, even with the
// display forced to draw: no escape sequence, no frame, and JSON logs stay
// one JSON object per line.
func TestNoProgressOffTerminal(t *testing.T) {
	_, policyArgs := goldenPolicyRun(t)
	model, _, pub := signedModel(t)
	verify := []string{"verify", "key", "--public-key", pub, model}
	cases := []struct {
		name     string
		terminal bool
		args     []string
		code     int
	}{
		{"not-terminal", false, verify, exitOK},
		{"not-terminal-policy", false, policyArgs, exitDenied},
		{"not-terminal-digest", false, []string{"digest", model}, exitOK},
		{"terminal-quiet", true, append([]string{"--quiet"}, verify...), exitOK},
		{"terminal-quiet-policy", true, append([]string{"-q"}, policyArgs...), exitDenied},
		{"terminal-json", true, append([]string{"--log-format", "json"}, verify...), exitOK},
		{"terminal-json-policy", true, append([]string{"--log-format", "json"}, policyArgs...), exitDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runWithProgress(t, c.terminal, c.args...).want(t, c.code)
			if strings.Contains(r.stderr, "\x1b") || strings.Contains(r.stderr, " ETA ") || strings.Contains(r.stdout, "\x1b") {
				t.Errorf("progress written:\n%q", r.stderr)
			}
			if strings.Contains(c.name, "json") {
				for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
					if l != "" && !json.Valid([]byte(l)) {
						t.Errorf("stderr line is not JSON: %q", l)
					}
				}
			}
		})
	}
}

// TestProgressLabel: a bar names the artifact quoted and on one line,
// cut at the front when long so that the numbers keep their room.
func TestProgressLabel(t *testing.T) {
	cases := []struct{ what, path, want string }{
		{"verify", "granite", `verify "granite"`},
		{"model", "models/good", `model "models/good"`},
		{"lora", "evil\x1b[31m\n", `lora "evil\x1b[31m\n"`},
		{"verify", "/srv/models/organisation/granite-3.1-8b-instruct", `verify …e-3.1-8b-instruct"`},
	}
	for _, c := range cases {
		got := progressLabel(c.what, c.path)
		if got != c.want {
			t.Errorf("progressLabel(%q, %q) = %q, want %q", c.what, c.path, got, c.want)
		}
		if strings.ContainsAny(got, "\x1b\n") || len([]rune(got)) > maxLabelWidth {
			t.Errorf("progressLabel(%q, %q) = %q: raw controls or wider than %d", c.what, c.path, got, maxLabelWidth)
		}
	}
}

// TestByteSize: sizes read as a person writes them.
func TestByteSize(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 487: "487 B", 1023: "1023 B", 1024: "1.0 KiB",
		1536: "1.5 KiB", 3.4 * (1 << 30): "3.4 GiB", 100e9: "93.1 GiB", 1 << 62: "4.0 EiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%v) = %q, want %q", n, got, want)
		}
	}
}

// The bar hears cached bytes apart from hashed ones.
var _ manifest.CacheProgress = (*hashBar)(nil)

// TestProgressFacts: the numbers after the bar. Bytes from the hash
// cache count as done and are shown as such, but the throughput and ETA
// come from the bytes read alone: a run whose first files were cached
// does not promise a rest it cannot keep. Ten seconds have passed in
// every case, so a rate is the bytes read over ten seconds.
func TestProgressFacts(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name                   string
		current, total, cached int64
		want                   []string
		not                    []string
	}{
		{"nothing yet", 0, 4 * gib, 0, []string{" 0 B / 4.0 GiB  0 B/s  3 files  ETA …"}, []string{"cached"}},
		{"read only", 1 * gib, 4 * gib, 0, []string{" 1.0 GiB / 4.0 GiB  102.", "MiB/s", "ETA 30s"}, []string{"cached"}},
		{"all cached", 4 * gib, 4 * gib, 4 * gib, []string{" 4.0 GiB / 4.0 GiB (4.0 GiB cached)  0 B/s", "ETA 0s"}, nil},
		{"cached, none read", 2 * gib, 4 * gib, 2 * gib, []string{"(2.0 GiB cached)", "ETA …"}, nil},
		// 3 GiB done, 2 of them cached: 1 GiB read in 10 s, 1 GiB left: 10 s.
		{"cached and read", 3 * gib, 4 * gib, 2 * gib, []string{"3.0 GiB / 4.0 GiB (2.0 GiB cached)", "ETA 10s"}, nil},
		// The counters are read apart: never more cached than done.
		{"cached ahead of the bar", 1 * gib, 4 * gib, 2 * gib, []string{"(1.0 GiB cached)", "ETA …"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cached atomic.Int64
			cached.Store(tc.cached)
			f := progressFacts(time.Now().Add(-10*time.Second), "3 files", &cached)
			got := f(decor.Statistics{Current: tc.current, Total: tc.total})
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("%q has %q", got, n)
				}
			}
		})
	}
}

// TestProgressDisplayLifecycle: a bar that was never planned, one ended
// twice, and a display that is nil (progress off) are all harmless; work
// shorter than a period writes nothing; a log record with no bar up goes
// straight to the terminal.
func TestProgressDisplayLifecycle(t *testing.T) {
	var nilDisplay *progressDisplay
	if p := nilDisplay.start("verify", "m"); p != nil {
		t.Errorf("nil display returned a sink %T", p)
	}
	if nilDisplay.policyHook() != nil {
		t.Error("nil display returned a policy hook")
	}
	nilDisplay.end()

	var out bytes.Buffer
	d := newProgressDisplay(&out, progressConfig{every: time.Hour})
	d.start("verify", "never-planned")
	d.end()
	d.end()
	p := d.start("verify", "quick")
	p.Planned(1, 10)
	p.Hashed(10)
	p.Planned(1, 10) // a second plan changes nothing
	d.end()
	p.Hashed(1) // after the end: counted, never drawn
	if out.Len() != 0 {
		t.Errorf("work shorter than a period wrote %q", out.String())
	}
	d.start("verify", "empty").Planned(0, 0)
	if _, err := io.WriteString(d, "time=T level=INFO msg=x\n"); err != nil {
		t.Fatal(err)
	}
	d.end()
	if out.String() != "time=T level=INFO msg=x\n" {
		t.Errorf("a record with no bar up: %q", out.String())
	}
}

// TestProgressFramesOnTimer: with a short period the poller draws frames
// while work goes on, each showing the bytes hashed so far, and the end
// erases the bar.
func TestProgressFramesOnTimer(t *testing.T) {
	var out syncBuffer
	d := newProgressDisplay(&out, progressConfig{every: time.Millisecond})
	p := d.start("verify", "m")
	p.Planned(3, 3<<20)
	p.Hashed(1 << 20)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "1.0 MiB / 3.0 MiB") {
		if time.Now().After(deadline) {
			t.Fatalf("no frame within 10s: %q", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	p.Hashed(2 << 20)
	d.end()
	got := out.String()
	if !strings.Contains(got, "3.0 MiB / 3.0 MiB") || !strings.HasSuffix(got, "\x1b[J") {
		t.Errorf("last frame or erase missing: %q", got)
	}
	if s := screen(t, got); s != "" {
		t.Errorf("the terminal keeps %q", s)
	}
}

// syncBuffer is a bytes.Buffer safe for mpb's render goroutine and the
// test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The sink is what manifest calls.
var _ manifest.Progress = (*hashBar)(nil)
