// SPDX-License-Identifier: MIT
/*
 * vfio_caps.c - the capability chain of VFIO INFO ioctls, written into
 * the caller's buffer with copy_to_user (see vfio_caps.h).
 */
#include <errno.h>
#include <stddef.h>

#include <iodirty/uaccess.h>
#include <iodirty/uapi/vfio.h>
#include <iodirty/vfio_caps.h>

void vfio_caps_init(struct vfio_caps *w, uint64_t arg, uint32_t argsz,
		    uint32_t info_size)
{
	*w = (struct vfio_caps){ .arg = arg, .argsz = argsz,
				 .total = info_size };
}

int vfio_caps_add(struct vfio_caps *w, const void *cap, uint32_t len)
{
	uint32_t aligned = (len + 7) & ~7u;

	if (w->argsz >= w->total + len) {
		if (copy_to_user(w->arg + w->total, cap, len))
			return -EFAULT;
		if (w->last_cap &&
		    copy_to_user(w->arg + w->last_cap +
					 offsetof(struct vfio_info_cap_header,
						  next),
				 &w->total, sizeof(w->total)))
			return -EFAULT;
	}
	w->last_cap = w->total;
	w->total += aligned;
	return 0;
}

bool vfio_caps_all_fit(const struct vfio_caps *w)
{
	return w->argsz >= w->total;
}
