// SPDX-License-Identifier: MIT
/*
 * vfio_compat.c - the VFIO type1 container ioctls answered on an iommufd
 * (numbers below 0x80), and IOMMU_VFIO_IOAS, which picks the IOAS they act
 * on. Linux drivers/iommu/iommufd/vfio_compat.c, per
 * shared/spec/kernel-abi.md §2.5 and §6.5.
 *
 * Not implemented there, so not here: VFIO_IOMMU_DIRTY_PAGES (ENOTTY) and
 * VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (EINVAL): the compat layer has no
 * dirty tracking; the type1 container (src/vfio) does.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>
#include <iodirty/uapi/vfio.h>
#include <iodirty/vfio_caps.h>

#include "iommufd_private.h"

int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd)
{
	struct iommu_vfio_ioas *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_ioas *ioas;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->op) {
	case IOMMU_VFIO_IOAS_GET:
		if (!ictx->vfio_ioas)
			return -ENODEV;
		cmd->ioas_id = ictx->vfio_ioas->obj.id;
		return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	case IOMMU_VFIO_IOAS_SET:
		ioas = iommufd_get_ioas(ictx, cmd->ioas_id);
		if (!ioas)
			return -ENOENT;
		ictx->vfio_ioas = ioas;
		return 0;
	case IOMMU_VFIO_IOAS_CLEAR:
		ictx->vfio_ioas = NULL;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* Linux get_compat_ioas(): the IOAS the VFIO ioctls act on, or ENODEV. */
static struct iommufd_ioas *get_compat_ioas(struct iommufd_ctx *ictx)
{
	return ictx->vfio_ioas ? ictx->vfio_ioas : ERR_PTR(-ENODEV);
}

/*
 * VFIO_DMA_CC_IOMMU, as Linux iommufd_vfio_cc_iommu(): 1 when every HWPT
 * on the compat IOAS enforces cache coherency (none at all included).
 */
static int compat_cc_iommu(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas = get_compat_ioas(ictx);

	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	for (unsigned int i = 0; i < ioas->nhwpts; i++)
		if (!ioas->hwpts[i]->enforce_cache_coherency)
			return 0;
	return 1;
}

static int compat_check_extension(struct iommufd_ctx *ictx, unsigned long type)
{
	switch (type) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_DMA_CC_IOMMU:
		return compat_cc_iommu(ictx);
	default:
		return 0;
	}
}

static int compat_set_iommu(struct iommufd_ctx *ictx, unsigned long type)
{
	struct iommufd_ioas *ioas;

	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return -EINVAL;
	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	/*
	 * TYPE1 (v1) may unmap inside a mapping: with large IOPTEs off, the
	 * VFIO unmap can cut areas (compat_unmap_dma()).
	 */
	if (type == VFIO_TYPE1_IOMMU)
		return iopt_disable_large_pages(&ioas->iopt);
	return 0;
}

/*
 * VFIO_IOMMU_MAP_DMA: always at the fixed IOVA. Flags other than READ and
 * WRITE are EINVAL; neither is fine (Linux maps with IOMMU_CACHE alone).
 */
static int compat_map_dma(struct iommufd_ctx *ictx, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;
	unsigned int prot = PT_PROT_CACHE;
	struct iommufd_ioas *ioas;
	uint64_t iova;

	if (copy_from_user(&map, arg, minsz))
		return -EFAULT;
	if (map.argsz < minsz ||
	    (map.flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)))
		return -EINVAL;
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		prot |= PT_PROT_READ;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		prot |= PT_PROT_WRITE;
	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	iova = map.iova;
	return iopt_map_user_pages(ictx->host, &ioas->iopt, &iova, map.vaddr,
				   map.size, prot, true);
}

/*
 * VFIO_IOMMU_UNMAP_DMA, as Linux iommufd_vfio_unmap_dma() (with
 * afb47765f923, "Make vfio_compats unmap succeed if the range is already
 * empty"): only FLAG_ALL is known; with large IOPTEs off on the IOAS
 * (TYPE1, or IOMMU_OPTION_HUGE_PAGES 0) the range's ends are cut first, so
 * it may land inside a mapping. Unmapping nothing succeeds with size 0.
 * Once the unmap itself ran, size is written back, errors included.
 */
