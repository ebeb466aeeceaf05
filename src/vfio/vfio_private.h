/* SPDX-License-Identifier: MIT */
/*
 * vfio_private.h - what the files of the emulated VFIO share: devices and
 * their open files (vfio_main.c), device features and migration
 * (migration.c, dma_logging.c), groups (group.c), the legacy container and
 * its type1 IOMMU backend (container.c, vfio_iommu_type1.c).
 *
 * Locks, outermost first: a container's lock, then a device's lock, then
 * its path_lock. A device's DMA engine takes neither of the first two: its
 * DMA goes through its IOMMU domain, or (mdev) through iommufd's or the
 * container's translation, which take their own locks. An mdev's DMA holds
 * path_lock only to take a reference on its container, and writes through
 * it after dropping path_lock: attach and detach change path_lock under
 * the container's lock.
 */
#ifndef IODIRTY_VFIO_PRIVATE_H
#define IODIRTY_VFIO_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <iodirty/interpose.h>
#include <iodirty/uapi/vfio.h>
#include <iodirty/vfio.h>

struct vfio_container;
struct vfio_mig_file;

struct vfio_group {
	struct vfio_device *dev;	/* one device per group */
	/*
	 * Group fds are exclusive. Device fds from the group hold it, as
	 * in Linux: closed while they are open, it stays open (and in its
	 * container) until the last of them closes (@release_pending).
	 */
	bool open;
	bool release_pending;
	struct vfio_container *container;
};

struct vfio_device {
	struct vfio_host *host;
	unsigned int index;
	enum vfio_dev_kind kind;
	char name[32];			/* "0000:00:01.0" */
	struct dma_dev *dma;
	struct iommu_dev iodev;		/* unused for mdev */
	uint8_t config[256];		/* PCI config space */
	struct vfio_group group;

	pthread_mutex_t lock;
	/*
	 * Who may use it (Linux vfio_df_open, vfio_device_block_group): the
	 * cdev file bound to an iommufd (one), or files from its group (any
	 * number, while the group is open); never both.
	 */
	struct vfio_device_file *owner;
	unsigned int group_files;
	/* cdev binding to an iommufd */
	struct iommufd_device *idev;
	struct iommufd_ctx *ictx;
	/*
	 * The mdev's DMA path: an iommufd access, or a legacy container.
	 * Changed under @path_lock exclusive; the engine's DMA holds it
	 * shared, so neither goes away under a write in flight.
	 */
	pthread_rwlock_t path_lock;
	struct iommufd_access *access;
	struct vfio_container *container;

	/* migration (migration.c) */
	enum vfio_device_mig_state mig_state;
	struct vfio_mig_file *mig_file;
	bool precopy_active;
};

struct vfio_host {
	const struct iod_log *log;
	struct iommufd_host *iommufd;
	struct iommu_unit unit_dirty;	/* its domains can track dirty pages */
	struct iommu_unit unit_nodirty;
	unsigned int ndevices;
	struct vfio_device dev[VFIO_MAX_DEVICES];
	pthread_mutex_t lock;		/* container membership */
};

struct vfio_device_file {
	struct vfio_device *dev;
	bool access_granted;		/* bound (cdev) or from a group */
	bool via_group;
	uint32_t devid;
};

/* vfio_main.c */
long vfio_device_ioctl(struct vfio_device_file *df, unsigned long cmd,
		       uint64_t arg);
bool vfio_device_is_mdev(const struct vfio_device *dev);
int vfio_device_file_open(struct vfio_device *dev, bool via_group, int flags);
extern const struct emu_fops vfio_device_fops;

/* migration.c */
int vfio_mig_feature(struct vfio_device *dev, uint32_t flags, uint64_t arg,
		     uint32_t argsz);
int vfio_mig_state_feature(struct vfio_device *dev, uint32_t flags,
			   uint64_t arg, uint32_t argsz);
int vfio_mig_data_size_feature(struct vfio_device *dev, uint32_t flags,
			       uint64_t arg, uint32_t argsz);
void vfio_mig_reset(struct vfio_device *dev);
uint64_t vfio_mig_flags(const struct vfio_device *dev);

/* dma_logging.c */
int vfio_dma_logging_feature(struct vfio_device *dev, uint32_t feature,
			     uint32_t flags, uint64_t arg, uint32_t argsz);

/*
 * vfio_main.c: the errno for an fd that is not of the kind asked for:
 * EBADFD when it is open (fget() found a file), EBADF when it is not.
 */
int vfio_fd_kind_err(int fd);

/* vfio_main.c: the shared check of VFIO_DEVICE_FEATURE handlers. */
int vfio_check_feature(uint32_t flags, uint32_t argsz, uint32_t supported_ops,
		       size_t minsz);

/* group.c */
int vfio_group_file_open(struct vfio_group *group, int flags);
/* What closing a group's fd does, once no device fd holds it. */
void vfio_group_release(struct vfio_group *group);

/* A mapping of the type1 backend (vfio_iommu_type1.c). */
struct vfio_dma {
	uint64_t iova;
	uint64_t size;
	uint64_t vaddr;
	unsigned int prot;		/* PT_PROT_* */
	uint64_t *pinned;		/* pages an mdev driver pinned */
	uint64_t *dirty;		/* while tracking: dirty since report */
};

/*
 * struct vfio_container - /dev/vfio/vfio. Lives while its file or any of
 * its groups holds a reference. @lock guards everything below it.
 */
struct vfio_container {
	struct vfio_host *host;
	pthread_mutex_t lock;
	/* Its file, each group in it, and an mdev's DMA in flight. */
	atomic_uint refs;
	struct vfio_group *groups[VFIO_MAX_DEVICES];
	unsigned int ngroups;
	int iommu_type;			/* 0 until SET_IOMMU */
	/* type1 */
	struct vfio_dma **dmas;		/* sorted by iova */
	unsigned int ndmas, dmas_cap;
	struct iommu_domain *domains[VFIO_MAX_DEVICES];
	unsigned int ndomains;
	unsigned int dma_avail;
	bool dirty_tracking;
};

/* container.c / vfio_iommu_type1.c */
long vfio_iommu_type1_ioctl(struct vfio_container *c, unsigned int cmd,
			    uint64_t arg);
int vfio_iommu_type1_attach_group(struct vfio_container *c,
				  struct vfio_group *group);
void vfio_iommu_type1_detach_group(struct vfio_container *c,
				   struct vfio_group *group);
void vfio_iommu_type1_release(struct vfio_container *c);
struct vfio_container *vfio_container_from_fd(int fd, struct emu_file **f);
void vfio_container_get(struct vfio_container *c);
/* The last reference frees it, with its type1 state. Takes no lock held. */
void vfio_container_put(struct vfio_container *c);
int vfio_container_attach_group(struct vfio_container *c,
				struct vfio_group *group);
void vfio_container_detach_group(struct vfio_container *c,
				 struct vfio_group *group);
bool vfio_container_iommu_set(struct vfio_container *c);
/* The mdev DMA path in a container: pin, mark dirty, write. */
int vfio_container_pin_write(struct vfio_container *c, uint64_t iova,
			     const void *buf, size_t len,
			     struct pt_fault *fault);

#endif
