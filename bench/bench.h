/* SPDX-License-Identifier: MIT */
/*
 * bench.h - benchmarks reachable as `iodirty bench NAME`. Each benchmark is
 * one bench/<name>.c and one row of the table in src/cli/cmd-bench.c; the
 * helpers they share (clock, statistics, the memory-bandwidth floor, a small
 * JSON writer, argument parsing, machine facts) live in bench/bench.c.
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

/** bench_cpu_count() - online CPUs. */
unsigned int bench_cpu_count(void);

/**
 * bench_cpu_model() - the first "model name" of /proc/cpuinfo into @buf.
 * Return: 0, or -ENOENT when there is none (@buf then holds "unknown").
 */
int bench_cpu_model(char *buf, size_t len);

/**
 * bench_parse_u64() - a whole decimal string, no sign, no trailing bytes.
 * Return: 0, -EINVAL when @s is not a number, -ERANGE when it overflows.
 */
int bench_parse_u64(const char *s, uint64_t *v);

/**
 * bench_parse_u64_list() - "a,b,c" into @v (at most @max values).
 * Return: 0 and *@n, -EINVAL for an empty item or a non-number, -ERANGE for
 * an overflow, -E2BIG for more than @max items.
 */
int bench_parse_u64_list(const char *s, uint64_t *v, size_t max, size_t *n);

/**
 * bench_usage_error() - "iodirty bench NAME: <msg>" and the bench's usage
 * line on stderr, as usage_error() prints for a verb.
 * Return: 2, the exit status of a bad command line.
 */
int bench_usage_error(const char *name, const char *usage, const char *fmt, ...)
	__printf(3, 4);

/*
 * A JSON writer for one object on a stream. Members of containers nested
 * at most @wrap_depth deep each start a new, indented line; deeper ones stay
 * on their parent's line (so an array of flat rows prints one row a line).
 * Keys are NULL inside arrays. Non-finite doubles print as null.
 */
#define BENCH_JSON_MAX_DEPTH 8

struct bench_json {
	FILE *f;
	unsigned int depth;
	unsigned int wrap_depth;
	bool has_member[BENCH_JSON_MAX_DEPTH];
	char closer[BENCH_JSON_MAX_DEPTH];
};

void bench_json_init(struct bench_json *j, FILE *f, unsigned int wrap_depth);
/**
 * bench_json_open() - start an object ('{') or array ('[') member; at most
 * BENCH_JSON_MAX_DEPTH - 1 containers deep.
 */
void bench_json_open(struct bench_json *j, const char *key, char bracket);
/** bench_json_close() - end the innermost container; the last adds "\n". */
void bench_json_close(struct bench_json *j);
void bench_json_str(struct bench_json *j, const char *key, const char *val);
void bench_json_u64(struct bench_json *j, const char *key, uint64_t val);
void bench_json_double(struct bench_json *j, const char *key, double val);

#endif
