// SPDX-License-Identifier: MIT
/*
 * iommufd_ioas.c - IOAS ioctls at the ABI: IOAS_MAP, IOAS_UNMAP, IOAS_COPY,
 * IOAS_IOVA_RANGES, IOAS_ALLOW_IOVAS and IOMMU_OPTION, with their errnos in
 * the kernel's order (shared/spec/kernel-abi.md §1.4), and the page pins a
 * domain takes (IOMMU_TEST_OP_MD_CHECK_REFS, §6.1-§6.2).
 *
 * Where the spec and Linux's source disagree, Linux's source wins and the
 * test says so (drivers/iommu/iommufd/io_pagetable.c, ioas.c, pages.c).
 */
#include "abi_util.h"

#define START	 ABI_APERTURE_START
#define FIXED_RW (ABI_MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA)
#define FIXED_RO (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA)

/* An IOAS with one mock device (and so an auto-domain HWPT) on it. */
struct mock_ioas {
	int fd;
	uint32_t ioas, stdev, hwpt, idev;
};

static void mock_ioas_init(struct mock_ioas *m, uint32_t dev_flags)
{
	m->fd = abi_open();
	m->ioas = abi_ioas_alloc(m->fd);
	abi_mock_domain_ok(m->fd, m->ioas, dev_flags, &m->stdev, &m->hwpt,
			   &m->idev);
}

TEST(iommufd_ioas, map_errno_order)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	struct iommu_ioas_map cmd;
	uint32_t ioas;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
#define MAP_CMD(...)                                                        \
	(cmd = (struct iommu_ioas_map){ .size = sizeof(cmd), __VA_ARGS__ }, \
	 ioctl(fd, IOMMU_IOAS_MAP, &cmd))

	/* 1: unknown flags or __reserved, before anything else. */
	EXPECT_ERRNO(EOPNOTSUPP, MAP_CMD(.flags = ABI_MAP_RW | (1 << 3),
					 .ioas_id = 99, .length = 0));
	EXPECT_ERRNO(EOPNOTSUPP, MAP_CMD(.flags = 0, .__reserved = 1,
					 .ioas_id = 99, .iova = ABI_U64_MAX));
	/* 2: iova or length >= ULONG_MAX, even with no R/W and no IOAS. */
	EXPECT_ERRNO(EOVERFLOW,
		     MAP_CMD(.flags = 0, .ioas_id = 99, .iova = ABI_U64_MAX));
	EXPECT_ERRNO(EOVERFLOW,
		     MAP_CMD(.flags = 0, .ioas_id = 99, .length = ABI_U64_MAX));
	/* 3: neither READABLE nor WRITEABLE. */
	EXPECT_ERRNO(EINVAL, MAP_CMD(.flags = IOMMU_IOAS_MAP_FIXED_IOVA,
				     .ioas_id = 99, .length = 0));
	/* 4: the IOAS lookup, before the length is looked at. */
	EXPECT_ERRNO(ENOENT,
		     MAP_CMD(.flags = ABI_MAP_RW, .ioas_id = 0, .length = 0));
	EXPECT_ERRNO(ENOENT,
		     MAP_CMD(.flags = ABI_MAP_RW, .ioas_id = 99,
			     .user_va = abi_ptr(buf), .length = ABI_PAGE));
	/* 5: length 0. */
	EXPECT_ERRNO(EINVAL, MAP_CMD(.flags = ABI_MAP_RW, .ioas_id = ioas,
				     .user_va = abi_ptr(buf), .length = 0));
	EXPECT_ERRNO(EINVAL,
		     MAP_CMD(.flags = ABI_MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
			     .ioas_id = ioas, .user_va = abi_ptr(buf),
			     .length = 0, .iova = START));
	/*
	 * Longer than SIZE_MAX - PAGE_SIZE (iopt_alloc_pages()), even where
	 * nothing wraps and no domain would pin it.
	 */
	EXPECT_ERRNO(EINVAL,
		     MAP_CMD(.flags = ABI_MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
			     .ioas_id = ioas, .user_va = 0,
			     .length = ABI_U64_MAX - ABI_PAGE + 1, .iova = 0));
	EXPECT_ERRNO(EINVAL,
		     MAP_CMD(.flags = ABI_MAP_RW, .ioas_id = ioas, .user_va = 0,
			     .length = ABI_U64_MAX - ABI_PAGE + 1));
	/* The user range itself wrapping. */
	EXPECT_ERRNO(EOVERFLOW,
		     MAP_CMD(.flags = ABI_MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
			     .ioas_id = ioas, .user_va = ABI_U64_MAX - 4095,
			     .length = 2 * ABI_PAGE, .iova = START));
	/* 6: a fixed IOVA range that wraps. */
	EXPECT_ERRNO(EOVERFLOW,
		     MAP_CMD(.flags = ABI_MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
			     .ioas_id = ioas, .user_va = abi_ptr(buf),
			     .length = 2 * ABI_PAGE,
			     .iova = ABI_U64_MAX - ABI_PAGE + 1));
	/* 7: automatic IOVA refuses lengths >= ULONG_MAX / 2. */
	EXPECT_ERRNO(EOVERFLOW,
		     MAP_CMD(.flags = ABI_MAP_RW, .ioas_id = ioas,
			     .user_va = abi_ptr(buf), .length = 1ULL << 63));
	/* After all that, the IOAS still maps. */
	EXPECT_NE(abi_map_auto_ok(fd, ioas, buf, ABI_PAGE), 0);
#undef MAP_CMD
	close(fd);
}

