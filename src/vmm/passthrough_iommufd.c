// SPDX-License-Identifier: MIT
/*
 * passthrough_iommufd.c - the iommufd backend of the VMM's VFIO client:
 * /dev/iommu with one IOAS for guest RAM (IOVA = GPA), cdev devices
 * (/dev/vfio/devices/vfioN) bound to it, attached with QEMU's auto domains,
 * and IOMMU dirty tracking on the HWPTs that were allocated for it.
 *
 * QEMU hw/vfio/iommufd.c + backends/iommufd.c (vmm-behaviour.md §1.1-§1.4):
 *   - an mdev (bound through an iommufd access: IOMMU_GET_HW_INFO finds no
 *     device, ENOENT) attaches straight to the IOAS;
 *   - any other device tries every HWPT already allocated on the IOAS in
 *     turn (EINVAL: incompatible, try the next; any other error fails),
 *     else allocates one, with IOMMU_HWPT_ALLOC_DIRTY_TRACKING when
 *     IOMMU_GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING, and attaches
 *     to it (freeing it if that fails);
 *   - "IOMMU instance for device %s doesn't support dirty tracking" when a
 *     device lands on an HWPT that does not track while another does;
 *   - SET_DIRTY_TRACKING on every dirty HWPT, rolled back on a failure;
 *     GET_DIRTY_BITMAP of every dirty HWPT into one zeroed bitmap.
 * Kernel ABI: shared/spec/kernel-abi.md §1.2-§1.4, §2.4.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <iodirty/log.h>
#include <iodirty/uapi/iommufd.h>
#include <iodirty/uapi/vfio.h>

#include "passthrough_private.h"

static int iommufd_open(struct vmm_pt *pt, char *msg, size_t len)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int rc;

	pt->iommufd = pt_open("/dev/iommu", O_RDWR);
	if (pt->iommufd < 0) {
		rc = pt->iommufd;
		pt_msg(msg, len, "/dev/iommu: %s", pt_strerror(rc));
		return rc;
	}
	rc = pt_ioctl(pt->iommufd, IOMMU_IOAS_ALLOC, &alloc);
	if (rc < 0) {
		pt_msg(msg, len, "IOMMU_IOAS_ALLOC failed: %s",
		       pt_strerror(rc));
		pt_close(&pt->iommufd);
		return rc;
	}
	pt->ioas_id = alloc.out_ioas_id;
	return 0;
}

static int destroy_id(struct vmm_pt *pt, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };
	int rc = pt_ioctl(pt->iommufd, IOMMU_DESTROY, &d);

	return rc < 0 ? rc : 0;
}

/* After the device fds are closed: their HWPTs, the IOAS, the fd. */
static void iommufd_close(struct vmm_pt *pt)
{
	if (pt->iommufd < 0)
		return;
	for (unsigned int i = 0; i < pt->nhwpt; i++) {
		int rc = destroy_id(pt, pt->hwpt[i].id);

		if (rc)
			pr_warn(pt->cfg.log, "IOMMU_DESTROY(hwpt %u): %s",
				pt->hwpt[i].id, pt_strerror(rc));
	}
	pt->nhwpt = 0;
	if (pt->ioas_id)
		destroy_id(pt, pt->ioas_id);
	pt_close(&pt->iommufd);
}

static int attach_pt(int fd, uint32_t pt_id)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at),
		.pt_id = pt_id,
	};
	int rc = pt_ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);

	return rc < 0 ? rc : 0;
}

/* IOMMU_GET_HW_INFO: 0 and the capabilities, -ENOENT for an mdev. */
static int hw_info(struct vmm_pt *pt, struct pt_dev *d, uint64_t *caps)
{
	uint64_t blob[32] = { 0 }; /* the vendor's registers; unused */
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.dev_id = d->pub.devid,
		.data_len = sizeof(blob),
		.data_uptr = (uint64_t)(uintptr_t)blob,
	};
	int rc = pt_ioctl(pt->iommufd, IOMMU_GET_HW_INFO, &info);

	if (rc < 0)
		return rc;
	*caps = info.out_capabilities;
	pr_debug(pt->cfg.log, "%s: IOMMU type %u, capabilities 0x%llx",
		 d->pub.name, info.out_data_type,
		 (unsigned long long)info.out_capabilities);
	return 0;
}

