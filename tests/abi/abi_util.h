/* SPDX-License-Identifier: MIT */
/*
 * abi_util.h - small helpers for the ioctl-level iommufd tests in tests/abi.
 *
 * These tests see only the kernel ABI: open/ioctl/close/mmap on /dev/iommu
 * and the /dev/vfio nodes, read/write/pread/pwrite on VFIO files, the uapi
 * headers in include/iodirty/uapi, include/iodirty/dev.h for the emulated
 * device's registers and DMA block format (header only), and libc. Every
 * helper here is a thin wrapper over one ioctl or access (shared/spec/
 * kernel-abi.md §1, §4, §5, §6.2): the plain ones return what the call
 * returns (-1 with errno), the *_ok() ones assert success and hand back what
 * the call produced.
 */
#ifndef IODIRTY_TESTS_ABI_UTIL_H
#define IODIRTY_TESTS_ABI_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/dev.h>
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

/* ---- VFIO: nodes, device files, features, the emulated DMA engine ---- */

/* Region i of a vfio-pci device file starts at i << 40 in the file. */
#define ABI_VFIO_REGION(i) ((uint64_t)(i) << 40)
/* How long a test waits for the engine before it calls it stuck. */
#define ABI_DMA_TIMEOUT_MS 20000

/*
 * This test's emulated host: the device kinds of include/iodirty/vfio.h
 * ("dma,mdev", ...) and the IOMMU (NULL: the default). Read at the first
 * open of a node, so call it first; every test runs in its own process.
 */
static inline void abi_vfio_host(const char *devices, const char *iommu)
{
	if (sysconf(_SC_PAGESIZE) != (long)ABI_PAGE)
		SKIP("these tests assume a 4 KiB base page");
	ASSERT_EQ(setenv("IODIRTY_DEVICES", devices, 1), 0);
	if (iommu)
		ASSERT_EQ(setenv("IODIRTY_IOMMU", iommu, 1), 0);
	else
		ASSERT_EQ(unsetenv("IODIRTY_IOMMU"), 0);
}

/* The name device @index has in its group: "0000:00:<index+1>.0". */
static inline void abi_vfio_name(unsigned int index, char *buf, size_t len)
{
	snprintf(buf, len, "0000:00:%02x.0", index + 1);
}

static inline int abi_vfio_cdev_open(unsigned int index)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/devices/vfio%u", index);
	return open(path, O_RDWR);
}

static inline int abi_vfio_cdev_open_ok(unsigned int index)
{
	int fd = abi_vfio_cdev_open(index);

	ASSERT_GE(fd, 0);
	return fd;
}

static inline int abi_vfio_group_open(unsigned int index)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/%u", index);
	return open(path, O_RDWR);
}

static inline int abi_vfio_container_open(void)
{
	int fd = open("/dev/vfio/vfio", O_RDWR);

	ASSERT_GE(fd, 0);
	return fd;
}

/* VFIO_DEVICE_BIND_IOMMUFD; *@devid gets out_devid. */
static inline int abi_vfio_bind(int dev, int iommufd, uint32_t *devid)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = iommufd,
	};
	int rc = ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind);

	if (!rc && devid)
		*devid = bind.out_devid;
	return rc;
}

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT; @pt_id is in/out (the HWPT attached). */
static inline int abi_vfio_attach(int dev, uint32_t *pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = *pt_id,
	};
	int rc = ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);

	if (!rc)
		*pt_id = attach.pt_id;
	return rc;
}

static inline int abi_vfio_detach(int dev)
{
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};

	return ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach);
}

/* VFIO_GROUP_SET_CONTAINER with @container (any fd number). */
static inline int abi_vfio_set_container(int group, int container)
{
	int32_t fd = container;

	return ioctl(group, VFIO_GROUP_SET_CONTAINER, &fd);
}

/* VFIO_GROUP_GET_DEVICE_FD for device @index by its name. */
static inline int abi_vfio_group_device(int group, unsigned int index)
{
	char name[32];

	abi_vfio_name(index, name, sizeof(name));
	return ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name);
}

/* BAR0 registers, by pread/pwrite of region 0 (dev.h). */
static inline uint32_t abi_reg32(int dev, uint32_t off)
{
	uint32_t v = 0;

	ASSERT_EQ(pread(dev, &v, 4, (off_t)(ABI_VFIO_REGION(0) + off)), 4);
	return v;
}

