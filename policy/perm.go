package policy

import "github.com/modelgate/modelgate/internal/fsperm"

// replaceable says who other than root and the current user could change
// what path names, or "" (see fsperm.Replaceable: the OpenSSH StrictModes
// rule along the path and its real path, with the sticky-bit exception).
func replaceable(path string) string { return fsperm.Replaceable(path) }
