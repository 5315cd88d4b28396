//go:build !unix

package manifest

// openNoFollow is 0 where open has no O_NOFOLLOW: there a file swapped for
// a symlink between the walk and the open is followed (the walk itself
// still refuses symlinks).
const openNoFollow = 0
