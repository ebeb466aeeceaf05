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


/* Group. */
struct vfio_group_status {
	__u32 argsz;
	__u32 flags;
#define VFIO_GROUP_FLAGS_VIABLE	       (1 << 0)
#define VFIO_GROUP_FLAGS_CONTAINER_SET (1 << 1)
};

/* Device. */
struct vfio_device_info {
	__u32 argsz;
	__u32 flags;
#define VFIO_DEVICE_FLAGS_RESET (1 << 0)
#define VFIO_DEVICE_FLAGS_PCI	(1 << 1)
#define VFIO_DEVICE_FLAGS_CAPS	(1 << 7)
	__u32 num_regions;
	__u32 num_irqs;
	__u32 cap_offset;
	__u32 pad;
};
#define VFIO_DEVICE_GET_INFO _IO(VFIO_TYPE, VFIO_BASE + 7)

struct vfio_region_info {
	__u32 argsz;
	__u32 flags;
#define VFIO_REGION_INFO_FLAG_READ  (1 << 0)
#define VFIO_REGION_INFO_FLAG_WRITE (1 << 1)
#define VFIO_REGION_INFO_FLAG_MMAP  (1 << 2)
#define VFIO_REGION_INFO_FLAG_CAPS  (1 << 3)
	__u32 index;
	__u32 cap_offset;
	__u64 size;
	__u64 offset;
};
#define VFIO_DEVICE_GET_REGION_INFO _IO(VFIO_TYPE, VFIO_BASE + 8)

struct vfio_irq_info {
	__u32 argsz;
	__u32 flags;
#define VFIO_IRQ_INFO_EVENTFD	 (1 << 0)
#define VFIO_IRQ_INFO_MASKABLE	 (1 << 1)
#define VFIO_IRQ_INFO_AUTOMASKED (1 << 2)
#define VFIO_IRQ_INFO_NORESIZE	 (1 << 3)
	__u32 index;
	__u32 count;
};
#define VFIO_DEVICE_GET_IRQ_INFO _IO(VFIO_TYPE, VFIO_BASE + 9)

struct vfio_irq_set {
	__u32 argsz;
	__u32 flags;
#define VFIO_IRQ_SET_DATA_NONE	    (1 << 0)
#define VFIO_IRQ_SET_DATA_BOOL	    (1 << 1)
#define VFIO_IRQ_SET_DATA_EVENTFD   (1 << 2)
#define VFIO_IRQ_SET_ACTION_MASK    (1 << 3)
#define VFIO_IRQ_SET_ACTION_UNMASK  (1 << 4)
#define VFIO_IRQ_SET_ACTION_TRIGGER (1 << 5)
	__u32 index;
	__u32 start;
	__u32 count;
	__u8 data[];
};
#define VFIO_DEVICE_SET_IRQS _IO(VFIO_TYPE, VFIO_BASE + 10)
#define VFIO_DEVICE_RESET    _IO(VFIO_TYPE, VFIO_BASE + 11)

enum {
	VFIO_PCI_BAR0_REGION_INDEX,
	VFIO_PCI_BAR1_REGION_INDEX,
	VFIO_PCI_BAR2_REGION_INDEX,
	VFIO_PCI_BAR3_REGION_INDEX,
	VFIO_PCI_BAR4_REGION_INDEX,
	VFIO_PCI_BAR5_REGION_INDEX,
	VFIO_PCI_ROM_REGION_INDEX,
	VFIO_PCI_CONFIG_REGION_INDEX,
	VFIO_PCI_VGA_REGION_INDEX,
	VFIO_PCI_NUM_REGIONS = 9,
};

enum {
	VFIO_PCI_INTX_IRQ_INDEX,
	VFIO_PCI_MSI_IRQ_INDEX,
	VFIO_PCI_MSIX_IRQ_INDEX,
	VFIO_PCI_ERR_IRQ_INDEX,
	VFIO_PCI_REQ_IRQ_INDEX,
	VFIO_PCI_NUM_IRQS,
};

