// SPDX-License-Identifier: MIT
/*
 * iommufd_dispatch.c - how /dev/iommu takes an ioctl before any handler
 * runs, and the object id table (shared/spec/kernel-abi.md §1.1, §1.2).
 *
 * Numbers below 0x80 or past the table go to the VFIO compat layer (ENOTTY
 * when unknown there); otherwise the size word is read (EFAULT), a hole is
 * ENOTTY, size < min_size is EINVAL, a longer struct needs a zero tail
 * (E2BIG) and a shorter one is zero-extended. Ids come from 1; IOMMU_DESTROY
 * is ENOENT for an unknown id and EBUSY for an object still in use.
 */
#include "abi_util.h"

/*
 * One row per command: its min_size (offsetofend of the last field Linux
 * requires, §1.2), the size of our struct, and what a zeroed struct of
 * that size gets on a fresh fd (ZERO_OK: success; ZERO_RLIMIT: OPTION
 * SET RLIMIT_MODE 0, which needs CAP_SYS_RESOURCE).
 */
enum { ZERO_OK = 0, ZERO_RLIMIT = -1 };

struct cmd_row {
	const char *name;
	unsigned long ioctl;
	size_t min_size;
	size_t size;
	int zero_errno;
};

static const struct cmd_row cmd_rows[] = {
	{ "destroy", IOMMU_DESTROY, 8, sizeof(struct iommu_destroy), ENOENT },
	{ "ioas_alloc", IOMMU_IOAS_ALLOC, 12, sizeof(struct iommu_ioas_alloc),
	  ZERO_OK },
	{ "ioas_allow_iovas", IOMMU_IOAS_ALLOW_IOVAS, 24,
	  sizeof(struct iommu_ioas_allow_iovas), ENOENT },
	/* flags 0: neither READABLE nor WRITEABLE */
	{ "ioas_copy", IOMMU_IOAS_COPY, 40, sizeof(struct iommu_ioas_copy),
	  EINVAL },
	{ "ioas_iova_ranges", IOMMU_IOAS_IOVA_RANGES, 32,
	  sizeof(struct iommu_ioas_iova_ranges), ENOENT },
	{ "ioas_map", IOMMU_IOAS_MAP, 40, sizeof(struct iommu_ioas_map),
	  EINVAL },
	{ "ioas_unmap", IOMMU_IOAS_UNMAP, 24, sizeof(struct iommu_ioas_unmap),
	  ENOENT },
	{ "option", IOMMU_OPTION, 24, sizeof(struct iommu_option),
	  ZERO_RLIMIT },
	/* op 0 is GET, and there is no compat IOAS yet */
	{ "vfio_ioas", IOMMU_VFIO_IOAS, 12, sizeof(struct iommu_vfio_ioas),
	  ENODEV },
	{ "hwpt_alloc", IOMMU_HWPT_ALLOC, 24, sizeof(struct iommu_hwpt_alloc),
	  ENOENT },
	{ "get_hw_info", IOMMU_GET_HW_INFO, 32, sizeof(struct iommu_hw_info),
	  ENOENT },
	{ "hwpt_set_dirty_tracking", IOMMU_HWPT_SET_DIRTY_TRACKING, 16,
	  sizeof(struct iommu_hwpt_set_dirty_tracking), ENOENT },
	{ "hwpt_get_dirty_bitmap", IOMMU_HWPT_GET_DIRTY_BITMAP, 48,
	  sizeof(struct iommu_hwpt_get_dirty_bitmap), ENOENT },
	{ "hwpt_invalidate", IOMMU_HWPT_INVALIDATE, 32,
	  sizeof(struct iommu_hwpt_invalidate), ENOENT },
	/* op 0 is no op */
	{ "test_cmd", IOMMU_TEST_CMD, 68, sizeof(struct iommu_test_cmd),
	  EOPNOTSUPP },
};

/* Expect @rc/@errno to be what a zeroed struct of @row gets. */
static void expect_zero_result(const struct cmd_row *row, int rc, int err,
			       size_t size)
{
	int want = row->zero_errno;

	if (want == ZERO_RLIMIT)
		want = geteuid() == 0 ? 0 : EPERM;
	if (!want) {
		if (rc)
			test_fail_at(__FILE__, __LINE__,
				     "%s size %zu: errno %d (%s), want success",
				     row->name, size, err, strerror(err));
		return;
	}
	if (rc != -1 || err != want)
		test_fail_at(
			__FILE__, __LINE__,
			"%s size %zu: rc %d errno %d (%s), want errno %d (%s)",
			row->name, size, rc, err, strerror(err), want,
			strerror(want));
}

