// SPDX-License-Identifier: MIT
/*
 * container.c - /dev/vfio/vfio, the legacy container: API version,
 * extensions, SET_IOMMU, and the groups in it; IOMMU ioctls go to the type1
 * backend once it is set (Linux drivers/vfio/container.c).
 */
#include <errno.h>

#include <iodirty/alloc.h>

#include "vfio_private.h"

void vfio_container_get(struct vfio_container *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void vfio_container_put(struct vfio_container *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	vfio_iommu_type1_release(c);
	pthread_mutex_destroy(&c->lock);
	xfree(c);
}

static int check_extension(unsigned long ext)
{
	switch (ext) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
	case VFIO_DMA_CC_IOMMU:
		return 1;
	default:
		return 0;
	}
}

static long container_ioctl(struct emu_file *f, unsigned long cmd,
			    uint64_t arg)
{
	struct vfio_container *c = f->priv;
	long rc;

	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return check_extension(arg);
	case VFIO_SET_IOMMU:
		pthread_mutex_lock(&c->lock);
		if (!c->ngroups || c->iommu_type) {
			rc = -EINVAL;
		} else if (arg != VFIO_TYPE1_IOMMU &&
			   arg != VFIO_TYPE1v2_IOMMU) {
			/*
			 * vfio_ioctl_set_iommu(): ENODEV when no driver
			 * reports the type as an extension; type1 reports
			 * UNMAP_ALL, which vfio_iommu_type1_open() refuses.
			 */
			rc = arg == VFIO_UNMAP_ALL ? -EINVAL : -ENODEV;
		} else {
			c->iommu_type = (int)arg;
			c->dma_avail = 65535;
			rc = 0;
			for (unsigned int i = 0; i < c->ngroups && !rc; i++)
				rc = vfio_iommu_type1_attach_group(c,
								   c->groups[i]);
			if (rc) {
				for (unsigned int i = 0; i < c->ngroups; i++)
					vfio_iommu_type1_detach_group(
						c, c->groups[i]);
				c->iommu_type = 0;
			}
		}
		pthread_mutex_unlock(&c->lock);
		return rc;
	default:
		pthread_mutex_lock(&c->lock);
		rc = c->iommu_type ? vfio_iommu_type1_ioctl(c, (unsigned int)cmd,
							     arg) :
				     -EINVAL;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
}

static void container_release(struct emu_file *f)
{
	vfio_container_put(f->priv);
}

static const struct emu_fops container_fops = {
	.name = "iodirty-vfio-container",
	.ioctl = container_ioctl,
	.release = container_release,
};

int vfio_container_open(struct vfio_host *host, int flags)
{
	struct vfio_container *c = xzalloc(sizeof(*c));
	int fd;

	if (!c)
		return -ENOMEM;
	c->host = host;
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->lock, NULL);
	fd = emu_fd_install(&container_fops, c, flags);
	if (fd < 0) {
		pthread_mutex_destroy(&c->lock);
		xfree(c);
	}
	return fd;
}

struct vfio_container *vfio_container_from_fd(int fd, struct emu_file **f)
{
	*f = emu_fd_get(fd, &container_fops);
	return *f ? (*f)->priv : NULL;
}

bool vfio_container_iommu_set(struct vfio_container *c)
{
	bool set;

	pthread_mutex_lock(&c->lock);
	set = c->iommu_type;
	pthread_mutex_unlock(&c->lock);
	return set;
}

int vfio_container_attach_group(struct vfio_container *c,
				struct vfio_group *group)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->iommu_type)
		rc = vfio_iommu_type1_attach_group(c, group);
	if (!rc) {
		c->groups[c->ngroups++] = group;
		group->container = c;
		vfio_container_get(c);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void vfio_container_detach_group(struct vfio_container *c,
				 struct vfio_group *group)
{
	unsigned int j = 0;

	pthread_mutex_lock(&c->lock);
	if (c->iommu_type)
		vfio_iommu_type1_detach_group(c, group);
	for (unsigned int i = 0; i < c->ngroups; i++)
		if (c->groups[i] != group)
			c->groups[j++] = c->groups[i];
	c->ngroups = j;
	group->container = NULL;
	/* The last group out takes the IOMMU backend with it. */
	if (!c->ngroups && c->iommu_type) {
		vfio_iommu_type1_release(c);
		c->iommu_type = 0;
	}
	pthread_mutex_unlock(&c->lock);
	vfio_container_put(c);
}
