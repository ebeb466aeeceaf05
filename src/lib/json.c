// SPDX-License-Identifier: MIT
/*
 * json.c - the streaming JSON writer of json.h.
 */
#include <math.h>
#include <string.h>

#include <iodirty/json.h>

void json_init(struct json *j, FILE *f, unsigned int wrap_depth)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->wrap_depth = wrap_depth;
}

static void json_newline(struct json *j, unsigned int depth)
{
	fputc('\n', j->f);
	for (unsigned int i = 0; i < depth; i++)
		fputs("  ", j->f);
}

static void json_string(struct json *j, const char *s)
{
	fputc('"', j->f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(j->f, "\\%c", c);
		else if (c < 0x20)
			fprintf(j->f, "\\u%04x", c);
		else
			fputc(c, j->f);
	}
	fputc('"', j->f);
}

/* The separator and key that go before every member. */
static void json_member(struct json *j, const char *key)
{
	if (j->depth) {
		if (j->has_member[j->depth])
			fputc(',', j->f);
		if (j->depth <= j->wrap_depth)
			json_newline(j, j->depth);
		else if (j->has_member[j->depth])
			fputc(' ', j->f);
		j->has_member[j->depth] = true;
	}
	if (key) {
		json_string(j, key);
		fputs(": ", j->f);
	}
}

void json_open(struct json *j, const char *key, char bracket)
{
	json_member(j, key);
	fputc(bracket, j->f);
	if (j->depth + 1 >= JSON_MAX_DEPTH)
		return;
	j->depth++;
	j->has_member[j->depth] = false;
	j->closer[j->depth] = bracket == '{' ? '}' : ']';
}

void json_close(struct json *j)
{
	if (!j->depth)
		return;
	if (j->has_member[j->depth] && j->depth <= j->wrap_depth)
		json_newline(j, j->depth - 1);
	fputc(j->closer[j->depth], j->f);
	j->depth--;
	if (!j->depth)
		fputc('\n', j->f);
}

void json_str(struct json *j, const char *key, const char *val)
{
	json_member(j, key);
	json_string(j, val);
}

void json_u64(struct json *j, const char *key, uint64_t val)
{
	json_member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void json_double(struct json *j, const char *key, double val)
{
	json_member(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.10g", val);
	else
		fputs("null", j->f);
}
