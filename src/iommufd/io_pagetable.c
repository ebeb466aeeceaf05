// SPDX-License-Identifier: MIT
/*
 * io_pagetable.c - the IOVA space of an IOAS: areas of user memory, the
 * reserved and allowed IOVA, and the domains every area is mapped into.
 *
 * Behaviour of Linux drivers/iommu/iommufd/io_pagetable.c, per
 * shared/spec/kernel-abi.md §1.4 and §2.2-2.3: EEXIST for an overlapping
 * fixed map, EINVAL for reserved IOVA, ENOENT for an unmap that would cut an
 * area (one that finds nothing unmaps 0 bytes; IOAS_UNMAP makes that ENOENT),
 * areas cut only for the VFIO compat unmap (iopt_cut_iova()), the IOVA
 * alignment the largest of the domains' smallest page sizes, reserved IOVA
 * outside each domain's aperture, automatic IOVA as iopt_alloc_iova(), dirty
 * state cleared before tracking is enabled, and dirty reads walking
 * contiguous areas window by window.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/uaccess.h>

#include "iommufd_private.h"

enum { IOPT_PAGE_SIZE = 4096 };

void iopt_init(struct io_pagetable *iopt)
{
	memset(iopt, 0, sizeof(*iopt));
	iopt->iova_alignment = 1;
}

void iopt_destroy(struct iommufd_host *host, struct io_pagetable *iopt)
{
	uint64_t unmapped;

	iopt_unmap_all(host, iopt, &unmapped);
	xfree(iopt->areas);
	xfree(iopt->resv);
	xfree(iopt->allowed);
	xfree(iopt->domains);
}

/* Index of the first area whose last >= @iova (nareas if none). */
static unsigned int area_lower_bound(struct io_pagetable *iopt, uint64_t iova)
{
	unsigned int lo = 0, hi = iopt->nareas;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (iopt->areas[mid]->last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct iopt_area *area_first(struct io_pagetable *iopt, uint64_t start,
				    uint64_t last)
{
	unsigned int i = area_lower_bound(iopt, start);

	if (i < iopt->nareas && iopt->areas[i]->iova <= last)
		return iopt->areas[i];
	return NULL;
}

static int area_insert(struct io_pagetable *iopt, struct iopt_area *area)
{
	unsigned int i;

	if (iopt->nareas == iopt->areas_cap) {
		unsigned int n = iopt->areas_cap ? iopt->areas_cap * 2 : 8;
		struct iopt_area **a = xrealloc(iopt->areas, n * sizeof(*a));

		if (!a)
			return -ENOMEM;
		iopt->areas = a;
		iopt->areas_cap = n;
	}
	i = area_lower_bound(iopt, area->iova);
	memmove(&iopt->areas[i + 1], &iopt->areas[i],
		(iopt->nareas - i) * sizeof(*iopt->areas));
	iopt->areas[i] = area;
	iopt->nareas++;
	return 0;
}

static void area_remove(struct io_pagetable *iopt, struct iopt_area *area)
{
	unsigned int i = area_lower_bound(iopt, area->iova);

	memmove(&iopt->areas[i], &iopt->areas[i + 1],
		(iopt->nareas - i - 1) * sizeof(*iopt->areas));
	iopt->nareas--;
}

static bool reserved_overlaps(struct io_pagetable *iopt, uint64_t start,
			      uint64_t last)
{
	for (unsigned int i = 0; i < iopt->nresv; i++)
		if (iopt->resv[i].start <= last && iopt->resv[i].last >= start)
			return true;
	return false;
}

static uint64_t area_pa(const struct iopt_area *area)
{
	return area->pages->uva + area->pages_offset;
}

/* Leaf sizes allowed now: with large pages off, nothing above PAGE_SIZE. */
static uint64_t iopt_map_limit(struct io_pagetable *iopt)
{
	return iopt->disable_large_pages ? (IOPT_PAGE_SIZE << 1) - 1 : 0;
}

/*
 * An area with neither read nor write (only VFIO_IOMMU_MAP_DMA with flags 0
 * makes one) gives DMA nothing to use: it is not put into the domains,
 * whose page tables take no such entry; DMA there faults either way.
 */
static bool area_has_access(const struct iopt_area *area)
{
	return area->prot & (PT_PROT_READ | PT_PROT_WRITE);
}

static int area_map_domain(struct io_pagetable *iopt, struct iopt_area *area,
			   struct iommu_domain *domain)
{
	if (!area_has_access(area))
		return 0;
	return pt_map_pgsizes(domain->pt, area->iova, area_pa(area),
			      area->last - area->iova + 1, area->prot,
			      iopt_map_limit(iopt));
}

static void area_unmap_domain(struct iopt_area *area,
			      struct iommu_domain *domain)
{
	if (area_has_access(area))
		pt_unmap(domain->pt, area->iova, area->last - area->iova + 1);
}

/* Put a new area into every domain; on failure none keeps it. */
static int area_fill_domains(struct iommufd_host *host,
			     struct io_pagetable *iopt, struct iopt_area *area)
{
	unsigned int i;
	int rc;

	if (!iopt->ndomains)
		return 0;
	rc = iopt_pages_pin(host, area->pages);
	if (rc)
		return rc;
	for (i = 0; i < iopt->ndomains; i++) {
		rc = area_map_domain(iopt, area, iopt->domains[i]);
		if (rc)
			goto err_unmap;
	}
	return 0;

err_unmap:
	while (i--)
		area_unmap_domain(area, iopt->domains[i]);
	iopt_pages_unpin(host, area->pages);
	return rc;
}

static void area_unfill_domains(struct iommufd_host *host,
				struct io_pagetable *iopt,
				struct iopt_area *area)
{
	if (!iopt->ndomains)
		return;
	for (unsigned int i = 0; i < iopt->ndomains; i++)
		area_unmap_domain(area, iopt->domains[i]);
	iopt_pages_unpin(host, area->pages);
}

static int area_add(struct iommufd_host *host, struct io_pagetable *iopt,
		    struct iopt_pages *pages, uint64_t offset, uint64_t iova,
		    uint64_t length, unsigned int prot)
{
	struct iopt_area *area = xzalloc(sizeof(*area));
	int rc;

	if (!area)
		return -ENOMEM;
	area->iova = iova;
	area->last = iova + length - 1;
	area->pages = pages;
	area->pages_offset = offset;
	area->prot = prot;
	rc = area_fill_domains(host, iopt, area);
	if (rc)
		goto err_free;
	rc = area_insert(iopt, area);
	if (rc)
		goto err_unfill;
	pages->refs++;
	return 0;

err_unfill:
	area_unfill_domains(host, iopt, area);
err_free:
	xfree(area);
	return rc;
}

static void area_destroy(struct iommufd_host *host, struct io_pagetable *iopt,
			 struct iopt_area *area)
{
	area_unfill_domains(host, iopt, area);
	area_remove(iopt, area);
	iopt_pages_put(host, area->pages);
	xfree(area);
}

/*
 * The checks of Linux iopt_insert_area(), made once the IOVA is known: a
 * writable area over pages pinned read-only is EPERM (only IOAS_COPY can
 * ask for one; @pages NULL is a new, matching one), and the area's offset
 * into its first user page must keep the IOAS alignment, or the domains
 * could not map it (EINVAL; with huge pages off the alignment is PAGE_SIZE).
 */
static int area_check_insert(struct io_pagetable *iopt,
			     const struct iopt_pages *pages, uint64_t uva,
			     unsigned int prot)
{
	if (pages && (prot & PT_PROT_WRITE) && !pages->writable)
		return -EPERM;
	if ((uva % IOPT_PAGE_SIZE) & (iopt->iova_alignment - 1))
		return -EINVAL;
	return 0;
}

/* The fixed-IOVA checks of iopt_check_iova(). */
static int iopt_check_iova(struct io_pagetable *iopt, uint64_t iova,
			   uint64_t length)
{
	uint64_t last;

	if (iova & (iopt->iova_alignment - 1))
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	if (reserved_overlaps(iopt, iova, last))
		return -EINVAL;
	if (area_first(iopt, iova, last))
		return -EEXIST;
	return 0;
}

/*
 * The IOVA in use: reserved ranges and areas, as ranges sorted by start,
 * for range_holes(). Reserved ranges go first (a few), then the areas
 * (already sorted), so the sort has little to do.
 */
static struct range *iopt_used_ranges(struct io_pagetable *iopt,
				      bool with_areas, unsigned int *n)
{
	unsigned int cnt = iopt->nresv + (with_areas ? iopt->nareas : 0);
	struct range *used = xcalloc(cnt ? cnt : 1, sizeof(*used));

	if (!used)
		return NULL;
	for (unsigned int i = 0; i < iopt->nresv; i++)
		used[i] = (struct range){ iopt->resv[i].start,
					  iopt->resv[i].last };
	for (unsigned int i = 0; with_areas && i < iopt->nareas; i++)
		used[iopt->nresv + i] = (struct range){ iopt->areas[i]->iova,
							iopt->areas[i]->last };
	*n = cnt;
	return used;
}

/*
 * The allowed IOVA the allocator searches, as Linux walks it
 * (interval_tree_for_each_span() over the allowed tree, bounded to
 * [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]): the allowed ranges, touching ones
 * merged, clipped to those bounds; no allowed range means all of it.
 */
static struct range *iopt_allowed_spans(struct io_pagetable *iopt,
					unsigned int *n)
{
	const struct range bounds = { IOPT_PAGE_SIZE,
				      UINT64_MAX - IOPT_PAGE_SIZE };
	struct range *spans =
		xcalloc(iopt->nallowed ? iopt->nallowed : 1, sizeof(*spans));
	unsigned int cnt = 0;

	if (!spans)
		return NULL;
	if (!iopt->nallowed) {
		spans[0] = bounds;
		*n = 1;
		return spans;
	}
	for (unsigned int i = 0; i < iopt->nallowed; i++) {
		struct range r = { iopt->allowed[i].start,
				   iopt->allowed[i].last };
		unsigned int j = cnt++;

		for (; j && spans[j - 1].start > r.start; j--)
			spans[j] = spans[j - 1];
		spans[j] = r;
	}
	*n = 0;
	for (unsigned int i = 0; i < cnt; i++) {
		struct range r = spans[i];

		if (r.last < bounds.start || r.start > bounds.last)
			continue;
		if (r.start < bounds.start)
			r.start = bounds.start;
		if (r.last > bounds.last)
			r.last = bounds.last;
		if (*n && spans[*n - 1].last + 1 >= r.start) {
			if (r.last > spans[*n - 1].last)
				spans[*n - 1].last = r.last;
			continue;
		}
		spans[(*n)++] = r;
	}
	return spans;
}

/*
 * Linux __alloc_iova_check_range(): does [ALIGN(*start, align) | offset,
 * last] hold @length? If so *start moves there.
 */
static bool alloc_iova_fits(uint64_t *start, uint64_t last, uint64_t length,
			    uint64_t align, uint64_t page_offset)
{
	uint64_t at;

	if (__builtin_add_overflow(*start, align - 1, &at))
		return false;
	at &= ~(align - 1);
	at |= page_offset;
	if (at >= last || last - at < length - 1)
		return false;
	*start = at;
	return true;
}

/* With THP, Linux caps the alignment at HPAGE_SIZE (2 MiB on x86-64). */
enum { IOPT_MAX_IOVA_ALIGNMENT = 2 << 20 };

/*
 * Automatic IOVA, as Linux iopt_alloc_iova(): aligned to
 * roundup_pow_of_two(@length), lowered to the alignment of the user
 * address @uva (when not 0), capped at HPAGE_SIZE, and EINVAL if that is
 * below the IOAS's alignment; the user address's offset in its page is
 * ORed in. The first allowed span, then the first hole in it between
 * reserved ranges and areas, that holds the aligned range wins; the
 * search starts at PAGE_SIZE, so IOVA below it is never handed out.
 */
static int iopt_alloc_iova(struct io_pagetable *iopt, uint64_t *iova,
			   uint64_t uva, uint64_t length)
{
	uint64_t page_offset = uva % IOPT_PAGE_SIZE, align;
	struct range *spans = NULL, *used = NULL, *holes = NULL;
	unsigned int nspans, nused, nholes;
	int rc = -ENOSPC;

	if (!length || length >= UINT64_MAX / 2)
		return -EOVERFLOW;
	align = length == 1 ? 1 : 2ULL << fls64(length - 1);
	if (uva && (1ULL << ffs64(uva)) < align)
		align = 1ULL << ffs64(uva);
	if (align >= IOPT_MAX_IOVA_ALIGNMENT)
		align = IOPT_MAX_IOVA_ALIGNMENT;
	if (align < iopt->iova_alignment)
		return -EINVAL;

	spans = iopt_allowed_spans(iopt, &nspans);
	used = iopt_used_ranges(iopt, true, &nused);
	holes = xcalloc(nused + 1, sizeof(*holes));
	if (!spans || !used || !holes) {
		rc = -ENOMEM;
		goto out_free;
	}
	nholes = range_holes(used, nused, holes, nused + 1);
	for (unsigned int s = 0; s < nspans; s++) {
		uint64_t start = spans[s].start, last = spans[s].last;

		if (!alloc_iova_fits(&start, last, length, align, page_offset))
			continue;
		for (unsigned int h = 0; h < nholes; h++) {
			uint64_t hs =
				holes[h].start > start ? holes[h].start : start;
			uint64_t hl =
				holes[h].last < last ? holes[h].last : last;

			if (hs > hl)
				continue;
			if (alloc_iova_fits(&hs, hl, length, align,
					    page_offset)) {
				*iova = hs;
				rc = 0;
				goto out_free;
			}
		}
	}
out_free:
	xfree(holes);
	xfree(used);
	xfree(spans);
	return rc;
}

int iopt_map_user_pages(struct iommufd_host *host, struct io_pagetable *iopt,
			uint64_t *iova, uint64_t uva, uint64_t length,
			unsigned int prot, bool fixed)
{
	struct iopt_pages *pages;
	uint64_t uva_end;
	int rc;

	/*
	 * iopt_alloc_user_pages(), then iopt_alloc_area_pages(). Linux
	 * refuses lengths past SIZE_MAX - PAGE_SIZE (its page count would
	 * overflow) whether or not anything wraps.
	 */
	if (__builtin_add_overflow(uva, length, &uva_end))
		return -EOVERFLOW;
	if (!length || length > UINT64_MAX - IOPT_PAGE_SIZE ||
	    (length & (iopt->iova_alignment - 1)))
		return -EINVAL;
	if (fixed)
		rc = iopt_check_iova(iopt, *iova, length);
	else
		rc = iopt_alloc_iova(iopt, iova, uva, length);
	if (rc)
		return rc;
	rc = area_check_insert(iopt, NULL, uva, prot);
	if (rc)
		return rc;

	pages = iopt_pages_alloc(uva, length, prot & PT_PROT_WRITE);
	if (!pages)
		return -ENOMEM;
	rc = area_add(host, iopt, pages, 0, *iova, length, prot);
	iopt_pages_put(host, pages);
	return rc;
}

int iopt_get_pages(struct io_pagetable *iopt, uint64_t iova, uint64_t length)
{
	uint64_t last, cur = iova;
	struct iopt_area *area;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	/* Contiguous areas from @iova to @last. */
	while ((area = area_first(iopt, cur, cur))) {
		if (area->last >= last)
			return 0;
		cur = area->last + 1;
	}
	return -ENOENT;
}

int iopt_copy(struct iommufd_host *host, struct io_pagetable *dst,
	      struct io_pagetable *src, uint64_t src_iova, uint64_t *dst_iova,
	      uint64_t length, unsigned int prot, bool fixed)
{
	uint64_t src_last = src_iova + length - 1, cur, base;
	struct iopt_area *area;
	unsigned int n = 0, done = 0;
	int rc;

	/* Pieces of the source, which iopt_get_pages() found contiguous. */
	for (cur = src_iova;; cur = area->last + 1) {
		area = area_first(src, cur, cur);
		n++;
		if (area->last >= src_last)
			break;
	}
	area = area_first(src, src_iova, src_iova);

	if (length & (dst->iova_alignment - 1))
		return -EINVAL;
	/* The first piece's user address guides the alignment. */
	rc = fixed ? iopt_check_iova(dst, *dst_iova, length) :
		     iopt_alloc_iova(dst, dst_iova,
				     area_pa(area) + (src_iova - area->iova),
				     length);
	if (rc)
		return rc;

	/* iopt_insert_area()'s checks, piece by piece, before any is added. */
	cur = src_iova;
	for (unsigned int i = 0; i < n; i++) {
		area = area_first(src, cur, src_last);
		rc = area_check_insert(dst, area->pages,
				       area_pa(area) + (cur - area->iova), prot);
		if (rc)
			return rc;
		if (area->last >= src_last)
			break;
		cur = area->last + 1;
	}

	/* One destination area per source piece, sharing its pages. */
	base = *dst_iova;
	cur = src_iova;
	while (done < n) {
		uint64_t piece_last;

		area = area_first(src, cur, src_last);
		piece_last = area->last < src_last ? area->last : src_last;
		rc = area_add(host, dst, area->pages,
			      area->pages_offset + (cur - area->iova),
			      base + (cur - src_iova), piece_last - cur + 1,
			      prot);
		if (rc)
			goto err_undo;
		done++;
		cur = piece_last + 1;
	}
	return 0;

err_undo:
	while (done--) {
		struct iopt_area *a = area_first(dst, base, base + length - 1);

		area_destroy(host, dst, a);
	}
	return rc;
}

/*
 * Split @area at @at, the first IOVA of the second half: both halves keep
 * the pages, the domains keep the mapping.
 */
static int area_split(struct io_pagetable *iopt, struct iopt_area *area,
		      uint64_t at)
{
	struct iopt_area *tail = xzalloc(sizeof(*tail));
	int rc;

	if (!tail)
		return -ENOMEM;
	*tail = *area;
	tail->iova = at;
	tail->pages_offset += at - area->iova;
	area->last = at - 1;
	rc = area_insert(iopt, tail);
	if (rc) {
		area->last = tail->last;
		xfree(tail);
		return rc;
	}
	area->pages->refs++;
	/* One pin per pages object, however many areas share it. */
	if (iopt->ndomains)
		area->pages->pin_users++;
	return 0;
}

/*
 * Linux iopt_area_split(): make @iova the last byte of a piece of @area.
 * Nothing to do when it is the area's first or last byte (the first is
 * left alone as well, as Linux does); the cut must keep the IOVA alignment
 * in both the IOVA and the user address (EINVAL), and is refused while
 * a domain may hold large IOPTEs there (EINVAL).
 */
static int iopt_area_split(struct io_pagetable *iopt, struct iopt_area *area,
			   uint64_t iova)
{
	uint64_t align = iopt->iova_alignment, new_start = iova + 1;

	if (iova == area->iova || iova == area->last)
		return 0;
	if ((new_start & (align - 1)) ||
	    ((area_pa(area) + (new_start - area->iova)) & (align - 1)))
		return -EINVAL;
	if (iopt->ndomains && !iopt->disable_large_pages)
		return -EINVAL;
	return area_split(iopt, area, new_start);
}

int iopt_cut_iova(struct io_pagetable *iopt, const uint64_t *iovas,
		  unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct iopt_area *area = area_first(iopt, iovas[i], iovas[i]);
		int rc;

		if (!area)
			continue;
		rc = iopt_area_split(iopt, area, iovas[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int iopt_unmap_iova(struct iommufd_host *host, struct io_pagetable *iopt,
		    uint64_t iova, uint64_t length, uint64_t *unmapped)
{
	struct iopt_area *area;
	uint64_t last;

	*unmapped = 0;
	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	/* Whole areas only (cuts are iopt_cut_iova()'s); none found is 0. */
	while ((area = area_first(iopt, iova, last))) {
		if (area->iova < iova || area->last > last)
			return -ENOENT;
		*unmapped += area->last - area->iova + 1;
		area_destroy(host, iopt, area);
	}
	return 0;
}

int iopt_unmap_all(struct iommufd_host *host, struct io_pagetable *iopt,
		   uint64_t *unmapped)
{
	*unmapped = 0;
	while (iopt->nareas) {
		struct iopt_area *area = iopt->areas[0];

		*unmapped += area->last - area->iova + 1;
		area_destroy(host, iopt, area);
	}
	return 0;
}

int iopt_reserve_iova(struct io_pagetable *iopt, uint64_t start, uint64_t last,
		      const void *owner)
{
	struct iopt_reserved *r;

	if (area_first(iopt, start, last))
		return -EADDRINUSE;
	for (unsigned int i = 0; i < iopt->nallowed; i++)
		if (iopt->allowed[i].start <= last &&
		    iopt->allowed[i].last >= start)
			return -EADDRINUSE;
	r = xrealloc(iopt->resv, (iopt->nresv + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	iopt->resv = r;
	r[iopt->nresv++] = (struct iopt_reserved){ start, last, owner };
	return 0;
}

void iopt_remove_reserved_iova(struct io_pagetable *iopt, const void *owner)
{
	unsigned int j = 0;

	for (unsigned int i = 0; i < iopt->nresv; i++)
		if (iopt->resv[i].owner != owner)
			iopt->resv[j++] = iopt->resv[i];
	iopt->nresv = j;
}

int iopt_allow_range_check(const struct iommu_iova_range *ranges,
			   unsigned int i)
{
	if (ranges[i].start >= ranges[i].last)
		return -EINVAL;
	for (unsigned int j = 0; j < i; j++)
		if (ranges[j].start <= ranges[i].last &&
		    ranges[j].last >= ranges[i].start)
			return -EINVAL;
	return 0;
}

int iopt_set_allow_iova(struct io_pagetable *iopt,
			const struct iommu_iova_range *ranges, unsigned int n)
{
	struct iommu_iova_range *copy = NULL;

	for (unsigned int i = 0; i < n; i++) {
		int rc = iopt_allow_range_check(ranges, i);

		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < n; i++)
		if (reserved_overlaps(iopt, ranges[i].start, ranges[i].last))
			return -EADDRINUSE;
	if (n) {
		copy = xmalloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, ranges, n * sizeof(*copy));
	}
	xfree(iopt->allowed);
	iopt->allowed = copy;
	iopt->nallowed = n;
	return 0;
}

/*
 * The holes between reserved ranges: what IOAS_IOVA_RANGES and the VFIO
 * IOVA_RANGE capability report. Fills up to @max, returns how many there
 * are, or -ENOMEM.
 */
int iopt_iova_ranges(struct io_pagetable *iopt, struct iommu_iova_range *out,
		     unsigned int max)
{
	struct range *used, *holes = NULL;
	unsigned int nused, n;

	used = iopt_used_ranges(iopt, false, &nused);
	if (max)
		holes = xcalloc(max, sizeof(*holes));
	if (!used || (max && !holes)) {
		xfree(used);
		xfree(holes);
		return -ENOMEM;
	}
	n = range_holes(used, nused, holes, max);
	for (unsigned int i = 0; i < n && i < max; i++)
		out[i] = (struct iommu_iova_range){ holes[i].start,
						    holes[i].last };
	xfree(holes);
	xfree(used);
	return (int)n;
}

static uint64_t domain_min_pgsize(const struct iommu_domain *domain)
{
	return 1ULL << ffs64(domain->pgsizes);
}

/*
 * Linux iopt_check_iova_alignment(): every area's IOVA, length and offset
 * into its first user page must keep the new alignment, else EADDRINUSE.
 */
static int iopt_check_alignment(struct io_pagetable *iopt, uint64_t align)
{
	for (unsigned int i = 0; i < iopt->nareas; i++) {
		const struct iopt_area *a = iopt->areas[i];

		if ((a->iova & (align - 1)) || ((a->last + 1) & (align - 1)) ||
		    ((area_pa(a) % IOPT_PAGE_SIZE) & (align - 1)))
			return -EADDRINUSE;
	}
	return 0;
}

static uint64_t iopt_calc_alignment(struct io_pagetable *iopt,
				    struct iommu_domain *extra)
{
	uint64_t align = iopt->disable_large_pages ? IOPT_PAGE_SIZE : 1;

	for (unsigned int i = 0; i < iopt->ndomains; i++)
		if (domain_min_pgsize(iopt->domains[i]) > align)
			align = domain_min_pgsize(iopt->domains[i]);
	if (extra && domain_min_pgsize(extra) > align)
		align = domain_min_pgsize(extra);
	return align;
}

int iopt_table_add_domain(struct iommufd_host *host, struct io_pagetable *iopt,
			  struct iommu_domain *domain)
{
	struct iommu_domain **doms;
	uint64_t align = iopt_calc_alignment(iopt, domain);
	unsigned int i;
	int rc;

	rc = iopt_check_alignment(iopt, align);
	if (rc)
		return rc;
	/* IOVA outside the aperture is reserved for the domain's life. */
	if (domain->aperture_start) {
		rc = iopt_reserve_iova(iopt, 0, domain->aperture_start - 1,
				       domain);
		if (rc)
			goto err_resv;
	}
	if (domain->aperture_last != UINT64_MAX) {
		rc = iopt_reserve_iova(iopt, domain->aperture_last + 1,
				       UINT64_MAX, domain);
		if (rc)
			goto err_resv;
	}
	doms = xrealloc(iopt->domains, (iopt->ndomains + 1) * sizeof(*doms));
	if (!doms) {
		rc = -ENOMEM;
		goto err_resv;
	}
	iopt->domains = doms;

	for (i = 0; i < iopt->nareas; i++) {
		struct iopt_area *area = iopt->areas[i];

		if (!iopt->ndomains) {
			rc = iopt_pages_pin(host, area->pages);
			if (rc)
				goto err_unmap;
		}
		rc = area_map_domain(iopt, area, domain);
		if (rc) {
			if (!iopt->ndomains)
				iopt_pages_unpin(host, area->pages);
			goto err_unmap;
		}
	}
	iopt->domains[iopt->ndomains++] = domain;
	iopt->iova_alignment = align;
	return 0;

err_unmap:
	while (i--) {
		area_unmap_domain(iopt->areas[i], domain);
		if (!iopt->ndomains)
			iopt_pages_unpin(host, iopt->areas[i]->pages);
	}
err_resv:
	iopt_remove_reserved_iova(iopt, domain);
	return rc;
}

void iopt_table_remove_domain(struct iommufd_host *host,
			      struct io_pagetable *iopt,
			      struct iommu_domain *domain)
{
	unsigned int i, j = 0;

	for (i = 0; i < iopt->ndomains; i++)
		if (iopt->domains[i] != domain)
			iopt->domains[j++] = iopt->domains[i];
	if (j == iopt->ndomains)
		return;
	iopt->ndomains = j;
	for (i = 0; i < iopt->nareas; i++) {
		area_unmap_domain(iopt->areas[i], domain);
		if (!iopt->ndomains)
			iopt_pages_unpin(host, iopt->areas[i]->pages);
	}
	iopt_remove_reserved_iova(iopt, domain);
	iopt->iova_alignment = iopt_calc_alignment(iopt, NULL);
}

int iopt_disable_large_pages(struct io_pagetable *iopt)
{
	int rc;

	if (iopt->disable_large_pages)
		return 0;
	/* Not once domains have pages mapped in them. */
	if (iopt->ndomains && iopt->nareas)
		return -EINVAL;
	iopt->disable_large_pages = true;
	rc = iopt_check_alignment(iopt, iopt_calc_alignment(iopt, NULL));
	if (rc) {
		iopt->disable_large_pages = false;
		return rc;
	}
	iopt->iova_alignment = iopt_calc_alignment(iopt, NULL);
	return 0;
}

void iopt_enable_large_pages(struct io_pagetable *iopt)
{
	iopt->disable_large_pages = false;
	iopt->iova_alignment = iopt_calc_alignment(iopt, NULL);
}

/*
 * VFIO_IOMMU_GET_INFO's iova_pgsizes, as Linux iommufd_get_pagesizes(): the
 * sizes every domain takes, with those below PAGE_SIZE folded into PAGE_SIZE
 * (as vfio_update_pgsize_bitmap() does), then at least the IOVA alignment,
 * as a number. Large pages being off does not show here.
 */
uint64_t iopt_pgsizes(struct io_pagetable *iopt)
{
	uint64_t sizes = UINT64_MAX;

	for (unsigned int i = 0; i < iopt->ndomains; i++)
		sizes &= iopt->domains[i]->pgsizes;
	if (sizes & (IOPT_PAGE_SIZE - 1)) {
		sizes &= ~(uint64_t)(IOPT_PAGE_SIZE - 1);
		sizes |= IOPT_PAGE_SIZE;
	}
	return sizes > iopt->iova_alignment ? sizes : iopt->iova_alignment;
}

int iopt_access_rw(struct io_pagetable *iopt, uint64_t iova, void *buf,
		   size_t len, bool write, struct pt_fault *fault)
{
	uint64_t cur = iova, last;
	char *p = buf;

	if (!len)
		return 0;
	if (__builtin_add_overflow(iova, len - 1, &last))
		goto err_not_present;
	while (cur <= last) {
		struct iopt_area *area = area_first(iopt, cur, cur);
		uint64_t to, uva;
		size_t n;
		int rc;

		if (!area)
			goto err_not_present;
		if (write && !(area->prot & PT_PROT_WRITE)) {
			if (fault)
				*fault = (struct pt_fault){ PT_FAULT_PERMISSION,
							    cur, write };
			return -EFAULT;
		}
		to = area->last < last ? area->last : last;
		n = to - cur + 1;
		uva = area_pa(area) + (cur - area->iova);
		rc = write ? copy_to_user(uva, p, n) :
			     copy_from_user(p, uva, n);
		if (rc)
			goto err_not_present;
		p += n;
		if (to == UINT64_MAX)
			break;
		cur = to + 1;
	}
	return 0;

err_not_present:
	if (fault)
		*fault = (struct pt_fault){ PT_FAULT_NOT_PRESENT, cur, write };
	return -EFAULT;
}

int iopt_set_dirty_tracking(struct io_pagetable *iopt,
			    struct iommu_domain *domain, bool enable)
{
	if (!domain->dirty_ops)
		return -EOPNOTSUPP;
	if (enable) {
		/* Forget what was dirtied before tracking, on every area. */
		for (unsigned int i = 0; i < iopt->nareas; i++) {
			const struct iopt_area *a = iopt->areas[i];

			pt_read_and_clear_dirty(domain->pt, a->iova,
						a->last - a->iova + 1, 0, NULL);
		}
	}
	return pt_set_dirty_tracking(domain->pt, enable);
}

/*
 * The caller's bitmap as Linux's iova_bitmap pins it: with
 * pin_user_pages_fast(FOLL_WRITE), up to 512 pages at a time (a page of
 * struct page pointers: 2 MiB of bitmap, 64 GiB of IOVA at 4 KiB), from
 * where the last pin ended; a pin stops at the first page it cannot pin
 * (not mapped, PROT_NONE or read-only). The window is then as many u64
 * words as the pinned bytes reach (rounded up), its bits past the pinned
 * pages are dropped (their set-ahead never lands), and the next window's
 * pin fails, ending the walk.
 *
 * Here a pin faults the same pages in for writing (user_range_fault_in():
 * one madvise, nothing copied) and records the first byte it could not
 * pin in @limit; read_and_clear_window() stops at the word @limit falls
 * in. iova_bitmap's windows are smaller than the kernel's pins, so a
 * window already inside [data, @pinned) costs nothing. The bits reach the
 * caller through copy_{from,to}_user of only the pages that receive any
 * (iova_bitmap.c), which read zeros past @limit and drop writes past it.
 */
#define BITMAP_PIN_BYTES (512ULL << IOVA_BITMAP_USER_PAGE_SHIFT)

struct bitmap_pin {
	uint64_t data;		/* the caller's bitmap */
	uint64_t end;		/* its end (saturated) */
	uint64_t pinned;	/* [data, pinned) is pinned */
	uint64_t limit;		/* first byte not pinned; UINT64_MAX: none yet */
};

static int bitmap_pin(void *opaque, uint64_t addr, size_t n)
{
	struct bitmap_pin *p = opaque;
	uint64_t want, from, to, got;

	if (addr >= p->limit)
		return -EFAULT;
	want = n < p->limit - addr ? addr + n : p->limit;
	if (want <= p->pinned)
		return 0;
	/* The kernel's next pin: from where the last ended, 512 pages. */
	from = addr > p->pinned ? addr : p->pinned;
	to = (from & ~(uint64_t)((1ULL << IOVA_BITMAP_USER_PAGE_SHIFT) - 1)) +
	     BITMAP_PIN_BYTES;
	if (to < from || to > p->end)
		to = p->end;
	if (to < want)
		to = want;
	got = user_range_fault_in(from, (size_t)(to - from), true);
	p->pinned = from + got;
	if (p->pinned < to)
		p->limit = p->pinned;
	return addr < p->limit ? 0 : -EFAULT;
}

static int bitmap_read(void *opaque, void *dst, uint64_t src, size_t n)
{
	struct bitmap_pin *p = opaque;
	size_t got;

	if (src >= p->limit)
		return -EFAULT;
	got = p->limit - src < n ? (size_t)(p->limit - src) : n;
	if (copy_from_user(dst, src, got))
		return -EFAULT;
	memset((uint8_t *)dst + got, 0, n - got);
	return 0;
}

static int bitmap_write(void *opaque, uint64_t dst, const void *src, size_t n)
{
	struct bitmap_pin *p = opaque;

	if (dst >= p->limit)
		return 0;
	if (n > p->limit - dst)
		n = (size_t)(p->limit - dst);
	return copy_to_user(dst, src, n);
}

struct dirty_walk {
	struct io_pagetable *iopt;
	struct iommu_domain *domain;
	unsigned int flags;
	uint64_t iova;		/* of bit 0 */
	unsigned int pgshift;
	struct bitmap_pin pin;
	struct uaccess ua;
};

/* The first IOVA past the words the pinned part of the bitmap reaches. */
static uint64_t dirty_walk_stop(const struct dirty_walk *w)
{
	uint64_t words, stop;

	if (w->pin.limit == UINT64_MAX)
		return UINT64_MAX;
	words = DIV_ROUND_UP(w->pin.limit - w->pin.data, 8);
	if (words > (UINT64_MAX >> 6 >> w->pgshift) ||
	    __builtin_add_overflow(w->iova, (words << 6) << w->pgshift, &stop))
		return UINT64_MAX;
	return stop;
}

/*
 * One window, as Linux __iommu_read_and_clear_dirty(): the contiguous
 * areas across it, a hole ending the walk with -EINVAL; a window that the
 * bitmap's pin does not fully reach is cut there and ends the walk too.
 */
static int read_and_clear_window(struct iova_bitmap *bitmap, uint64_t iova,
				 uint64_t length, void *opaque)
{
	struct dirty_walk *w = opaque;
	uint64_t last = iova + length - 1, cur = iova;
	uint64_t stop = dirty_walk_stop(w);
	struct iopt_area *area;
	int end = 0;

	if (iova >= stop)
		return -EFAULT;
	if (last >= stop) {
		last = stop - 1;
		end = -EFAULT;
	}
	while ((area = area_first(w->iopt, cur, last))) {
		uint64_t to = area->last < last ? area->last : last;

		if (area->iova > cur)
			return -EINVAL;
		pt_read_and_clear_dirty(w->domain->pt, cur, to - cur + 1,
					w->flags, bitmap);
		if (to == last)
			return end;
		cur = to + 1;
	}
	return -EINVAL;
}

int iopt_read_and_clear_dirty_data(struct io_pagetable *iopt,
				   struct iommu_domain *domain,
				   unsigned int flags,
				   const struct iommu_hwpt_get_dirty_bitmap *cmd)
{
	struct dirty_walk w = {
		.iopt = iopt,
		.domain = domain,
		.flags = flags,
		.iova = cmd->iova,
		.pin = { .data = cmd->data, .pinned = cmd->data,
			 .limit = UINT64_MAX },
	};
	struct iova_bitmap *bitmap;
	uint64_t last, length = cmd->length, nbytes;

	/* Linux iommufd_check_iova_range(), in its order. */
	if (__builtin_add_overflow(cmd->iova, cmd->length - 1, &last))
		return -EOVERFLOW;
	if ((cmd->iova & (iopt->iova_alignment - 1)) ||
	    ((last + 1) & (iopt->iova_alignment - 1)))
		return -EINVAL;
	if (!cmd->page_size)
		return -EINVAL;
	if ((cmd->iova & (cmd->page_size - 1)) ||
	    ((last + 1) & (cmd->page_size - 1)))
		return -EINVAL;
	if (!domain->dirty_ops)
		return -EOPNOTSUPP;

	/*
	 * iova 0 with length 0 passes the checks above: Linux then sizes the
	 * bitmap from length - 1, i.e. as covering all of IOVA, and walks it
	 * (to the first hole from IOVA 0). All of IOVA but its last 8 bytes
	 * is that bitmap and keeps its byte count from wrapping at one byte
	 * per bit.
	 */
	if (!length)
		length = UINT64_MAX - 7;
	w.pgshift = ffs64(cmd->page_size);
	nbytes = DIV_ROUND_UP(((length - 1) >> w.pgshift) + 1, 8);
	if (__builtin_add_overflow(cmd->data, nbytes, &w.pin.end))
		w.pin.end = UINT64_MAX;
	w.ua = (struct uaccess){ .read = bitmap_read,
				 .write = bitmap_write,
				 .opaque = &w.pin,
				 .pin = bitmap_pin };
	bitmap = iova_bitmap_alloc(cmd->iova, length, cmd->page_size, cmd->data,
				   &w.ua);
	/* Any failure of Linux's iova_bitmap_alloc() is -ENOMEM. */
	if (IS_ERR(bitmap))
		return -ENOMEM;
	/*
	 * As in Linux, what the walk returns is not the ioctl's: a hole in
	 * the range, or a bitmap window that cannot be pinned, leaves the
	 * bitmap partly filled and the call still succeeds.
	 */
	iova_bitmap_for_each(bitmap, &w, read_and_clear_window);
	iova_bitmap_free(bitmap);
	return 0;
}
