// SPDX-License-Identifier: MIT
/*
 * iova_bitmap_test.c - the caller's dirty bitmap (include/iodirty/
 * iova_bitmap.h) against a one-byte-per-bit model.
 *
 * Bit i stands for [iova + i * 2^shift, ...), shift being the lowest set bit
 * of page_size, and is bit i % 8 of byte i / 8 of the caller's buffer,
 * which may start at any address and hold any number of bits. Bits are
 * only ever set. iova_bitmap_for_each() walks the bitmap in windows of
 * window_bytes, and a set from inside one window may reach into others.
 * Every case checks the exact bytes, that bits already set stay set, that
 * nothing outside the buffer's DIV_ROUND_UP(nbits, 8) bytes is touched
 * (guard bytes; a uaccess that refuses anything outside), and that a
 * uaccess fault is -EFAULT, from alloc for the first window and from
 * for_each for a later one, never a crash. With a uaccess that pins, the
 * same, and only the caller's pages that receive bits are read and
 * written.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/err.h>
#include <iodirty/iova_bitmap.h>
#include <iodirty/uaccess.h>

#include "../harness/test.h"

enum { GUARD = 256, POISON = 0xa5 };

/* A caller's buffer at @skew bytes past a page boundary, between guards. */
struct buf {
	uint8_t *alloc, *p;
	size_t nbytes, total;
};

static void buf_alloc(struct buf *b, uint64_t nbits, size_t skew)
{
	b->nbytes = (size_t)DIV_ROUND_UP(nbits, 8);
	b->total = GUARD + skew + b->nbytes + GUARD;
	ASSERT_EQ(posix_memalign((void **)&b->alloc, 4096, b->total), 0);
	memset(b->alloc, POISON, b->total);
	b->p = b->alloc + GUARD + skew;
}

static bool buf_guards_ok(const struct buf *b)
{
	for (size_t i = 0; i < b->total; i++) {
		const uint8_t *q = b->alloc + i;

		if ((q < b->p || q >= b->p + b->nbytes) && *q != POISON)
			return false;
	}
	return true;
}

/*
 * A caller's address space for the uaccess path: user address @base is
 * buf[0]. Anything outside the bitmap's bytes is a test failure, and
 * reads or writes touching [bad_lo, bad_hi) fault.
 */
struct fake_user {
	uint64_t base;
	uint8_t *buf;
	size_t len;
	uint64_t bad_lo, bad_hi;
	bool bad_read, bad_write;
	unsigned long reads, writes, pins, outside;
	uint64_t bytes_read, bytes_written;
};

static bool fu_ok(struct fake_user *u, uint64_t addr, size_t n, bool bad)
{
	if (!n || addr < u->base || addr + n > u->base + u->len) {
		u->outside++;
		return false;
	}
	return !(bad && addr < u->bad_hi && addr + n > u->bad_lo);
}

static int fu_read(void *opaque, void *dst, uint64_t src, size_t n)
{
	struct fake_user *u = opaque;

	if (!fu_ok(u, src, n, u->bad_read))
		return -EFAULT;
	memcpy(dst, u->buf + (src - u->base), n);
	u->reads++;
	u->bytes_read += n;
	return 0;
}

static int fu_write(void *opaque, uint64_t dst, const void *src, size_t n)
{
	struct fake_user *u = opaque;

	if (!fu_ok(u, dst, n, u->bad_write))
		return -EFAULT;
	memcpy(u->buf + (dst - u->base), src, n);
	u->writes++;
	u->bytes_written += n;
	return 0;
}

/* A pin is for writing: the bytes must be there and writable. */
static int fu_pin(void *opaque, uint64_t addr, size_t n)
{
	struct fake_user *u = opaque;

	if (!fu_ok(u, addr, n, u->bad_write))
		return -EFAULT;
	u->pins++;
	return 0;
}