TEST(iommufd_ioas, map_fixed_checks)
{
	uint8_t *buf = abi_buf(8 * ABI_PAGE, ABI_PAGE);
	struct mock_ioas m;
	uint64_t iova;

	mock_ioas_init(&m, 0);
	/* Not an IOAS: the HWPT and device ids. */
	EXPECT_ERRNO(ENOENT, abi_map_fixed(m.fd, m.hwpt, buf, ABI_PAGE, START));
	EXPECT_ERRNO(ENOENT, abi_map_fixed(m.fd, m.idev, buf, ABI_PAGE, START));

	/* With a mock domain the IOVA alignment is MOCK_PAGE_SIZE. */
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, 1024, START));
	EXPECT_ERRNO(EINVAL,
		     abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE, START + 1024));
	EXPECT_EQ(abi_map_fixed(m.fd, m.ioas, buf, MOCK_PAGE_SIZE,
				START + MOCK_PAGE_SIZE),
		  0);
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, START + MOCK_PAGE_SIZE,
			    MOCK_PAGE_SIZE, NULL),
		  0);

	/* Outside the domain's aperture is reserved: EINVAL. */
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE, 0));
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
					   START - ABI_PAGE));
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
					   ABI_APERTURE_LAST + 1 - ABI_PAGE));

	/* A reserved range added through the test interface. */
	ASSERT_EQ(abi_add_reserved(m.fd, m.ioas, START + 64 * ABI_PAGE,
				   4 * ABI_PAGE),
		  0);
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
					   START + 64 * ABI_PAGE));
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
					   START + 63 * ABI_PAGE));
	EXPECT_ERRNO(EINVAL, abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
					   START + 67 * ABI_PAGE));
	EXPECT_EQ(abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
				START + 68 * ABI_PAGE),
		  0);

	/* Overlaps with an existing area: EEXIST, whatever the shape. */
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
				START + 16 * ABI_PAGE),
		  0);
	EXPECT_ERRNO(EEXIST, abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
					   START + 16 * ABI_PAGE));
	EXPECT_ERRNO(EEXIST, abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
					   START + 17 * ABI_PAGE));
	EXPECT_ERRNO(EEXIST, abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
					   START + 15 * ABI_PAGE));
	EXPECT_ERRNO(EEXIST, abi_map_fixed(m.fd, m.ioas, buf, 4 * ABI_PAGE,
					   START + 15 * ABI_PAGE));
	EXPECT_ERRNO(EEXIST,
		     abi_map_fixed(m.fd, m.ioas, buf, MOCK_PAGE_SIZE,
				   START + 18 * ABI_PAGE - MOCK_PAGE_SIZE));
	/* Touching is not overlapping. */
	EXPECT_EQ(abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
				START + 18 * ABI_PAGE),
		  0);
	EXPECT_EQ(abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
				START + 15 * ABI_PAGE),
		  0);

	/* A READABLE-only map; a fixed IOVA comes back unchanged. */
	iova = START + 32 * ABI_PAGE;
	EXPECT_EQ(abi_map(m.fd, m.ioas, buf, ABI_PAGE, &iova,
			  IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA),
		  0);
	EXPECT_EQ(iova, START + 32 * ABI_PAGE);
	close(m.fd);
}

TEST(iommufd_ioas, map_user_memory_faults)
{
	uint8_t *ro = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint8_t *none = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint32_t ioas2;
	uint64_t iova;
	struct mock_ioas m;

	/* Real pages, not the zero page, so pins can be counted. */
	madvise(ro, 4 * ABI_PAGE, MADV_NOHUGEPAGE);
	memset(ro, 0x5a, 4 * ABI_PAGE);
	ASSERT_EQ(mprotect(ro, 4 * ABI_PAGE, PROT_READ), 0);
	ASSERT_EQ(mprotect(none, 4 * ABI_PAGE, PROT_NONE), 0);
	mock_ioas_init(&m, 0);

	/* A domain pins at map time: memory that is not there faults. */
	EXPECT_ERRNO(EFAULT, abi_map_fixed(m.fd, m.ioas, abi_hole(ABI_PAGE),
					   ABI_PAGE, START));
	EXPECT_ERRNO(EFAULT,
		     abi_map_fixed(m.fd, m.ioas, none, 4 * ABI_PAGE, START));
	iova = START;
	EXPECT_ERRNO(EFAULT, abi_map(m.fd, m.ioas, none, 4 * ABI_PAGE, &iova,
				     FIXED_RO));
	/*
	 * WRITEABLE over PROT_READ memory: pin_user_pages(FOLL_WRITE) on a
	 * VMA without VM_WRITE fails in check_vma_flags() with -EFAULT, and
	 * iommufd passes that up (pages.c pfn_reader_user_pin). The spec's
	 * §1.4 item 8 says EPERM; Linux's EPERM is only for IOAS_COPY with
	 * WRITEABLE of a read-only area (iopt_insert_area).
	 */
	EXPECT_ERRNO(EFAULT,
		     abi_map_fixed(m.fd, m.ioas, ro, 4 * ABI_PAGE, START));
	/* The failures left neither an area nor a pin behind. */
	EXPECT_EQ(abi_check_refs(m.fd, ro, 4 * ABI_PAGE, 0), 0);
	EXPECT_ERRNO(ENOENT,
		     abi_unmap(m.fd, m.ioas, START, 4 * ABI_PAGE, NULL));
	/* Read-only memory is fine for a READABLE map. */
	iova = START;
	EXPECT_EQ(abi_map(m.fd, m.ioas, ro, 4 * ABI_PAGE, &iova, FIXED_RO), 0);
	EXPECT_EQ(abi_check_refs(m.fd, ro, 4 * ABI_PAGE, 1), 0);

	/*
	 * Without a domain nothing is pinned at map time, so PROT_NONE
	 * memory maps; attaching a domain later pins, and fails.
	 */
	ioas2 = abi_ioas_alloc(m.fd);
	EXPECT_EQ(abi_map_fixed(m.fd, ioas2, none, 4 * ABI_PAGE, START), 0);
	EXPECT_ERRNO(EFAULT, abi_mock_domain(m.fd, ioas2, 0, NULL, NULL, NULL));
	EXPECT_EQ(abi_unmap(m.fd, ioas2, 0, ABI_U64_MAX, NULL), 0);
	EXPECT_EQ(abi_mock_domain(m.fd, ioas2, 0, NULL, NULL, NULL), 0);
	close(m.fd);
}

TEST(iommufd_ioas, map_no_domain_byte_granular)
{
	uint8_t *buf = abi_buf(ABI_PAGE, ABI_PAGE);
	struct iommu_iova_range r;
	uint64_t align = 0, unmapped = 0;
	uint32_t ioas, n;
	int fd = abi_open();

	/* With no domain the IOVA alignment is 1: any length maps. */
	ioas = abi_ioas_alloc(fd);
	ASSERT_EQ(abi_iova_ranges(fd, ioas, &r, 1, &n, &align), 0);
	EXPECT_EQ(align, 1);
	EXPECT_EQ(abi_map_fixed(fd, ioas, buf + 1, 3, 12345), 0);
	EXPECT_EQ(abi_unmap(fd, ioas, 12345, 3, &unmapped), 0);
	EXPECT_EQ(unmapped, 3);
	close(fd);
}

