package modelsig

import (
	"fmt"
	"io"
	"os"
)

// readBounded reads the file at path, refusing one larger than limit bytes:
// signatures, keys and trust files are small, and a huge (or endless, like
// /dev/zero) file named by mistake or malice must not exhaust memory.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
