// SPDX-License-Identifier: MIT
/*
 * dma_dev_test.c - the DMA device model's registers and engine
 * (include/iodirty/dev.h; the register map and block format are
 * include/iodirty/uapi/iodirty_dma.h): BAR0 semantics, blocks really
 * written through an IO page table, the three patterns, faults, starting
 * and stopping through the mapped register page, quiesce, RATE, and IOMMU
 * dirty tracking of what the engine wrote.
 *
 * The device's dirty log is tested in dma_dev_log_test.c, its state and
 * pre-copy in dma_dev_state_test.c.
 */
#include <pthread.h>

#include "dma_dev_common.h"

#define MEM_SIZE (4ULL << 20)
#define PAGE	 4096u

struct reg_val {
	uint32_t off;
	unsigned int size;
	uint64_t val;
};

static uint64_t reg_rd(struct dma_dev *d, uint32_t off, unsigned int size)
{
	return size == 8 ? dev_rd64(d, off) : dev_rd32(d, off);
}

/* Every register holds its reset value, the reserved space reads 0. */
static void check_reset_values(struct dma_dev *d, uint32_t index, uint32_t caps)
{
	const struct reg_val want[] = {
		{ DMA_REG_ID, 4, DMA_DEV_ID },
		{ DMA_REG_VERSION, 4, DMA_DEV_VERSION },
		{ DMA_REG_CAPS, 4, caps },
		{ DMA_REG_INDEX, 4, index },
		{ DMA_REG_CTRL, 4, 0 },
		{ DMA_REG_STATUS, 4, 0 },
		{ DMA_REG_PATTERN, 4, DMA_PATTERN_SEQUENTIAL },
		{ DMA_REG_BLOCK_SIZE, 4, 4096 },
		{ DMA_REG_WINDOW_IOVA, 8, 0 },
		{ DMA_REG_WINDOW_SIZE, 8, 0 },
		{ DMA_REG_RATE, 8, 0 },
		{ DMA_REG_HOT_SIZE, 8, 0 },
		{ DMA_REG_SEED, 8, 1 },
		{ DMA_REG_SEQ, 8, 0 },
		{ DMA_REG_BYTES, 8, 0 },
		{ DMA_REG_WRITES, 8, 0 },
		{ DMA_REG_FAULT_IOVA, 8, 0 },
		{ DMA_REG_FAULT_REASON, 4, 0 },
		{ DMA_REG_FAULT_WRITE, 4, 0 },
		{ DMA_REG_STATE_SIZE, 8, 0 },
		{ DMA_REG_CURSOR, 8, 0 },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t v = reg_rd(d, want[i].off, want[i].size);

		if (v != want[i].val)
			test_fail_at(__FILE__, __LINE__,
				     "register 0x%03x: 0x%" PRIx64
				     ", reset value 0x%" PRIx64,
				     want[i].off, v, want[i].val);
	}
	for (uint32_t off = DMA_REG_END; off < DMA_BAR0_SIZE; off += 8)
		if (dev_rd64(d, off))
			test_fail_at(__FILE__, __LINE__,
				     "reserved 0x%03x reads non-zero", off);
	EXPECT_EQ(dma_dev_state_size(d) > 0, 1);
}

TEST(dma_dev, regs_identity_and_reset)
{
	uint32_t caps = DMA_CAP_LOG | DMA_CAP_PRECOPY;
	struct dev_fix f;
	uint8_t b[4];
	uint16_t h;
	uint32_t *map;

	dev_fix_init(&f, 7, caps, MEM_SIZE);
	check_reset_values(f.dev, 7, caps);

	/* Narrow reads see the little-endian bytes of "IODY". */
	for (uint32_t i = 0; i < 4; i++)
		ASSERT_RC(0, dma_dev_reg_read(f.dev, i, &b[i], 1));
	EXPECT_MEMEQ(b, "IODY", 4);
	ASSERT_RC(0, dma_dev_reg_read(f.dev, 2, &h, 2));
	EXPECT_EQ(h, 0x5944);

	/* The register page and its memfd show the same bytes. */
	EXPECT_MEMEQ(dma_dev_bar0(f.dev), "IODY", 4);
	map = mmap(NULL, DMA_BAR0_SIZE, PROT_READ, MAP_SHARED,
		   dma_dev_bar0_fd(f.dev), 0);
	ASSERT_TRUE(map != MAP_FAILED);
	EXPECT_EQ(map[DMA_REG_ID / 4], DMA_DEV_ID);
	EXPECT_EQ(map[DMA_REG_INDEX / 4], 7);
	EXPECT_EQ(map[DMA_REG_BLOCK_SIZE / 4], 4096);

	/* Run, then reset: every register is back, the engine stays idle. */
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_RANDOM, 256, DEV_IOVA, 64 * 1024);
	dev_wr64(f.dev, DMA_REG_SEED, 99);
	dev_wr64(f.dev, DMA_REG_STATE_SIZE, 8192);
	dev_run_until(f.dev, 10);
	dma_dev_reset(f.dev);
	check_reset_values(f.dev, 7, caps);
	dev_sleep_ms(20);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);
	EXPECT_EQ(map[DMA_REG_SEED / 4], 1);

	munmap(map, DMA_BAR0_SIZE);
	dev_fix_fini(&f);
}

