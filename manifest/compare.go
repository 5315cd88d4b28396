package manifest

// MismatchError says exactly how a model on disk differs from what was
// signed. Names are resource names as they appear in the manifests; Error
// quotes them, because they come from untrusted files and signatures.
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

func (e *MismatchError) Error() string { return "" }

// Compare reports whether actual (computed from disk) is exactly expected
// (from a signature), as a map from resource name to digest: order and the
// model name do not matter. It returns nil or a *MismatchError.
func Compare(expected, actual *Manifest) error { return errNotImplemented }
