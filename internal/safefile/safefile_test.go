package safefile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := write("small", []byte("hello"))
	empty := write("empty", nil)
	exact := write("exact", bytes.Repeat([]byte("x"), 100))
	over := write("over", bytes.Repeat([]byte("x"), 101))
	link := filepath.Join(dir, "link")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	odd := write("a\nb\x1b[31m", []byte("odd name"))

	tests := []struct {
		name  string
		path  string
		want  string
		isErr error  // errors.Is target, nil for success
		msg   string // substring of the message
	}{
		{"small", small, "hello", nil, ""},
		{"empty", empty, "", nil, ""},
		{"at the limit", exact, strings.Repeat("x", 100), nil, ""},
		{"symlink to a file is followed", link, "hello", nil, ""},
		{"odd name", odd, "odd name", nil, ""},
		{"over the limit", over, "", ErrTooLarge, `"` + over + `" is larger than 100 bytes`},
		{"missing", filepath.Join(dir, "nope"), "", fs.ErrNotExist, `open "` + filepath.Join(dir, "nope") + `": no such file or directory`},
		{"directory", dir, "", ErrNotRegular, `"` + dir + `" is a directory, not a regular file`},
		{"char device", os.DevNull, "", ErrNotRegular, `"/dev/null" is a character device`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFile(tc.path, 100)
			if tc.isErr == nil {
				if err != nil || string(got) != tc.want {
					t.Fatalf("ReadFile = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.isErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ReadFile error %v; want errors.Is %v and %q", err, tc.isErr, tc.msg)
			}
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != tc.path {
				t.Errorf("error %#v is not a *PathError for %q", err, tc.path)
			}
		})
	}
	t.Run("odd name is quoted in errors", func(t *testing.T) {
		_, err := ReadFile(odd, 1)
		if err == nil || strings.ContainsAny(err.Error(), "\n\x1b") {
			t.Errorf("error %q prints the raw name", err)
		}
	})
}

func TestKind(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		fs.ModeDir | 0o755:                "a directory",
		fs.ModeNamedPipe:                  "a named pipe (FIFO)",
		fs.ModeSocket:                     "a socket",
		fs.ModeDevice | fs.ModeCharDevice: "a character device",
		fs.ModeDevice:                     "a block device",
		fs.ModeIrregular:                  "an irregular file",
		fs.ModeSymlink:                    "a symlink",
		0o644:                             "a regular file",
	} {
		if got := Kind(m); got != want {
			t.Errorf("Kind(%v) = %q, want %q", m, got, want)
		}
	}
}

// TestReadFileLongerThanStat: a regular file that holds more than fstat
// said (as /proc files do, which report size 0; or one that grew since)
// is read whole, and the limit still holds.
func TestReadFileLongerThanStat(t *testing.T) {
	const path = "/proc/self/status"
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 0 {
		t.Skipf("%s: size %v, %v; want a file whose stat says 0", path, fi, err)
	}
	got, err := ReadFile(path, 1<<20)
	if err != nil || !bytes.HasPrefix(got, []byte("Name:")) || !bytes.Contains(got, []byte("\nPid:")) || len(got) < 600 {
		t.Fatalf("read %d bytes %q, %v", len(got), got, err)
	}
	if _, err := ReadFile(path, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit 100: error %v, want ErrTooLarge", err)
	}
}
