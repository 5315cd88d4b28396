package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ignoreSet is a set of slash-separated model-relative paths, each of which
// leaves out itself and everything under it.
type ignoreSet map[string]struct{}

// resolveIgnorePaths turns Options.IgnorePaths into model-relative paths
// (format spec §5.2): each entry is joined to root when relative, resolved
// like realpath(3) without requiring it to exist, and made relative to the
// resolved model root. Entries outside the model are dropped, and so is an
// entry naming the root itself (it would silently ignore the whole model).
// With git set, GitPaths are added whether or not they exist.
//
// When the last component of an entry is a symlink, both the link itself
// and its resolved target are ignored: model_signing's CLI resolves the
// whole path (so it ignores the target, and modelgate must accept what it
// accepts), while a user naming a link means the link.
func resolveIgnorePaths(root string, paths []string, git bool) (ignoreSet, error) {
	set := ignoreSet{}
	add := func(p string) {
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || !filepath.IsLocal(rel) {
			return // the root itself, or outside the model
		}
		set[filepath.ToSlash(rel)] = struct{}{}
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			// Not filepath.Join: it would apply ".." lexically, before
			// realpath can resolve the symlink in front of it.
			p = root + string(filepath.Separator) + p
		}
		resolved, err := realpath(p)
		if err != nil {
			return nil, fmt.Errorf("ignore path %q: %w", p, err)
		}
		add(resolved)
		if dir, base := splitLast(p); base != "" {
			parent, err := realpath(dir)
			if err != nil {
				return nil, fmt.Errorf("ignore path %q: %w", p, err)
			}
			add(filepath.Join(parent, base))
		}
	}
	if git {
		for _, g := range GitPaths {
			set[g] = struct{}{}
		}
	}
	return set, nil
}

// splitLast splits the absolute path p into its parent and last component,
// ignoring trailing separators; base is "" when the last component is "."
// or "..", which only make sense resolved.
func splitLast(p string) (dir, base string) {
	p = strings.TrimRight(p, string(filepath.Separator))
	dir, base = filepath.Split(p)
	if base == "." || base == ".." {
		return "", ""
	}
	return dir, base
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

// maxLinks bounds symlink expansions in realpath, like the kernel's ELOOP.
const maxLinks = 255

// realpath resolves symlinks and ".." in the absolute path p component by
// component, as Python's Path.resolve(strict=False) does: ".." applies to
// the path resolved so far (so "link/.." is the parent of the link's
// target), and once a component does not exist the rest is taken lexically.
func realpath(p string) (string, error) {
	rest := strings.Split(filepath.ToSlash(p), "/")
	resolved := "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
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
			// Missing or unreadable components cannot be links: keep going
			// lexically, like Python does for any OSError.
			resolved = next
			continue
		}
		links++
		if links > maxLinks {
			return "", errors.New("too many levels of symbolic links")
		}
		target, err := os.Readlink(next)
		if err != nil {
			resolved = next
			continue
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(filepath.ToSlash(target), "/"), rest...)
	}
	return resolved, nil
}