static int compat_unmap_dma(struct iommufd_ctx *ictx, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_dma_unmap, size);
	struct vfio_iommu_type1_dma_unmap unmap;
	struct iommufd_ioas *ioas;
	uint64_t unmapped = 0;
	int rc;

	if (copy_from_user(&unmap, arg, minsz))
		return -EFAULT;
	if (unmap.argsz < minsz || (unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL))
		return -EINVAL;
	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (unmap.iova || unmap.size)
			return -EINVAL;
		rc = iopt_unmap_all(ictx->host, &ioas->iopt, &unmapped);
	} else {
		if (ioas->iopt.disable_large_pages) {
			/* No cut before IOVA 0 (the wrap of its iova - 1). */
			const uint64_t iovas[] = { unmap.iova + unmap.size - 1,
						   unmap.iova - 1 };

			rc = iopt_cut_iova(&ioas->iopt, iovas,
					   unmap.iova ? 2 : 1);
			if (rc)
				return rc;
		}
		rc = iopt_unmap_iova(ictx->host, &ioas->iopt, unmap.iova,
				     unmap.size, &unmapped);
	}
	unmap.size = unmapped;
	if (copy_to_user(arg, &unmap, minsz))
		rc = -EFAULT;
	return rc;
}

/* The IOVA_RANGE cap: each range written if it fits, the header if all does. */
static int compat_cap_iova(struct vfio_caps *w, struct io_pagetable *iopt)
{
	struct vfio_iommu_type1_info_cap_iova_range cap = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
			    .version = 1 },
	};
	struct iommu_iova_range *ranges;
	uint32_t len;
	int rc, n;

	n = iopt_iova_ranges(iopt, NULL, 0);
	if (n < 0)
		return n;
	ranges = xcalloc((size_t)n, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	rc = iopt_iova_ranges(iopt, ranges, (unsigned int)n);
	if (rc < 0)
		goto out_free;
	cap.nr_iovas = (uint32_t)n;
	len = sizeof(cap) + (uint32_t)n * sizeof(struct vfio_iova_range);
	rc = 0;
	for (int i = 0; i < n && !rc; i++) {
		struct vfio_iova_range r = { ranges[i].start, ranges[i].last };

		rc = vfio_caps_write(w, sizeof(cap) + i * sizeof(r), &r,
				     sizeof(r));
	}
	if (!rc && vfio_caps_room(w) >= len)
		rc = vfio_caps_write(w, 0, &cap, sizeof(cap));
	if (!rc)
		rc = vfio_caps_next(w, len);
out_free:
	xfree(ranges);
	return rc;
}

/*
 * VFIO_IOMMU_GET_INFO, as Linux iommufd_vfio_iommu_get_info(): the
 * DMA_AVAIL cap (U32_MAX) then the IOVA_RANGE cap, written as far as argsz
 * reaches (vfio_caps.h); no MIGRATION cap.
 */
static int compat_get_info(struct iommufd_ctx *ictx, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	struct vfio_iommu_type1_info_dma_avail avail = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, .version = 1 },
		.avail = UINT32_MAX,
	};
	struct vfio_iommu_type1_info info = { 0 };
	struct iommufd_ioas *ioas;
	struct vfio_caps w;
	int rc;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);
	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);

	vfio_caps_init(&w, arg, info.argsz, sizeof(info));
	rc = vfio_caps_add(&w, &avail, sizeof(avail));
	if (!rc)
		rc = compat_cap_iova(&w, &ioas->iopt);
	if (rc)
		return rc;
	info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	info.iova_pgsizes = iopt_pgsizes(&ioas->iopt);
	info.cap_offset = vfio_caps_all_fit(&w) ? sizeof(info) : 0;
	info.argsz = w.total;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

long iommufd_vfio_ioctl(struct iommufd_ctx *ictx, unsigned int cmd,
			uint64_t arg)
{
	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return compat_check_extension(ictx, arg);
	case VFIO_SET_IOMMU:
		return compat_set_iommu(ictx, arg);
	case VFIO_IOMMU_MAP_DMA:
		return compat_map_dma(ictx, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return compat_unmap_dma(ictx, arg);
	case VFIO_IOMMU_GET_INFO:
		return compat_get_info(ictx, arg);
	default:
		return -ENOTTY;
	}
}
