// SPDX-License-Identifier: MIT
/*
 * passthrough_legacy.c - the legacy backend of the VMM's VFIO client: one
 * VFIO container (/dev/vfio/vfio) with the type1v2 IOMMU, each device's
 * group (/dev/vfio/N) in it, device fds from GROUP_GET_DEVICE_FD, guest
 * RAM mapped with VFIO_IOMMU_MAP_DMA (IOVA = GPA), and type1's dirty
 * pages as the container tracker.
 *
 * QEMU hw/vfio/container-legacy.c (vmm-behaviour.md §1.5, §1.7): the
 * container's MIGRATION capability gives the dirty page sizes and the
 * largest bitmap; DIRTY_PAGES START/STOP/GET_BITMAP; an unmap during
 * tracking is one UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
 * refused (E2BIG, "UNMAP: Size of bitmap too big") past that largest size.
 * type1 has no hardware dirty bits: with an IOMMU-backed device in the
 * container every mapped page is dirty in every report (§4.2).
 * Kernel ABI: shared/spec/kernel-abi.md §4.
 *
 * RAM mapped before the first group joins is recorded and mapped when
 * VFIO_SET_IOMMU has given the container its IOMMU (MAP_DMA needs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/log.h>
#include <iodirty/uapi/vfio.h>

#include "passthrough_private.h"

#define DIRTY_BITMAP_BYTES(pages) (DIV_ROUND_UP(pages, 64) * 8)

static int legacy_open(struct vmm_pt *pt, char *msg, size_t len)
{
	int rc;

	pt->container = pt_open("/dev/vfio/vfio", O_RDWR);
	if (pt->container < 0) {
		rc = pt->container;
		pt_msg(msg, len, "/dev/vfio/vfio: %s", pt_strerror(rc));
		return rc;
	}
	rc = pt_ioctl(pt->container, VFIO_GET_API_VERSION, NULL);
	if (rc != VFIO_API_VERSION) {
		pt_msg(msg, len, "/dev/vfio/vfio: VFIO API version %d, not %d",
		       rc, VFIO_API_VERSION);
		pt_close(&pt->container);
		return rc < 0 ? rc : -EINVAL;
	}
	rc = pt_ioctl(pt->container, VFIO_CHECK_EXTENSION,
		      (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (rc <= 0) {
		pt_msg(msg, len,
		       "/dev/vfio/vfio: no type1v2 IOMMU (VFIO_CHECK_EXTENSION: %d)",
		       rc);
		pt_close(&pt->container);
		return rc < 0 ? rc : -EINVAL;
	}
	return 0;
}

static void legacy_close(struct vmm_pt *pt)
{
	/* The groups were closed first: the last one took the IOMMU along. */
	pt_close(&pt->container);
	pt->iommu_set = false;
}

/* The capability chain of VFIO_IOMMU_GET_INFO: the MIGRATION one. */
static int get_info(struct vmm_pt *pt)
{
	struct vfio_iommu_type1_info *info;
	uint32_t argsz = sizeof(*info);
	int rc;

	for (;;) {
		info = xzalloc(argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		rc = pt_ioctl(pt->container, VFIO_IOMMU_GET_INFO, info);
		if (rc < 0)
			goto out_free;
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;
		xfree(info);
	}
	rc = 0;
	if (!(info->flags & VFIO_IOMMU_INFO_CAPS))
		goto out_free;
	for (uint32_t off = info->cap_offset, hops = 0;
	     off && hops < 64 &&
	     off + sizeof(struct vfio_info_cap_header) <= argsz;
	     hops++) {
		const struct vfio_info_cap_header *h =
			(const void *)((const uint8_t *)info + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION &&
		    off + sizeof(struct vfio_iommu_type1_info_cap_migration) <=
			    argsz) {
			const struct vfio_iommu_type1_info_cap_migration *mig =
				(const void *)h;

			/* QEMU: the host page size must be a dirty page size. */
			if (mig->pgsize_bitmap & VMM_PAGE_SIZE) {
				pt->type1_mig_cap = true;
				pt->type1_pgsize = VMM_PAGE_SIZE;
				pt->type1_max_bitmap =
					mig->max_dirty_bitmap_size;
			}
		}
		off = h->next;
	}
out_free:
	xfree(info);
	return rc;
}

static int map_dma(struct vmm_pt *pt, const struct pt_map *m)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)m->hva,
		.iova = m->gpa,
		.size = m->size,
	};
	int rc = pt_ioctl(pt->container, VFIO_IOMMU_MAP_DMA, &map);

	return rc < 0 ? rc : 0;
}

static int unmap_dma(struct vmm_pt *pt, const struct pt_map *m)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = m->gpa,
		.size = m->size,
	};
	int rc = pt_ioctl(pt->container, VFIO_IOMMU_UNMAP_DMA, &unmap);

	return rc < 0 ? rc : 0;
}

