// SPDX-License-Identifier: MIT
/*
 * alloc.c - allocation wrappers with a per-thread fail-nth hook.
 *
 * The hook is thread-local test machinery, not state of any context: a test
 * arms it, runs one creation path and checks that the path unwinds cleanly
 * with -ENOMEM and leaks nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <iodirty/alloc.h>

static _Thread_local unsigned long fail_nth;
static _Thread_local int fail_fired;

static int should_fail(void)
{
	if (!fail_nth)
		return 0;
	if (--fail_nth)
		return 0;
	fail_fired = 1;
	return 1;
}

void alloc_fail_nth_set(unsigned long nth)
{
	fail_nth = nth;
	fail_fired = 0;
}

int alloc_fail_nth_fired(void)
{
	return fail_fired;
}

void *xmalloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *xzalloc(size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(1, size ? size : 1);
}

void *xcalloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *xrealloc(void *ptr, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(ptr, size ? size : 1);
}

void *xzalloc_aligned(size_t align, size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	if (posix_memalign(&p, align, size ? size : 1))
		return NULL;
	memset(p, 0, size);
	return p;
}

void xfree(void *ptr)
{
	free(ptr);
}

int alloc_fail_point(void)
{
	return should_fail();
}
