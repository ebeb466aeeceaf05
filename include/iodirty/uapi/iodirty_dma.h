/* SPDX-License-Identifier: MIT */
/*
 * uapi/iodirty_dma.h - the programming interface of the emulated DMA
 * engine: what a driver needs (the VMM, a test, the guest payload in
 * assembly), as a device's datasheet is. The device model itself is
 * src/dev; docs/devices.md describes the behaviour.
 *
 * BAR0 (4 KiB, little-endian):
 *
 *   0x000 u32 ID          'IODY' (0x59444f49)                        RO
 *   0x004 u32 VERSION     1                                          RO
 *   0x008 u32 CAPS        bit0 DMA logging, bit1 mediated (pins pages),
 *                         bit2 PRE_COPY migration                     RO
 *   0x00c u32 INDEX       the device's index on the host             RO
 *   0x010 u32 CTRL        bit0 RUN; bit1 CLEAR (clears counters and the
 *                         fault; reads 0)                             RW
 *   0x014 u32 STATUS      bit0 RUNNING, bit1 FAULT, bit2 QUIESCED,
 *                         bit3 BADCONFIG (RUN refused)               RO
 *   0x018 u32 PATTERN     0 sequential, 1 random, 2 hot set          RW
 *   0x01c u32 BLOCK_SIZE  bytes per DMA write, 64..1 MiB, multiple of 64
 *   0x020 u64 WINDOW_IOVA first IOVA the engine writes               RW
 *   0x028 u64 WINDOW_SIZE bytes of IOVA it writes, a multiple of BLOCK_SIZE
 *   0x030 u64 RATE        bytes per second, 0 = as fast as it can    RW
 *   0x038 u64 HOT_SIZE    bytes at the window's start the hot set uses
 *   0x040 u64 SEED        random pattern seed                        RW
 *   0x048 u64 SEQ         sequence number of the next block          RO
 *   0x050 u64 BYTES       bytes written                              RO
 *   0x058 u64 WRITES      blocks written                             RO
 *   0x060 u64 FAULT_IOVA  IOVA of the fault                          RO
 *   0x068 u32 FAULT_REASON 1 not mapped, 2 permission, 3 out of range RO
 *   0x06c u32 FAULT_WRITE 1 if the faulting access was a write       RO
 *   0x070 u64 STATE_SIZE  bytes of device-internal state (0..512 MiB)
 *                         carried by migration; RW while stopped
 *   0x078 u64 CURSOR      offset in the window of the next block     RO
 *
 * Configuration registers take writes only while the engine is stopped,
 * except RATE, which a running engine applies from its next block (a VMM
 * slows a busy device this way to let a migration converge).
 * Every block starts with struct dma_block and ends with a u64 checksum
 * (FNV-1a 64 over every u64 of the block before it).
 */
#ifndef IODIRTY_UAPI_DMA_H
#define IODIRTY_UAPI_DMA_H

#define DMA_BAR0_SIZE	     4096
#define DMA_REG_ID	     0x000
#define DMA_REG_VERSION	     0x004
#define DMA_REG_CAPS	     0x008
#define DMA_REG_INDEX	     0x00c
#define DMA_REG_CTRL	     0x010
#define DMA_REG_STATUS	     0x014
#define DMA_REG_PATTERN	     0x018
#define DMA_REG_BLOCK_SIZE   0x01c
#define DMA_REG_WINDOW_IOVA  0x020
#define DMA_REG_WINDOW_SIZE  0x028
#define DMA_REG_RATE	     0x030
#define DMA_REG_HOT_SIZE     0x038
#define DMA_REG_SEED	     0x040
#define DMA_REG_SEQ	     0x048
#define DMA_REG_BYTES	     0x050
#define DMA_REG_WRITES	     0x058
#define DMA_REG_FAULT_IOVA   0x060
#define DMA_REG_FAULT_REASON 0x068
#define DMA_REG_FAULT_WRITE  0x06c
#define DMA_REG_STATE_SIZE   0x070
#define DMA_REG_CURSOR	     0x078
#define DMA_REG_END	     0x080

#define DMA_DEV_ID	     0x59444f49 /* "IODY" */
#define DMA_DEV_VERSION	     1
#define DMA_CAP_LOG	     0x1
#define DMA_CAP_MDEV	     0x2
#define DMA_CAP_PRECOPY	     0x4
#define DMA_CTRL_RUN	     0x1
#define DMA_CTRL_CLEAR	     0x2
#define DMA_STATUS_RUNNING   0x1
#define DMA_STATUS_FAULT     0x2
#define DMA_STATUS_QUIESCED  0x4
#define DMA_STATUS_BADCONFIG 0x8

#ifdef __ASSEMBLER__
#define DMA_PATTERN_SEQUENTIAL 0
#define DMA_PATTERN_RANDOM     1
#define DMA_PATTERN_HOTSET     2
#else
enum dma_pattern {
	DMA_PATTERN_SEQUENTIAL = 0,
	DMA_PATTERN_RANDOM = 1,
	DMA_PATTERN_HOTSET = 2,
};
#endif

#define DMA_BLOCK_MIN	     64
#define DMA_BLOCK_MAX	     0x100000
#define DMA_STATE_MAX	     0x20000000 /* 512 MiB */
#define DMA_BLOCK_MAGIC	     0x31414d4459444f49 /* "IODYDMA1" */

/* Offsets in struct dma_block, for assembly. */
#define DMA_BLOCK_OFF_MAGIC  0
#define DMA_BLOCK_OFF_INDEX  8
#define DMA_BLOCK_OFF_SIZE   12
#define DMA_BLOCK_OFF_SEQ    16
#define DMA_BLOCK_OFF_IOVA   24

#ifndef __ASSEMBLER__
#include <stdint.h>

/* The header every DMA block starts with; a checksum u64 ends the block. */
struct dma_block {
	uint64_t magic;
	uint32_t dev_index;
	uint32_t size;
	uint64_t seq;
	uint64_t iova;
};

/* The checksum of a block of @size bytes: what its last u64 must hold. */
static inline uint64_t dma_block_checksum(const void *block, uint32_t size)
{
	const uint64_t *w = (const uint64_t *)block;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint32_t i = 0; i < size / 8 - 1; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

/*
 * dma_block_check() - is @block (of @size bytes, found at @iova) a whole,
 * well-formed block from device @dev_index? 0, or -1.
 */
static inline int dma_block_check(const void *block, uint32_t size,
				  uint32_t dev_index, uint64_t iova)
{
	const struct dma_block *b = (const struct dma_block *)block;
	const uint64_t *w = (const uint64_t *)block;

	if (size < DMA_BLOCK_MIN || size % 8 || b->magic != DMA_BLOCK_MAGIC ||
	    b->size != size || b->dev_index != dev_index || b->iova != iova)
		return -1;
	return w[size / 8 - 1] == dma_block_checksum(block, size) ? 0 : -1;
}
#endif

#endif
