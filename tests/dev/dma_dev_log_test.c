// SPDX-License-Identifier: MIT
/*
 * dma_dev_log_test.c - the DMA device's own dirty log (DMA_CAP_LOG,
 * include/iodirty/dev.h): what VFIO's DMA_LOGGING feature drives. Errnos,
 * the page size it settles on, how more ranges than it tracks are merged,
 * and that a report holds exactly the pages the engine wrote inside the
 * ranges (read from memory) and clears them.
 */
#include "dma_dev_common.h"

#define PAGE	 4096u
#define MEM_SIZE (4ULL << 20)

static struct dma_log_range rng(uint64_t first_page, uint64_t npages)
{
	return (struct dma_log_range){ DEV_IOVA + first_page * PAGE,
				       npages * PAGE };
}

static int report_fn(struct iova_bitmap *ib, uint64_t iova, uint64_t length,
		     void *opaque)
{
	return dma_dev_log_read_and_clear(opaque, iova, length, ib);
}

/* Read and clear the log over [iova, iova + length) at @ps into @b. */
static int report(struct dev_fix *f, struct dev_bits *b, uint64_t iova,
		  uint64_t length, uint64_t ps)
{
	return dev_harvest(b, iova, length, ps, report_fn, f->dev);
}

/*
 * A block that faults part-way has written the pages before the fault:
 * the log has them, as the IOMMU's dirty bits do, or a migration tracking
 * by the device's log would lose them.
 */
TEST(dma_dev, log_keeps_pages_written_before_a_fault)
{
	struct dma_log_range r = rng(0, 4);
	uint64_t ps = PAGE;
	struct dev_fix f;
	struct dev_bits b;

	dev_fix_init(&f, 9, DMA_CAP_LOG, MEM_SIZE);
	dev_map(&f, 0, PAGE, DEV_RW);		/* page 1 is a hole */
	dev_bits_alloc(&b, 4);
	ASSERT_RC(0, dma_dev_log_start(f.dev, &r, 1, &ps));
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 2 * PAGE, DEV_IOVA, 4 * PAGE);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	ASSERT_TRUE(dev_wait_status(f.dev, DMA_STATUS_FAULT | DMA_STATUS_RUNNING,
				    DMA_STATUS_FAULT));
	dma_dev_quiesce(f.dev);
	dma_dev_unquiesce(f.dev);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_FAULT_IOVA), DEV_IOVA + PAGE);
	EXPECT_FALSE(dev_zero(f.mem, PAGE));	/* the first page was written */
	ASSERT_RC(0, report(&f, &b, DEV_IOVA, 4 * PAGE, PAGE));
	EXPECT_TRUE(dev_bit(&b, 0));
	EXPECT_FALSE(dev_bit(&b, 1));
	EXPECT_FALSE(dev_bit(&b, 2));
	EXPECT_FALSE(dev_bit(&b, 3));
	dev_bits_free(&b);
	dev_fix_fini(&f);
}

