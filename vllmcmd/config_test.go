package vllmcmd

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/allocs"
)

func tokenTexts(ts []token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.s
	}
	return out
}

// TestConfigExpansion: what load_config_file makes of each YAML value,
// with PyYAML's YAML 1.1 scalars and Python's str() and json.dumps.
func TestConfigExpansion(t *testing.T) {
	const doc = `
port: 8000
trust_remote_code: yes
enforce-eager: false
served-model-name: [a, b]
lora-modules: []
speculative-config:
  model: draft
  num_speculative_tokens: 3
  flag: on
  nested: {list: [1, 2.5, null, "é😀"]}
tokenizer: ~
seed: 0o17
max-model-len: 017
gpu-memory-utilization: 0.90
x: 1e3
y: 1_000
z: 1:30
w: .5
v: 1.0e+16
u: 0x1F
s: -.5
items: [true, False, NULL, 1.5, "x y", 'q']
quoted: "yes"
str-tag: !!str 123
anchor: &a hello
alias: *a
`
	want := strings.Fields(`--port 8000 --trust_remote_code --served-model-name a b
		--speculative-config SPEC --tokenizer None --seed 0o17 --max-model-len 15
		--gpu-memory-utilization 0.9 --x 1e3 --y 1000 --z 90 --w 0.5 --v 1e+16 --u 31 --s -.5
		--items True False None 1.5 XY q --quoted yes --str-tag 123 --anchor hello --alias hello`)
	for i, w := range want {
		switch w {
		case "SPEC":
			want[i] = `{"model": "draft", "num_speculative_tokens": 3, "flag": true, "nested": {"list": [1, 2.5, null, "\u00e9\ud83d\ude00"]}}`
		case "XY":
			want[i] = "x y"
		}
	}
	got, err := configArgs([]byte(doc), "c.yaml", Serve)
	if err != nil {
		t.Fatal(err)
	}
	if g := tokenTexts(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("serve:\n got %q\nwant %q", g, want)
	}
	// The api_server parser has --no-enforce-eager: false becomes it.
	got, err = configArgs([]byte(doc), "c.yaml", APIServer)
	if err != nil {
		t.Fatal(err)
	}
	if g := tokenTexts(got); g[3] != "--no-enforce-eager" || len(g) != len(want)+1 {
		t.Fatalf("api_server: %q", g)
	}
	if got[0].argv != -1 || !strings.Contains(got[0].from, `c.yaml key "port"`) {
		t.Fatalf("origin %+v", got[0])
	}
}

// TestConfigQuotedScalars: quoted and block scalars are strings; the
// check for a "!" tag in front of them must not trip over their syntax.
func TestConfigQuotedScalars(t *testing.T) {
	const doc = "chat-template: |\n  {% if x %}!\n  {% endif %}\nlist: [\"a!\", 'b', c]\n\"port\": '1'\nx: {éé: \"y\", 😀: &a 'z', w: *a}\n"
	got, err := configArgs([]byte(doc), "c.yaml", Serve)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--chat-template", "{% if x %}!\n{% endif %}\n", "--list", "a!", "b", "c", "--port", "1",
		"--x", `{"\u00e9\u00e9": "y", "\ud83d\ude00": "z", "w": "z"}`}
	if g := tokenTexts(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("\n got %q\nwant %q", g, want)
	}
}

// TestConfigPrecedence: the command line beats the file, whatever the
// order on the command line.
func TestConfigPrecedence(t *testing.T) {
	fsys := newFS("/work/m/", "/work/a/", "/work/b/", "/work/c.yaml")
	fsys.write("/work/c.yaml", "tokenizer: a\nrevision: file\ntrust-remote-code: true\nhost: 0.0.0.0\n")
	for _, argv := range [][]string{
		serve("m", "--config", "c.yaml", "--tokenizer", "b", "--revision", "cli", "--no-trust-remote-code"),
		serve("m", "--tokenizer", "b", "--revision", "cli", "--no-trust-remote-code", "--config", "c.yaml"),
		apiServer("--model", "m", "--tokenizer", "b", "--config", "c.yaml", "--revision", "cli", "--no-trust-remote-code"),
	} {
		c := mustParse(t, fsys, argv)
		if c.Artifacts[1].Path != "/work/b" || c.Revision != "cli" || c.TrustRemoteCode || c.Host != "0.0.0.0" {
			t.Errorf("%q: %+v", argv, c)
		}
	}
	c := mustParse(t, fsys, serve("m", "--config", "c.yaml"))
	if c.Artifacts[1].Path != "/work/a" || c.Revision != "file" || !c.TrustRemoteCode {
		t.Fatalf("file only: %+v", c)
	}
}

