// SPDX-License-Identifier: MIT
/*
 * dma.c - `iodirty bench dma`: what dirty tracking costs a device's DMA,
 * and what reading it back costs per GiB of mapped memory (issue 4;
 * kernel-abi.md §1 (iommufd dirty ioctls), §4 (type1 dirty pages), §5.2
 * (DMA logging); performance-anchors.md §1.3: no published figure exists
 * for the DMA side, so this is the software model's own).
 *
 * Everything goes through the kernel ABI as a VMM drives it, in this
 * process: the binary links the interposer, and the emulated host is built
 * at the first open from IODIRTY_DEVICES=dma-log (one device that has both
 * trackers), IODIRTY_IOMMU (--iommu) and IODIRTY_FORCE=1 (never a real
 * node by mistake), all set here before that open.
 * /sys/kernel/iodirty/devices names the device, its cdev and group.
 *
 * Throughput. The cdev is bound to /dev/iommu; an IOAS maps --mapped-gib
 * GiB of this process's memory (MAP_NORESERVE; IOMMU_OPTION HUGE_PAGES=0,
 * so the IO page table has 4 KiB leaves as for guest RAM backed by 4 KiB
 * pages); a HWPT is allocated with DIRTY_TRACKING and the device attached
 * to it. BAR0 is mmap()ed and the engine programmed through it to write
 * --window bytes at the start of that memory, sequentially, unthrottled,
 * over and over. A rate is the growth of BYTES over --ms once the engine
 * runs, per second of this process's CPU time (the engine's thread is the
 * only one running then, so the figure holds on a loaded machine) and per
 * second of wall time (which that load moves by tens of percent). Each
 * repetition measures the three modes, in an order that rotates between
 * repetitions:
 *   off    neither tracker on
 *   iommu  IOMMU_HWPT_SET_DIRTY_TRACKING enabled on the device's HWPT
 *   log    VFIO_DEVICE_FEATURE_DMA_LOGGING_START over all mapped memory,
 *          at 4 KiB
 * and the limit: this thread memcpy()ing blocks of the same size from one
 * buffer over the same window, per second of its CPU time (the engine's
 * data movement without its block checksum, translation or tracking). The
 * figures are medians over the repetitions; the ratios are the medians of
 * each repetition's own CPU-time ratio to "off". Target (issue 4):
 * iommu/off of at least 0.90.
 *
 * Sync cost. With both trackers on, the device writes the window once
 * (untimed), then the whole mapped range is read and cleared, 4 KiB per
 * bit, by IOMMU_HWPT_GET_DIRTY_BITMAP and by DMA_LOGGING_REPORT (the order
 * alternating). Then the cdev is closed, the device's group joins a type1
 * container that maps the same memory, VFIO_IOMMU_DIRTY_PAGES is started,
 * the device writes the window again through the group's device fd, and
 * GET_BITMAP reads the whole range. Every bitmap is checked: the IOMMU and
 * the log must report exactly the window's pages, type1 every mapped page
 * (an IOMMU-backed group never narrows its dirty scope, §4.2); any other
 * answer fails the run (exit 1). Times are taken around each call, in the
 * caller's CPU time (the engine is stopped then: nothing else of this
 * process runs) and in wall time, per GiB of mapped memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/uapi/iodirty_dma.h>
#include <iodirty/uapi/iommufd.h>
#include <iodirty/uapi/vfio.h>

#include "bench.h"

#define NAME "dma"

#define SZ_4K (1ULL << 12)
#define SZ_1M (1ULL << 20)
#define SZ_1G (1ULL << 30)

/* Guest RAM above the 32-bit hole, as in the other benchmarks. */
#define DMA_IOVA     (4 * SZ_1G)
#define BITMAP_PAGE  SZ_4K
#define MAX_BLOCKS   8
#define MAX_REPS     1000
#define MAX_MS	     10000
#define MAX_GIB	     64
#define DEFAULT_REPS 9
#define QUICK_REPS   5
#define DEFAULT_MS   150
#define QUICK_MS     50
#define DEFAULT_GIB  4
#define QUICK_GIB    1
#define DEFAULT_WIN  (64 * SZ_1M)
#define QUICK_WIN    (32 * SZ_1M)
/* The block size of the sync passes, and --quick's only one. */
#define SYNC_BLOCK (64 * 1024)
/* IOMMU tracking on costs under 10% of DMA throughput. */
#define TARGET_RATIO 0.90
/* The engine looks at CTRL written through a mapping within 1 ms. */
#define WARMUP_NS     (5 * 1000 * 1000ULL)
#define POLL_NS	      (20 * 1000)
#define TIMEOUT_NS    (60ULL * 1000 * 1000 * 1000)
#define SYSFS_DEVICES "/sys/kernel/iodirty/devices"
#define IOMMU_NODE    "/dev/iommu"
#define CONTAINER     "/dev/vfio/vfio"

enum mode { MODE_OFF, MODE_IOMMU, MODE_LOG, MODE_NR };

static const char *const mode_names[MODE_NR] = { "off", "iommu", "log" };

struct dma_opts {
	uint64_t blocks[MAX_BLOCKS];
	size_t nblocks;
	uint64_t reps;
	uint64_t ms;
	uint64_t window;
	uint64_t mapped_gib;
	const char *iommu;
	bool json;
};

/* What /sys/kernel/iodirty/devices says of device 0. */
struct dma_sysfs {
	char name[32];
	char kind[16];
	char cdev[64];
	char group[64];
};

