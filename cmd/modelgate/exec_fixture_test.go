//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/hftest"
	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/modelsig"
)

// The tests of `modelgate exec` need a vLLM that records how it was
// started. The test binary plays it: linked into a bin folder as "vllm"
// and "python3", it runs fakeVLLM instead of the tests when its name is
// one of those and fakeVLLMRecord is set.
const fakeVLLMRecord = "MODELGATE_TEST_FAKE_VLLM_RECORD"

// isFakeVLLM reports whether this process is the fake vLLM.
func isFakeVLLM() bool {
	base := filepath.Base(os.Args[0])
	return os.Getenv(fakeVLLMRecord) != "" && (base == "vllm" || base == "python3")
}

// vllmRecord is what the fake vLLM saw.
type vllmRecord struct {
	Argv   []string `json:"argv"`
	Env    []string `json:"env"`
	Dir    string   `json:"dir"`
	PID    int      `json:"pid"`
	Config string   `json:"config"` // the --config file's contents, as vLLM would read them
	// StartNS is when the fake started (UnixNano), for bench/exec.sh.
	StartNS int64 `json:"start_ns"`
	// PGID is the fake's process group.
	PGID int `json:"pgid"`
	// Locked are the files ending in ".lock" that the fake holds a lock
	// on through a descriptor it inherited (Linux: /proc/self/fd).
	Locked []string `json:"locked"`
}

// fakeVLLM records its argv, environment, working directory and process
// id (and the contents of its --config file) and exits 0, or serves HTTP
// (see serveFakeVLLM).
func fakeVLLM() {
	rec := vllmRecord{Argv: os.Args, Env: os.Environ(), PID: os.Getpid(), StartNS: time.Now().UnixNano(), PGID: syscall.Getpgrp()}
	rec.Dir, _ = os.Getwd()
	rec.Locked = inheritedLocks()
	for i, a := range os.Args {
		if a == "--config" && i+1 < len(os.Args) {
			b, _ := os.ReadFile(os.Args[i+1])
			rec.Config = string(b)
		}
	}
	b, _ := json.Marshal(rec)
	// Written whole, then renamed: a test may be polling for it.
	record := os.Getenv(fakeVLLMRecord)
	if err := os.WriteFile(record+".tmp", b, 0o600); err != nil || os.Rename(record+".tmp", record) != nil {
		os.Exit(3)
	}
	if os.Getenv(fakeServe) == "1" {
		serveFakeVLLM(os.Getenv(fakeVLLMRecord))
	}
	os.Exit(0)
}

// inheritedLocks lists the ".lock" files this process has open (Linux)
// that a fresh open cannot lock exclusively: a lock is held on them,
// through the descriptors inherited across exec.
func inheritedLocks() []string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasSuffix(target, ".lock") {
			continue
		}
		f, err := os.Open(target)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == syscall.EWOULDBLOCK {
			out = append(out, target)
		}
		f.Close()
	}
	return out
}

// execFixture is a world for `modelgate exec`: signed and unsigned model
// folders and adapters, a GGUF folder, a Hugging Face hub cache with
// signed snapshots (and broken ones), two --download-dir caches and
// policies over all of them. It is built once per test binary and shared
// read-only.
//
//	root/models/good        signed (config.json, model.safetensors, tokenizer.json)
//	root/models/unsigned    no signature, under the same rule
//	root/models/skipped     no signature, rule with a skip signer
//	root/models/spec-hub    signed speculators model, verifier org/verifier
//	root/models/spec-local  signed speculators model, verifier root/models/good
//	root/models/spec-bad    signed speculators model, verifier org/unsigned
//	root/gguf/              signed folder: tiny.gguf, mmproj-tiny.gguf, config.json
//	root/adapters/a, b      signed LoRA adapters; root/adapters/unsigned
//	root/hub                hub cache: org/good (main, and branch v2), org/verifier,
//	                        org/config, org/unsigned, org/partial, org/escape, org/cycle
//	root/dl-same            --download-dir with org/good at main's commit
//	root/dl-other           --download-dir with org/good at another commit
//	root/policy.json        the policy (see writePolicies); root/nolora.json the same
//	                        without "loras"; root/nomodels.json without "models"
type execFixture struct {
	root, hub, dlSame, dlOther  string
	policy, noLoRAs, noModels   string
	good, unsigned, skipped     string
	specHub, specLocal, specBad string
	gguf, adapterA, adapterB    string
	adapterUnsigned             string
	goodCommit, v2Commit, verC  string
	configCommit, otherDLCommit string
	escapeCommit, partialCommit string
	specCommit                  string
	signer                      modelsig.Signer
	pub                         string
}

