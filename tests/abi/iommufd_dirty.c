// SPDX-License-Identifier: MIT
/*
 * iommufd_dirty.c - IOMMU dirty tracking at the ABI, with the selftest mock
 * driver: IOMMU_HWPT_GET_DIRTY_BITMAP's checks in the kernel's order, what
 * a read reports and clears, huge IOPTEs, and which devices may use a dirty
 * HWPT (shared/spec/kernel-abi.md §1.4, §2.2-§2.4, §6.3-§6.4).
 *
 * Dirt is made with IOMMU_TEST_OP_DIRTY, which marks IO pages as a device
 * write would; every read pre-zeroes the user bitmap, as the kernel only
 * ever sets bits.
 */
#include "abi_util.h"

#define START	   ABI_APERTURE_START
#define IOPAGE	   ((uint64_t)MOCK_PAGE_SIZE)
#define HUGE_IOPTE ((uint64_t)MOCK_HUGE_PAGE_SIZE)
#define CANARY	   0xa5
#define NO_CLEAR   IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR

/*
 * One IOAS with a mock device on it, @size bytes of user memory mapped at
 * the aperture start, and an HWPT allocated with DIRTY_TRACKING, tracking.
 */
struct dirty_env {
	int fd;
	uint32_t ioas, stdev, idev, auto_hwpt, hwpt;
	uint8_t *buf;
	uint64_t size, nbits, nbytes;
	uint8_t *bitmap; /* nbytes, plus a page of slack each side */
	size_t bitmap_alloc;
};