/* A device fd and its BAR0, mapped. */
struct dma_devh {
	int fd;
	uint8_t *bar;
};

/* The VMM's side of the emulated host: iommufd phase, then type1 phase. */
struct dma_host {
	struct dma_sysfs sys;
	struct dma_devh dev;
	int iommufd;
	uint32_t devid, ioas, hwpt;
	bool attached;
	int container, group;
	bool type1_mapped;
	uint64_t va; /* the mapped memory */
	uint64_t length; /* bytes mapped at DMA_IOVA */
	uint64_t *bitmap; /* one bit per 4 KiB of it */
	size_t bitmap_words;
};

struct dma_row {
	uint64_t block;
	double bps[MODE_NR]; /* medians, bytes per CPU-second */
	double wall_bps[MODE_NR]; /* medians, bytes per second */
	double ratio[MODE_NR]; /* medians of the per-rep ratio to off */
	double memcpy_bps; /* median, bytes per CPU-second */
};

/* The reads of the dirty state, in the order they are printed. */
enum reader { RD_LOG, RD_TYPE1, RD_HWPT, RD_NR };

struct dma_sync {
	uint64_t window_pages, mapped_pages;
	uint64_t cpu_ns[RD_NR]; /* medians, the caller's CPU time */
	uint64_t wall_ns[RD_NR]; /* medians, wall time */
};

static int errno_or(int fallback)
{
	return errno ? -errno : fallback;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	nanosleep(&ts, NULL);
}

/* ---- BAR0, through the mapping (naturally aligned single accesses) ---- */

static uint32_t bar_get32(const struct dma_devh *d, uint32_t off)
{
	return __atomic_load_n((uint32_t *)(d->bar + off), __ATOMIC_ACQUIRE);
}

static uint64_t bar_get64(const struct dma_devh *d, uint32_t off)
{
	return __atomic_load_n((uint64_t *)(d->bar + off), __ATOMIC_ACQUIRE);
}

static void bar_set32(const struct dma_devh *d, uint32_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(d->bar + off), v, __ATOMIC_RELEASE);
}

static void bar_set64(const struct dma_devh *d, uint32_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(d->bar + off), v, __ATOMIC_RELEASE);
}

static int devh_open(struct dma_devh *d, int fd)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	void *p;

	d->fd = fd;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg))
		return errno_or(-EIO);
	if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    reg.size < DMA_BAR0_SIZE)
		return -ENODEV;
	p = mmap(NULL, DMA_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)reg.offset);
	if (p == MAP_FAILED)
		return errno_or(-ENODEV);
	d->bar = p;
	if (bar_get32(d, DMA_REG_ID) != DMA_DEV_ID)
		return -ENODEV;
	return 0;
}

static void devh_close(struct dma_devh *d)
{
	if (d->bar)
		munmap(d->bar, DMA_BAR0_SIZE);
	if (d->fd >= 0)
		close(d->fd);
	d->bar = NULL;
	d->fd = -1;
}

/* ---- the engine ---- */

static int engine_fault(const struct dma_devh *d, const char *when)
{
	fprintf(stderr,
		"iodirty bench " NAME
		": DMA engine fault %s at iova 0x%llx (reason %u)\n",
		when, (unsigned long long)bar_get64(d, DMA_REG_FAULT_IOVA),
		bar_get32(d, DMA_REG_FAULT_REASON));
	return -EFAULT;
}

/* Configure the stopped engine: @bs blocks over [@iova, @iova + @size). */
static void engine_setup(const struct dma_devh *d, uint64_t iova, uint64_t size,
			 uint32_t bs)
{
	bar_set32(d, DMA_REG_PATTERN, DMA_PATTERN_SEQUENTIAL);
	bar_set32(d, DMA_REG_BLOCK_SIZE, bs);
	bar_set64(d, DMA_REG_WINDOW_IOVA, iova);
	bar_set64(d, DMA_REG_WINDOW_SIZE, size);
	bar_set64(d, DMA_REG_RATE, 0);
}

/* RUN, and wait until the engine says it runs (or why it does not). */
static int engine_start(const struct dma_devh *d)
{
	uint64_t t0 = bench_now_ns();

	bar_set32(d, DMA_REG_CTRL, DMA_CTRL_RUN);
	for (;;) {
		uint32_t st = bar_get32(d, DMA_REG_STATUS);

		if (st & DMA_STATUS_FAULT)
			return engine_fault(d, "before starting");
		if (st & DMA_STATUS_BADCONFIG) {
			fprintf(stderr,
				"iodirty bench " NAME
				": the DMA engine refused its configuration\n");
			return -EINVAL;
		}
		if (st & DMA_STATUS_RUNNING)
			return 0;
		if (bench_now_ns() - t0 > TIMEOUT_NS)
			return -ETIMEDOUT;
		sleep_ns(POLL_NS);
	}
}

/*
 * Stop, and wait until the engine has: it looks at CTRL before each
 * block, so RUNNING goes only once the block in flight has landed.
 */
static int engine_stop(const struct dma_devh *d)
{
	uint64_t t0 = bench_now_ns();

	bar_set32(d, DMA_REG_CTRL, 0);
	while (bar_get32(d, DMA_REG_STATUS) & DMA_STATUS_RUNNING) {
		if (bench_now_ns() - t0 > TIMEOUT_NS)
			return -ETIMEDOUT;
		sleep_ns(POLL_NS);
	}
	if (bar_get32(d, DMA_REG_STATUS) & DMA_STATUS_FAULT)
		return engine_fault(d, "while running");
	return 0;
}

