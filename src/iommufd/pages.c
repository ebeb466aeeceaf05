// SPDX-License-Identifier: MIT
/*
 * pages.c - user memory behind IOAS areas, and its pins.
 *
 * The kernel pins user pages (pin_user_pages) when an area is first put into
 * a domain, once per iopt_pages however many domains or areas use it, and
 * IOMMU_TEST_OP_MD_CHECK_REFS reads those pin counts back per page. Here a
 * pin is a check that the range is mapped (and writable when the area may be
 * written), as get_user_pages would find, plus an entry in the host's
 * registry of pinned ranges, from which per-page counts are computed. Pins
 * are process-wide: a new /dev/iommu open sees those of every other.
 */
#include <errno.h>

#include <iodirty/alloc.h>
#include <iodirty/uaccess.h>

#include "iommufd_private.h"

enum { USER_PAGE_SIZE = 4096 };

struct iopt_pages *iopt_pages_alloc(uint64_t uva, uint64_t length,
				    bool writable)
{
	struct iopt_pages *pages = xzalloc(sizeof(*pages));

	if (!pages)
		return NULL;
	pages->uva = uva;
	pages->length = length;
	pages->writable = writable;
	pages->refs = 1;
	return pages;
}

int iopt_pages_pin(struct iommufd_host *host, struct iopt_pages *pages)
{
	int rc;

	if (pages->pin_users++)
		return 0;
	rc = user_range_check(pages->uva, pages->length, pages->writable);
	if (rc) {
		pages->pin_users--;
		return rc;
	}
	pthread_mutex_lock(&host->lock);
	pages->next_pinned = host->pinned;
	host->pinned = pages;
	pthread_mutex_unlock(&host->lock);
	return 0;
}

void iopt_pages_unpin(struct iommufd_host *host, struct iopt_pages *pages)
{
	struct iopt_pages **p;

	if (--pages->pin_users)
		return;
	pthread_mutex_lock(&host->lock);
	for (p = &host->pinned; *p; p = &(*p)->next_pinned) {
		if (*p == pages) {
			*p = pages->next_pinned;
			break;
		}
	}
	pthread_mutex_unlock(&host->lock);
}

void iopt_pages_put(struct iommufd_host *host, struct iopt_pages *pages)
{
	(void)host;
	if (--pages->refs)
		return;
	xfree(pages);
}

int iopt_pages_check_refs(struct iommufd_host *host, uint64_t uva,
			  uint64_t length, unsigned int refs, uint64_t *bad)
{
	uint64_t first = uva / USER_PAGE_SIZE, last, n;
	unsigned int *count;
	int rc = 0;

	if (!length)
		return 0;
	if (__builtin_add_overflow(uva, length - 1, &last))
		return -EOVERFLOW;
	last /= USER_PAGE_SIZE;
	n = last - first + 1;
	count = xcalloc(n, sizeof(*count));
	if (!count)
		return -ENOMEM;
	pthread_mutex_lock(&host->lock);
	for (struct iopt_pages *p = host->pinned; p; p = p->next_pinned) {
		uint64_t pf = p->uva / USER_PAGE_SIZE;
		uint64_t pl = (p->uva + p->length - 1) / USER_PAGE_SIZE;

		if (pl < first || pf > last)
			continue;
		if (pf < first)
			pf = first;
		if (pl > last)
			pl = last;
		for (uint64_t i = pf; i <= pl; i++)
			count[i - first]++;
	}
	pthread_mutex_unlock(&host->lock);
	for (uint64_t i = 0; i < n; i++) {
		if (count[i] != refs) {
			if (bad)
				*bad = (first + i) * USER_PAGE_SIZE;
			rc = -EIO;
			break;
		}
	}
	xfree(count);
	return rc;
}
