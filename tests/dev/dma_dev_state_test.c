// SPDX-License-Identifier: MIT
/*
 * dma_dev_state_test.c - a DMA device's migratable state
 * (include/iodirty/dev.h): dma_dev_save()/dma_dev_load() between two
 * devices of the same index and caps, so that the destination goes on with
 * the same sequence of blocks; what load refuses (and that it then changes
 * nothing); STATE_SIZE limits; and pre-copy, where a full state and deltas
 * of the changed chunks rebuild the source's state byte for byte.
 */
#include "dma_dev_common.h"

#define MEM_SIZE (4ULL << 20)
#define WIN	 (256ULL * 1024)
#define CAPS	 (DMA_CAP_LOG | DMA_CAP_PRECOPY)

struct blob {
	uint8_t *buf;
	uint64_t len;
};

static void save(struct dma_dev *d, struct blob *b)
{
	b->len = dma_dev_state_size(d);
	b->buf = malloc(b->len);
	ASSERT_TRUE(b->buf);
	ASSERT_EQ(dma_dev_save(d, b->buf, b->len), (int64_t)b->len);
}

static bool same_state(struct dma_dev *d, const struct blob *b)
{
	struct blob now;
	bool same;

	save(d, &now);
	same = now.len == b->len && !memcmp(now.buf, b->buf, b->len);
	free(now.buf);
	return same;
}

static void setup_window(struct dev_fix *f, enum dma_pattern pattern,
			 uint64_t seed, uint64_t state_size)
{
	dev_map(f, 0, WIN, DEV_RW);
	dev_setup(f->dev, pattern, 1024, DEV_IOVA, WIN);
	dev_wr64(f->dev, DMA_REG_SEED, seed);
	dev_wr64(f->dev, DMA_REG_STATE_SIZE, state_size);
	ASSERT_EQ(dev_rd64(f->dev, DMA_REG_STATE_SIZE), state_size);
}

/*
 * Run both engines from where they are and check they write the same
 * blocks, in the same order, with the same sequence numbers, starting at
 * @seq.
 */
