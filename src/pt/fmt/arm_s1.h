/* SPDX-License-Identifier: MIT */
/*
 * fmt/arm_s1.h - ARM VMSAv8-64 long-descriptor stage-1 translation table,
 * 4 KiB granule, as an SMMUv3 walks it with hardware dirty-state updates.
 *
 * Arm Architecture Reference Manual (DDI 0487):
 *   D8.3   Translation table descriptor formats: bits 1:0 (table 11b at
 *          lookup levels 0-2, block 01b at levels 1-2, page 11b at level 3),
 *          AttrIndx 4:2, AP[1] 6, AP[2] 7, SH 9:8, AF 10, nG 11, OA 47:12,
 *          DBM 51, Contiguous 52, PXN 53, UXN/XN 54
 *   D8.4   Hardware management of the Access flag and dirty state: with
 *          hardware dirty-state management, a descriptor with DBM = 1 is
 *          "writable-clean" while AP[2] = 1; the first write clears AP[2]
 *          atomically, making it writable-dirty
 * Arm SMMUv3 (IHI 0070) §3.13 HTTU: CD.HA (TCR bit 43) and CD.HD (bit 42)
 * enable the updates for stage 1.
 *
 * Linux (io-pgtable-arm with IO_PGTABLE_QUIRK_ARM_HD) maps a writable page
 * of a dirty-capable domain with DBM set and AP[2] clear, i.e. dirty from
 * the start, harvests by setting AP[2] again, and leaves HA/HD set for the
 * whole life of the domain: there is no "tracking off" on ARM.
 * Our level 0 is the architecture's lookup level 3; level 3 is level 0.
 */
#ifndef IODIRTY_PT_FMT_ARM_S1_H
#define IODIRTY_PT_FMT_ARM_S1_H

#include "../pt_private.h"

#define arm_s1_pt_FORMAT PT_FMT_ARM_S1
#define arm_s1_pt_NAME	 "arm-s1"

enum {
	arm_s1_pt_GRANULE_LG2 = 12,
	arm_s1_pt_DEFAULT_VA_LG2 = 48,
	arm_s1_pt_MAX_VA_LG2 = 48,
};

#define arm_s1_pt_PARTIAL_UNMAP PT_PARTIAL_UNMAP_REFUSE
#define arm_s1_pt_PGSIZES ((1ULL << 12) | (1ULL << 21) | (1ULL << 30))

#define ARM_PTE_VALID	  BIT_ULL(0)
#define ARM_PTE_TYPE_MASK GENMASK_ULL(1, 0)
#define ARM_PTE_TYPE_BLK  1ULL
#define ARM_PTE_TYPE_TBL  3ULL /* and "page" at lookup level 3 */
#define ARM_PTE_ATTRIDX_SHIFT 2
#define ARM_MAIR_IDX_NC	  0ULL
#define ARM_MAIR_IDX_CACHE 1ULL
#define ARM_PTE_AP_UNPRIV BIT_ULL(6)
#define ARM_PTE_AP_RDONLY BIT_ULL(7)
#define ARM_PTE_SH_IS	  (3ULL << 8)
#define ARM_PTE_AF	  BIT_ULL(10)
#define ARM_PTE_NG	  BIT_ULL(11)
#define ARM_PTE_OA	  GENMASK_ULL(47, 12)
#define ARM_PTE_DBM	  BIT_ULL(51)
#define ARM_PTE_XN	  (3ULL << 53) /* PXN and UXN, as Linux sets both */

/* Context descriptor word 0: T0SZ 5:0, V 31, HD 42, HA 43. */
#define ARM_CD0_T0SZ_MASK GENMASK_ULL(5, 0)
#define ARM_CD0_V	  BIT_ULL(31)
#define ARM_CD0_HD	  BIT_ULL(42)
#define ARM_CD0_HA	  BIT_ULL(43)

static inline bool arm_s1_pt_present(uint64_t e)
{
	return e & ARM_PTE_VALID;
}

static inline bool arm_s1_pt_is_table(uint64_t e, unsigned int level)
{
	return level && (e & ARM_PTE_TYPE_MASK) == ARM_PTE_TYPE_TBL;
}

