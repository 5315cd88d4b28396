#!/usr/bin/env bash
# scripts/crossvet.sh — vet the repository (tests included) for the other
# systems modelgate builds on, so that a Unix-only call (syscall.Mkfifo, a
# stat field's width) does not slip into a file without a build tag. CI
# runs on Linux only; run this before sending a change that touches
# system calls or *_unix.go / *_other.go files.
#
# Usage: scripts/crossvet.sh [GOOS...]     (default: windows darwin)
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(windows darwin)
for goos in "${targets[@]}"; do
	echo "== GOOS=$goos go vet ./..."
	GOOS=$goos go vet ./...
done