/* Every block of the configured window written at least once. */
static int engine_pass(const struct dma_devh *d, uint64_t blocks)
{
	uint64_t w0 = bar_get64(d, DMA_REG_WRITES), t0 = bench_now_ns();
	int rc = engine_start(d);

	while (!rc && bar_get64(d, DMA_REG_WRITES) - w0 < blocks) {
		if (bar_get32(d, DMA_REG_STATUS) & DMA_STATUS_FAULT)
			rc = engine_fault(d, "while writing");
		else if (bench_now_ns() - t0 > TIMEOUT_NS)
			rc = -ETIMEDOUT;
		else
			sleep_ns(POLL_NS);
	}
	if (engine_stop(d) && !rc)
		rc = -EIO;
	return rc;
}

static uint64_t cpu_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t per_second(uint64_t bytes, uint64_t ns)
{
	return ns ? (uint64_t)((double)bytes * 1e9 / (double)ns) : 0;
}

/*
 * Run for @ms once warm: the bytes written per second of wall time
 * (*@wall), and per second of this process's CPU time (*@cpu). The latter
 * is the engine's own speed: its thread is the only one that runs
 * meanwhile (this one sleeps), so it holds whatever else loads the
 * machine.
 */
static int engine_rate(const struct dma_devh *d, uint64_t ms, uint64_t *wall,
		       uint64_t *cpu)
{
	uint64_t b0, b1, t0, t1, c0, c1;
	int rc = engine_start(d);

	if (rc)
		return rc;
	sleep_ns(WARMUP_NS);
	b0 = bar_get64(d, DMA_REG_BYTES);
	t0 = bench_now_ns();
	c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	sleep_ns(ms * 1000 * 1000);
	b1 = bar_get64(d, DMA_REG_BYTES);
	c1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	t1 = bench_now_ns();
	rc = engine_stop(d);
	*wall = per_second(b1 - b0, t1 - t0);
	*cpu = per_second(b1 - b0, c1 - c0);
	return rc;
}

/*
 * The limit: this thread copying @bs blocks from @src over @dst for @ms,
 * per second of its CPU time.
 */
static uint64_t memcpy_rate(uint8_t *dst, uint64_t window, const uint8_t *src,
			    uint64_t bs, uint64_t ms)
{
	uint64_t t0, c0, bytes = 0;

	for (uint64_t off = 0; off < window; off += bs)
		memcpy(dst + off, src, bs);
	t0 = bench_now_ns();
	c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (uint64_t off = 0; off < window; off += bs)
			memcpy(dst + off, src, bs);
		bytes += window;
	} while (bench_now_ns() - t0 < ms * 1000 * 1000);
	return per_second(bytes, cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
}

/* ---- device features and dirty reads ---- */

/* VFIO_DEVICE_FEATURE with @len bytes of @data after the header. */
static int dev_feature(int fd, uint32_t flags, const void *data, size_t len)
{
	uint64_t buf[8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	if (sizeof(*f) + len > sizeof(buf))
		return -E2BIG;
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	memcpy(f + 1, data, len);
	return ioctl(fd, VFIO_DEVICE_FEATURE, buf) ? errno_or(-EIO) : 0;
}

static int iommu_tracking(const struct dma_host *h, bool on)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = on ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = h->hwpt,
	};

	return ioctl(h->iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd) ?
		       errno_or(-EIO) :
		       0;
}

/* DMA logging over all mapped memory at 4 KiB, as one range. */
static int dma_logging(const struct dma_host *h, bool on)
{
	struct vfio_device_feature_dma_logging_range range = {
		.iova = DMA_IOVA,
		.length = h->length,
	};
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = BITMAP_PAGE,
		.num_ranges = 1,
		.ranges = (uintptr_t)&range,
	};

	if (!on)
		return dev_feature(h->dev.fd,
				   VFIO_DEVICE_FEATURE_SET |
					   VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				   NULL, 0);
	return dev_feature(h->dev.fd,
			   VFIO_DEVICE_FEATURE_SET |
				   VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			   &ctl, sizeof(ctl));
}

static int mode_set(const struct dma_host *h, enum mode m, bool on)
{
	switch (m) {
	case MODE_IOMMU:
		return iommu_tracking(h, on);
	case MODE_LOG:
		return dma_logging(h, on);
	default:
		return 0;
	}
}

/* The three reads, each of the whole mapped range into h->bitmap. */
static int read_hwpt(const struct dma_host *h)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = h->hwpt,
		.iova = DMA_IOVA,
		.length = h->length,
		.page_size = BITMAP_PAGE,
		.data = (uintptr_t)h->bitmap,
	};

	return ioctl(h->iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd) ?
		       errno_or(-EIO) :
		       0;
}

static int read_log(const struct dma_host *h)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = DMA_IOVA,
		.length = h->length,
		.page_size = BITMAP_PAGE,
		.bitmap = (uintptr_t)h->bitmap,
	};

	return dev_feature(h->dev.fd,
			   VFIO_DEVICE_FEATURE_GET |
				   VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			   &rep, sizeof(rep));
}