/* The model: one byte per bit. */
struct model {
	uint64_t iova, last, nbits;
	unsigned int shift;
	uint8_t *bit;
};

static void model_init(struct model *m, uint64_t iova, uint64_t length,
		       uint64_t page_size, const uint8_t *initial)
{
	m->iova = iova;
	m->last = iova + length - 1;
	m->shift = (unsigned int)__builtin_ctzll(page_size);
	m->nbits = ((length - 1) >> m->shift) + 1;
	m->bit = malloc(m->nbits);
	ASSERT_TRUE(m->bit);
	for (uint64_t i = 0; i < m->nbits; i++)
		m->bit[i] = (initial[i / 8] >> (i % 8)) & 1;
}

static void model_set(struct model *m, uint64_t iova, uint64_t length)
{
	uint64_t last, lo, hi;

	if (!length)
		return;
	last = iova + length - 1 < iova ? UINT64_MAX : iova + length - 1;
	lo = iova > m->iova ? iova : m->iova;
	hi = last < m->last ? last : m->last;
	if (lo > hi)
		return;
	for (uint64_t i = (lo - m->iova) >> m->shift;
	     i <= (hi - m->iova) >> m->shift; i++)
		m->bit[i] = 1;
}

/* The caller's bytes must be the model's, bits past nbits untouched. */
static void model_check(const struct model *m, const uint8_t *got,
			const uint8_t *initial)
{
	uint64_t bad = 0, first = 0;

	for (uint64_t i = 0; i < DIV_ROUND_UP(m->nbits, 8) * 8; i++) {
		int want = i < m->nbits ? m->bit[i] :
					  (initial[i / 8] >> (i % 8)) & 1;

		if (((got[i / 8] >> (i % 8)) & 1) != want && !bad++)
			first = i;
	}
	EXPECT_EQ(bad, 0);
	if (bad)
		fprintf(stderr,
			"  first wrong bit %" PRIu64 " of %" PRIu64 "\n", first,
			m->nbits);
}

struct bm_case {
	const char *name;
	uint64_t nbits;
	size_t skew; /* buffer address past a page boundary */
	uint64_t page_size;
	uint64_t iova_off; /* bitmap iova past a page_size boundary */
	size_t window; /* window_bytes; 0: the default */
	bool ua;
	bool pin; /* the uaccess pins (with ua) */
};

static const struct bm_case bm_cases[] = {
	{ "1bit", 1, 1, 4096, 0, 0, false, false },
	{ "7bits-2k-win1", 7, 3, 2048, 0, 1, false, false },
	{ "63bits-64k-win8-ua", 63, 0xff1, 65536, 0, 8, true, false },
	{ "64bits-win8", 64, 0, 4096, 0, 8, false, false },
	{ "65bits-win1-ua", 65, 7, 4096, 0, 1, true, false },
	{ "1000bits-win8", 1000, 1, 4096, 0x123, 8, false, false },
	{ "1000bits-win3-ua", 1000, 0xfff, 4096, 0, 3, true, false },
	{ "npot-0x3000-win64", 5000, 5, 0x3000, 0x800, 64, false, false },
	{ "npot-0x1800-win8-ua", 777, 2, 0x1800, 0, 8, true, false },
	{ "npot-3-win8", 999, 9, 3, 0, 8, false, false },
	{ "1000003bits-win64", 1000003, 0xff1, 4096, 0, 64, false, false },
	{ "1000003bits-win4096-ua", 1000003, 1, 4096, 0x10, 4096, true, false },
	{ "1000003bits-default-ua", 1000003, 0x801, 2048, 0, 0, true, false },
	{ "1tb-pages", 3, 1, 1ULL << 40, 0, 0, false, false },
	{ "63bits-64k-win8-pin", 63, 0xff1, 65536, 0, 8, true, true },
	{ "65bits-win1-pin", 65, 7, 4096, 0, 1, true, true },
	{ "1000bits-win3-pin", 1000, 0xfff, 4096, 0, 3, true, true },
	{ "npot-0x1800-win8-pin", 777, 2, 0x1800, 0, 8, true, true },
	{ "1000003bits-win4096-pin", 1000003, 1, 4096, 0x10, 4096, true, true },
	{ "1000003bits-win5000-pin", 1000003, 0xabc, 4096, 0, 5000, true,
	  true },
	{ "1000003bits-default-pin", 1000003, 0x801, 2048, 0, 0, true, true },
};

