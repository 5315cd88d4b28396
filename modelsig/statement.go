package modelsig

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/strictjson"
	"github.com/modelgate/modelgate/manifest"
)

// In-toto and model_signing type strings.
const (
	PayloadTypeInToto    = "application/vnd.in-toto+json"
	StatementTypeV1      = "https://in-toto.io/Statement/v1"
	PredicateSignatureV1 = "https://model_signing/signature/v1.0"
	PredicateDigestsV01  = "https://model_signing/Digests/v0.1" // v0.1/v0.2 CLI, compat
)

// compatModelName is the model name the reference library reports for
// Digests/v0.1 statements, which do not record one.
const compatModelName = "compat-undefined-not-present"

// Statement is a validated in-toto statement taken from a verified payload.
type Statement struct {
	PredicateType string
	SubjectName   string // informational only, never compared
	// Manifest is the expected manifest: resources in payload order, the
	// recorded serialization, and IgnorePaths = the recorded ignore_paths
	// (sorted, as recorded: not yet filtered).
	Manifest *manifest.Manifest
}

// ParseStatement validates payloadType and the statement (format spec §3
// and the checks of issue #2: _type, predicateType, exactly one subject
// whose digest matches the resources, safe unique resource names,
// algorithm consistent with hash_type) and returns the expected manifest.
//
// Call it only on a payload whose signature has been verified: it trusts
// nothing, but there is no point parsing what nobody vouched for. Every
// error says what is wrong with the statement; callers add the file name.
func ParseStatement(payloadType string, payload []byte) (*Statement, error) {
	st, err := parseStatement(payloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("signed statement: %w", err)
	}
	return st, nil
}

func parseStatement(payloadType string, payload []byte) (*Statement, error) {
	if payloadType != PayloadTypeInToto {
		return nil, fmt.Errorf("payload type %q is not %s", payloadType, PayloadTypeInToto)
	}
	// Python refuses invalid UTF-8, and so does parseJSON; checking first
	// says so in the same words whatever else is wrong.
	if !utf8.Valid(payload) {
		return nil, errors.New("not valid UTF-8")
	}
	v, err := parseJSON(payload)
	if err != nil {
		return nil, err
	}
	top, err := asObject(v, "")
	if err != nil {
		return nil, err
	}
	typ, err := top.str("_type", true)
	if err != nil {
		return nil, err
	}
	if typ != StatementTypeV1 {
		return nil, fmt.Errorf("_type %q is not %s", typ, StatementTypeV1)
	}
	pt, err := top.str("predicateType", true)
	if err != nil {
		return nil, err
	}
	switch pt {
	case PredicateSignatureV1:
		return parseNative(top)
	case PredicateDigestsV01:
		return parseCompat(top)
	default:
		return nil, fmt.Errorf("unsupported predicate type %q", pt)
	}
}

// parseNative reads a signature/v1.0 statement (format spec §3.1).
func parseNative(top jsonObject) (*Statement, error) {
	subjects, _, err := top.arr("subject", true)
	if err != nil {
		return nil, err
	}
	if len(subjects) != 1 {
		return nil, fmt.Errorf("statement has %d subjects; exactly one is required", len(subjects))
	}
	subjectName, subjectDigest, err := parseSubject(subjects[0], "subject[0]")
	if err != nil {
		return nil, err
	}
	pred, ok, err := top.obj("predicate")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("predicate is missing")
	}
	ser, ok, err := pred.obj("serialization")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("predicate.serialization is missing")
	}
	s, ignorePaths, err := parseSerialization(ser)
	if err != nil {
		return nil, err
	}
	items, _, err := pred.arr("resources", true)
	if err != nil {
		return nil, err
	}
	m := &manifest.Manifest{Serialization: s, Resources: make([]manifest.Resource, 0, len(items)), IgnorePaths: ignorePaths}
	for i, it := range items {
		r, err := parseResource(it, fmt.Sprintf("predicate.resources[%d]", i), s)
		if err != nil {
			return nil, err
		}
		m.Resources = append(m.Resources, r)
	}
	if err := checkResourceSet(m.Resources); err != nil {
		return nil, err
	}
	// The subject digest binds the resource list; the reference verifier
	// recomputes it in payload order, and so must we (never re-sort).
	if got := m.SubjectDigest(); !bytes.Equal(got[:], subjectDigest) {
		return nil, fmt.Errorf("manifest is inconsistent: subject digest %x does not match the resources (sha256 over their digests is %x)", subjectDigest, got)
	}
	return &Statement{PredicateType: PredicateSignatureV1, SubjectName: subjectName, Manifest: m}, nil
}

