package vllmcmd

import (
	"strings"

	"github.com/modelgate/modelgate/internal/strictjson"
)

// codeLoadFormat reports whether a --load-format makes vLLM run or write
// code modelgate does not verify: tensorizer deserializes a module,
// npcache writes a NumPy cache next to the weights and reads it back.
func codeLoadFormat(f string) bool {
	f = strings.ToLower(f)
	return f == "tensorizer" || f == "npcache"
}

// tensorizerFields are TensorizerConfig's fields: vLLM moves them from
// --model-loader-extra-config into the tensorizer loader's config.
var tensorizerFields = map[string]bool{
	"tensorizer_uri": true, "tensorizer_dir": true, "vllm_tensorized": true,
	"verify_hash": true, "num_readers": true, "encryption_keyfile": true,
	"s3_access_key_id": true, "s3_secret_access_key": true, "s3_endpoint": true,
	"lora_dir": true, "stream_kwargs": true, "serialization_kwargs": true,
	"deserialization_kwargs": true, "tensorizer_args": true, "model_class": true,
	"hf_config": true, "dtype": true, "tensorizer_config": true,
}

// tensorizerKey returns the first tensorizer key of an object, or "".
func tensorizerKey(v *strictjson.Value) string {
	for _, m := range v.Members {
		if tensorizerFields[m.Key] || strings.HasPrefix(strings.ToLower(m.Key), "tensorizer") {
			return m.Key
		}
	}
	return ""
}

// modulePath returns the first "*_module_path" value set anywhere in v:
// KV and EC connectors import their class from it.
func modulePath(v *strictjson.Value) (key, value string) {
	for _, m := range v.Members {
		if strings.HasSuffix(strings.ToLower(m.Key), "_module_path") &&
			m.Value.Kind != strictjson.Null && !(m.Value.Kind == strictjson.String && m.Value.Str == "") {
			if m.Value.Kind == strictjson.String {
				return m.Key, m.Value.Str
			}
			return m.Key, m.Value.Kind.String()
		}
		if k, val := modulePath(m.Value); k != "" {
			return k, val
		}
	}
	for _, e := range v.Elems {
		if k, val := modulePath(e); k != "" {
			return k, val
		}
	}
	return "", ""
}

// readCodeFlags finds the flags that make vLLM import or run Python code
// (spec vllm.md §2) and refuses those the operator did not allow.
func (c *Command) readCodeFlags(v *values, allowed map[string]bool) error {
	add := func(flag, value string) { c.CodeFlags = append(c.CodeFlags, CodeFlag{Flag: flag, Value: value}) }
	if f, o := v.str(roleLoadFormat, false); o != nil && codeLoadFormat(f) {
		add("--load-format", f)
	}
	if text, o := v.str(roleModelLoaderExtraConfig, false); o != nil {
		obj, err := parseJSONObject(text, "--model-loader-extra-config", `write --model-loader-extra-config '{...}'`, "an object")
		if err != nil {
			return err
		}
		if k := tensorizerKey(obj); k != "" {
			add("--model-loader-extra-config", k)
		}
	}
	for _, f := range []struct {
		r        role
		flag     string
		optional bool
		unset    string
	}{
		{roleToolParserPlugin, "--tool-parser-plugin", false, ""},
		{roleReasoningParserPlugin, "--reasoning-parser-plugin", true, ""},
		{roleWorkerCls, "--worker-cls", false, "auto"},
		{roleWorkerExtensionCls, "--worker-extension-cls", false, ""},
		{roleSchedulerCls, "--scheduler-cls", true, ""},
		{roleIOProcessorPlugin, "--io-processor-plugin", true, ""},
	} {
		if s, o := v.str(f.r, f.optional); o != nil && s != f.unset {
			add(f.flag, s)
		}
	}
	for _, o := range v.all[roleMiddleware] {
		add("--middleware", o.vals[0].s)
	}
	if o, ok := v.last[roleLogitsProcessors]; ok {
		for _, t := range o.vals {
			if t.s != "" && t.s != "None" {
				add("--logits-processors", t.s)
			}
		}
	}
	for _, f := range []struct {
		r    role
		flag string
	}{{roleKVTransferConfig, "--kv-transfer-config"}, {roleECTransferConfig, "--ec-transfer-config"}} {
		text, o := v.str(f.r, true)
		if o == nil {
			continue
		}
		obj, err := parseJSONObject(text, f.flag, "write "+f.flag+" '{...}'", "an object")
		if err != nil {
			return err
		}
		if k, val := modulePath(obj); k != "" {
			add(f.flag, k+"="+val)
		}
	}
	if text, o := v.str(roleStructuredOutputsConfig, false); o != nil {
		obj, err := parseJSONObject(text, "--structured-outputs-config", "write --structured-outputs-config '{...}'", "an object")
		if err != nil {
			return err
		}
		if m := obj.Member("reasoning_parser_plugin"); m != nil && m.Value.Kind != strictjson.Null &&
			!(m.Value.Kind == strictjson.String && m.Value.Str == "") {
			add("--reasoning-parser-plugin", m.Value.Str)
		}
	}
	for _, f := range c.CodeFlags {
		if !allowed[f.Flag] {
			return refuse(f.Flag, "allow it with --allow-flag "+f.Flag+" if you trust that code",
				"makes vLLM load code modelgate does not verify (%q)", f.Value)
		}
	}
	return nil
}
