/* SPDX-License-Identifier: MIT */
/*
 * iommufd_private.h - objects and helpers shared by the files of the
 * emulated iommufd (kernel names: main.c, ioas.c, io_pagetable.c, pages.c,
 * hw_pagetable.c, device.c, vfio_compat.c, selftest.c).
 *
 * Locking: the context's mutex is held across every ioctl and every call of
 * the in-kernel API, so object state changes under it. The iommufd_host's
 * mutex guards the registry of pinned pages and nests inside it. DMA never
 * takes either: it goes device -> iommu_domain -> pt_domain.
 */
#ifndef IODIRTY_IOMMUFD_PRIVATE_H
#define IODIRTY_IOMMUFD_PRIVATE_H

#include <pthread.h>

#include <iodirty/compiler.h>
#include <iodirty/iommufd.h>
#include <iodirty/uapi/iommufd.h>

enum iommufd_object_type {
	IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_ANY,
	IOMMUFD_OBJ_DEVICE,
	IOMMUFD_OBJ_HWPT_PAGING,
	IOMMUFD_OBJ_IOAS,
	IOMMUFD_OBJ_SELFTEST,
	IOMMUFD_OBJ_ACCESS,
	IOMMUFD_OBJ_MAX,
};

/*
 * struct iommufd_object - embedded first in every object.
 * @users: other objects or drivers depending on this one; DESTROY is
 *         -EBUSY while it is non-zero.
 */
struct iommufd_object {
	enum iommufd_object_type type;
	uint32_t id;
	unsigned int users;
};

struct iommufd_host {
	pthread_mutex_t lock;
	struct iopt_pages *pinned;	/* list of pinned user ranges */
	struct iommu_unit mock_unit;	/* the selftest's mock IOMMU */
	struct iommu_unit mock_unit_nodirty;
	/* IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: kept, used for nothing */
	unsigned int test_memory_limit;
	const struct iod_log *log;
};

struct iommufd_ctx {
	struct iommufd_host *host;
	pthread_mutex_t lock;
	unsigned int refs;		/* the fd, and each bound device */
	struct iommufd_object **objs;	/* objs[id - 1]; ids start at 1 */
	uint32_t nobjs;
	struct iommufd_ioas *vfio_ioas;	/* the VFIO compat IOAS */
	bool account_mm;		/* IOMMU_OPTION_RLIMIT_MODE */
	bool vfio_container;
};

/*
 * struct iopt_pages - a range of user memory that areas map; pinned while
 * any area using it is in an IOAS with a domain. Shared by IOAS_COPY.
 */
struct iopt_pages {
	uint64_t uva;
	uint64_t length;
	bool writable;
	unsigned int refs;		/* areas using it */
	unsigned int pin_users;		/* areas in an IOAS with a domain */
	struct iopt_pages *next_pinned;	/* host->pinned list */
};

struct iopt_area {
	uint64_t iova;
	uint64_t last;
	struct iopt_pages *pages;
	uint64_t pages_offset;		/* of iova within pages */
	unsigned int prot;		/* PT_PROT_* */
};

struct iopt_reserved {
	uint64_t start;
	uint64_t last;
	const void *owner;		/* device, domain, or NULL (test) */
};

/* The kernel's struct io_pagetable: areas, reserved and allowed IOVA. */
struct io_pagetable {
	struct iopt_area **areas;	/* sorted by iova */
	unsigned int nareas, areas_cap;
	struct iopt_reserved *resv;
	unsigned int nresv;
	struct iommu_iova_range *allowed; /* none: everything allowed */
	unsigned int nallowed;
	struct iommu_domain **domains;
	unsigned int ndomains;
	uint64_t iova_alignment;
	bool disable_large_pages;
};

struct iommufd_ioas {
	struct iommufd_object obj;
	struct io_pagetable iopt;
	struct iommufd_hwpt_paging **hwpts; /* on this IOAS, in creation order */
	unsigned int nhwpts;
};

