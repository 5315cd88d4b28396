package hfcache

import (
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// hubRepoIDRegex transcribes huggingface_hub's REPO_ID_REGEX (re.ASCII, so
// \w and \b are ASCII as in Go's RE2). validate_repo_id adds the checks in
// upstreamValid; modelgate also caps the namespace at MaxNameLen.
var hubRepoIDRegex = regexp.MustCompile(`^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$`)

func upstreamValid(id string) bool {
	ns, _, hasNS := strings.Cut(id, "/")
	return strings.Count(id, "/") <= 1 && hubRepoIDRegex.MatchString(id) &&
		!strings.Contains(id, "--") && !strings.Contains(id, "..") && !strings.HasSuffix(id, ".git") &&
		(!hasNS || len(ns) <= MaxNameLen)
}

func TestValidateRepoID(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen)
	tests := []struct {
		id     string
		valid  bool
		reason string // part of the message for invalid ids
	}{
		{"meta-llama/Llama-3.1-8B-Instruct", true, ""},
		{"Qwen/Qwen3-0.6B", true, ""},
		{"gpt2", true, ""}, // legacy id without namespace
		{"Foo-BAR_foo.bar123", true, ""},
		{"_a/_b_", true, ""},
		{"123/456", true, ""},
		{"a/" + long, true, ""},
		{long + "/a", true, ""},
		{"", false, "empty"},
		{"a/" + long + "b", false, "longer than 96"},
		{long + "b/a", false, "longer than 96"},
		{"datasets/foo/bar", false, `at most one "/"`},
		{"/abs", false, "empty"},
		{"org/", false, "empty"},
		{".repo_id", false, "starts or ends"},
		{"org/-name", false, "starts or ends"},
		{"org/name-", false, "starts or ends"},
		{"org./name", false, "starts or ends"},
		{"foo--bar", false, `"--"`},
		{"org/a..b", false, `".."`},
		{"..", false, "starts or ends"},
		{"foo.git", false, `".git"`},
		{"org/na me", false, `" "`},
		{"org/café", false, `"é"`},
		{"org/na\x00me", false, `"\x00"`},
		{"org/na\xffme", false, `"\xff"`},
		{`org\name`, false, `"\\"`},
		{"org/name@main", false, `"@"`},
		{"./models", false, "starts or ends"},
		{"~/models", false, `"~"`},
	}
	for _, tt := range tests {
		err := ValidateRepoID(tt.id)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateRepoID(%q) = %v, want valid=%v", tt.id, err, tt.valid)
			continue
		}
		if IsRepoID(tt.id) != tt.valid {
			t.Errorf("IsRepoID(%q) != %v", tt.id, tt.valid)
		}
		if upstreamValid(tt.id) != tt.valid {
			t.Errorf("table disagrees with huggingface_hub's rules for %q", tt.id)
		}
		if err == nil {
			continue
		}
		var ie *InvalidIDError
		if !errors.As(err, &ie) || ie.ID != tt.id {
			t.Errorf("ValidateRepoID(%q): %T %v, want *InvalidIDError", tt.id, err, err)
		}
		if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), strconv.Quote(tt.id)) {
			t.Errorf("ValidateRepoID(%q) = %q: want the quoted id and %q", tt.id, err, tt.reason)
		}
	}
}

func TestValidateRevision(t *testing.T) {
	commit := strings.Repeat("ab", 20)
	tests := []struct {
		rev    string
		valid  bool
		reason string
	}{
		{"main", true, ""},
		{"v1.0", true, ""},
		{"refs/pr/1", true, ""},
		{"feature/x_y-z", true, ""},
		{commit, true, ""},
		{"abc1234", true, ""}, // a branch name for huggingface_hub; not found unless a ref of that name exists
		{"", false, "empty"},
		{strings.ToUpper(commit), false, "lowercase"},
		{"..", false, `starts with "."`},
		{"../main", false, `starts with "."`},
		{"refs/../../x", false, `starts with "."`},
		{".hidden", false, `starts with "."`},
		{"/etc/passwd", false, "empty component"},
		{"main/", false, "empty component"},
		{"refs//pr", false, "empty component"},
		{"ma\x00in", false, `"\x00"`},
		{`refs\pr\1`, false, `"\\"`},
		{"main branch", false, `" "`},
		{"tag@{1}", false, `"@"`},
		{"br\u00e9", false, `"é"`},
		{strings.Repeat("a", maxRevisionLen+1), false, "longer than"},
	}
	for _, tt := range tests {
		err := ValidateRevision(tt.rev)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateRevision(%q) = %v, want valid=%v", tt.rev, err, tt.valid)
			continue
		}
		if err == nil {
			continue
		}
		var re *InvalidRevisionError
		if !errors.As(err, &re) || re.Revision != tt.rev {
			t.Errorf("ValidateRevision(%q): %T %v, want *InvalidRevisionError", tt.rev, err, err)
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidateRevision(%q) = %q: want %q", tt.rev, err, tt.reason)
		}
	}
}

func TestIsCommit(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("0", 40):                    true,
		"0123456789abcdef0123456789abcdef01234567": true,
		strings.Repeat("a", 39):                    false,
		strings.Repeat("a", 41):                    false,
		"0123456789ABCDEF0123456789abcdef01234567": false,
		"0123456789abcdeg0123456789abcdef01234567": false,
		"": false,
		"0123456789abcdef0123456789abcdef0123456\n":   false,
		"0123456789abcdef0123456789abcdef0123456\x10": false,
	} {
		if IsCommit(s) != want {
			t.Errorf("IsCommit(%q) != %v", s, want)
		}
	}
}

func FuzzValidateRepoID(f *testing.F) {
	for _, s := range []string{"org/name", "gpt2", "a--b", "a/b/c", "-a", "a.", "org/café", "x.git", "_/_", strings.Repeat("a", 97)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateRepoID(id)
		if (err == nil) != upstreamValid(id) {
			t.Fatalf("ValidateRepoID(%q) = %v; huggingface_hub's rules say valid=%v", id, err, upstreamValid(id))
		}
		if err == nil && (!filepath.IsLocal(folderName(id)) || strings.ContainsAny(folderName(id), `/\`)) {
			t.Fatalf("valid id %q gives folder %q, not one path component", id, folderName(id))
		}
	})
}

func FuzzValidateRevision(f *testing.F) {
	for _, s := range []string{"main", "refs/pr/1", "..", "a/../b", "/x", "a//b", strings.Repeat("f", 40), strings.Repeat("F", 40), "v1.0", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rev string) {
		if ValidateRevision(rev) != nil {
			return
		}
		ref := filepath.Join("refs", filepath.FromSlash(rev))
		if !filepath.IsLocal(rev) || !strings.HasPrefix(ref, "refs"+string(filepath.Separator)) ||
			filepath.Clean(ref) != ref || strings.ContainsAny(rev, "\x00\\") {
			t.Fatalf("accepted revision %q would leave refs/ or is not clean (%q)", rev, ref)
		}
	})
}
