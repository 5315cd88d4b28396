package hashcache

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/manifest"
)

// childEnv, set in a child's environment to "MODEL|CACHEDIR", makes the
// test binary hash MODEL with the store in CACHEDIR, print the subject
// digest and the bytes read and cached, and exit: a second process using
// the same store, without a separate build.
const childEnv = "HASHCACHE_TEST_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v))
	}
	os.Exit(m.Run())
}

func child(arg string) int {
	model, dir, _ := strings.Cut(arg, "|")
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	m, st, err := manifest.Build(context.Background(), model, manifest.Options{Serialization: sha, Cache: s, Workers: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d := m.SubjectDigest()
	fmt.Printf("%s %d %d\n", hex.EncodeToString(d[:]), st.Bytes, st.CachedBytes)
	return 0
}

// TestTwoProcesses: two processes hashing the same model with the same
// store at once both finish, promptly, with the right digest; the store
// then serves a third.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for i := range 300 {
		files[fmt.Sprintf("d%d/f%03d", i%7, i)] = strings.Repeat(fmt.Sprint(i), 100+i)
	}
	model := agedModel(t, files)
	want, _, err := manifest.Build(context.Background(), model, manifest.Options{Serialization: sha})
	if err != nil {
		t.Fatal(err)
	}
	wantDigest := want.SubjectDigest()
	cacheDir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func() *exec.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, self, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+model+"|"+cacheDir)
		return cmd
	}
	type out struct {
		text string
		err  error
	}
	results := make(chan out, 2)
	for range 2 {
		cmd := run()
		go func() {
			b, err := cmd.Output()
			if ee, ok := err.(*exec.ExitError); ok {
				err = fmt.Errorf("%v: %s", err, ee.Stderr)
			}
			results <- out{string(b), err}
		}()
	}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("child: %v", r.err)
		}
		if got := strings.Fields(r.text); len(got) != 3 || got[0] != hex.EncodeToString(wantDigest[:]) {
			t.Errorf("child printed %q, want digest %x", r.text, wantDigest)
		}
	}
	b, err := run().Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); len(got) != 3 || got[1] != "0" {
		t.Errorf("third process: %q, want nothing read (everything cached by the first two)", b)
	}
}
