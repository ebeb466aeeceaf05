// SPDX-License-Identifier: MIT
/*
 * selftest.c - the kernel's iommufd test interface (CONFIG_IOMMUFD_TEST):
 * a mock IOMMU driver whose domains use the mock page-table format
 * (fmt/mock.h: 2 KiB IO pages, 1 MiB huge leaves), mock devices behind it,
 * and IOMMU_TEST_CMD with the ops the kernel's dirty-tracking, command and
 * VFIO-compat selftests use (shared/spec/kernel-abi.md §6.2-6.5).
 *
 * IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT is checked as Linux checks it and
 * kept; in Linux it only sizes the pin batches of pages.c, which nothing
 * here has, so it changes nothing a program can see.
 *
 * Not emulated (EOPNOTSUPP, as for an unknown op): access objects, IOTLB,
 * IOPF, vEVENT and PASID ops.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>
#include <iodirty/uapi/iommufd_test.h>

#include "iommufd_private.h"

/* The mock device flags that mock_dev_create accepts. */
enum {
	MOCK_DEV_FLAGS = MOCK_FLAGS_DEVICE_NO_DIRTY |
			 MOCK_FLAGS_DEVICE_HUGE_IOVA | MOCK_FLAGS_DEVICE_PASID,
};

static size_t mock_hw_info(struct iommu_dev *dev, void *buf, size_t len)
{
	struct iommu_test_hw_info info = {
		.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
	};

	(void)dev;
	memcpy(buf, &info, len < sizeof(info) ? len : sizeof(info));
	return sizeof(info);
}

static bool mock_dirty_capable(struct iommu_dev *dev)
{
	return !(dev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY);
}

static uint64_t mock_pgsizes(struct iommu_dev *dev)
{
	uint64_t sizes = MOCK_PAGE_SIZE;

	if (dev->flags & MOCK_FLAGS_DEVICE_HUGE_IOVA)
		sizes |= MOCK_HUGE_PAGE_SIZE;
	return sizes;
}

static void mock_aperture(struct iommu_dev *dev, uint64_t *start,
			  uint64_t *last)
{
	(void)dev;
	*start = MOCK_APERTURE_START;
	*last = MOCK_APERTURE_LAST;
}

static unsigned int mock_resv_regions(struct iommu_dev *dev,
				      const struct iommu_resv_region **out)
{
	(void)dev;
	*out = NULL;
	return 0;
}

/* v6.19+: struct iommu_hwpt_selftest picks the mock's page table. */
static int mock_paging_user_data(struct iommu_dev *dev, uint32_t type,
				 const void *data, size_t len,
				 uint64_t *pgsizes)
{
	struct iommu_hwpt_selftest sel = { 0 };

	(void)dev;
	if (type != IOMMU_HWPT_DATA_SELFTEST)
		return -EOPNOTSUPP;
	if (len < offsetofend(struct iommu_hwpt_selftest, iotlb))
		return -EINVAL;
	memcpy(&sel, data, len < sizeof(sel) ? len : sizeof(sel));
	switch (sel.pagetable_type) {
	case MOCK_IOMMUPT_DEFAULT:
		*pgsizes = MOCK_PAGE_SIZE;
		return 0;
	case MOCK_IOMMUPT_HUGE:
	case MOCK_IOMMUPT_AMDV1:
		*pgsizes = MOCK_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE;
		return 0;
	default:
		return -EINVAL;
	}
}

static const struct iommu_driver mock_iommu_driver = {
	.name = "mock",
	.format = PT_FMT_MOCK,
	.hw_info_type = IOMMU_HW_INFO_TYPE_SELFTEST,
	.alloc_flags = IOMMU_DOMAIN_NEST_PARENT | IOMMU_DOMAIN_DIRTY_TRACKING,
	.hw_info = mock_hw_info,
	.dirty_capable = mock_dirty_capable,
	.pgsizes = mock_pgsizes,
	.aperture = mock_aperture,
	.resv_regions = mock_resv_regions,
	.paging_user_data = mock_paging_user_data,
};

void iommufd_selftest_host_init(struct iommufd_host *host)
{
	host->mock_unit = (struct iommu_unit){ .drv = &mock_iommu_driver,
					       .dirty = true };
}

/* The "stdev" object: a mock device, bound and attached. */
struct selftest_obj {
	struct iommufd_object obj;
	struct iommu_dev dev;
	struct iommufd_device *idev;
};

static_assert(offsetof(struct selftest_obj, obj) == 0, "object first");

void iommufd_selftest_destroy(struct iommufd_ctx *ictx,
			      struct iommufd_object *obj)
{
	struct selftest_obj *sobj = (struct selftest_obj *)obj;

