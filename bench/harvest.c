// SPDX-License-Identifier: MIT
/*
 * harvest.c - `iodirty bench harvest`: IOMMU dirty read-and-clear per GiB of
 * IOVA against the memory-bandwidth floor measured in the same run
 * (spec/performance-anchors.md, sections 0, 7 and row 1 of section 8).
 *
 * For each size (GiB of IOVA) and leaf size (4K, 2M, 1G: a domain whose
 * pgsize_bitmap allows only that size), and for 0%, 1% and 100% of the
 * leaves dirty, it times one harvest of the whole range as iommufd serves
 * IOMMU_HWPT_GET_DIRTY_BITMAP: iova_bitmap_alloc() over the caller's
 * bitmap, pt_read_and_clear_dirty() once per bitmap window, and
 * iova_bitmap_free(). The bitmap has one bit per 4 KiB, what a VMM asks
 * for, so a dirty 2M leaf sets 512 bits.
 *
 * Leaves are made dirty the way hardware does it: a DMA write of a few bytes
 * through pt_dma_write() with tracking on. All IOVA maps the same small
 * backing region (many IOVAs may map one PA), so 64 GiB of IOVA costs only
 * its page tables. Read-and-clear is re-dirtied before every repetition,
 * untimed; NO_CLEAR is timed on one dirty state. Every harvest is checked
 * against the leaves that were written, and a read-and-clear must leave
 * nothing dirty: a mismatch fails the run.
 *
 * The floor is a stream read (sum) of a plain array with one 8-byte word
 * per leaf PTE, timed in the same repetitions. Page-table memory is the
 * engine's own peak count and the resident memory building the domain
 * really adds (measured after all timing), against the hardware layout
 * computed here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <iodirty/err.h>
#include <iodirty/pt.h>

#include "bench.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the bitmap is read as native u64 words, i.e. little-endian"
#endif

#define NAME "harvest"

#define SZ_4K (1ULL << 12)
#define SZ_2M (1ULL << 21)
#define SZ_1G (1ULL << 30)

/* Guest RAM above the 32-bit hole, where a VMM maps most of it. */
#define HARVEST_IOVA (4 * SZ_1G)
/* A 4-level table: every format here has one with a 4 KiB granule. */
#define HARVEST_VA_LG2 48
#define HARVEST_SEED   0x696f6469727479ULL /* "iodirty" */
#define BITMAP_PAGE    SZ_4K
#define MAX_SIZES      8
#define MAX_SIZE_GIB   1024
#define MAX_REPS       1000
#define DEFAULT_REPS   7
#define QUICK_REPS     3
/* The 4K read-and-clear target: within 2x the floor. */
#define TARGET_RATIO 2.0

/* The hardware layout every format here shares (docs/pt-formats.md). */
#define HW_GRANULE_LG2 12
#define HW_ITEMS_LG2   9
#define HW_TABLE_BYTES 4096

static const uint64_t leaf_sizes[] = { SZ_4K, SZ_2M, SZ_1G };
static const unsigned int dirty_pcts[] = { 0, 1, 100 };

struct harvest_opts {
	enum pt_format format;
	uint64_t sizes[MAX_SIZES];
	size_t nsizes;
	uint64_t reps;
	bool json;
};

/* One size and leaf: the domain, the caller's bitmap, the floor array. */
struct harvest_case {
	struct pt_domain *dom;
	uint64_t size_gib;
	uint64_t length; /* IOVA bytes mapped from HARVEST_IOVA */
	uint64_t leaf;
	uint64_t nleaves;
	uint64_t *chosen; /* nleaves bits: the leaves made dirty */
	uint64_t *bitmap; /* the caller's bitmap, one bit per 4 KiB */
	uint64_t *expect; /* what a harvest must leave in it */
	uint64_t expect_bits;
	size_t bitmap_words;
	uint64_t *floor; /* nleaves words */
	uint64_t sink; /* floor sums, so they are used */
	size_t reps;
	uint64_t *t_rac, *t_nc; /* ns per repetition */
	uint64_t *t_floor; /* 2 * reps: one per timed harvest */
};

