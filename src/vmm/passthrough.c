// SPDX-License-Identifier: MIT
/*
 * passthrough.c - the VMM's VFIO client, what both backends share: the
 * passthrough state of a VM (vmm.h vmm_pt_*), device probing, the tracker
 * choice and migration blockers, VFIO device DMA logging, dirty
 * start/stop/sync into the global bitmap, and unmap during tracking.
 * The backends are passthrough_iommufd.c and passthrough_legacy.c.
 *
 * QEMU's behaviour, which this matches (shared/spec/vmm-behaviour.md):
 *   §1.5  all or nothing: VFIO DMA logging when every device has it and
 *         x-device-dirty-page-tracking is on; else the container tracker
 *         (IOMMU dirty bits when every device's HWPT tracks; type1's dirty
 *         pages on a legacy container); one zeroed bitmap per query, the
 *         trackers' bits OR-ed into the global bitmap.
 *   §1.6  DMA logging over at most three ranges computed once at start
 *         (below 4 GiB, above 4 GiB; the PCI 64-bit hole bucket holds
 *         device BARs, which are not mapped for DMA here); page size 4 KiB;
 *         every device's logging stopped if one fails to start. Syncs are
 *         skipped while a device runs with x-pre-copy-dirty-page-tracking
 *         off (the tracker keeps the bits for a later sync).
 *   §1.7  unmap during tracking harvests first (iommufd: NO_CLEAR query,
 *         then unmap even if it failed; type1: UNMAP_DMA with the dirty
 *         bitmap; device logging: unmap, then report).
 *   §1.8  blockers with QEMU's messages, enable-migration on/off/auto.
 * Where this differs from QEMU it says so at the place.
 *
 * Not thread-safe: a VM's passthrough state has one user at a time (the
 * thread that runs the migration).
 *
 * Kernel ABI: shared/spec/kernel-abi.md §4 (type1), §5 (device features).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/log.h>
#include <iodirty/uapi/vfio.h>

#include "passthrough_private.h"

#define SYSFS_DEVICES "/sys/kernel/iodirty/devices"
#define SZ_4G	      (1ULL << 32)

/* ---- helpers ---- */

void pt_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

const char *pt_strerror(int err)
{
	return strerror(err < 0 ? -err : err);
}

