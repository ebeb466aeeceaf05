// SPDX-License-Identifier: MIT
/*
 * range.c - (start, length) to inclusive [start, last], overflow-checked.
 */
#include <errno.h>

#include <iodirty/compiler.h>

int range_last(uint64_t start, uint64_t length, uint64_t *last)
{
	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(start, length - 1, last))
		return -EOVERFLOW;
	return 0;
}
