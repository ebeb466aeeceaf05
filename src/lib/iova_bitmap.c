// SPDX-License-Identifier: MIT
/*
 * iova_bitmap.c - windowed writes into a caller's dirty bitmap.
 *
 * Behaviour follows Linux drivers/iommu/iommufd/iova_bitmap.c (v6.9+): bit 0
 * is the bitmap's iova, the page shift is the lowest set bit of page_size,
 * the first window is pinned at allocation, a record that runs past the
 * pinned window still lands (the kernel's "set ahead"; here it is written
 * through at once). Written here from that behaviour, not from its code.
 *
 * Reaching the caller through a uaccess costs a system call and a page walk
 * per caller page each way, far more than the bits themselves: with a pin,
 * a window is gathered in a zeroed buffer, the caller's pages that receive
 * bits are noted as they do, and only those are merged back (read, OR,
 * write) when the window is done.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/err.h>
#include <iodirty/iova_bitmap.h>

struct iova_bitmap {
	uint64_t iova;		/* IOVA of bit 0 */
	uint64_t last;		/* last IOVA covered, inclusive */
	unsigned int pgshift;
	uint64_t nbits;
	uint64_t nbytes;	/* DIV_ROUND_UP(nbits, 8): bytes we may touch */
	uint64_t data;		/* caller's buffer */
	const struct uaccess *ua;
	size_t window_bytes;

	/* The pinned window: bitmap bytes [win_byte, win_byte + win_len). */
	uint64_t win_byte;
	size_t win_len;
	uint8_t *win;		/* ua: our copy; no ua: caller memory */
	uint8_t *buf;		/* ua only: window_bytes of copy space */
	int win_changed;

	/*
	 * ua with a pin: @touched has a bit per caller page of the window
	 * that received bits (bit 0: the page holding win_byte); @buf holds
	 * the bits set in this window on those pages, and nothing meaningful
	 * elsewhere; @merge is window_bytes of space to merge them with the
	 * caller's bytes.
	 */
	uint64_t *touched;
	uint8_t *merge;
};

#define USER_PAGE_SHIFT IOVA_BITMAP_USER_PAGE_SHIFT
#define USER_PAGE_SIZE	(1ULL << USER_PAGE_SHIFT)

/* Caller pages a window of @window_bytes can touch: one more if unaligned. */
static size_t window_pages(size_t window_bytes)
{
	return (size_t)DIV_ROUND_UP(window_bytes, USER_PAGE_SIZE) + 1;
}

uint64_t iova_bitmap_nbits(const struct iova_bitmap *bitmap)
{
	return bitmap->nbits;
}

static int window_pin(struct iova_bitmap *b, uint64_t byte)
{
	uint64_t left = b->nbytes - byte;

	b->win_byte = byte;
	b->win_len = left < b->window_bytes ? (size_t)left : b->window_bytes;
	b->win_changed = 0;
	if (!b->ua) {
		b->win = (uint8_t *)(uintptr_t)(b->data + byte);
		return 0;
	}
	b->win = b->buf;
	if (b->touched)
		return b->ua->pin(b->ua->opaque, b->data + byte, b->win_len);
	return b->ua->read(b->ua->opaque, b->buf, b->data + byte, b->win_len);
}

/* Caller page @p of the window, as bytes [*lo, *hi) of the window. */
static void window_page_bytes(const struct iova_bitmap *b, uint64_t p,
			      uint64_t *lo, uint64_t *hi)
{
	uint64_t start = b->data + b->win_byte;
	uint64_t page = (start & ~(USER_PAGE_SIZE - 1)) +
			(p << USER_PAGE_SHIFT);

	*lo = page > start ? page - start : 0;
	*hi = page + USER_PAGE_SIZE - start < b->win_len ?
		      page + USER_PAGE_SIZE - start :
		      b->win_len;
}

