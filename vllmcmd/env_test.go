package vllmcmd

import (
	"reflect"
	"strings"
	"testing"
)

// TestHardenEnv: spec §3, row by row.
func TestHardenEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/home/u"}
	with := func(kv ...string) []string { return append(append([]string(nil), base...), kv...) }
	t.Run("offline and no plugins", func(t *testing.T) {
		e, err := HardenEnv(with("HF_HUB_OFFLINE=0", "X=1"), EnvOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"PATH=/usr/bin", "HOME=/home/u", "HF_HUB_OFFLINE=1", "X=1", "TRANSFORMERS_OFFLINE=1", "VLLM_PLUGINS="}
		if !reflect.DeepEqual(e.Environ, want) {
			t.Fatalf("\n got %q\nwant %q", e.Environ, want)
		}
	})
	t.Run("given plugins are kept", func(t *testing.T) {
		e, err := HardenEnv(with("VLLM_PLUGINS=my_platform"), EnvOptions{})
		if err != nil || !contains(e.Environ, "VLLM_PLUGINS=my_platform") || contains(e.Environ, "VLLM_PLUGINS=") {
			t.Fatalf("%v %q", err, e.Environ)
		}
	})
	for _, tc := range []struct {
		name string
		kv   string
		opt  EnvOptions
		flag string
	}{
		{"redirect", "VLLM_MODEL_REDIRECT_PATH=/etc/redirect.json", EnvOptions{}, "VLLM_MODEL_REDIRECT_PATH"},
		{"redirect empty", "VLLM_MODEL_REDIRECT_PATH=", EnvOptions{}, "VLLM_MODEL_REDIRECT_PATH"},
		{"modelscope", "VLLM_USE_MODELSCOPE=true", EnvOptions{}, "VLLM_USE_MODELSCOPE"},
		{"modelscope any case", "VLLM_USE_MODELSCOPE=TrUe", EnvOptions{}, "VLLM_USE_MODELSCOPE"},
		{"dev mode", "VLLM_SERVER_DEV_MODE=1", EnvOptions{}, "VLLM_SERVER_DEV_MODE"},
		{"dev mode 2", "VLLM_SERVER_DEV_MODE= +2 ", EnvOptions{}, "VLLM_SERVER_DEV_MODE"},
		{"dev mode not a number", "VLLM_SERVER_DEV_MODE=yes", EnvOptions{}, "VLLM_SERVER_DEV_MODE"},
		{"dev mode empty", "VLLM_SERVER_DEV_MODE=", EnvOptions{}, "VLLM_SERVER_DEV_MODE"},
		{"filesystem resolver", "VLLM_PLUGINS=lora_filesystem_resolver", EnvOptions{}, "VLLM_PLUGINS"},
		{"hub resolver in a list", "VLLM_PLUGINS=a, lora_hf_hub_resolver", EnvOptions{}, "VLLM_PLUGINS"},
		{"runtime updating", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1", EnvOptions{HasLoRASection: true}, "VLLM_ALLOW_RUNTIME_LORA_UPDATING"},
		{"runtime updating True", "VLLM_ALLOW_RUNTIME_LORA_UPDATING= True\t", EnvOptions{HasLoRASection: true}, "VLLM_ALLOW_RUNTIME_LORA_UPDATING"},
		{"runtime updating \\x1f", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=\x1ftrue", EnvOptions{HasLoRASection: true}, "VLLM_ALLOW_RUNTIME_LORA_UPDATING"},
		{"sagemaker script", "CUSTOM_SCRIPT_FILENAME=/x.py", EnvOptions{}, "CUSTOM_SCRIPT_FILENAME"},
		{"sagemaker fastapi", "CUSTOM_FASTAPI_PING_HANDLER=h", EnvOptions{}, "CUSTOM_FASTAPI_PING_HANDLER"},
		{"sagemaker pre", "CUSTOM_PRE_PROCESS=p", EnvOptions{}, "CUSTOM_PRE_PROCESS"},
		{"sagemaker post", "CUSTOM_POST_PROCESS=p", EnvOptions{}, "CUSTOM_POST_PROCESS"},
		{"skip name validation behind the gate", "VLLM_SKIP_MODEL_NAME_VALIDATION=true", EnvOptions{BehindGate: true}, "VLLM_SKIP_MODEL_NAME_VALIDATION"},
		{"transformers cache", "TRANSFORMERS_CACHE=/other", EnvOptions{}, "TRANSFORMERS_CACHE"},
		{"transformers cache empty", "TRANSFORMERS_CACHE=", EnvOptions{}, "TRANSFORMERS_CACHE"},
		{"pytorch transformers cache", "PYTORCH_TRANSFORMERS_CACHE=/other", EnvOptions{}, "PYTORCH_TRANSFORMERS_CACHE"},
		{"pytorch bert cache", "PYTORCH_PRETRAINED_BERT_CACHE=/other", EnvOptions{}, "PYTORCH_PRETRAINED_BERT_CACHE"},
		{"duplicate", "PATH=/evil", EnvOptions{}, "PATH"},
		{"no =", "JUNK", EnvOptions{}, "JUNK"},
		{"empty name", "=1", EnvOptions{}, "=1"},
	} {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			e, err := HardenEnv(with(tc.kv), tc.opt)
			re, ok := err.(*RefusedError)
			if !ok || re.Flag != tc.flag || re.Hint == "" {
				t.Fatalf("%v %v", e, err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		kv   string
		opt  EnvOptions
	}{
		{"modelscope false", "VLLM_USE_MODELSCOPE=false", EnvOptions{}},
		{"modelscope 1 is not true", "VLLM_USE_MODELSCOPE=1", EnvOptions{}},
		{"dev mode 0", "VLLM_SERVER_DEV_MODE=0", EnvOptions{}},
		{"dev mode -0_0", "VLLM_SERVER_DEV_MODE= -0_0\n", EnvOptions{}},
		{"resolver behind the gate", "VLLM_PLUGINS=lora_filesystem_resolver", EnvOptions{BehindGate: true}},
		{"runtime updating behind the gate", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1", EnvOptions{HasLoRASection: true, BehindGate: true}},
		{"runtime updating without a loras section", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1", EnvOptions{}},
		{"runtime updating off", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=yes", EnvOptions{HasLoRASection: true}},
		{"skip name validation without the gate", "VLLM_SKIP_MODEL_NAME_VALIDATION=1", EnvOptions{}},
		{"skip name validation off", "VLLM_SKIP_MODEL_NAME_VALIDATION=0", EnvOptions{BehindGate: true}},
		{"other custom", "CUSTOM_THING=1", EnvOptions{}},
		{"odd name", "A-B=1", EnvOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := HardenEnv(with(tc.kv), tc.opt); err != nil {
				t.Fatal(err)
			}
		})
	}
	e, err := HardenEnv(with("VLLM_PLUGINS=lora_filesystem_resolver,x", "VLLM_LORA_RESOLVER_CACHE_DIR=/loras",
		"VLLM_ALLOW_RUNTIME_LORA_UPDATING=TRUE"), EnvOptions{BehindGate: true, HasLoRASection: true})
	if err != nil || e.ResolverDir != "/loras" || !e.RuntimeLoRAUpdating || !reflect.DeepEqual(e.Resolvers, []string{"lora_filesystem_resolver"}) {
		t.Fatalf("%v %+v", err, e)
	}
	if _, err := HardenEnv(with("VLLM_MODEL_REDIRECT_PATH=x"), EnvOptions{}); !strings.HasPrefix(err.Error(), "VLLM_MODEL_REDIRECT_PATH: ") {
		t.Fatalf("message %q", err)
	}
}
