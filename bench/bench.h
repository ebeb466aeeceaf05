/* SPDX-License-Identifier: MIT */
/*
 * bench.h - benchmarks reachable as `iodirty bench NAME`. Each benchmark is
 * one bench/<name>.c and one row of the table in src/cli/cmd-bench.c; the
 * helpers they share (clock, statistics, the memory-bandwidth floor,
 * argument parsing, machine facts) live in bench/bench.c.
 *
 * Benchmarks do not exit: they return 0, 1 when a run failed or measured
 * something wrong, or 2 for a bad command line (after bench_usage_error()).
 */
#ifndef IODIRTY_BENCH_H
#define IODIRTY_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <iodirty/compiler.h>
#include <iodirty/json.h>
#include <iodirty/parse.h>

struct bench {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the bench name */
	const char *summary;
	const char *usage;
};

#define BENCH_HARVEST_USAGE                                                    \
	"[--json] [--format amdv1|vtdss|arm-s1] [--sizes 1,16,64] [--reps N] " \
	"[--quick]"

int bench_harvest(int argc, char **argv);

#define BENCH_DIRTY_IOCTL_USAGE "[--json] [--sizes 1,16] [--reps N] [--quick]"

int bench_dirty_ioctl(int argc, char **argv);

#define BENCH_DMA_USAGE                                                        \
	"[--json] [--quick] [--blocks 64K,4K,1M] [--window 64M] "              \
	"[--mapped-gib 4] [--reps N] [--ms N] [--iommu amd|intel|arm]"

int bench_dma(int argc, char **argv);

#define BENCH_SYNC_USAGE                                                       \
	"[--json] [--quick] [--sizes 512M,1G,4G] "                             \
	"[--trackers iommu,device,type1] [--dirty PCT] [--reps N]"

int bench_sync(int argc, char **argv);

#define BENCH_MIGRATE_USAGE "[--json] [--quick] [--reps N]"

int bench_migrate(int argc, char **argv);

#define BENCH_VS_QEMU_USAGE "[--json] [--mem SIZE] [--reps N]"

int bench_vs_qemu(int argc, char **argv);

/** bench_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/** bench_min_u64() - the smallest of @n (> 0) values. */
uint64_t bench_min_u64(const uint64_t *v, size_t n);

/**
 * bench_median_u64() - the median of @n (> 0) values; the mean of the two
 * middle ones when @n is even. Sorts @v in place.
 */
uint64_t bench_median_u64(uint64_t *v, size_t n);

/**
 * bench_sum_u64() - read @n words in order and return their sum: a plain
 * stream read, the memory-bandwidth floor for any pass over @n words.
 */
uint64_t bench_sum_u64(const uint64_t *a, size_t n);

/**
 * bench_fmt() - @v with about four significant digits and no exponent
 * between 0.001 and 1e12, for tables read by people.
 * Return: @buf.
 */
const char *bench_fmt(char *buf, size_t len, double v);

/**
 * bench_rss_bytes() - this process's resident memory (/proc/self/statm),
 * after returning the allocator's free pages to the system first, so that
 * the growth across a step is the memory the step really touched.
 * Return: bytes, or 0 when it cannot be read.
 */
uint64_t bench_rss_bytes(void);

/**
 * bench_json_begin() - start a benchmark's JSON summary on stdout: the
 * object, then "bench" (@name), "cpus" and "cpu_model". Close it with
 * json_close().
 */
void bench_json_begin(struct json *j, const char *name);

/** bench_cpu_count() - online CPUs. */
unsigned int bench_cpu_count(void);

/**
 * bench_cpu_model() - the first "model name" of /proc/cpuinfo into @buf.
 * Return: 0, or -ENOENT when there is none (@buf then holds "unknown").
 */
int bench_cpu_model(char *buf, size_t len);

/**
 * bench_usage_error() - "iodirty bench NAME: <msg>" and the bench's usage
 * line on stderr, as usage_error() prints for a verb.
 * Return: 2, the exit status of a bad command line.
 */
int bench_usage_error(const char *name, const char *usage, const char *fmt, ...)
	__printf(3, 4);

/* How bench_args_parse() reads an option's value into its @dst. */
enum bench_opt_kind {
	BENCH_OPT_FLAG, /* no value: bool *dst = true */
	BENCH_OPT_U64, /* parse_u64() into uint64_t *dst */
	BENCH_OPT_SIZE, /* parse_size() into uint64_t *dst */
	BENCH_OPT_U64_LIST, /* "a,b,c": parse_u64_list() into uint64_t dst[] */
	BENCH_OPT_SIZE_LIST, /* "4K,1M": parse_size() each into uint64_t dst[] */
	BENCH_OPT_FN, /* parse(value, dst), for names and lists of names */
};

/*
 * One option of a benchmark's command line, given as "--name value" or
 * "--name=value". Numbers, and each number of a list, must lie in
 * [@min, @max] and be a multiple of @align (when not 0). A bad value is
 * reported as "--name 'value': <hint>".
 */
struct bench_opt {
	const char *name;
	enum bench_opt_kind kind;
	void *dst;
	/* Lists: the count read (left alone until the option is given). */
	size_t *n;
	size_t max_n; /* lists: room in dst[] */
	uint64_t min, max, align;
	/* BENCH_OPT_FN: 0, or -EINVAL for a bad value. */
	int (*parse)(const char *val, void *dst);
	const char *hint;
};

/* A number macro as a string, to spell a limit in a hint. */
#define BENCH_STR(x)  BENCH_STR_(x)
#define BENCH_STR_(x) #x

/* "--reps N", with the hint every benchmark gives for it. */
#define BENCH_OPT_REPS(reps, max_reps)                                  \
	{                                                               \
		.name = "--reps", .kind = BENCH_OPT_U64, .dst = (reps), \
		.min = 1, .max = (max_reps),                            \
		.hint = "a count 1.." BENCH_STR(max_reps)               \
	}

/* What bench_args_parse() found: run, or stop with status 0 or 2. */
enum bench_args { BENCH_ARGS_RUN = 0, BENCH_ARGS_HELP, BENCH_ARGS_BAD };

/**
 * bench_args_parse() - read @argv (argv[0] is the bench name) against the
 * @nopts options of @opts. --help and -h print the usage line on stdout;
 * an unknown option, a missing value or a bad one is reported by
 * bench_usage_error(). Options not given leave their @dst untouched.
 * Return: BENCH_ARGS_RUN; BENCH_ARGS_HELP after --help (the benchmark
 * returns 0) or BENCH_ARGS_BAD after a bad command line (it returns 2).
 */
enum bench_args bench_args_parse(const char *name, const char *usage, int argc,
				 char **argv, const struct bench_opt *opts,
				 size_t nopts);

#endif
