// SPDX-License-Identifier: MIT
/*
 * dirty_ioctl.c - `iodirty bench dirty-ioctl`: what the kernel ABI adds to a
 * dirty harvest. IOMMU_HWPT_GET_DIRTY_BITMAP issued through the emulated
 * /dev/iommu is timed against the same harvest done by calling the
 * page-table engine directly, per GiB of IOVA (kernel-abi.md, the iommufd
 * dirty ioctls; performance-anchors.md section 0; STYLE.md, "Tests and
 * benchmarks": the ratio is the figure, absolute times are not stable).
 *
 * The ioctl path is what a VMM does, in this process: the binary links the
 * interposer, so open("/dev/iommu") reaches the emulated host, built from
 * IODIRTY_DEVICES=dma and IODIRTY_IOMMU=amd (set here before the first
 * open; IODIRTY_FORCE too, so that a real node could not be measured by
 * mistake). /dev/vfio/devices/vfio0 is bound (VFIO_DEVICE_BIND_IOMMUFD),
 * an IOAS maps N GiB of this process's memory (IOMMU_OPTION HUGE_PAGES=0
 * first for 4K leaves), a HWPT is allocated with DIRTY_TRACKING, the
 * device attached to it (VFIO_DEVICE_ATTACH_IOMMUFD_PT) and tracking
 * turned on. Pages are dirtied by the device itself: its DMA engine is
 * programmed through BAR0 (pwrite on the device fd) to write a window, the
 * first 1% of the range, sequentially, and stopped once every block of it
 * was written; the wait also covers the block in flight at the stop (SEQ
 * counts blocks started, WRITES blocks done).
 *
 * The direct path is what that ioctl does underneath, minus the ABI: an
 * AMD v1 domain allocated dirty-capable with the same IOVA width, the same
 * ranges mapped onto the same memory with the same leaf size
 * (pt_map_pgsizes(), 4K-only as HUGE_PAGES=0 maps), the same pages dirtied
 * by pt_dma_write() from a thread of its own (as the device's engine is),
 * and a harvest windowed as iommufd does it:
 * iova_bitmap_alloc() over a local buffer, pt_read_and_clear_dirty() once
 * per window, iova_bitmap_free().
 *
 * The memory is reserved with MAP_NORESERVE and placed 2 MiB-aligned but
 * never 1 GiB-aligned: 2 MiB is then the largest leaf either path can use,
 * so the 2M case gets 2 MiB leaves and not 1 GiB ones.
 *
 * Both harvests are read-and-clear of the whole range into a zeroed bitmap
 * of one bit per 4 KiB, re-dirtied (untimed) before each repetition; the
 * repetitions cycle both paths through the same stack offsets (see
 * harvest_at()) and alternate which goes first. Every bitmap is checked bit for
 * bit against the pages dirtied, a harvest after the last must find
 * nothing, and before timing each path's leaf size is proven: one 64-byte
 * DMA write must come back as exactly one leaf of bits. Any mismatch fails
 * the run (exit 1).
 */
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/err.h>
#include <iodirty/pt.h>
#include <iodirty/uapi/iodirty_dma.h>
#include <iodirty/uapi/iommufd.h>
#include <iodirty/uapi/vfio.h>

#include "bench.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the bitmap is read as native u64 words, i.e. little-endian"
#endif

#define NAME "dirty-ioctl"

#define SZ_4K (1ULL << 12)
#define SZ_2M (1ULL << 21)
#define SZ_1G (1ULL << 30)

/* Guest RAM above the 32-bit hole, as in bench harvest. */
#define DI_IOVA (4 * SZ_1G)
/* The AMD unit's aperture is 48 bits (amd_aperture()). */
#define DI_VA_LG2    48
#define BITMAP_PAGE  SZ_4K
#define MAX_SIZES    8
#define MAX_SIZE_GIB 64
#define MAX_REPS     1000
#define DEFAULT_REPS 16
#define QUICK_REPS   8
/* Stack offsets the harvests cycle through: 512 bytes, in 64-byte steps. */
#define STACK_STEPS 8
#define STACK_STEP  64
/* The ABI layer's budget: under 10% on top of the engine's own harvest. */
#define TARGET_RATIO 1.10

#define IOMMU_NODE "/dev/iommu"
#define VFIO_NODE  "/dev/vfio/devices/vfio0"
/* Polling the engine's counters, and how long a pass may take at most. */
#define DMA_POLL_NS    (20 * 1000)
#define DMA_TIMEOUT_NS (300ULL * 1000 * 1000 * 1000)
#define PROBE_BLOCK    DMA_BLOCK_MIN

static const uint64_t leaf_sizes[] = { SZ_4K, SZ_2M };
static const unsigned int dirty_pcts[] = { 0, 1 };

struct di_opts {
	uint64_t sizes[MAX_SIZES];
	size_t nsizes;
	uint64_t reps;
	bool json;
};

/* The emulated host as a VMM sees it: an iommufd and a bound device. */
struct di_abi {
	int iommufd;
	int devfd;
	uint32_t devid;
	uint64_t bar0; /* offset of BAR0 in the device fd */
};

