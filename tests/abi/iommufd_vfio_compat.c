// SPDX-License-Identifier: MIT
/*
 * iommufd_vfio_compat.c - the VFIO type1 container ioctls answered on the
 * iommufd itself, and IOMMU_VFIO_IOAS, which picks the IOAS they act on
 * (shared/spec/kernel-abi.md §2.5, §6.5; Linux
 * drivers/iommu/iommufd/vfio_compat.c).
 *
 * VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU take an integer argument, and
 * VFIO_GET_API_VERSION answers in the return value.
 */
#include "abi_util.h"

#define START ABI_APERTURE_START

static long vfio_int(int fd, unsigned long cmd, unsigned long arg)
{
	return ioctl(fd, cmd, arg);
}

static int map_dma(int fd, const void *buf, uint64_t iova, uint64_t size,
		   uint32_t flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = abi_ptr(buf),
		.iova = iova,
		.size = size,
	};

	return ioctl(fd, VFIO_IOMMU_MAP_DMA, &map);
}

#define MAP_RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)

/* VFIO_IOMMU_UNMAP_DMA; *@size is in/out (what was unmapped). */
static int unmap_dma(int fd, uint64_t iova, uint64_t *size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = iova,
		.size = *size,
	};
	int rc = ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap);

	*size = unmap.size;
	return rc;
}

/* An IOAS with a mock domain, made the compat IOAS, then SET_IOMMU. */
struct compat {
	int fd;
	uint32_t ioas, stdev, hwpt, idev;
};

static void compat_init(struct compat *c, unsigned long type,
			uint32_t dev_flags)
{
	uint32_t id;

	c->fd = abi_open();
	c->ioas = abi_ioas_alloc(c->fd);
	abi_mock_domain_ok(c->fd, c->ioas, dev_flags, &c->stdev, &c->hwpt,
			   &c->idev);
	id = c->ioas;
	ASSERT_EQ(abi_vfio_ioas(c->fd, IOMMU_VFIO_IOAS_SET, &id), 0);
	if (type)
		ASSERT_EQ(vfio_int(c->fd, VFIO_SET_IOMMU, type), 0);
}

struct type_variant {
	const char *name;
	unsigned long type;
	uint64_t huge_pages;
};

static const struct type_variant types[] = {
	{ "Ver1v2", VFIO_TYPE1v2_IOMMU, 1 },
	{ "Ver1v0", VFIO_TYPE1_IOMMU, 0 },
};

TEST(iommufd_vfio_compat, api_version_and_extensions)
{
	int fd = abi_open();

	EXPECT_EQ(ioctl(fd, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	EXPECT_EQ(vfio_int(fd, VFIO_GET_API_VERSION, 0x1234), 0);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 1);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL), 1);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_NESTING_IOMMU),
		  0);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR), 0);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_IOMMU), 0);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_EEH), 0);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, 0), 0);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, 1000), 0);
	close(fd);
}

TEST(iommufd_vfio_compat, dma_cc_extension)
{
	uint32_t ioas;
	int fd = abi_open();

	/* DMA_CC asks about the compat IOAS's HWPTs: ENODEV without one. */
	EXPECT_ERRNO(ENODEV,
		     vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU));
	ioas = abi_ioas_alloc(fd);
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &ioas), 0);
	/* No HWPT on it: nothing is incoherent. */
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), 1);
	/*
	 * The mock does not report IOMMU_CAP_ENFORCE_CACHE_COHERENCY, so its
	 * HWPTs never enforce coherency (iommufd_vfio_cc_iommu() is 0).
	 */
	abi_mock_domain_ok(fd, ioas, 0, NULL, NULL, NULL);
	EXPECT_EQ(vfio_int(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), 0);
	close(fd);
}

