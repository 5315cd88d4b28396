package vllmcmd

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// refKind says how the command line names an artifact.
type refKind uint8

const (
	refModel     refKind = iota + 1 // MODEL: positional, --model, config or default
	refFlag                         // a one-value flag (argRef.flag)
	refSpecModel                    // --speculative-config's "model"
	refMTP                          // MTP's draft, which is MODEL itself
	refLoRAItem                     // item argRef.item of the --lora-modules group
	refMMLoRA                       // --default-mm-loras member argRef.key
)

// argRef is one place the command line names an artifact.
type argRef struct {
	kind refKind
	flag string // refFlag: the flag, as Rewrite writes it again
	item int    // refLoRAItem
	key  string // refMMLoRA
}

// NamedBy reports whether the command line names a with the one-value
// flag flag ("--tokenizer", "--hf-config-path"...), alone or merged with
// other places. It reads how a was named, not Source, whose text holds
// names from the command line.
func (a *Artifact) NamedBy(flag string) bool {
	for _, r := range a.refs {
		if r.kind == refFlag && r.flag == flag {
			return true
		}
	}
	return false
}

// copyEdits are the changes Rewrite makes for RewriteOptions.Copies.
type copyEdits struct {
	replace map[int]string // argv index → new argument
	tail    []string
	spec    string // --speculative-config's new "model", "" when unchanged
}

// checkCopyPath refuses a path vLLM could read as something else.
func checkCopyPath(p string) error {
	if !filepath.IsAbs(p) || strings.ContainsRune(p, 0) || filepath.Clean(p) != p || !utf8.ValidString(p) {
		// JSON flags carry it: it must be UTF-8 to mean the same there.
		return refuse("Copies", "give clean absolute UTF-8 paths", "%q is not a clean absolute UTF-8 path", p)
	}
	return nil
}

// copyEdits works out how to make vLLM load each artifact of copies
// (index in Artifacts → the local path to load instead) from there, every
// place the command line names it: MODEL in place when it is the
// positional (vLLM prefers it to --model), anything else by giving the
// flag again at the end (argparse keeps the last value, and the command
// line wins over --config). JSON flags are given again whole, with only
// the path changed. When MODEL moves, --served-model-name keeps the name
// clients know (what vLLM would have served: MODEL as written), unless
// the user gave one.
func (c *Command) copyEdits(copies map[int]string) (*copyEdits, error) {
	e := &copyEdits{replace: map[int]string{}}
	if len(copies) == 0 {
		return e, nil
	}
	var (
		model     string
		loraItems = slices.Clone(c.loraItems)
		loraMoved = map[int]bool{}
		mm        = c.mmLoRAs
		mtp       []string
	)
	for i, p := range copies {
		if i < 0 || i >= len(c.Artifacts) {
			return nil, refuse("Copies", "name artifacts by their index", "no artifact %d", i)
		}
		if err := checkCopyPath(p); err != nil {
			return nil, err
		}
		for _, r := range c.Artifacts[i].refs {
			switch r.kind {
			case refModel:
				model = p
			case refFlag:
				e.tail = append(e.tail, r.flag, p)
			case refSpecModel:
				e.spec = p
			case refMTP:
				mtp = append(mtp, p)
			case refLoRAItem:
				item, err := loraItemWithPath(loraItems[r.item].s, p)
				if err != nil {
					return nil, err
				}
				loraItems[r.item].s, loraMoved[r.item] = item, true
			case refMMLoRA:
				mm = mm.With(r.key, strictjson.NewString(p))
			}
		}
	}
	for _, p := range mtp {
		if p != model {
			// vLLM drafts with MODEL's own layers, from wherever MODEL is.
			return nil, refuse("--speculative-config", "serve MODEL and its MTP draft at one revision",
				"the MTP draft was verified apart from MODEL (another revision) and cannot be loaded from its own copy")
		}
	}
	if model != "" {
		if c.modelArg >= 0 {
			e.replace[c.modelArg] = model
		} else {
			e.tail = append(e.tail, "--model", model)
		}
		if c.ServedModelNames == nil {
			e.tail = append(e.tail, "--served-model-name", c.Model)
		}
	}
	c.moveLoRAItems(e, loraItems, loraMoved)
	if mm != c.mmLoRAs {
		e.tail = append(e.tail, "--default-mm-loras", string(strictjson.Encode(mm)))
	}
	return e, nil
}

// moveLoRAItems changes the moved items of the --lora-modules group: in
// place when the group is on the command line (a second group would be
// refused by modelgate's own reading), else by giving the whole group on
// the command line, which wins over the --config file's.
func (c *Command) moveLoRAItems(e *copyEdits, items []token, moved map[int]bool) {
	if len(moved) == 0 {
		return
	}
	inPlace := map[int]string{}
	for i := range moved {
		t := c.loraItems[i]
		if t.argv < 0 || !strings.HasSuffix(c.Argv[t.argv], t.s) {
			inPlace = nil // from the --config file
			break
		}
		// --lora-modules=ITEM is one argument holding the flag too.
		arg := c.Argv[t.argv]
		inPlace[t.argv] = arg[:len(arg)-len(t.s)] + items[i].s
	}
	if inPlace != nil {
		maps.Copy(e.replace, inPlace)
		return
	}
	e.tail = append(e.tail, "--lora-modules")
	for _, t := range items {
		e.tail = append(e.tail, t.s)
	}
}

// loraItemWithPath returns a --lora-modules item with its path replaced.
// An item NAME=PATH becomes the JSON form, which reads the same whatever
// the new path holds ("=" or "," would change how vLLM splits NAME=PATH).
func loraItemWithPath(item, path string) (string, error) {
	if strings.Contains(item, "=") && !strings.Contains(item, ",") {
		name, _, _ := strings.Cut(item, "=")
		if !utf8.ValidString(name) {
			// JSON holds only Unicode text: the name would reach vLLM changed.
			return "", refuse("--lora-modules", "name the adapter in UTF-8, or run without --pin-dir",
				"the adapter name %s is not valid UTF-8, so the item cannot be given to vLLM again in the JSON form with the verified copy's path", strconv.Quote(name))
		}
		obj := &strictjson.Value{Kind: strictjson.Object}
		obj = obj.With("name", strictjson.NewString(name)).With("path", strictjson.NewString(path))
		return string(strictjson.Encode(obj)), nil
	}
	obj, err := parseJSONObject(item, "--lora-modules", "", "an object")
	if err != nil {
		return "", fmt.Errorf("rewrite --lora-modules item: %w", err)
	}
	return string(strictjson.Encode(obj.With("path", strictjson.NewString(path)))), nil
}
