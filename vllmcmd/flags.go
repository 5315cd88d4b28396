package vllmcmd

import (
	"sort"
	"strings"
)

// nargs is how many values argparse gives a flag.
type nargs uint8

const (
	argOne      nargs = iota // argparse's default: exactly one value
	argNone                  // store_true and BooleanOptionalAction
	argOptional              // nargs="?": the next value if there is one
	argMany                  // nargs="+": every value up to the next flag
)

// role is what a flag means to modelgate.
type role uint8

const (
	roleOther role = iota
	roleModel
	roleModelWeights
	roleTokenizer
	roleHFConfigPath
	roleGenerationConfig
	roleSpeculativeConfig
	roleSpecModel
	roleLoRAModules
	roleDefaultMMLoRAs
	roleRevision
	roleTokenizerRevision
	roleCodeRevision
	roleTrustRemoteCode
	roleLoadFormat
	roleModelLoaderExtraConfig
	roleToolParserPlugin
	roleReasoningParserPlugin
	roleMiddleware
	roleLogitsProcessors
	roleWorkerCls
	roleWorkerExtensionCls
	roleSchedulerCls
	roleIOProcessorPlugin
	roleKVTransferConfig
	roleECTransferConfig
	roleStructuredOutputsConfig
	roleOmni
	roleGRPC
	roleHeadless
	roleConfig
	roleHost
	rolePort
	roleUDS
	roleDownloadDir
	roleServedModelName
	roleRootPath
	roleEnableLoRA
	roleAPIKey
	roleSSLKeyfile
	roleSSLCertfile
)

// flagSpec is one option string vLLM's parser knows.
type flagSpec struct {
	name  string
	nargs nargs
	role  role
	// watched flags name artifacts, code or where vLLM listens: their
	// abbreviations and dotted forms are refused.
	watched bool
	// off marks the --no-X form of a BooleanOptionalAction flag.
	off bool
}

// watched lists the flags of spec vllm.md §1–§3 (and the listen flags of
// §5) with their argparse shape. boolOpt flags are BooleanOptionalAction in
// current vLLM and also have a --no- form.
var watched = []struct {
	name    string
	nargs   nargs
	role    role
	boolOpt bool
}{
	{"--model", argOne, roleModel, false},
	// --model-weights exists as a ModelConfig field in recent vLLM; treated
	// as an artifact flag in case a build exposes it.
	{"--model-weights", argOne, roleModelWeights, false},
	{"--tokenizer", argOne, roleTokenizer, false},
	{"--hf-config-path", argOne, roleHFConfigPath, false},
	{"--generation-config", argOne, roleGenerationConfig, false},
	{"--speculative-config", argOne, roleSpeculativeConfig, false},
	// Not in current vLLM (--speculative-model was removed in v0.8); read as
	// the speculative model should a build bring either back.
	{"--spec-model", argOne, roleSpecModel, false},
	{"--speculative-model", argOne, roleSpecModel, false},
	{"--lora-modules", argMany, roleLoRAModules, false},
	{"--default-mm-loras", argOne, roleDefaultMMLoRAs, false},
	{"--revision", argOne, roleRevision, false},
	{"--tokenizer-revision", argOne, roleTokenizerRevision, false},
	{"--code-revision", argOne, roleCodeRevision, false},
	{"--trust-remote-code", argNone, roleTrustRemoteCode, true},
	{"--load-format", argOne, roleLoadFormat, false},
	{"--model-loader-extra-config", argOne, roleModelLoaderExtraConfig, false},
	{"--tool-parser-plugin", argOne, roleToolParserPlugin, false},
	{"--reasoning-parser-plugin", argOne, roleReasoningParserPlugin, false},
	{"--middleware", argOne, roleMiddleware, false},
	{"--logits-processors", argMany, roleLogitsProcessors, false},
	{"--worker-cls", argOne, roleWorkerCls, false},
	{"--worker-extension-cls", argOne, roleWorkerExtensionCls, false},
	{"--scheduler-cls", argOne, roleSchedulerCls, false},
	{"--io-processor-plugin", argOne, roleIOProcessorPlugin, false},
	{"--kv-transfer-config", argOne, roleKVTransferConfig, false},
	{"--ec-transfer-config", argOne, roleECTransferConfig, false},
	{"--structured-outputs-config", argOne, roleStructuredOutputsConfig, false},
	{"--omni", argNone, roleOmni, false},
	{"--grpc", argNone, roleGRPC, false},
	{"--headless", argNone, roleHeadless, false},
	{"--config", argOne, roleConfig, false},
	{"--host", argOne, roleHost, false},
	{"--port", argOne, rolePort, false},
	{"--uds", argOne, roleUDS, false},
	{"--download-dir", argOne, roleDownloadDir, false},
	{"--served-model-name", argMany, roleServedModelName, false},
	{"--root-path", argOne, roleRootPath, false},
	{"--enable-lora", argNone, roleEnableLoRA, true},
	// The gate in front of vLLM (modelgate exec --listen) must speak to it
	// as vLLM serves: with its API keys, over plain HTTP.
	{"--api-key", argMany, roleAPIKey, false},
	{"--ssl-keyfile", argOne, roleSSLKeyfile, false},
	{"--ssl-certfile", argOne, roleSSLCertfile, false},
}