TEST(iommufd_vfio_compat, no_compat_ioas)
{
	uint8_t *buf = abi_buf(ABI_PAGE, ABI_PAGE);
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = MAP_RW,
		.vaddr = abi_ptr(buf),
		.iova = START,
		.size = ABI_PAGE,
	};
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = START,
		.size = ABI_PAGE,
	};
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	int fd = abi_open();

	abi_ioas_alloc(fd); /* an IOAS, but not the compat one */

	/* SET_IOMMU: the type first (EINVAL), then the IOAS (ENODEV). */
	EXPECT_ERRNO(EINVAL,
		     vfio_int(fd, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU));
	EXPECT_ERRNO(EINVAL, vfio_int(fd, VFIO_SET_IOMMU, 0));
	EXPECT_ERRNO(ENODEV, vfio_int(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	EXPECT_ERRNO(ENODEV, vfio_int(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));

	/* MAP_DMA: argsz and flags (EINVAL), then ENODEV. */
	EXPECT_ERRNO(EFAULT, ioctl(fd, VFIO_IOMMU_MAP_DMA, NULL));
	map.argsz = 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_IOMMU_MAP_DMA, &map));
	map.argsz = sizeof(map);
	map.flags = 1u << 31;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_IOMMU_MAP_DMA, &map));
	map.flags = MAP_RW | VFIO_DMA_MAP_FLAG_VADDR;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_IOMMU_MAP_DMA, &map));
	map.flags = MAP_RW;
	EXPECT_ERRNO(ENODEV, ioctl(fd, VFIO_IOMMU_MAP_DMA, &map));

	/* UNMAP_DMA likewise. */
	EXPECT_ERRNO(EFAULT, ioctl(fd, VFIO_IOMMU_UNMAP_DMA, NULL));
	unmap.argsz = 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.argsz = sizeof(unmap);
	unmap.flags = 1u << 31;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.flags = 0;
	EXPECT_ERRNO(ENODEV, ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap));
	unmap.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	unmap.iova = unmap.size = 0;
	EXPECT_ERRNO(ENODEV, ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap));

	/* GET_INFO likewise. */
	EXPECT_ERRNO(EFAULT, ioctl(fd, VFIO_IOMMU_GET_INFO, NULL));
	info.argsz = 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_IOMMU_GET_INFO, &info));
	info.argsz = offsetof(struct vfio_iommu_type1_info, cap_offset);
	EXPECT_ERRNO(ENODEV, ioctl(fd, VFIO_IOMMU_GET_INFO, &info));
	info.argsz = sizeof(info);
	EXPECT_ERRNO(ENODEV, ioctl(fd, VFIO_IOMMU_GET_INFO, &info));
	close(fd);
}

TEST(iommufd_vfio_compat, vfio_ioas)
{
	struct iommu_vfio_ioas cmd;
	uint32_t ioas, ioas2, id, hwpt;
	int fd = abi_open();

	id = 0;
	EXPECT_ERRNO(ENODEV, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	ioas = abi_ioas_alloc(fd);
	ioas2 = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas2, 0, NULL, &hwpt, NULL);

	/* SET wants an IOAS. */
	id = 0;
	EXPECT_ERRNO(ENOENT, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	id = 99;
	EXPECT_ERRNO(ENOENT, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	id = hwpt;
	EXPECT_ERRNO(ENOENT, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	EXPECT_ERRNO(ENODEV, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));

	/* SET then GET round-trips; a second SET replaces the first. */
	id = ioas;
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id), 0);
	id = 0;
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id), 0);
	EXPECT_EQ(id, ioas);
	id = ioas2;
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id), 0);
	id = 0;
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id), 0);
	EXPECT_EQ(id, ioas2);
	/* The compat IOAS is not held busy by being the compat IOAS. */
	EXPECT_EQ(abi_destroy(fd, ioas), 0);

	/* CLEAR. */
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_CLEAR, &id), 0);
	id = 0;
	EXPECT_ERRNO(ENODEV, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	EXPECT_ERRNO(ENODEV, vfio_int(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));

	/* Unknown op, __reserved. */
	cmd = (struct iommu_vfio_ioas){ .size = sizeof(cmd), .op = 3 };
	EXPECT_ERRNO(EOPNOTSUPP, ioctl(fd, IOMMU_VFIO_IOAS, &cmd));
	cmd = (struct iommu_vfio_ioas){ .size = sizeof(cmd),
					.op = IOMMU_VFIO_IOAS_GET,
					.__reserved = 1 };
	EXPECT_ERRNO(EOPNOTSUPP, ioctl(fd, IOMMU_VFIO_IOAS, &cmd));

	/* Destroying the compat IOAS clears it. */
	id = ioas2;
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id), 0);
	id = abi_ioas_alloc(fd);
	ASSERT_EQ(abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id), 0);
	EXPECT_EQ(abi_destroy(fd, id), 0);
	EXPECT_ERRNO(ENODEV, abi_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	close(fd);
}

