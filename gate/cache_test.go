//go:build linux

package gate

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/modelgate/modelgate/hashcache"
)

// waitAged waits until every file under dir has a change time more than
// two seconds old: only then does hashing store its digest (a change in
// the same timestamp tick would go unseen).
func waitAged(t *testing.T, dir string) {
	t.Helper()
	var newest time.Time
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if c := time.Unix(st.Ctim.Unix()); c.After(newest) {
				newest = c
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(newest.Add(2100 * time.Millisecond)))
}

// TestGateCacheKeepsDigests: with a memory cache in PolicyOptions, an
// adapter loaded again after vLLM unloaded it, and again after a policy
// reload, is decided (signature and file list checked) without reading
// its files again.
func TestGateCacheKeepsDigests(t *testing.T) {
	mem := hashcache.NewMemory(0, nil)
	withCache := func(_ *harness, c *Config) { c.PolicyOptions.Cache = mem }
	h := newHarness(t, withCache)
	waitAged(t, h.fx.good)

	load := func(name string) {
		t.Helper()
		if r := h.postJSON("/v1/load_lora_adapter", loadBody(name, h.fx.good)); r.status != http.StatusOK {
			t.Fatalf("load %s: %d %s", name, r.status, r.body)
		}
	}
	load("a")
	read := testCounter(t, h.gate.metrics.bytesHashed)
	if read == 0 || mem.Len() != 2 {
		t.Fatalf("first load read %v bytes and cached %d digests; want the adapter's 2 files", read, mem.Len())
	}
	if r := h.postJSON("/v1/unload_lora_adapter", `{"lora_name":"a"}`); r.status != http.StatusOK {
		t.Fatalf("unload: %d %s", r.status, r.body)
	}
	load("b")
	if err := h.gate.Reload(); err != nil {
		t.Fatal(err)
	}
	load("c")
	if got := testCounter(t, h.gate.metrics.bytesHashed); got != read {
		t.Errorf("bytes hashed went from %v to %v: an unchanged adapter was read again", read, got)
	}
	if calls := h.calls.Load(); calls != 3 {
		t.Errorf("%d decisions, want 3: the cache saves hashing, not deciding", calls)
	}
}
