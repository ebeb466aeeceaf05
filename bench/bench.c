// SPDX-License-Identifier: MIT
/*
 * bench.c - what every benchmark shares: a monotonic clock, min/median of
 * repetitions, the stream-read floor, machine facts and argument parsing
 * (docs: STYLE.md, "Tests and benchmarks": figures with --json, and the
 * physical limit measured in the same run).
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

/* "4K,1M": each item by parse_size(); an empty item is -EINVAL. */
static int parse_size_list(const char *s, uint64_t *v, size_t max, size_t *n)
{
	size_t count = 0;

	for (;;) {
		size_t len = strcspn(s, ",");
		char item[32];
		int rc;

		if (!len || len >= sizeof(item))
			return -EINVAL;
		if (count == max)
			return -E2BIG;
		memcpy(item, s, len);
		item[len] = '\0';
		rc = parse_size(item, &v[count]);
		if (rc)
			return rc;
		count++;
		if (!s[len])
			break;
		s += len + 1;
	}
	*n = count;
	return 0;
}

/* @val into @o's destination: 0, or -EINVAL/-ERANGE/-E2BIG when bad. */
static int opt_read(const struct bench_opt *o, const char *val)
{
	uint64_t *v = o->dst;
	size_t n = 1;
	int rc;

	switch (o->kind) {
	case BENCH_OPT_U64:
		rc = parse_u64(val, v);
		break;
	case BENCH_OPT_SIZE:
		rc = parse_size(val, v);
		break;
	case BENCH_OPT_U64_LIST:
		rc = parse_u64_list(val, v, o->max_n, &n);
		break;
	case BENCH_OPT_SIZE_LIST:
		rc = parse_size_list(val, v, o->max_n, &n);
		break;
	case BENCH_OPT_FN:
		return o->parse(val, o->dst);
	default:
		return -EINVAL;
	}
	for (size_t i = 0; !rc && i < n; i++)
		if (v[i] < o->min || v[i] > o->max ||
		    (o->align && v[i] % o->align))
			rc = -ERANGE;
	if (!rc && o->n)
		*o->n = n;
	return rc;
}

/* The option @arg names in its first @klen bytes, or NULL. */
static const struct bench_opt *opt_find(const struct bench_opt *opts,
					size_t nopts, const char *arg,
					size_t klen)
{
	for (size_t k = 0; k < nopts; k++)
		if (klen == strlen(opts[k].name) &&
		    !strncmp(arg, opts[k].name, klen))
			return &opts[k];
	return NULL;
}

enum bench_args bench_args_parse(const char *name, const char *usage, int argc,
				 char **argv, const struct bench_opt *opts,
				 size_t nopts)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
		const struct bench_opt *o = opt_find(opts, nopts, arg, klen);
		const char *val;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			printf("usage: iodirty bench %s %s\n", name, usage);
			return BENCH_ARGS_HELP;
		}
		if (!o || (o->kind == BENCH_OPT_FLAG && eq)) {
			bench_usage_error(name, usage, "unknown option '%s'",
					  arg);
			return BENCH_ARGS_BAD;
		}
		if (o->kind == BENCH_OPT_FLAG) {
			*(bool *)o->dst = true;
			continue;
		}
		val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!val) {
			bench_usage_error(name, usage, "%s needs a value", arg);
			return BENCH_ARGS_BAD;
		}
		if (opt_read(o, val)) {
			bench_usage_error(name, usage, "%s '%s': %s", o->name,
					  val, o->hint);
			return BENCH_ARGS_BAD;
		}
	}
	return BENCH_ARGS_RUN;
}

void bench_json_begin(struct json *j, const char *name)
{
	char model[128];

	bench_cpu_model(model, sizeof(model));
	json_init(j, stdout, 2);
	json_open(j, NULL, '{');
	json_str(j, "bench", name);
	json_u64(j, "cpus", bench_cpu_count());
	json_str(j, "cpu_model", model);
}
