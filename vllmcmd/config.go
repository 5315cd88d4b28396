package vllmcmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Bounds on a --config file: vLLM reads it whole, and json.dumps expands
// every alias, so a few lines of anchors can stand for gigabytes.
const (
	maxConfigBytes = 1 << 20        // a config file is a few hundred bytes
	maxConfigNodes = 10_000         // values after alias expansion; real files have dozens
	maxConfigText  = maxConfigBytes // bytes of scalar text after alias expansion
	maxConfigDepth = 64
)

// configKeyRE is a config key vLLM turns into a flag ("--" + key) that this
// package can read the way argparse will: no spaces, no "=", not starting
// with "-". Dots are allowed: they become dotted flags, checked later.
var configKeyRE = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)

// configArgs turns the YAML text of a --config file into the arguments
// vLLM's FlexibleArgumentParser.load_config_file makes of it:
//
//   - key: true → --key; key: false → --no-key when the parser has that
//     flag (only the api_server form: `vllm serve` looks in the top-level
//     parser, which has none), else nothing;
//   - key: [a, b] → --key a b (str() of each item); key: [] → nothing;
//   - key: {mapping} → --key JSON (json.dumps);
//   - key: scalar → --key str(scalar).
//
// The YAML is read as PyYAML's safe_load reads it (YAML 1.1 scalars).
// Anything PyYAML would read differently from go.yaml.in/yaml/v3, or
// that vLLM would crash on, is refused.
func configArgs(data []byte, file string, form Form) ([]token, error) {
	root, err := parseYAML(data, file)
	if err != nil {
		return nil, err
	}
	conv := &yamlConverter{file: file, lines: strings.Split(string(data), "\n")}
	if root.Kind != yaml.MappingNode {
		return nil, conv.refuse(root, "the file must be a YAML mapping of flag names to values (vLLM calls .items() on it)")
	}
	var out []token
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		keyNode, valNode := root.Content[i], root.Content[i+1]
		key, err := conv.key(keyNode)
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, conv.refuse(keyNode, fmt.Sprintf("key %q appears twice (PyYAML keeps the last silently); keep one", key))
		}
		seen[key] = true
		if !configKeyRE().MatchString(key) {
			return nil, conv.refuse(keyNode, fmt.Sprintf("key %q is not a flag name vLLM can use", key))
		}
		val, err := conv.value(valNode, 0)
		if err != nil {
			return nil, err
		}
		from := fmt.Sprintf("%s key %q", showPath(file), key)
		tok := func(s string) token { return token{s: s, argv: -1, from: from} }
		switch val.kind {
		case pyBool:
			if val.b {
				out = append(out, tok("--"+key))
			} else if no := "--no-" + key; form == APIServer && known[no] != nil && known[no].off {
				out = append(out, tok(no))
			}
		case pyList:
			if len(val.list) == 0 {
				continue
			}
			out = append(out, tok("--"+key))
			for _, item := range val.list {
				if item.kind == pyList || item.kind == pyDict {
					return nil, conv.refuse(valNode, fmt.Sprintf("key %q: a list or mapping inside a list reaches vLLM as Python's repr(), not JSON; give each item as a string", key))
				}
				out = append(out, tok(pyStrOf(item)))
			}
		case pyDict:
			out = append(out, tok("--"+key), tok(pyJSON(val)))
		default:
			out = append(out, tok("--"+key), tok(pyStrOf(val)))
		}
	}
	return out, nil
}

// parseYAML checks the text and parses its single document.
func parseYAML(data []byte, file string) (root *yaml.Node, err error) {
	where := func(format string, args ...any) error {
		return refuse("--config", "fix the file", "%s: "+format, append([]any{showPath(file)}, args...)...)
	}
	if !utf8.Valid(data) {
		return nil, where("not UTF-8 text")
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return nil, where("starts with a byte order mark; remove it")
	}
	if r, ok := pyPrintable(string(data)); !ok {
		return nil, where("contains the character %U, which YAML parsers disagree on or refuse", r)
	}
	// go.yaml.in/yaml/v3 reports errors by panicking internally and
	// recovering; anything else escaping it must not take modelgate down.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, where("YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, where("empty (vLLM needs a mapping of flags)")
		}
		return nil, where("%v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, where("more than one YAML document (vLLM's yaml.safe_load refuses that)")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, where("not a single YAML document")
	}
	return doc.Content[0], nil
}

// yamlConverter builds pyValues from YAML nodes as PyYAML's SafeLoader
// does, counting expanded nodes so that alias bombs stay bounded.
type yamlConverter struct {
	file  string
	lines []string
	runes [][]rune // lines converted for hasBangTag, each once, by index
	nodes int
	text  int // bytes of scalar text, aliases counted each time
}

func (c *yamlConverter) refuse(n *yaml.Node, msg string) error {
	return refuse("--config", "fix the file", "%s:%d:%d: %s", showPath(c.file), n.Line, n.Column, msg)
}

