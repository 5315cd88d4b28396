package modelsig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/manifest"
)

func TestLoadPrivateKey(t *testing.T) {
	dir := t.TempDir()
	k := testpki.Key(t, elliptic.P384())
	pw := []byte("correct horse")
	write := func(name string, key any, f testpki.KeyFormat, password []byte) string {
		p := filepath.Join(dir, name)
		testpki.WriteKey(t, p, key, f, password)
		return p
	}
	raw := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		testpki.WriteFile(t, p, data)
		return p
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := write("sec1.pem", k, testpki.SEC1, nil)
	sec1Data, err := os.ReadFile(sec1)
	if err != nil {
		t.Fatal(err)
	}
	p224DER, err := x509.MarshalECPrivateKey(p224)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		password []byte
		want     string // "" = loads k
	}{
		{"SEC 1", sec1, nil, ""},
		{"SEC 1, unneeded password ignored", sec1, pw, ""},
		{"SEC 1 after EC PARAMETERS and text", raw("params.pem", append([]byte("key dump\n-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n"), sec1Data...)), nil, ""},
		{"PKCS#8", write("pkcs8.pem", k, testpki.PKCS8, nil), nil, ""},
		{"encrypted PKCS#8", write("enc8.pem", k, testpki.PKCS8Encrypted, pw), pw, ""},
		{"legacy encrypted SEC 1", write("encsec1.pem", k, testpki.SEC1EncryptedLegacy, pw), pw, ""},
		{"encrypted PKCS#8 without password", filepath.Join(dir, "enc8.pem"), nil, "the key is encrypted; a password is needed"},
		{"legacy encrypted without password", filepath.Join(dir, "encsec1.pem"), nil, "the key is encrypted; a password is needed"},
		{"encrypted PKCS#8, wrong password", filepath.Join(dir, "enc8.pem"), []byte("wrong"), "wrong password or corrupt key"},
		{"legacy encrypted, wrong password", filepath.Join(dir, "encsec1.pem"), []byte("wrong"), "wrong password or corrupt key"},
		{"RSA PKCS#8", write("rsa8.pem", testpki.RSAKey(t), testpki.PKCS8, nil), nil, "only elliptic-curve keys on P-256, P-384 or P-521 are supported (got RSA)"},
		{"RSA PKCS#1", raw("rsa1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testpki.RSAKey(t))})), nil, "(got an RSA key)"},
		{"Ed25519", write("ed.pem", edPriv, testpki.PKCS8, nil), nil, "(got Ed25519)"},
		{"P-224", raw("p224.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p224DER})), nil, "(got curve P-224)"},
		{"OpenSSH", raw("ssh.pem", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("x")})), nil, "OpenSSH key format is not supported"},
		{"public key only", raw("pub.pem", pemPublic(t, &k.PublicKey)), nil, "no PEM private key block found (found [PUBLIC KEY])"},
		{"not PEM", raw("junk.pem", []byte("junk")), nil, "no PEM private key block found"},
		{"corrupt SEC 1", raw("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")})), nil, "EC PRIVATE KEY block: "},
		{"two keys", raw("two.pem", append(append([]byte{}, sec1Data...), sec1Data...)), nil, "holds 2 PEM private key blocks; a key file must hold exactly one key"},
		{"a key and a damaged block", raw("damaged.pem", append(append([]byte{}, sec1Data...), "-----BEGIN EC PRIVATE KEY-----\n!!\n-----END EC PRIVATE KEY-----\n"...)), nil, "PEM block(s) that do not decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadPrivateKey(tc.path, tc.password)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("LoadPrivateKey: %v", err)
				}
				if !got.Equal(k) {
					t.Error("loaded another key")
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "private key "+strconv.Quote(tc.path)+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
	t.Run("reference key", func(t *testing.T) {
		priv, err := LoadPrivateKey(refPath(t, "keys", "certificate", "signing-key.pem"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if PublicKeyHint(&priv.PublicKey) != "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e" {
			t.Error("reference key has another public key")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "missing.pem")
		if _, err := LoadPrivateKey(p, nil); err == nil || !strings.HasPrefix(err.Error(), "read private key: open "+strconv.Quote(p)) {
			t.Errorf("error %v", err)
		}
	})
}

func TestNewSigners(t *testing.T) {
	root := testpki.NewRoot(t, "root")
	leaf := root.Leaf(t, "leaf")
	other := testpki.Key(t, nil)
	noUsage := root.Issue(t, testpki.Options{Name: "nousage", KeyUsage: x509.KeyUsageKeyEncipherment})
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		make func() (Signer, error)
		want string
	}{
		{"key", func() (Signer, error) { return NewKeySigner(other) }, ""},
		{"certificate", func() (Signer, error) {
			return NewCertificateSigner(leaf.Key, leaf.Cert, []*x509.Certificate{root.Cert})
		}, ""},
		{"nil key", func() (Signer, error) { return NewKeySigner(nil) }, "no private key"},
		{"P-224 key", func() (Signer, error) { return NewKeySigner(p224) }, "(got curve P-224)"},
		{"certificate for another key", func() (Signer, error) { return NewCertificateSigner(other, leaf.Cert, nil) }, `signing certificate "CN=leaf" (SHA-256 `},
		{"certificate not for signing", func() (Signer, error) { return NewCertificateSigner(noUsage.Key, noUsage.Cert, nil) }, "cannot be used for signing"},
		{"nil certificate", func() (Signer, error) { return NewCertificateSigner(leaf.Key, nil, nil) }, "a private key and a signing certificate are required"},
		{"nil chain entry", func() (Signer, error) { return NewCertificateSigner(leaf.Key, leaf.Cert, []*x509.Certificate{nil}) }, "chain certificate 1 is nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.make()
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := NewCertificateSigner(other, leaf.Cert, nil); err == nil || !strings.Contains(err.Error(), "does not hold the private key's public key") {
		t.Errorf("mismatch message: %v", err)
	}
}

// testModel is the model the round trips sign: nested folders, an empty
// file, names with spaces and non-ASCII, and files big enough to shard.
var testModel = map[string]string{
	"config.json":              `{"layers": 2}`,
	"weights/part 1.bin":       strings.Repeat("0123456789abcdef", 40), // 640 bytes
	"weights/päär/ünï €.bin":   "small",
	"weights/empty.bin":        "",
	"tokenizer/vocab.txt":      "a\nb\nc\n",
	"deep/a/b/c/d/e/f/g.safet": "g",
}

// signers returns a key signer and a certificate signer (P-384 leaf under
// an intermediate) and the verifiers that accept them.
type signerCase struct {
	name     string
	signer   Signer
	verifier Verifier
}

func signerCases(t *testing.T) []signerCase {
	key := testpki.Key(t, elliptic.P384())
	root := testpki.NewRoot(t, "root")
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Issue(t, testpki.Options{Name: "leaf", Curve: elliptic.P384(), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	cv, err := NewCertificateVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	return []signerCase{
		{"key", keySigner(t, key), NewKeyVerifier(&key.PublicKey)},
		{"certificate", certSigner(t, leaf.Key, leaf.Cert, inter.Cert), cv},
	}
}

// flipByte changes one byte of the file at p.
func flipByte(t *testing.T, p string, at int) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[at] ^= 0x01
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	type serCase struct {
		method manifest.Method
		size   int64
	}
	sers := []serCase{{manifest.Files, 0}, {manifest.Shards, 7}, {manifest.Shards, 100}, {manifest.Shards, 0 /* default */}}
	for _, sc := range signerCases(t) {
		for _, hash := range []manifest.HashType{manifest.SHA256, manifest.BLAKE2b, manifest.BLAKE3} {
			for _, se := range sers {
				name := fmt.Sprintf("%s/%s/%s-%d", sc.name, hash, se.method, se.size)
				t.Run(name, func(t *testing.T) {
					model := testpki.Model(t, testModel)
					res, err := Sign(ctx, model, sc.signer, SignOptions{
						IgnoreGitPaths: true,
						Serialization:  manifest.Serialization{Method: se.method, HashType: hash, ShardSize: se.size},
					})
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					if res.SignaturePath != filepath.Join(model, DefaultSignatureName) {
						t.Errorf("signature at %s", res.SignaturePath)
					}
					wantSize := se.size
					if se.method == manifest.Shards && wantSize == 0 {
						wantSize = manifest.DefaultShardSize
					}
					if got := res.Manifest.Serialization; got.Method != se.method || got.HashType != hash || got.ShardSize != wantSize {
						t.Errorf("signed serialization %+v", got)
					}
					if se.method == manifest.Shards && se.size == 7 && len(res.Manifest.Resources) < 90 {
						t.Errorf("only %d shards: the 640-byte file should be cut in many", len(res.Manifest.Resources))
					}
					if !reflect.DeepEqual(res.Manifest.IgnorePaths, []string{".git", ".gitattributes", ".github", ".gitignore", "model.sig"}) {
						t.Errorf("recorded ignore paths %q", res.Manifest.IgnorePaths)
					}
					vres, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true})
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if vres.Method != sc.verifier.Method() || len(vres.Manifest.Resources) != len(res.Manifest.Resources) {
						t.Errorf("result %+v", vres)
					}
					flipByte(t, filepath.Join(model, "weights", "part 1.bin"), 600)
					_, err = Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true})
					wantVerificationError(t, err, model, `("weights/part 1.bin`)
				})
			}
		}
	}
}

