// SPDX-License-Identifier: MIT
/*
 * amd_iommu.c - the AMD IOMMU driver model: v1 host page tables
 * (fmt/amdv1.h), dirty tracking when the unit reports Host Dirty support
 * (EFR.HDSup, bit 52), enabled per domain through DTE.HAD.
 *
 * Linux: drivers/iommu/amd/iommu.c (do_iommu_domain_alloc,
 * amd_iommu_attach_device, amd_iommu_set_dirty_tracking). GET_HW_INFO has no
 * AMD blob in the kernels followed (type NONE, length 0).
 */
#include <iodirty/iommu.h>
#include <iodirty/uapi/iommufd.h>

static const struct iommu_resv_region amd_resv[] = {
	{ 0xfee00000ULL, 0xfeefffffULL },	  /* MSI window */
	{ 0xfd00000000ULL, 0xffffffffffULL },	  /* HyperTransport */
};

static size_t amd_hw_info(struct iommu_dev *dev, void *buf, size_t len)
{
	(void)dev;
	(void)buf;
	(void)len;
	return 0;
}

static bool amd_dirty_capable(struct iommu_dev *dev)
{
	return dev->unit->dirty;
}

static uint64_t amd_pgsizes(struct iommu_dev *dev)
{
	(void)dev;
	return pt_format_pgsizes(PT_FMT_AMDV1);
}

static void amd_aperture(struct iommu_dev *dev, uint64_t *start,
			 uint64_t *last)
{
	(void)dev;
	*start = 0;
	*last = (1ULL << 48) - 1;
}

static unsigned int amd_resv_regions(struct iommu_dev *dev,
				     const struct iommu_resv_region **out)
{
	(void)dev;
	*out = amd_resv;
	return ARRAY_SIZE(amd_resv);
}

const struct iommu_driver amd_iommu_driver = {
	.name = "amd",
	.format = PT_FMT_AMDV1,
	.hw_info_type = IOMMU_HW_INFO_TYPE_NONE,
	.alloc_flags = IOMMU_DOMAIN_NEST_PARENT | IOMMU_DOMAIN_DIRTY_TRACKING,
	.hw_info = amd_hw_info,
	.dirty_capable = amd_dirty_capable,
	.pgsizes = amd_pgsizes,
	.aperture = amd_aperture,
	.resv_regions = amd_resv_regions,
};