TEST(dma_dev, log_errnos)
{
	struct dma_log_range r[3];
	struct dev_fix f, nolog;
	struct dev_bits b;
	uint64_t ps;

	dev_fix_init(&nolog, 0, DMA_CAP_PRECOPY | DMA_CAP_MDEV, PAGE * 16);
	r[0] = rng(0, 4);
	ps = PAGE;
	EXPECT_RC(-EOPNOTSUPP, dma_dev_log_start(nolog.dev, r, 1, &ps));
	dev_fix_fini(&nolog);

	dev_fix_init(&f, 1, DMA_CAP_LOG, MEM_SIZE);
	dev_bits_alloc(&b, 64);
	EXPECT_RC(-EINVAL, report(&f, &b, DEV_IOVA, 64 * PAGE, PAGE));

	ps = PAGE;
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 0, &ps));
	ps = 0;
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 1, &ps));
	ps = 3 * PAGE;
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 1, &ps));
	ps = 4097;
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 1, &ps));

	/* Overlaps, whichever order they come in. */
	r[0] = rng(8, 8);
	r[1] = rng(0, 9);
	ps = PAGE;
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 2, &ps));
	r[1] = rng(8, 8);
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 2, &ps));
	r[0] = rng(0, 2);
	r[1] = rng(20, 4);
	r[2] = (struct dma_log_range){ DEV_IOVA + 2 * PAGE - 1, 2 };
	EXPECT_RC(-EINVAL, dma_dev_log_start(f.dev, r, 3, &ps));
	/* None of that started logging. */
	EXPECT_RC(-EINVAL, report(&f, &b, DEV_IOVA, 64 * PAGE, PAGE));

	/* Ranges that touch are not overlapping. */
	r[0] = rng(0, 8);
	r[1] = rng(8, 8);
	ps = PAGE;
	EXPECT_RC(0, dma_dev_log_start(f.dev, r, 2, &ps));
	EXPECT_EQ(ps, PAGE);
	EXPECT_RC(0, report(&f, &b, DEV_IOVA, 64 * PAGE, PAGE));

	/* A second start is EBUSY and leaves the first log alone. */
	r[0] = rng(32, 8);
	EXPECT_RC(-EBUSY, dma_dev_log_start(f.dev, r, 1, &ps));
	dev_map(&f, 0, 64 * PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, PAGE, DEV_IOVA, 64 * PAGE);
	dev_run_until(f.dev, 64);
	dev_stop(f.dev);
	EXPECT_RC(0, report(&f, &b, DEV_IOVA, 64 * PAGE, PAGE));
	for (uint64_t p = 0; p < 64; p++)
		EXPECT_EQ(dev_bit(&b, p), p < 16);

	dma_dev_log_stop(f.dev);
	EXPECT_RC(-EINVAL, report(&f, &b, DEV_IOVA, 64 * PAGE, PAGE));
	dma_dev_log_stop(f.dev);
	ps = PAGE;
	EXPECT_RC(0, dma_dev_log_start(f.dev, r, 1, &ps));
	dma_dev_log_stop(f.dev);
	dev_bits_free(&b);
	dev_fix_fini(&f);
}

TEST(dma_dev, log_page_size)
{
	static const struct {
		uint64_t asked, used;
	} sizes[] = {
		{ 1, DMA_LOG_MIN_PAGE },
		{ 64, DMA_LOG_MIN_PAGE },
		{ 2048, DMA_LOG_MIN_PAGE },
		{ 4096, 4096 },
		{ 8192, 8192 },
		{ 1ULL << 21, 1ULL << 21 },
		{ 1ULL << 30, 1ULL << 30 },
	};
	struct dma_log_range r = rng(0, 512);
	struct dev_fix f;

	dev_fix_init(&f, 1, DMA_CAP_LOG, PAGE);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t ps = sizes[i].asked;

		EXPECT_RC(0, dma_dev_log_start(f.dev, &r, 1, &ps));
		EXPECT_EQ(ps, sizes[i].used);
		dma_dev_log_stop(f.dev);
	}
	dev_fix_fini(&f);
}

struct log_variant {
	const char *name;
	uint64_t page_size;
	uint32_t block_size;
};

static const struct log_variant log_variants[] = {
	{ "4k_pages_2k_blocks", 4096, 2048 },
	{ "4k_pages_4k_blocks", 4096, 4096 },
	{ "16k_pages_4k_blocks", 16384, 4096 },
	{ "4k_pages_8k_blocks", 4096, 8192 },
};

/*
 * What a report must hold: log page p of the window is dirty when it is
 * inside a range and a block written since sequence number @since touches
 * it. Every block found in memory must be whole.
 */
static void expected_log(struct dev_fix *f, const struct log_variant *v,
			 const struct dma_log_range *r, unsigned int nr,
			 uint64_t npages, uint64_t since, bool *want)
{
	uint64_t ps = v->page_size, bs = v->block_size;

	memset(want, 0, npages * sizeof(*want));
	for (uint64_t off = 0; off < npages * ps; off += bs) {
		const struct dma_block *b = (const void *)(f->mem + off);

		if (!b->magic)
			continue;
		EXPECT_RC(0, dma_block_check(b, (uint32_t)bs, f->index,
					     DEV_IOVA + off));
		if (b->seq < since)
			continue;
		for (uint64_t a = off; a < off + bs; a += ps)
			for (unsigned int i = 0; i < nr; i++)
				if (DEV_IOVA + a >= r[i].iova &&
				    DEV_IOVA + a < r[i].iova + r[i].length)
					want[a / ps] = true;
	}
}

static uint64_t compare_log(const struct dev_bits *b, const bool *want,
			    uint64_t first, uint64_t n)
{
	unsigned int bad = 0;
	uint64_t ndirty = 0;

	for (uint64_t p = 0; p < n; p++) {
		ndirty += want[first + p];
		if (dev_bit(b, p) != want[first + p] && bad++ < 5)
			test_fail_at(__FILE__, __LINE__,
				     "log page %" PRIu64
				     ": reported %d, written %d",
				     first + p, dev_bit(b, p), want[first + p]);
	}
	return ndirty;
}

