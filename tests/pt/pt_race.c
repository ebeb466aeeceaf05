// SPDX-License-Identifier: MIT
/*
 * pt_race.c - DMA writes racing dirty harvests lose nothing (pt.h:
 * "a DMA write that completed before a harvest started is reported by that
 * harvest, one concurrent with it by that harvest or the next").
 *
 * Writer threads play devices: each owns some pages and writes records
 * with rising generation numbers into them through pt_dma_write(), and
 * after each write returns publishes the page's completed generation. The
 * test thread plays the migration loop: it snapshots the completed
 * generations, harvests (read-and-clear) the whole range, and "sends" every
 * reported page by reading its generation from memory into a copy. After
 * each harvest every page's copy must hold at least the generation that had
 * completed before the harvest started: a write whose dirty bit was lost, or
 * whose data landed after its dirty bit was harvested (marking before the
 * data moves), leaves a stale copy that no later report repairs. At the end,
 * with the writers stopped, one more harvest must leave every copy equal to
 * memory.
 *
 * Pages sit both in granule leaves (one dirty bit each) and in huge leaves
 * that all writers share. Each format runs for about half a second
 * (IODIRTY_TEST_SCALE stretches it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pt_common.h"

enum {
	NSMALL = 256, /* pages in granule leaves */
	NHUGE_LEAVES = 8,
	NHUGE = 256, /* pages in huge leaves, 32 in each */
	NPAGES = NSMALL + NHUGE,
	NWRITERS = 3,
	REC_BYTES = 256,
	RUN_MS = 500,
};

#define REC_MAGIC 0x5a5aa5a5f00dcafeULL

/* What a writer puts at the start of a page: torn reads are detectable. */
struct rec {
	uint64_t gen, check;
	uint8_t fill[REC_BYTES - 24];
	uint64_t tail;
};

struct race {
	struct pt_domain *dom;
	uint64_t iova0, span, gran;
	uint64_t iova[NPAGES];
	const uint8_t *host[NPAGES];
	unsigned int bit[NPAGES]; /* in a bitmap of one bit per granule */
	_Atomic uint64_t completed[NPAGES];
	atomic_bool stop;
	atomic_int error; /* first failed pt_dma_write() */
	_Atomic uint64_t writes;
};

struct writer {
	pthread_t thread;
	struct race *r;
	unsigned int id;
	uint64_t rng;
	uint64_t gen[NPAGES]; /* this writer's pages only */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct race *r = w->r;
	uint64_t n = 0;
	struct rec rec;

	memset(&rec, 0, sizeof(rec));
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		unsigned int p = (unsigned int)(test_rand(&w->rng) % NPAGES);
		int rc;

		p -= p % NWRITERS;
		p += w->id;
		if (p >= NPAGES)
			continue;
		rec.gen = ++w->gen[p];
		rec.check = rec.gen ^ REC_MAGIC;
		rec.tail = rec.gen;
		rc = pt_dma_write(r->dom, r->iova[p], &rec, sizeof(rec), NULL);
		if (rc) {
			int none = 0;

			atomic_compare_exchange_strong(&r->error, &none, rc);
			break;
		}
		atomic_store_explicit(&r->completed[p], rec.gen,
				      memory_order_release);
		n++;
	}
	atomic_fetch_add(&r->writes, n);
	return NULL;
}

/*
 * The CPU reading a page a device may be writing at that moment. As with
 * real DMA this race is outside the C memory model, so ThreadSanitizer is
 * told not to watch these reads; the writer's memcpy() in the engine is
 * still instrumented. Return whether the record was whole (a page never
 * written is all zero, and whole).
 */
__attribute__((noinline, no_sanitize("thread"))) static bool
read_gen(const uint8_t *page, uint64_t *gen)
{
	const volatile uint64_t *w = (const volatile uint64_t *)page;
	uint64_t g = w[0], check = w[1];
	uint64_t tail = w[offsetof(struct rec, tail) / 8];

	*gen = g;
	if (!g && !check && !tail)
		return true;
	return check == (g ^ REC_MAGIC) && tail == g;
}

static uint64_t copy_page(const uint8_t *page, unsigned long *retries)
{
	uint64_t gen;

	while (!read_gen(page, &gen)) {
		(*retries)++;
		sched_yield();
	}
	return gen;
}

