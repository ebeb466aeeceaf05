/* SPDX-License-Identifier: MIT */
/*
 * uapi/vfio.h - the Linux VFIO ABI, declared from the facts recorded in
 * shared/spec/kernel-abi.md §2.5, §4 and §5 (ioctl numbers, struct layouts,
 * flag values), each layout pinned by static_assert. The include guard is
 * the kernel header's own, so one file never sees two definitions.
 */
#ifndef _UAPIVFIO_H
#define _UAPIVFIO_H

#include <assert.h>
#include <stddef.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define VFIO_API_VERSION 0

/* Extensions (VFIO_CHECK_EXTENSION arguments). */
#define VFIO_TYPE1_IOMMU	1
#define VFIO_SPAPR_TCE_IOMMU	2
#define VFIO_TYPE1v2_IOMMU	3
#define VFIO_DMA_CC_IOMMU	4
#define VFIO_EEH		5
#define VFIO_TYPE1_NESTING_IOMMU 6
#define VFIO_SPAPR_TCE_v2_IOMMU 7
#define VFIO_NOIOMMU_IOMMU	8
#define VFIO_UNMAP_ALL		9
#define VFIO_UPDATE_VADDR	10

#define VFIO_TYPE (';')
#define VFIO_BASE 100

/* Container and group. */
#define VFIO_GET_API_VERSION	_IO(VFIO_TYPE, VFIO_BASE + 0)
#define VFIO_CHECK_EXTENSION	_IO(VFIO_TYPE, VFIO_BASE + 1)
#define VFIO_SET_IOMMU		_IO(VFIO_TYPE, VFIO_BASE + 2)
#define VFIO_GROUP_GET_STATUS	_IO(VFIO_TYPE, VFIO_BASE + 3)
#define VFIO_GROUP_SET_CONTAINER _IO(VFIO_TYPE, VFIO_BASE + 4)
#define VFIO_GROUP_UNSET_CONTAINER _IO(VFIO_TYPE, VFIO_BASE + 5)
#define VFIO_GROUP_GET_DEVICE_FD _IO(VFIO_TYPE, VFIO_BASE + 6)

struct vfio_info_cap_header {
	__u16 id;
	__u16 version;
	__u32 next;
};

/* Type1 IOMMU (container fd). */
struct vfio_iommu_type1_info {
	__u32 argsz;
	__u32 flags;
#define VFIO_IOMMU_INFO_PGSIZES (1 << 0)
#define VFIO_IOMMU_INFO_CAPS	(1 << 1)
	__aligned_u64 iova_pgsizes;
	__u32 cap_offset;
	__u32 pad;
};

#define VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE 1

struct vfio_iova_range {
	__u64 start;
	__u64 end;
};

struct vfio_iommu_type1_info_cap_iova_range {
	struct vfio_info_cap_header header;
	__u32 nr_iovas;
	__u32 reserved;
	struct vfio_iova_range iova_ranges[];
};

#define VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION 2

struct vfio_iommu_type1_info_cap_migration {
	struct vfio_info_cap_header header;
	__u32 flags;
	__u64 pgsize_bitmap;
	__u64 max_dirty_bitmap_size;
};

#define VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL 3

struct vfio_iommu_type1_info_dma_avail {
	struct vfio_info_cap_header header;
	__u32 avail;
};

#define VFIO_IOMMU_GET_INFO _IO(VFIO_TYPE, VFIO_BASE + 12)

struct vfio_iommu_type1_dma_map {
	__u32 argsz;
	__u32 flags;
#define VFIO_DMA_MAP_FLAG_READ	(1 << 0)
#define VFIO_DMA_MAP_FLAG_WRITE (1 << 1)
#define VFIO_DMA_MAP_FLAG_VADDR (1 << 2)
	__u64 vaddr;
	__u64 iova;
	__u64 size;
};

#define VFIO_IOMMU_MAP_DMA _IO(VFIO_TYPE, VFIO_BASE + 13)

struct vfio_bitmap {
	__u64 pgsize;
	__u64 size;
	__u64 *data;
};

struct vfio_iommu_type1_dma_unmap {
	__u32 argsz;
	__u32 flags;
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1 << 0)
#define VFIO_DMA_UNMAP_FLAG_ALL		     (1 << 1)
#define VFIO_DMA_UNMAP_FLAG_VADDR	     (1 << 2)
	__u64 iova;
	__u64 size;
	__u8 data[];
};

#define VFIO_IOMMU_UNMAP_DMA _IO(VFIO_TYPE, VFIO_BASE + 14)

#define VFIO_IOMMU_ENABLE  _IO(VFIO_TYPE, VFIO_BASE + 15)
#define VFIO_IOMMU_DISABLE _IO(VFIO_TYPE, VFIO_BASE + 16)

struct vfio_iommu_type1_dirty_bitmap {
	__u32 argsz;
	__u32 flags;
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_START      (1 << 0)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP       (1 << 1)
#define VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP (1 << 2)
	__u8 data[];
};

struct vfio_iommu_type1_dirty_bitmap_get {
	__u64 iova;
	__u64 size;
	struct vfio_bitmap bitmap;
};

/* The same number as VFIO_DEVICE_FEATURE: told apart by the kind of fd. */
#define VFIO_IOMMU_DIRTY_PAGES _IO(VFIO_TYPE, VFIO_BASE + 17)

#define VFIO__LAYOUT(type, size_, field, off)                            \
	static_assert(offsetof(type, field) == (off), #type "." #field); \
	static_assert(sizeof(type) == (size_), #type " size")

VFIO__LAYOUT(struct vfio_info_cap_header, 8, next, 4);
VFIO__LAYOUT(struct vfio_iommu_type1_info, 24, cap_offset, 16);
VFIO__LAYOUT(struct vfio_iommu_type1_info_cap_iova_range, 16, nr_iovas, 8);
VFIO__LAYOUT(struct vfio_iommu_type1_info_cap_migration, 32,
	     max_dirty_bitmap_size, 24);
VFIO__LAYOUT(struct vfio_iommu_type1_info_dma_avail, 12, avail, 8);
VFIO__LAYOUT(struct vfio_iommu_type1_dma_map, 32, size, 24);
VFIO__LAYOUT(struct vfio_bitmap, 24, data, 16);
VFIO__LAYOUT(struct vfio_iommu_type1_dma_unmap, 24, size, 16);
VFIO__LAYOUT(struct vfio_iommu_type1_dirty_bitmap, 8, flags, 4);
VFIO__LAYOUT(struct vfio_iommu_type1_dirty_bitmap_get, 40, bitmap, 16);
static_assert(VFIO_IOMMU_DIRTY_PAGES == 0x3b75, "ioctl number");
static_assert(VFIO_IOMMU_GET_INFO == 0x3b70, "ioctl number");

#endif