/*
 * @enforce_cache_coherency: its domain was made to force snooping
 * (Linux iommufd_hwpt_paging_enforce_cc()), which happens for devices whose
 * IOMMU reports IOMMU_CAP_ENFORCE_CACHE_COHERENCY. No emulated driver
 * reports it (the selftest mock does not in Linux either), so it is false.
 */
struct iommufd_hwpt_paging {
	struct iommufd_object obj;
	struct iommufd_ioas *ioas;
	struct iommu_domain *domain;
	bool auto_domain;
	bool enforce_cache_coherency;
};

struct iommufd_device {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct iommu_dev *dev;
	struct iommufd_hwpt_paging *hwpt;	/* attached to, or NULL */
};

/*
 * struct iommufd_access - a driver reaching an IOAS without an IOMMU of its
 * own (an emulated mediated device): reads and writes IOVA through the
 * IOAS's areas. Holds a reference on the IOAS it is attached to.
 */
struct iommufd_access {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct iommufd_ioas *ioas;
};

/* main.c: the object table, and context references (the fd, devices). */
void iommufd_ctx_put(struct iommufd_ctx *ictx);
void *iommufd_object_alloc(struct iommufd_ctx *ictx, size_t size,
			   enum iommufd_object_type type);
void iommufd_object_finalize(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj);
void iommufd_object_abort(struct iommufd_ctx *ictx, struct iommufd_object *obj);
void *iommufd_get_object(struct iommufd_ctx *ictx, uint32_t id,
			 enum iommufd_object_type type);
void iommufd_object_destroy(struct iommufd_ctx *ictx,
			    struct iommufd_object *obj);

/* A command in flight: the caller's pointer and our copy of its struct. */
struct iommufd_ucmd {
	struct iommufd_ctx *ictx;
	uint64_t ubuffer;
	uint32_t user_size;
	void *cmd;
};

int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len);

/* io_pagetable.c */
void iopt_init(struct io_pagetable *iopt);
void iopt_destroy(struct iommufd_host *host, struct io_pagetable *iopt);
int iopt_map_user_pages(struct iommufd_host *host, struct io_pagetable *iopt,
			uint64_t *iova, uint64_t uva, uint64_t length,
			unsigned int prot, bool fixed);
/*
 * iopt_get_pages() - is [@iova, @iova + @length) covered by contiguous
 * areas? 0; -EINVAL for length 0, -EOVERFLOW, -ENOENT. iopt_copy() needs it.
 */
int iopt_get_pages(struct io_pagetable *iopt, uint64_t iova, uint64_t length);
int iopt_copy(struct iommufd_host *host, struct io_pagetable *dst,
	      struct io_pagetable *src, uint64_t src_iova, uint64_t *dst_iova,
	      uint64_t length, unsigned int prot, bool fixed);
/*
 * iopt_unmap_iova() - unmap the areas inside [@iova, @iova + @length): 0
 * (also when there are none), -EINVAL for length 0, -EOVERFLOW, -ENOENT
 * when an area is only partly inside; *@unmapped is what went, errors
 * included.
 */
int iopt_unmap_iova(struct iommufd_host *host, struct io_pagetable *iopt,
		    uint64_t iova, uint64_t length, uint64_t *unmapped);
/*
 * iopt_cut_iova() - make each of @iovas the last byte of an area piece,
 * for the VFIO compat unmap (Linux iopt_cut_iova()): 0, -EINVAL, -ENOMEM.
 */
int iopt_cut_iova(struct io_pagetable *iopt, const uint64_t *iovas,
		  unsigned int n);
int iopt_unmap_all(struct iommufd_host *host, struct io_pagetable *iopt,
		   uint64_t *unmapped);
int iopt_reserve_iova(struct io_pagetable *iopt, uint64_t start, uint64_t last,
		      const void *owner);
void iopt_remove_reserved_iova(struct io_pagetable *iopt, const void *owner);
/*
 * iopt_allow_range_check() - range @i of an ALLOW_IOVAS list on its own
 * and against the ranges before it: 0, or -EINVAL (empty, reversed or
 * overlapping), as Linux checks each range as it reads it.
 */
int iopt_allow_range_check(const struct iommu_iova_range *ranges,
			   unsigned int i);