struct walk {
	struct model *m;
	uint64_t rng, next, win_span;
	unsigned long windows, sets;
};

/*
 * Called once per window: the windows tile the bitmap in order; set bits
 * in this window, across its edges, in other windows, outside the bitmap.
 */
static int walk_window(struct iova_bitmap *b, uint64_t iova, uint64_t length,
		       void *opaque)
{
	struct walk *w = opaque;
	struct model *m = w->m;
	uint64_t ps = 1ULL << m->shift, left = m->last - iova + 1;
	unsigned int nsets = 1 + (unsigned int)(test_rand(&w->rng) % 4);

	EXPECT_EQ(iova, w->next);
	EXPECT_EQ(length, left < w->win_span ? left : w->win_span);
	w->next = iova + length;
	w->windows++;

	for (unsigned int i = 0; i < nsets; i++) {
		uint64_t r = test_rand(&w->rng), s, len;

		switch (r % 8) {
		case 0:
		case 1:
		case 2:
			/* Inside this window, not page aligned. */
			s = iova + test_rand(&w->rng) % length;
			len = 1 + test_rand(&w->rng) % (2 * ps);
			break;
		case 3:
			/* Across the window's end, into the next. */
			s = iova + length - 1 - test_rand(&w->rng) % ps;
			len = 2 + test_rand(&w->rng) % (3 * w->win_span);
			break;
		case 4:
			/* Across the window's start, from the one before. */
			len = 2 + test_rand(&w->rng) % (2 * w->win_span);
			s = iova - len / 2;
			break;
		case 5:
			/* Anywhere in the bitmap. */
			s = m->iova +
			    test_rand(&w->rng) % (m->last - m->iova + 1);
			len = 1 + test_rand(&w->rng) % (4 * ps);
			break;
		case 6:
			/* Straddling the bitmap's first or last byte. */
			len = 1 + test_rand(&w->rng) % (4 * ps);
			s = r & 8 ? m->iova - len / 2 : m->last - len / 2 + 1;
			break;
		default:
			/* Nothing, or nothing of ours. */
			s = r & 8 ? m->last + 1 + test_rand(&w->rng) % ps :
				    iova;
			len = r & 8 ? ps : 0;
			if (s < m->iova)
				len = 0;
			break;
		}
		iova_bitmap_set(b, s, len);
		model_set(m, s, len);
		w->sets++;
	}
	return 0;
}

