/* SPDX-License-Identifier: MIT */
/*
 * pt_common.h - what the page-table engine's test suites share: the list of
 * formats, backing memory whose host addresses serve as physical addresses,
 * a caller bitmap with guard bytes, and the knob that scales how much work
 * the randomised suites do.
 */
#ifndef IODIRTY_TESTS_PT_COMMON_H
#define IODIRTY_TESTS_PT_COMMON_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <iodirty/err.h>
#include <iodirty/pt.h>

#include "../harness/test.h"

#define SZ_2K (1ULL << 11)
#define SZ_4K (1ULL << 12)
#define SZ_1M (1ULL << 20)
#define SZ_2M (1ULL << 21)
#define SZ_1G (1ULL << 30)

#define RW (PT_PROT_READ | PT_PROT_WRITE)

struct fmt_variant {
	const char *name;
	enum pt_format format;
};

static const struct fmt_variant pt_all_formats[] = {
	{ "amdv1", PT_FMT_AMDV1 },
	{ "vtdss", PT_FMT_VTDSS },
	{ "arm-s1", PT_FMT_ARM_S1 },
	{ "mock", PT_FMT_MOCK },
};

/* IODIRTY_TEST_SCALE: a factor on how much work randomised suites do. */
static inline double pt_test_env_scale(void)
{
	const char *env = getenv("IODIRTY_TEST_SCALE");

	return env && strtod(env, NULL) > 0 ? strtod(env, NULL) : 1.0;
}

/*
 * How many operations randomised suites do: sanitizer builds run 5-10
 * times slower and start at a quarter, unless IODIRTY_TEST_SCALE is set.
 */
static inline double pt_test_scale(void)
{
	double scale = 1.0;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	scale = 0.25;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
	scale = 0.25;
#endif
#endif
	if (getenv("IODIRTY_TEST_SCALE"))
		scale = pt_test_env_scale();
	return scale;
}

static inline unsigned long pt_test_scaled(unsigned long n)
{
	double v = (double)n * pt_test_scale();

	return v < 1 ? 1 : (unsigned long)v;
}

/*
 * Backing memory: @size bytes aligned to @align, reserved but not committed,
 * so a 1 GiB-aligned gigabyte costs only the pages DMA touches.
 */
struct pt_mem {
	void *map;
	size_t map_len;
	uint8_t *base;
	uint64_t size;
};

static inline void pt_mem_alloc(struct pt_mem *m, uint64_t size, uint64_t align)
{
	uintptr_t p;

	m->map_len = size + align;
	m->map = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(m->map != MAP_FAILED);
	p = ((uintptr_t)m->map + align - 1) & ~(uintptr_t)(align - 1);
	m->base = (uint8_t *)p;
	m->size = size;
}

static inline void pt_mem_free(struct pt_mem *m)
{
	munmap(m->map, m->map_len);
}

/*
 * A caller's bitmap of @nbits bits at an address @skew bytes past a 64-byte
 * boundary, between guard bytes that nothing may write.
 */
enum { PT_BITS_GUARD = 64, PT_BITS_POISON = 0xa5 };

struct pt_bits {
	uint8_t *alloc;
	uint8_t *buf;
	size_t nbytes;
};

static inline void pt_bits_alloc(struct pt_bits *b, uint64_t nbits,
				 unsigned int skew)
{
	b->nbytes = (size_t)DIV_ROUND_UP(nbits, 8);
	b->alloc = malloc(b->nbytes + 2 * PT_BITS_GUARD + 64);
	ASSERT_TRUE(b->alloc);
	b->buf = b->alloc + PT_BITS_GUARD + (skew % 64);
	memset(b->alloc, PT_BITS_POISON, b->nbytes + 2 * PT_BITS_GUARD + 64);
	memset(b->buf, 0, b->nbytes);
}

/* Whether the guard bytes either side of the bitmap are intact. */
static inline bool pt_bits_guards_ok(const struct pt_bits *b)
{
	size_t total = b->nbytes + 2 * PT_BITS_GUARD + 64;

	for (size_t i = 0; i < total; i++) {
		const uint8_t *p = b->alloc + i;

		if (p >= b->buf && p < b->buf + b->nbytes)
			continue;
		if (*p != PT_BITS_POISON)
			return false;
	}
	return true;
}

static inline bool pt_bit(const uint8_t *buf, uint64_t i)
{
	return buf[i / 8] & (1u << (i % 8));
}

static inline void pt_bits_free(struct pt_bits *b)
{
	free(b->alloc);
}

#endif
