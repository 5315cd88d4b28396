package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/policy"
)

// fixture is a directory of real signed and unsigned adapters and a real
// policy over them: everything under root must be signed by the test
// key, anything else has no rule.
//
//	root/adapters/good       signed
//	root/adapters/tampered   signed, then a file changed
//	root/adapters/unsigned   no signature
//	root/workdir/rel         signed (vLLM's working directory)
//	root/workdir/org/name    signed (a relative path that looks like a hub id)
//	root/home/mine           signed (vLLM's home)
//	root/resolver/allowed    signed (the LoRA resolver directory)
//	root/resolver/unsigned   no signature
//	root/hub/snap            signed (a Hugging Face snapshot)
//	root/hfcache             a Hugging Face hub cache: org/adapter (signed),
//	                         org/escape (a link out of blobs/), org/partial
//	                         (lacks a file its signature lists)
//
// and a policy file of its own.
type fixture struct {
	root, policyFile                                           string
	good, tampered, unsigned, workdir, home, resolver, hubSnap string
	pubKey                                                     string
	signer                                                     modelsig.Signer
	hubRoot                                                    hfcache.Root
	hubCommit                                                  string // of org/adapter at main
}

// The adapters are signed once per test binary (signing syncs files to
// disk, which dominates the suite's time) and shared read-only; each
// fixture gets its own policy file.
var (
	sharedOnce sync.Once
	shared     *fixture
	sharedErr  bool
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		os.RemoveAll(shared.root)
	}
	os.Exit(code)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	sharedOnce.Do(func() {
		sharedErr = true
		shared = buildFixture(t)
		sharedErr = false
	})
	if sharedErr {
		t.Fatal("building the shared adapter fixture failed")
	}
	fx := *shared
	fx.policyFile = filepath.Join(t.TempDir(), "policy.json")
	fx.writePolicy(t, fx.policyDoc("regex:"+regexp.QuoteMeta(fx.root)+"/.*"))
	return &fx
}

func buildFixture(t testing.TB) *fixture {
	t.Helper()
	tmp, err := os.MkdirTemp("", "gate-fixture-")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		t.Fatal(err)
	}
	key := testpki.Key(t, nil)
	s, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{
		root:     root,
		good:     filepath.Join(root, "adapters", "good"),
		tampered: filepath.Join(root, "adapters", "tampered"),
		unsigned: filepath.Join(root, "adapters", "unsigned"),
		workdir:  filepath.Join(root, "workdir"),
		home:     filepath.Join(root, "home"),
		resolver: filepath.Join(root, "resolver"),
		hubSnap:  filepath.Join(root, "hub", "snap"),
		pubKey:   filepath.Join(root, "keys", "team.pub.pem"),
		signer:   s,
	}
	testpki.WritePublicKey(t, fx.pubKey, &key.PublicKey)
	for _, dir := range []string{fx.good, fx.tampered, filepath.Join(fx.workdir, "rel"), filepath.Join(fx.workdir, "org", "name"),
		filepath.Join(fx.home, "mine"), filepath.Join(fx.resolver, "allowed"), fx.hubSnap} {
		fx.adapter(t, dir, true)
	}
	fx.adapter(t, fx.unsigned, false)
	fx.adapter(t, filepath.Join(fx.resolver, "unsigned"), false)
	testpki.WriteFile(t, filepath.Join(fx.tampered, "adapter_model.safetensors"), []byte("tampered weights"))
	fx.hubCache(t)
	return fx
}

// hubCache fills root/hfcache with adapters named by Hugging Face id.
func (fx *fixture) hubCache(t testing.TB) {
	t.Helper()
	c := hftest.At(t, filepath.Join(fx.root, "hfcache"))
	files := map[string]string{}
	for _, name := range []string{"adapter_config.json", "adapter_model.safetensors", "model.sig"} {
		b, err := os.ReadFile(filepath.Join(fx.hubSnap, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	fx.hubCommit = c.Add("org/adapter", "main", files)
	escape := c.Add("org/escape", "main", files)
	r := c.Repo("org/escape")
	link := filepath.Join(r.SnapshotDir(escape), "adapter_model.safetensors")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	r.Symlink(escape, "adapter_model.safetensors", "../../../models--org--adapter/blobs/"+hftest.Etag(files["adapter_model.safetensors"]))
	delete(files, "adapter_config.json")
	c.Add("org/partial", "main", files)
	root, err := hfcache.FindCacheRoot(c.LookupEnv, "")
	if err != nil {
		t.Fatal(err)
	}
	fx.hubRoot = root
}

// adapter writes a small adapter folder, signed with the fixture's key
// when sign is set.
func (fx *fixture) adapter(t testing.TB, dir string, sign bool) {
	t.Helper()
	testpki.WriteFile(t, filepath.Join(dir, "adapter_config.json"), []byte(`{"peft_type": "LORA", "base_model_name_or_path": "base"}`))
	testpki.WriteFile(t, filepath.Join(dir, "adapter_model.safetensors"), []byte("weights of "+filepath.Base(dir)))
	if sign {
		if _, err := modelsig.Sign(context.Background(), dir, fx.signer, modelsig.SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// policyDoc is a policy whose loras section has one rule per key, each
// requiring the fixture's key.
func (fx *fixture) policyDoc(loraKeys ...string) []byte {
	loras := map[string]any{}
	for _, k := range loraKeys {
		loras[k] = map[string]any{"signer": "team"}
	}
	doc := map[string]any{"policy": map[string]any{"signatures": map[string]any{
		"signers": map[string]any{"team": map[string]any{"verification_method": "key", "public_key": fx.pubKey}},
		"loras":   loras,
	}}}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return data
}

// writePolicy replaces the policy file atomically, as a config manager
// would.
func (fx *fixture) writePolicy(t testing.TB, data []byte) {
	t.Helper()
	tmp := fx.policyFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, fx.policyFile); err != nil {
		t.Fatal(err)
	}
}

// countingDecider counts the decisions the gate asks the policy for (by
// path in calls, by hub id in hubCalls) and can hold them until released.
type countingDecider struct {
	Decider
	calls, hubCalls *atomic.Int64
	hold            <-chan struct{} // nil: no holding
}

func (c countingDecider) Decide(ctx context.Context, kind policy.Kind, path string) policy.Decision {
	c.calls.Add(1)
	c.wait(ctx)
	return c.Decider.Decide(ctx, kind, path)
}

func (c countingDecider) DecideHub(ctx context.Context, kind policy.Kind, root hfcache.Root, id, revision string) policy.Decision {
	c.hubCalls.Add(1)
	c.wait(ctx)
	return c.Decider.DecideHub(ctx, kind, root, id, revision)
}

func (c countingDecider) wait(ctx context.Context) {
	if c.hold != nil {
		select {
		case <-c.hold:
		case <-ctx.Done():
		}
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
