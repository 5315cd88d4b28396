#!/usr/bin/env bash
# bench/throughput.sh — how fast does modelgate verify a big model, compared
# with the fastest obvious way to hash the same bytes?
#
# Part 1 (default): builds the CLI (bench/out/modelgate), creates a synthetic
# model (default 4 x 1 GiB + 200 x 64 KiB pseudo-random files; reused when
# already present with the same layout), signs it with a throwaway P-256 key
# (signature stored outside the model), warms the page cache, then times RUNS
# alternating runs of
#   (a) the baseline: the files split into $(nproc) groups balanced by size,
#       one `openssl dgst -sha256` process per group, all running at once;
#   (b) `modelgate verify key --public-key P --signature S MODEL`;
# and reports the median wall time as GB/s (10^9 bytes per second), and the
# ratio of throughputs (modelgate / openssl; 1.00 = as fast), by wall time
# and by CPU time (user+sys: nearly immune to other load on the host, which
# makes wall times of a shared machine swing widely).
#
# Part 2 (--many): a model of MANY_COUNT (default 100000) files of MANY_SIZE
# bytes in folders of 1000. Times RUNS alternating runs of the openssl
# baseline (as above), `modelgate verify` and `modelgate sign` (to a
# signature outside the model), and reports for each the median wall and
# CPU time and, for modelgate, the largest maximum RSS (GNU time, or VmHWM
# sampled from /proc) and RSS per file; then the ratios verify/openssl and
# sign/openssl (times: 1.00 = as fast, higher = slower), by wall and by CPU.
#
# Part 3 (--cache): the hash cache. For a model of CACHE_BIG_COUNT (4) files
# of CACHE_BIG_SIZE (512 MiB) bytes, 2 GiB in all, and for the part 2 model,
# reports the median of RUNS wall and CPU times of `modelgate verify key`
# with --no-cache and with a warm --cache-dir (filled by one run first), and
# their ratio; for the many-files model also `modelgate digest` both ways,
# which is the walk and hashing without the signature, to show what a warm
# verification spends its time on. The page cache is warm for both, so the
# uncached time is the fastest it can be (a cold page cache only makes the
# cache's gain larger).
#
# Parts 1 and 2 run with --no-cache: they measure hashing.
#
# --library measures the manifest package instead of the CLI (the hashing
# path alone, via `go test -bench BuildDir` with MODELGATE_BENCH_DIR); it
# needs no CLI, key or signature.
#
# Usage: bench/throughput.sh [--dir DIR] [--runs N] [--many] [--only-many]
#                            [--cache] [--only-cache] [--library] [--hash H] [--clean]
#   --dir DIR     work directory (default /tmp/modelgate-bench, or $BENCH_DIR)
#   --runs N      timed runs per contestant, the median is kept (default 3,
#                 or $RUNS)
#   --many        also run part 2
#   --only-many   run part 2 only
#   --cache       also run part 3
#   --only-cache  run part 3 only
#   --library     time manifest.Build (go test -bench) instead of the CLI
#   --hash H      sign and verify with hash H (sha256, blake2b, blake3; default
#                 sha256, or $HASH); openssl's baseline stays sha256
#   --clean       delete the work directory afterwards (default: keep it, so
#                 the next run reuses the models)
# Layout knobs (environment): BIG_COUNT=4 BIG_SIZE=1073741824 SMALL_COUNT=200
# SMALL_SIZE=65536 MANY_COUNT=100000 MANY_SIZE=1024 CACHE_BIG_COUNT=4
# CACHE_BIG_SIZE=536870912.
# Needs: go, openssl, GNU coreutils; about BIG_COUNT*BIG_SIZE bytes of disk
# and as much free RAM for the page cache, or the numbers measure the disk;
# part 2 needs about MANY_COUNT * 4 KiB of disk and as many inodes.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/modelgate-bench}
RUNS=${RUNS:-3}
BIG_COUNT=${BIG_COUNT:-4}
BIG_SIZE=${BIG_SIZE:-1073741824}
SMALL_COUNT=${SMALL_COUNT:-200}
SMALL_SIZE=${SMALL_SIZE:-65536}
MANY_COUNT=${MANY_COUNT:-100000}
MANY_SIZE=${MANY_SIZE:-1024}
CACHE_BIG_COUNT=${CACHE_BIG_COUNT:-4}
CACHE_BIG_SIZE=${CACHE_BIG_SIZE:-536870912}
HASH=${HASH:-sha256}
part1=1 part2=0 part3=0 library=0 clean=0