/*
 * Bytes [first, last] of the window are about to receive bits. With a pin,
 * note the caller pages they are on, and zero a page's bytes of @buf the
 * first time it is noted (the rest of @buf is never read); cheap enough
 * for every store.
 */
static inline void window_touch(struct iova_bitmap *b, uint64_t first,
				uint64_t last)
{
	uint64_t base, p, lp, lo, hi;

	b->win_changed = 1;
	if (!b->touched)
		return;
	base = (b->data + b->win_byte) >> USER_PAGE_SHIFT;
	lp = ((b->data + b->win_byte + last) >> USER_PAGE_SHIFT) - base;
	for (p = ((b->data + b->win_byte + first) >> USER_PAGE_SHIFT) - base;
	     p <= lp; p++) {
		if (b->touched[p / 64] & (1ULL << (p % 64)))
			continue;
		b->touched[p / 64] |= 1ULL << (p % 64);
		window_page_bytes(b, p, &lo, &hi);
		memset(b->buf + lo, 0, (size_t)(hi - lo));
	}
}

/* @dst |= @src, @n bytes. */
static void bytes_or(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t d, v;

		memcpy(&d, dst + i, 8);
		memcpy(&v, src + i, 8);
		d |= v;
		memcpy(dst + i, &d, 8);
	}
	for (; i < n; i++)
		dst[i] |= src[i];
}

/*
 * Merge the window's bits into the caller's bytes, a run of touched pages
 * at a time: read, OR, write.
 * Return: 0, or -EFAULT when a read or write failed (the walk ends there).
 */
static int window_merge(struct iova_bitmap *b)
{
	uint64_t start = b->data + b->win_byte;
	size_t npages = window_pages(b->window_bytes);
	size_t words = DIV_ROUND_UP(npages, 64);
	int rc = 0;

	for (size_t p = 0; !rc && p < npages;) {
		uint64_t lo, end, other;
		size_t q = p;

		if (!(b->touched[p / 64] & (1ULL << (p % 64)))) {
			p++;
			continue;
		}
		while (q + 1 < npages &&
		       (b->touched[(q + 1) / 64] & (1ULL << ((q + 1) % 64))))
			q++;
		/* Pages [p, q] of the window, as bytes of the window. */
		window_page_bytes(b, p, &lo, &other);
		window_page_bytes(b, q, &other, &end);
		rc = b->ua->read(b->ua->opaque, b->merge, start + lo,
				 (size_t)(end - lo));
		if (!rc) {
			bytes_or(b->merge, b->buf + lo, (size_t)(end - lo));
			rc = b->ua->write(b->ua->opaque, start + lo, b->merge,
					  (size_t)(end - lo));
		}
		p = q + 1;
	}
	memset(b->touched, 0, words * sizeof(uint64_t));
	return rc;
}

static int window_unpin(struct iova_bitmap *b)
{
	int rc = 0;

	if (b->ua && b->win && b->win_changed)
		rc = b->touched ?
			     window_merge(b) :
			     b->ua->write(b->ua->opaque, b->data + b->win_byte,
					  b->buf, b->win_len);
	b->win = NULL;
	return rc;
}

