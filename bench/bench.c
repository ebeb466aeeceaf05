// SPDX-License-Identifier: MIT
/*
 * bench.c - what every benchmark shares: a monotonic clock, min/median of
 * repetitions, the stream-read floor, machine facts, argument parsing and a
 * small JSON writer (docs: STYLE.md, "Tests and benchmarks": figures with
 * --json, and the physical limit measured in the same run).
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t bench_min_u64(const uint64_t *v, size_t n)
{
	uint64_t min = v[0];

	for (size_t i = 1; i < n; i++)
		if (v[i] < min)
			min = v[i];
	return min;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t bench_median_u64(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	if (n & 1)
		return v[n / 2];
	return v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

uint64_t bench_sum_u64(const uint64_t *a, size_t n)
{
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i;

	/* Four independent sums, so the adds never limit the loads. */
	for (i = 0; i + 4 <= n; i += 4) {
		s0 += a[i];
		s1 += a[i + 1];
		s2 += a[i + 2];
		s3 += a[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i];
	return s0 + s1 + s2 + s3;
}

const char *bench_fmt(char *buf, size_t len, double v)
{
	double a = v < 0 ? -v : v;

	if (!isfinite(v))
		snprintf(buf, len, "-");
	else if (a >= 1e12 || (a > 0 && a < 0.001))
		snprintf(buf, len, "%.3g", v);
	else if (a >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 100)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 10)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3f", v);
	return buf;
}

uint64_t bench_rss_bytes(void)
{
	unsigned long long size, resident;
	FILE *f;
	int n;

	malloc_trim(0);
	f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

unsigned int bench_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned int)n : 1;
}

int bench_cpu_model(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");
	int rc = -ENOENT;

	snprintf(buf, len, "unknown");
	if (!f)
		return rc;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !v)
			continue;
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
		v[strcspn(v, "\n")] = '\0';
		snprintf(buf, len, "%s", v);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

int bench_usage_error(const char *name, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "iodirty bench %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: iodirty bench %s %s\n", name, usage);
	return 2;
}

