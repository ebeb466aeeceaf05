// SPDX-License-Identifier: MIT
/*
 * vfio_main.c - emulated VFIO devices: the host's device set, device files
 * (cdev and group-obtained), their ioctls, regions and features.
 *
 * Linux drivers/vfio/vfio_main.c, device_cdev.c, iommufd.c and
 * pci/vfio_pci_core.c, per shared/spec/kernel-abi.md §4-§5: a cdev file
 * may do nothing but VFIO_DEVICE_BIND_IOMMUFD until bound (EINVAL); the
 * feature ioctl checks argsz, flags and GET/SET/PROBE before the feature
 * (ENOTTY for one the device lacks); regions sit at index << 40 in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>

#include "vfio_private.h"

#define VFIO_PCI_OFFSET_SHIFT 40
#define VFIO_PCI_OFFSET_MASK  ((1ULL << VFIO_PCI_OFFSET_SHIFT) - 1)

/* An ID pair from the range of emulated (not real) PCI devices. */
#define IODIRTY_PCI_VENDOR 0x1b36
#define IODIRTY_PCI_DEVICE 0x11d0

static const char *const kind_names[VFIO_DEV_KIND_NR] = {
	[VFIO_DEV_DMA] = "dma",
	[VFIO_DEV_DMA_NODIRTY] = "dma-nodirty",
	[VFIO_DEV_DMA_LOG] = "dma-log",
	[VFIO_DEV_MDEV] = "mdev",
};

const char *vfio_dev_kind_name(enum vfio_dev_kind kind)
{
	return (unsigned int)kind < VFIO_DEV_KIND_NR ? kind_names[kind] : "?";
}

