# bench/lib.sh — set-up shared by bench/exec.sh and bench/pindir.sh (sourced).
#
# setup_exec_bench: makes $BENCH_DIR absolute (removed on exit when
# $clean is 1), builds the CLI into $mg, and puts a stand-in "vllm" on
# PATH: /bin/true, which exits at its first instruction, so the wall time
# of `modelgate exec -- vllm ...` is the time until vLLM would start.
# Sets repo, mg and bin.
setup_exec_bench() {
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	mkdir -p "$BENCH_DIR"
	BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
	((clean)) && trap 'rm -rf "$BENCH_DIR"' EXIT
	mg=$BENCH_DIR/modelgate
	(cd "$repo" && go build -o "$mg" ./cmd/modelgate)
	bin=$BENCH_DIR/bin
	mkdir -p "$bin"
	ln -sf "$(type -P true)" "$bin/vllm"
	export PATH="$bin:$PATH"
}