func TestSignVerifySingleFile(t *testing.T) {
	ctx := context.Background()
	for _, sc := range signerCases(t) {
		for _, se := range []manifest.Serialization{{}, {Method: manifest.Shards, ShardSize: 4}} {
			t.Run(sc.name+"/"+string(se.Method), func(t *testing.T) {
				dir := testpki.Model(t, map[string]string{"w.gguf": "GGUF model bytes", "other": "x"})
				file := filepath.Join(dir, "w.gguf")
				res, err := Sign(ctx, file, sc.signer, SignOptions{IgnoreGitPaths: true, Serialization: se})
				if err != nil {
					t.Fatal(err)
				}
				if res.SignaturePath != filepath.Join(dir, DefaultSignatureName) || res.Manifest.Resources[0].Path != "." {
					t.Errorf("signature %s, resources %+v", res.SignaturePath, res.Manifest.Resources)
				}
				st := statementOf(t, res.SignaturePath)
				if st.SubjectName != "w.gguf" {
					t.Errorf("subject name %q", st.SubjectName)
				}
				if _, err := Verify(ctx, file, sc.verifier, VerifyOptions{IgnoreGitPaths: true}); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				flipByte(t, file, 0)
				_, err = Verify(ctx, file, sc.verifier, VerifyOptions{})
				wantVerificationError(t, err, file, `(".`)
			})
		}
	}
}

