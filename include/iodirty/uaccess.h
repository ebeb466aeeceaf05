/* SPDX-License-Identifier: MIT */
/*
 * uaccess.h - how the emulated kernel touches a caller's memory: the
 * counterparts of copy_from_user, copy_to_user and pinning user pages.
 *
 * A bad address is -EFAULT, never a crash: copies go through
 * process_vm_readv/process_vm_writev on our own process, which the kernel
 * checks page by page. Pinning checks that a range is mapped (and writable
 * when asked), as pin_user_pages() would: what it cannot pin is -EFAULT,
 * a read-only mapping pinned for writing included (mm/gup.c
 * check_vma_flags()).
 */
#ifndef IODIRTY_UACCESS_H
#define IODIRTY_UACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iova_bitmap.h"

/** copy_from_user() - 0, or -EFAULT when any byte cannot be read. */
int copy_from_user(void *dst, uint64_t src, size_t n);

/** copy_to_user() - 0, or -EFAULT when any byte cannot be written. */
int copy_to_user(uint64_t dst, const void *src, size_t n);

/** clear_user() - zero @n bytes at @dst; 0 or -EFAULT. */
int clear_user(uint64_t dst, size_t n);

/**
 * user_range_check() - is [@addr, @addr + @len) mapped in this process,
 * and writable if @write? What pin_user_pages() would find, read from the
 * process's mappings (cheap for large ranges; nothing is touched).
 * Return: 0; -EFAULT when some page is not mapped, PROT_NONE, or (with
 * @write) read-only.
 */
int user_range_check(uint64_t addr, uint64_t len, int write);

/**
 * user_range_check_at() - user_range_check(), and on failure the first
 * address found not mapped (or not writable) in *@bad.
 */
int user_range_check_at(uint64_t addr, uint64_t len, int write,
			uint64_t *bad);

/**
 * user_range_pin() - pin [@addr, @addr + @n) as pin_user_pages() does, by
 * touching it: page by page from the one holding @addr, each page is
 * copied into @buf and, with @write, written back unchanged (a FOLL_WRITE
 * pin faults the page in writable, and fails on a read-only one), until the
 * first page that cannot be. The write-back can undo a store another thread
 * makes to those bytes between the two copies: use it on memory the caller
 * hands over for the call (a bitmap to fill), not on memory shared live.
 * Return: how many bytes from @addr were pinned and copied: @n, or up to
 * the start of the first page that could not be (0 when that is the first).
 */
size_t user_range_pin(void *buf, uint64_t addr, size_t n, bool write);

/**
 * user_range_fault_in() - what user_range_pin() finds, without copying:
 * fault [@addr, @addr + @n) in as pin_user_pages() does (writable with
 * @write, which breaks copy-on-write as a FOLL_WRITE pin does) and report
 * how far that got. One madvise(MADV_POPULATE_READ/WRITE) over the whole
 * range, so nothing is read or written and no store of another thread can
 * be undone. Only when that fails is the range walked page by page, to
 * find where it ends; a kernel without MADV_POPULATE_* (before 5.14) gets
 * user_range_pin()'s answer, and its caveat, one byte per page.
 * Return: how many bytes from @addr could be faulted in: @n, or up to the
 * start of the first page that could not be (0 when that is the first).
 */
size_t user_range_fault_in(uint64_t addr, size_t n, bool write);

/* A struct uaccess (iova_bitmap.h) backed by copy_{from,to}_user. */
extern const struct uaccess uaccess_user;

#endif
