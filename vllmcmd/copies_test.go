package vllmcmd

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The copies the tests point artifacts at.
const (
	copyA = "/pins/aaaa"
	copyB = "/pins/bbbb"
	copyC = "/pins/cccc"
)

// TestRewriteCopies: each copied artifact is named again with its copy,
// wherever the command line names it, MODEL in place; clients keep the
// name they know (--served-model-name); the rest of argv is unchanged;
// and the result, read as vLLM reads it, loads every artifact from its
// copy.
func TestRewriteCopies(t *testing.T) {
	fsys := newFS("/work/m/", "/work/t/", "/work/d/", "/work/l1/", "/work/l2/", "/work/a/", copyA+"/", copyB+"/", copyC+"/").
		write("/work/lora.yaml", "lora-modules:\n  - x=/work/l1\n  - y=/work/l2\n")
	for _, tc := range []struct {
		name   string
		argv   []string
		copies map[string]string // artifact source → copy
		want   []string
	}{
		{"model in place", serve("./m", "--port", "8000"), map[string]string{"MODEL": copyA},
			serve(copyA, "--port", "8000", "--served-model-name", "./m")},
		{"hub model", serve("org/m", "--revision", "main"), map[string]string{"MODEL": copyA},
			serve(copyA, "--revision", "main", "--served-model-name", "org/m")},
		{"served name kept", serve("/work/m", "--served-model-name", "mine", "other"), map[string]string{"MODEL": copyA},
			serve(copyA, "--served-model-name", "mine", "other")},
		{"api_server --model", apiServer("--model", "/work/m"), map[string]string{"MODEL": copyA},
			apiServer("--model", "/work/m", "--model", copyA, "--served-model-name", "/work/m")},
		{"tokenizer", serve("/work/m", "--tokenizer", "/work/t"), map[string]string{"--tokenizer": copyB},
			serve("/work/m", "--tokenizer", "/work/t", "--tokenizer", copyB)},
		{"tokenizer is MODEL", serve("/work/m", "--tokenizer=/work/m"), map[string]string{"MODEL, --tokenizer": copyA},
			serve(copyA, "--tokenizer=/work/m", "--tokenizer", copyA, "--served-model-name", "/work/m")},
		{"lora items in place", serve("/work/m", "--lora-modules", "x=/work/l1", `{"name": "y", "path": "/work/l2", "base_model_name": "m"}`, "--enable-lora"),
			map[string]string{"--lora-modules[1] x": copyB, "--lora-modules[2] y": copyC},
			serve("/work/m", "--lora-modules", `{"name":"x","path":"`+copyB+`"}`, `{"name":"y","path":"`+copyC+`","base_model_name":"m"}`, "--enable-lora")},
		{"lora item glued", serve("/work/m", "--lora-modules=x=/work/l1"), map[string]string{"--lora-modules[1] x": copyB},
			serve("/work/m", `--lora-modules={"name":"x","path":"`+copyB+`"}`)},
		{"lora group from config", serve("/work/m", "--config", "lora.yaml"), map[string]string{"--lora-modules[2] y": copyC},
			serve("/work/m", "--config", "lora.yaml", "--lora-modules", "x=/work/l1", `{"name":"y","path":"`+copyC+`"}`)},
		{"mm loras", serve("/work/m", "--default-mm-loras", `{"audio": "/work/a", "image": "/work/l1"}`), map[string]string{"--default-mm-loras[audio]": copyB},
			serve("/work/m", "--default-mm-loras", `{"audio": "/work/a", "image": "/work/l1"}`, "--default-mm-loras", `{"audio":"`+copyB+`","image":"/work/l1"}`)},
		{"speculative model", serve("/work/m", "--speculative-config", `{"model": "/work/d", "num_speculative_tokens": 3}`),
			map[string]string{"--speculative-config.model": copyB},
			serve("/work/m", "--speculative-config", `{"model": "/work/d", "num_speculative_tokens": 3}`, "--speculative-config", `{"model":"`+copyB+`","num_speculative_tokens":3}`)},
		{"mtp draft is MODEL", serve("/work/m", "--speculative-config", `{"method": "mtp"}`), map[string]string{"MODEL, --speculative-config.model (mtp: MODEL)": copyA},
			serve(copyA, "--speculative-config", `{"method": "mtp"}`, "--served-model-name", "/work/m")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, fsys, tc.argv)
			copies := map[int]string{}
			for src, p := range tc.copies {
				i := artifactIndex(t, c, src)
				copies[i] = p
			}
			got, err := c.Rewrite(RewriteOptions{Copies: copies})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got %q\nwant %q", got, tc.want)
			}
			if strings.Contains(tc.name, "from config") {
				return // modelgate itself refuses a second --lora-modules group; vLLM keeps the last
			}
			again := mustParse(t, fsys, got)
			for src, p := range tc.copies {
				a := again.Artifacts[artifactIndex(t, c, src)]
				if a.Location != Local || a.Path != p {
					t.Errorf("%s: vLLM would load %s %q %q, not the copy %s", src, a.Location, a.Path, a.HubID, p)
				}
				if old := c.Artifacts[artifactIndex(t, c, src)]; a.Name != old.Name {
					t.Errorf("%s: name %q became %q", src, old.Name, a.Name)
				}
			}
		})
	}
}

