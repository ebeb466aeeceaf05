/* SPDX-License-Identifier: MIT */
/*
 * fmt/amdv1.h - AMD IOMMU v1 host page table ("Host Page Translation").
 *
 * AMD I/O Virtualization Technology (IOMMU) Specification, pub. 48882:
 *   §2.2.3   I/O page tables for host translations: PDE/PTE layout, the
 *            NextLevel field, PR/IR/IW/FC, Address 51:12
 *   §2.2.3.2 Host access and dirty bits: A (bit 5) and D (bit 6), updated
 *            only when the device table entry enables them
 *   §2.2.2.1 Device table entry: V, TV, HAD (bits 8:7), Mode (bits 11:9),
 *            Page Table Root Pointer (51:12)
 * Dirty updates need DTE.HAD = 11b (access and dirty); 01b updates A only.
 *
 * Levels: our level 0 is AMD level 1 (4 KiB PTEs); a PDE's NextLevel names
 * the AMD level of the table it points to, so a table descriptor stored in
 * our level L holds NextLevel = L. A leaf has NextLevel 0 and its size is
 * its level's (4K, 2M, 1G). Linux never uses 512G leaves (an erratum), nor
 * do we. NextLevel 7 (replicated non-default sizes) is not produced.
 * Table descriptors carry IR and IW, as Linux sets them: permissions are
 * the AND over the walk.
 */
#ifndef IODIRTY_PT_FMT_AMDV1_H
#define IODIRTY_PT_FMT_AMDV1_H

#include "../pt_private.h"

#define amdv1_pt_FORMAT PT_FMT_AMDV1
#define amdv1_pt_NAME	"amdv1"

enum {
	amdv1_pt_GRANULE_LG2 = 12,
	amdv1_pt_DEFAULT_VA_LG2 = 48,
	amdv1_pt_MAX_VA_LG2 = 57, /* 5 levels here; the hardware allows 6 */
};

#define amdv1_pt_PARTIAL_UNMAP PT_PARTIAL_UNMAP_TAIL_WHOLE
#define amdv1_pt_PGSIZES ((1ULL << 12) | (1ULL << 21) | (1ULL << 30))

/* Descriptor bits (§2.2.3). */
#define AMDV1_PR	   BIT_ULL(0)
#define AMDV1_A		   BIT_ULL(5)
#define AMDV1_D		   BIT_ULL(6)
#define AMDV1_NEXT_LEVEL   GENMASK_ULL(11, 9)
#define AMDV1_NL_SHIFT	   9
#define AMDV1_OA	   GENMASK_ULL(51, 12)
#define AMDV1_U		   BIT_ULL(59)
#define AMDV1_FC	   BIT_ULL(60)
#define AMDV1_IR	   BIT_ULL(61)
#define AMDV1_IW	   BIT_ULL(62)

/* Device table entry, qword 0 (§2.2.2.1). */
#define AMD_DTE_V	   BIT_ULL(0)
#define AMD_DTE_TV	   BIT_ULL(1)
#define AMD_DTE_HAD	   GENMASK_ULL(8, 7)
#define AMD_DTE_HAD_AD	   (3ULL << 7)
#define AMD_DTE_HAD_A	   (1ULL << 7)
#define AMD_DTE_MODE_SHIFT 9
#define AMD_DTE_PT_ROOT	   GENMASK_ULL(51, 12)

static inline bool amdv1_pt_present(uint64_t e)
{
	return e & AMDV1_PR;
}

static inline bool amdv1_pt_is_table(uint64_t e, unsigned int level)
{
	uint64_t nl = (e & AMDV1_NEXT_LEVEL) >> AMDV1_NL_SHIFT;

	return level && (e & AMDV1_PR) && nl && nl != 7;
}

static inline pt_entry_t *amdv1_pt_table_ptr(uint64_t e)
{
	return (pt_entry_t *)(uintptr_t)(e & AMDV1_OA);
}

static inline uint64_t amdv1_pt_make_table(pt_entry_t *child,
					   unsigned int level)
{
	return AMDV1_PR | AMDV1_IR | AMDV1_IW |
	       ((uint64_t)level << AMDV1_NL_SHIFT) |
	       ((uint64_t)(uintptr_t)child & AMDV1_OA);
}

static inline uint64_t amdv1_pt_make_leaf(uint64_t pa, unsigned int level,
					  unsigned int prot, bool dirty_capable)
{
	uint64_t e = AMDV1_PR | (pa & AMDV1_OA);

	(void)level;
	(void)dirty_capable;
	if (prot & PT_PROT_READ)
		e |= AMDV1_IR;
	if (prot & PT_PROT_WRITE)
		e |= AMDV1_IW;
	if (prot & PT_PROT_CACHE)
		e |= AMDV1_FC;
	return e;
}

static inline uint64_t amdv1_pt_leaf_oa(uint64_t e, unsigned int level)
{
	(void)level;
	return e & AMDV1_OA;
}

static inline uint64_t amdv1_pt_dirty_bit(uint64_t e)
{
	return (e >> 6) & 1;
}

static inline bool amdv1_pt_is_dirty(uint64_t e)
{
	return e & AMDV1_D;
}

static inline void amdv1_pt_make_clean(pt_entry_t *p)
{
	atomic_fetch_and_explicit(p, ~AMDV1_D, memory_order_acq_rel);
}

static inline bool amdv1_pt_can_read(uint64_t e)
{
	return e & AMDV1_IR;
}

static inline bool amdv1_pt_can_write(uint64_t e, uint64_t ctrl)
{
	(void)ctrl;
	return e & AMDV1_IW;
}

static inline void amdv1_pt_mark(pt_entry_t *p, bool write, uint64_t ctrl)
{
	uint64_t had = ctrl & AMD_DTE_HAD;

	if (write && had == AMD_DTE_HAD_AD)
		atomic_fetch_or_explicit(p, AMDV1_A | AMDV1_D,
					 memory_order_acq_rel);
	else if (had)
		atomic_fetch_or_explicit(p, AMDV1_A, memory_order_acq_rel);
}

static inline uint64_t amdv1_pt_ctrl_init(const struct pt_domain *dom)
{
	/* Mode = number of levels; the root pointer as hardware reads it. */
	return AMD_DTE_V | AMD_DTE_TV |
	       ((uint64_t)dom->levels << AMD_DTE_MODE_SHIFT) |
	       ((uint64_t)(uintptr_t)dom->root & AMD_DTE_PT_ROOT);
}

static inline uint64_t amdv1_pt_ctrl_set_tracking(uint64_t ctrl, bool on)
{
	return on ? ctrl | AMD_DTE_HAD_AD : ctrl & ~AMD_DTE_HAD;
}

static inline bool amdv1_pt_ctrl_tracking(uint64_t ctrl)
{
	return (ctrl & AMD_DTE_HAD) == AMD_DTE_HAD_AD;
}

#endif
