/* SPDX-License-Identifier: MIT */
/*
 * pt.h - the IO page-table engine: IO page tables in real hardware formats,
 * with a hardware-like DMA access path that sets accessed/dirty bits, and
 * read-and-clear of those bits into an iova_bitmap.
 *
 * Formats (docs/pt-formats.md gives every bit and where it comes from):
 *   PT_FMT_AMDV1    AMD IOMMU v1 host page table; dirty gated by DTE.HAD
 *   PT_FMT_VTDSS    Intel VT-d second stage (scalable mode); gated by the
 *                   PASID entry's SSADE
 *   PT_FMT_ARM_S1   ARM LPAE stage 1, 4 KiB granule, as SMMUv3 uses it with
 *                   HTTU: DBM + AP[2]; gated by CD.TCR.HA/HD, which Linux
 *                   leaves on for the life of a dirty-capable domain
 *   PT_FMT_MOCK     the Linux iommufd selftest mock domain: AMDv1 bits over a
 *                   2 KiB IO page, huge leaf = 512 IO pages
 *
 * Physical addresses are host virtual addresses: a leaf's output address is
 * where a DMA access lands in this process, and a table entry holds the host
 * address of the next table. Tables are 4 KiB of 512 eight-byte entries.
 *
 * Locking: each domain has a reader/writer lock. DMA accesses and dirty
 * harvests take it shared; map, unmap and set_dirty_tracking take it
 * exclusive, so once they return no DMA that started before still uses the
 * old translation (the effect of an IOTLB flush and invalidation wait).
 * Dirty bits themselves are set and cleared with atomic read-modify-writes:
 * a DMA write that completed before a harvest started is reported by that
 * harvest, one concurrent with it by that harvest or the next.
 */
#ifndef IODIRTY_PT_H
#define IODIRTY_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iova_bitmap.h"
#include "log.h"

enum pt_format {
	PT_FMT_AMDV1,
	PT_FMT_VTDSS,
	PT_FMT_ARM_S1,
	PT_FMT_MOCK,
	PT_FMT_NR,
};

/* Mapping permissions (the kernel's IOMMU_READ/WRITE/CACHE/NOEXEC). */
enum {
	PT_PROT_READ = 1 << 0,
	PT_PROT_WRITE = 1 << 1,
	PT_PROT_CACHE = 1 << 2,
	PT_PROT_NOEXEC = 1 << 3,
};

/* Flags of pt_read_and_clear_dirty() (the kernel's IOMMU_DIRTY_NO_CLEAR). */
enum {
	PT_DIRTY_NO_CLEAR = 1 << 0,
};

struct pt_config {
	enum pt_format format;
	/* IOVA width in bits; 0 picks the format's default (48; mock 38). */
	unsigned int va_lg2;
	/*
	 * Leaf sizes the domain may use, a subset of the format's own
	 * (pt_format_pgsizes()); 0 means all of them. Mapping picks the
	 * largest one that alignment and length allow.
	 */
	uint64_t pgsize_bitmap;
	/*
	 * The domain was allocated for dirty tracking (the kernel's
	 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING, which gives it dirty_ops). Only such
	 * a domain can turn tracking on; on ARM it makes writable leaves
	 * carry DBM.
	 */
	bool dirty_tracking;
	/* Where the domain logs; NULL discards. */
	const struct iod_log *log;
};

/* Where a DMA access faulted, and why (an IOMMU fault record). */
enum pt_fault_reason {
	PT_FAULT_NONE,
	PT_FAULT_NOT_PRESENT,	/* no translation for the IOVA */
	PT_FAULT_PERMISSION,	/* a write to a read-only leaf, or the reverse */
	PT_FAULT_RANGE,		/* IOVA beyond the domain's input width */
};

struct pt_fault {
	enum pt_fault_reason reason;
	uint64_t iova;		/* first faulting IOVA */
	bool write;
};

struct pt_domain;

/** pt_format_name() - "amdv1", "vtdss", "arm-s1" or "mock". */
const char *pt_format_name(enum pt_format format);

