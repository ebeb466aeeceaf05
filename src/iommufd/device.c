// SPDX-License-Identifier: MIT
/*
 * device.c - devices bound to an iommufd: bind, attach to an IOAS (auto
 * domains) or an HWPT, replace, detach; and IOMMU_GET_HW_INFO.
 *
 * Auto domains as Linux iommufd_device_auto_get_domain (kernel-abi.md §2.4):
 * attaching to an IOAS tries every auto-domain HWPT of it in turn, EINVAL
 * meaning "incompatible, try the next", any other error ending the attach;
 * if none fits, a new HWPT is allocated with no flags, so an auto domain
 * never tracks dirty pages. Manually allocated HWPTs are never picked.
 * An auto domain goes away with its last device.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>

#include "iommufd_private.h"

static_assert(offsetof(struct iommufd_device, obj) == 0, "object first");

struct iommufd_device *iommufd_device_bind_locked(struct iommufd_ctx *ictx,
						  struct iommu_dev *dev)
{
	struct iommufd_device *idev;

	if (dev->bound)
		return ERR_PTR(-EBUSY);
	idev = iommufd_object_alloc(ictx, sizeof(*idev), IOMMUFD_OBJ_DEVICE);
	if (!idev)
		return ERR_PTR(-ENOMEM);
	idev->ictx = ictx;
	idev->dev = dev;
	/* Held by the binder: IOMMU_DESTROY on a bound device is EBUSY. */
	idev->obj.users = 1;
	dev->bound = idev;
	iommufd_object_finalize(ictx, &idev->obj);
	return idev;
}

/* Reserved IOVA the device brings (MSI windows) into @ioas. */
static int enforce_dev_resv(struct iommufd_ioas *ioas,
			    struct iommufd_device *idev)
{
	const struct iommu_resv_region *r;
	unsigned int n = idev->dev->unit->drv->resv_regions(idev->dev, &r);
	int rc;

	for (unsigned int i = 0; i < n; i++) {
		rc = iopt_reserve_iova(&ioas->iopt, r[i].start, r[i].last,
				       idev);
		if (rc) {
			iopt_remove_reserved_iova(&ioas->iopt, idev);
			return rc;
		}
	}
	return 0;
}

static void hwpt_put_attach(struct iommufd_ctx *ictx,
			    struct iommufd_hwpt_paging *hwpt)
{
	hwpt->obj.users--;
	if (hwpt->auto_domain && !hwpt->obj.users)
		iommufd_object_destroy(ictx, &hwpt->obj);
}

static int do_attach(struct iommufd_device *idev,
		     struct iommufd_hwpt_paging *hwpt)
{
	struct iommufd_hwpt_paging *old = idev->hwpt;
	bool new_ioas = !old || old->ioas != hwpt->ioas;
	int rc;

	if (old == hwpt)
		return 0;
	/* As Linux: reserved regions first (EADDRINUSE), then the driver. */
	if (new_ioas) {
		rc = enforce_dev_resv(hwpt->ioas, idev);
		if (rc)
			return rc;
	}
	rc = iommu_attach_check(hwpt->domain, idev->dev);
	if (rc)
		goto err_remove_resv;
	iommu_attach(idev->dev, hwpt->domain);
	hwpt->obj.users++;
	idev->hwpt = hwpt;
	if (old) {
		if (new_ioas)
			iopt_remove_reserved_iova(&old->ioas->iopt, idev);
		hwpt_put_attach(idev->ictx, old);
	}
	return 0;

err_remove_resv:
	if (new_ioas)
		iopt_remove_reserved_iova(&hwpt->ioas->iopt, idev);
	return rc;
}

static int auto_get_domain(struct iommufd_device *idev,
			   struct iommufd_ioas *ioas,
			   struct iommufd_hwpt_paging **out)
{
	struct iommufd_hwpt_paging *hwpt;
	int rc;

	for (unsigned int i = 0; i < ioas->nhwpts; i++) {
		hwpt = ioas->hwpts[i];
		if (!hwpt->auto_domain)
			continue;
		rc = do_attach(idev, hwpt);
		if (rc == -EINVAL)
			continue;
		if (!rc)
			*out = hwpt;
		return rc;
	}
	hwpt = iommufd_hwpt_paging_alloc(idev->ictx, ioas, idev->dev, 0, 0,
					 true);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);
	rc = do_attach(idev, hwpt);
	if (rc) {
		iommufd_hwpt_paging_destroy(idev->ictx, &hwpt->obj);
		iommufd_object_abort(idev->ictx, &hwpt->obj);
		return rc;
	}
	iommufd_object_finalize(idev->ictx, &hwpt->obj);
	*out = hwpt;
	return 0;
}