/* Device features (§5.1). */
struct vfio_device_feature {
	__u32 argsz;
	__u32 flags;
#define VFIO_DEVICE_FEATURE_MASK  (0xffff)
#define VFIO_DEVICE_FEATURE_GET	  (1 << 16)
#define VFIO_DEVICE_FEATURE_SET	  (1 << 17)
#define VFIO_DEVICE_FEATURE_PROBE (1 << 18)
	__u8 data[];
};
#define VFIO_DEVICE_FEATURE _IO(VFIO_TYPE, VFIO_BASE + 17)

#define VFIO_DEVICE_FEATURE_PCI_VF_TOKEN	   0
#define VFIO_DEVICE_FEATURE_MIGRATION		   1
#define VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE	   2
#define VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY	   3
#define VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP 4
#define VFIO_DEVICE_FEATURE_LOW_POWER_EXIT	   5
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START	   6
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP	   7
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT	   8
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE	   9

struct vfio_device_feature_migration {
	__aligned_u64 flags;
#define VFIO_MIGRATION_STOP_COPY (1 << 0)
#define VFIO_MIGRATION_P2P	 (1 << 1)
#define VFIO_MIGRATION_PRE_COPY	 (1 << 2)
};

struct vfio_device_feature_mig_state {
	__u32 device_state;
	__s32 data_fd;
};

enum vfio_device_mig_state {
	VFIO_DEVICE_STATE_ERROR = 0,
	VFIO_DEVICE_STATE_STOP = 1,
	VFIO_DEVICE_STATE_RUNNING = 2,
	VFIO_DEVICE_STATE_STOP_COPY = 3,
	VFIO_DEVICE_STATE_RESUMING = 4,
	VFIO_DEVICE_STATE_RUNNING_P2P = 5,
	VFIO_DEVICE_STATE_PRE_COPY = 6,
	VFIO_DEVICE_STATE_PRE_COPY_P2P = 7,
	VFIO_DEVICE_STATE_NR,
};

struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};

struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)

/* Device DMA logging (§5.2). */
struct vfio_device_feature_dma_logging_control {
	__aligned_u64 page_size;
	__u32 num_ranges;
	__u32 __reserved;
	__aligned_u64 ranges;
};

struct vfio_device_feature_dma_logging_range {
	__aligned_u64 iova;
	__aligned_u64 length;
};

struct vfio_device_feature_dma_logging_report {
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 bitmap;
};

/* The cdev path (§5.3): /dev/vfio/devices/vfioN bound to an iommufd. */
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)

struct vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
};
#define VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 20)

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
VFIO__LAYOUT(struct vfio_group_status, 8, flags, 4);
VFIO__LAYOUT(struct vfio_device_info, 24, cap_offset, 16);
VFIO__LAYOUT(struct vfio_region_info, 32, offset, 24);
VFIO__LAYOUT(struct vfio_irq_info, 16, count, 12);
VFIO__LAYOUT(struct vfio_irq_set, 20, count, 16);
VFIO__LAYOUT(struct vfio_device_feature, 8, flags, 4);
VFIO__LAYOUT(struct vfio_device_feature_migration, 8, flags, 0);
VFIO__LAYOUT(struct vfio_device_feature_mig_state, 8, data_fd, 4);
VFIO__LAYOUT(struct vfio_precopy_info, 24, dirty_bytes, 16);
VFIO__LAYOUT(struct vfio_device_feature_dma_logging_control, 24, ranges, 16);
VFIO__LAYOUT(struct vfio_device_feature_dma_logging_range, 16, length, 8);
VFIO__LAYOUT(struct vfio_device_feature_dma_logging_report, 32, bitmap, 24);
VFIO__LAYOUT(struct vfio_device_bind_iommufd, 16, out_devid, 12);
VFIO__LAYOUT(struct vfio_device_attach_iommufd_pt, 12, pt_id, 8);
VFIO__LAYOUT(struct vfio_device_detach_iommufd_pt, 8, flags, 4);
static_assert(VFIO_IOMMU_DIRTY_PAGES == 0x3b75, "ioctl number");
static_assert(VFIO_DEVICE_FEATURE == 0x3b75, "same number as DIRTY_PAGES");
static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76, "ioctl number");
static_assert(VFIO_MIG_GET_PRECOPY_INFO == 0x3b79, "ioctl number");
static_assert(VFIO_IOMMU_GET_INFO == 0x3b70, "ioctl number");

#endif
