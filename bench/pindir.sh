#!/usr/bin/env bash
# bench/pindir.sh — what does `--pin-dir` (verified copies) cost?
#
# Issue 10's target: on a file system without reflinks, making the copy
# costs no more than 1.6x an uncached verify of the same model (one read,
# one write). For a model of PIN_COUNT (4) files of PIN_SIZE (512 MiB)
# pseudo-random bytes, 2 GiB in all, signed with a throwaway P-256 key,
# this reports the median of RUNS wall and CPU times (user+sys, which
# other load on a shared machine disturbs less) of
#   (a) modelgate verify --security-policy P --model MODEL --no-cache
#   (b) modelgate exec   --security-policy P --no-cache --pin-dir PINS -- vllm serve MODEL
#       with PINS emptied before each run: the copy is made while verifying
#   (c) the same exec with the copy in place and --no-cache: the copy is
#       re-checked by reading it (a warm hash cache makes this a walk)
# and the ratio b/a, twice: with the model in the page cache (hashing is
# then the whole cost of (a), the worst case for the ratio) and with the
# model's pages dropped before each run (dd iflag=nocache, only the
# model's files: (a) then reads the disk too). Runs of (a), (b) and (c)
# alternate, so that drifting load on the machine hits them alike; every
# run starts after `sync`, so that no write-back of the previous run's copy
# is billed to the next.
#
# The stand-in for vLLM is /bin/true linked as "vllm": exec ends by
# running it, so exec's wall time is the time until vLLM would start. A
# copy is not synced when it is made (see docs/policy.md, "Known limit"):
# the write to disk happens after the decision, in the kernel's
# write-back, and is not in these times; the first re-check (c) syncs it.
#
# The file system of --dir is printed (stat -f) with whether it makes
# reflinks, which would make (b) cost about (a).
#
# Page-cache cost: writing the copy puts 2 GB of new pages in the page
# cache. On a VM that hands free guest memory back to its host (free page
# reporting, ballooning), touching pages that went back costs a host
# fault each: on the machine this was written on, the same 2 GB `dd` took
# 0.5 s of system time into pages just freed and 4.5 s into pages long
# free. Each copy (b) is therefore made right after the previous one is
# removed, into the pages it freed, as a server that replaces copies
# would; the first run of each mode may still pay the faults, which is
# why medians are reported and every run's wall time is printed.
#
# Usage: bench/pindir.sh [--dir DIR] [--runs N] [--warm-only] [--clean]
#   --dir DIR     work directory (default /tmp/modelgate-bench-pindir, or
#                 $BENCH_DIR); the model is kept there and reused
#   --runs N      timed runs per contestant and page-cache mode (default 5)
#   --warm-only   skip the runs with the model's pages dropped
#   --clean       delete the work directory afterwards
# Needs: go, openssl, GNU coreutils (dd iflag=nocache, stat -f), GNU time
# (/usr/bin/time) for CPU times, awk; 4.5 GB of disk (model + copy) and as
# much free RAM for the page cache.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/modelgate-bench-pindir}
RUNS=${RUNS:-5}
PIN_COUNT=${PIN_COUNT:-4}
PIN_SIZE=${PIN_SIZE:-536870912}
cold=1 clean=0

die() { echo "pindir.sh: $*" >&2; exit 2; }

while (($#)); do
	case $1 in
	--dir) BENCH_DIR=${2:?--dir needs a value}; shift ;;
	--runs) RUNS=${2:?--runs needs a value}; shift ;;
	--warm-only) cold=0 ;;
	--clean) clean=1 ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
[[ -x /usr/bin/time ]] || die "needs GNU time at /usr/bin/time (apt install time)"

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
setup_exec_bench

model=$BENCH_DIR/model
if [[ ! -f $model/model.sig || $(find "$model" -name 'part*.bin' | wc -l) -ne $PIN_COUNT ]]; then
	rm -rf "$model"
	mkdir -p "$model"
	for ((i = 1; i <= PIN_COUNT; i++)); do
		# AES-CTR of zeros: pseudo-random, and far faster than /dev/urandom.
		{ openssl enc -aes-128-ctr -pass "pass:$i" -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } | head -c "$PIN_SIZE" >"$model/part$i.bin"
	done
	echo '{"model_type": "llama"}' >"$model/config.json"
	openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$BENCH_DIR/key.pem"
	openssl ec -in "$BENCH_DIR/key.pem" -pubout -out "$BENCH_DIR/pub.pem" 2>/dev/null
	"$mg" --quiet sign key --private-key "$BENCH_DIR/key.pem" "$model"
