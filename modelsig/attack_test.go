//go:build unix

package modelsig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/testpki"
	"github.com/modelgate/modelgate/manifest"
)

// These tests play the attacker of issue 7: someone who can write into
// the model folder but holds no key. Each scenario starts from a model
// signed by the publisher and must end in a denial naming what changed.

// attackModel signs a small model (with "ignore-me" recorded as ignored
// and allow_symlinks as given) and returns it and the signer case.
func attackModel(t *testing.T, allowSymlinks bool, files map[string]string) (string, signerCase) {
	t.Helper()
	sc := signerCases(t)[0]
	base := map[string]string{
		"config.json":         `{"model_type":"llama"}`,
		"pytorch_model.bin":   "weights",
		"sub/tokenizer.json":  "tok",
		"ignore-me":           "scratch",
		"sub/ignore-me":       "scratch",
		"meta/notes.txt":      "notes",
		"generation_cfg.json": "{}",
	}
	for k, v := range files {
		base[k] = v
	}
	model := testpki.Model(t, base)
	_, err := Sign(context.Background(), model, sc.signer, SignOptions{
		IgnorePaths:    []string{"ignore-me", "sub/ignore-me"},
		IgnoreGitPaths: true,
		Serialization:  manifest.Serialization{AllowSymlinks: allowSymlinks},
	})
	if err != nil {
		t.Fatal(err)
	}
	return model, sc
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	os.RemoveAll(link)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// wantDenied checks that err is a verification failure mentioning every
// fragment.
func wantDenied(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("verification passed; want a denial mentioning %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q lacks %q", err, f)
		}
	}
}

func TestAttackSymlinksDoNotWidenIgnores(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		allow  bool
		attack func(t *testing.T, model string) VerifyOptions
		want   []string
	}{
		{
			// model.sig becomes a link to a NEW generation_config.json
			// holding a copy of the signature (a valid bundle): read as the
			// signature, it must still be hashed as a model file.
			name: "model.sig links to a new generation_config.json",
			attack: func(t *testing.T, model string) VerifyOptions {
				sig := filepath.Join(model, DefaultSignatureName)
				data, err := os.ReadFile(sig)
				if err != nil {
					t.Fatal(err)
				}
				testpki.WriteFile(t, filepath.Join(model, "generation_config.json"), data)
				mustSymlink(t, "generation_config.json", sig)
				return VerifyOptions{IgnoreGitPaths: true}
			},
			want: []string{`1 extra file ("generation_config.json")`},
		},
		{
			name: "recorded ignore-me links to a new folder of .py files",
			attack: func(t *testing.T, model string) VerifyOptions {
				testpki.WriteFile(t, filepath.Join(model, "code", "modeling.py"), []byte("import os"))
				testpki.WriteFile(t, filepath.Join(model, "code", "evil.py"), []byte("os.system('x')"))
				mustSymlink(t, "code", filepath.Join(model, "ignore-me"))
				return VerifyOptions{IgnoreGitPaths: true}
			},
			want: []string{`2 extra files ("code/evil.py", "code/modeling.py")`},
		},
		{
			name:  "recorded ignore-me links to a new model.safetensors (symlinks allowed)",
			allow: true,
			attack: func(t *testing.T, model string) VerifyOptions {
				testpki.WriteFile(t, filepath.Join(model, "model.safetensors"), []byte("evil weights"))
				mustSymlink(t, "model.safetensors", filepath.Join(model, "ignore-me"))
				return VerifyOptions{IgnoreGitPaths: true}
			},
			want: []string{`1 extra file ("model.safetensors")`},
		},
		{
			name: "nested recorded ignore links up and over",
			attack: func(t *testing.T, model string) VerifyOptions {
				testpki.WriteFile(t, filepath.Join(model, "model.safetensors"), []byte("evil weights"))
				mustSymlink(t, "../model.safetensors", filepath.Join(model, "sub", "ignore-me"))
				return VerifyOptions{IgnoreGitPaths: true}
			},
			want: []string{`1 extra file ("model.safetensors")`},
		},
		{
			name: "user ignore path with .. through a link",
			attack: func(t *testing.T, model string) VerifyOptions {
				testpki.WriteFile(t, filepath.Join(model, "evil", "deep", "x"), []byte("x"))
				testpki.WriteFile(t, filepath.Join(model, "evil", "payload.py"), []byte("evil"))
				mustSymlink(t, "evil/deep", filepath.Join(model, "ignore-me"))
				// Resolved, "ignore-me/../payload.py" is evil/payload.py;
				// as a name it is "payload.py", which does not exist.
				return VerifyOptions{IgnoreGitPaths: true, IgnorePaths: []string{filepath.Join(model, "ignore-me", "..", "payload.py")}}
			},
			want: []string{`"evil/deep/x"`, `"evil/payload.py"`},
		},
		{
			name: "absolute ignore path through a symlinked model root names the link only",
			attack: func(t *testing.T, model string) VerifyOptions {
				alias := filepath.Join(t.TempDir(), "alias")
				mustSymlink(t, model, alias)
				testpki.WriteFile(t, filepath.Join(model, "evil.py"), []byte("evil"))
				mustSymlink(t, "evil.py", filepath.Join(model, "innocent"))
				return VerifyOptions{IgnoreGitPaths: true, IgnorePaths: []string{filepath.Join(alias, "innocent")}}
			},
			want: []string{`1 extra file ("evil.py")`},
		},
		{
			// The user names the signature through a folder inside the
			// model that the attacker turned into a link: the file read
			// is authenticated, but what it points at stays hashed.
			name:  "signature path through a symlinked folder inside the model",
			allow: true,
			attack: func(t *testing.T, model string) VerifyOptions {
				data, err := os.ReadFile(filepath.Join(model, DefaultSignatureName))
				if err != nil {
					t.Fatal(err)
				}
				testpki.WriteFile(t, filepath.Join(model, "weights2", "model.sig"), data)
				mustSymlink(t, "weights2", filepath.Join(model, "sigs"))
				return VerifyOptions{IgnoreGitPaths: true, SignaturePath: filepath.Join(model, "sigs", "model.sig")}
			},
			want: []string{`1 extra file ("weights2/model.sig")`, `1 extra directory symlink or directory the signature lists no files under ("sigs")`},
		},
		{
			name:  "a directory symlink added to a model signed with allow_symlinks",
			allow: true,
			attack: func(t *testing.T, model string) VerifyOptions {
				elsewhere := testpki.Model(t, map[string]string{"evil.py": "evil"})
				mustSymlink(t, elsewhere, filepath.Join(model, "plugins"))
				return VerifyOptions{IgnoreGitPaths: true}
			},
			want: []string{`extra directory symlink or directory the signature lists no files under ("plugins")`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, sc := attackModel(t, tt.allow, nil)
			if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true}); err != nil {
				t.Fatalf("before the attack: %v", err)
			}
			opts := tt.attack(t, model)
			_, err := Verify(ctx, model, sc.verifier, opts)
			wantDenied(t, err, tt.want...)
			var ve *VerificationError
			if !errors.As(err, &ve) {
				t.Errorf("error %v is not a *VerificationError", err)
			}
		})
	}
}

