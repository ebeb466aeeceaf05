// SPDX-License-Identifier: MIT
/*
 * ioas.c - IOAS objects and their ioctls: IOAS_ALLOC, IOAS_IOVA_RANGES,
 * IOAS_ALLOW_IOVAS, IOAS_MAP, IOAS_COPY, IOAS_UNMAP and IOMMU_OPTION.
 *
 * Checks run in Linux's order (shared/spec/kernel-abi.md §1.4): flags and
 * __reserved (EOPNOTSUPP), overflow (EOVERFLOW), meaning (EINVAL), lookups
 * (ENOENT), then the work.
 */
#include <errno.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/uaccess.h>

#include "iommufd_private.h"

struct iommufd_ioas *iommufd_get_ioas(struct iommufd_ctx *ictx, uint32_t id)
{
	return iommufd_get_object(ictx, id, IOMMUFD_OBJ_IOAS);
}

void iommufd_ioas_destroy(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	struct iommufd_ioas *ioas = (struct iommufd_ioas *)obj;

	if (ictx->vfio_ioas == ioas)
		ictx->vfio_ioas = NULL;
	iopt_destroy(ictx->host, &ioas->iopt);
	xfree(ioas->hwpts);
}

static_assert(offsetof(struct iommufd_ioas, obj) == 0, "object first");

int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_alloc *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	ioas = iommufd_object_alloc(ucmd->ictx, sizeof(*ioas), IOMMUFD_OBJ_IOAS);
	if (!ioas)
		return -ENOMEM;
	iopt_init(&ioas->iopt);
	cmd->out_ioas_id = ioas->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		iommufd_object_abort(ucmd->ictx, &ioas->obj);
		return rc;
	}
	iommufd_object_finalize(ucmd->ictx, &ioas->obj);
	return 0;
}

int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_iova_ranges *cmd = ucmd->cmd;
	struct iommu_iova_range *ranges;
	struct iommufd_ioas *ioas;
	unsigned int total, max = cmd->num_iovas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (!ioas)
		return -ENOENT;
	rc = iopt_iova_ranges(&ioas->iopt, NULL, 0);
	if (rc < 0)
		return rc;
	total = (unsigned int)rc;
	ranges = xcalloc(total, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	rc = iopt_iova_ranges(&ioas->iopt, ranges, total);
	if (rc >= 0)
		rc = copy_to_user(cmd->allowed_iovas, ranges,
				  (total < max ? total : max) * sizeof(*ranges));
	xfree(ranges);
	if (rc)
		return rc;
	cmd->num_iovas = total;
	cmd->out_iova_alignment = ioas->iopt.iova_alignment;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		return rc;
	return total > max ? -EMSGSIZE : 0;
}

int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_allow_iovas *cmd = ucmd->cmd;
	struct iommu_iova_range *ranges = NULL;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (!ioas)
		return -ENOENT;
	/*
	 * One range at a time, each checked as it comes (EFAULT, then
	 * EINVAL), the list growing as they do: a num_iovas the caller's
	 * memory does not hold ends at EFAULT, never in a huge allocation.
	 * The reserved IOVA (EADDRINUSE) is looked at once all are read.
	 */
	for (uint32_t i = 0, cap = 0; i < cmd->num_iovas; i++) {
		if (i == cap) {
			struct iommu_iova_range *more;

			cap = cap ? cap * 2 : 16;
			more = xrealloc(ranges, (size_t)cap * sizeof(*ranges));
			if (!more) {
				rc = -ENOMEM;
				goto out_free;
			}
			ranges = more;
		}
		if (copy_from_user(&ranges[i],
				   cmd->allowed_iovas + (uint64_t)i * sizeof(*ranges),
				   sizeof(*ranges))) {
			rc = -EFAULT;
			goto out_free;
		}
		rc = iopt_allow_range_check(ranges, i);
		if (rc)
			goto out_free;
	}
	rc = iopt_set_allow_iova(&ioas->iopt, ranges, cmd->num_iovas);
out_free:
	xfree(ranges);
	return rc;
}

