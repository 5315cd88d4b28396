package hfcache

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// The environment variables that choose the cache root, highest precedence
// first (huggingface_hub's constants.py).
const (
	EnvHubCache       = "HF_HUB_CACHE"
	EnvLegacyHubCache = "HUGGINGFACE_HUB_CACHE"
	EnvHome           = "HF_HOME"
	EnvXDGCacheHome   = "XDG_CACHE_HOME"
)

// DownloadDirFlag is Root.Var for a root given by vLLM's --download-dir.
const DownloadDirFlag = "--download-dir"

// Root is a hub cache root folder and what chose it.
type Root struct {
	// Dir is the absolute, cleaned folder that holds models--* folders.
	Dir string
	// Var is what chose Dir: one of the Env* variables, DownloadDirFlag, or
	// "" for the default ~/.cache/huggingface/hub.
	Var string
	// Value is Var's value as given (before "~" expansion and joining).
	Value string
}

// Source says what chose the root, for messages and `policy explain`:
// `HF_HUB_CACHE="/x"`, `--download-dir "/d"`, or the default.
func (r Root) Source() string {
	switch {
	case r.Var == "":
		return "the default ~/.cache/huggingface/hub"
	case strings.HasPrefix(r.Var, "--"):
		return r.Var + " " + strconv.Quote(r.Value)
	}
	return r.Var + "=" + strconv.Quote(r.Value)
}

// isDefault reports whether a user running `hf download` without
// --cache-dir (and with the same HOME) would use this root.
func (r Root) isDefault() bool { return r.Var == "" }

// EnvError is returned when the variable that chooses the cache root holds
// a value modelgate will not interpret. It is the environment that is
// refused (exit 2), not a model.
type EnvError struct {
	Var, Value string
	Reason     string
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%s: %s", e.Var, strconv.Quote(e.Value), e.Reason)
}

// FindCacheRoot chooses the hub cache root as huggingface_hub does:
// HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else HOME/.cache/huggingface/hub.
// lookup is os.LookupEnv or a test double; home is the home directory
// ("~" in the values is expanded with it, as Python's expanduser does).
//
// A variable that is set wins even when it is empty, as in Python's
// os.getenv. Values Python would read in a way that depends on things
// modelgate cannot see are refused with an *EnvError instead of guessed:
// empty or relative paths (relative to vLLM's working directory), "~user",
// and "$" (huggingface_hub expands variables in them).
func FindCacheRoot(lookup func(string) (string, bool), home string) (Root, error) {
	for _, c := range []struct{ env, suffix string }{
		{EnvHubCache, ""},
		{EnvLegacyHubCache, ""},
		{EnvHome, "hub"},
		{EnvXDGCacheHome, filepath.Join("huggingface", "hub")},
	} {
		if v, ok := lookup(c.env); ok {
			dir, err := expandPath(c.env, v, home)
			if err != nil {
				return Root{}, err
			}
			return Root{Dir: filepath.Join(dir, c.suffix), Var: c.env, Value: v}, nil
		}
	}
	if home == "" || !filepath.IsAbs(home) {
		return Root{}, fmt.Errorf("hub cache: cannot find the default cache ~/.cache/huggingface/hub: home directory %s is not an absolute path (set %s)", strconv.Quote(home), EnvHubCache)
	}
	return Root{Dir: filepath.Join(home, ".cache", "huggingface", "hub")}, nil
}

// expandPath interprets the value v of variable name as huggingface_hub
// would, or refuses it.
func expandPath(name, v, home string) (string, error) {
	bad := func(reason string) error { return &EnvError{Var: name, Value: v, Reason: reason} }
	switch {
	case v == "":
		return "", bad("set but empty; huggingface_hub would use the working directory: unset it or give an absolute path")
	case strings.ContainsRune(v, 0):
		return "", bad("contains a NUL byte")
	case strings.Contains(v, "$"):
		return "", bad(`contains "$"; huggingface_hub expands variables in it: give the expanded absolute path`)
	case v == "~" || strings.HasPrefix(v, "~/"):
		if home == "" || !filepath.IsAbs(home) {
			return "", bad(fmt.Sprintf(`starts with "~" but the home directory %s is not an absolute path`, strconv.Quote(home)))
		}
		v = filepath.Join(home, v[1:])
	case strings.HasPrefix(v, "~"):
		return "", bad(`"~user" is not expanded by modelgate: give the absolute path`)
	}
	if !filepath.IsAbs(v) {
		return "", bad("relative; vLLM would resolve it against its working directory: give an absolute path")
	}
	return filepath.Clean(v), nil
}

// DownloadDirRoot is the root for vLLM's --download-dir DIR, which vLLM
// uses as the cache_dir of its weight downloads (the same layout as a cache
// root). dir must be absolute: the caller resolves it against vLLM's
// working directory first.
func DownloadDirRoot(dir string) (Root, error) {
	switch {
	case dir == "":
		return Root{}, fmt.Errorf("%s: empty path", DownloadDirFlag)
	case strings.ContainsRune(dir, 0):
		return Root{}, fmt.Errorf("%s %s: contains a NUL byte", DownloadDirFlag, strconv.Quote(dir))
	case !filepath.IsAbs(dir):
		return Root{}, fmt.Errorf("%s %s: not an absolute path", DownloadDirFlag, strconv.Quote(dir))
	}
	return Root{Dir: filepath.Clean(dir), Var: DownloadDirFlag, Value: dir}, nil
}
