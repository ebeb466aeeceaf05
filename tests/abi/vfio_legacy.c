// SPDX-License-Identifier: MIT
/*
 * vfio_legacy.c - the legacy VFIO path: the container /dev/vfio/vfio, the
 * groups /dev/vfio/N and the device fds they give, and the type1 IOMMU
 * backend's GET_INFO, MAP_DMA and UNMAP_DMA (kernel-abi.md §4; Linux
 * drivers/vfio/container.c, group.c and vfio_iommu_type1.c).
 */
#include "abi_util.h"

#define IOVA 0x40000000ULL

static long vfio_int(int fd, unsigned long cmd, unsigned long arg)
{
	return ioctl(fd, cmd, arg);
}

static int group_status(int group, uint32_t *flags)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int rc = ioctl(group, VFIO_GROUP_GET_STATUS, &st);

	*flags = st.flags;
	return rc;
}

/* A container with device @index's group in it, type1 v2 (or @type). */
struct legacy {
	int container, group, dev;
};

static void legacy_init(struct legacy *l, unsigned int index,
			unsigned long type)
{
	l->container = abi_vfio_container_open();
	l->group = abi_vfio_group_open(index);
	ASSERT_GE(l->group, 0);
	ASSERT_EQ(abi_vfio_set_container(l->group, l->container), 0);
	ASSERT_EQ(vfio_int(l->container, VFIO_SET_IOMMU, type), 0);
	l->dev = abi_vfio_group_device(l->group, index);
	ASSERT_GE(l->dev, 0);
}

static void legacy_fini(struct legacy *l)
{
	close(l->dev);
	close(l->group);
	close(l->container);
}

