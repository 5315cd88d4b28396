package modelsig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"github.com/modelgate/modelgate/manifest"
)

// DefaultSignatureName is the signature file name inside a model directory.
const DefaultSignatureName = "model.sig"

// VerifyOptions controls Verify. Paths are absolute (callers resolve
// relative paths by their own rules: the CLI against the working directory,
// the policy against the model).
type VerifyOptions struct {
	// SignaturePath is the model.sig to read; "" means DefaultSignatureName
	// in the model directory (a single-file model: the file's directory).
	// It is always left out of the model when it lies inside it.
	SignaturePath string
	// IgnorePaths are extra files or folders to leave out (absolute, or
	// relative to the model root); see manifest.Options.IgnorePaths.
	IgnorePaths    []string
	IgnoreGitPaths bool
	// AllowSymlinks permits symlinks to files (hashed by target content).
	// A signature that recorded allow_symlinks true also permits them.
	AllowSymlinks bool
	// IgnoreUnsignedFiles hashes only the files the signature lists.
	IgnoreUnsignedFiles bool
	Workers             int
	// LinkRoot confines symlinks to regular files inside this folder (a
	// Hugging Face cache's blobs/), whatever allow_symlinks says; see
	// manifest.Options.LinkRoot.
	LinkRoot string
	// Progress, when set, hears how many files and bytes will be hashed
	// and how many have been; see manifest.Progress.
	Progress manifest.Progress
	// Logger receives warnings (such as an old bundle without a key hint);
	// nil means slog.Default().
	Logger *slog.Logger
	// Cache, when set, lets hashing reuse the digests of unchanged files;
	// see manifest.DigestCache. The signature and the list of files are
	// checked as without it.
	Cache manifest.DigestCache
	// Hash, when set, hashes in place of tree.Hash, once the signature
	// verified and the walked names match expected: it returns the
	// manifest of the bytes that will be loaded, which Verify compares
	// with expected as it would the model's. Package pindir's
	// Session.Hash copies the model while hashing it (--pin-dir).
	Hash func(ctx context.Context, tree *manifest.Tree, expected *manifest.Manifest) (*manifest.Manifest, manifest.Stats, error)
}

// Result describes a successful verification.
type Result struct {
	Method        Method
	SignaturePath string
	// Signed is what the verifier learnt about the signer. Its Payload is
	// nil: Verify lets go of the payload's bytes once it has parsed them
	// into Statement, so that a many-file model's signature (tens of
	// megabytes of JSON) is not held while the model is hashed.
	Signed *Signed
	// Statement is the verified statement the payload held: its recorded
	// subject digest, and the expected manifest (in payload order).
	Statement *Statement
	Manifest  *manifest.Manifest // the verified (expected == actual) manifest, as hashed from disk
	Stats     manifest.Stats
}