static int call_sized(int fd, const struct cmd_row *row, uint8_t *cmd,
		      uint32_t size, int *err)
{
	int rc;

	memcpy(cmd, &size, sizeof(size));
	errno = 0;
	rc = ioctl(fd, row->ioctl, cmd);
	*err = errno;
	return rc;
}

TEST_VARIANTS(iommufd_dispatch, size_rules, struct cmd_row, cmd_rows)
{
	static const uint32_t short_sizes[] = { 0, 1, 4 };
	uint8_t *guard = abi_guarded_page();
	uint8_t *cmd = guard;
	int fd = abi_open(), rc, err;

	ASSERT_LE(v->size + 64, ABI_PAGE);
	ASSERT_GE(v->size, v->min_size);

	/* Shorter than min_size: EINVAL, whatever the rest holds. */
	memset(cmd, 0xff, ABI_PAGE);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(short_sizes); i++) {
		rc = call_sized(fd, v, cmd, short_sizes[i], &err);
		EXPECT_EQ(rc, -1);
		EXPECT_EQ(err, EINVAL);
	}
	rc = call_sized(fd, v, cmd, (uint32_t)v->min_size - 1, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, EINVAL);

	/*
	 * Longer, with a non-zero byte past our struct: E2BIG, before the
	 * handler looks at the (garbage) fields it knows.
	 */
	rc = call_sized(fd, v, cmd, (uint32_t)v->size + 8, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, E2BIG);
	memset(cmd, 0, ABI_PAGE);
	cmd[v->size] = 1;
	rc = call_sized(fd, v, cmd, (uint32_t)v->size + 1, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, E2BIG);
	memset(cmd, 0, ABI_PAGE);
	cmd[ABI_PAGE - 1] = 0x80;
	rc = call_sized(fd, v, cmd, ABI_PAGE, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, E2BIG);

	/* Exact, zero-extended short, and zero-tailed long: all the same. */
	memset(cmd, 0, ABI_PAGE);
	rc = call_sized(fd, v, cmd, (uint32_t)v->size, &err);
	expect_zero_result(v, rc, err, v->size);
	memset(cmd, 0, ABI_PAGE);
	rc = call_sized(fd, v, cmd, (uint32_t)v->min_size, &err);
	expect_zero_result(v, rc, err, v->min_size);
	memset(cmd, 0, ABI_PAGE);
	rc = call_sized(fd, v, cmd, (uint32_t)v->size + 16, &err);
	expect_zero_result(v, rc, err, v->size + 16);
	memset(cmd, 0, ABI_PAGE);
	rc = call_sized(fd, v, cmd, ABI_PAGE, &err);
	expect_zero_result(v, rc, err, ABI_PAGE);

	/* A NULL or unmapped argument: the size word cannot be read. */
	EXPECT_ERRNO(EFAULT, ioctl(fd, v->ioctl, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(fd, v->ioctl, guard + ABI_PAGE));

	/* The size word is readable but the struct runs into PROT_NONE. */
	cmd = guard + ABI_PAGE - 4;
	rc = call_sized(fd, v, cmd, (uint32_t)v->size, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, EFAULT);
	/* ... though a short size is refused before the copy. */
	rc = call_sized(fd, v, cmd, (uint32_t)v->min_size - 1, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, EINVAL);

	/* The struct fits, its zero tail does not: the tail check faults. */
	cmd = guard + ABI_PAGE - v->size;
	memset(cmd, 0, v->size);
	rc = call_sized(fd, v, cmd, (uint32_t)v->size + 8, &err);
	EXPECT_EQ(rc, -1);
	EXPECT_EQ(err, EFAULT);

	/* The same nr with size/direction bits is another ioctl: ENOTTY. */
	cmd = guard;
	memset(cmd, 0, ABI_PAGE);
	memcpy(cmd, &(uint32_t){ (uint32_t)v->size }, sizeof(uint32_t));
	EXPECT_ERRNO(ENOTTY, ioctl(fd,
				   _IOC(_IOC_READ | _IOC_WRITE, IOMMUFD_TYPE,
					_IOC_NR(v->ioctl), v->size),
				   cmd));
	EXPECT_ERRNO(ENOTTY,
		     ioctl(fd, _IOW(IOMMUFD_TYPE, _IOC_NR(v->ioctl), uint32_t),
			   cmd));
	close(fd);
}