// TestSymlinkedPathsStillWork: the legitimate uses of symlinks outside the
// model keep working: a model reached through a symlinked folder, the
// signature and ignore paths given through it, and a signature that is
// itself a symlink to a file outside the model.
func TestSymlinkedPathsStillWork(t *testing.T) {
	ctx := context.Background()
	model, sc := attackModel(t, false, nil)
	alias := filepath.Join(t.TempDir(), "alias")
	mustSymlink(t, model, alias)
	testpki.WriteFile(t, filepath.Join(model, "scratch.log"), []byte("log"))
	tests := []struct {
		name  string
		model string
		opts  VerifyOptions
	}{
		{"model through an alias, paths through the real folder", alias, VerifyOptions{IgnorePaths: []string{filepath.Join(model, "scratch.log")}, SignaturePath: filepath.Join(model, DefaultSignatureName)}},
		{"real model, paths through the alias", model, VerifyOptions{IgnorePaths: []string{filepath.Join(alias, "scratch.log")}, SignaturePath: filepath.Join(alias, DefaultSignatureName)}},
		{"relative ignore path", alias, VerifyOptions{IgnorePaths: []string{"scratch.log"}}},
	}
	for _, tt := range tests {
		tt.opts.IgnoreGitPaths = true
		if _, err := Verify(ctx, tt.model, sc.verifier, tt.opts); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	// model.sig may be a symlink to the real signature kept elsewhere.
	outside := filepath.Join(t.TempDir(), "kept.sig")
	if err := os.Rename(filepath.Join(model, DefaultSignatureName), outside); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, outside, filepath.Join(model, DefaultSignatureName))
	if _, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true, IgnorePaths: []string{"scratch.log"}}); err != nil {
		t.Errorf("signature symlinked from outside: %v", err)
	}
}