static int read_type1(const struct dma_host *h)
{
	/* The header, then the request in its flexible data[]. */
	uint64_t buf[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		      sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) /
		     8] = { 0 };
	struct vfio_iommu_type1_dirty_bitmap *hdr = (void *)buf;
	struct vfio_iommu_type1_dirty_bitmap_get *get = (void *)&buf[1];

	hdr->argsz = sizeof(buf);
	hdr->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	*get = (struct vfio_iommu_type1_dirty_bitmap_get){
		.iova = DMA_IOVA,
		.size = h->length,
		.bitmap = { .pgsize = BITMAP_PAGE,
			    .size = h->bitmap_words * sizeof(uint64_t),
			    .data = (__u64 *)h->bitmap },
	};
	return ioctl(h->container, VFIO_IOMMU_DIRTY_PAGES, buf) ?
		       errno_or(-EIO) :
		       0;
}

static const struct dma_reader {
	const char *name;
	int (*read)(const struct dma_host *h);
} readers[RD_NR] = {
	[RD_LOG] = { "VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT", read_log },
	[RD_TYPE1] = { "VFIO_IOMMU_DIRTY_PAGES GET_BITMAP (type1)",
		       read_type1 },
	[RD_HWPT] = { "IOMMU_HWPT_GET_DIRTY_BITMAP", read_hwpt },
};

static uint64_t bitmap_weight(const struct dma_host *h)
{
	uint64_t n = 0;

	for (size_t i = 0; i < h->bitmap_words; i++)
		n += (uint64_t)__builtin_popcountll(h->bitmap[i]);
	return n;
}

/*
 * One read @rd into a zeroed bitmap, timed around the call in wall time
 * (*@wall) and this thread's CPU time (*@cpu); the bitmap must then hold
 * exactly the first @want pages (the window is at the start).
 */
static int read_check(const struct dma_host *h, enum reader rd, uint64_t want,
		      uint64_t *wall, uint64_t *cpu)
{
	uint64_t got, t0, c0;
	int rc;

	memset(h->bitmap, 0, h->bitmap_words * sizeof(uint64_t));
	t0 = bench_now_ns();
	c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	rc = readers[rd].read(h);
	*cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	*wall = bench_now_ns() - t0;
	if (rc) {
		fprintf(stderr, "iodirty bench " NAME ": %s: %s\n",
			readers[rd].name, strerror(-rc));
		return rc;
	}
	got = bitmap_weight(h);
	if (got == want &&
	    (!want || h->bitmap[(want - 1) / 64] & (1ULL << ((want - 1) % 64))))
		return 0;
	fprintf(stderr,
		"iodirty bench " NAME
		": %s reported %llu dirty pages, expected the first %llu\n",
		readers[rd].name, (unsigned long long)got,
		(unsigned long long)want);
	return -EIO;
}

/* ---- setting up, as a VMM does ---- */

/*
 * Device 0's line of /sys/kernel/iodirty/devices, read with open/read as
 * from sysfs (stdio's fopen() does not go through the interposer).
 */
static int sysfs_lookup(struct dma_sysfs *s)
{
	char text[4096], *line, *save = NULL;
	size_t len = 0;
	int fd = open(SYSFS_DEVICES, O_RDONLY | O_CLOEXEC);
	int rc = -ENODEV;

	if (fd < 0)
		return errno_or(-ENODEV);
	while (len + 1 < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = 0;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned int index;

		if (sscanf(line, "%u %31s %15s %63s %63s", &index, s->name,
			   s->kind, s->cdev, s->group) == 5 &&
		    index == 0) {
			rc = 0;
			break;
		}
	}
	if (!rc && strcmp(s->kind, "dma-log"))
		rc = -ENODEV;
	return rc;
}

static int iommufd_destroy(const struct dma_host *h, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(h->iommufd, IOMMU_DESTROY, &cmd) ? errno_or(-EIO) : 0;
}