/* One row of output, times in ns. */
struct harvest_row {
	uint64_t size_gib, leaf, nleaves;
	unsigned int dirty_pct;
	uint64_t dirty_leaves, pages_reported;
	uint64_t rac_min, rac_med, nc_min, nc_med, floor_min, floor_med;
	uint64_t pt_bytes, hw_bytes, rss_bytes;
};

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Set bits [first, first + n) of @map; n > 0. */
static void bits_set_range(uint64_t *map, uint64_t first, uint64_t n)
{
	uint64_t last = first + n - 1;
	uint64_t fw = first / 64, lw = last / 64;
	uint64_t head = ~0ULL << (first % 64);
	uint64_t tail = ~0ULL >> (63 - last % 64);

	if (fw == lw) {
		map[fw] |= head & tail;
		return;
	}
	map[fw] |= head;
	for (uint64_t w = fw + 1; w < lw; w++)
		map[w] = ~0ULL;
	map[lw] |= tail;
}

static uint64_t bits_weight(const uint64_t *map, size_t words)
{
	uint64_t n = 0;

	for (size_t w = 0; w < words; w++)
		n += (uint64_t)__builtin_popcountll(map[w]);
	return n;
}

static const char *size_name(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= SZ_1G)
		snprintf(buf, len, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes >= SZ_2M / 2)
		snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%lluK", (unsigned long long)(bytes >> 10));
	return buf;
}

/*
 * What the hardware's own layout needs to map [iova, iova + length) with
 * leaves of @leaf bytes, from the geometry the formats share rather than
 * from the engine: 4 KiB tables of 512 eight-byte entries, a level-L entry
 * covering 4 KiB << 9L, ceil((va_lg2 - 12) / 9) levels. The top level is
 * one table; a level below it holds tables only when its entries are at
 * least a leaf, one per table-sized span the range touches.
 */
static uint64_t hw_layout_bytes(unsigned int va_lg2, uint64_t iova,
				uint64_t length, uint64_t leaf)
{
	unsigned int levels =
		DIV_ROUND_UP(va_lg2 - HW_GRANULE_LG2, HW_ITEMS_LG2);
	uint64_t last = iova + length - 1, tables = 1;

	for (unsigned int lvl = 0; lvl + 1 < levels; lvl++) {
		unsigned int entry_lg2 = HW_GRANULE_LG2 + lvl * HW_ITEMS_LG2;
		unsigned int span_lg2 = entry_lg2 + HW_ITEMS_LG2;

		if ((1ULL << entry_lg2) < leaf)
			continue;
		tables += (last >> span_lg2) - (iova >> span_lg2) + 1;
	}
	return tables * HW_TABLE_BYTES;
}

static void harvest_case_fini(struct harvest_case *c)
{
	pt_domain_free(c->dom);
	free(c->floor);
	free(c->t_floor);
	free(c->t_nc);
	free(c->t_rac);
	free(c->expect);
	free(c->bitmap);
	free(c->chosen);
	memset(c, 0, sizeof(*c));
}

/*
 * A domain that may use only @leaf, tracking-capable, with @length bytes
 * mapped from HARVEST_IOVA, all of it onto @backing (2 MiB, or 1 GiB for 1G
 * leaves, suitably aligned).
 * Return: the domain, or an ERR_PTR: -EINVAL when the leaves came out of
 * another size, else what pt_domain_alloc() or pt_map() returned.
 */
static struct pt_domain *harvest_domain(enum pt_format format, uint64_t length,
					uint64_t leaf, uint8_t *backing)
{
	struct pt_config cfg = {
		.format = format,
		.va_lg2 = HARVEST_VA_LG2,
		.pgsize_bitmap = leaf,
		.dirty_tracking = true,
	};
	uint64_t chunk = leaf > SZ_2M ? leaf : SZ_2M;
	uint64_t pa, got_leaf;
	struct pt_domain *dom;
	int rc = 0;

	dom = pt_domain_alloc(&cfg);
	if (IS_ERR(dom))
		return dom;
	for (uint64_t off = 0; !rc && off < length; off += chunk)
		rc = pt_map(dom, HARVEST_IOVA + off, (uintptr_t)backing, chunk,
			    PT_PROT_READ | PT_PROT_WRITE);
	/* The leaves are of the size asked for, or nothing here means much. */
	if (!rc)
		rc = pt_iova_to_phys(dom, HARVEST_IOVA + length - 1, &pa,
				     &got_leaf);
	if (!rc && got_leaf != leaf)
		rc = -EINVAL;
	if (rc) {
		pt_domain_free(dom);
		return ERR_PTR(rc);
	}
	return dom;
}

