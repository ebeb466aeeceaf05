/* SPDX-License-Identifier: MIT */
/*
 * pt_walk.h - the one page-table walker, instantiated once per format.
 *
 * A format's .c file defines PT_FMT (the prefix of its accessors), includes
 * its header from fmt/ and then this file, which generates every operation
 * of struct pt_fmt_ops from the accessors below and exports it as
 * pt_<PT_FMT>_ops. The accessors a format header provides (all static
 * inline, named <PT_FMT>_pt_<name>):
 *
 *   GRANULE_LG2, DEFAULT_VA_LG2, MAX_VA_LG2, PGSIZES, PARTIAL_UNMAP (enum)
 *   present(e)                 a valid descriptor of any kind
 *   is_table(e, level)         a valid table descriptor at @level
 *   table_ptr(e)               the table it points to
 *   make_table(child, level)   a table descriptor, stored at @level
 *   make_leaf(pa, level, prot, dirty_capable)
 *   leaf_oa(e, level)          output address of the leaf's first byte
 *   is_dirty(e)                written since last made clean
 *   dirty_bit(e)               the same as 0 or 1, without a branch
 *   make_clean(p)              atomic: clear the dirty state of *p
 *   can_read(e), can_write(e, ctrl)
 *   mark(p, write, ctrl)       atomic: what the hardware sets after an access
 *   ctrl_init(dom), ctrl_set_tracking(ctrl, on), ctrl_tracking(ctrl)
 *
 * Level 0 is the table of smallest pages; entry i of a level-L table covers
 * 2^(GRANULE_LG2 + 9 L) bytes. All ranges here are inclusive [iova, last]
 * and already checked by pt.c: inside the IOVA width, aligned to the
 * granule.
 */
#ifndef PT_FMT
#error "define PT_FMT before including pt_walk.h"
#endif

#include <errno.h>
#include <string.h>

#include "pt_private.h"

#define PT_CAT2(a, b) a##b
#define PT_CAT(a, b)  PT_CAT2(a, b)
#define PTF(name)     PT_CAT(PT_FMT, PT_CAT(_pt_, name))
#define PT_NAME(name) PT_CAT(PT_CAT(PT_FMT, _), name)

#define G PTF(GRANULE_LG2)

static inline unsigned int PT_NAME(shift)(unsigned int level)
{
	return G + level * PT_ITEMS_LG2;
}

/*
 * The entries of a level-@level table that [iova, last] touches: indexes
 * *first..*end, entry i covering base + (i << shift) onwards.
 */
static inline void PT_NAME(span)(unsigned int level, uint64_t iova,
				 uint64_t last, unsigned int *first,
				 unsigned int *end, uint64_t *base)
{
	unsigned int shift = PT_NAME(shift)(level);
	uint64_t tspan_mask = (1ULL << (shift + PT_ITEMS_LG2)) - 1;
	uint64_t e;

	*base = iova & ~tspan_mask;
	*first = (unsigned int)((iova >> shift) & (PT_ITEMS - 1));
	e = (last - *base) >> shift;
	*end = e >= PT_ITEMS ? PT_ITEMS - 1 : (unsigned int)e;
}

