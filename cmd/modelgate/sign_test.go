package main

import (
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
)

// signedLine matches sign's report and captures the model and signature
// (quoted), the resource count, the hash and the subject digest.
var signedLine = regexp.MustCompile(`^Signed ("(?:[^"\\]|\\.)*"): wrote ("(?:[^"\\]|\\.)*") \((\d+) resources?, (\w+), sha256:([0-9a-f]{64})\)\n$`)

// keyPair writes a fresh P-256 key pair into dir and returns the private
// and public key paths.
func keyPair(t *testing.T, dir string) (priv, pub string) {
	t.Helper()
	k := testpki.Key(t, elliptic.P256())
	priv, pub = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub.pem")
	testpki.WriteKey(t, priv, k, testpki.SEC1, nil)
	testpki.WritePublicKey(t, pub, k.Public())
	return priv, pub
}

// smallModel makes a model with nested, empty and multi-shard files.
func smallModel(t *testing.T) string {
	t.Helper()
	return testpki.Model(t, map[string]string{
		"config.json":          `{"layers": 2}`,
		"weights/part-1.bin":   strings.Repeat("weights-1 ", 40),
		"weights/part-2.bin":   strings.Repeat("w2", 33),
		"tokenizer/empty.txt":  "",
		"tokenizer/vocab.json": `{"a": 1}`,
	})
}

// signedModel makes smallModel, signs it with a fresh key into its
// model.sig, and returns it with the key files.
func signedModel(t *testing.T) (model, priv, pub string) {
	t.Helper()
	priv, pub = keyPair(t, t.TempDir())
	model = smallModel(t)
	sign(t, model, filepath.Join(model, "model.sig"), "sign", "key", "--private-key", priv)
	return model, priv, pub
}

// mustRead returns the contents of the file at path.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign runs a sign command and returns the subject digest it reported,
// after checking its report line and the written signature.
func sign(t *testing.T, model, sigPath string, args ...string) string {
	t.Helper()
	r := runCLI(t, append(args, model)...).want(t, exitOK)
	m := signedLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("sign output %q does not match %v", r.stdout, signedLine)
	}
	if wrote, err := strconv.Unquote(m[2]); err != nil || wrote != sigPath {
		t.Errorf("sign wrote %s, want %q", m[2], sigPath)
	}
	if got := subjectDigest(t, sigPath); got != m[5] {
		t.Errorf("reported digest %s, signature's subject %s", m[5], got)
	}
	return m[5]
}

// TestSignKeyRoundTrip signs with each hash and with shards, then
// verifies: modelgate re-hashes with the recorded serialization, so all of
// them verify (model_signing's CLI can verify only files+sha256).
func TestSignKeyRoundTrip(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())
	cases := []struct {
		hash      string
		shardSize string
		method    string
		resources int
	}{
		{"sha256", "", "files", 5}, // the empty file is a resource in files mode
		{"blake2b", "", "files", 5},
		{"blake3", "", "files", 5},
		{"sha256", "64", "shards", 1 + 7 + 2 + 1}, // 13, 400, 66 and 8 bytes; the empty file has no shard
		{"blake2b", "100", "shards", 1 + 4 + 1 + 1},
		{"blake3", "1000", "shards", 4},
	}
	for _, c := range cases {
		t.Run(c.hash+"-"+c.method+c.shardSize, func(t *testing.T) {
			model := smallModel(t)
			sigPath := filepath.Join(model, "model.sig")
			args := []string{"sign", "key", "--private-key", priv, "--hash", c.hash}
			hashArgs := []string{"--hash", c.hash}
			if c.shardSize != "" {
				args = append(args, "--shard-size", c.shardSize)
				hashArgs = append(hashArgs, "--shard-size", c.shardSize)
			}
			digest := sign(t, model, sigPath, args...)
			st := statement(t, sigPath)
			ser := st["predicate"].(map[string]any)["serialization"].(map[string]any)
			checkFields(t, ser, map[string]any{"method": c.method, "hash_type": c.hash, "allow_symlinks": false})
			if res := st["predicate"].(map[string]any)["resources"].([]any); len(res) != c.resources {
				t.Errorf("%d resources, want %d", len(res), c.resources)
			}
			if got := recordedIgnorePaths(t, sigPath); !slices.Equal(got, []string{".git", ".gitattributes", ".github", ".gitignore", "model.sig"}) {
				t.Errorf("recorded ignore_paths %q", got)
			}

			// digest hashes like sign (the signature file left out by hand).
			runCLI(t, append(append([]string{"digest", "--ignore-paths", sigPath}, hashArgs...), model)...).
				want(t, exitOK).stdoutHas(t, "sha256:"+digest+"\n")

			rec := oneJSON(t, runCLI(t, "verify", "key", "--public-key", pub, "--output", "json", model).want(t, exitOK).stdout)
			checkFields(t, rec, map[string]any{"outcome": "verified", "signature": sigPath, "bytes": 13 + 400 + 66 + 8})
			if c.method == "files" {
				checkFields(t, rec, map[string]any{"files": 5})
			}

			flipByte(t, filepath.Join(model, "weights", "part-2.bin"), 60)
			runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitDenied).
				stderrHas(t, `1 changed`, `("weights/part-2.bin`)
		})
	}
}