TEST(dma_dev, regs_read_only)
{
	static const struct reg_val ro[] = {
		{ DMA_REG_ID, 4, 0 },	       { DMA_REG_VERSION, 4, 0 },
		{ DMA_REG_CAPS, 4, 0 },	       { DMA_REG_INDEX, 4, 0 },
		{ DMA_REG_STATUS, 4, 0 },      { DMA_REG_SEQ, 8, 0 },
		{ DMA_REG_BYTES, 8, 0 },       { DMA_REG_WRITES, 8, 0 },
		{ DMA_REG_FAULT_IOVA, 8, 0 },  { DMA_REG_FAULT_REASON, 4, 0 },
		{ DMA_REG_FAULT_WRITE, 4, 0 }, { DMA_REG_CURSOR, 8, 0 },
	};
	uint8_t before[DMA_BAR0_SIZE], after[DMA_BAR0_SIZE];
	struct dev_fix f;

	dev_fix_init(&f, 2, DMA_CAP_LOG, MEM_SIZE);
	/* Give the counters values worth keeping. */
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 1024, DEV_IOVA, 64 * 1024);
	dev_run_until(f.dev, 5);
	dev_stop(f.dev);
	dev_bar_snapshot(f.dev, before);
	ASSERT_GT(dev_rd64(f.dev, DMA_REG_SEQ), 0);

	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		uint64_t junk = 0x5a5a5a5aa5a5a5a5ULL;

		/* Whole-register writes and narrow ones are all dropped. */
		for (unsigned int sz = 1; sz <= ro[i].size; sz *= 2)
			EXPECT_RC(0, dma_dev_reg_write(f.dev, ro[i].off, &junk,
						       sz));
	}
	for (uint32_t off = DMA_REG_END; off < DMA_BAR0_SIZE; off += 8) {
		uint64_t junk = ~0ULL;

		EXPECT_RC(0, dma_dev_reg_write(f.dev, off, &junk, 8));
	}
	dev_bar_snapshot(f.dev, after);
	EXPECT_MEMEQ(before, after, DMA_BAR0_SIZE);
	dev_fix_fini(&f);
}

TEST(dma_dev, regs_bad_access)
{
	static const struct {
		uint32_t off;
		unsigned int size;
	} bad[] = {
		{ 0, 0 },
		{ 0, 3 },
		{ 0, 5 },
		{ 0, 16 },
		{ 1, 2 },
		{ 2, 4 },
		{ DMA_REG_CTRL + 2, 4 },
		{ DMA_REG_CTRL, 3 },
		{ 4, 8 },
		{ DMA_REG_WINDOW_IOVA + 4, 8 },
		{ DMA_BAR0_SIZE, 1 },
		{ DMA_BAR0_SIZE, 4 },
		{ DMA_BAR0_SIZE + 8, 8 },
		{ 0xfffffff8u, 8 },
		{ 0xffffffffu, 1 },
	};
	struct dev_fix f;
	uint8_t buf[16];
	uint64_t v;

	dev_fix_init(&f, 0, 0, MEM_SIZE);
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 4096, DEV_IOVA, 64 * 1024);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t run = DMA_CTRL_RUN;

		memset(buf, 0xa5, sizeof(buf));
		EXPECT_RC(-EINVAL, dma_dev_reg_read(f.dev, bad[i].off, buf,
						    bad[i].size));
		for (size_t j = 0; j < sizeof(buf); j++)
			EXPECT_EQ(buf[j], 0xa5);
		memcpy(buf, &run, sizeof(run));
		EXPECT_RC(-EINVAL, dma_dev_reg_write(f.dev, bad[i].off, buf,
						     bad[i].size));
	}
	/* None of the refused writes started the engine. */
	dev_sleep_ms(10);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), 0);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);

	/* The last bytes of the page are reachable at every size. */
	EXPECT_RC(0, dma_dev_reg_read(f.dev, DMA_BAR0_SIZE - 8, &v, 8));
	EXPECT_EQ(v, 0);
	EXPECT_RC(0, dma_dev_reg_read(f.dev, DMA_BAR0_SIZE - 1, buf, 1));
	EXPECT_RC(0, dma_dev_reg_read(f.dev, DMA_BAR0_SIZE - 2, buf, 2));
	dev_fix_fini(&f);
}

TEST(dma_dev, regs_config_fixed_while_running)
{
	static const struct reg_val cfg[] = {
		{ DMA_REG_PATTERN, 4, DMA_PATTERN_RANDOM },
		{ DMA_REG_BLOCK_SIZE, 4, 512 },
		{ DMA_REG_WINDOW_IOVA, 8, DEV_IOVA + PAGE },
		{ DMA_REG_WINDOW_SIZE, 8, 8 * PAGE },
		{ DMA_REG_HOT_SIZE, 8, PAGE },
		{ DMA_REG_SEED, 8, 77 },
		{ DMA_REG_STATE_SIZE, 8, 65536 },
	};
	struct dev_fix f;
	uint64_t old[sizeof(cfg) / sizeof(cfg[0])];

	dev_fix_init(&f, 1, 0, MEM_SIZE);
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 1024, DEV_IOVA, 64 * 1024);
	dev_run_until(f.dev, 1);
	for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		old[i] = reg_rd(f.dev, cfg[i].off, cfg[i].size);
		EXPECT_NE(old[i], cfg[i].val);
		EXPECT_RC(0, dma_dev_reg_write(f.dev, cfg[i].off, &cfg[i].val,
					       cfg[i].size));
		EXPECT_EQ(reg_rd(f.dev, cfg[i].off, cfg[i].size), old[i]);
	}
	EXPECT_NE(dev_rd32(f.dev, DMA_REG_STATUS) & DMA_STATUS_RUNNING, 0);

	/* Stopped, the same writes land. */
	dev_stop(f.dev);
	for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		EXPECT_RC(0, dma_dev_reg_write(f.dev, cfg[i].off, &cfg[i].val,
					       cfg[i].size));
		EXPECT_EQ(reg_rd(f.dev, cfg[i].off, cfg[i].size), cfg[i].val);
	}
	dev_fix_fini(&f);
}

struct bad_config {
	const char *what;
	uint32_t pattern;
	uint32_t block_size;
	uint64_t iova;
	uint64_t size;
};

