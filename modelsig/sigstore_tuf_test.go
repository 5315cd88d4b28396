package modelsig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

const testMirror = "https://tuf.test.invalid"

// tufFixture is an in-memory TUF repository serving a trusted root, and
// the HTTP transport that reaches it (or not). No socket is ever opened.
type tufFixture struct {
	t        *testing.T
	files    map[string][]byte // path under the mirror -> contents
	anchor   []byte            // 1.root.json: the client's root of trust
	root     *metadata.Metadata[metadata.RootType]
	rootKey  signature.Signer
	online   signature.Signer // timestamp, snapshot and targets key
	version  int64            // of targets, snapshot and timestamp
	target   []byte
	down     bool // the network is unreachable
	status   int  // when non-zero, every answer has this HTTP status
	requests int
}

func newTUFFixture(t *testing.T) *tufFixture {
	t.Helper()
	f := &tufFixture{t: t, files: map[string][]byte{}, target: testTrustedRootJSON(t)}
	var rootPub, onlinePub crypto.PublicKey
	f.rootKey, rootPub = newTUFKey(t)
	f.online, onlinePub = newTUFKey(t)
	f.root = metadata.Root(time.Now().Add(365 * 24 * time.Hour))
	f.setRootKeys(rootPub, onlinePub)
	f.anchor = f.signRoot(f.rootKey)
	f.publish(time.Now().Add(7 * 24 * time.Hour))
	return f
}

