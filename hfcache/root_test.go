package hfcache

import (
	"errors"
	"strings"
	"testing"
)

// lookupOf is an os.LookupEnv over the "NAME=value" pairs given.
func lookupOf(pairs ...string) func(string) (string, bool) {
	env := map[string]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		env[k] = v
	}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestFindCacheRootPrecedence(t *testing.T) {
	all := []string{"HF_HUB_CACHE=/hub", "HUGGINGFACE_HUB_CACHE=/legacy", "HF_HOME=/hfhome", "XDG_CACHE_HOME=/xdg"}
	tests := []struct {
		name    string
		env     []string
		home    string
		dir     string
		variant string // Var
		source  string
	}{
		{"HF_HUB_CACHE wins over all", all, "/home/u", "/hub", EnvHubCache, `HF_HUB_CACHE="/hub"`},
		{"HUGGINGFACE_HUB_CACHE next", all[1:], "/home/u", "/legacy", EnvLegacyHubCache, `HUGGINGFACE_HUB_CACHE="/legacy"`},
		{"HF_HOME/hub next", all[2:], "/home/u", "/hfhome/hub", EnvHome, `HF_HOME="/hfhome"`},
		{"XDG_CACHE_HOME/huggingface/hub next", all[3:], "/home/u", "/xdg/huggingface/hub", EnvXDGCacheHome, `XDG_CACHE_HOME="/xdg"`},
		{"default under home", nil, "/home/u", "/home/u/.cache/huggingface/hub", "", "the default ~/.cache/huggingface/hub"},
		{"default needs no home when a variable is set", []string{"HF_HOME=/h"}, "", "/h/hub", EnvHome, `HF_HOME="/h"`},
		{"tilde expands with home", []string{"HF_HUB_CACHE=~/c/hub"}, "/home/u", "/home/u/c/hub", EnvHubCache, `HF_HUB_CACHE="~/c/hub"`},
		{"bare tilde", []string{"HF_HOME=~"}, "/home/u", "/home/u/hub", EnvHome, `HF_HOME="~"`},
		{"tilde in XDG", []string{"XDG_CACHE_HOME=~/.c"}, "/home/u", "/home/u/.c/huggingface/hub", EnvXDGCacheHome, `XDG_CACHE_HOME="~/.c"`},
		{"cleaned", []string{"HF_HUB_CACHE=/a/../b//c/"}, "", "/b/c", EnvHubCache, `HF_HUB_CACHE="/a/../b//c/"`},
		{"value with quote is quoted in source", []string{`HF_HUB_CACHE=/a"b`}, "", `/a"b`, EnvHubCache, `HF_HUB_CACHE="/a\"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := FindCacheRoot(lookupOf(tt.env...), tt.home)
			if err != nil {
				t.Fatal(err)
			}
			if r.Dir != tt.dir || r.Var != tt.variant {
				t.Errorf("got Dir %q Var %q, want %q %q", r.Dir, r.Var, tt.dir, tt.variant)
			}
			if got := r.Source(); got != tt.source {
				t.Errorf("Source() = %q, want %q", got, tt.source)
			}
		})
	}
}

func TestFindCacheRootRefused(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		home    string
		envVar  string // "" when the error is not an *EnvError
		message string
	}{
		{"empty HF_HUB_CACHE wins and is refused", []string{"HF_HUB_CACHE=", "HF_HOME=/ok"}, "/h", EnvHubCache, "set but empty"},
		{"empty HUGGINGFACE_HUB_CACHE", []string{"HUGGINGFACE_HUB_CACHE="}, "/h", EnvLegacyHubCache, "set but empty"},
		{"empty HF_HOME", []string{"HF_HOME="}, "/h", EnvHome, "set but empty"},
		{"empty XDG_CACHE_HOME", []string{"XDG_CACHE_HOME="}, "/h", EnvXDGCacheHome, "set but empty"},
		{"relative", []string{"HF_HUB_CACHE=cache/hub"}, "/h", EnvHubCache, "relative"},
		{"relative dot", []string{"HF_HOME=./x"}, "/h", EnvHome, "relative"},
		{"variable", []string{"HF_HOME=$HOME/x"}, "/h", EnvHome, `contains "$"`},
		{"braced variable", []string{"HF_HUB_CACHE=/x/${USER}"}, "/h", EnvHubCache, `contains "$"`},
		{"other user's home", []string{"HF_HUB_CACHE=~bob/hub"}, "/h", EnvHubCache, `"~user"`},
		{"tilde without home", []string{"HF_HUB_CACHE=~/hub"}, "", EnvHubCache, "home directory"},
		{"tilde with relative home", []string{"HF_HUB_CACHE=~/hub"}, "rel", EnvHubCache, "home directory"},
		{"NUL", []string{"HF_HUB_CACHE=/a\x00b"}, "/h", EnvHubCache, "NUL"},
		{"no home, nothing set", nil, "", "", "home directory"},
		{"relative home, nothing set", nil, "home", "", "home directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := FindCacheRoot(lookupOf(tt.env...), tt.home)
			if err == nil {
				t.Fatalf("got root %+v, want an error", r)
			}
			var ee *EnvError
			if isEnv := errors.As(err, &ee); isEnv != (tt.envVar != "") || isEnv && ee.Var != tt.envVar {
				t.Errorf("error %v (%T): want *EnvError for %q", err, err, tt.envVar)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
		})
	}
}

func TestDownloadDirRoot(t *testing.T) {
	r, err := DownloadDirRoot("/data/dl/")
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != "/data/dl" || r.Var != DownloadDirFlag || r.Source() != `--download-dir "/data/dl/"` {
		t.Errorf("got %+v, source %q", r, r.Source())
	}
	for _, bad := range []string{"", "rel/dir", "/a\x00"} {
		if _, err := DownloadDirRoot(bad); err == nil || !strings.Contains(err.Error(), DownloadDirFlag) {
			t.Errorf("DownloadDirRoot(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}