TEST(dma_dev, badconfig)
{
	static const struct bad_config bad[] = {
		{ "block size 0", 0, 0, DEV_IOVA, 65536 },
		{ "block size 32", 0, 32, DEV_IOVA, 65536 },
		{ "block size 100", 0, 100, DEV_IOVA, 65536 },
		{ "block size 4128", 0, 4128, DEV_IOVA, 4128 * 4 },
		{ "block size > 1 MiB", 0, DMA_BLOCK_MAX + 64, DEV_IOVA,
		  (DMA_BLOCK_MAX + 64) * 2ULL },
		{ "block size 2 MiB", 0, 2u << 20, DEV_IOVA, 4ULL << 20 },
		{ "window 0", 0, 4096, DEV_IOVA, 0 },
		{ "window 3.5 blocks", 0, 4096, DEV_IOVA, 4096 * 3 + 2048 },
		{ "window 64 bytes", 0, 4096, DEV_IOVA, 64 },
		{ "window wraps", 0, 4096, ~0ULL - 4095, 8192 },
		{ "window wraps far", 0, 4096, (1ULL << 63) + 4096,
		  1ULL << 63 },
		{ "pattern 3", 3, 4096, DEV_IOVA, 65536 },
		{ "pattern ~0", ~0u, 4096, DEV_IOVA, 65536 },
	};
	struct dev_fix f;
	uint32_t st;

	dev_fix_init(&f, 4, 0, MEM_SIZE);
	dev_map(&f, 0, 2ULL << 20, DEV_RW);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dev_setup(f.dev, bad[i].pattern, bad[i].block_size, bad[i].iova,
			  bad[i].size);
		dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_RUN);
		st = dev_rd32(f.dev, DMA_REG_STATUS);
		if (st != DMA_STATUS_BADCONFIG)
			test_fail_at(__FILE__, __LINE__,
				     "%s: STATUS 0x%x, want BADCONFIG",
				     bad[i].what, st);
		/* CLEAR drops the report (and, written alone, RUN). */
		dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
		EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);
		EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), 0);
	}
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);
	EXPECT_EQ(atomic_load(&f.ntrace), 0);

	/*
	 * A refused RUN stays refused: making the configuration valid
	 * afterwards does not start DMA nobody asked for.
	 */
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 100, DEV_IOVA, 65536);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), DMA_STATUS_BADCONFIG);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), 0);
	dev_wr32(f.dev, DMA_REG_BLOCK_SIZE, 4096);
	dev_sleep_ms(30);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS) & DMA_STATUS_RUNNING, 0);

	/* The smallest and the largest block are fine; RUN drops BADCONFIG. */
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, DMA_BLOCK_MIN, DEV_IOVA,
		  65536);
	dev_run_until(f.dev, 4);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), DMA_STATUS_RUNNING);
	dev_stop(f.dev);
	EXPECT_RC(0, dma_block_check(f.mem, DMA_BLOCK_MIN, 4, DEV_IOVA));
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, DMA_BLOCK_MAX, DEV_IOVA,
		  2ULL * DMA_BLOCK_MAX);
	dev_run_until(f.dev, dev_rd64(f.dev, DMA_REG_WRITES) + 2);
	dev_stop(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS) &
			  (DMA_STATUS_BADCONFIG | DMA_STATUS_FAULT),
		  0);
	EXPECT_RC(0, dma_block_check(f.mem + DMA_BLOCK_MAX, DMA_BLOCK_MAX, 4,
				     DEV_IOVA + DMA_BLOCK_MAX));
	dev_fix_fini(&f);
}

TEST(dma_dev, ctrl_clear)
{
	struct dev_fix f;

	dev_fix_init(&f, 0, 0, MEM_SIZE);
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 2048, DEV_IOVA, 64 * 1024);
	dev_run_until(f.dev, 8);
	dev_stop(f.dev);
	ASSERT_GE(dev_rd64(f.dev, DMA_REG_BYTES), 8 * 2048);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_BYTES), 0);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), 0);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);

	/* CLEAR with RUN while running: counters restart, DMA goes on. */
	dev_run_until(f.dev, 100);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_RUN | DMA_CTRL_CLEAR);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), DMA_CTRL_RUN);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), DMA_STATUS_RUNNING);
	dev_stop(f.dev);
	/* The write in flight at CLEAR may count; a hundred may not. */
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_run_until(f.dev, 3);
	dev_stop(f.dev);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_BYTES),
		  dev_rd64(f.dev, DMA_REG_WRITES) * 2048);
	dev_fix_fini(&f);
}

/*
 * Sequential: block k of the window holds the latest pass's block, whose
 * sequence number is the largest s < SEQ with s = k (mod nblocks); blocks
 * never reached are untouched, and so is the page after the window.
 */
static void check_sequential(struct dev_fix *f, uint32_t bs, uint64_t nblocks)
{
	uint64_t seq = dev_rd64(f->dev, DMA_REG_SEQ);
	unsigned int bad = 0;

	EXPECT_EQ(dev_rd64(f->dev, DMA_REG_WRITES), seq);
	EXPECT_EQ(dev_rd64(f->dev, DMA_REG_BYTES), seq * bs);
	EXPECT_EQ(dev_rd64(f->dev, DMA_REG_CURSOR), (seq % nblocks) * bs);
	for (uint64_t k = 0; k < nblocks && bad < 5; k++) {
		const uint8_t *p = f->mem + k * bs;
		const struct dma_block *b = (const void *)p;
		uint64_t want;

		if (seq <= k) {
			for (uint32_t i = 0; i < bs; i++)
				if (p[i])
					bad++;
			if (bad)
				test_fail_at(__FILE__, __LINE__,
					     "block %" PRIu64 " written", k);
			continue;
		}
		want = seq - 1 - (seq - 1 - k) % nblocks;
		if (dma_block_check(p, bs, f->index, DEV_IOVA + k * bs) ||
		    b->seq != want) {
			test_fail_at(__FILE__, __LINE__,
				     "block %" PRIu64 ": seq %" PRIu64
				     ", want %" PRIu64 " (SEQ %" PRIu64 ")",
				     k, b->seq, want, seq);
			bad++;
		}
	}
	for (uint64_t i = nblocks * bs; i < nblocks * bs + PAGE; i++)
		if (f->mem[i]) {
			test_fail_at(__FILE__, __LINE__,
				     "byte 0x%" PRIx64 " past the window", i);
			break;
		}
}

