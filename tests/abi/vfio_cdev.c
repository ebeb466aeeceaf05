// SPDX-License-Identifier: MIT
/*
 * vfio_cdev.c - a VFIO device through its cdev, /dev/vfio/devices/vfioN:
 * the nodes, VFIO_DEVICE_BIND_IOMMUFD and what a file may do before it,
 * ATTACH/DETACH_IOMMUFD_PT, GET_INFO, GET_REGION_INFO, the regions by
 * pread/pwrite/mmap, the IRQ ioctls and RESET, as Linux device_cdev.c,
 * vfio_main.c and vfio_pci_core.c answer them (kernel-abi.md §5.3; the
 * device's registers are include/iodirty/dev.h).
 */
#include "abi_util.h"

#define IOVA	 0x40000000ULL
#define MAP_SIZE (64 * ABI_PAGE)

TEST(vfio_cdev, nodes)
{
	char text[4096] = { 0 }, want[128];
	static const char *const kinds[] = { "dma", "dma-log", "mdev",
					     "dma-nodirty" };
	ssize_t n;
	int fd;

	abi_vfio_host("dma,dma-log,mdev,dma-nodirty", NULL);
	for (unsigned int i = 0; i < 4; i++) {
		fd = abi_vfio_cdev_open_ok(i);
		close(fd);
	}
	EXPECT_ERRNO(ENOENT, abi_vfio_cdev_open(4));
	EXPECT_ERRNO(ENOENT, abi_vfio_group_open(4));
	EXPECT_ERRNO(ENOENT, open("/dev/vfio/devices/vfio01", O_RDWR));

	fd = open("/sys/kernel/iodirty/devices", O_RDONLY);
	ASSERT_GE(fd, 0);
	n = read(fd, text, sizeof(text) - 1);
	ASSERT_GT(n, 0);
	close(fd);
	for (unsigned int i = 0; i < 4; i++) {
		snprintf(want, sizeof(want),
			 "\n%u 0000:00:%02x.0 %s /dev/vfio/devices/vfio%u /dev/vfio/%u ",
			 i, i + 1, kinds[i], i, i);
		if (!strstr(text, want))
			test_fail_at(__FILE__, __LINE__, "no line '%s' in:\n%s",
				     want + 1, text);
	}
	EXPECT_ERRNO(EACCES, open("/sys/kernel/iodirty/devices", O_RDWR));
}

/* Until BIND_IOMMUFD, a cdev file may do nothing else (EINVAL). */
TEST(vfio_cdev, nothing_before_bind)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	struct vfio_irq_info irq = { .argsz = sizeof(irq) };
	struct vfio_irq_set set = { .argsz = sizeof(set) };
	uint32_t v, pt = 1;
	int fd;

	abi_vfio_host("dma", NULL);
	fd = abi_vfio_cdev_open_ok(0);
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg));
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_SET_IRQS, &set));
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_RESET));
	EXPECT_ERRNO(EINVAL, abi_feature(fd,
					 ABI_FEAT_PROBE(VFIO_DEVICE_FEATURE_MIGRATION),
					 NULL, 0));
	EXPECT_ERRNO(EINVAL, abi_vfio_attach(fd, &pt));
	EXPECT_ERRNO(EINVAL, abi_vfio_detach(fd));
	/* Even one it does not know: access is checked first. */
	EXPECT_ERRNO(EINVAL, ioctl(fd, _IO(VFIO_TYPE, VFIO_BASE + 60)));
	EXPECT_ERRNO(EINVAL, pread(fd, &v, 4, 0));
	EXPECT_ERRNO(EINVAL, pwrite(fd, &v, 4, DMA_REG_PATTERN));
	EXPECT_TRUE(mmap(NULL, ABI_PAGE, PROT_READ, MAP_SHARED, fd, 0) ==
		    MAP_FAILED);
	EXPECT_EQ(errno, EINVAL);
	close(fd);
}

