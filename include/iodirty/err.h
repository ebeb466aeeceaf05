/* SPDX-License-Identifier: MIT */
/*
 * err.h - pointer returns that carry an errno, in the kernel's manner:
 * a pointer in the last page of the address space is -errno.
 */
#ifndef IODIRTY_ERR_H
#define IODIRTY_ERR_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_ERRNO 4095

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return (uintptr_t)ptr >= (uintptr_t)-MAX_ERRNO;
}

static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}

#endif