TEST(dma_dev, sequential_blocks)
{
	const uint32_t bs = 256;
	const uint64_t nblocks = 1024;
	struct dev_fix f;
	uint64_t seq, n;
	uint8_t copy[256];

	dev_fix_init(&f, 3, 0, MEM_SIZE);
	dev_map(&f, 0, nblocks * bs + PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, bs, DEV_IOVA, nblocks * bs);
	dev_run_until(f.dev, 300);
	dev_stop(f.dev);
	check_sequential(&f, bs, nblocks);

	/* The trace is every block in order: seq i at block i % nblocks. */
	seq = dev_rd64(f.dev, DMA_REG_SEQ);
	n = dev_ntrace(&f);
	ASSERT_EQ(n, seq);
	ASSERT_LE(n, DEV_TRACE_MAX);
	for (uint64_t i = 0; i < n; i++)
		if (f.trace[i].seq != i ||
		    f.trace[i].iova != DEV_IOVA + (i % nblocks) * bs) {
			test_fail_at(__FILE__, __LINE__,
				     "write %" PRIu64 ": seq %" PRIu64
				     " at 0x%" PRIx64,
				     i, f.trace[i].seq, f.trace[i].iova);
			break;
		}

	/* The checker itself refuses a wrong device, place or byte. */
	EXPECT_RC(-1, dma_block_check(f.mem, bs, 4, DEV_IOVA));
	EXPECT_RC(-1, dma_block_check(f.mem, bs, 3, DEV_IOVA + bs));
	EXPECT_RC(-1, dma_block_check(f.mem, bs * 2, 3, DEV_IOVA));
	memcpy(copy, f.mem, bs);
	copy[100] ^= 1;
	EXPECT_RC(-1, dma_block_check(copy, bs, 3, DEV_IOVA));

	/* RUN again: the engine goes on from CURSOR with SEQ. */
	dev_trace_reset(&f);
	dev_run_until(f.dev, seq + 2 * nblocks + 17);
	dev_stop(f.dev);
	ASSERT_GT(dev_ntrace(&f), 0);
	EXPECT_EQ(f.trace[0].seq, seq);
	EXPECT_EQ(f.trace[0].iova, DEV_IOVA + (seq % nblocks) * bs);
	check_sequential(&f, bs, nblocks);
	dev_fix_fini(&f);
}

/* The latest traced write to each block is what memory holds. */
static void check_against_trace(struct dev_fix *f, uint64_t base, uint32_t bs,
				uint64_t nblocks, uint64_t *hit)
{
	uint64_t n = dev_ntrace(f), *last;

	ASSERT_LE(n, DEV_TRACE_MAX);
	ASSERT_EQ(n, dev_rd64(f->dev, DMA_REG_WRITES));
	last = calloc(nblocks, sizeof(*last));
	ASSERT_TRUE(last);
	*hit = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = f->trace[i].iova - base;

		if (f->trace[i].iova < base || off >= nblocks * bs ||
		    off % bs) {
			test_fail_at(__FILE__, __LINE__,
				     "write %" PRIu64 " at 0x%" PRIx64
				     " is outside the window",
				     i, f->trace[i].iova);
			break;
		}
		if (!last[off / bs])
			(*hit)++;
		last[off / bs] = f->trace[i].seq + 1;
	}
	for (uint64_t k = 0; k < nblocks; k++) {
		const struct dma_block *b = dev_at(f, base + k * bs);

		if (!last[k]) {
			EXPECT_EQ(b->magic, 0);
			continue;
		}
		EXPECT_RC(0, dma_block_check(b, bs, f->index, base + k * bs));
		EXPECT_EQ(b->seq, last[k] - 1);
	}
	free(last);
}

TEST(dma_dev, random_stays_in_window)
{
	const uint32_t bs = 512;
	const uint64_t nblocks = 64, base = DEV_IOVA + PAGE;
	uint64_t *first, n, hit, jumps = 0;
	struct dev_fix f;

	dev_fix_init(&f, 5, 0, MEM_SIZE);
	/* A mapped guard page either side: a stray write would land. */
	dev_map(&f, 0, nblocks * bs + 2 * PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_RANDOM, bs, base, nblocks * bs);
	dev_wr64(f.dev, DMA_REG_SEED, 12345);
	dev_run_until(f.dev, 2000);
	dev_stop(f.dev);
	EXPECT_TRUE(dev_zero(f.mem, PAGE));
	EXPECT_TRUE(dev_zero(f.mem + PAGE + nblocks * bs, PAGE));
	check_against_trace(&f, base, bs, nblocks, &hit);
	EXPECT_EQ(hit, nblocks);
	n = dev_ntrace(&f);
	for (uint64_t i = 1; i < n; i++)
		if (f.trace[i].iova != f.trace[i - 1].iova + bs)
			jumps++;
	EXPECT_GT(jumps, n / 2);

	/* SEED restarts the same sequence of places. */
	first = malloc(256 * sizeof(*first));
	ASSERT_TRUE(first);
	for (unsigned int i = 0; i < 256; i++)
		first[i] = f.trace[i].iova;
	dev_trace_reset(&f);
	dev_wr64(f.dev, DMA_REG_SEED, 12345);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_run_until(f.dev, 256);
	dev_stop(f.dev);
	for (unsigned int i = 0; i < 256; i++)
		EXPECT_EQ(f.trace[i].iova, first[i]);
	free(first);
	dev_fix_fini(&f);
}

