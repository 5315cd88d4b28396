package modelsig

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/modelgate/modelgate/internal/safefile"
)

// lockDir is the folder a sign of modelPath locks: the model folder, or a
// single-file model's folder (where its signature goes by default).
func lockDir(modelPath string, single bool) string {
	if single {
		return filepath.Dir(modelPath)
	}
	return modelPath
}

// writeSignature writes data to path so that readers see the old file or
// the complete new one, never a partial one, and no walk of the model
// sees a temporary file. Any temporary name is made in tempDir (the
// folder that holds the model, outside it) when it is on the same file
// system, else next to path. See writeSignatureFast for how it avoids a
// temporary name altogether where it can; elsewhere it falls back to
// writeFileTemp.
func writeSignature(path, tempDir string, data []byte) error {
	done, err := writeSignatureFast(path, tempDir, data)
	if done || err != nil {
		return err
	}
	err = writeFileTemp(path, tempDir, data)
	if errors.Is(err, errOtherFS) {
		err = writeFileTemp(path, filepath.Dir(path), data)
	}
	return err
}

// errOtherFS marks a temporary file that cannot be renamed into place.
var errOtherFS = errors.New("temporary folder on another file system")

// tempName returns a fresh temporary name for path inside dir.
func tempName(dir, path string) string {
	var rnd [8]byte
	rand.Read(rnd[:])
	return filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))
}

// writeFileTemp writes data to path through a temporary file in dir,
// synced and then renamed over path. On any error the temporary file is
// removed; a process killed between create and rename leaves it behind
// (outside the model when dir is), which is why writeSignatureFast is
// preferred. It returns an error wrapping errOtherFS when dir cannot
// hold the file or is on another file system.
func writeFileTemp(path, dir string, data []byte) (err error) {
	f, err := os.OpenFile(tempName(dir, path), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil && dir != filepath.Dir(path) {
		return fmt.Errorf("%w: %v", errOtherFS, err)
	}
	if err != nil {
		return writeError(path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return writeError(path, err)
	}
	if err := f.Chmod(0o644); err != nil { // a signature is public
		return writeError(path, err)
	}
	if err := f.Sync(); err != nil {
		return writeError(path, err)
	}
	if err := f.Close(); err != nil {
		return writeError(path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return fmt.Errorf("%w: %v", errOtherFS, err)
		}
		return writeError(path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeError names the signature, not the temporary file a *PathError
// would name.
func writeError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("write signature %q: %w", path, err)
}

// syncDir makes a rename or link in dir durable; not every platform can
// sync a directory, and the file itself is complete, so it is best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ReplaceError says why Sign will not write its signature over what is
// at the signature path.
type ReplaceError struct {
	Path   string
	Reason string // what is there, e.g. "is not a signature modelgate can read"
}

func (e *ReplaceError) Error() string {
	return fmt.Sprintf("%q %s; sign does not replace it", e.Path, e.Reason)
}

// ExistingSignature reads what the signature path holds before a
// signature is written there: nil for nothing to lose (no file, or an
// empty one, such as mktemp makes for a signature path), the bundle of a
// signature, or a *ReplaceError for anything else. Sign never replaces
// anything else: a mistyped signature path naming a model's weights would
// otherwise overwrite them, and the new signature would leave them out.
// The bundle is read, never verified: whose signature it is can only
// make a caller refuse.
func ExistingSignature(path string) (*Bundle, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("signature %q: %w", path, err)
	case !fi.Mode().IsRegular():
		// A FIFO would block the read; a symlink or a folder is nothing
		// a signature should replace.
		return nil, &ReplaceError{Path: path, Reason: "exists and is not a regular file (" + safefile.Kind(fi.Mode()) + ")"}
	case fi.Size() == 0:
		return nil, nil
	}
	b, err := ReadBundle(path)
	if err != nil {
		return nil, &ReplaceError{Path: path, Reason: "already exists and is not a signature modelgate can read"}
	}
	return b, nil
}
