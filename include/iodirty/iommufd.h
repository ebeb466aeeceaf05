/* SPDX-License-Identifier: MIT */
/*
 * iommufd.h - the emulated iommufd: what opening /dev/iommu gives, and the
 * in-kernel API that drivers binding devices to it use (the emulated VFIO and
 * the selftest mock), after Linux drivers/iommu/iommufd/.
 *
 * One iommufd_host holds what is process-wide in the kernel: the pin counts
 * of user pages (so a new /dev/iommu open sees pins left by another) and the
 * selftest's mock IOMMU. Each open of /dev/iommu is an iommufd_ctx on it.
 * Every entry point returns 0 / a non-negative value or -errno.
 */
#ifndef IODIRTY_IOMMUFD_H
#define IODIRTY_IOMMUFD_H

#include <stdint.h>

#include "iommu.h"
#include "log.h"

struct iommufd_host;
struct iommufd_ctx;
struct iommufd_device;

/** iommufd_host_alloc() - process-wide state; NULL on -ENOMEM. */
struct iommufd_host *iommufd_host_alloc(const struct iod_log *log);
void iommufd_host_free(struct iommufd_host *host);

/**
 * iommufd_ctx_open() - what open("/dev/iommu") creates.
 * @vfio_container: opened as /dev/vfio/vfio (the compat container), which
 *                  selects the MM rlimit accounting mode.
 * Return: the context, or ERR_PTR(-ENOMEM).
 */
struct iommufd_ctx *iommufd_ctx_open(struct iommufd_host *host,
				     bool vfio_container);

/**
 * iommufd_ctx_close() - the last close of the fd. Every object is destroyed,
 * leaves first, once no device is bound any more (a bound device keeps the
 * context alive, as VFIO's reference does in Linux).
 */
void iommufd_ctx_close(struct iommufd_ctx *ictx);

/**
 * iommufd_ioctl() - one ioctl on the iommufd fd, dispatched as
 * iommufd_fops_ioctl does: iommufd commands by table, numbers below 0x80
 * to the VFIO type1 compat layer. @arg is the caller's argument (a user
 * pointer, or an integer for the compat ioctls that take one).
 * Return: >= 0 (the ioctl's return value) or -errno.
 */
long iommufd_ioctl(struct iommufd_ctx *ictx, unsigned long cmd, uint64_t arg);

/* The in-kernel API for drivers that bind devices (VFIO cdev, selftest). */

/**
 * iommufd_device_bind() - bind @dev to @ictx (VFIO_DEVICE_BIND_IOMMUFD).
 * Return: the device, its id in *@id; ERR_PTR(-EBUSY) when @dev is bound
 * already, -ENOMEM.
 */
struct iommufd_device *iommufd_device_bind(struct iommufd_ctx *ictx,
					   struct iommu_dev *dev,
					   uint32_t *id);

/** iommufd_device_unbind() - detach if attached, then destroy. */
void iommufd_device_unbind(struct iommufd_device *idev);

/**
 * iommufd_device_attach() - attach to an IOAS (auto domain) or HWPT.
 * @pt_id: in: IOAS or HWPT id; out: the HWPT id attached to.
 * Return: 0; -ENOENT unknown id; -EINVAL incompatible or already attached;
 * -EADDRINUSE when the device's reserved IOVA is mapped; -ENOMEM.
 */
int iommufd_device_attach(struct iommufd_device *idev, uint32_t *pt_id);

/** iommufd_device_replace() - move an attached device to another pt_id. */
int iommufd_device_replace(struct iommufd_device *idev, uint32_t *pt_id);

/** iommufd_device_detach() - detach; DMA is blocked afterwards. */
void iommufd_device_detach(struct iommufd_device *idev);

/** iommufd_device_ctx() - the context the device is bound to. */
struct iommufd_ctx *iommufd_device_ctx(struct iommufd_device *idev);

#endif
