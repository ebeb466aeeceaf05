// SPDX-License-Identifier: MIT
/*
 * iommufd_hwpt.c - devices and HWPTs at the ABI: IOMMU_GET_HW_INFO,
 * IOMMU_HWPT_ALLOC, auto domains and MOCK_DOMAIN_REPLACE,
 * IOMMU_HWPT_SET_DIRTY_TRACKING's errnos and IOMMU_HWPT_INVALIDATE, with the
 * selftest mock driver (shared/spec/kernel-abi.md §1.4, §2.4, §6.2).
 */
#include "abi_util.h"

#define START ABI_APERTURE_START

static int hw_info(int fd, uint32_t dev_id, void *data, uint32_t len,
		   struct iommu_hw_info *out)
{
	*out = (struct iommu_hw_info){
		.size = sizeof(*out),
		.dev_id = dev_id,
		.data_len = len,
		.data_uptr = abi_ptr(data),
		.out_capabilities = ~0ULL,
	};
	return ioctl(fd, IOMMU_GET_HW_INFO, out);
}

TEST(iommufd_hwpt, get_hw_info)
{
	uint8_t *page = abi_guarded_page();
	struct iommu_test_hw_info *info = (void *)page;
	struct iommu_hw_info cmd;
	uint32_t ioas, stdev, idev;
	int fd = abi_open();

	/* No device yet: ENOENT for any id. */
	ioas = abi_ioas_alloc(fd);
	EXPECT_ERRNO(ENOENT, hw_info(fd, 0, page, 8, &cmd));
	EXPECT_ERRNO(ENOENT, hw_info(fd, ioas, page, 8, &cmd));
	abi_mock_domain_ok(fd, ioas, 0, &stdev, NULL, &idev);
	/* The selftest object is not the device. */
	EXPECT_ERRNO(ENOENT, hw_info(fd, stdev, page, 8, &cmd));

	/* Unknown flags and __reserved, before the device lookup. */
	cmd = (struct iommu_hw_info){ .size = sizeof(cmd), .flags = 1 << 1 };
	EXPECT_ERRNO(EOPNOTSUPP, ioctl(fd, IOMMU_GET_HW_INFO, &cmd));
	cmd = (struct iommu_hw_info){ .size = sizeof(cmd), .dev_id = idev };
	cmd.__reserved[2] = 1;
	EXPECT_ERRNO(EOPNOTSUPP, ioctl(fd, IOMMU_GET_HW_INFO, &cmd));

	/* No buffer: just the type and the blob's length. */
	ASSERT_EQ(hw_info(fd, idev, NULL, 0, &cmd), 0);
	EXPECT_EQ(cmd.out_data_type, IOMMU_HW_INFO_TYPE_SELFTEST);
	EXPECT_EQ(cmd.data_len, sizeof(struct iommu_test_hw_info));

	/* Exactly the blob. */
	memset(page, 0xaa, ABI_PAGE);
	ASSERT_EQ(hw_info(fd, idev, page, sizeof(*info), &cmd), 0);
	EXPECT_EQ(cmd.data_len, sizeof(*info));
	EXPECT_EQ(info->flags, 0);
	EXPECT_EQ(info->test_reg, IOMMU_HW_INFO_SELFTEST_REGVAL);
	EXPECT_EQ(page[sizeof(*info)], 0xaa);

	/* Larger: the rest of the caller's buffer is zeroed, no further. */
	memset(page, 0xaa, ABI_PAGE);
	ASSERT_EQ(hw_info(fd, idev, page, 64, &cmd), 0);
	EXPECT_EQ(cmd.data_len, sizeof(*info));
	EXPECT_EQ(info->test_reg, IOMMU_HW_INFO_SELFTEST_REGVAL);
	for (unsigned int i = sizeof(*info); i < 64; i++)
		if (page[i])
			test_fail_at(__FILE__, __LINE__,
				     "byte %u of a 64-byte buffer: 0x%02x", i,
				     page[i]);
	EXPECT_EQ(page[64], 0xaa);

	/* Smaller: only what fits is written; data_len still the full. */
	memset(page, 0xaa, ABI_PAGE);
	ASSERT_EQ(hw_info(fd, idev, page, 4, &cmd), 0);
	EXPECT_EQ(cmd.data_len, sizeof(*info));
	EXPECT_EQ(info->flags, 0);
	EXPECT_EQ(page[4], 0xaa);
	EXPECT_EQ(page[7], 0xaa);

	/* A buffer that is not all there. */
	EXPECT_ERRNO(EFAULT, hw_info(fd, idev, page + ABI_PAGE - 4,
				     sizeof(*info), &cmd));
	EXPECT_ERRNO(EFAULT, hw_info(fd, idev, page + ABI_PAGE - 8, 64, &cmd));
	close(fd);
}

