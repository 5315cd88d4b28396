package manifest

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxListed bounds each list of a MismatchError: a model can differ from
// its signature in millions of resources (a huge file added to a model
// signed in small shards), and the error must stay small. The counts are
// always exact.
const maxListed = 10_000

// MismatchError says exactly how a model on disk differs from what was
// signed. Names are resource names as they appear in the manifests; Error
// quotes them, because they come from untrusted files and signatures.
// Each list is sorted by name and holds at most 10,000 entries; the More
// counts say how many were left out.
type MismatchError struct {
	Extra   []string // on disk, not signed
	Missing []string // signed, not on disk
	Changed []Change // signed and on disk, with another digest or algorithm
	// ExtraDirs are symlinks to directories (and directories reached
	// through a followed one) under which the signature lists nothing:
	// they were not walked, and make the model differ all the same.
	ExtraDirs []string

	ExtraMore, MissingMore, ChangedMore, ExtraDirsMore int

	// Shards says the resources are shards ("path:start:end"), so the
	// message counts shards, not files.
	Shards bool
}

// Change is one resource whose digest differs.
type Change struct {
	Name             string
	Expected, Actual string // "algorithm:hexdigest"
}

// Error returns a one-line summary naming every differing resource, e.g.
//
//	model does not match its signature: 1 extra file ("a\n.bin"), 1 missing ("x"), 1 changed ("w": expected sha256:…, got sha256:…)
//
// and for shards "1 extra shard (…), 1 missing shard (…), 1 changed shard (…)".
//
// Names that are not in Unicode normal form C, or hold invisible
// characters, are shown with non-ASCII characters escaped, so names that
// look alike never print alike; an extra and a missing name that differ
// only in normalisation are pointed out.
func (e *MismatchError) Error() string {
	// Files are "extra files", "missing" and "changed" (the wording
	// scripts already match); shards always say so.
	unit := func(n int, files bool) string {
		switch {
		case e.Shards:
			return " " + plural(n, "shard", "shards")
		case files:
			return " " + plural(n, "file", "files")
		}
		return ""
	}
	var parts []string
	if n := len(e.Extra) + e.ExtraMore; n > 0 {
		parts = append(parts, fmt.Sprintf("%d extra%s (%s)", n, unit(n, true), e.listed(e.Extra, e.ExtraMore, e.normNotes())))
	}
	if n := len(e.Missing) + e.MissingMore; n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing%s (%s)", n, unit(n, false), e.listed(e.Missing, e.MissingMore, nil)))
	}
	if n := len(e.Changed) + e.ChangedMore; n > 0 {
		cs := make([]string, len(e.Changed))
		for i, c := range e.Changed {
			cs[i] = fmt.Sprintf("%s: expected %s, got %s", quoteName(c.Name), c.Expected, c.Actual)
		}
		if e.ChangedMore > 0 {
			cs = append(cs, fmt.Sprintf("and %d more", e.ChangedMore))
		}
		parts = append(parts, fmt.Sprintf("%d changed%s (%s)", n, unit(n, false), strings.Join(cs, "; ")))
	}
	if n := len(e.ExtraDirs) + e.ExtraDirsMore; n > 0 {
		parts = append(parts, fmt.Sprintf("%d extra %s the signature lists no files under (%s)", n,
			plural(n, "directory symlink or directory", "directory symlinks or directories"), e.listed(e.ExtraDirs, e.ExtraDirsMore, nil)))
	}
	if len(parts) == 0 {
		return "model does not match its signature"
	}
	return "model does not match its signature: " + strings.Join(parts, ", ")
}

