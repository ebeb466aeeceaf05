// SPDX-License-Identifier: MIT
/*
 * dirty.c - the VMM's global dirty bitmap over guest RAM: one bit per
 * 4 KiB page, the union of CPU (KVM) and DMA (tracker) dirtiness, as
 * QEMU's ram_list.dirty_memory[DIRTY_MEMORY_MIGRATION] (vmm-behaviour.md
 * §4.2).
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/vmm.h>

int vmm_dirty_init(struct vmm_dirty *d, const uint64_t *gpa,
		   const uint64_t *size, unsigned int n)
{
	memset(d, 0, sizeof(*d));
	if (n > VMM_MAX_RAM_REGIONS)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct vmm_dirty_region *r = &d->r[i];

		r->gpa = gpa[i];
		r->size = size[i];
		r->npages = size[i] >> VMM_PAGE_SHIFT;
		r->bits = xcalloc(DIV_ROUND_UP(r->npages, 64), sizeof(uint64_t));
		if (!r->bits) {
			vmm_dirty_destroy(d);
			return -ENOMEM;
		}
		d->n = i + 1;
	}
	return 0;
}

void vmm_dirty_destroy(struct vmm_dirty *d)
{
	for (unsigned int i = 0; i < d->n; i++)
		xfree(d->r[i].bits);
	memset(d, 0, sizeof(*d));
}

static struct vmm_dirty_region *region_of(const struct vmm_dirty *d,
					  uint64_t gpa)
{
	for (unsigned int i = 0; i < d->n; i++) {
		const struct vmm_dirty_region *r = &d->r[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return (struct vmm_dirty_region *)r;
	}
	return NULL;
}

void vmm_dirty_set(struct vmm_dirty *d, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len;

	if (!len || end < gpa)
		return;
	for (uint64_t p = gpa & ~(VMM_PAGE_SIZE - 1); p < end;
	     p += VMM_PAGE_SIZE) {
		struct vmm_dirty_region *r = region_of(d, p);
		uint64_t i;

		if (!r)
			continue;
		i = (p - r->gpa) >> VMM_PAGE_SHIFT;
		r->bits[i / 64] |= 1ULL << (i % 64);
	}
}

uint64_t vmm_dirty_or(struct vmm_dirty *d, uint64_t gpa, const uint64_t *bits,
		      uint64_t npages)
{
	struct vmm_dirty_region *r = region_of(d, gpa);
	uint64_t nwords = DIV_ROUND_UP(npages, 64), set = 0;

	/* Within one region: OR whole words at the region's bit offset. */
	if (r && npages <= r->npages - ((gpa - r->gpa) >> VMM_PAGE_SHIFT)) {
		uint64_t off = (gpa - r->gpa) >> VMM_PAGE_SHIFT;
		uint64_t base = off / 64;
		unsigned int sh = off % 64;

		for (uint64_t w = 0; w < nwords; w++) {
			uint64_t word = bits[w];

			if (w == nwords - 1 && npages % 64)
				word &= (1ULL << (npages % 64)) - 1;
			if (!word)
				continue;
			set += (uint64_t)__builtin_popcountll(word);
			r->bits[base + w] |= word << sh;
			if (sh && (word >> (64 - sh)))
				r->bits[base + w + 1] |= word >> (64 - sh);
		}
		return set;
	}
	/* Across regions (or outside RAM): page by page. */
	for (uint64_t w = 0; w < nwords; w++) {
		uint64_t word = bits[w];

		if (w == nwords - 1 && npages % 64)
			word &= (1ULL << (npages % 64)) - 1;
		for (; word; word &= word - 1) {
			uint64_t p = gpa + ((w * 64 + ffs64(word))
					    << VMM_PAGE_SHIFT);

			set++;
			vmm_dirty_set(d, p, 1);
		}
	}
	return set;
}

uint64_t vmm_dirty_count(const struct vmm_dirty *d)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < d->n; i++)
		for (uint64_t w = 0; w < DIV_ROUND_UP(d->r[i].npages, 64); w++)
			n += (uint64_t)__builtin_popcountll(d->r[i].bits[w]);
	return n;
}

void vmm_dirty_clear(struct vmm_dirty *d)
{
	for (unsigned int i = 0; i < d->n; i++)
		memset(d->r[i].bits, 0,
		       DIV_ROUND_UP(d->r[i].npages, 64) * sizeof(uint64_t));
}

bool vmm_dirty_test(const struct vmm_dirty *d, uint64_t gpa)
{
	const struct vmm_dirty_region *r = region_of(d, gpa);
	uint64_t i;

	if (!r)
		return false;
	i = (gpa - r->gpa) >> VMM_PAGE_SHIFT;
	return r->bits[i / 64] & (1ULL << (i % 64));
}