/* Bind the cdev, map the memory 4K-only, a dirty-capable HWPT, attach. */
static int iommufd_setup(struct dma_host *h)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
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
		.user_va = h->va,
		.length = h->length,
		.iova = DMA_IOVA,
	};
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
	};
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	int fd, rc;

	h->iommufd = open(IOMMU_NODE, O_RDWR | O_CLOEXEC);
	if (h->iommufd < 0)
		return errno_or(-ENODEV);
	fd = open(h->sys.cdev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno_or(-ENODEV);
	h->dev.fd = fd;
	bind.iommufd = h->iommufd;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return errno_or(-EIO);
	h->devid = bind.out_devid;
	rc = devh_open(&h->dev, fd);
	if (rc)
		return rc;
	if (ioctl(h->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return errno_or(-EIO);
	h->ioas = alloc.out_ioas_id;
	opt.object_id = h->ioas;
	map.ioas_id = h->ioas;
	if (ioctl(h->iommufd, IOMMU_OPTION, &opt) ||
	    ioctl(h->iommufd, IOMMU_IOAS_MAP, &map))
		return errno_or(-EIO);
	hwpt.dev_id = h->devid;
	hwpt.pt_id = h->ioas;
	if (ioctl(h->iommufd, IOMMU_HWPT_ALLOC, &hwpt))
		return errno_or(-EIO);
	h->hwpt = hwpt.out_hwpt_id;
	attach.pt_id = h->hwpt;
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return errno_or(-EIO);
	h->attached = true;
	return 0;
}

/* Closing the cdev resets the device and frees it for its group. */
static void iommufd_teardown(struct dma_host *h)
{
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};

	if (h->attached)
		ioctl(h->dev.fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach);
	devh_close(&h->dev);
	if (h->iommufd >= 0) {
		if (h->hwpt)
			iommufd_destroy(h, h->hwpt);
		if (h->ioas)
			iommufd_destroy(h, h->ioas);
		close(h->iommufd);
	}
	h->attached = false;
	h->hwpt = h->ioas = 0;
	h->iommufd = -1;
}

/* The group in a type1v2 container mapping the same memory; its device. */
static int type1_setup(struct dma_host *h)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = h->va,
		.iova = DMA_IOVA,
		.size = h->length,
	};
	struct vfio_iommu_type1_dirty_bitmap start = {
		.argsz = sizeof(start),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
	};
	int fd;

	h->container = open(CONTAINER, O_RDWR | O_CLOEXEC);
	if (h->container < 0)
		return errno_or(-ENODEV);
	h->group = open(h->sys.group, O_RDWR | O_CLOEXEC);
	if (h->group < 0)
		return errno_or(-ENODEV);
	if (ioctl(h->group, VFIO_GROUP_GET_STATUS, &status))
		return errno_or(-EIO);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EPERM;
	if (ioctl(h->group, VFIO_GROUP_SET_CONTAINER, &h->container) ||
	    ioctl(h->container, VFIO_SET_IOMMU,
		  (unsigned long)VFIO_TYPE1v2_IOMMU))
		return errno_or(-EIO);
	fd = ioctl(h->group, VFIO_GROUP_GET_DEVICE_FD, h->sys.name);
	if (fd < 0)
		return errno_or(-EIO);
	if (devh_open(&h->dev, fd))
		return -ENODEV;
	if (ioctl(h->container, VFIO_IOMMU_MAP_DMA, &map))
		return errno_or(-EIO);
	h->type1_mapped = true;
	return ioctl(h->container, VFIO_IOMMU_DIRTY_PAGES, &start) ?
		       errno_or(-EIO) :
		       0;
}

static void type1_teardown(struct dma_host *h)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = DMA_IOVA,
		.size = h->length,
	};

	devh_close(&h->dev);
	if (h->type1_mapped)
		ioctl(h->container, VFIO_IOMMU_UNMAP_DMA, &unmap);
	h->type1_mapped = false;
	if (h->group >= 0)
		close(h->group);
	if (h->container >= 0)
		close(h->container);
	h->group = h->container = -1;
}

/* ---- the measurements ---- */

/*
 * One row: every mode and the memcpy limit, @o->reps times, the modes in
 * an order that rotates. Rates are bytes per second and ratios parts per
 * million of the same repetition's "off", so that bench_median_u64()
 * takes the medians.
 */
enum { S_WALL, S_CPU, S_PPM, S_NR };

static int run_row(const struct dma_host *h, const struct dma_opts *o,
		   uint64_t bs, struct dma_row *row)
{
	size_t n = (size_t)o->reps;
	uint64_t *v = calloc(n * (S_NR * MODE_NR + 1), sizeof(uint64_t));
	uint64_t *smp[S_NR][MODE_NR], *mc;
	uint8_t *src = malloc(bs);
	int rc = 0;

	if (!v || !src) {
		rc = -ENOMEM;
		goto out;
	}
	for (int k = 0; k < S_NR; k++)
		for (int m = 0; m < MODE_NR; m++)
			smp[k][m] = v + (size_t)(k * MODE_NR + m) * n;
	mc = v + (size_t)S_NR * MODE_NR * n;
	memset(src, 0xd1, bs);
	memset(row, 0, sizeof(*row));
	row->block = bs;
	engine_setup(&h->dev, DMA_IOVA, o->window, (uint32_t)bs);
	/* Untimed: the window's first touch, and a warm engine. */
	rc = engine_pass(&h->dev, o->window / bs);
	for (size_t r = 0; r < n && !rc; r++) {
		for (int k = 0; k < MODE_NR && !rc; k++) {
			enum mode m = (enum mode)((r + (size_t)k) % MODE_NR);

			rc = mode_set(h, m, true);
			if (!rc)
				rc = engine_rate(&h->dev, o->ms,
						 &smp[S_WALL][m][r],
						 &smp[S_CPU][m][r]);
			if (mode_set(h, m, false) && !rc)
				rc = -EIO;
		}
		mc[r] = memcpy_rate((uint8_t *)(uintptr_t)h->va, o->window, src,
				    bs, o->ms);
		for (int m = 0; m < MODE_NR && smp[S_CPU][MODE_OFF][r]; m++)
			smp[S_PPM][m][r] = smp[S_CPU][m][r] * 1000000 /
					   smp[S_CPU][MODE_OFF][r];
	}
	if (rc) {
		fprintf(stderr,
			"iodirty bench " NAME ": %llu-byte blocks: %s\n",
			(unsigned long long)bs, strerror(-rc));
		goto out;
	}
	for (int m = 0; m < MODE_NR; m++) {
		row->wall_bps[m] = (double)bench_median_u64(smp[S_WALL][m], n);
		row->bps[m] = (double)bench_median_u64(smp[S_CPU][m], n);
		row->ratio[m] =
			(double)bench_median_u64(smp[S_PPM][m], n) / 1e6;
	}
	row->memcpy_bps = (double)bench_median_u64(mc, n);
out:
	free(src);
	free(v);
	return rc;
}