func newTUFKey(t *testing.T) (signature.Signer, crypto.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

func (f *tufFixture) setRootKeys(rootPub, onlinePub crypto.PublicKey) {
	f.t.Helper()
	f.root.Signed.Keys = map[string]*metadata.Key{}
	for _, r := range f.root.Signed.Roles {
		r.KeyIDs = nil
	}
	for role, pub := range map[string]crypto.PublicKey{
		metadata.ROOT: rootPub, metadata.TIMESTAMP: onlinePub, metadata.SNAPSHOT: onlinePub, metadata.TARGETS: onlinePub,
	} {
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.root.Signed.AddKey(k, role); err != nil {
			f.t.Fatal(err)
		}
	}
}

// signRoot signs the current root with signers, serves it as
// N.root.json and returns it.
func (f *tufFixture) signRoot(signers ...signature.Signer) []byte {
	f.t.Helper()
	f.root.Signatures = nil
	for _, s := range signers {
		if _, err := f.root.Sign(s); err != nil {
			f.t.Fatal(err)
		}
	}
	data, err := f.root.ToBytes(false)
	if err != nil {
		f.t.Fatal(err)
	}
	f.files[fmt.Sprintf("%d.root.json", f.root.Signed.Version)] = data
	return data
}

// rotate publishes root version 2 with new root and online keys (signed
// by the old and the new root key), and new metadata signed by the new
// online key.
func (f *tufFixture) rotate() {
	f.t.Helper()
	newRoot, rootPub := newTUFKey(f.t)
	newOnline, onlinePub := newTUFKey(f.t)
	f.root.Signed.Version++
	f.setRootKeys(rootPub, onlinePub)
	f.signRoot(f.rootKey, newRoot)
	f.rootKey, f.online = newRoot, newOnline
	f.publish(time.Now().Add(7 * 24 * time.Hour))
}

// publish serves a new version of targets (with the trusted root
// target), snapshot and timestamp.
func (f *tufFixture) publish(expires time.Time) {
	f.t.Helper()
	f.version++
	targets := metadata.Targets(expires)
	targets.Signed.Version = f.version
	tf, err := metadata.TargetFile().FromBytes(tufTrustedRootTarget, f.target, "sha256")
	if err != nil {
		f.t.Fatal(err)
	}
	targets.Signed.Targets[tufTrustedRootTarget] = tf
	sum := sha256.Sum256(f.target)
	f.files["targets/"+hex.EncodeToString(sum[:])+"."+tufTrustedRootTarget] = f.target
	f.files[fmt.Sprintf("%d.targets.json", f.version)] = signMetadata(f.t, targets, f.online)

	snapshot := metadata.Snapshot(expires)
	snapshot.Signed.Version = f.version
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(f.version)
	f.files[fmt.Sprintf("%d.snapshot.json", f.version)] = signMetadata(f.t, snapshot, f.online)
	f.files["timestamp.json"] = f.timestamp(expires)
}

// timestamp returns timestamp metadata for the current version.
func (f *tufFixture) timestamp(expires time.Time) []byte {
	f.t.Helper()
	ts := metadata.Timestamp(expires)
	ts.Signed.Version = f.version
	ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(f.version)
	return signMetadata(f.t, ts, f.online)
}

func signMetadata[T metadata.Roles](t *testing.T, md *metadata.Metadata[T], s signature.Signer) []byte {
	t.Helper()
	if _, err := md.Sign(s); err != nil {
		t.Fatal(err)
	}
	data, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (f *tufFixture) RoundTrip(req *http.Request) (*http.Response, error) {
	f.requests++
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if f.down {
		return nil, errors.New("dial tcp: connect: network is unreachable")
	}
	status, body := f.status, []byte(nil)
	if status == 0 {
		status = http.StatusNotFound
		if data, ok := f.files[strings.TrimPrefix(req.URL.String(), testMirror+"/")]; ok {
			status, body = http.StatusOK, data
		}
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Request: req, Header: http.Header{}}, nil
}

// options returns TrustRootOptions for this repository with cache and a
// logger writing to log.
func (f *tufFixture) options(cache string, log *bytes.Buffer) TrustRootOptions {
	return TrustRootOptions{
		CacheDir:  cache,
		Logger:    slog.New(slog.NewTextHandler(log, nil)),
		mirror:    testMirror,
		tufRoot:   f.anchor,
		transport: f,
	}
}

// fetch runs FetchTrustedRoot and checks that a result is the fixture's
// trusted root.
func (f *tufFixture) fetch(ctx context.Context, opts TrustRootOptions) error {
	f.t.Helper()
	tm, err := FetchTrustedRoot(ctx, opts)
	if err != nil {
		if tm != nil {
			f.t.Error("FetchTrustedRoot returned a root along with an error")
		}
		return err
	}
	want, err := parseTrustedRoot(f.target)
	if err != nil {
		f.t.Fatal(err)
	}
	got := tm.FulcioCertificateAuthorities()
	if len(got) != 1 || !got[0].(*root.FulcioCertificateAuthority).Root.Equal(
		want.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Root) {
		f.t.Error("FetchTrustedRoot returned another trusted root than the repository's")
	}
	return nil
}

func TestFetchTrustedRootOffline(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// prepare runs after a first, online fetch into the cache (when
		// primed) and may break things.
		primed  bool
		prepare func(t *testing.T, f *tufFixture, cache string)
		// want is "" when the fetch succeeds; cached says whether the
		// offline fallback was used (a warning is logged).
		want   string
		cached bool
	}{
		{name: "online", prepare: func(*testing.T, *tufFixture, string) {}},
		{name: "online after rotation", prepare: func(_ *testing.T, f *tufFixture, _ string) { f.rotate() }},
		{name: "online, newer metadata", primed: true, prepare: func(_ *testing.T, f *tufFixture, _ string) {
			f.publish(time.Now().Add(time.Hour))
		}},
		{name: "unreachable, cache", primed: true, prepare: func(_ *testing.T, f *tufFixture, _ string) { f.down = true }, cached: true},
		{name: "server error, cache", primed: true, prepare: func(_ *testing.T, f *tufFixture, _ string) { f.status = http.StatusServiceUnavailable },
			cached: true},
		{name: "unreachable, no cache", prepare: func(_ *testing.T, f *tufFixture, _ string) { f.down = true },
			want: "network is unreachable), and there is no cached copy in"},
		{name: "unreachable, root rotated and cached", primed: true, prepare: func(t *testing.T, f *tufFixture, cache string) {
			f.rotate()
			if err := f.fetch(ctx, f.options(cache, new(bytes.Buffer))); err != nil {
				t.Fatalf("online fetch after rotation: %v", err)
			}
			f.down = true
		}, cached: true},
		// Without the root history the chain from the embedded root to
		// the cached metadata cannot be verified: go-tuf resets the
		// cached root.json to the embedded one on every update.
		{name: "unreachable, rotated, no root history", primed: true, prepare: func(t *testing.T, f *tufFixture, cache string) {
			f.rotate()
			if err := f.fetch(ctx, f.options(cache, new(bytes.Buffer))); err != nil {
				t.Fatalf("online fetch after rotation: %v", err)
			}
			if err := os.RemoveAll(filepath.Join(cache, "tuf.test.invalid", "modelgate-root-history")); err != nil {
				t.Fatal(err)
			}
			f.down = true
		}, want: "does not verify (offline, use a trust configuration file): failed to load metadata: tuf refresh failed: unsigned metadata error: Verifying timestamp failed"},
		{name: "unreachable, cached metadata expired", primed: true, prepare: func(t *testing.T, f *tufFixture, cache string) {
			expired := f.timestamp(time.Now().Add(-time.Minute))
			if err := os.WriteFile(filepath.Join(cache, "tuf.test.invalid", "timestamp.json"), expired, 0o600); err != nil {
				t.Fatal(err)
			}
			f.down = true
		}, want: "does not verify (offline, use a trust configuration file): failed to load metadata: tuf refresh failed: expired metadata error: timestamp.json is expired"},
		{name: "unreachable, cached target altered", primed: true, prepare: func(t *testing.T, f *tufFixture, cache string) {
			p := filepath.Join(cache, "tuf.test.invalid", "targets", tufTrustedRootTarget)
			if err := os.WriteFile(p, testTrustedRootJSON(t), 0o600); err != nil {
				t.Fatal(err)
			}
			f.down = true
		}, want: "does not verify (offline, use a trust configuration file): failed to download target file trusted_root.json"},
		{name: "bad signature online never falls back", primed: true, prepare: func(_ *testing.T, f *tufFixture, _ string) {
			f.publish(time.Now().Add(time.Hour))
			ts := f.files["timestamp.json"]
			f.files["timestamp.json"] = bytes.Replace(ts, []byte(`"version":2`), []byte(`"version":3`), 1)
		}, want: "from TUF repository https://tuf.test.invalid: failed to load metadata: tuf refresh failed: unsigned metadata error: Verifying timestamp failed"},
		{name: "expired metadata online never falls back", primed: true, prepare: func(_ *testing.T, f *tufFixture, _ string) {
			f.publish(time.Now().Add(-time.Minute))
		}, want: "from TUF repository https://tuf.test.invalid: failed to load metadata: tuf refresh failed: expired metadata error: timestamp.json is expired"},
		{name: "not found never falls back", primed: true, prepare: func(_ *testing.T, f *tufFixture, _ string) { f.status = http.StatusNotFound },
			want: "timestamp.json, http status code: 404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTUFFixture(t)
			cache := t.TempDir()
			if tc.primed {
				if err := f.fetch(ctx, f.options(cache, new(bytes.Buffer))); err != nil {
					t.Fatalf("priming fetch: %v", err)
				}
			}
			tc.prepare(t, f, cache)
			var log bytes.Buffer
			err := f.fetch(ctx, f.options(cache, &log))
			t.Logf("error: %v; log: %s", err, log.String())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("FetchTrustedRoot: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("FetchTrustedRoot error = %v, want one containing %q", err, tc.want)
			}
			if warned := strings.Contains(log.String(), "using the cached Sigstore trusted root"); warned != tc.cached {
				t.Errorf("offline warning logged: %v, want %v (log: %s)", warned, tc.cached, log.String())
			}
		})
	}
}