// TestSignLibraryShardForm: --library-shard-form names every shard's
// algorithm as the model_signing library's API expects
// ("<hash>-sharded-<size>"); the default is the OMS form (the hash
// alone). Both verify. Without --shard-size the flag is a usage error.
func TestSignLibraryShardForm(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"oms", nil, "sha256"},
		{"library", []string{"--library-shard-form"}, "sha256-sharded-64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := smallModel(t)
			sigPath := filepath.Join(model, "model.sig")
			sign(t, model, sigPath, append([]string{"sign", "key", "--private-key", priv, "--shard-size", "64"}, tc.flags...)...)
			res := statement(t, sigPath)["predicate"].(map[string]any)["resources"].([]any)
			for _, r := range res {
				if alg := r.(map[string]any)["algorithm"]; alg != tc.want {
					t.Errorf("resource %v: algorithm %v, want %q", r, alg, tc.want)
				}
			}
			runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitOK)
		})
	}
	runCLI(t, "sign", "key", "--private-key", priv, "--library-shard-form", smallModel(t)).want(t, exitError).
		stderrHas(t, "--library-shard-form needs --shard-size")
}

// TestSignCertificateRoundTrip signs with a testpki chain and verifies
// with its root; an intermediate alone or another root is not enough.
func TestSignCertificateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	root := testpki.NewRoot(t, "test-root")
	inter := root.Intermediate(t, "test-intermediate")
	leaf := inter.Leaf(t, "test-signer")
	keyPath := filepath.Join(dir, "leaf-key.pem")
	testpki.WriteKey(t, keyPath, leaf.Key, testpki.PKCS8, nil)
	leafPath, interPath, rootPath := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "inter.pem"), filepath.Join(dir, "root.pem")
	testpki.WriteCerts(t, leafPath, leaf.Cert)
	testpki.WriteCerts(t, interPath, inter.Cert)
	testpki.WriteCerts(t, rootPath, root.Cert)
	otherRoot := filepath.Join(dir, "other-root.pem")
	writeOtherCA(t, otherRoot)

	model := smallModel(t)
	sign(t, model, filepath.Join(model, "model.sig"), "sign", "certificate", "--private_key", keyPath,
		"--signing_certificate", leafPath, "--certificate_chain", interPath)

	rec := oneJSON(t, runCLI(t, "verify", "certificate", "--certificate-chain", rootPath, "--output", "json", model).want(t, exitOK).stdout)
	checkFields(t, rec, map[string]any{"outcome": "verified", "method": "certificate",
		"fingerprints": []string{fingerprint(inter.Cert), fingerprint(leaf.Cert)}})

	for name, chain := range map[string]string{"intermediate-only": interPath, "other-root": otherRoot, "leaf-only": leafPath} {
		t.Run(name, func(t *testing.T) {
			runCLI(t, "verify", "certificate", "--certificate-chain", chain, model).want(t, exitDenied).
				stderrHas(t, "does not lead to a trusted self-signed root")
		})
	}
	runCLI(t, "verify", "key", "--public-key", filepath.Join(dir, "nope.pem"), model).want(t, exitError)

	t.Run("wrong-leaf-for-key", func(t *testing.T) {
		other := inter.Leaf(t, "someone-else")
		otherLeaf := filepath.Join(t.TempDir(), "other-leaf.pem")
		testpki.WriteCerts(t, otherLeaf, other.Cert)
		m := smallModel(t)
		runCLI(t, "sign", "certificate", "--private-key", keyPath, "--signing-certificate", otherLeaf, m).
			want(t, exitError).stderrHas(t, "modelgate: ")
		assertNoFile(t, filepath.Join(m, "model.sig"))
	})
	t.Run("chain-file-as-signing-certificate", func(t *testing.T) {
		both := filepath.Join(t.TempDir(), "both.pem")
		testpki.WriteCerts(t, both, leaf.Cert, inter.Cert)
		m := smallModel(t)
		runCLI(t, "sign", "certificate", "--private-key", keyPath, "--signing-certificate", both, m).
			want(t, exitError).stderrHas(t, "--signing-certificate "+strconv.Quote(both)+": holds 2 certificates, want exactly the signing certificate")
		assertNoFile(t, filepath.Join(m, "model.sig"))
	})
}

