#!/usr/bin/env bash
# scripts/test.sh - set up, build and run every test: the README's test command.
#
# Runs `make check` (the whole suite, last line "N passed, N failed, N skipped"),
# then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer and
# under ThreadSanitizer. QUICK=1 runs the plain build only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

if [[ ${QUICK:-0} != 1 ]]; then
	echo "== make SANITIZE=address,undefined check"
	make -s -j"$jobs" SANITIZE=address,undefined check | grep -v "^ok "
	echo "== make SANITIZE=thread check"
	make -s -j"$jobs" SANITIZE=thread check | grep -v "^ok "
fi
echo "== make check"
make -s -j"$jobs" check