/* §1.2 step 3: join the first HWPT of the IOAS that takes the device. */
static int autodomains_reuse(struct vmm_pt *pt, struct pt_dev *d, char *skipped,
			     size_t skipped_len, char *msg, size_t len)
{
	size_t used = 0;

	skipped[0] = 0;
	for (unsigned int i = 0; i < pt->nhwpt; i++) {
		struct pt_hwpt *h = &pt->hwpt[i];
		const char *owner = pt->dev[h->owner].pub.name;
		int rc = attach_pt(d->pub.fd, h->id);

		if (rc == -EINVAL) {
			/* Incompatible with this device: the next one. */
			used += (size_t)snprintf(
				skipped + used,
				used < skipped_len ? skipped_len - used : 0,
				"%s%u", used ? ", " : "", h->id);
			if (used >= skipped_len)
				used = skipped_len - 1;
			continue;
		}
		if (rc) {
			pt_msg(msg, len,
			       "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT(hwpt %u) failed: %s",
			       d->pub.name, h->id, pt_strerror(rc));
			return rc;
		}
		h->users++;
		d->pub.hwpt_id = h->id;
		d->pub.hwpt_dirty = h->dirty;
		if (!h->dirty && d->pub.iommu_dirty_capable)
			snprintf(
				d->pub.attach, sizeof(d->pub.attach),
				"hwpt %u (shared with %s; no dirty tracking although this device's IOMMU has it)",
				h->id, owner);
		else
			snprintf(d->pub.attach, sizeof(d->pub.attach),
				 "hwpt %u (shared with %s)", h->id, owner);
		return 1;
	}
	return 0;
}

/* §1.2 steps 4-5: a new HWPT for the device, attached. */
static int autodomains_alloc(struct vmm_pt *pt, struct pt_dev *d,
			     const char *skipped, char *msg, size_t len)
{
	bool dirty = d->pub.iommu_dirty_capable;
	struct iommu_hwpt_alloc alloc = {
		.size = sizeof(alloc),
		.flags = dirty ? IOMMU_HWPT_ALLOC_DIRTY_TRACKING : 0,
		.dev_id = d->pub.devid,
		.pt_id = pt->ioas_id,
	};
	struct pt_hwpt *h;
	int rc;

	rc = pt_ioctl(pt->iommufd, IOMMU_HWPT_ALLOC, &alloc);
	if (rc < 0) {
		pt_msg(msg, len,
		       "%s: IOMMU_HWPT_ALLOC(ioas %u, flags 0x%x) failed: %s",
		       d->pub.name, pt->ioas_id, alloc.flags, pt_strerror(rc));
		return rc;
	}
	rc = attach_pt(d->pub.fd, alloc.out_hwpt_id);
	if (rc) {
		pt_msg(msg, len,
		       "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT(hwpt %u) failed: %s",
		       d->pub.name, alloc.out_hwpt_id, pt_strerror(rc));
		destroy_id(pt, alloc.out_hwpt_id);
		return rc;
	}
	h = &pt->hwpt[pt->nhwpt++];
	*h = (struct pt_hwpt){ .id = alloc.out_hwpt_id,
			       .dirty = dirty,
			       .users = 1,
			       .owner = pt->ndev };
	d->pub.hwpt_id = h->id;
	d->pub.hwpt_dirty = dirty;
	snprintf(d->pub.attach, sizeof(d->pub.attach), "hwpt %u (new, %s%s%s)",
		 h->id,
		 dirty ? "dirty tracking: IOMMU reports the capability" :
			 "no dirty tracking: IOMMU lacks the capability",
		 skipped[0] ? "; incompatible: hwpt " : "", skipped);
	return 0;
}

static int iommufd_add_device(struct vmm_pt *pt, struct pt_dev *d,
			      const struct pt_sysfs_dev *sys, char *msg,
			      size_t len)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = pt->iommufd,
	};
	char path[64], skipped[64];
	uint64_t caps = 0;
	int rc;

	if (sys && sys->cdev[0])
		snprintf(path, sizeof(path), "%s", sys->cdev);
	else
		snprintf(path, sizeof(path), "/dev/vfio/devices/vfio%u",
			 d->pub.index);
	d->pub.fd = pt_open(path, O_RDWR);
	if (d->pub.fd < 0) {
		rc = d->pub.fd;
		pt_msg(msg, len, "%s: %s: %s", d->pub.name, path,
		       pt_strerror(rc));
		return rc;
	}
	rc = pt_ioctl(d->pub.fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	if (rc < 0) {
		pt_msg(msg, len, "%s: VFIO_DEVICE_BIND_IOMMUFD failed: %s",
		       d->pub.name, pt_strerror(rc));
		return rc;
	}
	d->pub.devid = bind.out_devid;

	rc = hw_info(pt, d, &caps);
	if (rc == -ENOENT) {
		/* Bound through an access: no IOMMU of its own. */
		d->pub.mdev = true;
	} else if (rc) {
		pt_msg(msg, len, "%s: IOMMU_GET_HW_INFO(dev %u) failed: %s",
		       d->pub.name, d->pub.devid, pt_strerror(rc));
		return rc;
	}
	if (sys && sys->mdev != d->pub.mdev)
		pr_warn(pt->cfg.log,
			"%s: the host lists it as %s, IOMMU_GET_HW_INFO says %s; going by the ABI",
			d->pub.name, sys->kind,
			d->pub.mdev ? "no IOMMU of its own" : "an IOMMU");
	d->pub.iommu_dirty_capable = caps & IOMMU_HW_CAP_DIRTY_TRACKING;

	if (d->pub.mdev) {
		/* "mdevs aren't physical devices and will fail with auto domains" */
		rc = attach_pt(d->pub.fd, pt->ioas_id);
		if (rc) {
			pt_msg(msg, len,
			       "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT(ioas %u) failed: %s",
			       d->pub.name, pt->ioas_id, pt_strerror(rc));
			return rc;
		}
		d->pub.hwpt_id = 0;
		snprintf(d->pub.attach, sizeof(d->pub.attach),
			 "IOAS %u (mdev: no IOMMU of its own)", pt->ioas_id);
		return 0;
	}

	rc = autodomains_reuse(pt, d, skipped, sizeof(skipped), msg, len);
	if (rc < 0)
		return rc;
	if (!rc) {
		rc = autodomains_alloc(pt, d, skipped, msg, len);
		if (rc)
			return rc;
	}
	pt->any_hwpt_dirty |= d->pub.hwpt_dirty;
	if (pt->any_hwpt_dirty && !d->pub.hwpt_dirty)
		pr_warn(pt->cfg.log,
			"IOMMU instance for device %s doesn't support dirty tracking",
			d->pub.name);
	return 0;
}

