// SPDX-License-Identifier: MIT
/*
 * vfio_dma_logging.c - VFIO_DEVICE_FEATURE_DMA_LOGGING_{START,STOP,REPORT}
 * on a device that logs its own DMA (kernel-abi.md §5.2; Linux
 * vfio_ioctl_device_feature_logging_start/_report and the mlx5 driver's
 * log ops): the core's checks with their errnos, the page size the device
 * chose written back, one START until STOP, and reports that hold exactly
 * the pages the engine wrote, read and cleared range by range.
 */
#include "abi_util.h"

#define IOVA	 0x40000000ULL
#define NPAGES	 512
#define MAP_SIZE (NPAGES * ABI_PAGE)
/* The engine writes pages [WIN_FIRST, WIN_FIRST + WIN_PAGES) of the map. */
#define WIN_FIRST 64
#define WIN_PAGES 256

#define F_START	 VFIO_DEVICE_FEATURE_DMA_LOGGING_START
#define F_STOP	 VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP
#define F_REPORT VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT

typedef struct vfio_device_feature_dma_logging_range log_range;

static int log_start(int fd, uint64_t *page_size, const log_range *ranges,
		     uint32_t n)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = *page_size,
		.num_ranges = n,
		.ranges = abi_ptr(ranges),
	};
	int rc = abi_feature(fd, ABI_FEAT_SET(F_START), &ctl, sizeof(ctl));

	*page_size = ctl.page_size;
	return rc;
}

static int log_start1(int fd, uint64_t page_size, uint64_t iova,
		      uint64_t length)
{
	log_range r = { iova, length };

	return log_start(fd, &page_size, &r, 1);
}

static int log_stop(int fd)
{
	return abi_feature(fd, ABI_FEAT_SET(F_STOP), NULL, 0);
}

static int log_report(int fd, uint64_t iova, uint64_t length,
		      uint64_t page_size, void *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.bitmap = abi_ptr(bitmap),
	};

	return abi_feature(fd, ABI_FEAT_GET(F_REPORT), &rep, sizeof(rep));
}

static void log_dev(struct abi_vdev *d)
{
	abi_vfio_host("dma-log", NULL);
	abi_vdev_open(d, 0);
	abi_vdev_map(d, IOVA, MAP_SIZE);
	abi_vdev_attach(d, d->ioas);
}

TEST(vfio_dma_logging, start_checks)
{
	static log_range many[257];
	struct vfio_device_feature_dma_logging_control ctl;
	uint64_t ps;
	struct abi_vdev d;
	log_range r[2];

	log_dev(&d);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(many); i++)
		many[i] = (log_range){ IOVA + i * 2 * ABI_PAGE, ABI_PAGE };

	/* Too short a payload for the control struct. */
	ctl = (__typeof__(ctl)){ .page_size = ABI_PAGE, .num_ranges = 1,
			     .ranges = abi_ptr(many) };
	EXPECT_ERRNO(EINVAL, abi_feature(d.fd, ABI_FEAT_SET(F_START), &ctl,
					 sizeof(ctl) - 1));
	/* No ranges; more than PAGE_SIZE / 16 of them. */
	ps = ABI_PAGE;
	EXPECT_ERRNO(EINVAL, log_start(d.fd, &ps, many, 0));
	EXPECT_ERRNO(E2BIG, log_start(d.fd, &ps, many, 257));
	EXPECT_ERRNO(E2BIG, log_start(d.fd, &ps, NULL, UINT32_MAX));
	/* A range list the kernel cannot read. */
	EXPECT_ERRNO(EFAULT, log_start(d.fd, &ps, abi_hole(ABI_PAGE), 2));
	/* Ranges not aligned to the page size. */
	EXPECT_ERRNO(EINVAL, log_start1(d.fd, ABI_PAGE, IOVA + 512, ABI_PAGE));
	EXPECT_ERRNO(EINVAL, log_start1(d.fd, ABI_PAGE, IOVA, ABI_PAGE + 8));
	EXPECT_ERRNO(EINVAL, log_start1(d.fd, 8192, IOVA + ABI_PAGE, 8192));
	/* iova + length past 2^64, even by ending exactly there. */
	EXPECT_ERRNO(EOVERFLOW, log_start1(d.fd, ABI_PAGE, UINT64_MAX - 4095,
					   2 * ABI_PAGE));
	EXPECT_ERRNO(EOVERFLOW,
		     log_start1(d.fd, ABI_PAGE, UINT64_MAX - 4095, ABI_PAGE));
	/* Overlapping ranges, in either order. */
	r[0] = (log_range){ IOVA, 4 * ABI_PAGE };
	r[1] = (log_range){ IOVA + 3 * ABI_PAGE, 4 * ABI_PAGE };
	EXPECT_ERRNO(EINVAL, log_start(d.fd, &ps, r, 2));
	r[0] = (log_range){ IOVA + 8 * ABI_PAGE, ABI_PAGE };
	r[1] = (log_range){ IOVA, 16 * ABI_PAGE };
	EXPECT_ERRNO(EINVAL, log_start(d.fd, &ps, r, 2));
	r[1] = r[0];
	EXPECT_ERRNO(EINVAL, log_start(d.fd, &ps, r, 2));

	/* Nothing above started logging: a report says so. */
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, ABI_PAGE, ABI_PAGE, &ps));
	/* STOP without START is fine. */
	EXPECT_EQ(log_stop(d.fd), 0);

	/* 256 ranges (the most), touching ones included. */
	ps = ABI_PAGE;
	ASSERT_EQ(log_start(d.fd, &ps, many, 256), 0);
	EXPECT_EQ(ps, ABI_PAGE);
	/* One START until STOP (mlx5vf_start_page_tracker: EINVAL). */
	EXPECT_ERRNO(EINVAL, log_start1(d.fd, ABI_PAGE, IOVA, ABI_PAGE));
	EXPECT_EQ(log_stop(d.fd), 0);
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, ABI_PAGE, ABI_PAGE, &ps));

	/* The device tracks 4 KiB at the finest: it says so. */
	r[0] = (log_range){ IOVA, 16 * ABI_PAGE };
	r[1] = (log_range){ IOVA + 16 * ABI_PAGE, 16 * ABI_PAGE };
	ps = 1024;
	ASSERT_EQ(log_start(d.fd, &ps, r, 2), 0);
	EXPECT_EQ(ps, ABI_PAGE);
	EXPECT_EQ(log_stop(d.fd), 0);
	abi_vdev_close(&d);
}