die() { echo "throughput.sh: $*" >&2; exit 2; }

while (($#)); do
	case $1 in
	--dir) BENCH_DIR=${2:?--dir needs a value}; shift ;;
	--runs) RUNS=${2:?--runs needs a value}; shift ;;
	--many) part2=1 ;;
	--only-many) part1=0 part2=1 ;;
	--cache) part3=1 ;;
	--only-cache) part1=0 part3=1 ;;
	--library) library=1 ;;
	--hash) HASH=${2:?--hash needs a value}; shift ;;
	--clean) clean=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$RUNS'"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/bench/out
mkdir -p "$out" "$BENCH_DIR"
bin=$out/modelgate
testbin=$out/manifest.test
work=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
cleanup() {
	rm -rf "$work"
	if ((clean)); then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# secs START END -> elapsed seconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# gbps BYTES SECONDS -> GB/s
gbps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.3f", n / s / 1e9 }'; }
# maxof X... -> the largest of the numbers
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }

# make_file PATH SIZE SEED: SIZE pseudo-random bytes (AES-CTR keystream, far
# faster than /dev/urandom and incompressible, so no layer can cheat).
make_file() {
	{ openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass "pass:$3" </dev/zero 2>/dev/null || true; } |
		head -c "$2" >"$1.tmp"
	mv "$1.tmp" "$1"
}

# make_model DIR: the part 1 model, reused when its layout stamp matches.
make_model() {
	local dir=$1 stamp="big=$BIG_COUNT x $BIG_SIZE small=$SMALL_COUNT x $SMALL_SIZE" i
	if [[ -f $dir.layout && $(<"$dir.layout") == "$stamp" ]]; then
		echo "reusing model $dir ($stamp)"
		return
	fi
	echo "creating model $dir ($stamp)"
	rm -rf "$dir" "$dir.layout"
	mkdir -p "$dir/small"
	for ((i = 0; i < BIG_COUNT; i++)); do make_file "$dir/big-$i.bin" "$BIG_SIZE" "big$i"; done
	for ((i = 0; i < SMALL_COUNT; i++)); do make_file "$dir/small/s-$i.bin" "$SMALL_SIZE" "small$i"; done
	echo "$stamp" >"$dir.layout"
}

# make_many DIR: MANY_COUNT files of MANY_SIZE bytes in folders of 1000,
# written with shell builtins only (no process per file).
make_many() {
	local dir=$1 stamp="many=$MANY_COUNT x $MANY_SIZE" i d block
	if [[ -f $dir.layout && $(<"$dir.layout") == "$stamp" ]]; then
		echo "reusing model $dir ($stamp)"
		return
	fi
	echo "creating model $dir ($stamp)"
	rm -rf "$dir" "$dir.layout"
	block=$(head -c "$MANY_SIZE" /dev/zero | tr '\0' 'x')
	for ((i = 0; i < MANY_COUNT; i++)); do
		d=$dir/d$((i / 1000))
		((i % 1000)) || mkdir -p "$d"
		printf '%d %s' "$i" "${block:0:MANY_SIZE-${#i}-1}" >"$d/f$i"
	done
	echo "$stamp" >"$dir.layout"
}

total_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

warm() { find "$1" -type f -print0 | xargs -0 cat >/dev/null; }

ensure_cli() {
	[[ -n ${cli_built:-} ]] && return
	echo "building $bin"
	(cd "$repo" && go build -o "$bin" ./cmd/modelgate) ||
		die "cannot build ./cmd/modelgate (use --library to measure the manifest package alone)"
	cli_built=1
}

ensure_testbin() {
	[[ -n ${testbin_built:-} ]] && return
	echo "building $testbin"
	(cd "$repo" && go test -c -o "$testbin" ./manifest)
	testbin_built=1
}

# sign MODEL SIG: signs with a throwaway P-256 key made on first use; sets pub.
sign() {
	if [[ -z ${pub:-} ]]; then
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null
		openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
		pub=$work/pub.pem
	fi
	echo "signing $1 ($HASH)"
	"$bin" sign key --no-cache --private-key "$work/key.pem" --hash "$HASH" --signature "$2" "$1" >/dev/null ||
		die "modelgate sign failed on $1"
}