/*
 * The resident memory that building the domain of a case adds. Measured
 * apart from the timed cases, after them: returning free memory to the
 * system first (bench_rss_bytes()) changes where later tables land, and
 * that alone moved the cache-resident 1 GiB walk by more than 1.5x.
 * Return: 0, or what harvest_domain() returned.
 */
static int harvest_rss_probe(enum pt_format format, uint64_t length,
			     uint64_t leaf, uint8_t *backing, uint64_t *bytes)
{
	uint64_t before = bench_rss_bytes(), after;
	struct pt_domain *dom;

	dom = harvest_domain(format, length, leaf, backing);
	if (IS_ERR(dom))
		return (int)PTR_ERR(dom);
	after = bench_rss_bytes();
	*bytes = after > before ? after - before : 0;
	pt_domain_free(dom);
	return 0;
}

/* Set up one case: buffers, the domain, clean, tracking on. */
static int harvest_case_init(struct harvest_case *c, enum pt_format format,
			     uint64_t size_gib, uint64_t leaf, size_t reps,
			     uint8_t *backing)
{
	size_t floor_bytes;
	int rc = -ENOMEM;

	memset(c, 0, sizeof(*c));
	c->size_gib = size_gib;
	c->length = size_gib * SZ_1G;
	c->leaf = leaf;
	c->nleaves = c->length / leaf;
	c->bitmap_words = DIV_ROUND_UP(c->length / BITMAP_PAGE, 64);
	c->reps = reps;
	c->chosen = calloc(DIV_ROUND_UP(c->nleaves, 64), sizeof(uint64_t));
	c->bitmap = calloc(c->bitmap_words, sizeof(uint64_t));
	c->expect = calloc(c->bitmap_words, sizeof(uint64_t));
	c->t_rac = calloc(reps, sizeof(uint64_t));
	c->t_nc = calloc(reps, sizeof(uint64_t));
	c->t_floor = calloc(2 * reps, sizeof(uint64_t));
	floor_bytes = (size_t)DIV_ROUND_UP(c->nleaves * 8, 4096) * 4096;
	c->floor = aligned_alloc(4096, floor_bytes);
	if (!c->chosen || !c->bitmap || !c->expect || !c->t_rac || !c->t_nc ||
	    !c->t_floor || !c->floor)
		goto err;
	/* Distinct values, written: real memory, not the shared zero page. */
	for (uint64_t i = 0; i < c->nleaves; i++)
		c->floor[i] = i * 0x9e3779b97f4a7c15ULL;

	c->dom = harvest_domain(format, c->length, leaf, backing);
	if (IS_ERR(c->dom)) {
		rc = (int)PTR_ERR(c->dom);
		c->dom = NULL;
		goto err;
	}
	/* Clear first, then enable, as iommufd does. */
	rc = pt_read_and_clear_dirty(c->dom, HARVEST_IOVA, c->length, 0, NULL);
	if (!rc)
		rc = pt_set_dirty_tracking(c->dom, true);
	if (rc)
		goto err;
	return 0;

err:
	harvest_case_fini(c);
	return rc;
}

/*
 * Pick round(nleaves * pct / 100) leaves (at least one when pct > 0) with a
 * seeded PRNG, and the bitmap a harvest must then produce.
 * Return: the number of leaves picked.
 */
