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

unsigned int range_holes(struct range *used, unsigned int n,
			 struct range *out, unsigned int max)
{
	uint64_t cur = 0;
	unsigned int holes = 0;

	/* Sort by start (insertion sort: a handful of ranges). */
	for (unsigned int i = 1; i < n; i++) {
		struct range r = used[i];
		unsigned int j = i;

		for (; j && used[j - 1].start > r.start; j--)
			used[j] = used[j - 1];
		used[j] = r;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (used[i].start > cur) {
			if (holes < max)
				out[holes] = (struct range){ cur,
							     used[i].start - 1 };
			holes++;
		}
		if (used[i].last >= cur) {
			if (used[i].last == UINT64_MAX)
				return holes;
			cur = used[i].last + 1;
		}
	}
	if (holes < max)
		out[holes] = (struct range){ cur, UINT64_MAX };
	return holes + 1;
}
