package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withPrivateCache runs the tests with XDG_CACHE_HOME set to a fresh
// temporary folder, so that no test reads or fills the hash cache of
// whoever runs them (child processes inherit it), and with a fresh default
// cache folder for every in-process run: a test sees cached digests only
// from runs it gave the same --cache-dir.
func withPrivateCache(run func() int) int {
	dir, err := os.MkdirTemp("", "modelgate-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("XDG_CACHE_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defaultCacheDir = func() (string, error) { return os.MkdirTemp(dir, "run-") }
	return run()
}

// agedSignedModel is signedModel, waited on until its files are older than
// the two seconds after which the hash cache stores digests (a change in
// the same timestamp tick would go unseen). Tests using it should be
// parallel, so that the waits overlap.
func agedSignedModel(t *testing.T) (model, pub string) {
	t.Helper()
	model, _, pub = signedModel(t)
	time.Sleep(2100 * time.Millisecond)
	return model, pub
}

// TestCacheFlags: every command that hashes takes --cache-dir and
// --no-cache; policy explain, which hashes nothing, does not.
func TestCacheFlags(t *testing.T) {
	root := newApp(nil, nil).rootCommand()
	for _, path := range [][]string{
		{"verify"}, {"verify", "key"}, {"verify", "certificate"}, {"verify", "sigstore"},
		{"sign", "key"}, {"sign", "certificate"}, {"digest"}, {"proxy"}, {"exec"},
	} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"cache-dir", "no-cache"} {
			if cmd.Flags().Lookup(flag) == nil {
				t.Errorf("%s has no --%s", strings.Join(path, " "), flag)
			}
		}
	}
	explain, _, err := root.Find([]string{"policy", "explain"})
	if err != nil {
		t.Fatal(err)
	}
	if explain.Flags().Lookup("cache-dir") != nil {
		t.Error("policy explain hashes nothing, yet takes --cache-dir")
	}
	var subs []string
	cache, _, _ := root.Find([]string{"cache"})
	for _, c := range cache.Commands() {
		subs = append(subs, c.Name())
	}
	if strings.Join(subs, " ") != "clear prune stats" {
		t.Errorf("cache subcommands %v", subs)
	}
}

// TestCacheVerifyAndManage: a second verification of an unchanged model
// reads nothing and says so; cache stats, prune and clear see and manage
// the entries; --no-cache reads everything.
func TestCacheVerifyAndManage(t *testing.T) {
	t.Parallel()
	model, pub := agedSignedModel(t)
	dir := filepath.Join(t.TempDir(), "cache")
	verify := func(extra ...string) result {
		return runCLI(t, append([]string{"verify", "key", "--public-key", pub, "--cache-dir", dir, "--output", "json"}, extra...)...)
	}
	cold := oneJSON(t, verify(model).want(t, 0).stdout)
	if cold["cached_bytes"] != nil || cold["bytes"].(float64) == 0 {
		t.Fatalf("cold run: %v", cold)
	}
	warm := oneJSON(t, verify(model).want(t, 0).stdout)
	if warm["bytes"].(float64) != 0 || warm["cached_bytes"] != cold["bytes"] {
		t.Errorf("warm run read %v bytes, %v cached; want 0 and %v", warm["bytes"], warm["cached_bytes"], cold["bytes"])
	}
	runCLI(t, "verify", "key", "--public-key", pub, "--cache-dir", dir, model).want(t, 0).
		stdoutHas(t, "all from the hash cache")
	none := oneJSON(t, verify("--no-cache", model).want(t, 0).stdout)
	if none["bytes"] != cold["bytes"] || none["cached_bytes"] != nil {
		t.Errorf("--no-cache: %v", none)
	}

	stats := oneJSON(t, runCLI(t, "cache", "stats", "--cache-dir", dir, "--output", "json").want(t, 0).stdout)
	if stats["entries"].(float64) != 5 || !strings.HasSuffix(stats["path"].(string), "digests.db") || stats["bytes"].(float64) == 0 {
		t.Errorf("stats: %v (want an entry for each of the 5 files)", stats)
	}
	runCLI(t, "cache", "stats", "--cache-dir", dir).want(t, 0).stdoutHas(t, "entries: 5 (at most", "digests.db")

	mustRemove(t, filepath.Join(model, "config.json"))
	runCLI(t, "cache", "prune", "--cache-dir", dir).want(t, 0).stdoutHas(t, "1 stale", "4 left")
	runCLI(t, "cache", "clear", "--cache-dir", dir).want(t, 0).stdoutHas(t, "cleared")
	stats = oneJSON(t, runCLI(t, "cache", "stats", "--cache-dir", dir, "--output", "json").want(t, 0).stdout)
	if stats["entries"].(float64) != 0 {
		t.Errorf("after clear: %v", stats)
	}
}

// TestCacheNeverPassesTampering: verify (filling the cache), then rewrite
// a file with its modification time restored: verification fails, with a
// method and with a policy, cache or not.
func TestCacheNeverPassesTampering(t *testing.T) {
	t.Parallel()
	model, pub := agedSignedModel(t)
	dir := filepath.Join(t.TempDir(), "cache")
	pol := everyModelByKey(t, pub)
	runCLI(t, "verify", "key", "--public-key", pub, "--cache-dir", dir, model).want(t, 0)
	runCLI(t, "verify", "--security-policy", pol, "--cache-dir", dir, "--model", model).want(t, 0).
		stdoutHas(t, "all from the hash cache")

	p := filepath.Join(model, "weights", "part-1.bin")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Repeat("WEIGHTS-1 ", 40))
	if err := os.WriteFile(p, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "verify", "key", "--public-key", pub, "--cache-dir", dir, model).want(t, 1).
		stderrHas(t, "part-1.bin")
	runCLI(t, "verify", "--security-policy", pol, "--cache-dir", dir, "--model", model).want(t, 1).
		stdoutHas(t, "denied", "part-1.bin")
}

// TestCacheUnusableDir: a cache folder others could write is not used,
// with a warning, and the verification still succeeds.
func TestCacheUnusableDir(t *testing.T) {
	model, _, pub := signedModel(t)
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "verify", "key", "--public-key", pub, "--cache-dir", dir, model).want(t, 0).
		stderrHas(t, "hash cache not used", "writable by group or others")
	if n := strings.Count(r.stderr, "hash cache not used"); n != 1 {
		t.Errorf("warned %d times:\n%s", n, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "digests.db")); !os.IsNotExist(err) {
		t.Errorf("a store was written into an untrusted folder: %v", err)
	}
	runCLI(t, "cache", "stats", "--cache-dir", dir).want(t, 2).stderrHas(t, "writable by group or others")
}