static uint64_t harvest_choose(struct harvest_case *c, unsigned int pct,
			       uint64_t seed)
{
	size_t words = DIV_ROUND_UP(c->nleaves, 64);
	uint64_t n = c->nleaves, bits_per_leaf = c->leaf / BITMAP_PAGE;
	uint64_t k = pct ? (n * pct + 50) / 100 : 0, want, got = 0;
	bool invert;

	if (pct && !k)
		k = 1;
	/* Past one half, pick the clean ones instead. */
	invert = k > n / 2;
	want = invert ? n - k : k;
	memset(c->chosen, 0, words * sizeof(uint64_t));
	while (got < want) {
		uint64_t i = splitmix64(&seed) % n;
		uint64_t bit = 1ULL << (i % 64);

		if (c->chosen[i / 64] & bit)
			continue;
		c->chosen[i / 64] |= bit;
		got++;
	}
	if (invert) {
		for (size_t w = 0; w < words; w++)
			c->chosen[w] = ~c->chosen[w];
		if (n % 64)
			c->chosen[words - 1] &= (1ULL << (n % 64)) - 1;
	}

	memset(c->expect, 0, c->bitmap_words * sizeof(uint64_t));
	for (size_t w = 0; w < words; w++) {
		for (uint64_t m = c->chosen[w]; m; m &= m - 1) {
			uint64_t i = w * 64 + ffs64(m);

			bits_set_range(c->expect, i * bits_per_leaf,
				       bits_per_leaf);
		}
	}
	c->expect_bits = k * bits_per_leaf;
	return k;
}

/* A device writes 8 bytes at the start of every chosen leaf. */
static int harvest_make_dirty(struct harvest_case *c)
{
	const uint64_t data = HARVEST_SEED;
	size_t words = DIV_ROUND_UP(c->nleaves, 64);
	struct pt_fault fault;

	for (size_t w = 0; w < words; w++) {
		for (uint64_t m = c->chosen[w]; m; m &= m - 1) {
			uint64_t iova =
				HARVEST_IOVA + (w * 64 + ffs64(m)) * c->leaf;
			int rc = pt_dma_write(c->dom, iova, &data, sizeof(data),
					      &fault);

			if (rc) {
				fprintf(stderr,
					"iodirty bench " NAME
					": DMA write at 0x%llx faulted (reason %d)\n",
					(unsigned long long)fault.iova,
					(int)fault.reason);
				return rc;
			}
		}
	}
	return 0;
}

struct harvest_pass {
	struct pt_domain *dom;
	unsigned int flags;
};

static int harvest_window(struct iova_bitmap *bitmap, uint64_t iova,
			  uint64_t length, void *opaque)
{
	const struct harvest_pass *hp = opaque;

	return pt_read_and_clear_dirty(hp->dom, iova, length, hp->flags,
				       bitmap);
}

/*
 * One harvest of the whole range into c->bitmap, timed from the bitmap's
 * allocation to its free: the work of one IOMMU_HWPT_GET_DIRTY_BITMAP.
 */
static int harvest_once(struct harvest_case *c, unsigned int flags,
			uint64_t *ns)
{
	struct harvest_pass hp = { .dom = c->dom, .flags = flags };
	struct iova_bitmap *bitmap;
	uint64_t t0 = bench_now_ns();
	int rc;

	bitmap = iova_bitmap_alloc(HARVEST_IOVA, c->length, BITMAP_PAGE,
				   (uintptr_t)c->bitmap, NULL);
	if (IS_ERR(bitmap))
		return (int)PTR_ERR(bitmap);
	rc = iova_bitmap_for_each(bitmap, &hp, harvest_window);
	iova_bitmap_free(bitmap);
	*ns = bench_now_ns() - t0;
	return rc;
}

static uint64_t harvest_floor_once(struct harvest_case *c)
{
	uint64_t t0 = bench_now_ns();

	c->sink += bench_sum_u64(c->floor, c->nleaves);
	return bench_now_ns() - t0;
}

static void harvest_report(const struct harvest_case *c, unsigned int pct,
			   const char *what, const char *problem, uint64_t got,
			   uint64_t want)
{
	char leaf[16];

	fprintf(stderr,
		"iodirty bench " NAME
		": %llu GiB at %s, %u%% dirty, %s: %s (%llu bits set, expected %llu)\n",
		(unsigned long long)c->size_gib,
		size_name(leaf, sizeof(leaf), c->leaf), pct, what, problem,
		(unsigned long long)got, (unsigned long long)want);
}

/*
 * The harvest reported exactly the leaves that were written; *@got_bits is
 * the number of bits it set.
 */
static int harvest_check(const struct harvest_case *c, unsigned int pct,
			 const char *what, uint64_t *got_bits)
{
	uint64_t got = bits_weight(c->bitmap, c->bitmap_words);

	*got_bits = got;
	if (got == c->expect_bits &&
	    !memcmp(c->bitmap, c->expect, c->bitmap_words * sizeof(uint64_t)))
		return 0;
	harvest_report(c, pct, what,
		       got == c->expect_bits ? "wrong pages reported" :
					       "wrong number of pages reported",
		       got, c->expect_bits);
	return -EIO;
}

