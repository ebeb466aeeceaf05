// SPDX-License-Identifier: MIT
/*
 * cmd-bench.c - `iodirty bench NAME [--json] ...`: the benchmark table.
 */
#include <string.h>

#include "../../bench/bench.h"
#include "cmd.h"

static const struct bench benches[] = {
	{ "harvest", bench_harvest,
	  "IOMMU dirty read-and-clear per GiB vs the memory-bandwidth floor",
	  BENCH_HARVEST_USAGE },
	{ "dirty-ioctl", bench_dirty_ioctl,
	  "IOMMU_HWPT_GET_DIRTY_BITMAP through the ABI vs the engine called directly",
	  BENCH_DIRTY_IOCTL_USAGE },
	{ "dma", bench_dma,
	  "DMA throughput with each dirty tracker on vs off, and each tracker's sync per GiB",
	  BENCH_DMA_USAGE },
	{ "sync", bench_sync,
	  "one full dirty sync of a KVM VM per GiB: KVM log + DMA tracker, vs the floor",
	  BENCH_SYNC_USAGE },
	{ "migrate", bench_migrate,
	  "live migration over loopback TCP: total, downtime, first pass vs raw loopback TCP",
	  BENCH_MIGRATE_USAGE },
	{ "vs-qemu", bench_vs_qemu,
	  "the same guest workload migrated by QEMU and by iodirty, side by side",
	  BENCH_VS_QEMU_USAGE },
};

int cmd_bench(int argc, char **argv)
{
	const struct cmd *self = cmd_find("bench");

	if (argc < 2)
		usage_error(self, "which benchmark? try 'iodirty bench list'");
	if (!strcmp(argv[1], "list")) {
		for (unsigned int i = 0; i < ARRAY_SIZE(benches); i++)
			printf("  %-12s %s\n      iodirty bench %s %s\n",
			       benches[i].name, benches[i].summary,
			       benches[i].name, benches[i].usage);
		return 0;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(benches); i++)
		if (!strcmp(argv[1], benches[i].name))
			return benches[i].fn(argc - 1, argv + 1);
	usage_error(self, "unknown benchmark '%s'; try 'iodirty bench list'",
		    argv[1]);
}
