#!/usr/bin/env bash
# scripts/check.sh BUILD [GLOB] - run by `make check`: the whole suite
# in-process, then the ABI tests as an unmodified program under
# `iodirty exec`, and one summary line for both.
set -uo pipefail
build=$1
filter=${2:-}
args=()
[[ -n $filter ]] && args=(--filter "$filter")

# A sanitizer's report fails the test it happened in (each test is a
# child that ends with _exit(), where a report would otherwise not change
# the exit status).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

pass=0 fail=0 skip=0 rc=0
run() {
	local out last
	out=$(mktemp)
	"$@" "${args[@]}" | tee "$out"
	((rc |= PIPESTATUS[0]))
	last=$(tail -n 1 "$out")
	rm -f "$out"
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
		((pass += BASH_REMATCH[1], fail += BASH_REMATCH[2], skip += BASH_REMATCH[3]))
	else
		echo "check: $1 ended without a summary line" >&2
		((fail++))
	fi
}

echo "== in-process ($build/iodirty-test)"
run "$build/iodirty-test"
echo "== under iodirty exec ($build/iodirty-abitest)"
# A sanitized build's runtime must be the first library loaded: preload it
# ahead of libiodirty-preload.so.
runtime=""
case "${SANITIZE:-}" in
*address*) runtime=$(${CC:-cc} -print-file-name=libasan.so) ;;
*thread*) runtime=$(${CC:-cc} -print-file-name=libtsan.so) ;;
esac
if [[ -n $runtime ]]; then
	LD_PRELOAD=$runtime run "$build/iodirty" exec -- "$build/iodirty-abitest"
else
	run "$build/iodirty" exec -- "$build/iodirty-abitest"
fi
echo "$pass passed, $fail failed, $skip skipped"
((fail == 0 && rc == 0))