TEST(iommufd_ioas, auto_iova_alignment)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, 2 * ABI_MB);
	uint64_t iovas[10];
	struct mock_ioas m;

	mock_ioas_init(&m, 0);
	/* Each IOVA is aligned at least to the length's lowest set bit. */
	for (unsigned int i = 0; i < 10; i++) {
		uint64_t len = ABI_PAGE * (i + 1);

		iovas[i] = abi_map_auto_ok(m.fd, m.ioas, buf, len);
		EXPECT_NE(iovas[i], 0);
		EXPECT_EQ(iovas[i] % (len & -len), 0);
		EXPECT_GE(iovas[i], START);
		EXPECT_LE(iovas[i] + len - 1, ABI_APERTURE_LAST);
	}
	for (unsigned int i = 0; i < 10; i++)
		EXPECT_EQ(abi_unmap(m.fd, m.ioas, iovas[i], ABI_PAGE * (i + 1),
				    NULL),
			  0);
	close(m.fd);
}

static uint64_t roundup_pow2(uint64_t x)
{
	uint64_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

TEST(iommufd_ioas, auto_iova_pow2_alignment)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, 2 * ABI_MB);
	uint32_t ioas;
	int fd = abi_open();

	/*
	 * iopt_alloc_iova() aligns to min(roundup_pow_of_two(length), the
	 * user address's alignment): a 2 MiB-aligned buffer of 3 pages gets
	 * a 16 KiB-aligned IOVA, not just a 4 KiB-aligned one.
	 */
	ioas = abi_ioas_alloc(fd);
	for (unsigned int i = 1; i <= 10; i++) {
		uint64_t len = ABI_PAGE * i, iova;

		iova = abi_map_auto_ok(fd, ioas, buf, len);
		EXPECT_EQ(iova % roundup_pow2(len), 0);
	}
	close(fd);
}

TEST(iommufd_ioas, auto_iova_never_low)
{
	uint8_t *buf = abi_buf(ABI_PAGE, 2 * ABI_MB);
	static const uint64_t lens[] = { 1, 3, MOCK_PAGE_SIZE, ABI_PAGE };
	uint32_t ioas;
	int fd = abi_open();

	/*
	 * Never IOVA 0: the allocator searches the allowed space from
	 * PAGE_SIZE up (interval_tree_for_each_span(..., PAGE_SIZE,
	 * ULONG_MAX - PAGE_SIZE)), so nothing lands below 4 KiB.
	 */
	for (size_t i = 0; i < ABI_ARRAY_SIZE(lens); i++) {
		uint64_t iova;

		ioas = abi_ioas_alloc(fd);
		iova = abi_map_auto_ok(fd, ioas, buf, lens[i]);
		EXPECT_NE(iova, 0);
		EXPECT_GE(iova, ABI_PAGE);
	}
	close(fd);
}

TEST(iommufd_ioas, auto_iova_keeps_page_offset)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, 2 * ABI_MB);
	struct mock_ioas m;
	uint64_t iova;
	uint32_t ioas;

	/*
	 * The user address's offset in its page is kept in the IOVA
	 * (ALIGN(hole, align) | page_offset in __alloc_iova_check_hole()).
	 */
	mock_ioas_init(&m, 0);
	ioas = abi_ioas_alloc(m.fd);
	iova = abi_map_auto_ok(m.fd, ioas, buf + 2048, 2048);
	EXPECT_EQ(iova % ABI_PAGE, 2048);
	iova = abi_map_auto_ok(m.fd, ioas, buf + 2048, ABI_PAGE);
	EXPECT_EQ(iova % ABI_PAGE, 2048);
	iova = abi_map_auto_ok(m.fd, m.ioas, buf + MOCK_PAGE_SIZE,
			       MOCK_PAGE_SIZE);
	EXPECT_EQ(iova % ABI_PAGE, MOCK_PAGE_SIZE);

	/*
	 * With a mock domain the IOVA alignment is 2 KiB; a user address
	 * aligned only to 1 KiB cannot get a conforming IOVA: EINVAL.
	 */
	iova = 0;
	EXPECT_ERRNO(EINVAL, abi_map(m.fd, m.ioas, buf + 1024, MOCK_PAGE_SIZE,
				     &iova, ABI_MAP_RW));
	close(m.fd);
}

TEST(iommufd_ioas, auto_iova_reserved_and_allowed)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, 2 * ABI_MB);
	struct iommu_iova_range allow = {
		.start = START + 200 * ABI_PAGE,
		.last = START + 600 * ABI_PAGE - 1,
	};
	uint64_t rstart = START, rlen = 100 * ABI_PAGE, iovas[10];
	struct mock_ioas m;

	mock_ioas_init(&m, 0);
	/* Avoids a reserved range at the bottom of the aperture. */
	ASSERT_EQ(abi_add_reserved(m.fd, m.ioas, rstart, rlen), 0);
	for (unsigned int i = 0; i < 10; i++) {
		uint64_t len = ABI_PAGE * (i + 1);

		iovas[i] = abi_map_auto_ok(m.fd, m.ioas, buf, len);
		EXPECT_TRUE(iovas[i] + len - 1 < rstart ||
			    iovas[i] >= rstart + rlen);
	}
	for (unsigned int i = 0; i < 10; i++)
		EXPECT_EQ(abi_unmap(m.fd, m.ioas, iovas[i], ABI_PAGE * (i + 1),
				    NULL),
			  0);

	/* Stays inside the allowed ranges. */
	ASSERT_EQ(abi_allow_iovas(m.fd, m.ioas, &allow, 1), 0);
	for (unsigned int i = 0; i < 10; i++) {
		uint64_t len = ABI_PAGE * (i + 1);

		iovas[i] = abi_map_auto_ok(m.fd, m.ioas, buf, len);
		EXPECT_GE(iovas[i], allow.start);
		EXPECT_LE(iovas[i] + len - 1, allow.last);
	}
	/* No hole big enough: ENOSPC. */
	{
		uint8_t *big = abi_buf(512 * ABI_PAGE, 2 * ABI_MB);
		uint64_t iova = 0;

		EXPECT_ERRNO(ENOSPC, abi_map(m.fd, m.ioas, big, 512 * ABI_PAGE,
					     &iova, ABI_MAP_RW));
	}
	/* A fixed map outside the allowed ranges is not refused. */
	EXPECT_EQ(abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
				START + 1000 * ABI_PAGE),
		  0);
	close(m.fd);
}