static inline uint64_t PT_NAME(load)(pt_entry_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void PT_NAME(store)(pt_entry_t *p, uint64_t e)
{
	atomic_store_explicit(p, e, memory_order_relaxed);
}

static void PT_NAME(free_subtree)(struct pt_domain *dom, pt_entry_t *table,
				  unsigned int level)
{
	if (level) {
		for (unsigned int i = 0; i < PT_ITEMS; i++) {
			uint64_t e = PT_NAME(load)(&table[i]);

			if (PTF(is_table)(e, level))
				PT_NAME(free_subtree)(dom, PTF(table_ptr)(e),
						      level - 1);
		}
	}
	pt_table_free(dom, table);
}

static void PT_NAME(free_tables)(struct pt_domain *dom)
{
	PT_NAME(free_subtree)(dom, dom->root, dom->levels - 1);
	dom->root = NULL;
}

static bool PT_NAME(any_present_level)(pt_entry_t *table, unsigned int level,
				       uint64_t iova, uint64_t last)
{
	unsigned int i, first, end, shift = PT_NAME(shift)(level);
	uint64_t base;

	PT_NAME(span)(level, iova, last, &first, &end, &base);
	for (i = first; i <= end; i++) {
		uint64_t e = PT_NAME(load)(&table[i]);
		uint64_t s = base + ((uint64_t)i << shift);
		uint64_t l = s + (1ULL << shift) - 1;

		if (!PTF(present)(e))
			continue;
		if (!PTF(is_table)(e, level))
			return true;
		if (PT_NAME(any_present_level)(PTF(table_ptr)(e), level - 1,
					       s > iova ? s : iova,
					       l < last ? l : last))
			return true;
	}
	return false;
}

static bool PT_NAME(any_present)(struct pt_domain *dom, uint64_t iova,
				 uint64_t last)
{
	return PT_NAME(any_present_level)(dom->root, dom->levels - 1, iova,
					  last);
}

struct PT_NAME(map_state) {
	uint64_t iova0, pa0;
	uint64_t pgsizes;
	unsigned int prot;
};

/* Install leaves for [iova, last]; the range is known to be unmapped. */
static int PT_NAME(map_level)(struct pt_domain *dom, pt_entry_t *table,
			      unsigned int level, uint64_t iova, uint64_t last,
			      const struct PT_NAME(map_state) *st)
{
	unsigned int i, first, end, shift = PT_NAME(shift)(level);
	uint64_t size = 1ULL << shift, base;
	bool leaf_ok = st->pgsizes & size;

	PT_NAME(span)(level, iova, last, &first, &end, &base);
	for (i = first; i <= end; i++) {
		pt_entry_t *p = &table[i];
		uint64_t e = PT_NAME(load)(p);
		uint64_t s = base + ((uint64_t)i << shift);
		uint64_t l = s + size - 1;
		uint64_t from = s > iova ? s : iova;
		uint64_t to = l < last ? l : last;
		uint64_t pa = st->pa0 + (from - st->iova0);
		pt_entry_t *child;
		int rc;

		if (leaf_ok && from == s && to == l && !(pa & (size - 1))) {
			/* An empty table left by earlier unmaps gives way. */
			if (PTF(present)(e)) {
				if (!PTF(is_table)(e, level))
					return -EEXIST;
				PT_NAME(free_subtree)(dom, PTF(table_ptr)(e),
						      level - 1);
			}
			PT_NAME(store)(p, PTF(make_leaf)(pa, level, st->prot,
							 dom->dirty_capable));
			continue;
		}
		if (!level)
			return -EINVAL;
		if (!PTF(present)(e)) {
			child = pt_table_alloc(dom);
			if (!child)
				return -ENOMEM;
			PT_NAME(store)(p, PTF(make_table)(child, level));
		} else if (!PTF(is_table)(e, level)) {
			return -EEXIST;
		} else {
			child = PTF(table_ptr)(e);
		}
		rc = PT_NAME(map_level)(dom, child, level - 1, from, to, st);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Undo a failed map of [iova, last]. The range was empty before, so every
 * leaf in it is the map's own: drop them, and free each table under the
 * range that is left with nothing in it, as the map allocated it. Return
 * whether @table is now empty.
 */
static bool PT_NAME(map_undo)(struct pt_domain *dom, pt_entry_t *table,
			      unsigned int level, uint64_t iova, uint64_t last)
{
	unsigned int i, first, end, shift = PT_NAME(shift)(level);
	uint64_t base;

	PT_NAME(span)(level, iova, last, &first, &end, &base);
	for (i = first; i <= end; i++) {
		pt_entry_t *p = &table[i];
		uint64_t e = PT_NAME(load)(p);
		uint64_t s = base + ((uint64_t)i << shift);
		uint64_t l = s + (1ULL << shift) - 1;

		if (!PTF(present)(e))
			continue;
		if (PTF(is_table)(e, level)) {
			if (!PT_NAME(map_undo)(dom, PTF(table_ptr)(e), level - 1,
					       s > iova ? s : iova,
					       l < last ? l : last))
				continue;
			PT_NAME(free_subtree)(dom, PTF(table_ptr)(e), level - 1);
		}
		PT_NAME(store)(p, 0);
	}
	for (i = 0; i < PT_ITEMS; i++)
		if (PTF(present)(PT_NAME(load)(&table[i])))
			return false;
	return true;
}

static int PT_NAME(map)(struct pt_domain *dom, uint64_t iova, uint64_t last,
			uint64_t pa, unsigned int prot, uint64_t pgsizes)
{
	struct PT_NAME(map_state) st = { .iova0 = iova, .pa0 = pa,
					 .pgsizes = pgsizes, .prot = prot };
	int rc;

	rc = PT_NAME(map_level)(dom, dom->root, dom->levels - 1, iova, last,
				&st);
	if (rc)
		PT_NAME(map_undo)(dom, dom->root, dom->levels - 1, iova, last);
	return rc;
}

struct PT_NAME(unmap_state) {
	uint64_t unmapped;
	bool stop;
	struct iova_bitmap *dirty;
};

static void PT_NAME(unmap_level)(struct pt_domain *dom, pt_entry_t *table,
				 unsigned int level, uint64_t iova,
				 uint64_t last, struct PT_NAME(unmap_state) *us)
{
	unsigned int i, first, end, shift = PT_NAME(shift)(level);
	uint64_t size = 1ULL << shift, base;

	PT_NAME(span)(level, iova, last, &first, &end, &base);
	for (i = first; i <= end; i++) {
		pt_entry_t *p = &table[i];
		uint64_t e = PT_NAME(load)(p);
		uint64_t s = base + ((uint64_t)i << shift);
		uint64_t l = s + size - 1;
		bool covered = s >= iova && l <= last;

		if (!PTF(present)(e))
			continue;
		if (PTF(is_table)(e, level)) {
			PT_NAME(unmap_level)(dom, PTF(table_ptr)(e), level - 1,
					     s > iova ? s : iova,
					     l < last ? l : last, us);
			if (us->stop)
				return;
			if (covered) {
				PT_NAME(store)(p, 0);
				PT_NAME(free_subtree)(dom, PTF(table_ptr)(e),
						      level - 1);
			}
			continue;
		}
		if (!covered && (s < iova || PTF(PARTIAL_UNMAP) ==
						     PT_PARTIAL_UNMAP_REFUSE)) {
			us->stop = true;
			return;
		}
		if (us->dirty && PTF(is_dirty)(e))
			iova_bitmap_set(us->dirty, s, size);
		PT_NAME(store)(p, 0);
		us->unmapped += size;
	}
}

static uint64_t PT_NAME(unmap)(struct pt_domain *dom, uint64_t iova,
			       uint64_t last, struct iova_bitmap *dirty)
{
	struct PT_NAME(unmap_state) us = { .dirty = dirty };

	PT_NAME(unmap_level)(dom, dom->root, dom->levels - 1, iova, last, &us);
	return us.unmapped;
}

/*
 * Read a block of descriptors for the harvest's scan. Outside
 * ThreadSanitizer builds this is a plain copy racing the DMA path's atomic
 * updates, and that race is benign: under the domain's shared lock the only
 * concurrent change to a leaf is the hardware setting its accessed/dirty
 * state, each 8-byte descriptor is read whole (aligned, x86-64), so a copy
 * sees a descriptor before or after such an update. "Before" means the
 * write raced this harvest and is reported by the next one; every dirty
 * leaf found is then cleared with an atomic RMW on the table itself.
 */
#ifdef IODIRTY_TSAN
#define PT_SNAPSHOT_ATOMIC 1
#endif

static inline void PT_NAME(snapshot)(pt_entry_t *p, uint64_t *out,
				     unsigned int n)
{
#ifdef PT_SNAPSHOT_ATOMIC
	for (unsigned int k = 0; k < n; k++)
		out[k] = PT_NAME(load)(&p[k]);
#else
	memcpy(out, (const void *)p, n * sizeof(*out));
#endif
}

/*
 * The level-0 harvest, 64 descriptors at a time: a branch-free test finds
 * the (usually clean) blocks with nothing to do; a dirty block is reported
 * as one 64-bit word of the bitmap.
 */
static void PT_NAME(rac_leaves)(pt_entry_t *table, unsigned int first,
				unsigned int end, uint64_t base,
				unsigned int flags, struct iova_bitmap *dirty)
{
	bool clear = !(flags & PT_DIRTY_NO_CLEAR);
	uint64_t snap[64];

	for (unsigned int i = first; i <= end; i += 64) {
		unsigned int n = end - i + 1 < 64 ? end - i + 1 : 64;
		uint64_t any = 0, mask = 0;

		/* A short block is padded with clean (zero) descriptors so
		 * that the test below is one fixed-length, vector loop. */
		PT_NAME(snapshot)(&table[i], snap, n);
		if (n < 64)
			memset(&snap[n], 0, (64 - n) * sizeof(snap[0]));
		for (unsigned int k = 0; k < 64; k++) {
			snap[k] = PTF(dirty_bit)(snap[k]) << 63;
			any |= snap[k];
		}
		if (likely(!any))
			continue;
		mask = pt_sign_bits_64(snap);
		if (dirty)
			iova_bitmap_set_bits(dirty, base + ((uint64_t)i << G),
					     G, mask);
		if (clear)
			for (uint64_t m = mask; m; m &= m - 1)
				PTF(make_clean)(&table[i + ffs64(m)]);
	}
}

/*
 * Harvest. The load is relaxed and most entries are clean, so a clean table
 * costs one pass of plain loads. A dirty entry is reported, then made clean
 * with an atomic RMW; a DMA write that lands in between sets the bit again
 * after its data (see mark()), so it is reported now or next time.
 */
static void PT_NAME(rac_level)(pt_entry_t *table, unsigned int level,
			       uint64_t iova, uint64_t last, unsigned int flags,
			       struct iova_bitmap *dirty)
{
	unsigned int i, first, end, shift = PT_NAME(shift)(level);
	uint64_t size = 1ULL << shift, base;
	bool clear = !(flags & PT_DIRTY_NO_CLEAR);

	PT_NAME(span)(level, iova, last, &first, &end, &base);
	if (!level) {
		PT_NAME(rac_leaves)(table, first, end, base, flags, dirty);
		return;
	}
	for (i = first; i <= end; i++) {
		pt_entry_t *p = &table[i];
		uint64_t e = PT_NAME(load)(p);
		uint64_t s = base + ((uint64_t)i << shift);
		uint64_t l = s + size - 1;
		uint64_t from = s > iova ? s : iova;
		uint64_t to = l < last ? l : last;

		if (!PTF(present)(e))
			continue;
		if (PTF(is_table)(e, level)) {
			PT_NAME(rac_level)(PTF(table_ptr)(e), level - 1, from,
					   to, flags, dirty);
			continue;
		}
		if (!PTF(is_dirty)(e))
			continue;
		/*
		 * One dirty bit for the whole leaf, which the clear below
		 * drops for all of it: report all of it, as the kernel's
		 * drivers do. The bitmap keeps what it covers, including
		 * parts past its current window.
		 */
		if (dirty)
			iova_bitmap_set(dirty, s, size);
		if (clear)
			PTF(make_clean)(p);
	}
}

static void PT_NAME(read_and_clear)(struct pt_domain *dom, uint64_t iova,
				    uint64_t last, unsigned int flags,
				    struct iova_bitmap *dirty)
{
	PT_NAME(rac_level)(dom->root, dom->levels - 1, iova, last, flags,
			   dirty);
}

static pt_entry_t *PT_NAME(lookup)(struct pt_domain *dom, uint64_t iova,
				   unsigned int *level)
{
	pt_entry_t *table = dom->root;
	unsigned int lvl = dom->levels - 1;

	for (;;) {
		pt_entry_t *p =
			&table[(iova >> PT_NAME(shift)(lvl)) & (PT_ITEMS - 1)];
		uint64_t e = atomic_load_explicit(p, memory_order_acquire);

		if (!PTF(present)(e))
			return NULL;
		if (!PTF(is_table)(e, lvl)) {
			*level = lvl;
			return p;
		}
		table = PTF(table_ptr)(e);
		lvl--;
	}
}

static int PT_NAME(fault)(struct pt_fault *fault, enum pt_fault_reason why,
			  uint64_t iova, bool write)
{
	if (fault) {
		fault->reason = why;
		fault->iova = iova;
		fault->write = write;
	}
	return -EFAULT;
}

/*
 * The DMA access path: translate, check, move the data, then mark. Marking
 * after the data is what makes a racing harvest safe: the atomic RMW in
 * mark() orders the data before the dirty bit, and a harvest that cleared
 * the bit before it will see it set again on its next pass.
 */
static int PT_NAME(dma)(struct pt_domain *dom, uint64_t iova, uint8_t *buf,
			size_t len, bool write, struct pt_fault *fault)
{
	uint64_t ctrl = atomic_load_explicit(&dom->ctrl, memory_order_acquire);

	while (len) {
		unsigned int level;
		pt_entry_t *p;
		uint64_t e, size, off, n;
		void *hva;

		if (dom->va_lg2 < 64 && (iova >> dom->va_lg2))
			return PT_NAME(fault)(fault, PT_FAULT_RANGE, iova,
					      write);
		p = PT_NAME(lookup)(dom, iova, &level);
		if (!p)
			return PT_NAME(fault)(fault, PT_FAULT_NOT_PRESENT, iova,
					      write);
		e = PT_NAME(load)(p);
		if (write ? !PTF(can_write)(e, ctrl) : !PTF(can_read)(e))
			return PT_NAME(fault)(fault, PT_FAULT_PERMISSION, iova,
					      write);
		size = 1ULL << PT_NAME(shift)(level);
		off = iova & (size - 1);
		n = size - off < len ? size - off : len;
		hva = (void *)(uintptr_t)(PTF(leaf_oa)(e, level) + off);
		if (write)
			memcpy(hva, buf, n);
		else
			memcpy(buf, hva, n);
		PTF(mark)(p, write, ctrl);
		buf += n;
		len -= n;
		if (len && __builtin_add_overflow(iova, n, &iova))
			return PT_NAME(fault)(fault, PT_FAULT_RANGE, 0, write);
	}
	return 0;
}

static void PT_NAME(mark)(pt_entry_t *p, bool write, uint64_t ctrl)
{
	PTF(mark)(p, write, ctrl);
}

static uint64_t PT_NAME(leaf_oa)(uint64_t e, unsigned int level)
{
	return PTF(leaf_oa)(e, level);
}

const struct pt_fmt_ops PT_CAT(PT_CAT(pt_, PT_FMT), _ops) = {
	.format = PTF(FORMAT),
	.name = PTF(NAME),
	.granule_lg2 = G,
	.default_va_lg2 = PTF(DEFAULT_VA_LG2),
	.max_va_lg2 = PTF(MAX_VA_LG2),
	.pgsizes = PTF(PGSIZES),
	.ctrl_init = PTF(ctrl_init),
	.ctrl_set_tracking = PTF(ctrl_set_tracking),
	.ctrl_tracking = PTF(ctrl_tracking),
	.any_present = PT_NAME(any_present),
	.map = PT_NAME(map),
	.unmap = PT_NAME(unmap),
	.read_and_clear = PT_NAME(read_and_clear),
	.dma = PT_NAME(dma),
	.lookup = PT_NAME(lookup),
	.mark = PT_NAME(mark),
	.leaf_oa = PT_NAME(leaf_oa),
	.free_tables = PT_NAME(free_tables),
};

#undef G
