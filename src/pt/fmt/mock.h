/* SPDX-License-Identifier: MIT */
/*
 * fmt/mock.h - the Linux iommufd selftest mock domain (CONFIG_IOMMUFD_TEST).
 *
 * Since v6.19 the kernel's mock is its AMD v1 generic page table with a
 * 2 KiB granule (drivers/iommu/iommufd/selftest.c, iommu_mock.c):
 * MOCK_PAGE_SIZE = 2048, MOCK_HUGE_PAGE_SIZE = 512 * MOCK_PAGE_SIZE (1 MiB).
 * So is ours: the AMD v1 descriptor bits of fmt/amdv1.h over 2 KiB IO pages.
 * A level-0 descriptor is always a leaf, so its output address may use bit
 * 11, which in a table descriptor belongs to NextLevel; table descriptors
 * point to 4 KiB-aligned tables and keep NextLevel intact.
 * Dirty updates are gated by the mock domain's MOCK_DIRTY_TRACK flag (1).
 */
#ifndef IODIRTY_PT_FMT_MOCK_H
#define IODIRTY_PT_FMT_MOCK_H

#include "amdv1.h"

#define mock_pt_FORMAT PT_FMT_MOCK
#define mock_pt_NAME   "mock"

enum {
	mock_pt_GRANULE_LG2 = 11,
	mock_pt_DEFAULT_VA_LG2 = 38, /* 3 levels: above MOCK_APERTURE_LAST */
	mock_pt_MAX_VA_LG2 = 56,
};

#define mock_pt_PARTIAL_UNMAP PT_PARTIAL_UNMAP_TAIL_WHOLE
#define mock_pt_PGSIZES ((1ULL << 11) | (1ULL << 20))

#define MOCK_OA		GENMASK_ULL(51, 11)
#define MOCK_DIRTY_TRACK BIT_ULL(0)

#define mock_pt_present	   amdv1_pt_present
#define mock_pt_is_table   amdv1_pt_is_table
#define mock_pt_table_ptr  amdv1_pt_table_ptr
#define mock_pt_make_table amdv1_pt_make_table
#define mock_pt_is_dirty   amdv1_pt_is_dirty
#define mock_pt_dirty_bit  amdv1_pt_dirty_bit
#define mock_pt_make_clean amdv1_pt_make_clean
#define mock_pt_can_read   amdv1_pt_can_read
#define mock_pt_can_write  amdv1_pt_can_write

static inline uint64_t mock_pt_make_leaf(uint64_t pa, unsigned int level,
					 unsigned int prot, bool dirty_capable)
{
	uint64_t e = amdv1_pt_make_leaf(0, level, prot, dirty_capable);

	return e | (pa & MOCK_OA);
}

static inline uint64_t mock_pt_leaf_oa(uint64_t e, unsigned int level)
{
	return e & (level ? AMDV1_OA : MOCK_OA);
}

static inline void mock_pt_mark(pt_entry_t *p, bool write, uint64_t ctrl)
{
	if (!(ctrl & MOCK_DIRTY_TRACK))
		return;
	atomic_fetch_or_explicit(p, write ? AMDV1_A | AMDV1_D : AMDV1_A,
				 memory_order_acq_rel);
}

static inline uint64_t mock_pt_ctrl_init(const struct pt_domain *dom)
{
	(void)dom;
	return 0;
}

static inline uint64_t mock_pt_ctrl_set_tracking(uint64_t ctrl, bool on)
{
	return on ? ctrl | MOCK_DIRTY_TRACK : ctrl & ~MOCK_DIRTY_TRACK;
}

static inline bool mock_pt_ctrl_tracking(uint64_t ctrl)
{
	return ctrl & MOCK_DIRTY_TRACK;
}

#endif
