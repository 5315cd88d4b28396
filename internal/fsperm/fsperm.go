// Package fsperm tells whether anyone but root and the current user could
// change what a path names, from owners and mode bits along the path. The
// policy linter warns with it about policy and trust files; the hash
// cache and the pin folder refuse a folder that fails it or is not
// Private.
package fsperm

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Replaceable says who other than root and the current user could change
// what path names, as a phrase that starts with the quoted path ("... is
// writable by group or others (mode -rw-rw-r--)"), or returns "" when
// nobody else can, as far as owners and mode bits tell (ACLs, capabilities
// and group membership are not looked at: a group-writable file counts
// whoever the group's members are).
//
// The rule, for the file and for every folder above it up to "/", both
// along the path as written and along its real path when symlinks lead
// elsewhere:
//   - each is owned by root or by the current user (anyone else who owns
//     it can change it);
//   - none is writable by group or others, except a folder with the
//     sticky bit (like /tmp): there, others may add entries but cannot
//     rename or remove one they do not own, and the entry below it is
//     itself checked to be owned by root or the user;
//   - a symlink's own mode means nothing: only its owner and its folder
//     count, and its target is checked through the real path.
//
// It is the rule OpenSSH applies to authorized_keys (StrictModes), plus
// the sticky-bit exception so that files under /tmp can be checked. A
// path that does not exist is not reported (its reader reports it).
func Replaceable(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if why := replaceableAlong(abs, abs); why != "" {
		return why
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		return replaceableAlong(abs, real)
	}
	return ""
}

// Private says why the file or folder fi describes is not private to the
// current user: owned by another user (root included: a root-run
// modelgate refuses another user's folder), or writable by group or
// others. A sticky bit changes nothing here: others may still add
// entries, and in a folder whose entries modelgate creates by names
// anyone can compute, they could take a name first. It returns "" for a
// private one. Replaceable then checks the folders above.
func Private(fi fs.FileInfo) string {
	if owner, ok := Owner(fi); ok && owner != os.Geteuid() {
		return fmt.Sprintf("is owned by uid %d, not by the current user (uid %d)", owner, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Sprintf("is writable by group or others (mode %v)", fi.Mode())
	}
	return ""
}

// replaceableAlong checks p and every folder above it; name is the path
// the warning is about.
func replaceableAlong(name, p string) string {
	uid := os.Geteuid()
	for cur := p; ; cur = filepath.Dir(cur) {
		fi, err := os.Lstat(cur)
		if err != nil {
			return ""
		}
		if why := entryReplaceable(fi, uid); why != "" {
			if cur == name {
				return strconv.Quote(name) + " " + why
			}
			return fmt.Sprintf("%s can be changed by others: %s %s", strconv.Quote(name), strconv.Quote(cur), why)
		}
		if cur == filepath.Dir(cur) {
			return ""
		}
	}
}

// entryReplaceable says why someone other than root and the user uid can
// change the file or folder fi describes, or "".
func entryReplaceable(fi fs.FileInfo, uid int) string {
	if owner, ok := Owner(fi); ok && owner != 0 && owner != uid {
		return fmt.Sprintf("is owned by uid %d, neither root nor the current user (uid %d)", owner, uid)
	}
	mode := fi.Mode()
	switch {
	case mode&fs.ModeSymlink != 0, mode.Perm()&0o022 == 0:
		return ""
	case mode.IsDir() && mode&fs.ModeSticky != 0:
		return ""
	case mode.IsDir():
		return fmt.Sprintf("is a folder writable by group or others without the sticky bit (mode %v)", mode)
	}
	return fmt.Sprintf("is writable by group or others (mode %v)", mode)
}
