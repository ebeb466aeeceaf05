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

uint32_t vfio_caps_room(const struct vfio_caps *w)
{
	return w->argsz > w->total ? w->argsz - w->total : 0;
}

int vfio_caps_write(struct vfio_caps *w, uint32_t off, const void *src,
		    uint32_t len)
{
	uint32_t room = vfio_caps_room(w);

	if (off > room || len > room - off)
		return 0;
	return copy_to_user(w->arg + w->total + off, src, len);
}

int vfio_caps_next(struct vfio_caps *w, uint32_t len)
{
	if (w->last_cap && w->argsz >= w->total &&
	    copy_to_user(w->arg + w->last_cap +
				 offsetof(struct vfio_info_cap_header, next),
			 &w->total, sizeof(w->total)))
		return -EFAULT;
	w->last_cap = w->total;
	w->total += (len + 7) & ~7u;
	return 0;
}

int vfio_caps_add(struct vfio_caps *w, const void *cap, uint32_t len)
{
	int rc = 0;

	if (vfio_caps_room(w) >= len)
		rc = vfio_caps_write(w, 0, cap, len);
	return rc ? rc : vfio_caps_next(w, len);
}

bool vfio_caps_all_fit(const struct vfio_caps *w)
{
	return w->argsz >= w->total;
}