static int harvest_row_run(struct harvest_case *c, unsigned int pct,
			   struct harvest_row *row)
{
	size_t bitmap_bytes = c->bitmap_words * sizeof(uint64_t);
	uint64_t seed = HARVEST_SEED ^ (c->size_gib << 32) ^
			((uint64_t)ffs64(c->leaf) << 16) ^ pct;
	uint64_t ns;
	size_t r;
	int rc;

	memset(row, 0, sizeof(*row));
	row->size_gib = c->size_gib;
	row->leaf = c->leaf;
	row->nleaves = c->nleaves;
	row->dirty_pct = pct;
	row->dirty_leaves = harvest_choose(c, pct, seed);

	/* NO_CLEAR: one dirty state, which every repetition must see whole. */
	rc = harvest_make_dirty(c);
	if (rc)
		return rc;
	for (r = 0; r < c->reps; r++) {
		memset(c->bitmap, 0, bitmap_bytes);
		c->t_floor[r] = harvest_floor_once(c);
		rc = harvest_once(c, PT_DIRTY_NO_CLEAR, &c->t_nc[r]);
		if (!rc)
			rc = harvest_check(c, pct, "NO_CLEAR",
					   &row->pages_reported);
		if (rc)
			return rc;
	}

	/* Read-and-clear: dirty again, untimed, before each repetition. */
	for (r = 0; r < c->reps; r++) {
		rc = harvest_make_dirty(c);
		if (rc)
			return rc;
		memset(c->bitmap, 0, bitmap_bytes);
		c->t_floor[c->reps + r] = harvest_floor_once(c);
		rc = harvest_once(c, 0, &c->t_rac[r]);
		if (!rc)
			rc = harvest_check(c, pct, "read-and-clear",
					   &row->pages_reported);
		if (rc)
			return rc;
	}

	/* It cleared: one more harvest finds nothing. */
	memset(c->bitmap, 0, bitmap_bytes);
	rc = harvest_once(c, 0, &ns);
	if (rc)
		return rc;
	if (bits_weight(c->bitmap, c->bitmap_words)) {
		harvest_report(c, pct, "harvest after read-and-clear",
			       "dirty bits were not cleared",
			       bits_weight(c->bitmap, c->bitmap_words), 0);
		return -EIO;
	}

	row->rac_min = bench_min_u64(c->t_rac, c->reps);
	row->rac_med = bench_median_u64(c->t_rac, c->reps);
	row->nc_min = bench_min_u64(c->t_nc, c->reps);
	row->nc_med = bench_median_u64(c->t_nc, c->reps);
	row->floor_min = bench_min_u64(c->t_floor, 2 * c->reps);
	row->floor_med = bench_median_u64(c->t_floor, 2 * c->reps);
	row->pt_bytes = pt_domain_table_bytes_peak(c->dom);
	row->hw_bytes = hw_layout_bytes(HARVEST_VA_LG2, HARVEST_IOVA, c->length,
					c->leaf);
	return 0;
}

static double per_gib_us(const struct harvest_row *row, uint64_t ns)
{
	return (double)ns / 1000.0 / (double)row->size_gib;
}

static double ratio(uint64_t a, uint64_t b)
{
	return (double)a / (double)b;
}

static void print_header(const struct harvest_opts *o)
{
	char model[128];

	bench_cpu_model(model, sizeof(model));
	printf("harvest: %s, %u CPUs (%s), best of %llu reps (median in brackets)\n",
	       pt_format_name(o->format), bench_cpu_count(), model,
	       (unsigned long long)o->reps);
	printf("RAC = read-and-clear, NC = PT_DIRTY_NO_CLEAR: whole range, iova_bitmap at 4 KiB per bit\n");
	printf("floor = stream read of one u64 per leaf PTE, same reps; ratio = best / best floor\n\n");
	printf("%4s %4s %5s %9s %8s %18s %9s %18s %9s %16s %7s %7s %10s\n",
	       "size", "leaf", "dirty", "leaves", "dirtied", "RAC us/GiB",
	       "ns/page", "NC us/GiB", "ns/page", "floor us/GiB", "RAC/fl",
	       "NC/fl", "4K bits");
	fflush(stdout);
}

