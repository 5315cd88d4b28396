#!/usr/bin/env bash
# bench/gate.sh — what does the HTTP gate (modelgate proxy) cost a request?
#
# Runs the gate package's benchmarks against a minimal upstream on loopback
# (one process: client, gate and upstream share the machine's cores):
#   BenchmarkAddedLatency   a chat completion naming the base model (the gate
#                           reads the body for the model, checks it, forwards
#                           it) at 64 concurrent clients; each client
#                           alternates a request through the gate and one
#                           straight to the upstream; reports p50/p99 of both
#                           and the differences (added-p50-µs, added-p99-µs),
#                           against an upstream that answers at once
#                           (upstream-0ms: every core saturated, latency is
#                           queueing) and one that takes 20 ms per completion
#                           (upstream-20ms: the realistic case); and the
#                           same with a bare httputil.ReverseProxy in the
#                           gate's place (upstream-20ms-bare-proxy): what any
#                           Go reverse proxy adds here, to read the gate's
#                           figures against.
#                           Targets on 2 cores: added p50 <= 500 µs, p99 <= 3 ms.
#   BenchmarkSSEThroughput  a streamed completion (2048 events of 512 bytes,
#                           each flushed), through the gate and direct,
#                           alternating; reports both and gate-%-of-direct.
#                           Target: >= 90 %.
#   BenchmarkCPUPerRequest  CPU time (user+sys) per completion, direct and
#                           through the gate: the gate's own cost, which
#                           hardly moves with other load on the machine.
# Latency and throughput are wall-clock numbers: on a shared or busy machine
# they swing widely; the script prints the load average next to them.
#
# Usage: bench/gate.sh [--count N] [--requests N] [--streams N]
#   --count N      repetitions of each benchmark (default 3, or $COUNT)
#   --requests N   requests per latency/CPU run (default 20000, or $REQUESTS)
#   --streams N    streams per throughput run (default 200, or $STREAMS)
set -euo pipefail

COUNT=${COUNT:-3}
REQUESTS=${REQUESTS:-20000}
STREAMS=${STREAMS:-200}

die() { echo "gate.sh: $*" >&2; exit 2; }

while (($#)); do
	case $1 in
	--count) COUNT=${2:?--count needs a value}; shift ;;
	--requests) REQUESTS=${2:?--requests needs a value}; shift ;;
	--streams) STREAMS=${2:?--streams needs a value}; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
for v in COUNT REQUESTS STREAMS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -run '^$' -bench '^(BenchmarkAddedLatency|BenchmarkCPUPerRequest)$' -benchtime "${REQUESTS}x" -count "$COUNT" ./gate/
go test -run '^$' -bench '^BenchmarkSSEThroughput$' -benchtime "${STREAMS}x" -count "$COUNT" ./gate/
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