// Verify checks that modelPath is exactly what the signature says and that
// v accepts the signature. Failures where the model or signature does not
// match are *VerificationError; anything else is an operational error.
//
// The steps never mix (format spec §5): v checks the signature and yields
// the payload; only that verified payload is parsed into the expected
// manifest; the model is then hashed the way the signature records
// (method, hash, shard size) and compared as a map. The ignore set is the
// union of opts.IgnorePaths, the signature file, the git paths (if
// opts.IgnoreGitPaths) and the signature's recorded ignore_paths; a
// recorded entry that is absolute, has a ".." component or names the
// whole model is dropped, so a signature can only ever hide paths inside
// the model, never the model itself.
func Verify(ctx context.Context, modelPath string, v Verifier, opts VerifyOptions) (*Result, error) {
	if v == nil {
		return nil, errors.New("verify: no verifier")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	single, err := modelKind(modelPath)
	if err != nil {
		return nil, err
	}
	sigPath, err := signaturePath(modelPath, single, opts.SignaturePath, false)
	if err != nil {
		return nil, err
	}
	b, err := ReadBundle(sigPath)
	if err != nil {
		return nil, err
	}
	signed, err := v.VerifySignature(b)
	large := int64(len(b.raw)) >= collectAbove
	b = nil // the signature file's bytes are garbage from here on
	if err != nil {
		var ve *VerificationError
		if errors.As(err, &ve) && ve.Path == "" {
			ve.Path = sigPath
		}
		return nil, err
	}
	if signed == nil {
		return nil, fmt.Errorf("verify %q: the %s verifier returned no result", sigPath, v.Method())
	}
	for _, w := range signed.Warnings {
		log.Warn(w, "signature", sigPath)
	}
	collectIf(large)
	st, err := ParseStatement(signed.PayloadType, signed.Payload)
	if err != nil {
		return nil, &VerificationError{Path: sigPath, Err: err}
	}
	signed.Payload = nil // st holds what it says; the bytes would double the memory hashing needs
	collectIf(large)
	expected := st.Manifest
	if single {
		if expected, err = singleFileManifest(expected, filepath.Base(modelPath)); err != nil {
			return nil, &VerificationError{Path: sigPath, Err: err}
		}
	} else if err := folderAgainstFileSignature(modelPath, st); err != nil {
		return nil, &VerificationError{Path: modelPath, Err: err}
	}
	mopts := manifest.Options{
		Serialization:  expected.Serialization,
		IgnorePaths:    append(append(append([]string(nil), opts.IgnorePaths...), sigPath), recordedIgnores(expected.IgnorePaths)...),
		IgnoreGitPaths: opts.IgnoreGitPaths,
		Expected:       expected,
		LinkRoot:       opts.LinkRoot,
		Progress:       opts.Progress,
		Workers:        opts.Workers,
		Cache:          opts.Cache,
	}
	mopts.AllowSymlinks = opts.AllowSymlinks || expected.Serialization.AllowSymlinks
	if opts.IgnoreUnsignedFiles {
		if len(expected.Resources) == 0 {
			// Hashing only the listed files of an empty listing would
			// accept any model at all.
			return nil, &VerificationError{Path: sigPath, Err: errors.New("the signature lists no files, so --ignore-unsigned-files would accept any model")}
		}
		mopts.Only = filePaths(expected)
	}
	tree, err := manifest.Walk(ctx, modelPath, mopts)
	if err != nil {
		return nil, err
	}
	// Names first: a model with extra or missing files fails at the cost
	// of the walk, before a single byte is hashed.
	if err := tree.CheckNames(expected); err != nil {
		return nil, &VerificationError{Path: modelPath, Err: err}
	}
	var (
		actual *manifest.Manifest
		stats  manifest.Stats
	)
	if opts.Hash != nil {
		actual, stats, err = opts.Hash(ctx, tree, expected)
	} else {
		actual, stats, err = tree.Hash(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err := manifest.Compare(expected, actual); err != nil {
		return nil, &VerificationError{Path: modelPath, Err: err}
	}
	return &Result{Method: v.Method(), SignaturePath: sigPath, Signed: signed, Statement: st, Manifest: actual, Stats: stats}, nil
}

// collectAbove is the signature size from which Verify collects garbage
// where a large buffer has just died (see collectIf): a model of about
// 20,000 files.
const collectAbove = 4 << 20

// collectIf runs a garbage collection when large. Verify calls it where the
// signature file's bytes, and then the payload's, have just become garbage
// (together about 380 bytes per file of the model). Collected at once,
// their memory is reused by the statement, the walk and the digests; left
// to the pacer, which waits until the heap has doubled, each next phase
// grows the heap by as much again. For 100,000 files that is 14 MB less
// peak RSS (80 -> 66 MB) and 3,300 fewer page faults, each costly on a
// virtual machine, for two collections of a heap of a few live megabytes
// (about a millisecond each). Small signatures skip it: the gain would be
// nothing, and a server verifying models should not force collections.
func collectIf(large bool) {
	if large {
		runtime.GC()
	}
}

// modelKind reports whether modelPath is a single regular file (true) or a
// directory (false), following a symlink the user named.
func modelKind(modelPath string) (bool, error) {
	if modelPath == "" {
		return false, errors.New("model path is empty")
	}
	fi, err := os.Stat(modelPath)
	if err != nil {
		return false, fmt.Errorf("model: %w", err)
	}
	switch {
	case fi.Mode().IsRegular():
		return true, nil
	case fi.IsDir():
		return false, nil
	}
	return false, fmt.Errorf("model %q is not a regular file or directory", modelPath)
}

// signaturePath returns the absolute signature path: p, or
// DefaultSignatureName in the model directory (a single file's directory)
// when p is "". A relative p is taken from the working directory when
// verifying, and from the model directory when modelRelative (signing).
func signaturePath(modelPath string, single bool, p string, modelRelative bool) (string, error) {
	dir := modelPath
	if single {
		dir = filepath.Dir(modelPath)
	}
	switch {
	case p == "":
		p = filepath.Join(dir, DefaultSignatureName)
	case modelRelative && !filepath.IsAbs(p):
		p = filepath.Join(dir, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("signature path %q: %w", p, err)
	}
	return abs, nil
}

// singleFileManifest accepts, for a model that is one file, a signature
// listing exactly one file named "." (the reference library) or the
// file's base name (OMS signers), and names it "." as the walk does.
func singleFileManifest(m *manifest.Manifest, base string) (*manifest.Manifest, error) {
	paths := filePaths(m)
	switch {
	case len(paths) == 0:
		return m, nil
	case len(paths) > 1:
		return nil, fmt.Errorf("the model is the single file %q, but the signature lists %d files (it is for a folder: pass the folder that holds them)", base, len(paths))
	case paths[0] != "." && paths[0] != base:
		return nil, fmt.Errorf("the model is the single file %q, but the signature is for the file %q", base, paths[0])
	}
	out := *m
	out.Resources = append([]manifest.Resource(nil), m.Resources...)
	for i := range out.Resources {
		out.Resources[i].Path = "."
	}
	return &out, nil
}

// folderAgainstFileSignature refuses, with a hint, a folder checked
// against the signature of a single file (one resource named "."): a
// folder's walk never yields ".", so it could only fail, less clearly.
func folderAgainstFileSignature(modelPath string, st *Statement) error {
	rs := st.Manifest.Resources
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		if r.Path != "." {
			return nil // the first resource decides for a folder's signature
		}
	}
	hint := "pass the signed file itself as the model"
	if name := st.SubjectName; name != "" && filepath.IsLocal(name) {
		if fi, err := os.Stat(filepath.Join(modelPath, name)); err == nil && fi.Mode().IsRegular() {
			hint = fmt.Sprintf("pass the file itself as the model, e.g. %q", filepath.Join(modelPath, name))
		}
	}
	return fmt.Errorf("the signature is for a single file (%q), but the model is a folder: %s", st.SubjectName, hint)
}

// filePaths returns the distinct file paths of m's resources in order
// (shard suffixes are already split off). It is never nil, so it can serve
// as manifest.Options.Only.
func filePaths(m *manifest.Manifest) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, r := range m.Resources {
		if !seen[r.Path] {
			seen[r.Path] = true
			out = append(out, r.Path)
		}
	}
	return out
}

// recordedIgnores keeps the recorded ignore_paths entries that name
// something strictly inside the model, as model-relative paths. The
// reference library joins each to the model path and matches lexically, so
// an entry with ".." matches nothing; absolute entries are dropped (at
// worst more is hashed, which can only fail); and an entry naming the
// model itself would leave nothing to verify.
func recordedIgnores(recorded []string) []string {
	var out []string
	for _, p := range recorded {
		if p == "" || path.IsAbs(p) || filepath.IsAbs(p) || hasDotDot(p) {
			continue
		}
		if c := path.Clean(p); c != "." {
			out = append(out, c)
		}
	}
	return out
}
