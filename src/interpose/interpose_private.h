/* SPDX-License-Identifier: MIT */
/*
 * interpose_private.h - between the shim (libc entry points) and the
 * process's emulated host (the device nodes and what opens them).
 */
#ifndef IODIRTY_INTERPOSE_PRIVATE_H
#define IODIRTY_INTERPOSE_PRIVATE_H

#include <stdbool.h>

#include <iodirty/interpose.h>

/*
 * A device node, or a numbered family of them (@numbered: the path is
 * @path followed by a decimal index, "/dev/vfio/3").
 */
struct emu_node {
	const char *path;
	bool numbered;
	/* Open the node: an fd from emu_fd_install(), or -errno. */
	int (*open)(unsigned int index, int flags);
	/* numbered: how many there are */
	unsigned int (*count)(void);
};

/*
 * emu_node_find() - the emulated node at @path (and its index), or NULL
 * when @path is not one, or the real node exists and IODIRTY_FORCE is not
 * set.
 */
const struct emu_node *emu_node_find(const char *path, unsigned int *index);

#endif
