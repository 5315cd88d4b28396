package manifest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ignoreSet is a set of slash-separated model-relative paths, each of which
// leaves out itself and everything under it.
type ignoreSet map[string]struct{}

// resolveIgnorePaths turns Options.IgnorePaths into model-relative names.
//
// An ignore path is a NAME inside the model, never what a name inside the
// model points at: a writer of the model folder controls every symlink
// in it, and resolving one would let a link take its target out of
// verification (issue 7.1). So:
//   - a relative entry is cleaned lexically ("a/../b" is "b");
//   - an absolute entry is cleaned, then made relative to the model root
//     as given (so a path through a symlinked model root works) or to the
//     resolved root; failing both, symlinks in it are resolved only up to
//     the point where it reaches the model root (resolveToRoot);
//   - an entry outside the model, or naming the root itself (which would
//     leave nothing to verify), is dropped.
//
// Dropping can only make more be hashed, which can only make verification
// fail, never pass. With git set, GitPaths are added whether or not they
// exist.
func resolveIgnorePaths(given, root string, paths []string, git bool) (ignoreSet, error) {
	set := ignoreSet{}
	for _, p := range paths {
		rel, ok, err := modelName(given, root, p)
		if err != nil {
			return nil, err
		}
		if ok {
			set[rel] = struct{}{}
		}
	}
	if git {
		for _, g := range GitPaths {
			set[g] = struct{}{}
		}
	}
	return set, nil
}

// modelName returns the slash-separated model-relative name of p (see
// resolveIgnorePaths); ok is false when p names nothing strictly inside the
// model.
func modelName(given, root, p string) (rel string, ok bool, err error) {
	if !filepath.IsAbs(p) {
		return local(filepath.Clean(p))
	}
	p = filepath.Clean(p)
	for _, r := range []string{given, root} {
		if r == "" {
			continue
		}
		if rel, err := filepath.Rel(r, p); err == nil && filepath.IsLocal(rel) {
			return local(rel)
		}
	}
	rest, found, err := resolveToRoot(p, root)
	if err != nil || !found {
		return "", false, err
	}
	return local(rest)
}

// local converts a cleaned relative OS path to a model name, rejecting
// the root itself and anything that leaves the model.
func local(rel string) (string, bool, error) {
	if rel == "." || rel == "" || !filepath.IsLocal(rel) {
		return "", false, nil
	}
	return filepath.ToSlash(rel), true, nil
}

// maxLinks bounds symlink expansions in resolveToRoot, like the kernel's
// ELOOP.
const maxLinks = 255

// resolveToRoot resolves the absolute path p component by component, like
// realpath(3) without requiring it to exist, but only OUTSIDE the model:
// the moment the resolved prefix is the model root, the rest of the path
// is taken lexically and returned (found is true). Symlinks inside the
// model are therefore never read. When the resolution never passes
// through the root (it stays outside, or enters the model some other
// way), found is false and the entry is dropped.
func resolveToRoot(p, root string) (rest string, found bool, err error) {
	parts := strings.Split(filepath.ToSlash(p), "/")
	resolved := "/"
	links := 0
	for len(parts) > 0 {
		if resolved == root {
			return filepath.Clean(filepath.FromSlash(path.Join(parts...))), true, nil
		}
		c := parts[0]
		parts = parts[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(next)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			resolved = next // missing components cannot be links
			continue
		}
		if links++; links > maxLinks {
			return "", false, fmt.Errorf("ignore path %q: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			resolved = next
			continue
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		parts = append(strings.Split(filepath.ToSlash(target), "/"), parts...)
	}
	return "", false, nil
}

// sorted returns the paths of s in byte order.
func (s ignoreSet) sorted() []string {
	out := make([]string, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ignores reports whether the slash-separated relative path rel equals an
// ignore path or lies under one, comparing whole components: "foo" ignores
// "foo" and "foo/x" but not "foobar".
func (s ignoreSet) ignores(rel string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' {
			if _, ok := s[rel[:i]]; ok {
				return true
			}
		}
	}
	_, ok := s[rel]
	return ok
}