fi
policy=$BENCH_DIR/policy.json
cat >"$policy" <<JSON
{"policy": {"signatures": {"signers": {"k": {"verification_method": "key", "public_key": "$BENCH_DIR/pub.pem"}},
  "models": {"$model": {"signer": "k"}}}}}
JSON
pins=$BENCH_DIR/pins
"$mg" --quiet verify --no-cache --security-policy "$policy" --model "$model" || die "the model does not verify"

fstype=$(stat -f -c %T "$BENCH_DIR")
case $fstype in
btrfs | xfs) reflink="reflinks likely (xfs: if made with reflink=1)" ;;
*) reflink="no reflinks: the copy is written" ;;
esac

verify=("$mg" --quiet verify --no-cache --security-policy "$policy" --model "$model")
pinned=("$mg" --quiet exec --no-cache --pin-dir "$pins" --security-policy "$policy" -- vllm serve "$model")

# timed CMD... runs CMD once and prints "WALL_S CPU_S".
timed() {
	/usr/bin/time -o "$BENCH_DIR/time.out" -f '%e %U %S' "$@" >/dev/null 2>&1 || die "failed: $*"
	awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$BENCH_DIR/time.out"
}

# drop_model drops the model's pages from the page cache.
drop_model() {
	local f
	for f in "$model"/*; do dd if="$f" iflag=nocache count=0 status=none; done
}

# remove_pins removes the copies (their folders are read-only).
remove_pins() {
	[[ -d $pins ]] || return 0
	chmod -R u+w "$pins"
	rm -rf "$pins"
}

# median prints the median of the numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# measure MODE runs the three contestants RUNS times each, interleaved.
measure() {
	local mode=$1 i
	local -a va=() vb=() vc=()
	"${verify[@]}" # warm up the binary (and, in mode warm, the model's pages)
	for ((i = 0; i < RUNS; i++)); do
		sync
		[[ $mode == cold ]] && drop_model
		va+=("$(timed "${verify[@]}")")
		# The copy's pages are those the previous copy just freed; see
		# the note on page-cache cost above.
		remove_pins
		sync
		[[ $mode == cold ]] && drop_model
		vb+=("$(timed "${pinned[@]}")")
		sync
		[[ $mode == cold ]] && drop_model
		vc+=("$(timed "${pinned[@]}")")
	done
	local a_wall a_cpu b_wall b_cpu c_wall c_cpu
	a_wall=$(printf '%s\n' "${va[@]}" | cut -d' ' -f1 | median)
	a_cpu=$(printf '%s\n' "${va[@]}" | cut -d' ' -f2 | median)
	b_wall=$(printf '%s\n' "${vb[@]}" | cut -d' ' -f1 | median)
	b_cpu=$(printf '%s\n' "${vb[@]}" | cut -d' ' -f2 | median)
	c_wall=$(printf '%s\n' "${vc[@]}" | cut -d' ' -f1 | median)
	c_cpu=$(printf '%s\n' "${vc[@]}" | cut -d' ' -f2 | median)
	echo "$mode page cache (median of $RUNS; load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)):"
	printf '  %-44s %7.3f s wall  %7.3f s CPU\n' "(a) verify --no-cache" "$a_wall" "$a_cpu"
	printf '  %-44s %7.3f s wall  %7.3f s CPU\n' "(b) exec --pin-dir, copy made" "$b_wall" "$b_cpu"
	printf '  %-44s %7.3f s wall  %7.3f s CPU\n' "(c) exec --pin-dir, copy re-checked" "$c_wall" "$c_cpu"
	awk -v a="$a_wall" -v b="$b_wall" -v ac="$a_cpu" -v bc="$b_cpu" \
		'BEGIN {printf "  copy / verify: %.2f wall, %.2f CPU (target <= 1.6)\n", b / a, bc / ac}'
	printf '  wall of every run: a %s | b %s | c %s\n' "$(printf '%s ' "${va[@]%% *}")" "$(printf '%s ' "${vb[@]%% *}")" "$(printf '%s ' "${vc[@]%% *}")"
}

size=$(du -sb "$model" | cut -f1)
echo "model: $PIN_COUNT x $PIN_SIZE bytes ($size bytes with config and signature), key signature, sha256"
echo "file system of $BENCH_DIR: $fstype ($reflink); $(nproc) CPUs"
measure warm
((cold)) && measure cold
remove_pins