TEST(iommufd_ioas, unmap)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	uint64_t unmapped = 12345;
	struct mock_ioas m;

	mock_ioas_init(&m, 0);
	/* Unmap-all of an empty IOAS succeeds and reports 0. */
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, 0, ABI_U64_MAX, &unmapped), 0);
	EXPECT_EQ(unmapped, 0);
	/* A range with nothing mapped: ENOENT. */
	for (unsigned int i = 0; i < 4; i++)
		EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, m.ioas, i * ABI_PAGE,
					       ABI_PAGE, NULL));
	EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, m.ioas, START, ABI_MB, NULL));

	/* Errnos: the IOAS first, then overflow, then the length. */
	EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, 99, START, 0, NULL));
	EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, m.hwpt, 0, ABI_U64_MAX, NULL));
	EXPECT_ERRNO(EOVERFLOW, abi_unmap(m.fd, m.ioas, ABI_U64_MAX, 1, NULL));
	EXPECT_ERRNO(EOVERFLOW,
		     abi_unmap(m.fd, m.ioas, ABI_PAGE, ABI_U64_MAX, NULL));
	EXPECT_ERRNO(EOVERFLOW, abi_unmap(m.fd, m.ioas, 1ULL << 63,
					  (1ULL << 63) + 1, NULL));
	EXPECT_ERRNO(EINVAL, abi_unmap(m.fd, m.ioas, START, 0, NULL));
	/* iova 0 with length 0 is not "all". */
	EXPECT_ERRNO(EINVAL, abi_unmap(m.fd, m.ioas, 0, 0, NULL));

	/* Areas of 2 pages at +0, +4, +8 pages. */
	for (unsigned int i = 0; i < 3; i++)
		ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
					START + 4 * i * ABI_PAGE),
			  0);
	/* Cutting an area is refused, from either end or the middle. */
	EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, m.ioas, START, ABI_PAGE, NULL));
	EXPECT_ERRNO(ENOENT,
		     abi_unmap(m.fd, m.ioas, START + ABI_PAGE, ABI_PAGE, NULL));
	EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, m.ioas, START + MOCK_PAGE_SIZE,
				       ABI_PAGE, NULL));
	EXPECT_ERRNO(ENOENT, abi_unmap(m.fd, m.ioas, START - ABI_PAGE,
				       2 * ABI_PAGE, NULL));
	/* Exactly one area. */
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, START + 4 * ABI_PAGE, 2 * ABI_PAGE,
			    &unmapped),
		  0);
	EXPECT_EQ(unmapped, 2 * ABI_PAGE);
	/* A superset spanning areas and holes: the areas' total. */
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE,
				START + 4 * ABI_PAGE),
		  0);
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, START, 7 * ABI_PAGE, &unmapped), 0);
	EXPECT_EQ(unmapped, 4 * ABI_PAGE);
	/* Unmap-all reports what was left. */
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, 0, ABI_U64_MAX, &unmapped), 0);
	EXPECT_EQ(unmapped, 2 * ABI_PAGE);
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, 0, ABI_U64_MAX, &unmapped), 0);
	EXPECT_EQ(unmapped, 0);
	close(m.fd);
}

/* IOMMU_IOAS_COPY; *@dst_iova is in/out. */
static int ioas_copy(int fd, uint32_t flags, uint32_t src, uint64_t src_iova,
		     uint32_t dst, uint64_t *dst_iova, uint64_t len)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dst_ioas_id = dst,
		.src_ioas_id = src,
		.length = len,
		.dst_iova = *dst_iova,
		.src_iova = src_iova,
	};
	int rc = ioctl(fd, IOMMU_IOAS_COPY, &cmd);

	if (!rc)
		*dst_iova = cmd.dst_iova;
	return rc;
}

TEST(iommufd_ioas, copy)
{
	uint8_t *buf = abi_buf(8 * ABI_PAGE, ABI_PAGE);
	uint32_t dst, dst_hwpt;
	struct mock_ioas m;
	uint64_t iova;

	mock_ioas_init(&m, 0);
	dst = abi_ioas_alloc(m.fd);
	abi_mock_domain_ok(m.fd, dst, 0, NULL, &dst_hwpt, NULL);
	/* Two contiguous areas in the source: pages 0-3 and 4-7. */
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 4 * ABI_PAGE, START), 0);
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf + 4 * ABI_PAGE, 4 * ABI_PAGE,
				START + 4 * ABI_PAGE),
		  0);

	/* Across both areas, to a fixed IOVA: the same memory appears. */
	iova = START + 64 * ABI_PAGE;
	EXPECT_EQ(ioas_copy(m.fd, FIXED_RW, m.ioas, START, dst, &iova,
			    8 * ABI_PAGE),
		  0);
	EXPECT_EQ(iova, START + 64 * ABI_PAGE);
	EXPECT_EQ(abi_check_map(m.fd, dst_hwpt, START + 64 * ABI_PAGE,
				8 * ABI_PAGE, buf),
		  0);
	/* A slice of one area, to an automatic IOVA. */
	iova = 0;
	EXPECT_EQ(ioas_copy(m.fd, ABI_MAP_RW, m.ioas, START + ABI_PAGE, dst,
			    &iova, 2 * ABI_PAGE),
		  0);
	EXPECT_GE(iova, START);
	EXPECT_EQ(abi_check_map(m.fd, dst_hwpt, iova, 2 * ABI_PAGE,
				buf + ABI_PAGE),
		  0);
	/* Within one IOAS. */
	iova = START + 32 * ABI_PAGE;
	EXPECT_EQ(ioas_copy(m.fd, FIXED_RW, m.ioas, START, m.ioas, &iova,
			    ABI_PAGE),
		  0);
	EXPECT_EQ(abi_check_map(m.fd, m.hwpt, START + 32 * ABI_PAGE, ABI_PAGE,
				buf),
		  0);
	/* The source unmapped, the copy stays. */
	EXPECT_EQ(abi_unmap(m.fd, m.ioas, START, 4 * ABI_PAGE, NULL), 0);
	EXPECT_EQ(abi_check_map(m.fd, dst_hwpt, START + 64 * ABI_PAGE,
				8 * ABI_PAGE, buf),
		  0);
	close(m.fd);
}