/** pt_format_parse() - the format named @name, or -EINVAL. */
int pt_format_parse(const char *name, enum pt_format *format);

/** pt_format_pgsizes() - every leaf size the format can encode. */
uint64_t pt_format_pgsizes(enum pt_format format);

/** pt_format_granule() - the format's smallest leaf (IO page) size. */
uint64_t pt_format_granule(enum pt_format format);

/**
 * pt_domain_alloc() - an empty IO page table.
 * Return: the domain, or ERR_PTR(-EINVAL) for an unknown format, an
 * unsupported va_lg2 or a pgsize_bitmap with no usable size, or -ENOMEM.
 */
struct pt_domain *pt_domain_alloc(const struct pt_config *cfg);

/** pt_domain_free() - free the domain and every table; NULL is a no-op. */
void pt_domain_free(struct pt_domain *dom);

/** pt_domain_format() - the format the domain was allocated with. */
enum pt_format pt_domain_format(const struct pt_domain *dom);

/** pt_domain_pgsizes() - the leaf sizes this domain uses. */
uint64_t pt_domain_pgsizes(const struct pt_domain *dom);

/** pt_domain_va_lg2() - the domain's IOVA width in bits. */
unsigned int pt_domain_va_lg2(const struct pt_domain *dom);

/** pt_domain_table_bytes() - bytes of page tables now allocated. */
uint64_t pt_domain_table_bytes(const struct pt_domain *dom);

/** pt_domain_table_bytes_peak() - the most that were ever allocated. */
uint64_t pt_domain_table_bytes_peak(const struct pt_domain *dom);

/**
 * pt_map() - map [@iova, @iova + @length) to [@pa, @pa + @length).
 * Each step installs the largest leaf that the domain's sizes, the
 * alignment of iova and pa, and the remaining length allow. Either the whole
 * range is mapped or nothing is.
 * Return: 0; -EINVAL when iova, pa or length is not a multiple of the
 * smallest page size, length is 0 or prot has neither READ nor WRITE;
 * -EOVERFLOW when a range wraps; -ERANGE when it is beyond the IOVA width;
 * -EEXIST when any part is already mapped; -ENOMEM.
 */
int pt_map(struct pt_domain *dom, uint64_t iova, uint64_t pa, uint64_t length,
	   unsigned int prot);

/**
 * pt_map_pgsizes() - pt_map() using only the leaf sizes in @pgsizes (0: all
 * of the domain's), as iommufd does with IOMMU_OPTION_HUGE_PAGES = 0.
 * Return: as pt_map(); -EINVAL when no size in @pgsizes is the domain's.
 */
int pt_map_pgsizes(struct pt_domain *dom, uint64_t iova, uint64_t pa,
		   uint64_t length, unsigned int prot, uint64_t pgsizes);

/**
 * pt_unmap() - remove the leaves in [@iova, @iova + @length).
 * A huge leaf only partly inside the range is handled as the newest Linux
 * does: AMD v1, VT-d and mock (generic_pt, v6.19) remove the whole leaf when
 * the range ends inside it and stop when the range starts inside it; ARM
 * (io-pgtable-arm, v6.13) stops at any partial block. Stopping returns what
 * was unmapped before that point.
 * Holes are skipped. Tables whose whole span was unmapped are freed.
 * Return: bytes unmapped (0 when nothing was), or -EINVAL / -EOVERFLOW /
 * -ERANGE for a bad range.
 */
int64_t pt_unmap(struct pt_domain *dom, uint64_t iova, uint64_t length);

/**
 * pt_unmap_read_dirty() - pt_unmap(), and record in @dirty (if not NULL)
 * every leaf that was dirty when it was removed. Atomic with respect to DMA:
 * no write can land between the read of a dirty bit and the removal.
 * Return: as pt_unmap().
 */
int64_t pt_unmap_read_dirty(struct pt_domain *dom, uint64_t iova,
			    uint64_t length, struct iova_bitmap *dirty);