/*
 * @o->reps times: the device writes the window once (untimed), then each
 * reader of @rds (in an order that alternates) reads the whole range and
 * must report @want pages. The medians go to @s.
 */
static int run_sync(const struct dma_host *h, const struct dma_opts *o,
		    const enum reader *rds, unsigned int nrd, uint64_t want,
		    struct dma_sync *s)
{
	size_t n = (size_t)o->reps;
	uint64_t *v = calloc(n * 2 * nrd, sizeof(uint64_t));
	int rc = v ? 0 : -ENOMEM;

	if (!rc)
		engine_setup(&h->dev, DMA_IOVA, o->window, SYNC_BLOCK);
	for (size_t r = 0; r < n && !rc; r++) {
		rc = engine_pass(&h->dev, o->window / SYNC_BLOCK);
		for (unsigned int k = 0; k < nrd && !rc; k++) {
			unsigned int i = (unsigned int)((r + k) % nrd);

			rc = read_check(h, rds[i], want, &v[(2 * i) * n + r],
					&v[(2 * i + 1) * n + r]);
		}
	}
	for (unsigned int i = 0; i < nrd && !rc; i++) {
		s->wall_ns[rds[i]] = bench_median_u64(&v[(2 * i) * n], n);
		s->cpu_ns[rds[i]] = bench_median_u64(&v[(2 * i + 1) * n], n);
	}
	free(v);
	return rc;
}

/* The iommufd phase's reads: HWPT and DMA log, both trackers on. */
static int run_sync_iommufd(const struct dma_host *h, const struct dma_opts *o,
			    struct dma_sync *s)
{
	static const enum reader rds[] = { RD_HWPT, RD_LOG };
	uint64_t wall, cpu;
	int rc;

	rc = iommu_tracking(h, true);
	if (!rc)
		rc = dma_logging(h, true);
	if (!rc)
		rc = run_sync(h, o, rds, ARRAY_SIZE(rds), s->window_pages, s);
	/* Each cleared what it reported. */
	for (unsigned int i = 0; i < ARRAY_SIZE(rds) && !rc; i++)
		rc = read_check(h, rds[i], 0, &wall, &cpu);
	dma_logging(h, false);
	iommu_tracking(h, false);
	return rc;
}

/* ---- output ---- */

static const char *size_name(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= SZ_1G && !(bytes % SZ_1G))
		snprintf(buf, len, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes >= SZ_1M && !(bytes % SZ_1M))
		snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
	else if (bytes >= 1024 && !(bytes % 1024))
		snprintf(buf, len, "%lluK", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return buf;
}

static double us_per_gib(const struct dma_opts *o, uint64_t ns)
{
	return (double)ns / 1000.0 / (double)o->mapped_gib;
}

static bool row_met(const struct dma_row *row)
{
	return row->ratio[MODE_IOMMU] >= TARGET_RATIO;
}

static void print_text(const struct dma_opts *o, const struct dma_host *h,
		       const struct dma_row *rows, const struct dma_sync *s)
{
	char model[128], a[24], b[24], c[24], d[24], e[24], f[24];
	unsigned int met = 0;

	bench_cpu_model(model, sizeof(model));
	printf("dma: %s (%s) behind the emulated %s IOMMU, %u CPUs (%s)\n",
	       h->sys.name, h->sys.kind, o->iommu, bench_cpu_count(), model);
	printf("engine: sequential blocks over a %s window of %llu GiB mapped at 4 KiB leaves;\n"
	       "median of %llu reps of %llu ms per mode, modes in rotating order\n"
	       "GB/s = bytes per second of the engine's CPU time (per second of wall time in\n"
	       "brackets, which this machine's load moves); ratios = median of mode / off\n"
	       "memcpy = one CPU copying blocks of the same size over the same window (the limit)\n\n",
	       size_name(a, sizeof(a), o->window),
	       (unsigned long long)o->mapped_gib, (unsigned long long)o->reps,
	       (unsigned long long)o->ms);
	printf("%6s %16s %16s %16s %9s %7s %7s %7s\n", "block", "off GB/s",
	       "iommu GB/s", "log GB/s", "iommu/off", "log/off", "memcpy",
	       "off/mc");
	for (size_t i = 0; i < o->nblocks; i++) {
		const struct dma_row *r = &rows[i];
		char col[MODE_NR][40];

		for (int m = 0; m < MODE_NR; m++)
			snprintf(col[m], sizeof(col[m]), "%s (%s)",
				 bench_fmt(a, sizeof(a), r->bps[m] / 1e9),
				 bench_fmt(b, sizeof(b), r->wall_bps[m] / 1e9));
		printf("%6s %16s %16s %16s %9s %7s %7s %7s\n",
		       size_name(a, sizeof(a), r->block), col[MODE_OFF],
		       col[MODE_IOMMU], col[MODE_LOG],
		       bench_fmt(c, sizeof(c), r->ratio[MODE_IOMMU]),
		       bench_fmt(d, sizeof(d), r->ratio[MODE_LOG]),
		       bench_fmt(e, sizeof(e), r->memcpy_bps / 1e9),
		       bench_fmt(f, sizeof(f),
				 r->bps[MODE_OFF] / r->memcpy_bps));
		met += row_met(r);
	}
	printf("\ntarget: IOMMU dirty tracking on costs under 10%% of DMA throughput (iommu/off >= %.2f)\n",
	       TARGET_RATIO);
	for (size_t i = 0; i < o->nblocks; i++)
		printf("  %6s: iommu/off %s: %s\n",
		       size_name(a, sizeof(a), rows[i].block),
		       bench_fmt(b, sizeof(b), rows[i].ratio[MODE_IOMMU]),
		       row_met(&rows[i]) ? "met" : "missed");
	printf("  met in %u of %zu rows\n", met, o->nblocks);

	printf("\nsync: read and clear all %llu GiB mapped, 4 KiB per bit, after the device wrote\n"
	       "the %s window (%llu pages); median of %llu, us per GiB of mapped memory\n"
	       "of the caller's CPU time (wall time in brackets)\n",
	       (unsigned long long)o->mapped_gib,
	       size_name(a, sizeof(a), o->window),
	       (unsigned long long)s->window_pages,
	       (unsigned long long)o->reps);
	for (int i = 0; i < RD_NR; i++) {
		snprintf(model, sizeof(model), "%s (%s)",
			 bench_fmt(a, sizeof(a), us_per_gib(o, s->cpu_ns[i])),
			 bench_fmt(b, sizeof(b), us_per_gib(o, s->wall_ns[i])));
		printf("  %-42s %17s us/GiB  %llu pages%s\n", readers[i].name,
		       model,
		       (unsigned long long)(i == RD_TYPE1 ? s->mapped_pages :
							    s->window_pages),
		       i == RD_TYPE1 ? " (every mapped page)" :
		       i == RD_HWPT  ? " (for reference)" :
				       "");
	}
}

