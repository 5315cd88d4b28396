//go:build unix

package modelsig

import (
	"context"
	"crypto/elliptic"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/testpki"
)

// concurrentModel makes a model big enough that a sign takes a moment
// (a few MiB in many files), so concurrent runs overlap.
func concurrentModel(t *testing.T) string {
	files := map[string]string{}
	chunk := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	for i := range 64 {
		files["d"+strconv.Itoa(i%8)+"/f"+strconv.Itoa(i)] = chunk
	}
	return testpki.Model(t, files)
}

// tempFiles lists names in dir that look like a signature's temporary
// file.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestConcurrentSignAndVerify runs signs of one model in parallel with
// verifies of it (issue 7.8): every verify passes (none ever sees a
// sign's temporary file, and the signature is always whole), the final
// signature verifies, and no temporary file is left in the model or next
// to it.
func TestConcurrentSignAndVerify(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := concurrentModel(t)
	if _, err := Sign(ctx, model, sc.signer, SignOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := Sign(ctx, model, sc.signer, SignOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	var vwg sync.WaitGroup
	for range 2 {
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	vwg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent run: %v", err)
	}
	if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{}); err != nil {
		t.Errorf("final signature: %v", err)
	}
	for _, dir := range []string{model, filepath.Dir(model)} {
		if left := tempFiles(t, dir); len(left) > 0 {
			t.Errorf("temporary files left in %s: %q", dir, left)
		}
	}
}

// TestKilledSignLeavesNothing kills signing processes at random moments:
// no temporary file remains and the signature on disk always verifies.
func TestKilledSignLeavesNothing(t *testing.T) {
	if os.Getenv("MODELGATE_SIGN_HELPER") != "" {
		t.Skip("helper process")
	}
	ctx := context.Background()
	key := testpki.Key(t, elliptic.P256())
	keyPath := filepath.Join(t.TempDir(), "key.pem")
	testpki.WriteKey(t, keyPath, key, testpki.PKCS8, nil)
	model := concurrentModel(t)
	s, err := NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(ctx, model, s, SignOptions{}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 6 {
		var procs []*exec.Cmd
		for range 2 {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestSignHelperProcess$", "-test.count", "1")
			cmd.Env = append(os.Environ(), "MODELGATE_SIGN_HELPER="+model, "MODELGATE_SIGN_KEY="+keyPath)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs = append(procs, cmd)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		for i, cmd := range procs {
			if (round+i)%2 == 0 {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		for _, cmd := range procs {
			cmd.Wait() // killed or finished; either way it is gone
		}
		if left := tempFiles(t, model); len(left) > 0 {
			t.Fatalf("round %d: temporary files left: %q", round, left)
		}
		if _, err := Verify(ctx, model, NewKeyVerifier(&key.PublicKey), VerifyOptions{}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestSignHelperProcess is the body of TestKilledSignLeavesNothing's
// child processes: it signs the model named by MODELGATE_SIGN_HELPER in a
// loop, a few times.
func TestSignHelperProcess(t *testing.T) {
	model := os.Getenv("MODELGATE_SIGN_HELPER")
	if model == "" {
		t.Skip("run by TestKilledSignLeavesNothing")
	}
	key, err := LoadPrivateKey(os.Getenv("MODELGATE_SIGN_KEY"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := Sign(context.Background(), model, s, SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteSignatureReplaces: replacing an existing signature (the
// temporary-name path) and writing a new one (the direct link) both leave
// exactly the new content, mode 0644, and no temporary file, even when
// the folder given for temporary names is on no usable file system.
func TestWriteSignatureReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.sig")
	for i, tempDir := range []string{filepath.Dir(dir), "/nonexistent-folder", dir} {
		data := []byte("signature " + strconv.Itoa(i))
		if err := writeSignature(p, tempDir, data); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != string(data) {
			t.Errorf("write %d: read %q (%v)", i, got, err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("write %d: mode %v (%v)", i, fi.Mode(), err)
		}
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if left := tempFiles(t, d); len(left) > 0 {
				t.Errorf("write %d: temporary files in %s: %q", i, d, left)
			}
		}
	}
	// The fallback writer too.
	if err := writeFileTemp(p, "/nonexistent-folder", []byte("x")); err == nil {
		t.Error("writeFileTemp into a missing folder: no error")
	}
	if err := writeFileTemp(p, dir, []byte("fallback")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "fallback" {
		t.Errorf("fallback wrote %q", got)
	}
	// A signature path that is a symlink is replaced, not written through.
	target := filepath.Join(dir, "weights.bin")
	testpki.WriteFile(t, target, []byte("weights"))
	os.Remove(p)
	mustSymlink(t, "weights.bin", p)
	if err := writeSignature(p, filepath.Dir(dir), []byte("sig")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "weights" {
		t.Errorf("wrote through the symlink: target now %q", got)
	}
}
