// SPDX-License-Identifier: MIT
/*
 * pt_oracle.c - the page-table engine against a brute-force oracle.
 *
 * One suite, run for every format x page-size configuration: a seeded random
 * sequence of map, unmap (with and without a dirty bitmap), DMA write, DMA
 * read, dirty harvest (clearing or PT_DIRTY_NO_CLEAR, into a bitmap or into
 * nothing, in one call or window by window through iova_bitmap_for_each()),
 * iova_to_phys, pt_set_dirty and dirty tracking on/off.
 *
 * The oracle is a flat array with one slot per IO page (granule) of the IOVA
 * window under test, naming the leaf that covers it; each leaf has its output
 * address, permissions and one dirty bit. It knows nothing of tables or
 * levels, only the rules of include/iodirty/pt.h:
 *  - map installs, step by step, the largest leaf that the domain's sizes,
 *    the alignment of iova and pa and the remaining length allow, and
 *    refuses any overlap with -EEXIST, changing nothing;
 *  - unmap skips holes and stops at a leaf the range starts inside; a leaf
 *    the range ends inside is removed whole on AMD v1, VT-d and mock
 *    (generic_pt) and stops the unmap on ARM (io-pgtable-arm); the return
 *    is the bytes removed;
 *  - a DMA write faults on an unmapped or read-only page, after writing the
 *    bytes before it; every leaf it wrote becomes dirty while tracking is
 *    on, and on ARM always, where a writable leaf also starts out dirty;
 *    a DMA read faults on an unmapped page and, except on ARM, on a
 *    write-only one;
 *  - a harvest reports every granule of a dirty leaf (those the bitmap
 *    holds, even outside the harvested range) and,
 *    unless PT_DIRTY_NO_CLEAR, cleans the whole leaf.
 * Physical addresses are host addresses of a real buffer; a shadow copy says
 * what DMA must have left in it.
 *
 * IODIRTY_TEST_SCALE multiplies the number of operations.
 */
#include <stdarg.h>

#include "pt_common.h"

struct oracle_cfg {
	const char *name;
	enum pt_format format;
	uint64_t pgsizes;
	uint64_t window; /* IOVA bytes under test */
	uint64_t region; /* backing memory: the physical address space */
	unsigned int ops; /* operations at scale 1 */
};

#define W64M (64 * SZ_1M)
#define R32M (32 * SZ_1M)

static const struct oracle_cfg oracle_cfgs[] = {
	{ "amdv1/4k", PT_FMT_AMDV1, SZ_4K, W64M, R32M, 8000 },
	{ "amdv1/4k-2m", PT_FMT_AMDV1, SZ_4K | SZ_2M, W64M, R32M, 8000 },
	{ "amdv1/4k-2m-1g", PT_FMT_AMDV1, SZ_4K | SZ_2M | SZ_1G, 2 * SZ_1G,
	  SZ_1G, 5000 },
	{ "amdv1/2m", PT_FMT_AMDV1, SZ_2M, W64M, R32M, 8000 },
	{ "vtdss/4k", PT_FMT_VTDSS, SZ_4K, W64M, R32M, 8000 },
	{ "vtdss/4k-2m", PT_FMT_VTDSS, SZ_4K | SZ_2M, W64M, R32M, 8000 },
	{ "vtdss/4k-2m-1g", PT_FMT_VTDSS, SZ_4K | SZ_2M | SZ_1G, 2 * SZ_1G,
	  SZ_1G, 5000 },
	{ "vtdss/2m", PT_FMT_VTDSS, SZ_2M, W64M, R32M, 8000 },
	{ "arm-s1/4k", PT_FMT_ARM_S1, SZ_4K, W64M, R32M, 8000 },
	{ "arm-s1/4k-2m", PT_FMT_ARM_S1, SZ_4K | SZ_2M, W64M, R32M, 8000 },
	{ "arm-s1/4k-2m-1g", PT_FMT_ARM_S1, SZ_4K | SZ_2M | SZ_1G, 2 * SZ_1G,
	  SZ_1G, 5000 },
	{ "arm-s1/2m", PT_FMT_ARM_S1, SZ_2M, W64M, R32M, 8000 },
	{ "mock/2k", PT_FMT_MOCK, SZ_2K, 16 * SZ_1M, 8 * SZ_1M, 8000 },
	{ "mock/2k-1m", PT_FMT_MOCK, SZ_2K | SZ_1M, 16 * SZ_1M, 8 * SZ_1M,
	  8000 },
	{ "mock/1m", PT_FMT_MOCK, SZ_1M, 16 * SZ_1M, 8 * SZ_1M, 8000 },
};

enum { NO_LEAF = UINT32_MAX, NRECENT = 32, MAX_DMA = 64 * 1024 };

struct oleaf {
	uint64_t pa;
	uint32_t ngran;
	uint8_t prot;
	bool dirty;
};

/* Expected bits of a caller bitmap over [iova, last], one bit per 2^shift. */
struct obits {
	uint64_t iova, last, nbits;
	unsigned int shift;
	uint8_t *exp;
};

struct oracle {
	const struct oracle_cfg *cfg;
	struct pt_domain *dom;
	bool arm; /* ARM: partial unmap stops; dirty from DBM */
	unsigned int glg2;
	uint64_t gran, min_pg, max_pg;
	uint64_t iova0, ngran;
	uint32_t *head; /* granule -> granule of its leaf's head */
	struct oleaf *leaf; /* indexed by head granule */
	bool tracking;