static void dirty_env_init(struct dirty_env *e, uint64_t size, bool huge)
{
	memset(e, 0, sizeof(*e));
	e->size = size;
	e->fd = abi_open();
	e->ioas = abi_ioas_alloc(e->fd);
	/*
	 * 1 MiB IOPTEs need 1 MiB of physically contiguous memory on Linux:
	 * align the buffer and ask for THP (no hugetlb reservation needed).
	 */
	e->buf = abi_buf(size, huge ? 2 * ABI_MB : ABI_PAGE);
	if (huge)
		madvise(e->buf, size, MADV_HUGEPAGE);
	abi_mock_domain_ok(e->fd, e->ioas,
			   huge ? MOCK_FLAGS_DEVICE_HUGE_IOVA : 0, &e->stdev,
			   &e->auto_hwpt, &e->idev);
	ASSERT_EQ(abi_map_fixed(e->fd, e->ioas, e->buf, size, START), 0);
	e->hwpt = abi_hwpt_alloc_ok(e->fd, e->idev, e->ioas,
				    IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	ASSERT_EQ(abi_set_dirty(e->fd, e->hwpt, 1), 0);

	e->nbits = size / IOPAGE;
	e->nbytes = (e->nbits + 7) / 8;
	e->bitmap_alloc =
		((e->nbytes + ABI_PAGE - 1) & ~(ABI_PAGE - 1)) + 2 * ABI_PAGE;
	e->bitmap = abi_buf(e->bitmap_alloc, ABI_PAGE);
}

/* Mark dirty the IO pages numbered in @pages (counted from START). */
static uint64_t mark(struct dirty_env *e, const uint64_t *pages, size_t n)
{
	uint8_t bits[256] = { 0 };
	uint64_t nr = 0, last = 0;

	for (size_t i = 0; i < n; i++) {
		ASSERT_LT(pages[i], sizeof(bits) * 8);
		abi_set_bit(bits, pages[i]);
		if (pages[i] > last)
			last = pages[i];
	}
	ASSERT_EQ(abi_mock_dirty(e->fd, e->hwpt, START, (last + 1) * IOPAGE,
				 IOPAGE, bits, &nr),
		  0);
	return nr;
}

/* Read @npages IO pages from @iova into a fresh 64-bit bitmap. */
static uint64_t read_bits(struct dirty_env *e, uint64_t iova, uint64_t npages,
			  uint32_t flags)
{
	uint64_t bm = 0;

	ASSERT_LE(npages, 64);
	ASSERT_EQ(abi_get_dirty(e->fd, e->hwpt, iova, npages * IOPAGE, IOPAGE,
				&bm, flags),
		  0);
	return bm;
}

/* Every byte of [from, to) of the bitmap allocation is still CANARY. */
static void expect_canary(const struct dirty_env *e, size_t from, size_t to,
			  int line)
{
	for (size_t i = from; i < to; i++) {
		if (e->bitmap[i] != CANARY) {
			test_fail_at(
				__FILE__, line,
				"bitmap byte %zu (outside the bitmap) is 0x%02x",
				i, e->bitmap[i]);
			return;
		}
	}
}

/*
 * The first page of every other IOPTE was dirtied: @bm must have bits
 * [i, i + npte) set and [i + npte, i + 2 * npte) clear, for every group i,
 * and nothing past nbits in its last byte. With @expect_none, all clear.
 */
static void expect_pattern(const struct dirty_env *e, const uint8_t *bm,
			   uint64_t npte, bool expect_none, int line)
{
	for (uint64_t i = 0; i < e->nbytes * 8; i++) {
		int want =
			!expect_none && i < e->nbits && (i % (2 * npte)) < npte;

		if (abi_bit(bm, i) != want) {
			test_fail_at(__FILE__, line,
				     "bit %" PRIu64 " of %" PRIu64
				     " is %d, want %d",
				     i, e->nbits, abi_bit(bm, i), want);
			return;
		}
	}
}

/*
 * The kernel selftest's pattern, written here afresh: dirty the first IO
 * page of every other IOPTE, read (whole IOPTEs come back), read again.
 */
static void mark_and_check(struct dirty_env *e, size_t offset, uint64_t pte,
			   uint32_t flags)
{
	uint64_t npte = pte / IOPAGE, want = 0, nr = 0;
	uint8_t *bm = e->bitmap + offset;

	memset(e->bitmap, CANARY, e->bitmap_alloc);
	memset(bm, 0, e->nbytes);
	for (uint64_t i = 0; i < e->nbits; i += 2 * npte) {
		abi_set_bit(bm, i);
		want++;
	}
	ASSERT_EQ(
		abi_mock_dirty(e->fd, e->hwpt, START, e->size, IOPAGE, bm, &nr),
		0);
	EXPECT_EQ(nr, want);

	memset(bm, 0, e->nbytes);
	ASSERT_EQ(abi_get_dirty(e->fd, e->hwpt, START, e->size, IOPAGE, bm,
				flags),
		  0);
	expect_pattern(e, bm, npte, false, __LINE__);
	expect_canary(e, 0, offset, __LINE__);
	expect_canary(e, offset + e->nbytes, e->bitmap_alloc, __LINE__);

	/* Again: NO_CLEAR left the bits, a clearing read took them. */
	memset(bm, 0, e->nbytes);
	ASSERT_EQ(abi_get_dirty(e->fd, e->hwpt, START, e->size, IOPAGE, bm,
				flags),
		  0);
	expect_pattern(e, bm, npte, !(flags & NO_CLEAR), __LINE__);
	expect_canary(e, offset + e->nbytes, e->bitmap_alloc, __LINE__);
}

struct dirty_variant {
	const char *name;
	uint64_t size;
	bool huge;
};

static const struct dirty_variant dirty_variants[] = {
	{ "domain_dirty8k", 8 << 10, false }, /* half a byte of bitmap */
	{ "domain_dirty16k", 16 << 10, false }, /* one byte */
	{ "domain_dirty128k", 128 << 10, false }, /* one u32 */
	{ "domain_dirty256k", 256 << 10, false }, /* one u64 */
	{ "domain_dirty640k", 640 << 10, false }, /* 5 u64 */
	{ "domain_dirty128M", 128ULL << 20, false },
	{ "domain_dirty128M_huge", 128ULL << 20, true },
	{ "domain_dirty256M", 256ULL << 20, false },
	{ "domain_dirty256M_huge", 256ULL << 20, true },
};

/* The bitmap at a page-aligned, a sub-page and a byte-odd user address. */
static const size_t bitmap_offsets[] = { 0, MOCK_PAGE_SIZE, 0xff1 };

TEST_VARIANTS(iommufd_dirty, get_dirty_bitmap, struct dirty_variant,
	      dirty_variants)
{
	struct dirty_env e;

	dirty_env_init(&e, v->size, v->huge);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(bitmap_offsets); i++)
		mark_and_check(&e, bitmap_offsets[i],
			       v->huge ? HUGE_IOPTE : IOPAGE, 0);
	close(e.fd);
}