int pt_ioctl(int fd, unsigned long cmd, void *arg)
{
	int rc;

	do {
		rc = ioctl(fd, cmd, arg);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : rc;
}

int pt_open(const char *path, int flags)
{
	int fd;

	do {
		fd = open(path, flags | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

void pt_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static struct pt_dev *pt_dev_of(struct vmm_pt *pt, unsigned int i)
{
	return &pt->dev[i];
}

static const char *dev_name(const struct pt_dev *d)
{
	return d->pub.name;
}

/* A zeroed bitmap for @pages pages, reused from call to call. */
static uint64_t *scratch_bits(struct vmm_pt *pt, uint64_t pages)
{
	uint64_t words = DIV_ROUND_UP(pages, 64);

	if (words > pt->scratch_words) {
		uint64_t *b = xcalloc(words, sizeof(uint64_t));

		if (!b)
			return NULL;
		xfree(pt->scratch);
		pt->scratch = b;
		pt->scratch_words = words;
		return b;
	}
	memset(pt->scratch, 0, words * sizeof(uint64_t));
	return pt->scratch;
}

/* ---- /sys/kernel/iodirty/devices ---- */

/* The whole file, NUL-terminated, read with open/read (as from sysfs). */
static char *sysfs_read(void)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	int fd = pt_open(SYSFS_DEVICES, O_RDONLY);

	if (!buf || fd < 0) {
		xfree(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			char *b = xrealloc(buf, cap * 2);

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

/*
 * What the host's device list says of device @index: "index name kind cdev
 * group iommu iommu_dirty dma_logging migration". Return: 0, or -ENOENT
 * (no such file or line: the caller falls back to the usual paths).
 */
static int sysfs_lookup(unsigned int index, struct pt_sysfs_dev *out)
{
	char *text = sysfs_read(), *line, *save = NULL;
	int rc = -ENOENT;

	if (!text)
		return -ENOENT;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct pt_sysfs_dev d = { 0 };
		char iommu[16];
		unsigned int i;

		if (line[0] == '#')
			continue;
		if (sscanf(line, "%u %31s %15s %63s %63s %15s", &i, d.name,
			   d.kind, d.cdev, d.group, iommu) != 6 ||
		    i != index)
			continue;
		d.mdev = !strcmp(iommu, "none");
		*out = d;
		rc = 0;
		break;
	}
	xfree(text);
	return rc;
}

/* The last component of the link at @path; -errno. */
static int link_base(const char *path, char *out, size_t len)
{
	char target[256];
	const char *base;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

/*
 * The same facts from a real kernel's sysfs (Linux 6.2+ cdev layout):
 * /sys/class/vfio-dev/vfioN/device is the device (its name; its subsystem
 * says whether it is an mdev) and its iommu_group link the group number.
 */
static int sysfs_real_lookup(unsigned int index, struct pt_sysfs_dev *out)
{
	struct pt_sysfs_dev d = { 0 };
	char path[96], group[16], subsys[16];
	int rc;

	snprintf(path, sizeof(path), "/sys/class/vfio-dev/vfio%u/device",
		 index);
	rc = link_base(path, d.name, sizeof(d.name));
	if (rc)
		return rc;
	snprintf(path, sizeof(path),
		 "/sys/class/vfio-dev/vfio%u/device/iommu_group", index);
	rc = link_base(path, group, sizeof(group));
	if (rc)
		return rc;
	snprintf(path, sizeof(path),
		 "/sys/class/vfio-dev/vfio%u/device/subsystem", index);
	d.mdev = !link_base(path, subsys, sizeof(subsys)) &&
		 !strcmp(subsys, "mdev");
	snprintf(d.kind, sizeof(d.kind), "%s", d.mdev ? "mdev" : "pci");
	snprintf(d.cdev, sizeof(d.cdev), "/dev/vfio/devices/vfio%u", index);
	snprintf(d.group, sizeof(d.group), "/dev/vfio/%s", group);
	*out = d;
	return 0;
}

/* ---- VFIO device features (§5.1) ---- */

/*
 * VFIO_DEVICE_FEATURE with @flags and @len bytes of @data after the header;
 * what the kernel writes back is copied to @data. Return: 0 / -errno.
 */
static int device_feature(int fd, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[1 + 8]; /* header + up to 64 bytes, u64-aligned */
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	int rc;

	if (len > sizeof(buf) - sizeof(*f))
		return -EINVAL;
	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	if (len)
		memcpy(buf + 1, data, len);
	rc = pt_ioctl(fd, VFIO_DEVICE_FEATURE, buf);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(data, buf + 1, len);
	return 0;
}

static void probe_device(struct vmm_pt *pt, struct pt_dev *d)
{
	struct vfio_device_feature_migration mig = { 0 };
	int rc;

	rc = device_feature(d->pub.fd,
			    VFIO_DEVICE_FEATURE_GET |
				    VFIO_DEVICE_FEATURE_MIGRATION,
			    &mig, sizeof(mig));
	d->mig_err = rc < 0 ? -rc : 0;
	d->pub.mig_flags = rc < 0 ? 0 : mig.flags;
	if (rc < 0 && rc != -ENOTTY)
		pr_warn(pt->cfg.log, "%s: VFIO_DEVICE_FEATURE_MIGRATION: %s",
			dev_name(d), pt_strerror(rc));

	/* QEMU's vfio_dma_logging_supported(): PROBE | SET of START. */
	rc = device_feature(d->pub.fd,
			    VFIO_DEVICE_FEATURE_PROBE |
				    VFIO_DEVICE_FEATURE_SET |
				    VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			    NULL, 0);
	d->pub.dma_logging = !rc;
	if (rc && rc != -ENOTTY)
		pr_debug(pt->cfg.log, "%s: DMA logging probe: %s", dev_name(d),
			 pt_strerror(rc));
}

/* The device's migration state (GET MIG_DEVICE_STATE); -errno. */
static int device_mig_state(const struct pt_dev *d)
{
	struct vfio_device_feature_mig_state st = { 0 };
	int rc = device_feature(d->pub.fd,
				VFIO_DEVICE_FEATURE_GET |
					VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				&st, sizeof(st));

	return rc < 0 ? rc : (int)st.device_state;
}

/* ---- create, devices, destroy ---- */

int vmm_pt_create(const struct vmm_pt_config *cfg, struct vmm_pt **out,
		  char *msg, size_t msglen)
{
	struct vmm_pt *pt;
	int rc;

	*out = NULL;
	if (cfg->backend != VMM_PT_IOMMUFD && cfg->backend != VMM_PT_LEGACY) {
		pt_msg(msg, msglen, "unknown passthrough backend %d",
		       (int)cfg->backend);
		return -EINVAL;
	}
	if ((unsigned int)cfg->tracker > VMM_TRACKER_NONE) {
		pt_msg(msg, msglen, "unknown dirty tracker %d",
		       (int)cfg->tracker);
		return -EINVAL;
	}
	pt = xzalloc(sizeof(*pt));
	if (!pt) {
		pt_msg(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	pt->cfg = *cfg;
	pt->be = cfg->backend == VMM_PT_IOMMUFD ? &pt_iommufd_backend :
						  &pt_legacy_backend;
	pt->iommufd = -1;
	pt->container = -1;
	pt->tracker = VMM_TRACKER_NONE;
	rc = pt->be->open(pt, msg, msglen);
	if (rc) {
		xfree(pt);
		return rc;
	}
	*out = pt;
	return 0;
}

void vmm_pt_destroy(struct vmm_pt *pt)
{
	if (!pt)
		return;
	if (pt->started)
		vmm_pt_dirty_stop(pt);
	/* Devices first: closing a device fd detaches and unbinds it. */
	for (unsigned int i = 0; i < pt->ndev; i++)
		pt_close(&pt->dev[i].pub.fd);
	for (unsigned int i = 0; i < pt->ndev; i++)
		pt_close(&pt->dev[i].group_fd);
	pt->be->close(pt);
	xfree(pt->scratch);
	xfree(pt);
}

int vmm_pt_add_device(struct vmm_pt *pt, unsigned int index, char *msg,
		      size_t msglen)
{
	struct pt_sysfs_dev sys = { 0 };
	struct pt_dev *d;
	int rc;

	if (pt->ndev == VMM_MAX_DEVICES) {
		pt_msg(msg, msglen, "vfio%u: more than %d passthrough devices",
		       index, VMM_MAX_DEVICES);
		return -ENOSPC;
	}
	for (unsigned int i = 0; i < pt->ndev; i++) {
		if (pt->dev[i].pub.index == index) {
			pt_msg(msg, msglen, "%s: device already added",
			       dev_name(&pt->dev[i]));
			return -EBUSY;
		}
	}
	if (pt->started) {
		pt_msg(msg, msglen,
		       "vfio%u: cannot add a device while dirty tracking runs",
		       index);
		return -EBUSY;
	}
	if (sysfs_lookup(index, &sys) && sysfs_real_lookup(index, &sys)) {
		memset(&sys, 0, sizeof(sys));
		pr_debug(
			pt->cfg.log,
			"vfio%u: not in %s nor /sys/class/vfio-dev; using the usual paths",
			index, SYSFS_DEVICES);
	}

	d = pt_dev_of(pt, pt->ndev);
	memset(d, 0, sizeof(*d));
	d->pub.index = index;
	d->pub.fd = -1;
	d->group_fd = -1;
	snprintf(d->pub.name, sizeof(d->pub.name), "%s",
		 sys.name[0] ? sys.name : "");
	if (!d->pub.name[0])
		snprintf(d->pub.name, sizeof(d->pub.name), "vfio%u", index);

	rc = pt->be->add_device(pt, d, sys.name[0] ? &sys : NULL, msg, msglen);
	if (rc) {
		pt_close(&d->pub.fd);
		pt_close(&d->group_fd);
		return rc;
	}
	probe_device(pt, d);
	/* The tracker must be chosen again with this device in. */
	pt->chosen = false;
	pt->ndev++;
	pr_info(pt->cfg.log, "%s: attached to %s; migration flags 0x%llx%s",
		dev_name(d), d->pub.attach,
		(unsigned long long)d->pub.mig_flags,
		d->pub.dma_logging ? ", DMA logging" : "");
	return 0;
}

unsigned int vmm_pt_ndevices(const struct vmm_pt *pt)
{
	return pt->ndev;
}

const struct vmm_pt_device *vmm_pt_device(const struct vmm_pt *pt,
					  unsigned int i)
{
	return i < pt->ndev ? &pt->dev[i].pub : NULL;
}

/* ---- guest RAM ---- */

int vmm_pt_map_ram(struct vmm_pt *pt, uint64_t gpa, uint64_t size, void *hva)
{
	struct pt_map m = { gpa, size, hva };
	uint64_t last;
	int rc;

	if (!size || (gpa | size | (uintptr_t)hva) & (VMM_PAGE_SIZE - 1))
		return -EINVAL;
	if (__builtin_add_overflow(gpa, size - 1, &last))
		return -EOVERFLOW;
	for (unsigned int i = 0; i < pt->nmap; i++) {
		const struct pt_map *o = &pt->map[i];

		if (gpa <= o->gpa + o->size - 1 && o->gpa <= last)
			return -EEXIST;
	}
	if (pt->nmap == PT_MAX_MAPS)
		return -ENOSPC;
	rc = pt->be->map(pt, &m);
	if (rc) {
		pr_err(pt->cfg.log,
		       "map RAM gpa 0x%llx size 0x%llx for DMA: %s",
		       (unsigned long long)gpa, (unsigned long long)size,
		       pt_strerror(rc));
		return rc;
	}
	pt->map[pt->nmap++] = m;
	if (pt->started && pt->tracker == VMM_TRACKER_DEVICE)
		pr_warn(pt->cfg.log,
			"RAM at gpa 0x%llx mapped after DMA logging started: its ranges were fixed at start and may not cover it",
			(unsigned long long)gpa);
	return 0;
}

static void map_remove(struct vmm_pt *pt, unsigned int i)
{
	memmove(&pt->map[i], &pt->map[i + 1],
		(pt->nmap - i - 1) * sizeof(pt->map[0]));
	pt->nmap--;
}

/* ---- DMA logging (the "VF" tracker) ---- */

/* QEMU's vfio_dirty_tracking_init(): min/max of the RAM below and above 4G. */
static int log_ranges_compute(struct vmm_pt *pt)
{
	uint64_t lo_min = UINT64_MAX, lo_max = 0, hi_min = UINT64_MAX,
		 hi_max = 0;
	unsigned int n = 0;

	for (unsigned int i = 0; i < pt->nmap; i++) {
		const struct pt_map *m = &pt->map[i];
		uint64_t last = m->gpa + m->size - 1;

		if (last < SZ_4G) {
			lo_min = m->gpa < lo_min ? m->gpa : lo_min;
			lo_max = last > lo_max ? last : lo_max;
		} else {
			hi_min = m->gpa < hi_min ? m->gpa : hi_min;
			hi_max = last > hi_max ? last : hi_max;
		}
	}
	if (lo_min != UINT64_MAX) {
		pt->log_range[n].iova = lo_min;
		pt->log_range[n++].length = lo_max - lo_min + 1;
	}
	if (hi_min != UINT64_MAX) {
		pt->log_range[n].iova = hi_min;
		pt->log_range[n++].length = hi_max - hi_min + 1;
	}
	pt->nlog_range = n;
	return n ? 0 : -EINVAL;
}

static int devlog_start_one(struct pt_dev *d, struct vmm_pt *pt)
{
	struct vfio_device_feature_dma_logging_range r[PT_LOG_MAX_RANGES];
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = VMM_PAGE_SIZE,
		.num_ranges = pt->nlog_range,
		.ranges = (uint64_t)(uintptr_t)r,
	};

	for (unsigned int i = 0; i < pt->nlog_range; i++) {
		r[i].iova = pt->log_range[i].iova;
		r[i].length = pt->log_range[i].length;
	}
	return device_feature(d->pub.fd,
			      VFIO_DEVICE_FEATURE_SET |
				      VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			      &ctl, sizeof(ctl));
}

static int devlog_stop_one(struct pt_dev *d)
{
	return device_feature(d->pub.fd,
			      VFIO_DEVICE_FEATURE_SET |
				      VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			      NULL, 0);
}

static void devlog_stop_all(struct vmm_pt *pt)
{
	for (unsigned int i = 0; i < pt->ndev; i++) {
		struct pt_dev *d = pt_dev_of(pt, i);
		int rc;

		if (!d->logging)
			continue;
		rc = devlog_stop_one(d);
		if (rc)
			pr_warn(pt->cfg.log,
				"%s: Failed to stop DMA logging: %s",
				dev_name(d), pt_strerror(rc));
		d->logging = false;
	}
}

static int devlog_start(struct vmm_pt *pt, char *msg, size_t len)
{
	int rc = log_ranges_compute(pt);

	if (rc) {
		pt_msg(msg, len,
		       "vfio: Could not start dirty page tracking - no guest RAM is mapped for DMA");
		return rc;
	}
	for (unsigned int i = 0; i < pt->nlog_range; i++)
		pr_debug(pt->cfg.log, "DMA logging range %u: 0x%llx + 0x%llx",
			 i, (unsigned long long)pt->log_range[i].iova,
			 (unsigned long long)pt->log_range[i].length);
	for (unsigned int i = 0; i < pt->ndev; i++) {
		struct pt_dev *d = pt_dev_of(pt, i);

		rc = devlog_start_one(d, pt);
		if (rc) {
			pt_msg(msg, len,
			       "vfio: Could not start dirty page tracking - %s: Failed to start DMA logging, err %d (%s)",
			       dev_name(d), rc, pt_strerror(rc));
			/* QEMU stops every device's logging on a failure. */
			devlog_stop_all(pt);
			return rc;
		}
		d->logging = true;
	}
	return 0;
}

/* Every device's log for [iova, iova + size) into the zeroed @bits. */
static int devlog_report(struct vmm_pt *pt, uint64_t iova, uint64_t size,
			 uint64_t *bits, char *msg, size_t len)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = size,
		.page_size = VMM_PAGE_SIZE,
		.bitmap = (uint64_t)(uintptr_t)bits,
	};

	for (unsigned int i = 0; i < pt->ndev; i++) {
		struct pt_dev *d = pt_dev_of(pt, i);
		int rc = device_feature(
			d->pub.fd,
			VFIO_DEVICE_FEATURE_GET |
				VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			&rep, sizeof(rep));

		if (rc) {
			pt_msg(msg, len,
			       "%s: Failed to get DMA logging report, iova: 0x%llx, size: 0x%llx: %s",
			       dev_name(d), (unsigned long long)iova,
			       (unsigned long long)size, pt_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* ---- the tracker choice (§1.5, §1.8) ---- */

static const char *const tracker_names[] = {
	[VMM_TRACKER_AUTO] = "auto",   [VMM_TRACKER_DEVICE] = "device",
	[VMM_TRACKER_IOMMU] = "iommu", [VMM_TRACKER_TYPE1] = "type1",
	[VMM_TRACKER_NONE] = "none",
};

const char *vmm_tracker_name(enum vmm_tracker t)
{
	return (unsigned int)t < ARRAY_SIZE(tracker_names) ? tracker_names[t] :
							     "?";
}

int vmm_tracker_parse(const char *name, enum vmm_tracker *t)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(tracker_names); i++) {
		if (!strcmp(name, tracker_names[i])) {
			*t = (enum vmm_tracker)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Does every device log its DMA (and may it be used)? */
static const struct pt_dev *first_without_logging(const struct vmm_pt *pt)
{
	for (unsigned int i = 0; i < pt->ndev; i++)
		if (!pt->dev[i].pub.dma_logging)
			return &pt->dev[i];
	return NULL;
}

/* Is every device behind an HWPT that tracks? */
static const struct pt_dev *first_without_iommu(const struct vmm_pt *pt)
{
	for (unsigned int i = 0; i < pt->ndev; i++)
		if (!pt->dev[i].pub.hwpt_dirty)
			return &pt->dev[i];
	return NULL;
}

/* The device QEMU's per-device check would block: neither tracker. */
static const struct pt_dev *first_without_tracker(const struct vmm_pt *pt)
{
	for (unsigned int i = 0; i < pt->ndev; i++) {
		const struct pt_dev *d = &pt->dev[i];
		bool vf = d->pub.dma_logging && pt->cfg.device_dirty_tracking;

		if (!vf && !d->pub.hwpt_dirty)
			return d;
	}
	return &pt->dev[0];
}

/*
 * §1.8 (QEMU, Jan 2026): more RAM than one type1 bitmap can describe
 * (max_dirty_bitmap_size * 8 pages, 8 TiB at 4 KiB) cannot be tracked.
 */
static bool type1_too_large(const struct vmm_pt *pt)
{
	uint64_t total = 0, limit;

	for (unsigned int i = 0; i < pt->nmap; i++)
		total += pt->map[i].size;
	if (__builtin_mul_overflow(pt->type1_max_bitmap, 8 * pt->type1_pgsize,
				   &limit))
		return false;
	return total > limit;
}

static void type1_large_msg(const struct vmm_pt *pt, char *msg, size_t len)
{
	pt_msg(msg, len,
	       "%s: Migration is currently not supported with large memory VM due to dirty tracking limitation in backend",
	       dev_name(&pt->dev[0]));
}

enum blocker_kind {
	BLOCK_NONE,
	BLOCK_SOFT, /* no usable tracker: enable-migration=on warns */
	BLOCK_HARD, /* QEMU fails even with enable-migration=on */
};

/*
 * The tracker @pt->cfg asks for, if it can be had: 0 and *@t, or a
 * blocker in @why.
 */
static enum blocker_kind pick_tracker(struct vmm_pt *pt, enum vmm_tracker *t,
				      char *why, size_t len)
{
	bool ddt = pt->cfg.device_dirty_tracking;
	bool iommufd = pt->cfg.backend == VMM_PT_IOMMUFD;
	const struct pt_dev *d;
	char reason[160] = "";

	switch (pt->cfg.tracker) {
	case VMM_TRACKER_AUTO:
		if (ddt && !first_without_logging(pt)) {
			*t = VMM_TRACKER_DEVICE;
			return BLOCK_NONE;
		}
		if (iommufd && !first_without_iommu(pt)) {
			*t = VMM_TRACKER_IOMMU;
			return BLOCK_NONE;
		}
		/*
		 * QEMU blocks here (enable-migration=auto) or warns (=on) for
		 * a legacy container too, then uses type1 anyway; vmm.h
		 * chooses type1 on a legacy container, with a warning when it
		 * cannot converge (vmm_pt_choose_tracker()).
		 */
		if (!iommufd &&
		    pt->be->tracker_usable(pt, reason, sizeof(reason))) {
			*t = VMM_TRACKER_TYPE1;
			return BLOCK_NONE;
		}
		d = first_without_tracker(pt);
		if (!iommufd && reason[0])
			pt_msg(why, len,
			       "%s: VFIO device doesn't support device and IOMMU dirty tracking (and type1: %s)",
			       dev_name(d), reason);
		else
			pt_msg(why, len,
			       "%s: VFIO device doesn't support device and IOMMU dirty tracking",
			       dev_name(d));
		return BLOCK_SOFT;
	case VMM_TRACKER_DEVICE:
		if (!ddt) {
			pt_msg(why, len,
			       "%s: device dirty tracking was requested but x-device-dirty-page-tracking is off",
			       dev_name(&pt->dev[0]));
			return BLOCK_SOFT;
		}
		d = first_without_logging(pt);
		if (d) {
			pt_msg(why, len,
			       "%s: VFIO device doesn't support device dirty tracking",
			       dev_name(d));
			return BLOCK_SOFT;
		}
		*t = VMM_TRACKER_DEVICE;
		return BLOCK_NONE;
	case VMM_TRACKER_IOMMU:
		if (!iommufd) {
			pt_msg(why, len,
			       "%s: VFIO device doesn't support IOMMU dirty tracking: the legacy VFIO container has none (use the iommufd backend)",
			       dev_name(&pt->dev[0]));
			return BLOCK_SOFT;
		}
		d = first_without_iommu(pt);
		if (d) {
			pt_msg(why, len,
			       "%s: VFIO device doesn't support IOMMU dirty tracking: attached to %s",
			       dev_name(d), d->pub.attach);
			return BLOCK_SOFT;
		}
		*t = VMM_TRACKER_IOMMU;
		return BLOCK_NONE;
	case VMM_TRACKER_TYPE1:
		if (iommufd) {
			pt_msg(why, len,
			       "%s: type1 dirty tracking needs the legacy VFIO container (iommufd has no VFIO_IOMMU_DIRTY_PAGES)",
			       dev_name(&pt->dev[0]));
			return BLOCK_SOFT;
		}
		if (!pt->be->tracker_usable(pt, reason, sizeof(reason))) {
			pt_msg(why, len, "%s: type1 dirty tracking: %s",
			       dev_name(&pt->dev[0]), reason);
			return BLOCK_SOFT;
		}
		*t = VMM_TRACKER_TYPE1;
		return BLOCK_NONE;
	default:
		pt_msg(why, len,
		       "%s: no DMA dirty tracker (tracker=none): what the device writes by DMA would not be migrated",
		       dev_name(&pt->dev[0]));
		return BLOCK_SOFT;
	}
}

/* The device-level blockers of QEMU's vfio_migration_realize(). */
static enum blocker_kind migration_blocker(const struct vmm_pt *pt, char *why,
					   size_t len)
{
	unsigned int migratable = 0;
	bool all_p2p = true;

	if (pt->cfg.enable_migration == VMM_OFF) {
		pt_msg(why, len, "%s: Migration is disabled for VFIO device",
		       dev_name(&pt->dev[0]));
		return BLOCK_HARD;
	}
	for (unsigned int i = 0; i < pt->ndev; i++) {
		const struct pt_dev *d = &pt->dev[i];

		if (d->mig_err == ENOTTY) {
			pt_msg(why, len,
			       "%s: VFIO migration is not supported in kernel",
			       dev_name(d));
			return BLOCK_HARD;
		}
		if (d->mig_err ||
		    !(d->pub.mig_flags & VFIO_MIGRATION_STOP_COPY)) {
			int err = d->mig_err ? d->mig_err : EOPNOTSUPP;

			pt_msg(why, len,
			       "%s: Migration couldn't be initialized for VFIO device, err: %d (%s)",
			       dev_name(d), -err, pt_strerror(err));
			return BLOCK_HARD;
		}
		migratable++;
		all_p2p &= !!(d->pub.mig_flags & VFIO_MIGRATION_P2P);
	}
	if (migratable > 1 && !all_p2p) {
		pt_msg(why, len,
		       "Multiple VFIO devices migration is supported only if all of them support P2P migration");
		return BLOCK_HARD;
	}
	return BLOCK_NONE;
}

int vmm_pt_choose_tracker(struct vmm_pt *pt, enum vmm_tracker *chosen,
			  char *msg, size_t msglen)
{
	enum vmm_tracker t = VMM_TRACKER_NONE;
	enum blocker_kind kind;
	char why[VMM_MSG_LEN] = "";

	if (pt->started) {
		pt_msg(msg, msglen,
		       "dirty tracking is running with the %s tracker: stop it first",
		       vmm_tracker_name(pt->tracker));
		return -EBUSY;
	}
	pt_msg(msg, msglen, "%s", "");
	if (!pt->ndev) {
		/* No passthrough device: nothing DMAs, nothing to block. */
		pt->tracker = VMM_TRACKER_NONE;
		pt->chosen = true;
		if (chosen)
			*chosen = pt->tracker;
		return 0;
	}
	kind = migration_blocker(pt, why, sizeof(why));
	if (kind == BLOCK_NONE)
		kind = pick_tracker(pt, &t, why, sizeof(why));
	if (kind == BLOCK_NONE && t == VMM_TRACKER_TYPE1 &&
	    type1_too_large(pt)) {
		type1_large_msg(pt, why, sizeof(why));
		kind = BLOCK_HARD;
		t = VMM_TRACKER_NONE;
	}

	if (kind != BLOCK_NONE) {
		bool on = pt->cfg.enable_migration == VMM_ON;
		char text[2 * VMM_MSG_LEN];

		if (!pt->cfg.force && !(on && kind == BLOCK_SOFT)) {
			pt_msg(msg, msglen, "%s", why);
			pr_info(pt->cfg.log, "migration blocked: %s", why);
			pt->tracker = VMM_TRACKER_NONE;
			pt->chosen = false;
			if (chosen)
				*chosen = VMM_TRACKER_NONE;
			return -EPERM;
		}
		snprintf(
			text, sizeof(text),
			"%s (%s: migrating with no DMA dirty tracker; what devices write by DMA will be lost)",
			why, pt->cfg.force ? "forced" : "enable-migration=on");
		pt_msg(msg, msglen, "%s", text);
		pr_warn(pt->cfg.log, "%s", text);
		t = VMM_TRACKER_NONE;
	} else if (t == VMM_TRACKER_TYPE1) {
		const struct pt_dev *backed = NULL;

		for (unsigned int i = 0; i < pt->ndev && !backed; i++)
			if (!pt->dev[i].pub.mdev)
				backed = &pt->dev[i];
		if (backed) {
			snprintf(
				why, sizeof(why),
				"%s: type1 dirty tracking reports every mapped page dirty while an IOMMU-backed device is in the container: precopy will not converge",
				dev_name(backed));
			pt_msg(msg, msglen, "%s", why);
			pr_warn(pt->cfg.log, "%s", why);
		}
	}
	pt->tracker = t;
	pt->chosen = true;
	if (chosen)
		*chosen = t;
	pr_info(pt->cfg.log, "DMA dirty tracker: %s", vmm_tracker_name(t));
	return 0;
}

enum vmm_tracker vmm_pt_tracker(const struct vmm_pt *pt)
{
	return pt->tracker;
}

/* ---- start, stop, sync ---- */

int vmm_pt_dirty_start(struct vmm_pt *pt, char *msg, size_t msglen)
{
	int rc;

	if (pt->started)
		return 0;
	if (!pt->chosen) {
		rc = vmm_pt_choose_tracker(pt, NULL, msg, msglen);
		if (rc)
			return rc;
	}
	switch (pt->tracker) {
	case VMM_TRACKER_DEVICE:
		rc = devlog_start(pt, msg, msglen);
		break;
	case VMM_TRACKER_TYPE1:
		/* RAM mapped since the choice may have outgrown the bitmap. */
		if (type1_too_large(pt)) {
			type1_large_msg(pt, msg, msglen);
			rc = -EPERM;
			break;
		}
		/* fall through */
	case VMM_TRACKER_IOMMU:
		rc = pt->be->set_tracking(pt, true, msg, msglen);
		break;
	default:
		rc = 0;
	}
	if (rc) {
		pr_err(pt->cfg.log, "%s", msg ? msg : "dirty tracking start");
		return rc;
	}
	pt->started = true;
	return 0;
}

int vmm_pt_dirty_stop(struct vmm_pt *pt)
{
	char msg[VMM_MSG_LEN] = "";
	int rc = 0;

	if (!pt->started)
		return 0;
	switch (pt->tracker) {
	case VMM_TRACKER_DEVICE:
		for (unsigned int i = 0; i < pt->ndev; i++) {
			struct pt_dev *d = pt_dev_of(pt, i);
			int err;

			if (!d->logging)
				continue;
			err = devlog_stop_one(d);
			if (err) {
				pr_err(pt->cfg.log,
				       "%s: Failed to stop DMA logging, err %d (%s)",
				       dev_name(d), err, pt_strerror(err));
				rc = rc ? rc : err;
			}
			d->logging = false;
		}
		break;
	case VMM_TRACKER_IOMMU:
	case VMM_TRACKER_TYPE1:
		rc = pt->be->set_tracking(pt, false, msg, sizeof(msg));
		if (rc)
			pr_err(pt->cfg.log, "%s", msg);
		break;
	default:
		break;
	}
	pt->started = false;
	return rc;
}

/*
 * With x-pre-copy-dirty-page-tracking off QEMU does not sync while a
 * device is RUNNING or in PRE_COPY (vfio_log_sync_needed()).
 */
static bool sync_deferred(const struct vmm_pt *pt)
{
	if (pt->cfg.precopy_dirty_tracking)
		return false;
	for (unsigned int i = 0; i < pt->ndev; i++) {
		int st = device_mig_state(&pt->dev[i]);

		/* Unknown state: defer; the tracker keeps the bits. */
		if (st < 0 || st == VFIO_DEVICE_STATE_RUNNING ||
		    st == VFIO_DEVICE_STATE_RUNNING_P2P ||
		    st == VFIO_DEVICE_STATE_PRE_COPY ||
		    st == VFIO_DEVICE_STATE_PRE_COPY_P2P)
			return true;
	}
	return false;
}

/* One query of the running tracker over part of map @m. */
static int tracker_query(struct vmm_pt *pt, const struct pt_map *m,
			 uint64_t iova, uint64_t size, uint64_t *bits,
			 bool no_clear, char *msg, size_t len)
{
	if (pt->tracker == VMM_TRACKER_DEVICE)
		return devlog_report(pt, iova, size, bits, msg, len);
	return pt->be->query(pt, m, iova, size, bits, no_clear, msg, len);
}

static uint64_t query_window(const struct vmm_pt *pt, const struct pt_map *m)
{
	uint64_t w = pt->tracker == VMM_TRACKER_DEVICE ? PT_QUERY_WINDOW :
							 pt->be->query_window;

	return w && w < m->size ? w : m->size;
}

/*
 * Map @m's dirty pages into @dirty, a window at a time; *@pages += what
 * the tracker reported.
 */
static int map_sync(struct vmm_pt *pt, const struct pt_map *m,
		    struct vmm_dirty *dirty, bool no_clear, uint64_t *pages,
		    char *msg, size_t len)
{
	uint64_t window = query_window(pt, m);

	for (uint64_t off = 0; off < m->size; off += window) {
		uint64_t n = m->size - off < window ? m->size - off : window;
		uint64_t *bits = scratch_bits(pt, n >> VMM_PAGE_SHIFT);
		int rc;

		if (!bits) {
			pt_msg(msg, len, "out of memory for a dirty bitmap");
			return -ENOMEM;
		}
		rc = tracker_query(pt, m, m->gpa + off, n, bits, no_clear, msg,
				   len);
		if (rc)
			return rc;
		*pages += vmm_dirty_or(dirty, m->gpa + off, bits,
				       n >> VMM_PAGE_SHIFT);
	}
	return 0;
}

int vmm_pt_dirty_sync(struct vmm_pt *pt, struct vmm_dirty *dirty,
		      uint64_t *pages, char *msg, size_t msglen)
{
	uint64_t total = 0;
	int rc = 0;

	if (pages)
		*pages = 0;
	if (!pt->started || pt->tracker == VMM_TRACKER_NONE)
		return 0;
	if (sync_deferred(pt)) {
		pr_debug(
			pt->cfg.log,
			"DMA dirty sync deferred: a device runs and x-pre-copy-dirty-page-tracking is off");
		return 0;
	}
	for (unsigned int i = 0; i < pt->nmap && !rc; i++)
		rc = map_sync(pt, &pt->map[i], dirty, false, &total, msg,
			      msglen);
	if (pages)
		*pages = total;
	if (rc)
		pr_err(pt->cfg.log, "DMA dirty sync (%s): %s",
		       vmm_tracker_name(pt->tracker), msg ? msg : "failed");
	return rc;
}

/* ---- unmap (§1.7) ---- */

/*
 * Unmap @m, harvesting first what the tracker holds for it. *@unmapped
 * says whether the mapping is gone (a harvest may fail after the unmap).
 */
static int map_unmap(struct vmm_pt *pt, const struct pt_map *m,
		     struct vmm_dirty *dirty, bool *unmapped)
{
	bool harvest = pt->started && pt->tracker != VMM_TRACKER_NONE && dirty;
	char msg[VMM_MSG_LEN] = "";
	uint64_t pages = 0, *bits;
	int rc, qrc = 0;

	*unmapped = false;
	if (!harvest) {
		rc = pt->be->unmap(pt, m);
		*unmapped = !rc;
		return rc;
	}
	if (pt->tracker == VMM_TRACKER_DEVICE) {
		/* The device's log outlives the mapping: unmap, then report. */
		rc = pt->be->unmap(pt, m);
		if (rc)
			return rc;
		*unmapped = true;
		qrc = map_sync(pt, m, dirty, false, &pages, msg, sizeof(msg));
	} else if (pt->be->unmap_harvest) {
		/* type1: one UNMAP_DMA that also returns the bitmap. */
		bits = scratch_bits(pt, m->size >> VMM_PAGE_SHIFT);
		if (!bits)
			return -ENOMEM;
		rc = pt->be->unmap_harvest(pt, m, bits, msg, sizeof(msg));
		if (rc) {
			pr_err(pt->cfg.log, "%s", msg);
			return rc;
		}
		*unmapped = true;
		pages = vmm_dirty_or(dirty, m->gpa, bits,
				     m->size >> VMM_PAGE_SHIFT);
	} else {
		/*
		 * iommufd: read without clearing, then unmap even if the read
		 * failed (a stale mapping is worse), and fail with the read's
		 * error so the migration does not go on missing pages.
		 */
		qrc = map_sync(pt, m, dirty, true, &pages, msg, sizeof(msg));
		rc = pt->be->unmap(pt, m);
		if (rc)
			return rc;
		*unmapped = true;
	}
	if (qrc) {
		pr_err(pt->cfg.log,
		       "unmap gpa 0x%llx size 0x%llx: dirty pages not harvested: %s",
		       (unsigned long long)m->gpa, (unsigned long long)m->size,
		       msg);
		return qrc;
	}
	pr_debug(pt->cfg.log, "unmap gpa 0x%llx size 0x%llx: %llu dirty pages",
		 (unsigned long long)m->gpa, (unsigned long long)m->size,
		 (unsigned long long)pages);
	return 0;
}

int vmm_pt_unmap_ram(struct vmm_pt *pt, uint64_t gpa, uint64_t size,
		     struct vmm_dirty *dirty)
{
	uint64_t last;
	bool found = false;
	int rc = 0;

	if (!size)
		return -EINVAL;
	if (__builtin_add_overflow(gpa, size - 1, &last))
		return -EOVERFLOW;
	/* Whole mappings only: the kernel never splits one (ENOENT/EINVAL). */
	for (unsigned int i = 0; i < pt->nmap; i++) {
		const struct pt_map *m = &pt->map[i];
		uint64_t mlast = m->gpa + m->size - 1;

		if (mlast < gpa || m->gpa > last)
			continue;
		if (m->gpa < gpa || mlast > last) {
			pr_err(pt->cfg.log,
			       "unmap gpa 0x%llx size 0x%llx would split the mapping at 0x%llx size 0x%llx",
			       (unsigned long long)gpa,
			       (unsigned long long)size,
			       (unsigned long long)m->gpa,
			       (unsigned long long)m->size);
			return -EINVAL;
		}
		found = true;
	}
	if (!found)
		return -ENOENT;
	for (unsigned int i = 0; i < pt->nmap;) {
		const struct pt_map *m = &pt->map[i];
		bool unmapped;
		int err;

		if (m->gpa + m->size - 1 < gpa || m->gpa > last) {
			i++;
			continue;
		}
		err = map_unmap(pt, m, dirty, &unmapped);
		if (err && !unmapped)
			pr_err(pt->cfg.log,
			       "unmap gpa 0x%llx size 0x%llx for DMA: %s",
			       (unsigned long long)m->gpa,
			       (unsigned long long)m->size, pt_strerror(err));
		if (unmapped)
			map_remove(pt, i);
		else
			i++;
		rc = rc ? rc : err;
	}
	return rc;
}