static void print_json(const struct dma_opts *o, const struct dma_host *h,
		       const struct dma_row *rows, const struct dma_sync *s)
{
	struct json j;
	bool all_met = true;

	bench_json_begin(&j, NAME);
	json_str(&j, "device", h->sys.name);
	json_str(&j, "kind", h->sys.kind);
	json_str(&j, "iommu", o->iommu);
	json_u64(&j, "reps", o->reps);
	json_u64(&j, "interval_ms", o->ms);
	json_u64(&j, "window_bytes", o->window);
	json_u64(&j, "mapped_gib", o->mapped_gib);
	json_u64(&j, "bitmap_page_size", BITMAP_PAGE);
	json_double(&j, "target_iommu_ratio", TARGET_RATIO);
	json_open(&j, "rows", '[');
	for (size_t i = 0; i < o->nblocks; i++) {
		const struct dma_row *r = &rows[i];

		json_open(&j, NULL, '{');
		json_u64(&j, "block", r->block);
		for (int m = 0; m < MODE_NR; m++) {
			char key[32];

			snprintf(key, sizeof(key), "%s_gbps_cpu",
				 mode_names[m]);
			json_double(&j, key, r->bps[m] / 1e9);
			snprintf(key, sizeof(key), "%s_gbps_wall",
				 mode_names[m]);
			json_double(&j, key, r->wall_bps[m] / 1e9);
		}
		json_double(&j, "iommu_ratio", r->ratio[MODE_IOMMU]);
		json_double(&j, "log_ratio", r->ratio[MODE_LOG]);
		json_double(&j, "memcpy_gbps_cpu", r->memcpy_bps / 1e9);
		json_double(&j, "off_to_memcpy",
			    r->bps[MODE_OFF] / r->memcpy_bps);
		json_u64(&j, "target_met", row_met(r));
		json_close(&j);
		all_met &= row_met(r);
	}
	json_close(&j);
	json_u64(&j, "target_met", all_met);
	json_open(&j, "sync", '{');
	json_u64(&j, "dirty_pages", s->window_pages);
	json_u64(&j, "mapped_pages", s->mapped_pages);
	for (int i = 0; i < RD_NR; i++) {
		static const char *const keys[RD_NR] = {
			[RD_LOG] = "dma_logging_report",
			[RD_TYPE1] = "type1_get_bitmap",
			[RD_HWPT] = "hwpt_get_dirty_bitmap",
		};
		char key[64];

		snprintf(key, sizeof(key), "%s_us_per_gib_cpu", keys[i]);
		json_double(&j, key, us_per_gib(o, s->cpu_ns[i]));
		snprintf(key, sizeof(key), "%s_us_per_gib_wall", keys[i]);
		json_double(&j, key, us_per_gib(o, s->wall_ns[i]));
	}
	json_close(&j);
	json_close(&j);
}

/* ---- command line ---- */

/* --iommu: a name the emulated host takes in IODIRTY_IOMMU. */
static int parse_iommu(const char *val, void *dst)
{
	if (strcmp(val, "amd") && strcmp(val, "intel") && strcmp(val, "arm"))
		return -EINVAL;
	*(const char **)dst = val;
	return 0;
}

