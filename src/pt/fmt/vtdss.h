/* SPDX-License-Identifier: MIT */
/*
 * fmt/vtdss.h - Intel VT-d second-stage page table, scalable mode.
 *
 * Intel Virtualization Technology for Directed I/O, Architecture
 * Specification (D51397):
 *   §9.8   Second-stage paging entries: R (0), W (1), PS (7, a leaf above
 *          the 4 KiB level), A (8), D (9), SNP (11), ADDR 51:12 (HAW-bounded)
 *   §3.7.2 / §3.6 Accessed and dirty flags of second-stage translation:
 *          set by hardware only when the PASID entry enables them
 *   §9.6   Scalable-mode PASID table entry: P (0), AW (4:2), PGTT (8:6),
 *          SSADE (9, "second-stage access/dirty enable", SLADE before),
 *          SSPTPTR (63:12)
 * Legacy (non-scalable) mode has no dirty tracking, so only scalable mode is
 * modelled. A descriptor is present when R or W is set; table descriptors
 * carry both, as Linux writes them.
 */
#ifndef IODIRTY_PT_FMT_VTDSS_H
#define IODIRTY_PT_FMT_VTDSS_H

#include "../pt_private.h"

#define vtdss_pt_FORMAT PT_FMT_VTDSS
#define vtdss_pt_NAME	"vtdss"

enum {
	vtdss_pt_GRANULE_LG2 = 12,
	vtdss_pt_DEFAULT_VA_LG2 = 48,
	vtdss_pt_MAX_VA_LG2 = 57,
};

#define vtdss_pt_PARTIAL_UNMAP PT_PARTIAL_UNMAP_TAIL_WHOLE
#define vtdss_pt_PGSIZES ((1ULL << 12) | (1ULL << 21) | (1ULL << 30))

#define VTDSS_R	   BIT_ULL(0)
#define VTDSS_W	   BIT_ULL(1)
#define VTDSS_PS   BIT_ULL(7)
#define VTDSS_A	   BIT_ULL(8)
#define VTDSS_D	   BIT_ULL(9)
#define VTDSS_SNP  BIT_ULL(11)
#define VTDSS_ADDR GENMASK_ULL(51, 12)

/* PASID table entry, qword 0 (§9.6). */
#define VTD_PASID_P		  BIT_ULL(0)
#define VTD_PASID_AW_SHIFT	  2
#define VTD_PASID_PGTT_SHIFT	  6
#define VTD_PASID_PGTT_SL_ONLY	  2ULL
#define VTD_PASID_SSADE		  BIT_ULL(9)
#define VTD_PASID_SSPTPTR	  GENMASK_ULL(63, 12)

static inline bool vtdss_pt_present(uint64_t e)
{
	return e & (VTDSS_R | VTDSS_W);
}

static inline bool vtdss_pt_is_table(uint64_t e, unsigned int level)
{
	return level && (e & (VTDSS_R | VTDSS_W)) && !(e & VTDSS_PS);
}

static inline pt_entry_t *vtdss_pt_table_ptr(uint64_t e)
{
	return (pt_entry_t *)(uintptr_t)(e & VTDSS_ADDR);
}

static inline uint64_t vtdss_pt_make_table(pt_entry_t *child,
					   unsigned int level)
{
	(void)level;
	return VTDSS_R | VTDSS_W | ((uint64_t)(uintptr_t)child & VTDSS_ADDR);
}

static inline uint64_t vtdss_pt_make_leaf(uint64_t pa, unsigned int level,
					  unsigned int prot, bool dirty_capable)
{
	uint64_t e = pa & VTDSS_ADDR;

	(void)dirty_capable;
	if (prot & PT_PROT_READ)
		e |= VTDSS_R;
	if (prot & PT_PROT_WRITE)
		e |= VTDSS_W;
	if (prot & PT_PROT_CACHE)
		e |= VTDSS_SNP;
	if (level)
		e |= VTDSS_PS;
	return e;
}

static inline uint64_t vtdss_pt_leaf_oa(uint64_t e, unsigned int level)
{
	(void)level;
	return e & VTDSS_ADDR;
}

static inline uint64_t vtdss_pt_dirty_bit(uint64_t e)
{
	return (e >> 9) & 1;
}

static inline bool vtdss_pt_is_dirty(uint64_t e)
{
	return e & VTDSS_D;
}

static inline void vtdss_pt_make_clean(pt_entry_t *p)
{
	atomic_fetch_and_explicit(p, ~VTDSS_D, memory_order_acq_rel);
}

static inline bool vtdss_pt_can_read(uint64_t e)
{
	return e & VTDSS_R;
}

static inline bool vtdss_pt_can_write(uint64_t e, uint64_t ctrl)
{
	(void)ctrl;
	return e & VTDSS_W;
}

static inline void vtdss_pt_mark(pt_entry_t *p, bool write, uint64_t ctrl)
{
	if (!(ctrl & VTD_PASID_SSADE))
		return;
	atomic_fetch_or_explicit(p, write ? VTDSS_A | VTDSS_D : VTDSS_A,
				 memory_order_acq_rel);
}

static inline uint64_t vtdss_pt_ctrl_init(const struct pt_domain *dom)
{
	/* AW: 2 = 4-level (48-bit), 3 = 5-level (57-bit). */
	return VTD_PASID_P | ((uint64_t)(dom->levels - 2) << VTD_PASID_AW_SHIFT) |
	       (VTD_PASID_PGTT_SL_ONLY << VTD_PASID_PGTT_SHIFT) |
	       ((uint64_t)(uintptr_t)dom->root & VTD_PASID_SSPTPTR);
}

static inline uint64_t vtdss_pt_ctrl_set_tracking(uint64_t ctrl, bool on)
{
	return on ? ctrl | VTD_PASID_SSADE : ctrl & ~VTD_PASID_SSADE;
}

static inline bool vtdss_pt_ctrl_tracking(uint64_t ctrl)
{
	return ctrl & VTD_PASID_SSADE;
}

#endif