// key reads a mapping key, which must be a string: vLLM builds "--" + key,
// and json.dumps would turn 1 and "1" into the same key.
func (c *yamlConverter) key(n *yaml.Node) (string, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return "", c.refuse(n, "a key is not a string (a list or mapping); use a string")
	}
	v, err := c.value(n, 0)
	if err != nil {
		return "", err
	}
	if v.kind != pyStr {
		return "", c.refuse(n, fmt.Sprintf("key %q is not a string (PyYAML reads it as a %s); quote it", n.Value, pyTypeName(v.kind)))
	}
	return v.str, nil
}

func pyTypeName(k pyKind) string {
	return [...]string{"string", "integer", "float", "boolean", "null", "list", "mapping"}[k]
}

func (c *yamlConverter) value(n *yaml.Node, depth int) (*pyValue, error) {
	c.nodes++
	if c.nodes > maxConfigNodes {
		return nil, c.refuse(n, fmt.Sprintf("more than %d values after expanding aliases", maxConfigNodes))
	}
	if depth >= maxConfigDepth {
		return nil, c.refuse(n, fmt.Sprintf("nested deeper than %d levels (or an alias refers to itself)", maxConfigDepth))
	}
	if n.Style&yaml.TaggedStyle != 0 && !(n.Kind == yaml.ScalarNode && n.Tag == "!!str") {
		return nil, c.refuse(n, fmt.Sprintf("explicit YAML tag %q is not supported; remove it", n.Tag))
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, c.refuse(n, "alias to an unknown anchor")
		}
		return c.value(n.Alias, depth+1)
	case yaml.ScalarNode:
		// An alias repeats its text wherever json.dumps spells it out:
		// without this bound a long string aliased a few thousand times
		// stands for gigabytes.
		if c.text += len(n.Value); c.text > maxConfigText {
			return nil, c.refuse(n, fmt.Sprintf("more than %d bytes of text after expanding aliases", maxConfigText))
		}
		return c.scalar(n)
	case yaml.SequenceNode:
		v := &pyValue{kind: pyList}
		for _, e := range n.Content {
			ev, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			v.list = append(v.list, ev)
		}
		return v, nil
	case yaml.MappingNode:
		v := &pyValue{kind: pyDict}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := c.key(n.Content[i])
			if err != nil {
				return nil, err
			}
			if seen[k] {
				return nil, c.refuse(n.Content[i], fmt.Sprintf("key %q appears twice (PyYAML keeps the last silently); keep one", k))
			}
			seen[k] = true
			ev, err := c.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			v.dict = append(v.dict, pyItem{key: k, val: ev})
		}
		return v, nil
	}
	return nil, c.refuse(n, "unexpected YAML node")
}

func (c *yamlConverter) scalar(n *yaml.Node) (*pyValue, error) {
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	if n.Style&yaml.TaggedStyle != 0 || quoted {
		// A quoted scalar is a string, unless it carries the non-specific
		// tag "!": PyYAML then resolves it like a plain one ("! 'yes'" is
		// True), go.yaml.in/yaml/v3 does not, and the node does not say
		// whether it had the tag. Look at the source.
		if quoted && c.hasBangTag(n) {
			return nil, c.refuse(n, `the YAML tag "!" is not supported; remove it`)
		}
		return &pyValue{kind: pyStr, str: n.Value}, nil
	}
	v, err := resolvePlain(n.Value)
	if err != nil {
		var u errUnsupportedScalar
		if errors.As(err, &u) {
			return nil, c.refuse(n, u.what+" is not supported; quote the value if it is text")
		}
		return nil, err
	}
	return v, nil
}

// hasBangTag reports whether the source at n's position starts with a tag,
// after an optional anchor. The parser places a node at the start of its
// properties (anchor and tag), counting columns in characters.
func (c *yamlConverter) hasBangTag(n *yaml.Node) bool {
	if n.Line < 1 || n.Line > len(c.lines) || n.Column < 1 {
		return true // cannot tell: refuse
	}
	line := c.lineRunes(n.Line - 1)
	i := n.Column - 1
	if i >= len(line) {
		return true
	}
	skipSpace := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	if line[i] == '&' {
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		skipSpace()
		if i >= len(line) {
			return true // properties continue on the next line
		}
	}
	return line[i] == '!'
}

// lineRunes returns line i (0-based) as characters, the unit of a node's
// column. Each line is converted once: one long line can hold thousands of
// quoted scalars, and converting it for each made a 1 MiB file cost
// quadratic time (tens of seconds).
func (c *yamlConverter) lineRunes(i int) []rune {
	if c.runes == nil {
		c.runes = make([][]rune, len(c.lines))
	}
	if c.runes[i] == nil {
		c.runes[i] = []rune(c.lines[i])
	}
	return c.runes[i]
}
