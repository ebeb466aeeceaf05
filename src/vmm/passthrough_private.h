/* SPDX-License-Identifier: MIT */
/*
 * passthrough_private.h - what the files of the VMM's VFIO/iommufd client
 * share (vmm.h's vmm_pt_*): the passthrough state of one VM, its devices
 * and RAM mappings, and the backend interface that passthrough_iommufd.c
 * (/dev/iommu + cdev devices) and passthrough_legacy.c (/dev/vfio/vfio +
 * groups, type1v2) implement. passthrough.c holds what both backends share:
 * device probing, the tracker choice and its blockers (vmm-behaviour.md
 * §1.5, §1.8), VFIO DMA logging, start/stop/sync and unmap during tracking
 * (§1.6, §1.7).
 *
 * Only the kernel ABI (include/iodirty/uapi) is used: on a machine with the
 * real kernel the same code drives it.
 */
#ifndef IODIRTY_VMM_PASSTHROUGH_PRIVATE_H
#define IODIRTY_VMM_PASSTHROUGH_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iodirty/compiler.h>
#include <iodirty/vmm.h>

#define PT_MAX_MAPS 64
/* IOVA covered by one dirty query: 64 GiB is a 2 MiB bitmap at 4 KiB. */
#define PT_QUERY_WINDOW (64ULL << 30)
/* Device DMA logging: below 4 GiB, above 4 GiB, the PCI 64-bit hole. */
#define PT_LOG_MAX_RANGES 3

struct vmm_pt;

/* One IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA of guest RAM, IOVA = GPA. */
struct pt_map {
	uint64_t gpa;
	uint64_t size;
	void *hva;
};

/* An HWPT this VM allocated on its IOAS (iommufd backend). */
struct pt_hwpt {
	uint32_t id;
	bool dirty; /* allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING */
	unsigned int users; /* devices attached */
	unsigned int owner; /* the device it was allocated for */
};

/* What /sys/kernel/iodirty/devices says of one device. */
struct pt_sysfs_dev {
	char name[32];
	char kind[16];
	char cdev[64];
	char group[64];
	bool mdev; /* no IOMMU of its own ("none") */
};

struct pt_dev {
	struct vmm_pt_device pub;
	int group_fd; /* legacy: /dev/vfio/N; -1 otherwise */
	int mig_err; /* errno of VFIO_DEVICE_FEATURE_MIGRATION, 0 */
	bool logging; /* DMA logging started on it */
};

/*
 * A backend: how devices reach the IOMMU, how RAM is mapped, and the
 * container-level tracker (IOMMU dirty bits, or type1's dirty pages).
 * Every op returns 0 / -errno and fills @msg when it fails.
 */
struct pt_backend {
	const char *name;
	enum vmm_tracker tracker; /* its container tracker */
	uint64_t query_window; /* most IOVA per query (whole maps: 0) */
	int (*open)(struct vmm_pt *pt, char *msg, size_t len);
	void (*close)(struct vmm_pt *pt);
	/* Open the device fd, bind or join the container, and attach. */
	int (*add_device)(struct vmm_pt *pt, struct pt_dev *d,
			  const struct pt_sysfs_dev *sys, char *msg,
			  size_t len);
	int (*map)(struct vmm_pt *pt, const struct pt_map *m);
	int (*unmap)(struct vmm_pt *pt, const struct pt_map *m);
	/* The container tracker: can it run at all (beyond the devices)? */
	bool (*tracker_usable)(const struct vmm_pt *pt, char *why, size_t len);
	int (*set_tracking)(struct vmm_pt *pt, bool start, char *msg,
			    size_t len);
	/*
	 * OR the dirty pages of [iova, iova + size) (inside map @m) into the
	 * zeroed @bits, bit 0 = @iova. @no_clear: read without clearing,
	 * an unmap of the range follows (iommufd).
	 */
	int (*query)(struct vmm_pt *pt, const struct pt_map *m, uint64_t iova,
		     uint64_t size, uint64_t *bits, bool no_clear, char *msg,
		     size_t len);
	/*
	 * Unmap @m in one call that also reports its dirty pages into
	 * @bits (zeroed, bit 0 = m->gpa): type1's UNMAP_DMA with
	 * VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP. NULL (iommufd): the caller
	 * queries with NO_CLEAR, then unmaps even if the query failed.
	 */
	int (*unmap_harvest)(struct vmm_pt *pt, const struct pt_map *m,
			     uint64_t *bits, char *msg, size_t len);
};

struct vmm_pt {
	struct vmm_pt_config cfg;
	const struct pt_backend *be;

	/* iommufd */
	int iommufd;
	uint32_t ioas_id;
	struct pt_hwpt hwpt[VMM_MAX_DEVICES];
	unsigned int nhwpt;
	bool any_hwpt_dirty; /* QEMU's container dirty_pages_supported */

	/* legacy */
	int container;
	bool iommu_set; /* VFIO_SET_IOMMU done */
	bool type1_mig_cap; /* VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION */
	uint64_t type1_pgsize; /* smallest dirty page size */
	uint64_t type1_max_bitmap; /* max_dirty_bitmap_size, bytes */

	struct pt_dev dev[VMM_MAX_DEVICES];
	unsigned int ndev;

	struct pt_map map[PT_MAX_MAPS];
	unsigned int nmap;

	enum vmm_tracker tracker;
	bool chosen;
	bool started;
	struct {
		uint64_t iova;
		uint64_t length;
	} log_range[PT_LOG_MAX_RANGES];
	unsigned int nlog_range;

	uint64_t *scratch; /* a query's bitmap */
	uint64_t scratch_words;
};

extern const struct pt_backend pt_iommufd_backend;
extern const struct pt_backend pt_legacy_backend;

/* passthrough.c */
void pt_msg(char *msg, size_t len, const char *fmt, ...) __printf(3, 4);
const char *pt_strerror(int err);
/* ioctl(), retried on EINTR: what it returned (>= 0), or -errno. */
int pt_ioctl(int fd, unsigned long cmd, void *arg);
int pt_open(const char *path, int flags);
void pt_close(int *fd);

#endif