// parseCompat reads a v0.2 Digests/v0.1 statement (format spec §3.2): one
// subject per file, files/sha256, no root digest and no ignore paths.
func parseCompat(top jsonObject) (*Statement, error) {
	subjects, _, err := top.arr("subject", true)
	if err != nil {
		return nil, err
	}
	m := &manifest.Manifest{
		Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256},
		Resources:     make([]manifest.Resource, 0, len(subjects)),
		IgnorePaths:   []string{},
	}
	for i, s := range subjects {
		at := fmt.Sprintf("subject[%d]", i)
		name, digest, err := parseSubject(s, at)
		if err != nil {
			return nil, err
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%s: name %q %w", at, name, err)
		}
		m.Resources = append(m.Resources, manifest.Resource{Path: name, Digest: digest})
	}
	if err := checkResourceSet(m.Resources); err != nil {
		return nil, err
	}
	return &Statement{PredicateType: PredicateDigestsV01, SubjectName: compatModelName, Manifest: m}, nil
}

// parseSubject returns an in-toto subject's name and raw SHA-256 digest.
func parseSubject(v *strictjson.Value, at string) (string, []byte, error) {
	subj, err := asObject(v, at)
	if err != nil {
		return "", nil, err
	}
	name, err := subj.str("name", false)
	if err != nil {
		return "", nil, err
	}
	digests, ok, err := subj.obj("digest")
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, fmt.Errorf("%s has no digest", at)
	}
	hexDigest, err := digests.str("sha256", true)
	if err != nil {
		return "", nil, err
	}
	d, err := decodeDigest(hexDigest, manifest.SHA256)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", digests.field("sha256"), err)
	}
	return name, d, nil
}

// parseSerialization reads predicate.serialization. Unknown fields are
// ignored; shard_size is read only for the shards method.
func parseSerialization(ser jsonObject) (manifest.Serialization, []string, error) {
	var s manifest.Serialization
	method, err := ser.str("method", true)
	if err != nil {
		return s, nil, err
	}
	switch manifest.Method(method) {
	case manifest.Files, manifest.Shards:
		s.Method = manifest.Method(method)
	default:
		return s, nil, fmt.Errorf("unknown serialization method %q", method)
	}
	ht, err := ser.str("hash_type", true)
	if err != nil {
		return s, nil, err
	}
	switch manifest.HashType(ht) {
	case manifest.SHA256, manifest.BLAKE2b, manifest.BLAKE3:
		s.HashType = manifest.HashType(ht)
	default:
		return s, nil, fmt.Errorf("unsupported hash_type %q", ht)
	}
	if s.AllowSymlinks, err = ser.boolean("allow_symlinks"); err != nil {
		return s, nil, err
	}
	if s.Method == manifest.Shards {
		if s.ShardSize, err = parseShardSize(ser); err != nil {
			return s, nil, err
		}
	}
	list, _, err := ser.arr("ignore_paths", false)
	if err != nil {
		return s, nil, err
	}
	ignore := make([]string, 0, len(list))
	for i, v := range list {
		if v.Kind != strictjson.String {
			return s, nil, fmt.Errorf("%s[%d] is not a string", ser.field("ignore_paths"), i)
		}
		ignore = append(ignore, v.Str)
	}
	sort.Strings(ignore)
	return s, ignore, nil
}

// maxExactFloat is 2^53: above it a JSON float no longer names one integer.
const maxExactFloat = 1 << 53