// fingerprint is the uppercase colon-separated SHA-256 of c.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("%s exists (or cannot be checked: %v)", path, err)
	}
}

// TestSignEncryptedKey: the password comes from a file or an environment
// variable, never a flag value, and never shows up in any output.
func TestSignEncryptedKey(t *testing.T) {
	const password = "correct horse battery staple"
	dir := t.TempDir()
	k := testpki.Key(t, elliptic.P384())
	pub := filepath.Join(dir, "key.pub.pem")
	testpki.WritePublicKey(t, pub, k.Public())
	pkcs8Key := filepath.Join(dir, "pkcs8.pem")
	testpki.WriteKey(t, pkcs8Key, k, testpki.PKCS8Encrypted, []byte(password))
	legacyKey := filepath.Join(dir, "legacy.pem")
	testpki.WriteKey(t, legacyKey, k, testpki.SEC1EncryptedLegacy, []byte(password))
	pwFile := writeFile(t, filepath.Join(dir, "pw"), []byte(password+"\n"))
	crlfFile := writeFile(t, filepath.Join(dir, "pw-crlf"), []byte(password+"\r\n"))
	wrongFile := writeFile(t, filepath.Join(dir, "wrong"), []byte("Tr0ub4dor&3\n"))

	t.Setenv("MODELGATE_KEY_PASSWORD", "")
	ok := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"password-file", nil, []string{"--private-key", pkcs8Key, "--password-file", pwFile}},
		{"password-file-crlf", nil, []string{"--private-key", pkcs8Key, "--password_file", crlfFile}},
		{"legacy-pem-password-file", nil, []string{"--private-key", legacyKey, "--password-file", pwFile}},
		{"default-env", map[string]string{"MODELGATE_KEY_PASSWORD": password}, []string{"--private-key", pkcs8Key}},
		{"named-env", map[string]string{"MY_KEY_PW": password}, []string{"--private-key", pkcs8Key, "--password-env", "MY_KEY_PW"}},
		{"file-wins-over-env", map[string]string{"MODELGATE_KEY_PASSWORD": "wrong"}, []string{"--private-key", pkcs8Key, "--password-file", pwFile}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			model := smallModel(t)
			args := append([]string{"--log-level", "debug", "sign", "key"}, c.args...)
			r := runCLI(t, append(args, model)...).want(t, exitOK)
			assertNoSecret(t, r, password)
			runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitOK)
		})
	}

	bad := []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"wrong-password-file", nil, []string{"--private-key", pkcs8Key, "--password-file", wrongFile}, "private key " + strconv.Quote(pkcs8Key) + ": wrong password or corrupt key"},
		{"wrong-password-legacy", nil, []string{"--private-key", legacyKey, "--password-file", wrongFile}, "private key " + strconv.Quote(legacyKey) + ": "},
		{"wrong-password-env", map[string]string{"MODELGATE_KEY_PASSWORD": "nope"}, []string{"--private-key", pkcs8Key}, "wrong password or corrupt key"},
		{"no-password", nil, []string{"--private-key", pkcs8Key}, "private key " + strconv.Quote(pkcs8Key) + ": the key is encrypted; a password is needed"},
		{"unset-named-env", nil, []string{"--private-key", pkcs8Key, "--password-env", "MODELGATE_TEST_UNSET"}, "a password is needed"},
		{"missing-password-file", nil, []string{"--private-key", pkcs8Key, "--password-file", filepath.Join(dir, "nope")}, "--password-file " + strconv.Quote(filepath.Join(dir, "nope")) + ": no such file or directory"},
		{"bare-password", nil, []string{"--private-key", pkcs8Key, "--password", password}, "--password would expose the password in process lists; use --password-file FILE or --password-env VAR"},
		{"bare-empty-password", nil, []string{"--private-key", pkcs8Key, "--password="}, "--password would expose the password"},
		{"missing-private-key", nil, []string{"--private-key", filepath.Join(dir, "nope.pem")}, filepath.Join(dir, "nope.pem")},
		{"public-key-as-private", nil, []string{"--private-key", pub}, "private key " + strconv.Quote(pub) + ": no PEM private key block found"},
		{"private-key-absent", nil, nil, `required flag(s) "private-key" not set`},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			model := smallModel(t)
			r := runCLI(t, append(append([]string{"sign", "key"}, c.args...), model)...).
				want(t, exitError).stderrHas(t, "modelgate: ", c.msg)
			if c.name != "bare-password" {
				assertNoSecret(t, r, password)
			}
			assertNoFile(t, filepath.Join(model, "model.sig"))
		})
	}
}