static void print_row(const struct harvest_row *row)
{
	char sz[16], lf[16], a[24], b[24], e[24], f[24], g[24], h[24];
	char rac[48], nc[48], fl[48];
	double nl = (double)row->nleaves;

	snprintf(rac, sizeof(rac), "%s (%s)",
		 bench_fmt(a, sizeof(a), per_gib_us(row, row->rac_min)),
		 bench_fmt(b, sizeof(b), per_gib_us(row, row->rac_med)));
	snprintf(nc, sizeof(nc), "%s (%s)",
		 bench_fmt(a, sizeof(a), per_gib_us(row, row->nc_min)),
		 bench_fmt(b, sizeof(b), per_gib_us(row, row->nc_med)));
	snprintf(fl, sizeof(fl), "%s (%s)",
		 bench_fmt(a, sizeof(a), per_gib_us(row, row->floor_min)),
		 bench_fmt(b, sizeof(b), per_gib_us(row, row->floor_med)));
	printf("%4s %4s %4u%% %9llu %8llu %18s %9s %18s %9s %16s %7s %7s %10llu\n",
	       size_name(sz, sizeof(sz), row->size_gib * SZ_1G),
	       size_name(lf, sizeof(lf), row->leaf), row->dirty_pct,
	       (unsigned long long)row->nleaves,
	       (unsigned long long)row->dirty_leaves, rac,
	       bench_fmt(e, sizeof(e), (double)row->rac_min / nl), nc,
	       bench_fmt(f, sizeof(f), (double)row->nc_min / nl), fl,
	       bench_fmt(g, sizeof(g), ratio(row->rac_min, row->floor_min)),
	       bench_fmt(h, sizeof(h), ratio(row->nc_min, row->floor_min)),
	       (unsigned long long)row->pages_reported);
	fflush(stdout);
}

static void print_footer(const struct harvest_row *rows, size_t nrows)
{
	char sz[16], lf[16], a[24], b[24], d[24];

	printf("\npage tables per GiB mapped: engine peak (pt_domain_table_bytes_peak) and\n"
	       "resident memory the mapping added (RSS), vs the hardware layout\n");
	printf("%4s %4s %14s %14s %14s %14s %10s\n", "size", "leaf",
	       "engine B/GiB", "layout B/GiB", "engine/layout", "RSS B/GiB",
	       "RSS/layout");
	for (size_t i = 0; i < nrows; i++) {
		const struct harvest_row *row = &rows[i];

		if (row->dirty_pct != dirty_pcts[0])
			continue;
		printf("%4s %4s %14s %14s %14.3f %14s %10.3f\n",
		       size_name(sz, sizeof(sz), row->size_gib * SZ_1G),
		       size_name(lf, sizeof(lf), row->leaf),
		       bench_fmt(a, sizeof(a),
				 (double)row->pt_bytes / (double)row->size_gib),
		       bench_fmt(b, sizeof(b),
				 (double)row->hw_bytes / (double)row->size_gib),
		       ratio(row->pt_bytes, row->hw_bytes),
		       bench_fmt(d, sizeof(d),
				 (double)row->rss_bytes /
					 (double)row->size_gib),
		       ratio(row->rss_bytes, row->hw_bytes));
	}

	printf("\ntarget: 4K read-and-clear within %.1fx the floor\n",
	       TARGET_RATIO);
	for (size_t p = 0; p < ARRAY_SIZE(dirty_pcts); p++) {
		double lo = 0, hi = 0;
		unsigned int n = 0, met = 0;

		for (size_t i = 0; i < nrows; i++) {
			double x = ratio(rows[i].rac_min, rows[i].floor_min);

			if (rows[i].leaf != SZ_4K ||
			    rows[i].dirty_pct != dirty_pcts[p])
				continue;
			lo = n && lo < x ? lo : x;
			hi = n && hi > x ? hi : x;
			met += x <= TARGET_RATIO;
			n++;
		}
		if (n)
			printf("  %3u%% dirty: %sx .. %sx, within target in %u of %u sizes\n",
			       dirty_pcts[p], bench_fmt(a, sizeof(a), lo),
			       bench_fmt(b, sizeof(b), hi), met, n);
	}
}