TEST(vfio_dma_logging, report_checks)
{
	uint64_t bits[8] = { 0 };
	struct abi_vdev d;

	log_dev(&d);
	ASSERT_EQ(log_start1(d.fd, ABI_PAGE, IOVA, MAP_SIZE), 0);

	EXPECT_ERRNO(EINVAL, abi_feature(d.fd, ABI_FEAT_GET(F_REPORT), bits,
					 31));
	/* page_size below 4 KiB or not a power of two. */
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, MAP_SIZE, 0, bits));
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, MAP_SIZE, 2048, bits));
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, MAP_SIZE, 4097, bits));
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, MAP_SIZE, 12288, bits));
	/* iova + length past 2^64. */
	EXPECT_ERRNO(EOVERFLOW, log_report(d.fd, UINT64_MAX - 4095,
					   2 * ABI_PAGE, ABI_PAGE, bits));
	EXPECT_ERRNO(EOVERFLOW, log_report(d.fd, UINT64_MAX - 4095, ABI_PAGE,
					   ABI_PAGE, bits));
	/* A bitmap the kernel cannot write. */
	EXPECT_ERRNO(EFAULT, log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE,
					abi_hole(ABI_PAGE)));
	/* Ranges it does not log report nothing, and that is fine. */
	EXPECT_EQ(log_report(d.fd, 0, 64 * ABI_PAGE, ABI_PAGE, bits), 0);
	EXPECT_EQ(bits[0], 0);
	EXPECT_EQ(log_stop(d.fd), 0);
	abi_vdev_close(&d);
}

/* Run the engine until it wrote @n more blocks, then stop it cleanly. */
static void dma_round(struct abi_vdev *d, uint64_t n)
{
	uint64_t w = abi_reg64(d->fd, DMA_REG_WRITES);

	abi_dma_run(d->fd);
	abi_dma_wait_writes(d->fd, w + n);
	abi_dma_stop(d->fd);
}

/*
 * What the log reports is what the device wrote: the pages holding its
 * blocks, nothing else, and each page once (a report clears it).
 */