/**
 * pt_iova_to_phys() - translate one IOVA as the hardware would, without
 * permission checks and without touching accessed/dirty bits.
 * Return: 0 and *@pa (and the leaf's size in *@leaf_size if not NULL), or
 * -ENOENT when nothing is mapped there.
 */
int pt_iova_to_phys(struct pt_domain *dom, uint64_t iova, uint64_t *pa,
		    uint64_t *leaf_size);

/**
 * pt_set_dirty_tracking() - turn the hardware's dirty updates on or off at
 * domain level (AMD DTE.HAD, VT-d PASID-entry SSADE, mock flag; on ARM the
 * hardware keeps tracking regardless, as Linux leaves HA/HD set).
 * Turning it on does not clear existing dirty bits: callers clear first with
 * pt_read_and_clear_dirty(NULL bitmap), as iommufd does.
 * Return: 0, or -EOPNOTSUPP when the domain was not allocated for tracking.
 */
int pt_set_dirty_tracking(struct pt_domain *dom, bool enable);

/** pt_dirty_tracking_enabled() - whether the domain's enable bit is on. */
bool pt_dirty_tracking_enabled(struct pt_domain *dom);

/**
 * pt_read_and_clear_dirty() - report every dirty leaf in
 * [@iova, @iova + @length) into @dirty and make it clean unless
 * PT_DIRTY_NO_CLEAR. A leaf has one dirty bit, so a dirty huge leaf is
 * reported whole, also where it reaches past the range: every bit of
 * @dirty it covers is set (iova_bitmap_set keeps what the bitmap holds).
 * A NULL @dirty only clears. As in generic_pt (v6.19) the walk does not
 * care whether tracking is on: with it off, no new bits appear.
 * Return: 0; -EOPNOTSUPP when the domain was not allocated for tracking;
 * -EINVAL for unknown flags or a range not aligned to the granule;
 * -EOVERFLOW / -ERANGE for a range that wraps or exceeds the IOVA width.
 */
int pt_read_and_clear_dirty(struct pt_domain *dom, uint64_t iova,
			    uint64_t length, unsigned int flags,
			    struct iova_bitmap *dirty);

/**
 * pt_dma_write() - a device's DMA write of @len bytes at @iova, through the
 * IOMMU: translate each page, check write permission, copy the bytes to the
 * output address, then set the leaf's accessed and dirty bits if the domain
 * tracks. Stops at the first fault.
 * Return: 0, or -EFAULT with @fault (if not NULL) filled in; bytes before
 * the faulting page were written.
 */
int pt_dma_write(struct pt_domain *dom, uint64_t iova, const void *buf,
		 size_t len, struct pt_fault *fault);

/** pt_dma_read() - the read counterpart: accessed bit only. */
int pt_dma_read(struct pt_domain *dom, uint64_t iova, void *buf, size_t len,
		struct pt_fault *fault);

/**
 * pt_set_dirty() - mark the leaf holding @iova dirty as a hardware write
 * would, without moving data or checking permissions (the mock's
 * IOMMU_TEST_OP_DIRTY). Only while tracking is enabled.
 * Return: 0; -ENOENT when nothing is mapped; -EINVAL when tracking is off.
 */
int pt_set_dirty(struct pt_domain *dom, uint64_t iova);

/**
 * pt_leaf_entry() - the raw descriptor of the leaf that maps @iova and its
 * level (0 = smallest pages), for tests that pin a format's encoding.
 * Return: 0, or -ENOENT.
 */
int pt_leaf_entry(struct pt_domain *dom, uint64_t iova, uint64_t *entry,
		  unsigned int *level);

/**
 * pt_domain_ctrl() - the raw control word that gates the hardware's
 * accessed/dirty updates for this domain: AMD DTE qword 0 (HAD in bits 8:7),
 * VT-d PASID-entry qword 0 (SSADE bit 9), ARM CD word 0 (HA bit 43, HD bit
 * 42), mock flags (bit 0).
 */
uint64_t pt_domain_ctrl(struct pt_domain *dom);

#endif