int iommufd_device_attach_locked(struct iommufd_device *idev, uint32_t *pt_id,
				 bool replace)
{
	struct iommufd_hwpt_paging *hwpt = NULL;
	struct iommufd_object *obj;
	int rc;

	obj = iommufd_get_object(idev->ictx, *pt_id, IOMMUFD_OBJ_ANY);
	if (!obj)
		return -ENOENT;
	if (!replace && idev->hwpt)
		return -EINVAL;
	if (replace && !idev->hwpt)
		return -EINVAL;
	switch (obj->type) {
	case IOMMUFD_OBJ_HWPT_PAGING:
		hwpt = (struct iommufd_hwpt_paging *)obj;
		rc = do_attach(idev, hwpt);
		break;
	case IOMMUFD_OBJ_IOAS:
		rc = auto_get_domain(idev, (struct iommufd_ioas *)obj, &hwpt);
		break;
	default:
		return -EINVAL;
	}
	if (rc)
		return rc;
	*pt_id = hwpt->obj.id;
	return 0;
}

void iommufd_device_detach_locked(struct iommufd_device *idev)
{
	struct iommufd_hwpt_paging *hwpt = idev->hwpt;

	if (!hwpt)
		return;
	iommu_attach(idev->dev, NULL);
	idev->hwpt = NULL;
	iopt_remove_reserved_iova(&hwpt->ioas->iopt, idev);
	hwpt_put_attach(idev->ictx, hwpt);
}

void iommufd_device_destroy(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	struct iommufd_device *idev = (struct iommufd_device *)obj;

	(void)ictx;
	iommufd_device_detach_locked(idev);
	idev->dev->bound = NULL;
}

struct iommufd_device *iommufd_device_bind(struct iommufd_ctx *ictx,
					   struct iommu_dev *dev, uint32_t *id)
{
	struct iommufd_device *idev;

	pthread_mutex_lock(&ictx->lock);
	idev = iommufd_device_bind_locked(ictx, dev);
	if (!IS_ERR(idev)) {
		*id = idev->obj.id;
		ictx->refs++;	/* a bound driver keeps the context */
	}
	pthread_mutex_unlock(&ictx->lock);
	return idev;
}

void iommufd_device_unbind(struct iommufd_device *idev)
{
	struct iommufd_ctx *ictx = idev->ictx;

	pthread_mutex_lock(&ictx->lock);
	idev->obj.users--;
	iommufd_object_destroy(ictx, &idev->obj);
	pthread_mutex_unlock(&ictx->lock);
	iommufd_ctx_put(ictx);
}

int iommufd_device_attach(struct iommufd_device *idev, uint32_t *pt_id)
{
	int rc;

	pthread_mutex_lock(&idev->ictx->lock);
	rc = iommufd_device_attach_locked(idev, pt_id, false);
	pthread_mutex_unlock(&idev->ictx->lock);
	return rc;
}

int iommufd_device_replace(struct iommufd_device *idev, uint32_t *pt_id)
{
	int rc;

	pthread_mutex_lock(&idev->ictx->lock);
	rc = iommufd_device_attach_locked(idev, pt_id, true);
	pthread_mutex_unlock(&idev->ictx->lock);
	return rc;
}

void iommufd_device_detach(struct iommufd_device *idev)
{
	pthread_mutex_lock(&idev->ictx->lock);
	iommufd_device_detach_locked(idev);
	pthread_mutex_unlock(&idev->ictx->lock);
}

struct iommufd_ctx *iommufd_device_ctx(struct iommufd_device *idev)
{
	return idev->ictx;
}