TEST(iommufd_hwpt, alloc_errno_order)
{
	uint32_t ioas, stdev, idev, hwpt;
	struct iommu_hwpt_alloc cmd;
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, &stdev, &hwpt, &idev);
#define ALLOC(...)                                                            \
	(cmd = (struct iommu_hwpt_alloc){ .size = sizeof(cmd), __VA_ARGS__ }, \
	 ioctl(fd, IOMMU_HWPT_ALLOC, &cmd))

	/* 1: __reserved. */
	EXPECT_ERRNO(EOPNOTSUPP, ALLOC(.__reserved = 1, .dev_id = 99,
				       .pt_id = 99, .data_len = 4));
	/* 2: data_type and data_len must agree. */
	EXPECT_ERRNO(EINVAL, ALLOC(.dev_id = 99, .pt_id = 99, .data_len = 4,
				   .data_uptr = abi_ptr(&data)));
	EXPECT_ERRNO(EINVAL, ALLOC(.dev_id = 99, .pt_id = 99,
				   .data_type = IOMMU_HWPT_DATA_SELFTEST));
	/* 3: the device, even with unknown flags. */
	EXPECT_ERRNO(ENOENT, ALLOC(.dev_id = 0, .pt_id = ioas));
	EXPECT_ERRNO(ENOENT, ALLOC(.dev_id = ioas, .pt_id = ioas));
	EXPECT_ERRNO(ENOENT, ALLOC(.dev_id = stdev, .pt_id = ioas));
	EXPECT_ERRNO(ENOENT, ALLOC(.flags = 1 << 7, .dev_id = 99, .pt_id = 99));
	/* 4: a bad pt_id is EINVAL, not ENOENT, also before the flags. */
	EXPECT_ERRNO(EINVAL, ALLOC(.dev_id = idev, .pt_id = 0));
	EXPECT_ERRNO(EINVAL, ALLOC(.dev_id = idev, .pt_id = 99));
	EXPECT_ERRNO(EINVAL, ALLOC(.dev_id = idev, .pt_id = idev));
	EXPECT_ERRNO(EINVAL, ALLOC(.dev_id = idev, .pt_id = stdev));
	EXPECT_ERRNO(EINVAL,
		     ALLOC(.flags = 1 << 7, .dev_id = idev, .pt_id = 99));
	/* 5: unknown flags on an IOAS. */
	EXPECT_ERRNO(EOPNOTSUPP,
		     ALLOC(.flags = 1 << 7, .dev_id = idev, .pt_id = ioas));
	EXPECT_ERRNO(EOPNOTSUPP,
		     ALLOC(.flags = 1u << 31, .dev_id = idev, .pt_id = ioas));
	/* 6: on a paging HWPT it is a nested alloc, which needs data. */
	EXPECT_ERRNO(EOPNOTSUPP, ALLOC(.dev_id = idev, .pt_id = hwpt));
	EXPECT_ERRNO(EOPNOTSUPP, ALLOC(.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				       .dev_id = idev, .pt_id = hwpt));

	/* The valid ones. */
	EXPECT_EQ(ALLOC(.dev_id = idev, .pt_id = ioas), 0);
	EXPECT_NE(cmd.out_hwpt_id, 0);
	EXPECT_NE(cmd.out_hwpt_id, hwpt);
	EXPECT_EQ(ALLOC(.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
			.dev_id = idev, .pt_id = ioas),
		  0);
	EXPECT_EQ(ALLOC(.flags = IOMMU_HWPT_ALLOC_NEST_PARENT, .dev_id = idev,
			.pt_id = ioas),
		  0);
	/* A HWPT may be made for one IOAS with a device on another. */
	EXPECT_EQ(ALLOC(.dev_id = idev, .pt_id = abi_ioas_alloc(fd)), 0);
	/* iommufd_hwpt_alloc() never looks at __reserved2. */
	EXPECT_EQ(ALLOC(.__reserved2 = 1, .dev_id = idev, .pt_id = ioas), 0);
	/*
	 * FAULT_ID_VALID: the HWPT is made first (the driver's errors come
	 * first), then the fault object is looked up - none can exist - and
	 * the HWPT undone.
	 */
	EXPECT_ERRNO(EINVAL,
		     ALLOC(.flags = IOMMU_HWPT_FAULT_ID_VALID, .dev_id = idev,
			   .pt_id = ioas, .data_type = IOMMU_HWPT_DATA_SELFTEST,
			   .data_len = 2, .data_uptr = abi_ptr(&data)));
	EXPECT_ERRNO(ENOENT,
		     ALLOC(.flags = IOMMU_HWPT_FAULT_ID_VALID, .dev_id = idev,
			   .pt_id = ioas, .fault_id = hwpt));