// listed quotes names, adding notes[name] after a name and "and N more".
func (e *MismatchError) listed(names []string, more int, notes map[string]string) string {
	q := make([]string, 0, len(names)+1)
	for _, n := range names {
		s := quoteName(n)
		if note, ok := notes[n]; ok {
			s += " " + note
		}
		q = append(q, s)
	}
	if more > 0 {
		q = append(q, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(q, ", ")
}

// normNotes pairs extra names with missing names they equal after Unicode
// normalisation (NFC).
func (e *MismatchError) normNotes() map[string]string {
	if len(e.Extra) == 0 || len(e.Missing) == 0 {
		return nil
	}
	missing := make(map[string]string, len(e.Missing))
	for _, m := range e.Missing {
		missing[norm.NFC.String(m)] = m
	}
	notes := map[string]string{}
	for _, x := range e.Extra {
		if m, ok := missing[norm.NFC.String(x)]; ok && m != x {
			notes[x] = fmt.Sprintf("(differs from the missing %s only in Unicode normalisation)", quoteName(m))
		}
	}
	return notes
}

// quoteName quotes an untrusted name for a message: Go-quoted, and with
// every non-ASCII character escaped when the name is not in normal form
// C or holds a character that prints as nothing (format characters such
// as U+200B, combining marks on their own, invalid UTF-8).
func quoteName(name string) string {
	if isPlainName(name) {
		return strconv.Quote(name)
	}
	return strconv.QuoteToASCII(name)
}

func isPlainName(name string) bool {
	ascii := true
	for _, r := range name {
		if r >= utf8.RuneSelf {
			ascii = false
		}
		if r == utf8.RuneError || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) ||
			unicode.Is(unicode.Me, r) || unicode.IsSpace(r) && r != ' ' {
			return false
		}
	}
	return ascii || norm.NFC.IsNormalString(name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// boundedSorted returns names sorted, at most maxListed of them, and how
// many were left out: a walk may find any number of directory links.
func boundedSorted(names []string) ([]string, int) {
	sorted := slices.Sorted(slices.Values(names))
	if len(sorted) <= maxListed {
		return sorted, 0
	}
	return slices.Clone(sorted[:maxListed]), len(sorted) - maxListed
}

// add appends name to a bounded list.
func add(list *[]string, more *int, name string) {
	if len(*list) < maxListed {
		*list = append(*list, name)
	} else {
		*more++
	}
}

// Compare reports whether actual (computed from disk) is exactly expected
// (from a signature), as a map from resource name to (algorithm, digest):
// order, the model name, AllowSymlinks and IgnorePaths do not matter. The
// algorithm is derived from each manifest's serialization (method, hash
// type and shard size), so a manifest hashed another way never matches,
// even where names and digest bytes coincide. Directory symlinks the walk
// did not follow (see Options.Expected) are differences too. It returns
// nil, a *MismatchError, or another error when a manifest is nil or
// repeats a resource name (which a map comparison could otherwise hide),
// or when two empty manifests differ only in serialization.
//
// It sorts index arrays and merges them rather than building maps, so it
// needs a few bytes per resource, not a map entry.
func Compare(expected, actual *Manifest) error {
	if expected == nil || actual == nil {
		return errors.New("compare manifests: missing manifest")
	}
	order := compareKeys
	if expected.Serialization.Method != actual.Serialization.Method {
		order = compareNames // keys of files and shards do not mix
	}
	want, err := sortedIndex(expected, "signed", order)
	if err != nil {
		return err
	}
	got, err := sortedIndex(actual, "computed", order)
	if err != nil {
		return err
	}
	wantAlg, gotAlg := expected.Serialization.algorithm(), actual.Serialization.algorithm()
	sameAlg := wantAlg == gotAlg
	e := MismatchError{Shards: expected.Serialization.Method == Shards || actual.Serialization.Method == Shards}
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		var c int
		switch {
		case i == len(want):
			c = 1
		case j == len(got):
			c = -1
		default:
			c = order(&expected.Resources[want[i]], &actual.Resources[got[j]])
		}
		switch {
		case c < 0:
			add(&e.Missing, &e.MissingMore, expected.Resources[want[i]].Name())
			i++
		case c > 0:
			add(&e.Extra, &e.ExtraMore, actual.Resources[got[j]].Name())
			j++
		default:
			w, g := &expected.Resources[want[i]], &actual.Resources[got[j]]
			if !sameAlg || !bytes.Equal(w.Digest, g.Digest) {
				if len(e.Changed) < maxListed {
					e.Changed = append(e.Changed, Change{
						Name:     w.Name(),
						Expected: wantAlg + ":" + hex.EncodeToString(w.Digest),
						Actual:   gotAlg + ":" + hex.EncodeToString(g.Digest),
					})
				} else {
					e.ChangedMore++
				}
			}
			i, j = i+1, j+1
		}
	}
	e.ExtraDirs, e.ExtraDirsMore = boundedSorted(actual.extraDirs)
	if len(e.Extra)+len(e.Missing)+len(e.Changed)+len(e.ExtraDirs) == 0 {
		if !sameAlg { // no resources at all to carry the difference
			return fmt.Errorf("model does not match its signature: signed with %s, computed with %s", wantAlg, gotAlg)
		}
		return nil
	}
	e.sort()
	return &e
}

// sort orders the lists by name (the merge went by path, then offsets).
func (e *MismatchError) sort() {
	slices.Sort(e.Extra)
	slices.Sort(e.Missing)
	slices.SortFunc(e.Changed, func(a, b Change) int { return strings.Compare(a.Name, b.Name) })
}

// compareKeys orders resources by (path, start, end): for one manifest
// method this is as unique as the full name, without building it.
func compareKeys(a, b *Resource) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	if a.Shard != b.Shard {
		if a.Shard {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.End, b.End)
}

// compareNames orders resources by full name.
func compareNames(a, b *Resource) int { return strings.Compare(a.Name(), b.Name()) }

// sortedIndex returns the indices of m's resources in the given order,
// rejecting repeated resources.
func sortedIndex(m *Manifest, which string, order func(a, b *Resource) int) ([]int32, error) {
	idx := make([]int32, len(m.Resources))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return order(&m.Resources[a], &m.Resources[b]) })
	for k := 1; k < len(idx); k++ {
		if order(&m.Resources[idx[k-1]], &m.Resources[idx[k]]) == 0 {
			return nil, fmt.Errorf("%s manifest lists resource %s more than once", which, quoteName(m.Resources[idx[k]].Name()))
		}
	}
	return idx, nil
}