TEST(dma_dev, hotset_stays_in_hot_set)
{
	const uint32_t bs = 1024;
	const uint64_t nblocks = 32, hot = 4;
	struct dev_fix f;
	uint64_t hit;

	dev_fix_init(&f, 6, 0, MEM_SIZE);
	dev_map(&f, 0, nblocks * bs + PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_HOTSET, bs, DEV_IOVA, nblocks * bs);
	dev_wr64(f.dev, DMA_REG_HOT_SIZE, hot * bs);
	dev_wr64(f.dev, DMA_REG_SEED, 7);
	dev_run_until(f.dev, 500);
	dev_stop(f.dev);
	check_against_trace(&f, DEV_IOVA, bs, nblocks, &hit);
	EXPECT_EQ(hit, hot);
	for (uint64_t k = 0; k < hot; k++)
		EXPECT_RC(0, dma_block_check(f.mem + k * bs, bs, 6,
					     DEV_IOVA + k * bs));
	EXPECT_TRUE(dev_zero(f.mem + hot * bs, (nblocks - hot) * bs + PAGE));
	dev_fix_fini(&f);
}

static const struct fmt_variant {
	const char *name;
	enum pt_format format;
} all_formats[] = {
	{ "amdv1", PT_FMT_AMDV1 },
	{ "vtdss", PT_FMT_VTDSS },
	{ "arm-s1", PT_FMT_ARM_S1 },
	{ "mock", PT_FMT_MOCK },
};

static int harvest_pt(struct iova_bitmap *ib, uint64_t iova, uint64_t length,
		      void *opaque)
{
	return pt_read_and_clear_dirty(opaque, iova, length, 0, ib);
}

/*
 * Compare one harvest with memory: an IO page is dirty exactly when it
 * holds a block with a sequence number >= @since. Returns the number of
 * dirty pages.
 */
static uint64_t check_dirty(struct dev_fix *f, const struct dev_bits *bits,
			    uint64_t gran, uint32_t bs, uint64_t npages,
			    uint64_t since)
{
	uint64_t ndirty = 0;
	unsigned int bad = 0;

	for (uint64_t p = 0; p < npages; p++) {
		bool want = false;

		for (uint64_t off = 0; off < gran; off += bs) {
			const uint8_t *blk = f->mem + p * gran + off;
			const struct dma_block *b = (const void *)blk;

			if (dev_zero(blk, bs))
				continue;
			EXPECT_RC(0,
				  dma_block_check(blk, bs, f->index,
						  DEV_IOVA + p * gran + off));
			if (b->seq >= since)
				want = true;
		}
		ndirty += want;
		if (dev_bit(bits, p) != want && bad++ < 5)
			test_fail_at(__FILE__, __LINE__,
				     "page %" PRIu64
				     ": reported %d, written %d",
				     p, dev_bit(bits, p), want);
	}
	return ndirty;
}

TEST_VARIANTS(dma_dev, iommu_dirty, struct fmt_variant, all_formats)
{
	const uint64_t npages = 1024;
	uint64_t gran = pt_format_granule(v->format), len = npages * gran;
	uint32_t bs = (uint32_t)gran / 2;
	struct dev_fix f;
	struct dev_bits bits;
	uint64_t ndirty, since;

	dev_fix_init_fmt(&f, v->format, true, 9, 0, MEM_SIZE);
	ASSERT_LE(len, MEM_SIZE);
	dev_map(&f, 0, len, DEV_RW);
	ASSERT_RC(0, pt_set_dirty_tracking(f.dom, true));
	ASSERT_RC(0, pt_read_and_clear_dirty(f.dom, DEV_IOVA, len, 0, NULL));
	dev_bits_alloc(&bits, npages);

	/* Slow enough that stopping leaves most pages clean. */
	dev_setup(f.dev, DMA_PATTERN_RANDOM, bs, DEV_IOVA, len);
	dev_wr64(f.dev, DMA_REG_RATE, 2000ULL * bs);
	dev_run_until(f.dev, 200);
	dev_stop(f.dev);
	ASSERT_RC(0,
		  dev_harvest(&bits, DEV_IOVA, len, gran, harvest_pt, f.dom));
	ndirty = check_dirty(&f, &bits, gran, bs, npages, 0);
	EXPECT_GT(ndirty, 0);
	EXPECT_LT(ndirty, npages);

	/* Harvested pages are clean; only new writes show next time. */
	since = dev_rd64(f.dev, DMA_REG_SEQ);
	dev_run_until(f.dev, dev_rd64(f.dev, DMA_REG_WRITES) + 100);
	dev_stop(f.dev);
	ASSERT_RC(0,
		  dev_harvest(&bits, DEV_IOVA, len, gran, harvest_pt, f.dom));
	ndirty = check_dirty(&f, &bits, gran, bs, npages, since);
	EXPECT_GT(ndirty, 0);
	ASSERT_RC(0,
		  dev_harvest(&bits, DEV_IOVA, len, gran, harvest_pt, f.dom));
	EXPECT_EQ(check_dirty(&f, &bits, gran, bs, npages, ~0ULL), 0);
	dev_bits_free(&bits);
	dev_fix_fini(&f);
}