int iommufd_get_hw_info(struct iommufd_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;
	const struct iommu_driver *drv;
	struct iommufd_device *idev;
	uint8_t blob[256];
	size_t len, copy;

	if ((cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) ||
	    cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2])
		return -EOPNOTSUPP;
	idev = iommufd_get_object(ucmd->ictx, cmd->dev_id, IOMMUFD_OBJ_DEVICE);
	if (!idev)
		return -ENOENT;
	drv = idev->dev->unit->drv;
	/*
	 * A driver with a blob refuses a type it does not produce; one
	 * without (AMD: no ops->hw_info in Linux) never looks at it.
	 */
	if ((cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) &&
	    drv->hw_info_type != IOMMU_HW_INFO_TYPE_NONE &&
	    cmd->in_data_type != IOMMU_HW_INFO_TYPE_DEFAULT &&
	    cmd->in_data_type != drv->hw_info_type)
		return -EOPNOTSUPP;

	len = drv->hw_info(idev->dev, blob, sizeof(blob));
	copy = cmd->data_len < len ? cmd->data_len : len;
	if (copy && copy_to_user(cmd->data_uptr, blob, copy))
		return -EFAULT;
	/* The rest of the caller's buffer is zeroed. */
	if (cmd->data_len > len &&
	    clear_user(cmd->data_uptr + len, cmd->data_len - len))
		return -EFAULT;
	cmd->data_len = (uint32_t)len;
	cmd->out_data_type = drv->hw_info_type;
	cmd->out_max_pasid_log2 = 0;
	cmd->out_capabilities = 0;
	if (iommu_dev_dirty_capable(idev->dev))
		cmd->out_capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

/*
 * Access objects, after Linux iommufd_access_*: the driver holds the object
 * (IOMMU_DESTROY on it is EBUSY) and a reference on the context until it
 * destroys it; an attached access holds its IOAS (EBUSY to destroy it).
 */
static_assert(offsetof(struct iommufd_access, obj) == 0, "object first");

struct iommufd_access *iommufd_access_create(struct iommufd_ctx *ictx,
					     uint32_t *id)
{
	struct iommufd_access *access;

	pthread_mutex_lock(&ictx->lock);
	access = iommufd_object_alloc(ictx, sizeof(*access),
				      IOMMUFD_OBJ_ACCESS);
	if (!access) {
		pthread_mutex_unlock(&ictx->lock);
		return ERR_PTR(-ENOMEM);
	}
	access->ictx = ictx;
	access->obj.users = 1;	/* the calling driver, until destroy */
	ictx->refs++;
	*id = access->obj.id;
	iommufd_object_finalize(ictx, &access->obj);
	pthread_mutex_unlock(&ictx->lock);
	return access;
}

static void access_detach_locked(struct iommufd_access *access)
{
	if (!access->ioas)
		return;
	access->ioas->obj.users--;
	access->ioas = NULL;
}

void iommufd_access_destroy_object(struct iommufd_ctx *ictx,
				   struct iommufd_object *obj)
{
	(void)ictx;
	access_detach_locked((struct iommufd_access *)obj);
}

void iommufd_access_destroy(struct iommufd_access *access)
{
	struct iommufd_ctx *ictx = access->ictx;

	pthread_mutex_lock(&ictx->lock);
	access->obj.users--;
	iommufd_object_destroy(ictx, &access->obj);
	pthread_mutex_unlock(&ictx->lock);
	iommufd_ctx_put(ictx);
}

static int access_set_ioas(struct iommufd_access *access, uint32_t ioas_id,
			   bool replace)
{
	struct iommufd_ctx *ictx = access->ictx;
	struct iommufd_ioas *ioas;
	int rc = 0;

	pthread_mutex_lock(&ictx->lock);
	if (replace ? !access->ioas : !!access->ioas) {
		rc = replace ? -ENOENT : -EINVAL;
		goto out_unlock;
	}
	ioas = iommufd_get_ioas(ictx, ioas_id);
	if (!ioas) {
		rc = -ENOENT;
		goto out_unlock;
	}
	ioas->obj.users++;
	access_detach_locked(access);
	access->ioas = ioas;
out_unlock:
	pthread_mutex_unlock(&ictx->lock);
	return rc;
}

int iommufd_access_attach(struct iommufd_access *access, uint32_t ioas_id)
{
	return access_set_ioas(access, ioas_id, false);
}

int iommufd_access_replace(struct iommufd_access *access, uint32_t ioas_id)
{
	return access_set_ioas(access, ioas_id, true);
}

void iommufd_access_detach(struct iommufd_access *access)
{
	pthread_mutex_lock(&access->ictx->lock);
	access_detach_locked(access);
	pthread_mutex_unlock(&access->ictx->lock);
}

int iommufd_access_rw(struct iommufd_access *access, uint64_t iova,
		      void *buf, size_t len, bool write,
		      struct pt_fault *fault)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&access->ictx->lock);
	if (access->ioas)
		rc = iopt_access_rw(&access->ioas->iopt, iova, buf, len, write,
				    fault);
	pthread_mutex_unlock(&access->ictx->lock);
	return rc;
}
