/* SPDX-License-Identifier: MIT */
/*
 * uaccess.h - how the emulated kernel touches a caller's memory: the
 * counterparts of copy_from_user, copy_to_user and pinning user pages.
 *
 * A bad address is -EFAULT, never a crash: copies go through
 * process_vm_readv/process_vm_writev on our own process, which the kernel
 * checks page by page. Pinning checks that a range is mapped (and writable
 * when asked), as get_user_pages would.
 */
#ifndef IODIRTY_UACCESS_H
#define IODIRTY_UACCESS_H

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
 * and writable if @write? What pin_user_pages() would find.
 * Return: 0; -EFAULT when some page is not mapped (or PROT_NONE);
 * -EPERM when @write and some page is read-only.
 */
int user_range_check(uint64_t addr, uint64_t len, int write);

/**
 * user_range_check_at() - user_range_check(), and on failure the first
 * address found not mapped (or not writable) in *@bad.
 */
int user_range_check_at(uint64_t addr, uint64_t len, int write,
			uint64_t *bad);

/* A struct uaccess (iova_bitmap.h) backed by copy_{from,to}_user. */
extern const struct uaccess uaccess_user;

#endif
