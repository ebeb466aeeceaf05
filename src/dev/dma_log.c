// SPDX-License-Identifier: MIT
/*
 * dma_log.c - device-side dirty logging: the device records its own DMA
 * writes over a bounded number of IOVA ranges, at a page size no smaller
 * than its minimum granule, as mlx5/pds trackers do behind VFIO's
 * DMA_LOGGING feature. More ranges than the device can track are merged,
 * closing the smallest gaps first (what Linux's vfio_combine_iova_ranges
 * does for such devices).
 *
 * Ordering: a write is recorded after its data, under log_lock; a report
 * takes the same lock, so data reported dirty is already in memory.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/iova_bitmap.h>

#include "dev_private.h"

static void sort_ranges(struct dma_log_range *r, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++) {
		struct dma_log_range x = r[i];
		unsigned int j = i;

		for (; j && r[j - 1].iova > x.iova; j--)
			r[j] = r[j - 1];
		r[j] = x;
	}
}

/* Merge neighbours with the smallest gap until at most @max remain. */
static unsigned int combine_ranges(struct dma_log_range *r, unsigned int n,
				   unsigned int max)
{
	while (n > max) {
		unsigned int best = 0;
		uint64_t best_gap = UINT64_MAX;

		for (unsigned int i = 0; i + 1 < n; i++) {
			uint64_t gap = r[i + 1].iova - (r[i].iova + r[i].length);

			if (gap < best_gap) {
				best_gap = gap;
				best = i;
			}
		}
		r[best].length = r[best + 1].iova + r[best + 1].length -
				 r[best].iova;
		memmove(&r[best + 1], &r[best + 2],
			(n - best - 2) * sizeof(*r));
		n--;
	}
	return n;
}

int dma_dev_log_start(struct dma_dev *d, const struct dma_log_range *ranges,
		      unsigned int n, uint64_t *page_size)
{
	struct dma_log_range *r;
	struct dma_log log = { 0 };
	uint64_t ps = *page_size;
	int rc = 0;

	if (!(d->caps & DMA_CAP_LOG))
		return -EOPNOTSUPP;
	if (!n || !ps || (ps & (ps - 1)))
		return -EINVAL;
	if (ps < DMA_LOG_MIN_PAGE)
		ps = DMA_LOG_MIN_PAGE;
	r = xcalloc(n, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memcpy(r, ranges, n * sizeof(*r));
	sort_ranges(r, n);
	for (unsigned int i = 0; i + 1 < n; i++) {
		if (r[i].iova + r[i].length > r[i + 1].iova) {
			rc = -EINVAL;
			goto out_free;
		}
	}
	n = combine_ranges(r, n, DMA_LOG_MAX_RANGES);
	log.n = n;
	log.pgshift = ffs64(ps);
	for (unsigned int i = 0; i < n; i++) {
		/* Widen each range to whole pages of the granule. */
		uint64_t start = r[i].iova & ~(ps - 1);
		uint64_t end = r[i].iova + r[i].length;
		uint64_t npages = (end - start + ps - 1) >> log.pgshift;

		log.range[i] = (struct dma_log_range){ start, npages << log.pgshift };
		log.bits[i] = xcalloc(DIV_ROUND_UP(npages, 64), sizeof(uint64_t));
		if (!log.bits[i]) {
			rc = -ENOMEM;
			goto out_free_bits;
		}
	}
	pthread_mutex_lock(&d->log_lock);
	if (atomic_load(&d->logging)) {
		pthread_mutex_unlock(&d->log_lock);
		rc = -EBUSY;
		goto out_free_bits;
	}
	d->dlog = log;
	atomic_store(&d->logging, true);
	pthread_mutex_unlock(&d->log_lock);
	*page_size = ps;
	xfree(r);
	return 0;

out_free_bits:
	for (unsigned int i = 0; i < n; i++)
		xfree(log.bits[i]);
out_free:
	xfree(r);
	return rc;
}

void dma_dev_log_stop(struct dma_dev *d)
{
	pthread_mutex_lock(&d->log_lock);
	if (atomic_load(&d->logging)) {
		for (unsigned int i = 0; i < d->dlog.n; i++)
			xfree(d->dlog.bits[i]);
		memset(&d->dlog, 0, sizeof(d->dlog));
		atomic_store(&d->logging, false);
	}
	pthread_mutex_unlock(&d->log_lock);
}

void dma_log_record(struct dma_dev *d, uint64_t iova, uint64_t len)
{
	uint64_t last = iova + len - 1;

	if (!atomic_load_explicit(&d->logging, memory_order_acquire))
		return;
	pthread_mutex_lock(&d->log_lock);
	for (unsigned int i = 0; i < d->dlog.n; i++) {
		const struct dma_log_range *r = &d->dlog.range[i];
		uint64_t rl = r->iova + r->length - 1, f, l;

		if (last < r->iova || iova > rl)
			continue;
		f = (iova < r->iova ? 0 : iova - r->iova) >> d->dlog.pgshift;
		l = ((last > rl ? rl : last) - r->iova) >> d->dlog.pgshift;
		for (uint64_t b = f; b <= l; b++)
			d->dlog.bits[i][b / 64] |= 1ULL << (b % 64);
	}
	pthread_mutex_unlock(&d->log_lock);
}

/*
 * Report and clear the logged pages [@f, @l] of range @i, a word of the log
 * at a time: a zero word costs a load, and a word's pages go to @bitmap in
 * one iova_bitmap_set_bits() (one bit per page when the page sizes and
 * alignment match, one iova_bitmap_set() per page otherwise).
 */
static void log_report_range(struct dma_dev *d, unsigned int i, uint64_t f,
			     uint64_t l, struct iova_bitmap *bitmap)
{
	const struct dma_log_range *r = &d->dlog.range[i];
	unsigned int pgshift = d->dlog.pgshift;

	for (uint64_t k = f / 64; k <= l / 64; k++) {
		uint64_t *w = &d->dlog.bits[i][k];
		uint64_t m = *w;

		if (!m)
			continue;
		if (k == f / 64)
			m &= UINT64_MAX << (f % 64);
		if (k == l / 64)
			m &= UINT64_MAX >> (63 - l % 64);
		if (!m)
			continue;
		*w &= ~m;
		iova_bitmap_set_bits(bitmap, r->iova + ((k * 64) << pgshift),
				     pgshift, m);
	}
}

int dma_dev_log_read_and_clear(struct dma_dev *d, uint64_t iova,
			       uint64_t length, struct iova_bitmap *bitmap)
{
	uint64_t last = iova + length - 1;
	int rc = 0;

	pthread_mutex_lock(&d->log_lock);
	if (!atomic_load(&d->logging)) {
		rc = -EINVAL;
		goto out_unlock;
	}
	for (unsigned int i = 0; i < d->dlog.n; i++) {
		const struct dma_log_range *r = &d->dlog.range[i];
		uint64_t rl = r->iova + r->length - 1, f, l;

		if (last < r->iova || iova > rl)
			continue;
		f = (iova < r->iova ? 0 : iova - r->iova) >> d->dlog.pgshift;
		l = ((last > rl ? rl : last) - r->iova) >> d->dlog.pgshift;
		log_report_range(d, i, f, l, bitmap);
	}
out_unlock:
	pthread_mutex_unlock(&d->log_lock);
	return rc;
}