TEST_VARIANTS(iova_bitmap, model, struct bm_case, bm_cases)
{
	uint64_t rng = test_seed(), ps = v->page_size;
	uint64_t shift = (uint64_t)__builtin_ctzll(ps);
	uint64_t iova = ((0x123456789ULL << shift) & ~(ps - 1)) + v->iova_off;
	uint64_t length = ((v->nbits - 1) << shift) + 1 +
			  test_rand(&rng) % (1ULL << shift);
	size_t wb = v->window ? v->window : IOVA_BITMAP_WINDOW_BYTES;
	struct fake_user u = { 0 };
	struct uaccess ua = { .read = fu_read,
			      .write = fu_write,
			      .opaque = &u,
			      .pin = v->pin ? fu_pin : NULL };
	struct iova_bitmap *b;
	struct model m;
	struct buf bf;
	uint8_t *initial;
	uint64_t data;
	struct walk w;

	buf_alloc(&bf, v->nbits, v->skew);
	initial = malloc(bf.nbytes);
	ASSERT_TRUE(initial);
	/* What the caller's buffer already holds: about one bit in eight. */
	for (size_t i = 0; i < bf.nbytes; i++) {
		uint64_t r = test_rand(&rng);

		initial[i] = (uint8_t)(r & (r >> 8) & (r >> 16));
	}
	memcpy(bf.p, initial, bf.nbytes);
	model_init(&m, iova, length, ps, initial);
	ASSERT_EQ(m.nbits, v->nbits);

	data = (uintptr_t)bf.p;
	if (v->ua) {
		/* An address the test cannot dereference by mistake. */
		u.base = 0x10000000000ULL + v->skew;
		u.buf = bf.p;
		u.len = bf.nbytes;
		data = u.base;
	}
	b = iova_bitmap_alloc_window(iova, length, ps, data, v->ua ? &ua : NULL,
				     v->window);
	ASSERT_FALSE(IS_ERR(b));
	EXPECT_EQ(iova_bitmap_nbits(b), v->nbits);

	w = (struct walk){ .m = &m,
			   .rng = rng,
			   .next = iova,
			   .win_span = (uint64_t)wb * 8 << shift };
	if (w.win_span >> shift != (uint64_t)wb * 8)
		w.win_span = UINT64_MAX; /* a window wider than 2^64 */
	EXPECT_RC(0, iova_bitmap_for_each(b, &w, walk_window));
	EXPECT_EQ(w.next, iova + length);
	EXPECT_EQ(w.windows, DIV_ROUND_UP(bf.nbytes, wb));
	iova_bitmap_free(b);
	if (v->pin)
		EXPECT_EQ(u.pins, w.windows);

	model_check(&m, bf.p, initial);
	EXPECT_TRUE(buf_guards_ok(&bf));
	EXPECT_EQ(u.outside, 0);
	free(m.bit);
	free(initial);
	free(bf.alloc);
}

TEST(iova_bitmap, alloc_errnos)
{
	uint8_t byte = 0;
	uint64_t data = (uintptr_t)&byte;
	struct iova_bitmap *b;

	EXPECT_EQ(PTR_ERR(iova_bitmap_alloc(0, 4096, 0, data, NULL)), -EINVAL);
	EXPECT_EQ(PTR_ERR(iova_bitmap_alloc(0, 0, 4096, data, NULL)), -EINVAL);
	EXPECT_EQ(
		PTR_ERR(iova_bitmap_alloc(4096, UINT64_MAX, 4096, data, NULL)),
		-EOVERFLOW);
	EXPECT_EQ(PTR_ERR(iova_bitmap_alloc(UINT64_MAX, 2, 1, data, NULL)),
		  -EOVERFLOW);

	/* The very top of the space, and all of it. */
	b = iova_bitmap_alloc(UINT64_MAX - 4095, 4096, 4096, data, NULL);
	ASSERT_FALSE(IS_ERR(b));
	EXPECT_EQ(iova_bitmap_nbits(b), 1);
	iova_bitmap_set(b, UINT64_MAX, 1);
	iova_bitmap_set(b, UINT64_MAX - 8191, UINT64_MAX);
	iova_bitmap_free(b);
	EXPECT_EQ(byte, 1);
	b = iova_bitmap_alloc(0, UINT64_MAX, 4096, data, NULL);
	ASSERT_FALSE(IS_ERR(b));
	EXPECT_EQ(iova_bitmap_nbits(b), 1ULL << 52);
	iova_bitmap_free(b);

	/* The shift is the lowest set bit of page_size. */
	b = iova_bitmap_alloc(0, 0x3000 * 3, 0x3000, data, NULL);
	ASSERT_FALSE(IS_ERR(b));
	EXPECT_EQ(iova_bitmap_nbits(b), 9);
	iova_bitmap_free(b);
	b = iova_bitmap_alloc(0, 10, 6, data, NULL);
	ASSERT_FALSE(IS_ERR(b));
	EXPECT_EQ(iova_bitmap_nbits(b), 5);
	iova_bitmap_free(b);
}

