package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/modelsig"
)

// signedFiles signs files (a model folder's contents) with s and returns
// them with the signature added as "model.sig", ready for a fake cache
// snapshot: the snapshot then holds exactly what was signed.
func signedFiles(t testing.TB, s modelsig.Signer, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, dir, name, []byte(content))
	}
	sign(t, s, dir, modelsig.SignOptions{})
	sig, err := os.ReadFile(filepath.Join(dir, modelsig.DefaultSignatureName))
	if err != nil {
		t.Fatal(err)
	}
	out := maps.Clone(files)
	out[modelsig.DefaultSignatureName] = string(sig)
	return out
}

// hubFixture is a fake hub cache with signed snapshots and a key signer.
type hubFixture struct {
	cache  *hftest.Cache
	root   hfcache.Root
	signer obj // the policy entry of the key signer "k"
	s      modelsig.Signer
}

func newHubFixture(t *testing.T) *hubFixture {
	t.Helper()
	d := tempDir(t)
	_, ps, s := keySigner(t, d)
	c := hftest.At(t, filepath.Join(d, "hub"))
	root, err := hfcache.FindCacheRoot(c.LookupEnv, "")
	if err != nil {
		t.Fatal(err)
	}
	return &hubFixture{cache: c, root: root, signer: ps, s: s}
}

var tinyModel = map[string]string{
	"config.json":            `{"model_type": "llama"}`,
	"model.safetensors":      "weights",
	"tokenizer/vocab.txt":    "a\nb\n",
	"generation_config.json": "{}",
}

