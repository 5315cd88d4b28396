package hashcache

import (
	"errors"
	"os"
	"path/filepath"
)

// DefaultDir returns the default store folder: $XDG_CACHE_HOME/modelgate,
// else ~/.cache/modelgate. A relative $XDG_CACHE_HOME is ignored, as the
// XDG Base Directory specification says.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "modelgate"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(home) {
		return "", errors.New("$HOME is not an absolute path")
	}
	return filepath.Join(home, ".cache", "modelgate"), nil
}