/* Outside iova_bitmap_for_each(): the first window is pinned by alloc. */
TEST(iova_bitmap, set_before_walk)
{
	uint8_t bits[4] = { 0 }, user[4] = { 0 };
	struct fake_user u = { .base = 0x5000, .buf = user, .len = 4 };
	struct uaccess ua = { .read = fu_read,
			      .write = fu_write,
			      .opaque = &u };
	struct iova_bitmap *b;

	b = iova_bitmap_alloc(0x100000, 32 * 4096, 4096, (uintptr_t)bits, NULL);
	ASSERT_FALSE(IS_ERR(b));
	iova_bitmap_set(b, 0x100000 + 9 * 4096 + 5, 4096);
	iova_bitmap_set(b, 0x100000 + 31 * 4096, 1 << 20);
	EXPECT_EQ(bits[1], 0x06);
	EXPECT_EQ(bits[3], 0x80);
	iova_bitmap_free(b);

	/* Through a uaccess the bits reach the caller when the bitmap goes. */
	b = iova_bitmap_alloc_window(0x100000, 32 * 4096, 4096, u.base, &ua, 2);
	ASSERT_FALSE(IS_ERR(b));
	iova_bitmap_set(b, 0x100000, 4096);
	iova_bitmap_set(b, 0x100000 + 20 * 4096, 4096);
	EXPECT_EQ(user[0], 0);
	EXPECT_EQ(user[2], 0x10); /* beyond the window: written through */
	iova_bitmap_free(b);
	EXPECT_EQ(user[0], 1);
	EXPECT_EQ(u.outside, 0);
}

struct count_arg {
	unsigned long calls;
	int fail_at; /* return -E2BIG on this call (1-based) */
	uint64_t set_from; /* IOVA of the bitmap */
	uint64_t set_len; /* each call sets from its window's start */
};

static int count_window(struct iova_bitmap *b, uint64_t iova, uint64_t length,
			void *opaque)
{
	struct count_arg *a = opaque;

	(void)length;
	a->calls++;
	if (a->set_len)
		iova_bitmap_set(b, iova, a->set_len);
	return (int)a->calls == a->fail_at ? -E2BIG : 0;
}

TEST(iova_bitmap, uaccess_faults)
{
	enum { NBYTES = 64, WIN = 8 };
	uint8_t user[NBYTES];
	struct fake_user u = { .base = 0x7000, .buf = user, .len = NBYTES };
	struct uaccess ua = { .read = fu_read,
			      .write = fu_write,
			      .opaque = &u };
	uint64_t iova = 1ULL << 40, len = NBYTES * 8 * 4096ULL;
	struct count_arg a;
	struct iova_bitmap *b;

	/* The first window cannot be read: alloc fails. */
	memset(user, 0, sizeof(user));
	u.bad_lo = u.base + 3;
	u.bad_hi = u.base + 4;
	u.bad_read = true;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	EXPECT_EQ(PTR_ERR(b), -EFAULT);

	/* The fourth window cannot be read: three done, their bits kept. */
	u.bad_lo = u.base + 3 * WIN + 5;
	u.bad_hi = u.bad_lo + 1;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .set_len = 4096 };
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 3);
	iova_bitmap_free(b);
	EXPECT_EQ(user[0], 1);
	EXPECT_EQ(user[WIN], 1);
	EXPECT_EQ(user[2 * WIN], 1);
	EXPECT_EQ(user[3 * WIN], 0);

	/*
	 * A set from the first window that runs into the bad one: the part
	 * that cannot be reached is dropped, the window then fails.
	 */
	memset(user, 0, sizeof(user));
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .set_len = len };
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 3);
	iova_bitmap_free(b);
	for (size_t i = 0; i < 3 * WIN; i++)
		EXPECT_EQ(user[i], 0xff);

	/* Writing back the second window fails. */
	memset(user, 0, sizeof(user));
	u.bad_read = false;
	u.bad_write = true;
	u.bad_lo = u.base + WIN + 2;
	u.bad_hi = u.bad_lo + 1;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .set_len = 4096 };
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 2);
	iova_bitmap_free(b);
	EXPECT_EQ(user[0], 1);
	EXPECT_EQ(user[WIN], 0);

	/* The callback's own error ends the walk and is returned. */
	u.bad_write = false;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .fail_at = 5 };
	EXPECT_RC(-E2BIG, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 5);
	iova_bitmap_free(b);
	EXPECT_EQ(u.outside, 0);
}

