package vllmcmd

import (
	"strings"
	"unicode"
)

// EnvOptions says how vLLM will run.
type EnvOptions struct {
	// BehindGate is `modelgate exec --listen`: clients reach vLLM only
	// through the gate, which decides every adapter before vLLM loads it.
	BehindGate bool
	// HasLoRASection is a policy with a "loras" section: LoRA adapters
	// must be decided.
	HasLoRASection bool
}

// Environment is the environment vLLM gets.
type Environment struct {
	// Environ is the hardened environment, in the input's order, with
	// changed variables in place and new ones at the end.
	Environ []string
	// RuntimeLoRAUpdating is VLLM_ALLOW_RUNTIME_LORA_UPDATING: the load
	// and unload routes (and LoRA resolvers) are live.
	RuntimeLoRAUpdating bool
	// Resolvers are the LoRA resolver plugins VLLM_PLUGINS enables
	// (lora_filesystem_resolver, lora_hf_hub_resolver).
	Resolvers []string
	// ResolverDir is VLLM_LORA_RESOLVER_CACHE_DIR, the folder the
	// filesystem resolver loads adapters from, when that resolver is on.
	ResolverDir string
	// APIKey is VLLM_API_KEY: the key vLLM's API requires when its command
	// line has no --api-key.
	APIKey string
}

// loraResolvers are the plugins that load adapters vLLM was not told
// about, by request (spec vllm.md §5).
var loraResolvers = map[string]bool{"lora_filesystem_resolver": true, "lora_hf_hub_resolver": true}

// transformersCacheVars are transformers' own cache variables (4.x,
// deprecated there but still read): its default cache_dir, which vLLM does
// not override when it loads a model's config and tokenizer, so they would
// come from another cache than the one huggingface_hub's variables name.
var transformersCacheVars = map[string]bool{
	"TRANSFORMERS_CACHE": true, "PYTORCH_TRANSFORMERS_CACHE": true, "PYTORCH_PRETRAINED_BERT_CACHE": true,
}

// HardenEnv checks the environment vLLM would get (os.Environ form) under
// spec vllm.md §3 and returns it hardened: HF_HUB_OFFLINE=1 and
// TRANSFORMERS_OFFLINE=1 (vLLM loads exactly the verified snapshot and
// downloads nothing) and VLLM_PLUGINS="" unless set (unset loads every
// installed plugin, LoRA resolvers included). Variables that redirect
// models or add code or routes are refused. The values are parsed as
// vllm/envs.py parses them.
func HardenEnv(environ []string, opt EnvOptions) (*Environment, error) {
	vars := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, refuse(kv, "remove it from the environment", "not a NAME=VALUE environment entry")
		}
		if _, dup := vars[name]; dup {
			return nil, refuse(name, "set it once", "set twice (C, Go and Python disagree on which one counts)")
		}
		vars[name] = value
	}
	e := &Environment{APIKey: vars["VLLM_API_KEY"]}
	for name := range vars {
		switch {
		case name == "VLLM_MODEL_REDIRECT_PATH":
			return nil, refuse(name, "unset it", "rewrites model names after modelgate has decided them")
		case name == "CUSTOM_SCRIPT_FILENAME" || name == "CUSTOM_PRE_PROCESS" || name == "CUSTOM_POST_PROCESS" ||
			strings.HasPrefix(name, "CUSTOM_FASTAPI_"):
			return nil, refuse(name, "unset it", "makes vLLM's SageMaker entry point load handlers from a file")
		case transformersCacheVars[name]:
			return nil, refuse(name, "unset it, and name the cache with HF_HUB_CACHE",
				"transformers would read the model's config and tokenizer from that folder, not from the Hugging Face cache modelgate verifies")
		}
	}
	if v, ok := vars["VLLM_USE_MODELSCOPE"]; ok && strings.ToLower(v) == "true" {
		return nil, refuse("VLLM_USE_MODELSCOPE", "unset it", "models from ModelScope are not supported yet")
	}
	if v, ok := vars["VLLM_SERVER_DEV_MODE"]; ok && !pyIntZero(v) {
		return nil, refuse("VLLM_SERVER_DEV_MODE", "unset it", "%q: dev mode adds routes that swap the model's weights", v)
	}
	if v, ok := vars["VLLM_SKIP_MODEL_NAME_VALIDATION"]; ok && opt.BehindGate && envTrue(v) {
		return nil, refuse("VLLM_SKIP_MODEL_NAME_VALIDATION", "unset it", "the gate relies on vLLM checking model names")
	}
	if v, ok := vars["VLLM_ALLOW_RUNTIME_LORA_UPDATING"]; ok && envTrue(v) {
		e.RuntimeLoRAUpdating = true
		if opt.HasLoRASection && !opt.BehindGate {
			return nil, refuse("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "run vLLM behind the gate (modelgate exec --listen) or unset it",
				"lets clients load LoRA adapters that the policy's loras section has not decided")
		}
	}
	if v, ok := vars["VLLM_PLUGINS"]; ok {
		// vLLM splits on "," and matches names exactly; trimming finds a
		// resolver even where vLLM would not load it.
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); loraResolvers[p] {
				e.Resolvers = append(e.Resolvers, p)
			}
		}
		if len(e.Resolvers) > 0 && !opt.BehindGate {
			return nil, refuse("VLLM_PLUGINS", "run vLLM behind the gate (modelgate exec --listen) or remove "+strings.Join(e.Resolvers, " and "),
				"%s load adapters by request, which only the gate can decide", strings.Join(e.Resolvers, " and "))
		}
		for _, p := range e.Resolvers {
			if p == "lora_filesystem_resolver" {
				e.ResolverDir = vars["VLLM_LORA_RESOLVER_CACHE_DIR"]
			}
		}
	}
	set := map[string]string{"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
	if _, ok := vars["VLLM_PLUGINS"]; !ok {
		set["VLLM_PLUGINS"] = ""
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if v, ok := set[name]; ok {
			kv = name + "=" + v
			delete(set, name)
		}
		e.Environ = append(e.Environ, kv)
	}
	for _, name := range []string{"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VLLM_PLUGINS"} {
		if v, ok := set[name]; ok {
			e.Environ = append(e.Environ, name+"="+v)
		}
	}
	return e, nil
}

// envTrue is vLLM's parsing of its boolean switches:
// os.getenv(NAME, "0").strip().lower() in ("1", "true").
func envTrue(v string) bool {
	v = strings.ToLower(strings.TrimFunc(v, pyIsSpace))
	return v == "1" || v == "true"
}

// pyIsSpace is Python's str.isspace, which str.strip() uses: Go's
// unicode.IsSpace plus the separators U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// pyIntZeroRE is a value int() reads as zero, in ASCII.
var pyIntZeroRE = lazyRegexp(`^[+-]?0+(?:_0+)*$`)

// pyIntZero reports whether bool(int(v)) is False for certain, as
// envs.py reads VLLM_SERVER_DEV_MODE. Anything else is on, or makes vLLM
// fail when it reads the variable.
func pyIntZero(v string) bool {
	return pyIntZeroRE().MatchString(strings.TrimFunc(v, pyIsSpace))
}