// TestDecideHub covers spec/vllm.md §4 and spec/policy.md §7 for one
// artifact named by id: resolution in the cache, the snapshot's shape,
// the order of hub and path rules, verification of the snapshot as if its
// links were regular files, and partial snapshots.
func TestDecideHub(t *testing.T) {
	fx := newHubFixture(t)
	c := fx.cache
	signed := signedFiles(t, fx.s, tinyModel)

	good := c.Add("org/good", "main", signed)
	// A second commit of the same id, reachable as branch "v2".
	v2files := maps.Clone(tinyModel)
	v2files["model.safetensors"] = "weights v2"
	v2 := c.Add("org/good", "v2", signedFiles(t, fx.s, v2files))
	c.Add("org/pathrule", "main", signed)
	c.Add("org/norule", "main", signed)
	c.Add("Org/Case", "main", signed)

	partial := maps.Clone(signed)
	delete(partial, "tokenizer/vocab.txt")
	delete(partial, "generation_config.json")
	c.Add("org/partial", "main", partial)

	nosig := maps.Clone(tinyModel)
	c.Add("org/nosig", "main", nosig)

	extra := maps.Clone(signed)
	extra["extra.py"] = "import os"
	c.Add("org/extra", "main", extra)

	tampered := c.Repo("org/tampered")
	tc := hftest.Commit("tampered")
	tampered.Snapshot(tc, signed)
	tampered.Ref("main", tc)
	// Replace one blob's content under the same name.
	if err := os.WriteFile(filepath.Join(tampered.BlobsDir(), hftest.Etag("weights")), []byte("WEIGHTS"), 0o644); err != nil {
		t.Fatal(err)
	}

	escape := c.Repo("org/escape")
	ec := hftest.Commit("escape")
	escape.Snapshot(ec, signed)
	escape.Ref("main", ec)
	outside := writeFile(t, tempDir(t), "outside", []byte("weights"))
	mustRemove(t, filepath.Join(escape.SnapshotDir(ec), "model.safetensors"))
	escape.Symlink(ec, "model.safetensors", outside)

	cycle := c.Repo("org/cycle")
	cc := hftest.Commit("cycle")
	cycle.Snapshot(cc, signed)
	cycle.Ref("main", cc)
	mustRemove(t, filepath.Join(cycle.SnapshotDir(cc), "config.json"))
	cycle.Symlink(cc, "config.json", "config.json")

	skipName := "s"
	models := obj{
		// A path rule first in the file: hub rules still come first.
		{"regex:" + reQuote(c.Root) + "/models--org--(good|pathrule|partial|nosig|extra|tampered|escape|cycle)/snapshots/.*", obj{{"signer", "k"}}},
		{"hf:org/good@" + v2, obj{{"signer", skipName}}},
		{"hf:org/good", obj{{"signer", "k"}}},
		{"hf:org/case", obj{{"signer", "k"}}},
	}
	p := mustParse(t, "", doc(obj{{"k", fx.signer}, {skipName, obj{{"verification_method", "skip"}}}}, models, nil), quietOptions(nil))

	snap := func(id, commit string) string {
		return filepath.Join(c.Root, "models--"+strings.ReplaceAll(id, "/", "--"), "snapshots", commit)
	}
	pathRule := models[0].k
	for _, tt := range []struct {
		name, id, rev string
		outcome       Outcome
		code          Code
		rule          string
		commit        string
		reason        []string
	}{
		{"hf:ID rule, verified", "org/good", "", Verified, "", "hf:org/good", good,
			[]string{`hub rule "hf:org/good" names this id (any commit)`, "verified with signer"}},
		{"hf:ID@COMMIT wins over hf:ID", "org/good", "v2", Skipped, "", "hf:org/good@" + v2, v2,
			[]string{"names this id at commit " + v2}},
		{"revision given as a commit", "org/good", v2, Skipped, "", "hf:org/good@" + v2, v2, nil},
		{"hf:ID for another commit", "org/good", good, Verified, "", "hf:org/good", good, nil},
		{"path rule on the snapshot", "org/pathrule", "", Verified, "", pathRule, "",
			[]string{"the snapshot of \"org/pathrule\"", "no hub rule names the id"}},
		{"no rule", "org/norule", "", Denied, CodeNoRule, "", "",
			[]string{`no key "hf:org/norule@`, `or "hf:org/norule"`, snap("org/norule", "")}},
		{"ids compare exactly", "Org/Case", "", Denied, CodeNoRule, "", "", []string{`"hf:Org/Case"`}},
		{"id not in the cache", "org/absent", "", Denied, CodeNotFound, "", "",
			[]string{`"org/absent"`, `no folder "` + c.Root + `/models--org--absent"`, `HF_HUB_CACHE="` + c.Root + `"`,
				"hf download org/absent --revision main --cache-dir " + c.Root}},
		{"revision not in the cache", "org/good", "v9", Denied, CodeNotFound, "", "",
			[]string{`no ref file`, "refs/v9", "hf download org/good --revision v9"}},
		{"commit not in the cache", "org/good", strings.Repeat("0", 40), Denied, CodeNotFound, "", "",
			[]string{"no snapshot folder"}},
		{"invalid id", "org/a/b", "", Denied, CodeError, "", "", []string{`invalid Hugging Face id "org/a/b"`}},
		{"invalid revision", "org/good", "../x", Denied, CodeError, "", "", []string{`invalid revision "../x"`}},
		{"partial snapshot", "org/partial", "", Denied, CodePartialSnapshot, pathRule, "",
			[]string{`lacks 2 files its signature lists: "generation_config.json", "tokenizer/vocab.txt"`,
				"fetch the whole revision with `hf download org/partial --revision"}},
		{"snapshot without the signature", "org/nosig", "", Denied, CodePartialSnapshot, pathRule, "",
			[]string{`has no signature file`, "model.sig", "hf download org/nosig --revision"}},
		{"extra file is not partial", "org/extra", "", Denied, CodeVerificationFailed, pathRule, "", []string{`1 extra file ("extra.py")`}},
		{"tampered blob", "org/tampered", "", Denied, CodeVerificationFailed, pathRule, tc, []string{`"model.safetensors"`, "changed"}},
		{"link escaping blobs", "org/escape", "", Denied, CodeVerificationFailed, "", ec,
			[]string{"absolute or empty target", "blobs folder"}},
		{"link cycle", "org/cycle", "", Denied, CodeVerificationFailed, "", cc, []string{"cycle"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			p.log = quietOptions(&logs).Logger
			d := p.DecideHub(bg, Model, fx.root, tt.id, tt.rev)
			if d.Outcome != tt.outcome || d.Code != tt.code || d.Rule != tt.rule {
				t.Fatalf("outcome %s code %q rule %q, want %s %q %q: %s", d.Outcome, d.Code, d.Rule, tt.outcome, tt.code, tt.rule, d.Reason)
			}
			for _, r := range tt.reason {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason lacks %q:\n%s", r, d.Reason)
				}
			}
			if d.Path != tt.id || d.HubID != tt.id || d.HubCache != c.Root || d.HubCacheChosenBy != `HF_HUB_CACHE="`+c.Root+`"` {
				t.Errorf("hub fields: %+v", d)
			}
			wantRev := tt.rev
			if wantRev == "" {
				wantRev = "main"
			}
			if d.HubRevision != wantRev {
				t.Errorf("revision %q, want %q", d.HubRevision, wantRev)
			}
			if tt.commit != "" {
				if d.HubCommit != tt.commit || d.CanonicalPath != snap(tt.id, tt.commit) {
					t.Errorf("commit %q at %q, want %q", d.HubCommit, d.CanonicalPath, tt.commit)
				}
			}
			switch {
			case hfcache.IsCommit(tt.rev):
				if d.HubRef != "" {
					t.Errorf("ref %q for a commit revision", d.HubRef)
				}
			case d.HubCommit != "":
				if want := filepath.Join(c.Root, "models--"+strings.ReplaceAll(tt.id, "/", "--"), "refs", wantRev); d.HubRef != want {
					t.Errorf("ref %q, want %q", d.HubRef, want)
				}
			}
			if n := strings.Count(logs.String(), "\n"); n != 1 {
				t.Errorf("%d log records, want 1:\n%s", n, logs.String())
			}
			if tt.outcome != Denied {
				var rec map[string]any
				if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
					t.Fatal(err)
				}
				if rec["hub_id"] != tt.id || rec["commit"] != d.HubCommit {
					t.Errorf("log record lacks the hub fields: %s", logs.String())
				}
			}
		})
	}
}

