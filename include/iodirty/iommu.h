/* SPDX-License-Identifier: MIT */
/*
 * iommu.h - the emulated IOMMU hardware and its drivers: the layer the
 * kernel calls drivers/iommu/{amd,intel,arm/arm-smmu-v3} plus the iommu core.
 *
 * An iommu_unit is one IOMMU instance (an AMD IOMMU, a VT-d DMAR unit, an
 * SMMUv3), with its driver and whether its hardware can track dirty pages
 * (AMD EFR.HDSup, VT-d ECAP.SLADS in scalable mode, SMMUv3 IDR0.HTTU plus
 * coherency). An iommu_dev is a device behind a unit ("struct device" as the
 * iommu core sees it). An iommu_domain is an IO page table (a pt_domain in
 * the driver's format) that devices attach to; DMA from a device goes
 * through the domain it is attached to.
 *
 * Errnos follow the drivers of shared/spec/kernel-abi.md §2.4 and §3:
 * allocating a dirty-tracking domain for a device whose unit cannot track is
 * EOPNOTSUPP; attaching such a device to a dirty-tracking domain is EINVAL;
 * so is attaching to a domain of another driver (or, on ARM, another SMMU).
 */
#ifndef IODIRTY_IOMMU_H
#define IODIRTY_IOMMU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pt.h"

struct iommu_domain;
struct iommu_dev;
struct iommu_unit;

/* A reserved IOVA range a device brings to every IOAS it attaches to. */
struct iommu_resv_region {
	uint64_t start;
	uint64_t last;
};

/* Flags for iommu_driver.domain_alloc_paging (the HWPT_ALLOC flags). */
enum {
	IOMMU_DOMAIN_NEST_PARENT = 1 << 0,
	IOMMU_DOMAIN_DIRTY_TRACKING = 1 << 1,
};

struct iommu_driver {
	const char *name;		/* "amd", "intel", "arm", "mock" */
	enum pt_format format;
	uint32_t hw_info_type;		/* IOMMU_HW_INFO_TYPE_* */
	/* Flags domain_alloc_paging accepts; others are EOPNOTSUPP. */
	uint32_t alloc_flags;
	/* A nest parent is stage 2, which cannot track (SMMUv3). */
	bool dirty_excludes_nest_parent;
	/* Fill the GET_HW_INFO blob; return its full length. */
	size_t (*hw_info)(struct iommu_dev *dev, void *buf, size_t len);
	/* IOMMU_CAP_DIRTY_TRACKING for this device. */
	bool (*dirty_capable)(struct iommu_dev *dev);
	/* Leaf sizes and aperture of a domain made for @dev. */
	uint64_t (*pgsizes)(struct iommu_dev *dev);
	void (*aperture)(struct iommu_dev *dev, uint64_t *start,
			 uint64_t *last);
	/* Reserved IOVA of @dev (MSI windows); returns the count. */
	unsigned int (*resv_regions)(struct iommu_dev *dev,
				     const struct iommu_resv_region **out);
	/*
	 * IOMMU_HWPT_ALLOC driver data for a paging domain: 0 and the leaf
	 * sizes to use, or -errno. NULL: the driver takes none (EOPNOTSUPP).
	 */
	int (*paging_user_data)(struct iommu_dev *dev, uint32_t type,
				const void *data, size_t len,
				uint64_t *pgsizes);
	/* Driver checks at attach, after the core's; 0 or -EINVAL. */
	int (*attach_check)(struct iommu_domain *dom, struct iommu_dev *dev);
};

extern const struct iommu_driver amd_iommu_driver;
extern const struct iommu_driver intel_iommu_driver;
extern const struct iommu_driver arm_smmu_v3_driver;

/* One IOMMU instance. */
struct iommu_unit {
	const struct iommu_driver *drv;
	unsigned int index;
	bool dirty;			/* hardware can track dirty pages */
};

/*
 * struct iommu_dev - a device behind an IOMMU unit.
 * @attach_lock: taken shared by DMA, exclusive by attach/detach, so a DMA
 *               never sees a domain that is being replaced under it.
 */
struct iommu_dev {
	struct iommu_unit *unit;
	const char *name;
	uint32_t flags;			/* driver-private (mock device flags) */
	struct iommu_domain *domain;	/* attached, or NULL (DMA blocked) */
	void *bound;			/* the iommufd_device bound to it */
	pthread_rwlock_t attach_lock;
};

struct iommu_domain {
	const struct iommu_driver *drv;
	struct iommu_unit *unit;	/* the unit it was allocated on */
	struct pt_domain *pt;
	bool dirty_ops;			/* allocated with DIRTY_TRACKING */
	bool nest_parent;
	uint64_t pgsizes;
	uint64_t aperture_start;
	uint64_t aperture_last;
	unsigned int users;		/* attached devices */
};

/** iommu_driver_by_name() - "amd", "intel" or "arm"; NULL otherwise. */
const struct iommu_driver *iommu_driver_by_name(const char *name);

/** iommu_dev_init() - a device behind @unit, attached to nothing. */
void iommu_dev_init(struct iommu_dev *dev, struct iommu_unit *unit,
		    const char *name, uint32_t flags);

/** iommu_dev_destroy() - release what iommu_dev_init() set up. */
void iommu_dev_destroy(struct iommu_dev *dev);

/** iommu_dev_dirty_capable() - IOMMU_CAP_DIRTY_TRACKING for @dev. */
bool iommu_dev_dirty_capable(struct iommu_dev *dev);

/**
 * iommu_domain_alloc_paging() - a paging domain for @dev.
 * @flags: IOMMU_DOMAIN_* flags.
 * @pgsizes: leaf sizes to use; 0 for the driver's (a subset only).
 * Return: the domain, or ERR_PTR(-EOPNOTSUPP) for flags the driver does not
 * take or DIRTY_TRACKING on a unit that cannot track, -ENOMEM.
 */
struct iommu_domain *iommu_domain_alloc_paging(struct iommu_dev *dev,
					       uint32_t flags,
					       uint64_t pgsizes);

/** iommu_domain_free() - free a domain no device is attached to. */
void iommu_domain_free(struct iommu_domain *dom);

/**
 * iommu_attach_check() - can @dev attach to @dom? The checks of the drivers'
 * attach_dev: another driver or (ARM) unit, or a dirty-tracking domain and a
 * unit that cannot track, are -EINVAL.
 */
int iommu_attach_check(struct iommu_domain *dom, struct iommu_dev *dev);

/**
 * iommu_attach() - point @dev's DMA at @dom (NULL blocks DMA), after
 * iommu_attach_check(). Waits for DMA in flight through the old domain.
 */
void iommu_attach(struct iommu_dev *dev, struct iommu_domain *dom);

/**
 * iommu_dma_write() - DMA from @dev: through its attached domain.
 * Return: 0, or -EFAULT (with @fault) on an IOMMU fault, including when
 * the device is attached to nothing.
 */
int iommu_dma_write(struct iommu_dev *dev, uint64_t iova, const void *buf,
		    size_t len, struct pt_fault *fault);
int iommu_dma_read(struct iommu_dev *dev, uint64_t iova, void *buf,
		   size_t len, struct pt_fault *fault);

#endif
