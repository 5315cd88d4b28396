//go:build unix

package policy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withinDeadline runs f and fails the test if it has not returned after a
// generous deadline: a hang detector, not a timing assertion.
func withinDeadline(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s has not returned after 30s: it blocks", what)
	}
}

// TestLoadNotRegular (issue 7.6): a policy named by a FIFO, a device, a
// socket or a directory fails at once with a message saying what it is;
// opening a FIFO for reading would otherwise wait for a writer forever.
func TestLoadNotRegular(t *testing.T) {
	d := tempDir(t)
	fifo := filepath.Join(d, "policy.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(d, "policy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := []struct{ path, want string }{
		{fifo, "is a named pipe (FIFO), not a regular file"},
		{sock, "is a socket, not a regular file"},
		{d, "is a directory, not a regular file"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct{ path, want string }{"/dev/zero", "is a character device, not a regular file"})
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			want := fmt.Sprintf("read policy %q: %s", c.path, c.want)
			withinDeadline(t, "Load", func() {
				if _, err := Load(c.path, quietOptions(nil)); err == nil || err.Error() != want {
					t.Errorf("Load: %v\nwant %s", err, want)
				}
			})
			withinDeadline(t, "Lint", func() {
				if _, err := Lint(c.path); err == nil || err.Error() != want {
					t.Errorf("Lint: %v\nwant %s", err, want)
				}
			})
		})
	}
}

// TestTrustFileNotRegular: a trust file that is a FIFO is refused at load
// without blocking, naming the signer and the file.
func TestTrustFileNotRegular(t *testing.T) {
	d := tempDir(t)
	fifo := filepath.Join(d, "key.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": %q},
	  "c": {"verification_method": "certificate", "certificate_chain": [%q]}}, "models": {"/m": {"signer": "k"}, "/n": {"signer": "c"}}}}}`, fifo, fifo)
	withinDeadline(t, "Parse", func() {
		le := parseErr(t, d, []byte(doc))
		want := []string{
			fmt.Sprintf(`signers.k.public_key: signer "k": public key %q is a named pipe (FIFO), not a regular file`, fifo),
			fmt.Sprintf(`signers.c.certificate_chain[0]: signer "c": certificate file %q is a named pipe (FIFO), not a regular file`, fifo),
		}
		if len(le.Problems) != len(want) {
			t.Fatalf("problems:\n%v", le)
		}
		for i, w := range want {
			if !strings.Contains(le.Problems[i].String(), w) {
				t.Errorf("problem %d: %s\nwant %s", i, le.Problems[i], w)
			}
		}
	})
}
