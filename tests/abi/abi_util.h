/* SPDX-License-Identifier: MIT */
/*
 * abi_util.h - small helpers for the ioctl-level iommufd tests in tests/abi.
 *
 * These tests see only the kernel ABI: open/ioctl/close/mmap on /dev/iommu,
 * the uapi headers in include/iodirty/uapi and libc. Every helper here is a
 * thin wrapper over one ioctl (shared/spec/kernel-abi.md §1, §6.2): the
 * plain ones return what ioctl() returns (-1 with errno), the abi_*_ok()
 * ones assert success and hand back the ids the call produced.
 */
#ifndef IODIRTY_TESTS_ABI_UTIL_H
#define IODIRTY_TESTS_ABI_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iodirty/uapi/iommufd.h>
#include <iodirty/uapi/iommufd_test.h>
#include <iodirty/uapi/vfio.h>

#include "../harness/test.h"

/* The tests assume the x86-64 base page (MOCK_PAGE_SIZE is half of it). */
#define ABI_PAGE	  4096UL
#define ABI_MB		  (1UL << 20)
#define ABI_U64_MAX	  UINT64_MAX
#define ABI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The mock aperture, as 64-bit values (the header's are enum constants). */
#define ABI_APERTURE_START ((uint64_t)MOCK_APERTURE_START)
#define ABI_APERTURE_LAST  ((uint64_t)MOCK_APERTURE_LAST)

static inline uint64_t abi_ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Open /dev/iommu; every test starts here. */
static inline int abi_open(void)
{
	int fd;

	if (sysconf(_SC_PAGESIZE) != (long)ABI_PAGE)
		SKIP("these tests assume a 4 KiB base page");
	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	return fd;
}

/*
 * Anonymous private memory of @len bytes (a multiple of ABI_PAGE) whose
 * start is aligned to @align (a power of two >= ABI_PAGE): over-allocated,
 * then trimmed, so no hugetlb reservation is needed.
 */
static inline void *abi_buf(size_t len, size_t align)
{
	size_t total = len + align;
	uint8_t *raw;
	uintptr_t start, end;

	raw = mmap(NULL, total, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(raw != MAP_FAILED);
	start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	end = start + len;
	if (start > (uintptr_t)raw)
		munmap(raw, start - (uintptr_t)raw);
	if ((uintptr_t)raw + total > end)
		munmap((void *)end, (uintptr_t)raw + total - end);
	return (void *)start;
}

/*
 * Two pages: the first readable and writable, the second PROT_NONE. The
 * returned pointer is the start of the first; p + ABI_PAGE faults.
 */
static inline uint8_t *abi_guarded_page(void)
{
	uint8_t *p = abi_buf(2 * ABI_PAGE, ABI_PAGE);

	ASSERT_EQ(mprotect(p + ABI_PAGE, ABI_PAGE, PROT_NONE), 0);
	return p;
}

/*
 * A hole of @len bytes in the address space, between two PROT_NONE guard
 * pages so that a later small mmap is unlikely to land in it. Make it just
 * before the call that needs it.
 */
static inline void *abi_hole(size_t len)
{
	uint8_t *p = mmap(NULL, len + 2 * ABI_PAGE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_EQ(munmap(p + ABI_PAGE, len), 0);
	return p + ABI_PAGE;
}

static inline int abi_destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &cmd);
}

static inline uint32_t abi_ioas_alloc(int fd)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	ASSERT_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, &cmd), 0);
	ASSERT_NE(cmd.out_ioas_id, 0);
	return cmd.out_ioas_id;
}

#define ABI_MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

/* IOMMU_IOAS_MAP; @iova is in/out (the chosen IOVA without FIXED_IOVA). */
static inline int abi_map(int fd, uint32_t ioas, const void *buf, uint64_t len,
			  uint64_t *iova, uint32_t flags)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas,
		.user_va = abi_ptr(buf),
		.length = len,
		.iova = *iova,
	};
	int rc = ioctl(fd, IOMMU_IOAS_MAP, &cmd);

	if (!rc)
		*iova = cmd.iova;
	return rc;
}

static inline int abi_map_fixed(int fd, uint32_t ioas, const void *buf,
				uint64_t len, uint64_t iova)
{
	return abi_map(fd, ioas, buf, len, &iova,
		       ABI_MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA);
}

static inline uint64_t abi_map_auto_ok(int fd, uint32_t ioas, const void *buf,
				       uint64_t len)
{
	uint64_t iova = 0;

	ASSERT_EQ(abi_map(fd, ioas, buf, len, &iova, ABI_MAP_RW), 0);
	return iova;
}

/* IOMMU_IOAS_UNMAP; *@unmapped gets the returned length when not NULL. */
static inline int abi_unmap(int fd, uint32_t ioas, uint64_t iova, uint64_t len,
			    uint64_t *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = len,
	};
	int rc = ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);

	if (!rc && unmapped)
		*unmapped = cmd.length;
	return rc;
}

static inline int abi_test_cmd(int fd, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(fd, IOMMU_TEST_CMD, cmd);
}

/* IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: a mock device attached to @pt_id. */
static inline int abi_mock_domain(int fd, uint32_t pt_id, uint32_t dev_flags,
				  uint32_t *stdev, uint32_t *hwpt,
				  uint32_t *idev)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = pt_id,
		.mock_domain_flags = { .dev_flags = dev_flags },
	};
	int rc = abi_test_cmd(fd, &cmd);

	if (rc)
		return rc;
	if (stdev)
		*stdev = cmd.mock_domain_flags.out_stdev_id;
	if (hwpt)
		*hwpt = cmd.mock_domain_flags.out_hwpt_id;
	if (idev)
		*idev = cmd.mock_domain_flags.out_idev_id;
	return 0;
}

