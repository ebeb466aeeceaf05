// SPDX-License-Identifier: MIT
/*
 * vfio_iommu_type1.c - the legacy type1 IOMMU backend of a container:
 * MAP_DMA / UNMAP_DMA into real IOMMU domains for IOMMU-backed devices,
 * pinning for mediated devices, GET_INFO with its capabilities, and the
 * software-only dirty tracking of VFIO_IOMMU_DIRTY_PAGES
 * (shared/spec/kernel-abi.md §4; Linux drivers/vfio/vfio_iommu_type1.c).
 *
 * What counts as dirty (§4.2): pages a mediated device's driver pinned
 * are dirty when pinned and stay dirty in every report while pinned; if any
 * group in the container is IOMMU-backed (never narrows its dirty scope by
 * pinning), every page of every mapping is dirty in every report. The
 * hardware's dirty bits are not used: type1 cannot see what a device wrote.
 *
 * Called with the container's lock held (container.c), except
 * vfio_container_pin_write(), the mdev DMA path, which takes it.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>
#include <iodirty/vfio_caps.h>

#include "vfio_private.h"

enum { TYPE1_PAGE_SHIFT = 12, TYPE1_PAGE_SIZE = 1 << TYPE1_PAGE_SHIFT };

/* DIRTY_BITMAP_BYTES(INT_MAX): the largest bitmap one call may ask for. */
#define DIRTY_BITMAP_PAGES_MAX ((uint64_t)INT32_MAX)
#define DIRTY_BITMAP_BYTES(n) (((n) + 63) / 64 * 8)
#define DIRTY_BITMAP_SIZE_MAX DIRTY_BITMAP_BYTES(DIRTY_BITMAP_PAGES_MAX)

static bool is_v2(const struct vfio_container *c)
{
	return c->iommu_type == VFIO_TYPE1v2_IOMMU;
}

static uint64_t dma_pages(const struct vfio_dma *d)
{
	return d->size >> TYPE1_PAGE_SHIFT;
}

/* Index of the first mapping whose last byte is at or after @iova. */
static unsigned int dma_lower_bound(struct vfio_container *c, uint64_t iova)
{
	unsigned int lo = 0, hi = c->ndmas;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct vfio_dma *d = c->dmas[mid];

		if (d->iova + d->size - 1 < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct vfio_dma *dma_first(struct vfio_container *c, uint64_t start,
				  uint64_t last)
{
	unsigned int i = dma_lower_bound(c, start);

	if (i < c->ndmas && c->dmas[i]->iova <= last)
		return c->dmas[i];
	return NULL;
}

static unsigned int non_pinned_groups(const struct vfio_container *c)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->ngroups; i++)
		if (!vfio_device_is_mdev(c->groups[i]->dev))
			n++;
	return n;
}

/* Usable IOVA: the domains' apertures less the devices' reserved IOVA. */
static unsigned int iova_ranges(struct vfio_container *c, struct range *out,
				unsigned int max)
{
	struct range used[2 * VFIO_MAX_DEVICES + 8 * VFIO_MAX_DEVICES];
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->ndomains; i++) {
		const struct iommu_domain *d = c->domains[i];

		if (d->aperture_start)
			used[n++] = (struct range){ 0, d->aperture_start - 1 };
		if (d->aperture_last != UINT64_MAX)
			used[n++] = (struct range){ d->aperture_last + 1,
						    UINT64_MAX };
	}
	for (unsigned int i = 0; i < c->ngroups; i++) {
		struct vfio_device *dev = c->groups[i]->dev;
		const struct iommu_resv_region *r;
		unsigned int nr;

		if (vfio_device_is_mdev(dev))
			continue;
		nr = dev->iodev.unit->drv->resv_regions(&dev->iodev, &r);
		for (unsigned int j = 0; j < nr && n < ARRAY_SIZE(used); j++)
			used[n++] = (struct range){ r[j].start, r[j].last };
	}
	return range_holes(used, n, out, max);
}

static bool iova_valid(struct vfio_container *c, uint64_t start, uint64_t last)
{
	struct range r[64];
	unsigned int n = iova_ranges(c, r, ARRAY_SIZE(r));

	for (unsigned int i = 0; i < n && i < ARRAY_SIZE(r); i++)
		if (r[i].start <= start && last <= r[i].last)
			return true;
	return false;
}

