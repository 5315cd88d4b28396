#!/usr/bin/env bash
# bench/exec.sh — what does `modelgate exec` add before vLLM starts?
#
# The stand-in for vLLM is /bin/true linked as "vllm": it exits at its first
# instruction, so the wall time of a command that ends by exec'ing it is the
# time until vLLM would have started.
#
# Part 1 (start-up overhead, target: under 20 ms): with a policy whose rules
# all skip verification, the median wall time (and mean CPU time, user+sys,
# which other load on a shared machine disturbs less) of
#   (a) vllm serve MODEL ...                       the stand-in alone
#   (b) modelgate exec --security-policy P -- vllm serve MODEL ...
#   (c) modelgate --version                        modelgate's process start alone
# where the command line names a model by Hugging Face id (resolved in the
# example cache, examples/hf-cache), 8 LoRA adapters, a --config YAML file
# and a tokenizer folder. (b) - (a) is what modelgate adds; (c) - (a) is the
# part of it that is the Go runtime and package initialisation of the
# binary (mostly sigstore-go's dependency tree), before modelgate runs a
# line of its own; (b) - (c) is modelgate's own work: reading the policy,
# parsing, resolving, deciding, copying --config and the exec. `go test
# -bench Prepare ./launch` times that work in-process.
#
# Part 2 (a 2 GB model, target: within 10%): the model (2 x 1 GiB
# pseudo-random files and a config.json) signed with a throwaway P-256 key,
# and the median wall time of
#   (d) modelgate verify --security-policy P --model MODEL
#   (e) modelgate exec --security-policy P -- vllm serve MODEL
# with a warm page cache and --no-cache (the hash cache would answer both
# without reading the model; bench/throughput.sh --only-cache measures
# that); (e) / (d) should be at most 1.10.
#
# Medians come from hyperfine when it is installed (apt install hyperfine),
# else from a loop timing each run with date +%s%N. The machine this was
# written on has 2 cores shared with other work: run it when the machine is
# quiet, and read single numbers with suspicion.
#
# Usage: bench/exec.sh [--dir DIR] [--runs N] [--skip-big] [--clean]
#   --dir DIR    work directory (default /tmp/modelgate-bench-exec, or $BENCH_DIR);
#                the 2 GB model is kept there and reused
#   --runs N     timed runs per command (default 30 for part 1, 5 for part 2)
#   --skip-big   run part 1 only
#   --clean      delete the work directory afterwards
# Needs: go, openssl, GNU coreutils, awk; 2 GB of disk and as much free RAM.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/modelgate-bench-exec}
RUNS_SMALL=${RUNS_SMALL:-30}
RUNS_BIG=${RUNS_BIG:-5}
big=1 clean=0

die() { echo "exec.sh: $*" >&2; exit 2; }

while (($#)); do
	case $1 in
	--dir) BENCH_DIR=${2:?--dir needs a value}; shift ;;
	--runs) RUNS_SMALL=${2:?--runs needs a value}; RUNS_BIG=$2; shift ;;
	--skip-big) big=0 ;;
	--clean) clean=1 ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
setup_exec_bench