TEST_VARIANTS(iommufd_dirty, get_dirty_bitmap_no_clear, struct dirty_variant,
	      dirty_variants)
{
	struct dirty_env e;

	dirty_env_init(&e, v->size, v->huge);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(bitmap_offsets); i++)
		mark_and_check(&e, bitmap_offsets[i],
			       v->huge ? HUGE_IOPTE : IOPAGE, NO_CLEAR);
	close(e.fd);
}

TEST(iommufd_dirty, huge_iopte_reports_whole_leaf)
{
	const uint64_t pages[] = { HUGE_IOPTE / IOPAGE + 1 };
	uint8_t *bm = abi_buf(ABI_PAGE, ABI_PAGE);
	struct dirty_env e;
	uint64_t n = 2 * HUGE_IOPTE / IOPAGE;

	/* Two 1 MiB IOPTEs; one 2 KiB page dirtied in the second. */
	dirty_env_init(&e, 2 * HUGE_IOPTE, true);
	EXPECT_EQ(mark(&e, pages, 1), 1);
	ASSERT_EQ(abi_get_dirty(e.fd, e.hwpt, START, 2 * HUGE_IOPTE, IOPAGE, bm,
				0),
		  0);
	for (uint64_t i = 0; i < n; i++) {
		if (abi_bit(bm, i) != (i >= n / 2)) {
			test_fail_at(__FILE__, __LINE__,
				     "bit %" PRIu64 " is %d", i,
				     abi_bit(bm, i));
			break;
		}
	}
	/* At 1 MiB per bit, the same leaf is one bit. */
	memset(bm, 0, ABI_PAGE);
	EXPECT_EQ(mark(&e, pages, 1), 1);
	ASSERT_EQ(abi_get_dirty(e.fd, e.hwpt, START, 2 * HUGE_IOPTE, HUGE_IOPTE,
				bm, 0),
		  0);
	EXPECT_EQ(bm[0], 2);
	close(e.fd);
}

TEST(iommufd_dirty, enable_clears_dirty)
{
	const uint64_t pages[] = { 0, 5, 31 };
	struct dirty_env e;

	dirty_env_init(&e, 64 * IOPAGE, false);
	EXPECT_EQ(mark(&e, pages, 3), 3);
	EXPECT_EQ(read_bits(&e, START, 32, NO_CLEAR),
		  (1ULL << 0) | (1ULL << 5) | (1ULL << 31));
	/* Enabling again, while on, forgets what was dirtied before. */
	ASSERT_EQ(abi_set_dirty(e.fd, e.hwpt, 1), 0);
	EXPECT_EQ(read_bits(&e, START, 64, 0), 0);

	/* Off: no more marking; then on again: clean. */
	EXPECT_EQ(mark(&e, pages, 3), 3);
	ASSERT_EQ(abi_set_dirty(e.fd, e.hwpt, 0), 0);
	{
		uint8_t bits = 1;

		EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.hwpt, START, IOPAGE,
						    IOPAGE, &bits, NULL));
	}
	ASSERT_EQ(abi_set_dirty(e.fd, e.hwpt, 1), 0);
	EXPECT_EQ(read_bits(&e, START, 64, 0), 0);
	close(e.fd);
}