static uint64_t pgsize_bitmap(struct vfio_container *c)
{
	uint64_t sizes = UINT64_MAX;

	for (unsigned int i = 0; i < c->ndomains; i++)
		sizes &= c->domains[i]->pgsizes;
	sizes &= ~(uint64_t)(TYPE1_PAGE_SIZE - 1);
	return c->ndomains && sizes ? sizes : TYPE1_PAGE_SIZE;
}

static int dma_map_domain(struct vfio_dma *d, struct iommu_domain *dom)
{
	return pt_map(dom->pt, d->iova, d->vaddr, d->size, d->prot);
}

static void dma_free(struct vfio_dma *d)
{
	xfree(d->pinned);
	xfree(d->dirty);
	xfree(d);
}

static void dma_remove(struct vfio_container *c, struct vfio_dma *d)
{
	unsigned int i = dma_lower_bound(c, d->iova);

	for (unsigned int j = 0; j < c->ndomains; j++)
		pt_unmap(c->domains[j]->pt, d->iova, d->size);
	memmove(&c->dmas[i], &c->dmas[i + 1],
		(c->ndmas - i - 1) * sizeof(*c->dmas));
	c->ndmas--;
	c->dma_avail++;
	dma_free(d);
}

static int dma_alloc_dirty(struct vfio_dma *d)
{
	uint64_t words = DIV_ROUND_UP(dma_pages(d), 64);

	d->dirty = xcalloc(words, sizeof(uint64_t));
	if (!d->dirty)
		return -ENOMEM;
	/* Pages already pinned start out dirty. */
	if (d->pinned)
		memcpy(d->dirty, d->pinned, words * sizeof(uint64_t));
	return 0;
}

static int type1_map_dma(struct vfio_container *c, uint64_t arg)
{
	struct vfio_iommu_type1_dma_map map;
	uint64_t last, vlast;
	struct vfio_dma *d;
	unsigned int i;
	int rc;

	if (copy_from_user(&map, arg, sizeof(map)))
		return -EFAULT;
	if (map.argsz < sizeof(map) ||
	    (map.flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
			   VFIO_DMA_MAP_FLAG_VADDR)))
		return -EINVAL;
	/* Updating the vaddr of a mapping (live update) is not offered. */
	if (map.flags & VFIO_DMA_MAP_FLAG_VADDR)
		return -EINVAL;
	if (!(map.flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) ||
	    !map.size ||
	    ((map.size | map.iova | map.vaddr) & (TYPE1_PAGE_SIZE - 1)))
		return -EINVAL;
	if (__builtin_add_overflow(map.iova, map.size - 1, &last) ||
	    __builtin_add_overflow(map.vaddr, map.size - 1, &vlast))
		return -EINVAL;
	if (dma_first(c, map.iova, last))
		return -EEXIST;
	if (!c->dma_avail)
		return -ENOSPC;
	if (!iova_valid(c, map.iova, last))
		return -EINVAL;
	/* Pin: the memory must be there (and writable for a write map). */
	if (user_range_check(map.vaddr, map.size,
			     map.flags & VFIO_DMA_MAP_FLAG_WRITE))
		return -EFAULT;

	d = xzalloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->iova = map.iova;
	d->size = map.size;
	d->vaddr = map.vaddr;
	d->prot = PT_PROT_CACHE;
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		d->prot |= PT_PROT_READ;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		d->prot |= PT_PROT_WRITE;
	if (c->dirty_tracking) {
		rc = dma_alloc_dirty(d);
		if (rc)
			goto err_free;
	}
	for (i = 0; i < c->ndomains; i++) {
		rc = dma_map_domain(d, c->domains[i]);
		if (rc)
			goto err_unmap;
	}
	if (c->ndmas == c->dmas_cap) {
		unsigned int n = c->dmas_cap ? c->dmas_cap * 2 : 16;
		struct vfio_dma **a = xrealloc(c->dmas, n * sizeof(*a));

		if (!a) {
			rc = -ENOMEM;
			goto err_unmap;
		}
		c->dmas = a;
		c->dmas_cap = n;
	}
	i = dma_lower_bound(c, d->iova);
	memmove(&c->dmas[i + 1], &c->dmas[i], (c->ndmas - i) * sizeof(*c->dmas));
	c->dmas[i] = d;
	c->ndmas++;
	c->dma_avail--;
	return 0;

err_unmap:
	while (i--)
		pt_unmap(c->domains[i]->pt, d->iova, d->size);
