package vllmcmd

import (
	"fmt"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// MaxConfigJSON bounds a model's config.json for SpeculatorsVerifier:
// real ones are kilobytes; the largest (label maps) a few megabytes.
const MaxConfigJSON = 64 << 20

// SpeculatorsVerifier reads a model's config.json and returns
// speculators_config.verifier.name_or_path, or "" when the model is not a
// speculators model. vLLM then serves that verifier as the model (with
// the same --revision, --trust-remote-code) and MODEL as its speculative
// model, so the verifier must be decided and verified too (spec vllm.md
// §2). A null speculators_config counts as absent, as in vLLM; anything
// malformed, repeated keys or JSON that Python and Go could read
// differently is an error.
func SpeculatorsVerifier(configJSON []byte) (string, error) {
	return speculatorsVerifier(configJSON, MaxConfigJSON)
}

func speculatorsVerifier(configJSON []byte, limit int) (string, error) {
	if len(configJSON) > limit {
		return "", fmt.Errorf("config.json: larger than %d bytes", limit)
	}
	v, err := strictjson.Parse(configJSON)
	if err != nil {
		return "", fmt.Errorf("config.json: %w", err)
	}
	if v.Kind != strictjson.Object {
		return "", fmt.Errorf("config.json: %s, not an object", v.Kind)
	}
	if m := v.RepeatedKey(); m != nil {
		return "", fmt.Errorf("config.json: key %q appears twice", m.Key)
	}
	sc := v.Member("speculators_config")
	if sc == nil || sc.Value.Kind == strictjson.Null {
		return "", nil
	}
	verifier := sc.Value.Member("verifier")
	if verifier == nil || verifier.Value.Kind != strictjson.Object {
		return "", fmt.Errorf("config.json: speculators_config.verifier is missing or not an object (vLLM fails on it)")
	}
	name := verifier.Value.Member("name_or_path")
	if name == nil || name.Value.Kind != strictjson.String || name.Value.Str == "" {
		return "", fmt.Errorf("config.json: speculators_config.verifier.name_or_path is missing or not a string (vLLM fails on it)")
	}
	return name.Value.Str, nil
}

// SpeculatorsSource is the Artifact.Source of a speculators model's
// verifier (see VerifierArtifact).
const SpeculatorsSource = "MODEL's config.json speculators_config.verifier"

// VerifierArtifact returns the artifact vLLM serves in place of MODEL when
// MODEL's config.json names verifier (see SpeculatorsVerifier): resolved
// as MODEL is (an existing path, else a Hugging Face id), at --revision,
// which pins it, with opt's directory and home. MODEL itself becomes the
// speculative draft and inherits --trust-remote-code, so a verifier that
// is a single GGUF file is refused with --trust-remote-code, as MODEL is.
func (c *Command) VerifierArtifact(verifier string, opt Options) (Artifact, error) {
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	r := &resolver{opt: &opt}
	a, err := r.model(Artifact{Kind: KindModel, Source: SpeculatorsSource, Value: verifier,
		Revision: c.Revision, RevisionFlag: PinRevision, Weights: true}, true)
	if err != nil {
		return a, err
	}
	a.setPinFlags()
	if c.TrustRemoteCode && len(a.GGUFFiles) > 0 {
		return a, refuse("--trust-remote-code", "serve a signed model folder as the verifier instead of a single GGUF file",
			"the speculators verifier %q is a GGUF file: vLLM would run Python files from its folder, which is not what is verified", verifier)
	}
	return a, nil
}
