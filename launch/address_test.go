package launch

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNewAddressLoopback: without uds, vLLM gets a free port on
// 127.0.0.1, and the gate's upstream is the same address.
func TestNewAddressLoopback(t *testing.T) {
	a, err := NewAddress(false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Remove()
	l := a.Listen()
	if l.Host != "127.0.0.1" || l.Port <= 0 || l.UDS != "" {
		t.Fatalf("Listen() = %+v, want 127.0.0.1 and a port", l)
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(l.Port); a.Upstream() != want {
		t.Errorf("Upstream() = %q, want %q", a.Upstream(), want)
	}
	// The port was free: vLLM can take it.
	ln, err := net.Listen("tcp", net.JoinHostPort(l.Host, strconv.Itoa(l.Port)))
	if err != nil {
		t.Fatalf("the chosen port is not free: %v", err)
	}
	ln.Close()
}

// TestNewAddressUDS: with uds, vLLM gets a socket in a new folder only
// this user may enter, which Remove deletes with whatever is in it.
func TestNewAddressUDS(t *testing.T) {
	tmp := tempDir(t)
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", tmp)
	a, err := NewAddress(true)
	if err != nil {
		t.Fatal(err)
	}
	l := a.Listen()
	if l.UDS == "" || l.Host != "" || l.Port != 0 {
		t.Fatalf("Listen() = %+v, want a unix socket alone", l)
	}
	dir := filepath.Dir(l.UDS)
	if filepath.Dir(dir) != tmp || !strings.HasPrefix(filepath.Base(dir), "modelgate-vllm-") || filepath.Base(l.UDS) != "vllm.sock" {
		t.Errorf("socket %q, want %s/modelgate-vllm-*/vllm.sock", l.UDS, tmp)
	}
	if a.Upstream() != "unix:"+l.UDS {
		t.Errorf("Upstream() = %q, want %q", a.Upstream(), "unix:"+l.UDS)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("socket folder mode %v, want 0700", perm)
	}
	if err := os.WriteFile(l.UDS, nil, 0o600); err != nil { // stands for vLLM's socket
		t.Fatal(err)
	}
	a.Remove()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Remove, the socket folder: %v; want it gone", err)
	}
	a.Remove() // twice is harmless
}

// TestNewAddressUDSTooLong: a socket path longer than unix sockets allow
// is refused with advice, and leaves no folder behind.
func TestNewAddressUDSTooLong(t *testing.T) {
	tmp := filepath.Join(tempDir(t), strings.Repeat("d", 100))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", tmp)
	a, err := NewAddress(true)
	if err == nil {
		a.Remove()
		t.Fatalf("NewAddress(true) in %q: no error", tmp)
	}
	if !strings.Contains(err.Error(), "longer than unix sockets allow") || !strings.Contains(err.Error(), "TMPDIR") {
		t.Errorf("error %q does not say the path is too long and what to do", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}
