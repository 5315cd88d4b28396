package vllmcmd

import (
	"strings"
	"testing"
)

func TestSpeculatorsVerifier(t *testing.T) {
	for _, tc := range []struct{ json, want, err string }{
		{`{"architectures": ["LlamaForCausalLM"]}`, "", ""},
		{`{"speculators_config": null}`, "", ""},
		{`{"speculators_config": {"verifier": {"name_or_path": "meta-llama/Llama-3.1-8B"}}}`, "meta-llama/Llama-3.1-8B", ""},
		{`{"speculators_config": {"algorithm": "eagle3", "verifier": {"name_or_path": "../base", "architectures": []}}}`, "../base", ""},
		{`{"speculators_config": {}}`, "", "verifier"},
		{`{"speculators_config": {"verifier": {}}}`, "", "name_or_path"},
		{`{"speculators_config": {"verifier": {"name_or_path": 1}}}`, "", "name_or_path"},
		{`{"speculators_config": {"verifier": {"name_or_path": ""}}}`, "", "name_or_path"},
		{`{"speculators_config": {"verifier": {"name_or_path": "a", "name_or_path": "b"}}}`, "", "twice"},
		{`{"speculators_config": 1, "speculators_config": null}`, "", "twice"},
		{`[]`, "", "not an object"},
		{`{"x": NaN}`, "", "config.json"},
		{"", "", "empty"},
	} {
		got, err := SpeculatorsVerifier([]byte(tc.json))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want error %q", tc.json, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.json, got, err, tc.want)
		}
	}
	if _, err := speculatorsVerifier([]byte(`{"x": 1}`), 7); err == nil {
		t.Error("huge config.json")
	}
}
