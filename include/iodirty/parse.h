/* SPDX-License-Identifier: MIT */
/*
 * parse.h - parsing numbers from command lines, strictly: anything but the
 * whole string being a number in range is -EINVAL.
 */
#ifndef IODIRTY_PARSE_H
#define IODIRTY_PARSE_H

#include <stddef.h>
#include <stdint.h>

/**
 * parse_u64() - a whole decimal string, no sign, no trailing bytes.
 * Return: 0, -EINVAL when @s is not a number, -ERANGE when it overflows.
 */
int parse_u64(const char *s, uint64_t *v);

/**
 * parse_u64_list() - "a,b,c" into @v (at most @max values).
 * Return: 0 and *@n, -EINVAL for an empty item or a non-number, -ERANGE for
 * an overflow, -E2BIG for more than @max items.
 */
int parse_u64_list(const char *s, uint64_t *v, size_t max, size_t *n);

/**
 * parse_size() - a byte count: a number with an optional K, M, G or T
 * suffix (powers of 1024; "KiB" style also taken). Return: 0, or -EINVAL.
 */
int parse_size(const char *s, uint64_t *v);

/**
 * size_str() - @bytes for people, the other way round: "392 bytes",
 * "1.5 KiB", "12.0 MiB", "1.00 GiB". Return: @buf.
 */
const char *size_str(char *buf, size_t len, uint64_t bytes);

#endif