TEST_VARIANTS(dma_dev, log_reports_written_pages, struct log_variant,
	      log_variants)
{
	const uint64_t win = 2ULL << 20, ps = v->page_size;
	const uint64_t npages = win / ps;
	struct dma_log_range r[3] = {
		rng(16, 128),
		rng(200, 128),
		rng(500, 4),
	};
	uint64_t got_ps = ps, since, ndirty, part;
	struct dev_fix f;
	struct dev_bits b, sub;
	bool *want;

	dev_fix_init(&f, 21, DMA_CAP_LOG, MEM_SIZE);
	dev_map(&f, 0, win, DEV_RW);
	want = calloc(npages, sizeof(*want));
	ASSERT_TRUE(want);
	dev_bits_alloc(&b, npages);
	ASSERT_RC(0, dma_dev_log_start(f.dev, r, 3, &got_ps));
	ASSERT_EQ(got_ps, ps);

	/*
	 * Slow enough that stopping leaves some of the ranges clean, even
	 * when this thread is off the CPU for seconds after the 20th block
	 * (a loaded CI machine): 100 blocks a second.
	 */
	dev_setup(f.dev, DMA_PATTERN_RANDOM, v->block_size, DEV_IOVA, win);
	dev_wr64(f.dev, DMA_REG_SEED, 31337);
	dev_wr64(f.dev, DMA_REG_RATE, 100ULL * v->block_size);
	dev_run_until(f.dev, 20);
	dev_stop(f.dev);
	ASSERT_RC(0, report(&f, &b, DEV_IOVA, win, ps));
	expected_log(&f, v, r, 3, npages, 0, want);
	ndirty = compare_log(&b, want, 0, npages);
	EXPECT_GT(ndirty, 0);
	EXPECT_LT(ndirty, (128 + 128 + 4) * PAGE / ps);

	/* Reported pages were cleared. */
	ASSERT_RC(0, report(&f, &b, DEV_IOVA, win, ps));
	memset(want, 0, npages * sizeof(*want));
	EXPECT_EQ(compare_log(&b, want, 0, npages), 0);

	/*
	 * More writes; a report over part of a range holds and clears that
	 * part only, the next over the window holds the rest.
	 */
	since = dev_rd64(f.dev, DMA_REG_SEQ);
	dev_wr64(f.dev, DMA_REG_RATE, 2000ULL * v->block_size);
	dev_run_until(f.dev, dev_rd64(f.dev, DMA_REG_WRITES) + 150);
	dev_stop(f.dev);
	expected_log(&f, v, r, 3, npages, since, want);
	part = 64 * PAGE / ps;
	dev_bits_alloc(&sub, part);
	ASSERT_RC(0, report(&f, &sub, DEV_IOVA + 48 * PAGE, part * ps, ps));
	compare_log(&sub, want, 48 * PAGE / ps, part);
	memset(want + 48 * PAGE / ps, 0, part * sizeof(*want));
	ASSERT_RC(0, report(&f, &b, DEV_IOVA, win, ps));
	compare_log(&b, want, 0, npages);

	dma_dev_log_stop(f.dev);
	dev_bits_free(&sub);
	dev_bits_free(&b);
	free(want);
	dev_fix_fini(&f);
}

/*
 * One-page ranges with distinct gaps between them (in pages): beyond
 * DMA_LOG_MAX_RANGES, the smallest gaps are closed first, so the log then
 * covers the pages of those gaps too, and nothing else.
 */