TEST(vfio_cdev, bind)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
	};
	int iommufd, fd, fd2, other, pipefd[2], closed;
	uint32_t devid = 0, devid2 = 0;

	abi_vfio_host("dma,dma", NULL);
	iommufd = abi_open();
	fd = abi_vfio_cdev_open_ok(0);
	bind.iommufd = iommufd;

	/* argsz, flags and a negative fd: EINVAL. */
	bind.argsz = sizeof(bind) - 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	bind.argsz = sizeof(bind);
	bind.flags = 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	bind.flags = 0;
	EXPECT_ERRNO(EINVAL, abi_vfio_bind(fd, -1, NULL));
	/* Not an open fd: EBADF; not an iommufd: EBADFD. */
	closed = dup(iommufd);
	ASSERT_GE(closed, 0);
	close(closed);
	EXPECT_ERRNO(EBADF, abi_vfio_bind(fd, closed, NULL));
	ASSERT_EQ(pipe(pipefd), 0);
	EXPECT_ERRNO(EBADFD, abi_vfio_bind(fd, pipefd[0], NULL));
	other = abi_vfio_container_open();
	EXPECT_ERRNO(EBADFD, abi_vfio_bind(fd, other, NULL));
	fd2 = abi_vfio_cdev_open_ok(1);
	EXPECT_ERRNO(EBADFD, abi_vfio_bind(fd, fd2, NULL));

	/* A larger argsz is fine (the tail is the newer token field). */
	bind.argsz = sizeof(bind) + 8;
	ASSERT_EQ(ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	devid = bind.out_devid;
	EXPECT_NE(devid, 0);
	/* The devid is an iommufd object: IOMMU_DESTROY on it is EBUSY. */
	EXPECT_ERRNO(EBUSY, abi_destroy(iommufd, devid));
	/* Once bound, a second bind is EINVAL, even to another iommufd. */
	EXPECT_ERRNO(EINVAL, abi_vfio_bind(fd, iommufd, NULL));

	/* The other device binds on its own, to the same iommufd. */
	ASSERT_EQ(abi_vfio_bind(fd2, iommufd, &devid2), 0);
	EXPECT_NE(devid2, devid);
	close(fd2);
	close(other);
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
	close(iommufd);
}

/*
 * One user at a time (Linux vfio_df_open(), vfio_device_block_group()): a
 * second cdev file of a bound device cannot bind (EINVAL), its group cannot
 * be opened while it is bound (EBUSY), and it cannot bind while its group
 * is open (EBUSY).
 */
TEST(vfio_cdev, one_user)
{
	int iommufd, fd, fd2, group;

	abi_vfio_host("dma", NULL);
	iommufd = abi_open();
	fd = abi_vfio_cdev_open_ok(0);
	fd2 = abi_vfio_cdev_open_ok(0);
	ASSERT_EQ(abi_vfio_bind(fd, iommufd, NULL), 0);
	EXPECT_ERRNO(EINVAL, abi_vfio_bind(fd2, iommufd, NULL));
	EXPECT_ERRNO(EBUSY, abi_vfio_group_open(0));

	/* Closing the bound file frees the device for the other one. */
	close(fd);
	ASSERT_EQ(abi_vfio_bind(fd2, iommufd, NULL), 0);
	close(fd2);

	/* The group open first: no cdev file can bind. */
	group = abi_vfio_group_open(0);
	ASSERT_GE(group, 0);
	fd = abi_vfio_cdev_open_ok(0);
	EXPECT_ERRNO(EBUSY, abi_vfio_bind(fd, iommufd, NULL));
	close(group);
	EXPECT_EQ(abi_vfio_bind(fd, iommufd, NULL), 0);
	close(fd);
	close(iommufd);
}

