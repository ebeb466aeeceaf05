// SPDX-License-Identifier: MIT
/*
 * hw_pagetable.c - HWPT objects (paging domains on an IOAS) and their
 * ioctls: IOMMU_HWPT_ALLOC, IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP and IOMMU_HWPT_INVALIDATE.
 *
 * Linux drivers/iommu/iommufd/hw_pagetable.c; errnos and their order per
 * shared/spec/kernel-abi.md §1.4. Nested HWPTs are not emulated: the drivers
 * here have no domain_alloc_nested, so allocating one is EOPNOTSUPP, and
 * nothing takes an invalidation (EINVAL), as on such a kernel.
 */
#include <errno.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>

#include "iommufd_private.h"

static_assert(offsetof(struct iommufd_hwpt_paging, obj) == 0, "object first");

struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			  struct iommu_dev *dev, uint32_t flags,
			  uint64_t pgsizes, bool auto_domain)
{
	struct iommufd_hwpt_paging *hwpt, **list;
	struct iommu_domain *domain;
	int rc;

	domain = iommu_domain_alloc_paging(dev, flags, pgsizes);
	if (IS_ERR(domain))
		return (void *)domain;
	hwpt = iommufd_object_alloc(ictx, sizeof(*hwpt),
				    IOMMUFD_OBJ_HWPT_PAGING);
	if (!hwpt) {
		rc = -ENOMEM;
		goto err_free_domain;
	}
	list = xrealloc(ioas->hwpts, (ioas->nhwpts + 1) * sizeof(*list));
	if (!list) {
		rc = -ENOMEM;
		goto err_abort;
	}
	ioas->hwpts = list;
	rc = iopt_table_add_domain(ictx->host, &ioas->iopt, domain);
	if (rc)
		goto err_abort;
	ioas->hwpts[ioas->nhwpts++] = hwpt;
	ioas->obj.users++;
	hwpt->ioas = ioas;
	hwpt->domain = domain;
	hwpt->auto_domain = auto_domain;
	/* No emulated IOMMU reports IOMMU_CAP_ENFORCE_CACHE_COHERENCY. */
	hwpt->enforce_cache_coherency = false;
	return hwpt;

err_abort:
	iommufd_object_abort(ictx, &hwpt->obj);
err_free_domain:
	iommu_domain_free(domain);
	return ERR_PTR(rc);
}

void iommufd_hwpt_paging_destroy(struct iommufd_ctx *ictx,
				 struct iommufd_object *obj)
{
	struct iommufd_hwpt_paging *hwpt = (struct iommufd_hwpt_paging *)obj;
	struct iommufd_ioas *ioas = hwpt->ioas;
	unsigned int j = 0;

	for (unsigned int i = 0; i < ioas->nhwpts; i++)
		if (ioas->hwpts[i] != hwpt)
			ioas->hwpts[j++] = ioas->hwpts[i];
	ioas->nhwpts = j;
	iopt_table_remove_domain(ictx->host, &ioas->iopt, hwpt->domain);
	iommu_domain_free(hwpt->domain);
	ioas->obj.users--;
}

enum {
	HWPT_ALLOC_VALID = IOMMU_HWPT_ALLOC_NEST_PARENT |
			   IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
			   IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID,
};