// statementOf parses the (unverified) statement of a signature file.
func statementOf(t *testing.T, sigPath string) *Statement {
	t.Helper()
	b, err := ReadBundle(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStatement(b.Envelope.PayloadType, b.Envelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSignIgnorePaths(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	model := testpki.Model(t, map[string]string{"a": "a", "ignored/x": "x", "sub/skip": "s", "sub/keep": "k", ".git/HEAD": "ref"})
	outside := filepath.Join(filepath.Dir(model), "elsewhere.sig")
	res, err := Sign(ctx, model, sc.signer, SignOptions{
		SignaturePath:  outside,
		IgnorePaths:    []string{"ignored", filepath.Join(model, "sub", "skip")},
		IgnoreGitPaths: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The signature outside the model is not recorded.
	want := []string{".git", ".gitattributes", ".github", ".gitignore", "ignored", "sub/skip"}
	if got := statementOf(t, outside).Manifest.IgnorePaths; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
	if len(res.Manifest.Resources) != 2 {
		t.Errorf("resources %+v", res.Manifest.Resources)
	}
	// Recorded ignore paths apply at verification without being repeated.
	for _, p := range []string{"ignored/x", "sub/skip", ".git/HEAD"} {
		testpki.WriteFile(t, filepath.Join(model, p), []byte("changed"))
	}
	testpki.WriteFile(t, filepath.Join(model, "ignored", "new"), []byte("new"))
	if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{SignaturePath: outside, IgnoreGitPaths: false}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	testpki.WriteFile(t, filepath.Join(model, "sub", "new"), []byte("new"))
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{SignaturePath: outside})
	wantVerificationError(t, err, model, `1 extra file ("sub/new")`)
	os.Remove(filepath.Join(model, "sub", "new"))
	flipByte(t, filepath.Join(model, "sub", "keep"), 0)
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{SignaturePath: outside})
	wantVerificationError(t, err, model, `1 changed ("sub/keep"`)
}

// TestSignReferenceCompat signs copies of the v1.1.0 reference models with
// the reference key and certificate and compares the payload with the
// reference signature's, field by field.
func TestSignReferenceCompat(t *testing.T) {
	ctx := context.Background()
	keyDir := refPath(t, "keys", "certificate")
	priv, err := LoadPrivateKey(filepath.Join(keyDir, "signing-key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	leafs, err := LoadCertificates(filepath.Join(keyDir, "signing-key-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := LoadCertificates(filepath.Join(keyDir, "int-ca-cert.pem"), filepath.Join(keyDir, "ca-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		vector   string
		signer   Signer
		verifier Verifier
	}{
		{"v1.1.0-elliptic-key", keySigner(t, priv), refKeyVerifier(t)},
		{"v1.1.0-certificate", certSigner(t, priv, leafs[0], chain...), refCertVerifier(t)},
	}
	for _, tc := range tests {
		t.Run(tc.vector, func(t *testing.T) {
			src := refPath(t, tc.vector)
			model := filepath.Join(t.TempDir(), tc.vector)
			files := map[string]string{}
			for _, n := range []string{"signme-1", "signme-2", "ignore-me"} {
				data, err := os.ReadFile(filepath.Join(src, n))
				if err != nil {
					t.Fatal(err)
				}
				files[n] = string(data)
			}
			for n, c := range files {
				testpki.WriteFile(t, filepath.Join(model, n), []byte(c))
			}
			res, err := Sign(ctx, model, tc.signer, SignOptions{IgnorePaths: []string{filepath.Join(model, "ignore-me")}, IgnoreGitPaths: true})
			if err != nil {
				t.Fatal(err)
			}
			got := decodePayload(t, res.SignaturePath)
			want := decodePayload(t, filepath.Join(src, "model.sig"))
			if got.Subject[0].Digest.SHA256 != want.Subject[0].Digest.SHA256 || got.Subject[0].Name != want.Subject[0].Name {
				t.Errorf("subject %+v, want %+v", got.Subject, want.Subject)
			}
			if !reflect.DeepEqual(got.Predicate.Resources, want.Predicate.Resources) {
				t.Errorf("resources %+v\nwant %+v", got.Predicate.Resources, want.Predicate.Resources)
			}
			gs, ws := got.Predicate.Serialization, want.Predicate.Serialization
			sort.Strings(gs.IgnorePaths)
			sort.Strings(ws.IgnorePaths)
			if !reflect.DeepEqual(gs, ws) {
				t.Errorf("serialization %+v, want %+v", gs, ws)
			}
			if got.Type != want.Type || got.PredicateType != want.PredicateType {
				t.Errorf("types %s %s", got.Type, got.PredicateType)
			}
			if _, err := Verify(ctx, model, tc.verifier, VerifyOptions{IgnoreGitPaths: true}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The bundle has the v1.1.0 layout.
			data, err := os.ReadFile(res.SignaturePath)
			if err != nil {
				t.Fatal(err)
			}
			layout := `^\{"mediaType":"application/vnd\.dev\.sigstore\.bundle\.v0\.3\+json","verificationMaterial":\{` +
				`("publicKey":\{"hint":"e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"\}|"x509CertificateChain":\{"certificates":\[\{"rawBytes":"[^"]+"\},\{"rawBytes":"[^"]+"\},\{"rawBytes":"[^"]+"\}\]\})` +
				`,"tlogEntries":\[\]\},"dsseEnvelope":\{"payload":"[A-Za-z0-9+/=]+","payloadType":"application/vnd\.in-toto\+json","signatures":\[\{"sig":"[A-Za-z0-9+/=]+","keyid":""\}\]\}\}$`
			if !regexp.MustCompile(layout).Match(data) {
				t.Errorf("bundle layout:\n%s", data)
			}
			fi, err := os.Stat(res.SignaturePath)
			if err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("signature mode %v, %v", fi.Mode(), err)
			}
		})
	}
}

// payloadJSON is the reference statement shape, decoded independently of
// the package's parser.
type payloadJSON struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string
		Digest struct {
			SHA256 string `json:"sha256"`
		}
	}
	PredicateType string
	Predicate     struct {
		Serialization struct {
			Method        string   `json:"method"`
			HashType      string   `json:"hash_type"`
			AllowSymlinks bool     `json:"allow_symlinks"`
			IgnorePaths   []string `json:"ignore_paths"`
		}
		Resources []struct {
			Name      string `json:"name"`
			Algorithm string `json:"algorithm"`
			Digest    string `json:"digest"`
		}
	}
}

func decodePayload(t *testing.T, sigPath string) payloadJSON {
	t.Helper()
	b, err := ReadBundle(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	var p payloadJSON
	if err := json.Unmarshal(b.Envelope.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// badSigner signs with the wrong key: its signatures never verify.
type badSigner struct {
	Signer
	wrong *ecdsa.PrivateKey
}

func (b badSigner) SignPAE(pae []byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, b.wrong, digest(crypto.SHA384, pae))
}

// failingSigner cannot sign at all.
type failingSigner struct{ Signer }

func (failingSigner) SignPAE([]byte) ([]byte, error) { return nil, errors.New("token removed") }

func TestSignErrors(t *testing.T) {
	ctx := context.Background()
	s := signerCases(t)[0].signer
	// listing returns the names in dir, to show no partial file was left.
	listing := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	t.Run("empty model", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{".git/HEAD": "x"})
		_, err := Sign(ctx, model, s, SignOptions{IgnoreGitPaths: true})
		if err == nil || err.Error() != "model "+strconv.Quote(model)+" has no files to sign" {
			t.Errorf("error %v", err)
		}
		if got := listing(model); !reflect.DeepEqual(got, []string{".git"}) {
			t.Errorf("left %q", got)
		}
	})
	t.Run("empty files only, sharded", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"empty": ""})
		_, err := Sign(ctx, model, s, SignOptions{Serialization: manifest.Serialization{Method: manifest.Shards}})
		if err == nil || !strings.Contains(err.Error(), "has no files to sign") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("missing model", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope")
		if _, err := Sign(ctx, p, s, SignOptions{}); err == nil || strings.Count(err.Error(), p) != 1 {
			t.Errorf("error %v", err)
		}
	})
	t.Run("unwritable signature directory", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"a": "a"})
		sig := filepath.Join(model, "no", "such", "dir", "model.sig")
		_, err := Sign(ctx, model, s, SignOptions{SignaturePath: sig})
		if err == nil || !strings.HasPrefix(err.Error(), "write signature "+strconv.Quote(sig)+": ") {
			t.Errorf("error %v", err)
		}
		if got := listing(model); !reflect.DeepEqual(got, []string{"a"}) {
			t.Errorf("left %q", got)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can write anywhere")
		}
		model := testpki.Model(t, map[string]string{"a": "a"})
		out := t.TempDir()
		if err := os.Chmod(out, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(out, 0o755) })
		sig := filepath.Join(out, "model.sig")
		_, err := Sign(ctx, model, s, SignOptions{SignaturePath: sig})
		if err == nil || err.Error() != "write signature "+strconv.Quote(sig)+": permission denied" {
			t.Errorf("error %v", err)
		}
		if got := listing(out); len(got) != 0 {
			t.Errorf("left %q", got)
		}
	})
	t.Run("signature path is a directory", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"a": "a", "model.sig/x": "x"})
		_, err := Sign(ctx, model, s, SignOptions{})
		var re *ReplaceError
		if !errors.As(err, &re) || re.Path != filepath.Join(model, "model.sig") || !strings.Contains(err.Error(), "is not a regular file (a directory)") {
			t.Errorf("error %v", err)
		}
		if got := listing(model); !reflect.DeepEqual(got, []string{"a", "model.sig"}) {
			t.Errorf("left %q", got)
		}
	})
	t.Run("signer that signs wrongly", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"a": "a"})
		_, err := Sign(ctx, model, badSigner{s, testpki.Key(t, elliptic.P384())}, SignOptions{})
		if err == nil || !strings.Contains(err.Error(), "failed its self-check, nothing written: the signature does not verify with the signer's public key") {
			t.Errorf("error %v", err)
		}
		if got := listing(model); !reflect.DeepEqual(got, []string{"a"}) {
			t.Errorf("left %q", got)
		}
	})
	t.Run("signer that fails", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"a": "a"})
		_, err := Sign(ctx, model, failingSigner{s}, SignOptions{})
		if err == nil || err.Error() != "sign "+strconv.Quote(model)+": token removed" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("signature path is the single-file model", func(t *testing.T) {
		dir := testpki.Model(t, map[string]string{"w.gguf": "weights"})
		file := filepath.Join(dir, "w.gguf")
		_, err := Sign(ctx, file, s, SignOptions{SignaturePath: "w.gguf"})
		if err == nil || !strings.Contains(err.Error(), "is the model itself") {
			t.Errorf("error %v", err)
		}
		if data, _ := os.ReadFile(file); string(data) != "weights" {
			t.Errorf("model overwritten: %q", data)
		}
	})
	t.Run("signature too large to verify", func(t *testing.T) {
		defer func(old int64) { bundleSizeLimit = old }(bundleSizeLimit)
		bundleSizeLimit = 16 << 20
		model := testpki.Model(t, map[string]string{"w": strings.Repeat("x", 100_000)})
		var p countingProgress
		_, err := Sign(ctx, model, s, SignOptions{Progress: &p, Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.BLAKE2b, ShardSize: 1}})
		if err == nil || !strings.Contains(err.Error(), "100000 shards would make a signature of at least ") ||
			!strings.Contains(err.Error(), "more than the 16777216 bytes a verifier reads; a shard size of at least 4 would work (1 is given)") {
			t.Errorf("error %v", err)
		}
		if p.hashed.Load() != 0 || p.files != 1 {
			t.Errorf("refused after hashing %d bytes (planned %d files), want before any", p.hashed.Load(), p.files)
		}
		if got := listing(model); !reflect.DeepEqual(got, []string{"w"}) {
			t.Errorf("left %q", got)
		}
		// The suggested shard size does fit.
		if _, err := Sign(ctx, model, s, SignOptions{Serialization: manifest.Serialization{Method: manifest.Shards, HashType: manifest.BLAKE2b, ShardSize: 4}}); err != nil {
			t.Errorf("sign with the suggested shard size: %v", err)
		}
	})
	t.Run("name with a control character", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"bad\nname": "a"})
		_, err := Sign(ctx, model, s, SignOptions{})
		if err == nil || !strings.Contains(err.Error(), `file name "bad\nname" contains a control character`) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("shard size for the files method", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"a": "a"})
		_, err := Sign(ctx, model, s, SignOptions{Serialization: manifest.Serialization{ShardSize: 5}})
		if err == nil || !strings.Contains(err.Error(), "shard size 5") {
			t.Errorf("error %v", err)
		}
	})
	// Sign writes over nothing but a signature or an empty file: a
	// signature path naming a model's own weights, say, is refused and
	// the file left as it was.
	for name, content := range map[string]string{"not a signature": "old junk", "JSON, not a bundle": `{"a": 1}`} {
		t.Run(name, func(t *testing.T) {
			model := testpki.Model(t, map[string]string{"a": "a", "model.sig": content})
			_, err := Sign(ctx, model, s, SignOptions{})
			var re *ReplaceError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "is not a signature modelgate can read; sign does not replace it") {
				t.Errorf("error %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(model, "model.sig")); string(b) != content {
				t.Errorf("model.sig now holds %q", b)
			}
		})
	}
	t.Run("existing signature is replaced and ignored", func(t *testing.T) {
		model := testpki.Model(t, map[string]string{"a": "a"})
		if _, err := Sign(ctx, model, s, SignOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(model, "b"), []byte("b"), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Sign(ctx, model, s, SignOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Manifest.Resources) != 2 || !reflect.DeepEqual(listing(model), []string{"a", "b", "model.sig"}) {
			t.Errorf("resources %+v, listing %q", res.Manifest.Resources, listing(model))
		}
		if _, err := ReadBundle(res.SignaturePath); err != nil {
			t.Error(err)
		}
	})
}

