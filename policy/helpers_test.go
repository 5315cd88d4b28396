package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/modelsig"
)

// obj is a JSON object that keeps its keys in the order written, so tests
// can build policies whose rule order matters.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// doc wraps signers and sections into a whole policy document. Sections
// that are nil are left out.
func doc(signers obj, models, loras obj) obj {
	sigs := obj{{"signers", signers}}
	if models != nil {
		sigs = append(sigs, kv{"models", models})
	}
	if loras != nil {
		sigs = append(sigs, kv{"loras", loras})
	}
	return obj{{"policy", obj{{"signatures", sigs}}}}
}

// skipSigners defines skip signers with the given names.
func skipSigners(names ...string) obj {
	var o obj
	for _, n := range names {
		o = append(o, kv{n, obj{{"verification_method", "skip"}}})
	}
	return o
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mkdir(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(elem...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// tempDir returns a fresh temporary directory in canonical form, so that
// expected canonical paths can be written from it.
func tempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// quietOptions returns Options whose decision log goes to buf.
func quietOptions(buf *bytes.Buffer) Options {
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	return Options{Logger: slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// mustParse parses a policy document (baseDir dir) or fails the test.
func mustParse(t testing.TB, dir string, d any, opts Options) *Policy {
	t.Helper()
	p, err := Parse("policy.json", mustJSON(t, d), dir, opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// parseErr parses a policy expected to be refused and returns the error.
func parseErr(t testing.TB, dir string, data []byte) *LoadError {
	t.Helper()
	p, err := Parse("policy.json", data, dir, quietOptions(nil))
	if err == nil {
		t.Fatalf("Parse accepted an invalid policy: %v", p)
	}
	le, ok := err.(*LoadError)
	if !ok {
		t.Fatalf("Parse error is %T, want *LoadError: %v", err, err)
	}
	return le
}

// reQuote quotes s for a regex rule.
func reQuote(s string) string { return regexp.QuoteMeta(s) }

var bg = context.Background()

// decideAll is a helper for table tests: the decision for one path.
func decide(t testing.TB, p *Policy, kind Kind, path string) Decision {
	t.Helper()
	d := p.Decide(bg, kind, path)
	if d.Allowed() != (d.Outcome != Denied) {
		t.Errorf("Allowed() = %v for outcome %s", d.Allowed(), d.Outcome)
	}
	if (d.Outcome == Denied) != (d.Code != "") {
		t.Errorf("outcome %s with code %q", d.Outcome, d.Code)
	}
	if d.Reason == "" {
		t.Errorf("decision for %s has no reason", path)
	}
	return d
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// writeECPublicKey writes a fresh P-256 public key to dir/name and returns
// the path and the private key.
func writeECPublicKey(t testing.TB, dir, name string) string {
	t.Helper()
	k := testpki.Key(t, nil)
	p := filepath.Join(dir, name)
	testpki.WritePublicKey(t, p, &k.PublicKey)
	return p
}

// keySigner makes a fresh P-256 key, writes its public key to
// dir/pub.pem, and returns that path, a key signer's policy entry for it
// and a modelsig signer with the private key.
func keySigner(t testing.TB, dir string) (pub string, policySigner obj, s modelsig.Signer) {
	t.Helper()
	key := testpki.Key(t, nil)
	pub = filepath.Join(dir, "pub.pem")
	testpki.WritePublicKey(t, pub, &key.PublicKey)
	s, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return pub, obj{{"verification_method", "key"}, {"public_key", pub}}, s
}

// sign signs the model at path with s.
func sign(t testing.TB, s modelsig.Signer, path string, opts modelsig.SignOptions) {
	t.Helper()
	if _, err := modelsig.Sign(bg, path, s, opts); err != nil {
		t.Fatalf("sign %s: %v", path, err)
	}
}