static void print_json(const struct harvest_opts *o,
		       const struct harvest_row *rows, size_t nrows)
{
	struct json j;

	bench_json_begin(&j, NAME);
	json_str(&j, "format", pt_format_name(o->format));
	json_u64(&j, "reps", o->reps);
	json_u64(&j, "bitmap_page_size", BITMAP_PAGE);
	json_u64(&j, "iova_base", HARVEST_IOVA);
	json_u64(&j, "va_lg2", HARVEST_VA_LG2);
	json_u64(&j, "seed", HARVEST_SEED);
	json_double(&j, "target_ratio_4k", TARGET_RATIO);
	json_open(&j, "rows", '[');
	for (size_t i = 0; i < nrows; i++) {
		const struct harvest_row *row = &rows[i];
		double nl = (double)row->nleaves;

		json_open(&j, NULL, '{');
		json_str(&j, "format", pt_format_name(o->format));
		json_u64(&j, "size_gib", row->size_gib);
		json_u64(&j, "leaf", row->leaf);
		json_u64(&j, "leaf_ptes", row->nleaves);
		json_u64(&j, "dirty_pct", row->dirty_pct);
		json_u64(&j, "dirty_leaves", row->dirty_leaves);
		json_u64(&j, "pages_reported", row->pages_reported);
		json_double(&j, "rac_ns_per_page",
				  (double)row->rac_min / nl);
		json_double(&j, "rac_us_per_gib",
				  per_gib_us(row, row->rac_min));
		json_double(&j, "rac_us_per_gib_median",
				  per_gib_us(row, row->rac_med));
		json_double(&j, "noclear_ns_per_page",
				  (double)row->nc_min / nl);
		json_double(&j, "noclear_us_per_gib",
				  per_gib_us(row, row->nc_min));
		json_double(&j, "noclear_us_per_gib_median",
				  per_gib_us(row, row->nc_med));
		json_double(&j, "floor_us_per_gib",
				  per_gib_us(row, row->floor_min));
		json_double(&j, "floor_us_per_gib_median",
				  per_gib_us(row, row->floor_med));
		json_double(&j, "floor_gbytes_per_s",
				  nl * 8 / (double)row->floor_min);
		json_double(&j, "ratio_rac_to_floor",
				  ratio(row->rac_min, row->floor_min));
		json_double(&j, "ratio_noclear_to_floor",
				  ratio(row->nc_min, row->floor_min));
		json_double(&j, "ratio_rac_to_floor_median",
				  ratio(row->rac_med, row->floor_med));
		json_double(&j, "pt_bytes_per_gib",
				  (double)row->pt_bytes /
					  (double)row->size_gib);
		json_double(&j, "hw_layout_bytes_per_gib",
				  (double)row->hw_bytes /
					  (double)row->size_gib);
		json_double(&j, "rss_bytes_per_gib",
				  (double)row->rss_bytes /
					  (double)row->size_gib);
		json_close(&j);
	}
	json_close(&j);
	json_close(&j);
}

/* --format: a real IOMMU's format, not the mock. */
static int parse_format(const char *val, void *dst)
{
	enum pt_format *format = dst;

	if (pt_format_parse(val, format) || *format == PT_FMT_MOCK)
		return -EINVAL;
	return 0;
}

static enum bench_args harvest_parse(int argc, char **argv,
				     struct harvest_opts *o)
{
	bool quick = false;
	const struct bench_opt opts[] = {
		{ .name = "--json", .kind = BENCH_OPT_FLAG, .dst = &o->json },
		{ .name = "--quick", .kind = BENCH_OPT_FLAG, .dst = &quick },
		{ .name = "--format",
		  .kind = BENCH_OPT_FN,
		  .dst = &o->format,
		  .parse = parse_format,
		  .hint = "use amdv1, vtdss or arm-s1" },
		{ .name = "--sizes",
		  .kind = BENCH_OPT_U64_LIST,
		  .dst = o->sizes,
		  .n = &o->nsizes,
		  .max_n = MAX_SIZES,
		  .min = 1,
		  .max = MAX_SIZE_GIB,
		  .hint = "up to " BENCH_STR(MAX_SIZES) " GiB counts, each 1.." BENCH_STR(
			  MAX_SIZE_GIB) ", like 1,16,64" },
		BENCH_OPT_REPS(&o->reps, MAX_REPS),
	};
	enum bench_args rc;

