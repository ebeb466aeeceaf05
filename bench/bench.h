/* SPDX-License-Identifier: MIT */
/*
 * bench.h - benchmarks reachable as `iodirty bench NAME`. Each benchmark is
 * one bench/<name>.c and one row of the table in src/cli/cmd-bench.c.
 */
#ifndef IODIRTY_BENCH_H
#define IODIRTY_BENCH_H

#include <stdbool.h>
#include <stdint.h>

struct bench {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the bench name */
	const char *summary;
	const char *usage;
};

int bench_harvest(int argc, char **argv);

#endif