// countingProgress records Progress calls.
type countingProgress struct {
	files   int
	bytes   int64
	planned int
	hashed  atomic.Int64
}

func (p *countingProgress) Planned(files int, bytes int64) {
	p.files, p.bytes = files, bytes
	p.planned++
}
func (p *countingProgress) Hashed(n int64) { p.hashed.Add(n) }

// TestMarshalBundleMatchesEncodingJSON: the bundle appended by hand is
// byte for byte what encoding/json writes for the v1.1.0 layout, for a
// key, a certificate, and a certificate with its chain.
func TestMarshalBundleMatchesEncodingJSON(t *testing.T) {
	type rawBytesJSON struct {
		RawBytes []byte `json:"rawBytes"`
	}
	type material struct {
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey,omitempty"`
		X509CertificateChain *struct {
			Certificates []rawBytesJSON `json:"certificates"`
		} `json:"x509CertificateChain,omitempty"`
		TlogEntries []struct{} `json:"tlogEntries"`
	}
	type signature struct {
		Sig   []byte `json:"sig"`
		KeyID string `json:"keyid"`
	}
	type bundle struct {
		MediaType            string   `json:"mediaType"`
		VerificationMaterial material `json:"verificationMaterial"`
		DSSEEnvelope         struct {
			Payload     []byte      `json:"payload"`
			PayloadType string      `json:"payloadType"`
			Signatures  []signature `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	root := testpki.NewRoot(t, "root")
	leaf := root.Leaf(t, "leaf")
	payload := []byte(`{"a": "<&>"}` + strings.Repeat("x", 1000))
	sig := []byte{0x30, 0x01, 0xff}
	for _, tc := range []struct {
		name string
		s    Signer
	}{
		{"key", keySigner(t, leaf.Key)},
		{"certificate", certSigner(t, leaf.Key, leaf.Cert)},
		{"certificate and chain", certSigner(t, leaf.Key, leaf.Cert, root.Cert)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := marshalBundle(tc.s, PayloadTypeInToto, payload, sig)
			if err != nil {
				t.Fatal(err)
			}
			var b bundle
			b.MediaType = MediaTypeV03
			b.VerificationMaterial.TlogEntries = []struct{}{}
			if certs := tc.s.Certificates(); len(certs) > 0 {
				b.VerificationMaterial.X509CertificateChain = &struct {
					Certificates []rawBytesJSON `json:"certificates"`
				}{}
				for _, c := range certs {
					b.VerificationMaterial.X509CertificateChain.Certificates = append(b.VerificationMaterial.X509CertificateChain.Certificates, rawBytesJSON{c.Raw})
				}
			} else {
				b.VerificationMaterial.PublicKey = &struct {
					Hint string `json:"hint"`
				}{PublicKeyHint(tc.s.Public())}
			}
			b.DSSEEnvelope.Payload, b.DSSEEnvelope.PayloadType = payload, PayloadTypeInToto
			b.DSSEEnvelope.Signatures = []signature{{Sig: sig}}
			want, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("marshalBundle =\n%s\nencoding/json writes\n%s", got, want)
			}
		})
	}
}

// TestCheckOwnStatement: the sign self-check accepts the statement of
// the manifest it was built from and refuses one that says anything else.
func TestCheckOwnStatement(t *testing.T) {
	d := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	files := manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}
	m := &manifest.Manifest{Serialization: files, Resources: []manifest.Resource{{Path: "a", Digest: d(1)}, {Path: "b/c", Digest: d(2)}}, IgnorePaths: []string{".git", "model.sig"}}
	stmt := func(t *testing.T, m *manifest.Manifest) []byte {
		out, err := BuildStatement(m, "model")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	with := func(f func(m *manifest.Manifest)) *manifest.Manifest {
		c := *m
		c.Resources = slices.Clone(m.Resources)
		f(&c)
		return &c
	}
	if err := checkOwnStatement(stmt(t, m), m); err != nil {
		t.Fatalf("own statement refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		other *manifest.Manifest
		want  string
	}{
		{"another digest", with(func(m *manifest.Manifest) { m.Resources[1].Digest = d(3) }), `1 changed ("b/c"`},
		{"another file", with(func(m *manifest.Manifest) { m.Resources[1].Path = "b/d" }), `1 extra file ("b/c"), 1 missing ("b/d")`},
		{"another hash", with(func(m *manifest.Manifest) { m.Serialization.HashType = manifest.BLAKE3 }), "records serialization"},
		{"symlinks allowed", with(func(m *manifest.Manifest) { m.Serialization.AllowSymlinks = true }), "records serialization"},
		{"other ignore paths", with(func(m *manifest.Manifest) { m.IgnorePaths = []string{".git"} }), "records ignore paths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkOwnStatement(stmt(t, tc.other), m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := checkOwnStatement([]byte("{}"), m); err == nil || !strings.Contains(err.Error(), "does not parse back") {
		t.Errorf("error %v", err)
	}
}

// recordingSigner is a Signer of another package's kind: it records the
// bytes it is asked to sign.
type recordingSigner struct {
	Signer
	got []byte
}

func (r *recordingSigner) SignPAE(pae []byte) ([]byte, error) {
	r.got = append([]byte(nil), pae...)
	return r.Signer.SignPAE(pae)
}

// TestSignStatement: this package's signers sign the PAE hashed in place,
// on every curve, and verify over the PAE's bytes; any other Signer is
// handed the PAE's bytes themselves.
func TestSignStatement(t *testing.T) {
	stmt := []byte(`{"_type": "x"}`)
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv := testpki.Key(t, c)
		sig, err := signStatement(keySigner(t, priv), stmt)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := curveHash(&priv.PublicKey)
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest(h, pae(PayloadTypeInToto, stmt)), sig) {
			t.Errorf("%s: the signature does not verify over the PAE", c.Params().Name)
		}
	}
	r := &recordingSigner{Signer: keySigner(t, testpki.Key(t, nil))}
	if _, err := signStatement(r, stmt); err != nil || !bytes.Equal(r.got, pae(PayloadTypeInToto, stmt)) {
		t.Errorf("other signer got %q, %v; want the PAE", r.got, err)
	}
}