static int iommufd_map(struct vmm_pt *pt, const struct pt_map *m)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = pt->ioas_id,
		.user_va = (uint64_t)(uintptr_t)m->hva,
		.length = m->size,
		.iova = m->gpa,
	};
	int rc = pt_ioctl(pt->iommufd, IOMMU_IOAS_MAP, &map);

	return rc < 0 ? rc : 0;
}

static int iommufd_unmap(struct vmm_pt *pt, const struct pt_map *m)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = pt->ioas_id,
		.iova = m->gpa,
		.length = m->size,
	};
	int rc = pt_ioctl(pt->iommufd, IOMMU_IOAS_UNMAP, &unmap);

	return rc < 0 ? rc : 0;
}

static bool iommufd_tracker_usable(const struct vmm_pt *pt, char *why,
				   size_t len)
{
	if (pt->any_hwpt_dirty)
		return true;
	pt_msg(why, len, "no HWPT was allocated with dirty tracking");
	return false;
}

static int set_dirty(struct vmm_pt *pt, uint32_t hwpt_id, bool start)
{
	struct iommu_hwpt_set_dirty_tracking set = {
		.size = sizeof(set),
		.flags = start ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt_id,
	};
	int rc = pt_ioctl(pt->iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &set);

	return rc < 0 ? rc : 0;
}

/* §1.4 iommufd_set_dirty_page_tracking(): all dirty HWPTs, or none. */
static int iommufd_set_tracking(struct vmm_pt *pt, bool start, char *msg,
				size_t len)
{
	for (unsigned int i = 0; i < pt->nhwpt; i++) {
		const struct pt_hwpt *h = &pt->hwpt[i];
		int rc;

		if (!h->dirty)
			continue;
		rc = set_dirty(pt, h->id, start);
		if (!rc)
			continue;
		pt_msg(msg, len,
		       "vfio: Could not %s dirty page tracking - IOMMU_HWPT_SET_DIRTY_TRACKING(hwpt_id %u) failed: %s",
		       start ? "start" : "stop", h->id, pt_strerror(rc));
		/* Best effort: every dirty HWPT back to where it was. */
		for (unsigned int j = 0; j < pt->nhwpt; j++)
			if (pt->hwpt[j].dirty)
				set_dirty(pt, pt->hwpt[j].id, !start);
		return rc;
	}
	return 0;
}

/* §1.4 iommufd_query_dirty_bitmap(): every dirty HWPT, one bitmap. */
static int iommufd_query(struct vmm_pt *pt, const struct pt_map *m,
			 uint64_t iova, uint64_t size, uint64_t *bits,
			 bool no_clear, char *msg, size_t len)
{
	(void)m;
	for (unsigned int i = 0; i < pt->nhwpt; i++) {
		const struct pt_hwpt *h = &pt->hwpt[i];
		struct iommu_hwpt_get_dirty_bitmap get = {
			.size = sizeof(get),
			.hwpt_id = h->id,
			.flags = no_clear ?
					 IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR :
					 0,
			.iova = iova,
			.length = size,
			.page_size = VMM_PAGE_SIZE,
			.data = (uint64_t)(uintptr_t)bits,
		};
		int rc;

		if (!h->dirty)
			continue;
		rc = pt_ioctl(pt->iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &get);
		if (rc < 0) {
			pt_msg(msg, len,
			       "IOMMU_HWPT_GET_DIRTY_BITMAP(hwpt_id %u, iova 0x%llx, size 0x%llx) failed: %s",
			       h->id, (unsigned long long)iova,
			       (unsigned long long)size, pt_strerror(rc));
			return rc;
		}
	}
	return 0;
}

const struct pt_backend pt_iommufd_backend = {
	.name = "iommufd",
	.tracker = VMM_TRACKER_IOMMU,
	.query_window = PT_QUERY_WINDOW,
	.open = iommufd_open,
	.close = iommufd_close,
	.add_device = iommufd_add_device,
	.map = iommufd_map,
	.unmap = iommufd_unmap,
	.tracker_usable = iommufd_tracker_usable,
	.set_tracking = iommufd_set_tracking,
	.query = iommufd_query,
	.unmap_harvest = NULL,
};