#undef ALLOC
	close(fd);
}

TEST(iommufd_hwpt, alloc_fills_existing_maps)
{
	uint8_t *buf = abi_buf(8 * ABI_PAGE, ABI_PAGE);
	uint32_t ioas, idev, hwpt;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, NULL, NULL, &idev);
	ASSERT_EQ(abi_map_fixed(fd, ioas, buf, 8 * ABI_PAGE, START), 0);
	/* A new HWPT on the IOAS gets every mapping already there ... */
	hwpt = abi_hwpt_alloc_ok(fd, idev, ioas, 0);
	EXPECT_EQ(abi_check_map(fd, hwpt, START, 8 * ABI_PAGE, buf), 0);
	/* ... and every later one; an unmap leaves it. */
	ASSERT_EQ(abi_map_fixed(fd, ioas, buf, 2 * ABI_PAGE,
				START + 64 * ABI_PAGE),
		  0);
	EXPECT_EQ(abi_check_map(fd, hwpt, START + 64 * ABI_PAGE, 2 * ABI_PAGE,
				buf),
		  0);
	ASSERT_EQ(abi_unmap(fd, ioas, START, 8 * ABI_PAGE, NULL), 0);
	EXPECT_ERRNO(EINVAL, abi_check_map(fd, hwpt, START, 8 * ABI_PAGE, buf));
	/* MD_CHECK_MAP wants a mock HWPT. */
	EXPECT_ERRNO(ENOENT, abi_check_map(fd, ioas, START + 64 * ABI_PAGE,
					   ABI_PAGE, buf));
	close(fd);
}

TEST(iommufd_hwpt, mock_domain_errors)
{
	uint32_t ioas, idev;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	/* Attach targets: ENOENT for nothing, EINVAL for the wrong type. */
	EXPECT_ERRNO(ENOENT, abi_mock_domain(fd, 0, 0, NULL, NULL, NULL));
	EXPECT_ERRNO(ENOENT, abi_mock_domain(fd, 99, 0, NULL, NULL, NULL));
	abi_mock_domain_ok(fd, ioas, 0, NULL, NULL, &idev);
	EXPECT_ERRNO(EINVAL, abi_mock_domain(fd, idev, 0, NULL, NULL, NULL));
	/* Unknown device flags: EINVAL, before the target is looked at. */
	EXPECT_ERRNO(EINVAL,
		     abi_mock_domain(fd, ioas, 1u << 7, NULL, NULL, NULL));
	EXPECT_ERRNO(EINVAL,
		     abi_mock_domain(fd, 99, 1u << 7, NULL, NULL, NULL));
	/* An unknown test op. */
	{
		struct iommu_test_cmd cmd = { .op = 0x7fff };

		EXPECT_ERRNO(EOPNOTSUPP, abi_test_cmd(fd, &cmd));
	}
	close(fd);
}

TEST(iommufd_hwpt, auto_domain_reuse)
{
	uint32_t ioas, hwpt1, hwpt2, hwpt3, hwpt4, stdev1, idev1;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, &stdev1, &hwpt1, &idev1);
	/* A second compatible device reuses the auto domain. */
	abi_mock_domain_ok(fd, ioas, 0, NULL, &hwpt2, NULL);
	EXPECT_EQ(hwpt2, hwpt1);
	/* Auto domains never track, so a NO_DIRTY device fits too. */
	abi_mock_domain_ok(fd, ioas, MOCK_FLAGS_DEVICE_NO_DIRTY, NULL, &hwpt3,
			   NULL);
	EXPECT_EQ(hwpt3, hwpt1);
	/* It is in use: neither it nor its IOAS can go. */
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, hwpt1));
	/* A device attached to it directly, by HWPT id. */
	abi_mock_domain_ok(fd, hwpt1, 0, NULL, &hwpt4, NULL);
	EXPECT_EQ(hwpt4, hwpt1);
	close(fd);
}