# median_ms RUNS CMD... prints the median wall time of CMD in ms and, with
# hyperfine, the mean CPU time (user+sys) in ms ("-" without).
median_ms() {
	local runs=$1
	shift
	if command -v hyperfine >/dev/null; then
		local csv
		csv=$(mktemp)
		hyperfine --shell=none --style none --warmup 3 --runs "$runs" --export-csv "$csv" -- "$(printf '%q ' "$@")" >/dev/null 2>&1
		awk -F, 'NR==2 {printf "%.2f %.2f", $4 * 1000, ($5 + $6) * 1000}' "$csv"
		rm -f "$csv"
		return
	fi
	local i t0 t1 times=()
	for ((i = 0; i < 3; i++)); do "$@" >/dev/null 2>&1; done
	for ((i = 0; i < runs; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f -", m / 1000}'
}

# row LABEL "WALL CPU" prints one result line.
row() {
	local wall cpu
	read -r wall cpu <<<"$2"
	printf '  %-34s %9.2f ms wall   %9s ms CPU\n' "$1" "$wall" "$cpu"
}

# diff_row LABEL "WALL CPU" "WALL CPU" prints the difference of two results.
diff_row() {
	awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {split(a, x, " "); split(b, y, " ");
		c = (x[2] == "-" || y[2] == "-") ? "-" : sprintf("%.2f", x[2] - y[2]);
		printf "  %-34s %9.2f ms wall   %9s ms CPU\n", l, x[1] - y[1], c}'
}

# ---- Part 1: start-up overhead with a skip policy ----
small=$BENCH_DIR/small
rm -rf "$small"
mkdir -p "$small/tokenizer"
echo '{"version": "1.0"}' >"$small/tokenizer/tokenizer.json"
lora_args=()
for i in 1 2 3 4 5 6 7 8; do
	mkdir -p "$small/adapters/a$i"
	echo '{"peft_type": "LORA"}' >"$small/adapters/a$i/adapter_config.json"
	lora_args+=("a$i=$small/adapters/a$i")
done
printf 'enable-lora: true\nmax-model-len: 4096\nserved-model-name: tiny\n' >"$small/serve.yaml"
cat >"$small/skip.json" <<'JSON'
{"policy": {"signatures": {"signers": {"none": {"verification_method": "skip"}},
  "models": {"regex:.*": {"signer": "none"}},
  "loras": {"regex:.*": {"signer": "none"}}}}}
JSON
export HF_HUB_CACHE=$repo/examples/hf-cache
# exec leaves a private copy of --config for vLLM in XDG_RUNTIME_DIR (see
# docs/vllm.md): keep the bench's copies in its own folder.
export XDG_RUNTIME_DIR=$BENCH_DIR/run
rm -rf "$XDG_RUNTIME_DIR"
mkdir -m 700 "$XDG_RUNTIME_DIR"
vllm_cmd=(vllm serve example-org/tiny-model --tokenizer "$small/tokenizer" --config "$small/serve.yaml" --lora-modules "${lora_args[@]}")
"$mg" exec --security-policy "$small/skip.json" -- "${vllm_cmd[@]}" >/dev/null 2>&1 || die "modelgate exec failed on the part 1 command line"

echo "part 1: skip policy, hub id + tokenizer + 8 adapters + --config, $RUNS_SMALL runs (load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))"
alone=$(median_ms "$RUNS_SMALL" "${vllm_cmd[@]}")
gated=$(median_ms "$RUNS_SMALL" "$mg" --log-level error exec --security-policy "$small/skip.json" -- "${vllm_cmd[@]}")
version=$(median_ms "$RUNS_SMALL" "$mg" --version)
row "(a) vllm stand-in alone" "$alone"
row "(b) under modelgate exec" "$gated"
row "(c) modelgate --version" "$version"
diff_row "added by modelgate (b - a)" "$gated" "$alone"
diff_row "  process start (c - a)" "$version" "$alone"
diff_row "  modelgate's own work (b - c)" "$gated" "$version"
echo "  (target: added < 20 ms)"
rm -rf "$small" "$XDG_RUNTIME_DIR"

((big)) || exit 0

# ---- Part 2: a 2 GB model, exec vs verify ----
model=$BENCH_DIR/model-2g
if [[ ! -f $model/model.sig ]]; then
	rm -rf "$model"
	mkdir -p "$model"
	for i in 1 2; do head -c 1073741824 /dev/urandom >"$model/model-0000$i-of-00002.safetensors"; done
	echo '{"model_type": "llama"}' >"$model/config.json"
	openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$BENCH_DIR/key.pem"
	openssl ec -in "$BENCH_DIR/key.pem" -pubout -out "$BENCH_DIR/pub.pem" 2>/dev/null
	"$mg" --quiet sign key --private-key "$BENCH_DIR/key.pem" "$model"
fi
cat >"$BENCH_DIR/key.json" <<JSON
{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": "$BENCH_DIR/pub.pem"}},
  "models": {"$model": {"signer": "k"}}}}}
JSON
"$mg" --quiet verify --security-policy "$BENCH_DIR/key.json" --model "$model" || die "the 2 GB model does not verify"

echo "part 2: 2 GB model (2 x 1 GiB), key signature, warm page cache, no hash cache, median of $RUNS_BIG"
verify=$(median_ms "$RUNS_BIG" "$mg" --quiet verify --no-cache --security-policy "$BENCH_DIR/key.json" --model "$model")
execd=$(median_ms "$RUNS_BIG" "$mg" --quiet exec --no-cache --security-policy "$BENCH_DIR/key.json" -- vllm serve "$model")
row "(d) modelgate verify" "$verify"
row "(e) modelgate exec" "$execd"
awk -v e="$execd" -v v="$verify" 'BEGIN {split(e, x, " "); split(v, y, " ");
	printf "  exec / verify: %.3f wall", x[1] / y[1]; if (x[2] != "-") printf ", %.3f CPU", x[2] / y[2]; print " (target <= 1.10)"}'