TEST(iommufd_dispatch, unknown_numbers)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = 0 };
	int fd = abi_open();

	/* Below the iommufd base: the VFIO compat layer, which knows none. */
	EXPECT_ERRNO(ENOTTY,
		     ioctl(fd, _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1), &cmd));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), NULL));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x00), &cmd));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, VFIO_GROUP_GET_STATUS, &cmd));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, VFIO_IOMMU_ENABLE));

	/* Past the end of the table (IOMMU_TEST_CMD is last): compat too. */
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0xa1), &cmd));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0xff), NULL));

	/*
	 * Holes in the table (0x95..0x9f): ENOTTY, but only after the size
	 * word was read, so a NULL argument faults first.
	 */
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x95), &cmd));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x9f), &cmd));
	EXPECT_ERRNO(EFAULT, ioctl(fd, _IO(IOMMUFD_TYPE, 0x9f), NULL));

	/* The table is indexed by nr only; another type is another ioctl. */
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO('x', IOMMUFD_CMD_DESTROY), &cmd));

	/* Still usable afterwards. */
	EXPECT_ERRNO(ENOENT, ioctl(fd, IOMMU_DESTROY, &cmd));
	close(fd);
}

TEST(iommufd_dispatch, ids_start_at_one)
{
	uint32_t stdev, hwpt, idev;
	int fd = abi_open(), fd2;

	EXPECT_EQ(abi_ioas_alloc(fd), 1);
	EXPECT_EQ(abi_ioas_alloc(fd), 2);
	EXPECT_EQ(abi_ioas_alloc(fd), 3);
	/* The lowest free id is reused. */
	ASSERT_EQ(abi_destroy(fd, 2), 0);
	EXPECT_EQ(abi_ioas_alloc(fd), 2);

	/* Another open is another id space. */
	fd2 = abi_open();
	EXPECT_ERRNO(ENOENT, abi_destroy(fd2, 3));
	EXPECT_EQ(abi_ioas_alloc(fd2), 1);
	EXPECT_EQ(abi_destroy(fd, 3), 0);

	/* A mock device: its selftest object, its device, its auto HWPT. */
	abi_mock_domain_ok(fd2, 1, 0, &stdev, &hwpt, &idev);
	EXPECT_EQ(stdev, 2);
	EXPECT_EQ(idev, 3);
	EXPECT_EQ(hwpt, 4);
	close(fd2);
	close(fd);
}

TEST(iommufd_dispatch, destroy_unknown)
{
	struct {
		struct iommu_destroy cmd;
		uint64_t future;
	} big = { .cmd = { .size = sizeof(big), .id = 0 } };
	uint32_t ioas;
	int fd = abi_open();

	EXPECT_ERRNO(ENOENT, abi_destroy(fd, 0));
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, 1));
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, UINT32_MAX));
	/* A longer struct with a zero tail works like the exact one. */
	EXPECT_ERRNO(ENOENT, ioctl(fd, IOMMU_DESTROY, &big));
	big.future = 1;
	EXPECT_ERRNO(E2BIG, ioctl(fd, IOMMU_DESTROY, &big));

	ioas = abi_ioas_alloc(fd);
	big.future = 0;
	big.cmd.id = ioas;
	EXPECT_EQ(ioctl(fd, IOMMU_DESTROY, &big), 0);
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, ioas));
	close(fd);
}

TEST(iommufd_dispatch, destroy_busy)
{
	uint32_t ioas, ioas2, stdev, auto_hwpt, idev, hwpt, stdev2, hwpt2;
	int fd = abi_open();

	ioas = abi_ioas_alloc(fd);
	ioas2 = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, &stdev, &auto_hwpt, &idev);

	/* An IOAS with an HWPT on it, an HWPT with a device, the device. */
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, ioas));
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, auto_hwpt));
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, idev));

	/* A manual HWPT holds its IOAS even with no device attached. */
	hwpt = abi_hwpt_alloc_ok(fd, idev, ioas2, 0);
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, ioas2));
	/* ... and is busy itself while a device uses it. */
	abi_mock_domain_ok(fd, hwpt, 0, &stdev2, &hwpt2, NULL);
	EXPECT_EQ(hwpt2, hwpt);
	EXPECT_ERRNO(EBUSY, abi_destroy(fd, hwpt));
	EXPECT_EQ(abi_destroy(fd, stdev2), 0);
	EXPECT_EQ(abi_destroy(fd, hwpt), 0);
	EXPECT_EQ(abi_destroy(fd, ioas2), 0);

	/* The selftest object owns the device; the auto HWPT goes with it. */
	EXPECT_EQ(abi_destroy(fd, stdev), 0);
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, idev));
	EXPECT_ERRNO(ENOENT, abi_destroy(fd, auto_hwpt));
	EXPECT_EQ(abi_destroy(fd, ioas), 0);
	close(fd);
}