// parseShardSize accepts a positive integer, written as a JSON integer
// (OMS) or as an integral float such as 1000000000.0 (Python).
func parseShardSize(ser jsonObject) (int64, error) {
	v, ok := ser.get("shard_size")
	if !ok {
		return 0, fmt.Errorf("%s is missing for the shards method", ser.field("shard_size"))
	}
	if v.Kind != strictjson.Number {
		return 0, fmt.Errorf("%s is not a number", ser.field("shard_size"))
	}
	n := v.Str // the literal as written
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		if i <= 0 {
			return 0, fmt.Errorf("%s %s is not positive", ser.field("shard_size"), n)
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || f != math.Trunc(f) || f <= 0 || f > maxExactFloat {
		return 0, fmt.Errorf("%s %s is not a positive integer", ser.field("shard_size"), n)
	}
	return int64(f), nil
}

// parseResource reads one predicate.resources entry.
func parseResource(v *strictjson.Value, at string, s manifest.Serialization) (manifest.Resource, error) {
	var r manifest.Resource
	obj, err := asObject(v, at)
	if err != nil {
		return r, err
	}
	name, err := obj.str("name", true)
	if err != nil {
		return r, err
	}
	algorithm, err := obj.str("algorithm", true)
	if err != nil {
		return r, err
	}
	hexDigest, err := obj.str("digest", true)
	if err != nil {
		return r, err
	}
	r.Path = name
	if s.Method == manifest.Shards {
		if r.Path, r.Start, r.End, err = splitShardName(name); err != nil {
			return r, fmt.Errorf("%s: %w", at, err)
		}
		r.Shard = true
	}
	if err := checkName(r.Path); err != nil {
		return r, fmt.Errorf("%s: name %q %w", at, name, err)
	}
	if !algorithmMatches(algorithm, s) {
		return r, fmt.Errorf("%s: resource %q: algorithm %q does not match hash_type %q", at, name, algorithm, s.HashType)
	}
	if r.Digest, err = decodeDigest(hexDigest, s.HashType); err != nil {
		return r, fmt.Errorf("%s: resource %q: %w", at, name, err)
	}
	return r, nil
}

// algorithmMatches accepts the per-resource algorithm strings genuine
// signers write: the hash_type itself, and for shards also the reference
// library's "<hash_type>-sharded-<shard_size>" (format spec §10).
func algorithmMatches(algorithm string, s manifest.Serialization) bool {
	if algorithm == string(s.HashType) {
		return true
	}
	return s.Method == manifest.Shards &&
		algorithm == string(s.HashType)+"-sharded-"+strconv.FormatInt(s.ShardSize, 10)
}

// decodeDigest decodes hex (either case) and requires h's digest length.
func decodeDigest(s string, h manifest.HashType) ([]byte, error) {
	d, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("digest %q is not hex", s)
	}
	if len(d) != h.Size() {
		return nil, fmt.Errorf("digest has %d bytes; %s digests have %d", len(d), h, h.Size())
	}
	return d, nil
}

// splitShardName parses "path:start:end" from the right, so that a path
// may itself contain ":". start and end are canonical decimals (so each
// shard has exactly one name) with 0 <= start < end.
func splitShardName(name string) (string, int64, int64, error) {
	bad := func(why string) (string, int64, int64, error) {
		return "", 0, 0, fmt.Errorf("shard name %q %s", name, why)
	}
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return bad("is not path:start:end")
	}
	j := strings.LastIndexByte(name[:i], ':')
	if j < 0 {
		return bad("is not path:start:end")
	}
	start, ok1 := parseOffset(name[j+1 : i])
	end, ok2 := parseOffset(name[i+1:])
	if !ok1 || !ok2 {
		return bad("has a start or end that is not a decimal number")
	}
	if start >= end {
		return bad("has start >= end")
	}
	return name[:j], start, end, nil
}

// parseOffset accepts only canonical non-negative decimals ("0", "8",
// not "08", "+8" or "8.0").
func parseOffset(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// checkName refuses resource paths that could address anything but one
// file inside the model, or that would print misleadingly. The message
// completes "name %q ...".
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case strings.HasPrefix(name, "/"):
		return errors.New("is absolute")
	case !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError):
		return errors.New("is not valid UTF-8 (or holds an unpaired surrogate)")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("contains a control character")
	case hasDotDot(name):
		return errors.New(`has a ".." component`)
	case path.Clean(name) != name:
		return errors.New("is not a clean relative path")
	}
	return nil
}

