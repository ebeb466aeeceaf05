/* SPDX-License-Identifier: MIT */
/*
 * dev.h - the emulated host's physical devices: DMA engines programmed
 * through registers in BAR0, whose writes really go through the IOMMU.
 *
 * Register map of BAR0 (4 KiB, little-endian; docs/devices.md):
 *
 *   0x000 u32 ID          'IODY' (0x59444f49)          RO
 *   0x004 u32 VERSION     1                            RO
 *   0x008 u32 CAPS        bit0 DMA logging, bit1 mediated (pins pages),
 *                         bit2 PRE_COPY migration       RO
 *   0x00c u32 INDEX       the device's index on the host RO
 *   0x010 u32 CTRL        bit0 RUN; bit1 CLEAR (clears counters and the
 *                         fault; reads 0)               RW
 *   0x014 u32 STATUS      bit0 RUNNING, bit1 FAULT, bit2 QUIESCED,
 *                         bit3 BADCONFIG (RUN refused: see docs)  RO
 *   0x018 u32 PATTERN     0 sequential, 1 random, 2 hot set        RW
 *   0x01c u32 BLOCK_SIZE  bytes per DMA write, 64..1 MiB, multiple of 64
 *   0x020 u64 WINDOW_IOVA first IOVA the engine writes             RW
 *   0x028 u64 WINDOW_SIZE bytes of IOVA it writes, a multiple of BLOCK_SIZE
 *   0x030 u64 RATE        bytes per second, 0 = as fast as it can  RW
 *   0x038 u64 HOT_SIZE    bytes at the window's start the hot set uses
 *   0x040 u64 SEED        random pattern seed                       RW
 *   0x048 u64 SEQ         sequence number of the next block         RO
 *   0x050 u64 BYTES       bytes written                             RO
 *   0x058 u64 WRITES      blocks written                            RO
 *   0x060 u64 FAULT_IOVA  IOVA of the fault                         RO
 *   0x068 u32 FAULT_REASON enum pt_fault_reason                     RO
 *   0x06c u32 FAULT_WRITE 1 if the faulting access was a write      RO
 *   0x070 u64 STATE_SIZE  bytes of device-internal state (0..512 MiB) RW
 *                         while stopped: what migration must carry
 *   0x078 u64 CURSOR      offset in the window of the next block    RO
 *
 * Every block the engine writes starts with a header (struct dma_block)
 * carrying a sequence number, the device index and the IOVA it was meant
 * for, and ends with a checksum, so a reader (the guest driver, a test, the
 * migration verifier) can tell a lost, stale or misplaced DMA write.
 */
#ifndef IODIRTY_DEV_H
#define IODIRTY_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu.h"
#include "log.h"

enum {
	DMA_BAR0_SIZE = 4096,
	DMA_REG_ID = 0x000,
	DMA_REG_VERSION = 0x004,
	DMA_REG_CAPS = 0x008,
	DMA_REG_INDEX = 0x00c,
	DMA_REG_CTRL = 0x010,
	DMA_REG_STATUS = 0x014,
	DMA_REG_PATTERN = 0x018,
	DMA_REG_BLOCK_SIZE = 0x01c,
	DMA_REG_WINDOW_IOVA = 0x020,
	DMA_REG_WINDOW_SIZE = 0x028,
	DMA_REG_RATE = 0x030,
	DMA_REG_HOT_SIZE = 0x038,
	DMA_REG_SEED = 0x040,
	DMA_REG_SEQ = 0x048,
	DMA_REG_BYTES = 0x050,
	DMA_REG_WRITES = 0x058,
	DMA_REG_FAULT_IOVA = 0x060,
	DMA_REG_FAULT_REASON = 0x068,
	DMA_REG_FAULT_WRITE = 0x06c,
	DMA_REG_STATE_SIZE = 0x070,
	DMA_REG_CURSOR = 0x078,
	DMA_REG_END = 0x080,
};

#define DMA_DEV_ID	 0x59444f49u /* "IODY" */
#define DMA_DEV_VERSION	 1u
#define DMA_CAP_LOG	 (1u << 0)
#define DMA_CAP_MDEV	 (1u << 1)
#define DMA_CAP_PRECOPY	 (1u << 2)
#define DMA_CTRL_RUN	 (1u << 0)
#define DMA_CTRL_CLEAR	 (1u << 1)
#define DMA_STATUS_RUNNING (1u << 0)
#define DMA_STATUS_FAULT (1u << 1)
#define DMA_STATUS_QUIESCED (1u << 2)
#define DMA_STATUS_BADCONFIG (1u << 3)

enum dma_pattern {
	DMA_PATTERN_SEQUENTIAL = 0,
	DMA_PATTERN_RANDOM = 1,
	DMA_PATTERN_HOTSET = 2,
};

#define DMA_BLOCK_MIN	  64u
#define DMA_BLOCK_MAX	  (1u << 20)
#define DMA_STATE_MAX	  (512ULL << 20)
#define DMA_BLOCK_MAGIC	  0x31414d4459444f49ULL /* "IODYDMA1" */

/* The header every DMA block starts with; a checksum u64 ends the block. */
struct dma_block {
	uint64_t magic;
	uint32_t dev_index;
	uint32_t size;
	uint64_t seq;
	uint64_t iova;
};

/** dma_block_checksum() - the value the last u64 of a block must hold. */
uint64_t dma_block_checksum(const void *block, uint32_t size);

/**
 * dma_block_check() - is @block (of @size bytes, found at @iova) a whole,
 * well-formed block from device @dev_index? Return: 0, or -EINVAL.
 */
int dma_block_check(const void *block, uint32_t size, uint32_t dev_index,
		    uint64_t iova);

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