static void check_same_continuation(struct dev_fix *a, struct dev_fix *b,
				    uint64_t seq)
{
	const uint64_t k = 200;
	uint64_t wa = dev_rd64(a->dev, DMA_REG_WRITES);
	uint64_t wb = dev_rd64(b->dev, DMA_REG_WRITES);

	dev_trace_reset(a);
	dev_trace_reset(b);
	dev_wr32(a->dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	dev_wr32(b->dev, DMA_REG_CTRL, DMA_CTRL_RUN);
	ASSERT_TRUE(dev_wait_writes(a->dev, wa + k));
	ASSERT_TRUE(dev_wait_writes(b->dev, wb + k));
	dev_stop(a->dev);
	dev_stop(b->dev);
	ASSERT_GE(dev_ntrace(a), k);
	ASSERT_GE(dev_ntrace(b), k);
	EXPECT_EQ(b->trace[0].seq, seq);
	for (uint64_t i = 0; i < k; i++)
		if (a->trace[i].iova != b->trace[i].iova ||
		    a->trace[i].seq != b->trace[i].seq) {
			test_fail_at(__FILE__, __LINE__,
				     "write %" PRIu64 ": 0x%" PRIx64 "/%" PRIu64
				     " vs 0x%" PRIx64 "/%" PRIu64,
				     i, a->trace[i].iova, a->trace[i].seq,
				     b->trace[i].iova, b->trace[i].seq);
			break;
		}
	EXPECT_RC(0, dma_block_check(dev_at(b, b->trace[k - 1].iova), 1024,
				     b->index, b->trace[k - 1].iova));
}

struct size_variant {
	const char *name;
	uint64_t state_size;
};

static const struct size_variant state_sizes[] = {
	{ "0", 0 },
	{ "1M", 1ULL << 20 },
	{ "64M", 64ULL << 20 },
};

TEST_VARIANTS(dma_dev, state_round_trip, struct size_variant, state_sizes)
{
	struct dev_fix src, dst;
	struct blob b;
	uint64_t seq;

	dev_fix_init(&src, 3, CAPS, MEM_SIZE);
	dev_fix_init(&dst, 3, CAPS, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_RANDOM, 4242, v->state_size);
	dev_map(&dst, 0, WIN, DEV_RW);
	dev_wr64(src.dev, DMA_REG_HOT_SIZE, 8192);
	dev_wr64(src.dev, DMA_REG_RATE, 0);
	dev_run_until(src.dev, 300);
	dev_stop(src.dev);
	EXPECT_EQ(dma_dev_state_size(src.dev),
		  dma_dev_state_size(dst.dev) + v->state_size);

	save(src.dev, &b);
	ASSERT_RC(0, dma_dev_load(dst.dev, b.buf, b.len));
	EXPECT_TRUE(same_state(dst.dev, &b));
	EXPECT_EQ(dma_dev_state_size(dst.dev), b.len);
	seq = dev_rd64(src.dev, DMA_REG_SEQ);
	EXPECT_EQ(dev_rd64(dst.dev, DMA_REG_SEQ), seq);
	EXPECT_EQ(dev_rd64(dst.dev, DMA_REG_WRITES),
		  dev_rd64(src.dev, DMA_REG_WRITES));
	EXPECT_EQ(dev_rd64(dst.dev, DMA_REG_STATE_SIZE), v->state_size);
	EXPECT_EQ(dev_rd64(dst.dev, DMA_REG_SEED), 4242);
	EXPECT_EQ(dev_rd32(dst.dev, DMA_REG_PATTERN), DMA_PATTERN_RANDOM);
	EXPECT_EQ(dev_rd32(dst.dev, DMA_REG_STATUS), 0);

	/* RUN on both: the destination writes what the source writes. */
	check_same_continuation(&src, &dst, seq);
	free(b.buf);
	dev_fix_fini(&dst);
	dev_fix_fini(&src);
}

/*
 * As VFIO migrates: the source is quiesced with RUN still set, and the
 * destination runs once loaded (and, if it was quiesced, unquiesced).
 */
TEST(dma_dev, state_migrate_running)
{
	struct dev_fix src, dst, dst2;
	struct blob b;
	uint64_t seq;

	dev_fix_init(&src, 5, CAPS, MEM_SIZE);
	dev_fix_init(&dst, 5, CAPS, MEM_SIZE);
	dev_fix_init(&dst2, 5, CAPS, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_SEQUENTIAL, 1, 4096);
	dev_map(&dst, 0, WIN, DEV_RW);
	dev_map(&dst2, 0, WIN, DEV_RW);
	dev_run_until(src.dev, 100);
	dma_dev_quiesce(src.dev);
	save(src.dev, &b);
	seq = dev_rd64(src.dev, DMA_REG_SEQ);

	/* Quiesced destination: it waits, then goes on at SEQ. */
	dma_dev_quiesce(dst.dev);
	ASSERT_RC(0, dma_dev_load(dst.dev, b.buf, b.len));
	EXPECT_EQ(dev_rd32(dst.dev, DMA_REG_STATUS),
		  DMA_STATUS_RUNNING | DMA_STATUS_QUIESCED);
	dev_sleep_ms(20);
	EXPECT_EQ(dev_ntrace(&dst), 0);
	dma_dev_unquiesce(dst.dev);
	EXPECT_EQ(dev_rd32(dst.dev, DMA_REG_STATUS), DMA_STATUS_RUNNING);
	ASSERT_TRUE(dev_wait_writes(dst.dev, seq + 50));
	dev_stop(dst.dev);
	EXPECT_EQ(dst.trace[0].seq, seq);
	EXPECT_EQ(dst.trace[0].iova, DEV_IOVA + seq % (WIN / 1024) * 1024);

	/* A destination that was never quiesced starts at once. */
	ASSERT_RC(0, dma_dev_load(dst2.dev, b.buf, b.len));
	ASSERT_TRUE(dev_wait_writes(dst2.dev, seq + 50));
	EXPECT_EQ(dev_rd32(dst2.dev, DMA_REG_STATUS), DMA_STATUS_RUNNING);
	dev_stop(dst2.dev);
	EXPECT_EQ(dst2.trace[0].seq, seq);

	free(b.buf);
	dev_fix_fini(&dst2);
	dev_fix_fini(&dst);
	dev_fix_fini(&src);
}

static uint64_t fnv1a64(const uint8_t *p, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

TEST(dma_dev, state_load_rejects)
{
	struct dev_fix src, dst, other_index, other_caps;
	struct blob b, before, tmp;
	uint64_t lens[6];

	dev_fix_init(&src, 3, CAPS, MEM_SIZE);
	dev_fix_init(&dst, 3, CAPS, MEM_SIZE);
	dev_fix_init(&other_index, 4, CAPS, MEM_SIZE);
	dev_fix_init(&other_caps, 3, DMA_CAP_LOG, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_RANDOM, 99, 4096);
	dev_run_until(src.dev, 50);
	dev_stop(src.dev);
	save(src.dev, &b);

	/* The destination has a state of its own, which must survive. */
	setup_window(&dst, DMA_PATTERN_HOTSET, 5, 8192);
	save(dst.dev, &before);

	tmp.len = b.len + 8;
	tmp.buf = calloc(1, tmp.len);
	ASSERT_TRUE(tmp.buf);
	memcpy(tmp.buf, b.buf, b.len);
	/* Any one byte flipped: magic, header, registers, state, checksum. */
	for (uint64_t i = 0; i < b.len; i++) {
		tmp.buf[i] ^= 0x20;
		if (dma_dev_load(dst.dev, tmp.buf, b.len) != -EINVAL) {
			test_fail_at(__FILE__, __LINE__,
				     "byte %" PRIu64 " of %" PRIu64
				     " flipped: not refused",
				     i, b.len);
			break;
		}
		tmp.buf[i] ^= 0x20;
	}
	EXPECT_TRUE(same_state(dst.dev, &before));

	/* Short or long by any amount. */
	lens[0] = 0;
	lens[1] = 8;
	lens[2] = 64;
	lens[3] = b.len - 8;
	lens[4] = b.len - 1;
	lens[5] = b.len + 8;
	for (unsigned int i = 0; i < 6; i++)
		EXPECT_RC(-EINVAL, dma_dev_load(dst.dev, tmp.buf, lens[i]));
	EXPECT_TRUE(same_state(dst.dev, &before));

	/* Another slot, another kind of device. */
	save(other_index.dev, &before);
	EXPECT_RC(-EINVAL, dma_dev_load(other_index.dev, b.buf, b.len));
	EXPECT_TRUE(same_state(other_index.dev, &before));
	free(before.buf);
	save(other_caps.dev, &before);
	EXPECT_RC(-EINVAL, dma_dev_load(other_caps.dev, b.buf, b.len));
	EXPECT_TRUE(same_state(other_caps.dev, &before));
	free(before.buf);

	/* The untouched state loads. */
	ASSERT_RC(0, dma_dev_load(dst.dev, b.buf, b.len));
	EXPECT_TRUE(same_state(dst.dev, &b));

	free(tmp.buf);
	free(b.buf);
	dev_fix_fini(&other_caps);
	dev_fix_fini(&other_index);
	dev_fix_fini(&dst);
	dev_fix_fini(&src);
}

/*
 * The checksum is no authentication: a stream may carry registers that
 * make no sense with a valid checksum (the format's trailing FNV-1a). The
 * destination must not DMA with them: it refuses the state, or the engine
 * refuses to run it (BADCONFIG), and nothing lands outside the window.
 */
TEST(dma_dev, state_load_nonsense_registers)
{
	static const struct {
		const char *what;
		uint32_t off;
		unsigned int size;
		uint64_t val;
	} bad[] = {
		{ "block size 0", DMA_REG_BLOCK_SIZE, 4, 0 },
		{ "block size 4 MiB", DMA_REG_BLOCK_SIZE, 4, 4u << 20 },
		{ "window 0", DMA_REG_WINDOW_SIZE, 8, 0 },
		{ "window 100", DMA_REG_WINDOW_SIZE, 8, 100 },
		{ "pattern 77", DMA_REG_PATTERN, 4, 77 },
	};
	struct dev_fix src, dst;
	uint64_t regs = 0;
	struct blob b;
	uint8_t *bar;

	dev_fix_init(&src, 6, CAPS, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_RANDOM, 3, 0);
	dev_run_until(src.dev, 10);
	dma_dev_quiesce(src.dev);
	save(src.dev, &b);
	/* Find the registers in the stream: the bytes of BAR0. */
	bar = dma_dev_bar0(src.dev);
	while (regs + DMA_REG_END <= b.len &&
	       memcmp(b.buf + regs, bar, DMA_REG_END))
		regs++;
	ASSERT_LE(regs + DMA_REG_END, b.len - 8);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct blob t = { malloc(b.len), b.len };
		uint64_t h;
		int rc;

		ASSERT_TRUE(t.buf);
		memcpy(t.buf, b.buf, b.len);
		memcpy(t.buf + regs + bad[i].off, &bad[i].val, bad[i].size);
		h = fnv1a64(t.buf, t.len - 8);
		memcpy(t.buf + t.len - 8, &h, 8);
		dev_fix_init(&dst, 6, CAPS, MEM_SIZE);
		dev_map(&dst, 0, MEM_SIZE, DEV_RW);
		rc = dma_dev_load(dst.dev, t.buf, t.len);
		if (!rc) {
			if (!dev_wait_status(dst.dev, DMA_STATUS_RUNNING, 0))
				test_fail_at(__FILE__, __LINE__,
					     "%s: the engine runs",
					     bad[i].what);
			dev_stop(dst.dev);
			EXPECT_NE(dev_rd32(dst.dev, DMA_REG_STATUS) &
					  DMA_STATUS_BADCONFIG,
				  0);
			for (uint64_t o = WIN; o < MEM_SIZE; o++)
				if (dst.mem[o]) {
					test_fail_at(__FILE__, __LINE__,
						     "%s: DMA past the window",
						     bad[i].what);
					break;
				}
		} else {
			EXPECT_RC(-EINVAL, rc);
		}
		dev_fix_fini(&dst);
		free(t.buf);
	}
	free(b.buf);
	dev_fix_fini(&src);
}

TEST(dma_dev, state_save_and_size_limits)
{
	struct dev_fix f;
	uint64_t need, base;
	uint8_t *buf;

	dev_fix_init(&f, 1, CAPS, MEM_SIZE);
	base = dma_dev_state_size(f.dev);
	dev_wr64(f.dev, DMA_REG_STATE_SIZE, 65536);
	EXPECT_EQ(dma_dev_state_size(f.dev), base + 65536);
	need = dma_dev_state_size(f.dev);
	buf = malloc(need);
	ASSERT_TRUE(buf);
	EXPECT_EQ(dma_dev_save(f.dev, buf, 0), -ENOSPC);
	EXPECT_EQ(dma_dev_save(f.dev, buf, need - 1), -ENOSPC);
	EXPECT_EQ(dma_dev_save(f.dev, buf, need), (int64_t)need);

	/* Beyond 512 MiB the write is dropped. */
	dev_wr64(f.dev, DMA_REG_STATE_SIZE, DMA_STATE_MAX + 1);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_STATE_SIZE), 65536);
	dev_wr64(f.dev, DMA_REG_STATE_SIZE, ~0ULL);
	EXPECT_EQ(dev_rd64(f.dev, DMA_REG_STATE_SIZE), 65536);
	EXPECT_EQ(dma_dev_state_size(f.dev), need);
	dev_wr64(f.dev, DMA_REG_STATE_SIZE, 0);
	EXPECT_EQ(dma_dev_state_size(f.dev), base);
	free(buf);
	dev_fix_fini(&f);
}

