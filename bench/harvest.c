// SPDX-License-Identifier: MIT
/* harvest.c - placeholder until the harvest benchmark lands. */
#include <stdio.h>

#include "bench.h"

int bench_harvest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "iodirty bench harvest: not built yet\n");
	return 1;
}