TEST(iommufd_hwpt, manual_hwpt_never_auto)
{
	uint32_t ioas, stdev1, idev1, auto1, dirty, plain, stdev2, hwpt2;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, &stdev1, &auto1, &idev1);
	dirty = abi_hwpt_alloc_ok(fd, idev1, ioas,
				  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	plain = abi_hwpt_alloc_ok(fd, idev1, ioas, 0);

	/* With the auto domain gone, the manual HWPTs are still skipped. */
	ASSERT_EQ(abi_destroy(fd, stdev1), 0);
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, auto1));
	abi_mock_domain_ok(fd, ioas, 0, &stdev2, &hwpt2, NULL);
	EXPECT_NE(hwpt2, dirty);
	EXPECT_NE(hwpt2, plain);
	/* The new auto domain does not track. */
	EXPECT_ERRNO(EOPNOTSUPP, abi_set_dirty(fd, hwpt2, 1));
	EXPECT_EQ(abi_set_dirty(fd, dirty, 1), 0);
	/* Manual HWPTs outlive their devices, until destroyed. */
	EXPECT_EQ(abi_destroy(fd, stdev2), 0);
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, hwpt2));
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, ioas));
	EXPECT_EQ(abi_destroy(fd, dirty), 0);
	EXPECT_EQ(abi_destroy(fd, plain), 0);
	EXPECT_EQ(abi_destroy(fd, ioas), 0);
	close(fd);
}

TEST(iommufd_hwpt, replace)
{
	uint8_t *buf = abi_buf(4 * ABI_PAGE, ABI_PAGE);
	uint32_t ioas, ioas2, stdev, auto1, idev, manual, dirty, pt, stdev_nd;
	uint32_t auto_nd;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	ioas2 = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, &stdev, &auto1, &idev);
	manual = abi_hwpt_alloc_ok(fd, idev, ioas, 0);
	dirty = abi_hwpt_alloc_ok(fd, idev, ioas,
				  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);

	/* Bad ids. */
	pt = manual;
	EXPECT_ERRNO(ENOENT, abi_mock_replace(fd, 99, &pt));
	EXPECT_ERRNO(ENOENT, abi_mock_replace(fd, idev, &pt));
	pt = 0;
	EXPECT_ERRNO(ENOENT, abi_mock_replace(fd, stdev, &pt));
	pt = idev;
	EXPECT_ERRNO(EINVAL, abi_mock_replace(fd, stdev, &pt));

	/* To a manual HWPT: the auto domain goes with its last device. */
	pt = manual;
	ASSERT_EQ(abi_mock_replace(fd, stdev, &pt), 0);
	EXPECT_EQ(pt, manual);
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, auto1));
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, manual));
	/* To the dirty one, and the mappings follow. */
	ASSERT_EQ(abi_map_fixed(fd, ioas, buf, 4 * ABI_PAGE, START), 0);
	pt = dirty;
	ASSERT_EQ(abi_mock_replace(fd, stdev, &pt), 0);
	EXPECT_EQ(pt, dirty);
	EXPECT_EQ(abi_check_map(fd, dirty, START, 4 * ABI_PAGE, buf), 0);
	EXPECT_EQ(abi_destroy(fd, manual), 0);

	/* A NO_DIRTY device cannot be moved onto the dirty HWPT. */
	abi_mock_domain_ok(fd, ioas, MOCK_FLAGS_DEVICE_NO_DIRTY, &stdev_nd,
			   &auto_nd, NULL);
	pt = dirty;
	EXPECT_ERRNO(EINVAL, abi_mock_replace(fd, stdev_nd, &pt));
	/* ... and stays where it was. */
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, auto_nd));

	/* Back to the IOAS: a fresh auto domain, never the manual one. */
	pt = ioas;
	ASSERT_EQ(abi_mock_replace(fd, stdev, &pt), 0);
	EXPECT_NE(pt, dirty);
	EXPECT_EQ(pt, auto_nd);
	EXPECT_EQ(abi_destroy(fd, dirty), 0);

	/* To another IOAS: an auto domain there; the first IOAS frees up. */
	pt = ioas2;
	ASSERT_EQ(abi_mock_replace(fd, stdev, &pt), 0);
	EXPECT_NE(pt, auto_nd);
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, ioas2));
	EXPECT_EQ(abi_destroy(fd, stdev_nd), 0);
	EXPECT_EQ(abi_destroy(fd, ioas), 0);
	close(fd);
}