// TestConfigValues: YAML values as vLLM ends up reading them.
func TestConfigValues(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		check      func(*Command) bool
	}{
		{"yes is true", "trust-remote-code: yes\n", func(c *Command) bool { return c.TrustRemoteCode }},
		{"On is true", "trust-remote-code: On\n", func(c *Command) bool { return c.TrustRemoteCode }},
		{"false is dropped", "trust-remote-code: false\n", func(c *Command) bool { return !c.TrustRemoteCode }},
		{"off is false", "trust-remote-code: off\n", func(c *Command) bool { return !c.TrustRemoteCode }},
		{"~ tokenizer is None", "tokenizer: ~\n", func(c *Command) bool { return len(c.Artifacts) == 1 }},
		{"null revision", "revision: null\n", func(c *Command) bool { return c.Revision == "" }},
		{"int revision is str()", "revision: 0x10\n", func(c *Command) bool { return c.Revision == "16" }},
		{"mapping is JSON", "speculative-config: {model: d, num_speculative_tokens: 2}\n",
			func(c *Command) bool { return c.Artifacts[1].Path == "/work/d" }},
		{"list of lora items", "lora-modules: [a=/a, b=/b]\n", func(c *Command) bool { return len(c.Artifacts) == 3 }},
		{"one lora item as a mapping", "lora-modules: {name: a, path: /a}\n",
			func(c *Command) bool { return len(c.Artifacts) == 2 && c.Artifacts[1].Name == "a" }},
		{"nested mapping", "default-mm-loras:\n  audio: /a\n  image: /i\n", func(c *Command) bool { return len(c.Artifacts) == 3 }},
		{"anchors and aliases", "x: &p /a\nlora-modules: [\"a=/a\"]\ndownload-dir: *p\n",
			func(c *Command) bool { return c.DownloadDir == "/a" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := newFS("/work/m/", "/work/d/").write("/work/c.yaml", tc.yaml)
			if c := mustParse(t, fsys, serve("m", "--config", "c.yaml")); !tc.check(c) {
				t.Fatalf("%+v", c)
			}
		})
	}
	// MODEL from the file is str(value), "None" included, as vLLM reads it.
	fsys := newFS().write("/work/c.yaml", "model: ~\n")
	if c := mustParse(t, fsys, serve("--config", "c.yaml")); c.Model != "None" || c.Artifacts[0].HubID != "None" {
		t.Fatalf("%+v", c.Artifacts)
	}
}

