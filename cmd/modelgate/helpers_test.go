package main

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/shareddata"
	"github.com/modelgate/modelgate/internal/testpki"
)

// The reference material's signer (format spec §9).
const (
	refIdentity = "stefanb@us.ibm.com"
	refIssuer   = "https://sigstore.verify.ibm.com/oauth2"
)

// SHA-256 fingerprints of the reference certificates (checked with
// `openssl x509 -noout -fingerprint -sha256`).
const (
	fpRootCA = "96:B4:07:4F:C3:C0:5A:B9:A7:DC:DB:C2:39:CE:47:37:EC:FC:5E:6C:A2:98:F7:A9:08:CB:E6:15:64:6A:6B:C5"
	fpIntCA  = "9B:BF:CF:17:BA:BD:C9:9C:F6:C3:0C:EC:10:8F:C4:9E:A8:88:0E:38:50:68:52:59:67:14:31:5C:A3:C8:46:C1"
	fpLeaf   = "DA:36:62:B6:30:EB:0F:58:5C:33:F1:14:A0:76:B8:DA:2C:ED:A0:F2:75:CB:57:8E:6D:1D:9C:AB:84:C0:4D:3B"
)

// result is what one in-process run of the command line produced.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

// runCLI runs modelgate in-process with args, as from a script: neither
// stdout nor stderr is a terminal.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return runApp(t, false, args...)
}

// runOnTerminal runs modelgate in-process as an operator at a terminal
// would: stdout and stderr are terminals.
func runOnTerminal(t *testing.T, args ...string) result {
	t.Helper()
	return runApp(t, true, args...)
}

// runApp runs modelgate in-process, with stderr a terminal or not. No
// progress frame is drawn on a timer: what a terminal run writes must not
// depend on how fast the machine hashes (progress_test.go forces frames).
func runApp(t *testing.T, terminal bool, args ...string) result {
	t.Helper()
	return runAppWith(t, terminal, progressConfig{every: time.Hour}, args...)
}

// runAppWith is runApp with the progress display rendering as cfg says.
func runAppWith(t *testing.T, terminal bool, cfg progressConfig, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(&stdout, &stderr)
	a.isTerminal = func(io.Writer) bool { return terminal }
	a.progressCfg = cfg
	a.execve = func(string, []string, []string) error {
		// Never replace the test binary: exec tests use runExec.
		t.Errorf("modelgate %s: unexpected exec", strings.Join(args, " "))
		return errors.New("exec in a test")
	}
	code := a.run(context.Background(), args)
	r := result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "internal error") {
		t.Errorf("modelgate %s: crashed:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// want fails the test unless the run exited with code.
func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("modelgate %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(r.args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

// stderrHas fails the test unless stderr contains every one of subs.
func (r result) stderrHas(t *testing.T, subs ...string) result {
	t.Helper()
	r.has(t, "stderr", r.stderr, subs)
	return r
}

// stdoutHas fails the test unless stdout contains every one of subs.
func (r result) stdoutHas(t *testing.T, subs ...string) result {
	t.Helper()
	r.has(t, "stdout", r.stdout, subs)
	return r
}

func (r result) has(t *testing.T, stream, text string, subs []string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("modelgate %s: %s lacks %q:\n%s", strings.Join(r.args, " "), stream, s, text)
		}
	}
}

// jsonLines decodes every non-empty line of s as a JSON object.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON object line: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// oneJSON decodes s, which must hold exactly one JSON object line.
func oneJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	recs := jsonLines(t, s)
	if len(recs) != 1 {
		t.Fatalf("want exactly one JSON line, got %d:\n%s", len(recs), s)
	}
	return recs[0]
}