	struct pt_mem mem; /* what DMA reaches */
	struct pt_mem shadow; /* what it must contain */
	uint8_t *touched; /* per 4 KiB of mem: written by DMA */
	uint8_t *dbuf, *rbuf;

	uint64_t rng;
	unsigned long opno;
	char desc[160];
	struct {
		uint64_t iova, len;
	} recent[NRECENT];
	unsigned int nrecent;

	struct {
		unsigned long map_ok, map_eexist, map_einval, map_masked;
		unsigned long huge_leaves, top_leaves;
		unsigned long unmap_bytes, unmap_stopped, unmap_tail_whole;
		unsigned long dma_ok, fault_np, fault_perm, harvest_bits;
		unsigned long windowed_multi, set_dirty_ok;
	} n;
};

static __attribute__((format(printf, 3, 4), noreturn)) void
o_fail(struct oracle *o, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	test_fail_at(__FILE__, line, "%s, op %lu (%s): %s", o->cfg->name,
		     o->opno, o->desc, msg);
	test_abort();
}

#define O_CHECK(o, cond, ...)                             \
	do {                                              \
		if (!(cond))                              \
			o_fail(o, __LINE__, __VA_ARGS__); \
	} while (0)

static uint64_t o_rand(struct oracle *o, uint64_t n)
{
	return n ? test_rand(&o->rng) % n : 0;
}

static uint64_t wend(const struct oracle *o)
{
	return o->iova0 + o->cfg->window;
}

static uint64_t g_of(const struct oracle *o, uint64_t iova)
{
	return (iova - o->iova0) >> o->glg2;
}

static uint64_t g_iova(const struct oracle *o, uint64_t g)
{
	return o->iova0 + (g << o->glg2);
}

/* The leaf covering @iova and its head granule, or NULL. */
static struct oleaf *o_leaf(struct oracle *o, uint64_t iova, uint64_t *h)
{
	uint64_t g;

	if (iova < o->iova0 || iova >= wend(o))
		return NULL;
	g = g_of(o, iova);
	if (o->head[g] == NO_LEAF)
		return NULL;
	*h = o->head[g];
	return &o->leaf[*h];
}

static uint64_t leaf_bytes(const struct oracle *o, const struct oleaf *l)
{
	return (uint64_t)l->ngran << o->glg2;
}

static bool o_can_write(const struct oleaf *l)
{
	return l->prot & PT_PROT_WRITE;
}

static bool o_can_read(const struct oracle *o, const struct oleaf *l)
{
	return o->arm || (l->prot & PT_PROT_READ);
}

/* Whether a write to @l makes it dirty now. */
static bool o_write_dirties(const struct oracle *o, const struct oleaf *l)
{
	if (o->arm)
		return l->prot & PT_PROT_WRITE;
	return o->tracking;
}

/* ------------------------------------------------------------------ */
/* Expected bitmaps */

static void obits_init(struct obits *b, uint64_t iova, uint64_t len,
		       unsigned int shift)
{
	b->iova = iova;
	b->last = iova + len - 1;
	b->shift = shift;
	b->nbits = ((len - 1) >> shift) + 1;
	b->exp = calloc(DIV_ROUND_UP(b->nbits, 8), 1);
	ASSERT_TRUE(b->exp);
}

/* Mark [s, l] dirty, one granule at a time: what falls outside is lost. */
static void obits_set(struct oracle *o, struct obits *b, uint64_t s, uint64_t l)
{
	for (uint64_t a = s; a <= l && a >= s; a += o->gran) {
		uint64_t i;

		if (a < b->iova || a > b->last)
			continue;
		i = (a - b->iova) >> b->shift;
		b->exp[i / 8] |= (uint8_t)(1u << (i % 8));
	}
}

static void obits_check(struct oracle *o, const struct obits *b,
			const struct pt_bits *got)
{
	for (uint64_t i = 0; i < b->nbits; i++)
		O_CHECK(o, pt_bit(got->buf, i) == pt_bit(b->exp, i),
			"bit %" PRIu64 " (iova 0x%" PRIx64 ") is %d, want %d",
			i, b->iova + (i << b->shift), pt_bit(got->buf, i),
			pt_bit(b->exp, i));
	O_CHECK(o, pt_bits_guards_ok(got), "bitmap guard bytes overwritten");
}

static void obits_free(struct obits *b)
{
	free(b->exp);
}

/* ------------------------------------------------------------------ */
/* The model's operations */

static uint64_t largest_pg(uint64_t sizes, uint64_t iova, uint64_t pa,
			   uint64_t left)
{
	for (int bit = 63; bit >= 0; bit--) {
		uint64_t s = 1ULL << bit;

		if ((sizes & s) && s <= left && !(iova & (s - 1)) &&
		    !(pa & (s - 1)))
			return s;
	}
	return 0;
}

static bool o_any_mapped(const struct oracle *o, uint64_t iova, uint64_t len)
{
	for (uint64_t g = g_of(o, iova); g <= g_of(o, iova + len - 1); g++)
		if (o->head[g] != NO_LEAF)
			return true;
	return false;
}

static void o_install(struct oracle *o, uint64_t iova, uint64_t pa,
		      uint64_t len, unsigned int prot, uint64_t sizes)
{
	while (len) {
		uint64_t s = largest_pg(sizes, iova, pa, len);
		uint64_t h = g_of(o, iova), n = s >> o->glg2;

		O_CHECK(o, s, "no page size fits");
		for (uint64_t i = 0; i < n; i++)
			o->head[h + i] = (uint32_t)h;
		o->leaf[h] = (struct oleaf){
			.pa = pa,
			.ngran = (uint32_t)n,
			.prot = (uint8_t)prot,
			.dirty = o->arm && (prot & PT_PROT_WRITE),
		};
		if (s > o->gran)
			o->n.huge_leaves++;
		if (s > o->gran << 9)
			o->n.top_leaves++;
		iova += s;
		pa += s;
		len -= s;
	}
}

