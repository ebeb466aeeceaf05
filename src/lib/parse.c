// SPDX-License-Identifier: MIT
/*
 * parse.c - strict number parsing for command lines (parse.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iodirty/parse.h>

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

int parse_u64(const char *s, uint64_t *v)
{
	int rc = parse_digits(&s, v);

	if (rc)
		return rc;
	return *s ? -EINVAL : 0;
}

int parse_u64_list(const char *s, uint64_t *v, size_t max, size_t *n)
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

int parse_size(const char *s, uint64_t *v)
{
	static const char units[] = "KMGT";
	char num[32], *end;
	size_t n = strspn(s, "0123456789");
	unsigned int shift = 0;
	const char *u;

	if (!n || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = 0;
	if (s[n]) {
		u = strchr(units, s[n] & ~0x20);
		if (!u || !*u)
			return -EINVAL;
		shift = 10 * (unsigned int)(u - units + 1);
		if (s[n + 1] && strcmp(s + n + 1, "iB") && strcmp(s + n + 1, "B"))
			return -EINVAL;
	}
	errno = 0;
	*v = strtoull(num, &end, 10);
	if (errno || *end || (shift && *v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*v <<= shift;
	return 0;
}

const char *size_str(char *buf, size_t len, uint64_t bytes)
{
	if (bytes < 1024)
		snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
	else if (bytes < (1ULL << 20))
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024);
	else if (bytes < (1ULL << 30))
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
	else
		snprintf(buf, len, "%.2f GiB", (double)bytes / (1 << 30));
	return buf;
}