TEST(vfio_legacy, container)
{
	int c, g;

	abi_vfio_host("dma", NULL);
	c = abi_vfio_container_open();
	EXPECT_EQ(ioctl(c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 1);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL), 1);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_IOMMU), 0);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_NESTING_IOMMU),
		  0);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 0);
	EXPECT_EQ(vfio_int(c, VFIO_CHECK_EXTENSION, 1000), 0);

	/* No IOMMU without a group; no IOMMU ioctls without an IOMMU. */
	EXPECT_ERRNO(EINVAL, vfio_int(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	EXPECT_ERRNO(EINVAL, abi_type1_map(c, &c, IOVA, ABI_PAGE,
					   ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty(c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START));

	g = abi_vfio_group_open(0);
	ASSERT_GE(g, 0);
	ASSERT_EQ(abi_vfio_set_container(g, c), 0);
	/* An IOMMU type no driver offers: ENODEV (vfio_ioctl_set_iommu). */
	EXPECT_ERRNO(ENODEV, vfio_int(c, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU));
	EXPECT_ERRNO(ENODEV, vfio_int(c, VFIO_SET_IOMMU, 1000));
	EXPECT_ERRNO(ENODEV, vfio_int(c, VFIO_SET_IOMMU, VFIO_DMA_CC_IOMMU));
	/* An extension type1 reports, but no IOMMU type it opens. */
	EXPECT_ERRNO(EINVAL, vfio_int(c, VFIO_SET_IOMMU, VFIO_UNMAP_ALL));
	ASSERT_EQ(vfio_int(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	/* Once set, it stays set. */
	EXPECT_ERRNO(EINVAL, vfio_int(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	EXPECT_ERRNO(EINVAL, vfio_int(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	/* An ioctl type1 does not know. */
	EXPECT_ERRNO(ENOTTY, ioctl(c, _IO(VFIO_TYPE, VFIO_BASE + 60)));

	/* The last group out takes the IOMMU with it. */
	close(g);
	EXPECT_ERRNO(EINVAL, abi_type1_map(c, &c, IOVA, ABI_PAGE,
					   ABI_DMA_MAP_RW));
	g = abi_vfio_group_open(0);
	ASSERT_GE(g, 0);
	ASSERT_EQ(abi_vfio_set_container(g, c), 0);
	EXPECT_EQ(vfio_int(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), 0);
	close(g);
	close(c);
}

TEST(vfio_legacy, group)
{
	struct vfio_group_status st = { .argsz = sizeof(st) - 1 };
	int c, c2, g, pipefd[2], closed, dev, dev2, cdev, iommufd;
	uint32_t flags, pt;
	char name[32];

	abi_vfio_host("dma,dma", NULL);
	iommufd = abi_open();
	g = abi_vfio_group_open(0);
	ASSERT_GE(g, 0);
	/* A group is opened once at a time. */
	EXPECT_ERRNO(EBUSY, abi_vfio_group_open(0));

	ASSERT_EQ(group_status(g, &flags), 0);
	EXPECT_EQ(flags, VFIO_GROUP_FLAGS_VIABLE);
	EXPECT_ERRNO(EINVAL, ioctl(g, VFIO_GROUP_GET_STATUS, &st));
	EXPECT_ERRNO(EINVAL, ioctl(g, VFIO_GROUP_UNSET_CONTAINER));

	/* No device before an IOMMU; an unknown name is ENODEV first. */
	EXPECT_ERRNO(ENODEV, abi_vfio_group_device(g, 1));
	EXPECT_ERRNO(ENODEV, ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "vfio0"));
	EXPECT_ERRNO(EINVAL, abi_vfio_group_device(g, 0));

	/* SET_CONTAINER: a closed fd, then an fd that is no container. */
	c = abi_vfio_container_open();
	closed = dup(c);
	close(closed);
	EXPECT_ERRNO(EBADF, abi_vfio_set_container(g, closed));
	ASSERT_EQ(pipe(pipefd), 0);
	EXPECT_ERRNO(EBADFD, abi_vfio_set_container(g, pipefd[0]));
	dev = abi_vfio_cdev_open_ok(1);
	EXPECT_ERRNO(EBADFD, abi_vfio_set_container(g, dev));
	close(dev);

	ASSERT_EQ(abi_vfio_set_container(g, c), 0);
	ASSERT_EQ(group_status(g, &flags), 0);
	EXPECT_EQ(flags, VFIO_GROUP_FLAGS_VIABLE |
				 VFIO_GROUP_FLAGS_CONTAINER_SET);
	/* Set already: EINVAL, even for another container. */
	c2 = abi_vfio_container_open();
	EXPECT_ERRNO(EINVAL, abi_vfio_set_container(g, c2));
	EXPECT_ERRNO(EINVAL, abi_vfio_set_container(g, c));
	/* A container without its IOMMU set gives no device. */
	EXPECT_ERRNO(EINVAL, abi_vfio_group_device(g, 0));
	ASSERT_EQ(vfio_int(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	EXPECT_ERRNO(ENODEV, abi_vfio_group_device(g, 1));
	dev = abi_vfio_group_device(g, 0);
	ASSERT_GE(dev, 0);
	/* The group path allows more than one device fd (vfio_df_open). */
	dev2 = abi_vfio_group_device(g, 0);
	ASSERT_GE(dev2, 0);
	EXPECT_EQ(abi_reg32(dev2, DMA_REG_ID), DMA_DEV_ID);
	close(dev2);
	/* A name is a string: what follows its NUL does not matter. */
	abi_vfio_name(0, name, sizeof(name));
	memcpy(name + strlen(name) + 1, "junk", 5);
	dev2 = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, name);
	EXPECT_GE(dev2, 0);
	close(dev2);

	/*
	 * Device fds from a group need no BIND (EINVAL), and the cdev-only
	 * ATTACH/DETACH reach vfio-pci's own ioctl, which does not know
	 * them (ENOTTY). The rest works as on a cdev file.
	 */
	EXPECT_ERRNO(EINVAL, abi_vfio_bind(dev, iommufd, NULL));
	pt = 1;
	EXPECT_ERRNO(ENOTTY, abi_vfio_attach(dev, &pt));
	EXPECT_ERRNO(ENOTTY, abi_vfio_detach(dev));
	EXPECT_EQ(abi_reg32(dev, DMA_REG_INDEX), 0);
	/* Its cdev cannot bind while the group is open. */
	cdev = abi_vfio_cdev_open_ok(0);
	EXPECT_ERRNO(EBUSY, abi_vfio_bind(cdev, iommufd, NULL));
	close(cdev);

	/* UNSET: busy while a device fd is open. */
	EXPECT_ERRNO(EBUSY, ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
	close(dev);
	ASSERT_EQ(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), 0);
	ASSERT_EQ(group_status(g, &flags), 0);
	EXPECT_EQ(flags, VFIO_GROUP_FLAGS_VIABLE);
	EXPECT_ERRNO(EINVAL, ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
	/* And into another container. */
	EXPECT_EQ(abi_vfio_set_container(g, c2), 0);

	/* Closed, it can be opened again. */
	close(g);
	g = abi_vfio_group_open(0);
	EXPECT_GE(g, 0);
	close(g);
	close(pipefd[0]);
	close(pipefd[1]);
	close(c);
	close(c2);
	close(iommufd);
}

/* Walk a type1 info's capability chain: the cap with @id, or NULL. */
static const struct vfio_info_cap_header *find_cap(const uint8_t *buf,
						   uint32_t argsz, uint16_t id)
{
	const struct vfio_iommu_type1_info *info = (const void *)buf;
	uint32_t off = info->cap_offset;

	for (int n = 0; off && n < 16; n++) {
		const struct vfio_info_cap_header *h = (const void *)(buf + off);

		if (off + sizeof(*h) > argsz)
			return NULL;
		if (h->id == id)
			return h;
		off = h->next;
	}
	return NULL;
}

static int get_info(int c, void *buf, uint32_t argsz)
{
	struct vfio_iommu_type1_info *info = buf;

	memset(buf, 0, argsz);
	info->argsz = argsz;
	return ioctl(c, VFIO_IOMMU_GET_INFO, buf);
}

TEST(vfio_legacy, type1_info)
{
	const struct vfio_iommu_type1_info_cap_iova_range *ranges;
	const struct vfio_iommu_type1_info_cap_migration *mig;
	const struct vfio_iommu_type1_info_dma_avail *avail;
	uint64_t buf[128];
	struct vfio_iommu_type1_info *info = (void *)buf;
	uint8_t *mem = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint32_t need;
	struct legacy l;

	abi_vfio_host("dma", "amd");
	legacy_init(&l, 0, VFIO_TYPE1v2_IOMMU);

	/* Too small for its fixed part; room for it but not the caps. */
	EXPECT_ERRNO(EINVAL, get_info(l.container, buf, 15));
	ASSERT_EQ(get_info(l.container, buf, 16), 0);
	EXPECT_EQ(info->flags & VFIO_IOMMU_INFO_PGSIZES, VFIO_IOMMU_INFO_PGSIZES);
	EXPECT_EQ(info->iova_pgsizes & 0xfff, 0);
	EXPECT_EQ(info->iova_pgsizes & ABI_PAGE, ABI_PAGE);
	ASSERT_EQ(get_info(l.container, buf, sizeof(*info)), 0);
	need = info->argsz;
	EXPECT_GT(need, sizeof(*info));
	EXPECT_EQ(info->cap_offset, 0);
	EXPECT_EQ(info->flags & VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_CAPS);
	ASSERT_LE(need, sizeof(buf));

	/* With room for them, the caps. */
	ASSERT_EQ(get_info(l.container, buf, need), 0);
	EXPECT_EQ(info->cap_offset, sizeof(*info));
	ranges = (const void *)find_cap((uint8_t *)buf, need,
					VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
	mig = (const void *)find_cap((uint8_t *)buf, need,
				     VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION);
	avail = (const void *)find_cap((uint8_t *)buf, need,
				       VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
	ASSERT_TRUE(ranges && mig && avail);

	/* The AMD IOMMU's aperture less its MSI and HyperTransport holes. */
	ASSERT_EQ(ranges->nr_iovas, 3);
	EXPECT_EQ(ranges->iova_ranges[0].start, 0);
	EXPECT_EQ(ranges->iova_ranges[0].end, 0xfedfffffULL);
	EXPECT_EQ(ranges->iova_ranges[1].start, 0xfef00000ULL);
	EXPECT_EQ(ranges->iova_ranges[1].end, 0xfcffffffffULL);
	EXPECT_EQ(ranges->iova_ranges[2].start, 0x10000000000ULL);
	EXPECT_EQ(ranges->iova_ranges[2].end, (1ULL << 48) - 1);

	/* Migration: flags 0, the smallest page, DIRTY_BITMAP_BYTES(INT_MAX). */
	EXPECT_EQ(mig->header.version, 1);
	EXPECT_EQ(mig->flags, 0);
	EXPECT_EQ(mig->pgsize_bitmap, ABI_PAGE);
	EXPECT_EQ(mig->max_dirty_bitmap_size, 256ULL << 20);

	/* DMA_AVAIL counts down with mappings. */
	EXPECT_EQ(avail->avail, 65535);
	ASSERT_EQ(abi_type1_map(l.container, mem, IOVA, ABI_PAGE,
				ABI_DMA_MAP_RW),
		  0);
	ASSERT_EQ(abi_type1_map(l.container, mem + ABI_PAGE, IOVA + ABI_PAGE,
				ABI_PAGE, ABI_DMA_MAP_RW),
		  0);
	ASSERT_EQ(get_info(l.container, buf, need), 0);
	avail = (const void *)find_cap((uint8_t *)buf, need,
				       VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
	ASSERT_TRUE(avail != NULL);
	EXPECT_EQ(avail->avail, 65533);
	legacy_fini(&l);
}

TEST(vfio_legacy, map_dma)
{
	uint8_t *mem = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	uint8_t *ro = abi_buf(2 * ABI_PAGE, ABI_PAGE);
	struct vfio_iommu_type1_dma_map map;
	struct legacy l;

	abi_vfio_host("dma", "amd");
	legacy_init(&l, 0, VFIO_TYPE1v2_IOMMU);
	ASSERT_EQ(mprotect(ro, 2 * ABI_PAGE, PROT_READ), 0);

	map = (__typeof__(map)){ .argsz = sizeof(map) - 1,
			     .flags = ABI_DMA_MAP_RW,
			     .vaddr = abi_ptr(mem),
			     .iova = IOVA,
			     .size = ABI_PAGE };
	EXPECT_ERRNO(EINVAL, ioctl(l.container, VFIO_IOMMU_MAP_DMA, &map));
	map.argsz = sizeof(map);
	map.flags = 1u << 3;
	EXPECT_ERRNO(EINVAL, ioctl(l.container, VFIO_IOMMU_MAP_DMA, &map));
	/* Neither read nor write; size 0; anything not page aligned. */
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, IOVA, ABI_PAGE, 0));
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, IOVA, 0,
					   ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, IOVA + 8,
					   ABI_PAGE, ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem + 8, IOVA,
					   ABI_PAGE, ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, IOVA, 100,
					   ABI_DMA_MAP_RW));
	/* Wrapping IOVA; IOVA the IOMMU does not have (the MSI window). */
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, UINT64_MAX - 4095,
					   2 * ABI_PAGE, ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, 0xfee00000ULL,
					   ABI_PAGE, ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, 1ULL << 48,
					   ABI_PAGE, ABI_DMA_MAP_RW));
	/* Memory that is not there, or read-only mapped for writing. */
	EXPECT_ERRNO(EFAULT, abi_type1_map(l.container, abi_hole(4 * ABI_PAGE),
					   IOVA, 4 * ABI_PAGE,
					   ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EFAULT, abi_type1_map(l.container, ro, IOVA, 2 * ABI_PAGE,
					   ABI_DMA_MAP_RW));
	EXPECT_EQ(abi_type1_map(l.container, ro, IOVA, 2 * ABI_PAGE,
				VFIO_DMA_MAP_FLAG_READ),
		  0);

	/* Overlaps of any kind: EEXIST. */
	ASSERT_EQ(abi_type1_map(l.container, mem, IOVA + 4 * ABI_PAGE,
				4 * ABI_PAGE, ABI_DMA_MAP_RW),
		  0);
	EXPECT_ERRNO(EEXIST, abi_type1_map(l.container, mem,
					   IOVA + 4 * ABI_PAGE, 4 * ABI_PAGE,
					   ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EEXIST, abi_type1_map(l.container, mem,
					   IOVA + 7 * ABI_PAGE, 4 * ABI_PAGE,
					   ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EEXIST, abi_type1_map(l.container, mem,
					   IOVA + 5 * ABI_PAGE, ABI_PAGE,
					   ABI_DMA_MAP_RW));
	EXPECT_ERRNO(EEXIST, abi_type1_map(l.container, mem, IOVA,
					   16 * ABI_PAGE, ABI_DMA_MAP_RW));
	/* Right next to it is fine. */
	EXPECT_EQ(abi_type1_map(l.container, mem, IOVA + 8 * ABI_PAGE,
				ABI_PAGE, ABI_DMA_MAP_RW),
		  0);
	legacy_fini(&l);
}

TEST(vfio_legacy, unmap_dma)
{
	uint8_t *mem = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	struct vfio_iommu_type1_dma_unmap unmap;
	uint64_t size, bits = 0;
	struct legacy l;

	abi_vfio_host("dma", NULL);
	legacy_init(&l, 0, VFIO_TYPE1v2_IOMMU);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(abi_type1_map(l.container, mem + i * 4 * ABI_PAGE,
					IOVA + i * 4 * ABI_PAGE, 4 * ABI_PAGE,
					ABI_DMA_MAP_RW),
			  0);

	unmap = (__typeof__(unmap)){ .argsz = sizeof(unmap) - 1, .iova = IOVA,
				 .size = 4 * ABI_PAGE };
	EXPECT_ERRNO(EINVAL, ioctl(l.container, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.argsz = sizeof(unmap);
	unmap.flags = 1u << 3;
	EXPECT_ERRNO(EINVAL, ioctl(l.container, VFIO_IOMMU_UNMAP_DMA, &unmap));
	/* Size 0, misaligned, wrapping. */
	size = 0;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA, &size, 0));
	size = ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA + 8, &size, 0));
	size = 100;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA, &size, 0));
	size = 2 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, UINT64_MAX - 4095,
					     &size, 0));
	/* v2 never cuts a mapping: at its start, its end, or inside. */
	size = 2 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA, &size, 0));
	size = 2 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA + 2 * ABI_PAGE,
					     &size, 0));
	size = 6 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA + 2 * ABI_PAGE,
					     &size, 0));
	/* FLAG_ALL: iova and size must be 0; not with a dirty bitmap. */
	size = 4 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, 0, &size,
					     VFIO_DMA_UNMAP_FLAG_ALL));
	size = 0;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap(l.container, IOVA, &size,
					     VFIO_DMA_UNMAP_FLAG_ALL));
	{
		struct {
			struct vfio_iommu_type1_dma_unmap unmap;
			struct vfio_bitmap bitmap;
		} cmd = {
			{ sizeof(cmd),
			  VFIO_DMA_UNMAP_FLAG_ALL |
				  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
			  0, 0 },
			{ ABI_PAGE, sizeof(bits), (void *)&bits },
		};

		EXPECT_ERRNO(EINVAL,
			     ioctl(l.container, VFIO_IOMMU_UNMAP_DMA, &cmd));
	}

	/* Whole mappings: one, then two at once, reporting what went. */
	size = 4 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA, &size, 0), 0);
	EXPECT_EQ(size, 4 * ABI_PAGE);
	size = 8 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA + 4 * ABI_PAGE, &size, 0),
		  0);
	EXPECT_EQ(size, 8 * ABI_PAGE);
	/* Nothing there: success, size 0. */
	size = 4 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA, &size, 0), 0);
	EXPECT_EQ(size, 0);
	/* A range covering a mapping and holes around it. */
	size = 64 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA - 16 * ABI_PAGE, &size, 0),
		  0);
	EXPECT_EQ(size, 4 * ABI_PAGE);

	/* FLAG_ALL takes everything. */
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(abi_type1_map(l.container, mem + i * 4 * ABI_PAGE,
					IOVA + i * 8 * ABI_PAGE, 4 * ABI_PAGE,
					ABI_DMA_MAP_RW),
			  0);
	size = 0;
	ASSERT_EQ(abi_type1_unmap(l.container, 0, &size,
				  VFIO_DMA_UNMAP_FLAG_ALL),
		  0);
	EXPECT_EQ(size, 12 * ABI_PAGE);
	/* The IOVA is free again. */
	EXPECT_EQ(abi_type1_map(l.container, mem, IOVA, 16 * ABI_PAGE,
				ABI_DMA_MAP_RW),
		  0);
	legacy_fini(&l);
}

