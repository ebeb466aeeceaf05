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

/*
 * Access objects: how a driver whose device has no IOMMU of its own (a
 * mediated device) reaches an IOAS, after Linux's iommufd_access_*: the
 * driver reads and writes IOVA through the IOAS's translation. The access's
 * id is what VFIO reports as the device id of such a device.
 */
struct iommufd_access;

/** iommufd_access_create() - ERR_PTR(-ENOMEM); the id in *@id. */
struct iommufd_access *iommufd_access_create(struct iommufd_ctx *ictx,
					     uint32_t *id);
/** iommufd_access_destroy() - detach and destroy; drops the ctx ref. */
void iommufd_access_destroy(struct iommufd_access *access);
/** iommufd_access_attach() - to an IOAS: 0, -ENOENT, -EINVAL if attached. */
int iommufd_access_attach(struct iommufd_access *access, uint32_t ioas_id);
/** iommufd_access_replace() - move to another IOAS. */
int iommufd_access_replace(struct iommufd_access *access, uint32_t ioas_id);
void iommufd_access_detach(struct iommufd_access *access);
/**
 * iommufd_access_rw() - copy @len bytes to or from IOVA through the IOAS.
 * Return: 0; -EFAULT when a byte is not mapped (or not writable for a
 * write), with @fault filled in if not NULL; -ENOENT when not attached.
 */
int iommufd_access_rw(struct iommufd_access *access, uint64_t iova,
		      void *buf, size_t len, bool write,
		      struct pt_fault *fault);

/** iommufd_device_ctx() - the context the device is bound to. */
struct iommufd_ctx *iommufd_device_ctx(struct iommufd_device *idev);

#endif