/* Run until the engine faults; the fault is reported, nothing crashes. */
static void run_to_fault(struct dev_fix *f)
{
	dev_wr32(f->dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	ASSERT_TRUE(dev_wait_status(f->dev,
				    DMA_STATUS_FAULT | DMA_STATUS_RUNNING,
				    DMA_STATUS_FAULT));
	/* RUN reads back 0: the fault stopped the engine. */
	EXPECT_EQ(dev_rd32(f->dev, DMA_REG_CTRL) & DMA_CTRL_RUN, 0);
	dma_dev_quiesce(f->dev);
	dma_dev_unquiesce(f->dev);
}

/* After a fault, a RUN without CLEAR is refused; CLEAR then RUN works. */
static void recover_from_fault(struct dev_fix *f, uint32_t bs, uint64_t nblocks)
{
	uint64_t w = dev_rd64(f->dev, DMA_REG_WRITES);

	dev_wr32(f->dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	dev_sleep_ms(20);
	EXPECT_EQ(dev_rd32(f->dev, DMA_REG_STATUS) & DMA_STATUS_RUNNING, 0);
	EXPECT_NE(dev_rd32(f->dev, DMA_REG_STATUS) & DMA_STATUS_FAULT, 0);
	EXPECT_EQ(dev_rd64(f->dev, DMA_REG_WRITES), w);

	dev_wr32(f->dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	EXPECT_EQ(dev_rd32(f->dev, DMA_REG_STATUS), 0);
	EXPECT_EQ(dev_rd64(f->dev, DMA_REG_FAULT_IOVA), 0);
	EXPECT_EQ(dev_rd32(f->dev, DMA_REG_FAULT_REASON), 0);
	EXPECT_EQ(dev_rd32(f->dev, DMA_REG_FAULT_WRITE), 0);
	EXPECT_EQ(dev_rd64(f->dev, DMA_REG_WRITES), 0);
	dev_run_until(f->dev, 2 * nblocks);
	dev_stop(f->dev);
	EXPECT_EQ(dev_rd32(f->dev, DMA_REG_STATUS), 0);
	for (uint64_t k = 0; k < nblocks; k++)
		EXPECT_RC(0, dma_block_check(f->mem + k * bs, bs, f->index,
					     DEV_IOVA + k * bs));
}

TEST(dma_dev, fault_unmapped)
{
	const uint64_t nblocks = 16;
	struct dev_fix f;

	dev_fix_init(&f, 8, 0, MEM_SIZE);
	dev_map(&f, 0, 8 * PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, PAGE, DEV_IOVA,
		  nblocks * PAGE);
	run_to_fault(&f);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_FAULT_IOVA), DEV_IOVA + 8 * PAGE);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_REASON), PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_WRITE), 1);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 8);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_BYTES), 8 * PAGE);
	EXPECT_EQ(atomic_load(&f.nfault), 1);
	for (uint64_t k = 0; k < 8; k++)
		EXPECT_RC(0, dma_block_check(f.mem + k * PAGE, PAGE, 8,
					     DEV_IOVA + k * PAGE));

	dev_map(&f, 8 * PAGE, 8 * PAGE, DEV_RW);
	recover_from_fault(&f, PAGE, nblocks);
	dev_fix_fini(&f);
}

TEST(dma_dev, fault_read_only)
{
	const uint64_t nblocks = 16;
	struct dev_fix f;

	dev_fix_init(&f, 8, 0, MEM_SIZE);
	dev_map(&f, 0, 3 * PAGE, DEV_RW);
	dev_map(&f, 3 * PAGE, PAGE, PT_PROT_READ);
	dev_map(&f, 4 * PAGE, 12 * PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, PAGE, DEV_IOVA,
		  nblocks * PAGE);
	run_to_fault(&f);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_FAULT_IOVA), DEV_IOVA + 3 * PAGE);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_REASON), PT_FAULT_PERMISSION);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_WRITE), 1);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 3);
	EXPECT_TRUE(dev_zero(f.mem + 3 * PAGE, PAGE));

	EXPECT_EQ(pt_unmap(f.dom, DEV_IOVA + 3 * PAGE, PAGE), (int64_t)PAGE);
	dev_map(&f, 3 * PAGE, PAGE, DEV_RW);
	recover_from_fault(&f, PAGE, nblocks);
	dev_fix_fini(&f);
}

TEST(dma_dev, fault_mid_block_and_no_path)
{
	struct dma_path path = { .write = dev_path_write };
	struct dev_fix f;

	dev_fix_init(&f, 8, 0, MEM_SIZE);
	path.opaque = &f;
	/* A block over a hole faults at the first page it cannot reach. */
	dev_map(&f, 0, PAGE, DEV_RW);
	dev_map(&f, 2 * PAGE, 2 * PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 2 * PAGE, DEV_IOVA, 4 * PAGE);
	run_to_fault(&f);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_FAULT_IOVA), DEV_IOVA + PAGE);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_REASON), PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);

	/* No DMA path at all: the first write faults, unmapped. */
	dma_dev_set_path(f.dev, NULL);
	dev_map(&f, PAGE, PAGE, DEV_RW);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_wr64(f.dev, DMA_REG_WINDOW_IOVA, DEV_IOVA + 2 * PAGE);
	dev_wr64(f.dev, DMA_REG_WINDOW_SIZE, 2 * PAGE);
	run_to_fault(&f);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_FAULT_IOVA), DEV_IOVA + 2 * PAGE);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_REASON), PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_FAULT_WRITE), 1);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);
	EXPECT_TRUE(dev_zero(f.mem + 2 * PAGE, 2 * PAGE));

	dma_dev_set_path(f.dev, &path);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_run_until(f.dev, 4);
	dev_stop(f.dev);
	EXPECT_RC(0, dma_block_check(f.mem + 2 * PAGE, 2 * PAGE, 8,
				     DEV_IOVA + 2 * PAGE));
	dev_fix_fini(&f);
}

/*
 * Changing the block size while stopped leaves CURSOR where the old size
 * put it; the next block must still lie inside the window.
 */
