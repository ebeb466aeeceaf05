#!/usr/bin/env bash
# scripts/setup.sh - install what iodirty needs from Debian's packages.
# Idempotent and quiet when everything is already there; run by the README's
# commands and by .ci/run. Needs root (or sudo) only when something is missing.
set -euo pipefail

# Build and test: compiler, make; libxxhash (migration stream checks and
# RAM verification); clang + compiler-rt for the libFuzzer
# targets and sanitizer builds with clang; iproute2 for the cross-host test.
packages=(gcc make clang libclang-rt-14-dev iproute2 libxxhash-dev)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "iodirty setup: installing ${missing[*]}" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