int iopt_set_allow_iova(struct io_pagetable *iopt,
			const struct iommu_iova_range *ranges, unsigned int n);
int iopt_iova_ranges(struct io_pagetable *iopt, struct iommu_iova_range *out,
		     unsigned int max);
int iopt_table_add_domain(struct iommufd_host *host, struct io_pagetable *iopt,
			  struct iommu_domain *domain);
void iopt_table_remove_domain(struct iommufd_host *host,
			      struct io_pagetable *iopt,
			      struct iommu_domain *domain);
int iopt_disable_large_pages(struct io_pagetable *iopt);
void iopt_enable_large_pages(struct io_pagetable *iopt);
uint64_t iopt_pgsizes(struct io_pagetable *iopt);
int iopt_access_rw(struct io_pagetable *iopt, uint64_t iova, void *buf,
		   size_t len, bool write, struct pt_fault *fault);
int iopt_set_dirty_tracking(struct io_pagetable *iopt,
			    struct iommu_domain *domain, bool enable);
int iopt_read_and_clear_dirty_data(struct io_pagetable *iopt,
				   struct iommu_domain *domain,
				   unsigned int flags,
				   const struct iommu_hwpt_get_dirty_bitmap *cmd);

/* pages.c: pins, per user page, process-wide. */
struct iopt_pages *iopt_pages_alloc(uint64_t uva, uint64_t length,
				    bool writable);
void iopt_pages_put(struct iommufd_host *host, struct iopt_pages *pages);
int iopt_pages_pin(struct iommufd_host *host, struct iopt_pages *pages);
void iopt_pages_unpin(struct iommufd_host *host, struct iopt_pages *pages);
/*
 * iopt_pages_check_refs() - does every 4 KiB user page overlapping
 * [uva, uva + length) carry @refs pins? 0 if so (and for length 0); -EIO
 * with the first page that does not in *@bad; -EOVERFLOW, -ENOMEM.
 */
int iopt_pages_check_refs(struct iommufd_host *host, uint64_t uva,
			  uint64_t length, unsigned int refs, uint64_t *bad);

/* ioas.c */
int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd);
int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd);
int iommufd_ioas_map(struct iommufd_ucmd *ucmd);
int iommufd_ioas_copy(struct iommufd_ucmd *ucmd);
int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd);
int iommufd_ioas_option(struct iommufd_ucmd *ucmd);
int iommufd_option_rlimit_mode(struct iommufd_ucmd *ucmd);
void iommufd_ioas_destroy(struct iommufd_ctx *ictx, struct iommufd_object *obj);
struct iommufd_ioas *iommufd_get_ioas(struct iommufd_ctx *ictx, uint32_t id);

/* hw_pagetable.c */
struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			  struct iommu_dev *dev, uint32_t flags,
			  uint64_t pgsizes, bool auto_domain);
int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_invalidate(struct iommufd_ucmd *ucmd);
void iommufd_hwpt_paging_destroy(struct iommufd_ctx *ictx,
				 struct iommufd_object *obj);

/* device.c */
int iommufd_get_hw_info(struct iommufd_ucmd *ucmd);
void iommufd_device_destroy(struct iommufd_ctx *ictx,
			    struct iommufd_object *obj);
void iommufd_access_destroy_object(struct iommufd_ctx *ictx,
				   struct iommufd_object *obj);
int iommufd_device_attach_locked(struct iommufd_device *idev,
				 uint32_t *pt_id, bool replace);
void iommufd_device_detach_locked(struct iommufd_device *idev);
struct iommufd_device *iommufd_device_bind_locked(struct iommufd_ctx *ictx,
						  struct iommu_dev *dev);

/* vfio_compat.c */
long iommufd_vfio_ioctl(struct iommufd_ctx *ictx, unsigned int cmd,
			uint64_t arg);
int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd);

/* selftest.c */
int iommufd_test(struct iommufd_ucmd *ucmd);
void iommufd_selftest_destroy(struct iommufd_ctx *ictx,
			      struct iommufd_object *obj);
void iommufd_selftest_host_init(struct iommufd_host *host);

#endif