/*
 * With a pin, the window is not copied in, and when it is done only the
 * caller's pages (4 KiB of its address space) that received bits are
 * read, ORed and written back, a run of adjacent ones at a time.
 */
TEST(iova_bitmap, pin_merges_only_touched_pages)
{
	enum { SKEW = 0x100, NBYTES = 3 * 4096, PG = 4096 };
	static uint8_t user[NBYTES], initial[NBYTES];
	struct fake_user u = { .base = 0x20000000000ULL + SKEW,
			       .buf = user,
			       .len = NBYTES };
	struct uaccess ua = {
		.read = fu_read, .write = fu_write, .opaque = &u, .pin = fu_pin
	};
	uint64_t iova = 1ULL << 32, len = NBYTES * 8ULL * 4096;
	/* Bitmap byte b is on caller page (SKEW + b) / PG: 0 .. 3. */
	const uint64_t page_first[] = { 0, PG - SKEW, 2 * PG - SKEW,
					3 * PG - SKEW };
	struct iova_bitmap *b;

	for (size_t i = 0; i < NBYTES; i++)
		initial[i] = (uint8_t)(i * 37) & 0x5a;

	/* Nothing set: the pin, and not a byte read or written. */
	memcpy(user, initial, NBYTES);
	b = iova_bitmap_alloc(iova, len, 4096, u.base, &ua);
	ASSERT_FALSE(IS_ERR(b));
	iova_bitmap_free(b);
	EXPECT_EQ(u.pins, 1);
	EXPECT_EQ(u.reads + u.writes, 0);
	EXPECT_MEMEQ(user, initial, NBYTES);

	/* A bit on page 2: that page alone, ORed into what was there. */
	u.pins = 0;
	b = iova_bitmap_alloc(iova, len, 4096, u.base, &ua);
	ASSERT_FALSE(IS_ERR(b));
	iova_bitmap_set(b, iova + (page_first[2] + 5) * 8 * 4096 + 3 * 4096, 1);
	iova_bitmap_free(b);
	EXPECT_EQ(u.reads, 1);
	EXPECT_EQ(u.writes, 1);
	EXPECT_EQ(u.bytes_read, PG);
	EXPECT_EQ(u.bytes_written, PG);
	initial[page_first[2] + 5] |= 1 << 3;
	EXPECT_MEMEQ(user, initial, NBYTES);

	/* The partial first and last pages: two runs, only their bytes. */
	u.reads = u.writes = u.bytes_read = u.bytes_written = 0;
	b = iova_bitmap_alloc(iova, len, 4096, u.base, &ua);
	ASSERT_FALSE(IS_ERR(b));
	iova_bitmap_set(b, iova, 4096);
	iova_bitmap_set(b, iova + (NBYTES * 8ULL - 1) * 4096, 4096);
	iova_bitmap_free(b);
	EXPECT_EQ(u.reads, 2);
	EXPECT_EQ(u.writes, 2);
	EXPECT_EQ(u.bytes_read, (PG - SKEW) + SKEW);
	initial[0] |= 1;
	initial[NBYTES - 1] |= 0x80;
	EXPECT_MEMEQ(user, initial, NBYTES);

	/* Pages 1 and 2 through one word of bits each: one run of two. */
	u.reads = u.writes = u.bytes_read = u.bytes_written = 0;
	b = iova_bitmap_alloc(iova, len, 4096, u.base, &ua);
	ASSERT_FALSE(IS_ERR(b));
	iova_bitmap_set_bits(b, iova + page_first[1] * 8 * 4096, 12, 1);
	iova_bitmap_set_bits(b, iova + (page_first[3] - 8) * 8 * 4096, 12,
			     1ULL << 63);
	iova_bitmap_free(b);
	EXPECT_EQ(u.reads, 1);
	EXPECT_EQ(u.bytes_read, 2 * PG);
	initial[page_first[1]] |= 1;
	initial[page_first[3] - 1] |= 0x80;
	EXPECT_MEMEQ(user, initial, NBYTES);
	EXPECT_EQ(u.outside, 0);
}