TEST_VARIANTS(iommufd_vfio_compat, set_iommu_huge_pages, struct type_variant,
	      types)
{
	struct compat c;

	compat_init(&c, 0, 0);
	EXPECT_EQ(abi_huge_pages(c.fd, c.ioas), 1);
	ASSERT_EQ(vfio_int(c.fd, VFIO_SET_IOMMU, v->type), 0);
	/* TYPE1 (v1) may cut mappings, so it turns large pages off. */
	EXPECT_EQ(abi_huge_pages(c.fd, c.ioas), v->huge_pages);
	/* Setting again is fine. */
	EXPECT_EQ(vfio_int(c.fd, VFIO_SET_IOMMU, v->type), 0);
	close(c.fd);
}

TEST(iommufd_vfio_compat, set_iommu_type1_with_maps)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	struct compat c;

	/* Large pages cannot be turned off under mapped domains: EINVAL. */
	compat_init(&c, 0, 0);
	ASSERT_EQ(map_dma(c.fd, buf, START, 4 * ABI_PAGE, MAP_RW), 0);
	EXPECT_ERRNO(EINVAL, vfio_int(c.fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	EXPECT_EQ(abi_huge_pages(c.fd, c.ioas), 1);
	EXPECT_EQ(vfio_int(c.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	close(c.fd);
}

/*
 * What Linux writes for VFIO_IOMMU_GET_INFO with @argsz, over a canary:
 * the header (min(argsz, 24) bytes), the DMA_AVAIL cap at 24 if it fits,
 * its next pointer once argsz reaches the second cap's offset, then the
 * IOVA_RANGE cap's ranges and header as each fits (vfio_compat.c,
 * iommufd_vfio_iommu_get_info(); caps are 8-byte aligned).
 */
static uint32_t info_image(uint8_t *img, size_t img_len, uint32_t argsz,
			   uint64_t pgsizes, const struct iommu_iova_range *r,
			   uint32_t n)
{
	const uint32_t cap0 = sizeof(struct vfio_iommu_type1_info);
	const uint32_t cap1 =
		cap0 +
		((sizeof(struct vfio_iommu_type1_info_dma_avail) + 7) & ~7u);
	const uint32_t cap1_len =
		sizeof(struct vfio_iommu_type1_info_cap_iova_range) +
		n * sizeof(struct vfio_iova_range);
	const uint32_t full = cap1 + ((cap1_len + 7) & ~7u);
	struct vfio_iommu_type1_info info = {
		.argsz = full,
		.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
		.iova_pgsizes = pgsizes,
		.cap_offset = argsz >= full ? cap0 : 0,
	};
	struct vfio_iommu_type1_info_dma_avail avail = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
			    .version = 1 },
		.avail = UINT32_MAX,
	};
	struct vfio_iommu_type1_info_cap_iova_range hdr = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
			    .version = 1 },
		.nr_iovas = n,
	};

	ASSERT_LE(full, img_len);
	memset(img, 0xaa, img_len);
	if (argsz >= cap0 + sizeof(avail))
		memcpy(img + cap0, &avail, sizeof(avail));
	if (argsz >= cap1)
		memcpy(img + cap0 + offsetof(struct vfio_info_cap_header, next),
		       &cap1, sizeof(cap1));
	for (uint32_t k = 0; k < n; k++) {
		struct vfio_iova_range vr = { r[k].start, r[k].last };
		uint32_t at = cap1 + sizeof(hdr) + k * sizeof(vr);

		if (argsz > cap1 &&
		    argsz - cap1 >= sizeof(hdr) + (k + 1) * sizeof(vr))
			memcpy(img + at, &vr, sizeof(vr));
	}
	if (argsz > cap1 && argsz - cap1 >= cap1_len)
		memcpy(img + cap1, &hdr, sizeof(hdr));
	memcpy(img, &info, argsz < cap0 ? argsz : cap0);
	return full;
}