func TestFetchTrustedRootCancelled(t *testing.T) {
	f := newTUFFixture(t)
	cache := t.TempDir()
	if err := f.fetch(context.Background(), f.options(cache, new(bytes.Buffer))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var log bytes.Buffer
	err := f.fetch(ctx, f.options(cache, &log))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchTrustedRoot = %v, want context.Canceled", err)
	}
	if log.Len() != 0 {
		t.Errorf("a cancelled fetch fell back to the cache: %s", log.String())
	}
}

func TestFetchTrustedRootCacheDir(t *testing.T) {
	f := newTUFFixture(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.fetch(context.Background(), f.options(filepath.Join(file, "cache"), new(bytes.Buffer)))
	if err == nil || !strings.Contains(err.Error(), "TUF cache") {
		t.Fatalf("FetchTrustedRoot with an unusable cache dir = %v, want a TUF cache error", err)
	}
}

// TestFetchTrustedRootDefaultCacheUnusable: when the default cache
// (under $HOME) cannot be created, the trusted root is fetched without a
// cache, with a warning; there is then no offline fallback.
func TestFetchTrustedRootDefaultCacheUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", file) // ~/.sigstore/root cannot be created under a file
	f := newTUFFixture(t)
	var log bytes.Buffer
	if err := f.fetch(context.Background(), f.options("", &log)); err != nil {
		t.Fatalf("FetchTrustedRoot: %v", err)
	}
	if !strings.Contains(log.String(), "TUF cache unusable") {
		t.Errorf("no warning about the cache: %s", log.String())
	}
	f.down = true
	err := f.fetch(context.Background(), f.options("", new(bytes.Buffer)))
	if err == nil || !strings.Contains(err.Error(), "network is unreachable") {
		t.Fatalf("offline without a cache = %v, want the network error", err)
	}
}

func TestTrustRootRepository(t *testing.T) {
	tests := []struct {
		opts   TrustRootOptions
		mirror string
		root   []byte
	}{
		{TrustRootOptions{}, tuf.DefaultMirror, tuf.DefaultRoot()},
		{TrustRootOptions{Staging: true}, tuf.StagingMirror, tuf.StagingRoot()},
	}
	for _, tc := range tests {
		r := tc.opts.repository()
		if r.mirror != tc.mirror || !bytes.Equal(r.root, tc.root) {
			t.Errorf("repository(%+v) = %s, want %s", tc.opts, r.mirror, tc.mirror)
		}
	}
}
