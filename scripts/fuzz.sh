#!/usr/bin/env bash
# scripts/fuzz.sh — run every `go test -fuzz` target of the repository for a
# while each (outside CI: CI only replays the seed corpora as unit tests).
#
# Usage: scripts/fuzz.sh [FUZZTIME]     (default 60s per target; e.g. 10m)
# A crash is written by Go under the package's testdata/fuzz/ folder; the
# script stops at the first failing target and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}

grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
		echo "== $pkg $target ($fuzztime)"
		# -fuzzminimizetime keeps a large seed from eating the whole run.
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "$pkg"
	done
done