TEST(vfio_cdev, attach_detach)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};
	uint32_t pt, auto_hwpt, plain, dirty, ioas2;
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);

	/* An IOAS: the device gets an auto domain, whose id comes back. */
	pt = d.ioas;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	auto_hwpt = pt;
	EXPECT_NE(auto_hwpt, d.ioas);
	EXPECT_ERRNO(EBUSY, abi_destroy(d.iommufd, auto_hwpt));
	/* Auto domains never track dirty pages (kernel-abi.md §2.4). */
	EXPECT_ERRNO(EOPNOTSUPP, abi_set_dirty(d.iommufd, auto_hwpt, 1));
	/* Attaching again to the same IOAS keeps the same domain. */
	pt = d.ioas;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	EXPECT_EQ(pt, auto_hwpt);

	/* Replace with HWPTs of its own: the auto domain goes. */
	plain = abi_hwpt_alloc_ok(d.iommufd, d.devid, d.ioas, 0);
	dirty = abi_hwpt_alloc_ok(d.iommufd, d.devid, d.ioas,
				  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	pt = plain;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	EXPECT_EQ(pt, plain);
	EXPECT_ERRNO(ENOENT, abi_destroy(d.iommufd, auto_hwpt));
	pt = dirty;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	EXPECT_EQ(pt, dirty);
	EXPECT_EQ(abi_set_dirty(d.iommufd, dirty, 1), 0);
	EXPECT_ERRNO(EBUSY, abi_destroy(d.iommufd, dirty));
	EXPECT_EQ(abi_destroy(d.iommufd, plain), 0);

	/* To another IOAS. */
	ioas2 = abi_ioas_alloc(d.iommufd);
	pt = ioas2;
	ASSERT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	EXPECT_NE(pt, ioas2);
	EXPECT_EQ(abi_destroy(d.iommufd, dirty), 0);
	EXPECT_ERRNO(EBUSY, abi_destroy(d.iommufd, ioas2));

	/* Bad arguments. */
	attach.pt_id = d.ioas;
	attach.argsz = sizeof(attach) - 1;
	EXPECT_ERRNO(EINVAL,
		     ioctl(d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));
	attach.argsz = sizeof(attach);
	attach.flags = 1u << 1;
	EXPECT_ERRNO(EINVAL,
		     ioctl(d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));
	pt = 999;
	EXPECT_ERRNO(ENOENT, abi_vfio_attach(d.fd, &pt));
	pt = d.devid;
	EXPECT_ERRNO(EINVAL, abi_vfio_attach(d.fd, &pt));
	detach.argsz = sizeof(detach) - 1;
	EXPECT_ERRNO(EINVAL,
		     ioctl(d.fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
	detach.argsz = sizeof(detach);
	detach.flags = 1u << 1;
	EXPECT_ERRNO(EINVAL,
		     ioctl(d.fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));

	/* Detach: the auto domain goes with it; a second detach is a no-op. */
	ASSERT_EQ(abi_vfio_detach(d.fd), 0);
	EXPECT_EQ(abi_destroy(d.iommufd, ioas2), 0);
	EXPECT_EQ(abi_vfio_detach(d.fd), 0);
	/* And it can attach again. */
	pt = d.ioas;
	EXPECT_EQ(abi_vfio_attach(d.fd, &pt), 0);
	abi_vdev_close(&d);
}

/*
 * A device whose IOMMU cannot track dirty pages: no dirty HWPT for it
 * (EOPNOTSUPP), and it cannot join another device's (EINVAL, §2.4).
 */
TEST(vfio_cdev, nodirty_device)
{
	struct iommu_hw_info info = { .size = sizeof(info) };
	uint32_t devid_nd, dirty, pt;
	struct abi_vdev d;
	int fd_nd;

	abi_vfio_host("dma,dma-nodirty", NULL);
	abi_vdev_open(&d, 0);
	fd_nd = abi_vfio_cdev_open_ok(1);
	ASSERT_EQ(abi_vfio_bind(fd_nd, d.iommufd, &devid_nd), 0);

	info.dev_id = d.devid;
	ASSERT_EQ(ioctl(d.iommufd, IOMMU_GET_HW_INFO, &info), 0);
	EXPECT_EQ(info.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING,
		  IOMMU_HW_CAP_DIRTY_TRACKING);
	info = (struct iommu_hw_info){ .size = sizeof(info),
				       .dev_id = devid_nd };
	ASSERT_EQ(ioctl(d.iommufd, IOMMU_GET_HW_INFO, &info), 0);
	EXPECT_EQ(info.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING, 0);

	EXPECT_ERRNO(EOPNOTSUPP,
		     abi_hwpt_alloc(d.iommufd, devid_nd, d.ioas,
				    IOMMU_HWPT_ALLOC_DIRTY_TRACKING, NULL));
	dirty = abi_hwpt_alloc_ok(d.iommufd, d.devid, d.ioas,
				  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	pt = dirty;
	EXPECT_ERRNO(EINVAL, abi_vfio_attach(fd_nd, &pt));
	/* Through the IOAS it gets an auto domain, which never tracks. */
	pt = d.ioas;
	ASSERT_EQ(abi_vfio_attach(fd_nd, &pt), 0);
	EXPECT_NE(pt, dirty);
	/* Attached, it still cannot be moved onto the dirty HWPT. */
	pt = dirty;
	EXPECT_ERRNO(EINVAL, abi_vfio_attach(fd_nd, &pt));
	close(fd_nd);
	abi_vdev_close(&d);
}

/*
 * Attach order, as iommufd_hw_pagetable_attach(): the device's reserved
 * regions (the MSI window at 0xfee00000) go into the IOAS before the
 * driver says whether the domain suits the device. A device that cannot
 * track, attached to a dirty HWPT whose IOAS maps the MSI window, gets
 * EADDRINUSE, not EINVAL.
 */
TEST(vfio_cdev, attach_reserved_before_driver)
{
	uint8_t *buf = abi_buf(ABI_PAGE, ABI_PAGE);
	uint32_t devid_nd, dirty, pt;
	struct abi_vdev d;
	int fd_nd;

	abi_vfio_host("dma,dma-nodirty", NULL);
	abi_vdev_open(&d, 0);
	fd_nd = abi_vfio_cdev_open_ok(1);
	ASSERT_EQ(abi_vfio_bind(fd_nd, d.iommufd, &devid_nd), 0);
	dirty = abi_hwpt_alloc_ok(d.iommufd, d.devid, d.ioas,
				  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	ASSERT_EQ(abi_map_fixed(d.iommufd, d.ioas, buf, ABI_PAGE, 0xfee00000),
		  0);
	pt = dirty;
	EXPECT_ERRNO(EADDRINUSE, abi_vfio_attach(fd_nd, &pt));
	/* Without the clash, the driver's answer. */
	ASSERT_EQ(abi_unmap(d.iommufd, d.ioas, 0xfee00000, ABI_PAGE, NULL), 0);
	EXPECT_ERRNO(EINVAL, abi_vfio_attach(fd_nd, &pt));
	close(fd_nd);
	abi_vdev_close(&d);
}

/* VT-d ECAP bits (VT-d spec §11.4.3) Linux's intel driver reads. */
#define VTD_ECAP_SMTS  (1ULL << 43)
#define VTD_ECAP_SLADS (1ULL << 45)
#define VTD_ECAP_SMPWC (1ULL << 48)

static uint64_t vtd_ecap(int iommufd, uint32_t devid)
{
	struct iommu_hw_info_vtd vtd = { 0 };
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.dev_id = devid,
		.data_len = sizeof(vtd),
		.data_uptr = abi_ptr(&vtd),
	};

	ASSERT_EQ(ioctl(iommufd, IOMMU_GET_HW_INFO, &info), 0);
	EXPECT_EQ(info.out_data_type, IOMMU_HW_INFO_TYPE_INTEL_VTD);
	return vtd.ecap_reg;
}

/*
 * The VT-d blob: a unit that tracks dirty pages reports SLADS with SMTS
 * and SMPWC, which Linux's ssads_supported() requires together; one that
 * does not, no SLADS.
 */
TEST(vfio_cdev, vtd_hw_info)
{
	const uint64_t dirty = VTD_ECAP_SMTS | VTD_ECAP_SLADS | VTD_ECAP_SMPWC;
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		.in_data_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
	};
	struct abi_vdev d;
	uint32_t devid_nd;
	int fd_nd;

	abi_vfio_host("dma,dma-nodirty", "intel");
	abi_vdev_open(&d, 0);
	fd_nd = abi_vfio_cdev_open_ok(1);
	ASSERT_EQ(abi_vfio_bind(fd_nd, d.iommufd, &devid_nd), 0);
	EXPECT_EQ(vtd_ecap(d.iommufd, d.devid) & dirty, dirty);
	EXPECT_EQ(vtd_ecap(d.iommufd, devid_nd) & VTD_ECAP_SLADS, 0);
	/* Asked for another driver's blob: EOPNOTSUPP. */
	info.dev_id = d.devid;
	EXPECT_ERRNO(EOPNOTSUPP, ioctl(d.iommufd, IOMMU_GET_HW_INFO, &info));
	close(fd_nd);
	abi_vdev_close(&d);
}

/*
 * IOMMU_HW_INFO_FLAG_INPUT_TYPE asks for one blob type: a driver with a
 * blob refuses another type (EOPNOTSUPP); AMD, which has no hw_info in
 * Linux, ignores it and answers TYPE_NONE with no data.
 */
TEST(vfio_cdev, hw_info_input_type)
{
	struct iommu_hw_info_vtd vtd;
	struct iommu_hw_info info;
	struct abi_vdev d;

	abi_vfio_host("dma", "amd");
	abi_vdev_open(&d, 0);
	memset(&vtd, 0xa5, sizeof(vtd));
	info = (struct iommu_hw_info){
		.size = sizeof(info),
		.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		.dev_id = d.devid,
		.data_len = sizeof(vtd),
		.data_uptr = abi_ptr(&vtd),
		.in_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD,
	};
	ASSERT_EQ(ioctl(d.iommufd, IOMMU_GET_HW_INFO, &info), 0);
	EXPECT_EQ(info.out_data_type, IOMMU_HW_INFO_TYPE_NONE);
	EXPECT_EQ(info.data_len, 0);
	EXPECT_EQ(vtd.ecap_reg, 0); /* the caller's buffer is zeroed */
	abi_vdev_close(&d);
}

TEST(vfio_cdev, get_info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_GET_INFO, &info), 0);
	EXPECT_EQ(info.flags & (VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET),
		  VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	EXPECT_EQ(info.num_regions, VFIO_PCI_NUM_REGIONS);
	EXPECT_EQ(info.num_irqs, VFIO_PCI_NUM_IRQS);
	/* minsz is offsetofend(num_irqs). */
	info = (struct vfio_device_info){ .argsz = 16 };
	EXPECT_EQ(ioctl(d.fd, VFIO_DEVICE_GET_INFO, &info), 0);
	info.argsz = 15;
	EXPECT_ERRNO(EINVAL, ioctl(d.fd, VFIO_DEVICE_GET_INFO, &info));
	/* An ioctl vfio-pci does not know, once bound: ENOTTY. */
	EXPECT_ERRNO(ENOTTY, ioctl(d.fd, _IO(VFIO_TYPE, VFIO_BASE + 60)));
	abi_vdev_close(&d);
}

static int region_info(int fd, uint32_t index, struct vfio_region_info *info)
{
	*info = (struct vfio_region_info){ .argsz = sizeof(*info),
					   .index = index };
	return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info);
}