TEST(iommufd_dispatch, close_with_objects)
{
	uint32_t ioas, hwpt, idev;
	void *buf = abi_buf(16 * ABI_PAGE, ABI_PAGE);
	int fd = abi_open();

	/* Closing tears down a graph of objects, leaves first. */
	ioas = abi_ioas_alloc(fd);
	abi_mock_domain_ok(fd, ioas, 0, NULL, NULL, &idev);
	hwpt = abi_hwpt_alloc_ok(fd, idev, ioas,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	abi_mock_domain_ok(fd, hwpt, 0, NULL, NULL, NULL);
	ASSERT_EQ(abi_map_fixed(fd, ioas, buf, 16 * ABI_PAGE,
				MOCK_APERTURE_START),
		  0);
	ASSERT_EQ(abi_set_dirty(fd, hwpt, 1), 0);
	EXPECT_EQ(close(fd), 0);

	fd = abi_open();
	EXPECT_EQ(abi_check_refs(fd, buf, 16 * ABI_PAGE, 0), 0);
	EXPECT_EQ(abi_ioas_alloc(fd), 1);
	close(fd);
}

/* A mapping made through @fd, so that releasing the file shows in pins. */
static void *map_pinned(int fd, size_t len)
{
	void *buf = abi_buf(len, ABI_PAGE);
	uint32_t ioas = abi_ioas_alloc(fd);

	abi_mock_domain_ok(fd, ioas, 0, NULL, NULL, NULL);
	ASSERT_EQ(abi_map_fixed(fd, ioas, buf, len, MOCK_APERTURE_START), 0);
	ASSERT_EQ(abi_check_refs(fd, buf, len, 1), 0);
	return buf;
}

/*
 * @fd, which mapped @buf, was just closed: its pins are gone, and the next
 * open gets its number for /dev/null, whose ioctls are ENOTTY - nothing of
 * the iommufd is left on it.
 */
static void expect_released(int fd, void *buf, size_t len)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int other = open("/dev/null", O_RDWR);
	int fd2 = abi_open();

	ASSERT_EQ(other, fd);
	EXPECT_EQ(abi_check_refs(fd2, buf, len, 0), 0);
	EXPECT_ERRNO(ENOTTY, ioctl(other, IOMMU_IOAS_ALLOC, &cmd));
	close(fd2);
	close(other);
}

TEST(iommufd_dispatch, close_range_releases)
{
	int fd = abi_open();
	void *buf = map_pinned(fd, 4 * ABI_PAGE);

	/* CLOEXEC only marks: the file stays the iommufd. */
	ASSERT_EQ(close_range((unsigned int)fd, (unsigned int)fd,
			      CLOSE_RANGE_CLOEXEC),
		  0);
	EXPECT_EQ(abi_check_refs(fd, buf, 4 * ABI_PAGE, 1), 0);
	/* A bad range closes nothing. */
	EXPECT_ERRNO(EINVAL,
		     close_range((unsigned int)fd, (unsigned int)fd - 1, 0));
	EXPECT_EQ(abi_check_refs(fd, buf, 4 * ABI_PAGE, 1), 0);

	ASSERT_EQ(close_range((unsigned int)fd, ~0U, 0), 0);
	expect_released(fd, buf, 4 * ABI_PAGE);
}

TEST(iommufd_dispatch, closefrom_releases)
{
	int fd = abi_open();
	void *buf = map_pinned(fd, 4 * ABI_PAGE);

	closefrom(fd);
	expect_released(fd, buf, 4 * ABI_PAGE);
}

/* glibc's fortified openat() with _FILE_OFFSET_BITS=64 calls this. */
int __openat64_2(int dirfd, const char *path, int flags);

TEST(iommufd_dispatch, open_entry_points)
{
	int dirfd = open("/", O_RDONLY | O_DIRECTORY);
	int fds[3];

	ASSERT_GE(dirfd, 0);
	/* An absolute path ignores the directory fd. */
	fds[0] = openat(dirfd, "/dev/iommu", O_RDWR);
	fds[1] = __openat64_2(dirfd, "/dev/iommu", O_RDWR);
	fds[2] = __openat64_2(AT_FDCWD, "/dev/iommu", O_RDWR | O_CLOEXEC);
	for (unsigned int i = 0; i < ABI_ARRAY_SIZE(fds); i++) {
		ASSERT_GE(fds[i], 0);
		EXPECT_EQ(abi_ioas_alloc(fds[i]), 1);
		close(fds[i]);
	}
	close(dirfd);
}