/* Follow the cap chain of a complete answer: only the two known caps. */
static void check_cap_chain(const uint8_t *buf, uint32_t argsz)
{
	const struct vfio_iommu_type1_info *info = (const void *)buf;
	uint32_t off = info->cap_offset, seen = 0;

	ASSERT_NE(off, 0);
	while (off) {
		struct vfio_info_cap_header h;

		ASSERT_LE(off + sizeof(h), argsz);
		memcpy(&h, buf + off, sizeof(h));
		EXPECT_EQ(h.version, 1);
		switch (h.id) {
		case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: {
			struct vfio_iommu_type1_info_cap_iova_range c;
			struct vfio_iova_range vr;

			memcpy(&c, buf + off, sizeof(c));
			EXPECT_EQ(c.nr_iovas, 1);
			memcpy(&vr, buf + off + sizeof(c), sizeof(vr));
			EXPECT_EQ(vr.start, START);
			EXPECT_EQ(vr.end, ABI_APERTURE_LAST);
			break;
		}
		case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: {
			struct vfio_iommu_type1_info_dma_avail c;

			memcpy(&c, buf + off, sizeof(c));
			EXPECT_EQ(c.avail, UINT32_MAX);
			break;
		}
		default:
			/* Including MIGRATION: iommufd has no such cap. */
			test_fail_at(__FILE__, __LINE__, "unexpected cap id %u",
				     h.id);
			return;
		}
		EXPECT_EQ(seen & (1u << h.id), 0);
		seen |= 1u << h.id;
		ASSERT_TRUE(h.next == 0 || h.next > off);
		off = h.next;
	}
	EXPECT_EQ(seen, (1u << VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) |
				(1u << VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL));
}

