/* SPDX-License-Identifier: MIT */
/*
 * iova_bitmap.h - a caller's dirty bitmap over an IOVA range, the userspace
 * counterpart of the kernel's drivers/iommu/iommufd/iova_bitmap.c.
 *
 * Bit i stands for [iova + i * page_size, iova + (i + 1) * page_size). The
 * caller's buffer may start at any byte address and hold any number of bits;
 * the layout is that of an array of little-endian u64 words, i.e. bit i is
 * bit (i % 8) of byte (i / 8). Bits are only ever set, never cleared: the
 * caller zeroes the buffer first.
 *
 * The range is processed in bounded windows of the bitmap (a window of
 * window_bytes covers window_bytes * 8 * page_size of IOVA). A window is
 * "pinned" before use, and the first one by iova_bitmap_alloc(), as the
 * kernel does. Without a uaccess, the buffer is caller memory, written in
 * place. With one, a bad address is -EFAULT, never a crash, and either:
 *  - the uaccess has no pin: the window's bytes are copied in at pin time
 *    and written back when the window is done, if anything was set;
 *  - it has a pin (pin_user_pages(FOLL_WRITE) without the copy): nothing is
 *    copied in; bits are gathered in a zeroed buffer, and when the window is
 *    done only the caller's pages that received bits are read, ORed and
 *    written back. A window in which nothing was set costs the pin alone.
 */
#ifndef IODIRTY_IOVA_BITMAP_H
#define IODIRTY_IOVA_BITMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * How the emulated kernel reaches a caller's memory: copy_from_user and
 * copy_to_user, and optionally a pin. Each returns 0 or -EFAULT.
 */
struct uaccess {
	int (*read)(void *opaque, void *dst, uint64_t src, size_t n);
	int (*write)(void *opaque, uint64_t dst, const void *src, size_t n);
	void *opaque;
	/*
	 * Optional: make [addr, addr + n) writable for the window that
	 * starts at addr, as pin_user_pages(FOLL_WRITE) would, copying
	 * nothing; 0 when it is (the uaccess may take a pinned prefix as the
	 * window and refuse the bytes past it in read and write), -EFAULT
	 * when not even addr is.
	 */
	int (*pin)(void *opaque, uint64_t addr, size_t n);
};

/* The caller's pages: what a pin covers and a write-back rewrites. */
#define IOVA_BITMAP_USER_PAGE_SHIFT 12

struct iova_bitmap;

/*
 * 64 KiB of bitmap, 2 GiB of IOVA at 4 KiB. The kernel's windows are its
 * pins, up to 512 pages (2 MiB of bitmap); a uaccess pin may cover several
 * of these windows at once, as GET_DIRTY_BITMAP's does (io_pagetable.c).
 */
#define IOVA_BITMAP_WINDOW_BYTES (64u * 1024)

/**
 * iova_bitmap_alloc_window() - a bitmap over [@iova, @iova + @length).
 * @iova: IOVA of bit 0.
 * @length: bytes of IOVA covered; non-zero, @iova + @length - 1 must not wrap.
 * @page_size: IOVA bytes per bit; any non-zero value, the shift is its
 *             lowest set bit (as the kernel's __ffs()).
 * @data: address of the caller's bitmap.
 * @ua: how to reach @data; NULL means @data is directly addressable.
 * @window_bytes: bitmap bytes per window (0: IOVA_BITMAP_WINDOW_BYTES).
 *
 * Return: the bitmap, or ERR_PTR(-EINVAL) for a zero @length or @page_size,
 * -EOVERFLOW for a wrapping range, -ENOMEM, or -EFAULT when the first window
 * cannot be pinned.
 */
struct iova_bitmap *iova_bitmap_alloc_window(uint64_t iova, uint64_t length,
					     uint64_t page_size, uint64_t data,
					     const struct uaccess *ua,
					     size_t window_bytes);

static inline struct iova_bitmap *iova_bitmap_alloc(uint64_t iova,
						    uint64_t length,
						    uint64_t page_size,
						    uint64_t data,
						    const struct uaccess *ua)
{
	return iova_bitmap_alloc_window(iova, length, page_size, data, ua, 0);
}

/** iova_bitmap_free() - write back the pinned window and free. */
void iova_bitmap_free(struct iova_bitmap *bitmap);

typedef int (*iova_bitmap_fn_t)(struct iova_bitmap *bitmap, uint64_t iova,
				uint64_t length, void *opaque);

/**
 * iova_bitmap_for_each() - call @fn once per window, with the IOVA range
 * that window covers, pinning each window before and writing it back after.
 *
 * Return: 0, the first error @fn returned, or -EFAULT when a window cannot be
 * pinned or written back. Windows already done keep their bits.
 */
int iova_bitmap_for_each(struct iova_bitmap *bitmap, void *opaque,
			 iova_bitmap_fn_t fn);

/**
 * iova_bitmap_set() - mark [@iova, @iova + @length) dirty: every bit the
 * range touches is set. Parts outside the bitmap are ignored; parts outside
 * the pinned window are written through to the caller's buffer directly.
 * Context: may be called from the callback of iova_bitmap_for_each() only.
 */
void iova_bitmap_set(struct iova_bitmap *bitmap, uint64_t iova,
		     uint64_t length);

/**
 * iova_bitmap_set_bits() - mark dirty the pages of 2^@pgshift bytes at
 * @iova + k << @pgshift for each bit k set in @mask: a whole word of
 * leaves at a time. Same context as iova_bitmap_set().
 */
void iova_bitmap_set_bits(struct iova_bitmap *bitmap, uint64_t iova,
			  unsigned int pgshift, uint64_t mask);

/** iova_bitmap_nbits() - number of bits the bitmap holds. */
uint64_t iova_bitmap_nbits(const struct iova_bitmap *bitmap);

#endif