TEST(dma_dev, window_bounds_after_block_size_change)
{
	const uint64_t win = 4 * PAGE;
	struct dev_fix f;

	dev_fix_init(&f, 10, 0, MEM_SIZE);
	/* 1 KiB blocks over three mapped pages: 12 land, the 13th faults. */
	dev_map(&f, 0, 3 * PAGE, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 1024, DEV_IOVA, win);
	run_to_fault(&f);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 12);

	/* Map the rest and a guard page; go on with whole-page blocks. */
	dev_map(&f, 3 * PAGE, 2 * PAGE, DEV_RW);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_wr32(f.dev, DMA_REG_BLOCK_SIZE, PAGE);
	dev_run_until(f.dev, 8);
	dev_stop(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_CURSOR) % PAGE, 0);
	EXPECT_TRUE(dev_zero(f.mem + win, PAGE));
	for (uint64_t k = 0; k < 4; k++)
		EXPECT_RC(0, dma_block_check(f.mem + k * PAGE, PAGE, 10,
					     DEV_IOVA + k * PAGE));
	dev_fix_fini(&f);
}

static void bar_wr32(uint8_t *bar, uint32_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(bar + off), v, __ATOMIC_RELEASE);
}

static void bar_wr64(uint8_t *bar, uint32_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(bar + off), v, __ATOMIC_RELEASE);
}

/* Writes through the mapped register page alone, as a guest makes them. */
TEST(dma_dev, bar_mapping_start_stop)
{
	struct dev_fix f;
	uint8_t *bar, *map;
	uint64_t w;

	dev_fix_init(&f, 11, 0, MEM_SIZE);
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	bar = dma_dev_bar0(f.dev);
	bar_wr32(bar, DMA_REG_PATTERN, DMA_PATTERN_SEQUENTIAL);
	bar_wr32(bar, DMA_REG_BLOCK_SIZE, 2048);
	bar_wr64(bar, DMA_REG_WINDOW_IOVA, DEV_IOVA);
	bar_wr64(bar, DMA_REG_WINDOW_SIZE, 64 * 1024);
	bar_wr32(bar, DMA_REG_CTRL, DMA_CTRL_RUN);
	/* The idle engine polls CTRL (every millisecond or so). */
	ASSERT_TRUE(
		dev_wait_status(f.dev, DMA_STATUS_RUNNING, DMA_STATUS_RUNNING));
	ASSERT_TRUE(dev_wait_writes(f.dev, 40));
	EXPECT_RC(0, dma_block_check(f.mem + 2048, 2048, 11, DEV_IOVA + 2048));

	/* And it notices a stop made the same way. */
	bar_wr32(bar, DMA_REG_CTRL, 0);
	ASSERT_TRUE(dev_wait_status(f.dev, DMA_STATUS_RUNNING, 0));
	dma_dev_quiesce(f.dev);
	dma_dev_unquiesce(f.dev);
	w = dev_rd64(f.dev, DMA_REG_WRITES);
	dev_sleep_ms(20);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), w);

	/* dma_dev_sync_bar() acts at once, through another mapping too. */
	map = mmap(NULL, DMA_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   dma_dev_bar0_fd(f.dev), 0);
	ASSERT_TRUE(map != MAP_FAILED);
	bar_wr32(map, DMA_REG_CTRL, DMA_CTRL_RUN);
	dma_dev_sync_bar(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), DMA_STATUS_RUNNING);
	ASSERT_TRUE(dev_wait_writes(f.dev, w + 10));
	bar_wr32(map, DMA_REG_CTRL, 0);
	dma_dev_sync_bar(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);
	dma_dev_quiesce(f.dev);
	dma_dev_unquiesce(f.dev);
	w = dev_rd64(f.dev, DMA_REG_WRITES);
	dev_sleep_ms(20);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), w);

	/* CLEAR through the page, synced. */
	bar_wr32(map, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dma_dev_sync_bar(f.dev);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), 0);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), 0);
	munmap(map, DMA_BAR0_SIZE);
	dev_fix_fini(&f);
}

/*
 * The mapped page bypasses the "fixed while running" rule: whatever lands
 * there while the engine runs must not make it write outside its window,
 * overrun its block buffer or divide by zero. It stops with BADCONFIG.
 */
TEST(dma_dev, bar_mapping_scribble_while_running)
{
	static const struct {
		const char *what;
		uint32_t off;
		unsigned int size;
		uint64_t val;
	} scribble[] = {
		{ "block size 2 MiB", DMA_REG_BLOCK_SIZE, 4, 2u << 20 },
		{ "block size 0", DMA_REG_BLOCK_SIZE, 4, 0 },
		{ "block size 8", DMA_REG_BLOCK_SIZE, 4, 8 },
		{ "block size 100", DMA_REG_BLOCK_SIZE, 4, 100 },
		{ "window 0", DMA_REG_WINDOW_SIZE, 8, 0 },
		{ "window 1000", DMA_REG_WINDOW_SIZE, 8, 1000 },
		{ "window wraps", DMA_REG_WINDOW_IOVA, 8, ~0ULL - 1023 },
		{ "pattern 9", DMA_REG_PATTERN, 4, 9 },
	};
	const uint64_t win = 16 * 1024, base = DEV_IOVA + PAGE;
	struct dev_fix f;
	uint8_t *bar;

	dev_fix_init(&f, 12, 0, MEM_SIZE);
	dev_map(&f, 0, 2ULL << 20, DEV_RW);
	bar = dma_dev_bar0(f.dev);
	for (size_t i = 0; i < sizeof(scribble) / sizeof(scribble[0]); i++) {
		uint32_t st;

		dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
		dev_setup(f.dev,
			  i % 2 ? DMA_PATTERN_RANDOM : DMA_PATTERN_SEQUENTIAL,
			  1024, base, win);
		dev_run_until(f.dev, 5);
		if (scribble[i].size == 8)
			bar_wr64(bar, scribble[i].off, scribble[i].val);
		else
			bar_wr32(bar, scribble[i].off,
				 (uint32_t)scribble[i].val);
		ASSERT_TRUE(dev_wait_status(f.dev, DMA_STATUS_RUNNING, 0));
		dma_dev_quiesce(f.dev);
		dma_dev_unquiesce(f.dev);
		st = dev_rd32(f.dev, DMA_REG_STATUS);
		if (st != DMA_STATUS_BADCONFIG)
			test_fail_at(__FILE__, __LINE__,
				     "%s: STATUS 0x%x, want BADCONFIG",
				     scribble[i].what, st);
		EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), 0);
		if (!dev_zero(f.mem, PAGE) ||
		    !dev_zero(f.mem + PAGE + win, (2ULL << 20) - PAGE - win))
			test_fail_at(__FILE__, __LINE__,
				     "%s: DMA outside the window",
				     scribble[i].what);
	}

	/* A scribbled CURSOR (read-only, but the page is memory) cannot
	 * push a block past the end of the window either. */
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, 1024, base, win);
	bar_wr64(bar, DMA_REG_CURSOR, win - 64);
	dev_run_until(f.dev, 40);
	dev_stop(f.dev);
	EXPECT_TRUE(dev_zero(f.mem + PAGE + win, PAGE));
	dev_fix_fini(&f);
}

