/* SPDX-License-Identifier: MIT */
/*
 * json.h - a small streaming JSON writer for the --json output of verbs and
 * benchmarks: objects and arrays nested to JSON_MAX_DEPTH, strings escaped,
 * numbers as integers or doubles.
 */
#ifndef IODIRTY_JSON_H
#define IODIRTY_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A JSON writer for one object on a stream. Members of containers nested
 * at most @wrap_depth deep each start a new, indented line; deeper ones stay
 * on their parent's line (so an array of flat rows prints one row a line).
 * Keys are NULL inside arrays. Non-finite doubles print as null.
 */
#define JSON_MAX_DEPTH 8

struct json {
	FILE *f;
	unsigned int depth;
	unsigned int wrap_depth;
	bool has_member[JSON_MAX_DEPTH];
	char closer[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *f, unsigned int wrap_depth);
/**
 * json_open() - start an object ('{') or array ('[') member; at most
 * JSON_MAX_DEPTH - 1 containers deep.
 */
void json_open(struct json *j, const char *key, char bracket);
/** json_close() - end the innermost container; the last adds "\n". */
void json_close(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_double(struct json *j, const char *key, double val);

#endif