# split_groups MODEL N: writes $work/group.0 .. group.N-1, the files of MODEL
# dealt biggest first to the group with the fewest bytes so far.
split_groups() {
	rm -f "$work"/group.*
	find "$1" -type f -printf '%s\t%p\n' | sort -rn |
		awk -F'\t' -v n="$2" -v w="$work" '{
			g = 0
			for (i = 1; i < n; i++) if (load[i] < load[g]) g = i
			load[g] += $1
			print $2 > (w "/group." g)
		}'
}

# The timers print "WALL CPU": elapsed seconds, and user+system CPU seconds
# of everything the contestant ran. CPU time hardly depends on other load on
# the machine, so its ratio stays meaningful on a busy host; wall time is
# what a user waits for.

# timed FILE CMD...: runs CMD under bash's `time`; the timings go to FILE,
# CMD's own stderr to FILE.err.
timed() {
	local file=$1 TIMEFORMAT='%R %U %S'
	shift
	{ time "$@" 2>"$file.err"; } 2>"$file"
}

wall_cpu() { awk 'END { printf "%.3f %.3f", $1, $2 + $3 }' "$1"; }

# run_openssl N: the baseline, one `openssl dgst` per group, all at once.
run_openssl() {
	local n=$1 i pids=()
	for ((i = 0; i < n; i++)); do
		[[ -f $work/group.$i ]] || continue
		xargs -d '\n' -a "$work/group.$i" openssl dgst -sha256 >/dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || return 1; done
}

time_openssl() { # N
	timed "$work/t" run_openssl "$1" || die "openssl dgst failed: $(cat "$work/t.err")"
	wall_cpu "$work/t"
}

time_verify() { # MODEL SIG
	timed "$work/t" "$bin" verify key --no-cache --public-key "$pub" --signature "$2" "$1" >/dev/null ||
		die "modelgate verify failed on $1: $(cat "$work/t.err")"
	wall_cpu "$work/t"
}

time_library() { # MODEL BYTES: one timed manifest.Build (after a warm-up one)
	MODELGATE_BENCH_DIR=$1 MODELGATE_BENCH_HASH=$HASH "$testbin" -test.run '^$' -test.bench '^BenchmarkBuildDir$' -test.benchtime 1x >"$work/bench.out" ||
		die "benchmark failed: $(cat "$work/bench.out")"
	awk -v bytes="$2" '/^BenchmarkBuildDir/ {
		for (i = 1; i < NF; i++) { if ($(i+1) == "ns/op") ns = $i; if ($(i+1) == "cpu-s/GB") c = $i }
		printf "%.3f %.3f", ns / 1e9, c * bytes / 1e9; found = 1
	} END { if (!found) exit 1 }' "$work/bench.out" || die "no benchmark result in $work/bench.out"
}

part_throughput() {
	local model=$BENCH_DIR/model sig=$BENCH_DIR/model.sig n bytes r
	local ow oc mw mc ows=() ocs=() mws=() mcs=()
	make_model "$model"
	if ((library)); then ensure_testbin; else ensure_cli && sign "$model" "$sig"; fi
	n=$(nproc)
	split_groups "$model" "$n"
	bytes=$(total_bytes "$model")
	echo "warming the page cache ($bytes bytes)"
	warm "$model"
	echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
	# Alternate the contestants so that background load hits both alike.
	for ((r = 1; r <= RUNS; r++)); do
		read -r ow oc <<<"$(time_openssl "$n")"
		if ((library)); then
			read -r mw mc <<<"$(time_library "$model" "$bytes")"
		else
			read -r mw mc <<<"$(time_verify "$model" "$sig")"
		fi
		ows+=("$ow") ocs+=("$oc") mws+=("$mw") mcs+=("$mc")
		echo "run $r/$RUNS: openssl x$n ${ow}s wall ${oc}s cpu; modelgate ${mw}s wall ${mc}s cpu"
	done
	echo "load average after timing:  $(cut -d' ' -f1-3 /proc/loadavg)"
	ow=$(median "${ows[@]}") oc=$(median "${ocs[@]}") mw=$(median "${mws[@]}") mc=$(median "${mcs[@]}")
	local what="modelgate verify key, $HASH"
	((library)) && what="manifest.Build files/$HASH via $testbin"
	echo
	echo "model:     $model ($bytes bytes: $BIG_COUNT x $BIG_SIZE + $SMALL_COUNT x $SMALL_SIZE)"
	echo "median of $RUNS  wall       GB/s    cpu        GB per cpu-s"
	printf 'openssl      %-9s  %-6s  %-9s  %-6s  (%d parallel openssl dgst -sha256, size-balanced)\n' \
		"${ow}s" "$(gbps "$bytes" "$ow")" "${oc}s" "$(gbps "$bytes" "$oc")" "$n"
	printf 'modelgate    %-9s  %-6s  %-9s  %-6s  (%s)\n' \
		"${mw}s" "$(gbps "$bytes" "$mw")" "${mc}s" "$(gbps "$bytes" "$mc")" "$what"
	awk -v ow="$ow" -v mw="$mw" -v oc="$oc" -v mc="$mc" 'BEGIN {
		printf "ratio:       wall %.3f, cpu %.3f (modelgate throughput / openssl; 1 = as fast)\n", ow / mw, oc / mc }'
}