TEST(dma_dev, log_merges_smallest_gaps)
{
	static const uint64_t gap[] = { 3, 1, 6, 2, 8, 5, 9, 4, 7 };
	const unsigned int nmax = sizeof(gap) / sizeof(gap[0]) + 1;
	const uint64_t npages = 64;
	uint64_t first[10], ps;
	struct dma_log_range r[10];
	struct dev_fix f;
	struct dev_bits b;
	bool want[64];

	_Static_assert(sizeof(gap) / sizeof(gap[0]) + 1 == 10, "ten ranges");
	dev_fix_init(&f, 22, DMA_CAP_LOG, MEM_SIZE);
	dev_map(&f, 0, npages * PAGE, DEV_RW);
	dev_bits_alloc(&b, npages);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, PAGE, DEV_IOVA, npages * PAGE);
	first[0] = 1;
	for (unsigned int i = 1; i < nmax; i++)
		first[i] = first[i - 1] + 1 + gap[i - 1];
	ASSERT_LT(first[nmax - 1], npages);

	for (unsigned int n = DMA_LOG_MAX_RANGES - 1; n <= nmax; n++) {
		unsigned int merges =
			n > DMA_LOG_MAX_RANGES ? n - DMA_LOG_MAX_RANGES : 0;

		/* Hand the ranges over last first: the device sorts them. */
		for (unsigned int i = 0; i < n; i++)
			r[i] = rng(first[n - 1 - i], 1);
		memset(want, 0, sizeof(want));
		for (unsigned int i = 0; i < n; i++)
			want[first[i]] = true;
		/* Gaps 1, 2, 3, ... are the smallest, in that order. */
		for (unsigned int i = 0; i + 1 < n; i++)
			if (gap[i] <= merges)
				for (uint64_t p = first[i] + 1;
				     p < first[i + 1]; p++)
					want[p] = true;

		ps = PAGE;
		ASSERT_RC(0, dma_dev_log_start(f.dev, r, n, &ps));
		dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
		dev_run_until(f.dev, npages);
		dev_stop(f.dev);
		ASSERT_RC(0, report(&f, &b, DEV_IOVA, npages * PAGE, PAGE));
		for (uint64_t p = 0; p < npages; p++)
			if (dev_bit(&b, p) != want[p])
				test_fail_at(__FILE__, __LINE__,
					     "%u ranges: page %" PRIu64
					     " reported %d, want %d",
					     n, p, dev_bit(&b, p), want[p]);
		dma_dev_log_stop(f.dev);
	}
	dev_bits_free(&b);
	dev_fix_fini(&f);
}

/* A range that is not page aligned is widened to whole log pages. */
TEST(dma_dev, log_unaligned_range)
{
	struct dma_log_range r = { DEV_IOVA + 10 * PAGE + 100, PAGE };
	struct dev_fix f;
	struct dev_bits b;
	uint64_t ps = PAGE;

	dev_fix_init(&f, 23, DMA_CAP_LOG, MEM_SIZE);
	dev_map(&f, 0, 32 * PAGE, DEV_RW);
	dev_bits_alloc(&b, 32);
	ASSERT_RC(0, dma_dev_log_start(f.dev, &r, 1, &ps));
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 512, DEV_IOVA, 32 * PAGE);
	dev_run_until(f.dev, 32 * PAGE / 512);
	dev_stop(f.dev);
	ASSERT_RC(0, report(&f, &b, DEV_IOVA, 32 * PAGE, PAGE));
	for (uint64_t p = 0; p < 32; p++)
		EXPECT_EQ(dev_bit(&b, p), p == 10 || p == 11);
	dma_dev_log_stop(f.dev);
	dev_bits_free(&b);
	dev_fix_fini(&f);
}

/* Log pages of the range written in word_edges: word edges, first, last. */
static const uint64_t edge_pages[] = { 0, 1, 62, 63, 64, 65, 127, 128, 130 };

/* The device writes log page @p of the range at @first, one block. */
static void write_log_page(struct dev_fix *f, uint64_t first, uint64_t p)
{
	dev_setup(f->dev, DMA_PATTERN_SEQUENTIAL, PAGE,
		  DEV_IOVA + (first + p) * PAGE, PAGE);
	dev_run_until(f->dev, dev_rd64(f->dev, DMA_REG_WRITES) + 1);
	dev_stop(f->dev);
}

/*
 * Report [@iova, @iova + @npages * @ps) into @buf (zeroed first, @len
 * bytes), which may start at any byte, @window bytes of it at a time.
 */
static int report_into(struct dev_fix *f, uint8_t *buf, size_t len,
		       uint64_t iova, uint64_t npages, uint64_t ps,
		       size_t window)
{
	struct iova_bitmap *ib;
	int rc;

	memset(buf, 0, len);
	ib = iova_bitmap_alloc_window(iova, npages * ps, ps,
				      (uint64_t)(uintptr_t)buf, NULL, window);
	if (IS_ERR(ib))
		return (int)PTR_ERR(ib);
	rc = iova_bitmap_for_each(ib, f->dev, report_fn);
	iova_bitmap_free(ib);
	return rc;
}