TEST(iommufd_ioas, copy_errno_order)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint8_t *ro = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	const uint64_t free_iova = START + 64 * ABI_PAGE;
	uint64_t iova;
	uint32_t dst;
	struct mock_ioas m;

	memset(ro, 0x5a, 4 * ABI_PAGE);
	ASSERT_EQ(mprotect(ro, 4 * ABI_PAGE, PROT_READ), 0);
	mock_ioas_init(&m, 0);
	dst = abi_ioas_alloc(m.fd);
	/* Source: [0, 2) pages, [4, 5), and read-only [8, 10). */
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 2 * ABI_PAGE, START), 0);
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE,
				START + 4 * ABI_PAGE),
		  0);
	iova = START + 8 * ABI_PAGE;
	ASSERT_EQ(abi_map(m.fd, m.ioas, ro, 2 * ABI_PAGE, &iova, FIXED_RO), 0);
	/* Destination: one page at START. */
	ASSERT_EQ(abi_map_fixed(m.fd, dst, buf, ABI_PAGE, START), 0);

#define COPY(flags, src, src_iova, dst_id, dst_iova, len) \
	(iova = (dst_iova),                               \
	 ioas_copy(m.fd, flags, src, src_iova, dst_id, &iova, len))

	EXPECT_ERRNO(EOPNOTSUPP, COPY(FIXED_RW | (1 << 3), 99, START, dst,
				      free_iova, ABI_U64_MAX));
	EXPECT_ERRNO(EOVERFLOW,
		     COPY(0, 99, START, dst, free_iova, ABI_U64_MAX));
	EXPECT_ERRNO(EOVERFLOW,
		     COPY(0, 99, ABI_U64_MAX, dst, free_iova, ABI_PAGE));
	EXPECT_ERRNO(EOVERFLOW, COPY(0, 99, START, dst, ABI_U64_MAX, ABI_PAGE));
	EXPECT_ERRNO(EINVAL, COPY(IOMMU_IOAS_MAP_FIXED_IOVA, 99, START, dst,
				  free_iova, ABI_PAGE));
	EXPECT_ERRNO(ENOENT, COPY(FIXED_RW, 99, START, 98, free_iova, 0));
	/*
	 * The source range is resolved (iopt_get_pages) before the
	 * destination IOAS is looked up: length 0 is EINVAL even with a bad
	 * destination id.
	 */
	EXPECT_ERRNO(EINVAL, COPY(FIXED_RW, m.ioas, START, 98, free_iova, 0));
	/* Not fully covered: a hole between areas, or nothing at all. */
	EXPECT_ERRNO(ENOENT, COPY(FIXED_RW, m.ioas, START, dst, free_iova,
				  5 * ABI_PAGE));
	EXPECT_ERRNO(ENOENT, COPY(FIXED_RW, m.ioas, START, dst, free_iova,
				  3 * ABI_PAGE));
	EXPECT_ERRNO(ENOENT, COPY(FIXED_RW, m.ioas, START + 2 * ABI_PAGE, dst,
				  free_iova, ABI_PAGE));
	/* A bad destination. */
	EXPECT_ERRNO(ENOENT,
		     COPY(FIXED_RW, m.ioas, START, 98, free_iova, ABI_PAGE));
	EXPECT_ERRNO(ENOENT, COPY(FIXED_RW, m.ioas, START, m.hwpt, free_iova,
				  ABI_PAGE));
	/* Overlapping the destination's areas. */
	EXPECT_ERRNO(EEXIST,
		     COPY(FIXED_RW, m.ioas, START, dst, START, ABI_PAGE));
	/*
	 * WRITEABLE from a read-only area is EPERM (iopt_insert_area), which
	 * runs after the destination's lookup and IOVA checks.
	 */
	EXPECT_ERRNO(EPERM, COPY(FIXED_RW, m.ioas, START + 8 * ABI_PAGE, dst,
				 free_iova, ABI_PAGE));
	EXPECT_ERRNO(EEXIST, COPY(FIXED_RW, m.ioas, START + 8 * ABI_PAGE, dst,
				  START, ABI_PAGE));
	EXPECT_ERRNO(ENOENT, COPY(FIXED_RW, m.ioas, START + 8 * ABI_PAGE, 98,
				  free_iova, ABI_PAGE));
	/* READABLE from it is fine. */
	EXPECT_EQ(COPY(FIXED_RO, m.ioas, START + 8 * ABI_PAGE, dst, free_iova,
		       2 * ABI_PAGE),
		  0);
#undef COPY
	close(m.fd);
}

