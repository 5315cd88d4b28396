package vllmcmd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// loraItem is one --lora-modules item as vLLM's LoRAParserAction reads it.
type loraItem struct {
	name, path string
}

// loraKeys are LoRAModulePath's fields: anything else makes vLLM fail.
var loraKeys = map[string]strictjson.Kind{
	"name": strictjson.String, "path": strictjson.String,
	"base_model_name": strictjson.String, "is_3d_lora_weight": strictjson.Bool,
}

// Bounds on LoRA flags: a JSON value is a few hundred bytes, and a static
// list of adapters a few dozen.
const (
	maxJSONValue   = 1 << 20
	maxLoRAModules = 4096
)

// parseLoRAItem reads one --lora-modules item as LoRAParserAction does:
// "" and "None" are skipped (skip is true); an item with "=" and no ","
// is NAME=PATH; anything else is one JSON object with the keys of
// LoRAModulePath. Where vLLM would fail (two "=", a JSON list, unknown
// keys) or Python's json.loads and a strict reader could disagree
// (repeated keys, NaN), the item is refused.
func parseLoRAItem(item, flag string) (it loraItem, skip bool, err error) {
	if item == "" || item == "None" {
		return it, true, nil
	}
	hint := `write NAME=PATH or '{"name": "NAME", "path": "PATH"}'`
	if strings.Contains(item, "=") && !strings.Contains(item, ",") {
		name, path, _ := strings.Cut(item, "=")
		switch {
		case strings.Contains(path, "="):
			return it, false, refuse(flag, hint, "%q has more than one \"=\" (vLLM fails on it)", item)
		case name == "" || path == "":
			return it, false, refuse(flag, hint, "%q: empty name or path", item)
		}
		return loraItem{name: name, path: path}, false, nil
	}
	obj, err := parseJSONObject(item, flag, hint, "one JSON object per adapter (vLLM does not accept a JSON list)")
	if err != nil {
		return it, false, err
	}
	for _, m := range obj.Members {
		want, ok := loraKeys[m.Key]
		if !ok {
			return it, false, refuse(flag, hint+"; keys are name, path, base_model_name, is_3d_lora_weight (case matters)",
				"%q: unknown key %q (vLLM fails on it)", item, m.Key)
		}
		if m.Value.Kind != want && !(m.Value.Kind == strictjson.Null && m.Key != "name" && m.Key != "path") {
			return it, false, refuse(flag, hint, "%q: %q must be %s, not %s", item, m.Key, want, m.Value.Kind)
		}
		switch m.Key {
		case "name":
			it.name = m.Value.Str
		case "path":
			it.path = m.Value.Str
		}
	}
	if it.name == "" || it.path == "" {
		return it, false, refuse(flag, hint, "%q: name and path are required and must not be empty", item)
	}
	return it, false, nil
}

// parseJSONObject reads a JSON flag value strictly: one object, no
// repeated keys (Python keeps the last silently), at most maxJSONValue
// bytes.
func parseJSONObject(text, flag, hint, notObject string) (*strictjson.Value, error) {
	if len(text) > maxJSONValue {
		return nil, refuse(flag, hint, "value of %d bytes is larger than %d", len(text), maxJSONValue)
	}
	v, err := strictjson.Parse([]byte(text))
	if err != nil {
		return nil, refuse(flag, hint, "%q is not valid JSON: %v", abbreviate(text), err)
	}
	if v.Kind != strictjson.Object {
		return nil, refuse(flag, hint, "%q is %s; expected %s", abbreviate(text), v.Kind, notObject)
	}
	if m := v.RepeatedKey(); m != nil {
		return nil, refuse(flag, hint, "key %q appears twice (Python keeps the last silently); keep one", m.Key)
	}
	return v, nil
}

// abbreviate shortens a long value for a message.
func abbreviate(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// sourceName is a name from the command line inside an Artifact.Source:
// as is when plain, quoted otherwise.
func sourceName(s string) string {
	if isPlainName(s) && !strings.ContainsAny(s, "[]=") {
		return s
	}
	return strconv.Quote(s)
}

// readLoRAModules resolves --lora-modules. A second group is refused:
// vLLM keeps only the last one, silently.
func (c *Command) readLoRAModules(v *values, r *resolver) error {
	groups := v.all[roleLoRAModules]
	if len(groups) == 0 {
		return nil
	}
	if len(groups) > 1 {
		return refuse("--lora-modules", "list every adapter after a single --lora-modules",
			"given %d times%s: vLLM keeps only the last group", len(groups), groups[0].tok.where())
	}
	if n := len(groups[0].vals); n > maxLoRAModules {
		return refuse("--lora-modules", "load the rest at run time, through the gate", "%d adapters, more than %d", n, maxLoRAModules)
	}
	names := map[string]bool{}
	c.loraItems = groups[0].vals
	for i, t := range groups[0].vals {
		item, skip, err := parseLoRAItem(t.s, "--lora-modules")
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		if names[item.name] {
			return refuse("--lora-modules", "give each adapter a different name", "adapter name %q given twice", item.name)
		}
		names[item.name] = true
		a, err := r.lora(Artifact{Kind: KindLoRA, Source: fmt.Sprintf("--lora-modules[%d] %s", i+1, sourceName(item.name)),
			Name: item.name, Value: item.path, refs: []argRef{{kind: refLoRAItem, item: i}}})
		if err != nil {
			return err
		}
		c.add(a)
	}
	return nil
}

// readDefaultMMLoRAs resolves --default-mm-loras '{"modality": "path"}'.
func (c *Command) readDefaultMMLoRAs(v *values, r *resolver) error {
	text, o := v.str(roleDefaultMMLoRAs, true)
	if o == nil {
		return nil
	}
	hint := `write --default-mm-loras '{"audio": "PATH"}'`
	obj, err := parseJSONObject(text, "--default-mm-loras", hint, "an object of modality to adapter path")
	if err != nil {
		return err
	}
	c.mmLoRAs = obj
	for _, m := range obj.Members {
		if m.Value.Kind != strictjson.String {
			return refuse("--default-mm-loras", hint, "modality %q: the path must be a string, not %s", m.Key, m.Value.Kind)
		}
		a, err := r.lora(Artifact{Kind: KindLoRA, Source: "--default-mm-loras[" + sourceName(m.Key) + "]",
			Name: m.Key, Value: m.Value.Str, refs: []argRef{{kind: refMMLoRA, key: m.Key}}})
		if err != nil {
			return err
		}
		c.add(a)
	}
	return nil
}
