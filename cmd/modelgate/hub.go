package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/modelgate/modelgate/hfcache"
)

// hfCacheFlag is the flag that names the Hugging Face hub cache outright,
// in place of the environment.
const hfCacheFlag = "--hf-cache"

// hubRoot is the Hugging Face hub cache root that commands resolve ids
// in: dir (the --hf-cache flag) when given, else the folder
// huggingface_hub (and so vLLM) would use with this process's environment
// (HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, then
// ~/.cache/huggingface/hub). lookup is os.LookupEnv or, for exec, a lookup
// in the environment vLLM will get.
//
// A variable holding a value modelgate will not interpret (relative,
// "~user", "$") is refused: the error is an *hfcache.EnvError.
func hubRoot(dir string, lookup func(string) (string, bool)) (hfcache.Root, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return hfcache.Root{}, usageError("%s %q: %v", hfCacheFlag, dir, err)
		}
		return hfcache.Root{Dir: abs, Var: hfCacheFlag, Value: dir}, nil
	}
	home, _ := lookup("HOME")
	return hfcache.FindCacheRoot(lookup, home)
}

// hubRootError is the command-line error for a cache root that cannot be
// chosen: the environment is refused (exit 2), with what to do.
func hubRootError(err error) error {
	var ee *hfcache.EnvError
	if errors.As(err, &ee) {
		return usageError("the Hugging Face cache cannot be chosen: %v (or name it with %s DIR)", err, hfCacheFlag)
	}
	return usageError("%v (or name the Hugging Face cache with %s DIR)", err, hfCacheFlag)
}

// isLocal reports whether arg names an existing file or folder, relative
// to the working directory: vLLM, like modelgate, takes a model argument
// for a local path first and for a Hugging Face id only when no such path
// exists.
func isLocal(arg string) bool {
	_, err := os.Stat(arg)
	return err == nil
}

// hubID reports whether arg should be resolved as a Hugging Face id: it is
// not an existing local path, and it is a valid id.
func hubID(arg string) bool { return !isLocal(arg) && hfcache.IsRepoID(arg) }