TEST_VARIANTS(iommufd_vfio_compat, get_info, struct type_variant, types)
{
	const struct iommu_iova_range aperture = { START, ABI_APERTURE_LAST };
	uint8_t buf[256], want[256];
	struct vfio_iommu_type1_info *info = (void *)buf;
	uint32_t full,
		minsz = offsetof(struct vfio_iommu_type1_info, cap_offset);
	uint64_t pgsizes;
	struct compat c;

	compat_init(&c, v->type, 0);

	/* Only what fits before the caps: still PGSIZES|CAPS, and argsz. */
	memset(buf, 0xaa, sizeof(buf));
	info->argsz = minsz;
	ASSERT_EQ(ioctl(c.fd, VFIO_IOMMU_GET_INFO, buf), 0);
	EXPECT_EQ(info->flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
	EXPECT_NE(info->iova_pgsizes, 0);
	EXPECT_GT(info->argsz, sizeof(*info));
	EXPECT_EQ(buf[minsz], 0xaa);
	full = info->argsz;
	pgsizes = info->iova_pgsizes;

	/* The struct alone: cap_offset 0, and the argsz needed. */
	memset(buf, 0xaa, sizeof(buf));
	info->argsz = sizeof(*info);
	ASSERT_EQ(ioctl(c.fd, VFIO_IOMMU_GET_INFO, buf), 0);
	EXPECT_EQ(info->cap_offset, 0);
	EXPECT_EQ(info->argsz, full);
	EXPECT_EQ(info->pad, 0);

	/* Every argsz up to past the full size: byte for byte. */
	for (uint32_t argsz = minsz, bad = 0; argsz <= full + 8; argsz++) {
		uint32_t want_full;

		want_full = info_image(want, sizeof(want), argsz, pgsizes,
				       &aperture, 1);
		EXPECT_EQ(full, want_full);
		memset(buf, 0xaa, sizeof(buf));
		info->argsz = argsz;
		ASSERT_EQ(ioctl(c.fd, VFIO_IOMMU_GET_INFO, buf), 0);
		for (size_t i = 0; i < sizeof(buf); i++) {
			if (buf[i] == want[i])
				continue;
			/* Say the first few; the rest only count. */
			if (bad++ < 4)
				test_fail_at(
					__FILE__, __LINE__,
					"argsz %u: byte %zu is 0x%02x, want 0x%02x%s",
					argsz, i, buf[i], want[i],
					i >= argsz ? " (past argsz)" : "");
			break;
		}
		if (argsz == full + 8 && bad > 4)
			test_fail_at(__FILE__, __LINE__,
				     "%u argsz values in all differed", bad);
		if (argsz >= full)
			check_cap_chain(buf, argsz);
	}
	close(c.fd);
}

/* VFIO_IOMMU_GET_INFO's iova_pgsizes, with argsz just the struct. */
static uint64_t get_pgsizes(int fd)
{
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(ioctl(fd, VFIO_IOMMU_GET_INFO, &info), 0);
	return info.iova_pgsizes;
}

TEST(iommufd_vfio_compat, get_info_pgsizes)
{
	struct compat c;
	uint32_t ioas;

	/*
	 * iommufd_get_pagesizes(): the domains' common sizes, with anything
	 * below PAGE_SIZE folded into PAGE_SIZE (as vfio does), then at
	 * least the IOVA alignment. The 2 KiB mock gives 4 KiB.
	 */
	compat_init(&c, VFIO_TYPE1v2_IOMMU, 0);
	EXPECT_EQ(get_pgsizes(c.fd), ABI_PAGE);
	close(c.fd);

	compat_init(&c, VFIO_TYPE1_IOMMU, 0);
	EXPECT_EQ(get_pgsizes(c.fd), ABI_PAGE);
	close(c.fd);

	/* 2 KiB | 1 MiB: 4 KiB | 1 MiB. */
	compat_init(&c, VFIO_TYPE1v2_IOMMU, MOCK_FLAGS_DEVICE_HUGE_IOVA);
	EXPECT_EQ(get_pgsizes(c.fd), ABI_PAGE | MOCK_HUGE_PAGE_SIZE);
	close(c.fd);

	/* No domain at all: every size from PAGE_SIZE up. */
	c.fd = abi_open();
	ioas = abi_ioas_alloc(c.fd);
	ASSERT_EQ(abi_vfio_ioas(c.fd, IOMMU_VFIO_IOAS_SET, &ioas), 0);
	EXPECT_EQ(get_pgsizes(c.fd), ~(uint64_t)(ABI_PAGE - 1));
	close(c.fd);
}

TEST_VARIANTS(iommufd_vfio_compat, map_unmap, struct type_variant, types)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	static const unsigned int order[] = { 2, 0, 3, 1 };
	uint64_t size;
	struct compat c;

	compat_init(&c, v->type, 0);
	ASSERT_EQ(map_dma(c.fd, buf, START, 4 * ABI_PAGE, MAP_RW), 0);
	EXPECT_EQ(abi_check_map(c.fd, c.hwpt, START, 4 * ABI_PAGE, buf), 0);
	/* Fixed IOVA only: an overlap is EEXIST. */
	EXPECT_ERRNO(EEXIST,
		     map_dma(c.fd, buf, START + ABI_PAGE, ABI_PAGE, MAP_RW));

	/* UNMAP_FLAG_ALL needs iova and size 0. */
	size = 0;
	EXPECT_ERRNO(EINVAL,
		     unmap_dma(c.fd, ABI_PAGE, &size, VFIO_DMA_UNMAP_FLAG_ALL));
	size = ABI_PAGE;
	EXPECT_ERRNO(EINVAL,
		     unmap_dma(c.fd, 0, &size, VFIO_DMA_UNMAP_FLAG_ALL));
	size = 0;
	ASSERT_EQ(unmap_dma(c.fd, 0, &size, VFIO_DMA_UNMAP_FLAG_ALL), 0);
	EXPECT_EQ(size, 4 * ABI_PAGE);
	size = 0;
	ASSERT_EQ(unmap_dma(c.fd, 0, &size, VFIO_DMA_UNMAP_FLAG_ALL), 0);
	EXPECT_EQ(size, 0);

	/* Page-sized maps, unmapped out of order. */
	for (unsigned int i = 0; i < 4; i++)
		ASSERT_EQ(map_dma(c.fd, buf + i * ABI_PAGE,
				  START + i * ABI_PAGE, ABI_PAGE, MAP_RW),
			  0);
	for (unsigned int i = 0; i < 4; i++) {
		size = ABI_PAGE;
		EXPECT_EQ(
			unmap_dma(c.fd, START + order[i] * ABI_PAGE, &size, 0),
			0);
		EXPECT_EQ(size, ABI_PAGE);
	}
	/*
	 * Nothing there: success, reporting 0 bytes unmapped, as type1 does
	 * (Linux afb47765f923 "iommufd: Make vfio_compats unmap succeed if
	 * the range is already empty"; ENOENT before it).
	 */
	size = ABI_PAGE;
	EXPECT_EQ(unmap_dma(c.fd, START, &size, 0), 0);
	EXPECT_EQ(size, 0);

	/* A cut in the middle of one map: only v1 can. */
	ASSERT_EQ(map_dma(c.fd, buf, START, 4 * ABI_PAGE, MAP_RW), 0);
	size = ABI_PAGE;
	if (v->type == VFIO_TYPE1_IOMMU) {
		EXPECT_EQ(unmap_dma(c.fd, START + ABI_PAGE, &size, 0), 0);
		EXPECT_EQ(size, ABI_PAGE);
		EXPECT_EQ(abi_check_map(c.fd, c.hwpt, START + 2 * ABI_PAGE,
					2 * ABI_PAGE, buf + 2 * ABI_PAGE),
			  0);
		size = 0;
		ASSERT_EQ(unmap_dma(c.fd, 0, &size, VFIO_DMA_UNMAP_FLAG_ALL),
			  0);
		EXPECT_EQ(size, 3 * ABI_PAGE);
	} else {
		/* A failed unmap still writes size back: 0 bytes. */
		EXPECT_ERRNO(ENOENT,
			     unmap_dma(c.fd, START + ABI_PAGE, &size, 0));
		EXPECT_EQ(size, 0);
		size = 0;
		ASSERT_EQ(unmap_dma(c.fd, 0, &size, VFIO_DMA_UNMAP_FLAG_ALL),
			  0);
		EXPECT_EQ(size, 4 * ABI_PAGE);
	}
	close(c.fd);
}