static uint32_t domain_flags(uint32_t hwpt_flags)
{
	uint32_t flags = 0;

	if (hwpt_flags & IOMMU_HWPT_ALLOC_NEST_PARENT)
		flags |= IOMMU_DOMAIN_NEST_PARENT;
	if (hwpt_flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
		flags |= IOMMU_DOMAIN_DIRTY_TRACKING;
	return flags;
}

/* Driver data of a paging HWPT (only the selftest mock takes any). */
static int hwpt_user_data(struct iommufd_device *idev,
			  const struct iommu_hwpt_alloc *cmd, uint64_t *pgsizes)
{
	const struct iommu_driver *drv = idev->dev->unit->drv;
	uint8_t data[64] = { 0 };
	size_t len = cmd->data_len < sizeof(data) ? cmd->data_len :
						     sizeof(data);

	*pgsizes = 0;
	if (cmd->data_type == IOMMU_HWPT_DATA_NONE)
		return 0;
	if (!drv->paging_user_data)
		return -EOPNOTSUPP;
	if (copy_from_user(data, cmd->data_uptr, len))
		return -EFAULT;
	return drv->paging_user_data(idev->dev, cmd->data_type, data,
				     cmd->data_len, pgsizes);
}

int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_object *pt_obj;
	struct iommufd_device *idev;
	uint64_t pgsizes;
	int rc;

	/* Linux never looks at __reserved2. */
	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return -EINVAL;
	idev = iommufd_get_object(ictx, cmd->dev_id, IOMMUFD_OBJ_DEVICE);
	if (!idev)
		return -ENOENT;
	pt_obj = iommufd_get_object(ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
	if (!pt_obj)
		return -EINVAL;
	if (pt_obj->type == IOMMUFD_OBJ_HWPT_PAGING)
		return -EOPNOTSUPP;	/* nesting: no domain_alloc_nested */
	if (pt_obj->type != IOMMUFD_OBJ_IOAS)
		return -EINVAL;

	if (cmd->flags & ~HWPT_ALLOC_VALID)
		return -EOPNOTSUPP;
	if ((cmd->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
	    !iommu_dev_dirty_capable(idev->dev))
		return -EOPNOTSUPP;
	rc = hwpt_user_data(idev, cmd, &pgsizes);
	if (rc)
		return rc;

	hwpt = iommufd_hwpt_paging_alloc(ictx, (struct iommufd_ioas *)pt_obj,
					 idev->dev, domain_flags(cmd->flags),
					 pgsizes, false);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);
	/* Looked up once the HWPT exists; no fault queue object can. */
	if (cmd->flags & IOMMU_HWPT_FAULT_ID_VALID) {
		rc = -ENOENT;
		goto err_destroy_hwpt;
	}
	cmd->out_hwpt_id = hwpt->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto err_destroy_hwpt;
	iommufd_object_finalize(ictx, &hwpt->obj);
	return 0;

err_destroy_hwpt:
	/* Never visible: undo as its destroy would. */
	iommufd_hwpt_paging_destroy(ictx, &hwpt->obj);
	iommufd_object_abort(ictx, &hwpt->obj);
	return rc;
}

int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_set_dirty_tracking *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;

	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return -EOPNOTSUPP;
	hwpt = iommufd_get_object(ucmd->ictx, cmd->hwpt_id,
				  IOMMUFD_OBJ_HWPT_PAGING);
	if (!hwpt)
		return -ENOENT;
	return iopt_set_dirty_tracking(&hwpt->ioas->iopt, hwpt->domain,
				       cmd->flags &
					       IOMMU_HWPT_DIRTY_TRACKING_ENABLE);
}

int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_get_dirty_bitmap *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;
	unsigned int flags = 0;

	if ((cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) ||
	    cmd->__reserved)
		return -EOPNOTSUPP;
	hwpt = iommufd_get_object(ucmd->ictx, cmd->hwpt_id,
				  IOMMUFD_OBJ_HWPT_PAGING);
	if (!hwpt)
		return -ENOENT;
	if (cmd->flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)
		flags |= PT_DIRTY_NO_CLEAR;
	return iopt_read_and_clear_dirty_data(&hwpt->ioas->iopt, hwpt->domain,
					      flags, cmd);
}

/*
 * IOMMU_HWPT_INVALIDATE as Linux 6.13+ (hw_pagetable.c, with vIOMMUs):
 * only a nested HWPT or a vIOMMU takes invalidations, and neither exists
 * here, so any object found is EINVAL (6.8-6.12 looked up a nested HWPT
 * only, which made a paging HWPT or an IOAS ENOENT). On every path,
 * errors included, entry_num is written back with the number of entries
 * handled: 0.
 */
int iommufd_hwpt_invalidate(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_invalidate *cmd = ucmd->cmd;
	int rc;

	if (cmd->__reserved)
		rc = -EOPNOTSUPP;
	else if (cmd->entry_num && (!cmd->data_uptr || !cmd->entry_len))
		rc = -EINVAL;
	else if (!iommufd_get_object(ucmd->ictx, cmd->hwpt_id,
				     IOMMUFD_OBJ_ANY))
		rc = -ENOENT;
	else
		rc = -EINVAL;
	cmd->entry_num = 0;
	if (iommufd_ucmd_respond(ucmd, sizeof(*cmd)))
		return -EFAULT;
	return rc;
}