static void o_remove(struct oracle *o, uint64_t h)
{
	uint32_t n = o->leaf[h].ngran;

	for (uint64_t i = 0; i < n; i++)
		o->head[h + i] = NO_LEAF;
}

/*
 * Unmap [iova, last]; leaves removed while dirty go to @eb. Return the bytes
 * the engine must report.
 */
static uint64_t o_unmap(struct oracle *o, uint64_t iova, uint64_t last,
			struct obits *eb)
{
	uint64_t lo = iova > o->iova0 ? iova : o->iova0;
	uint64_t hi = last < wend(o) - 1 ? last : wend(o) - 1;
	uint64_t g, gl, done = 0;

	if (lo > hi)
		return 0;
	for (g = g_of(o, lo), gl = g_of(o, hi); g <= gl;) {
		uint64_t h = o->head[g], ls, le;
		struct oleaf *l;

		if (h == NO_LEAF) {
			g++;
			continue;
		}
		l = &o->leaf[h];
		ls = g_iova(o, h);
		le = ls + leaf_bytes(o, l) - 1;
		if (ls < iova || (le > last && o->arm)) {
			o->n.unmap_stopped++;
			break;
		}
		if (le > last)
			o->n.unmap_tail_whole++;
		if (l->dirty && eb)
			obits_set(o, eb, ls, le);
		done += leaf_bytes(o, l);
		g = h + l->ngran;
		o_remove(o, h);
	}
	return done;
}

/* Harvest [iova, last] into @eb (NULL: clear only). */
static void o_harvest(struct oracle *o, uint64_t iova, uint64_t last,
		      unsigned int flags, struct obits *eb)
{
	uint64_t lo = iova > o->iova0 ? iova : o->iova0;
	uint64_t hi = last < wend(o) - 1 ? last : wend(o) - 1;

	if (lo > hi)
		return;
	for (uint64_t g = g_of(o, lo), gl = g_of(o, hi); g <= gl;) {
		uint64_t h = o->head[g], ls, le;
		struct oleaf *l;

		if (h == NO_LEAF) {
			g++;
			continue;
		}
		l = &o->leaf[h];
		ls = g_iova(o, h);
		le = ls + leaf_bytes(o, l) - 1;
		if (l->dirty) {
			/* The whole leaf: the bitmap keeps what it covers. */
			if (eb)
				obits_set(o, eb, ls, le);
			if (!(flags & PT_DIRTY_NO_CLEAR))
				l->dirty = false;
		}
		g = h + l->ngran;
	}
}

struct dma_chunk {
	uint64_t pa_off, n;
};

/*
 * What a DMA access of @len bytes at @iova must do: returns 0 or -EFAULT
 * with the fault; a write lands in the shadow and dirties leaves. The
 * physical chunks touched go to @chunks.
 */
static int o_dma(struct oracle *o, uint64_t iova, const uint8_t *buf,
		 uint64_t len, bool write, struct pt_fault *f,
		 struct dma_chunk *chunks, unsigned int *nchunks)
{
	uint64_t pos = iova, done = 0;

