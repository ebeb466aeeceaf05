/* SPDX-License-Identifier: MIT */
/*
 * dma_dev_common.h - what the DMA device model's tests share: a device
 * (include/iodirty/dev.h) whose DMA goes through a real IO page table
 * (pt_dma_write() on a pt_domain, PA = host address) onto test memory,
 * register accessors, bounded waits, and a trace of every block the engine
 * wrote, in order.
 *
 * Waits poll with a generous limit and never judge speed: a slow machine
 * makes a test slower, never wrong.
 */
#ifndef IODIRTY_TESTS_DMA_DEV_COMMON_H
#define IODIRTY_TESTS_DMA_DEV_COMMON_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <iodirty/dev.h>
#include <iodirty/err.h>
#include <iodirty/iova_bitmap.h>
#include <iodirty/pt.h>

#include "../harness/test.h"

#define DEV_IOVA      0x40000000ULL /* where test memory is mapped */
#define DEV_WAIT_MS   5000 /* the most any wait polls for */
#define DEV_TRACE_MAX (1u << 20)
#define DEV_RW	      (PT_PROT_READ | PT_PROT_WRITE)

struct dev_trace_ent {
	uint64_t iova;
	uint64_t seq;
};

/*
 * A device and where its DMA lands. @trace is written by the engine thread
 * only (from the DMA path); the test reads it once the engine is stopped
 * and quiesced, which orders it after the last write.
 */
struct dev_fix {
	struct pt_domain *dom;
	enum pt_format format;
	uint8_t *mem; /* mapped at DEV_IOVA + offset */
	uint64_t mem_size;
	struct dma_dev *dev;
	uint32_t index;
	struct dev_trace_ent *trace;
	_Atomic uint64_t ntrace; /* may run past DEV_TRACE_MAX */
	_Atomic uint64_t nfault; /* path writes that faulted */
};

static inline uint64_t dev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void dev_sleep_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts))
		;
}

static inline void *dev_alloc_anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

/* The device's DMA path: the IOMMU, and a note of each completed block. */
static inline int dev_path_write(void *opaque, uint64_t iova, const void *buf,
				 size_t len, struct pt_fault *fault)
{
	struct dev_fix *f = opaque;
	const struct dma_block *b = buf;
	uint64_t n;
	int rc;

	rc = pt_dma_write(f->dom, iova, buf, len, fault);
	if (rc) {
		atomic_fetch_add(&f->nfault, 1);
		return rc;
	}
	n = atomic_load_explicit(&f->ntrace, memory_order_relaxed);
	if (n < DEV_TRACE_MAX)
		f->trace[n] = (struct dev_trace_ent){ iova, b->seq };
	atomic_store_explicit(&f->ntrace, n + 1, memory_order_release);
	return 0;
}

/* A stopped device @index with @caps, DMAing into @mem_size bytes of
 * zeroed memory through a @format domain; nothing is mapped yet. */
static inline void dev_fix_init_fmt(struct dev_fix *f, enum pt_format format,
				    bool dirty_tracking, uint32_t index,
				    uint32_t caps, uint64_t mem_size)
{
	struct pt_config pcfg = {
		.format = format,
		.dirty_tracking = dirty_tracking,
	};
	struct dma_dev_config dcfg = { .index = index, .caps = caps };
	struct dma_path path = { .write = dev_path_write, .opaque = f };

	memset(f, 0, sizeof(*f));
	f->format = format;
	f->index = index;
	f->dom = pt_domain_alloc(&pcfg);
	ASSERT_FALSE(IS_ERR(f->dom));
	f->mem_size = mem_size;
	f->mem = dev_alloc_anon(mem_size);
	f->trace = dev_alloc_anon(DEV_TRACE_MAX * sizeof(*f->trace));
	f->dev = dma_dev_create(&dcfg);
	ASSERT_FALSE(IS_ERR(f->dev));
	dma_dev_set_path(f->dev, &path);
}

static inline void dev_fix_init(struct dev_fix *f, uint32_t index,
				uint32_t caps, uint64_t mem_size)
{
	dev_fix_init_fmt(f, PT_FMT_AMDV1, false, index, caps, mem_size);
}

static inline void dev_fix_fini(struct dev_fix *f)
{
	dma_dev_destroy(f->dev);
	pt_domain_free(f->dom);
	munmap(f->trace, DEV_TRACE_MAX * sizeof(*f->trace));
	munmap(f->mem, f->mem_size);
}

/* Map [off, off + len) of the memory at DEV_IOVA + off, in granule leaves
 * only, so every IO page has a dirty bit of its own. */
static inline void dev_map(struct dev_fix *f, uint64_t off, uint64_t len,
			   unsigned int prot)
{
	ASSERT_LE(off + len, f->mem_size);
	ASSERT_RC(0, pt_map_pgsizes(f->dom, DEV_IOVA + off,
				    (uint64_t)(uintptr_t)(f->mem + off), len,
				    prot, pt_format_granule(f->format)));
}

static inline void *dev_at(struct dev_fix *f, uint64_t iova)
{
	return f->mem + (iova - DEV_IOVA);
}

static inline uint32_t dev_rd32(struct dma_dev *d, uint32_t off)
{
	uint32_t v = 0;

	ASSERT_RC(0, dma_dev_reg_read(d, off, &v, 4));
	return v;
}