static inline void abi_mock_domain_ok(int fd, uint32_t pt_id,
				      uint32_t dev_flags, uint32_t *stdev,
				      uint32_t *hwpt, uint32_t *idev)
{
	ASSERT_EQ(abi_mock_domain(fd, pt_id, dev_flags, stdev, hwpt, idev), 0);
}

/* IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE; @pt_id is in/out. */
static inline int abi_mock_replace(int fd, uint32_t stdev, uint32_t *pt_id)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev,
		.mock_domain_replace = { .pt_id = *pt_id },
	};
	int rc = abi_test_cmd(fd, &cmd);

	if (!rc)
		*pt_id = cmd.mock_domain_replace.pt_id;
	return rc;
}

static inline int abi_hwpt_alloc(int fd, uint32_t dev_id, uint32_t pt_id,
				 uint32_t flags, uint32_t *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
	};
	int rc = ioctl(fd, IOMMU_HWPT_ALLOC, &cmd);

	if (!rc && out)
		*out = cmd.out_hwpt_id;
	return rc;
}

static inline uint32_t abi_hwpt_alloc_ok(int fd, uint32_t dev_id,
					 uint32_t pt_id, uint32_t flags)
{
	uint32_t id = 0;

	ASSERT_EQ(abi_hwpt_alloc(fd, dev_id, pt_id, flags, &id), 0);
	ASSERT_NE(id, 0);
	return id;
}

static inline int abi_set_dirty(int fd, uint32_t hwpt, int enable)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt,
	};

	return ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static inline int abi_get_dirty(int fd, uint32_t hwpt, uint64_t iova,
				uint64_t len, uint64_t page_size, void *data,
				uint32_t flags)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt,
		.flags = flags,
		.iova = iova,
		.length = len,
		.page_size = page_size,
		.data = abi_ptr(data),
	};

	return ioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

/*
 * IOMMU_TEST_OP_DIRTY: mark dirty the IO page at @iova + i * @page_size for
 * every bit i set in @bits, as a device write would.
 */
static inline int abi_mock_dirty(int fd, uint32_t hwpt, uint64_t iova,
				 uint64_t len, uint64_t page_size,
				 const void *bits, uint64_t *nr_dirty)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DIRTY,
		.id = hwpt,
		.dirty = {
			.iova = iova,
			.length = len,
			.page_size = page_size,
			.uptr = abi_ptr(bits),
		},
	};
	int rc = abi_test_cmd(fd, &cmd);

	if (!rc && nr_dirty)
		*nr_dirty = cmd.dirty.out_nr_dirty;
	return rc;
}

static inline int abi_check_refs(int fd, const void *buf, uint64_t len,
				 uint32_t refs)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = len,
				.uptr = abi_ptr(buf),
				.refs = refs },
	};

	return abi_test_cmd(fd, &cmd);
}

static inline int abi_check_map(int fd, uint32_t hwpt, uint64_t iova,
				uint64_t len, const void *buf)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt,
		.check_map = { .iova = iova,
			       .length = len,
			       .uptr = abi_ptr(buf) },
	};

	return abi_test_cmd(fd, &cmd);
}

static inline int abi_add_reserved(int fd, uint32_t ioas, uint64_t start,
				   uint64_t len)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ADD_RESERVED,
		.id = ioas,
		.add_reserved = { .start = start, .length = len },
	};

	return abi_test_cmd(fd, &cmd);
}

/* IOMMU_OPTION; *@val is in/out. */
static inline int abi_option(int fd, uint32_t option, uint16_t op,
			     uint32_t object, uint64_t *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = option,
		.op = op,
		.object_id = object,
		.val64 = *val,
	};
	int rc = ioctl(fd, IOMMU_OPTION, &cmd);

	if (!rc)
		*val = cmd.val64;
	return rc;
}

static inline uint64_t abi_huge_pages(int fd, uint32_t ioas)
{
	uint64_t val = 0xdead;

	ASSERT_EQ(abi_option(fd, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET,
			     ioas, &val),
		  0);
	return val;
}

/* IOMMU_IOAS_IOVA_RANGES into @ranges[@max]; *@num gets the total. */
static inline int abi_iova_ranges(int fd, uint32_t ioas,
				  struct iommu_iova_range *ranges, uint32_t max,
				  uint32_t *num, uint64_t *alignment)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.num_iovas = max,
		.allowed_iovas = abi_ptr(ranges),
	};
	int rc = ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd);

	*num = cmd.num_iovas;
	if (alignment)
		*alignment = cmd.out_iova_alignment;
	return rc;
}

static inline int abi_allow_iovas(int fd, uint32_t ioas,
				  const struct iommu_iova_range *ranges,
				  uint32_t num)
{
	struct iommu_ioas_allow_iovas cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.num_iovas = num,
		.allowed_iovas = abi_ptr(ranges),
	};

	return ioctl(fd, IOMMU_IOAS_ALLOW_IOVAS, &cmd);
}

static inline int abi_vfio_ioas(int fd, uint16_t op, uint32_t *ioas)
{
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.ioas_id = *ioas,
		.op = op,
	};
	int rc = ioctl(fd, IOMMU_VFIO_IOAS, &cmd);

	if (!rc)
		*ioas = cmd.ioas_id;
	return rc;
}

static inline int abi_bit(const uint8_t *bitmap, uint64_t nr)
{
	return (bitmap[nr / 8] >> (nr % 8)) & 1;
}

static inline void abi_set_bit(uint8_t *bitmap, uint64_t nr)
{
	bitmap[nr / 8] |= (uint8_t)(1u << (nr % 8));
}

#endif