TEST(iommufd_dirty, bits_relative_to_iova)
{
	const uint64_t pages[] = { 3, 4, 5, 6, 40 };
	struct dirty_env e;

	dirty_env_init(&e, 64 * IOPAGE, false);
	EXPECT_EQ(mark(&e, pages, 5), 5);
	/* Bit 0 is the iova asked for, not an absolute position. */
	EXPECT_EQ(read_bits(&e, START + 2 * IOPAGE, 3, 0), 0x6);
	/* Only the range read was cleared. */
	EXPECT_EQ(read_bits(&e, START, 64, NO_CLEAR),
		  (1ULL << 5) | (1ULL << 6) | (1ULL << 40));
	EXPECT_EQ(read_bits(&e, START + 40 * IOPAGE, 1, 0), 1);
	EXPECT_EQ(read_bits(&e, START, 64, 0), (1ULL << 5) | (1ULL << 6));
	EXPECT_EQ(read_bits(&e, START, 64, 0), 0);
	close(e.fd);
}

TEST(iommufd_dirty, page_size_scaling)
{
	const uint64_t pages[] = { 5, 12 };
	struct dirty_env e;
	uint64_t bm;

	dirty_env_init(&e, 16 * IOPAGE, false);
	/* 4 KiB per bit: IO pages 5 and 12 are bits 2 and 6. */
	EXPECT_EQ(mark(&e, pages, 2), 2);
	bm = 0;
	ASSERT_EQ(abi_get_dirty(e.fd, e.hwpt, START, 16 * IOPAGE, 2 * IOPAGE,
				&bm, 0),
		  0);
	EXPECT_EQ(bm, (1ULL << 2) | (1ULL << 6));
	/* 8 KiB: bits 1 and 3. */
	EXPECT_EQ(mark(&e, pages, 2), 2);
	bm = 0;
	ASSERT_EQ(abi_get_dirty(e.fd, e.hwpt, START, 16 * IOPAGE, 4 * IOPAGE,
				&bm, 0),
		  0);
	EXPECT_EQ(bm, (1ULL << 1) | (1ULL << 3));
	/*
	 * No power-of-two check: 0x1800 passes the mask tests for these
	 * addresses, and the shift is its lowest set bit (11), so each bit
	 * is one 2 KiB IO page.
	 */
	EXPECT_EQ(mark(&e, pages, 2), 2);
	bm = 0;
	ASSERT_EQ(
		abi_get_dirty(e.fd, e.hwpt, START, 16 * IOPAGE, 0x1800, &bm, 0),
		0);
	EXPECT_EQ(bm, (1ULL << 5) | (1ULL << 12));
	close(e.fd);
}