/* v1 unmaps what starts in the range, and cuts nothing it does not own. */
TEST(vfio_legacy, unmap_v1)
{
	uint8_t *mem = abi_buf(8 * ABI_PAGE, ABI_PAGE);
	uint64_t size;
	struct legacy l;

	abi_vfio_host("dma", NULL);
	legacy_init(&l, 0, VFIO_TYPE1_IOMMU);
	ASSERT_EQ(abi_type1_map(l.container, mem, IOVA, 8 * ABI_PAGE,
				ABI_DMA_MAP_RW),
		  0);
	/* From inside a mapping: success, nothing unmapped. */
	size = 2 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA + 2 * ABI_PAGE, &size, 0),
		  0);
	EXPECT_EQ(size, 0);
	/* Covering its first page: all of it goes. */
	size = ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA, &size, 0), 0);
	EXPECT_EQ(size, 8 * ABI_PAGE);
	legacy_fini(&l);
}

/* DMA through type1: the IOMMU maps what MAP_DMA mapped. */
TEST(vfio_legacy, dma_lands)
{
	uint8_t *mem = abi_buf(64 * ABI_PAGE, ABI_PAGE);
	uint64_t pages[1], size;
	struct legacy l;

	abi_vfio_host("dma", NULL);
	legacy_init(&l, 0, VFIO_TYPE1v2_IOMMU);
	ASSERT_EQ(abi_type1_map(l.container, mem, IOVA, 64 * ABI_PAGE,
				ABI_DMA_MAP_RW),
		  0);
	abi_dma_setup(l.dev, IOVA + 8 * ABI_PAGE, 16 * ABI_PAGE, ABI_PAGE,
		      DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(l.dev);
	abi_dma_wait_writes(l.dev, 16);
	abi_dma_stop(l.dev);
	EXPECT_EQ(abi_dma_scan(mem, IOVA, 64, 0, pages), 16);
	EXPECT_EQ(pages[0], 0xffffULL << 8);

	/* Unmapped, the same DMA faults. */
	size = 64 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap(l.container, IOVA, &size, 0), 0);
	abi_dma_run(l.dev);
	for (uint64_t t0 = abi_now_ms();
	     !(abi_reg32(l.dev, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	     abi_now_ms() - t0 < ABI_DMA_TIMEOUT_MS;)
		abi_sleep_ms(1);
	EXPECT_EQ(abi_reg32(l.dev, DMA_REG_STATUS), DMA_STATUS_FAULT);
	EXPECT_GE(abi_reg64(l.dev, DMA_REG_FAULT_IOVA), IOVA + 8 * ABI_PAGE);
	EXPECT_LT(abi_reg64(l.dev, DMA_REG_FAULT_IOVA), IOVA + 24 * ABI_PAGE);
	legacy_fini(&l);
}

/*
 * Device fds hold their group: closed first, the group stays open and in
 * its container until the last device fd goes (Linux
 * vfio_group_fops_release()), so DMA goes on and the group cannot be
 * opened again meanwhile.
 */
TEST(vfio_legacy, device_holds_group)
{
	uint8_t *mem = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	uint64_t pages[1];
	struct legacy l;
	int g;

	abi_vfio_host("dma", NULL);
	legacy_init(&l, 0, VFIO_TYPE1v2_IOMMU);
	ASSERT_EQ(abi_type1_map(l.container, mem, IOVA, 16 * ABI_PAGE,
				ABI_DMA_MAP_RW),
		  0);
	close(l.group);
	EXPECT_ERRNO(EBUSY, abi_vfio_group_open(0));
	abi_dma_setup(l.dev, IOVA, 16 * ABI_PAGE, ABI_PAGE,
		      DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(l.dev);
	abi_dma_wait_writes(l.dev, 16);
	abi_dma_stop(l.dev);
	EXPECT_EQ(abi_dma_scan(mem, IOVA, 16, 0, pages), 16);

	/* The last device fd closes: the group leaves, and with it the IOMMU. */
	close(l.dev);
	g = abi_vfio_group_open(0);
	ASSERT_GE(g, 0);
	EXPECT_ERRNO(EINVAL, abi_type1_map(l.container, mem, IOVA, ABI_PAGE,
					   ABI_DMA_MAP_RW));
	close(g);
	close(l.container);
}