err_free:
	dma_free(d);
	return rc;
}

/*
 * A caller's dirty bitmap for [base, base + pages * 4K): built here, then
 * OR-ed into the caller's memory.
 */
struct user_bitmap {
	uint64_t base;
	uint64_t pages;
	uint64_t data;
	uint64_t *bits;
};

static int user_bitmap_check(const struct vfio_bitmap *ub, uint64_t size)
{
	uint64_t pages, end;

	if (ub->pgsize != TYPE1_PAGE_SIZE)
		return -EINVAL;
	pages = size >> TYPE1_PAGE_SHIFT;
	if (!pages || !ub->size || ub->size > DIRTY_BITMAP_SIZE_MAX ||
	    pages > DIRTY_BITMAP_PAGES_MAX ||
	    ub->size < DIRTY_BITMAP_BYTES(pages))
		return -EINVAL;
	/* access_ok(): a user address range. */
	if (__builtin_add_overflow((uint64_t)(uintptr_t)ub->data, ub->size,
				   &end) ||
	    end > (1ULL << 47))
		return -EINVAL;
	return 0;
}

static int user_bitmap_init(struct user_bitmap *b, uint64_t base,
			    uint64_t size, const struct vfio_bitmap *ub)
{
	b->base = base;
	b->pages = size >> TYPE1_PAGE_SHIFT;
	b->data = (uint64_t)(uintptr_t)ub->data;
	b->bits = xcalloc(DIV_ROUND_UP(b->pages, 64), sizeof(uint64_t));
	return b->bits ? 0 : -ENOMEM;
}

/* OR the 64 bits of @m into @bits at bit @pos; nothing lands past a set bit. */
static void bits_or_word(uint64_t *bits, uint64_t pos, uint64_t m)
{
	unsigned int sh = pos % 64;

	bits[pos / 64] |= m << sh;
	/* Only a bit that is set reaches the next word: it is in the array. */
	if (sh && (m >> (64 - sh)))
		bits[pos / 64 + 1] |= m >> (64 - sh);
}

/* Set bits [@pos, @pos + @n) of @bits, whole words where they are whole. */
static void bits_fill(uint64_t *bits, uint64_t pos, uint64_t n)
{
	uint64_t end = pos + n;

	if (pos % 64) {
		uint64_t head = 64 - pos % 64 < n ? 64 - pos % 64 : n;

		bits[pos / 64] |= (UINT64_MAX >> (64 - head)) << (pos % 64);
		pos += head;
	}
	if (end / 64 > pos / 64) {
		memset(&bits[pos / 64], 0xff,
		       (end / 64 - pos / 64) * sizeof(uint64_t));
		pos = end / 64 * 64;
	}
	if (end > pos)
		bits[pos / 64] |= UINT64_MAX >> (64 - (end - pos));
}

/*
 * Report @d into @b, then reset its dirty set to what is pinned: every page
 * when a group can write anywhere, else its dirty words, skipping zero ones
 * (a word's bits past the mapping's last page are not reported).
 */
static void user_bitmap_add(struct vfio_container *c, struct user_bitmap *b,
			    struct vfio_dma *d)
{
	uint64_t first = (d->iova - b->base) >> TYPE1_PAGE_SHIFT;
	uint64_t pages = dma_pages(d), words = DIV_ROUND_UP(pages, 64);
	bool all = non_pinned_groups(c) && c->ndomains;

	if (all) {
		bits_fill(b->bits, first, pages);
	} else {
		for (uint64_t k = 0; k < words; k++) {
			uint64_t m = d->dirty[k];

			if (!m)
				continue;
			if (k == words - 1 && pages % 64)
				m &= UINT64_MAX >> (64 - pages % 64);
			bits_or_word(b->bits, first + k * 64, m);
		}
	}
	if (d->pinned)
		memcpy(d->dirty, d->pinned, words * sizeof(uint64_t));
	else
		memset(d->dirty, 0, words * sizeof(uint64_t));
}

