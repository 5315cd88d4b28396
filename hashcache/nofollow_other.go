//go:build !unix

package hashcache

// oNoFollow: no such flag here; the checks on the open file still apply.
const oNoFollow = 0