struct iova_bitmap *iova_bitmap_alloc_window(uint64_t iova, uint64_t length,
					     uint64_t page_size, uint64_t data,
					     const struct uaccess *ua,
					     size_t window_bytes)
{
	struct iova_bitmap *b;
	uint64_t last;
	int rc;

	if (!page_size)
		return ERR_PTR(-EINVAL);
	rc = range_last(iova, length, &last);
	if (rc)
		return ERR_PTR(rc);

	b = xzalloc(sizeof(*b));
	if (!b)
		return ERR_PTR(-ENOMEM);
	b->iova = iova;
	b->last = last;
	b->pgshift = ffs64(page_size);
	b->nbits = ((length - 1) >> b->pgshift) + 1;
	b->nbytes = DIV_ROUND_UP(b->nbits, 8);
	b->data = data;
	b->ua = ua;
	b->window_bytes = window_bytes ? window_bytes : IOVA_BITMAP_WINDOW_BYTES;
	if (ua && ua->pin) {
		size_t words = DIV_ROUND_UP(window_pages(b->window_bytes), 64);
		uint8_t *mem;

		/* One allocation: the pages, the bits, the merge space. */
		mem = xmalloc(words * sizeof(uint64_t) + 2 * b->window_bytes);
		if (!mem) {
			rc = -ENOMEM;
			goto err_free;
		}
		b->touched = (uint64_t *)(void *)mem;
		b->buf = mem + words * sizeof(uint64_t);
		b->merge = b->buf + b->window_bytes;
		memset(b->touched, 0, words * sizeof(uint64_t));
	} else if (ua) {
		b->buf = xmalloc(b->window_bytes);
		if (!b->buf) {
			rc = -ENOMEM;
			goto err_free;
		}
	}
	rc = window_pin(b, 0);
	if (rc)
		goto err_free_buf;
	return b;

err_free_buf:
	xfree(b->touched ? (void *)b->touched : b->buf);
err_free:
	xfree(b);
	return ERR_PTR(rc);
}

void iova_bitmap_free(struct iova_bitmap *bitmap)
{
	if (!bitmap)
		return;
	window_unpin(bitmap);
	xfree(bitmap->touched ? (void *)bitmap->touched : bitmap->buf);
	xfree(bitmap);
}

/* Set bits [first, last] (inclusive) in @p, which holds bit 0 at byte 0. */
static void bits_set(uint8_t *p, uint64_t first, uint64_t last)
{
	uint64_t fb = first >> 3, lb = last >> 3;
	uint8_t head = (uint8_t)(0xffu << (first & 7));
	uint8_t tail = (uint8_t)(0xffu >> (7 - (last & 7)));

	if (fb == lb) {
		p[fb] |= head & tail;
		return;
	}
	p[fb] |= head;
	if (lb > fb + 1)
		memset(p + fb + 1, 0xff, lb - fb - 1);
	p[lb] |= tail;
}

/*
 * Bits outside the pinned window: pin just those bytes, set, write back.
 * Rare: only a large leaf that straddles a window boundary lands here.
 */
static void bits_set_through(struct iova_bitmap *b, uint64_t first,
			     uint64_t last)
{
	uint8_t chunk[512];

	while (first <= last) {
		uint64_t byte = first >> 3;
		uint64_t n = (last >> 3) - byte + 1;
		uint64_t chunk_last;

		if (n > sizeof(chunk))
			n = sizeof(chunk);
		chunk_last = ((byte + n) << 3) - 1;
		if (chunk_last > last)
			chunk_last = last;
		if (!b->ua) {
			bits_set((uint8_t *)(uintptr_t)b->data, first,
				 chunk_last);
		} else {
			/*
			 * A fault here is dropped, as the kernel drops a failed
			 * set-ahead pin: the window the bits belong to will
			 * fail its own pin and report -EFAULT.
			 */
			if (b->ua->read(b->ua->opaque, chunk, b->data + byte, n))
				return;
			bits_set(chunk, first - (byte << 3),
				 chunk_last - (byte << 3));
			if (b->ua->write(b->ua->opaque, b->data + byte, chunk,
					 n))
				return;
		}
		if (chunk_last == last)
			break;
		first = chunk_last + 1;
	}
}