	sobj->idev->obj.users--;
	iommufd_object_destroy(ictx, &sobj->idev->obj);
	iommu_dev_destroy(&sobj->dev);
}

static int test_mock_domain(struct iommufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd, uint32_t dev_flags)
{
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_device *idev;
	struct selftest_obj *sobj;
	uint32_t pt_id = cmd->id;
	int rc;

	if (dev_flags & ~MOCK_DEV_FLAGS)
		return -EINVAL;
	sobj = iommufd_object_alloc(ictx, sizeof(*sobj), IOMMUFD_OBJ_SELFTEST);
	if (!sobj)
		return -ENOMEM;
	iommu_dev_init(&sobj->dev, &ictx->host->mock_unit, "mock", dev_flags);
	idev = iommufd_device_bind_locked(ictx, &sobj->dev);
	if (IS_ERR(idev)) {
		rc = (int)PTR_ERR(idev);
		goto err_abort;
	}
	sobj->idev = idev;
	rc = iommufd_device_attach_locked(idev, &pt_id, false);
	if (rc)
		goto err_unbind;

	cmd->mock_domain.out_stdev_id = sobj->obj.id;
	cmd->mock_domain.out_hwpt_id = pt_id;
	cmd->mock_domain.out_idev_id = idev->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto err_unbind;
	iommufd_object_finalize(ictx, &sobj->obj);
	return 0;

err_unbind:
	idev->obj.users--;
	iommufd_object_destroy(ictx, &idev->obj);
err_abort:
	iommu_dev_destroy(&sobj->dev);
	iommufd_object_abort(ictx, &sobj->obj);
	return rc;
}

static int test_mock_domain_replace(struct iommufd_ucmd *ucmd,
				    struct iommu_test_cmd *cmd)
{
	struct selftest_obj *sobj;
	uint32_t pt_id = cmd->mock_domain_replace.pt_id;
	int rc;