TEST(vfio_cdev, region_info)
{
	struct vfio_region_info info;
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);

	ASSERT_EQ(region_info(d.fd, VFIO_PCI_BAR0_REGION_INDEX, &info), 0);
	EXPECT_EQ(info.size, DMA_BAR0_SIZE);
	EXPECT_EQ(info.offset, ABI_VFIO_REGION(0));
	EXPECT_EQ(info.flags, VFIO_REGION_INFO_FLAG_READ |
				      VFIO_REGION_INFO_FLAG_WRITE |
				      VFIO_REGION_INFO_FLAG_MMAP);

	ASSERT_EQ(region_info(d.fd, VFIO_PCI_CONFIG_REGION_INDEX, &info), 0);
	EXPECT_EQ(info.size, 256);
	EXPECT_EQ(info.offset, ABI_VFIO_REGION(VFIO_PCI_CONFIG_REGION_INDEX));
	EXPECT_EQ(info.flags,
		  VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);

	/* BAR1-5 and the ROM: there, but empty. */
	for (uint32_t i = VFIO_PCI_BAR1_REGION_INDEX;
	     i <= VFIO_PCI_ROM_REGION_INDEX; i++) {
		ASSERT_EQ(region_info(d.fd, i, &info), 0);
		EXPECT_EQ(info.size, 0);
		EXPECT_EQ(info.flags, 0);
		EXPECT_EQ(info.offset, ABI_VFIO_REGION(i));
	}
	/* No VGA on this device (vfio_pci_core: !has_vga), nothing past. */
	EXPECT_ERRNO(EINVAL,
		     region_info(d.fd, VFIO_PCI_VGA_REGION_INDEX, &info));
	EXPECT_ERRNO(EINVAL, region_info(d.fd, VFIO_PCI_NUM_REGIONS, &info));
	EXPECT_ERRNO(EINVAL, region_info(d.fd, UINT32_MAX, &info));
	info = (struct vfio_region_info){ .argsz = sizeof(info) - 1 };
	EXPECT_ERRNO(EINVAL, ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &info));
	abi_vdev_close(&d);
}