static inline uint64_t dev_rd64(struct dma_dev *d, uint32_t off)
{
	uint64_t v = 0;

	ASSERT_RC(0, dma_dev_reg_read(d, off, &v, 8));
	return v;
}

static inline void dev_wr32(struct dma_dev *d, uint32_t off, uint32_t v)
{
	ASSERT_RC(0, dma_dev_reg_write(d, off, &v, 4));
}

static inline void dev_wr64(struct dma_dev *d, uint32_t off, uint64_t v)
{
	ASSERT_RC(0, dma_dev_reg_write(d, off, &v, 8));
}

static inline void dev_setup(struct dma_dev *d, enum dma_pattern pattern,
			     uint32_t block_size, uint64_t iova, uint64_t size)
{
	dev_wr32(d, DMA_REG_PATTERN, pattern);
	dev_wr32(d, DMA_REG_BLOCK_SIZE, block_size);
	dev_wr64(d, DMA_REG_WINDOW_IOVA, iova);
	dev_wr64(d, DMA_REG_WINDOW_SIZE, size);
}

/* Poll until WRITES >= @n; false when DEV_WAIT_MS passed first. */
static inline bool dev_wait_writes(struct dma_dev *d, uint64_t n)
{
	uint64_t t0 = dev_now_ms();

	while (dev_rd64(d, DMA_REG_WRITES) < n) {
		if (dev_now_ms() - t0 > DEV_WAIT_MS)
			return false;
		dev_sleep_ms(1);
	}
	return true;
}

/* Poll until (STATUS & @mask) == @want; false on timeout. */
static inline bool dev_wait_status(struct dma_dev *d, uint32_t mask,
				   uint32_t want)
{
	uint64_t t0 = dev_now_ms();

	while ((dev_rd32(d, DMA_REG_STATUS) & mask) != want) {
		if (dev_now_ms() - t0 > DEV_WAIT_MS)
			return false;
		dev_sleep_ms(1);
	}
	return true;
}

/* Start the engine and wait for @n blocks. */
static inline void dev_run_until(struct dma_dev *d, uint64_t n)
{
	dev_wr32(d, DMA_REG_CTRL, DMA_CTRL_RUN);
	ASSERT_TRUE(dev_wait_writes(d, n));
}

/*
 * Stop the engine: clear RUN, then quiesce, which returns only once no
 * write is in flight, and unquiesce, which with RUN clear leaves it idle.
 * Nothing is written after this returns.
 */
static inline void dev_stop(struct dma_dev *d)
{
	dev_wr32(d, DMA_REG_CTRL, 0);
	dma_dev_quiesce(d);
	dma_dev_unquiesce(d);
	ASSERT_EQ(dev_rd32(d, DMA_REG_STATUS) & DMA_STATUS_RUNNING, 0);
}

static inline uint64_t dev_ntrace(struct dev_fix *f)
{
	return atomic_load_explicit(&f->ntrace, memory_order_acquire);
}

/* Forget the trace; only while the engine is stopped. */
static inline void dev_trace_reset(struct dev_fix *f)
{
	atomic_store(&f->ntrace, 0);
}

/* A caller bitmap over [iova, iova + length) at @page_size. */
struct dev_bits {
	uint8_t *buf;
	uint64_t nbits;
};

static inline void dev_bits_alloc(struct dev_bits *b, uint64_t nbits)
{
	b->nbits = nbits;
	b->buf = calloc(DIV_ROUND_UP(nbits, 64), 8);
	ASSERT_TRUE(b->buf);
}

static inline bool dev_bit(const struct dev_bits *b, uint64_t i)
{
	return b->buf[i / 8] & (1u << (i % 8));
}

static inline void dev_bits_free(struct dev_bits *b)
{
	free(b->buf);
}

/* Fill @b (cleared first) by calling @fn over each window of the range. */
static inline int dev_harvest(struct dev_bits *b, uint64_t iova,
			      uint64_t length, uint64_t page_size,
			      iova_bitmap_fn_t fn, void *opaque)
{
	struct iova_bitmap *ib;
	int rc;

	memset(b->buf, 0, DIV_ROUND_UP(b->nbits, 64) * 8);
	ib = iova_bitmap_alloc(iova, length, page_size,
			       (uint64_t)(uintptr_t)b->buf, NULL);
	if (IS_ERR(ib))
		return (int)PTR_ERR(ib);
	rc = iova_bitmap_for_each(ib, opaque, fn);
	iova_bitmap_free(ib);
	return rc;
}

/* Are the @n bytes at @p all zero? */
static inline bool dev_zero(const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Copy the BAR0 page as a driver reading it would, a register at a time:
 * the engine stores its registers atomically while the test reads them.
 */
static inline void dev_bar_snapshot(struct dma_dev *d, uint8_t *buf)
{
	const uint64_t *bar = dma_dev_bar0(d);

	for (unsigned int i = 0; i < DMA_BAR0_SIZE / 8; i++) {
		uint64_t v = __atomic_load_n(&bar[i], __ATOMIC_ACQUIRE);

		memcpy(buf + 8 * i, &v, 8);
	}
}

#endif