/* OR our bits into the caller's bitmap; the caller's own bits stay. */
static int user_bitmap_flush(struct user_bitmap *b)
{
	uint64_t words = DIV_ROUND_UP(b->pages, 64), chunk[512];
	int rc = 0;

	for (uint64_t w = 0; w < words && !rc; w += ARRAY_SIZE(chunk)) {
		uint64_t n = words - w < ARRAY_SIZE(chunk) ? words - w :
							      ARRAY_SIZE(chunk);

		rc = copy_from_user(chunk, b->data + w * 8, n * 8);
		for (uint64_t i = 0; !rc && i < n; i++)
			chunk[i] |= b->bits[w + i];
		if (!rc)
			rc = copy_to_user(b->data + w * 8, chunk, n * 8);
	}
	xfree(b->bits);
	return rc;
}

static int type1_unmap_dma(struct vfio_container *c, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_dma_unmap, size);
	struct vfio_iommu_type1_dma_unmap unmap;
	struct user_bitmap ub = { 0 };
	struct vfio_bitmap vb;
	uint64_t last, unmapped = 0;
	bool report = false;
	struct vfio_dma *d;
	int rc;

	if (copy_from_user(&unmap, arg, minsz))
		return -EFAULT;
	if (unmap.argsz < minsz ||
	    (unmap.flags & ~(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
			     VFIO_DMA_UNMAP_FLAG_ALL |
			     VFIO_DMA_UNMAP_FLAG_VADDR)))
		return -EINVAL;
	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_VADDR)
		return -EINVAL;
	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
		if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL)
			return -EINVAL;
		if (unmap.argsz < minsz + sizeof(vb))
			return -EINVAL;
		if (copy_from_user(&vb, arg + minsz, sizeof(vb)))
			return -EFAULT;
		rc = user_bitmap_check(&vb, unmap.size);
		if (rc)
			return rc;
		if (!c->dirty_tracking)
			return -EINVAL;
		report = true;
	}
	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (unmap.iova || unmap.size)
			return -EINVAL;
		while (c->ndmas) {
			unmapped += c->dmas[0]->size;
			dma_remove(c, c->dmas[0]);
		}
		goto out_respond;
	}
	if (!unmap.size || ((unmap.iova | unmap.size) & (TYPE1_PAGE_SIZE - 1)))
		return -EINVAL;
	if (__builtin_add_overflow(unmap.iova, unmap.size - 1, &last))
		return -EINVAL;
	/* v2 never cuts a mapping in two. */
	if (is_v2(c)) {
		d = dma_first(c, unmap.iova, unmap.iova);
		if (d && d->iova != unmap.iova)
			return -EINVAL;
		d = dma_first(c, last, last);
		if (d && d->iova + d->size - 1 != last)
			return -EINVAL;
	}
	if (report) {
		rc = user_bitmap_init(&ub, unmap.iova, unmap.size, &vb);
		if (rc)
			return rc;
	}
	while ((d = dma_first(c, unmap.iova, last))) {
		/* v1 stops at a mapping that starts before the range. */
		if (!is_v2(c) && d->iova < unmap.iova)
			break;
		if (report)
			user_bitmap_add(c, &ub, d);
		unmapped += d->size;
		dma_remove(c, d);
	}
	if (report) {
		rc = user_bitmap_flush(&ub);
		if (rc)
			return rc;
	}
out_respond:
	unmap.size = unmapped;
	return copy_to_user(arg, &unmap, minsz) ? -EFAULT : 0;
}