// assertNoSecret fails if secret appears in any output.
func assertNoSecret(t *testing.T, r result, secret string) {
	t.Helper()
	if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
		t.Errorf("the password appears in the output:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
}

// TestSignPaths: where the signature goes by default and with a relative
// --signature, how ignore paths are read, and what gets recorded.
func TestSignPaths(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())

	t.Run("default-in-model-dir", func(t *testing.T) {
		model := smallModel(t)
		t.Chdir(t.TempDir()) // not the model's directory
		sign(t, model, filepath.Join(model, "model.sig"), "sign", "key", "--private-key", priv)
		runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitOK)
	})
	t.Run("single-file-model", func(t *testing.T) {
		dir := t.TempDir()
		file := writeFile(t, filepath.Join(dir, "adapter.gguf"), []byte("GGUF..."))
		sign(t, file, filepath.Join(dir, "model.sig"), "sign", "key", "--private-key", priv)
		st := statement(t, filepath.Join(dir, "model.sig"))
		if res := st["predicate"].(map[string]any)["resources"].([]any); len(res) != 1 || res[0].(map[string]any)["name"] != "." {
			t.Errorf("single-file resources %v, want one named \".\"", res)
		}
		runCLI(t, "verify", "key", "--public-key", pub, file).want(t, exitOK).
			stdoutHas(t, "Verification succeeded: "+strconv.Quote(file)+" (key, 1 file, 7 bytes)")
	})
	t.Run("relative-signature-is-cwd-relative", func(t *testing.T) {
		model := smallModel(t)
		cwd := t.TempDir()
		t.Chdir(cwd)
		sigPath := filepath.Join(cwd, "out", "granite.sig")
		if err := os.Mkdir(filepath.Join(cwd, "out"), 0o755); err != nil {
			t.Fatal(err)
		}
		sign(t, model, sigPath, "sign", "key", "--private-key", priv, "--signature", "out/granite.sig")
		assertNoFile(t, filepath.Join(model, "model.sig"))
		// Outside the model: not recorded.
		if got := recordedIgnorePaths(t, sigPath); slices.Contains(got, "out/granite.sig") || slices.Contains(got, "granite.sig") {
			t.Errorf("an outside signature is recorded: %q", got)
		}
		runCLI(t, "verify", "key", "--public-key", pub, "--signature", "out/granite.sig", model).want(t, exitOK)
		runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitDenied).stderrHas(t, `model.sig" (name the signature file with --signature)`)
	})
	t.Run("ignore-paths-from-parent", func(t *testing.T) {
		model := smallModel(t) // .../model
		t.Chdir(filepath.Dir(model))
		writeFile(t, filepath.Join(model, "notes.txt"), []byte("scratch"))
		sigPath := filepath.Join(model, "model.sig")
		// "model/weights" is CWD-relative (inside the model): only
		// "weights" is left out, never "model/weights" inside the model.
		// "notes.txt" lies outside the model from here, so it is read
		// relative to the model.
		sign(t, "model", sigPath, "sign", "key", "--private-key", priv, "--ignore-paths", "model/weights", "--ignore-paths", "notes.txt")
		want := []string{".git", ".gitattributes", ".github", ".gitignore", "model.sig", "notes.txt", "weights"}
		if got := recordedIgnorePaths(t, sigPath); !slices.Equal(got, want) {
			t.Errorf("recorded ignore_paths %q, want %q", got, want)
		}
		runCLI(t, "verify", "key", "--public-key", pub, "model").want(t, exitOK).stdoutHas(t, "(key, 3 files, ")
		// A file at model/model/weights is not ignored.
		writeFile(t, filepath.Join(model, "model", "weights"), []byte("sneaky"))
		runCLI(t, "verify", "key", "--public-key", pub, "model").want(t, exitDenied).
			stderrHas(t, `1 extra file ("model/weights")`)
	})
	t.Run("no-ignore-git-paths", func(t *testing.T) {
		model := smallModel(t)
		writeFile(t, filepath.Join(model, ".gitattributes"), []byte("* text"))
		sign(t, model, filepath.Join(model, "model.sig"), "sign", "key", "--private-key", priv, "--ignore-git-paths=false")
		if got := recordedIgnorePaths(t, filepath.Join(model, "model.sig")); !slices.Equal(got, []string{"model.sig"}) {
			t.Errorf("recorded ignore_paths %q, want only model.sig", got)
		}
		// The verifier leaves git paths out unless told not to, so the
		// signed .gitattributes then counts as missing.
		runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitDenied).stderrHas(t, `1 missing (".gitattributes")`)
		runCLI(t, "verify", "key", "--public-key", pub, "--ignore-git-paths=false", model).want(t, exitOK).stdoutHas(t, "(key, 6 files, ")
		runCLI(t, "verify", "key", "--public-key", pub, "--no-ignore-git-paths", model).want(t, exitOK)
		flipByte(t, filepath.Join(model, ".gitattributes"), 0)
		runCLI(t, "verify", "key", "--public-key", pub, "--no-ignore-git-paths", model).want(t, exitDenied).stderrHas(t, `1 changed (".gitattributes"`)
	})
	t.Run("empty-model-refused", func(t *testing.T) {
		model := filepath.Join(t.TempDir(), "empty")
		if err := os.Mkdir(model, 0o755); err != nil {
			t.Fatal(err)
		}
		runCLI(t, "sign", "key", "--private-key", priv, model).want(t, exitError).stderrHas(t, "modelgate: ", "empty")
		assertNoFile(t, filepath.Join(model, "model.sig"))
	})
	t.Run("missing-model", func(t *testing.T) {
		model := filepath.Join(t.TempDir(), "nothing")
		runCLI(t, "sign", "key", "--private-key", priv, model).want(t, exitError).stderrHas(t, "modelgate: ", model)
	})
}