// The other flags of `vllm serve` (vLLM 0.11–0.2x, from arg_utils.py and
// cli_args.py), by shape. They only serve to tell a flag's values from a
// positional MODEL; a flag missing here is "unknown" and handled
// conservatively (see parse).
var (
	otherBoolOpt = strings.Fields(`
		--enforce-eager --disable-sliding-window --disable-cascade-attn
		--skip-tokenizer-init --enable-prompt-embeds --enable-sleep-mode
		--enable-return-routed-experts --allow-deprecated-quantization
		--data-parallel-hybrid-lb --data-parallel-external-lb
		--enable-expert-parallel --enable-elastic-ep --enable-dbo
		--disable-nccl-for-dp-synchronization --enable-eplb
		--eplb-log-balancedness --ray-workers-use-nsight
		--disable-custom-all-reduce --enable-prefix-caching
		--calculate-kv-scales --kv-sharing-fast-prefill --language-model-only
		--enable-mm-embeds --interleave-mm-strings --skip-mm-profiling
		--mm-encoder-only --enable-tower-connector-lora --fully-sharded-loras
		--specialize-active-lora --kv-cache-metrics --cudagraph-metrics
		--enable-layerwise-nvtx-tracing --enable-mfu-metrics
		--enable-logging-iteration-details --enable-mm-processor-stats
		--enable-chunked-prefill --disable-chunked-mm-input
		--disable-hybrid-kv-cache-manager --async-scheduling
		--enable-flashinfer-autotune --use-tqdm-on-load
		--fail-on-environ-validation
		--trust-request-chat-template --return-tokens-as-token-ids
		--enable-auto-tool-choice --exclude-tools-when-tool-choice-none
		--enable-prompt-tokens-details --enable-per-request-metrics
		--enable-server-load-tracking --enable-force-include-usage
		--enable-tokenizer-info-endpoint --enable-log-outputs
		--enable-log-deltas --cohere-is-reasoning-model --log-error-stack
		--tokens-only --disable-uvicorn-access-log --allow-credentials
		--enable-ssl-refresh --enable-request-id-headers
		--disable-fastapi-docs --enable-offline-docs
		--enable-flash-late-interaction`)
	otherNone = strings.Fields(`
		-h --help --disable-log-stats --aggregate-engine-logging
		--enable-multimodal-encoder-data-parallel
		--disable-mm-preprocessor-cache -ep -dph -dpe`)
	otherOptional = strings.Fields(`--hf-token`)
	otherMany     = strings.Fields(`
		--allowed-media-domains --cudagraph-capture-sizes
		--cuda-graph-sizes --collect-detailed-traces --ignore-patterns
		--cpu-offload-params --offload-params`)
	otherOne = strings.Fields(`
		--chat-template --chat-template-content-format
		--default-chat-template-kwargs --response-role --tool-call-parser
		--tool-server --log-config-file --max-log-len
		--sse-keep-alive-interval --cohere-format --fingerprint-mode
		--fingerprint-value --data-parallel-supervisor-port
		--dp-supervisor-probe-interval-s --dp-supervisor-probe-timeout-s
		--dp-supervisor-probe-failure-threshold --uvicorn-log-level
		--disable-access-log-for-endpoints --allowed-origins
		--allowed-methods --allowed-headers
		--ssl-ca-certs --ssl-cert-reqs --ssl-ciphers
		--h11-max-incomplete-event-size --h11-max-header-count
		--api-server-count -asc
		--runner --convert --task --tokenizer-mode --dtype --seed
		--allowed-local-media-path --rope-scaling --rope-theta
		--max-model-len --quantization -q --max-logprobs --logprobs-mode
		--config-format --hf-overrides --pooler-config
		--override-pooler-config --logits-processor-pattern
		--override-generation-config --model-impl --override-attention-dtype
		--safetensors-load-strategy --pt-load-map-location
		--attention-backend --reasoning-parser --guided-decoding-backend
		--guided-decoding-disable-fallback
		--guided-decoding-disable-any-whitespace
		--guided-decoding-disable-additional-properties
		--distributed-executor-backend --pipeline-parallel-size -pp
		--master-addr --master-port --nnodes -n --node-rank -r
		--distributed-timeout-seconds --tensor-parallel-size -tp
		--decode-context-parallel-size -dcp --dcp-comm-backend
		--dcp-kv-cache-interleave-size --cp-kv-cache-interleave-size
		--prefill-context-parallel-size -pcp --data-parallel-size -dp
		--data-parallel-rank -dpn --data-parallel-start-rank -dpr
		--data-parallel-size-local -dpl --data-parallel-address -dpa
		--data-parallel-rpc-port -dpp --data-parallel-backend -dpb
		--all2all-backend --ubatch-size --dbo-decode-token-threshold
		--dbo-prefill-token-threshold --eplb-config
		--expert-placement-strategy --num-redundant-experts
		--eplb-window-size --eplb-step-interval
		--max-parallel-loading-workers --block-size
		--gpu-memory-utilization --kv-cache-memory-bytes --swap-space
		--kv-cache-dtype --num-gpu-blocks-override --prefix-caching-hash-algo
		--cpu-offload-gb --mamba-cache-dtype --mamba-ssm-cache-dtype
		--mamba-block-size --mamba-cache-mode --kv-offloading-size
		--kv-offloading-backend --offload-backend --offload-group-size
		--offload-num-in-group --offload-prefetch-step --limit-mm-per-prompt
		--media-io-kwargs --mm-processor-kwargs --mm-processor-cache-gb
		--mm-processor-cache-type --mm-shm-cache-max-object-size-mb
		--mm-encoder-tp-mode --mm-encoder-attn-backend --video-pruning-rate
		--max-loras --max-lora-rank --lora-dtype --lora-extra-vocab-size
		--max-cpu-loras --show-hidden-metrics-for-version
		--otlp-traces-endpoint --kv-cache-metrics-sample
		--max-num-batched-tokens --max-num-seqs --max-num-partial-prefills
		--max-long-partial-prefills --long-prefill-token-threshold
		--num-lookahead-slots --scheduling-policy --stream-interval
		--max-cudagraph-capture-size --moe-backend --kv-events-config
		--compilation-config -cc -O --attention-config -ac --kernel-config
		--additional-config --profiler-config --optimization-level
		--performance-mode --weight-transfer-config --shutdown-timeout`)
)