TEST(iommufd_dirty, get_dirty_bitmap_errno_order)
{
	struct iommu_hwpt_get_dirty_bitmap cmd;
	uint8_t *ro = abi_buf(ABI_PAGE, ABI_PAGE);
	uint64_t bm = 0;
	struct dirty_env e;

	memset(ro, 0, ABI_PAGE);
	ASSERT_EQ(mprotect(ro, ABI_PAGE, PROT_READ), 0);
	dirty_env_init(&e, 64 * IOPAGE, false);
#define GET(...)                                                          \
	(cmd = (struct iommu_hwpt_get_dirty_bitmap){ .size = sizeof(cmd), \
						     __VA_ARGS__ },       \
	 ioctl(e.fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd))
#define OK_RANGE .iova = START, .length = 64 * IOPAGE, .page_size = IOPAGE

	/* 1: unknown flags, __reserved. */
	EXPECT_ERRNO(EOPNOTSUPP, GET(.hwpt_id = 0, .flags = 2, OK_RANGE,
				     .data = abi_ptr(&bm)));
	EXPECT_ERRNO(EOPNOTSUPP, GET(.hwpt_id = 0, .__reserved = 1, OK_RANGE,
				     .data = abi_ptr(&bm)));
	/* 2: not a paging HWPT, even with a range that would overflow. */
	EXPECT_ERRNO(ENOENT,
		     GET(.hwpt_id = 0, .iova = ABI_U64_MAX, .length = 2));
	EXPECT_ERRNO(ENOENT,
		     GET(.hwpt_id = e.ioas, OK_RANGE, .data = abi_ptr(&bm)));
	EXPECT_ERRNO(ENOENT,
		     GET(.hwpt_id = e.idev, OK_RANGE, .data = abi_ptr(&bm)));
	EXPECT_ERRNO(ENOENT,
		     GET(.hwpt_id = e.stdev, OK_RANGE, .data = abi_ptr(&bm)));
	/* 3: iova + length - 1 wrapping, before page_size is looked at. */
	EXPECT_ERRNO(EOVERFLOW,
		     GET(.hwpt_id = e.hwpt, .iova = ABI_U64_MAX, .length = 2));
	EXPECT_ERRNO(EOVERFLOW, GET(.hwpt_id = e.hwpt, .iova = 1ULL << 63,
				    .length = (1ULL << 63) + 1));
	/* 4: iova or end not aligned to the IOAS's 2 KiB alignment. */
	EXPECT_ERRNO(EINVAL, GET(.hwpt_id = e.hwpt, .iova = START + 1024,
				 .length = IOPAGE, .page_size = 1024,
				 .data = abi_ptr(&bm)));
	EXPECT_ERRNO(EINVAL,
		     GET(.hwpt_id = e.hwpt, .iova = START, .length = 1024,
			 .page_size = 1024, .data = abi_ptr(&bm)));
	/* 5: page_size 0. */
	EXPECT_ERRNO(EINVAL,
		     GET(.hwpt_id = e.hwpt, .iova = START, .length = IOPAGE,
			 .page_size = 0, .data = abi_ptr(&bm)));
	/* 6: iova or end not aligned to page_size. */
	EXPECT_ERRNO(EINVAL, GET(.hwpt_id = e.hwpt, .iova = START + IOPAGE,
				 .length = 2 * IOPAGE, .page_size = 2 * IOPAGE,
				 .data = abi_ptr(&bm)));
	EXPECT_ERRNO(EINVAL,
		     GET(.hwpt_id = e.hwpt, .iova = START, .length = 3 * IOPAGE,
			 .page_size = 2 * IOPAGE, .data = abi_ptr(&bm)));
	/* ... all of which come before the bitmap pointer is used ... */
	EXPECT_ERRNO(EINVAL, GET(.hwpt_id = e.hwpt, .iova = START,
				 .length = IOPAGE, .page_size = 0, .data = 0));
	/* ... and before the HWPT's dirty support is. */
	EXPECT_ERRNO(EINVAL, GET(.hwpt_id = e.auto_hwpt, .iova = START,
				 .length = IOPAGE, .page_size = 0,
				 .data = abi_ptr(&bm)));
	/* 10: a HWPT allocated without DIRTY_TRACKING. */
	EXPECT_ERRNO(EOPNOTSUPP, GET(.hwpt_id = e.auto_hwpt, OK_RANGE,
				     .data = abi_ptr(&bm)));
	EXPECT_ERRNO(EOPNOTSUPP,
		     GET(.hwpt_id = e.auto_hwpt, OK_RANGE, .data = 0));
	/*
	 * 11: a bitmap that cannot be pinned for writing is ENOMEM, the
	 * errno of any iova_bitmap_alloc() failure.
	 */
	EXPECT_ERRNO(ENOMEM, GET(.hwpt_id = e.hwpt, OK_RANGE, .data = 0));
	EXPECT_ERRNO(ENOMEM, GET(.hwpt_id = e.hwpt, OK_RANGE,
				 .data = abi_ptr(abi_hole(ABI_PAGE))));
	EXPECT_ERRNO(ENOMEM,
		     GET(.hwpt_id = e.hwpt, OK_RANGE, .data = abi_ptr(ro)));
	/* The right call. */
	EXPECT_EQ(GET(.hwpt_id = e.hwpt, OK_RANGE, .data = abi_ptr(&bm)), 0);
	EXPECT_EQ(GET(.hwpt_id = e.hwpt, .flags = NO_CLEAR, OK_RANGE,
		      .data = abi_ptr(&bm)),
		  0);
#undef OK_RANGE
#undef GET
	close(e.fd);
}

