//go:build unix

package fsperm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceable(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, dir bool) string {
		p := filepath.Join(base, name)
		var err error
		if dir {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, nil, 0o600)
		}
		if err == nil {
			err = os.Chmod(p, mode)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := mk("private", 0o700, true)
	sticky := mk("sticky", 0o777|os.ModeSticky, true)
	open := mk("open", 0o777, true)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"private file", mk("f", 0o644, false), ""},
		{"group-writable file", mk("g", 0o664, false), "writable by group or others"},
		{"private folder", private, ""},
		{"file in a sticky folder", filepath.Join(sticky, "x"), ""},
		{"folder writable by others", open, "without the sticky bit"},
		{"file under it", filepath.Join(open, "x"), "can be changed by others"},
		{"missing file", filepath.Join(private, "missing"), ""},
	} {
		if tc.name == "file in a sticky folder" || tc.name == "file under it" {
			if err := os.WriteFile(tc.path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got := Replaceable(tc.path)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if os.Geteuid() == 0 {
		other := mk("other", 0o600, false)
		if err := os.Chown(other, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if got := Replaceable(other); !strings.Contains(got, "owned by uid 4242") {
			t.Errorf("file of another user: %q", got)
		}
	}
}

// TestPrivate: only a folder of the current user that neither group nor
// others can write is private; a sticky bit does not make it so.
func TestPrivate(t *testing.T) {
	base := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		want string
	}{
		{0o700, ""},
		{0o755, ""},
		{0o770, "writable by group or others"},
		{0o757, "writable by group or others"},
		{0o777 | os.ModeSticky, "writable by group or others"},
	} {
		p := filepath.Join(base, tt.mode.String())
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tt.mode); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := Private(fi); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("Private(%v) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}
