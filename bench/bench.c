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

/* Digits at *@s up to the first non-digit, which *@s is left pointing at. */
static int parse_digits(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (__builtin_mul_overflow(x, 10, &x) ||
		    __builtin_add_overflow(x, (uint64_t)(*p - '0'), &x))
			return -ERANGE;
	}
	*s = p;
	*v = x;
	return 0;
}

int bench_parse_u64(const char *s, uint64_t *v)
{
	int rc = parse_digits(&s, v);

	if (rc)
		return rc;
	return *s ? -EINVAL : 0;
}

int bench_parse_u64_list(const char *s, uint64_t *v, size_t max, size_t *n)
{
	size_t count = 0;

	for (;;) {
		uint64_t x;
		int rc = parse_digits(&s, &x);

		if (rc)
			return rc;
		if (*s && *s != ',')
			return -EINVAL;
		if (count == max)
			return -E2BIG;
		v[count++] = x;
		if (!*s)
			break;
		s++;
	}
	*n = count;
	return 0;
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

void bench_json_init(struct bench_json *j, FILE *f, unsigned int wrap_depth)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->wrap_depth = wrap_depth;
}

static void json_newline(struct bench_json *j, unsigned int depth)
{
	fputc('\n', j->f);
	for (unsigned int i = 0; i < depth; i++)
		fputs("  ", j->f);
}

static void json_string(struct bench_json *j, const char *s)
{
	fputc('"', j->f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(j->f, "\\%c", c);
		else if (c < 0x20)
			fprintf(j->f, "\\u%04x", c);
		else
			fputc(c, j->f);
	}
	fputc('"', j->f);
}

/* The separator and key that go before every member. */
static void json_member(struct bench_json *j, const char *key)
{
	if (j->depth) {
		if (j->has_member[j->depth])
			fputc(',', j->f);
		if (j->depth <= j->wrap_depth)
			json_newline(j, j->depth);
		else if (j->has_member[j->depth])
			fputc(' ', j->f);
		j->has_member[j->depth] = true;
	}
	if (key) {
		json_string(j, key);
		fputs(": ", j->f);
	}
}

void bench_json_open(struct bench_json *j, const char *key, char bracket)
{
	json_member(j, key);
	fputc(bracket, j->f);
	if (j->depth + 1 >= BENCH_JSON_MAX_DEPTH)
		return;
	j->depth++;
	j->has_member[j->depth] = false;
	j->closer[j->depth] = bracket == '{' ? '}' : ']';
}

void bench_json_close(struct bench_json *j)
{
	if (!j->depth)
		return;
	if (j->has_member[j->depth] && j->depth <= j->wrap_depth)
		json_newline(j, j->depth - 1);
	fputc(j->closer[j->depth], j->f);
	j->depth--;
	if (!j->depth)
		fputc('\n', j->f);
}

void bench_json_str(struct bench_json *j, const char *key, const char *val)
{
	json_member(j, key);
	json_string(j, val);
}

void bench_json_u64(struct bench_json *j, const char *key, uint64_t val)
{
	json_member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void bench_json_double(struct bench_json *j, const char *key, double val)
{
	json_member(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.10g", val);
	else
		fputs("null", j->f);
}