TEST(iommufd_vfio_compat, unmap_flags)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint64_t size;
	struct compat c;

	compat_init(&c, VFIO_TYPE1v2_IOMMU, 0);
	ASSERT_EQ(map_dma(c.fd, buf, START, 4 * ABI_PAGE, MAP_RW), 0);
	/*
	 * The dirty bitmap on unmap is not implemented on iommufd: the
	 * flag is simply unknown, EINVAL; likewise VADDR.
	 */
	size = 4 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, unmap_dma(c.fd, START, &size,
				       VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP));
	size = 4 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL,
		     unmap_dma(c.fd, START, &size, VFIO_DMA_UNMAP_FLAG_VADDR));
	size = 0;
	EXPECT_ERRNO(EINVAL,
		     unmap_dma(c.fd, 0, &size,
			       VFIO_DMA_UNMAP_FLAG_ALL |
				       VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP));
	/* Still mapped. */
	EXPECT_EQ(abi_check_map(c.fd, c.hwpt, START, 4 * ABI_PAGE, buf), 0);
	/* Length 0 without FLAG_ALL. */
	size = 0;
	EXPECT_ERRNO(EINVAL, unmap_dma(c.fd, START, &size, 0));
	close(c.fd);
}

TEST(iommufd_vfio_compat, dirty_pages_enotty)
{
	struct vfio_iommu_type1_dirty_bitmap h = {
		.argsz = sizeof(h) +
			 sizeof(struct vfio_iommu_type1_dirty_bitmap_get),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
	};
	uint8_t db[sizeof(h) +
		   sizeof(struct vfio_iommu_type1_dirty_bitmap_get)];
	struct compat c;

	memset(db, 0, sizeof(db));
	memcpy(db, &h, sizeof(h));
	/* VFIO type1 dirty tracking does not exist on iommufd: ENOTTY. */
	c.fd = abi_open();
	EXPECT_ERRNO(ENOTTY, ioctl(c.fd, VFIO_IOMMU_DIRTY_PAGES, db));
	close(c.fd);
	compat_init(&c, VFIO_TYPE1v2_IOMMU, 0);
	EXPECT_ERRNO(ENOTTY, ioctl(c.fd, VFIO_IOMMU_DIRTY_PAGES, db));
	h.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	memcpy(db, &h, sizeof(h));
	EXPECT_ERRNO(ENOTTY, ioctl(c.fd, VFIO_IOMMU_DIRTY_PAGES, db));
	EXPECT_ERRNO(ENOTTY, ioctl(c.fd, VFIO_IOMMU_DIRTY_PAGES, NULL));
	close(c.fd);
}