TEST(dma_dev, quiesce_holds_dma)
{
	struct dev_fix f;
	uint64_t w, n;

	dev_fix_init(&f, 13, 0, MEM_SIZE);
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_RANDOM, 512, DEV_IOVA, 64 * 1024);

	/* Quiescing a stopped device is harmless and keeps it stopped. */
	dma_dev_quiesce(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), DMA_STATUS_QUIESCED);
	dma_dev_quiesce(f.dev);
	dma_dev_unquiesce(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);

	dev_run_until(f.dev, 20);
	dma_dev_quiesce(f.dev);
	w = dev_rd64(f.dev, DMA_REG_WRITES);
	n = dev_ntrace(&f);
	EXPECT_EQ(n, w);
	dev_sleep_ms(30);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), w);
	EXPECT_EQ(dev_ntrace(&f), n);
	/* RUN is kept: quiesce is not a stop. */
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS),
		  DMA_STATUS_RUNNING | DMA_STATUS_QUIESCED);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_CTRL), DMA_CTRL_RUN);
	dma_dev_unquiesce(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), DMA_STATUS_RUNNING);
	ASSERT_TRUE(dev_wait_writes(f.dev, w + 20));

	/* A RUN while quiesced waits for unquiesce. */
	dev_stop(f.dev);
	dma_dev_quiesce(f.dev);
	w = dev_rd64(f.dev, DMA_REG_WRITES);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	dev_sleep_ms(30);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_WRITES), w);
	dma_dev_unquiesce(f.dev);
	ASSERT_TRUE(dev_wait_writes(f.dev, w + 20));
	dev_stop(f.dev);
	EXPECT_EQ(dev_rd32(f.dev, DMA_REG_STATUS), 0);
	dev_fix_fini(&f);
}

static void *destroy_main(void *arg)
{
	dma_dev_destroy(arg);
	return NULL;
}

/*
 * RATE bounds how fast the engine writes (a bound only: it may be
 * slower), takes effect while the engine runs, and however slow it is set, the engine's pause between blocks
 * does not hold up a restart or destroy.
 */
TEST(dma_dev, rate)
{
	const uint32_t bs = 4096;
	struct timespec limit;
	struct dev_fix f;
	uint64_t t0, t1, w;
	pthread_t thr;

	dev_fix_init(&f, 14, 0, MEM_SIZE);
	dev_map(&f, 0, 64 * 1024, DEV_RW);
	dev_setup(f.dev, DMA_PATTERN_SEQUENTIAL, bs, DEV_IOVA, 64 * 1024);
	dev_wr64(f.dev, DMA_REG_RATE, 50ULL * bs);
	t0 = dev_now_ms();
	dev_run_until(f.dev, 3);
	dev_sleep_ms(100);
	w = dev_rd64(f.dev, DMA_REG_WRITES);
	t1 = dev_now_ms();
	/* 50 blocks a second: at most one more than the time allows. */
	EXPECT_LE(w, 2 + (t1 - t0) * 50 / 1000);
	dev_stop(f.dev);

	/* RATE, unlike the rest, changes while running: from the next block. */
	dev_wr64(f.dev, DMA_REG_RATE, 0);
	dev_run_until(f.dev, w + 20);
	dev_wr64(f.dev, DMA_REG_RATE, 50ULL * bs);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_RATE), 50ULL * bs);
	dev_sleep_ms(20);	/* the block in flight at full speed ends */
	t0 = dev_now_ms();
	w = dev_rd64(f.dev, DMA_REG_WRITES);
	dev_sleep_ms(100);
	t1 = dev_now_ms();
	EXPECT_LE(dev_rd64(f.dev, DMA_REG_WRITES) - w, 2 + (t1 - t0) * 50 / 1000);
	dev_stop(f.dev);

	/* One block per 64 seconds; stop, go full speed, restart. */
	dev_wr64(f.dev, DMA_REG_RATE, 64);
	dev_wr32(f.dev, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	dev_run_until(f.dev, 1);
	dev_stop(f.dev);
	dev_wr64(f.dev, DMA_REG_RATE, 0);
	dev_run_until(f.dev, 10);

	/* Slow again, then destroy: it must not wait out the pause. */
	dev_stop(f.dev);
	dev_wr64(f.dev, DMA_REG_RATE, 64);
	dev_run_until(f.dev, dev_rd64(f.dev, DMA_REG_WRITES) + 1);
	ASSERT_RC(0, pthread_create(&thr, NULL, destroy_main, f.dev));
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += DEV_WAIT_MS / 1000;
	ASSERT_RC(0, pthread_timedjoin_np(thr, NULL, &limit));
	f.dev = NULL;
	dev_fix_fini(&f);
}