/* One read-and-clear of the whole range, into @bm, one bit per granule. */
static void harvest(struct race *r, uint8_t *bm, size_t bm_bytes)
{
	struct iova_bitmap *ib;

	memset(bm, 0, bm_bytes);
	ib = iova_bitmap_alloc(r->iova0, r->span, r->gran, (uintptr_t)bm, NULL);
	ASSERT_FALSE(IS_ERR(ib));
	ASSERT_RC(0, pt_read_and_clear_dirty(r->dom, r->iova0, r->span, 0, ib));
	iova_bitmap_free(ib);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

TEST_VARIANTS(pt_race, dma_vs_harvest, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format), huge = g << 9;
	uint64_t snap[NPAGES], copy[NPAGES] = { 0 }, deadline;
	unsigned long harvests = 0, reports = 0, overlapped = 0, retries = 0;
	struct pt_config cfg = { .format = v->format, .dirty_tracking = true };
	struct writer *w;
	struct pt_mem mem;
	struct race *r;
	uint8_t bm[(1 + NHUGE_LEAVES) * 512 / 8];
	int i;

	r = calloc(1, sizeof(*r));
	w = calloc(NWRITERS, sizeof(*w));
	ASSERT_TRUE(r && w);
	r->gran = g;
	r->dom = pt_domain_alloc(&cfg);
	ASSERT_FALSE(IS_ERR(r->dom));

	/* [iova0, +huge): granule leaves; then huge leaves. */
	r->iova0 = 1024 * huge;
	r->span = (1 + NHUGE_LEAVES) * huge;
	pt_mem_alloc(&mem, r->span, huge);
	ASSERT_RC(0, pt_map_pgsizes(r->dom, r->iova0, (uintptr_t)mem.base, huge,
				    RW, g));
	ASSERT_RC(0, pt_map(r->dom, r->iova0 + huge, (uintptr_t)mem.base + huge,
			    NHUGE_LEAVES * huge, RW));
	for (unsigned int p = 0; p < NPAGES; p++) {
		unsigned int h = p - NSMALL;
		uint64_t off = p < NSMALL ? p * g :
					    (1 + h % NHUGE_LEAVES) * huge +
						    (h / NHUGE_LEAVES) * 16 * g;

		r->iova[p] = r->iova0 + off;
		r->host[p] = mem.base + off;
		r->bit[p] = (unsigned int)(off / g);
		atomic_init(&r->completed[p], 0);
	}
	ASSERT_EQ(sizeof(bm) * 8, r->span / g);
	/* ARM's writable leaves start dirty; start everyone clean. */
	ASSERT_RC(0,
		  pt_read_and_clear_dirty(r->dom, r->iova0, r->span, 0, NULL));
	ASSERT_RC(0, pt_set_dirty_tracking(r->dom, true));

	for (i = 0; i < NWRITERS; i++) {
		w[i].r = r;
		w[i].id = (unsigned int)i;
		w[i].rng = test_seed() + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
		ASSERT_EQ(
			pthread_create(&w[i].thread, NULL, writer_main, &w[i]),
			0);
	}

	deadline = now_ms() + (uint64_t)(RUN_MS * pt_test_env_scale());
	while (now_ms() < deadline && !atomic_load(&r->error)) {
		bool moved = false;

		for (unsigned int p = 0; p < NPAGES; p++)
			snap[p] = atomic_load_explicit(&r->completed[p],
						       memory_order_acquire);
		harvest(r, bm, sizeof(bm));
		harvests++;
		for (unsigned int p = 0; p < NPAGES; p++) {
			if (atomic_load_explicit(&r->completed[p],
						 memory_order_relaxed) !=
			    snap[p])
				moved = true;
			if (!pt_bit(bm, r->bit[p]))
				continue;
			copy[p] = copy_page(r->host[p], &retries);
			reports++;
		}
		overlapped += moved;
		for (unsigned int p = 0; p < NPAGES; p++) {
			if (copy[p] >= snap[p])
				continue;
			atomic_store(&r->stop, true);
			for (i = 0; i < NWRITERS; i++)
				pthread_join(w[i].thread, NULL);
			test_fail_at(__FILE__, __LINE__,
				     "harvest %lu: page %u (iova 0x%" PRIx64
				     ") completed generation %" PRIu64
				     " before the harvest began, but the copy"
				     " holds %" PRIu64
				     ": its dirty bit was lost",
				     harvests, p, r->iova[p], snap[p], copy[p]);
			test_abort();
		}
	}
	atomic_store(&r->stop, true);
	for (i = 0; i < NWRITERS; i++)
		ASSERT_EQ(pthread_join(w[i].thread, NULL), 0);
	ASSERT_RC(0, atomic_load(&r->error));

	/* Quiesced: one more pass makes every copy exact. */
	harvest(r, bm, sizeof(bm));
	for (unsigned int p = 0; p < NPAGES; p++) {
		uint64_t done = atomic_load(&r->completed[p]);

		if (pt_bit(bm, r->bit[p]))
			copy[p] = copy_page(r->host[p], &retries);
		EXPECT_EQ(copy_page(r->host[p], &retries), done);
		EXPECT_EQ(copy[p], done);
	}
	harvest(r, bm, sizeof(bm));
	for (size_t b = 0; b < sizeof(bm); b++)
		EXPECT_EQ(bm[b], 0);

	/* The race did happen: writes landed while harvests ran. */
	EXPECT_GT(atomic_load(&r->writes), 1000);
	EXPECT_GT(harvests, 20);
	EXPECT_GT(reports, 0);
	EXPECT_GT(overlapped, 10);

	pt_domain_free(r->dom);
	pt_mem_free(&mem);
	free(w);
	free(r);
}
