/* SPDX-License-Identifier: MIT */
/*
 * test.h - iodirty's test harness.
 *
 * Every test runs in its own child process (as the kernel's kselftest
 * harness does), so a crash, a failed ASSERT or a leak of global state stays
 * in that test. A test may be run once, or once per variant:
 *
 *   TEST(pt, map_basic) { ... }
 *
 *   struct fmt_variant { const char *name; enum pt_format format; };
 *   static const struct fmt_variant fmts[] = { { "amdv1", PT_FMT_AMDV1 }, ... };
 *   TEST_VARIANTS(pt, oracle, struct fmt_variant, fmts) { ... use v->format ... }
 *
 * A variant struct must begin with `const char *name`.
 * EXPECT_* records a failure and goes on; ASSERT_* ends the test.
 * SKIP(reason) ends the test as skipped; the reason is printed.
 * The runner's last line is "N passed, N failed, N skipped".
 */
#ifndef IODIRTY_TEST_H
#define IODIRTY_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn_t)(const void *variant);

struct test_case {
	const char *suite;
	const char *name;
	test_fn_t fn;
	const void *variants;	/* NULL: run once */
	size_t nvariants;
	size_t variant_size;
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void test_abort(void) __attribute__((noreturn));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A seed for random sequences: IODIRTY_TEST_SEED, or fixed per test. */
uint64_t test_seed(void);
/* xorshift64* over *state. */
uint64_t test_rand(uint64_t *state);

#define TEST__CAT2(a, b) a##b
#define TEST__CAT(a, b)	 TEST__CAT2(a, b)

#define TEST__REGISTER(suite_, name_, fn_, vars_, n_, sz_)                  \
	static struct test_case TEST__CAT(tc_, fn_) = {                     \
		.suite = #suite_, .name = #name_, .fn = fn_,                \
		.variants = vars_, .nvariants = n_, .variant_size = sz_,    \
	};                                                                  \
	__attribute__((constructor)) static void TEST__CAT(reg_, fn_)(void) \
	{                                                                   \
		test_register(&TEST__CAT(tc_, fn_));                        \
	}

#define TEST(suite, name)                                                   \
	static void TEST__CAT(suite##_, name)(void);                        \
	static void TEST__CAT(suite##_##name, _run)(const void *v)          \
	{                                                                   \
		(void)v;                                                    \
		TEST__CAT(suite##_, name)();                                \
	}                                                                   \
	TEST__REGISTER(suite, name, TEST__CAT(suite##_##name, _run), NULL,  \
		       0, 0)                                                \
	static void TEST__CAT(suite##_, name)(void)

#define TEST_VARIANTS(suite, name, vtype, varr)                             \
	static void TEST__CAT(suite##_, name)(const vtype *v);              \
	static void TEST__CAT(suite##_##name, _run)(const void *v)          \
	{                                                                   \
		TEST__CAT(suite##_, name)((const vtype *)v);                \
	}                                                                   \
	TEST__REGISTER(suite, name, TEST__CAT(suite##_##name, _run), varr,  \
		       sizeof(varr) / sizeof(varr[0]), sizeof(vtype))       \
	static void TEST__CAT(suite##_, name)(const vtype *v)

#define TEST__CMP(kind, a, op, b, fatal)                                    \
	do {                                                                \
		__typeof__(a) a_ = (a);                                     \
		__typeof__(b) b_ = (b);                                     \
		_Pragma("GCC diagnostic push")                              \
		_Pragma("GCC diagnostic ignored \"-Wsign-compare\"")        \
		bool ok_ = a_ op b_;                                        \
		_Pragma("GCC diagnostic pop")                               \
		if (!ok_) {                                                 \
			test_fail_at(__FILE__, __LINE__,                    \
				     "%s %s %s: %" PRId64 " (0x%" PRIx64    \
				     ") vs %" PRId64 " (0x%" PRIx64 ")",    \
				     #a, #op, #b, (int64_t)a_, (uint64_t)a_, \
				     (int64_t)b_, (uint64_t)b_);            \
			if (fatal)                                          \
				test_abort();                               \
		}                                                           \
	} while (0)

#define EXPECT_EQ(a, b) TEST__CMP(EXPECT, a, ==, b, 0)
#define EXPECT_NE(a, b) TEST__CMP(EXPECT, a, !=, b, 0)
#define EXPECT_LT(a, b) TEST__CMP(EXPECT, a, <, b, 0)
#define EXPECT_LE(a, b) TEST__CMP(EXPECT, a, <=, b, 0)
#define EXPECT_GT(a, b) TEST__CMP(EXPECT, a, >, b, 0)
#define EXPECT_GE(a, b) TEST__CMP(EXPECT, a, >=, b, 0)
#define ASSERT_EQ(a, b) TEST__CMP(ASSERT, a, ==, b, 1)
#define ASSERT_NE(a, b) TEST__CMP(ASSERT, a, !=, b, 1)
#define ASSERT_LT(a, b) TEST__CMP(ASSERT, a, <, b, 1)
#define ASSERT_LE(a, b) TEST__CMP(ASSERT, a, <=, b, 1)
#define ASSERT_GT(a, b) TEST__CMP(ASSERT, a, >, b, 1)
#define ASSERT_GE(a, b) TEST__CMP(ASSERT, a, >=, b, 1)

#define EXPECT_TRUE(c)  TEST__CMP(EXPECT, !!(c), ==, 1, 0)
#define EXPECT_FALSE(c) TEST__CMP(EXPECT, !!(c), ==, 0, 0)
#define ASSERT_TRUE(c)  TEST__CMP(ASSERT, !!(c), ==, 1, 1)
#define ASSERT_FALSE(c) TEST__CMP(ASSERT, !!(c), ==, 0, 1)

#define EXPECT_MEMEQ(a, b, n)                                               \
	do {                                                                \
		if (memcmp((a), (b), (n)))                                  \
			test_fail_at(__FILE__, __LINE__, "%s != %s (%zu bytes)", \
				     #a, #b, (size_t)(n));                  \
	} while (0)

/* For POSIX-style calls: expect -1 with errno @e. */
#define TEST__ERRNO(e, expr, fatal)                                         \
	do {                                                                \
		long r_;                                                    \
		errno = 0;                                                  \
		r_ = (long)(expr);                                          \
		if (r_ != -1 || errno != (e)) {                             \
			test_fail_at(__FILE__, __LINE__,                    \
				     "%s: returned %ld errno %d (%s), want -1 errno %d (%s)", \
				     #expr, r_, errno, strerror(errno), (e), \
				     strerror(e));                          \
			if (fatal)                                          \
				test_abort();                               \
		}                                                           \
	} while (0)
#define EXPECT_ERRNO(e, expr) TEST__ERRNO(e, expr, 0)
#define ASSERT_ERRNO(e, expr) TEST__ERRNO(e, expr, 1)

/* For internal calls returning 0 / -errno. */
#define TEST__RC(want, expr, fatal)                                         \
	do {                                                                \
		long r_ = (long)(expr);                                     \
		long w_ = (long)(want);                                     \
		if (r_ != w_) {                                             \
			test_fail_at(__FILE__, __LINE__,                    \
				     "%s: returned %ld (%s), want %ld (%s)", \
				     #expr, r_, r_ < 0 ? strerror((int)-r_) : "", \
				     w_, w_ < 0 ? strerror((int)-w_) : ""); \
			if (fatal)                                          \
				test_abort();                               \
		}                                                           \
	} while (0)
#define EXPECT_RC(want, expr) TEST__RC(want, expr, 0)
#define ASSERT_RC(want, expr) TEST__RC(want, expr, 1)

#define SKIP(...) test_skip(__VA_ARGS__)

#endif
