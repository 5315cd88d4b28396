package modelsig

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/shareddata"
	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/manifest"
)

// refPath returns a path in the reference model_signing test material.
func refPath(t *testing.T, elem ...string) string {
	t.Helper()
	return shareddata.Path(t, append([]string{"model-signing"}, elem...)...)
}

// refSeed names a reference file for a fuzz seed corpus; unlike refPath
// it never skips, since fuzz targets run fine without the seeds.
func refSeed(elem ...string) string {
	r := shareddata.Root()
	if r == "" {
		return ""
	}
	return filepath.Join(append([]string{r, "model-signing"}, elem...)...)
}

func refKeyVerifier(t *testing.T) Verifier {
	t.Helper()
	pub, err := LoadPublicKey(refPath(t, "keys", "certificate", "signing-key-pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return NewKeyVerifier(pub)
}

func certVerifierFrom(t *testing.T, paths ...string) Verifier {
	t.Helper()
	certs, err := LoadCertificates(paths...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewCertificateVerifier(certs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func refCertVerifier(t *testing.T) Verifier {
	t.Helper()
	return certVerifierFrom(t, refPath(t, "keys", "certificate", "ca-cert.pem"))
}

func TestVerifyReferenceVectors(t *testing.T) {
	tests := []struct {
		name     string
		verifier func(*testing.T) Verifier
		model    []string // under the vector's directory
		ignore   []string
		warnings int
		fps      int
		files    int
	}{
		{name: "v0.2.0-certificate", verifier: refCertVerifier, fps: 2, files: 2},
		{name: "v1.0.0-elliptic-key", verifier: refKeyVerifier, model: []string{"signme-1"}, warnings: 1, files: 1},
		{name: "v1.1.0-certificate", verifier: refCertVerifier, ignore: []string{"ignore-me"}, fps: 2, files: 2},
		{name: "v1.1.0-certificate", verifier: refCertVerifier, fps: 2, files: 2}, // ignore-me is recorded
		{name: "v1.1.0-elliptic-key", verifier: refKeyVerifier, ignore: []string{"ignore-me"}, files: 2},
		{name: "v1.1.0-elliptic-key", verifier: refKeyVerifier, files: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/ignore="+strings.Join(tc.ignore, ","), func(t *testing.T) {
			dir := refPath(t, tc.name)
			model := filepath.Join(append([]string{dir}, tc.model...)...)
			opts := VerifyOptions{IgnoreGitPaths: true, SignaturePath: filepath.Join(dir, "model.sig")}
			for _, p := range tc.ignore {
				opts.IgnorePaths = append(opts.IgnorePaths, filepath.Join(dir, p))
			}
			res, err := Verify(context.Background(), model, tc.verifier(t), opts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got := len(res.Signed.Warnings); got != tc.warnings {
				t.Errorf("warnings = %q, want %d", res.Signed.Warnings, tc.warnings)
			}
			if got := len(res.Signed.Fingerprints); got != tc.fps {
				t.Errorf("fingerprints = %q, want %d", res.Signed.Fingerprints, tc.fps)
			}
			if res.Stats.Files != tc.files {
				t.Errorf("hashed %d files, want %d", res.Stats.Files, tc.files)
			}
			// The payload's bytes are let go; what it says stays.
			if res.Signed.Payload != nil || res.Statement == nil || res.Statement.Manifest == nil {
				t.Errorf("payload %d bytes, statement %+v", len(res.Signed.Payload), res.Statement)
			}
		})
	}
}

// TestVerifyReferenceFingerprints checks the certificate method reports the
// bundle's intermediate, then the leaf, as openssl prints them.
func TestVerifyReferenceFingerprints(t *testing.T) {
	dir := refPath(t, "v1.1.0-certificate")
	res, err := Verify(context.Background(), dir, refCertVerifier(t), VerifyOptions{IgnoreGitPaths: true})
	if err != nil {
		t.Fatal(err)
	}
	fps := res.Signed.Fingerprints
	if len(fps) != 2 || !strings.HasPrefix(fps[0], "9B:BF:CF:17") || !strings.HasSuffix(fps[0], "46:C1") ||
		!strings.HasPrefix(fps[1], "DA:36:62:B6") || !strings.HasSuffix(fps[1], "4D:3B") {
		t.Errorf("fingerprints = %q, want int-ca 9B:BF:CF:17…46:C1 then leaf DA:36:62:B6…4D:3B", fps)
	}
	ca, err := LoadCertificates(refPath(t, "keys", "certificate", "ca-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fp := Fingerprint(ca[0]); !strings.HasPrefix(fp, "96:B4:07:4F") || !strings.HasSuffix(fp, "6B:C5") || len(fp) != 95 {
		t.Errorf("ca fingerprint = %s", fp)
	}
}

// writeSigned signs stmt (with payloadType) with s and writes the bundle
// as model.sig in dir; it returns the signature path.
func writeSigned(t *testing.T, dir string, s Signer, payloadType string, stmt []byte) string {
	t.Helper()
	p := filepath.Join(dir, DefaultSignatureName)
	testpki.WriteFile(t, p, signedBundle(t, s, payloadType, stmt))
	return p
}

// buildFor returns the manifest of model as Sign would hash it.
func buildFor(t *testing.T, model string, ser manifest.Serialization) *manifest.Manifest {
	t.Helper()
	m, _, err := manifest.Build(context.Background(), model, manifest.Options{Serialization: ser})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var filesSHA256 = manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}

func TestVerifyModelChanges(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	files := map[string]string{"signme-1": "signme-1", "signme-2": "signme-2", "sub/x": "x"}
	tests := []struct {
		name   string
		change func(t *testing.T, model string)
		opts   VerifyOptions
		want   string // "" = still verifies
		plain  bool   // an operational error, not a *VerificationError
	}{
		{"unchanged", func(*testing.T, string) {}, VerifyOptions{}, "", false},
		{"empty folder added", func(t *testing.T, m string) { os.Mkdir(filepath.Join(m, "newdir"), 0o755) }, VerifyOptions{}, "", false},
		{"changed byte", func(t *testing.T, m string) { flipByte(t, filepath.Join(m, "signme-1"), 3) }, VerifyOptions{},
			`1 changed ("signme-1": expected sha256:`, false},
		{"added file", func(t *testing.T, m string) { testpki.WriteFile(t, filepath.Join(m, "sub", "new"), nil) }, VerifyOptions{},
			`model does not match its signature: 1 extra file ("sub/new")`, false},
		{"added file, unsigned files ignored", func(t *testing.T, m string) { testpki.WriteFile(t, filepath.Join(m, "new"), nil) },
			VerifyOptions{IgnoreUnsignedFiles: true}, "", false},
		{"added file, ignored by the caller", func(t *testing.T, m string) { testpki.WriteFile(t, filepath.Join(m, "new"), nil) },
			VerifyOptions{IgnorePaths: []string{"new"}}, "", false},
		{"removed file", func(t *testing.T, m string) { os.Remove(filepath.Join(m, "signme-2")) }, VerifyOptions{},
			`model does not match its signature: 1 missing ("signme-2")`, false},
		{"removed file, unsigned files ignored", func(t *testing.T, m string) { os.Remove(filepath.Join(m, "signme-2")) },
			VerifyOptions{IgnoreUnsignedFiles: true}, `1 missing ("signme-2")`, false},
		{"renamed file", func(t *testing.T, m string) { os.Rename(filepath.Join(m, "signme-2"), filepath.Join(m, "signme-3")) }, VerifyOptions{},
			`1 extra file ("signme-3"), 1 missing ("signme-2")`, false},
		{"symlink not allowed", func(t *testing.T, m string) { os.Symlink("signme-1", filepath.Join(m, "link")) }, VerifyOptions{},
			"is a symlink; symlinks are not allowed", true},
		{"symlink allowed is still an extra file", func(t *testing.T, m string) { os.Symlink("signme-1", filepath.Join(m, "link")) },
			VerifyOptions{AllowSymlinks: true}, `1 extra file ("link")`, false},
		{"file replaced by a symlink to the same content", func(t *testing.T, m string) {
			testpki.WriteFile(t, filepath.Join(filepath.Dir(m), "outside"), []byte("signme-1"))
			os.Remove(filepath.Join(m, "signme-1"))
			os.Symlink(filepath.Join(filepath.Dir(m), "outside"), filepath.Join(m, "signme-1"))
		}, VerifyOptions{}, "is a symlink", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			model := testpki.Model(t, files)
			if _, err := Sign(ctx, model, sc.signer, SignOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.change(t, model)
			_, err := Verify(ctx, model, sc.verifier, tc.opts)
			switch {
			case tc.want == "":
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			case tc.plain:
				var ve *VerificationError
				if err == nil || errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want a plain error containing %q", err, tc.want)
				}
			default:
				wantVerificationError(t, err, model, tc.want)
				if strings.Count(err.Error(), model) != 1 {
					t.Errorf("error %q names the model more than once", err)
				}
			}
		})
	}
}

func TestVerifyWrongSigner(t *testing.T) {
	ctx := context.Background()
	root := testpki.NewRoot(t, "root")
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Leaf(t, "leaf")
	key := testpki.Key(t, nil)
	certModel := testpki.Model(t, map[string]string{"a": "a"})
	if _, err := Sign(ctx, certModel, certSigner(t, leaf.Key, leaf.Cert, inter.Cert), SignOptions{}); err != nil {
		t.Fatal(err)
	}
	keyModel := testpki.Model(t, map[string]string{"a": "a"})
	if _, err := Sign(ctx, keyModel, keySigner(t, key), SignOptions{}); err != nil {
		t.Fatal(err)
	}
	trust := func(certs ...*x509.Certificate) Verifier {
		v, err := NewCertificateVerifier(certs)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		model string
		v     Verifier
		want  string
	}{
		{"wrong key", keyModel, NewKeyVerifier(&testpki.Key(t, nil).PublicKey), "the public key does not match"},
		{"wrong CA", certModel, trust(testpki.NewRoot(t, "root").Cert), "does not lead to a trusted self-signed root"},
		{"intermediate-only CA list", certModel, trust(inter.Cert), "none of the 1 trusted certificates is self-signed"},
		{"key bundle checked as certificate", keyModel, trust(root.Cert), "signature was made with a bare key, not a certificate; use the key method"},
		{"certificate bundle checked as key", certModel, NewKeyVerifier(&leaf.Key.PublicKey), "signature was made with a certificate, not a bare key; use the certificate method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(ctx, tc.model, tc.v, VerifyOptions{})
			sig := filepath.Join(tc.model, DefaultSignatureName)
			wantVerificationError(t, err, sig, tc.want)
			if strings.Count(err.Error(), sig) != 1 {
				t.Errorf("error %q names the signature more than once", err)
			}
		})
	}
}

func TestVerifyBadSignatureFile(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := testpki.Model(t, map[string]string{"a": "a"})
	res, err := Sign(ctx, model, sc.signer, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(res.SignaturePath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte // nil = no signature file
		want string
	}{
		{"truncated", good[:len(good)-40], "signature " + strconv.Quote(res.SignaturePath) + ":1:" + strconv.Itoa(len(good)-40+1) + ": not valid JSON: truncated"},
		{"garbled", append([]byte("\x00garbage"), good...), "signature " + strconv.Quote(res.SignaturePath) + ":1:1: not valid JSON"},
		{"missing", nil, "no signature at " + strconv.Quote(res.SignaturePath) + " (name the signature file with --signature)"},
		{"unknown key", append([]byte(`{"extra":1,`), good[1:]...), "signature " + strconv.Quote(res.SignaturePath) + `: unknown key "extra" at the top level of the bundle`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(res.SignaturePath)
			if tc.data != nil {
				testpki.WriteFile(t, res.SignaturePath, tc.data)
			}
			_, err := Verify(ctx, model, sc.verifier, VerifyOptions{})
			var ve *VerificationError
			if err == nil || errors.As(err, &ve) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want a plain error starting %q", err, tc.want)
			}
			if tc.data == nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing signature: %v is not fs.ErrNotExist", err)
			}
		})
	}
}

// TestVerifyRefusesBadStatements signs each malformed statement with a
// good key: a valid signature must not make a bad statement acceptable.
func TestVerifyRefusesBadStatements(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	cases := append(rejectCases(t), stmtCase{"wrong payload type", mustJSON(t, twoFiles(t)), `payload type "application/json" is not application/vnd.in-toto+json`})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := testpki.Model(t, map[string]string{"a": "a", "dir/b": "b"})
			testpki.WriteFile(t, filepath.Join(filepath.Dir(model), "x"), []byte("outside"))
			pt := PayloadTypeInToto
			if tc.name == "wrong payload type" {
				pt = "application/json"
			}
			sig := writeSigned(t, model, sc.signer, pt, tc.data)
			_, err := Verify(ctx, model, sc.verifier, VerifyOptions{})
			wantVerificationError(t, err, sig, tc.want)
			if !strings.HasPrefix(err.Error(), strconv.Quote(sig)+": signed statement: ") {
				t.Errorf("error %q does not say the signed statement is at fault", err)
			}
		})
	}
}