	memset(o, 0, sizeof(*o));
	o->format = PT_FMT_AMDV1;
	rc = bench_args_parse(NAME, BENCH_HARVEST_USAGE, argc, argv, opts,
			      ARRAY_SIZE(opts));
	if (rc != BENCH_ARGS_RUN)
		return rc;
	if (!o->nsizes) {
		o->sizes[o->nsizes++] = 1;
		if (!quick) {
			o->sizes[o->nsizes++] = 16;
			o->sizes[o->nsizes++] = 64;
		}
	}
	if (!o->reps)
		o->reps = quick ? QUICK_REPS : DEFAULT_REPS;
	return BENCH_ARGS_RUN;
}

/*
 * Backing memory for every mapping: 1 GiB, 1 GiB-aligned, reserved
 * without commitment; only the bytes DMA touches become real.
 */
static uint8_t *backing_reserve(void **map, size_t *map_len)
{
	*map_len = 2 * SZ_1G;
	*map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (*map == MAP_FAILED)
		return NULL;
	return (uint8_t *)(((uintptr_t)*map + SZ_1G - 1) &
			   ~(uintptr_t)(SZ_1G - 1));
}

static void setup_error(uint64_t size_gib, uint64_t leaf, int rc)
{
	char lf[16];

	fprintf(stderr, "iodirty bench " NAME ": mapping %llu GiB at %s: %s\n",
		(unsigned long long)size_gib, size_name(lf, sizeof(lf), leaf),
		strerror(-rc));
}

int bench_harvest(int argc, char **argv)
{
	struct harvest_opts o;
	struct harvest_row *rows;
	size_t nrows = 0;
	uint8_t *backing;
	size_t map_len;
	void *map;
	int rc;

	rc = harvest_parse(argc, argv, &o);
	if (rc != BENCH_ARGS_RUN)
		return rc == BENCH_ARGS_HELP ? 0 : 2;

	rows = calloc(o.nsizes * ARRAY_SIZE(leaf_sizes) *
			      ARRAY_SIZE(dirty_pcts),
		      sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "iodirty bench " NAME ": out of memory\n");
		return 1;
	}
	backing = backing_reserve(&map, &map_len);
	if (!backing) {
		fprintf(stderr, "iodirty bench " NAME
				": cannot reserve backing memory\n");
		free(rows);
		return 1;
	}
	if (!o.json)
		print_header(&o);

	for (size_t s = 0; s < o.nsizes; s++) {
		for (size_t l = 0; l < ARRAY_SIZE(leaf_sizes); l++) {
			struct harvest_case c;

			rc = harvest_case_init(&c, o.format, o.sizes[s],
					       leaf_sizes[l], o.reps, backing);
			if (rc) {
				setup_error(o.sizes[s], leaf_sizes[l], rc);
				goto out;
			}
			for (size_t p = 0; p < ARRAY_SIZE(dirty_pcts); p++) {
				rc = harvest_row_run(&c, dirty_pcts[p],
						     &rows[nrows]);
				if (rc)
					break;
				if (!o.json)
					print_row(&rows[nrows]);
				nrows++;
			}
			harvest_case_fini(&c);
			if (rc)
				goto out;
		}
	}
	/* Memory last, so that measuring it cannot move the timed tables. */
	for (size_t i = 0; i < nrows; i += ARRAY_SIZE(dirty_pcts)) {
		uint64_t bytes = 0;

		rc = harvest_rss_probe(o.format, rows[i].size_gib * SZ_1G,
				       rows[i].leaf, backing, &bytes);
		if (rc) {
			setup_error(rows[i].size_gib, rows[i].leaf, rc);
			goto out;
		}
		for (size_t p = 0; p < ARRAY_SIZE(dirty_pcts); p++)
			rows[i + p].rss_bytes = bytes;
	}
	if (o.json)
		print_json(&o, rows, nrows);
	else
		print_footer(rows, nrows);

out:
	munmap(map, map_len);
	free(rows);
	return rc ? 1 : 0;
}
