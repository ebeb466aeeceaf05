// SPDX-License-Identifier: MIT
/*
 * intel_iommu.c - the Intel VT-d driver model, scalable mode: second-stage
 * page tables (fmt/vtdss.h), dirty tracking when the unit reports
 * ECAP.SMTS (bit 43), ECAP.SLADS (bit 45) and ECAP.SMPWC (bit 48, page walks
 * are coherent: always, here), enabled per domain through the PASID entries'
 * SSADE.
 *
 * Linux: drivers/iommu/intel/iommu.c (ssads_supported,
 * intel_iommu_domain_alloc_paging_flags, paging_domain_compatible,
 * intel_iommu_hw_info). The GET_HW_INFO blob is struct iommu_hw_info_vtd with
 * the unit's capability and extended capability registers.
 */
#include <string.h>

#include <iodirty/iommu.h>
#include <iodirty/uapi/iommufd.h>

/* VT-d spec §11.4.2 Capability Register. */
#define VTD_CAP_ND_64K	   2ULL			/* 64K domain ids */
#define VTD_CAP_SAGAW_4LVL (1ULL << (8 + 2))	/* 48-bit, 4-level */
#define VTD_CAP_MGAW_48	   (47ULL << 16)
#define VTD_CAP_SLLPS_2M   (1ULL << 34)
#define VTD_CAP_SLLPS_1G   (1ULL << 35)
/* §11.4.3 Extended Capability Register. */
#define VTD_ECAP_C	   (1ULL << 0)
#define VTD_ECAP_QI	   (1ULL << 1)
#define VTD_ECAP_IR	   (1ULL << 3)
#define VTD_ECAP_PASID	   (1ULL << 40)
#define VTD_ECAP_SMTS	   (1ULL << 43)
#define VTD_ECAP_SLADS	   (1ULL << 45)
#define VTD_ECAP_SLTS	   (1ULL << 46)
#define VTD_ECAP_FLTS	   (1ULL << 47)
#define VTD_ECAP_SMPWC	   (1ULL << 48)

static const struct iommu_resv_region vtd_resv[] = {
	{ 0xfee00000ULL, 0xfeefffffULL },	  /* interrupt address range */
};

static size_t vtd_hw_info(struct iommu_dev *dev, void *buf, size_t len)
{
	struct iommu_hw_info_vtd info = {
		.cap_reg = VTD_CAP_ND_64K | VTD_CAP_SAGAW_4LVL |
			   VTD_CAP_MGAW_48 | VTD_CAP_SLLPS_2M |
			   VTD_CAP_SLLPS_1G,
		.ecap_reg = VTD_ECAP_C | VTD_ECAP_QI | VTD_ECAP_IR |
			    VTD_ECAP_PASID | VTD_ECAP_SMTS | VTD_ECAP_SLTS |
			    VTD_ECAP_FLTS | VTD_ECAP_SMPWC,
	};

	if (dev->unit->dirty)
		info.ecap_reg |= VTD_ECAP_SLADS;
	memcpy(buf, &info, len < sizeof(info) ? len : sizeof(info));
	return sizeof(info);
}

static bool vtd_dirty_capable(struct iommu_dev *dev)
{
	return dev->unit->dirty;
}

static uint64_t vtd_pgsizes(struct iommu_dev *dev)
{
	(void)dev;
	return pt_format_pgsizes(PT_FMT_VTDSS);
}

static void vtd_aperture(struct iommu_dev *dev, uint64_t *start,
			 uint64_t *last)
{
	(void)dev;
	*start = 0;
	*last = (1ULL << 48) - 1;
}

static unsigned int vtd_resv_regions(struct iommu_dev *dev,
				     const struct iommu_resv_region **out)
{
	(void)dev;
	*out = vtd_resv;
	return ARRAY_SIZE(vtd_resv);
}

const struct iommu_driver intel_iommu_driver = {
	.name = "intel",
	.format = PT_FMT_VTDSS,
	.hw_info_type = IOMMU_HW_INFO_TYPE_INTEL_VTD,
	.alloc_flags = IOMMU_DOMAIN_NEST_PARENT | IOMMU_DOMAIN_DIRTY_TRACKING,
	.hw_info = vtd_hw_info,
	.dirty_capable = vtd_dirty_capable,
	.pgsizes = vtd_pgsizes,
	.aperture = vtd_aperture,
	.resv_regions = vtd_resv_regions,
};
