package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/modelgate/modelgate/modelsig"
	"github.com/modelgate/modelgate/policy"
)

// model is a MODEL_PATH argument that exists.
type model struct {
	arg string // as given
	abs string // absolute and cleaned; symlinks not resolved
	dir bool   // a folder, not a single file
}

// modelError says why a model cannot be (or was not) proven, with the
// decision code of its JSON record. verify reports it as a denial (exit
// 1): the model is not proven, whatever the cause. sign and digest, which
// make something rather than judge, report it as exit 2.
type modelError struct {
	code policy.Code
	err  error
}

func (e *modelError) Error() string { return e.err.Error() }
func (e *modelError) Unwrap() error { return e.err }

// statModel resolves a MODEL_PATH against the current directory and
// checks that it exists, following a symlink the user named.
func statModel(arg string) (model, error) {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return model{}, usageError("model path %q: %v", arg, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return model{}, &modelError{code: policy.CodeNotFound, err: fmt.Errorf("model %q does not exist", arg)}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, quoted
		}
		return model{}, &modelError{code: policy.CodeError, err: fmt.Errorf("model %q: %v", arg, err)}
	}
	return model{arg: arg, abs: abs, dir: fi.IsDir()}, nil
}

// canonical is the model's absolute path with symlinks resolved, as a
// policy decision's canonical_path.
func (m model) canonical() string {
	if c, err := filepath.EvalSymlinks(m.abs); err == nil {
		return c
	}
	return m.abs
}

// signaturePath is the signature file for the model: flag (--signature,
// relative to the current directory) when given, else model.sig in the
// model folder or, for a single-file model, in the file's folder. The CLI
// resolves the default itself, rather than leaving it to modelsig, so
// that the JSON record names the file read even when verification fails.
func (m model) signaturePath(flag string) (string, error) {
	if flag != "" {
		abs, err := filepath.Abs(flag)
		if err != nil {
			return "", usageError("--signature %q: %v", flag, err)
		}
		return abs, nil
	}
	return filepath.Join(m.folder(), modelsig.DefaultSignatureName), nil
}

// folder is the model's folder: itself, or a single file's parent.
func (m model) folder() string {
	if m.dir {
		return m.abs
	}
	return filepath.Dir(m.abs)
}
