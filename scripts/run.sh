#!/usr/bin/env bash
# scripts/run.sh - set up, build and run the main job: the README's first command.
# Today that is the IOMMU dirty-harvest benchmark; arguments go to it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -s -j"$(nproc)"
exec build/iodirty bench harvest "$@"
