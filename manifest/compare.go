package manifest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MismatchError says exactly how a model on disk differs from what was
// signed. Names are resource names as they appear in the manifests; Error
// quotes them, because they come from untrusted files and signatures.
// Each list is sorted by name.
type MismatchError struct {
	Extra   []string // on disk, not signed
	Missing []string // signed, not on disk
	Changed []Change // signed and on disk, with another digest or algorithm
}

// Change is one resource whose digest differs.
type Change struct {
	Name             string
	Expected, Actual string // "algorithm:hexdigest"
}

// Error returns a one-line summary naming every differing resource, e.g.
//
//	model does not match its signature: 1 extra file ("a\n.bin"), 1 missing ("x"), 1 changed ("w": expected sha256:…, got sha256:…)
func (e *MismatchError) Error() string {
	var parts []string
	if n := len(e.Extra); n > 0 {
		parts = append(parts, fmt.Sprintf("%d extra %s (%s)", n, plural(n, "file", "files"), quoteAll(e.Extra)))
	}
	if n := len(e.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing (%s)", n, quoteAll(e.Missing)))
	}
	if n := len(e.Changed); n > 0 {
		cs := make([]string, n)
		for i, c := range e.Changed {
			cs[i] = fmt.Sprintf("%q: expected %s, got %s", c.Name, c.Expected, c.Actual)
		}
		parts = append(parts, fmt.Sprintf("%d changed (%s)", n, strings.Join(cs, "; ")))
	}
	if len(parts) == 0 {
		return "model does not match its signature"
	}
	return "model does not match its signature: " + strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// Compare reports whether actual (computed from disk) is exactly expected
// (from a signature), as a map from resource name to (algorithm, digest):
// order, the model name, AllowSymlinks and IgnorePaths do not matter. The
// algorithm is derived from each manifest's serialization (method, hash
// type and shard size), so a manifest hashed another way never matches,
// even where names and digest bytes coincide. It returns nil, a
// *MismatchError, or another error when a manifest is nil or repeats a
// resource name (which a map comparison could otherwise hide), or when two
// empty manifests differ only in serialization.
func Compare(expected, actual *Manifest) error {
	if expected == nil || actual == nil {
		return errors.New("compare manifests: missing manifest")
	}
	want, err := index(expected, "signed")
	if err != nil {
		return err
	}
	got, err := index(actual, "computed")
	if err != nil {
		return err
	}
	wantAlg, gotAlg := expected.Serialization.algorithm(), actual.Serialization.algorithm()
	sameAlg := wantAlg == gotAlg
	var e MismatchError
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			e.Missing = append(e.Missing, name)
		case !sameAlg || !bytes.Equal(w, g):
			e.Changed = append(e.Changed, Change{
				Name:     name,
				Expected: wantAlg + ":" + hex.EncodeToString(w),
				Actual:   gotAlg + ":" + hex.EncodeToString(g),
			})
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			e.Extra = append(e.Extra, name)
		}
	}
	if len(e.Extra)+len(e.Missing)+len(e.Changed) == 0 {
		if !sameAlg { // no resources at all to carry the difference
			return fmt.Errorf("model does not match its signature: signed with %s, computed with %s", wantAlg, gotAlg)
		}
		return nil
	}
	sort.Strings(e.Extra)
	sort.Strings(e.Missing)
	sort.Slice(e.Changed, func(i, j int) bool { return e.Changed[i].Name < e.Changed[j].Name })
	return &e
}

// index maps m's resource names to digests, rejecting repeated names.
func index(m *Manifest, which string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(m.Resources))
	for _, r := range m.Resources {
		name := r.Name()
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s manifest lists resource %q more than once", which, name)
		}
		out[name] = r.Digest
	}
	return out, nil
}