/* One size and leaf, on both paths. */
struct di_case {
	uint64_t size_gib;
	uint64_t length; /* IOVA bytes mapped from DI_IOVA */
	uint64_t leaf;
	uint64_t nleaves;
	uint64_t va; /* the memory mapped: the domain's PA too */
	uint32_t ioas, hwpt; /* ioctl path */
	bool attached;
	struct pt_domain *dom; /* direct path */
	uint64_t *bm_ioctl, *bm_direct;
	size_t bitmap_words;
	uint8_t *block; /* what the direct path's DMA writes */
	size_t reps;
	uint64_t *t_ioctl, *t_direct;
	double *paired;
};

/* One row of output, times in ns. */
struct di_row {
	uint64_t size_gib, leaf, nleaves;
	unsigned int dirty_pct;
	uint64_t dirty_leaves, dma_blocks, bits_expected;
	uint64_t bits_ioctl, bits_direct;
	uint64_t ioctl_min, ioctl_med, direct_min, direct_med;
	double paired_med; /* median over reps of ioctl / direct */
};

static const char *size_name(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= SZ_1G)
		snprintf(buf, len, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes >= SZ_2M / 2)
		snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%lluK", (unsigned long long)(bytes >> 10));
	return buf;
}

static int errno_or(int fallback)
{
	return errno ? -errno : fallback;
}

/* ---- the device's registers, through the VFIO region ---- */

static int reg_write(const struct di_abi *a, uint32_t off, uint64_t v,
		     size_t size)
{
	uint32_t v32 = (uint32_t)v;
	const void *p = size == 4 ? (const void *)&v32 : (const void *)&v;

	if (pwrite(a->devfd, p, size, (off_t)(a->bar0 + off)) != (ssize_t)size)
		return errno_or(-EIO);
	return 0;
}

static int reg_read(const struct di_abi *a, uint32_t off, uint64_t *v,
		    size_t size)
{
	uint32_t v32 = 0;
	void *p = size == 4 ? (void *)&v32 : (void *)v;

	if (size == 8)
		*v = 0;
	if (pread(a->devfd, p, size, (off_t)(a->bar0 + off)) != (ssize_t)size)
		return errno_or(-EIO);
	if (size == 4)
		*v = v32;
	return 0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ns };

	nanosleep(&ts, NULL);
}

static int dma_fault(const struct di_abi *a, const char *when)
{
	uint64_t iova = 0, reason = 0;

	reg_read(a, DMA_REG_FAULT_IOVA, &iova, 8);
	reg_read(a, DMA_REG_FAULT_REASON, &reason, 4);
	fprintf(stderr,
		"iodirty bench " NAME
		": DMA engine fault %s at iova 0x%llx (reason %llu)\n",
		when, (unsigned long long)iova, (unsigned long long)reason);
	return -EFAULT;
}

/*
 * Wait until the engine's WRITES reaches @want, failing on a fault or after
 * DMA_TIMEOUT_NS.
 */
static int dma_wait_writes(const struct di_abi *a, uint64_t want,
			   const char *when)
{
	uint64_t t0 = bench_now_ns(), writes, status;
	int rc;

	for (;;) {
		rc = reg_read(a, DMA_REG_WRITES, &writes, 8);
		if (!rc)
			rc = reg_read(a, DMA_REG_STATUS, &status, 4);
		if (rc)
			return rc;
		if (status & DMA_STATUS_FAULT)
			return dma_fault(a, when);
		if (writes >= want)
			return 0;
		if (bench_now_ns() - t0 > DMA_TIMEOUT_NS) {
			fprintf(stderr,
				"iodirty bench " NAME
				": DMA engine stalled %s: %llu of %llu blocks\n",
				when, (unsigned long long)writes,
				(unsigned long long)want);
			return -ETIMEDOUT;
		}
		sleep_ns(DMA_POLL_NS);
	}
}

/*
 * Have the device write [@iova, @iova + @size) once, in blocks of @bs,
 * sequentially: configure while stopped, RUN, wait for a block per @bs,
 * stop, then wait for the block that was in flight at the stop, if any
 * (SEQ counts blocks started, WRITES blocks done), so that no write lands
 * after return.
 */
static int dma_pass(const struct di_abi *a, uint64_t iova, uint64_t size,
		    uint32_t bs)
{
	uint64_t seq0, seq1, status;
	int rc;

	rc = reg_write(a, DMA_REG_CTRL, DMA_CTRL_CLEAR, 4);
	if (!rc)
		rc = reg_write(a, DMA_REG_PATTERN, DMA_PATTERN_SEQUENTIAL, 4);
	if (!rc)
		rc = reg_write(a, DMA_REG_BLOCK_SIZE, bs, 4);
	if (!rc)
		rc = reg_write(a, DMA_REG_WINDOW_IOVA, iova, 8);
	if (!rc)
		rc = reg_write(a, DMA_REG_WINDOW_SIZE, size, 8);
	if (!rc)
		rc = reg_write(a, DMA_REG_RATE, 0, 8);
	if (!rc)
		rc = reg_read(a, DMA_REG_SEQ, &seq0, 8);
	if (!rc)
		rc = reg_write(a, DMA_REG_CTRL, DMA_CTRL_RUN, 4);
	if (!rc)
		rc = reg_read(a, DMA_REG_STATUS, &status, 4);
	if (rc)
		return rc;
	if (status & DMA_STATUS_BADCONFIG) {
		fprintf(stderr, "iodirty bench " NAME
				": the DMA engine refused its configuration\n");
		return -EINVAL;
	}
	rc = dma_wait_writes(a, size / bs, "while dirtying");
	/* Stop whatever happened; a failure above is still the result. */
	if (reg_write(a, DMA_REG_CTRL, 0, 4) && !rc)
		rc = -EIO;
	if (rc)
		return rc;
	rc = reg_read(a, DMA_REG_SEQ, &seq1, 8);
	if (rc)
		return rc;
	return dma_wait_writes(a, seq1 - seq0, "finishing");
}