struct kind_variant {
	const char *name;
	const char *devices;
	uint32_t caps;
};

static const struct kind_variant kinds[] = {
	{ "dma", "dma", DMA_CAP_PRECOPY },
	{ "dma_log", "dma-log", DMA_CAP_PRECOPY | DMA_CAP_LOG },
	{ "mdev", "mdev", DMA_CAP_PRECOPY | DMA_CAP_MDEV },
	{ "dma_nodirty", "dma-nodirty", DMA_CAP_PRECOPY },
};

/* BAR0 by pread/pwrite: the registers of include/iodirty/dev.h. */
TEST_VARIANTS(vfio_cdev, bar0_rw, struct kind_variant, kinds)
{
	uint8_t cfg[256];
	uint64_t v64;
	uint16_t v16;
	uint8_t v8;
	struct abi_vdev d;

	abi_vfio_host(v->devices, NULL);
	abi_vdev_open(&d, 0);

	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_ID), DMA_DEV_ID);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_VERSION), DMA_DEV_VERSION);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_CAPS), v->caps);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_INDEX), 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_BLOCK_SIZE), 4096);
	/* One 8-byte read of two 32-bit registers; 1- and 2-byte reads. */
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_ID),
		  DMA_DEV_ID | ((uint64_t)DMA_DEV_VERSION << 32));
	ASSERT_EQ(pread(d.fd, &v16, 2, DMA_REG_ID + 2), 2);
	EXPECT_EQ(v16, DMA_DEV_ID >> 16);
	ASSERT_EQ(pread(d.fd, &v8, 1, DMA_REG_ID + 1), 1);
	EXPECT_EQ(v8, (DMA_DEV_ID >> 8) & 0xff);

	/* Writable registers keep what is written; read-only ones do not. */
	abi_reg_write32(d.fd, DMA_REG_PATTERN, DMA_PATTERN_RANDOM);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_PATTERN), DMA_PATTERN_RANDOM);
	abi_reg_write64(d.fd, DMA_REG_WINDOW_SIZE, 0x123000);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WINDOW_SIZE), 0x123000);
	abi_reg_write32(d.fd, DMA_REG_ID, 0);
	abi_reg_write64(d.fd, DMA_REG_SEQ, 77);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_ID), DMA_DEV_ID);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_SEQ), 0);

	/* The end of the BAR: a read is cut short, one past it is EINVAL. */
	ASSERT_EQ(pread(d.fd, &v64, 8, DMA_BAR0_SIZE - 4), 4);
	EXPECT_ERRNO(EINVAL, pread(d.fd, &v64, 8, DMA_BAR0_SIZE));
	EXPECT_ERRNO(EINVAL, pwrite(d.fd, &v64, 8, DMA_BAR0_SIZE));
	/* BAR1 is empty. */
	EXPECT_ERRNO(EINVAL, pread(d.fd, &v64, 8, ABI_VFIO_REGION(1)));

	/* Config space: a PCI header with the emulated IDs. */
	ASSERT_EQ(pread(d.fd, cfg, sizeof(cfg),
			ABI_VFIO_REGION(VFIO_PCI_CONFIG_REGION_INDEX)),
		  (ssize_t)sizeof(cfg));
	EXPECT_EQ(cfg[0] | cfg[1] << 8, 0x1b36);
	EXPECT_EQ(cfg[2] | cfg[3] << 8, 0x11d0);
	EXPECT_EQ(cfg[0x3d], 0); /* no interrupt pin */
	/* Past the config space, even partly: EFAULT (vfio_config_do_rw). */
	EXPECT_ERRNO(EFAULT, pread(d.fd, cfg, 1,
				   ABI_VFIO_REGION(VFIO_PCI_CONFIG_REGION_INDEX) +
					   256));
	EXPECT_ERRNO(EFAULT, pread(d.fd, cfg, 8,
				   ABI_VFIO_REGION(VFIO_PCI_CONFIG_REGION_INDEX) +
					   252));
	abi_vdev_close(&d);
}