TEST(iommufd_dirty, hole_in_range)
{
	const uint64_t pages[] = { 2 };
	uint8_t bm[16];
	struct dirty_env e;
	uint8_t one = 1;

	/* Areas at [0, 32) and [64, 96) IO pages; a hole between. */
	dirty_env_init(&e, 32 * IOPAGE, false);
	ASSERT_EQ(abi_map_fixed(e.fd, e.ioas, e.buf, 32 * IOPAGE,
				START + 64 * IOPAGE),
		  0);
	EXPECT_EQ(mark(&e, pages, 1), 1);
	ASSERT_EQ(abi_mock_dirty(e.fd, e.hwpt, START + 66 * IOPAGE, IOPAGE,
				 IOPAGE, &one, NULL),
		  0);

	/*
	 * The walk stops at the hole and its -EINVAL is dropped: success,
	 * with only the part before the hole read (and cleared).
	 */
	memset(bm, 0, sizeof(bm));
	EXPECT_EQ(
		abi_get_dirty(e.fd, e.hwpt, START, 96 * IOPAGE, IOPAGE, bm, 0),
		0);
	EXPECT_EQ(abi_bit(bm, 2), 1);
	EXPECT_EQ(abi_bit(bm, 66), 0);
	EXPECT_EQ(read_bits(&e, START, 32, 0), 0);
	EXPECT_EQ(read_bits(&e, START + 64 * IOPAGE, 32, 0), 1ULL << 2);
	/* A range that starts in the hole reads nothing, and succeeds. */
	EXPECT_EQ(mark(&e, pages, 1), 1);
	memset(bm, 0, sizeof(bm));
	EXPECT_EQ(abi_get_dirty(e.fd, e.hwpt, START + 32 * IOPAGE, 64 * IOPAGE,
				IOPAGE, bm, 0),
		  0);
	for (size_t i = 0; i < 8; i++)
		EXPECT_EQ(bm[i], 0);
	/* Nothing mapped at all. */
	EXPECT_EQ(abi_get_dirty(e.fd, e.hwpt, START + 1024 * IOPAGE,
				64 * IOPAGE, IOPAGE, bm, 0),
		  0);
	EXPECT_EQ(read_bits(&e, START, 32, 0), 1ULL << 2);
	close(e.fd);
}

TEST(iommufd_dirty, bitmap_partly_unmapped)
{
	const uint64_t pages[] = { 1, 63 };
	uint8_t *guard = abi_guarded_page();
	uint8_t *bm = guard + ABI_PAGE - 8;
	uint8_t one = 1;
	struct dirty_env e;

	/* 256 IO pages: 32 bytes of bitmap, the last 24 of them unmapped. */
	dirty_env_init(&e, 256 * IOPAGE, false);
	EXPECT_EQ(mark(&e, pages, 2), 2);
	ASSERT_EQ(abi_mock_dirty(e.fd, e.hwpt, START + 100 * IOPAGE, IOPAGE,
				 IOPAGE, &one, NULL),
		  0);
	/*
	 * The first window is what could be pinned (the 8 bytes, 64 IO
	 * pages); pinning the next fails inside iova_bitmap_for_each(),
	 * whose result is not returned: success, the first window filled
	 * and cleared, the rest untouched.
	 */
	memset(bm, 0, 8);
	EXPECT_EQ(
		abi_get_dirty(e.fd, e.hwpt, START, 256 * IOPAGE, IOPAGE, bm, 0),
		0);
	EXPECT_EQ(bm[0], 1 << 1);
	EXPECT_EQ(bm[7], 1 << 7);
	EXPECT_EQ(read_bits(&e, START, 64, 0), 0);
	EXPECT_EQ(read_bits(&e, START + 64 * IOPAGE, 64, 0), 1ULL << 36);
	close(e.fd);
}

/*
 * The same with the bitmap's second page read-only: a FOLL_WRITE pin stops
 * there just as at an unmapped page, and nothing is written to it.
 */
