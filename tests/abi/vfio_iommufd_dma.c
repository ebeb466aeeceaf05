// SPDX-License-Identifier: MIT
/*
 * vfio_iommufd_dma.c - a VFIO device's real DMA under iommufd: a cdev
 * device on a dirty-tracking HWPT, whose IOMMU's dirty bits report exactly
 * the pages the engine wrote (found by scanning memory for its blocks),
 * per IOMMU; and a mediated device bound through an access object, whose
 * DMA lands through the IOAS and never in an IOMMU's dirty bits
 * (kernel-abi.md §1.4, §2.2-§2.4; Linux drivers/vfio/iommufd.c).
 */
#include "abi_util.h"

#define IOVA	 0x40000000ULL
#define NPAGES	 512
#define MAP_SIZE (NPAGES * ABI_PAGE)
#define WIN_FIRST 64
#define WIN_PAGES 256
#define NO_CLEAR IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR

struct iommu_variant {
	const char *name;
	const char *iommu;
};

static const struct iommu_variant iommus[] = {
	{ "amd", "amd" },
	{ "intel", "intel" },
	{ "arm", "arm" },
};

/* A dma device on a dirty-tracking HWPT of its own, tracking. */
static uint32_t dirty_dev(struct abi_vdev *d, const char *iommu)
{
	uint32_t hwpt;

	abi_vfio_host("dma", iommu);
	abi_vdev_open(d, 0);
	abi_vdev_map(d, IOVA, MAP_SIZE);
	hwpt = abi_hwpt_alloc_ok(d->iommufd, d->devid, d->ioas,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	abi_vdev_attach(d, hwpt);
	EXPECT_EQ(d->pt, hwpt);
	abi_dma_setup(d->fd, IOVA + WIN_FIRST * ABI_PAGE, WIN_PAGES * ABI_PAGE,
		      ABI_PAGE, DMA_PATTERN_RANDOM, 400 * ABI_PAGE);
	return hwpt;
}

static void dma_round(int fd, uint64_t n)
{
	uint64_t w = abi_reg64(fd, DMA_REG_WRITES);

	abi_dma_run(fd);
	abi_dma_wait_writes(fd, w + n);
	abi_dma_stop(fd);
}

static void read_dirty(struct abi_vdev *d, uint32_t hwpt, uint64_t *bits,
		       uint32_t flags)
{
	memset(bits, 0, NPAGES / 8);
	ASSERT_EQ(abi_get_dirty(d->iommufd, hwpt, IOVA, MAP_SIZE, ABI_PAGE,
				bits, flags),
		  0);
}

/*
 * The IOMMU's dirty bits are the pages the device wrote: nothing more,
 * nothing less, read and cleared (or left, with NO_CLEAR).
 */
TEST_VARIANTS(vfio_iommufd_dma, dirty_exact, struct iommu_variant, iommus)
{
	uint64_t want[NPAGES / 64], got[NPAGES / 64];
	struct abi_vdev d;
	uint32_t hwpt;

	hwpt = dirty_dev(&d, v->iommu);
	/* Writes before tracking is on are not reported... */
	dma_round(d.fd, 8);
	ASSERT_EQ(abi_set_dirty(d.iommufd, hwpt, 1), 0);
	read_dirty(&d, hwpt, got, 0);
	EXPECT_EQ(abi_popcount(got, NPAGES), 0);

	for (int round = 0; round < 3; round++) {
		memset(d.buf, 0, MAP_SIZE);
		dma_round(d.fd, 24);
		EXPECT_GT(abi_dma_scan(d.buf, IOVA, NPAGES, 0, want), 8);
		read_dirty(&d, hwpt, got, round == 1 ? NO_CLEAR : 0);
		ABI_EXPECT_BITMAP(got, want, NPAGES);
		if (round == 1) {
			/* NO_CLEAR left them; this read takes them. */
			read_dirty(&d, hwpt, got, 0);
			ABI_EXPECT_BITMAP(got, want, NPAGES);
		}
		read_dirty(&d, hwpt, got, 0);
		EXPECT_EQ(abi_popcount(got, NPAGES), 0);
	}

	/* Tracking off: nothing is recorded; on again starts clean. */
	ASSERT_EQ(abi_set_dirty(d.iommufd, hwpt, 0), 0);
	dma_round(d.fd, 8);
	ASSERT_EQ(abi_set_dirty(d.iommufd, hwpt, 1), 0);
	read_dirty(&d, hwpt, got, 0);
	EXPECT_EQ(abi_popcount(got, NPAGES), 0);

	/* Dirt left unread is cleared by the next enable. */
	dma_round(d.fd, 8);
	ASSERT_EQ(abi_set_dirty(d.iommufd, hwpt, 1), 0);
	read_dirty(&d, hwpt, got, 0);
	EXPECT_EQ(abi_popcount(got, NPAGES), 0);
	abi_vdev_close(&d);
}

/*
 * Two devices on one dirty HWPT: the bitmap is the union of what both
 * wrote, each device's blocks where it put them.
 */
TEST(vfio_iommufd_dma, dirty_two_devices)
{
	uint64_t want[NPAGES / 64], got[NPAGES / 64], pages[NPAGES / 64];
	int fd1;
	uint32_t hwpt, pt;
	struct abi_vdev d;

	abi_vfio_host("dma,dma", NULL);
	abi_vdev_open(&d, 0);
	abi_vdev_map(&d, IOVA, MAP_SIZE);
	hwpt = abi_hwpt_alloc_ok(d.iommufd, d.devid, d.ioas,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	abi_vdev_attach(&d, hwpt);
	fd1 = abi_vfio_cdev_open_ok(1);
	ASSERT_EQ(abi_vfio_bind(fd1, d.iommufd, NULL), 0);
	pt = hwpt;
	ASSERT_EQ(abi_vfio_attach(fd1, &pt), 0);
	ASSERT_EQ(abi_set_dirty(d.iommufd, hwpt, 1), 0);

	/* Device 0 writes the first half of the map, device 1 the second. */
	abi_dma_setup(d.fd, IOVA, MAP_SIZE / 2, ABI_PAGE, DMA_PATTERN_RANDOM,
		      400 * ABI_PAGE);
	abi_dma_setup(fd1, IOVA + MAP_SIZE / 2, MAP_SIZE / 2, ABI_PAGE,
		      DMA_PATTERN_RANDOM, 400 * ABI_PAGE);
	abi_dma_run(d.fd);
	dma_round(fd1, 16);
	abi_dma_wait_writes(d.fd, 16);
	abi_dma_stop(d.fd);

	memset(want, 0, sizeof(want));
	abi_dma_scan(d.buf, IOVA, NPAGES / 2, 0, pages);
	memcpy(want, pages, NPAGES / 16);
	abi_dma_scan(d.buf + MAP_SIZE / 2, IOVA + MAP_SIZE / 2, NPAGES / 2, 1,
		     pages);
	memcpy(want + NPAGES / 128, pages, NPAGES / 16);
	read_dirty(&d, hwpt, got, 0);
	ABI_EXPECT_BITMAP(got, want, NPAGES);
	close(fd1);
	abi_vdev_close(&d);
}

/*
 * A mediated device binds through an iommufd access object: its devid is
 * no device to IOMMU_GET_HW_INFO or HWPT_ALLOC (ENOENT), it attaches to an
 * IOAS only (the pt_id stays the IOAS's), and its DMA lands through the
 * IOAS's mappings.
 */
TEST(vfio_iommufd_dma, mdev_access)
{
	struct iommu_hw_info info = { .size = sizeof(info) };
	uint64_t pages[NPAGES / 64], t0, size;
	uint32_t pt, ioas2, hwpt;
	struct abi_vdev d;
	uint8_t *buf2 = abi_buf(MAP_SIZE, ABI_PAGE);
	int dma_fd;
	uint32_t dma_devid;

	abi_vfio_host("mdev,dma", NULL);
	abi_vdev_open(&d, 0);
	EXPECT_NE(d.devid, 0);
	info.dev_id = d.devid;
	EXPECT_ERRNO(ENOENT, ioctl(d.iommufd, IOMMU_GET_HW_INFO, &info));
	EXPECT_ERRNO(ENOENT, abi_hwpt_alloc(d.iommufd, d.devid, d.ioas, 0,
					    NULL));
	/* The driver holds its access: it cannot be destroyed by id. */
	EXPECT_ERRNO(EBUSY, abi_destroy(d.iommufd, d.devid));

	/* Not attached yet: its DMA faults. */
	abi_vdev_map(&d, IOVA, MAP_SIZE);
	abi_dma_setup(d.fd, IOVA + WIN_FIRST * ABI_PAGE, 16 * ABI_PAGE,
		      ABI_PAGE, DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(d.fd);
	for (t0 = abi_now_ms();
	     !(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	     abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS;)
		abi_sleep_ms(1);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS), DMA_STATUS_FAULT);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_FAULT_IOVA),
		  IOVA + WIN_FIRST * ABI_PAGE);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_FAULT_REASON), PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_FAULT_WRITE), 1);
	abi_reg_write32(d.fd, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	abi_dma_setup(d.fd, IOVA + WIN_FIRST * ABI_PAGE, 16 * ABI_PAGE,
		      ABI_PAGE, DMA_PATTERN_SEQUENTIAL, 0);

	/* An HWPT is no place for it: ENOENT. */
	dma_fd = abi_vfio_cdev_open_ok(1);
	ASSERT_EQ(abi_vfio_bind(dma_fd, d.iommufd, &dma_devid), 0);
	hwpt = abi_hwpt_alloc_ok(d.iommufd, dma_devid, d.ioas,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	pt = hwpt;
	EXPECT_ERRNO(ENOENT, abi_vfio_attach(d.fd, &pt));

	/* An IOAS: the id comes back unchanged, and the IOAS is held. */
	pt = d.ioas;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	EXPECT_EQ(pt, d.ioas);
	EXPECT_ERRNO(EBUSY, abi_destroy(d.iommufd, d.ioas));
	dma_round(d.fd, 16);
	EXPECT_EQ(abi_dma_scan(d.buf, IOVA, NPAGES, 0, pages), 16);
	EXPECT_EQ(pages[1], 0xffffULL);

	/*
	 * Its writes are the CPU's, through the access: an IOMMU's dirty
	 * bits never see them (the dma device's HWPT is on the same IOAS).
	 */
	pt = hwpt;
	ASSERT_EQ(abi_vfio_attach(dma_fd, &pt), 0);
	ASSERT_EQ(abi_set_dirty(d.iommufd, hwpt, 1), 0);
	memset(d.buf, 0, MAP_SIZE);
	dma_round(d.fd, 16);
	EXPECT_EQ(abi_dma_scan(d.buf, IOVA, NPAGES, 0, pages), 16);
	read_dirty(&d, hwpt, pages, 0);
	EXPECT_EQ(abi_popcount(pages, NPAGES), 0);

	/* Moved to another IOAS, its DMA follows. */
	ioas2 = abi_ioas_alloc(d.iommufd);
	ASSERT_EQ(abi_map_fixed(d.iommufd, ioas2, buf2, MAP_SIZE, IOVA), 0);
	pt = ioas2;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	EXPECT_EQ(pt, ioas2);
	memset(d.buf, 0, MAP_SIZE);
	dma_round(d.fd, 16);
	EXPECT_EQ(abi_dma_scan(buf2, IOVA, NPAGES, 0, pages), 16);
	EXPECT_EQ(abi_dma_scan(d.buf, IOVA, NPAGES, 0, pages), 0);

	/* Unmapped under it, its DMA faults; the host carries on. */
	size = 0;
	ASSERT_EQ(abi_unmap(d.iommufd, ioas2, IOVA, MAP_SIZE, &size), 0);
	EXPECT_EQ(size, MAP_SIZE);
	abi_dma_run(d.fd);
	for (t0 = abi_now_ms();
	     !(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	     abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS;)
		abi_sleep_ms(1);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS), DMA_STATUS_FAULT);
	EXPECT_GE(abi_reg64(d.fd, DMA_REG_FAULT_IOVA), IOVA + WIN_FIRST * ABI_PAGE);

	/* Detached, the IOAS is free; closing the device frees the access. */
	ASSERT_EQ(abi_vfio_detach(d.fd), 0);
	EXPECT_EQ(abi_destroy(d.iommufd, ioas2), 0);
	close(d.fd);
	EXPECT_ERRNO(ENOENT, abi_destroy(d.iommufd, d.devid));
	close(dma_fd);
	close(d.iommufd);
}
