//go:build !linux

package modelsig

// writeSignatureFast is unavailable without O_TMPFILE; writeSignature
// falls back to a temporary file and a rename.
func writeSignatureFast(string, string, []byte) (bool, error) { return false, nil }
