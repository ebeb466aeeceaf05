/* SPDX-License-Identifier: MIT */
/*
 * vfio.h - the emulated VFIO: what a process finds at /dev/vfio/devices/vfioN
 * (cdev devices bound to an iommufd), /dev/vfio/N (legacy groups),
 * /dev/vfio/vfio (the legacy container with the type1 IOMMU backend), and a
 * sysfs-like description at /sys/kernel/iodirty/devices.
 *
 * A vfio_host is the emulated machine's set of devices, each a DMA engine
 * (include/iodirty/dev.h) of one kind:
 *   dma          behind an IOMMU unit whose domains can track dirty pages
 *   dma-nodirty  behind an IOMMU unit that cannot
 *   dma-log      a dma device that also logs its own DMA (VFIO DMA logging)
 *   mdev         a mediated device: no IOMMU of its own; its vendor driver
 *                pins the pages it DMAs to (type1) or uses an iommufd access
 * Device i is /dev/vfio/devices/vfio<i> and group /dev/vfio/<i>, named
 * "0000:00:<i+1>.0". docs/devices.md has the details.
 */
#ifndef IODIRTY_VFIO_H
#define IODIRTY_VFIO_H

#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "iommufd.h"

enum vfio_dev_kind {
	VFIO_DEV_DMA,
	VFIO_DEV_DMA_NODIRTY,
	VFIO_DEV_DMA_LOG,
	VFIO_DEV_MDEV,
	VFIO_DEV_KIND_NR,
};

#define VFIO_MAX_DEVICES 32

struct vfio_host;

struct vfio_host_config {
	const struct iommu_driver *iommu;	/* amd, intel or arm */
	const char *devices;		/* "dma,dma-log,..."; NULL: "dma" */
	struct iommufd_host *iommufd;
	const struct iod_log *log;
};

/** vfio_dev_kind_name() - "dma", "dma-nodirty", "dma-log" or "mdev". */
const char *vfio_dev_kind_name(enum vfio_dev_kind kind);

/** vfio_dev_kind_parse() - 0 and *@kind, or -EINVAL. */
int vfio_dev_kind_parse(const char *name, enum vfio_dev_kind *kind);

/**
 * vfio_host_create() - the devices of @cfg, stopped, on IOMMU units of
 * @cfg->iommu (one that tracks dirty pages, one that does not).
 * Return: the host; ERR_PTR(-EINVAL) for an unknown kind or more than
 * VFIO_MAX_DEVICES devices (the reason is logged); -ENOMEM.
 */
struct vfio_host *vfio_host_create(const struct vfio_host_config *cfg);
void vfio_host_destroy(struct vfio_host *host);

unsigned int vfio_host_ndevices(const struct vfio_host *host);
struct dma_dev *vfio_host_dma_dev(struct vfio_host *host, unsigned int i);
enum vfio_dev_kind vfio_host_dev_kind(const struct vfio_host *host,
				      unsigned int i);

/* Opening the nodes: each returns an fd (emu_fd_install) or -errno. */
int vfio_cdev_open(struct vfio_host *host, unsigned int index, int flags);
int vfio_group_open(struct vfio_host *host, unsigned int index, int flags);
int vfio_container_open(struct vfio_host *host, int flags);

/**
 * vfio_host_describe() - the text of /sys/kernel/iodirty/devices: a header
 * line, then one line per device: index, name, kind, cdev node, group node,
 * IOMMU, whether that IOMMU tracks dirty pages, DMA logging, migration
 * flags. Return: the length (as snprintf).
 */
size_t vfio_host_describe(const struct vfio_host *host, char *buf,
			  size_t len);

#endif