// CheckNames compares the resource names the tree will produce with the
// expected manifest, before anything is hashed: a model with extra or
// missing files (or shards), or with directory symlinks the signature
// lists nothing under, fails here at the cost of the walk alone. It
// returns nil or a *MismatchError naming every extra and missing
// resource; digests are Compare's business, after Hash.
func (t *Tree) CheckNames(expected *Manifest) error {
	if expected == nil {
		return errors.New("check names: missing manifest")
	}
	s := t.opts.Serialization
	if expected.Serialization.Method != s.Method || (s.Method == Shards && expected.Serialization.ShardSize != s.ShardSize) {
		return fmt.Errorf("check names: the signature uses %s, the model was walked for %s", expected.Serialization.algorithm(), s.algorithm())
	}
	want, err := sortedIndex(expected, "signed", compareKeys)
	if err != nil {
		return err
	}
	files := make([]int32, len(t.files))
	for i := range files {
		files[i] = int32(i)
	}
	slices.SortFunc(files, func(a, b int32) int { return strings.Compare(t.files[a].name, t.files[b].name) })
	e := MismatchError{Shards: s.Method == Shards}
	i := 0
	for _, fi := range files {
		f := &t.files[fi]
		for i < len(want) && expected.Resources[want[i]].Path < f.name {
			add(&e.Missing, &e.MissingMore, expected.Resources[want[i]].Name())
			i++
		}
		first := i
		for i < len(want) && expected.Resources[want[i]].Path == f.name {
			i++
		}
		t.matchFile(f, expected.Resources, want[first:i], &e)
	}
	for ; i < len(want); i++ {
		add(&e.Missing, &e.MissingMore, expected.Resources[want[i]].Name())
	}
	e.ExtraDirs, e.ExtraDirsMore = boundedSorted(t.extraDirs)
	if len(e.Extra)+len(e.Missing)+len(e.ExtraDirs) == 0 {
		return nil
	}
	e.sort()
	return &e
}

// matchFile compares the resources the file f will produce with the
// expected resources (indices idx, sorted by offsets) of the same path.
// Shards are matched arithmetically, so a huge file on disk costs no
// more than the expected list plus the names reported.
func (t *Tree) matchFile(f *fileEntry, rs []Resource, idx []int32, e *MismatchError) {
	s := t.opts.Serialization
	if s.Method != Shards {
		for k, ri := range idx {
			if k > 0 || rs[ri].Shard {
				add(&e.Missing, &e.MissingMore, rs[ri].Name())
			}
		}
		if len(idx) == 0 || rs[idx[0]].Shard {
			add(&e.Extra, &e.ExtraMore, f.name)
		}
		return
	}
	size, n := f.info.size, shardCount(f.info.size, s.ShardSize)
	shardAt := func(k int64) Resource {
		start := k * s.ShardSize
		return Resource{Path: f.name, Shard: true, Start: start, End: start + min(s.ShardSize, size-start)}
	}
	matched := make(map[int64]bool, len(idx))
	for _, ri := range idx {
		r := &rs[ri]
		if k := r.Start / s.ShardSize; r.Shard && r.Start%s.ShardSize == 0 && k < n && shardAt(k).End == r.End {
			matched[k] = true
			continue
		}
		add(&e.Missing, &e.MissingMore, r.Name())
	}
	for k := int64(0); k < n; k++ {
		if matched[k] {
			continue
		}
		if len(e.Extra) >= maxListed {
			e.ExtraMore += int(n - k - int64(countFrom(matched, k)))
			return
		}
		r := shardAt(k)
		e.Extra = append(e.Extra, r.Name())
	}
}

// countFrom counts the matched shard numbers at or after k.
func countFrom(matched map[int64]bool, k int64) int {
	c := 0
	for m := range matched {
		if m >= k {
			c++
		}
	}
	return c
}