static unsigned int conv_iommu_prot(uint32_t map_flags)
{
	/* IOMMU_CACHE is always added: coherent DMA. */
	unsigned int prot = PT_PROT_CACHE;

	if (map_flags & IOMMU_IOAS_MAP_WRITEABLE)
		prot |= PT_PROT_WRITE;
	if (map_flags & IOMMU_IOAS_MAP_READABLE)
		prot |= PT_PROT_READ;
	return prot;
}

enum {
	IOAS_MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_READABLE,
};

int iommufd_ioas_map(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	uint64_t iova = cmd->iova;
	int rc;

	if ((cmd->flags & ~IOAS_MAP_FLAGS) || cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX)
		return -EOVERFLOW;
	if (!(cmd->flags &
	      (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (!ioas)
		return -ENOENT;
	rc = iopt_map_user_pages(ucmd->ictx->host, &ioas->iopt, &iova,
				 cmd->user_va, cmd->length,
				 conv_iommu_prot(cmd->flags),
				 cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA);
	if (rc)
		return rc;
	cmd->iova = iova;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

int iommufd_ioas_copy(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_copy *cmd = ucmd->cmd;
	struct iommufd_ioas *src, *dst;
	uint64_t iova = cmd->dst_iova;
	int rc;

	if (cmd->flags & ~IOAS_MAP_FLAGS)
		return -EOPNOTSUPP;
	if (cmd->length >= UINT64_MAX || cmd->src_iova >= UINT64_MAX ||
	    cmd->dst_iova >= UINT64_MAX)
		return -EOVERFLOW;
	if (!(cmd->flags &
	      (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	/* The source range is resolved before the destination is looked up. */
	src = iommufd_get_ioas(ucmd->ictx, cmd->src_ioas_id);
	if (!src)
		return -ENOENT;
	rc = iopt_get_pages(&src->iopt, cmd->src_iova, cmd->length);
	if (rc)
		return rc;
	dst = iommufd_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
	if (!dst)
		return -ENOENT;
	rc = iopt_copy(ucmd->ictx->host, &dst->iopt, &src->iopt,
		       cmd->src_iova, &iova, cmd->length,
		       conv_iommu_prot(cmd->flags),
		       cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA);
	if (rc)
		return rc;
	cmd->dst_iova = iova;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_unmap *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	uint64_t unmapped = 0;
	int rc;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (!ioas)
		return -ENOENT;
	if (cmd->iova == 0 && cmd->length == UINT64_MAX) {
		rc = iopt_unmap_all(ucmd->ictx->host, &ioas->iopt, &unmapped);
		if (rc)
			return rc;
	} else {
		if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX)
			return -EOVERFLOW;
		rc = iopt_unmap_iova(ucmd->ictx->host, &ioas->iopt, cmd->iova,
				     cmd->length, &unmapped);
		if (rc)
			return rc;
		if (!unmapped)
			return -ENOENT;
	}
	cmd->length = unmapped;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

int iommufd_option_rlimit_mode(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;

	if (cmd->object_id)
		return -EOPNOTSUPP;
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		cmd->val64 = ictx->account_mm;
		return 0;
	}
	if (cmd->op != IOMMU_OPTION_OP_SET)
		return -EOPNOTSUPP;
	/* Setting it needs CAP_SYS_RESOURCE: root here. */
	if (geteuid() != 0)
		return -EPERM;
	for (uint32_t i = 0; i < ictx->nobjs; i++)
		if (ictx->objs[i])
			return -EBUSY;
	if (cmd->val64 > 1)
		return -EINVAL;
	ictx->account_mm = cmd->val64;
	return 0;
}

int iommufd_ioas_option(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->object_id);
	if (!ioas)
		return -ENOENT;
	if (cmd->op == IOMMU_OPTION_OP_GET) {
		cmd->val64 = !ioas->iopt.disable_large_pages;
		return 0;
	}
	if (cmd->op != IOMMU_OPTION_OP_SET)
		return -EOPNOTSUPP;
	if (cmd->val64 == 0)
		return iopt_disable_large_pages(&ioas->iopt);
	if (cmd->val64 == 1) {
		iopt_enable_large_pages(&ioas->iopt);
		return 0;
	}
	return -EINVAL;
}