static inline pt_entry_t *arm_s1_pt_table_ptr(uint64_t e)
{
	return (pt_entry_t *)(uintptr_t)(e & ARM_PTE_OA);
}

static inline uint64_t arm_s1_pt_make_table(pt_entry_t *child,
					    unsigned int level)
{
	(void)level;
	return ARM_PTE_TYPE_TBL | ((uint64_t)(uintptr_t)child & ARM_PTE_OA);
}

static inline uint64_t arm_s1_pt_make_leaf(uint64_t pa, unsigned int level,
					   unsigned int prot,
					   bool dirty_capable)
{
	uint64_t e = (pa & ARM_PTE_OA) | ARM_PTE_NG | ARM_PTE_AP_UNPRIV |
		     ARM_PTE_SH_IS | ARM_PTE_AF;

	e |= level ? ARM_PTE_TYPE_BLK : ARM_PTE_TYPE_TBL;
	e |= (prot & PT_PROT_CACHE ? ARM_MAIR_IDX_CACHE : ARM_MAIR_IDX_NC)
	     << ARM_PTE_ATTRIDX_SHIFT;
	if (!(prot & PT_PROT_WRITE))
		e |= ARM_PTE_AP_RDONLY;
	else if (dirty_capable)
		e |= ARM_PTE_DBM;
	if (prot & PT_PROT_NOEXEC)
		e |= ARM_PTE_XN;
	return e;
}

static inline uint64_t arm_s1_pt_leaf_oa(uint64_t e, unsigned int level)
{
	(void)level;
	return e & ARM_PTE_OA;
}

/* Writable-dirty as 0/1 without a branch: DBM (51), not AP[2] (7), valid. */
static inline uint64_t arm_s1_pt_dirty_bit(uint64_t e)
{
	return (e >> 51) & ~(e >> 7) & e & 1;
}

/* Writable-dirty: valid, DBM set, AP[2] clear. */
static inline bool arm_s1_pt_is_dirty(uint64_t e)
{
	return (e & (ARM_PTE_VALID | ARM_PTE_DBM | ARM_PTE_AP_RDONLY)) ==
	       (ARM_PTE_VALID | ARM_PTE_DBM);
}

/* Writable-clean again: set AP[2]. */
static inline void arm_s1_pt_make_clean(pt_entry_t *p)
{
	atomic_fetch_or_explicit(p, ARM_PTE_AP_RDONLY, memory_order_acq_rel);
}

static inline bool arm_s1_pt_can_read(uint64_t e)
{
	return e & ARM_PTE_VALID;
}

static inline bool arm_s1_pt_can_write(uint64_t e, uint64_t ctrl)
{
	if (!(e & ARM_PTE_AP_RDONLY))
		return true;
	return (e & ARM_PTE_DBM) && (ctrl & ARM_CD0_HD);
}

static inline void arm_s1_pt_mark(pt_entry_t *p, bool write, uint64_t ctrl)
{
	/* AF is set at map time; only the dirty state moves. */
	if (!write || !(ctrl & ARM_CD0_HD))
		return;
	if (atomic_load_explicit(p, memory_order_relaxed) & ARM_PTE_DBM)
		atomic_fetch_and_explicit(p, ~ARM_PTE_AP_RDONLY,
					  memory_order_acq_rel);
}

static inline uint64_t arm_s1_pt_ctrl_init(const struct pt_domain *dom)
{
	uint64_t cd = ARM_CD0_V | ((64 - dom->va_lg2) & ARM_CD0_T0SZ_MASK);

	if (dom->dirty_capable)
		cd |= ARM_CD0_HA | ARM_CD0_HD;
	return cd;
}

/* Linux's arm_smmu_set_dirty_tracking() changes nothing: HA/HD stay set. */
static inline uint64_t arm_s1_pt_ctrl_set_tracking(uint64_t ctrl, bool on)
{
	(void)on;
	return ctrl;
}

static inline bool arm_s1_pt_ctrl_tracking(uint64_t ctrl)
{
	return ctrl & ARM_CD0_HD;
}

#endif