func hasDotDot(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

// checkResourceSet refuses repeated resources and a "." (the single-file
// model) next to any other path. Several shards of "." are one file.
func checkResourceSet(rs []manifest.Resource) error {
	seen := make(map[string]bool, len(rs))
	dot, other := false, false
	for _, r := range rs {
		n := r.Name()
		if seen[n] {
			return fmt.Errorf("resource %q is listed more than once", n)
		}
		seen[n] = true
		if r.Path == "." {
			dot = true
		} else {
			other = true
		}
	}
	if dot && other {
		return errors.New(`resource "." (a single-file model) is listed together with other resources`)
	}
	return nil
}

// BuildStatement returns the in-toto statement JSON that model_signing
// v1.1.0 writes for m (predicate signature/v1.0, subject digest over the
// raw resource digests in m's order, recorded ignore_paths).
//
// Every resource's algorithm is the hash_type, shards included (the form
// both the reference library and OMS verifiers accept, format spec §10).
// Names that ParseStatement would refuse are refused here, so a signer
// never writes a signature that cannot verify.
func BuildStatement(m *manifest.Manifest, modelName string) ([]byte, error) {
	if m == nil {
		return nil, errors.New("build statement: no manifest")
	}
	s := m.Serialization
	if err := checkSerialization(s); err != nil {
		return nil, fmt.Errorf("build statement: %w", err)
	}
	st := statementJSON{
		Type:          StatementTypeV1,
		PredicateType: PredicateSignatureV1,
		Predicate: predicateJSON{
			Serialization: serializationJSON{
				Method:        string(s.Method),
				HashType:      string(s.HashType),
				AllowSymlinks: s.AllowSymlinks,
				IgnorePaths:   m.IgnorePaths,
			},
			Resources: make([]resourceJSON, 0, len(m.Resources)),
		},
	}
	if s.Method == manifest.Shards {
		st.Predicate.Serialization.ShardSize = s.ShardSize
	}
	for _, p := range m.IgnorePaths {
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("build statement: ignore path %q is not valid UTF-8", p)
		}
	}
	for _, r := range m.Resources {
		if err := checkName(r.Path); err != nil {
			return nil, fmt.Errorf("build statement: file name %q %w", r.Path, err)
		}
		if len(r.Digest) != s.HashType.Size() || r.Shard != (s.Method == manifest.Shards) {
			return nil, fmt.Errorf("build statement: resource %q does not fit the serialization", r.Name())
		}
		st.Predicate.Resources = append(st.Predicate.Resources, resourceJSON{
			Name:      r.Name(),
			Algorithm: string(s.HashType),
			Digest:    hex.EncodeToString(r.Digest),
		})
	}
	d := m.SubjectDigest()
	st.Subject = []subjectJSON{{Name: modelName, Digest: map[string]string{"sha256": hex.EncodeToString(d[:])}}}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		return nil, fmt.Errorf("build statement: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkSerialization reports whether s can be written as a predicate.
func checkSerialization(s manifest.Serialization) error {
	switch s.Method {
	case manifest.Files, manifest.Shards:
	default:
		return fmt.Errorf("unknown serialization method %q", s.Method)
	}
	if s.HashType.Size() == 0 {
		return fmt.Errorf("unsupported hash type %q", s.HashType)
	}
	if (s.Method == manifest.Shards) != (s.ShardSize > 0) {
		return fmt.Errorf("shard size %d does not fit the %s method", s.ShardSize, s.Method)
	}
	return nil
}

// The statement as written; field order is the reference library's.
type statementJSON struct {
	Type          string        `json:"_type"`
	Subject       []subjectJSON `json:"subject"`
	PredicateType string        `json:"predicateType"`
	Predicate     predicateJSON `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type predicateJSON struct {
	Serialization serializationJSON `json:"serialization"`
	Resources     []resourceJSON    `json:"resources"`
}

type serializationJSON struct {
	Method        string   `json:"method"`
	HashType      string   `json:"hash_type"`
	AllowSymlinks bool     `json:"allow_symlinks"`
	ShardSize     int64    `json:"shard_size,omitempty"`
	IgnorePaths   []string `json:"ignore_paths,omitempty"`
}

type resourceJSON struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// ModelName is the subject name for a model path (format spec §4.6): its
// last component, or the base name of its absolute path for ".", ".." or "".
func ModelName(modelPath string) string {
	name := filepath.Base(modelPath) // "" gives "."; trailing separators are dropped
	if name == "." || name == ".." {
		if abs, err := filepath.Abs(modelPath); err == nil {
			name = filepath.Base(abs)
		}
	}
	if name == string(filepath.Separator) {
		return ""
	}
	return name
}
