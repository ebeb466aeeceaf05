// SPDX-License-Identifier: MIT
/*
 * pt_smoke.c - one DMA write through each format lands in memory, marks the
 * leaf dirty, and is harvested once.
 */
#include "pt_common.h"

TEST_VARIANTS(pt_smoke, dma_write_marks_dirty, struct fmt_variant,
	      pt_all_formats)
{
	struct pt_config cfg = { .format = v->format, .dirty_tracking = true };
	uint64_t bm = 0, pa, size = 4 << 20, granule = pt_format_granule(v->format);
	struct iova_bitmap *ib;
	struct pt_domain *dom;
	uint8_t *mem, byte = 0x5a;

	ASSERT_EQ(posix_memalign((void **)&mem, 2 << 20, size), 0);
	dom = pt_domain_alloc(&cfg);
	ASSERT_FALSE(IS_ERR(dom));
	ASSERT_RC(0, pt_map(dom, 1 << 30, (uintptr_t)mem, size,
			    PT_PROT_READ | PT_PROT_WRITE));
	ASSERT_RC(0, pt_iova_to_phys(dom, (1 << 30) + 12345, &pa, NULL));
	EXPECT_EQ(pa, (uintptr_t)mem + 12345);
	/* Clear whatever the format starts with, then track. */
	ASSERT_RC(0, pt_read_and_clear_dirty(dom, 1 << 30, size, 0, NULL));
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));

	ASSERT_RC(0, pt_dma_write(dom, (1 << 30) + 3 * granule, &byte, 1, NULL));
	EXPECT_EQ(mem[3 * granule], 0x5a);

	/* 64 bits of one granule each, from the mapping's start. */
	ib = iova_bitmap_alloc(1 << 30, 64 * granule, granule, (uintptr_t)&bm,
			       NULL);
	ASSERT_FALSE(IS_ERR(ib));
	ASSERT_RC(0, pt_read_and_clear_dirty(dom, 1 << 30, 64 * granule, 0, ib));
	iova_bitmap_free(ib);
	/* 2M leaves (1M on mock): the whole leaf is reported. */
	EXPECT_EQ(bm, ~0ULL);

	bm = 0;
	ib = iova_bitmap_alloc(1 << 30, 64 * granule, granule, (uintptr_t)&bm,
			       NULL);
	ASSERT_RC(0, pt_read_and_clear_dirty(dom, 1 << 30, 64 * granule, 0, ib));
	iova_bitmap_free(ib);
	EXPECT_EQ(bm, 0);
	EXPECT_EQ(pt_unmap(dom, 1 << 30, size), (int64_t)size);
	pt_domain_free(dom);
	free(mem);
}
