/* SPDX-License-Identifier: MIT */
/*
 * interpose_private.h - between the shim (libc entry points) and the
 * process's emulated host (the device nodes and what opens them).
 */
#ifndef IODIRTY_INTERPOSE_PRIVATE_H
#define IODIRTY_INTERPOSE_PRIVATE_H

#include <stdbool.h>

#include <iodirty/interpose.h>

struct emu_node {
	const char *path;
	/* Open the node: an fd from emu_fd_install(), or -errno. */
	int (*open)(const char *path, int flags);
};

/*
 * emu_node_find() - the emulated node at @path, or NULL when @path is not
 * one or the real node exists (and IODIRTY_FORCE is not set).
 */
const struct emu_node *emu_node_find(const char *path);

/*
 * The file operations of an open /dev/iommu: exported so a driver handed an
 * fd (VFIO_DEVICE_BIND_IOMMUFD) can check with emu_fd_get() that it is one,
 * as the kernel's iommufd_ctx_from_file() checks f_op.
 */
extern const struct emu_fops iommufd_fops;

#endif
