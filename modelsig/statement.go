package modelsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"slices"
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
	// SubjectDigest is the subject's recorded sha256 digest (32 bytes) for
	// a signature/v1.0 statement, checked to be SHA-256 over the
	// resources' digests in payload order; nil for Digests/v0.1, which
	// records no overall digest.
	SubjectDigest []byte
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
//
// The statement is read as a stream of tokens straight into packed lists
// (one buffer for all names, one for all digests), and the manifest's
// resources point into those: a statement of a million resources costs a
// handful of allocations, which the garbage collector need not chase.
// Members come in any order (the reference writes the predicate as a
// protobuf Struct, resources before serialization), so the resources are
// checked against the serialization once the whole statement is read.
func ParseStatement(payloadType string, payload []byte) (*Statement, error) {
	st, err := parseStatement(payloadType, payload)
	if err != nil {
		var pe *jsonPosError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("signed statement: line %d, column %d: %w", pe.Line, pe.Col, err)
		}
		return nil, fmt.Errorf("signed statement: %w", err)
	}
	return st, nil
}

// maxStatementSize keeps offsets into a statement within the uint32s of
// packedList; MaxBundleSize keeps real payloads far below it.
const maxStatementSize = 1<<32 - 1

func parseStatement(payloadType string, payload []byte) (*Statement, error) {
	if payloadType != PayloadTypeInToto {
		return nil, fmt.Errorf("payload type %q is not %s", payloadType, PayloadTypeInToto)
	}
	// Python refuses invalid UTF-8, and so does jsontext; checking first
	// says so in the same words whatever else is wrong.
	if !utf8.Valid(payload) {
		return nil, errors.New("not valid UTF-8")
	}
	if len(payload) > maxStatementSize {
		return nil, fmt.Errorf("%d bytes is larger than the %d a statement may have", len(payload), maxStatementSize)
	}
	var doc statementDoc
	if err := doc.read(payload); err != nil {
		return nil, err
	}
	return doc.statement()
}

// The statement's members that are read; all others are ignored, as by
// the reference (which reads the statement as a plain dictionary).
var (
	statementShape     = objectShape{fields: []field{{"_type", ""}, {"subject", ""}, {"predicateType", ""}, {"predicate", ""}}}
	subjectShape       = objectShape{fields: []field{{"name", ""}, {"digest", ""}}}
	subjectDigestShape = objectShape{fields: []field{{"sha256", ""}}}
	predicateShape     = objectShape{fields: []field{{"serialization", ""}, {"resources", ""}}}
	serializationShape = objectShape{fields: []field{{"method", ""}, {"hash_type", ""}, {"allow_symlinks", ""}, {"shard_size", ""}, {"ignore_paths", ""}}}
	resourceShape      = objectShape{fields: []field{{"name", ""}, {"algorithm", ""}, {"digest", ""}}}
)

// statementDoc is a statement as read, before its parts are checked
// against each other.
type statementDoc struct {
	present       fieldSet // of statementShape
	typ           string
	predicateType string
	subjects      packedList
	// predicate is read in place once predicateType is known; one that
	// comes first is skipped and read afterwards from its offsets.
	predicate              predicateDoc
	hasPredicate           bool
	hasPredicateType       bool
	predStart, predEnd     int
	predicateBeforeItsType bool
}

type predicateDoc struct {
	present       fieldSet // of predicateShape
	serialization serializationDoc
	resources     packedList
}

type serializationDoc struct {
	present       fieldSet // of serializationShape
	method        string
	hashType      string
	allowSymlinks bool
	shardSize     string // the literal, when it is a number
	shardSizeNum  bool
	ignorePaths   []string
}