// TestDigestMatchesReference: digest prints the subject digest the
// reference signer put into v1.1.0-elliptic-key's payload, once the files
// the signature left out are left out here too.
func TestDigestMatchesReference(t *testing.T) {
	model := refPath(t, "v1.1.0-elliptic-key")
	want := subjectDigest(t, filepath.Join(model, "model.sig"))
	if want != "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4" {
		t.Fatalf("reference payload subject %s: not the vector of format spec §9", want)
	}
	runCLI(t, "digest", "--ignore-paths", filepath.Join(model, "ignore-me"), "--ignore_paths", filepath.Join(model, "model.sig"), model).
		want(t, exitOK).stdoutHas(t, "sha256:"+want+"\n")

	// The same from the model's parent, with CWD-relative paths.
	t.Chdir(filepath.Dir(model))
	r := runCLI(t, "digest", "--ignore-paths", "v1.1.0-elliptic-key/ignore-me", "--ignore-paths", "v1.1.0-elliptic-key/model.sig", "v1.1.0-elliptic-key").want(t, exitOK)
	if r.stdout != "sha256:"+want+"\n" {
		t.Errorf("digest printed %q, want exactly sha256:%s", r.stdout, want)
	}
	// Like sign, digest leaves out model.sig on its own (the reference
	// CLI's digest does not), or the --signature file.
	runCLI(t, "digest", "--ignore-paths", "v1.1.0-elliptic-key/ignore-me", "v1.1.0-elliptic-key").want(t, exitOK).
		stdoutHas(t, "sha256:"+want+"\n")
	elsewhere := filepath.Join(t.TempDir(), "model.sig")
	if r := runCLI(t, "digest", "--ignore-paths", "v1.1.0-elliptic-key/ignore-me", "--signature", elsewhere, "v1.1.0-elliptic-key").want(t, exitOK); strings.Contains(r.stdout, want) {
		t.Errorf("digest left model.sig out although --signature names another file: %s", r.stdout)
	}
	runCLI(t, "digest", "--ignore-paths", "v1.1.0-elliptic-key/ignore-me", "--signature", "v1.1.0-elliptic-key/model.sig", "v1.1.0-elliptic-key").
		want(t, exitOK).stdoutHas(t, "sha256:"+want+"\n")
	// A single-file model's digest is the one its signature carries.
	single := filepath.Join(filepath.Dir(model), "v1.0.0-elliptic-key")
	runCLI(t, "digest", filepath.Join(single, "signme-1")).want(t, exitOK).
		stdoutHas(t, "sha256:"+subjectDigest(t, filepath.Join(single, "model.sig"))+"\n")
}