int vfio_dev_kind_parse(const char *name, enum vfio_dev_kind *kind)
{
	for (unsigned int i = 0; i < VFIO_DEV_KIND_NR; i++) {
		if (!strcmp(name, kind_names[i])) {
			*kind = (enum vfio_dev_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool vfio_device_is_mdev(const struct vfio_device *dev)
{
	return dev->kind == VFIO_DEV_MDEV;
}

/* The DMA path of an mdev: through whatever its driver is attached to. */
static int mdev_dma_write(void *opaque, uint64_t iova, const void *buf,
			  size_t len, struct pt_fault *fault)
{
	struct vfio_device *dev = opaque;
	struct vfio_container *c = NULL;
	int rc = -EFAULT;

	pthread_rwlock_rdlock(&dev->path_lock);
	if (dev->access) {
		rc = iommufd_access_rw(dev->access, iova,
				       (void *)(uintptr_t)buf, len, true,
				       fault);
	} else if (dev->container) {
		c = dev->container;
		vfio_container_get(c);
	}
	pthread_rwlock_unlock(&dev->path_lock);
	/*
	 * Not under path_lock: the container's lock nests outside it
	 * (attach and detach take path_lock under it).
	 */
	if (c) {
		rc = vfio_container_pin_write(c, iova, buf, len, fault);
		vfio_container_put(c);
	}
	/*
	 * Nowhere to go: not bound, or an access not attached to an IOAS
	 * (iommufd_access_rw() is -ENOENT then and says nothing of where).
	 */
	if (rc && rc != -EFAULT) {
		if (fault)
			*fault = (struct pt_fault){ PT_FAULT_NOT_PRESENT, iova,
						    true };
		rc = -EFAULT;
	}
	return rc;
}

static int iommu_path_write(void *opaque, uint64_t iova, const void *buf,
			    size_t len, struct pt_fault *fault)
{
	return iommu_dma_write(opaque, iova, buf, len, fault);
}

static void config_init(struct vfio_device *dev)
{
	uint8_t *c = dev->config;

	memset(c, 0, sizeof(dev->config));
	c[0x00] = IODIRTY_PCI_VENDOR & 0xff;
	c[0x01] = IODIRTY_PCI_VENDOR >> 8;
	c[0x02] = IODIRTY_PCI_DEVICE & 0xff;
	c[0x03] = IODIRTY_PCI_DEVICE >> 8;
	c[0x08] = 1;		/* revision */
	c[0x0b] = 0xff;		/* class: unassigned */
	c[0x2c] = IODIRTY_PCI_VENDOR & 0xff; /* subsystem vendor */
	c[0x2d] = IODIRTY_PCI_VENDOR >> 8;
	c[0x2e] = (uint8_t)dev->kind;
}

static int device_init(struct vfio_host *host, unsigned int i,
		       enum vfio_dev_kind kind)
{
	struct vfio_device *dev = &host->dev[i];
	struct dma_dev_config cfg = { .index = i, .log = host->log };
	struct dma_path path;

	dev->host = host;
	dev->index = i;
	dev->kind = kind;
	snprintf(dev->name, sizeof(dev->name), "0000:00:%02x.0", i + 1);
	dev->group.dev = dev;
	dev->mig_state = VFIO_DEVICE_STATE_RUNNING;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_rwlock_init(&dev->path_lock, NULL);
	cfg.caps = DMA_CAP_PRECOPY;
	if (kind == VFIO_DEV_DMA_LOG)
		cfg.caps |= DMA_CAP_LOG;
	if (kind == VFIO_DEV_MDEV)
		cfg.caps |= DMA_CAP_MDEV;
	dev->dma = dma_dev_create(&cfg);
	if (IS_ERR(dev->dma)) {
		pthread_rwlock_destroy(&dev->path_lock);
		pthread_mutex_destroy(&dev->lock);
		return (int)PTR_ERR(dev->dma);
	}
	if (kind == VFIO_DEV_MDEV) {
		path = (struct dma_path){ mdev_dma_write, dev };
	} else {
		iommu_dev_init(&dev->iodev,
			       kind == VFIO_DEV_DMA_NODIRTY ?
				       &host->unit_nodirty :
				       &host->unit_dirty,
			       dev->name, 0);
		path = (struct dma_path){ iommu_path_write, &dev->iodev };
	}
	dma_dev_set_path(dev->dma, &path);
	config_init(dev);
	return 0;
}

static void device_fini(struct vfio_device *dev)
{
	dma_dev_destroy(dev->dma);
	if (dev->kind != VFIO_DEV_MDEV)
		iommu_dev_destroy(&dev->iodev);
	pthread_rwlock_destroy(&dev->path_lock);
	pthread_mutex_destroy(&dev->lock);
}

struct vfio_host *vfio_host_create(const struct vfio_host_config *cfg)
{
	const char *list = cfg->devices && *cfg->devices ? cfg->devices : "dma";
	struct vfio_host *host;
	char name[32];
	int rc;

	host = xzalloc(sizeof(*host));
	if (!host)
		return ERR_PTR(-ENOMEM);
	host->log = cfg->log;
	host->iommufd = cfg->iommufd;
	host->unit_dirty = (struct iommu_unit){ cfg->iommu, 0, true };
	host->unit_nodirty = (struct iommu_unit){ cfg->iommu, 1, false };
	pthread_mutex_init(&host->lock, NULL);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		enum vfio_dev_kind kind;

		if (n >= sizeof(name) || !n) {
			pr_err(host->log, "devices: bad entry in '%s'", list);
			rc = -EINVAL;
			goto err_destroy;
		}
		memcpy(name, p, n);
		name[n] = 0;
		if (vfio_dev_kind_parse(name, &kind)) {
			pr_err(host->log,
			       "devices: unknown kind '%s' (dma, dma-nodirty, dma-log, mdev)",
			       name);
			rc = -EINVAL;
			goto err_destroy;
		}
		if (host->ndevices == VFIO_MAX_DEVICES) {
			pr_err(host->log, "devices: more than %d",
			       VFIO_MAX_DEVICES);
			rc = -EINVAL;
			goto err_destroy;
		}
		rc = device_init(host, host->ndevices, kind);
		if (rc)
			goto err_destroy;
		host->ndevices++;
		p += n;
		if (*p == ',')
			p++;
	}
	return host;

err_destroy:
	vfio_host_destroy(host);
	return ERR_PTR(rc);
}

void vfio_host_destroy(struct vfio_host *host)
{
	if (!host)
		return;
	for (unsigned int i = 0; i < host->ndevices; i++)
		device_fini(&host->dev[i]);
	pthread_mutex_destroy(&host->lock);
	xfree(host);
}

unsigned int vfio_host_ndevices(const struct vfio_host *host)
{
	return host->ndevices;
}

struct dma_dev *vfio_host_dma_dev(struct vfio_host *host, unsigned int i)
{
	return i < host->ndevices ? host->dev[i].dma : NULL;
}

enum vfio_dev_kind vfio_host_dev_kind(const struct vfio_host *host,
				      unsigned int i)
{
	return host->dev[i].kind;
}

size_t vfio_host_describe(const struct vfio_host *host, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len,
				    "# index name kind cdev group iommu iommu_dirty dma_logging migration\n");

	for (unsigned int i = 0; i < host->ndevices; i++) {
		const struct vfio_device *d = &host->dev[i];
		bool mdev = d->kind == VFIO_DEV_MDEV;

		n += (size_t)snprintf(buf + (n < len ? n : len),
				      n < len ? len - n : 0,
				      "%u %s %s /dev/vfio/devices/vfio%u /dev/vfio/%u %s %d %d %s\n",
				      i, d->name, vfio_dev_kind_name(d->kind), i,
				      i, mdev ? "none" : host->unit_dirty.drv->name,
				      !mdev && d->kind != VFIO_DEV_DMA_NODIRTY,
				      d->kind == VFIO_DEV_DMA_LOG,
				      "stop-copy,p2p,pre-copy");
	}
	return n;
}

/* ---- Regions: BAR0 and config space, at index << 40 in the file. ---- */

static int bar0_rw(struct vfio_device *dev, void *buf, size_t n, uint64_t off,
		   bool write)
{
	size_t done = 0;

	/* vfio_pci_bar_rw(): from past the end is EINVAL, up to it is cut. */
	if (off >= DMA_BAR0_SIZE)
		return -EINVAL;
	/* Split into naturally aligned accesses of up to 8 bytes. */
	while (done < n) {
		uint64_t o = off + done;
		unsigned int sz = 8;
		int rc;

		while (sz > 1 && ((o % sz) || n - done < sz))
			sz /= 2;
		if (o >= DMA_BAR0_SIZE)
			break;
		rc = write ? dma_dev_reg_write(dev->dma, (uint32_t)o,
					       (uint8_t *)buf + done, sz) :
			     dma_dev_reg_read(dev->dma, (uint32_t)o,
					      (uint8_t *)buf + done, sz);
		if (rc)
			return rc;
		done += sz;
	}
	return (int)done;
}

static int config_rw(struct vfio_device *dev, void *buf, size_t n,
		     uint64_t off, bool write)
{
	/* vfio_config_do_rw(): any byte past the config space is EFAULT. */
	if (off >= sizeof(dev->config) || n > sizeof(dev->config) - off)
		return -EFAULT;
	if (!write) {
		memcpy(buf, dev->config + off, n);
		return (int)n;
	}
	/* Command register and BAR0 take writes; the rest is read-only. */
	for (size_t i = 0; i < n; i++) {
		uint64_t o = off + i;
		uint8_t v = ((uint8_t *)buf)[i];

		if (o == 0x04 || o == 0x05)
			dev->config[o] = v;
		else if (o >= 0x10 && o < 0x14)
			dev->config[o] = o == 0x10 ? (v & 0x00) :
				o == 0x11 ? (v & 0xf0) : v;
	}
	return (int)n;
}

static ssize_t region_rw(struct vfio_device_file *df, void *buf, size_t n,
			 off_t pos, bool write)
{
	uint64_t index = (uint64_t)pos >> VFIO_PCI_OFFSET_SHIFT;
	uint64_t off = (uint64_t)pos & VFIO_PCI_OFFSET_MASK;

	if (!df->access_granted || pos < 0)
		return -EINVAL;
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		return bar0_rw(df->dev, buf, n, off, write);
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return config_rw(df->dev, buf, n, off, write);
	default:
		return -EINVAL;
	}
}

static ssize_t device_pread(struct emu_file *f, void *buf, size_t n, off_t off)
{
	return region_rw(f->priv, buf, n, off, false);
}

static ssize_t device_pwrite(struct emu_file *f, const void *buf, size_t n,
			     off_t off)
{
	return region_rw(f->priv, (void *)(uintptr_t)buf, n, off, true);
}

static int device_mmap(struct emu_file *f, void *addr, size_t len, int prot,
		       int flags, off_t off, void **out)
{
	struct vfio_device_file *df = f->priv;
	uint64_t index = (uint64_t)off >> VFIO_PCI_OFFSET_SHIFT;
	uint64_t roff = (uint64_t)off & VFIO_PCI_OFFSET_MASK;
	void *p;

	if (!df->access_granted)
		return -EINVAL;
	if (index != VFIO_PCI_BAR0_REGION_INDEX || !(flags & MAP_SHARED))
		return -EINVAL;
	if (!len || roff + len > DMA_BAR0_SIZE)
		return -EINVAL;
	p = (void *)syscall(SYS_mmap, addr, len, prot, flags,
			    dma_dev_bar0_fd(df->dev->dma), (off_t)roff);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/* ---- ioctls ---- */

static int device_get_info(struct vfio_device_file *df, uint64_t arg)
{
	struct vfio_device_info info;
	size_t minsz = offsetofend(struct vfio_device_info, num_irqs);

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	(void)df;
	info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static int device_get_region_info(struct vfio_device_file *df, uint64_t arg)
{
	struct vfio_region_info info;
	size_t minsz = offsetofend(struct vfio_region_info, offset);

	(void)df;
	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	info.offset = (uint64_t)info.index << VFIO_PCI_OFFSET_SHIFT;
	info.cap_offset = 0;
	switch (info.index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		info.size = DMA_BAR0_SIZE;
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE |
			     VFIO_REGION_INFO_FLAG_MMAP;
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		info.size = sizeof(df->dev->config);
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE;
		break;
	case VFIO_PCI_VGA_REGION_INDEX:
		return -EINVAL;	/* vfio_pci_core: !vdev->has_vga */
	default:
		info.size = 0;	/* unimplemented BAR, ROM */
		info.flags = 0;
	}
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static int device_get_irq_info(uint64_t arg)
{
	struct vfio_irq_info info;
	size_t minsz = offsetofend(struct vfio_irq_info, count);

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	/* The error IRQ is for PCIe devices only; this one has no PCIe cap. */
	if (info.index == VFIO_PCI_ERR_IRQ_INDEX)
		return -EINVAL;
	/* The engine raises no interrupts: every index has count 0. */
	info.flags = info.index == VFIO_PCI_INTX_IRQ_INDEX ?
			     VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
				     VFIO_IRQ_INFO_AUTOMASKED :
			     VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	info.count = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/*
 * vfio_set_irqs_validate_and_prepare() with a count of 0 for every index:
 * start >= count, so there is nothing SET_IRQS can set (EINVAL), whatever
 * the flags, a "disable" of count 0 included.
 */
static int device_set_irqs(uint64_t arg)
{
	struct vfio_irq_set set;
	size_t minsz = offsetofend(struct vfio_irq_set, count);

	if (copy_from_user(&set, arg, minsz))
		return -EFAULT;
	return -EINVAL;
}

static int device_reset(struct vfio_device_file *df)
{
	dma_dev_reset(df->dev->dma);
	vfio_mig_reset(df->dev);
	return 0;
}

int vfio_check_feature(uint32_t flags, uint32_t argsz, uint32_t supported_ops,
		       size_t minsz)
{
	if ((flags & VFIO_DEVICE_FEATURE_GET) &&
	    !(supported_ops & VFIO_DEVICE_FEATURE_GET))
		return -EINVAL;
	if ((flags & VFIO_DEVICE_FEATURE_SET) &&
	    !(supported_ops & VFIO_DEVICE_FEATURE_SET))
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (argsz < sizeof(struct vfio_device_feature) + minsz)
		return -EINVAL;
	return 1;
}

static int device_feature(struct vfio_device_file *df, uint64_t arg)
{
	struct vfio_device_feature feature;
	uint32_t id;

	if (copy_from_user(&feature, arg, sizeof(feature)))
		return -EFAULT;
	if (feature.argsz < sizeof(feature))
		return -EINVAL;
	if (feature.flags &
	    ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
	      VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (!(feature.flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (feature.flags & VFIO_DEVICE_FEATURE_GET) &&
	    (feature.flags & VFIO_DEVICE_FEATURE_SET))
		return -EINVAL;
	id = feature.flags & VFIO_DEVICE_FEATURE_MASK;
	arg += sizeof(feature);
	switch (id) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		return vfio_mig_feature(df->dev, feature.flags, arg,
					feature.argsz);
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return vfio_mig_state_feature(df->dev, feature.flags, arg,
					      feature.argsz);
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		return vfio_mig_data_size_feature(df->dev, feature.flags, arg,
						  feature.argsz);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return vfio_dma_logging_feature(df->dev, id, feature.flags,
						arg, feature.argsz);
	default:
		return -ENOTTY;
	}
}

int vfio_fd_kind_err(int fd)
{
	return fd >= 0 && syscall(SYS_fcntl, fd, F_GETFD) != -1 ? -EBADFD :
								  -EBADF;
}

/* The iommufd fd a BIND names: the kernel's iommufd_ctx_from_fd(). */
static struct iommufd_ctx *iommufd_from_fd(int fd, struct emu_file **f)
{
	*f = emu_fd_get(fd, &iommufd_fops);
	return *f ? (*f)->priv : NULL;
}

static int device_bind_iommufd(struct vfio_device_file *df, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_device_bind_iommufd, out_devid);
	struct vfio_device_bind_iommufd bind;
	struct vfio_device *dev = df->dev;
	struct iommufd_ctx *ictx;
	struct emu_file *f = NULL;
	int rc = 0;

	if (copy_from_user(&bind, arg, minsz))
		return -EFAULT;
	if (bind.argsz < minsz || bind.flags || bind.iommufd < 0)
		return -EINVAL;
	if (df->via_group)
		return -EINVAL;

	/* In the order of Linux vfio_df_ioctl_bind_iommufd(). */
	pthread_mutex_lock(&dev->lock);
	/* vfio_device_block_group(): not while its group is in use. */
	if (dev->group.open) {
		rc = -EBUSY;
		goto out_unlock;
	}
	if (df->access_granted) {
		rc = -EINVAL;
		goto out_unlock;
	}
	ictx = iommufd_from_fd(bind.iommufd, &f);
	if (!ictx) {
		rc = vfio_fd_kind_err(bind.iommufd);
		goto out_unlock;
	}
	/* vfio_df_open(): the cdev path opens a device only once. */
	if (dev->owner) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (vfio_device_is_mdev(dev)) {
		struct iommufd_access *access;

		access = iommufd_access_create(ictx, &bind.out_devid);
		if (IS_ERR(access)) {
			rc = (int)PTR_ERR(access);
			goto out_unlock;
		}
		pthread_rwlock_wrlock(&dev->path_lock);
		dev->access = access;
		pthread_rwlock_unlock(&dev->path_lock);
	} else {
		struct iommufd_device *idev;

		idev = iommufd_device_bind(ictx, &dev->iodev, &bind.out_devid);
		if (IS_ERR(idev)) {
			rc = (int)PTR_ERR(idev);
			goto out_unlock;
		}
		dev->idev = idev;
	}
	dev->ictx = ictx;
	dev->owner = df;
	df->devid = bind.out_devid;
	df->access_granted = true;
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	if (f)
		emu_file_put(f);
	if (rc)
		return rc;
	return copy_to_user(arg + offsetof(struct vfio_device_bind_iommufd,
					   out_devid),
			    &bind.out_devid, sizeof(bind.out_devid)) ?
		       -EFAULT :
		       0;
}

static void device_unbind(struct vfio_device *dev)
{
	struct iommufd_access *access;

	pthread_rwlock_wrlock(&dev->path_lock);
	access = dev->access;
	dev->access = NULL;
	pthread_rwlock_unlock(&dev->path_lock);
	if (access)
		iommufd_access_destroy(access);
	if (dev->idev) {
		iommufd_device_unbind(dev->idev);
		dev->idev = NULL;
	}
	dev->ictx = NULL;
}

static int device_attach_pt(struct vfio_device_file *df, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_device_attach_iommufd_pt, pt_id);
	struct vfio_device_attach_iommufd_pt attach;
	struct vfio_device *dev = df->dev;
	int rc;

	if (copy_from_user(&attach, arg, minsz))
		return -EFAULT;
	if (attach.argsz < minsz || attach.flags)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->access) {
		rc = iommufd_access_attach(dev->access, attach.pt_id);
		if (rc == -EINVAL)	/* already attached: replace */
			rc = iommufd_access_replace(dev->access, attach.pt_id);
	} else {
		rc = iommufd_device_attach(dev->idev, &attach.pt_id);
		if (rc == -EINVAL && dev->iodev.domain)
			rc = iommufd_device_replace(dev->idev, &attach.pt_id);
	}
	pthread_mutex_unlock(&dev->lock);
	if (rc)
		return rc;
	return copy_to_user(arg + offsetof(struct vfio_device_attach_iommufd_pt,
					   pt_id),
			    &attach.pt_id, sizeof(attach.pt_id)) ?
		       -EFAULT :
		       0;
}

static int device_detach_pt(struct vfio_device_file *df, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_device_detach_iommufd_pt, flags);
	struct vfio_device_detach_iommufd_pt detach;
	struct vfio_device *dev = df->dev;

	if (copy_from_user(&detach, arg, minsz))
		return -EFAULT;
	if (detach.argsz < minsz || detach.flags)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->access)
		iommufd_access_detach(dev->access);
	else
		iommufd_device_detach(dev->idev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

long vfio_device_ioctl(struct vfio_device_file *df, unsigned long cmd,
		       uint64_t arg)
{
	if (cmd == VFIO_DEVICE_BIND_IOMMUFD)
		return device_bind_iommufd(df, arg);
	if (!df->access_granted)
		return -EINVAL;
	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return device_get_info(df, arg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return device_get_region_info(df, arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return device_get_irq_info(arg);
	case VFIO_DEVICE_SET_IRQS:
		return device_set_irqs(arg);
	case VFIO_DEVICE_RESET:
		return device_reset(df);
	case VFIO_DEVICE_FEATURE:
		return device_feature(df, arg);
	/*
	 * cdev-only ioctls: on a file from a group they reach vfio-pci's
	 * own ioctl, which does not know them (Linux
	 * vfio_device_fops_unl_ioctl()).
	 */
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
		return df->via_group ? -ENOTTY : device_attach_pt(df, arg);
	case VFIO_DEVICE_DETACH_IOMMUFD_PT:
		return df->via_group ? -ENOTTY : device_detach_pt(df, arg);
	default:
		return -ENOTTY;
	}
}

static long device_fop_ioctl(struct emu_file *f, unsigned long cmd,
			     uint64_t arg)
{
	return vfio_device_ioctl(f->priv, cmd, arg);
}

static void device_fop_release(struct emu_file *f)
{
	struct vfio_device_file *df = f->priv;
	struct vfio_device *dev = df->dev;
	bool release_group = false;

	pthread_mutex_lock(&dev->lock);
	if (dev->owner == df || (df->via_group && !--dev->group_files)) {
		/* A device is stopped and reset when its last user goes. */
		dma_dev_reset(dev->dma);
		vfio_mig_reset(dev);
		device_unbind(dev);
		if (dev->owner == df)
			dev->owner = NULL;
		/* Its group's fd was closed first: the group goes now. */
		release_group = df->via_group && dev->group.release_pending;
		dev->group.release_pending = false;
	}
	pthread_mutex_unlock(&dev->lock);
	if (release_group)
		vfio_group_release(&dev->group);
	xfree(df);
}

const struct emu_fops vfio_device_fops = {
	.name = "iodirty-vfio-device",
	.ioctl = device_fop_ioctl,
	.pread = device_pread,
	.pwrite = device_pwrite,
	.mmap = device_mmap,
	.release = device_fop_release,
};

int vfio_device_file_open(struct vfio_device *dev, bool via_group, int flags)
{
	struct vfio_device_file *df = xzalloc(sizeof(*df));
	int fd;

	if (!df)
		return -ENOMEM;
	df->dev = dev;
	df->via_group = via_group;
	if (via_group) {
		/* The group path may open a device many times (vfio_df_open). */
		pthread_mutex_lock(&dev->lock);
		if (dev->owner) {
			pthread_mutex_unlock(&dev->lock);
			xfree(df);
			return -EBUSY;
		}
		dev->group_files++;
		df->access_granted = true;
		pthread_mutex_unlock(&dev->lock);
	}
	fd = emu_fd_install(&vfio_device_fops, df, flags);
	if (fd < 0) {
		pthread_mutex_lock(&dev->lock);
		if (via_group)
			dev->group_files--;
		pthread_mutex_unlock(&dev->lock);
		xfree(df);
	}
	return fd;
}

int vfio_cdev_open(struct vfio_host *host, unsigned int index, int flags)
{
	if (index >= host->ndevices)
		return -ENOENT;
	return vfio_device_file_open(&host->dev[index], false, flags);
}