TEST(iommufd_ioas, iova_ranges)
{
	struct iommu_iova_range ranges[4];
	uint64_t align = 0;
	uint32_t ioas, n;
	struct mock_ioas m;

	m.fd = abi_open();
	ioas = abi_ioas_alloc(m.fd);
	EXPECT_ERRNO(ENOENT, abi_iova_ranges(m.fd, 99, ranges, 4, &n, NULL));
	{
		struct iommu_ioas_iova_ranges cmd = {
			.size = sizeof(cmd),
			.ioas_id = 99,
			.__reserved = 1,
		};

		EXPECT_ERRNO(EOPNOTSUPP,
			     ioctl(m.fd, IOMMU_IOAS_IOVA_RANGES, &cmd));
	}

	/* No domain: all of IOVA, alignment 1; too small a buffer EMSGSIZE. */
	EXPECT_ERRNO(EMSGSIZE,
		     abi_iova_ranges(m.fd, ioas, NULL, 0, &n, &align));
	EXPECT_EQ(n, 1);
	EXPECT_EQ(align, 1);
	memset(ranges, 0xaa, sizeof(ranges));
	ASSERT_EQ(abi_iova_ranges(m.fd, ioas, ranges, 4, &n, &align), 0);
	EXPECT_EQ(n, 1);
	EXPECT_EQ(ranges[0].start, 0);
	EXPECT_EQ(ranges[0].last, ABI_U64_MAX);
	EXPECT_EQ(ranges[1].start, 0xaaaaaaaaaaaaaaaaULL);

	/* A mock domain: its aperture, and MOCK_PAGE_SIZE alignment. */
	abi_mock_domain_ok(m.fd, ioas, 0, &m.stdev, &m.hwpt, &m.idev);
	ASSERT_EQ(abi_iova_ranges(m.fd, ioas, ranges, 4, &n, &align), 0);
	EXPECT_EQ(n, 1);
	EXPECT_EQ(ranges[0].start, START);
	EXPECT_EQ(ranges[0].last, ABI_APERTURE_LAST);
	EXPECT_EQ(align, MOCK_PAGE_SIZE);

	/* A reserved range splits it; the short call still fills one. */
	ASSERT_EQ(abi_add_reserved(m.fd, ioas, START + ABI_MB, ABI_MB), 0);
	memset(ranges, 0xaa, sizeof(ranges));
	EXPECT_ERRNO(EMSGSIZE,
		     abi_iova_ranges(m.fd, ioas, ranges, 1, &n, &align));
	EXPECT_EQ(n, 2);
	EXPECT_EQ(align, MOCK_PAGE_SIZE);
	EXPECT_EQ(ranges[0].start, START);
	EXPECT_EQ(ranges[0].last, START + ABI_MB - 1);
	EXPECT_EQ(ranges[1].start, 0xaaaaaaaaaaaaaaaaULL);
	ASSERT_EQ(abi_iova_ranges(m.fd, ioas, ranges, 4, &n, NULL), 0);
	EXPECT_EQ(n, 2);
	EXPECT_EQ(ranges[1].start, START + 2 * ABI_MB);
	EXPECT_EQ(ranges[1].last, ABI_APERTURE_LAST);

	/* Allowed ranges do not show here: only the reserved ones do. */
	{
		struct iommu_iova_range allow = { START, START + ABI_MB - 1 };

		ASSERT_EQ(abi_allow_iovas(m.fd, ioas, &allow, 1), 0);
		ASSERT_EQ(abi_iova_ranges(m.fd, ioas, ranges, 4, &n, NULL), 0);
		EXPECT_EQ(n, 2);
	}

	/* The domain gone, its aperture is no longer reserved. */
	ASSERT_EQ(abi_destroy(m.fd, m.stdev), 0);
	ASSERT_EQ(abi_iova_ranges(m.fd, ioas, ranges, 4, &n, &align), 0);
	EXPECT_EQ(n, 2);
	EXPECT_EQ(ranges[0].start, 0);
	EXPECT_EQ(ranges[1].last, ABI_U64_MAX);
	EXPECT_EQ(align, 1);
	close(m.fd);
}

TEST(iommufd_ioas, allow_iovas)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, 2 * ABI_MB);
	struct iommu_iova_range r[2];
	struct mock_ioas m;
	uint64_t iova;

	mock_ioas_init(&m, 0);
	{
		struct iommu_ioas_allow_iovas cmd = {
			.size = sizeof(cmd),
			.ioas_id = 99,
			.__reserved = 1,
		};

		EXPECT_ERRNO(EOPNOTSUPP,
			     ioctl(m.fd, IOMMU_IOAS_ALLOW_IOVAS, &cmd));
	}
	EXPECT_ERRNO(ENOENT, abi_allow_iovas(m.fd, 99, NULL, 0));
	EXPECT_ERRNO(EFAULT, abi_allow_iovas(m.fd, m.ioas, NULL, 1));

	/* start >= last is EINVAL: even a single-byte [x, x]. */
	r[0] = (struct iommu_iova_range){ START + ABI_PAGE, START };
	EXPECT_ERRNO(EINVAL, abi_allow_iovas(m.fd, m.ioas, r, 1));
	r[0] = (struct iommu_iova_range){ START, START };
	EXPECT_ERRNO(EINVAL, abi_allow_iovas(m.fd, m.ioas, r, 1));
	/* Ranges overlapping each other. */
	r[0] = (struct iommu_iova_range){ START, START + 2 * ABI_MB - 1 };
	r[1] = (struct iommu_iova_range){ START + ABI_MB, START + 3 * ABI_MB };
	EXPECT_ERRNO(EINVAL, abi_allow_iovas(m.fd, m.ioas, r, 2));
	/* Intersecting reserved IOVA (here, below the aperture). */
	r[0] = (struct iommu_iova_range){ ABI_PAGE, START + ABI_MB };
	EXPECT_ERRNO(EADDRINUSE, abi_allow_iovas(m.fd, m.ioas, r, 1));
	/*
	 * Ranges are read and checked one at a time: a bad first range is
	 * EINVAL even when the next cannot be read; reserved IOVA is looked
	 * at only once all are read (EFAULT first); and a num_iovas the
	 * buffer does not hold is EFAULT at its end, not an allocation.
	 */
	{
		uint8_t *guarded = abi_guarded_page();
		struct iommu_iova_range *last =
			(struct iommu_iova_range *)(guarded + ABI_PAGE) - 1;

		*last = (struct iommu_iova_range){ START, START };
		EXPECT_ERRNO(EINVAL, abi_allow_iovas(m.fd, m.ioas, last, 2));
		*last = (struct iommu_iova_range){ ABI_PAGE, START + ABI_MB };
		EXPECT_ERRNO(EFAULT, abi_allow_iovas(m.fd, m.ioas, last, 2));
		*last = (struct iommu_iova_range){ START, START + ABI_MB };
		EXPECT_ERRNO(EFAULT,
			     abi_allow_iovas(m.fd, m.ioas, last, UINT32_MAX));
	}
	ASSERT_EQ(abi_add_reserved(m.fd, m.ioas, START + 8 * ABI_MB, ABI_MB),
		  0);
	r[0] = (struct iommu_iova_range){ START + 8 * ABI_MB + ABI_MB - 1,
					  START + 10 * ABI_MB };
	EXPECT_ERRNO(EADDRINUSE, abi_allow_iovas(m.fd, m.ioas, r, 1));

	/* Two disjoint ranges; allocation stays in them. */
	r[0] = (struct iommu_iova_range){ START + 32 * ABI_MB,
					  START + 32 * ABI_MB + ABI_PAGE - 1 };
	r[1] = (struct iommu_iova_range){ START + 64 * ABI_MB,
					  START + 65 * ABI_MB - 1 };
	ASSERT_EQ(abi_allow_iovas(m.fd, m.ioas, r, 2), 0);
	iova = abi_map_auto_ok(m.fd, m.ioas, buf, 2 * ABI_PAGE);
	EXPECT_GE(iova, r[1].start);
	EXPECT_LE(iova + 2 * ABI_PAGE - 1, r[1].last);

	/* A failing call changes nothing: the old list is still in force. */
	r[0] = (struct iommu_iova_range){ START, START + 2 * ABI_MB };
	r[1] = (struct iommu_iova_range){ START + ABI_MB, START + 3 * ABI_MB };
	EXPECT_ERRNO(EINVAL, abi_allow_iovas(m.fd, m.ioas, r, 2));
	iova = abi_map_auto_ok(m.fd, m.ioas, buf, ABI_PAGE);
	EXPECT_TRUE(
		iova == START + 32 * ABI_MB ||
		(iova >= START + 64 * ABI_MB && iova < START + 65 * ABI_MB));

	/* Reserving inside an allowed range is refused the other way. */
	EXPECT_ERRNO(EADDRINUSE,
		     abi_add_reserved(m.fd, m.ioas,
				      START + 64 * ABI_MB + ABI_MB / 2,
				      ABI_PAGE));
	/* An empty list allows everything again. */
	ASSERT_EQ(abi_allow_iovas(m.fd, m.ioas, NULL, 0), 0);
	iova = abi_map_auto_ok(m.fd, m.ioas, buf, 4 * ABI_PAGE);
	EXPECT_GE(iova, START);
	close(m.fd);
}

