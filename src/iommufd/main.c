// SPDX-License-Identifier: MIT
/*
 * main.c - the emulated iommufd: contexts, the object id table, ioctl
 * dispatch and IOMMU_DESTROY.
 *
 * Dispatch follows Linux iommufd_fops_ioctl (shared/spec/kernel-abi.md
 * §1.1): numbers below 0x80 or past the table go to the VFIO compat layer;
 * then the size word is read (EFAULT), a hole in the table is ENOTTY, a size
 * below the command's min_size is EINVAL, a larger struct must have a zero
 * tail (E2BIG) and a shorter one is zero-extended. Ids come from 1.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>
#include <iodirty/uapi/iommufd_test.h>

#include "iommufd_private.h"

struct iommufd_host *iommufd_host_alloc(const struct iod_log *log)
{
	struct iommufd_host *host = xzalloc(sizeof(*host));

	if (!host)
		return NULL;
	pthread_mutex_init(&host->lock, NULL);
	host->log = log;
	iommufd_selftest_host_init(host);
	return host;
}

void iommufd_host_free(struct iommufd_host *host)
{
	if (!host)
		return;
	pthread_mutex_destroy(&host->lock);
	xfree(host);
}

struct iommufd_ctx *iommufd_ctx_open(struct iommufd_host *host,
				     bool vfio_container)
{
	struct iommufd_ctx *ictx = xzalloc(sizeof(*ictx));

	if (!ictx)
		return ERR_PTR(-ENOMEM);
	ictx->host = host;
	ictx->refs = 1;
	ictx->vfio_container = vfio_container;
	ictx->account_mm = vfio_container;
	pthread_mutex_init(&ictx->lock, NULL);
	return ictx;
}

/* The destroy op of each object type. */
static void (*const object_destroy[IOMMUFD_OBJ_MAX])(struct iommufd_ctx *,
						      struct iommufd_object *) = {
	[IOMMUFD_OBJ_DEVICE] = iommufd_device_destroy,
	[IOMMUFD_OBJ_HWPT_PAGING] = iommufd_hwpt_paging_destroy,
	[IOMMUFD_OBJ_IOAS] = iommufd_ioas_destroy,
	[IOMMUFD_OBJ_SELFTEST] = iommufd_selftest_destroy,
	[IOMMUFD_OBJ_ACCESS] = iommufd_access_destroy_object,
};

/*
 * An id is reserved at alloc and the object becomes visible at finalize, as
 * the kernel's xarray does with XA_ZERO_ENTRY: a half-built object is never
 * found by id, and finalize cannot fail.
 */
#define OBJ_RESERVED ((struct iommufd_object *)1)

void *iommufd_object_alloc(struct iommufd_ctx *ictx, size_t size,
			   enum iommufd_object_type type)
{
	struct iommufd_object *obj;
	uint32_t i;

	for (i = 0; i < ictx->nobjs; i++)
		if (!ictx->objs[i])
			break;
	if (i == ictx->nobjs) {
		uint32_t n = ictx->nobjs ? ictx->nobjs * 2 : 16;
		struct iommufd_object **objs;

		objs = xrealloc(ictx->objs, n * sizeof(*objs));
		if (!objs)
			return NULL;
		memset(objs + ictx->nobjs, 0,
		       (n - ictx->nobjs) * sizeof(*objs));
		ictx->objs = objs;
		ictx->nobjs = n;
	}
	obj = xzalloc(size);
	if (!obj)
		return NULL;
	obj->type = type;
	obj->id = i + 1;
	ictx->objs[i] = OBJ_RESERVED;
	return obj;
}

void iommufd_object_finalize(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj)
{
	ictx->objs[obj->id - 1] = obj;
}

void iommufd_object_abort(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	ictx->objs[obj->id - 1] = NULL;
	xfree(obj);
}

static struct iommufd_object *slot(struct iommufd_ctx *ictx, uint32_t i)
{
	struct iommufd_object *obj = ictx->objs[i];

	return obj == OBJ_RESERVED ? NULL : obj;
}

void *iommufd_get_object(struct iommufd_ctx *ictx, uint32_t id,
			 enum iommufd_object_type type)
{
	struct iommufd_object *obj;

	if (!id || id > ictx->nobjs)
		return NULL;
	obj = slot(ictx, id - 1);
	if (!obj || (type != IOMMUFD_OBJ_ANY && obj->type != type))
		return NULL;
	return obj;
}