/* As uaccess_faults, where the pin and not a read finds the bad bytes. */
TEST(iova_bitmap, pin_faults)
{
	enum { NBYTES = 64, WIN = 8 };
	uint8_t user[NBYTES];
	struct fake_user u = { .base = 0x7000, .buf = user, .len = NBYTES };
	struct uaccess ua = {
		.read = fu_read, .write = fu_write, .opaque = &u, .pin = fu_pin
	};
	uint64_t iova = 1ULL << 40, len = NBYTES * 8 * 4096ULL;
	struct count_arg a;
	struct iova_bitmap *b;

	/* The first window cannot be pinned: alloc fails. */
	memset(user, 0, sizeof(user));
	u.bad_lo = u.base + 3;
	u.bad_hi = u.base + 4;
	u.bad_write = true;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	EXPECT_EQ(PTR_ERR(b), -EFAULT);

	/* The fourth cannot: three done, their bits kept. */
	u.bad_lo = u.base + 3 * WIN + 5;
	u.bad_hi = u.bad_lo + 1;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .set_len = 4096 };
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 3);
	iova_bitmap_free(b);
	EXPECT_EQ(user[0], 1);
	EXPECT_EQ(user[WIN], 1);
	EXPECT_EQ(user[2 * WIN], 1);
	EXPECT_EQ(user[3 * WIN], 0);

	/* Sets that run into the bad window: what cannot land is dropped. */
	memset(user, 0, sizeof(user));
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .set_len = len };
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 3);
	iova_bitmap_free(b);
	for (size_t i = 0; i < 3 * WIN; i++)
		EXPECT_EQ(user[i], 0xff);

	/* Merging the second window back fails to read: it ends there. */
	memset(user, 0, sizeof(user));
	u.bad_write = false;
	u.bad_read = true;
	u.bad_lo = u.base + WIN + 2;
	u.bad_hi = u.bad_lo + 1;
	b = iova_bitmap_alloc_window(iova, len, 4096, u.base, &ua, WIN);
	ASSERT_FALSE(IS_ERR(b));
	a = (struct count_arg){ .set_len = 4096 };
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 2);
	iova_bitmap_free(b);
	EXPECT_EQ(user[0], 1);
	EXPECT_EQ(user[WIN], 0);
	EXPECT_EQ(u.outside, 0);
}

/* The project's copy_{from,to}_user uaccess over a page that is not there. */
TEST(iova_bitmap, uaccess_user_unmapped_page)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t iova = 0, len = (uint64_t)pg * 8 * 3 * 4096;
	uint8_t *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct count_arg a = { .set_len = 4096 };
	struct iova_bitmap *b;

	ASSERT_TRUE(m != MAP_FAILED);
	ASSERT_EQ(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	b = iova_bitmap_alloc_window(iova, len, 4096, (uintptr_t)m,
				     &uaccess_user, (size_t)pg);
	ASSERT_FALSE(IS_ERR(b));
	EXPECT_RC(-EFAULT, iova_bitmap_for_each(b, &a, count_window));
	EXPECT_EQ(a.calls, 1);
	iova_bitmap_free(b);
	EXPECT_EQ(m[0], 1);

	b = iova_bitmap_alloc_window(iova, len, 4096, (uintptr_t)m + pg,
				     &uaccess_user, (size_t)pg);
	EXPECT_EQ(PTR_ERR(b), -EFAULT);
	munmap(m, (size_t)pg * 3);
}