TEST(iommufd_dirty, bitmap_partly_read_only)
{
	const uint64_t pages[] = { 1, 63 };
	uint8_t *p = abi_buf(2 * ABI_PAGE, ABI_PAGE);
	uint8_t *bm = p + ABI_PAGE - 8;
	uint8_t one = 1;
	struct dirty_env e;

	memset(p, 0, 2 * ABI_PAGE);
	ASSERT_EQ(mprotect(p + ABI_PAGE, ABI_PAGE, PROT_READ), 0);
	dirty_env_init(&e, 256 * IOPAGE, false);
	EXPECT_EQ(mark(&e, pages, 2), 2);
	ASSERT_EQ(abi_mock_dirty(e.fd, e.hwpt, START + 100 * IOPAGE, IOPAGE,
				 IOPAGE, &one, NULL),
		  0);
	EXPECT_EQ(
		abi_get_dirty(e.fd, e.hwpt, START, 256 * IOPAGE, IOPAGE, bm, 0),
		0);
	EXPECT_EQ(bm[0], 1 << 1);
	EXPECT_EQ(bm[7], 1 << 7);
	for (size_t i = 0; i < ABI_PAGE; i++)
		EXPECT_EQ(p[ABI_PAGE + i], 0);
	EXPECT_EQ(read_bits(&e, START, 64, 0), 0);
	EXPECT_EQ(read_bits(&e, START + 64 * IOPAGE, 64, 0), 1ULL << 36);
	close(e.fd);
}

TEST(iommufd_dirty, zero_iova_zero_length)
{
	const uint64_t pages[] = { 0 };
	uint8_t *bm = abi_buf(ABI_PAGE, ABI_PAGE);
	struct dirty_env e;

	dirty_env_init(&e, 64 * IOPAGE, false);
	EXPECT_EQ(mark(&e, pages, 1), 1);
	/*
	 * iova 0 with length 0 passes every check (0 + (0 - 1) does not
	 * wrap, and last + 1 == 0 is aligned to anything). The walk then
	 * finds no area at IOVA 0, and that -EINVAL is dropped: success,
	 * nothing written, nothing cleared.
	 */
	memset(bm, CANARY, ABI_PAGE);
	EXPECT_EQ(abi_get_dirty(e.fd, e.hwpt, 0, 0, IOPAGE, bm, 0), 0);
	for (size_t i = 0; i < ABI_PAGE; i++) {
		if (bm[i] != CANARY) {
			test_fail_at(__FILE__, __LINE__,
				     "bitmap byte %zu written: 0x%02x", i,
				     bm[i]);
			break;
		}
	}
	EXPECT_EQ(read_bits(&e, START, 64, 0), 1);
	/* With any other iova, length 0 wraps: EOVERFLOW. */
	EXPECT_ERRNO(EOVERFLOW,
		     abi_get_dirty(e.fd, e.hwpt, START, 0, IOPAGE, bm, 0));
	close(e.fd);
}

TEST(iommufd_dirty, unmap_forgets_dirty)
{
	const uint64_t pages[] = { 0, 7 };
	struct dirty_env e;

	dirty_env_init(&e, 16 * IOPAGE, false);
	EXPECT_EQ(mark(&e, pages, 2), 2);
	/* No dirty report on unmap; a new mapping there starts clean. */
	ASSERT_EQ(abi_unmap(e.fd, e.ioas, START, 16 * IOPAGE, NULL), 0);
	ASSERT_EQ(abi_map_fixed(e.fd, e.ioas, e.buf, 16 * IOPAGE, START), 0);
	EXPECT_EQ(read_bits(&e, START, 16, 0), 0);
	/* And is tracked like the old one. */
	EXPECT_EQ(mark(&e, pages, 2), 2);
	EXPECT_EQ(read_bits(&e, START, 16, 0), 0x81);
	close(e.fd);
}