static int type1_dirty_pages(struct vfio_container *c, uint64_t arg)
{
	struct vfio_iommu_type1_dirty_bitmap hdr;
	struct vfio_iommu_type1_dirty_bitmap_get get;
	struct user_bitmap ub;
	struct vfio_dma *d;
	uint64_t last;
	uint32_t flag;
	int rc;

	if (!is_v2(c))
		return -EACCES;
	if (copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.argsz < sizeof(hdr) ||
	    (hdr.flags & ~(VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
			   VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
			   VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP)))
		return -EINVAL;
	flag = hdr.flags;
	if (!flag || (flag & (flag - 1)))
		return -EINVAL;	/* exactly one operation */

	if (flag == VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
		if (c->dirty_tracking)
			return 0;
		for (unsigned int i = 0; i < c->ndmas; i++) {
			rc = dma_alloc_dirty(c->dmas[i]);
			if (rc) {
				while (i--) {
					xfree(c->dmas[i]->dirty);
					c->dmas[i]->dirty = NULL;
				}
				return rc;
			}
		}
		c->dirty_tracking = true;
		return 0;
	}
	if (flag == VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
		for (unsigned int i = 0; i < c->ndmas; i++) {
			xfree(c->dmas[i]->dirty);
			c->dmas[i]->dirty = NULL;
		}
		c->dirty_tracking = false;
		return 0;
	}

	if (hdr.argsz - sizeof(hdr) < sizeof(get))
		return -EINVAL;
	if (copy_from_user(&get, arg + sizeof(hdr), sizeof(get)))
		return -EFAULT;
	if (!get.size || __builtin_add_overflow(get.iova, get.size - 1, &last))
		return -EINVAL;
	rc = user_bitmap_check(&get.bitmap, get.size);
	if (rc)
		return rc;
	if ((get.iova | get.size) & (TYPE1_PAGE_SIZE - 1))
		return -EINVAL;
	if (!c->dirty_tracking)
		return -EINVAL;
	/* The range may not cut a mapping: first and last byte on edges. */
	d = dma_first(c, get.iova, get.iova);
	if (d && d->iova != get.iova)
		return -EINVAL;
	d = dma_first(c, last, last);
	if (d && d->iova + d->size - 1 != last)
		return -EINVAL;

	rc = user_bitmap_init(&ub, get.iova, get.size, &get.bitmap);
	if (rc)
		return rc;
	for (unsigned int i = dma_lower_bound(c, get.iova);
	     i < c->ndmas && c->dmas[i]->iova <= last; i++)
		user_bitmap_add(c, &ub, c->dmas[i]);
	return user_bitmap_flush(&ub);
}

static int type1_get_info(struct vfio_container *c, uint64_t arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	struct vfio_iommu_type1_info_cap_migration mig = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
			    .version = 1 },
		.pgsize_bitmap = TYPE1_PAGE_SIZE,
		.max_dirty_bitmap_size = DIRTY_BITMAP_SIZE_MAX,
	};
	struct vfio_iommu_type1_info_dma_avail avail = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
			    .version = 1 },
		.avail = c->dma_avail,
	};
	struct vfio_iommu_type1_info_cap_iova_range *cap;
	struct vfio_iommu_type1_info info = { 0 };
	struct range ranges[64];
	struct vfio_caps w;
	unsigned int n;
	uint32_t len;
	int rc;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);
	n = iova_ranges(c, ranges, ARRAY_SIZE(ranges));
	if (n > ARRAY_SIZE(ranges))
		n = ARRAY_SIZE(ranges);
	len = sizeof(*cap) + n * sizeof(cap->iova_ranges[0]);
	cap = xzalloc(len);
	if (!cap)
		return -ENOMEM;
	cap->header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
	cap->header.version = 1;
	cap->nr_iovas = n;
	for (unsigned int i = 0; i < n; i++) {
		cap->iova_ranges[i].start = ranges[i].start;
		cap->iova_ranges[i].end = ranges[i].last;
	}
	vfio_caps_init(&w, arg, info.argsz, sizeof(info));
	rc = vfio_caps_add(&w, cap, len);
	if (!rc)
		rc = vfio_caps_add(&w, &mig, sizeof(mig));
	if (!rc)
		rc = vfio_caps_add(&w, &avail, sizeof(avail));
	xfree(cap);
	if (rc)
		return rc;
	info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	info.iova_pgsizes = pgsize_bitmap(c);
	info.cap_offset = vfio_caps_all_fit(&w) ? sizeof(info) : 0;
	info.argsz = w.total;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

