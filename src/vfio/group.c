// SPDX-License-Identifier: MIT
/*
 * group.c - /dev/vfio/N, the legacy group of a device: status, joining a
 * container, and device fds (Linux drivers/vfio/group.c). Each emulated
 * device is alone in its group, and a group fd is exclusive (EBUSY).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <iodirty/uaccess.h>

#include "vfio_private.h"

static int group_get_status(struct vfio_group *g, uint64_t arg)
{
	struct vfio_group_status status;

	if (copy_from_user(&status, arg, sizeof(status)))
		return -EFAULT;
	if (status.argsz < sizeof(status))
		return -EINVAL;
	status.flags = VFIO_GROUP_FLAGS_VIABLE;
	if (g->container)
		status.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
	return copy_to_user(arg, &status, sizeof(status)) ? -EFAULT : 0;
}

static int group_set_container(struct vfio_group *g, uint64_t arg)
{
	struct vfio_container *c;
	struct emu_file *f;
	int32_t fd;
	int rc;

	if (copy_from_user(&fd, arg, sizeof(fd)))
		return -EFAULT;
	/*
	 * As Linux (6.2+) vfio_group_ioctl_set_container(): a closed fd is
	 * EBADF before anything else, and an fd that is neither a container
	 * nor an iommufd is EBADFD. (An iommufd as the container, the
	 * iommufd-backed group, is not emulated: EBADFD too.)
	 */
	if (vfio_fd_kind_err(fd) == -EBADF)
		return -EBADF;
	if (g->container)
		return -EINVAL;
	c = vfio_container_from_fd(fd, &f);
	if (!c)
		return -EBADFD;
	/* A device bound through its cdev cannot also be used by a group. */
	pthread_mutex_lock(&g->dev->lock);
	rc = g->dev->owner ? -EBUSY : 0;
	pthread_mutex_unlock(&g->dev->lock);
	if (!rc)
		rc = vfio_container_attach_group(c, g);
	emu_file_put(f);
	return rc;
}

static int group_unset_container(struct vfio_group *g)
{
	int rc = 0;

	if (!g->container)
		return -EINVAL;
	pthread_mutex_lock(&g->dev->lock);
	if (g->dev->group_files)
		rc = -EBUSY;	/* a device fd is still open */
	pthread_mutex_unlock(&g->dev->lock);
	if (!rc)
		vfio_container_detach_group(g->container, g);
	return rc;
}

static int group_get_device_fd(struct vfio_group *g, uint64_t arg, int flags)
{
	char name[64];

	/* The name is a string in the caller's memory: read it a byte at a time
	 * up to its NUL, as strndup_user does. */
	for (size_t i = 0;; i++) {
		if (i == sizeof(name))
			return -ENODEV;
		if (copy_from_user(&name[i], arg + i, 1))
			return -EFAULT;
		if (!name[i])
			break;
	}
	/* The device is looked up by name first (vfio_device_get_from_name). */
	if (strcmp(name, g->dev->name))
		return -ENODEV;
	if (!g->container || !vfio_container_iommu_set(g->container))
		return -EINVAL;
	return vfio_device_file_open(g->dev, true, flags);
}

static long group_ioctl(struct emu_file *f, unsigned long cmd, uint64_t arg)
{
	struct vfio_group *g = f->priv;

	switch (cmd) {
	case VFIO_GROUP_GET_STATUS:
		return group_get_status(g, arg);
	case VFIO_GROUP_SET_CONTAINER:
		return group_set_container(g, arg);
	case VFIO_GROUP_UNSET_CONTAINER:
		return group_unset_container(g);
	case VFIO_GROUP_GET_DEVICE_FD:
		return group_get_device_fd(g, arg, O_RDWR | O_CLOEXEC);
	default:
		return -ENOTTY;
	}
}

void vfio_group_release(struct vfio_group *g)
{
	/* Closing the group takes it out of its container. */
	if (g->container)
		vfio_container_detach_group(g->container, g);
	pthread_mutex_lock(&g->dev->lock);
	g->open = false;
	pthread_mutex_unlock(&g->dev->lock);
}

static void group_release(struct emu_file *f)
{
	struct vfio_group *g = f->priv;
	bool held;

	/*
	 * "Device FDs hold a group file reference, therefore the group
	 * release is only called when there are no open devices" (Linux
	 * vfio_group_fops_release): the last device fd finishes it.
	 */
	pthread_mutex_lock(&g->dev->lock);
	held = g->dev->group_files;
	g->release_pending = held;
	pthread_mutex_unlock(&g->dev->lock);
	if (!held)
		vfio_group_release(g);
}

static const struct emu_fops group_fops = {
	.name = "iodirty-vfio-group",
	.ioctl = group_ioctl,
	.release = group_release,
};

int vfio_group_open(struct vfio_host *host, unsigned int index, int flags)
{
	struct vfio_group *g;
	int fd;

	if (index >= host->ndevices)
		return -ENOENT;
	g = &host->dev[index].group;
	pthread_mutex_lock(&g->dev->lock);
	/* Exclusive, and not while a cdev file of its device is bound. */
	if (g->open || g->dev->owner) {
		pthread_mutex_unlock(&g->dev->lock);
		return -EBUSY;
	}
	g->open = true;
	pthread_mutex_unlock(&g->dev->lock);
	fd = emu_fd_install(&group_fops, g, flags);
	if (fd < 0) {
		pthread_mutex_lock(&g->dev->lock);
		g->open = false;
		pthread_mutex_unlock(&g->dev->lock);
	}
	return fd;
}
