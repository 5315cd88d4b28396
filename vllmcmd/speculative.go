package vllmcmd

import (
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// specConfig is --speculative-config as vLLM's SpeculativeConfig reads it.
type specConfig struct {
	obj                                   *strictjson.Value
	model, method, revision, codeRevision *string // nil: absent or null
	drafts                                *strictjson.Value
}

// specKeys are the keys read here: a case variant of one is refused, so
// that no reader can take "Model" for "model".
var specKeys = []string{"model", "method", "revision", "code_revision", "draft_load_config"}

// specSentinels are speculative "models" that read nothing (spec vllm.md
// §2): n-gram lookup, suffix decoding, hidden-state extraction.
var specSentinels = map[string]bool{
	"ngram": true, "[ngram]": true, "ngram_gpu": true, "suffix": true, "extract_hidden_states": true,
}

// isMTP reports whether vLLM reads method as "mtp": the multi-token
// prediction layers of MODEL itself (MTPModelTypes are all "*_mtp").
func isMTP(method string) bool {
	return method == "mtp" || strings.HasSuffix(method, "_mtp")
}

const specHint = `write --speculative-config '{"model": "PATH OR org/name", "num_speculative_tokens": N}'`

// parseSpeculative reads the JSON of --speculative-config. "" and "None"
// mean no speculative decoding (vLLM's optional_type).
func parseSpeculative(text string) (*specConfig, error) {
	obj, err := parseJSONObject(text, "--speculative-config", specHint, "an object")
	if err != nil {
		return nil, err
	}
	sc := &specConfig{obj: obj}
	for _, m := range obj.Members {
		for _, k := range specKeys {
			if m.Key != k && strings.EqualFold(m.Key, k) {
				return nil, refuse("--speculative-config", specHint+` (keys are lower case)`, "key %q is not %q", m.Key, k)
			}
		}
		var dst **string
		switch m.Key {
		case "model":
			dst = &sc.model
		case "method":
			dst = &sc.method
		case "revision":
			dst = &sc.revision
		case "code_revision":
			dst = &sc.codeRevision
		case "draft_load_config":
			if m.Value.Kind != strictjson.Null {
				sc.drafts = m.Value
			}
			continue
		default:
			continue
		}
		switch m.Value.Kind {
		case strictjson.Null:
		case strictjson.String:
			s := m.Value.Str
			*dst = &s
		default:
			return nil, refuse("--speculative-config", specHint, "%q must be a string, not %s", m.Key, m.Value.Kind)
		}
	}
	if sc.codeRevision != nil && (sc.revision == nil || *sc.codeRevision != *sc.revision) {
		return nil, refuse("--speculative-config", `remove "code_revision" (the code then comes from the verified "revision")`,
			"code_revision %q differs from revision %q", *sc.codeRevision, deref(sc.revision))
	}
	return sc, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// readSpeculative resolves the speculative model: the JSON "model" (or
// --spec-model), MODEL itself for method "mtp" without a model, nothing
// for the sentinels. A value that names a Python class is refused.
func (c *Command) readSpeculative(v *values, r *resolver, model Artifact) error {
	text, o := v.str(roleSpeculativeConfig, true)
	specModel, so := v.str(roleSpecModel, false)
	c.Speculative = o != nil || so != nil
	var sc *specConfig
	if o != nil {
		var err error
		if sc, err = parseSpeculative(text); err != nil {
			return err
		}
		c.speculator = sc
		if err := c.readDraftLoadConfig(sc); err != nil {
			return err
		}
	}
	a := Artifact{Kind: KindModel, Source: "--speculative-config.model", Weights: true, refs: []argRef{{kind: refSpecModel}}}
	switch {
	case so != nil && sc != nil && sc.model != nil:
		return refuse(so.name, "name the speculative model once, in --speculative-config", "also given as --speculative-config's \"model\"")
	case so != nil:
		a.Source, a.Value = so.name, specModel
		a.refs = []argRef{{kind: refFlag, flag: so.name}}
	case sc == nil:
		return nil
	case sc.model == nil:
		if sc.method == nil || !isMTP(*sc.method) {
			return nil // a sentinel method, or vLLM fails without a model
		}
		// MTP drafts with MODEL's own layers, at the speculative revision.
		a.Source += " (mtp: MODEL)"
		a.Value, a.Revision, a.RevisionFlag = c.Model, deref(sc.revision), PinSpeculativeRevision
		a.refs = []argRef{{kind: refMTP}}
		b, err := r.model(a, true)
		if err == nil {
			c.add(b)
		}
		return err
	default:
		a.Value = *sc.model
		if sc.method != nil && specSentinels[*sc.method] && !specSentinels[a.Value] {
			return refuse("--speculative-config", `remove "model"`,
				"method %q reads no model, yet \"model\" is %q (what vLLM does with it differs between versions)", *sc.method, a.Value)
		}
		a.Revision, a.RevisionFlag = deref(sc.revision), PinSpeculativeRevision
	}
	if specSentinels[a.Value] {
		return nil
	}
	if strings.Contains(a.Value, ".") && !strings.Contains(a.Value, "/") && !uriRE().MatchString(a.Value) {
		return refuse(a.Source, "write ./"+a.Value+" for a folder here",
			"%q names a Python class, which modelgate cannot verify", a.Value)
	}
	b, err := r.model(a, true)
	if err != nil {
		return err
	}
	c.add(b)
	return nil
}

// readDraftLoadConfig checks the draft model's own load config, which can
// select a code-loading format like the main --load-format.
func (c *Command) readDraftLoadConfig(sc *specConfig) error {
	d := sc.drafts
	if d == nil {
		return nil
	}
	if d.Kind != strictjson.Object {
		return refuse("--speculative-config", specHint, "draft_load_config must be an object, not %s", d.Kind)
	}
	for _, m := range d.Members {
		switch m.Key {
		case "load_format":
			if m.Value.Kind == strictjson.String && codeLoadFormat(m.Value.Str) {
				c.CodeFlags = append(c.CodeFlags, CodeFlag{Flag: "--load-format", Value: m.Value.Str})
			}
		case "model_loader_extra_config":
			if k := tensorizerKey(m.Value); k != "" {
				c.CodeFlags = append(c.CodeFlags, CodeFlag{Flag: "--model-loader-extra-config", Value: k})
			}
		case "download_dir":
			if m.Value.Kind != strictjson.Null {
				return refuse("--speculative-config", `remove draft_load_config's "download_dir"`,
					"a separate download folder for the draft model is not supported")
			}
		}
	}
	return nil
}