// checkFields fails the test unless rec has every field of want with an
// equal value (numbers compare as float64, as encoding/json decodes them).
func checkFields(t *testing.T, rec map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, ok := rec[k]
		if !ok {
			t.Errorf("record lacks %q: %v", k, rec)
			continue
		}
		if n, isInt := w.(int); isInt {
			w = float64(n)
		}
		if gb, _ := json.Marshal(got); string(gb) != mustMarshal(t, w) {
			t.Errorf("record %q = %s, want %s", k, gb, mustMarshal(t, w))
		}
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// refPath returns a path in the reference model_signing material (skipping
// the test when it is absent).
func refPath(t *testing.T, elem ...string) string {
	t.Helper()
	return shareddata.Path(t, append([]string{"model-signing"}, elem...)...)
}

// trustPath returns a Sigstore trust file of the reference material.
func trustPath(t *testing.T, name string) string {
	t.Helper()
	return shareddata.Path(t, "sigstore-trust", name)
}

// copyRef copies the reference model dir into a fresh temporary directory,
// writable, and returns the copy's path (same base name).
func copyRef(t *testing.T, dir string) string {
	t.Helper()
	src := refPath(t, dir)
	dst := filepath.Join(t.TempDir(), dir)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

// writeFile writes data to path, creating its directory.
func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// statement decodes the in-toto statement inside the signature file at path.
func statement(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	payload, err := base64.StdEncoding.DecodeString(bundle.DSSE.Payload)
	if err != nil {
		t.Fatalf("%s: payload: %v", path, err)
	}
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatalf("%s: statement: %v", path, err)
	}
	return st
}

// subjectDigest returns subject[0].digest.sha256 of the statement in the
// signature file at path.
func subjectDigest(t *testing.T, path string) string {
	t.Helper()
	st := statement(t, path)
	subjects, _ := st["subject"].([]any)
	if len(subjects) != 1 {
		t.Fatalf("%s: %d subjects", path, len(subjects))
	}
	d, _ := subjects[0].(map[string]any)["digest"].(map[string]any)["sha256"].(string)
	if d == "" {
		t.Fatalf("%s: no subject digest", path)
	}
	return d
}

// recordedIgnorePaths returns predicate.serialization.ignore_paths of the
// statement in the signature file at path.
func recordedIgnorePaths(t *testing.T, path string) []string {
	t.Helper()
	st := statement(t, path)
	ser, _ := st["predicate"].(map[string]any)["serialization"].(map[string]any)
	var out []string
	for _, p := range ser["ignore_paths"].([]any) {
		out = append(out, p.(string))
	}
	return out
}

// flipByte changes the byte at offset i of the file at path.
func flipByte(t *testing.T, path string, i int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[i] ^= 0x01
	writeFile(t, path, b)
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// garbleJSONField flips one bit inside the base64-decoded value of the
// bundle's dsseEnvelope field ("payload") or its first signature ("sig"),
// keeping the file valid JSON and valid base64.
func garbleJSONField(t *testing.T, path, field string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bundle map[string]any
	if err := json.Unmarshal(raw, &bundle); err != nil {
		t.Fatal(err)
	}
	env := bundle["dsseEnvelope"].(map[string]any)
	holder := env
	if field == "sig" {
		holder = env["signatures"].([]any)[0].(map[string]any)
	}
	b, err := base64.StdEncoding.DecodeString(holder[field].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	holder[field] = base64.StdEncoding.EncodeToString(b)
	out, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, out)
}

// writeOtherKey writes an EC public key that signed nothing.
func writeOtherKey(t *testing.T, path string) {
	t.Helper()
	testpki.WritePublicKey(t, path, testpki.Key(t, elliptic.P384()).Public())
}

// writeOtherCA writes a self-signed root CA that issued nothing.
func writeOtherCA(t *testing.T, path string) {
	t.Helper()
	testpki.WriteCerts(t, path, testpki.NewRoot(t, "other-root").Cert)
}

// writeRSAKey writes an RSA public key.
func writeRSAKey(t *testing.T, path string) {
	t.Helper()
	testpki.WritePublicKey(t, path, testpki.RSAKey(t).Public())
}