static void delta(struct dma_dev *d, struct blob *b)
{
	int64_t n;

	b->len = dma_dev_delta_size(d);
	b->buf = malloc(b->len);
	ASSERT_TRUE(b->buf);
	n = dma_dev_save_delta(d, b->buf, b->len);
	ASSERT_GT(n, 0);
	b->len = (uint64_t)n;
}

/*
 * Pre-copy as VFIO drives it: a full state while the source runs, deltas
 * while it keeps running, a last delta once it is quiesced; the quiesced
 * destination, fed the same, ends byte-identical and goes on at SEQ.
 */
TEST(dma_dev, precopy_rebuilds_state)
{
	/* A partial last chunk. */
	const uint64_t ssize = 4 * (1ULL << 20) + 1000;
	struct dev_fix src, dst;
	struct blob full, d, s;
	uint64_t dirty, seq;

	dev_fix_init(&src, 2, CAPS, MEM_SIZE);
	dev_fix_init(&dst, 2, CAPS, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_SEQUENTIAL, 1, ssize);
	dev_map(&dst, 0, WIN, DEV_RW);
	dma_dev_quiesce(dst.dev);

	ASSERT_RC(0, dma_dev_precopy_start(src.dev));
	EXPECT_EQ(dma_dev_precopy_dirty_bytes(src.dev), 0);
	dev_run_until(src.dev, 10);
	save(src.dev, &full);
	ASSERT_RC(0, dma_dev_load(dst.dev, full.buf, full.len));
	free(full.buf);

	for (int round = 0; round < 3; round++) {
		uint64_t w = dev_rd64(src.dev, DMA_REG_WRITES);

		ASSERT_TRUE(dev_wait_writes(src.dev, w + 300));
		dirty = dma_dev_precopy_dirty_bytes(src.dev);
		EXPECT_GT(dirty, 0);
		EXPECT_LE(dirty, ssize);
		ASSERT_TRUE(dev_wait_writes(src.dev, w + 600));
		EXPECT_GE(dma_dev_precopy_dirty_bytes(src.dev), dirty);
		delta(src.dev, &d);
		ASSERT_RC(0, dma_dev_load_delta(dst.dev, d.buf, d.len));
		free(d.buf);
	}
	dma_dev_quiesce(src.dev);
	delta(src.dev, &d);
	ASSERT_RC(0, dma_dev_load_delta(dst.dev, d.buf, d.len));
	free(d.buf);
	EXPECT_EQ(dma_dev_precopy_dirty_bytes(src.dev), 0);
	save(src.dev, &s);
	EXPECT_TRUE(same_state(dst.dev, &s));
	seq = dev_rd64(src.dev, DMA_REG_SEQ);

	/* The destination takes over where the source stopped. */
	dma_dev_unquiesce(dst.dev);
	ASSERT_TRUE(dev_wait_writes(dst.dev,
				    dev_rd64(src.dev, DMA_REG_WRITES) + 20));
	dev_stop(dst.dev);
	EXPECT_EQ(dst.trace[0].seq, seq);
	EXPECT_EQ(dst.trace[0].iova, DEV_IOVA + seq % (WIN / 1024) * 1024);

	dma_dev_precopy_stop(src.dev);
	free(s.buf);
	dev_fix_fini(&dst);
	dev_fix_fini(&src);
}