func (d *statementDoc) read(payload []byte) error {
	r := newJSONReader(payload, 0, len(payload))
	var err error
	d.present, err = r.object(at(""), statementShape, func(i int) (err error) {
		switch i {
		case 0:
			d.typ, err = r.str(at("_type"))
		case 1:
			err = d.subjects.readSubjects(r)
		case 2:
			d.hasPredicateType = true
			d.predicateType, err = r.str(at("predicateType"))
		case 3:
			d.hasPredicate = true
			if !d.hasPredicateType {
				d.predicateBeforeItsType = true
				d.predStart, d.predEnd, err = r.rawValue()
				return err
			}
			err = d.readPredicate(r)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := r.end(); err != nil {
		return err
	}
	if d.predicateBeforeItsType {
		return d.readPredicate(newJSONReader(payload, d.predStart, d.predEnd))
	}
	return nil
}

// readPredicate reads the predicate of a signature/v1.0 statement and
// skips any other: the compat format's predicate carries nothing.
func (d *statementDoc) readPredicate(r *jsonReader) error {
	if d.predicateType != PredicateSignatureV1 {
		return r.skip()
	}
	p := &d.predicate
	var err error
	p.present, err = r.object(at("predicate"), predicateShape, func(i int) error {
		if i == 0 {
			return p.serialization.read(r)
		}
		return p.resources.readResources(r)
	})
	return err
}

// read reads predicate.serialization. shard_size is kept as written: it
// matters only for the shards method, which may come after it.
func (s *serializationDoc) read(r *jsonReader) error {
	ser := at("predicate.serialization")
	ignore := ser.key("ignore_paths")
	var err error
	s.present, err = r.object(ser, serializationShape, func(i int) (err error) {
		switch i {
		case 0:
			s.method, err = r.str(ser.key("method"))
		case 1:
			s.hashType, err = r.str(ser.key("hash_type"))
		case 2:
			s.allowSymlinks, err = r.boolean(ser.key("allow_symlinks"))
		case 3:
			s.shardSize, s.shardSizeNum, err = r.number()
		case 4:
			s.ignorePaths = []string{}
			err = r.array(ignore, 0, func(i int) error {
				p, err := r.str(ignore.elem(i))
				s.ignorePaths = append(s.ignorePaths, p)
				return err
			})
		}
		return err
	})
	return err
}

// statement checks what was read and builds the Statement.
func (d *statementDoc) statement() (*Statement, error) {
	switch {
	case !d.present.has(0):
		return nil, errors.New("_type is missing")
	case d.typ != StatementTypeV1:
		return nil, fmt.Errorf("_type %q is not %s", d.typ, StatementTypeV1)
	case !d.present.has(2):
		return nil, errors.New("predicateType is missing")
	case !d.present.has(1):
		return nil, errors.New("subject is missing")
	}
	switch d.predicateType {
	case PredicateSignatureV1:
		return d.native()
	case PredicateDigestsV01:
		return d.compat()
	default:
		return nil, fmt.Errorf("unsupported predicate type %q", d.predicateType)
	}
}

// native builds a signature/v1.0 statement (format spec §3.1).
func (d *statementDoc) native() (*Statement, error) {
	if n := d.subjects.len(); n != 1 {
		return nil, fmt.Errorf("statement has %d subjects; exactly one is required", n)
	}
	subjectDigest := d.subjects.digest(0)
	if err := checkDigestSize(subjectDigest, manifest.SHA256); err != nil {
		return nil, fmt.Errorf("subject[0].digest.sha256: %w", err)
	}
	p := &d.predicate
	switch {
	case !d.hasPredicate:
		return nil, errors.New("predicate is missing")
	case !p.present.has(0):
		return nil, errors.New("predicate.serialization is missing")
	}
	s, err := p.serialization.check()
	if err != nil {
		return nil, err
	}
	if !p.present.has(1) {
		return nil, errors.New("predicate.resources is missing")
	}
	rs, err := p.resources.resources(s, at("predicate.resources"), true)
	if err != nil {
		return nil, err
	}
	// The subject digest binds the resource list; the reference verifier
	// recomputes it in payload order, and so must we (never re-sort).
	// Every digest has been checked, so the packed digests are exactly
	// their concatenation in that order.
	if got := sha256.Sum256(p.resources.digests); !bytes.Equal(got[:], subjectDigest) {
		return nil, fmt.Errorf("manifest is inconsistent: subject digest %x does not match the resources (sha256 over their digests is %x)", subjectDigest, got)
	}
	ignore := p.serialization.ignorePaths
	if ignore == nil {
		ignore = []string{}
	}
	sort.Strings(ignore)
	return &Statement{
		PredicateType: PredicateSignatureV1,
		SubjectName:   d.subjects.nameString(0),
		SubjectDigest: subjectDigest,
		Manifest:      &manifest.Manifest{Serialization: s, Resources: rs, IgnorePaths: ignore},
	}, nil
}

// compat builds a v0.2 Digests/v0.1 statement (format spec §3.2): one
// subject per file, files/sha256, no root digest and no ignore paths.
func (d *statementDoc) compat() (*Statement, error) {
	s := manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}
	rs, err := d.subjects.resources(s, at("subject"), false)
	if err != nil {
		return nil, err
	}
	return &Statement{
		PredicateType: PredicateDigestsV01,
		SubjectName:   compatModelName,
		Manifest:      &manifest.Manifest{Serialization: s, Resources: rs, IgnorePaths: []string{}},
	}, nil
}

// check validates predicate.serialization. Unknown fields were ignored;
// shard_size is read only for the shards method.
func (sd *serializationDoc) check() (manifest.Serialization, error) {
	const at = "predicate.serialization"
	var s manifest.Serialization
	if !sd.present.has(0) {
		return s, errors.New(at + ".method is missing")
	}
	switch manifest.Method(sd.method) {
	case manifest.Files, manifest.Shards:
		s.Method = manifest.Method(sd.method)
	default:
		return s, fmt.Errorf("unknown serialization method %q", sd.method)
	}
	if !sd.present.has(1) {
		return s, errors.New(at + ".hash_type is missing")
	}
	switch manifest.HashType(sd.hashType) {
	case manifest.SHA256, manifest.BLAKE2b, manifest.BLAKE3:
		s.HashType = manifest.HashType(sd.hashType)
	default:
		return s, fmt.Errorf("unsupported hash_type %q", sd.hashType)
	}
	s.AllowSymlinks = sd.allowSymlinks
	if s.Method == manifest.Shards {
		var err error
		if s.ShardSize, err = sd.checkShardSize(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// maxExactFloat is 2^53: above it a JSON float no longer names one integer.
const maxExactFloat = 1 << 53

// checkShardSize accepts a positive integer, written as a JSON integer
// (OMS) or as an integral float such as 1000000000.0 (Python).
func (sd *serializationDoc) checkShardSize() (int64, error) {
	const at = "predicate.serialization.shard_size"
	switch {
	case !sd.present.has(3):
		return 0, errors.New(at + " is missing for the shards method")
	case !sd.shardSizeNum:
		return 0, errors.New(at + " is not a number")
	}
	n := sd.shardSize
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		if i <= 0 {
			return 0, fmt.Errorf("%s %s is not positive", at, n)
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || f != math.Trunc(f) || f <= 0 || f > maxExactFloat {
		return 0, fmt.Errorf("%s %s is not a positive integer", at, n)
	}
	return int64(f), nil
}

// packedList holds the names and raw digests of a statement's subjects or
// resources in two shared buffers, with each entry's end offsets (and
// algorithm, for resources) in a pointer-free slice: reading a million
// entries makes no garbage per entry, and the resources built from it
// point into the two buffers (names is a strings.Builder so that its text
// becomes the paths' one backing string without a copy).
type packedList struct {
	names   strings.Builder
	digests []byte
	ends    []packedEnd
	algos   []string // the distinct algorithm strings seen, at most two
}

type packedEnd struct {
	name, digest uint32 // end offsets in names and digests
	algo         uint8  // index into algos
}

func (l *packedList) len() int { return len(l.ends) }

// span returns entry i's offsets in names and digests.
func (l *packedList) span(i int) (nameStart, nameEnd, digestStart, digestEnd int) {
	if i > 0 {
		nameStart, digestStart = int(l.ends[i-1].name), int(l.ends[i-1].digest)
	}
	return nameStart, int(l.ends[i].name), digestStart, int(l.ends[i].digest)
}

func (l *packedList) digest(i int) []byte {
	_, _, start, end := l.span(i)
	return l.digests[start:end:end]
}

func (l *packedList) nameString(i int) string {
	start, end, _, _ := l.span(i)
	return l.names.String()[start:end]
}

// finish records the end of an entry whose name and digest were appended.
func (l *packedList) finish(algo uint8) {
	l.ends = append(l.ends, packedEnd{name: uint32(l.names.Len()), digest: uint32(len(l.digests)), algo: algo})
}

// sampleEntries is how many entries readResources reads before it sizes
// the buffers for the whole list (see reserve).
const sampleEntries = 64

// reserve grows the buffers, once, to what the list will need if the
// rest bytes of the document still to be read hold entries like the ones
// read so far, which took used bytes. Appending entry by entry would copy
// each buffer a dozen times over for a long list, leaving the copies as
// garbage several times the list's size; with reserve a statement of
// uniform resources is read with no reallocation and little slack. A
// wrong guess only means that append grows the buffers again, and the
// guess never exceeds a small multiple of the document's size.
func (l *packedList) reserve(rest, used int) {
	n := len(l.ends)
	if n == 0 || used <= 0 || rest <= 0 {
		return
	}
	more := int(int64(rest)*int64(n)/int64(used)) + 1 // entries to come at the rate so far
	l.names.Grow(l.names.Len() / n * more)
	l.digests = slices.Grow(l.digests, len(l.digests)/n*more)
	l.ends = slices.Grow(l.ends, more)
}

// appendDigest decodes hex (either case) onto the digests; path names
// the entry in an error.
func (l *packedList) appendDigest(hexText []byte, path jsonPath) error {
	var err error
	if l.digests, err = hex.AppendDecode(l.digests, hexText); err != nil {
		return fmt.Errorf("%s: digest %s is not hex", path, quoteShort(hexText))
	}
	return nil
}

// internAlgorithm returns the index of algorithm in l.algos, adding it.
// Only two algorithm strings can match a serialization (format spec §10),
// so a third is refused at once.
func (l *packedList) internAlgorithm(algorithm []byte, path jsonPath) (uint8, error) {
	for i, a := range l.algos {
		if a == string(algorithm) {
			return uint8(i), nil
		}
	}
	if len(l.algos) == 2 {
		return 0, fmt.Errorf("%s: algorithm %s is a third algorithm name; a signature uses the hash_type and at most also <hash_type>-sharded-<shard_size>", path, quoteShort(algorithm))
	}
	l.algos = append(l.algos, string(algorithm))
	return uint8(len(l.algos) - 1), nil
}

// readSubjects reads the statement's subject list: each subject's name
// (absent means "") and digest.sha256.
func (l *packedList) readSubjects(r *jsonReader) error {
	list := at("subject")
	return r.array(list, 0, func(i int) error {
		subject := list.elem(i)
		present, err := r.object(subject, subjectShape, func(f int) error {
			if f == 0 {
				name, err := r.rawString(subject.key("name"))
				l.names.Write(name)
				return err
			}
			digests := subject.key("digest")
			present, err := r.object(digests, subjectDigestShape, func(int) error {
				hexText, err := r.rawString(digests.key("sha256"))
				if err == nil {
					err = l.appendDigest(hexText, digests.key("sha256"))
				}
				return err
			})
			if err == nil && !present.has(0) {
				err = fmt.Errorf("%s is missing", digests.key("sha256"))
			}
			return err
		})
		if err == nil && !present.has(1) {
			err = fmt.Errorf("%s has no digest", subject)
		}
		l.finish(0)
		return err
	})
}

// readResources reads predicate.resources.
func (l *packedList) readResources(r *jsonReader) error {
	list := at("predicate.resources")
	start := r.offset()
	return r.array(list, 0, func(i int) error {
		if i == sampleEntries {
			now := r.offset()
			l.reserve(len(r.doc)-now, now-start)
		}
		res := list.elem(i)
		var algo uint8
		present, err := r.object(res, resourceShape, func(f int) error {
			text, err := r.rawString(res.key(resourceShape.fields[f].name))
			switch {
			case err != nil:
			case f == 0:
				l.names.Write(text)
			case f == 1:
				algo, err = l.internAlgorithm(text, res)
			default:
				err = l.appendDigest(text, res)
			}
			return err
		})
		if err != nil {
			return err
		}
		for f, fd := range resourceShape.fields {
			if !present.has(f) {
				return fmt.Errorf("%s is missing", res.key(fd.name))
			}
		}
		l.finish(algo)
		return nil
	})
}

// resources checks the packed entries as resources of serialization s
// (list names them in messages, like "predicate.resources") and builds
// them, in order. Their paths and digests point into l's buffers.
func (l *packedList) resources(s manifest.Serialization, list jsonPath, checkAlgorithm bool) ([]manifest.Resource, error) {
	names := l.names.String() // every path is a substring
	out := make([]manifest.Resource, l.len())
	dot, other := false, false
	for i := range out {
		nameStart, nameEnd, digestStart, digestEnd := l.span(i)
		name := names[nameStart:nameEnd]
		where := func() jsonPath { return list.elem(i) }
		r := &out[i]
		r.Path = name
		if s.Method == manifest.Shards {
			var err error
			if r.Path, r.Start, r.End, err = splitShardName(name); err != nil {
				return nil, fmt.Errorf("%s: %w", where(), err)
			}
			r.Shard = true
		}
		if err := checkName(r.Path); err != nil {
			return nil, fmt.Errorf("%s: name %q %w", where(), name, err)
		}
		if checkAlgorithm && !algorithmMatches(l.algos[l.ends[i].algo], s) {
			return nil, fmt.Errorf("%s: resource %q: algorithm %q does not match hash_type %q", where(), name, l.algos[l.ends[i].algo], s.HashType)
		}
		r.Digest = l.digests[digestStart:digestEnd:digestEnd]
		if err := checkDigestSize(r.Digest, s.HashType); err != nil {
			return nil, fmt.Errorf("%s: resource %q: %w", where(), name, err)
		}
		if r.Path == "." {
			dot = true
		} else {
			other = true
		}
	}
	if dot && other {
		return nil, errors.New(`resource "." (a single-file model) is listed together with other resources`)
	}
	if name, ok := l.repeatedName(); ok {
		return nil, fmt.Errorf("resource %q is listed more than once", name)
	}
	return out, nil
}

// repeatedName returns a name listed more than once, if any. A shard's
// name is canonical (splitShardName), so it is the resource's identity as
// it is. The names are compared on an index sorted by name, 4 bytes an
// entry, rather than in a set, which would cost a map entry each.
func (l *packedList) repeatedName() (string, bool) {
	names := l.names.String()
	name := func(i int32) string {
		start, end, _, _ := l.span(int(i))
		return names[start:end]
	}
	idx := make([]int32, l.len())
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return strings.Compare(name(a), name(b)) })
	for k := 1; k < len(idx); k++ {
		if n := name(idx[k]); n == name(idx[k-1]) {
			return n, true
		}
	}
	return "", false
}

// algorithmMatches accepts the per-resource algorithm strings genuine
// signers write: the hash_type itself, and for shards also the reference
// library's "<hash_type>-sharded-<shard_size>" (format spec §10).
func algorithmMatches(algorithm string, s manifest.Serialization) bool {
	if algorithm == string(s.HashType) {
		return true
	}
	return s.Method == manifest.Shards && algorithm == libraryShardAlgorithm(s)
}

// libraryShardAlgorithm is the algorithm string the model_signing library
// gives each shard of serialization s: "<hash_type>-sharded-<shard_size>".
func libraryShardAlgorithm(s manifest.Serialization) string {
	return string(s.HashType) + "-sharded-" + strconv.FormatInt(s.ShardSize, 10)
}

// checkDigestSize requires h's digest length.
func checkDigestSize(d []byte, h manifest.HashType) error {
	if len(d) != h.Size() {
		return fmt.Errorf("digest has %d bytes; %s digests have %d", len(d), h, h.Size())
	}
	return nil
}

// quoteShort quotes b for a message, cut short when long: a hostile value
// may be megabytes.
func quoteShort(b []byte) string {
	const max = 80
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
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

// hasDotDot reports whether the slash-separated path p has a ".."
// component.
func hasDotDot(p string) bool {
	for p != "" {
		var c string
		c, p, _ = strings.Cut(p, "/")
		if c == ".." {
			return true
		}
	}
	return false
}

// BuildStatement returns the in-toto statement JSON that model_signing
// v1.1.0 writes for m (predicate signature/v1.0, subject digest over the
// raw resource digests in m's order, recorded ignore_paths), in the
// OpenSSF Model Signing (OMS) form: every resource's algorithm is the
// hash_type, shards included (format spec §10).
//
// Names that ParseStatement would refuse are refused here, so a signer
// never writes a signature that cannot verify.
func BuildStatement(m *manifest.Manifest, modelName string) ([]byte, error) {
	return BuildStatementWith(m, modelName, StatementOptions{})
}

// StatementOptions changes how BuildStatementWith writes a statement.
type StatementOptions struct {
	// LibraryShardForm names each shard's algorithm the way the
	// model_signing library does, "<hash_type>-sharded-<shard_size>"
	// (e.g. "sha256-sharded-1000000000"), instead of the hash_type (the
	// OMS form). The library's API compares that string with its own and
	// so cannot verify the OMS form; OMS verifiers require the OMS form.
	// modelgate verifies both. It changes nothing for the files method.
	LibraryShardForm bool
}

// BuildStatementWith is BuildStatement with options.
//
// The JSON is the reference library's layout, byte for byte what
// encoding/json writes for it with a two-space indent and HTML characters
// left alone. It is appended straight into one buffer sized for it: no
// value per resource (no hex string, no struct, no second copy in an
// encoder), so a statement of a million resources costs about its own size.
func BuildStatementWith(m *manifest.Manifest, modelName string, opts StatementOptions) ([]byte, error) {
	if m == nil {
		return nil, errors.New("build statement: no manifest")
	}
	s := m.Serialization
	if err := checkSerialization(s); err != nil {
		return nil, fmt.Errorf("build statement: %w", err)
	}
	algorithm := string(s.HashType)
	if s.Method == manifest.Shards && opts.LibraryShardForm {
		algorithm = libraryShardAlgorithm(s)
	}
	for _, p := range m.IgnorePaths {
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("build statement: ignore path %q is not valid UTF-8", p)
		}
	}
	for i := range m.Resources {
		r := &m.Resources[i]
		if err := checkName(r.Path); err != nil {
			return nil, fmt.Errorf("build statement: file name %q %w", r.Path, err)
		}
		if len(r.Digest) != s.HashType.Size() || r.Shard != (s.Method == manifest.Shards) {
			return nil, fmt.Errorf("build statement: resource %q does not fit the serialization", r.Name())
		}
	}
	subject := m.SubjectDigest()

	b := make([]byte, 0, statementSize(m, modelName, algorithm))
	b = append(b, "{\n  \"_type\": "...)
	b = strictjson.AppendString(b, StatementTypeV1)
	b = append(b, ",\n  \"subject\": [\n    {\n      \"name\": "...)
	b = strictjson.AppendString(b, modelName)
	b = append(b, ",\n      \"digest\": {\n        \"sha256\": \""...)
	b = hex.AppendEncode(b, subject[:])
	b = append(b, "\"\n      }\n    }\n  ],\n  \"predicateType\": "...)
	b = strictjson.AppendString(b, PredicateSignatureV1)
	b = append(b, ",\n  \"predicate\": {\n    \"serialization\": {\n      \"method\": "...)
	b = strictjson.AppendString(b, string(s.Method))
	b = append(b, ",\n      \"hash_type\": "...)
	b = strictjson.AppendString(b, string(s.HashType))
	b = append(b, ",\n      \"allow_symlinks\": "...)
	b = strconv.AppendBool(b, s.AllowSymlinks)
	if s.Method == manifest.Shards {
		b = append(b, ",\n      \"shard_size\": "...)
		b = strconv.AppendInt(b, s.ShardSize, 10)
	}
	if len(m.IgnorePaths) > 0 {
		b = append(b, ",\n      \"ignore_paths\": ["...)
		for i, p := range m.IgnorePaths {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n        "...)
			b = strictjson.AppendString(b, p)
		}
		b = append(b, "\n      ]"...)
	}
	b = append(b, "\n    },\n    \"resources\": ["...)
	for i := range m.Resources {
		r := &m.Resources[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n      {\n        \"name\": "...)
		b = strictjson.AppendString(b, r.Name())
		b = append(b, ",\n        \"algorithm\": "...)
		b = strictjson.AppendString(b, algorithm)
		b = append(b, ",\n        \"digest\": \""...)
		b = hex.AppendEncode(b, r.Digest)
		b = append(b, "\"\n      }"...)
	}
	if len(m.Resources) > 0 {
		b = append(b, "\n    "...)
	}
	return append(b, "]\n  }\n}"...), nil
}

// resourceLayout is one resource as BuildStatementWith writes it, with
// empty strings: the bytes each resource adds besides its name, algorithm
// and hex digest.
const resourceLayout = ",\n      {\n        \"name\": \"\",\n        \"algorithm\": \"\",\n        \"digest\": \"\"\n      }"

// statementSize is the length of the statement BuildStatementWith writes
// for m, exact when no string needs escaping, plus room for shard
// offsets; escapes, rare, grow the buffer once.
func statementSize(m *manifest.Manifest, modelName, algorithm string) int {
	n := 1024 + len(modelName) // the fixed parts, with room to spare
	for _, p := range m.IgnorePaths {
		n += len(p) + 12
	}
	per := len(resourceLayout) + len(algorithm) + 2*m.Serialization.HashType.Size()
	if m.Serialization.Method == manifest.Shards {
		per += 2 + 2*20 // two colons and two offsets of at most 20 digits
	}
	for i := range m.Resources {
		n += per + len(m.Resources[i].Path)
	}
	return n
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