func TestVerifySingleFileNames(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"dot (model_signing)", []string{"."}, ""},
		{"base name (OMS)", []string{"w.gguf"}, ""},
		{"another name", []string{"other.gguf"}, `the model is the single file "w.gguf", but the signature is for the file "other.gguf"`},
		{"two files", []string{"w.gguf", "other.gguf"}, `the model is the single file "w.gguf", but the signature lists 2 files`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testpki.Model(t, map[string]string{"w.gguf": "weights", "other.gguf": "weights"})
			file := filepath.Join(dir, "w.gguf")
			d := buildFor(t, file, filesSHA256).Resources[0].Digest
			m := &manifest.Manifest{Serialization: filesSHA256}
			for _, n := range tc.names {
				m.Resources = append(m.Resources, manifest.Resource{Path: n, Digest: d})
			}
			stmt, err := BuildStatement(m, "w.gguf")
			if err != nil {
				t.Fatal(err)
			}
			sig := writeSigned(t, dir, sc.signer, PayloadTypeInToto, stmt)
			_, err = Verify(ctx, file, sc.verifier, VerifyOptions{})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantVerificationError(t, err, sig, tc.want)
		})
	}
}

// TestVerifyRecordedIgnorePaths checks that a signature cannot use
// ignore_paths to hide the model itself or anything outside it.
func TestVerifyRecordedIgnorePaths(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := testpki.Model(t, map[string]string{"a": "a", "sub/y": "y"})
	m := buildFor(t, model, filesSHA256)
	m.IgnorePaths = []string{".", "", "/", model, "../model", "sub/..", "sub/../sub", "./"}
	stmt, err := BuildStatement(m, "model")
	if err != nil {
		t.Fatal(err)
	}
	writeSigned(t, model, sc.signer, PayloadTypeInToto, stmt)
	if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	testpki.WriteFile(t, filepath.Join(model, "sub", "extra"), nil)
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{})
	wantVerificationError(t, err, model, `1 extra file ("sub/extra")`)
}

