// SPDX-License-Identifier: MIT
/*
 * dma_logging.c - VFIO_DEVICE_FEATURE_DMA_LOGGING_{START,STOP,REPORT}: the
 * device's own dirty tracking (shared/spec/kernel-abi.md §5.2), with the
 * core's checks of Linux vfio_main.c: at most PAGE_SIZE / 16 ranges
 * (E2BIG), ranges aligned to the page size (EINVAL), not overflowing
 * (EOVERFLOW), not overlapping (EINVAL); a report's page size a power of
 * two of at least 4 KiB; the page size the device chose written back.
 * A device without a log answers ENOTTY.
 */
#include <errno.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>

#include "vfio_private.h"

#define LOG_MAX_RANGES (4096 / sizeof(struct vfio_device_feature_dma_logging_range))

static int logging_start(struct vfio_device *dev, uint32_t flags, uint64_t arg,
			 uint32_t argsz)
{
	struct vfio_device_feature_dma_logging_control control;
	struct vfio_device_feature_dma_logging_range *uranges;
	struct dma_log_range *ranges;
	uint64_t page_size;
	int rc = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET,
				    sizeof(control));

	if (rc != 1)
		return rc;
	if (copy_from_user(&control, arg, sizeof(control)))
		return -EFAULT;
	if (!control.num_ranges)
		return -EINVAL;
	if (control.num_ranges > LOG_MAX_RANGES)
		return -E2BIG;
	if (!control.page_size)
		return -EINVAL;
	uranges = xcalloc(control.num_ranges, sizeof(*uranges));
	ranges = xcalloc(control.num_ranges, sizeof(*ranges));
	if (!uranges || !ranges) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (copy_from_user(uranges, control.ranges,
			   control.num_ranges * sizeof(*uranges))) {
		rc = -EFAULT;
		goto out_free;
	}
	for (uint32_t i = 0; i < control.num_ranges; i++) {
		uint64_t end, last;

		if ((uranges[i].iova % control.page_size) ||
		    (uranges[i].length % control.page_size) ||
		    !uranges[i].length) {
			rc = -EINVAL;
			goto out_free;
		}
		/* check_add_overflow(iova, length): ending at 2^64 is too. */
		if (__builtin_add_overflow(uranges[i].iova, uranges[i].length,
					   &end)) {
			rc = -EOVERFLOW;
			goto out_free;
		}
		last = end - 1;
		for (uint32_t j = 0; j < i; j++) {
			if (uranges[j].iova <= last &&
			    uranges[j].iova + uranges[j].length - 1 >=
				    uranges[i].iova) {
				rc = -EINVAL;
				goto out_free;
			}
		}
		ranges[i] = (struct dma_log_range){ uranges[i].iova,
						    uranges[i].length };
	}
	page_size = control.page_size;
	rc = dma_dev_log_start(dev->dma, ranges, control.num_ranges,
			       &page_size);
	/* Logging already: EINVAL, as mlx5vf_start_page_tracker() says. */
	if (rc == -EBUSY)
		rc = -EINVAL;
	if (rc)
		goto out_free;
	control.page_size = page_size;
	if (copy_to_user(arg, &control.page_size, sizeof(control.page_size))) {
		dma_dev_log_stop(dev->dma);
		rc = -EFAULT;
	}
out_free:
	xfree(ranges);
	xfree(uranges);
	return rc;
}

struct report_walk {
	struct dma_dev *dma;
};

static int report_window(struct iova_bitmap *bitmap, uint64_t iova,
			 uint64_t length, void *opaque)
{
	struct report_walk *w = opaque;

	return dma_dev_log_read_and_clear(w->dma, iova, length, bitmap);
}

static int logging_report(struct vfio_device *dev, uint32_t flags,
			  uint64_t arg, uint32_t argsz)
{
	struct vfio_device_feature_dma_logging_report report;
	struct report_walk w = { dev->dma };
	struct iova_bitmap *bitmap;
	uint64_t end;
	int rc = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET,
				    sizeof(report));

	if (rc != 1)
		return rc;
	if (copy_from_user(&report, arg, sizeof(report)))
		return -EFAULT;
	if (report.page_size < 4096 || !is_power_of_2_u64(report.page_size))
		return -EINVAL;
	/* check_add_overflow(iova, length): ending at 2^64 is too. */
	if (!report.length ||
	    __builtin_add_overflow(report.iova, report.length, &end))
		return -EOVERFLOW;
	bitmap = iova_bitmap_alloc(report.iova, report.length,
				   report.page_size, report.bitmap,
				   &uaccess_user);
	if (IS_ERR(bitmap))
		return (int)PTR_ERR(bitmap);
	rc = iova_bitmap_for_each(bitmap, &w, report_window);
	iova_bitmap_free(bitmap);
	return rc;
}

int vfio_dma_logging_feature(struct vfio_device *dev, uint32_t feature,
			     uint32_t flags, uint64_t arg, uint32_t argsz)
{
	int rc;

	if (dev->kind != VFIO_DEV_DMA_LOG)
		return -ENOTTY;
	switch (feature) {
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		return logging_start(dev, flags, arg, argsz);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		rc = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET,
					0);
		if (rc != 1)
			return rc;
		dma_dev_log_stop(dev->dma);
		return 0;
	default:
		return logging_report(dev, flags, arg, argsz);
	}
}