TEST(iova_bitmap, fail_nth)
{
	uint8_t user[16] = { 0 };
	struct fake_user u = { .base = 0x9000, .buf = user, .len = 16 };
	struct uaccess ua = { .read = fu_read,
			      .write = fu_write,
			      .opaque = &u };
	struct iova_bitmap *b;
	unsigned long n;

	/* 0: no uaccess; 1: one without a pin; 2: one with. */
	for (int with_ua = 0; with_ua < 3; with_ua++) {
		ua.pin = with_ua == 2 ? fu_pin : NULL;
		for (n = 1; n < 8; n++) {
			alloc_fail_nth_set(n);
			b = iova_bitmap_alloc(0, 128 * 4096, 4096,
					      with_ua ? u.base :
							(uintptr_t)user,
					      with_ua ? &ua : NULL);
			alloc_fail_nth_set(0);
			if (!IS_ERR(b))
				break;
			EXPECT_EQ(PTR_ERR(b), -ENOMEM);
		}
		/* The bitmap; with a uaccess, its window buffers too. */
		EXPECT_EQ(n, with_ua ? 3 : 2);
		ASSERT_FALSE(IS_ERR(b));
		iova_bitmap_free(b);
	}
}

/*
 * iova_bitmap_set_bits() must set exactly what one iova_bitmap_set() per
 * set bit sets: random words at random page offsets, into bitmaps at odd
 * byte addresses, through small windows (so both its fast path and its
 * fallback run).
 */
TEST(iova_bitmap, set_bits_matches_set)
{
	uint64_t seed = test_seed();

	for (int round = 0; round < 200; round++) {
		uint64_t nbits = 64 + test_rand(&seed) % 2000;
		size_t bytes = (size_t)DIV_ROUND_UP(nbits, 8);
		size_t window = 8 << (test_rand(&seed) % 4);
		unsigned int off = (unsigned int)(test_rand(&seed) % 8);
		uint8_t *a = calloc(bytes + 16, 1), *b = calloc(bytes + 16, 1);
		uint64_t base = 0x100000, pages[8], masks[8];
		struct iova_bitmap *ba, *bb;
		int n = 1 + (int)(test_rand(&seed) % 8);

		ASSERT_TRUE(a && b);
		for (int i = 0; i < n; i++) {
			pages[i] = test_rand(&seed) % (nbits + 32);
			masks[i] = test_rand(&seed) & test_rand(&seed);
		}
		ba = iova_bitmap_alloc_window(base, nbits << 12, 4096,
					      (uintptr_t)(a + off), NULL,
					      window);
		bb = iova_bitmap_alloc_window(base, nbits << 12, 4096,
					      (uintptr_t)(b + off), NULL,
					      window);
		ASSERT_FALSE(IS_ERR(ba));
		ASSERT_FALSE(IS_ERR(bb));
		/* All records land in the first window's callback. */
		for (int i = 0; i < n; i++) {
			uint64_t iova = base + (pages[i] << 12);

			iova_bitmap_set_bits(ba, iova, 12, masks[i]);
			for (int k = 0; k < 64; k++)
				if (masks[i] & (1ULL << k))
					iova_bitmap_set(
						bb, iova + ((uint64_t)k << 12),
						4096);
		}
		iova_bitmap_free(ba);
		iova_bitmap_free(bb);
		EXPECT_MEMEQ(a, b, bytes + 16);
		free(a);
		free(b);
	}
}