// TestConfigRefused: YAML that vLLM crashes on, that PyYAML and
// go.yaml.in/yaml/v3 could read differently, or that hides a flag.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"comment only", "# nothing\n", "empty"},
		{"null document", "~\n", "mapping"},
		{"list document", "[a, b]\n", "mapping"},
		{"scalar document", "42\n", "mapping"},
		{"two documents", "port: 1\n---\nport: 2\n", "more than one"},
		{"duplicate key", "port: 1\nport: 2\n", "twice"},
		{"duplicate nested key", "speculative-config: {model: a, model: b}\n", "twice"},
		{"int key", "1: x\n", "not a string"},
		{"bool key", "true: x\n", "not a string"},
		{"null key", "~: x\n", "not a string"},
		{"nested int key", "speculative-config: {1: x}\n", "not a string"},
		{"complex key", "? [a]\n: x\n", "not a string"},
		{"alias key", "a: &k [x]\n*k : y\n", "not a string"},
		{"key with =", "\"tokenizer=evil\": x\n", "not a flag name"},
		{"key with space", "\"a b\": x\n", "not a flag name"},
		{"key starting with -", "\"--port\": 1\n", "not a flag name"},
		{"empty key", "\"\": 1\n", "not a flag name"},
		{"timestamp", "x: 2024-01-01\n", "date"},
		{"timestamp in a list", "x: [2024-01-01 10:00:00]\n", "date"},
		{"merge key", "a: &a {x: 1}\nb: {<<: *a}\n", "merge"},
		{"value key", "x: =\n", "value key"},
		{"int tag", "x: !!int \"5\"\n", "tag"},
		{"binary", "x: !!binary aGk=\n", "tag"},
		{"python object", "x: !!python/object/apply:os.system [id]\n", "tag"},
		{"custom tag", "x: !custom y\n", "tag"},
		{"bang tag on quoted", "trust-remote-code: ! \"yes\"\n", "tag"},
		{"bang tag after anchor", "tokenizer: &t ! 'x'\n", "tag"},
		{"tagged mapping", "x: !!map {a: 1}\n", "tag"},
		{"bang tag after wide characters", "x: {é😀é: ! \"yes\"}\n", "tag"},
		{"list of mappings", "lora-modules: [{name: a, path: /a}]\n", "repr"},
		{"list of lists", "x: [[a]]\n", "repr"},
		{"nested config", "config: other.yaml\n", "another config"},
		{"recursive alias", "x: &a [*a]\n", "deeper"},
		{"huge int", "x: " + strings.Repeat("9", 5000) + "\n", "Python"},
		{"bad binary int", "x: 0b_\n", "Python"},
		{"huge hex int", "x: 0x" + strings.Repeat("f", 100000) + "\n", "Python"},
		{"long sexagesimal", "x: 1" + strings.Repeat(":00", 100000) + "\n", "Python"},
		{"BOM", "\ufeffport: 1\n", "byte order mark"},
		{"NUL", "port: \"1\x00\"\n", "U+0000"},
		{"NEL", "port: 1\u0085\n", "U+0085"},
		{"line separator", "port: 1\u2028tokenizer: x\n", "U+2028"},
		{"lone CR", "port: 1\rtokenizer: x\n", "U+000D"},
		{"invalid UTF-8", "port: \"\xff\"\n", "UTF-8"},
		{"syntax error", "port: [1\n", "line"},
		{"tab indentation", "a:\n\tb: 1\n", "line"},
		{"quoted true is a stray value", "trust-remote-code: \"true\"\n", "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := newFS("/work/m/").write("/work/c.yaml", tc.yaml)
			re := refusal(t, fsys, serve("m", "--config", "c.yaml"))
			if !strings.Contains(re.Error(), tc.want) {
				t.Fatalf("%v, want %q", re, tc.want)
			}
		})
	}
}

// TestConfigBounds: alias bombs, deep nesting and huge files end quickly
// in a refusal.
func TestConfigBounds(t *testing.T) {
	var bomb strings.Builder
	// Nine levels of ten mappings of the previous level: 10^9 values.
	bomb.WriteString("a0: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x, k9: x}\n")
	for i := 1; i < 10; i++ {
		bomb.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " {")
		for j := 0; j < 10; j++ {
			if j > 0 {
				bomb.WriteString(", ")
			}
			bomb.WriteString("k" + string(rune('0'+j)) + ": *a" + string(rune('0'+i-1)))
		}
		bomb.WriteString("}\n")
	}
	// One long string, repeated by aliases in a mapping that json.dumps
	// would spell out in full: 200 MB of JSON from a 120 KB file.
	var text strings.Builder
	text.WriteString("s: &s \"" + strings.Repeat("a", 100_000) + "\"\nd: {")
	for i := range 2000 {
		fmt.Fprintf(&text, "k%d: *s, ", i)
	}
	text.WriteString("}\n")
	for _, tc := range []struct{ name, yaml, want string }{
		{"billion laughs", bomb.String(), "after expanding aliases"},
		{"aliased long string", text.String(), "of text after expanding aliases"},
		{"deep nesting", "x: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n", "deeper"},
		{"huge file", "x: \"" + strings.Repeat("a", maxConfigBytes) + "\"\n", "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := newFS("/work/m/").write("/work/c.yaml", tc.yaml)
			start := time.Now()
			re := refusal(t, fsys, serve("m", "--config", "c.yaml"))
			if !strings.Contains(re.Error(), tc.want) && !strings.Contains(re.Error(), "bytes") {
				t.Fatalf("%v, want %q", re, tc.want)
			}
			t.Logf("refused in %v", time.Since(start))
		})
	}
}

// TestConfigLongLineLinear: quoted scalars on one long line cost work in
// proportion to the file, not to the line's length for each scalar (which
// took tens of seconds for a 1 MiB file). Measured in bytes allocated,
// which does not move with the machine's load.
func TestConfigLongLineLinear(t *testing.T) {
	allocs.SkipUnderRace(t)
	var b strings.Builder
	b.WriteString("k: [")
	for range 2000 {
		b.WriteString(`"é` + strings.Repeat("x", 90) + `", `)
	}
	b.WriteString("]\n")
	data := []byte(b.String())
	var err error
	got := allocs.Bytes(func() { _, err = configArgs(data, "c.yaml", Serve) })
	if err != nil {
		t.Fatal(err)
	}
	if limit := uint64(64 * len(data)); got > limit {
		t.Fatalf("reading a %d-byte config allocated %d bytes, want at most %d", len(data), got, limit)
	}
}