// TestDirectorySymlinkListedIsVerified: a directory that the signature
// lists files under may be replaced by a symlink to an identical copy
// (allowed symlinks): its files are hashed through the link. A copy with
// one byte changed is denied.
func TestDirectorySymlinkListedIsVerified(t *testing.T) {
	ctx := context.Background()
	model, sc := attackModel(t, true, map[string]string{"shared/w.bin": "shared weights"})
	copyDir := testpki.Model(t, map[string]string{"w.bin": "shared weights"})
	if err := os.RemoveAll(filepath.Join(model, "shared")); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, copyDir, filepath.Join(model, "shared"))
	res, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true})
	if err != nil {
		t.Fatalf("identical copy through a link: %v", err)
	}
	if res.Stats.Files != 6 {
		t.Errorf("hashed %d files, want 6 (the linked one included)", res.Stats.Files)
	}
	testpki.WriteFile(t, filepath.Join(copyDir, "w.bin"), []byte("shared weightz"))
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true})
	wantDenied(t, err, `1 changed ("shared/w.bin"`)
	testpki.WriteFile(t, filepath.Join(copyDir, "more.bin"), []byte("more"))
	_, err = Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true})
	wantDenied(t, err, `1 extra file ("shared/more.bin")`)
	// Without allow_symlinks the link is refused outright.
	model2, sc2 := attackModel(t, false, map[string]string{"shared/w.bin": "shared weights"})
	os.RemoveAll(filepath.Join(model2, "shared"))
	mustSymlink(t, copyDir, filepath.Join(model2, "shared"))
	_, err = Verify(ctx, model2, sc2.verifier, VerifyOptions{IgnoreGitPaths: true})
	wantDenied(t, err, `shared" is a symlink`)
}

// TestVerifyNamesBeforeHashing: extra or missing files fail before any
// byte is hashed.
func TestVerifyNamesBeforeHashing(t *testing.T) {
	ctx := context.Background()
	model, sc := attackModel(t, false, nil)
	testpki.WriteFile(t, filepath.Join(model, "added.bin"), []byte("added"))
	var p countingProgress
	_, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true, Progress: &p})
	wantDenied(t, err, `1 extra file ("added.bin")`)
	if p.planned != 1 || p.hashed.Load() != 0 {
		t.Errorf("planned %d times, hashed %d bytes; want a refusal before hashing", p.planned, p.hashed.Load())
	}
	os.Remove(filepath.Join(model, "added.bin"))
	res, err := Verify(ctx, model, sc.verifier, VerifyOptions{IgnoreGitPaths: true, Progress: &p})
	if err != nil {
		t.Fatal(err)
	}
	if p.hashed.Load() != res.Stats.Bytes || p.bytes != res.Stats.Bytes || p.files != res.Stats.Files {
		t.Errorf("progress: planned %d files %d bytes, hashed %d; stats %+v", p.files, p.bytes, p.hashed.Load(), res.Stats)
	}
}

// TestVerifyLinkRoot passes LinkRoot through: a snapshot whose links
// point into blobs/ verifies without allow_symlinks; one pointing outside
// is refused.
func TestVerifyLinkRoot(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	repo := testpki.Model(t, map[string]string{"blobs/aa": "weights", "blobs/bb": "config", "outside/cc": "evil"})
	signed := testpki.Model(t, map[string]string{"model.safetensors": "weights", "config.json": "config"})
	if _, err := Sign(ctx, signed, sc.signer, SignOptions{SignaturePath: filepath.Join(repo, "model.sig")}); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(repo, "snapshots", "rev")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "../../blobs/aa", filepath.Join(snap, "model.safetensors"))
	mustSymlink(t, "../../blobs/bb", filepath.Join(snap, "config.json"))
	opts := VerifyOptions{SignaturePath: filepath.Join(repo, "model.sig"), LinkRoot: filepath.Join(repo, "blobs")}
	if _, err := Verify(ctx, snap, sc.verifier, opts); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := Verify(ctx, snap, sc.verifier, VerifyOptions{SignaturePath: opts.SignaturePath}); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("without LinkRoot: %v, want symlinks refused", err)
	}
	mustSymlink(t, "../../outside/cc", filepath.Join(snap, "config.json"))
	_, err := Verify(ctx, snap, sc.verifier, opts)
	wantDenied(t, err, `config.json" is a symlink (-> "../../outside/cc")`, "outside")
}

// TestVerifyFolderAgainstFileSignature: the hint says what to pass.
func TestVerifyFolderAgainstFileSignature(t *testing.T) {
	ctx := context.Background()
	sc := signerCases(t)[0]
	dir := testpki.Model(t, map[string]string{"w.gguf": "weights", "other": "x"})
	if _, err := Sign(ctx, filepath.Join(dir, "w.gguf"), sc.signer, SignOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(ctx, dir, sc.verifier, VerifyOptions{})
	wantDenied(t, err, `the signature is for a single file ("w.gguf"), but the model is a folder`, `pass the file itself as the model, e.g. "`+filepath.Join(dir, "w.gguf")+`"`)

	folder := testpki.Model(t, map[string]string{"a": "a", "b": "b"})
	if _, err := Sign(ctx, folder, sc.signer, SignOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(ctx, filepath.Join(folder, "a"), sc.verifier, VerifyOptions{SignaturePath: filepath.Join(folder, DefaultSignatureName)})
	wantDenied(t, err, "lists 2 files", "pass the folder")
}