TEST(iommufd_hwpt, set_dirty_tracking_errnos)
{
	struct iommu_hwpt_set_dirty_tracking cmd;
	uint32_t ioas, stdev, auto_hwpt, idev, plain, dirty;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, &stdev, &auto_hwpt, &idev);
	plain = abi_hwpt_alloc_ok(fd, idev, ioas, 0);
	dirty = abi_hwpt_alloc_ok(fd, idev, ioas,
				  IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
#define SET(...)                                                            \
	(cmd = (struct iommu_hwpt_set_dirty_tracking){ .size = sizeof(cmd), \
						       __VA_ARGS__ },       \
	 ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd))

	/* Unknown flags first, then the lookup (HWPT_PAGING only). */
	EXPECT_ERRNO(EOPNOTSUPP, SET(.flags = 2, .hwpt_id = 99));
	EXPECT_ERRNO(EOPNOTSUPP, SET(.flags = 1u << 31, .hwpt_id = dirty));
	EXPECT_ERRNO(ENOENT, SET(.flags = 1, .hwpt_id = 0));
	EXPECT_ERRNO(ENOENT, SET(.flags = 1, .hwpt_id = ioas));
	EXPECT_ERRNO(ENOENT, SET(.flags = 1, .hwpt_id = idev));
	EXPECT_ERRNO(ENOENT, SET(.flags = 1, .hwpt_id = stdev));
	/* HWPTs allocated without DIRTY_TRACKING cannot track. */
	EXPECT_ERRNO(EOPNOTSUPP, SET(.flags = 1, .hwpt_id = plain));
	EXPECT_ERRNO(EOPNOTSUPP, SET(.flags = 0, .hwpt_id = plain));
	EXPECT_ERRNO(EOPNOTSUPP, SET(.flags = 1, .hwpt_id = auto_hwpt));

	/* On, on again, off, off again: all fine. */
	EXPECT_EQ(SET(.flags = 1, .hwpt_id = dirty), 0);
	EXPECT_EQ(SET(.flags = 1, .hwpt_id = dirty), 0);
	EXPECT_EQ(SET(.flags = 0, .hwpt_id = dirty), 0);
	EXPECT_EQ(SET(.flags = 0, .hwpt_id = dirty), 0);
	/* __reserved is not checked by this ioctl. */
	EXPECT_EQ(SET(.flags = 1, .hwpt_id = dirty, .__reserved = 7), 0);
#undef SET
	close(fd);
}

TEST(iommufd_hwpt, invalidate)
{
	struct iommu_hwpt_invalidate cmd;
	uint32_t ioas, hwpt;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, NULL, &hwpt, NULL);
#define INV(...)                                                    \
	(cmd = (struct iommu_hwpt_invalidate){ .size = sizeof(cmd), \
					       .entry_num = 5,      \
					       __VA_ARGS__ },       \
	 ioctl(fd, IOMMU_HWPT_INVALIDATE, &cmd))

	EXPECT_ERRNO(EOPNOTSUPP, INV(.hwpt_id = hwpt, .__reserved = 1,
				     .data_uptr = 8, .entry_len = 8));
	EXPECT_ERRNO(EINVAL, INV(.hwpt_id = hwpt, .entry_len = 8));
	EXPECT_ERRNO(EINVAL, INV(.hwpt_id = hwpt, .data_uptr = 8));
	EXPECT_ERRNO(ENOENT,
		     INV(.hwpt_id = 99, .data_uptr = 8, .entry_len = 8));
	/* Nothing was done, and entry_num says so. */
	EXPECT_EQ(cmd.entry_num, 0);
	/* Only nested HWPTs and vIOMMUs take invalidations. */
	EXPECT_ERRNO(EINVAL,
		     INV(.hwpt_id = hwpt, .data_uptr = 8, .entry_len = 8));
	EXPECT_ERRNO(EINVAL,
		     INV(.hwpt_id = ioas, .data_uptr = 8, .entry_len = 8));
#undef INV
	close(fd);
}