TEST(dma_dev, precopy_delta_carries_changed_chunks)
{
	const uint64_t ssize = 8ULL << 20;
	struct dev_fix src;
	struct blob empty, d, full;
	uint64_t dirty, extra;

	dev_fix_init(&src, 2, CAPS, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_SEQUENTIAL, 1, ssize);
	/* Slow enough that a short run leaves most chunks unchanged. */
	dev_wr64(src.dev, DMA_REG_RATE, 500 * 1024);
	ASSERT_RC(0, dma_dev_precopy_start(src.dev));

	/* Nothing changed: a delta is registers only. */
	delta(src.dev, &empty);
	EXPECT_LT(empty.len, DMA_STATE_CHUNK);
	EXPECT_GE(empty.len, DMA_REG_END + 8);

	dev_run_until(src.dev, 20);
	dma_dev_quiesce(src.dev);
	dirty = dma_dev_precopy_dirty_bytes(src.dev);
	ASSERT_GT(dirty, 0);
	EXPECT_EQ(dirty % DMA_STATE_CHUNK, 0);
	EXPECT_LT(dirty, ssize);
	delta(src.dev, &d);
	/* The changed chunks and a little framing for each, no more. */
	ASSERT_GE(d.len, empty.len + dirty);
	extra = d.len - empty.len - dirty;
	EXPECT_LE(extra, 64 * (dirty / DMA_STATE_CHUNK));
	EXPECT_EQ(dma_dev_precopy_dirty_bytes(src.dev), 0);
	free(d.buf);
	delta(src.dev, &d);
	EXPECT_EQ(d.len, empty.len);
	free(d.buf);

	/* A full save is a save too: what it sent is not changed since. */
	dma_dev_unquiesce(src.dev);
	dev_run_until(src.dev, dev_rd64(src.dev, DMA_REG_WRITES) + 20);
	dma_dev_quiesce(src.dev);
	EXPECT_GT(dma_dev_precopy_dirty_bytes(src.dev), 0);
	save(src.dev, &full);
	EXPECT_EQ(dma_dev_precopy_dirty_bytes(src.dev), 0);

	/* A buffer too small for the changed chunks. */
	dma_dev_unquiesce(src.dev);
	dev_run_until(src.dev, dev_rd64(src.dev, DMA_REG_WRITES) + 20);
	dma_dev_quiesce(src.dev);
	d.buf = malloc(empty.len + 16);
	ASSERT_TRUE(d.buf);
	EXPECT_EQ(dma_dev_save_delta(src.dev, d.buf, empty.len + 16), -ENOSPC);
	EXPECT_EQ(dma_dev_save_delta(src.dev, d.buf, 8), -ENOSPC);
	EXPECT_GT(dma_dev_precopy_dirty_bytes(src.dev), 0);
	free(d.buf);

	dma_dev_precopy_stop(src.dev);
	free(full.buf);
	free(empty.buf);
	dev_fix_fini(&src);
}