// TestDecideHubSections: a kind the policy does not govern is allowed
// whether or not the id is in the cache, and the commit is recorded when
// it is (so vLLM can still be pinned to it); LoRA adapters use the loras
// section.
func TestDecideHubSections(t *testing.T) {
	fx := newHubFixture(t)
	commit := fx.cache.Add("org/adapter", "main", signedFiles(t, fx.s, map[string]string{"adapter_config.json": "{}"}))
	p := mustParse(t, "", doc(obj{{"k", fx.signer}}, nil, obj{{"hf:org/adapter", obj{{"signer", "k"}}}}), quietOptions(nil))

	d := p.DecideHub(bg, Model, fx.root, "org/adapter", "")
	if d.Outcome != NotRequired || d.HubCommit != commit {
		t.Errorf("model, no models section: %s commit %q: %s", d.Outcome, d.HubCommit, d.Reason)
	}
	d = p.DecideHub(bg, Model, fx.root, "org/absent", "")
	if d.Outcome != NotRequired || d.HubCommit != "" {
		t.Errorf("model not in the cache, no models section: %s %q", d.Outcome, d.HubCommit)
	}
	d = p.DecideHub(bg, LoRA, fx.root, "org/adapter", "")
	if d.Outcome != Verified || d.Rule != "hf:org/adapter" {
		t.Errorf("lora: %s %q: %s", d.Outcome, d.Rule, d.Reason)
	}
	d = p.DecideHub(bg, "weights", fx.root, "org/adapter", "")
	if d.Outcome != Denied || d.Code != CodeError {
		t.Errorf("unknown kind: %s %s", d.Outcome, d.Code)
	}
}

// TestDecideHubEntryOptions: an entry's signature and ignore_paths are
// relative to the snapshot.
func TestDecideHubEntryOptions(t *testing.T) {
	fx := newHubFixture(t)
	dir := t.TempDir()
	files := map[string]string{"config.json": "{}", "model.safetensors": "w"}
	for n, c := range files {
		writeFile(t, dir, n, []byte(c))
	}
	mkdir(t, dir, "sigs")
	sign(t, fx.s, dir, modelsig.SignOptions{SignaturePath: filepath.Join(dir, "sigs", "tiny.sig"), IgnorePaths: []string{filepath.Join(dir, "sigs")}})
	sig, err := os.ReadFile(filepath.Join(dir, "sigs", "tiny.sig"))
	if err != nil {
		t.Fatal(err)
	}
	snapFiles := maps.Clone(files)
	snapFiles["sigs/tiny.sig"] = string(sig)
	snapFiles["README.md"] = "not signed"
	fx.cache.Add("org/opts", "main", snapFiles)
	p := mustParse(t, "", doc(obj{{"k", fx.signer}}, obj{{"hf:org/opts", obj{{"signer", "k"}, {"signature", "sigs/tiny.sig"}, {"ignore_paths", []string{"README.md"}}}}}, nil), quietOptions(nil))
	d := p.DecideHub(bg, Model, fx.root, "org/opts", "")
	if d.Outcome != Verified {
		t.Fatalf("%s: %s", d.Outcome, d.Reason)
	}
	if want := filepath.Join(d.CanonicalPath, "sigs", "tiny.sig"); d.Signature != want {
		t.Errorf("signature %q, want %q", d.Signature, want)
	}
}

