package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/modelgate/modelgate/internal/fsperm"
)

// ConfigCopyName is the file name of the private copy of vLLM's --config
// file (vLLM reads only names ending in .yaml or .yml).
const ConfigCopyName = "config.yaml"

// WriteConfigCopy writes data, the --config file exactly as it was read
// and decided (vllmcmd.Command.ConfigData), to a new private folder and
// returns the copy's path, for Plan.Argv. vLLM opens its --config file
// itself, after modelgate read it: whoever can write the original could
// otherwise change vLLM's flags after they were checked.
//
// The folder is new (0700, created by MkdirTemp, so nobody else can have
// made or linked it) and lies in $XDG_RUNTIME_DIR when that is a private
// folder of this user (a per-user tmpfs on systemd systems), else in
// os.TempDir(). The copy is read-only. It must outlive modelgate, which
// is replaced by vLLM, so it is left behind: a few kilobytes per start,
// cleared with the runtime or temporary folder.
func WriteConfigCopy(data []byte) (string, error) {
	dir, err := PrivateDir("modelgate-exec-")
	if err != nil {
		return "", fmt.Errorf("copy the --config file: %w", err)
	}
	path := filepath.Join(dir, ConfigCopyName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return "", fmt.Errorf("copy the --config file: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return "", fmt.Errorf("copy the --config file to %q: %w", path, err)
	}
	return path, nil
}

// PrivateDir creates a new folder, open only to this user (0700, made by
// os.MkdirTemp so that nobody else can have created or linked it), named
// prefix followed by random characters, in $XDG_RUNTIME_DIR when that is a
// private folder of this user (a per-user tmpfs on systemd systems), else
// in os.TempDir(). The config copy lives in one; so does the unix socket of
// a vLLM behind the gate, which only this user may then connect to.
func PrivateDir(prefix string) (string, error) {
	return os.MkdirTemp(privateTempRoot(), prefix)
}

// privateTempRoot is $XDG_RUNTIME_DIR when it is an absolute folder owned
// by this user and closed to others, else os.TempDir().
func privateTempRoot() string {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" || !filepath.IsAbs(dir) {
		return os.TempDir()
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return os.TempDir()
	}
	if owner, ok := fsperm.Owner(fi); !ok || owner != os.Getuid() {
		return os.TempDir() // another user's, or owners unknown here
	}
	return dir
}