static enum bench_args dma_parse(int argc, char **argv, struct dma_opts *o)
{
	bool quick = false;
	const struct bench_opt opts[] = {
		{ .name = "--json", .kind = BENCH_OPT_FLAG, .dst = &o->json },
		{ .name = "--quick", .kind = BENCH_OPT_FLAG, .dst = &quick },
		{ .name = "--blocks",
		  .kind = BENCH_OPT_SIZE_LIST,
		  .dst = o->blocks,
		  .n = &o->nblocks,
		  .max_n = MAX_BLOCKS,
		  .min = DMA_BLOCK_MIN,
		  .max = DMA_BLOCK_MAX,
		  .align = DMA_BLOCK_MIN,
		  .hint = "up to " BENCH_STR(
			  MAX_BLOCKS) " sizes, each a multiple of 64 from 64 to 1M" },
		{ .name = "--window",
		  .kind = BENCH_OPT_SIZE,
		  .dst = &o->window,
		  .min = 1,
		  .max = UINT64_MAX,
		  .align = DMA_BLOCK_MAX,
		  .hint = "a multiple of 1M" },
		{ .name = "--mapped-gib",
		  .kind = BENCH_OPT_U64,
		  .dst = &o->mapped_gib,
		  .min = 1,
		  .max = MAX_GIB,
		  .hint = "GiB 1.." BENCH_STR(MAX_GIB) },
		BENCH_OPT_REPS(&o->reps, MAX_REPS),
		{ .name = "--ms",
		  .kind = BENCH_OPT_U64,
		  .dst = &o->ms,
		  .min = 1,
		  .max = MAX_MS,
		  .hint = "milliseconds 1.." BENCH_STR(MAX_MS) },
		{ .name = "--iommu",
		  .kind = BENCH_OPT_FN,
		  .dst = &o->iommu,
		  .parse = parse_iommu,
		  .hint = "amd, intel or arm" },
	};
	enum bench_args rc;

	memset(o, 0, sizeof(*o));
	rc = bench_args_parse(NAME, BENCH_DMA_USAGE, argc, argv, opts,
			      ARRAY_SIZE(opts));
	if (rc != BENCH_ARGS_RUN)
		return rc;
	if (!o->nblocks) {
		o->blocks[o->nblocks++] = SYNC_BLOCK;
		if (!quick) {
			o->blocks[o->nblocks++] = SZ_4K;
			o->blocks[o->nblocks++] = DMA_BLOCK_MAX;
		}
	}
	if (!o->reps)
		o->reps = quick ? QUICK_REPS : DEFAULT_REPS;
	if (!o->ms)
		o->ms = quick ? QUICK_MS : DEFAULT_MS;
	if (!o->mapped_gib)
		o->mapped_gib = quick ? QUICK_GIB : DEFAULT_GIB;
	if (!o->window)
		o->window = quick ? QUICK_WIN : DEFAULT_WIN;
	if (!o->iommu)
		o->iommu = "amd";
	if (o->window > o->mapped_gib * SZ_1G) {
		bench_usage_error(NAME, BENCH_DMA_USAGE,
				  "--window is larger than --mapped-gib");
		return BENCH_ARGS_BAD;
	}
	return BENCH_ARGS_RUN;
}

int bench_dma(int argc, char **argv)
{
	struct dma_host h = {
		.dev = { .fd = -1 }, .iommufd = -1, .container = -1, .group = -1
	};
	static const enum reader type1_reader = RD_TYPE1;
	struct dma_sync s = { 0 };
	struct dma_opts o;
	struct dma_row *rows;
	void *map = MAP_FAILED;
	const char *step = "setup";
	int rc;

	rc = dma_parse(argc, argv, &o);
	if (rc != BENCH_ARGS_RUN)
		return rc == BENCH_ARGS_HELP ? 0 : 2;
	h.length = o.mapped_gib * SZ_1G;
	h.bitmap_words = (size_t)DIV_ROUND_UP(h.length / BITMAP_PAGE, 64);
	s.window_pages = o.window / BITMAP_PAGE;
	s.mapped_pages = h.length / BITMAP_PAGE;
	rows = calloc(o.nblocks, sizeof(*rows));
	h.bitmap = calloc(h.bitmap_words, sizeof(uint64_t));
	/* Only the window's pages ever become real. */
	map = mmap(NULL, h.length, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!rows || !h.bitmap || map == MAP_FAILED) {
		rc = -ENOMEM;
		goto out;
	}
	h.va = (uintptr_t)map;

	/* Read once, at the first open of an emulated node. */
	setenv("IODIRTY_DEVICES", "dma-log", 1);
	setenv("IODIRTY_IOMMU", o.iommu, 1);
	setenv("IODIRTY_FORCE", "1", 1);
	step = SYSFS_DEVICES " (a dma-log device 0)";
	rc = sysfs_lookup(&h.sys);
	if (rc)
		goto out;
	step = "iommufd: bind, map, HWPT with DIRTY_TRACKING, attach";
	rc = iommufd_setup(&h);
	if (rc)
		goto out;
	step = "throughput";
	for (size_t i = 0; i < o.nblocks && !rc; i++)
		rc = run_row(&h, &o, o.blocks[i], &rows[i]);
	if (rc)
		goto out;
	step = "HWPT and DMA log reads";
	rc = run_sync_iommufd(&h, &o, &s);
	if (rc)
		goto out;
	iommufd_teardown(&h);
	step = "type1: container, group, MAP_DMA, DIRTY_PAGES START";
	rc = type1_setup(&h);
	if (!rc) {
		/* Every mapped page, whatever the device wrote. */
		step = "type1 reads";
		rc = run_sync(&h, &o, &type1_reader, 1, s.mapped_pages, &s);
	}
	if (rc)
		goto out;
	if (o.json)
		print_json(&o, &h, rows, &s);
	else
		print_text(&o, &h, rows, &s);
out:
	if (rc)
		fprintf(stderr, "iodirty bench " NAME ": %s: %s\n", step,
			strerror(-rc));
	iommufd_teardown(&h);
	type1_teardown(&h);
	if (map != MAP_FAILED)
		munmap(map, h.length);
	free(h.bitmap);
	free(rows);
	return rc ? 1 : 0;
}