static inline uint64_t abi_reg64(int dev, uint32_t off)
{
	uint64_t v = 0;

	ASSERT_EQ(pread(dev, &v, 8, (off_t)(ABI_VFIO_REGION(0) + off)), 8);
	return v;
}

static inline void abi_reg_write32(int dev, uint32_t off, uint32_t v)
{
	ASSERT_EQ(pwrite(dev, &v, 4, (off_t)(ABI_VFIO_REGION(0) + off)), 4);
}

static inline void abi_reg_write64(int dev, uint32_t off, uint64_t v)
{
	ASSERT_EQ(pwrite(dev, &v, 8, (off_t)(ABI_VFIO_REGION(0) + off)), 8);
}

/*
 * VFIO_DEVICE_FEATURE with @flags and @len bytes of payload, which is
 * copied back afterwards (also on failure: what the kernel left there).
 */
static inline int abi_feature(int dev, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[16];
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	int rc;

	ASSERT_LE(len, sizeof(buf) - sizeof(*f));
	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	rc = ioctl(dev, VFIO_DEVICE_FEATURE, f);
	if (len)
		memcpy(data, f->data, len);
	return rc;
}

#define ABI_FEAT_GET(id)   (VFIO_DEVICE_FEATURE_GET | (id))
#define ABI_FEAT_SET(id)   (VFIO_DEVICE_FEATURE_SET | (id))
#define ABI_FEAT_PROBE(id) (VFIO_DEVICE_FEATURE_PROBE | (id))

/* MIG_DEVICE_STATE SET; *@data_fd gets what the kernel returned there. */
static inline int abi_mig_set(int dev, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state st = {
		.device_state = state,
		.data_fd = -2,
	};
	int rc = abi_feature(dev,
			     ABI_FEAT_SET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE),
			     &st, sizeof(st));

	if (data_fd)
		*data_fd = st.data_fd;
	return rc;
}

static inline void abi_mig_set_ok(int dev, uint32_t state)
{
	int fd = -2;

	ASSERT_EQ(abi_mig_set(dev, state, &fd), 0);
	ASSERT_EQ(fd, -1);
}

static inline uint32_t abi_mig_get(int dev)
{
	struct vfio_device_feature_mig_state st = { .device_state = 99 };

	ASSERT_EQ(abi_feature(dev,
			      ABI_FEAT_GET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE),
			      &st, sizeof(st)),
		  0);
	return st.device_state;
}

static inline uint64_t abi_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void abi_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Program the engine of @dev (stopped) to write @block-byte blocks over
 * [@iova, @iova + @size) in @pattern at @rate bytes/s (0: flat out).
 */
static inline void abi_dma_setup(int dev, uint64_t iova, uint64_t size,
				 uint32_t block, uint32_t pattern,
				 uint64_t rate)
{
	abi_reg_write32(dev, DMA_REG_BLOCK_SIZE, block);
	abi_reg_write64(dev, DMA_REG_WINDOW_IOVA, iova);
	abi_reg_write64(dev, DMA_REG_WINDOW_SIZE, size);
	abi_reg_write32(dev, DMA_REG_PATTERN, pattern);
	abi_reg_write64(dev, DMA_REG_RATE, rate);
	ASSERT_EQ(abi_reg64(dev, DMA_REG_WINDOW_IOVA), iova);
	ASSERT_EQ(abi_reg64(dev, DMA_REG_WINDOW_SIZE), size);
}

static inline void abi_dma_run(int dev)
{
	abi_reg_write32(dev, DMA_REG_CTRL, DMA_CTRL_RUN);
}

/*
 * Wait (bounded) until the engine has written at least @n blocks in all;
 * a fault or the timeout fails the test. Return: WRITES.
 */
static inline uint64_t abi_dma_wait_writes(int dev, uint64_t n)
{
	uint64_t t0 = abi_now_ms(), w;

	for (;;) {
		w = abi_reg64(dev, DMA_REG_WRITES);
		if (w >= n)
			return w;
		if (abi_reg32(dev, DMA_REG_STATUS) & DMA_STATUS_FAULT) {
			test_fail_at(__FILE__, __LINE__,
				     "DMA fault at iova 0x%" PRIx64
				     " after %" PRIu64 " writes",
				     abi_reg64(dev, DMA_REG_FAULT_IOVA), w);
			test_abort();
		}
		if (abi_now_ms() - t0 > ABI_DMA_TIMEOUT_MS) {
			test_fail_at(__FILE__, __LINE__,
				     "engine wrote %" PRIu64 " of %" PRIu64
				     " blocks in %d ms",
				     w, n, ABI_DMA_TIMEOUT_MS);
			test_abort();
		}
		abi_sleep_ms(1);
	}
}