var (
	known        map[string]*flagSpec // every option string above
	watchedNames []string             // sorted option strings of watched flags
)

func init() {
	known = make(map[string]*flagSpec)
	add := func(s *flagSpec) {
		if _, dup := known[s.name]; dup {
			panic("vllmcmd: flag listed twice: " + s.name)
		}
		known[s.name] = s
	}
	for _, w := range watched {
		add(&flagSpec{name: w.name, nargs: w.nargs, role: w.role, watched: true})
		if w.boolOpt {
			add(&flagSpec{name: "--no-" + w.name[2:], nargs: argNone, role: w.role, watched: true, off: true})
		}
	}
	for _, n := range otherBoolOpt {
		add(&flagSpec{name: n, nargs: argNone})
		add(&flagSpec{name: "--no-" + n[2:], nargs: argNone, off: true})
	}
	for _, list := range []struct {
		names []string
		n     nargs
	}{{otherNone, argNone}, {otherOptional, argOptional}, {otherMany, argMany}, {otherOne, argOne}} {
		for _, n := range list.names {
			add(&flagSpec{name: n, nargs: list.n})
		}
	}
	for name, s := range known {
		if s.watched {
			watchedNames = append(watchedNames, name)
		}
	}
	sort.Strings(watchedNames)
}

// abbreviated returns the watched flags that name is a strict prefix of:
// argparse would read name as an abbreviation of one of them.
func abbreviated(name string) []string {
	if len(name) < 3 || !strings.HasPrefix(name, "--") {
		return nil
	}
	var full []string
	for _, w := range watchedNames {
		if len(w) > len(name) && strings.HasPrefix(w, name) {
			full = append(full, w)
		}
	}
	return full
}

// watchedFlag returns the watched flag that name is or abbreviates, for
// dotted keys (--speculative-config.model) whose flag part is checked
// before argparse sees it.
func watchedFlag(name string) (string, bool) {
	if s, ok := known[name]; ok {
		return name, s.watched
	}
	if full := abbreviated(name); len(full) > 0 {
		return full[0], true
	}
	return "", false
}

// codeFlags are the flags that load Python code, by the name an operator
// gives to --allow-flag.
var codeFlags = map[string]bool{
	"--load-format": true, "--model-loader-extra-config": true,
	"--tool-parser-plugin": true, "--reasoning-parser-plugin": true,
	"--middleware": true, "--logits-processors": true, "--worker-cls": true,
	"--worker-extension-cls": true, "--scheduler-cls": true,
	"--io-processor-plugin": true, "--kv-transfer-config": true,
	"--ec-transfer-config": true,
}

// CodeFlagNames lists, sorted, the flag names --allow-flag accepts.
func CodeFlagNames() []string {
	names := make([]string, 0, len(codeFlags))
	for n := range codeFlags {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
