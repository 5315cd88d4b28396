package gate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/hfcache"
	"github.com/modelgate/modelgate/policy"
)

// adapterPath is a lora_path resolved the way vLLM resolves it.
type adapterPath struct {
	path  string // what to decide: an absolute local path, or as given when refused
	hubID string // set instead of path when it names a Hugging Face id to decide in the hub cache
	// refused is set when the gate cannot tell what vLLM would read; the
	// load is then denied with this reason.
	refused error
	code    policy.Code // the denial code that goes with refused
}

// resolveLoRAPath mirrors vLLM's get_adapter_absolute_path
// (vllm/lora/utils.py), in order:
//
//   - an absolute path is used as is (the policy resolves its symlinks);
//   - "~" and "~/..." are expanded with vLLM's home directory, as
//     os.path.expanduser does; "~user/..." names another user's home,
//     which the gate cannot know, and is refused;
//   - a relative path that exists in vLLM's working directory becomes
//     os.path.abspath of it: joined and cleaned lexically, as vLLM then
//     opens it;
//   - anything else is a Hugging Face repository id, decided in the hub
//     cache (HubCache) at revision main by the policy, so that hf: keys
//     apply; without a hub cache, or when it is not a valid id, it is
//     denied as not local.
func (c *Config) resolveLoRAPath(p string) adapterPath {
	switch {
	case strings.ContainsRune(p, 0):
		return adapterPath{path: p, refused: errors.New("the path contains a NUL character"), code: policy.CodeError}
	case strings.HasPrefix(p, "/"):
		return adapterPath{path: p}
	case p == "~" || strings.HasPrefix(p, "~/"):
		if c.UpstreamHome == "" {
			return adapterPath{path: p, refused: fmt.Errorf("%s starts with ~ but the gate does not know vLLM's home directory (set --upstream-home)", strconv.Quote(p)), code: policy.CodeError}
		}
		return adapterPath{path: expandHome(c.UpstreamHome, p)}
	case strings.HasPrefix(p, "~"):
		return adapterPath{path: p, refused: fmt.Errorf("%s names another user's home directory, which the gate cannot resolve as vLLM would", strconv.Quote(p)), code: policy.CodeError}
	}
	// No filepath.Join for the existence test: os.path.exists lets the
	// kernel apply "..", after symlinks.
	if _, err := os.Stat(c.UpstreamWorkDir + string(filepath.Separator) + p); err == nil {
		return adapterPath{path: filepath.Join(c.UpstreamWorkDir, p)}
	}
	// Never hand the policy a relative path: it would resolve it against
	// the gate's directory, not vLLM's.
	if c.HubCache.Dir == "" {
		return adapterPath{path: p, refused: fmt.Errorf("%s is not a local path in vLLM's working directory %s, so vLLM would fetch it from the Hugging Face Hub, and the gate has no Hugging Face cache to verify it in (set --hf-cache)", strconv.Quote(p), c.UpstreamWorkDir), code: policy.CodeNotLocal}
	}
	if err := hfcache.ValidateRepoID(p); err != nil {
		return adapterPath{path: p, refused: fmt.Errorf("%s is not a local path in vLLM's working directory %s, nor a Hugging Face id: %v", strconv.Quote(p), c.UpstreamWorkDir, err), code: policy.CodeNotFound}
	}
	return adapterPath{hubID: p}
}

// expandHome is os.path.expanduser for "~" and "~/...": the home without
// its trailing slashes, then the rest of the path ("/" when that leaves
// nothing).
func expandHome(home, p string) string {
	out := strings.TrimRight(home, "/") + p[1:]
	if out == "" {
		return "/"
	}
	return out
}

// resolverPath returns DIR/NAME, the folder vLLM's filesystem LoRA
// resolver would load for a request naming model NAME, or an error when
// NAME is not one clean path component: the resolver joins it with
// os.path.join, so "a/b" walks into a subfolder, ".." out of DIR, and an
// absolute name replaces DIR altogether.
func resolverPath(dir, name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("the model name is empty")
	case name == "." || name == "..":
		return "", fmt.Errorf("the model name %s is not a folder name", strconv.Quote(name))
	case strings.ContainsRune(name, '/'):
		return "", fmt.Errorf("the model name %s contains a /, so the LoRA resolver would read a path other than one folder of its directory", strconv.Quote(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("the model name %s contains a control character", strconv.Quote(name))
		}
	}
	return filepath.Join(dir, name), nil
}
