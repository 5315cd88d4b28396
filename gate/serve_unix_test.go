//go:build unix

package gate

import (
	"os"
	"syscall"
	"testing"
)

// TestReloadOnSIGHUP: the reload signal reloads even an unchanged file
// (trust material it names may have changed).
func TestReloadOnSIGHUP(t *testing.T) {
	s := serve(t, func(_ *harness, c *Config) { c.ReloadSignals = []os.Signal{syscall.SIGHUP} })
	m := s.h.gate.metrics
	if code, _ := get(t, s.adm+"/healthz"); code != 200 {
		t.Fatal("not serving")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGHUP reloads", func() bool { return testCounter(t, m.reloads) == 2 })
	s.h.fx.writePolicy(t, []byte(`not json`))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed reload is counted", func() bool { return testCounter(t, m.reloadFailures) == 1 })
	if code, _ := postJSON(t, s.api+"/v1/load_lora_adapter", loadBody("a", s.h.fx.good)); code != 200 {
		t.Errorf("the previous policy is not in force: %d", code)
	}
}