var (
	execFxOnce sync.Once
	execFx     *execFixture
)

// newExecFixture returns the shared fixture, building it on first use.
func newExecFixture(t *testing.T) *execFixture {
	t.Helper()
	execFxOnce.Do(func() { execFx = buildExecFixture(t) })
	if execFx == nil {
		t.Fatal("building the exec fixture failed")
	}
	return execFx
}

var modelFiles = map[string]string{
	"config.json":       `{"model_type": "llama"}`,
	"model.safetensors": "weights",
	"tokenizer.json":    `{"version": "1.0"}`,
}

func buildExecFixture(t *testing.T) *execFixture {
	tmp, err := os.MkdirTemp("", "exec-fixture-")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		t.Fatal(err)
	}
	// Shared by every test of the binary: TestMain removes it.
	key := testpki.Key(t, nil)
	s, err := modelsig.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	fx := &execFixture{root: root, signer: s, pub: filepath.Join(root, "keys", "pub.pem")}
	testpki.WritePublicKey(t, fx.pub, &key.PublicKey)
	m := func(name string) string { return filepath.Join(root, "models", name) }
	fx.good, fx.unsigned, fx.skipped = m("good"), m("unsigned"), m("skipped")
	fx.specHub, fx.specLocal, fx.specBad = m("spec-hub"), m("spec-local"), m("spec-bad")
	fx.folder(t, fx.good, modelFiles, true)
	fx.folder(t, fx.unsigned, modelFiles, false)
	fx.folder(t, fx.skipped, modelFiles, false)
	spec := func(verifier string) map[string]string {
		files := maps.Clone(modelFiles)
		files["config.json"] = `{"model_type": "llama", "speculators_config": {"verifier": {"name_or_path": ` + string(must(json.Marshal(verifier))) + `}}}`
		return files
	}
	fx.folder(t, fx.specHub, spec("org/verifier"), true)
	fx.folder(t, fx.specLocal, spec(fx.good), true)
	fx.folder(t, fx.specBad, spec("org/unsigned"), true)
	fx.gguf = filepath.Join(root, "gguf")
	fx.folder(t, fx.gguf, map[string]string{"tiny.gguf": "GGUF tiny", "mmproj-tiny.gguf": "GGUF proj", "config.json": "{}"}, true)
	a := func(name string) string { return filepath.Join(root, "adapters", name) }
	fx.adapterA, fx.adapterB, fx.adapterUnsigned = a("a"), a("b"), a("unsigned")
	adapter := map[string]string{"adapter_config.json": `{"peft_type": "LORA"}`, "adapter_model.safetensors": "lora"}
	fx.folder(t, fx.adapterA, adapter, true)
	fx.folder(t, fx.adapterB, adapter, true)
	fx.folder(t, fx.adapterUnsigned, adapter, false)

	fx.hub = filepath.Join(root, "hub")
	c := hftest.At(t, fx.hub)
	signed := fx.signedFiles(t, modelFiles)
	fx.goodCommit = c.Add("org/good", "main", signed)
	v2 := maps.Clone(modelFiles)
	v2["model.safetensors"] = "weights v2"
	fx.v2Commit = c.Add("org/good", "v2", fx.signedFiles(t, v2))
	fx.verC = c.Add("org/verifier", "main", signed)
	fx.configCommit = c.Add("org/config", "main", fx.signedFiles(t, map[string]string{"config.json": "{}"}))
	c.Add("org/unsigned", "main", modelFiles)
	partial := maps.Clone(signed)
	delete(partial, "tokenizer.json")
	fx.partialCommit = c.Add("org/partial", "main", partial)
	fx.specCommit = c.Add("org/spec", "main", fx.signedFiles(t, spec("org/verifier")))
	fx.escapeCommit = c.Add("org/escape", "main", signed)
	esc := c.Repo("org/escape")
	mustRemove(t, filepath.Join(esc.SnapshotDir(fx.escapeCommit), "model.safetensors"))
	esc.Symlink(fx.escapeCommit, "model.safetensors", "../../../models--org--good/blobs/"+hftest.Etag("weights"))
	cyc := c.Add("org/cycle", "main", signed)
	mustRemove(t, filepath.Join(c.Repo("org/cycle").SnapshotDir(cyc), "config.json"))
	c.Repo("org/cycle").Symlink(cyc, "config.json", "config.json")

	fx.dlSame = filepath.Join(root, "dl-same")
	hftest.At(t, fx.dlSame).Add("org/good", "main", signed)
	fx.dlOther = filepath.Join(root, "dl-other")
	other := hftest.At(t, fx.dlOther).Repo("org/good")
	fx.otherDLCommit = hftest.Commit("another commit")
	other.Snapshot(fx.otherDLCommit, signed)
	other.Ref("main", fx.otherDLCommit)
	fx.writePolicies(t)
	return fx
}