# measure CMD...: runs CMD, prints "WALL_SECONDS MAX_RSS_KB CPU_SECONDS"
# (CPU is user+system, "?" when unknown).
measure() {
	if [[ -x /usr/bin/time ]] && /usr/bin/time -v true 2>/dev/null; then
		/usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null || die "$1 failed"
		awk -F': ' '
			/Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
			/User time/ { c += $2 }
			/System time/ { c += $2 }
			/Maximum resident set size/ { rss = $2 }
			END { printf "%.2f %d %.2f\n", w, rss, c }' "$work/time.txt"
		return
	fi
	# No GNU time: sample the high-water mark while the command runs.
	local t0 t1 pid hwm=0 v
	t0=$(now)
	"$@" >/dev/null &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		[[ -n $v ]] && ((v > hwm)) && hwm=$v
		sleep 0.02
	done
	wait "$pid" || die "$1 failed"
	t1=$(now)
	echo "$(secs "$t0" "$t1") $hwm ?"
}

part_many() {
	local model=$BENCH_DIR/many sig=$BENCH_DIR/many.sig out=$BENCH_DIR/many-out.sig n r
	local w c x ows=() ocs=() vws=() vcs=() vrs=() sws=() scs=() srs=()
	make_many "$model"
	if ((library)); then
		ensure_testbin
		warm "$model"
		read -r w x c <<<"$(MODELGATE_BENCH_DIR=$model measure "$testbin" -test.run '^$' -test.bench '^BenchmarkBuildDir$' -test.benchtime 1x)"
		echo
		echo "many files: $model ($MANY_COUNT x $MANY_SIZE bytes)"
		echo "manifest.Build (2 passes: warm-up + 1 timed, via $testbin): wall ${w}s, cpu ${c}s, max RSS ${x} KiB"
		return
	fi
	ensure_cli
	sign "$model" "$sig"
	n=$(nproc)
	split_groups "$model" "$n"
	warm "$model"
	echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
	for ((r = 1; r <= RUNS; r++)); do
		read -r w c <<<"$(time_openssl "$n")"
		ows+=("$w") ocs+=("$c")
		read -r w x c <<<"$(measure "$bin" verify key --no-cache --public-key "$pub" --signature "$sig" "$model")"
		vws+=("$w") vrs+=("$x") vcs+=("$c")
		read -r w x c <<<"$(measure "$bin" sign key --no-cache --private-key "$work/key.pem" --hash "$HASH" --signature "$out" "$model")"
		sws+=("$w") srs+=("$x") scs+=("$c")
		echo "run $r/$RUNS: openssl x$n ${ows[-1]}s wall ${ocs[-1]}s cpu; verify ${vws[-1]}s wall ${vcs[-1]}s cpu ${vrs[-1]} KiB; sign ${sws[-1]}s wall ${scs[-1]}s cpu ${srs[-1]} KiB"
	done
	echo "load average after timing:  $(cut -d' ' -f1-3 /proc/loadavg)"
	local ow oc vw vc vr sw sc sr
	ow=$(median "${ows[@]}") oc=$(median "${ocs[@]}")
	vw=$(median "${vws[@]}") vc=$(median "${vcs[@]}") vr=$(maxof "${vrs[@]}")
	sw=$(median "${sws[@]}") sc=$(median "${scs[@]}") sr=$(maxof "${srs[@]}")
	echo
	echo "many files: $model ($MANY_COUNT x $MANY_SIZE bytes, $HASH)"
	echo "median of $RUNS      wall      cpu       max RSS"
	printf 'openssl x%-8s %-9s %-9s (%d parallel openssl dgst -sha256)\n' "$n" "${ow}s" "${oc}s" "$n"
	printf 'modelgate verify %-9s %-9s %s KiB (%s per file)\n' "${vw}s" "${vc}s" "$vr" "$(awk -v r="$vr" -v n="$MANY_COUNT" 'BEGIN { printf "%.2f KiB", r / n }')"
	printf 'modelgate sign   %-9s %-9s %s KiB (%s per file)\n' "${sw}s" "${sc}s" "$sr" "$(awk -v r="$sr" -v n="$MANY_COUNT" 'BEGIN { printf "%.2f KiB", r / n }')"
	awk -v ow="$ow" -v oc="$oc" -v vw="$vw" -v vc="$vc" -v sw="$sw" -v sc="$sc" 'BEGIN {
		printf "ratio:           verify/openssl wall %.2f, cpu %.2f; sign/openssl wall %.2f, cpu %.2f (time; 1 = as fast)\n",
			vw / ow, (vc == "?" ? 0 : vc / oc), sw / ow, (sc == "?" ? 0 : sc / oc) }'
}