/* ---- the ioctl path ---- */

static int abi_open(struct di_abi *a)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_region_info reg = {
		.argsz = sizeof(reg),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	uint64_t id;
	int rc;

	a->iommufd = a->devfd = -1;
	/* Read once, at the first open of an emulated node. */
	setenv("IODIRTY_DEVICES", "dma", 1);
	setenv("IODIRTY_IOMMU", "amd", 1);
	setenv("IODIRTY_FORCE", "1", 1);
	a->iommufd = open(IOMMU_NODE, O_RDWR | O_CLOEXEC);
	if (a->iommufd < 0)
		return errno_or(-ENODEV);
	a->devfd = open(VFIO_NODE, O_RDWR | O_CLOEXEC);
	if (a->devfd < 0)
		return errno_or(-ENODEV);
	bind.iommufd = a->iommufd;
	if (ioctl(a->devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return errno_or(-EIO);
	a->devid = bind.out_devid;
	if (ioctl(a->devfd, VFIO_DEVICE_GET_REGION_INFO, &reg))
		return errno_or(-EIO);
	a->bar0 = reg.offset;
	rc = reg_read(a, DMA_REG_ID, &id, 4);
	if (rc)
		return rc;
	return id == DMA_DEV_ID ? 0 : -ENODEV;
}

static void abi_close(struct di_abi *a)
{
	if (a->devfd >= 0)
		close(a->devfd);
	if (a->iommufd >= 0)
		close(a->iommufd);
}

static int iommufd_destroy(const struct di_abi *a, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(a->iommufd, IOMMU_DESTROY, &cmd) ? errno_or(-EIO) : 0;
}

/* An IOAS over c->va, a dirty-tracking HWPT, the device on it, tracking on. */
static int abi_case_init(const struct di_abi *a, struct di_case *c)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_option opt = {
		.size = sizeof(opt),
		.option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = IOMMU_OPTION_OP_SET,
		.val64 = 0,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.user_va = c->va,
		.length = c->length,
		.iova = DI_IOVA,
	};
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
		.dev_id = a->devid,
	};
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct iommu_hwpt_set_dirty_tracking track = {
		.size = sizeof(track),
		.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
	};

	if (ioctl(a->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return errno_or(-EIO);
	c->ioas = alloc.out_ioas_id;
	opt.object_id = c->ioas;
	if (c->leaf == SZ_4K && ioctl(a->iommufd, IOMMU_OPTION, &opt))
		return errno_or(-EIO);
	map.ioas_id = c->ioas;
	if (ioctl(a->iommufd, IOMMU_IOAS_MAP, &map))
		return errno_or(-EIO);
	hwpt.pt_id = c->ioas;
	if (ioctl(a->iommufd, IOMMU_HWPT_ALLOC, &hwpt))
		return errno_or(-EIO);
	c->hwpt = hwpt.out_hwpt_id;
	attach.pt_id = c->hwpt;
	if (ioctl(a->devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return errno_or(-EIO);
	c->attached = true;
	track.hwpt_id = c->hwpt;
	if (ioctl(a->iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &track))
		return errno_or(-EIO);
	return 0;
}

static void abi_case_fini(const struct di_abi *a, struct di_case *c)
{
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};

	if (c->attached)
		ioctl(a->devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach);
	if (c->hwpt)
		iommufd_destroy(a, c->hwpt);
	if (c->ioas)
		iommufd_destroy(a, c->ioas);
	c->attached = false;
	c->hwpt = c->ioas = 0;
}

/* One IOMMU_HWPT_GET_DIRTY_BITMAP into @bitmap, timed around the ioctl. */
static int abi_harvest(const struct di_abi *a, const struct di_case *c,
		       uint64_t length, uint64_t *bitmap, uint64_t *ns)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = c->hwpt,
		.iova = DI_IOVA,
		.length = length,
		.page_size = BITMAP_PAGE,
		.data = (uintptr_t)bitmap,
	};
	uint64_t t0 = bench_now_ns();
	int rc = ioctl(a->iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);

	*ns = bench_now_ns() - t0;
	return rc ? errno_or(-EIO) : 0;
}

/* ---- the direct path ---- */

/*
 * A dirty-capable AMD v1 domain as the AMD driver allocates one, with
 * c->length bytes at DI_IOVA mapped onto c->va in leaves of c->leaf, as
 * iommufd maps an area (4K-only: the sizes HUGE_PAGES=0 allows).
 */
static int direct_case_init(struct di_case *c)
{
	struct pt_config cfg = {
		.format = PT_FMT_AMDV1,
		.va_lg2 = DI_VA_LG2,
		.dirty_tracking = true,
	};
	uint64_t pgsizes = c->leaf == SZ_4K ? (SZ_4K << 1) - 1 : 0;
	uint64_t pa, got_leaf;
	int rc;

	c->dom = pt_domain_alloc(&cfg);
	if (IS_ERR(c->dom)) {
		rc = (int)PTR_ERR(c->dom);
		c->dom = NULL;
		return rc;
	}
	rc = pt_map_pgsizes(c->dom, DI_IOVA, c->va, c->length,
			    PT_PROT_READ | PT_PROT_WRITE, pgsizes);
	if (rc)
		return rc;
	/* Clean, then tracking on, as iopt_set_dirty_tracking() does. */
	rc = pt_read_and_clear_dirty(c->dom, DI_IOVA, c->length, 0, NULL);
	if (!rc)
		rc = pt_set_dirty_tracking(c->dom, true);
	/* The leaves are of the size asked for, at both ends. */
	for (int end = 0; !rc && end < 2; end++) {
		rc = pt_iova_to_phys(c->dom,
				     DI_IOVA + (end ? c->length - 1 : 0), &pa,
				     &got_leaf);
		if (!rc && got_leaf != c->leaf)
			rc = -EINVAL;
	}
	return rc;
}

/* The direct path's DMA: pt_dma_write() of every @bs block in the window. */
static int direct_dirty(const struct di_case *c, uint64_t iova, uint64_t size,
			uint32_t bs)
{
	struct pt_fault fault;

	for (uint64_t off = 0; off < size; off += bs) {
		int rc = pt_dma_write(c->dom, iova + off, c->block, bs, &fault);

		if (rc) {
			fprintf(stderr,
				"iodirty bench " NAME
				": direct DMA write at 0x%llx faulted (reason %d)\n",
				(unsigned long long)fault.iova,
				(int)fault.reason);
			return rc;
		}
	}
	return 0;
}

/* A DMA pass of the direct path, run the way the device runs its own. */
struct direct_pass {
	const struct di_case *c;
	uint64_t iova, size;
	uint32_t bs;
	int rc;
};

static void *direct_pass_thread(void *arg)
{
	struct direct_pass *p = arg;

	p->rc = direct_dirty(p->c, p->iova, p->size, p->bs);
	return NULL;
}

/*
 * direct_dirty() on a thread of its own, as the device's engine thread
 * writes for the ioctl path: on neither path are the dirtied leaves last
 * written by the harvesting thread itself.
 */
static int direct_dirty_device(const struct di_case *c, uint64_t iova,
			       uint64_t size, uint32_t bs)
{
	struct direct_pass p = {
		.c = c, .iova = iova, .size = size, .bs = bs, .rc = -EINTR
	};
	pthread_t t;

	if (pthread_create(&t, NULL, direct_pass_thread, &p))
		return -EAGAIN;
	pthread_join(t, NULL);
	return p.rc;
}

static int direct_window(struct iova_bitmap *bitmap, uint64_t iova,
			 uint64_t length, void *opaque)
{
	return pt_read_and_clear_dirty(opaque, iova, length, 0, bitmap);
}

/*
 * The harvest iommufd does for one GET_DIRTY_BITMAP, minus the ABI: timed
 * from the bitmap's allocation to its free.
 */
static int direct_harvest(const struct di_case *c, uint64_t length,
			  uint64_t *bitmap, uint64_t *ns)
{
	uint64_t t0 = bench_now_ns();
	struct iova_bitmap *b;
	int rc;

	b = iova_bitmap_alloc(DI_IOVA, length, BITMAP_PAGE, (uintptr_t)bitmap,
			      NULL);
	if (IS_ERR(b))
		return (int)PTR_ERR(b);
	rc = iova_bitmap_for_each(b, c->dom, direct_window);
	iova_bitmap_free(b);
	*ns = bench_now_ns() - t0;
	return rc;
}

/* ---- checks ---- */

/*
 * @map (of @words) holds exactly bits [0, @nbits). Return: 0 or -EIO,
 * with the number of bits set in *@weight.
 */
static int bits_are_prefix(const uint64_t *map, size_t words, uint64_t nbits,
			   uint64_t *weight)
{
	uint64_t full = nbits / 64, n = 0;
	int rc = 0;

	for (size_t w = 0; w < words; w++) {
		uint64_t want = 0;

		if (w < full)
			want = ~0ULL;
		else if (w == full && nbits % 64)
			want = ~0ULL >> (64 - nbits % 64);
		n += (uint64_t)__builtin_popcountll(map[w]);
		if (map[w] != want)
			rc = -EIO;
	}
	*weight = n;
	return rc;
}

static int check_bitmap(const struct di_case *c, const uint64_t *map,
			uint64_t nbits, const char *path, const char *what,
			uint64_t *weight)
{
	char lf[16];

	if (!bits_are_prefix(map, c->bitmap_words, nbits, weight))
		return 0;
	fprintf(stderr,
		"iodirty bench " NAME
		": %llu GiB at %s, %s, %s: %s (%llu bits set, expected %llu)\n",
		(unsigned long long)c->size_gib,
		size_name(lf, sizeof(lf), c->leaf), path, what,
		*weight == nbits ? "wrong pages reported" :
				   "wrong number of pages reported",
		(unsigned long long)*weight, (unsigned long long)nbits);
	return -EIO;
}

static void di_case_fini(const struct di_abi *a, struct di_case *c)
{
	abi_case_fini(a, c);
	pt_domain_free(c->dom);
	free(c->block);
	free(c->paired);
	free(c->t_direct);
	free(c->t_ioctl);
	free(c->bm_direct);
	free(c->bm_ioctl);
	memset(c, 0, sizeof(*c));
}

/*
 * One 64-byte DMA write at the start of the range must come back as
 * exactly one leaf of bits on each path, and a read-and-clear leaves it
 * clean: the leaves are the size asked for, and tracking works.
 */
static int di_probe(const struct di_abi *a, struct di_case *c)
{
	uint64_t bits = c->leaf / BITMAP_PAGE, ns, got;
	size_t bytes = c->bitmap_words * sizeof(uint64_t);
	int rc;

	memset(c->bm_ioctl, 0, bytes);
	rc = dma_pass(a, DI_IOVA, PROBE_BLOCK, PROBE_BLOCK);
	if (!rc)
		rc = abi_harvest(a, c, c->length, c->bm_ioctl, &ns);
	if (!rc)
		rc = check_bitmap(c, c->bm_ioctl, bits, "ioctl",
				  "one 64-byte DMA write", &got);
	if (rc)
		return rc;
	memset(c->bm_direct, 0, bytes);
	rc = direct_dirty(c, DI_IOVA, PROBE_BLOCK, PROBE_BLOCK);
	if (!rc)
		rc = direct_harvest(c, c->length, c->bm_direct, &ns);
	if (!rc)
		rc = check_bitmap(c, c->bm_direct, bits, "direct",
				  "one 64-byte DMA write", &got);
	return rc;
}

static int di_case_init(const struct di_abi *a, struct di_case *c,
			uint64_t size_gib, uint64_t leaf, size_t reps,
			uint64_t va)
{
	int rc = -ENOMEM;

	memset(c, 0, sizeof(*c));
	c->size_gib = size_gib;
	c->length = size_gib * SZ_1G;
	c->leaf = leaf;
	c->nleaves = c->length / leaf;
	c->va = va;
	c->reps = reps;
	c->bitmap_words = DIV_ROUND_UP(c->length / BITMAP_PAGE, 64);
	c->bm_ioctl = calloc(c->bitmap_words, sizeof(uint64_t));
	c->bm_direct = calloc(c->bitmap_words, sizeof(uint64_t));
	c->t_ioctl = calloc(reps, sizeof(uint64_t));
	c->t_direct = calloc(reps, sizeof(uint64_t));
	c->paired = calloc(reps, sizeof(double));
	c->block = calloc(1, DMA_BLOCK_MAX);
	if (!c->bm_ioctl || !c->bm_direct || !c->t_ioctl || !c->t_direct ||
	    !c->paired || !c->block)
		goto err;
	memset(c->block, 0xd1, DMA_BLOCK_MAX);
	rc = abi_case_init(a, c);
	if (!rc)
		rc = direct_case_init(c);
	if (!rc)
		rc = di_probe(a, c);
	if (rc)
		goto err;
	return 0;

err:
	di_case_fini(a, c);
	return rc;
}

/* Dirty the first @leaves leaves on both paths, in blocks of @bs. */
static int di_dirty(const struct di_abi *a, const struct di_case *c,
		    uint64_t leaves, uint32_t bs)
{
	int rc;

	if (!leaves)
		return 0;
	rc = dma_pass(a, DI_IOVA, leaves * c->leaf, bs);
	if (!rc)
		rc = direct_dirty_device(c, DI_IOVA, leaves * c->leaf, bs);
	return rc;
}

/*
 * Rep @r of one path's harvest, @pad bytes further down the stack. The
 * walker keeps a 512-byte block of descriptors on its stack (pt_walk.h,
 * rac_leaves()), and in some runs one offset in four (a 512-byte period)
 * made the same walk ~15% slower. The two paths reach the walker from
 * different depths, so a fixed depth could hand one of them the bad offset
 * for the whole run: each repetition moves both by the same step.
 *
 * That is not the only such effect. On the 2-vCPU VM this was written on,
 * a 1 GiB 4K walk runs at one of two speeds (~92 or ~101 us) fixed for a
 * process and a calling context, and the ioctl path and this file can get
 * different ones: not the tables (the ioctl's own, walked from here, go at
 * this file's speed), not the stack offset (0-8 KiB swept), nor the locks
 * or the pin's system call before the walk. So one run's 4K ratio carries
 * about +-9% of noise either way; print_footer() also gives the ABI's cost
 * measured where the walk is negligible, on the 2M row.
 */
static __attribute__((noinline)) int harvest_at(const struct di_abi *a,
						struct di_case *c, size_t r,
						size_t pad, bool ioctl_path)
{
	volatile char *shift = alloca(pad + 1);

	shift[0] = 0;
	if (ioctl_path)
		return abi_harvest(a, c, c->length, c->bm_ioctl,
				   &c->t_ioctl[r]);
	return direct_harvest(c, c->length, c->bm_direct, &c->t_direct[r]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of @n (> 0) values; sorts @v. */
static double median_double(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int di_row_run(const struct di_abi *a, struct di_case *c,
		      unsigned int pct, struct di_row *row)
{
	size_t bytes = c->bitmap_words * sizeof(uint64_t);
	uint32_t bs =
		c->leaf < DMA_BLOCK_MAX ? (uint32_t)c->leaf : DMA_BLOCK_MAX;
	uint64_t ns;
	int rc;

	memset(row, 0, sizeof(*row));
	row->size_gib = c->size_gib;
	row->leaf = c->leaf;
	row->nleaves = c->nleaves;
	row->dirty_pct = pct;
	row->dirty_leaves = c->nleaves * pct / 100;
	if (pct && !row->dirty_leaves)
		row->dirty_leaves = 1;
	row->dma_blocks = row->dirty_leaves * c->leaf / bs;
	row->bits_expected = row->dirty_leaves * (c->leaf / BITMAP_PAGE);

	for (size_t r = 0; r < c->reps; r++) {
		rc = di_dirty(a, c, row->dirty_leaves, bs);
		if (rc)
			return rc;
		memset(c->bm_ioctl, 0, bytes);
		memset(c->bm_direct, 0, bytes);
		/* Every stack offset, each path first at each. */
		for (int k = 0; k < 2; k++) {
			bool ioctl_first = !((r / STACK_STEPS) & 1);

			rc = harvest_at(a, c, r, (r % STACK_STEPS) * STACK_STEP,
					(k == 0) == ioctl_first);
			if (rc)
				return rc;
		}
		rc = check_bitmap(c, c->bm_ioctl, row->bits_expected, "ioctl",
				  "read-and-clear", &row->bits_ioctl);
		if (!rc)
			rc = check_bitmap(c, c->bm_direct, row->bits_expected,
					  "direct", "read-and-clear",
					  &row->bits_direct);
		if (rc)
			return rc;
		c->paired[r] = (double)c->t_ioctl[r] / (double)c->t_direct[r];
	}

	/* It cleared: one more harvest on each path finds nothing. */
	memset(c->bm_ioctl, 0, bytes);
	memset(c->bm_direct, 0, bytes);
	rc = abi_harvest(a, c, c->length, c->bm_ioctl, &ns);
	if (!rc)
		rc = direct_harvest(c, c->length, c->bm_direct, &ns);
	if (!rc)
		rc = check_bitmap(c, c->bm_ioctl, 0, "ioctl",
				  "harvest after read-and-clear", &ns);
	if (!rc)
		rc = check_bitmap(c, c->bm_direct, 0, "direct",
				  "harvest after read-and-clear", &ns);
	if (rc)
		return rc;

	row->ioctl_min = bench_min_u64(c->t_ioctl, c->reps);
	row->ioctl_med = bench_median_u64(c->t_ioctl, c->reps);
	row->direct_min = bench_min_u64(c->t_direct, c->reps);
	row->direct_med = bench_median_u64(c->t_direct, c->reps);
	row->paired_med = median_double(c->paired, c->reps);
	return 0;
}

/* ---- output ---- */

static double per_gib_us(const struct di_row *row, uint64_t ns)
{
	return (double)ns / 1000.0 / (double)row->size_gib;
}

static double ratio(uint64_t a, uint64_t b)
{
	return (double)a / (double)b;
}

/* What the ABI adds to one call, best against best; noise can make it < 0. */
static double abi_us(const struct di_row *row)
{
	return ((double)row->ioctl_min - (double)row->direct_min) / 1000.0;
}

static void print_header(const struct di_opts *o)
{
	char model[128];

	bench_cpu_model(model, sizeof(model));
	printf("dirty-ioctl: iommu amd (amdv1), %u CPUs (%s), best of %llu reps (median in brackets)\n",
	       bench_cpu_count(), model, (unsigned long long)o->reps);
	printf("ioctl  = IOMMU_HWPT_GET_DIRTY_BITMAP on " IOMMU_NODE
	       " (in-process emulation), pages dirtied by " VFIO_NODE
	       "'s DMA engine\n");
	printf("direct = iova_bitmap + pt_read_and_clear_dirty per window on a local bitmap,\n"
	       "         same domain format, ranges, leaves and pages, dirtied by pt_dma_write\n");
	printf("read-and-clear of the whole range, 4 KiB per bit; the paths alternate and\n"
	       "move through the same stack offsets (harvest_at())\n"
	       "ratio = best ioctl / best direct; paired = median over reps of ioctl / direct\n\n");
	printf("%4s %4s %5s %8s %7s %8s %18s %18s %7s %7s %10s\n", "size",
	       "leaf", "dirty", "leaves", "dirtied", "blocks", "ioctl us/GiB",
	       "direct us/GiB", "ratio", "paired", "4K bits");
	fflush(stdout);
}

static void print_row(const struct di_row *row)
{
	char sz[16], lf[16], a[24], b[24], e[24], f[24];
	char io[48], di[48];

	snprintf(io, sizeof(io), "%s (%s)",
		 bench_fmt(a, sizeof(a), per_gib_us(row, row->ioctl_min)),
		 bench_fmt(b, sizeof(b), per_gib_us(row, row->ioctl_med)));
	snprintf(di, sizeof(di), "%s (%s)",
		 bench_fmt(a, sizeof(a), per_gib_us(row, row->direct_min)),
		 bench_fmt(b, sizeof(b), per_gib_us(row, row->direct_med)));
	printf("%4s %4s %4u%% %8llu %7llu %8llu %18s %18s %7s %7s %10llu\n",
	       size_name(sz, sizeof(sz), row->size_gib * SZ_1G),
	       size_name(lf, sizeof(lf), row->leaf), row->dirty_pct,
	       (unsigned long long)row->nleaves,
	       (unsigned long long)row->dirty_leaves,
	       (unsigned long long)row->dma_blocks, io, di,
	       bench_fmt(e, sizeof(e), ratio(row->ioctl_min, row->direct_min)),
	       bench_fmt(f, sizeof(f), row->paired_med),
	       (unsigned long long)row->bits_ioctl);
	fflush(stdout);
}

static void print_footer(const struct di_row *rows, size_t nrows)
{
	char sz[16], lf[16], a[24], b[24], c[24];
	unsigned int met = 0;

	printf("\ntarget: ioctl / direct < %.2f (the ABI layer adds under 10%%); then the ABI's us per call\n",
	       TARGET_RATIO);
	for (size_t i = 0; i < nrows; i++) {
		const struct di_row *row = &rows[i];
		double x = ratio(row->ioctl_min, row->direct_min);

		met += x < TARGET_RATIO;
		printf("  %4s %4s %3u%%: %sx (paired %sx), %s us per call: %s\n",
		       size_name(sz, sizeof(sz), row->size_gib * SZ_1G),
		       size_name(lf, sizeof(lf), row->leaf), row->dirty_pct,
		       bench_fmt(a, sizeof(a), x),
		       bench_fmt(c, sizeof(c), row->paired_med),
		       bench_fmt(b, sizeof(b), abi_us(row)),
		       x < TARGET_RATIO ? "met" : "missed");
	}
	printf("  within target in %u of %zu rows\n", met, nrows);

	/*
	 * The 2M row of the same size and dirt sets nearly the same bits
	 * (1% of 2M leaves is 1% of the 4 KiB pages) through the same pin,
	 * dispatch and merge, over a walk of ~0.5 us/GiB: its extra us per
	 * call is the ABI's cost without the walker's noise.
	 */
	printf("\nthe ABI's cost read off the 2M row (same bitmap, negligible walk), against the 4K walk:\n");
	for (size_t i = 0; i < nrows; i++) {
		const struct di_row *r4 = &rows[i], *r2 = NULL;

		if (r4->leaf != SZ_4K)
			continue;
		for (size_t k = 0; k < nrows; k++)
			if (rows[k].leaf == SZ_2M &&
			    rows[k].size_gib == r4->size_gib &&
			    rows[k].dirty_pct == r4->dirty_pct)
				r2 = &rows[k];
		if (!r2)
			continue;
		printf("  %4s %3u%%: %s us per call = %sx of the 4K direct walk\n",
		       size_name(sz, sizeof(sz), r4->size_gib * SZ_1G),
		       r4->dirty_pct, bench_fmt(a, sizeof(a), abi_us(r2)),
		       bench_fmt(b, sizeof(b),
				 1.0 + abi_us(r2) * 1000.0 /
						 (double)r4->direct_min));
	}
}

static void print_json(const struct di_opts *o, const struct di_row *rows,
		       size_t nrows)
{
	struct json j;

	bench_json_begin(&j, NAME);
	json_str(&j, "iommu", "amd");
	json_str(&j, "format", pt_format_name(PT_FMT_AMDV1));
	json_u64(&j, "reps", o->reps);
	json_u64(&j, "bitmap_page_size", BITMAP_PAGE);
	json_u64(&j, "iova_base", DI_IOVA);
	json_double(&j, "target_ratio", TARGET_RATIO);
	json_open(&j, "rows", '[');
	for (size_t i = 0; i < nrows; i++) {
		const struct di_row *row = &rows[i];
		double x = ratio(row->ioctl_min, row->direct_min);

		json_open(&j, NULL, '{');
		json_u64(&j, "size_gib", row->size_gib);
		json_u64(&j, "leaf", row->leaf);
		json_u64(&j, "leaves", row->nleaves);
		json_u64(&j, "dirty_pct", row->dirty_pct);
		json_u64(&j, "dirty_leaves", row->dirty_leaves);
		json_u64(&j, "dma_blocks", row->dma_blocks);
		json_u64(&j, "pages_expected", row->bits_expected);
		json_u64(&j, "pages_reported_ioctl", row->bits_ioctl);
		json_u64(&j, "pages_reported_direct", row->bits_direct);
		json_double(&j, "ioctl_us_per_gib",
			    per_gib_us(row, row->ioctl_min));
		json_double(&j, "ioctl_us_per_gib_median",
			    per_gib_us(row, row->ioctl_med));
		json_double(&j, "direct_us_per_gib",
			    per_gib_us(row, row->direct_min));
		json_double(&j, "direct_us_per_gib_median",
			    per_gib_us(row, row->direct_med));
		json_double(&j, "abi_us_per_call", abi_us(row));
		json_double(&j, "ratio_ioctl_to_direct", x);
		json_double(&j, "ratio_ioctl_to_direct_paired_median",
			    row->paired_med);
		json_u64(&j, "within_target", x < TARGET_RATIO);
		json_close(&j);
	}
	json_close(&j);
	json_close(&j);
}

/* ---- command line ---- */

static enum bench_args di_parse(int argc, char **argv, struct di_opts *o)
{
	bool quick = false;
	const struct bench_opt opts[] = {
		{ .name = "--json", .kind = BENCH_OPT_FLAG, .dst = &o->json },
		{ .name = "--quick", .kind = BENCH_OPT_FLAG, .dst = &quick },
		{ .name = "--sizes",
		  .kind = BENCH_OPT_U64_LIST,
		  .dst = o->sizes,
		  .n = &o->nsizes,
		  .max_n = MAX_SIZES,
		  .min = 1,
		  .max = MAX_SIZE_GIB,
		  .hint = "up to " BENCH_STR(MAX_SIZES) " GiB counts, each 1.." BENCH_STR(
			  MAX_SIZE_GIB) ", like 1,16" },
		BENCH_OPT_REPS(&o->reps, MAX_REPS),
	};
	enum bench_args rc;

	memset(o, 0, sizeof(*o));
	rc = bench_args_parse(NAME, BENCH_DIRTY_IOCTL_USAGE, argc, argv, opts,
			      ARRAY_SIZE(opts));
	if (rc != BENCH_ARGS_RUN)
		return rc;
	if (!o->nsizes) {
		o->sizes[o->nsizes++] = 1;
		if (!quick)
			o->sizes[o->nsizes++] = 16;
	}
	if (!o->reps)
		o->reps = quick ? QUICK_REPS : DEFAULT_REPS;
	return BENCH_ARGS_RUN;
}

/*
 * The memory both paths map: @size_gib GiB at an address that is 2 MiB-
 * but not 1 GiB-aligned, reserved without commitment; only what DMA
 * writes becomes real.
 */
static uint64_t memory_reserve(uint64_t size_gib, void **map, size_t *map_len)
{
	*map_len = (size_t)(size_gib + 1) * SZ_1G + SZ_2M;
	*map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (*map == MAP_FAILED)
		return 0;
	return (((uintptr_t)*map + SZ_1G - 1) & ~(uintptr_t)(SZ_1G - 1)) +
	       SZ_2M;
}

static void setup_error(uint64_t size_gib, uint64_t leaf, int rc)
{
	char lf[16];

	fprintf(stderr, "iodirty bench " NAME ": %llu GiB at %s: %s\n",
		(unsigned long long)size_gib, size_name(lf, sizeof(lf), leaf),
		strerror(-rc));
}

int bench_dirty_ioctl(int argc, char **argv)
{
	struct di_abi abi;
	struct di_opts o;
	struct di_row *rows;
	uint64_t max_gib = 0, va;
	size_t nrows = 0, map_len;
	void *map;
	int rc;

	rc = di_parse(argc, argv, &o);
	if (rc != BENCH_ARGS_RUN)
		return rc == BENCH_ARGS_HELP ? 0 : 2;
	for (size_t s = 0; s < o.nsizes; s++)
		if (o.sizes[s] > max_gib)
			max_gib = o.sizes[s];

	rows = calloc(o.nsizes * ARRAY_SIZE(leaf_sizes) *
			      ARRAY_SIZE(dirty_pcts),
		      sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "iodirty bench " NAME ": out of memory\n");
		return 1;
	}
	va = memory_reserve(max_gib, &map, &map_len);
	if (!va) {
		fprintf(stderr,
			"iodirty bench " NAME
			": cannot reserve %llu GiB of memory\n",
			(unsigned long long)max_gib);
		free(rows);
		return 1;
	}
	rc = abi_open(&abi);
	if (rc) {
		fprintf(stderr,
			"iodirty bench " NAME ": " IOMMU_NODE " and " VFIO_NODE
			" (bound): %s\n",
			strerror(-rc));
		goto out;
	}
	if (!o.json)
		print_header(&o);

	for (size_t s = 0; s < o.nsizes; s++) {
		for (size_t l = 0; l < ARRAY_SIZE(leaf_sizes); l++) {
			struct di_case c;

			rc = di_case_init(&abi, &c, o.sizes[s], leaf_sizes[l],
					  o.reps, va);
			if (rc) {
				setup_error(o.sizes[s], leaf_sizes[l], rc);
				goto out;
			}
			for (size_t p = 0; p < ARRAY_SIZE(dirty_pcts); p++) {
				rc = di_row_run(&abi, &c, dirty_pcts[p],
						&rows[nrows]);
				if (rc)
					break;
				if (!o.json)
					print_row(&rows[nrows]);
				nrows++;
			}
			di_case_fini(&abi, &c);
			if (rc)
				goto out;
		}
	}
	if (o.json)
		print_json(&o, rows, nrows);
	else
		print_footer(rows, nrows);

out:
	abi_close(&abi);
	munmap(map, map_len);
	free(rows);
	return rc ? 1 : 0;
}