/*
 * Stop the engine and know that no DMA is in flight: clearing RUN does not
 * wait for a block being written, the migration arc RUNNING -> STOP does
 * (kernel-abi.md §5.3), and STOP -> RUNNING leaves RUN clear. The device
 * must be in RUNNING.
 */
static inline void abi_dma_stop(int dev)
{
	abi_reg_write32(dev, DMA_REG_CTRL, 0);
	abi_mig_set_ok(dev, VFIO_DEVICE_STATE_STOP);
	abi_mig_set_ok(dev, VFIO_DEVICE_STATE_RUNNING);
	ASSERT_EQ(abi_reg32(dev, DMA_REG_STATUS) & DMA_STATUS_RUNNING, 0);
}

/*
 * Which pages of @buf, mapped at @iova, hold a block from device @index
 * (4 KiB blocks, one per page): bit p of @pages (zeroed here) for page p.
 * Every other page must be all zero. Return: how many pages hold a block.
 */
static inline uint64_t abi_dma_scan(const uint8_t *buf, uint64_t iova,
				    uint64_t npages, uint32_t index,
				    uint64_t *pages)
{
	uint64_t n = 0;

	memset(pages, 0, (npages + 63) / 64 * 8);
	for (uint64_t p = 0; p < npages; p++) {
		const uint8_t *pg = buf + p * ABI_PAGE;
		struct dma_block b;

		memcpy(&b, pg, sizeof(b));
		if (b.magic == DMA_BLOCK_MAGIC) {
			if (b.dev_index != index || b.size != ABI_PAGE ||
			    b.iova != iova + p * ABI_PAGE) {
				test_fail_at(__FILE__, __LINE__,
					     "page %" PRIu64 ": block of device %u, size %u for iova 0x%" PRIx64,
					     p, b.dev_index, b.size, b.iova);
				test_abort();
			}
			pages[p / 64] |= 1ULL << (p % 64);
			n++;
			continue;
		}
		for (size_t i = 0; i < ABI_PAGE; i++) {
			if (pg[i]) {
				test_fail_at(__FILE__, __LINE__,
					     "page %" PRIu64 " byte %zu is 0x%02x: not a DMA block",
					     p, i, pg[i]);
				test_abort();
			}
		}
	}
	return n;
}