/* The first group is in: the IOMMU, its capabilities, the RAM so far. */
static int set_iommu(struct vmm_pt *pt, char *msg, size_t len)
{
	unsigned int i;
	int rc;

	rc = pt_ioctl(pt->container, VFIO_SET_IOMMU,
		      (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (rc < 0) {
		pt_msg(msg, len, "VFIO_SET_IOMMU(type1v2) failed: %s",
		       pt_strerror(rc));
		return rc;
	}
	pt->iommu_set = true;
	rc = get_info(pt);
	if (rc) {
		pt_msg(msg, len, "VFIO_IOMMU_GET_INFO failed: %s",
		       pt_strerror(rc));
		return rc;
	}
	if (!pt->type1_mig_cap)
		pr_info(pt->cfg.log,
			"the type1 container has no migration capability for 4 KiB pages: no type1 dirty tracking");
	for (i = 0; i < pt->nmap; i++) {
		rc = map_dma(pt, &pt->map[i]);
		if (rc) {
			pt_msg(msg, len,
			       "VFIO_IOMMU_MAP_DMA(iova 0x%llx, size 0x%llx) failed: %s",
			       (unsigned long long)pt->map[i].gpa,
			       (unsigned long long)pt->map[i].size,
			       pt_strerror(rc));
			while (i--)
				unmap_dma(pt, &pt->map[i]);
			return rc;
		}
	}
	return 0;
}

static int legacy_add_device(struct vmm_pt *pt, struct pt_dev *d,
			     const struct pt_sysfs_dev *sys, char *msg,
			     size_t len)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	bool first = !pt->iommu_set;
	char path[64];
	int rc;

	/* GROUP_GET_DEVICE_FD names the device: sysfs must have said it. */
	if (!sys) {
		pt_msg(msg, len,
		       "vfio%u: the device's name and group are unknown",
		       d->pub.index);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s", sys->group);
	d->pub.mdev = sys->mdev;

	d->group_fd = pt_open(path, O_RDWR);
	if (d->group_fd < 0) {
		rc = d->group_fd;
		pt_msg(msg, len, "%s: %s: %s", d->pub.name, path,
		       pt_strerror(rc));
		return rc;
	}
	rc = pt_ioctl(d->group_fd, VFIO_GROUP_GET_STATUS, &status);
	if (rc < 0) {
		pt_msg(msg, len, "%s: VFIO_GROUP_GET_STATUS failed: %s",
		       d->pub.name, pt_strerror(rc));
		return rc;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		pt_msg(msg, len,
		       "%s: group %s is not viable (bind every device in it to vfio)",
		       d->pub.name, path);
		return -EPERM;
	}
	rc = pt_ioctl(d->group_fd, VFIO_GROUP_SET_CONTAINER, &pt->container);
	if (rc < 0) {
		pt_msg(msg, len, "%s: VFIO_GROUP_SET_CONTAINER failed: %s",
		       d->pub.name, pt_strerror(rc));
		return rc;
	}
	if (first) {
		rc = set_iommu(pt, msg, len);
		if (rc)
			goto err_unset;
	}
	rc = pt_ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->pub.name);
	if (rc < 0) {
		pt_msg(msg, len, "%s: VFIO_GROUP_GET_DEVICE_FD failed: %s",
		       d->pub.name, pt_strerror(rc));
		goto err_unset;
	}
	d->pub.fd = rc;
	snprintf(
		d->pub.attach, sizeof(d->pub.attach), "%s",
		d->pub.mdev ?
			"type1 container (mdev: dirty = the pages its driver pins)" :
			"type1 container (IOMMU-backed: type1 reports every mapped page dirty)");
	return 0;

err_unset:
	/* The last group out of the container takes its IOMMU along. */
	pt_ioctl(d->group_fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
	if (first) {
		pt->iommu_set = false;
		pt->type1_mig_cap = false;
	}
	return rc;
}

static int legacy_map(struct vmm_pt *pt, const struct pt_map *m)
{
	return pt->iommu_set ? map_dma(pt, m) : 0;
}

static int legacy_unmap(struct vmm_pt *pt, const struct pt_map *m)
{
	return pt->iommu_set ? unmap_dma(pt, m) : 0;
}

static bool legacy_tracker_usable(const struct vmm_pt *pt, char *why,
				  size_t len)
{
	if (!pt->iommu_set)
		pt_msg(why, len, "no group in the container yet");
	else if (!pt->type1_mig_cap)
		pt_msg(why, len,
		       "the container has no migration capability for 4 KiB pages");
	else
		return true;
	return false;
}

static int legacy_set_tracking(struct vmm_pt *pt, bool start, char *msg,
			       size_t len)
{
	struct vfio_iommu_type1_dirty_bitmap db = {
		.argsz = sizeof(db),
		.flags = start ? VFIO_IOMMU_DIRTY_PAGES_FLAG_START :
				 VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
	};
	int rc = pt_ioctl(pt->container, VFIO_IOMMU_DIRTY_PAGES, &db);

	if (rc < 0) {
		pt_msg(msg, len,
		       "vfio: Could not %s dirty page tracking - VFIO_IOMMU_DIRTY_PAGES: %s",
		       start ? "start" : "stop", pt_strerror(rc));
		return rc;
	}
	return 0;
}

static int bitmap_fits(const struct vmm_pt *pt, uint64_t size, char *msg,
		       size_t len, const char *what)
{
	if (DIRTY_BITMAP_BYTES(size >> VMM_PAGE_SHIFT) <= pt->type1_max_bitmap)
		return 0;
	pt_msg(msg, len, "%s: Size of bitmap too big (0x%llx bytes of IOVA)",
	       what, (unsigned long long)size);
	return -E2BIG;
}

/*
 * The argument of DIRTY_PAGES GET_BITMAP: the header, then (its data[])
 * struct vfio_iommu_type1_dirty_bitmap_get.
 */
union dirty_pages_req {
	uint64_t words[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
			sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) /
		       8];
	struct vfio_iommu_type1_dirty_bitmap hdr;
};

/* The argument of UNMAP_DMA with a bitmap: the unmap, then (its data[]) it. */
union unmap_req {
	uint64_t words[(sizeof(struct vfio_iommu_type1_dma_unmap) +
			sizeof(struct vfio_bitmap)) /
		       8];
	struct vfio_iommu_type1_dma_unmap unmap;
};

static_assert(sizeof(struct vfio_iommu_type1_dirty_bitmap) == 8, "layout");
static_assert(sizeof(struct vfio_iommu_type1_dma_unmap) == 24, "layout");

/* GET_BITMAP over the whole mapping (type1 never cuts one). */
static int legacy_query(struct vmm_pt *pt, const struct pt_map *m,
			uint64_t iova, uint64_t size, uint64_t *bits,
			bool no_clear, char *msg, size_t len)
{
	union dirty_pages_req
		req = { .hdr = {
				.argsz = sizeof(req),
				.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
			} };
	struct vfio_iommu_type1_dirty_bitmap_get *get =
		(struct vfio_iommu_type1_dirty_bitmap_get *)&req.words[1];
	int rc;

	(void)m;
	(void)no_clear; /* type1 reports what the unmap would */
	*get = (struct vfio_iommu_type1_dirty_bitmap_get){
		.iova = iova,
		.size = size,
		.bitmap = { .pgsize = pt->type1_pgsize,
			    .size = DIRTY_BITMAP_BYTES(size >> VMM_PAGE_SHIFT),
			    .data = (__u64 *)bits },
	};
	rc = bitmap_fits(pt, size, msg, len, "GET_BITMAP");
	if (rc)
		return rc;
	rc = pt_ioctl(pt->container, VFIO_IOMMU_DIRTY_PAGES, &req);
	if (rc < 0) {
		pt_msg(msg, len,
		       "VFIO_IOMMU_DIRTY_PAGES GET_BITMAP(iova 0x%llx, size 0x%llx) failed: %s",
		       (unsigned long long)iova, (unsigned long long)size,
		       pt_strerror(rc));
		return rc;
	}
	return 0;
}

static int legacy_unmap_harvest(struct vmm_pt *pt, const struct pt_map *m,
				uint64_t *bits, char *msg, size_t len)
{
	union unmap_req
		req = { .unmap = {
				.argsz = sizeof(req),
				.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
				.iova = m->gpa,
				.size = m->size,
			} };
	struct vfio_bitmap *bitmap = (struct vfio_bitmap *)&req.words[3];
	int rc;

	*bitmap = (struct vfio_bitmap){
		.pgsize = pt->type1_pgsize,
		.size = DIRTY_BITMAP_BYTES(m->size >> VMM_PAGE_SHIFT),
		.data = (__u64 *)bits,
	};
	rc = bitmap_fits(pt, m->size, msg, len, "UNMAP");
	if (rc)
		return rc;
	rc = pt_ioctl(pt->container, VFIO_IOMMU_UNMAP_DMA, &req);
	if (rc < 0) {
		pt_msg(msg, len,
		       "VFIO_IOMMU_UNMAP_DMA with dirty bitmap(iova 0x%llx, size 0x%llx) failed: %s",
		       (unsigned long long)m->gpa, (unsigned long long)m->size,
		       pt_strerror(rc));
		return rc;
	}
	return 0;
}

const struct pt_backend pt_legacy_backend = {
	.name = "legacy",
	.tracker = VMM_TRACKER_TYPE1,
	.query_window = 0,
	.open = legacy_open,
	.close = legacy_close,
	.add_device = legacy_add_device,
	.map = legacy_map,
	.unmap = legacy_unmap,
	.tracker_usable = legacy_tracker_usable,
	.set_tracking = legacy_set_tracking,
	.query = legacy_query,
	.unmap_harvest = legacy_unmap_harvest,
};