void iommufd_object_destroy(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	ictx->objs[obj->id - 1] = NULL;
	object_destroy[obj->type](ictx, obj);
	xfree(obj);
}

static int iommufd_destroy(struct iommufd_ucmd *ucmd)
{
	struct iommu_destroy *cmd = ucmd->cmd;
	struct iommufd_object *obj;

	obj = iommufd_get_object(ucmd->ictx, cmd->id, IOMMUFD_OBJ_ANY);
	if (!obj)
		return -ENOENT;
	if (obj->users)
		return -EBUSY;
	iommufd_object_destroy(ucmd->ictx, obj);
	return 0;
}

static void iommufd_ctx_destroy(struct iommufd_ctx *ictx)
{
	bool progress = true;

	ictx->vfio_ioas = NULL;
	/* Leaves first: whatever nothing depends on, until nothing is left. */
	while (progress) {
		progress = false;
		for (uint32_t i = 0; i < ictx->nobjs; i++) {
			struct iommufd_object *obj = slot(ictx, i);

			if (obj && !obj->users) {
				iommufd_object_destroy(ictx, obj);
				progress = true;
			}
		}
	}
	for (uint32_t i = 0; i < ictx->nobjs; i++)
		if (slot(ictx, i))
			pr_err(ictx->host->log,
			       "iommufd: object %u (type %d) still has users at close",
			       i + 1, ictx->objs[i]->type);
	pthread_mutex_destroy(&ictx->lock);
	xfree(ictx->objs);
	xfree(ictx);
}

void iommufd_ctx_put(struct iommufd_ctx *ictx)
{
	unsigned int refs;

	pthread_mutex_lock(&ictx->lock);
	refs = --ictx->refs;
	pthread_mutex_unlock(&ictx->lock);
	if (!refs)
		iommufd_ctx_destroy(ictx);
}

void iommufd_ctx_close(struct iommufd_ctx *ictx)
{
	iommufd_ctx_put(ictx);
}

int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len)
{
	size_t n = ucmd->user_size < cmd_len ? ucmd->user_size : cmd_len;

	return copy_to_user(ucmd->ubuffer, ucmd->cmd, n) ? -EFAULT : 0;
}

union ucmd_buffer {
	struct iommu_destroy destroy;
	struct iommu_ioas_alloc alloc;
	struct iommu_ioas_allow_iovas allow_iovas;
	struct iommu_ioas_copy ioas_copy;
	struct iommu_ioas_iova_ranges iova_ranges;
	struct iommu_ioas_map map;
	struct iommu_ioas_unmap unmap;
	struct iommu_option option;
	struct iommu_vfio_ioas vfio_ioas;
	struct iommu_hwpt_alloc hwpt;
	struct iommu_hw_info info;
	struct iommu_hwpt_set_dirty_tracking set_dirty_tracking;
	struct iommu_hwpt_get_dirty_bitmap get_dirty_bitmap;
	struct iommu_hwpt_invalidate invalidate;
	struct iommu_test_cmd test;
};

struct iommufd_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	unsigned int ioctl_num;
	int (*execute)(struct iommufd_ucmd *ucmd);
};

#define IOCTL_OP(_ioctl, _fn, _struct, _last)                             \
	[_IOC_NR(_ioctl) - IOMMUFD_CMD_BASE] = {                          \
		.size = sizeof(_struct) +                                 \
			BUILD_BUG_ON_ZERO(sizeof(union ucmd_buffer) <     \
					  sizeof(_struct)),               \
		.min_size = offsetofend(_struct, _last),                  \
		.ioctl_num = _ioctl,                                      \
		.execute = _fn,                                           \
	}

#define BUILD_BUG_ON_ZERO(e) ((int)(sizeof(struct { int : (-!!(e)); })))

static int iommufd_option(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->option_id) {
	case IOMMU_OPTION_RLIMIT_MODE:
		rc = iommufd_option_rlimit_mode(ucmd);
		break;
	case IOMMU_OPTION_HUGE_PAGES:
		rc = iommufd_ioas_option(ucmd);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rc)
		return rc;
	if (copy_to_user(ucmd->ubuffer + offsetof(struct iommu_option, val64),
			 &cmd->val64, sizeof(cmd->val64)))
		return -EFAULT;
	return 0;
}