// TestDecideHubSameCommit: vLLM's --download-dir must hold the commit the
// cache root resolved to.
func TestDecideHubSameCommit(t *testing.T) {
	fx := newHubFixture(t)
	signed := signedFiles(t, fx.s, tinyModel)
	commit := fx.cache.Add("org/m", "main", signed)
	same := hftest.At(t, filepath.Join(t.TempDir(), "dl-same"))
	same.Add("org/m", "main", signed)
	other := hftest.At(t, filepath.Join(t.TempDir(), "dl-other"))
	o := other.Repo("org/m")
	oc := hftest.Commit("other")
	o.Snapshot(oc, signed)
	o.Ref("main", oc)
	empty := hftest.At(t, filepath.Join(t.TempDir(), "dl-empty"))

	p := mustParse(t, "", doc(obj{{"k", fx.signer}}, obj{{"hf:org/m", obj{{"signer", "k"}}}}, nil), quietOptions(nil))
	first := p.DecideHub(bg, Model, fx.root, "org/m", "")
	if first.Outcome != Verified || first.HubCommit != commit {
		t.Fatalf("first: %s %s", first.Outcome, first.Reason)
	}
	dl := func(c *hftest.Cache) hfcache.Root {
		r, err := hfcache.DownloadDirRoot(c.Root)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	d := p.DecideHubSameCommit(bg, Model, dl(same), first)
	if d.Outcome != Verified || d.HubCommit != commit || d.HubCacheChosenBy != `--download-dir "`+same.Root+`"` {
		t.Errorf("same commit: %s %q %q: %s", d.Outcome, d.HubCommit, d.HubCacheChosenBy, d.Reason)
	}
	d = p.DecideHubSameCommit(bg, Model, dl(other), first)
	if d.Outcome != Denied || d.Code != CodeVerificationFailed || !containsAll(d.Reason, commit, oc, "two commits", "--cache-dir "+other.Root) {
		t.Errorf("other commit: %s %s: %s", d.Outcome, d.Code, d.Reason)
	}
	d = p.DecideHubSameCommit(bg, Model, dl(empty), first)
	if d.Outcome != Denied || d.Code != CodeNotFound || !strings.Contains(d.Reason, "--cache-dir "+empty.Root) {
		t.Errorf("absent: %s %s: %s", d.Outcome, d.Code, d.Reason)
	}
}

// TestExplainHub: explain shows the resolution and the rule, hashing
// nothing (a tampered blob still explains as "verify").
func TestExplainHub(t *testing.T) {
	fx := newHubFixture(t)
	files := signedFiles(t, fx.s, tinyModel)
	commit := fx.cache.Add("org/m", "main", files)
	if err := os.WriteFile(filepath.Join(fx.cache.Repo("org/m").BlobsDir(), hftest.Etag("weights")), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, "", doc(obj{{"k", fx.signer}}, obj{{"hf:org/m@" + commit, obj{{"signer", "k"}}}}, nil), quietOptions(nil))
	e := p.ExplainHub(Model, fx.root, "org/m", "")
	if e.Action != "verify" || e.Rule != "hf:org/m@"+commit || e.HubCommit != commit || e.HubCache != fx.cache.Root {
		t.Fatalf("%+v", e)
	}
	text := e.String()
	for _, want := range []string{`hugging face id:  "org/m"`, `revision:         "main"`, `cache chosen by:  HF_HUB_CACHE=`,
		"commit:           " + commit, `ref:              "` + fx.cache.Root + `/models--org--m/refs/main"`, "snapshot:", "signature:"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"hub_id":"org/m"`, `"commit":"` + commit, `"cache_dir":`, `"ref":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	e = p.ExplainHub(Model, fx.root, "org/absent", "")
	if e.Action != "deny" || e.Code != CodeNotFound || !strings.Contains(e.Why, "hf download") {
		t.Errorf("absent: %+v", e)
	}
}

// TestPathDecideOfHubID: a plain path decision of something that looks
// like a hub id stays not-local, and says where ids are resolved.
func TestPathDecideOfHubID(t *testing.T) {
	p := mustParse(t, "", doc(skipSigners("s"), obj{{"hf:org/m", obj{{"signer", "s"}}}}, nil), Options{WorkDir: tempDir(t), Logger: quietOptions(nil).Logger})
	d := p.Decide(bg, Model, "org/m")
	if d.Code != CodeNotLocal || !strings.Contains(d.Reason, "modelgate verify --model ORG/NAME") {
		t.Errorf("%s: %s", d.Code, d.Reason)
	}
}

// TestLintHubKeys: hub keys load; ids that differ only in case warn; an
// absolute ignore path on a hub rule warns.
func TestLintHubKeys(t *testing.T) {
	d := tempDir(t)
	commit := strings.Repeat("ab", 20)
	text := mustJSON(t, doc(skipSigners("s"), obj{
		{"hf:org/Model", obj{{"signer", "k"}}},
		{"hf:org/model@" + commit, obj{{"signer", "k"}, {"ignore_paths", []string{"/abs", "README.md"}}}},
		{"hf:gpt2", obj{{"signer", "k"}}},
	}, nil))
	pub := writeECPublicKey(t, d, "pub.pem")
	text = bytes.Replace(text, []byte(`"signers": {`), []byte(`"signers": {"k": {"verification_method": "key", "public_key": "`+pub+`"},`), 1)
	path := writeFile(t, d, "policy.json", text)
	r, err := Lint(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("errors: %v", r.Errors)
	}
	all := r.String()
	for _, want := range []string{
		`Hugging Face id "org/model" differs from "org/Model"`,
		`ignore path "/abs" is absolute, but a hub rule applies to snapshot folders`,
		`signer "s" is not used`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("lint lacks %q:\n%s", want, all)
		}
	}
	if len(r.Warnings) != 3 {
		t.Errorf("%d warnings:\n%s", len(r.Warnings), all)
	}
	p, err := Load(path, quietOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	sec := p.sections[Model]
	if len(sec.hub) != 3 || sec.byHub["org/model@"+commit] == nil || sec.byHub["gpt2"] == nil || sec.byHub["org/Model"] == nil {
		t.Errorf("hub rules: %v", sec.byHub)
	}
}

func mustRemove(t testing.TB, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// TestHubNoRuleNotesOnce: an exact key that is a symlink to the snapshot
// does not apply (exact keys are never resolved), and says so once: in
// the decision's reason, and in an explanation's notes, not also in its
// why.
func TestHubNoRuleNotesOnce(t *testing.T) {
	fx := newHubFixture(t)
	commit := fx.cache.Add("org/m", "main", signedFiles(t, fx.s, tinyModel))
	link := filepath.Join(tempDir(t), "current")
	if err := os.Symlink(fx.cache.Repo("org/m").SnapshotDir(commit), link); err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, "", doc(obj{{"k", fx.signer}}, obj{{link + "/", obj{{"signer", "k"}}}}, nil), quietOptions(nil))
	const note = "exact keys are never resolved"
	d := p.DecideHub(context.Background(), Model, fx.root, "org/m", "")
	if d.Code != CodeNoRule || strings.Count(d.Reason, note) != 1 {
		t.Errorf("decision: code %s, reason %q", d.Code, d.Reason)
	}
	e := p.ExplainHub(Model, fx.root, "org/m", "")
	if e.Code != CodeNoRule || len(e.Notes) != 1 || strings.Contains(e.Why, note) || strings.Count(e.String(), note) != 1 {
		t.Errorf("explanation: code %s, why %q, notes %q", e.Code, e.Why, e.Notes)
	}
}
