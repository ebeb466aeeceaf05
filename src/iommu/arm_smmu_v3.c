// SPDX-License-Identifier: MIT
/*
 * arm_smmu_v3.c - the Arm SMMUv3 driver model: stage-1 LPAE tables
 * (fmt/arm_s1.h), dirty tracking when IDR0.HTTU reports access + dirty and
 * the SMMU is coherent (arm_smmu_dbm_capable). A domain is bound to the
 * SMMU it was finalised on: attaching a device behind another one is
 * -EINVAL. A nest parent is stage 2, which Linux never tracks.
 *
 * Linux: drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * (arm_smmu_domain_alloc_paging_flags, arm_smmu_hw_info). The GET_HW_INFO
 * blob is struct iommu_hw_info_arm_smmuv3 (IDR0-5, IIDR, AIDR).
 */
#include <errno.h>
#include <string.h>

#include <iodirty/iommu.h>
#include <iodirty/uapi/iommufd.h>

/* SMMUv3 §6.3.1 IDR0 and §6.3.6 IDR5. */
#define SMMU_IDR0_S2P		(1u << 0)
#define SMMU_IDR0_S1P		(1u << 1)
#define SMMU_IDR0_TTF_AARCH64	(2u << 2)
#define SMMU_IDR0_COHACC	(1u << 4)
#define SMMU_IDR0_HTTU_ACCESS	(1u << 6)
#define SMMU_IDR0_HTTU_DIRTY	(2u << 6)
#define SMMU_IDR0_ASID16	(1u << 12)
#define SMMU_IDR5_OAS_48	5u
#define SMMU_IDR5_GRAN4K	(1u << 4)
#define SMMU_AIDR_V3_2		2u

static size_t smmu_hw_info(struct iommu_dev *dev, void *buf, size_t len)
{
	struct iommu_hw_info_arm_smmuv3 info = {
		.idr = {
			[0] = SMMU_IDR0_S2P | SMMU_IDR0_S1P |
			      SMMU_IDR0_TTF_AARCH64 | SMMU_IDR0_COHACC |
			      SMMU_IDR0_ASID16,
			[5] = SMMU_IDR5_OAS_48 | SMMU_IDR5_GRAN4K,
		},
		.aidr = SMMU_AIDR_V3_2,
	};

	info.idr[0] |= dev->unit->dirty ? SMMU_IDR0_HTTU_DIRTY :
					  SMMU_IDR0_HTTU_ACCESS;
	memcpy(buf, &info, len < sizeof(info) ? len : sizeof(info));
	return sizeof(info);
}

static bool smmu_dirty_capable(struct iommu_dev *dev)
{
	return dev->unit->dirty;
}

static uint64_t smmu_pgsizes(struct iommu_dev *dev)
{
	(void)dev;
	return pt_format_pgsizes(PT_FMT_ARM_S1);
}

static void smmu_aperture(struct iommu_dev *dev, uint64_t *start,
			  uint64_t *last)
{
	(void)dev;
	*start = 0;
	*last = (1ULL << 48) - 1;
}

static unsigned int smmu_resv_regions(struct iommu_dev *dev,
				      const struct iommu_resv_region **out)
{
	(void)dev;
	*out = NULL;
	return 0;
}

static int smmu_attach_check(struct iommu_domain *dom, struct iommu_dev *dev)
{
	return dom->unit == dev->unit ? 0 : -EINVAL;
}

const struct iommu_driver arm_smmu_v3_driver = {
	.name = "arm",
	.format = PT_FMT_ARM_S1,
	.hw_info_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
	.alloc_flags = IOMMU_DOMAIN_NEST_PARENT | IOMMU_DOMAIN_DIRTY_TRACKING,
	.dirty_excludes_nest_parent = true,
	.hw_info = smmu_hw_info,
	.dirty_capable = smmu_dirty_capable,
	.pgsizes = smmu_pgsizes,
	.aperture = smmu_aperture,
	.resv_regions = smmu_resv_regions,
	.attach_check = smmu_attach_check,
};
