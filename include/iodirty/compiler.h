/* SPDX-License-Identifier: MIT */
/*
 * compiler.h - small helpers every component uses: array sizes, container_of,
 * alignment, overflow-checked address arithmetic and lg2 size helpers.
 */
#ifndef IODIRTY_COMPILER_H
#define IODIRTY_COMPILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define offsetofend(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define __printf(a, b) __attribute__((format(printf, a, b)))
#define __unused       __attribute__((unused))

/* IODIRTY_TSAN: built with ThreadSanitizer (gcc or clang). */
#if defined(__SANITIZE_THREAD__)
#define IODIRTY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IODIRTY_TSAN 1
#endif
#endif

/*
 * guest_ram_racy_begin() / _end() - around a read of guest RAM that races
 * by design: the VMM copies pages while devices DMA into them (and vCPUs
 * write them, unseen by ThreadSanitizer); the dirty log, not a lock, makes
 * it correct. Under TSan such reads are not recorded; otherwise nothing.
 */
#ifdef IODIRTY_TSAN
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define guest_ram_racy_begin() __tsan_ignore_thread_begin()
#define guest_ram_racy_end()   __tsan_ignore_thread_end()
#else
#define guest_ram_racy_begin() ((void)0)
#define guest_ram_racy_end()   ((void)0)
#endif

#define BIT_ULL(n) (1ULL << (n))
/* GENMASK_ULL(h, l): bits h..l set, h >= l. */
#define GENMASK_ULL(h, l) ((~0ULL >> (63 - (h))) & (~0ULL << (l)))

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

static inline bool is_power_of_2_u64(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Index of the lowest set bit; x must be non-zero. */
static inline unsigned int ffs64(uint64_t x)
{
	return (unsigned int)__builtin_ctzll(x);
}

/* Index of the highest set bit; x must be non-zero. */
static inline unsigned int fls64(uint64_t x)
{
	return 63u - (unsigned int)__builtin_clzll(x);
}

static inline uint64_t align_down_u64(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static inline bool is_aligned_u64(uint64_t x, uint64_t a)
{
	return !(x & (a - 1));
}

/*
 * range_last() - the inclusive end of (start, length).
 *
 * Return: 0 and *last set, or -EOVERFLOW when the range wraps; a zero length
 * is -EINVAL (the callers' ranges are never empty).
 */
int range_last(uint64_t start, uint64_t length, uint64_t *last);

/* An inclusive range [start, last]. */
struct range {
	uint64_t start;
	uint64_t last;
};

/**
 * range_holes() - the parts of [0, UINT64_MAX] that none of @used covers,
 * in order. @used is sorted in place. Up to @max holes go to @out.
 * Return: how many holes there are (may exceed @max).
 */
unsigned int range_holes(struct range *used, unsigned int n,
			 struct range *out, unsigned int max);

#endif