static const struct iommufd_ioctl_op iommufd_ioctl_ops[] = {
	IOCTL_OP(IOMMU_DESTROY, iommufd_destroy, struct iommu_destroy, id),
	IOCTL_OP(IOMMU_IOAS_ALLOC, iommufd_ioas_alloc_ioctl,
		 struct iommu_ioas_alloc, out_ioas_id),
	IOCTL_OP(IOMMU_IOAS_ALLOW_IOVAS, iommufd_ioas_allow_iovas,
		 struct iommu_ioas_allow_iovas, allowed_iovas),
	IOCTL_OP(IOMMU_IOAS_COPY, iommufd_ioas_copy, struct iommu_ioas_copy,
		 src_iova),
	IOCTL_OP(IOMMU_IOAS_IOVA_RANGES, iommufd_ioas_iova_ranges,
		 struct iommu_ioas_iova_ranges, out_iova_alignment),
	IOCTL_OP(IOMMU_IOAS_MAP, iommufd_ioas_map, struct iommu_ioas_map,
		 iova),
	IOCTL_OP(IOMMU_IOAS_UNMAP, iommufd_ioas_unmap, struct iommu_ioas_unmap,
		 length),
	IOCTL_OP(IOMMU_OPTION, iommufd_option, struct iommu_option, val64),
	IOCTL_OP(IOMMU_VFIO_IOAS, iommufd_vfio_ioas, struct iommu_vfio_ioas,
		 __reserved),
	IOCTL_OP(IOMMU_HWPT_ALLOC, iommufd_hwpt_alloc, struct iommu_hwpt_alloc,
		 __reserved),
	IOCTL_OP(IOMMU_GET_HW_INFO, iommufd_get_hw_info, struct iommu_hw_info,
		 __reserved),
	IOCTL_OP(IOMMU_HWPT_SET_DIRTY_TRACKING,
		 iommufd_hwpt_set_dirty_tracking,
		 struct iommu_hwpt_set_dirty_tracking, __reserved),
	IOCTL_OP(IOMMU_HWPT_GET_DIRTY_BITMAP, iommufd_hwpt_get_dirty_bitmap,
		 struct iommu_hwpt_get_dirty_bitmap, data),
	IOCTL_OP(IOMMU_HWPT_INVALIDATE, iommufd_hwpt_invalidate,
		 struct iommu_hwpt_invalidate, __reserved),
	IOCTL_OP(IOMMU_TEST_CMD, iommufd_test, struct iommu_test_cmd, last),
};

static long iommufd_ioctl_locked(struct iommufd_ctx *ictx, unsigned long cmd,
				 uint64_t arg)
{
	const struct iommufd_ioctl_op *op;
	union ucmd_buffer buf;
	struct iommufd_ucmd ucmd = { .ictx = ictx, .ubuffer = arg };
	unsigned int nr = _IOC_NR(cmd);

	if (nr < IOMMUFD_CMD_BASE ||
	    nr - IOMMUFD_CMD_BASE >= ARRAY_SIZE(iommufd_ioctl_ops))
		return iommufd_vfio_ioctl(ictx, (unsigned int)cmd, arg);

	if (copy_from_user(&ucmd.user_size, arg, sizeof(ucmd.user_size)))
		return -EFAULT;
	op = &iommufd_ioctl_ops[nr - IOMMUFD_CMD_BASE];
	if (op->ioctl_num != cmd)
		return -ENOTTY;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;

	/* copy_struct_from_user(): zero-extend short, reject a dirty tail. */
	memset(&buf, 0, sizeof(buf));
	if (ucmd.user_size > op->size) {
		uint64_t off = op->size;
		uint8_t tail[256];

		while (off < ucmd.user_size) {
			size_t n = ucmd.user_size - off < sizeof(tail) ?
					   ucmd.user_size - off : sizeof(tail);

			if (copy_from_user(tail, arg + off, n))
				return -EFAULT;
			for (size_t i = 0; i < n; i++)
				if (tail[i])
					return -E2BIG;
			off += n;
		}
	}
	if (copy_from_user(&buf, arg,
			   ucmd.user_size < op->size ? ucmd.user_size : op->size))
		return -EFAULT;
	ucmd.cmd = &buf;
	return op->execute(&ucmd);
}

long iommufd_ioctl(struct iommufd_ctx *ictx, unsigned long cmd, uint64_t arg)
{
	long rc;

	pthread_mutex_lock(&ictx->lock);
	rc = iommufd_ioctl_locked(ictx, cmd, arg);
	pthread_mutex_unlock(&ictx->lock);
	return rc;
}