/* BAR0 mapped: the same registers, and a RUN written there starts DMA. */
TEST(vfio_cdev, bar0_mmap)
{
	volatile uint32_t *r32;
	volatile uint64_t *r64;
	struct abi_vdev d;
	uint8_t *bar;
	uint64_t pages[1], t0;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	abi_vdev_map(&d, IOVA, MAP_SIZE);
	abi_vdev_attach(&d, d.ioas);

	EXPECT_TRUE(mmap(NULL, ABI_PAGE, PROT_READ, MAP_PRIVATE, d.fd, 0) ==
		    MAP_FAILED);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_TRUE(mmap(NULL, 2 * ABI_PAGE, PROT_READ, MAP_SHARED, d.fd, 0) ==
		    MAP_FAILED);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_TRUE(mmap(NULL, ABI_PAGE, PROT_READ, MAP_SHARED, d.fd,
			 (off_t)ABI_VFIO_REGION(VFIO_PCI_CONFIG_REGION_INDEX)) ==
		    MAP_FAILED);
	EXPECT_EQ(errno, EINVAL);

	bar = mmap(NULL, DMA_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   d.fd, 0);
	ASSERT_TRUE(bar != MAP_FAILED);
	r32 = (volatile uint32_t *)bar;
	r64 = (volatile uint64_t *)bar;
	EXPECT_EQ(r32[DMA_REG_ID / 4], DMA_DEV_ID);
	/* A pwrite shows in the mapping, and the other way round. */
	abi_reg_write32(d.fd, DMA_REG_PATTERN, DMA_PATTERN_HOTSET);
	EXPECT_EQ(r32[DMA_REG_PATTERN / 4], DMA_PATTERN_HOTSET);
	r32[DMA_REG_PATTERN / 4] = DMA_PATTERN_SEQUENTIAL;
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_PATTERN), DMA_PATTERN_SEQUENTIAL);

	/* Program and start the engine through the mapping alone. */
	r32[DMA_REG_BLOCK_SIZE / 4] = ABI_PAGE;
	r64[DMA_REG_WINDOW_IOVA / 8] = IOVA;
	r64[DMA_REG_WINDOW_SIZE / 8] = 8 * ABI_PAGE;
	r64[DMA_REG_RATE / 8] = 0;
	r32[DMA_REG_CTRL / 4] = DMA_CTRL_RUN;
	t0 = abi_now_ms();
	while (r64[DMA_REG_WRITES / 8] < 8 &&
	       abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS)
		abi_sleep_ms(1);
	ASSERT_GE(r64[DMA_REG_WRITES / 8], 8);
	EXPECT_EQ(r32[DMA_REG_STATUS / 4] & DMA_STATUS_RUNNING,
		  DMA_STATUS_RUNNING);
	abi_dma_stop(d.fd);
	/* Sequential over 8 pages: all of them, the rest untouched. */
	EXPECT_EQ(abi_dma_scan(d.buf, IOVA, MAP_SIZE / ABI_PAGE, 0, pages), 8);
	EXPECT_EQ(pages[0], 0xff);
	munmap(bar, DMA_BAR0_SIZE);
	abi_vdev_close(&d);
}

