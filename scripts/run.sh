#!/usr/bin/env bash
# scripts/run.sh - set up, build and run the main job: the README's first command.
#
# The main job is the live-migration demo: a 1 GiB KVM guest whose vCPU
# dirties RAM while a passthrough DMA device writes into it, migrated over
# loopback TCP to a second iodirty process, with the IOMMU's dirty bits
# tracking the DMA, and the destination's RAM verified page by page.
# Arguments go to `iodirty migrate --local` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -s -j"$(nproc)"
exec build/iodirty migrate --local "$@"