// TestIgnoreUnsignedFiles: extra files on disk pass, a missing one still
// fails.
func TestIgnoreUnsignedFiles(t *testing.T) {
	keyPub := refPath(t, "keys/certificate/signing-key-pub.pem")
	model := copyRef(t, "v1.1.0-elliptic-key")
	writeFile(t, filepath.Join(model, "extra.bin"), []byte("not signed"))
	writeFile(t, filepath.Join(model, "sub", "more.bin"), []byte("not signed either"))
	args := []string{"verify", "key", "--public-key", keyPub}

	runCLI(t, append(args, model)...).want(t, exitDenied).stderrHas(t, `2 extra files ("extra.bin", "sub/more.bin")`)
	runCLI(t, append(args, "--ignore-unsigned-files", model)...).want(t, exitOK).stdoutHas(t, "(key, 2 files, 17 bytes)")
	runCLI(t, append(args, "--ignore_unsigned_files", "--no-ignore-unsigned-files", model)...).want(t, exitDenied)

	flipByte(t, filepath.Join(model, "signme-1"), 0)
	runCLI(t, append(args, "--ignore-unsigned-files", model)...).want(t, exitDenied).stderrHas(t, `1 changed ("signme-1"`)
	mustRemove(t, filepath.Join(model, "signme-1"))
	runCLI(t, append(args, "--ignore-unsigned-files", model)...).want(t, exitDenied).stderrHas(t, `1 missing ("signme-1")`)

	// Shard signatures too (model_signing cannot: it joins "name:start:end"
	// to the model path).
	priv, pub := keyPair(t, t.TempDir())
	sharded := smallModel(t)
	sign(t, sharded, filepath.Join(sharded, "model.sig"), "sign", "key", "--private-key", priv, "--shard-size", "64")
	writeFile(t, filepath.Join(sharded, "extra.bin"), []byte("not signed"))
	args = []string{"verify", "key", "--public-key", pub}
	runCLI(t, append(args, sharded)...).want(t, exitDenied).stderrHas(t, "extra.bin")
	runCLI(t, append(args, "--ignore-unsigned-files", sharded)...).want(t, exitOK)
	mustRemove(t, filepath.Join(sharded, "config.json"))
	runCLI(t, append(args, "--ignore-unsigned-files", sharded)...).want(t, exitDenied).stderrHas(t, `1 missing shard ("config.json`)
}

