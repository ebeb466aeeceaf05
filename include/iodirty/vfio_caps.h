/* SPDX-License-Identifier: MIT */
/*
 * vfio_caps.h - writing a VFIO INFO struct's capability chain into the
 * caller's buffer (include/uapi/linux/vfio.h: struct vfio_info_cap_header).
 *
 * Capabilities go after the info struct, each 8-byte aligned, linked by
 * "next" offsets from the start of the buffer. A capability is written only
 * if it fits in the caller's argsz; its size counts either way, so the
 * caller learns the argsz that would hold them all. cap_offset is set only
 * when every capability fitted.
 */
#ifndef IODIRTY_VFIO_CAPS_H
#define IODIRTY_VFIO_CAPS_H

#include <stdbool.h>
#include <stdint.h>

struct vfio_caps {
	uint64_t arg;		/* the caller's buffer */
	uint32_t argsz;		/* its size */
	uint32_t total;		/* bytes the info and caps need so far */
	uint32_t last_cap;	/* offset of the previous cap, 0 if none */
};

/** vfio_caps_init() - caps start after an info struct of @info_size. */
void vfio_caps_init(struct vfio_caps *w, uint64_t arg, uint32_t argsz,
		    uint32_t info_size);

/** vfio_caps_add() - append a capability; 0 or -EFAULT. */
int vfio_caps_add(struct vfio_caps *w, const void *cap, uint32_t len);

/** vfio_caps_all_fit() - did every capability fit in argsz? */
bool vfio_caps_all_fit(const struct vfio_caps *w);

#endif