TEST(iommufd_dirty, mock_dirty_errnos)
{
	uint8_t bits[8] = { 0xff };
	struct dirty_env e;

	dirty_env_init(&e, 16 * IOPAGE, false);
	EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.hwpt, START, IOPAGE, 0,
					    bits, NULL));
	EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.hwpt, START, 0, IOPAGE,
					    bits, NULL));
	EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.hwpt, START + 1, IOPAGE,
					    IOPAGE, bits, NULL));
	EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.hwpt, START, IOPAGE + 1,
					    IOPAGE, bits, NULL));
	EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.hwpt, START, IOPAGE, IOPAGE,
					    NULL, NULL));
	EXPECT_ERRNO(ENOENT, abi_mock_dirty(e.fd, 0, START, IOPAGE, IOPAGE,
					    bits, NULL));
	EXPECT_ERRNO(ENOENT, abi_mock_dirty(e.fd, e.ioas, START, IOPAGE, IOPAGE,
					    bits, NULL));
	/* The auto domain cannot track, so it is never tracking. */
	EXPECT_ERRNO(EINVAL, abi_mock_dirty(e.fd, e.auto_hwpt, START, IOPAGE,
					    IOPAGE, bits, NULL));
	close(e.fd);
}

TEST(iommufd_dirty, enforce_dirty)
{
	uint32_t ioas, ioas2, idev, idev_nd, hwpt, out;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, NULL, NULL, &idev);
	hwpt = abi_hwpt_alloc_ok(fd, idev, ioas,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	/* A capable device attaches to the dirty HWPT ... */
	abi_mock_domain_ok(fd, hwpt, 0, NULL, &out, NULL);
	EXPECT_EQ(out, hwpt);
	/* ... an incapable one is refused by the driver's attach: EINVAL. */
	EXPECT_ERRNO(EINVAL,
		     abi_mock_domain(fd, hwpt, MOCK_FLAGS_DEVICE_NO_DIRTY, NULL,
				     NULL, NULL));
	/* Allocating a dirty HWPT for an incapable device: EOPNOTSUPP. */
	ioas2 = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas2, MOCK_FLAGS_DEVICE_NO_DIRTY, NULL, NULL,
			   &idev_nd);
	EXPECT_ERRNO(EOPNOTSUPP,
		     abi_hwpt_alloc(fd, idev_nd, ioas2,
				    IOMMU_HWPT_ALLOC_DIRTY_TRACKING, NULL));
	EXPECT_ERRNO(EOPNOTSUPP,
		     abi_hwpt_alloc(fd, idev_nd, ioas,
				    IOMMU_HWPT_ALLOC_DIRTY_TRACKING, NULL));
	/* Without the flag it may have one, and share it. */
	out = abi_hwpt_alloc_ok(fd, idev_nd, ioas2, 0);
	abi_mock_domain_ok(fd, out, MOCK_FLAGS_DEVICE_NO_DIRTY, NULL, NULL,
			   NULL);
	abi_mock_domain_ok(fd, out, 0, NULL, NULL, NULL);
	close(fd);
}

static int caps(int fd, uint32_t idev, uint64_t *out)
{
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.dev_id = idev,
		.out_capabilities = ~0ULL,
	};
	int rc = ioctl(fd, IOMMU_GET_HW_INFO, &cmd);

	*out = cmd.out_capabilities;
	return rc;
}

TEST(iommufd_dirty, device_dirty_capability)
{
	uint32_t ioas, idev, idev_nd, auto_hwpt;
	uint64_t c = 0;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, NULL, &auto_hwpt, &idev);
	abi_mock_domain_ok(fd, ioas, MOCK_FLAGS_DEVICE_NO_DIRTY, NULL, NULL,
			   &idev_nd);
	/*
	 * A property of the device's IOMMU, not of its HWPT: reported while
	 * it sits on an auto domain that cannot track.
	 */
	ASSERT_EQ(caps(fd, idev, &c), 0);
	EXPECT_EQ(c, IOMMU_HW_CAP_DIRTY_TRACKING);
	EXPECT_ERRNO(EOPNOTSUPP, abi_set_dirty(fd, auto_hwpt, 1));
	ASSERT_EQ(caps(fd, idev_nd, &c), 0);
	EXPECT_EQ(c, 0);
	close(fd);
}
