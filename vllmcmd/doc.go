// Package vllmcmd reads a vLLM command line the way vLLM reads it and says
// what vLLM will load: the model, its tokenizer and config, the speculative
// model, GGUF shards and projector files, LoRA adapters (spec vllm.md §2);
// which flags make vLLM load Python code; and how the environment must be
// hardened before vLLM is executed (§3).
//
// The package parses and classifies only. Deciding and verifying are the
// policy's job; `modelgate exec` wires the two together:
//
//	cmd, err := vllmcmd.Parse(argv, vllmcmd.Options{Dir: wd, Home: home})
//	// decide and verify every cmd.Artifacts[i] ...
//	env, err := vllmcmd.HardenEnv(os.Environ(), vllmcmd.EnvOptions{...})
//	args, err := cmd.Rewrite(vllmcmd.RewriteOptions{Pins: vllmcmd.Pins{Revision: commit}})
//	syscall.Exec(path, args, env.Environ)
//
// vLLM's command line is lenient: argparse accepts abbreviations, its
// FlexibleArgumentParser merges dotted keys into JSON flags, `--config=FILE`
// is silently ignored and a later `--lora-modules` group silently replaces
// an earlier one. Where a simple reading of the command line could differ
// from vLLM's, this package refuses instead of guessing. Every refusal is a
// *RefusedError that names the flag and says what to write instead.
//
// The rules were read from vLLM's source (vllm/utils/argparse_utils.py,
// vllm/entrypoints/openai/cli_args.py, vllm/engine/arg_utils.py,
// vllm/config/speculative.py, vllm/transformers_utils/gguf_utils.py,
// vllm/envs.py) and PyYAML's resolver, which vLLM's `--config` goes through.
package vllmcmd