TEST(iommufd_ioas, option_rlimit_mode)
{
	uint64_t val;
	int fd = abi_open();

#define OPT(id, op, obj, v) (val = (v), abi_option(fd, id, op, obj, &val))
	/* __reserved and unknown options: EOPNOTSUPP. */
	{
		struct iommu_option cmd = {
			.size = sizeof(cmd),
			.option_id = IOMMU_OPTION_RLIMIT_MODE,
			.op = IOMMU_OPTION_OP_GET,
			.__reserved = 1,
		};

		EXPECT_ERRNO(EOPNOTSUPP, ioctl(fd, IOMMU_OPTION, &cmd));
	}
	EXPECT_ERRNO(EOPNOTSUPP, OPT(0xffff, IOMMU_OPTION_OP_GET, 0, 0));

	/* RLIMIT_MODE is global: any object id is EOPNOTSUPP. */
	EXPECT_ERRNO(EOPNOTSUPP,
		     OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 1, 0));
	EXPECT_ERRNO(EOPNOTSUPP, OPT(IOMMU_OPTION_RLIMIT_MODE, 2, 0, 0));
	/* /dev/iommu starts in per-user accounting: 0. */
	EXPECT_EQ(OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 7), 0);
	EXPECT_EQ(val, 0);

	if (geteuid() != 0) {
		/* SET needs CAP_SYS_RESOURCE. */
		EXPECT_ERRNO(EPERM, OPT(IOMMU_OPTION_RLIMIT_MODE,
					IOMMU_OPTION_OP_SET, 0, 1));
		close(fd);
		return;
	}
	EXPECT_EQ(OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, 1), 0);
	EXPECT_ERRNO(EINVAL,
		     OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, 2));
	EXPECT_EQ(OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 0), 0);
	EXPECT_EQ(val, 1);
	/* Not once any object exists; the value check comes after. */
	abi_ioas_alloc(fd);
	EXPECT_ERRNO(EBUSY,
		     OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, 0));
	EXPECT_ERRNO(EBUSY,
		     OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, 2));
	EXPECT_EQ(OPT(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 0), 0);
	EXPECT_EQ(val, 1);
#undef OPT
	close(fd);
}

TEST(iommufd_ioas, option_huge_pages)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	struct iommu_iova_range r;
	uint64_t val, align;
	uint32_t ioas, n;
	struct mock_ioas m;

	mock_ioas_init(&m, 0);
	ioas = abi_ioas_alloc(m.fd);
#define OPT(op, obj, v) \
	(val = (v), abi_option(m.fd, IOMMU_OPTION_HUGE_PAGES, op, obj, &val))
	/* The object must be an IOAS: 0, a HWPT, a device are ENOENT. */
	EXPECT_ERRNO(ENOENT, OPT(IOMMU_OPTION_OP_GET, 0, 0));
	EXPECT_ERRNO(ENOENT, OPT(IOMMU_OPTION_OP_SET, 0, 1));
	EXPECT_ERRNO(ENOENT, OPT(IOMMU_OPTION_OP_GET, m.hwpt, 0));
	EXPECT_ERRNO(ENOENT, OPT(IOMMU_OPTION_OP_GET, m.idev, 0));
	/* ... looked up before the op is. */
	EXPECT_ERRNO(ENOENT, OPT(7, 0, 0));
	EXPECT_ERRNO(EOPNOTSUPP, OPT(7, ioas, 0));

	/* Default on; SET 0 / 1 round-trip; 2 is EINVAL. */
	EXPECT_EQ(abi_huge_pages(m.fd, ioas), 1);
	EXPECT_EQ(OPT(IOMMU_OPTION_OP_SET, ioas, 0), 0);
	EXPECT_EQ(abi_huge_pages(m.fd, ioas), 0);
	EXPECT_ERRNO(EINVAL, OPT(IOMMU_OPTION_OP_SET, ioas, 2));
	EXPECT_EQ(abi_huge_pages(m.fd, ioas), 0);
	/* Off means PAGE_SIZE IOPTEs, so PAGE_SIZE IOVA alignment. */
	ASSERT_EQ(abi_iova_ranges(m.fd, ioas, &r, 1, &n, &align), 0);
	EXPECT_EQ(align, ABI_PAGE);
	EXPECT_ERRNO(EINVAL,
		     abi_map_fixed(m.fd, ioas, buf, MOCK_PAGE_SIZE, START));
	EXPECT_EQ(OPT(IOMMU_OPTION_OP_SET, ioas, 1), 0);
	EXPECT_EQ(abi_huge_pages(m.fd, ioas), 1);
	ASSERT_EQ(abi_iova_ranges(m.fd, ioas, &r, 1, &n, &align), 0);
	EXPECT_EQ(align, 1);

	/* Raising the alignment over a misaligned area: EADDRINUSE. */
	ASSERT_EQ(abi_map_fixed(m.fd, ioas, buf, MOCK_PAGE_SIZE, START), 0);
	EXPECT_ERRNO(EADDRINUSE, OPT(IOMMU_OPTION_OP_SET, ioas, 0));
	EXPECT_EQ(abi_huge_pages(m.fd, ioas), 1);
	ASSERT_EQ(abi_unmap(m.fd, ioas, 0, ABI_U64_MAX, NULL), 0);
	ASSERT_EQ(abi_map_fixed(m.fd, ioas, buf, ABI_PAGE, START), 0);
	EXPECT_EQ(OPT(IOMMU_OPTION_OP_SET, ioas, 0), 0);
	EXPECT_EQ(OPT(IOMMU_OPTION_OP_SET, ioas, 1), 0);

	/* Not once a domain has pages mapped: EINVAL. */
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, ABI_PAGE, START), 0);
	EXPECT_ERRNO(EINVAL, OPT(IOMMU_OPTION_OP_SET, m.ioas, 0));
	EXPECT_EQ(abi_huge_pages(m.fd, m.ioas), 1);
	ASSERT_EQ(abi_unmap(m.fd, m.ioas, 0, ABI_U64_MAX, NULL), 0);
	EXPECT_EQ(OPT(IOMMU_OPTION_OP_SET, m.ioas, 0), 0);
	/* With the domain there, the larger of both alignments. */
	ASSERT_EQ(abi_iova_ranges(m.fd, m.ioas, &r, 1, &n, &align), 0);
	EXPECT_EQ(align, ABI_PAGE);