	*nchunks = 0;
	f->reason = PT_FAULT_NONE;
	while (done < len) {
		struct oleaf *l;
		uint64_t h, ls, off, n;

		l = o_leaf(o, pos, &h);
		if (!l) {
			*f = (struct pt_fault){ PT_FAULT_NOT_PRESENT, pos,
						write };
			return -EFAULT;
		}
		if (write ? !o_can_write(l) : !o_can_read(o, l)) {
			*f = (struct pt_fault){ PT_FAULT_PERMISSION, pos,
						write };
			return -EFAULT;
		}
		ls = g_iova(o, h);
		off = pos - ls;
		n = leaf_bytes(o, l) - off;
		if (n > len - done)
			n = len - done;
		off += l->pa - (uintptr_t)o->mem.base;
		if (write) {
			memcpy(o->shadow.base + off, buf + done, n);
			for (uint64_t p = off >> 12; p <= (off + n - 1) >> 12;
			     p++)
				o->touched[p] = 1;
			if (o_write_dirties(o, l))
				l->dirty = true;
		}
		chunks[(*nchunks)++] = (struct dma_chunk){ off, n };
		pos += n;
		done += n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Random operations, each checked against the model */

static void push_recent(struct oracle *o, uint64_t iova, uint64_t len)
{
	unsigned int i = o->nrecent < NRECENT ?
				 o->nrecent++ :
				 (unsigned int)o_rand(o, NRECENT);

	o->recent[i].iova = iova;
	o->recent[i].len = len;
}

/*
 * Somewhere likely mapped: in the first leaf at or after a random granule,
 * inside a recent map (which may be gone since), or anywhere.
 */
static uint64_t pick_iova(struct oracle *o)
{
	uint64_t r = o_rand(o, 20);

	if (r < 11) {
		uint64_t g = o_rand(o, o->ngran);

		for (unsigned int i = 0; i < 8192; i++, g = (g + 1) % o->ngran)
			if (o->head[g] != NO_LEAF)
				return g_iova(o, g) + o_rand(o, o->gran);
	}
	if (r < 17 && o->nrecent) {
		unsigned int i = (unsigned int)o_rand(o, o->nrecent);

		return o->recent[i].iova + o_rand(o, o->recent[i].len);
	}
	return o->iova0 + o_rand(o, o->cfg->window);
}

static uint64_t pick_pa(struct oracle *o, uint64_t iova, uint64_t len,
			uint64_t min)
{
	uint64_t region = o->cfg->region, room = region - len, a, off;

	switch (o_rand(o, 8)) {
	case 0 ... 4:
		a = o->max_pg; /* same alignment as iova: big leaves */
		break;
	case 5 ... 6:
		a = o->gran << 9;
		break;
	default:
		a = min; /* anything the map accepts */
		break;
	}
	if (a < min)
		a = min;
	off = o_rand(o, room / min + 1) * min;
	off = (off & ~(a - 1)) | (iova & (a - 1) & ~(min - 1));
	if (off > room)
		off = off >= a ? off - a : 0;
	if (off > room)
		off = 0;
	return (uintptr_t)o->mem.base + off;
}

static unsigned int pick_prot(struct oracle *o)
{
	static const unsigned int base[] = {
		PT_PROT_READ, PT_PROT_WRITE, RW, RW, RW, RW,
	};
	unsigned int prot = base[o_rand(o, ARRAY_SIZE(base))];

	if (!o_rand(o, 4))
		prot |= PT_PROT_CACHE;
	if (!o_rand(o, 4))
		prot |= PT_PROT_NOEXEC;
	return prot;
}

/*
 * The sizes one map may use: all of the domain's (pt_map(), or
 * pt_map_pgsizes() with 0), or a random subset, maybe with a size the
 * domain lacks or with nothing usable at all.
 */
static uint64_t pick_sizes(struct oracle *o, bool *use_mask)
{
	uint64_t mask = 0;

	*use_mask = !o_rand(o, 3);
	if (!*use_mask)
		return 0;
	for (uint64_t s = o->cfg->pgsizes; s; s &= s - 1)
		if (o_rand(o, 3))
			mask |= s & -s;
	if (!o_rand(o, 4))
		mask |= o->gran << (1 + o_rand(o, 8));
	return mask;
}

static void op_map(struct oracle *o)
{
	uint64_t huge = o->gran << 9, big = o->max_pg > huge ? o->max_pg : huge;
	uint64_t win = o->cfg->window, len, iova, pa, min, mask, sizes;
	unsigned int prot = pick_prot(o);
	bool use_mask;
	int rc, want;

	mask = pick_sizes(o, &use_mask);
	sizes = mask ? mask & o->cfg->pgsizes : o->cfg->pgsizes;
	/* Mostly aligned to what this map needs, else to the domain's. */
	min = sizes && o_rand(o, 5) ? 1ULL << ffs64(sizes) : o->min_pg;

	switch (o_rand(o, 10)) {
	case 0 ... 6:
		if (o_rand(o, 10) < 4)
			len = (1 + o_rand(o, 8)) * min;
		else
			len = (1 + o_rand(o, 3 * huge / min)) * min;
		if (len > win / 2)
			len = min;
		iova = o->iova0 + o_rand(o, (win - len) / min + 1) * min;
		break;
	case 7:
	case 8:
		/* Whole big pages, aligned to them. */
		len = (1 + o_rand(o, 2)) * big;
		if (len > win / 2)
			len = big;
		iova = o->iova0 + o_rand(o, (win - len) / big + 1) * big;
		break;
	default: {
		/* Across a big boundary, ragged at both ends. */
		uint64_t b = o->iova0 + (1 + o_rand(o, win / big - 1)) * big;
		uint64_t head = (1 + o_rand(o, 16)) * min;
		uint64_t tail = o_rand(o, 2) ? big : (1 + o_rand(o, 16)) * min;

		if (head > b - o->iova0)
			head = min;
		if (tail > wend(o) - b)
			tail = wend(o) - b;
		iova = b - head;
		len = head + tail;
		break;
	}
	}
	if (len > o->cfg->region)
		len = o->cfg->region & ~(big - 1);
	pa = pick_pa(o, iova, len, min);
	snprintf(o->desc, sizeof(o->desc),
		 "map iova 0x%" PRIx64 " pa +0x%" PRIx64 " len 0x%" PRIx64
		 " prot %#x sizes %#" PRIx64 "%s",
		 iova, pa - (uintptr_t)o->mem.base, len, prot, mask,
		 use_mask ? "" : " (pt_map)");

	if (!sizes || ((iova | pa | len) & ((1ULL << ffs64(sizes)) - 1)))
		want = -EINVAL;
	else
		want = o_any_mapped(o, iova, len) ? -EEXIST : 0;
	rc = use_mask ? pt_map_pgsizes(o->dom, iova, pa, len, prot, mask) :
			pt_map(o->dom, iova, pa, len, prot);
	O_CHECK(o, rc == want, "returned %d, want %d", rc, want);
	if (rc == -EINVAL)
		o->n.map_einval++;
	if (rc == -EEXIST)
		o->n.map_eexist++;
	if (rc)
		return;
	if (use_mask)
		o->n.map_masked++;
	o_install(o, iova, pa, len, prot, sizes);
	push_recent(o, iova, len);
	o->n.map_ok++;
}

/* A map the domain's smallest page size refuses: nothing may change. */
static void op_map_misaligned(struct oracle *o)
{
	uint64_t min = o->min_pg, iova, pa, len = min;
	uint64_t bad = min > o->gran ? o->gran : min / 2;
	int rc;

	iova = o->iova0 + o_rand(o, o->cfg->window / min - 1) * min;
	pa = (uintptr_t)o->mem.base;
	switch (o_rand(o, 3)) {
	case 0:
		iova += bad;
		break;
	case 1:
		pa += bad;
		break;
	default:
		len += bad;
		break;
	}
	snprintf(o->desc, sizeof(o->desc),
		 "misaligned map iova 0x%" PRIx64 " pa +0x%" PRIx64
		 " len 0x%" PRIx64,
		 iova, pa - (uintptr_t)o->mem.base, len);
	rc = pt_map(o->dom, iova, pa, len, RW);
	O_CHECK(o, rc == -EINVAL, "returned %d, want -EINVAL", rc);
	o->n.map_einval++;
}

static void bits_for(struct oracle *o, struct obits *eb, struct pt_bits *pb,
		     struct iova_bitmap **ib, uint64_t iova, uint64_t len,
		     unsigned int shift, size_t window_bytes)
{
	obits_init(eb, iova, len, shift);
	pt_bits_alloc(pb, eb->nbits, (unsigned int)o_rand(o, 64));
	*ib = iova_bitmap_alloc_window(iova, len, 1ULL << shift,
				       (uintptr_t)pb->buf, NULL, window_bytes);
	ASSERT_FALSE(IS_ERR(*ib));
	ASSERT_EQ(iova_bitmap_nbits(*ib), eb->nbits);
}

static void op_unmap(struct oracle *o)
{
	uint64_t g = o->gran, win = o->cfg->window, iova, len, want;
	struct iova_bitmap *ib = NULL;
	struct obits eb;
	struct pt_bits pb;
	int64_t rc;
	int bm = (int)o_rand(o, 4);

	switch (o_rand(o, 20)) {
	case 0 ... 5:
		if (o->nrecent) {
			unsigned int i = (unsigned int)o_rand(o, o->nrecent);

			iova = o->recent[i].iova;
			len = o->recent[i].len;
			break;
		}
		/* fall through */
	case 6 ... 11:
		/* Near a recent map, off by some granules: partial leaves. */
		iova = pick_iova(o) & ~(g - 1);
		if (iova > o->iova0 + 4 * g && o_rand(o, 2))
			iova -= o_rand(o, 4) * g;
		len = (1 + o_rand(o, 2 * (o->gran << 9) / g)) * g;
		break;
	case 12 ... 16:
		len = (1 + o_rand(o, win / 4 / g)) * g;
		iova = o->iova0 + o_rand(o, (win - len) / g + 1) * g;
		break;
	case 17 ... 18:
		iova = o->iova0;
		len = win;
		break;
	default:
		/* Over an edge of the window. */
		len = win / 2;
		iova = o_rand(o, 2) ? o->iova0 - len / 2 : wend(o) - len / 2;
		break;
	}
	snprintf(o->desc, sizeof(o->desc),
		 "unmap iova 0x%" PRIx64 " len 0x%" PRIx64 " bitmap %d", iova,
		 len, bm);

	/* 0, 1: no bitmap; 2: one over the window; 3: one over the range. */
	if (bm == 2)
		bits_for(o, &eb, &pb, &ib, o->iova0, win, o->glg2, 0);
	else if (bm == 3)
		bits_for(o, &eb, &pb, &ib, iova, len, o->glg2, 0);
	want = o_unmap(o, iova, iova + len - 1, ib ? &eb : NULL);
	rc = ib ? pt_unmap_read_dirty(o->dom, iova, len, ib) :
		  pt_unmap(o->dom, iova, len);
	O_CHECK(o, rc == (int64_t)want,
		"returned 0x%" PRIx64 ", want 0x%" PRIx64, (uint64_t)rc, want);
	o->n.unmap_bytes += want;
	if (ib) {
		iova_bitmap_free(ib);
		obits_check(o, &eb, &pb);
		obits_free(&eb);
		pt_bits_free(&pb);
	}
}

/* Mostly inside the leaf at @iova; sometimes across leaves and holes. */
static uint64_t pick_dma_len(struct oracle *o, uint64_t iova)
{
	uint64_t len, h, room;
	struct oleaf *l;

	switch (o_rand(o, 10)) {
	case 0 ... 4:
		len = 1 + o_rand(o, 16);
		break;
	case 5 ... 7:
		len = 1 + o_rand(o, 2 * o->gran);
		break;
	case 8:
		len = 1 + o_rand(o, 8 * o->gran);
		break;
	default:
		len = 1 + o_rand(o, MAX_DMA);
		break;
	}
	l = o_leaf(o, iova, &h);
	if (l && o_rand(o, 3)) {
		room = g_iova(o, h) + leaf_bytes(o, l) - iova;
		if (len > room)
			len = room;
	}
	return len;
}

static void check_fault(struct oracle *o, int rc, int want,
			const struct pt_fault *f, const struct pt_fault *wf)
{
	O_CHECK(o, rc == want, "returned %d, want %d", rc, want);
	O_CHECK(o, f->reason == wf->reason, "fault reason %d, want %d",
		f->reason, wf->reason);
	if (!want)
		return;
	O_CHECK(o, f->iova == wf->iova,
		"fault at 0x%" PRIx64 ", want 0x%" PRIx64, f->iova, wf->iova);
	O_CHECK(o, f->write == wf->write, "fault write %d, want %d", f->write,
		wf->write);
	if (wf->reason == PT_FAULT_NOT_PRESENT)
		o->n.fault_np++;
	else
		o->n.fault_perm++;
}

static void op_dma_write(struct oracle *o)
{
	uint64_t iova = pick_iova(o), len = pick_dma_len(o, iova);
	struct dma_chunk chunks[MAX_DMA / SZ_2K + 2];
	struct pt_fault f, wf;
	unsigned int nchunks;
	int rc, want;

	for (uint64_t i = 0; i < len; i++)
		o->dbuf[i] = (uint8_t)test_rand(&o->rng);
	snprintf(o->desc, sizeof(o->desc),
		 "dma write iova 0x%" PRIx64 " len 0x%" PRIx64, iova, len);
	want = o_dma(o, iova, o->dbuf, len, true, &wf, chunks, &nchunks);
	memset(&f, 0xff, sizeof(f));
	rc = pt_dma_write(o->dom, iova, o->dbuf, len, &f);
	check_fault(o, rc, want, &f, &wf);
	/* The bytes are in memory where the oracle's translation says. */
	for (unsigned int i = 0; i < nchunks; i++)
		O_CHECK(o,
			!memcmp(o->mem.base + chunks[i].pa_off,
				o->shadow.base + chunks[i].pa_off, chunks[i].n),
			"memory at pa +0x%" PRIx64
			" differs from what DMA wrote",
			chunks[i].pa_off);
	if (!rc)
		o->n.dma_ok++;
}

static void op_dma_read(struct oracle *o)
{
	uint64_t iova = pick_iova(o), len = pick_dma_len(o, iova), done = 0;
	struct dma_chunk chunks[MAX_DMA / SZ_2K + 2];
	struct pt_fault f, wf;
	unsigned int nchunks;
	int rc, want;

	snprintf(o->desc, sizeof(o->desc),
		 "dma read iova 0x%" PRIx64 " len 0x%" PRIx64, iova, len);
	want = o_dma(o, iova, NULL, len, false, &wf, chunks, &nchunks);
	memset(&f, 0xff, sizeof(f));
	rc = pt_dma_read(o->dom, iova, o->rbuf, len, &f);
	check_fault(o, rc, want, &f, &wf);
	for (unsigned int i = 0; i < nchunks; i++) {
		O_CHECK(o,
			!memcmp(o->rbuf + done,
				o->shadow.base + chunks[i].pa_off, chunks[i].n),
			"read at pa +0x%" PRIx64 " returned other bytes",
			chunks[i].pa_off);
		done += chunks[i].n;
	}
}

struct win_arg {
	struct oracle *o;
	unsigned int flags;
	uint64_t next; /* where the next window must start */
	uint64_t span; /* IOVA bytes of a full window */
	struct obits *eb;
	unsigned int calls;
};

/*
 * As iommufd does: one read-and-clear per bitmap window. A dirty huge leaf
 * across a window boundary is reported whole by the window that finds it
 * (iova_bitmap writes the bits beyond the window through), then is clean
 * for the next window: nothing is lost.
 */
static int harvest_window(struct iova_bitmap *ib, uint64_t iova,
			  uint64_t length, void *opaque)
{
	struct win_arg *w = opaque;
	struct oracle *o = w->o;
	int rc;

	O_CHECK(o, iova == w->next, "window at 0x%" PRIx64 ", want 0x%" PRIx64,
		iova, w->next);
	O_CHECK(o, length <= w->span && length,
		"window of 0x%" PRIx64 " bytes, most 0x%" PRIx64, length,
		w->span);
	o_harvest(o, iova, iova + length - 1, w->flags, w->eb);
	rc = pt_read_and_clear_dirty(o->dom, iova, length, w->flags, ib);
	O_CHECK(o, !rc, "window harvest returned %d", rc);
	w->next = iova + length;
	w->calls++;
	return 0;
}

static void op_harvest(struct oracle *o)
{
	uint64_t g = o->gran, win = o->cfg->window, iova, len;
	unsigned int flags = o_rand(o, 3) ? 0 : PT_DIRTY_NO_CLEAR;
	unsigned int shift = o->glg2, mode = (unsigned int)o_rand(o, 10);
	struct iova_bitmap *ib = NULL;
	struct pt_bits pb;
	struct obits eb;
	int rc;

	if (o_rand(o, 5) < 2) {
		iova = o->iova0;
		len = win;
	} else {
		len = (1 + o_rand(o, win / 8 / g)) * g;
		iova = o->iova0 + o_rand(o, (win - len) / g + 1) * g;
		if (!o_rand(o, 8))
			iova -= o_rand(o, 64) * g; /* over the edge */
	}
	if (!o_rand(o, 4))
		shift += (unsigned int)(1 + o_rand(o, 3));
	snprintf(o->desc, sizeof(o->desc),
		 "harvest iova 0x%" PRIx64 " len 0x%" PRIx64
		 " flags %u mode %u shift %u",
		 iova, len, flags, mode, shift);

	if (mode < 2) {
		/* No bitmap: clear only (or, with NO_CLEAR, nothing). */
		o_harvest(o, iova, iova + len - 1, flags, NULL);
		rc = pt_read_and_clear_dirty(o->dom, iova, len, flags, NULL);
		O_CHECK(o, !rc, "returned %d", rc);
		return;
	}
	if (mode < 7) {
		bits_for(o, &eb, &pb, &ib, iova, len, shift, 0);
		o_harvest(o, iova, iova + len - 1, flags, &eb);
		rc = pt_read_and_clear_dirty(o->dom, iova, len, flags, ib);
		O_CHECK(o, !rc, "returned %d", rc);
	} else {
		static const size_t wbytes[] = { 1, 8, 64, 512 };
		size_t wb = wbytes[o_rand(o, ARRAY_SIZE(wbytes))];
		struct win_arg w = {
			.o = o,
			.flags = flags,
			.next = iova,
			.span = (uint64_t)wb * 8 << shift,
			.eb = &eb,
		};

		bits_for(o, &eb, &pb, &ib, iova, len, shift, wb);
		rc = iova_bitmap_for_each(ib, &w, harvest_window);
		O_CHECK(o, !rc, "for_each returned %d", rc);
		O_CHECK(o, w.next == iova + len, "windows ended at 0x%" PRIx64,
			w.next);
		if (w.calls > 1)
			o->n.windowed_multi++;
	}
	iova_bitmap_free(ib);
	obits_check(o, &eb, &pb);
	for (uint64_t i = 0; i < eb.nbits; i++)
		o->n.harvest_bits += pt_bit(eb.exp, i);
	obits_free(&eb);
	pt_bits_free(&pb);
}

static void op_iova_to_phys(struct oracle *o)
{
	uint64_t iova = pick_iova(o), pa = 0, size = 0, h;
	struct oleaf *l = o_leaf(o, iova, &h);
	int rc;

	snprintf(o->desc, sizeof(o->desc), "iova_to_phys 0x%" PRIx64, iova);
	rc = pt_iova_to_phys(o->dom, iova, &pa, &size);
	if (!l) {
		O_CHECK(o, rc == -ENOENT, "returned %d, want -ENOENT", rc);
		return;
	}
	O_CHECK(o, !rc, "returned %d", rc);
	O_CHECK(o, pa == l->pa + (iova - g_iova(o, h)),
		"pa 0x%" PRIx64 ", want 0x%" PRIx64, pa,
		l->pa + (iova - g_iova(o, h)));
	O_CHECK(o, size == leaf_bytes(o, l),
		"leaf of 0x%" PRIx64 ", want 0x%" PRIx64, size,
		leaf_bytes(o, l));
}

static void op_tracking(struct oracle *o)
{
	bool on = o_rand(o, 2);

	snprintf(o->desc, sizeof(o->desc), "tracking %s", on ? "on" : "off");
	O_CHECK(o, !pt_set_dirty_tracking(o->dom, on), "failed");
	o->tracking = on;
	O_CHECK(o, pt_dirty_tracking_enabled(o->dom) == (o->arm || on),
		"enabled reads %d", pt_dirty_tracking_enabled(o->dom));
}

static void op_set_dirty(struct oracle *o)
{
	uint64_t iova = pick_iova(o), h;
	struct oleaf *l = o_leaf(o, iova, &h);
	int rc, want;

	snprintf(o->desc, sizeof(o->desc), "set_dirty 0x%" PRIx64, iova);
	if (!o->arm && !o->tracking)
		want = -EINVAL;
	else
		want = l ? 0 : -ENOENT;
	rc = pt_set_dirty(o->dom, iova);
	O_CHECK(o, rc == want, "returned %d, want %d", rc, want);
	if (rc)
		return;
	/* On ARM only a leaf with DBM can become writable-dirty. */
	if (!o->arm || (l->prot & PT_PROT_WRITE))
		l->dirty = true;
	o->n.set_dirty_ok++;
}

/* Everything the engine says about the window, against the model. */
static void verify_all(struct oracle *o)
{
	struct iova_bitmap *ib;
	struct pt_bits pb;
	struct obits eb;
	int rc;

	snprintf(o->desc, sizeof(o->desc), "full check");
	for (uint64_t g = 0; g < o->ngran; g++) {
		uint64_t iova = g_iova(o, g) + o_rand(o, o->gran), pa, size;
		struct oleaf *l;
		uint64_t h;

		l = o_leaf(o, iova, &h);
		rc = pt_iova_to_phys(o->dom, iova, &pa, &size);
		if (!l) {
			O_CHECK(o, rc == -ENOENT,
				"0x%" PRIx64 " translates, want nothing", iova);
			continue;
		}
		O_CHECK(o, !rc, "0x%" PRIx64 " does not translate", iova);
		O_CHECK(o,
			pa == l->pa + (iova - g_iova(o, h)) &&
				size == leaf_bytes(o, l),
			"0x%" PRIx64 " -> 0x%" PRIx64 " (leaf 0x%" PRIx64
			"), want 0x%" PRIx64 " (leaf 0x%" PRIx64 ")",
			iova, pa, size, l->pa + (iova - g_iova(o, h)),
			leaf_bytes(o, l));
		if (h == g) {
			uint64_t e;
			unsigned int level, want;

			want = (unsigned int)(fls64(l->ngran) / 9);
			O_CHECK(o,
				!pt_leaf_entry(o->dom, iova, &e, &level) &&
					level == want,
				"leaf at 0x%" PRIx64 " on level %u, want %u",
				iova, level, want);
		}
	}

	/* Dirty state, without changing it. */
	bits_for(o, &eb, &pb, &ib, o->iova0, o->cfg->window, o->glg2, 0);
	o_harvest(o, o->iova0, wend(o) - 1, PT_DIRTY_NO_CLEAR, &eb);
	rc = pt_read_and_clear_dirty(o->dom, o->iova0, o->cfg->window,
				     PT_DIRTY_NO_CLEAR, ib);
	O_CHECK(o, !rc, "NO_CLEAR harvest returned %d", rc);
	iova_bitmap_free(ib);
	obits_check(o, &eb, &pb);
	obits_free(&eb);
	pt_bits_free(&pb);

	/* Every byte DMA wrote is in memory, and only those bytes changed. */
	for (uint64_t p = 0; p < o->cfg->region >> 12; p++)
		if (o->touched[p])
			O_CHECK(o,
				!memcmp(o->mem.base + (p << 12),
					o->shadow.base + (p << 12), 4096),
				"memory page +0x%" PRIx64 " differs", p << 12);
}

static void oracle_init(struct oracle *o, const struct oracle_cfg *cfg)
{
	struct pt_config pc = {
		.format = cfg->format,
		.pgsize_bitmap = cfg->pgsizes,
		.dirty_tracking = true,
	};
	uint64_t root_entry;
	unsigned int levels;

	memset(o, 0, sizeof(*o));
	o->cfg = cfg;
	o->rng = test_seed();
	o->arm = cfg->format == PT_FMT_ARM_S1;
	o->gran = pt_format_granule(cfg->format);
	o->glg2 = ffs64(o->gran);
	o->min_pg = 1ULL << ffs64(cfg->pgsizes);
	o->max_pg = 1ULL << fls64(cfg->pgsizes);
	o->dom = pt_domain_alloc(&pc);
	ASSERT_FALSE(IS_ERR(o->dom));
	ASSERT_EQ(pt_domain_pgsizes(o->dom), cfg->pgsizes);

	/* The window straddles a boundary between two root entries. */
	levels = (unsigned int)DIV_ROUND_UP(pt_domain_va_lg2(o->dom) - o->glg2,
					    9);
	root_entry = 1ULL << (o->glg2 + 9 * (levels - 1));
	o->iova0 = root_entry - cfg->window / 2;
	o->ngran = cfg->window >> o->glg2;
	o->head = malloc(o->ngran * sizeof(*o->head));
	o->leaf = calloc(o->ngran, sizeof(*o->leaf));
	ASSERT_TRUE(o->head && o->leaf);
	memset(o->head, 0xff, o->ngran * sizeof(*o->head));

	pt_mem_alloc(&o->mem, cfg->region,
		     o->max_pg > SZ_2M ? o->max_pg : SZ_2M);
	pt_mem_alloc(&o->shadow, cfg->region, 4096);
	o->touched = calloc(cfg->region >> 12, 1);
	o->dbuf = malloc(MAX_DMA);
	o->rbuf = malloc(MAX_DMA);
	ASSERT_TRUE(o->touched && o->dbuf && o->rbuf);
}

static void oracle_fini(struct oracle *o)
{
	pt_domain_free(o->dom);
	pt_mem_free(&o->mem);
	pt_mem_free(&o->shadow);
	free(o->touched);
	free(o->dbuf);
	free(o->rbuf);
	free(o->head);
	free(o->leaf);
}

TEST_VARIANTS(pt_oracle, random_ops, struct oracle_cfg, oracle_cfgs)
{
	unsigned long nops = pt_test_scaled(v->ops);
	uint64_t all, left = 0;
	struct oracle *o;

	o = malloc(sizeof(*o));
	ASSERT_TRUE(o);
	oracle_init(o, v);

	for (o->opno = 0; o->opno < nops; o->opno++) {
		switch (o_rand(o, 100)) {
		case 0 ... 23:
			op_map(o);
			break;
		case 24 ... 25:
			op_map_misaligned(o);
			break;
		case 26 ... 37:
			op_unmap(o);
			break;
		case 38 ... 62:
			op_dma_write(o);
			break;
		case 63 ... 72:
			op_dma_read(o);
			break;
		case 73 ... 84:
			op_harvest(o);
			break;
		case 85 ... 90:
			op_iova_to_phys(o);
			break;
		case 91 ... 93:
			op_tracking(o);
			break;
		default:
			op_set_dirty(o);
			break;
		}
		ASSERT_GE(pt_domain_table_bytes(o->dom), 4096);
		if (o->opno % (nops / 4 + 1) == nops / 8)
			verify_all(o);
	}
	verify_all(o);

	/* Removing the window removes exactly what the model holds... */
	for (uint64_t g = 0; g < o->ngran; g++)
		if (o->head[g] == g)
			left += leaf_bytes(o, &o->leaf[g]);
	snprintf(o->desc, sizeof(o->desc), "final unmap");
	EXPECT_EQ(pt_unmap(o->dom, o->iova0, o->cfg->window), (int64_t)left);
	/* ... and then every table but the root goes with the whole space. */
	all = 1ULL << pt_domain_va_lg2(o->dom);
	EXPECT_EQ(pt_unmap(o->dom, 0, all), 0);
	EXPECT_EQ(pt_domain_table_bytes(o->dom), 4096);
	EXPECT_GE(pt_domain_table_bytes_peak(o->dom), 4096 * 2);

	/* The sequence did exercise what it is meant to. */
	EXPECT_GT(o->n.map_ok, 0);
	EXPECT_GT(o->n.map_eexist, 0);
	EXPECT_GT(o->n.unmap_bytes, 0);
	EXPECT_GT(o->n.dma_ok, 0);
	EXPECT_GT(o->n.fault_np, 0);
	EXPECT_GT(o->n.fault_perm, 0);
	EXPECT_GT(o->n.harvest_bits, 0);
	EXPECT_GT(o->n.set_dirty_ok, 0);
	EXPECT_GT(o->n.map_einval, 0);
	EXPECT_GT(o->n.map_masked, 0);
	if (pt_test_scale() >= 1) {
		EXPECT_GT(o->n.windowed_multi, 0);
		if (o->max_pg > o->gran) {
			EXPECT_GT(o->n.huge_leaves, 0);
			if (o->max_pg > o->gran << 9)
				EXPECT_GT(o->n.top_leaves, 0);
			EXPECT_GT(o->n.unmap_stopped, 0);
			if (!o->arm)
				EXPECT_GT(o->n.unmap_tail_whole, 0);
		}
	}
	oracle_fini(o);
	free(o);
}