func TestVerifyEmptyModel(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := testpki.Model(t, nil)
	stmt, err := BuildStatement(&manifest.Manifest{Serialization: filesSHA256}, "model")
	if err != nil {
		t.Fatal(err)
	}
	writeSigned(t, model, sc.signer, PayloadTypeInToto, stmt)
	if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{}); err != nil {
		t.Fatalf("empty signature over an empty model: %v", err)
	}
	testpki.WriteFile(t, filepath.Join(model, "w"), nil)
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{})
	wantVerificationError(t, err, model, `1 extra file ("w")`)
	// Hashing only the listed files of an empty listing would accept any
	// model, so that combination is refused outright.
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreUnsignedFiles: true})
	wantVerificationError(t, err, filepath.Join(model, DefaultSignatureName), "lists no files")
}

// TestVerifyPythonShardForm verifies shards signed the way the reference
// library writes them: "<hash>-sharded-<size>" and a float shard_size.
func TestVerifyPythonShardForm(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := testpki.Model(t, map[string]string{"w.bin": "0123456789", "x": "xyz"})
	ser := manifest.Serialization{Method: manifest.Shards, HashType: manifest.BLAKE2b, ShardSize: 4}
	stmt, err := BuildStatement(buildFor(t, model, ser), "model")
	if err != nil {
		t.Fatal(err)
	}
	py := strings.ReplaceAll(string(stmt), `"algorithm": "blake2b"`, `"algorithm": "blake2b-sharded-4"`)
	py = strings.Replace(py, `"shard_size": 4`, `"shard_size": 4.0`, 1)
	if !strings.Contains(py, "4.0") || !strings.Contains(py, "sharded") {
		t.Fatalf("statement not rewritten:\n%s", py)
	}
	writeSigned(t, model, sc.signer, PayloadTypeInToto, []byte(py))
	res, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreUnsignedFiles: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Manifest.Resources) != 4 {
		t.Errorf("resources %+v", res.Manifest.Resources)
	}
	flipByte(t, filepath.Join(model, "w.bin"), 9)
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{})
	wantVerificationError(t, err, model, `1 changed shard ("w.bin:8:10"`)
}

// TestVerifyRecordedAllowSymlinks: a signer that allowed symlinks recorded
// it, and the verifier honours the record.
func TestVerifyRecordedAllowSymlinks(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := testpki.Model(t, map[string]string{"a": "a"})
	if err := os.Symlink("a", filepath.Join(model, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(ctx, model, sc.signer, SignOptions{Serialization: manifest.Serialization{AllowSymlinks: true}}); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(ctx, model, sc.verifier, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Manifest.Resources) != 2 {
		t.Errorf("resources %+v", res.Manifest.Resources)
	}
}

func TestVerifyArguments(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	if _, err := Verify(ctx, t.TempDir(), nil, VerifyOptions{}); err == nil {
		t.Error("nil verifier accepted")
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := Verify(ctx, missing, sc.verifier, VerifyOptions{}); err == nil || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing model: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	model := testpki.Model(t, map[string]string{"a": "a"})
	if _, err := Sign(ctx, model, sc.signer, SignOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(cancelled, model, sc.verifier, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