TEST(dma_dev, precopy_delta_rejects)
{
	struct dev_fix src, dst, other;
	struct blob full, d, before;

	dev_fix_init(&src, 2, CAPS, MEM_SIZE);
	dev_fix_init(&dst, 2, CAPS, MEM_SIZE);
	dev_fix_init(&other, 2, CAPS, MEM_SIZE);
	setup_window(&src, DMA_PATTERN_SEQUENTIAL, 1, 1ULL << 20);
	ASSERT_RC(0, dma_dev_precopy_start(src.dev));
	save(src.dev, &full);
	ASSERT_RC(0, dma_dev_load(dst.dev, full.buf, full.len));
	dev_run_until(src.dev, 100);
	dma_dev_quiesce(src.dev);
	delta(src.dev, &d);
	ASSERT_GT(d.len, DMA_STATE_CHUNK);

	/* A delta for another size of state. */
	dev_wr64(other.dev, DMA_REG_STATE_SIZE, 2ULL << 20);
	save(other.dev, &before);
	EXPECT_RC(-EINVAL, dma_dev_load_delta(other.dev, d.buf, d.len));
	EXPECT_TRUE(same_state(other.dev, &before));
	free(before.buf);

	/* Damaged or cut: refused, nothing applied. */
	save(dst.dev, &before);
	for (uint64_t i = 0; i < d.len; i += d.len / 97 + 1) {
		d.buf[i] ^= 1;
		EXPECT_RC(-EINVAL, dma_dev_load_delta(dst.dev, d.buf, d.len));
		d.buf[i] ^= 1;
	}
	d.buf[d.len - 1] ^= 1;
	EXPECT_RC(-EINVAL, dma_dev_load_delta(dst.dev, d.buf, d.len));
	d.buf[d.len - 1] ^= 1;
	EXPECT_RC(-EINVAL, dma_dev_load_delta(dst.dev, d.buf, d.len - 1));
	EXPECT_RC(-EINVAL, dma_dev_load_delta(dst.dev, d.buf, 16));
	EXPECT_RC(-EINVAL, dma_dev_load_delta(dst.dev, d.buf, 0));
	EXPECT_RC(-EINVAL, dma_dev_load_delta(dst.dev, full.buf, full.len));
	EXPECT_TRUE(same_state(dst.dev, &before));
	free(before.buf);

	/* Intact, it applies. */
	dma_dev_quiesce(dst.dev);
	EXPECT_RC(0, dma_dev_load_delta(dst.dev, d.buf, d.len));
	free(full.buf);
	save(src.dev, &full);
	EXPECT_TRUE(same_state(dst.dev, &full));

	dma_dev_precopy_stop(src.dev);
	free(full.buf);
	free(d.buf);
	dev_fix_fini(&other);
	dev_fix_fini(&dst);
	dev_fix_fini(&src);
}
