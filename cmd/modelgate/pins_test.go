//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// copiesIn lists the copies (folders named by a digest) in a pin folder.
func copiesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) == 64 {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// keptLocks returns the lock files under dir this process has open
// without close-on-exec: what vLLM would inherit.
func keptLocks(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(target, dir) || !strings.HasSuffix(target, ".lock") {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			out = append(out, target)
		}
	}
	slices.Sort(out)
	return out
}

// TestExecPinDir: with --pin-dir, vLLM is exec'd on the verified copies
// (MODEL by hub id becomes a local folder under its own served name, no
// revision pin; adapters are copied; a skipped model stays where it is),
// holding a lock on each copy it inherits; a denial leaves no copy; the
// flags are checked.
func TestExecPinDir(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	pins := filepath.Join(t.TempDir(), "pins")

	var locks []string
	r := runExecHook(t, fx.policy, []string{"--pin-dir", pins, "--output", "json"}, func() { locks = keptLocks(t, pins) },
		"vllm", "serve", "org/good", "--enable-lora", "--lora-modules", "a="+fx.adapterA)
	r.want(t, exitOK)
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 {
		t.Fatalf("decisions %v", recs)
	}
	model, _ := recs[0]["pinned_path"].(string)
	adapter, _ := recs[1]["pinned_path"].(string)
	if !strings.HasPrefix(model, pins) || !strings.HasPrefix(adapter, pins) {
		t.Fatalf("pinned paths %q %q", model, adapter)
	}
	want := []string{"vllm", "serve", model, "--enable-lora", "--lora-modules", `{"name":"a","path":"` + adapter + `"}`, "--served-model-name", "org/good"}
	if !slices.Equal(r.call.argv, want) {
		t.Errorf("argv\n got %q\nwant %q", r.call.argv, want)
	}
	if runtime.GOOS == "linux" {
		if wantLocks := []string{adapter + ".lock", model + ".lock"}; !slices.Equal(locks, sorted(wantLocks)) {
			t.Errorf("locks kept across exec %q, want %q", locks, wantLocks)
		}
	}
	for name, content := range modelFiles {
		if b, err := os.ReadFile(filepath.Join(model, name)); err != nil || string(b) != content {
			t.Errorf("copy of %s: %q, %v", name, b, err)
		}
	}

	// Again: the copies are re-checked, not made again.
	r = runExec(t, fx.policy, []string{"--pin-dir", pins, "--output", "json"}, "vllm", "serve", "org/good")
	r.want(t, exitOK)
	if r.call.argv[2] != model || !strings.Contains(r.stdout, "re-checked") {
		t.Errorf("second run: argv %q\n%s", r.call.argv, r.stdout)
	}
	r = runExec(t, fx.policy, []string{"--pin-dir", pins}, "vllm", "serve", "org/good")
	if !strings.Contains(r.stdout, "loads from the verified copy "+strconv.Quote(model)) {
		t.Errorf("text output:\n%s", r.stdout)
	}

	// With --download-dir the copy is all vLLM reads: neither snapshot
	// matters to it, and the second (at another commit here) is not
	// decided.
	r = runExec(t, fx.policy, []string{"--pin-dir", pins, "--output", "json"}, "vllm", "serve", "org/good", "--download-dir", fx.dlOther)
	if r.want(t, exitOK); strings.Count(r.stdout, "\n") != 1 || !slices.Equal(r.call.argv, []string{"vllm", "serve", model, "--download-dir", fx.dlOther, "--served-model-name", "org/good"}) {
		t.Errorf("--download-dir: argv %q\n%s", r.call.argv, r.stdout)
	}

	// A skipped model is loaded where it is; a denied one leaves nothing.
	r = runExec(t, fx.policy, []string{"--pin-dir", pins}, "vllm", "serve", fx.skipped)
	if r.want(t, exitOK); !slices.Equal(r.call.argv, []string{"vllm", "serve", fx.skipped}) {
		t.Errorf("skipped: argv %q", r.call.argv)
	}
	before := copiesIn(t, pins)
	runExec(t, fx.policy, []string{"--pin-dir", pins}, "vllm", "serve", fx.good, "--lora-modules", "x="+fx.adapterUnsigned).want(t, exitDenied)
	entries, err := os.ReadDir(pins)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// fx.good holds what org/good holds: its copy is the same one.
	if after := copiesIn(t, pins); !slices.Equal(after, before) {
		t.Errorf("copies before %q, after %q", before, after)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestExecPinDirUsage: bad --pin-dir flags exit 2 before anything is
// decided.
func TestExecPinDirUsage(t *testing.T) {
	fx := newExecFixture(t)
	execWorld(t, fx)
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags []string
		msg   string
	}{
		{[]string{"--pin-dir-max-size", "1GB"}, "needs --pin-dir"},
		{[]string{"--pin-dir", t.TempDir(), "--pin-dir-max-size", "lots"}, "give a positive size"},
		{[]string{"--pin-dir", t.TempDir(), "--pin-dir-max-size", "0"}, "give a positive size"},
		{[]string{"--pin-dir", open}, "writable by group or others"},
	} {
		r := runExec(t, fx.policy, tc.flags, "vllm", "serve", fx.good)
		r.want(t, exitError)
		if !strings.Contains(r.stderr, tc.msg) || strings.Contains(r.stdout, "verified") {
			t.Errorf("%q: stderr %q, stdout %q", tc.flags, r.stderr, r.stdout)
		}
	}
}

// TestExecPinDirProcess: modelgate exec as a real process; vLLM, which
// replaces it, holds the lock of the copy it loads through the
// descriptor it inherited.
func TestExecPinDirProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake vLLM finds its locks through /proc/self/fd")
	}
	fx := newExecFixture(t)
	bin := vllmBin(t)
	pins := filepath.Join(t.TempDir(), "pins")
	record := filepath.Join(t.TempDir(), "record.json")
	env := []string{"PATH=" + bin, "HOME=" + t.TempDir(), "HF_HUB_CACHE=" + fx.hub, asModelgate + "=1", fakeVLLMRecord + "=" + record}
	c := startIn(t, t.TempDir(), env, "exec", "--security-policy", fx.policy, "--pin-dir", pins, "--", "vllm", "serve", fx.good)
	c.wait()
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("vLLM did not run: %v\nstderr:\n%s", err, c.stderr.String())
	}
	var rec vllmRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	copies := copiesIn(t, pins)
	if len(copies) != 1 || rec.Argv[2] != copies[0] {
		t.Fatalf("argv %q, copies %q", rec.Argv, copies)
	}
	if !slices.Equal(rec.Locked, []string{copies[0] + ".lock"}) {
		t.Errorf("vLLM holds locks on %q, want the copy's", rec.Locked)
	}
}

// TestProxyPinDirUsage: the proxy checks the pin flags before it starts.
func TestProxyPinDirUsage(t *testing.T) {
	dir := t.TempDir()
	pol := proxyPolicy(t, dir)
	sock := "unix:" + filepath.Join(dir, "s")
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	base := []string{"proxy", "--security-policy", pol, "--listen", sock, "--upstream", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		flags []string
		msg   string
	}{
		{[]string{"--pin-dir-max-size", "10GB"}, "needs --pin-dir"},
		{[]string{"--pin-dir", filepath.Join(dir, "pins"), "--pin-dir-max-size", "-1"}, "give a positive size"},
		{[]string{"--pin-dir", open}, "writable by group or others"},
	} {
		runCLI(t, append(slices.Clone(base), tc.flags...)...).want(t, exitError).stderrHas(t, tc.msg)
	}
}
