#!/usr/bin/env bash
# scripts/kselftest.sh - build the Linux kernel's own iommufd selftest
# (tools/testing/selftests/iommu/iommufd.c), unmodified, and run it against
# the emulated /dev/iommu under `iodirty exec`.
#
# usage: scripts/kselftest.sh [SRC] [-- HARNESS-ARGS...]
#
# SRC (or $KSELFTEST_SRC) is a directory laid out like a kernel tree, holding
# at least:
#   tools/testing/selftests/iommu/iommufd.c, iommufd_utils.h
#   tools/testing/selftests/kselftest_harness.h, kselftest.h
#   drivers/iommu/iommufd/iommufd_test.h
# and the UAPI headers, either installed (usr/include/linux/iommufd.h,
# vfio.h, ...: what `make headers_install` gives, KHDR_INCLUDES) or as kernel
# sources (include/uapi/linux/*.h), which are then installed into
# build/kselftest/usr/include the way scripts/headers_install.sh does.
# Kernel sources are never part of this repository. Without them the script
# says "skipped: no kernel sources" and exits 0 (CI has none).
#
# By default it runs the fixtures iommufd (command length/failure and the
# VFIO compat ioctls without a domain), iommufd_dirty_tracking (every
# variant) and vfio_compat_mock_domain. HARNESS-ARGS replace that choice and
# go to the test binary as they are: -f/-F FIXTURE, -v/-V VARIANT, -t/-T TEST,
# -r FIXTURE.VARIANT.TEST, -l to list (see the harness's -h).
#
# Tests that mmap MAP_HUGETLB memory (the *_huge dirty-tracking variants and
# vfio_compat_mock_domain.*.huge_map) need reserved hugetlb pages
# (/proc/sys/vm/nr_hugepages). With too few free ones they are not run and
# are listed as skipped, with the reason; KSELFTEST_HUGETLB=1 runs them
# anyway. Other variables: KSELFTEST_CC (default gcc), IODIRTY_IOMMU (passed
# through to the emulated host).
#
# Output: the harness's TAP on stdout, then one line per test
# (PASS/FAIL/SKIP name) and "kselftest: N passed, N failed, N skipped".
# Exit status: 0 when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

src=${KSELFTEST_SRC:-}
if [[ $# -gt 0 && $1 != -- ]]; then
	src=$1
	shift
fi
[[ $# -gt 0 && $1 == -- ]] && shift
user_args=("$@")

test_dir=tools/testing/selftests/iommu
if [[ -z $src || ! -f $src/$test_dir/iommufd.c ]]; then
	echo "kselftest: skipped: no kernel sources" \
	     "(give a directory holding $test_dir/iommufd.c, or set KSELFTEST_SRC)"
	exit 0
fi
src=$(cd "$src" && pwd)

out=build/kselftest
mkdir -p "$out"

# UAPI headers: installed ones if SRC has them, else install from include/uapi.
if [[ -f $src/usr/include/linux/iommufd.h ]]; then
	khdr=$src/usr/include
elif [[ -d $src/include/uapi/linux ]]; then
	khdr=$PWD/$out/usr/include
	mkdir -p "$khdr/linux"
	for h in "$src"/include/uapi/linux/*.h; do
		# The header rewriting of the kernel's scripts/headers_install.sh.
		sed -E -e '
			s/([[:space:](])(__user|__force|__iomem)[[:space:]]/\1/g
			s/__attribute_const__([[:space:]]|$)/\1/g
			s@^#include <linux/compiler(|_types).h>@@
			s/(^|[^a-zA-Z0-9])__packed([^a-zA-Z0-9_]|$)/\1__attribute__((packed))\2/g
			s/(^|[[:space:](])(inline|asm|volatile)([[:space:](]|$)/\1__\2__\3/g
			s@#(ifndef|define|endif[[:space:]]*/[*])[[:space:]]*_UAPI@#\1 @
		' "$h" >"$khdr/linux/$(basename "$h")" || exit 1
	done
else
	echo "kselftest: $src has neither usr/include/linux/iommufd.h nor include/uapi/linux" >&2
	exit 1
fi

make -s -j"$(nproc)" all || exit 1

# The flags of tools/testing/selftests/iommu/Makefile; the sources as they are.
bin=$PWD/$out/iommufd
cc=${KSELFTEST_CC:-gcc}
(cd "$src/$test_dir" &&
	"$cc" -Wall -O2 -D_GNU_SOURCE -Wno-unused-function -I"$khdr" \
		iommufd.c -o "$bin" -lpthread) || {
	echo "kselftest: building $test_dir/iommufd.c failed" >&2
	exit 1
}

# Free hugetlb memory, in MiB.
hugetlb_free_mb() {
	awk '/^HugePages_Free:/ { n = $2 } /^Hugepagesize:/ { kb = $2 }
	     END { print int(n * kb / 1024) }' /proc/meminfo
}

skipped=()
args=()
if ((${#user_args[@]})); then
	args=("${user_args[@]}")
else
	# The largest *_huge variant maps 256 MiB of MAP_HUGETLB memory.
	free_mb=$(hugetlb_free_mb)
	if [[ ${KSELFTEST_HUGETLB:-0} != 1 ]] && ((free_mb < 256)); then
		why="needs reserved hugetlb pages (${free_mb} MiB free, /proc/sys/vm/nr_hugepages)"
		# Exclusions first: the harness stops at the first filter that matches.
		args+=(-V domain_dirty128M_huge -V domain_dirty256M_huge -T huge_map)
		for v in domain_dirty128M_huge domain_dirty256M_huge; do
			for t in enforce_dirty set_dirty_tracking \
				 device_dirty_capability get_dirty_bitmap \
				 get_dirty_bitmap_no_clear; do
				skipped+=("iommufd_dirty_tracking.$v.$t: $why")
			done
		done
		for v in Ver1v2 Ver1v0; do
			skipped+=("vfio_compat_mock_domain.$v.huge_map: $why")
		done
	fi
	args+=(-f iommufd -f iommufd_dirty_tracking -f vfio_compat_mock_domain)
fi

log=$out/iommufd.tap
build/iodirty exec -- "$bin" "${args[@]}" | tee "$log"
rc=${PIPESTATUS[0]}

# A listing (-l) or help (-h) prints no results: pass its status through.
if ! grep -qE '^(not )?ok [0-9]+ ' "$log"; then
	exit "$rc"
fi

pass=0 fail=0 skip=0
echo "== kselftest results (${src})"
while IFS= read -r line; do
	if [[ $line =~ ^ok\ [0-9]+\ ([^ ]+)\ \#\ SKIP ]]; then
		echo "SKIP  ${BASH_REMATCH[1]}"
		((skip++))
	elif [[ $line =~ ^ok\ [0-9]+\ ([^ ]+) ]]; then
		echo "PASS  ${BASH_REMATCH[1]}"
		((pass++))
	elif [[ $line =~ ^not\ ok\ [0-9]+\ ([^ ]+) ]]; then
		echo "FAIL  ${BASH_REMATCH[1]}"
		((fail++))
	fi
done <"$log"
for s in "${skipped[@]}"; do
	echo "SKIP  $s"
	((skip++))
done
# The harness exits non-zero on a failure, or if it died before its summary.
if ((rc != 0 && fail == 0)); then
	echo "kselftest: the test binary exited with status $rc" >&2
	((fail++))
fi
echo "kselftest: $pass passed, $fail failed, $skip skipped"
((fail == 0))