// folder writes files into dir, signed with the fixture's key when sign.
func (fx *execFixture) folder(t *testing.T, dir string, files map[string]string, sign bool) {
	t.Helper()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), []byte(content))
	}
	if sign {
		if _, err := modelsig.Sign(context.Background(), dir, fx.signer, modelsig.SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// signedFiles returns files with a model.sig over them, for a snapshot.
func (fx *execFixture) signedFiles(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fx.folder(t, dir, files, true)
	out := maps.Clone(files)
	out["model.sig"] = string(mustRead(t, filepath.Join(dir, "model.sig")))
	return out
}

// writePolicies writes the fixture's policies: models under root/models
// and root/gguf, hub ids org/good, org/verifier, org/config (any commit)
// and the broken snapshots (by path), adapters a and b.
func (fx *execFixture) writePolicies(t *testing.T) {
	t.Helper()
	q := func(s string) string { return strings.ReplaceAll(s, ".", `\.`) }
	signers := map[string]any{
		"k":    map[string]any{"verification_method": "key", "public_key": fx.pub},
		"skip": map[string]any{"verification_method": "skip"},
	}
	models := map[string]any{
		"regex:" + q(fx.root) + "/models/(good|unsigned|spec-hub|spec-local|spec-bad)": map[string]any{"signer": "k"},
		fx.skipped:        map[string]any{"signer": "skip"},
		fx.gguf:           map[string]any{"signer": "k"},
		"hf:org/good":     map[string]any{"signer": "k"},
		"hf:org/verifier": map[string]any{"signer": "k"},
		"hf:org/config":   map[string]any{"signer": "k"},
		"hf:org/unsigned": map[string]any{"signer": "k"},
		"hf:org/spec":     map[string]any{"signer": "k"},
		"regex:" + q(fx.hub) + "/models--org--(partial|escape|cycle)/snapshots/.*": map[string]any{"signer": "k"},
	}
	loras := map[string]any{"regex:" + q(fx.root) + "/adapters/(a|b|unsigned)": map[string]any{"signer": "k"}}
	write := func(name string, sections map[string]any) string {
		sigs := map[string]any{"signers": signers}
		maps.Copy(sigs, sections)
		p := filepath.Join(fx.root, name)
		writeFile(t, p, must(json.Marshal(map[string]any{"policy": map[string]any{"signatures": sigs}})))
		return p
	}
	fx.policy = write("policy.json", map[string]any{"models": models, "loras": loras})
	fx.noLoRAs = write("nolora.json", map[string]any{"models": models})
	fx.noModels = write("nomodels.json", map[string]any{"loras": loras})
}

// execCall is an exec that an in-process run would have made.
type execCall struct {
	path      string
	argv, env []string
}

// execRun is one in-process run of modelgate exec.
type execRun struct {
	result
	call *execCall // nil: vLLM was not started
}

// execWorld is the environment an in-process test runs modelgate exec
// in: its working directory, a PATH with a "vllm" and a "python3", HOME,
// and the fixture's hub cache.
func execWorld(t *testing.T, fx *execFixture) (workdir string) {
	t.Helper()
	bin := t.TempDir()
	for _, name := range []string{"vllm", "python3"} {
		writeFile(t, filepath.Join(bin, name), []byte("#!/bin/sh\nexit 0\n"))
		if err := os.Chmod(filepath.Join(bin, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	workdir = t.TempDir()
	home := t.TempDir()
	t.Chdir(workdir)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VLLM_") || strings.HasPrefix(name, "HF_") || strings.HasPrefix(name, "CUSTOM_") ||
			name == "HUGGINGFACE_HUB_CACHE" || name == "TRANSFORMERS_OFFLINE" || name == "XDG_CACHE_HOME" {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("PATH", bin)
	t.Setenv("HOME", home)
	t.Setenv("HF_HUB_CACHE", fx.hub)
	return workdir
}

// runExec runs `modelgate [global...] exec --security-policy POLICY
// [flags...] -- vllm...` in-process; an exec is recorded, not made.
func runExec(t *testing.T, pol string, flags []string, vllm ...string) execRun {
	t.Helper()
	return runExecHook(t, pol, flags, nil, vllm...)
}

// runExecHook is runExec calling atExec (when set) where the exec would
// happen.
func runExecHook(t *testing.T, pol string, flags []string, atExec func(), vllm ...string) execRun {
	t.Helper()
	args := append(append([]string{"exec", "--security-policy", pol}, flags...), "--")
	args = append(args, vllm...)
	var stdout, stderr bytes.Buffer
	a := newApp(&stdout, &stderr)
	a.isTerminal = func(io.Writer) bool { return false }
	var call *execCall
	a.execve = func(path string, argv, env []string) error {
		call = &execCall{path: path, argv: slices.Clone(argv), env: slices.Clone(env)}
		if atExec != nil {
			atExec()
		}
		return nil
	}
	code := a.run(context.Background(), args)
	r := execRun{result: result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}, call: call}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "internal error") {
		t.Errorf("modelgate %s: crashed:\n%s", strings.Join(args, " "), r.stderr)
	}
	if (call != nil) != (code == exitOK) {
		t.Errorf("modelgate %s: exit %d but exec made: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, call != nil, r.stdout, r.stderr)
	}
	return r
}

// wantExec fails unless the run exec'd vLLM with exactly argv and the
// test's environment hardened: added (NAME=VALUE entries that are set
// or replaced, in this order, after the process's own).
func (r execRun) wantExec(t *testing.T, argv []string, added ...string) execRun {
	t.Helper()
	r.want(t, exitOK)
	if r.call == nil {
		t.Fatal("vLLM was not started")
	}
	if !slices.Equal(r.call.argv, argv) {
		t.Errorf("argv:\n got %q\nwant %q", r.call.argv, argv)
	}
	if want := hardened(os.Environ(), added...); !slices.Equal(r.call.env, want) {
		t.Errorf("env:\n got %q\nwant %q", r.call.env, want)
	}
	return r
}

// hardened is environ with every entry of set replaced in place or, when
// absent, appended in order; the default hardening is HF_HUB_OFFLINE=1,
// TRANSFORMERS_OFFLINE=1 and VLLM_PLUGINS= unless environ has it.
func hardened(environ []string, set ...string) []string {
	if len(set) == 0 {
		set = []string{"HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"}
		if !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "VLLM_PLUGINS=") }) {
			set = append(set, "VLLM_PLUGINS=")
		}
	}
	out := slices.Clone(environ)
	for _, kv := range set {
		name, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// wantCode is result.want keeping the execRun.
func (r execRun) wantCode(t *testing.T, code int) execRun {
	t.Helper()
	r.want(t, code)
	return r
}

// records decodes exec's --output json lines.
func (r execRun) records(t *testing.T) []map[string]any { return jsonLines(t, r.stdout) }

// treeState lists every entry under the roots with its type, size, mode
// and modification time (links by their target), to show that nothing
// was written.
func treeState(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			v := fi.Mode().String() + " " + fi.ModTime().Format(time.RFC3339Nano)
			if fi.Mode().IsRegular() {
				v += " " + strconv.FormatInt(fi.Size(), 10)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, _ := os.Readlink(p)
				v += " -> " + target
			}
			out[p] = v
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return out
}