// TestPyReprFloat: Python's repr(float), as str() of a YAML float.
func TestPyReprFloat(t *testing.T) {
	for f, want := range map[float64]string{
		0.1: "0.1", 0.9: "0.9", 1e16: "1e+16", 1e15: "1000000000000000.0", 1e-5: "1e-05",
		0.0001: "0.0001", 123456789012345678: "1.2345678901234568e+17", 100: "100.0",
		2.5: "2.5", 1.5e300: "1.5e+300", 5e-324: "5e-324", -1.25: "-1.25", 0: "0.0",
		math.Inf(1): "inf", math.Inf(-1): "-inf", 1234.5678: "1234.5678", 1e100: "1e+100",
	} {
		if got := pyReprFloat(f); got != want {
			t.Errorf("pyReprFloat(%v) = %q, want %q", f, got, want)
		}
	}
	if got := pyReprFloat(math.Copysign(0, -1)); got != "-0.0" {
		t.Errorf("-0.0: %q", got)
	}
	if got := pyReprFloat(math.NaN()); got != "nan" {
		t.Errorf("nan: %q", got)
	}
}

// TestResolvePlain: PyYAML's implicit resolvers and constructors.
func TestResolvePlain(t *testing.T) {
	for in, want := range map[string]string{
		"yes": "True", "NO": "False", "Off": "False", "y": "y", "n": "n", "TRUE": "True", "tRue": "tRue",
		"~": "None", "null": "None", "": "None", "nULL": "nULL",
		"0": "0", "-0": "0", "+12": "12", "017": "15", "0o17": "0o17", "0x_1f": "31", "0b101": "5",
		"1_000": "1000", "-1:30": "-90", "190:20:30": "685230", "09": "09",
		"1.": "1.0", ".5": "0.5", "-.5": "-.5", "1.5e+3": "1500.0", "1e3": "1e3", "1.5e3": "1.5e3",
		"1_0.5": "10.5", "1:30.5": "90.5", ".inf": "inf", "-.Inf": "-inf", ".NaN": "nan", "+.inf": "inf",
		"1.0e+400": "inf", "0.1.2": "0.1.2", "1-2": "1-2",
	} {
		v, err := resolvePlain(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := pyStrOf(v); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 Z", "<<", "="} {
		if _, err := resolvePlain(in); err == nil {
			t.Errorf("%q: want an error", in)
		}
	}
}

// TestPyJSON: json.dumps with Python's defaults.
func TestPyJSON(t *testing.T) {
	v := &pyValue{kind: pyDict, dict: []pyItem{
		{"s", &pyValue{kind: pyStr, str: "a\"\\\n\r\t\b\f\x01\x7fé\U0001F600/<"}},
		{"f", &pyValue{kind: pyFloat, num: math.Inf(-1)}},
		{"n", &pyValue{kind: pyFloat, num: math.NaN()}},
		{"l", &pyValue{kind: pyList, list: []*pyValue{{kind: pyInt, str: "-3"}, {kind: pyBool}, {kind: pyNone}}}},
	}}
	want := `{"s": "a\"\\\n\r\t\b\f\u0001\u007f\u00e9\ud83d\ude00/<", "f": -Infinity, "n": NaN, "l": [-3, false, null]}`
	if got := pyJSON(v); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

// TestConfigMessages: a refusal names the file (quoted when odd) and the
// line, once.
func TestConfigMessages(t *testing.T) {
	fsys := newFS("/work/m/").write("/work/a b\n.yaml", "port: [\n").write("/work/c.yaml", "port: 1\nx: 2024-01-01\n")
	for argv, want := range map[string]string{
		"a b\n.yaml": `--config: "a b\n.yaml": yaml: line 1: did not find expected node content; fix the file`,
		"c.yaml":     `--config: c.yaml:2:4: "2024-01-01", which YAML reads as a date is not supported; quote the value if it is text; fix the file`,
	} {
		if re := refusal(t, fsys, serve("m", "--config", argv)); re.Error() != want {
			t.Errorf("\n got %q\nwant %q", re.Error(), want)
		}
	}
}