# median V...: the middle value (the mean of the two middle ones for an even
# count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# time_cmd CMD...: "WALL CPU" of one run of CMD (stdout discarded).
time_cmd() {
	timed "$work/t" "$@" >/dev/null || die "$1 failed: $(cat "$work/t.err")"
	wall_cpu "$work/t"
}

# cache_pair LABEL ARGS...: runs modelgate ARGS with --no-cache and with the
# warm cache RUNS times each, alternating, and prints their medians and
# ratio (flags may follow the model path).
cache_pair() {
	local label=$1 r nw nc cw cc
	shift
	local -a nws=() ncs=() cws=() ccs=()
	"$bin" "$@" --cache-dir "$work/cache" >/dev/null || die "$label: the run filling the cache failed"
	for ((r = 1; r <= RUNS; r++)); do
		read -r nw nc <<<"$(time_cmd "$bin" "$@" --no-cache)"
		read -r cw cc <<<"$(time_cmd "$bin" "$@" --cache-dir "$work/cache")"
		nws+=("$nw") ncs+=("$nc") cws+=("$cw") ccs+=("$cc")
	done
	nw=$(median "${nws[@]}") nc=$(median "${ncs[@]}") cw=$(median "${cws[@]}") cc=$(median "${ccs[@]}")
	printf '%-34s uncached %7ss wall %7ss cpu | warm cache %7ss wall %7ss cpu | ratio wall %5.1f%%, cpu %5.1f%%\n' \
		"$label" "$nw" "$nc" "$cw" "$cc" "$(awk -v a="$cw" -v b="$nw" 'BEGIN { print 100 * a / b }')" \
		"$(awk -v a="$cc" -v b="$nc" 'BEGIN { print 100 * a / b }')"
}

part_cache() {
	local big=$BENCH_DIR/cache-big many=$BENCH_DIR/many
	BIG_COUNT=$CACHE_BIG_COUNT BIG_SIZE=$CACHE_BIG_SIZE SMALL_COUNT=0 make_model "$big"
	make_many "$many"
	ensure_cli
	sign "$big" "$big.sig"
	sign "$many" "$many.sig"
	# The cache stores a digest only once the file's change time is more
	# than two seconds old.
	sleep 3
	warm "$big"
	warm "$many"
	echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "hash cache, median of $RUNS runs each, page cache warm, $(nproc) CPUs (shared machine: noisy)"
	cache_pair "verify $CACHE_BIG_COUNT x $CACHE_BIG_SIZE bytes" verify key --public-key "$pub" --signature "$big.sig" "$big"
	cache_pair "verify $MANY_COUNT x $MANY_SIZE bytes" verify key --public-key "$pub" --signature "$many.sig" "$many"
	cache_pair "digest $MANY_COUNT x $MANY_SIZE bytes" digest --signature "$many.sig" "$many"
	echo "(digest: walk + hashing or cache lookups, no signature; verify minus digest is reading and"
	echo " checking the signature and comparing the manifests)"
	echo "load average after timing:  $(cut -d' ' -f1-3 /proc/loadavg)"
}

if ((part1)); then part_throughput; fi
if ((part2)); then part_many; fi
if ((part3)); then part_cache; fi