static int irq_info(int fd, uint32_t index, struct vfio_irq_info *info)
{
	*info = (struct vfio_irq_info){ .argsz = sizeof(*info),
					.index = index,
					.count = 99 };
	return ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, info);
}

/*
 * The engine raises no interrupts, and says so: every index has count 0,
 * so SET_IRQS has nothing to set (vfio_set_irqs_validate_and_prepare:
 * start >= count is EINVAL), and there is no error IRQ on a device that is
 * not PCIe.
 */
TEST(vfio_cdev, irqs)
{
	struct vfio_irq_set set = { .argsz = sizeof(set) };
	struct vfio_irq_info info;
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	ASSERT_EQ(irq_info(d.fd, VFIO_PCI_INTX_IRQ_INDEX, &info), 0);
	EXPECT_EQ(info.count, 0);
	EXPECT_EQ(info.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
				      VFIO_IRQ_INFO_AUTOMASKED);
	ASSERT_EQ(irq_info(d.fd, VFIO_PCI_MSI_IRQ_INDEX, &info), 0);
	EXPECT_EQ(info.count, 0);
	EXPECT_EQ(info.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ASSERT_EQ(irq_info(d.fd, VFIO_PCI_MSIX_IRQ_INDEX, &info), 0);
	EXPECT_EQ(info.count, 0);
	EXPECT_EQ(info.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ASSERT_EQ(irq_info(d.fd, VFIO_PCI_REQ_IRQ_INDEX, &info), 0);
	EXPECT_EQ(info.count, 0);
	EXPECT_ERRNO(EINVAL, irq_info(d.fd, VFIO_PCI_ERR_IRQ_INDEX, &info));
	EXPECT_ERRNO(EINVAL, irq_info(d.fd, VFIO_PCI_NUM_IRQS, &info));
	info = (struct vfio_irq_info){ .argsz = sizeof(info) - 1 };
	EXPECT_ERRNO(EINVAL, ioctl(d.fd, VFIO_DEVICE_GET_IRQ_INFO, &info));

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS + 1; i++) {
		set = (struct vfio_irq_set){
			.argsz = sizeof(set),
			.flags = VFIO_IRQ_SET_DATA_NONE |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = i,
		};
		EXPECT_ERRNO(EINVAL, ioctl(d.fd, VFIO_DEVICE_SET_IRQS, &set));
	}
	abi_vdev_close(&d);
}

/* RESET: registers to their reset values, the engine stopped. */
TEST(vfio_cdev, reset)
{
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	abi_vdev_map(&d, IOVA, MAP_SIZE);
	abi_vdev_attach(&d, d.ioas);
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, 2048, DMA_PATTERN_RANDOM, 0);
	abi_reg_write64(d.fd, DMA_REG_STATE_SIZE, 1 << 20);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 4);

	ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_CTRL), 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS), 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_PATTERN), 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_BLOCK_SIZE), 4096);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WINDOW_IOVA), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WINDOW_SIZE), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_SEQ), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WRITES), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_BYTES), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_STATE_SIZE), 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_ID), DMA_DEV_ID);
	/* It stays stopped. */
	abi_sleep_ms(20);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WRITES), 0);
	EXPECT_EQ(abi_mig_get(d.fd), VFIO_DEVICE_STATE_RUNNING);
	abi_vdev_close(&d);
}

