/* SPDX-License-Identifier: MIT */
/*
 * dev.h - the emulated host's physical devices: DMA engines programmed
 * through registers in BAR0, whose writes really go through the IOMMU.
 *
 * The register map and block format are the device's programming
 * interface, include/iodirty/uapi/iodirty_dma.h; this header is the model's
 * API for the emulated host (VFIO) and tests.
 */
#ifndef IODIRTY_DEV_H
#define IODIRTY_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu.h"
#include "log.h"
#include "uapi/iodirty_dma.h"

/* How a device's DMA reaches memory: its IOMMU domain, or (mdev) the
 * vendor driver's pinning path. Returns 0 or -EFAULT with @fault. */
struct dma_path {
	int (*write)(void *opaque, uint64_t iova, const void *buf, size_t len,
		     struct pt_fault *fault);
	void *opaque;
};

struct dma_dev;

struct dma_dev_config {
	uint32_t index;
	uint32_t caps;		/* DMA_CAP_* */
	const struct iod_log *log;
};

/** dma_dev_create() - a stopped engine; ERR_PTR(-ENOMEM). */
struct dma_dev *dma_dev_create(const struct dma_dev_config *cfg);

/** dma_dev_destroy() - stop the engine and free the device. */
void dma_dev_destroy(struct dma_dev *dev);

/** dma_dev_set_path() - where the engine's DMA goes (NULL: faults). */
void dma_dev_set_path(struct dma_dev *dev, const struct dma_path *path);

/** dma_dev_bar0() - the register page, as this process maps it. */
void *dma_dev_bar0(struct dma_dev *dev);

/** dma_dev_bar0_fd() - a memfd holding the register page, for mmap. */
int dma_dev_bar0_fd(struct dma_dev *dev);

/**
 * dma_dev_reg_read() / dma_dev_reg_write() - a register access of 1, 2, 4
 * or 8 naturally aligned bytes at @off (pread/pwrite of region 0).
 * Return: 0, or -EINVAL for a bad size, alignment or offset.
 */
int dma_dev_reg_read(struct dma_dev *dev, uint32_t off, void *val,
		     unsigned int size);
int dma_dev_reg_write(struct dma_dev *dev, uint32_t off, const void *val,
		      unsigned int size);

/**
 * dma_dev_sync_bar() - act on register values written through a mapping of
 * BAR0 (the engine polls too; this makes it immediate).
 */
void dma_dev_sync_bar(struct dma_dev *dev);

/**
 * dma_dev_quiesce() - stop DMA and return only once no write is in flight
 * (VFIO RUNNING -> STOP). The RUN bit is kept: dma_dev_unquiesce() resumes.
 */
void dma_dev_quiesce(struct dma_dev *dev);
void dma_dev_unquiesce(struct dma_dev *dev);

/** dma_dev_reset() - registers to their reset values, engine stopped. */
void dma_dev_reset(struct dma_dev *dev);

/*
 * Device-side dirty logging (DMA_CAP_LOG): what VFIO's DMA logging feature
 * drives. Ranges are IOVA; page_size a power of two >= 4 KiB.
 */
#define DMA_LOG_MAX_RANGES 8u
#define DMA_LOG_MIN_PAGE   4096u

struct dma_log_range {
	uint64_t iova;
	uint64_t length;
};

/**
 * dma_dev_log_start() - start logging writes to @ranges at @page_size (at
 * least DMA_LOG_MIN_PAGE; the size used is returned in *@page_size). More
 * ranges than the device tracks are merged, the smallest gaps first.
 * Return: 0; -EBUSY when logging already; -EINVAL; -ENOMEM.
 */
int dma_dev_log_start(struct dma_dev *dev, const struct dma_log_range *ranges,
		      unsigned int n, uint64_t *page_size);

/** dma_dev_log_stop() - stop logging and drop the log. */
void dma_dev_log_stop(struct dma_dev *dev);

/**
 * dma_dev_log_read_and_clear() - report logged pages in [iova, iova+len)
 * into @bitmap (see iova_bitmap_set) and clear them.
 * Return: 0, or -EINVAL when logging is off.
 */
int dma_dev_log_read_and_clear(struct dma_dev *dev, uint64_t iova,
			       uint64_t length, struct iova_bitmap *bitmap);

/*
 * Migration: the device's state as bytes. The format is the device's own,
 * versioned, with a checksum, and covers the registers, the engine's
 * position and RNG, and STATE_SIZE bytes of internal state.
 */

/*
 * Pre-copy: while the device runs, its internal state is sent once in full
 * and then as deltas of the 64 KiB chunks the engine changed since.
 */
#define DMA_STATE_CHUNK (64u * 1024)

/** dma_dev_precopy_start() - track changed chunks from now; -ENOMEM. */
int dma_dev_precopy_start(struct dma_dev *dev);
/** dma_dev_precopy_stop() - stop tracking. */
void dma_dev_precopy_stop(struct dma_dev *dev);
/** dma_dev_precopy_dirty_bytes() - state bytes changed since the last save. */
uint64_t dma_dev_precopy_dirty_bytes(struct dma_dev *dev);

/** dma_dev_delta_size() - the most bytes dma_dev_save_delta() can need. */
uint64_t dma_dev_delta_size(struct dma_dev *dev);

/**
 * dma_dev_save_delta() - registers, engine position and the changed chunks
 * since the last save (full or delta); clears the changed set.
 * Return: bytes written, or -ENOSPC.
 */
int64_t dma_dev_save_delta(struct dma_dev *dev, void *buf, uint64_t len);

/**
 * dma_dev_load_delta() - apply a delta on top of a loaded state.
 * Return: 0, or -EINVAL for a malformed delta or one of another size of
 * state (nothing is changed then).
 */
int dma_dev_load_delta(struct dma_dev *dev, const void *buf, uint64_t len);

/** dma_dev_state_size() - bytes dma_dev_save() produces. */
uint64_t dma_dev_state_size(struct dma_dev *dev);

/**
 * dma_dev_save() - write the state (device quiesced) into @buf.
 * Return: bytes written, or -ENOSPC when @len is too small.
 */
int64_t dma_dev_save(struct dma_dev *dev, void *buf, uint64_t len);

/**
 * dma_dev_load() - restore state saved by dma_dev_save() on a device of the
 * same kind. Return: 0; -EINVAL for a bad magic, version, checksum, size or
 * a state of another kind of device (nothing is changed then); -ENOMEM.
 */
int dma_dev_load(struct dma_dev *dev, const void *buf, uint64_t len);

#endif