	sobj = iommufd_get_object(ucmd->ictx, cmd->id, IOMMUFD_OBJ_SELFTEST);
	if (!sobj)
		return -ENOENT;
	rc = iommufd_device_attach_locked(sobj->idev, &pt_id, true);
	if (rc)
		return rc;
	cmd->mock_domain_replace.pt_id = pt_id;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

static int test_add_reserved(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	struct iommufd_ioas *ioas = iommufd_get_ioas(ucmd->ictx, cmd->id);
	uint64_t last;

	if (!ioas)
		return -ENOENT;
	if (range_last(cmd->add_reserved.start, cmd->add_reserved.length,
		       &last))
		return -EINVAL;
	return iopt_reserve_iova(&ioas->iopt, cmd->add_reserved.start, last,
				 NULL);
}

static struct iommufd_hwpt_paging *get_mock_hwpt(struct iommufd_ctx *ictx,
						 uint32_t id, int *rc)
{
	struct iommufd_hwpt_paging *hwpt;

	hwpt = iommufd_get_object(ictx, id, IOMMUFD_OBJ_HWPT_PAGING);
	if (!hwpt) {
		*rc = -ENOENT;
		return NULL;
	}
	if (hwpt->domain->drv != &mock_iommu_driver) {
		*rc = -EINVAL;
		return NULL;
	}
	return hwpt;
}

/*
 * IOMMU_TEST_OP_MD_CHECK_MAP, as Linux iommufd_test_md_check_pa(): every
 * mock IO page of the range maps the caller's memory. Misaligned or
 * wrapping arguments are EINVAL; a user page that is not mapped is EFAULT
 * (get_user_pages); a missing or different translation is EINVAL. A
 * translation whose page no pin holds is EINVAL too (Linux cannot have one).
 */
static int test_md_check_map(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	struct iommufd_host *host = ucmd->ictx->host;
	struct iommufd_hwpt_paging *hwpt;
	uint64_t iova = cmd->check_map.iova, len = cmd->check_map.length;
	uint64_t uptr = cmd->check_map.uptr, end, bad;
	int rc;

	if ((iova % MOCK_PAGE_SIZE) || (len % MOCK_PAGE_SIZE) ||
	    (uptr % MOCK_PAGE_SIZE) || __builtin_add_overflow(uptr, len, &end))
		return -EINVAL;
	hwpt = get_mock_hwpt(ucmd->ictx, cmd->id, &rc);
	if (!hwpt)
		return rc;
	for (uint64_t off = 0; off < len; off += MOCK_PAGE_SIZE) {
		uint64_t pa;

		if (user_range_check_at(uptr + off, 1, 0, &bad))
			return -EFAULT;
		if (pt_iova_to_phys(hwpt->domain->pt, iova + off, &pa, NULL) ||
		    pa != uptr + off)
			return -EINVAL;
		if (!iopt_pages_check_refs(host, uptr + off, MOCK_PAGE_SIZE, 0,
					   &bad))
			return -EINVAL; /* mapped but not pinned */
	}
	return 0;
}

/*
 * IOMMU_TEST_OP_MD_CHECK_REFS, as Linux iommufd_test_md_check_refs(): page
 * by page, the pin count of each 4 KiB page must be @refs. A misaligned
 * or wrapping range is EINVAL, a page not mapped EFAULT (get_user_pages),
 * a count that differs EIO, whichever page comes first; length 0 is 0.
 * Linux skips the count of compound (huge) pages; here every page is
 * counted, which gives the same answer while the pin bookkeeping is right.
 */
static int test_md_check_refs(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	uint64_t uptr = cmd->check_refs.uptr, len = cmd->check_refs.length;
	uint64_t end, fault_at = UINT64_MAX, bad = UINT64_MAX;
	int fault, rc;

	if ((len % 4096) || (uptr % 4096) ||
	    __builtin_add_overflow(uptr, len, &end))
		return -EINVAL;
	fault = user_range_check_at(uptr, len, 0, &fault_at);
	if (fault)
		fault_at &= ~(uint64_t)4095;
	rc = iopt_pages_check_refs(ucmd->ictx->host, uptr,
				   fault ? fault_at - uptr : len,
				   cmd->check_refs.refs, &bad);
	if (rc && rc != -EIO)
		return rc;
	if (rc == -EIO && bad < fault_at)
		return -EIO;
	return fault ? -EFAULT : 0;
}

/* Mark IO pages dirty as a device write would (IOMMU_TEST_OP_DIRTY). */
#define DIRTY_CHUNK 65536u	/* bitmap bytes read at a time */

static int test_dirty(struct iommufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint64_t iova = cmd->dirty.iova, length = cmd->dirty.length;
	uint64_t page_size = cmd->dirty.page_size, nbits, nbytes, count = 0;
	struct iommufd_hwpt_paging *hwpt;
	uint8_t *bits;
	int rc = 0;

	if (!page_size || !length || (iova % page_size) ||
	    (length % page_size) || !cmd->dirty.uptr)
		return -EINVAL;
	hwpt = get_mock_hwpt(ucmd->ictx, cmd->id, &rc);
	if (!hwpt)
		return rc;
	if (!pt_dirty_tracking_enabled(hwpt->domain->pt))
		return -EINVAL;
	nbits = length / page_size;
	/* Not DIV_ROUND_UP: with page_size 1 and length ~0 it wraps to 0. */
	nbytes = nbits / 8 + !!(nbits % 8);
	if (nbytes > INT_MAX)
		return -ENOMEM;		/* past what kvzalloc() gives */
	/* Linux copies the whole bitmap before setting a bit: check first. */
	if (user_range_check(cmd->dirty.uptr, nbytes, 0))
		return -EFAULT;
	bits = xmalloc(DIRTY_CHUNK);
	if (!bits)
		return -ENOMEM;
	for (uint64_t off = 0; off < nbytes; off += DIRTY_CHUNK) {
		uint64_t n = nbytes - off < DIRTY_CHUNK ? nbytes - off :
							   DIRTY_CHUNK;

		if (copy_from_user(bits, cmd->dirty.uptr + off, n)) {
			rc = -EFAULT;
			goto out_free;
		}
		for (uint64_t b = 0; b < n; b++) {
			if (!bits[b])
				continue;
			for (unsigned int k = 0; k < 8; k++) {
				uint64_t i = (off + b) * 8 + k;

				if (i < nbits && (bits[b] & (1u << k)) &&
				    !pt_set_dirty(hwpt->domain->pt,
						  iova + i * page_size))
					count++;
			}
		}
	}
	cmd->dirty.out_nr_dirty = count;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_free:
	xfree(bits);
	return rc;
}

/*
 * Linux refuses a limit below one batch element (an unsigned long and a
 * u32, _batch_init()'s elmsz) with EINVAL.
 */
static int test_memory_limit(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	if (cmd->memory_limit.limit < sizeof(unsigned long) + sizeof(uint32_t))
		return -EINVAL;
	ucmd->ictx->host->test_memory_limit = cmd->memory_limit.limit;
	return 0;
}

int iommufd_test(struct iommufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	switch (cmd->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		return test_add_reserved(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DOMAIN:
		return test_mock_domain(ucmd, cmd, 0);
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		return test_mock_domain(ucmd, cmd,
					cmd->mock_domain_flags.dev_flags);
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		return test_mock_domain_replace(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		return test_md_check_map(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		return test_md_check_refs(ucmd, cmd);
	case IOMMU_TEST_OP_DIRTY:
		return test_dirty(ucmd, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		return test_memory_limit(ucmd, cmd);
	default:
		return -EOPNOTSUPP;
	}
}