static inline uint64_t abi_popcount(const uint64_t *bits, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < (nbits + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(bits[i]);
	return n;
}

/* Bitmaps of @nbits must match bit for bit; nothing set past @nbits. */
static inline void abi_bitmap_expect(const uint64_t *got, const uint64_t *want,
				     uint64_t nbits, const char *file,
				     int line)
{
	uint64_t bad = 0, first = 0;

	for (uint64_t i = 0; i < (nbits + 63) / 64 * 64; i++) {
		int g = (got[i / 64] >> (i % 64)) & 1;
		int w = i < nbits && ((want[i / 64] >> (i % 64)) & 1);

		if (g != w && !bad++)
			first = i;
	}
	if (bad)
		test_fail_at(file, line,
			     "%" PRIu64 " of %" PRIu64 " bits differ, first bit %" PRIu64
			     ": got %d want %d (%" PRIu64 " set, %" PRIu64 " wanted)",
			     bad, nbits, first, (int)((got[first / 64] >> (first % 64)) & 1),
			     !((got[first / 64] >> (first % 64)) & 1),
			     abi_popcount(got, nbits), abi_popcount(want, nbits));
}
#define ABI_EXPECT_BITMAP(got, want, nbits) \
	abi_bitmap_expect(got, want, nbits, __FILE__, __LINE__)

/*
 * A cdev device bound to an iommufd of its own, with an IOAS: what a VMM
 * sets up before it attaches the device and maps guest memory.
 */
struct abi_vdev {
	int iommufd, fd;
	unsigned int index;
	uint32_t devid, ioas, pt;
	uint8_t *buf;
	uint64_t iova, size;
};

static inline void abi_vdev_open(struct abi_vdev *d, unsigned int index)
{
	memset(d, 0, sizeof(*d));
	d->index = index;
	d->iommufd = abi_open();
	d->fd = abi_vfio_cdev_open_ok(index);
	ASSERT_EQ(abi_vfio_bind(d->fd, d->iommufd, &d->devid), 0);
	d->ioas = abi_ioas_alloc(d->iommufd);
}

/*
 * @size bytes of fresh zeroed memory at @iova in the IOAS, in IO pages of
 * 4 KiB (IOMMU_OPTION_HUGE_PAGES off), so dirty bits are per page.
 */
static inline void abi_vdev_map(struct abi_vdev *d, uint64_t iova,
				uint64_t size)
{
	uint64_t off = 0;

	ASSERT_EQ(abi_option(d->iommufd, IOMMU_OPTION_HUGE_PAGES,
			     IOMMU_OPTION_OP_SET, d->ioas, &off),
		  0);
	d->buf = abi_buf(size, ABI_PAGE);
	d->iova = iova;
	d->size = size;
	ASSERT_EQ(abi_map_fixed(d->iommufd, d->ioas, d->buf, size, iova), 0);
}

/* Attach to @pt_id (an IOAS: the auto domain); d->pt is the HWPT. */
static inline void abi_vdev_attach(struct abi_vdev *d, uint32_t pt_id)
{
	d->pt = pt_id;
	ASSERT_EQ(abi_vfio_attach(d->fd, &d->pt), 0);
}

static inline void abi_vdev_close(struct abi_vdev *d)
{
	close(d->fd);
	close(d->iommufd);
}

/* Type1 (container fd). */
#define ABI_DMA_MAP_RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)

static inline int abi_type1_map(int c, const void *buf, uint64_t iova,
				uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = abi_ptr(buf),
		.iova = iova,
		.size = size,
	};

	return ioctl(c, VFIO_IOMMU_MAP_DMA, &map);
}

/* VFIO_IOMMU_UNMAP_DMA; *@size is in/out (bytes unmapped). */
static inline int abi_type1_unmap(int c, uint64_t iova, uint64_t *size,
				  uint32_t flags)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = iova,
		.size = *size,
	};
	int rc = ioctl(c, VFIO_IOMMU_UNMAP_DMA, &unmap);

	*size = unmap.size;
	return rc;
}

/* UNMAP_DMA with GET_DIRTY_BITMAP; *@size is in/out. */
static inline int abi_type1_unmap_bitmap(int c, uint64_t iova, uint64_t *size,
					 uint64_t pgsize, void *bitmap,
					 uint64_t bitmap_size)
{
	struct {
		struct vfio_iommu_type1_dma_unmap unmap;
		struct vfio_bitmap bitmap;
	} cmd = {
		.unmap = {
			.argsz = sizeof(cmd),
			.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
			.iova = iova,
			.size = *size,
		},
		.bitmap = { pgsize, bitmap_size, bitmap },
	};
	int rc;

	static_assert(sizeof(cmd) == 48, "unmap + vfio_bitmap");
	rc = ioctl(c, VFIO_IOMMU_UNMAP_DMA, &cmd);
	*size = cmd.unmap.size;
	return rc;
}

/* VFIO_IOMMU_DIRTY_PAGES with START or STOP (or any flags). */
static inline int abi_type1_dirty(int c, uint32_t flags)
{
	struct vfio_iommu_type1_dirty_bitmap cmd = {
		.argsz = sizeof(cmd),
		.flags = flags,
	};

	return ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &cmd);
}

/* VFIO_IOMMU_DIRTY_PAGES GET_BITMAP for [iova, iova + size). */
static inline int abi_type1_dirty_get(int c, uint64_t iova, uint64_t size,
				      uint64_t pgsize, void *bitmap,
				      uint64_t bitmap_size)
{
	struct {
		struct vfio_iommu_type1_dirty_bitmap hdr;
		struct vfio_iommu_type1_dirty_bitmap_get get;
	} cmd = {
		.hdr = { .argsz = sizeof(cmd),
			 .flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP },
		.get = { iova, size, { pgsize, bitmap_size, bitmap } },
	};

	static_assert(sizeof(cmd) == 48, "dirty_bitmap + get");
	return ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &cmd);
}

#endif