/* Closing the bound file resets the device and unbinds it. */
TEST(vfio_cdev, close_resets)
{
	struct iommu_hw_info info = { .size = sizeof(info) };
	struct abi_vdev d;
	uint32_t devid;
	int fd;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	abi_vdev_map(&d, IOVA, MAP_SIZE);
	abi_vdev_attach(&d, d.ioas);
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE, DMA_PATTERN_RANDOM, 0);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 4);
	close(d.fd);

	/* The device object is gone from the iommufd, and the IOAS is free. */
	info.dev_id = d.devid;
	EXPECT_ERRNO(ENOENT, ioctl(d.iommufd, IOMMU_GET_HW_INFO, &info));
	EXPECT_ERRNO(ENOENT, abi_destroy(d.iommufd, d.pt));

	fd = abi_vfio_cdev_open_ok(0);
	ASSERT_EQ(abi_vfio_bind(fd, d.iommufd, &devid), 0);
	EXPECT_EQ(abi_reg32(fd, DMA_REG_CTRL), 0);
	EXPECT_EQ(abi_reg64(fd, DMA_REG_WRITES), 0);
	EXPECT_EQ(abi_reg64(fd, DMA_REG_WINDOW_SIZE), 0);
	close(fd);
	close(d.iommufd);
}

struct fault_variant {
	const char *name;
	const char *iommu;
};

static const struct fault_variant fault_iommus[] = {
	{ "amd", "amd" },
	{ "intel", "intel" },
	{ "arm", "arm" },
};

/*
 * DMA to an IOVA the IOMMU does not map, or maps read-only: the engine
 * stops with FAULT, FAULT_IOVA and FAULT_REASON say where and why, and the
 * process (the host) carries on. CLEAR and a good window run again.
 */
TEST_VARIANTS(vfio_cdev, dma_fault, struct fault_variant, fault_iommus)
{
	const uint64_t bad = IOVA + 16 * MAP_SIZE;
	uint8_t *ro = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint64_t t0, pages[1], ro_iova = IOVA + 4 * MAP_SIZE;
	struct abi_vdev d;

	abi_vfio_host("dma", v->iommu);
	abi_vdev_open(&d, 0);
	abi_vdev_map(&d, IOVA, MAP_SIZE);
	abi_vdev_attach(&d, d.ioas);
	ASSERT_EQ(abi_map(d.iommufd, d.ioas, ro, 4 * ABI_PAGE, &ro_iova,
			  IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA),
		  0);

	abi_dma_setup(d.fd, bad, 4 * ABI_PAGE, ABI_PAGE,
		      DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(d.fd);
	t0 = abi_now_ms();
	while (!(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	       abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS)
		abi_sleep_ms(1);
	ASSERT_EQ(abi_reg32(d.fd, DMA_REG_STATUS),
		  DMA_STATUS_FAULT); /* not RUNNING any more */
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_CTRL) & DMA_CTRL_RUN, 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_FAULT_IOVA), bad);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_FAULT_REASON), PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_FAULT_WRITE), 1);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WRITES), 0);
	/* RUN is refused while the fault stands. */
	abi_dma_run(d.fd);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_RUNNING, 0);

	/* CLEAR; a read-only mapping faults with a permission fault. */
	abi_reg_write32(d.fd, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_FAULT_IOVA), 0);
	abi_dma_setup(d.fd, ro_iova, 4 * ABI_PAGE, ABI_PAGE,
		      DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(d.fd);
	t0 = abi_now_ms();
	while (!(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	       abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS)
		abi_sleep_ms(1);
	ASSERT_EQ(abi_reg32(d.fd, DMA_REG_STATUS), DMA_STATUS_FAULT);
	/* The engine's cursor is kept across a new window: any of its pages. */
	EXPECT_GE(abi_reg64(d.fd, DMA_REG_FAULT_IOVA), ro_iova);
	EXPECT_LT(abi_reg64(d.fd, DMA_REG_FAULT_IOVA), ro_iova + 4 * ABI_PAGE);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_FAULT_IOVA) % ABI_PAGE, 0);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_FAULT_REASON), PT_FAULT_PERMISSION);
	for (size_t i = 0; i < 4 * ABI_PAGE; i++)
		ASSERT_EQ(ro[i], 0);

	/* A good window runs again. */
	abi_reg_write32(d.fd, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	abi_dma_setup(d.fd, IOVA, 4 * ABI_PAGE, ABI_PAGE,
		      DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 4);
	abi_dma_stop(d.fd);
	EXPECT_EQ(abi_dma_scan(d.buf, IOVA, MAP_SIZE / ABI_PAGE, 0, pages), 4);

	/* Detached, the device's DMA has nowhere to go. */
	ASSERT_EQ(abi_vfio_detach(d.fd), 0);
	abi_dma_run(d.fd);
	t0 = abi_now_ms();
	while (!(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	       abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS)
		abi_sleep_ms(1);
	EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS), DMA_STATUS_FAULT);
	abi_vdev_close(&d);
}