// artifactIndex finds the artifact named by source.
func artifactIndex(t *testing.T, c *Command, source string) int {
	t.Helper()
	for i, a := range c.Artifacts {
		if a.Source == source {
			return i
		}
	}
	var have []string
	for _, a := range c.Artifacts {
		have = append(have, a.Source)
	}
	t.Fatalf("no artifact %q (have %q)", source, have)
	return -1
}

// TestRewriteCopiesRefused: copies that cannot be given to vLLM as they
// are, or MTP's draft apart from MODEL, are refused.
func TestRewriteCopiesRefused(t *testing.T) {
	fsys := newFS("/work/m/")
	c := mustParse(t, fsys, serve("/work/m"))
	for _, tc := range []struct {
		copies map[int]string
		want   string
	}{
		{map[int]string{0: "relative"}, "clean absolute"},
		{map[int]string{0: "/pins/a/../b"}, "clean absolute"},
		{map[int]string{0: "/pins/a\x00"}, "clean absolute"},
		{map[int]string{0: "/pins/\x80"}, "UTF-8"},
		{map[int]string{3: "/pins/a"}, "no artifact 3"},
	} {
		if _, err := c.Rewrite(RewriteOptions{Copies: tc.copies}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.copies, err, tc.want)
		}
	}
	// A NAME=PATH item goes back to vLLM in the JSON form, which cannot
	// hold a name that is not UTF-8: refused, not changed.
	c = mustParse(t, newFS("/work/m/", "/work/l1/"), serve("/work/m", "--lora-modules", "\x97=/work/l1"))
	i := artifactIndex(t, c, "--lora-modules[1] \"\\x97\"")
	_, err := c.Rewrite(RewriteOptions{Copies: map[int]string{i: copyB}})
	var re *RefusedError
	if !errors.As(err, &re) || re.Flag != "--lora-modules" || !strings.Contains(re.Reason, `"\x97" is not valid UTF-8`) {
		t.Errorf("a name that is not UTF-8: %v", err)
	}
	// MTP at its own revision is a second artifact: its copy cannot be
	// where vLLM takes the draft from (MODEL).
	c = mustParse(t, fsys, serve("org/m", "--speculative-config", `{"method": "mtp", "revision": "v2"}`))
	if _, err := c.Rewrite(RewriteOptions{Copies: map[int]string{1: copyB}}); err == nil || !strings.Contains(err.Error(), "MTP") {
		t.Errorf("MTP apart: %v", err)
	}
}

// FuzzRewriteCopies: any command whose artifacts are all given copies
// rewrites to a command that loads each of them from its copy, or is
// refused; the artifacts' names do not change.
func FuzzRewriteCopies(f *testing.F) {
	for _, s := range []string{
		"m --tokenizer t",
		"--model m --lora-modules a=a {\"name\":\"b\",\"path\":\"a\"}",
		"m --lora-modules=x=a --enable-lora",
		"m --speculative-config {\"model\":\"t\",\"revision\":\"main\"}",
		"m --speculative-config {\"method\":\"mtp\"}",
		"m --default-mm-loras {\"audio\":\"a\"}",
		"/g/s-00001-of-00002.gguf --tokenizer=/work/t",
		"org/name --served-model-name n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	fsys := fuzzFS()
	f.Fuzz(func(t *testing.T, args string, api bool) {
		c, err := Parse(fuzzArgv(args, api), opts(fsys))
		if err != nil {
			return
		}
		copies := map[int]string{}
		for i, a := range c.Artifacts {
			if a.Location == Remote {
				continue
			}
			p := "/pins/" + strconv.Itoa(i)
			fsys.mkdir(p)
			copies[i] = p
		}
		out, err := c.Rewrite(RewriteOptions{Copies: copies})
		checkRefusal(t, err)
		if err != nil {
			return
		}
		again, err := Parse(out, opts(fsys))
		if err != nil {
			if c.ConfigFile != "" {
				return // a --lora-modules group given again over the config file's: vLLM keeps the last, modelgate refuses two
			}
			t.Fatalf("rewritten %q: %v", out, err)
		}
		for i, p := range copies {
			if i >= len(again.Artifacts) {
				t.Fatalf("rewritten %q has %d artifacts, %d before", out, len(again.Artifacts), len(c.Artifacts))
			}
			a := again.Artifacts[i]
			if a.Location != Local || a.Path != p || a.Name != c.Artifacts[i].Name {
				t.Fatalf("rewritten %q: artifact %d (%s) reads back as %s %q %q, want the copy %s", out, i, c.Artifacts[i].Source, a.Location, a.Path, a.HubID, p)
			}
		}
		if c.ServedModelNames == nil && copies[0] != "" && !slices.Equal(again.ServedModelNames, []string{c.Model}) {
			t.Fatalf("rewritten %q serves %q, want %q", out, again.ServedModelNames, c.Model)
		}
	})
}