TEST(iommufd_vfio_compat, type1_cuts_only_through_vfio)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint64_t size;
	struct compat c;

	/*
	 * TYPE1 makes cutting possible for VFIO_IOMMU_UNMAP_DMA (which cuts
	 * with iopt_cut_iova() first); IOMMU_IOAS_UNMAP never cuts.
	 */
	compat_init(&c, VFIO_TYPE1_IOMMU, 0);
	ASSERT_EQ(map_dma(c.fd, buf, START, 4 * ABI_PAGE, MAP_RW), 0);
	EXPECT_ERRNO(ENOENT,
		     abi_unmap(c.fd, c.ioas, START + ABI_PAGE, ABI_PAGE, NULL));
	size = ABI_PAGE;
	EXPECT_EQ(unmap_dma(c.fd, START + ABI_PAGE, &size, 0), 0);
	EXPECT_EQ(size, ABI_PAGE);
	close(c.fd);
}

TEST(iommufd_vfio_compat, huge_pages_off_allows_cut)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint64_t size, val = 0;
	uint32_t ioas;
	struct compat c;

	/*
	 * The cut depends on the IOAS's large pages being off, however they
	 * were turned off: here with IOMMU_OPTION, under TYPE1v2.
	 */
	c.fd = abi_open();
	ioas = abi_ioas_alloc(c.fd);
	ASSERT_EQ(abi_option(c.fd, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET,
			     ioas, &val),
		  0);
	abi_mock_domain_ok(c.fd, ioas, 0, NULL, NULL, NULL);
	ASSERT_EQ(abi_vfio_ioas(c.fd, IOMMU_VFIO_IOAS_SET, &ioas), 0);
	ASSERT_EQ(vfio_int(c.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	ASSERT_EQ(map_dma(c.fd, buf, START, 4 * ABI_PAGE, MAP_RW), 0);
	size = ABI_PAGE;
	EXPECT_EQ(unmap_dma(c.fd, START + ABI_PAGE, &size, 0), 0);
	EXPECT_EQ(size, ABI_PAGE);
	close(c.fd);
}

TEST(iommufd_vfio_compat, map_dma_flags)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint64_t size;
	struct compat c;
	uint32_t id;

	compat_init(&c, VFIO_TYPE1v2_IOMMU, 0);
	/* Read-only and write-only maps. */
	EXPECT_EQ(map_dma(c.fd, buf, START, ABI_PAGE, VFIO_DMA_MAP_FLAG_READ),
		  0);
	EXPECT_EQ(map_dma(c.fd, buf, START + ABI_PAGE, ABI_PAGE,
			  VFIO_DMA_MAP_FLAG_WRITE),
		  0);
	/*
	 * Neither READ nor WRITE: iommufd_vfio_map_dma() only rejects
	 * unknown flags, and maps with IOMMU_CACHE alone.
	 */
	EXPECT_EQ(map_dma(c.fd, buf, START + 2 * ABI_PAGE, ABI_PAGE, 0), 0);
	size = 0;
	ASSERT_EQ(unmap_dma(c.fd, 0, &size, VFIO_DMA_UNMAP_FLAG_ALL), 0);
	EXPECT_EQ(size, 3 * ABI_PAGE);
	/* A misaligned size for the 2 KiB mock. */
	EXPECT_ERRNO(EINVAL, map_dma(c.fd, buf, START, 1024, MAP_RW));
	close(c.fd);

	/*
	 * Longer than SIZE_MAX - PAGE_SIZE: EINVAL even where nothing wraps
	 * and no domain would pin it.
	 */
	c.fd = abi_open();
	id = abi_ioas_alloc(c.fd);
	ASSERT_EQ(abi_vfio_ioas(c.fd, IOMMU_VFIO_IOAS_SET, &id), 0);
	EXPECT_ERRNO(EINVAL, map_dma(c.fd, NULL, 0, ABI_U64_MAX - ABI_PAGE + 1,
				     MAP_RW));
	close(c.fd);
}