/* Every bit of @len bytes of @buf is set exactly when @want says so. */
static void expect_bits(const uint8_t *buf, size_t len, const bool *want,
			const char *what)
{
	unsigned int bad = 0;

	for (uint64_t i = 0; i < len * 8; i++) {
		bool got = buf[i / 8] & (1u << (i % 8));

		if (got != want[i] && bad++ < 5)
			test_fail_at(__FILE__, __LINE__,
				     "%s: bit %" PRIu64 " reported %d, want %d",
				     what, i, got, want[i]);
	}
}

/*
 * A range of an odd number of pages, off a word of the caller's bitmap,
 * with pages written either side of the log's word edges and at its
 * first and last page: a report holds and clears exactly the pages it
 * covers, whether a log word lands whole in the caller's bitmap (same page
 * size, aligned), across two of its words or windows, or at another page
 * size, and into a bitmap at any byte.
 */
TEST(dma_dev, log_word_edges)
{
	const uint64_t first = 1, npages = 131;
	struct dma_log_range r = rng(first, npages);
	uint8_t raw[48 + 3];
	uint64_t ps = PAGE;
	bool want[sizeof(raw) * 8];
	struct dev_fix f;

	dev_fix_init(&f, 24, DMA_CAP_LOG, MEM_SIZE);
	dev_map(&f, 0, 256 * PAGE, DEV_RW);
	ASSERT_RC(0, dma_dev_log_start(f.dev, &r, 1, &ps));
	for (size_t i = 0; i < ARRAY_SIZE(edge_pages); i++)
		write_log_page(&f, first, edge_pages[i]);

	/* Pages [60, 67) of the memory, from mid-word to mid-word. */
	ASSERT_RC(0, report_into(&f, raw, 8, DEV_IOVA + 60 * PAGE, 7, PAGE, 0));
	memset(want, 0, sizeof(want));
	for (uint64_t p = 63; p <= 66; p++)
		want[p - 60] = true;
	expect_bits(raw, 8, want, "pages 60-66");

	/*
	 * The rest, from page 0 (a log word straddles two of the bitmap's words
	 * and two of its 8-byte windows), into a bitmap 3 bytes into @raw.
	 */
	memset(raw, 0, sizeof(raw));
	ASSERT_RC(0, report_into(&f, raw + 3, 32, DEV_IOVA, 256, PAGE, 8));
	memset(want, 0, sizeof(want));
	for (size_t i = 0; i < ARRAY_SIZE(edge_pages); i++) {
		uint64_t p = first + edge_pages[i];

		if (p < 60 || p > 66)
			want[24 + p] = true;
	}
	expect_bits(raw, sizeof(raw), want, "pages 0-255");
	memset(raw, 0, sizeof(raw));
	ASSERT_RC(0, report_into(&f, raw + 3, 32, DEV_IOVA, 256, PAGE, 8));
	memset(want, 0, sizeof(want));
	expect_bits(raw, sizeof(raw), want, "all cleared");

	/* At 8 KiB a bit, from the range's first page. */
	for (size_t i = 0; i < ARRAY_SIZE(edge_pages); i++)
		write_log_page(&f, first, edge_pages[i]);
	ASSERT_RC(0, report_into(&f, raw, 16, r.iova, 66, 2 * PAGE, 0));
	memset(want, 0, sizeof(want));
	for (size_t i = 0; i < ARRAY_SIZE(edge_pages); i++)
		want[edge_pages[i] / 2] = true;
	expect_bits(raw, 16, want, "8K bits");

	/* Aligned, a log word to a word of the bitmap, 3 bytes in. */
	for (size_t i = 0; i < ARRAY_SIZE(edge_pages); i++)
		write_log_page(&f, first, edge_pages[i]);
	memset(raw, 0, sizeof(raw));
	ASSERT_RC(0, report_into(&f, raw + 3, 17, r.iova, npages, PAGE, 0));
	memset(want, 0, sizeof(want));
	for (size_t i = 0; i < ARRAY_SIZE(edge_pages); i++)
		want[24 + edge_pages[i]] = true;
	expect_bits(raw, sizeof(raw), want, "aligned");
	ASSERT_RC(0, report_into(&f, raw, 17, r.iova, npages, PAGE, 0));
	memset(want, 0, sizeof(want));
	expect_bits(raw, 17, want, "cleared again");

	dma_dev_log_stop(f.dev);
	dev_fix_fini(&f);
}
