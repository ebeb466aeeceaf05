/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - every allocation of the emulated host and the VMM goes through
 * these wrappers so that tests can fail the Nth one (the userspace
 * counterpart of the kernel's fail-nth fault injection). They return NULL on
 * failure; callers turn that into -ENOMEM.
 */
#ifndef IODIRTY_ALLOC_H
#define IODIRTY_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Zeroed, @align-aligned (a power of two, a multiple of sizeof(void *)). */
void *xzalloc_aligned(size_t align, size_t size);
void xfree(void *ptr);

/**
 * alloc_fail_point() - for allocators that hand out memory from a pool of
 * their own: each object they hand out is one allocation as far as
 * fail-nth goes. Return: non-zero when this one must fail.
 */
int alloc_fail_point(void);

/**
 * alloc_fail_nth_set() - make the @nth allocation from now on, on this
 * thread, fail (1 = the next one). 0 disarms.
 */
void alloc_fail_nth_set(unsigned long nth);

/** alloc_fail_nth_fired() - whether the armed failure has happened. */
int alloc_fail_nth_fired(void);

#endif
