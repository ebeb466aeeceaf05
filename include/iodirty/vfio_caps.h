/* SPDX-License-Identifier: MIT */
/*
 * vfio_caps.h - writing a VFIO INFO struct's capability chain into the
 * caller's buffer (include/uapi/linux/vfio.h: struct vfio_info_cap_header).
 *
 * Capabilities go after the info struct, each 8-byte aligned, linked by
 * "next" offsets from the start of the buffer, in the order they are added.
 * Nothing is written past the caller's argsz, and every capability's size
 * counts, so the caller learns the argsz that would hold them all;
 * cap_offset is set only when every capability fitted. With a short argsz,
 * what is written is what Linux's iommufd VFIO compat writes
 * (drivers/iommu/iommufd/vfio_compat.c, iommufd_vfio_iommu_get_info()):
 * - vfio_caps_add() writes a capability only if all of it fits;
 * - vfio_caps_write() lets a capability be written piece by piece, each
 *   piece only if it fits (the IOVA_RANGE cap's ranges, one by one);
 * - a capability's "next" is set once argsz reaches where the following
 *   capability starts, whether that one fits or not.
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

/**
 * vfio_caps_room() - bytes of the caller's buffer from where the next
 * capability starts (0 when argsz does not reach past it).
 */
uint32_t vfio_caps_room(const struct vfio_caps *w);

/**
 * vfio_caps_write() - write @len bytes at @off into the capability being
 * added, if they lie within argsz; otherwise nothing.
 * Return: 0, or -EFAULT.
 */
int vfio_caps_write(struct vfio_caps *w, uint32_t off, const void *src,
		    uint32_t len);

/**
 * vfio_caps_next() - the capability being added is @len bytes: chain the
 * previous one to it (if argsz reaches its start) and move past it.
 * Return: 0, or -EFAULT.
 */
int vfio_caps_next(struct vfio_caps *w, uint32_t len);

/**
 * vfio_caps_add() - append a capability, written whole if it fits:
 * vfio_caps_write() of all of it when it fits, then vfio_caps_next().
 * Return: 0, or -EFAULT.
 */
int vfio_caps_add(struct vfio_caps *w, const void *cap, uint32_t len);

/** vfio_caps_all_fit() - did every capability fit in argsz? */
bool vfio_caps_all_fit(const struct vfio_caps *w);

#endif