// TestSignDoesNotReplaceAnotherSignature: without --signature, sign
// refuses to overwrite a model.sig that holds the signature of another
// file or folder (two single files in one folder share the default
// model.sig), and says to pass --signature; it replaces its own model's
// earlier signature as before.
func TestSignDoesNotReplaceAnotherSignature(t *testing.T) {
	priv, pub := keyPair(t, t.TempDir())
	signKey := func(extra ...string) []string {
		return append([]string{"sign", "key", "--private-key", priv}, extra...)
	}

	t.Run("second-single-file", func(t *testing.T) {
		dir := t.TempDir()
		a := writeFile(t, filepath.Join(dir, "a.gguf"), []byte("GGUF a"))
		b := writeFile(t, filepath.Join(dir, "b.gguf"), []byte("GGUF b"))
		sigPath := filepath.Join(dir, "model.sig")
		sign(t, a, sigPath, signKey()...)
		before := mustRead(t, sigPath)
		r := runCLI(t, signKey(b)...).want(t, exitError)
		r.stderrHas(t, "modelgate: "+strconv.Quote(sigPath)+` already exists and holds the signature of the file "a.gguf", not of `+strconv.Quote(b),
			"pass --signature FILE")
		if r.stdout != "" {
			t.Errorf("output although nothing was signed: %q", r.stdout)
		}
		if after, _ := os.ReadFile(sigPath); string(after) != string(before) {
			t.Error("a.gguf's signature was replaced")
		}
		runCLI(t, "verify", "key", "--public-key", pub, a).want(t, exitOK)

		// Re-signing a itself replaces its signature; b goes elsewhere.
		sign(t, a, sigPath, signKey()...)
		bSig := filepath.Join(dir, "b.sig")
		sign(t, b, bSig, signKey("--signature", bSig)...)
		runCLI(t, "verify", "key", "--public-key", pub, "--signature", bSig, b).want(t, exitOK)
		// Naming the default file explicitly replaces it on purpose.
		sign(t, b, sigPath, signKey("--signature", sigPath)...)
		runCLI(t, "verify", "key", "--public-key", pub, b).want(t, exitOK)
	})
	t.Run("folder-over-file-signature", func(t *testing.T) {
		model := smallModel(t)
		sign(t, filepath.Join(model, "config.json"), filepath.Join(model, "model.sig"), signKey()...)
		runCLI(t, signKey(model)...).want(t, exitError).
			stderrHas(t, `holds the signature of the file "config.json", not of `+strconv.Quote(model))
	})
	t.Run("file-over-folder-signature", func(t *testing.T) {
		model := smallModel(t)
		sign(t, model, filepath.Join(model, "model.sig"), signKey()...)
		runCLI(t, signKey(filepath.Join(model, "config.json"))...).want(t, exitError).
			stderrHas(t, `holds the signature of the folder "model", not of `)
		runCLI(t, "verify", "key", "--public-key", pub, model).want(t, exitOK)
		sign(t, model, filepath.Join(model, "model.sig"), signKey()...) // the folder again: fine
	})
	// --signature replaces a signature, or an empty file, on purpose;
	// never a file that is not a signature, such as a model's weights
	// named by mistake (which would also leave them out of the very
	// signature that replaced them), nor a folder or symlink.
	t.Run("explicit", func(t *testing.T) {
		model := smallModel(t)
		weights := filepath.Join(model, "weights", "part-1.bin")
		before := mustRead(t, weights)
		runCLI(t, signKey("--signature", weights, model)...).want(t, exitError).
			stderrHas(t, strconv.Quote(weights)+" already exists and is not a signature modelgate can read; sign does not replace it")
		if after := mustRead(t, weights); string(after) != string(before) {
			t.Error("the weights were replaced")
		}
		link := filepath.Join(t.TempDir(), "link.sig")
		if err := os.Symlink(filepath.Join(model, "model.sig"), link); err != nil {
			t.Fatal(err)
		}
		runCLI(t, signKey("--signature", link, model)...).want(t, exitError).stderrHas(t, "exists and is not a regular file")
		runCLI(t, signKey("--signature", t.TempDir(), model)...).want(t, exitError).stderrHas(t, "exists and is not a regular file")

		empty := writeFile(t, filepath.Join(t.TempDir(), "tmp.sig"), nil)
		sign(t, model, empty, signKey("--signature", empty)...)
		runCLI(t, "verify", "key", "--public-key", pub, "--signature", empty, model).want(t, exitOK)
		other := smallModel(t)
		sign(t, other, empty, signKey("--signature", empty)...) // another model's signature: replaced on purpose
		runCLI(t, "verify", "key", "--public-key", pub, "--signature", empty, other).want(t, exitOK)
	})
	t.Run("not-a-signature", func(t *testing.T) {
		model := smallModel(t)
		writeFile(t, filepath.Join(model, "model.sig"), []byte("my notes"))
		runCLI(t, signKey(model)...).want(t, exitError).stderrHas(t, "already exists and is not a signature modelgate can read")
		if b, _ := os.ReadFile(filepath.Join(model, "model.sig")); string(b) != "my notes" {
			t.Error("model.sig was replaced")
		}
	})
}
