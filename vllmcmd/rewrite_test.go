package vllmcmd

import (
	"reflect"
	"strings"
	"testing"
)

const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "89abcdef0123456789abcdef0123456789abcdef"
)

// TestRewrite: pins are appended (a later flag wins; the command line
// beats --config), listen replaces the user's host, port and socket, and
// everything else stays byte for byte.
func TestRewrite(t *testing.T) {
	fsys := newFS("/work/m/").write("/work/c.yaml", "host: 0.0.0.0\nport: 9000\n").write("/work/u.yaml", "uds: /tmp/s\n")
	for _, tc := range []struct {
		name   string
		argv   []string
		pins   Pins
		listen *Listen
		want   []string
	}{
		{"nothing", serve("org/m", "--port", "8000"), Pins{}, nil, serve("org/m", "--port", "8000")},
		{"revision", serve("org/m", "--revision", "main"), Pins{Revision: commitA}, nil,
			serve("org/m", "--revision", "main", "--revision", commitA)},
		{"code revision follows", serve("org/m", "--revision", "v", "--code-revision", "v", "--trust-remote-code"), Pins{Revision: commitA}, nil,
			serve("org/m", "--revision", "v", "--code-revision", "v", "--trust-remote-code", "--revision", commitA, "--code-revision", commitA)},
		{"tokenizer", serve("org/m", "--tokenizer", "org/t"), Pins{Revision: commitA, TokenizerRevision: commitB}, nil,
			serve("org/m", "--tokenizer", "org/t", "--revision", commitA, "--tokenizer-revision", commitB)},
		{"listen", serve("org/m", "--host", "0.0.0.0", "--port=8000", "--uds", "/tmp/x", "--enforce-eager"), Pins{}, &Listen{Host: "127.0.0.1", Port: 40123}, serve("org/m", "--enforce-eager", "--host", "127.0.0.1", "--port", "40123")},
		{"listen on a socket", serve("org/m", "--port", "8000"), Pins{}, &Listen{UDS: "/run/mg/vllm.sock"}, serve("org/m", "--uds", "/run/mg/vllm.sock")},
		{"listen over config", serve("org/m", "--config", "c.yaml"), Pins{}, &Listen{Host: "127.0.0.1", Port: 1},
			serve("org/m", "--config", "c.yaml", "--host", "127.0.0.1", "--port", "1")},
		{"api_server", apiServer("--model", "org/m", "--host", "::"), Pins{Revision: commitA}, &Listen{Host: "127.0.0.1", Port: 2},
			apiServer("--model", "org/m", "--revision", commitA, "--host", "127.0.0.1", "--port", "2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, fsys, tc.argv)
			got, err := c.Rewrite(RewriteOptions{Pins: tc.pins, Listen: tc.listen})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got %q\nwant %q", got, tc.want)
			}
			// What vLLM reads from the result is what was pinned.
			again := mustParse(t, fsys, got)
			if tc.pins.Revision != "" && again.Revision != tc.pins.Revision {
				t.Fatalf("reparsed revision %q", again.Revision)
			}
			if tc.listen != nil && tc.listen.Host != "" && (again.Host != tc.listen.Host || again.UDS != "") {
				t.Fatalf("reparsed host %q uds %q", again.Host, again.UDS)
			}
		})
	}
	t.Run("speculative revision", func(t *testing.T) {
		argv := serve("org/m", "--speculative-config", `{"model":"org/d","num_speculative_tokens":3,"revision":"main","x":{"y":[1.50,null,"<é>"]}}`)
		c := mustParse(t, fsys, argv)
		got, err := c.Rewrite(RewriteOptions{Pins: Pins{SpeculativeRevision: commitB}})
		if err != nil {
			t.Fatal(err)
		}
		want := append(argv[:len(argv):len(argv)], "--speculative-config",
			`{"model":"org/d","num_speculative_tokens":3,"revision":"`+commitB+`","x":{"y":[1.50,null,"<é>"]}}`)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
		again := mustParse(t, fsys, got)
		if a := again.Artifacts[1]; a.Revision != commitB || a.HubID != "org/d" {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("speculative revision added, code_revision follows", func(t *testing.T) {
		fsys.write("/work/s.yaml", "speculative-config:\n  method: mtp\n  revision: r\n  code_revision: r\n")
		c := mustParse(t, fsys, serve("org/m", "--config", "s.yaml"))
		got, err := c.Rewrite(RewriteOptions{Pins: Pins{SpeculativeRevision: commitA}})
		if err != nil {
			t.Fatal(err)
		}
		if last := got[len(got)-1]; last != `{"method":"mtp","revision":"`+commitA+`","code_revision":"`+commitA+`"}` {
			t.Fatalf("%s", last)
		}
		c = mustParse(t, fsys, serve("org/m", "--speculative-config", `{"method": "mtp"}`))
		got, _ = c.Rewrite(RewriteOptions{Pins: Pins{SpeculativeRevision: commitA}})
		if last := got[len(got)-1]; last != `{"method":"mtp","revision":"`+commitA+`"}` {
			t.Fatalf("%s", last)
		}
	})
	for _, tc := range []struct {
		name   string
		argv   []string
		pins   Pins
		listen *Listen
		want   string
	}{
		{"short commit", serve("org/m"), Pins{Revision: "0123456"}, nil, "not a commit"},
		{"upper-case commit", serve("org/m"), Pins{Revision: strings.ToUpper(commitA)}, nil, "not a commit"},
		{"flag as commit", serve("org/m"), Pins{TokenizerRevision: "--trust-remote-code"}, nil, "not a commit"},
		{"no speculative config", serve("org/m"), Pins{SpeculativeRevision: commitA}, nil, "no --speculative-config"},
		{"host and socket", serve("org/m"), Pins{}, &Listen{Host: "127.0.0.1", Port: 1, UDS: "/s"}, "not one listening address"},
		{"no port", serve("org/m"), Pins{}, &Listen{Host: "127.0.0.1"}, "not one listening address"},
		{"port too large", serve("org/m"), Pins{}, &Listen{Host: "127.0.0.1", Port: 70000}, "not one listening address"},
		{"host like a flag", serve("org/m"), Pins{}, &Listen{Host: "--x", Port: 1}, "not a host"},
		{"socket in the config", serve("org/m", "--config", "u.yaml"), Pins{}, &Listen{Host: "127.0.0.1", Port: 1}, "config file"},
	} {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			c := mustParse(t, fsys, tc.argv)
			if _, err := c.Rewrite(RewriteOptions{Pins: tc.pins, Listen: tc.listen}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	t.Run("config copy", func(t *testing.T) {
		argv := serve("org/m", "--config", "c.yaml", "--port", "1")
		c := mustParse(t, fsys, argv)
		if string(c.ConfigData) != "host: 0.0.0.0\nport: 9000\n" {
			t.Fatalf("ConfigData %q", c.ConfigData)
		}
		got, err := c.Rewrite(RewriteOptions{ConfigCopy: "/run/mg/config.yaml", Pins: Pins{Revision: commitA}})
		if err != nil {
			t.Fatal(err)
		}
		if want := serve("org/m", "--config", "/run/mg/config.yaml", "--port", "1", "--revision", commitA); !reflect.DeepEqual(got, want) {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
		for _, bad := range []string{"relative.yaml", "/run/mg/config.json", "/run/mg/config"} {
			if _, err := c.Rewrite(RewriteOptions{ConfigCopy: bad}); err == nil {
				t.Errorf("ConfigCopy %q accepted", bad)
			}
		}
		if _, err := mustParse(t, fsys, serve("org/m")).Rewrite(RewriteOptions{ConfigCopy: "/run/c.yaml"}); err == nil {
			t.Error("ConfigCopy without --config accepted")
		}
	})
	// A socket in the config is fine when vLLM listens on a socket anyway.
	c := mustParse(t, fsys, serve("org/m", "--config", "u.yaml"))
	if got, err := c.Rewrite(RewriteOptions{Pins: Pins{}, Listen: &Listen{UDS: "/run/s"}}); err != nil || got[len(got)-1] != "/run/s" {
		t.Fatalf("%q %v", got, err)
	}
}