void iova_bitmap_set(struct iova_bitmap *b, uint64_t iova, uint64_t length)
{
	uint64_t last, first_bit, last_bit, win_first, win_last;

	if (!length)
		return;
	if (__builtin_add_overflow(iova, length - 1, &last))
		last = UINT64_MAX;
	if (last < b->iova || iova > b->last)
		return;
	if (iova < b->iova)
		iova = b->iova;
	if (last > b->last)
		last = b->last;
	first_bit = (iova - b->iova) >> b->pgshift;
	last_bit = (last - b->iova) >> b->pgshift;

	win_first = b->win_byte << 3;
	win_last = ((b->win_byte + b->win_len) << 3) - 1;
	if (likely(first_bit >= win_first && last_bit <= win_last)) {
		window_touch(b, (first_bit - win_first) >> 3,
			     (last_bit - win_first) >> 3);
		bits_set(b->win, first_bit - win_first, last_bit - win_first);
		return;
	}
	/* The part inside the window, then what lies either side of it. */
	if (first_bit <= win_last && last_bit >= win_first) {
		uint64_t f = first_bit > win_first ? first_bit : win_first;
		uint64_t l = last_bit < win_last ? last_bit : win_last;

		window_touch(b, (f - win_first) >> 3, (l - win_first) >> 3);
		bits_set(b->win, f - win_first, l - win_first);
	}
	if (first_bit < win_first)
		bits_set_through(b, first_bit,
				 last_bit < win_first ? last_bit :
							win_first - 1);
	if (last_bit > win_last)
		bits_set_through(b, first_bit > win_last ? first_bit :
							   win_last + 1,
				 last_bit);
}

void iova_bitmap_set_bits(struct iova_bitmap *b, uint64_t iova,
			  unsigned int pgshift, uint64_t mask)
{
	uint64_t first_bit, win_first, win_bits, last;

	/*
	 * The common case: one bit per page, the word inside the range and
	 * the pinned window. OR it in at its bit offset (any byte alignment).
	 */
	if (pgshift == b->pgshift && iova >= b->iova &&
	    !__builtin_add_overflow(iova, (64ULL << pgshift) - 1, &last) &&
	    last <= b->last && !((iova - b->iova) & ((1ULL << pgshift) - 1))) {
		first_bit = (iova - b->iova) >> pgshift;
		win_first = b->win_byte << 3;
		win_bits = (uint64_t)b->win_len << 3;
		if (first_bit >= win_first && first_bit + 64 <= win_first + win_bits) {
			uint64_t off = first_bit - win_first;
			uint8_t *p = b->win + (off >> 3);
			unsigned int sh = off & 7;
			unsigned int nbytes = sh ? 9 : 8;

			window_touch(b, off >> 3, (off >> 3) + nbytes - 1);
			for (unsigned int i = 0; i < nbytes; i++) {
				uint64_t part = i ? (mask >> (8 * i - sh)) :
						    (mask << sh);

				if (i == 8)
					part = mask >> (64 - sh);
				p[i] |= (uint8_t)part;
			}
			return;
		}
	}
	for (uint64_t m = mask; m; m &= m - 1)
		iova_bitmap_set(b, iova + ((uint64_t)ffs64(m) << pgshift),
				1ULL << pgshift);
}

int iova_bitmap_for_each(struct iova_bitmap *b, void *opaque,
			 iova_bitmap_fn_t fn)
{
	uint64_t byte = b->win_byte;
	int rc;

	for (;;) {
		uint64_t first_bit = b->win_byte << 3;
		uint64_t end_bit = (b->win_byte + b->win_len) << 3;
		uint64_t w_iova, w_last;

		w_iova = b->iova + (first_bit << b->pgshift);
		/* Below nbits, end_bit << pgshift <= length - 1: no wrap. */
		if (end_bit >= b->nbits)
			w_last = b->last;
		else
			w_last = b->iova + (end_bit << b->pgshift) - 1;

		rc = fn(b, w_iova, w_last - w_iova + 1, opaque);
		if (rc)
			return rc;
		rc = window_unpin(b);
		if (rc)
			return rc;
		byte = b->win_byte + b->win_len;
		if (byte >= b->nbytes)
			break;
		rc = window_pin(b, byte);
		if (rc)
			return rc;
	}
	return 0;
}