long vfio_iommu_type1_ioctl(struct vfio_container *c, unsigned int cmd,
			    uint64_t arg)
{
	switch (cmd) {
	case VFIO_IOMMU_GET_INFO:
		return type1_get_info(c, arg);
	case VFIO_IOMMU_MAP_DMA:
		return type1_map_dma(c, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return type1_unmap_dma(c, arg);
	case VFIO_IOMMU_DIRTY_PAGES:
		return type1_dirty_pages(c, arg);
	default:
		return -ENOTTY;
	}
}

static void domain_put(struct vfio_container *c, struct iommu_domain *dom)
{
	unsigned int j = 0;

	if (dom->users)
		return;
	for (unsigned int i = 0; i < c->ndomains; i++)
		if (c->domains[i] != dom)
			c->domains[j++] = c->domains[i];
	c->ndomains = j;
	iommu_domain_free(dom);
}

int vfio_iommu_type1_attach_group(struct vfio_container *c,
				  struct vfio_group *group)
{
	struct vfio_device *dev = group->dev;
	const struct iommu_resv_region *r;
	struct iommu_domain *dom = NULL;
	unsigned int nr;
	int rc;

	if (vfio_device_is_mdev(dev)) {
		pthread_rwlock_wrlock(&dev->path_lock);
		dev->container = c;
		pthread_rwlock_unlock(&dev->path_lock);
		return 0;
	}
	/* Existing mappings may not sit in the device's reserved IOVA. */
	nr = dev->iodev.unit->drv->resv_regions(&dev->iodev, &r);
	for (unsigned int i = 0; i < nr; i++)
		if (dma_first(c, r[i].start, r[i].last))
			return -EINVAL;
	for (unsigned int i = 0; i < c->ndomains; i++) {
		if (!iommu_attach_check(c->domains[i], &dev->iodev)) {
			dom = c->domains[i];
			break;
		}
	}
	if (!dom) {
		unsigned int i;

		dom = iommu_domain_alloc_paging(&dev->iodev, 0, 0);
		if (IS_ERR(dom))
			return (int)PTR_ERR(dom);
		for (i = 0; i < c->ndmas; i++) {
			rc = dma_map_domain(c->dmas[i], dom);
			if (rc) {
				iommu_domain_free(dom);
				return rc;
			}
		}
		c->domains[c->ndomains++] = dom;
	}
	iommu_attach(&dev->iodev, dom);
	return 0;
}

void vfio_iommu_type1_detach_group(struct vfio_container *c,
				   struct vfio_group *group)
{
	struct vfio_device *dev = group->dev;
	struct iommu_domain *dom;

	if (vfio_device_is_mdev(dev)) {
		pthread_rwlock_wrlock(&dev->path_lock);
		if (dev->container == c)
			dev->container = NULL;
		pthread_rwlock_unlock(&dev->path_lock);
		return;
	}
	dom = dev->iodev.domain;
	if (!dom)
		return;
	iommu_attach(&dev->iodev, NULL);
	domain_put(c, dom);
	/*
	 * What the device wrote since the last report is unknown: when the
	 * last group that could write anywhere leaves, every page is dirty
	 * once more, then only pins count (Linux
	 * vfio_iommu_populate_bitmap_full()).
	 */
	if (c->dirty_tracking && non_pinned_groups(c) == 1) {
		for (unsigned int i = 0; i < c->ndmas; i++) {
			struct vfio_dma *d = c->dmas[i];

			memset(d->dirty, 0xff,
			       DIV_ROUND_UP(dma_pages(d), 64) * sizeof(uint64_t));
		}
	}
}

void vfio_iommu_type1_release(struct vfio_container *c)
{
	while (c->ndmas)
		dma_remove(c, c->dmas[0]);
	xfree(c->dmas);
	c->dmas = NULL;
	c->dmas_cap = 0;
	for (unsigned int i = 0; i < c->ndomains; i++)
		iommu_domain_free(c->domains[i]);
	c->ndomains = 0;
	c->dirty_tracking = false;
}

int vfio_container_pin_write(struct vfio_container *c, uint64_t iova,
			     const void *buf, size_t len,
			     struct pt_fault *fault)
{
	const uint8_t *src = buf;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	while (len) {
		struct vfio_dma *d = dma_first(c, iova, iova);
		uint64_t off, n, page;

		if (!d || !(d->prot & PT_PROT_WRITE)) {
			if (fault)
				*fault = (struct pt_fault){
					d ? PT_FAULT_PERMISSION :
					    PT_FAULT_NOT_PRESENT,
					iova, true };
			rc = -EFAULT;
			break;
		}
		off = iova - d->iova;
		page = off >> TYPE1_PAGE_SHIFT;
		n = TYPE1_PAGE_SIZE - (off & (TYPE1_PAGE_SIZE - 1));
		if (n > len)
			n = len;
		if (!d->pinned) {
			d->pinned = xcalloc(DIV_ROUND_UP(dma_pages(d), 64),
					    sizeof(uint64_t));
			if (!d->pinned) {
				rc = -ENOMEM;
				break;
			}
		}
		/* The vendor driver pins the page it DMAs to: dirty now. */
		d->pinned[page / 64] |= 1ULL << (page % 64);
		memcpy((void *)(uintptr_t)(d->vaddr + off), src, n);
		if (d->dirty)
			d->dirty[page / 64] |= 1ULL << (page % 64);
		iova += n;
		src += n;
		len -= n;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