TEST(vfio_dma_logging, report_exact)
{
	uint64_t want[NPAGES / 64], got[NPAGES / 64], want8k[NPAGES / 128];
	uint64_t part[4], rest[NPAGES / 64];
	struct abi_vdev d;

	log_dev(&d);
	abi_dma_setup(d.fd, IOVA + WIN_FIRST * ABI_PAGE, WIN_PAGES * ABI_PAGE,
		      ABI_PAGE, DMA_PATTERN_RANDOM, 400 * ABI_PAGE);
	ASSERT_EQ(log_start1(d.fd, ABI_PAGE, IOVA, MAP_SIZE), 0);

	for (int round = 0; round < 3; round++) {
		memset(d.buf, 0, MAP_SIZE);
		dma_round(&d, 24);
		EXPECT_GT(abi_dma_scan(d.buf, IOVA, NPAGES, 0, want), 8);
		memset(got, 0, sizeof(got));
		ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got), 0);
		ABI_EXPECT_BITMAP(got, want, NPAGES);
		/* Read and cleared: a second report is empty. */
		memset(got, 0, sizeof(got));
		ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got), 0);
		EXPECT_EQ(abi_popcount(got, NPAGES), 0);
	}

	/* At 8 KiB a bit covers two pages. */
	memset(d.buf, 0, MAP_SIZE);
	dma_round(&d, 24);
	abi_dma_scan(d.buf, IOVA, NPAGES, 0, want);
	memset(want8k, 0, sizeof(want8k));
	for (unsigned int p = 0; p < NPAGES; p++)
		if (want[p / 64] >> (p % 64) & 1)
			want8k[p / 128] |= 1ULL << ((p / 2) % 64);
	memset(got, 0, sizeof(got));
	ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, 8192, got), 0);
	ABI_EXPECT_BITMAP(got, want8k, NPAGES / 2);

	/*
	 * A report of part of the range reads and clears that part only,
	 * with bit 0 at its own start; the rest is still there after.
	 */
	memset(d.buf, 0, MAP_SIZE);
	dma_round(&d, 48);
	abi_dma_scan(d.buf, IOVA, NPAGES, 0, want);
	memset(part, 0, sizeof(part));
	ASSERT_EQ(log_report(d.fd, IOVA + 100 * ABI_PAGE, 100 * ABI_PAGE,
			     ABI_PAGE, part),
		  0);
	for (unsigned int p = 0; p < 100; p++) {
		int w = want[(100 + p) / 64] >> ((100 + p) % 64) & 1;

		if ((int)(part[p / 64] >> (p % 64) & 1) != w)
			test_fail_at(__FILE__, __LINE__, "page %u: %d", 100 + p,
				     !w);
	}
	EXPECT_EQ(part[1] >> 36, 0);
	memcpy(rest, want, sizeof(rest));
	for (unsigned int p = 100; p < 200; p++)
		rest[p / 64] &= ~(1ULL << (p % 64));
	memset(got, 0, sizeof(got));
	ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got), 0);
	ABI_EXPECT_BITMAP(got, rest, NPAGES);

	/* Bits are only set: what the caller's bitmap held stays. */
	memset(got, 0xff, sizeof(got));
	ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got), 0);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(got); i++)
		EXPECT_EQ(got[i], UINT64_MAX);

	/* After STOP nothing is logged and a report is refused. */
	EXPECT_EQ(log_stop(d.fd), 0);
	memset(d.buf, 0, MAP_SIZE);
	dma_round(&d, 8);
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got));
	/* A new START begins from nothing. */
	ASSERT_EQ(log_start1(d.fd, ABI_PAGE, IOVA, MAP_SIZE), 0);
	memset(got, 0, sizeof(got));
	ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got), 0);
	EXPECT_EQ(abi_popcount(got, NPAGES), 0);
	abi_vdev_close(&d);
}

/* Only the ranges given are logged: writes between them are not. */
TEST(vfio_dma_logging, ranges)
{
	uint64_t want[NPAGES / 64], got[NPAGES / 64];
	log_range r[2] = {
		{ IOVA, 128 * ABI_PAGE },
		{ IOVA + 192 * ABI_PAGE, 320 * ABI_PAGE },
	};
	uint64_t ps = ABI_PAGE;
	struct abi_vdev d;

	log_dev(&d);
	/* Sequential over the whole window: every page of it is written. */
	abi_dma_setup(d.fd, IOVA + WIN_FIRST * ABI_PAGE, WIN_PAGES * ABI_PAGE,
		      ABI_PAGE, DMA_PATTERN_SEQUENTIAL, 0);
	ASSERT_EQ(log_start(d.fd, &ps, r, 2), 0);
	dma_round(&d, WIN_PAGES);
	EXPECT_EQ(abi_dma_scan(d.buf, IOVA, NPAGES, 0, want), WIN_PAGES);
	for (unsigned int p = 128; p < 192; p++)
		want[p / 64] &= ~(1ULL << (p % 64));
	memset(got, 0, sizeof(got));
	ASSERT_EQ(log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, got), 0);
	ABI_EXPECT_BITMAP(got, want, NPAGES);
	abi_vdev_close(&d);
}

/* RESET stops logging; closing the device does too. */
TEST(vfio_dma_logging, reset_stops)
{
	uint64_t bits[NPAGES / 64];
	struct abi_vdev d;

	log_dev(&d);
	ASSERT_EQ(log_start1(d.fd, ABI_PAGE, IOVA, MAP_SIZE), 0);
	ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
	EXPECT_ERRNO(EINVAL, log_report(d.fd, IOVA, MAP_SIZE, ABI_PAGE, bits));
	EXPECT_EQ(log_start1(d.fd, ABI_PAGE, IOVA, MAP_SIZE), 0);
	abi_vdev_close(&d);
}