#undef OPT
	close(m.fd);
}

TEST(iommufd_ioas, pins_while_mapped)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	uint32_t ioas2, ioas3, stdev3;
	struct mock_ioas m;

	/* Plain small pages: the kernel's check skips compound pages. */
	madvise(buf, 16 * ABI_PAGE, MADV_NOHUGEPAGE);
	memset(buf, 0x5a, 16 * ABI_PAGE);
	mock_ioas_init(&m, 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 0), 0);

	/* Mapped into a domain: pinned once. */
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 16 * ABI_PAGE, START), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 1), 0);
	/* A wrong count is EIO (iommufd_test_md_check_refs). */
	EXPECT_ERRNO(EIO, abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 0));
	EXPECT_ERRNO(EIO, abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 2));

	/* A second domain on the same IOAS shares the one pin. */
	abi_mock_domain_ok(m.fd, m.ioas, 0, NULL, NULL, NULL);
	abi_mock_domain_ok(m.fd, abi_hwpt_alloc_ok(m.fd, m.idev, m.ioas, 0), 0,
			   NULL, NULL, NULL);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 1), 0);

	/* No domain, no pin; a separate map with a domain is another pin. */
	ioas2 = abi_ioas_alloc(m.fd);
	ASSERT_EQ(abi_map_fixed(m.fd, ioas2, buf, 16 * ABI_PAGE, START), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 1), 0);
	ioas3 = abi_ioas_alloc(m.fd);
	abi_mock_domain_ok(m.fd, ioas3, 0, &stdev3, NULL, NULL);
	ASSERT_EQ(abi_map_fixed(m.fd, ioas3, buf, 8 * ABI_PAGE, START), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 8 * ABI_PAGE, 2), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf + 8 * ABI_PAGE, 8 * ABI_PAGE, 1), 0);
	/* The domain going away unpins, with the area still mapped. */
	ASSERT_EQ(abi_destroy(m.fd, stdev3), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 1), 0);

	/* Attaching a domain to ioas2 pins its area. */
	abi_mock_domain_ok(m.fd, ioas2, 0, NULL, NULL, NULL);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 2), 0);

	/* Unmapping unpins. */
	ASSERT_EQ(abi_unmap(m.fd, m.ioas, START, 16 * ABI_PAGE, NULL), 0);
	ASSERT_EQ(abi_unmap(m.fd, ioas2, START, 16 * ABI_PAGE, NULL), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 0), 0);
	close(m.fd);
}

TEST(iommufd_ioas, close_releases_pins)
{
	uint8_t *buf = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	struct mock_ioas m;
	uint32_t hwpt;
	int fd;

	madvise(buf, 16 * ABI_PAGE, MADV_NOHUGEPAGE);
	memset(buf, 0x5a, 16 * ABI_PAGE);
	mock_ioas_init(&m, 0);
	hwpt = abi_hwpt_alloc_ok(m.fd, m.idev, m.ioas,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	ASSERT_EQ(abi_map_fixed(m.fd, m.ioas, buf, 16 * ABI_PAGE, START), 0);
	ASSERT_EQ(abi_set_dirty(m.fd, hwpt, 1), 0);
	EXPECT_EQ(abi_check_refs(m.fd, buf, 16 * ABI_PAGE, 1), 0);

	/* Another open sees the pins of this one while it lives ... */
	fd = abi_open();
	EXPECT_EQ(abi_check_refs(fd, buf, 16 * ABI_PAGE, 1), 0);
	close(fd);
	/* ... and none after it is closed, objects and all. */
	EXPECT_EQ(close(m.fd), 0);
	fd = abi_open();
	EXPECT_EQ(abi_check_refs(fd, buf, 16 * ABI_PAGE, 0), 0);
	close(fd);
}

TEST(iommufd_ioas, check_refs_args)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	int fd = abi_open();

	/* Length and address must be page multiples; 0 pages is nothing. */
	EXPECT_ERRNO(EINVAL, abi_check_refs(fd, buf + 8, ABI_PAGE, 0));
	EXPECT_ERRNO(EINVAL, abi_check_refs(fd, buf, ABI_PAGE + 8, 0));
	EXPECT_EQ(abi_check_refs(fd, buf, 0, 0), 0);
	/* get_user_pages_fast() on nothing: EFAULT. */
	EXPECT_ERRNO(EFAULT,
		     abi_check_refs(fd, abi_hole(ABI_PAGE), ABI_PAGE, 0));
	close(fd);
}
