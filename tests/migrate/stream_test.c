// SPDX-License-Identifier: MIT
/*
 * stream_test.c - the migration stream (src/migrate/stream.h): every record
 * type written and read back through an in-memory channel, and every way a
 * peer's bytes can be wrong - a flipped byte, a stream cut anywhere, a
 * length beyond its type's bound, an unknown type, a bad header, RAM pages
 * that do not add up, a CONFIG that describes no possible VM - each with
 * the errno of stream.h and a sentence that says what was wrong. Nothing a
 * peer sends may crash the reader, make it succeed on wrong bytes, or make
 * it read or allocate past a type's bound.
 */
#include <stdlib.h>

#include <xxhash.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>

#include "../../src/migrate/stream.h"
#include "../harness/test.h"

/* ---- an in-memory channel ---- */

struct memchan {
	struct mig_chan chan;
	uint8_t *data;
	size_t len, cap;
	size_t pos;		/* the reader's offset */
	size_t nread;		/* bytes handed to the reader */
	size_t fail_at;		/* a read reaching past it fails, if fail_err */
	int fail_err;
};

static int mc_read(struct mig_chan *c, void *buf, size_t n)
{
	struct memchan *mc = c->opaque;

	if (mc->fail_err && mc->pos + n > mc->fail_at)
		return mc->fail_err;
	if (mc->len - mc->pos < n) {
		mc->pos = mc->len;
		return -EPIPE;
	}
	memcpy(buf, mc->data + mc->pos, n);
	mc->pos += n;
	mc->nread += n;
	return 0;
}

static int mc_write(struct mig_chan *c, const void *buf, size_t n)
{
	struct memchan *mc = c->opaque;

	if (mc->cap - mc->len < n) {
		size_t cap = mc->cap ? mc->cap : 4096;

		while (cap - mc->len < n)
			cap *= 2;
		mc->data = realloc(mc->data, cap);
		ASSERT_TRUE(mc->data);
		mc->cap = cap;
	}
	memcpy(mc->data + mc->len, buf, n);
	mc->len += n;
	return 0;
}

static void mc_init(struct memchan *mc)
{
	memset(mc, 0, sizeof(*mc));
	mc->chan.read = mc_read;
	mc->chan.write = mc_write;
	mc->chan.opaque = mc;
}

/* A channel that reads @n bytes of @src. */
static void mc_init_bytes(struct memchan *mc, const uint8_t *src, size_t n)
{
	mc_init(mc);
	if (n)
		mc_write(&mc->chan, src, n);
}

static void mc_free(struct memchan *mc)
{
	free(mc->data);
	mc->data = NULL;
}

/* ---- the reading side: a record buffer kept across records ---- */

struct reader {
	uint8_t *buf;
	size_t cap;
	struct mig_record rec;
	char msg[256];
};

static int rd_header(struct reader *r, struct memchan *mc)
{
	strcpy(r->msg, "(untouched)");
	return mig_read_header(&mc->chan, r->msg, sizeof(r->msg));
}

static int rd_next(struct reader *r, struct memchan *mc)
{
	strcpy(r->msg, "(untouched)");
	return mig_read_record(&mc->chan, &r->buf, &r->cap, &r->rec, r->msg,
			       sizeof(r->msg));
}

static void rd_free(struct reader *r)
{
	xfree(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

#define EXPECT_MSG(msg, needle)                                             \
	do {                                                                \
		if (!strstr((msg), (needle)))                               \
			test_fail_at(__FILE__, __LINE__,                    \
				     "message \"%s\" does not say \"%s\"",  \
				     (msg), (needle));                      \
	} while (0)

/* ---- payloads built byte by byte, little-endian ---- */

struct bytes {
	uint8_t *b;
	size_t n, cap;
};

static void b_put(struct bytes *b, const void *p, size_t n)
{
	if (b->cap - b->n < n) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap - b->n < n)
			cap *= 2;
		b->b = realloc(b->b, cap);
		ASSERT_TRUE(b->b);
		b->cap = cap;
	}
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void b_u32(struct bytes *b, uint32_t v)
{
	uint8_t le[4];

	for (int i = 0; i < 4; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	b_put(b, le, sizeof(le));
}

static void b_u64(struct bytes *b, uint64_t v)
{
	b_u32(b, (uint32_t)v);
	b_u32(b, (uint32_t)(v >> 32));
}

static void b_fill(struct bytes *b, uint8_t byte, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b_put(b, &byte, 1);
}

static void b_free(struct bytes *b)
{
	free(b->b);
	memset(b, 0, sizeof(*b));
}

/*
 * A frame with any header: @len_field need not be @plen. With @good_check
 * the check is right for the bytes as sent.
 */
static void put_raw(struct memchan *mc, uint32_t type, uint32_t flags,
		    uint64_t len_field, const void *p, size_t plen,
		    bool good_check)
{
	struct bytes f = { 0 };

	b_u32(&f, type);
	b_u32(&f, flags);
	b_u64(&f, len_field);
	if (plen)
		b_put(&f, p, plen);
	b_u64(&f, good_check ? XXH64(f.b, f.n, 0) : 0x0123456789abcdefULL);
	mc_write(&mc->chan, f.b, f.n);
	b_free(&f);
}

static void put_rec(struct memchan *mc, enum mig_rec_type type,
		    const void *p, uint64_t len)
{
	ASSERT_RC(0, mig_write_record(&mc->chan, type, p, len));
}

/*
 * Write one record with @payload (not checked by the writer) and read it
 * back: the reader's answer, with r's record and message.
 */
static int one(struct reader *r, enum mig_rec_type type, const struct bytes *p)
{
	struct memchan mc;
	int ret;

	mc_init(&mc);
	put_rec(&mc, type, p->b, p->n);
	ret = rd_next(r, &mc);
	if (!ret)
		EXPECT_EQ(mc.pos, mc.len);
	mc_free(&mc);
	return ret;
}

static const struct mig_config cfg_two = {
	.page_size = MIG_PAGE_SIZE,
	.nregions = 2,
	.region = { { 0, 0xa0000 }, { 0x100000, 0x7f00000 } },
	.nvcpus = 3,
	.ndevices = 2,
	.device = { { 1, 0, 0x5 }, { 0xffff, 7, 0x1 } },
};

static void put_config(struct memchan *mc, const struct mig_config *cfg)
{
	uint8_t buf[MIG_REC_MAX_SMALL];
	size_t n = mig_encode_config(cfg, buf, sizeof(buf));

	ASSERT_GT(n, 0);
	put_rec(mc, MIG_REC_CONFIG, buf, n);
}

/* ---- round trips ---- */

TEST(mig_stream, header_round_trip)
{
	struct reader r = { 0 };
	struct memchan mc;

	mc_init(&mc);
	ASSERT_RC(0, mig_write_header(&mc.chan));
	ASSERT_EQ(mc.len, MIG_HEADER_LEN);
	EXPECT_MEMEQ(mc.data, "IODYMIG\n\x01\0\0\0\x10\0\0\0", 16);
	EXPECT_RC(0, rd_header(&r, &mc));
	EXPECT_EQ(mc.pos, 16);
	mc_free(&mc);
}

TEST(mig_stream, config_round_trip)
{
	struct mig_config big = {
		.page_size = MIG_PAGE_SIZE,
		.nregions = MIG_MAX_REGIONS,
		.nvcpus = MIG_MAX_VCPUS,
		.ndevices = MIG_MAX_DEVICES,
	};
	const struct mig_config *cfgs[] = { &cfg_two, &big };
	struct reader r = { 0 };
	uint8_t buf[MIG_REC_MAX_SMALL];

	for (int i = 0; i < MIG_MAX_REGIONS; i++) {
		big.region[i].gpa = (uint64_t)i << 32;
		big.region[i].size = 0x10000000;
	}
	/* The last region ends at the very top of the address space. */
	big.region[3].gpa = 0xfffffffffff00000ULL;
	big.region[3].size = 0x100000;
	for (int i = 0; i < MIG_MAX_DEVICES; i++) {
		big.device[i].kind = (uint32_t)i;
		big.device[i].index = (uint32_t)i * 3;
		big.device[i].mig_flags = (uint64_t)i << 40 | 7;
	}

	/* Its length: 8 + 16 per region + 8 + 16 per device. */
	EXPECT_EQ(mig_encode_config(&cfg_two, buf, sizeof(buf)), 80);
	EXPECT_EQ(mig_encode_config(&big, buf, sizeof(buf)), 336);

	for (size_t k = 0; k < ARRAY_SIZE(cfgs); k++) {
		const struct mig_config *cfg = cfgs[k];
		const struct mig_config *got = &r.rec.config;
		struct memchan mc;

		mc_init(&mc);
		put_config(&mc, cfg);
		ASSERT_RC(0, rd_next(&r, &mc));
		EXPECT_EQ(r.rec.type, MIG_REC_CONFIG);
		EXPECT_EQ(got->page_size, cfg->page_size);
		EXPECT_EQ(got->nregions, cfg->nregions);
		for (uint32_t i = 0; i < cfg->nregions; i++) {
			EXPECT_EQ(got->region[i].gpa, cfg->region[i].gpa);
			EXPECT_EQ(got->region[i].size, cfg->region[i].size);
		}
		EXPECT_EQ(got->nvcpus, cfg->nvcpus);
		EXPECT_EQ(got->ndevices, cfg->ndevices);
		for (uint32_t i = 0; i < cfg->ndevices; i++) {
			EXPECT_EQ(got->device[i].kind, cfg->device[i].kind);
			EXPECT_EQ(got->device[i].index, cfg->device[i].index);
			EXPECT_EQ(got->device[i].mig_flags,
				  cfg->device[i].mig_flags);
		}
		mc_free(&mc);
	}
	rd_free(&r);
}

TEST(mig_stream, encode_config_refuses_what_does_not_fit)
{
	struct mig_config cfg = cfg_two;
	uint8_t buf[MIG_REC_MAX_SMALL];

	memset(buf, 0xa5, sizeof(buf));
	EXPECT_EQ(mig_encode_config(&cfg, buf, 79), 0);
	EXPECT_EQ(buf[0], 0xa5);
	EXPECT_EQ(mig_encode_config(&cfg, NULL, 0), 0);
	cfg.nregions = MIG_MAX_REGIONS + 1;
	EXPECT_EQ(mig_encode_config(&cfg, buf, sizeof(buf)), 0);
	cfg = cfg_two;
	cfg.ndevices = MIG_MAX_DEVICES + 1;
	EXPECT_EQ(mig_encode_config(&cfg, buf, sizeof(buf)), 0);
	EXPECT_EQ(buf[0], 0xa5);
}

/* A RAM payload: page i at @gpas[i], zero if @zero[i], else filled with i+1. */
static void ram_payload(struct bytes *b, const uint64_t *gpas,
			const bool *zero, size_t n)
{
	b_u64(b, n);
	for (size_t i = 0; i < n; i++) {
		b_u64(b, gpas[i] | (zero[i] ? MIG_PAGE_ZERO : 0));
		if (!zero[i])
			b_fill(b, (uint8_t)(i + 1), MIG_PAGE_SIZE);
	}
}

TEST(mig_stream, ram_round_trip)
{
	static const uint64_t gpas[] = { 0x1000, 0x0, 0xfffffffffffff000ULL,
					 0x7000, 0x7000 };
	static const bool zero[] = { false, true, false, true, false };
	struct reader r = { 0 };
	struct mig_ram_page page;
	struct bytes p = { 0 };
	uint64_t i = 0;
	size_t off = 0;
	int n = 0;

	ram_payload(&p, gpas, zero, ARRAY_SIZE(gpas));
	ASSERT_RC(0, one(&r, MIG_REC_RAM, &p));
	EXPECT_EQ(r.rec.type, MIG_REC_RAM);
	EXPECT_EQ(r.rec.len, p.n);
	EXPECT_EQ(r.rec.ram.count, ARRAY_SIZE(gpas));
	while (!mig_ram_next(&r.rec, &i, &off, &page)) {
		ASSERT_LT(n, (int)ARRAY_SIZE(gpas));
		EXPECT_EQ(page.gpa, gpas[n]);
		EXPECT_EQ(page.zero, zero[n]);
		if (zero[n]) {
			EXPECT_TRUE(page.data == NULL);
		} else {
			uint8_t want[MIG_PAGE_SIZE];

			ASSERT_TRUE(page.data);
			memset(want, n + 1, sizeof(want));
			EXPECT_MEMEQ(page.data, want, sizeof(want));
		}
		n++;
	}
	EXPECT_EQ(n, ARRAY_SIZE(gpas));
	EXPECT_EQ(i, ARRAY_SIZE(gpas));
	EXPECT_EQ(off, p.n - 8);
	/* And it stays at the end. */
	EXPECT_EQ(mig_ram_next(&r.rec, &i, &off, &page), 1);

	/* No pages at all is a record too. */
	b_free(&p);
	b_u64(&p, 0);
	ASSERT_RC(0, one(&r, MIG_REC_RAM, &p));
	EXPECT_EQ(r.rec.ram.count, 0);
	i = 0;
	off = 0;
	EXPECT_EQ(mig_ram_next(&r.rec, &i, &off, &page), 1);
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, ram_full_record_at_the_bound)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };
	struct mig_ram_page page;
	uint64_t i = 0;
	size_t off = 0;

	b_u64(&p, MIG_REC_MAX_RAM_PAGES);
	for (uint64_t k = 0; k < MIG_REC_MAX_RAM_PAGES; k++) {
		b_u64(&p, k << 12);
		b_fill(&p, (uint8_t)k, MIG_PAGE_SIZE);
	}
	ASSERT_EQ(p.n, MIG_REC_MAX_RAM);
	ASSERT_RC(0, one(&r, MIG_REC_RAM, &p));
	EXPECT_LE(r.cap, 24 + MIG_REC_MAX_RAM);
	for (uint64_t k = 0; k < MIG_REC_MAX_RAM_PAGES; k++) {
		ASSERT_RC(0, mig_ram_next(&r.rec, &i, &off, &page));
		EXPECT_EQ(page.gpa, k << 12);
		EXPECT_EQ(page.data[0], (uint8_t)k);
		EXPECT_EQ(page.data[MIG_PAGE_SIZE - 1], (uint8_t)k);
	}
	EXPECT_EQ(mig_ram_next(&r.rec, &i, &off, &page), 1);
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, device_pass_cpu_round_trip)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u32(&p, 3);
	b_u32(&p, MIG_DEV_PRECOPY);
	b_put(&p, "device bytes", 12);
	ASSERT_RC(0, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_EQ(r.rec.device.device, 3);
	EXPECT_EQ(r.rec.device.phase, MIG_DEV_PRECOPY);
	EXPECT_EQ(r.rec.device.len, 12);
	EXPECT_MEMEQ(r.rec.device.data, "device bytes", 12);
	b_free(&p);

	/* STOP_COPY with no bytes, then one of the bound's size. */
	b_u32(&p, MIG_MAX_DEVICES - 1);
	b_u32(&p, MIG_DEV_STOPCOPY);
	ASSERT_RC(0, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_EQ(r.rec.device.device, MIG_MAX_DEVICES - 1);
	EXPECT_EQ(r.rec.device.phase, MIG_DEV_STOPCOPY);
	EXPECT_EQ(r.rec.device.len, 0);
	b_fill(&p, 0x5a, MIG_REC_MAX_DEVICE - 8);
	ASSERT_RC(0, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_EQ(r.rec.device.len, MIG_REC_MAX_DEVICE - 8);
	EXPECT_EQ(r.rec.device.data[MIG_REC_MAX_DEVICE - 9], 0x5a);
	b_free(&p);

	b_u64(&p, 7);
	b_u64(&p, 123456789);
	ASSERT_RC(0, one(&r, MIG_REC_PASS, &p));
	EXPECT_EQ(r.rec.type, MIG_REC_PASS);
	EXPECT_EQ(r.rec.pass.pass, 7);
	EXPECT_EQ(r.rec.pass.pages, 123456789);
	b_free(&p);

	b_u32(&p, MIG_MAX_VCPUS - 1);
	b_u32(&p, 5);
	b_put(&p, "regs!", 5);
	ASSERT_RC(0, one(&r, MIG_REC_CPU, &p));
	EXPECT_EQ(r.rec.cpu.vcpu, MIG_MAX_VCPUS - 1);
	EXPECT_EQ(r.rec.cpu.len, 5);
	EXPECT_MEMEQ(r.rec.cpu.data, "regs!", 5);
	b_free(&p);

	/* The largest CPU state a record holds. */
	b_u32(&p, 0);
	b_u32(&p, MIG_REC_MAX_SMALL - 8);
	b_fill(&p, 0xc3, MIG_REC_MAX_SMALL - 8);
	ASSERT_RC(0, one(&r, MIG_REC_CPU, &p));
	EXPECT_EQ(r.rec.cpu.len, MIG_REC_MAX_SMALL - 8);
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, end_verify_round_trip)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u64(&p, 1ULL << 40);
	b_u32(&p, MIG_MAX_DEVICES);
	for (int i = 0; i < MIG_MAX_DEVICES; i++)
		b_u64(&p, 1000 + (uint64_t)i);
	ASSERT_RC(0, one(&r, MIG_REC_END, &p));
	EXPECT_EQ(r.rec.end.pages, 1ULL << 40);
	EXPECT_EQ(r.rec.end.ndevices, MIG_MAX_DEVICES);
	for (int i = 0; i < MIG_MAX_DEVICES; i++)
		EXPECT_EQ(r.rec.end.seq[i], 1000 + (uint64_t)i);
	b_free(&p);

	b_u64(&p, 0);
	b_u32(&p, 0);
	ASSERT_RC(0, one(&r, MIG_REC_END, &p));
	EXPECT_EQ(r.rec.end.ndevices, 0);
	b_free(&p);

	b_u64(&p, 4096);
	b_u64(&p, 3);
	b_u64(&p, 0x1111);
	b_u64(&p, 0x2222);
	b_u64(&p, 0x3333);
	ASSERT_RC(0, one(&r, MIG_REC_VERIFY, &p));
	EXPECT_EQ(r.rec.verify.first, 4096);
	EXPECT_EQ(r.rec.verify.count, 3);
	EXPECT_MEMEQ(r.rec.verify.hashes, p.b + 16, 24);
	b_free(&p);

	/* The most hashes one record holds, ending at the last page. */
	b_u64(&p, UINT64_MAX - 65535);
	b_u64(&p, 65536);
	b_fill(&p, 0xee, 8 * 65536);
	ASSERT_RC(0, one(&r, MIG_REC_VERIFY, &p));
	EXPECT_EQ(r.rec.verify.count, 65536);
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, empty_records_round_trip)
{
	static const enum mig_rec_type types[] = {
		MIG_REC_GO, MIG_REC_CONFIG_OK, MIG_REC_READY, MIG_REC_RUNNING,
	};
	struct reader r = { 0 };
	struct bytes p = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		ASSERT_RC(0, one(&r, types[i], &p));
		EXPECT_EQ(r.rec.type, types[i]);
		EXPECT_EQ(r.rec.len, 0);
	}
	rd_free(&r);
}

TEST(mig_stream, error_round_trip)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };
	char want[256];

	b_u32(&p, EIO);
	b_put(&p, "device 0: STOP_COPY failed", 26);
	ASSERT_RC(0, one(&r, MIG_REC_ERROR, &p));
	EXPECT_EQ(r.rec.error.err, -EIO);
	EXPECT_EQ(strcmp(r.rec.error.text, "device 0: STOP_COPY failed"), 0);
	b_free(&p);

	/* Written as the -errno, with its NUL, as mig_send_error() does. */
	b_u32(&p, (uint32_t)-ENOSPC);
	b_put(&p, "no room\0", 8);
	ASSERT_RC(0, one(&r, MIG_REC_ERROR, &p));
	EXPECT_EQ(r.rec.error.err, -ENOSPC);
	EXPECT_EQ(strcmp(r.rec.error.text, "no room"), 0);
	b_free(&p);

	/* No text at all. */
	b_u32(&p, ENOMEM);
	ASSERT_RC(0, one(&r, MIG_REC_ERROR, &p));
	EXPECT_EQ(r.rec.error.err, -ENOMEM);
	EXPECT_EQ(r.rec.error.text[0], '\0');
	b_free(&p);

	/* A text longer than the buffer is cut, NUL-terminated. */
	b_u32(&p, EINVAL);
	b_fill(&p, 'x', 4000);
	ASSERT_RC(0, one(&r, MIG_REC_ERROR, &p));
	memset(want, 'x', 255);
	want[255] = '\0';
	EXPECT_EQ(strlen(r.rec.error.text), 255);
	EXPECT_EQ(strcmp(r.rec.error.text, want), 0);
	b_free(&p);

	/* A text stops at its NUL; control characters are not passed on. */
	b_u32(&p, EPERM);
	b_put(&p, "bad\x1b[2Jthing\nhere\0after", 23);
	ASSERT_RC(0, one(&r, MIG_REC_ERROR, &p));
	EXPECT_EQ(strcmp(r.rec.error.text, "bad?[2Jthing?here"), 0);
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, rec_names)
{
	static const struct {
		uint32_t type;
		const char *name;
	} names[] = {
		{ MIG_REC_CONFIG, "CONFIG" },	{ MIG_REC_RAM, "RAM" },
		{ MIG_REC_DEVICE, "DEVICE" },	{ MIG_REC_PASS, "PASS" },
		{ MIG_REC_CPU, "CPU" },		{ MIG_REC_END, "END" },
		{ MIG_REC_VERIFY, "VERIFY" },	{ MIG_REC_GO, "GO" },
		{ MIG_REC_CONFIG_OK, "CONFIG_OK" }, { MIG_REC_READY, "READY" },
		{ MIG_REC_RUNNING, "RUNNING" }, { MIG_REC_ERROR, "ERROR" },
		{ 0, "unknown" }, { 9, "unknown" }, { 15, "unknown" },
		{ 20, "unknown" }, { UINT32_MAX, "unknown" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		EXPECT_EQ(strcmp(mig_rec_name(names[i].type), names[i].name), 0);
}

TEST(mig_stream, writer_refuses_what_the_reader_would)
{
	static uint8_t big[MIG_REC_MAX_SMALL + 1];
	struct memchan mc;

	mc_init(&mc);
	EXPECT_RC(-EINVAL, mig_write_record(&mc.chan, (enum mig_rec_type)77,
					    NULL, 0));
	EXPECT_RC(-EINVAL, mig_write_record(&mc.chan, MIG_REC_PASS, NULL, 16));
	EXPECT_RC(-EMSGSIZE, mig_write_record(&mc.chan, MIG_REC_ERROR, big,
					      sizeof(big)));
	EXPECT_RC(-EMSGSIZE, mig_write_record(&mc.chan, MIG_REC_RAM, big,
					      MIG_REC_MAX_RAM + 1));
	EXPECT_EQ(mc.len, 0);
	mc_free(&mc);
}

/*
 * A whole source stream: header, CONFIG, RAM (data and zero pages), DEVICE,
 * PASS, CPU, END, VERIFY, GO. @ends gets the offset after the header and
 * after each record; returns how many records.
 */
static int put_stream(struct memchan *mc, size_t *ends)
{
	static const uint64_t gpas[] = { 0x3000, 0x4000 };
	static const bool zero[] = { false, true };
	struct bytes p = { 0 };
	int n = 0;

	ASSERT_RC(0, mig_write_header(&mc->chan));
	ends[n++] = mc->len;
	put_config(mc, &cfg_two);
	ends[n++] = mc->len;
	ram_payload(&p, gpas, zero, 2);
	put_rec(mc, MIG_REC_RAM, p.b, p.n);
	ends[n++] = mc->len;
	b_free(&p);
	b_u32(&p, 1);
	b_u32(&p, MIG_DEV_STOPCOPY);
	b_fill(&p, 0x77, 100);
	put_rec(mc, MIG_REC_DEVICE, p.b, p.n);
	ends[n++] = mc->len;
	b_free(&p);
	b_u64(&p, 1);
	b_u64(&p, 2);
	put_rec(mc, MIG_REC_PASS, p.b, p.n);
	ends[n++] = mc->len;
	b_free(&p);
	b_u32(&p, 0);
	b_u32(&p, 3);
	b_put(&p, "cpu", 3);
	put_rec(mc, MIG_REC_CPU, p.b, p.n);
	ends[n++] = mc->len;
	b_free(&p);
	b_u64(&p, 2);
	b_u32(&p, 2);
	b_u64(&p, 10);
	b_u64(&p, 20);
	put_rec(mc, MIG_REC_END, p.b, p.n);
	ends[n++] = mc->len;
	b_free(&p);
	b_u64(&p, 0);
	b_u64(&p, 1);
	b_u64(&p, 0xabcdef);
	put_rec(mc, MIG_REC_VERIFY, p.b, p.n);
	ends[n++] = mc->len;
	b_free(&p);
	put_rec(mc, MIG_REC_GO, NULL, 0);
	ends[n++] = mc->len;
	return n;
}

TEST(mig_stream, whole_stream_reuses_its_buffer)
{
	static const enum mig_rec_type want[] = {
		MIG_REC_CONFIG, MIG_REC_RAM, MIG_REC_DEVICE, MIG_REC_PASS,
		MIG_REC_CPU, MIG_REC_END, MIG_REC_VERIFY, MIG_REC_GO,
	};
	struct reader r = { 0 };
	struct memchan mc;
	size_t ends[16];
	uint8_t *after_ram = NULL;
	size_t cap_after_ram = 0;

	mc_init(&mc);
	ASSERT_EQ(put_stream(&mc, ends), 9);
	ASSERT_RC(0, rd_header(&r, &mc));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ASSERT_RC(0, rd_next(&r, &mc));
		EXPECT_EQ(r.rec.type, want[i]);
		EXPECT_EQ(mc.pos, ends[i + 1]);
		EXPECT_TRUE(r.rec.payload == r.buf + 16);
		if (want[i] == MIG_REC_RAM) {
			after_ram = r.buf;
			cap_after_ram = r.cap;
		} else if (after_ram) {
			/* Smaller records after it fit: no new buffer. */
			EXPECT_TRUE(r.buf == after_ram);
			EXPECT_EQ(r.cap, cap_after_ram);
		}
	}
	/* The end of the stream where a record should start is EPIPE. */
	EXPECT_RC(-EPIPE, rd_next(&r, &mc));
	EXPECT_MSG(r.msg, "truncated stream");
	mc_free(&mc);
	rd_free(&r);
}

/* ---- corruption ---- */

static bool is_refusal(int ret)
{
	return ret == -EBADMSG || ret == -EPROTO || ret == -EMSGSIZE ||
	       ret == -EPIPE;
}

/*
 * Every byte of a small record, xor'ed with every value: mig_parse_record
 * on the record alone and mig_read_record on a stream holding it both
 * refuse it, with a message; a changed payload or check is EBADMSG.
 */
static void flip_every_byte(enum mig_rec_type type, const struct bytes *p)
{
	struct reader r = { 0 };
	struct memchan mc;
	struct mig_record rec;
	char msg[256];
	uint8_t *rb;
	size_t n;

	mc_init(&mc);
	put_rec(&mc, type, p->b, p->n);
	n = mc.len;
	rb = malloc(n);
	ASSERT_TRUE(rb);
	memcpy(rb, mc.data, n);
	/* Unflipped, it is good. */
	ASSERT_RC(0, mig_parse_record(rb, n, &rec, msg, sizeof(msg)));

	for (size_t i = 0; i < n; i++) {
		for (unsigned int x = 1; x < 256; x++) {
			struct memchan in;
			int ret;

			rb[i] ^= (uint8_t)x;
			msg[0] = '\0';
			ret = mig_parse_record(rb, n, &rec, msg, sizeof(msg));
			if (!is_refusal(ret) || !msg[0])
				test_fail_at(__FILE__, __LINE__,
					     "%s: byte %zu ^ 0x%x: parse gave %d \"%s\"",
					     mig_rec_name(type), i, x, ret, msg);
			if (i >= 16 && ret != -EBADMSG)
				test_fail_at(__FILE__, __LINE__,
					     "%s: byte %zu ^ 0x%x of the payload or check: %d, not EBADMSG",
					     mig_rec_name(type), i, x, ret);
			if (ret == -EBADMSG)
				EXPECT_MSG(msg, "corrupted stream");

			mc_init_bytes(&in, rb, n);
			ret = rd_next(&r, &in);
			if (!is_refusal(ret) || !strcmp(r.msg, "(untouched)"))
				test_fail_at(__FILE__, __LINE__,
					     "%s: byte %zu ^ 0x%x: read gave %d \"%s\"",
					     mig_rec_name(type), i, x, ret, r.msg);
			mc_free(&in);
			rb[i] ^= (uint8_t)x;
		}
	}
	free(rb);
	mc_free(&mc);
	rd_free(&r);
}

TEST(mig_stream, flipped_bytes_never_pass)
{
	uint8_t cfg[MIG_REC_MAX_SMALL];
	struct bytes p = { 0 };

	b_put(&p, cfg, mig_encode_config(&cfg_two, cfg, sizeof(cfg)));
	flip_every_byte(MIG_REC_CONFIG, &p);
	b_free(&p);

	b_u64(&p, 1);
	b_u64(&p, 0x5000 | MIG_PAGE_ZERO);
	flip_every_byte(MIG_REC_RAM, &p);
	b_free(&p);

	b_u32(&p, 2);
	b_u32(&p, MIG_DEV_PRECOPY);
	b_put(&p, "abc", 3);
	flip_every_byte(MIG_REC_DEVICE, &p);
	b_free(&p);

	b_u64(&p, 3);
	b_u64(&p, 4);
	flip_every_byte(MIG_REC_PASS, &p);
	b_free(&p);

	b_u32(&p, 1);
	b_u32(&p, 2);
	b_put(&p, "xy", 2);
	flip_every_byte(MIG_REC_CPU, &p);
	b_free(&p);

	b_u64(&p, 9);
	b_u32(&p, 1);
	b_u64(&p, 42);
	flip_every_byte(MIG_REC_END, &p);
	b_free(&p);

	b_u64(&p, 0);
	b_u64(&p, 1);
	b_u64(&p, 0x1234);
	flip_every_byte(MIG_REC_VERIFY, &p);
	b_free(&p);

	flip_every_byte(MIG_REC_GO, &p);
	flip_every_byte(MIG_REC_RUNNING, &p);

	b_u32(&p, EIO);
	b_put(&p, "oops", 4);
	flip_every_byte(MIG_REC_ERROR, &p);
	b_free(&p);
}

TEST(mig_stream, flipped_bit_in_ram_page_is_corruption)
{
	static const uint64_t gpas[] = { 0x2000 };
	static const bool zero[] = { false };
	struct reader r = { 0 };
	struct memchan mc;
	struct bytes p = { 0 };

	ram_payload(&p, gpas, zero, 1);
	mc_init(&mc);
	put_rec(&mc, MIG_REC_RAM, p.b, p.n);
	/* One bit of the page's data, anywhere in it. */
	for (size_t i = 16 + 16; i < 16 + 16 + MIG_PAGE_SIZE; i += 61) {
		for (int bit = 0; bit < 8; bit++) {
			mc.pos = 0;
			mc.data[i] ^= (uint8_t)(1u << bit);
			EXPECT_RC(-EBADMSG, rd_next(&r, &mc));
			mc.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	EXPECT_MSG(r.msg, "corrupted stream: RAM record of 4112 bytes: check mismatch");
	mc.pos = 0;
	EXPECT_RC(0, rd_next(&r, &mc));
	mc_free(&mc);
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, truncated_anywhere_is_epipe)
{
	struct reader r = { 0 };
	struct memchan full;
	size_t ends[16];
	int nends;

	mc_init(&full);
	nends = put_stream(&full, ends);
	for (size_t cut = 0; cut < full.len; cut++) {
		struct memchan mc;
		int complete = 0, got = 0, ret;

		while (complete < nends && ends[complete] <= cut)
			complete++;
		mc_init_bytes(&mc, full.data, cut);
		ret = rd_header(&r, &mc);
		if (!ret) {
			got++;
			while (!(ret = rd_next(&r, &mc)))
				got++;
		}
		if (ret != -EPIPE || got != complete)
			test_fail_at(__FILE__, __LINE__,
				     "cut at %zu: %d after %d records (want EPIPE after %d): %s",
				     cut, ret, got, complete, r.msg);
		EXPECT_MSG(r.msg, "truncated stream");
		mc_free(&mc);
	}
	/* And in memory, any record short of its end. */
	for (int k = 1; k < nends; k++) {
		for (size_t n = 0; n < ends[k] - ends[k - 1]; n++) {
			struct mig_record rec;
			char msg[256] = "";

			EXPECT_RC(-EPIPE, mig_parse_record(full.data + ends[k - 1],
							   n, &rec, msg,
							   sizeof(msg)));
			EXPECT_MSG(msg, "truncated stream");
		}
	}
	mc_free(&full);
	rd_free(&r);
}

TEST(mig_stream, stray_bytes_after_a_record)
{
	struct memchan mc;
	struct mig_record rec;
	char msg[256];

	mc_init(&mc);
	put_rec(&mc, MIG_REC_GO, NULL, 0);
	mc_write(&mc.chan, "\0", 1);
	EXPECT_RC(-EPROTO, mig_parse_record(mc.data, mc.len, &rec, msg,
					    sizeof(msg)));
	EXPECT_MSG(msg, "GO record of 0 bytes is followed by stray bytes (1)");
	mc_free(&mc);
}

static const uint64_t type_bound[] = {
	[MIG_REC_CONFIG] = MIG_REC_MAX_SMALL,
	[MIG_REC_RAM] = MIG_REC_MAX_RAM,
	[MIG_REC_DEVICE] = MIG_REC_MAX_DEVICE,
	[MIG_REC_PASS] = MIG_REC_MAX_SMALL,
	[MIG_REC_CPU] = MIG_REC_MAX_SMALL,
	[MIG_REC_END] = MIG_REC_MAX_SMALL,
	[MIG_REC_VERIFY] = MIG_REC_MAX_VERIFY,
	[MIG_REC_GO] = MIG_REC_MAX_SMALL,
	[MIG_REC_CONFIG_OK] = MIG_REC_MAX_SMALL,
	[MIG_REC_READY] = MIG_REC_MAX_SMALL,
	[MIG_REC_RUNNING] = MIG_REC_MAX_SMALL,
	[MIG_REC_ERROR] = MIG_REC_MAX_SMALL,
};

/*
 * A length past the type's bound is refused from the frame header alone:
 * nothing more is read from the channel and the record buffer is not
 * allocated (nor, when it exists, grown).
 */
TEST(mig_stream, oversized_is_emsgsize_before_reading)
{
	uint64_t lens[] = { 0, MIG_REC_MAX_DEVICE + 1, 1ULL << 32,
			    1ULL << 63, UINT64_MAX - 23, UINT64_MAX };

	for (uint32_t type = 1; type < ARRAY_SIZE(type_bound); type++) {
		if (!type_bound[type])
			continue;
		lens[0] = type_bound[type] + 1;
		for (size_t k = 0; k < ARRAY_SIZE(lens); k++) {
			struct reader r = { 0 };
			struct memchan mc;
			char want[128];

			if (lens[k] <= type_bound[type])
				continue;
			mc_init(&mc);
			/* 64 bytes of payload follow: none may be read. */
			put_raw(&mc, type, 0, lens[k], "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				64, true);
			EXPECT_RC(-EMSGSIZE, rd_next(&r, &mc));
			EXPECT_EQ(mc.nread, 16);
			EXPECT_TRUE(r.buf == NULL);
			EXPECT_EQ(r.cap, 0);
			snprintf(want, sizeof(want),
				 "%s record of %" PRIu64 " bytes is longer than its bound of %" PRIu64,
				 mig_rec_name(type), lens[k], type_bound[type]);
			EXPECT_MSG(r.msg, want);

			/* With a buffer already there, it is not grown. */
			r.cap = 64;
			r.buf = xmalloc(r.cap);
			mc.pos = 0;
			mc.nread = 0;
			EXPECT_RC(-EMSGSIZE, rd_next(&r, &mc));
			EXPECT_EQ(mc.nread, 16);
			EXPECT_EQ(r.cap, 64);

			/* mig_parse_record says the same. */
			EXPECT_RC(-EMSGSIZE, mig_parse_record(mc.data, mc.len,
							      &r.rec, r.msg,
							      sizeof(r.msg)));
			rd_free(&r);
			mc_free(&mc);
		}
	}
}

/* Within the bound, the buffer never grows past the type's largest frame. */
TEST(mig_stream, buffer_stays_within_the_bound)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u32(&p, 0);
	b_u32(&p, MIG_DEV_PRECOPY);
	for (size_t n = 8; n <= MIG_REC_MAX_DEVICE; n = n * 3 + 1) {
		while (p.n < n)
			b_fill(&p, 1, 1);
		ASSERT_RC(0, one(&r, MIG_REC_DEVICE, &p));
		EXPECT_GE(r.cap, 24 + p.n);
		EXPECT_LE(r.cap, 24 + MIG_REC_MAX_DEVICE);
	}
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, unknown_types_are_eproto)
{
	static const uint32_t types[] = { 0, 9, 10, 15, 20, 77, 0x10000,
					  UINT32_MAX };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		struct reader r = { 0 };
		struct memchan mc;
		char want[64];

		mc_init(&mc);
		put_raw(&mc, types[i], 0, 4, "abcd", 4, true);
		EXPECT_RC(-EPROTO, rd_next(&r, &mc));
		EXPECT_EQ(mc.nread, 16);
		EXPECT_TRUE(r.buf == NULL);
		snprintf(want, sizeof(want), "unknown record type %" PRIu32,
			 types[i]);
		EXPECT_EQ(strcmp(r.msg, want), 0);
		EXPECT_RC(-EPROTO, mig_parse_record(mc.data, mc.len, &r.rec,
						    r.msg, sizeof(r.msg)));
		EXPECT_EQ(strcmp(r.msg, want), 0);
		mc_free(&mc);
	}
}

TEST(mig_stream, frame_flags_are_refused)
{
	struct reader r = { 0 };
	struct memchan mc;

	mc_init(&mc);
	put_raw(&mc, MIG_REC_GO, 0x1, 0, NULL, 0, true);
	put_raw(&mc, MIG_REC_PASS, 0x80000000u, 16, "0123456789abcdef", 16,
		true);
	EXPECT_RC(-EPROTO, rd_next(&r, &mc));
	EXPECT_MSG(r.msg, "GO record has flags 0x1");
	EXPECT_RC(-EPROTO, rd_next(&r, &mc));
	EXPECT_MSG(r.msg, "PASS record has flags 0x80000000");
	/* With a bad check too, it is the corruption that is reported. */
	put_raw(&mc, MIG_REC_GO, 0x1, 0, NULL, 0, false);
	EXPECT_RC(-EBADMSG, rd_next(&r, &mc));
	mc_free(&mc);
	rd_free(&r);
}

TEST(mig_stream, bad_check_is_ebadmsg)
{
	struct reader r = { 0 };
	struct memchan mc;

	mc_init(&mc);
	put_raw(&mc, MIG_REC_PASS, 0, 16, "0123456789abcdef", 16, false);
	EXPECT_RC(-EBADMSG, rd_next(&r, &mc));
	EXPECT_MSG(r.msg, "corrupted stream: PASS record of 16 bytes: check mismatch");
	EXPECT_MSG(r.msg, "sent 0123456789abcdef");
	mc_free(&mc);
	rd_free(&r);
}

/* ---- the header ---- */

static int header_of(const char *magic, uint32_t version, uint32_t hlen,
		     char *msg, size_t msglen)
{
	struct memchan mc;
	struct bytes b = { 0 };
	int ret;

	b_put(&b, magic, 8);
	b_u32(&b, version);
	b_u32(&b, hlen);
	mc_init_bytes(&mc, b.b, b.n);
	ret = mig_read_header(&mc.chan, msg, msglen);
	EXPECT_EQ(mc.nread, 16);
	mc_free(&mc);
	b_free(&b);
	return ret;
}

TEST(mig_stream, bad_headers)
{
	char msg[256];

	EXPECT_RC(0, header_of("IODYMIG\n", 1, 16, msg, sizeof(msg)));
	EXPECT_RC(-EPROTO, header_of("IODYMIG\r", 1, 16, msg, sizeof(msg)));
	EXPECT_MSG(msg, "not an iodirty migration stream: it starts with 49 4f 44 59 4d 49 47 0d");
	EXPECT_RC(-EPROTO, header_of("GET / HT", 1, 16, msg, sizeof(msg)));
	EXPECT_MSG(msg, "not an iodirty migration stream");
	EXPECT_RC(-EPROTONOSUPPORT, header_of("IODYMIG\n", 2, 16, msg,
					      sizeof(msg)));
	EXPECT_MSG(msg, "migration stream version 2; this iodirty reads version 1");
	EXPECT_RC(-EPROTONOSUPPORT, header_of("IODYMIG\n", 0, 16, msg,
					      sizeof(msg)));
	/* A later version may have a longer header: the version comes first. */
	EXPECT_RC(-EPROTONOSUPPORT, header_of("IODYMIG\n", 0x01000000, 32, msg,
					      sizeof(msg)));
	EXPECT_RC(-EPROTO, header_of("IODYMIG\n", 1, 24, msg, sizeof(msg)));
	EXPECT_MSG(msg, "header says it is 24 bytes");
	EXPECT_RC(-EPROTO, header_of("IODYMIG\n", 1, 0, msg, sizeof(msg)));

	/* Short of 16 bytes. */
	for (size_t n = 0; n < MIG_HEADER_LEN; n++) {
		struct memchan mc;

		mc_init_bytes(&mc, (const uint8_t *)"IODYMIG\n\x01\0\0\0\x10\0\0\0", n);
		msg[0] = '\0';
		EXPECT_RC(-EPIPE, mig_read_header(&mc.chan, msg, sizeof(msg)));
		EXPECT_MSG(msg, "truncated stream");
		mc_free(&mc);
	}
}

/* ---- the channel's own errors ---- */

TEST(mig_stream, channel_errors_pass_through)
{
	static const int errs[] = { -ETIMEDOUT, -ECONNRESET, -EIO };
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u64(&p, 1);
	b_u64(&p, 2);
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
		struct memchan mc;

		mc_init(&mc);
		ASSERT_RC(0, mig_write_header(&mc.chan));
		put_rec(&mc, MIG_REC_PASS, p.b, p.n);
		mc.fail_err = errs[i];

		/* In the header. */
		mc.fail_at = 8;
		EXPECT_RC(errs[i], rd_header(&r, &mc));
		if (errs[i] == -ETIMEDOUT)
			EXPECT_MSG(r.msg, "timed out waiting for the 16-byte stream header");
		else
			EXPECT_MSG(r.msg, strerror(-errs[i]));

		/* In a frame header, then in a payload. */
		mc.fail_at = 16 + 8;
		ASSERT_RC(0, rd_header(&r, &mc));
		EXPECT_RC(errs[i], rd_next(&r, &mc));
		EXPECT_MSG(r.msg, "the next record");
		mc.fail_at = 16 + 16 + 8;
		mc.pos = 16;
		EXPECT_RC(errs[i], rd_next(&r, &mc));
		EXPECT_MSG(r.msg, "the payload of a PASS record of 16 bytes");
		if (errs[i] == -ETIMEDOUT)
			EXPECT_MSG(r.msg, "the peer stopped sending");
		mc_free(&mc);
	}
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, out_of_memory_for_the_buffer)
{
	struct reader r = { 0 };
	struct memchan mc;
	struct bytes p = { 0 };

	b_u64(&p, 1);
	b_u64(&p, 2);
	mc_init(&mc);
	put_rec(&mc, MIG_REC_PASS, p.b, p.n);
	alloc_fail_nth_set(1);
	EXPECT_RC(-ENOMEM, rd_next(&r, &mc));
	alloc_fail_nth_set(0);
	EXPECT_MSG(r.msg, "out of memory for a PASS record of 16 bytes");
	EXPECT_TRUE(r.buf == NULL);
	EXPECT_EQ(r.cap, 0);

	/* A failed growth keeps the old buffer. */
	r.cap = 16;
	r.buf = xmalloc(r.cap);
	mc.pos = 0;
	alloc_fail_nth_set(1);
	EXPECT_RC(-ENOMEM, rd_next(&r, &mc));
	alloc_fail_nth_set(0);
	EXPECT_EQ(r.cap, 16);
	EXPECT_TRUE(r.buf != NULL);
	mc.pos = 0;
	EXPECT_RC(0, rd_next(&r, &mc));
	EXPECT_EQ(r.rec.pass.pages, 2);
	mc_free(&mc);
	b_free(&p);
	rd_free(&r);
}

/* ---- RAM ---- */

TEST(mig_stream, ram_malformed)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	/* More pages than one record may hold. */
	b_u64(&p, MIG_REC_MAX_RAM_PAGES + 1);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "RAM record's page count is 1025; at most 1024 pages");
	b_free(&p);
	b_u64(&p, UINT64_MAX);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	b_free(&p);

	/* No count. */
	b_fill(&p, 0, 7);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "RAM record of 7 bytes has no page count");
	b_free(&p);

	/* Says two pages, holds one. */
	b_u64(&p, 2);
	b_u64(&p, 0x1000);
	b_fill(&p, 1, MIG_PAGE_SIZE);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "RAM record of 4112 bytes ends before page 1 (its page count is 2)");
	/* ... or part of one. */
	b_u64(&p, 0x2000);
	b_fill(&p, 1, 100);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "ends inside the data of page 1 (GPA 0x2000)");
	b_free(&p);

	/* A gpa_flags cut short. */
	b_u64(&p, 1);
	b_fill(&p, 0, 4);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	b_free(&p);

	/* Says one page, holds more. */
	b_u64(&p, 1);
	b_u64(&p, 0x1000 | MIG_PAGE_ZERO);
	b_fill(&p, 0, 8);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "RAM record of 24 bytes goes on after its last page (page count 1, stray bytes 8)");
	b_free(&p);

	/* A zero page followed by data it should not have. */
	b_u64(&p, 1);
	b_u64(&p, 0x1000 | MIG_PAGE_ZERO);
	b_fill(&p, 0, MIG_PAGE_SIZE);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "goes on after its last page (page count 1, stray bytes 4096)");
	b_free(&p);

	/* A data page without its data. */
	b_u64(&p, 1);
	b_u64(&p, 0x1000);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	EXPECT_MSG(r.msg, "ends inside the data of page 0");
	b_free(&p);

	/* Zero pages only, count off by one either way. */
	b_u64(&p, 0);
	b_u64(&p, MIG_PAGE_ZERO);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, ram_unaligned_gpa_and_flags)
{
	static const struct {
		uint64_t gpa_flags;
		const char *says;
	} bad[] = {
		{ 0x1800, "page at GPA 0x1800 is not page-aligned (page 1 of a RAM record)" },
		{ 0x1800 | MIG_PAGE_ZERO, "page at GPA 0x1800 is not page-aligned" },
		{ 0x1002, "page at GPA 0x1002 is not page-aligned" },
		{ 0x1000 | 0x800 | MIG_PAGE_ZERO, "GPA 0x1800" },
		{ 0xffffffffffffffffULL, "page at GPA 0xfffffffffffffffe" },
		{ 0x4, "page at GPA 0x4 " },
	};
	struct reader r = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct bytes p = { 0 };

		b_u64(&p, 2);
		b_u64(&p, 0x0 | MIG_PAGE_ZERO);
		b_u64(&p, bad[i].gpa_flags);
		if (!(bad[i].gpa_flags & MIG_PAGE_ZERO))
			b_fill(&p, 0, MIG_PAGE_SIZE);
		EXPECT_RC(-EPROTO, one(&r, MIG_REC_RAM, &p));
		EXPECT_MSG(r.msg, bad[i].says);
		b_free(&p);
	}
	rd_free(&r);
}

TEST(mig_stream, ram_next_refuses_what_is_not_ram)
{
	struct reader r = { 0 };
	struct mig_ram_page page;
	struct mig_record rec;
	struct bytes p = { 0 };
	uint64_t i = 0;
	size_t off = 0;

	b_u64(&p, 1);
	b_u64(&p, 2);
	ASSERT_RC(0, one(&r, MIG_REC_PASS, &p));
	EXPECT_RC(-EPROTO, mig_ram_next(&r.rec, &i, &off, &page));
	b_free(&p);

	/* A parsed RAM record whose fields were changed afterwards. */
	b_u64(&p, 1);
	b_u64(&p, 0x1000 | MIG_PAGE_ZERO);
	ASSERT_RC(0, one(&r, MIG_REC_RAM, &p));
	rec = r.rec;
	rec.ram.count = 2;
	EXPECT_RC(0, mig_ram_next(&rec, &i, &off, &page));
	EXPECT_RC(-EPROTO, mig_ram_next(&rec, &i, &off, &page));
	i = 0;
	off = 1000;
	EXPECT_RC(-EPROTO, mig_ram_next(&r.rec, &i, &off, &page));
	rec = r.rec;
	rec.ram.count = UINT64_MAX;
	i = 0;
	off = 0;
	EXPECT_RC(-EPROTO, mig_ram_next(&rec, &i, &off, &page));
	b_free(&p);
	rd_free(&r);
}

/* ---- CONFIG ---- */

/* CONFIG's payload by hand, for what mig_encode_config() will not write. */
static void config_raw(struct bytes *b, uint32_t page_size, uint32_t nregions,
		       const uint64_t *regions, uint32_t nvcpus,
		       uint32_t ndevices)
{
	b_u32(b, page_size);
	b_u32(b, nregions);
	for (uint32_t i = 0; i < nregions; i++) {
		b_u64(b, regions[2 * i]);
		b_u64(b, regions[2 * i + 1]);
	}
	b_u32(b, nvcpus);
	b_u32(b, ndevices);
	for (uint32_t i = 0; i < ndevices; i++) {
		b_u32(b, 1);
		b_u32(b, i);
		b_u64(b, 1);
	}
}

struct config_case {
	const char *name;
	uint32_t nregions;
	uint64_t regions[2 * MIG_MAX_REGIONS];
	uint32_t nvcpus, ndevices;
	const char *says;	/* NULL: it is good */
};

static const struct config_case config_cases[] = {
	{ "good", 2, { 0, 0x1000, 0x1000, 0x1000 }, 1, 0, NULL },
	{ "no_regions", 0, { 0 }, 1, 0, NULL },
	{ "top_of_space", 1, { 0xfffffffffffff000ULL, 0x1000 }, 32, 16, NULL },
	{ "unaligned_gpa", 1, { 0x800, 0x1000 }, 1, 0,
	  "RAM region 0 (GPA 0x800, size 0x1000) is not page-aligned" },
	{ "unaligned_size", 2, { 0, 0x1000, 0x2000, 0x1001 }, 1, 0,
	  "RAM region 1 (GPA 0x2000, size 0x1001) is not page-aligned" },
	{ "empty", 1, { 0x1000, 0 }, 1, 0,
	  "RAM region 0 at GPA 0x1000 is empty" },
	{ "wraps", 1, { 0xfffffffffffff000ULL, 0x2000 }, 1, 0,
	  "wraps past the end of the address space" },
	{ "huge_wraps", 1, { 0x2000, 0xfffffffffffff000ULL }, 1, 0,
	  "wraps past the end" },
	{ "overlap", 2, { 0, 0x3000, 0x2000, 0x2000 }, 1, 0,
	  "RAM regions 0 (GPA 0x0) and 1 (GPA 0x2000) overlap" },
	{ "inside", 3, { 0x10000, 0x1000, 0, 0x100000, 0x200000, 0x1000 }, 1, 0,
	  "RAM regions 0 (GPA 0x10000) and 1 (GPA 0x0) overlap" },
	{ "same", 4, { 0, 0x1000, 0x8000, 0x1000, 0x4000, 0x1000, 0x8000, 0x1000 },
	  1, 0, "RAM regions 1 (GPA 0x8000) and 3 (GPA 0x8000) overlap" },
	{ "no_vcpus", 1, { 0, 0x1000 }, 0, 0,
	  "CONFIG has 0 vCPUs; 1 to 32 are possible" },
	{ "too_many_vcpus", 1, { 0, 0x1000 }, 33, 0, "CONFIG has 33 vCPUs" },
	{ "too_many_devices", 1, { 0, 0x1000 }, 1, 17,
	  "CONFIG has 17 devices; at most 16" },
};

TEST_VARIANTS(mig_stream, config_checks, struct config_case, config_cases)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };
	int ret;

	config_raw(&p, MIG_PAGE_SIZE, v->nregions, v->regions, v->nvcpus,
		   v->ndevices);
	ret = one(&r, MIG_REC_CONFIG, &p);
	if (!v->says) {
		EXPECT_RC(0, ret);
		EXPECT_EQ(r.rec.config.nregions, v->nregions);
		EXPECT_EQ(r.rec.config.nvcpus, v->nvcpus);
		EXPECT_EQ(r.rec.config.ndevices, v->ndevices);
	} else {
		EXPECT_RC(-EPROTO, ret);
		EXPECT_MSG(r.msg, v->says);
	}
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, config_shape)
{
	static const uint64_t regions[2 * (MIG_MAX_REGIONS + 1)] = {
		0, 0x1000, 0x1000, 0x1000, 0x2000, 0x1000, 0x3000, 0x1000,
		0x4000, 0x1000,
	};
	struct reader r = { 0 };
	struct bytes p = { 0 };

	config_raw(&p, 8192, 1, regions, 1, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	EXPECT_MSG(r.msg, "the source's page size is 8192 bytes; this side's is 4096");
	b_free(&p);

	config_raw(&p, MIG_PAGE_SIZE, MIG_MAX_REGIONS + 1, regions, 1, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	EXPECT_MSG(r.msg, "CONFIG has 5 RAM regions; at most 4");
	b_free(&p);

	/* A count far beyond the bytes: refused by the count, not read. */
	b_u32(&p, MIG_PAGE_SIZE);
	b_u32(&p, UINT32_MAX);
	b_u32(&p, 1);
	b_u32(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	b_free(&p);

	/* Lengths that do not match the counts. */
	config_raw(&p, MIG_PAGE_SIZE, 2, regions, 1, 1);
	b_fill(&p, 0, 1);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	EXPECT_MSG(r.msg, "CONFIG record is 65 bytes, but nregions 2 and ndevices 1 make it 64");
	p.n -= 2;
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	EXPECT_MSG(r.msg, "CONFIG record is 63 bytes");
	p.n = 30;
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	EXPECT_MSG(r.msg, "ends inside its 2 RAM regions");
	p.n = 7;
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	p.n = 0;
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CONFIG, &p));
	b_free(&p);
	rd_free(&r);
}

/* ---- the other types' shapes ---- */

TEST(mig_stream, device_malformed)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u32(&p, 0);
	b_u32(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_MSG(r.msg, "DEVICE record for device 0 has unknown phase 0");
	b_free(&p);
	b_u32(&p, 0);
	b_u32(&p, 3);
	b_fill(&p, 0, 10);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_MSG(r.msg, "unknown phase 3");
	b_free(&p);
	b_u32(&p, MIG_MAX_DEVICES);
	b_u32(&p, MIG_DEV_PRECOPY);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_MSG(r.msg, "DEVICE record for device 16; at most 16 devices");
	b_free(&p);
	b_fill(&p, 0, 7);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_DEVICE, &p));
	EXPECT_MSG(r.msg, "DEVICE record of 7 bytes is too short");
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, fixed_sizes_are_exact)
{
	static const enum mig_rec_type empty[] = {
		MIG_REC_GO, MIG_REC_CONFIG_OK, MIG_REC_READY, MIG_REC_RUNNING,
	};
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_fill(&p, 0, 15);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_PASS, &p));
	EXPECT_MSG(r.msg, "PASS record's length is 15; it is always 16");
	b_fill(&p, 0, 2);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_PASS, &p));
	EXPECT_MSG(r.msg, "PASS record's length is 17");
	p.n = 0;
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_PASS, &p));
	b_free(&p);

	b_fill(&p, 0, 1);
	for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
		char want[64];

		EXPECT_RC(-EPROTO, one(&r, empty[i], &p));
		snprintf(want, sizeof(want), "%s record should be empty; its length is 1",
			 mig_rec_name(empty[i]));
		EXPECT_MSG(r.msg, want);
	}
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, cpu_malformed)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u32(&p, 0);
	b_u32(&p, 4);
	b_put(&p, "abc", 3);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CPU, &p));
	EXPECT_MSG(r.msg, "CPU record of 11 bytes says vCPU 0's state is 4 bytes");
	b_free(&p);
	b_u32(&p, 0);
	b_u32(&p, UINT32_MAX);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CPU, &p));
	b_free(&p);
	b_u32(&p, MIG_MAX_VCPUS);
	b_u32(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CPU, &p));
	EXPECT_MSG(r.msg, "CPU record for vCPU 32; at most 32 vCPUs");
	b_free(&p);
	b_fill(&p, 0, 4);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_CPU, &p));
	EXPECT_MSG(r.msg, "too short");
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, end_malformed)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u64(&p, 0);
	b_u32(&p, MIG_MAX_DEVICES + 1);
	for (int i = 0; i <= MIG_MAX_DEVICES; i++)
		b_u64(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_END, &p));
	EXPECT_MSG(r.msg, "END record has 17 devices; at most 16");
	b_free(&p);
	b_u64(&p, 0);
	b_u32(&p, 2);
	b_u64(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_END, &p));
	EXPECT_MSG(r.msg, "END record is 20 bytes, but ndevices 2 makes it 28");
	b_u64(&p, 0);
	b_fill(&p, 0, 1);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_END, &p));
	b_free(&p);
	b_fill(&p, 0, 11);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_END, &p));
	EXPECT_MSG(r.msg, "too short");
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, verify_malformed)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_u64(&p, 0);
	b_u64(&p, 2);
	b_u64(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_VERIFY, &p));
	EXPECT_MSG(r.msg, "VERIFY record of 24 bytes does not hold exactly the 2 page hashes it counts");
	b_fill(&p, 0, 4);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_VERIFY, &p));
	b_free(&p);
	/* A count that would overflow count * 8 back to the length. */
	b_u64(&p, 0);
	b_u64(&p, (1ULL << 61) + 1);
	b_u64(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_VERIFY, &p));
	b_free(&p);
	b_u64(&p, UINT64_MAX);
	b_u64(&p, 2);
	b_u64(&p, 0);
	b_u64(&p, 0);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_VERIFY, &p));
	EXPECT_MSG(r.msg, "run past page 2^64");
	b_free(&p);
	b_u64(&p, 5);
	b_u64(&p, 0);
	EXPECT_RC(0, one(&r, MIG_REC_VERIFY, &p));
	EXPECT_EQ(r.rec.verify.count, 0);
	b_free(&p);
	b_fill(&p, 0, 15);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_VERIFY, &p));
	EXPECT_MSG(r.msg, "too short");
	b_free(&p);
	rd_free(&r);
}

TEST(mig_stream, error_malformed)
{
	struct reader r = { 0 };
	struct bytes p = { 0 };

	b_fill(&p, 0, 3);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_ERROR, &p));
	EXPECT_MSG(r.msg, "ERROR record of 3 bytes is too short for its errno");
	b_free(&p);
	b_u32(&p, 0);
	b_put(&p, "zero", 4);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_ERROR, &p));
	EXPECT_MSG(r.msg, "ERROR record carries 0, which is not an errno");
	b_free(&p);
	b_u32(&p, (uint32_t)-4096);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_ERROR, &p));
	EXPECT_MSG(r.msg, "ERROR record carries -4096, which is not an errno");
	b_free(&p);
	b_u32(&p, 4096);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_ERROR, &p));
	b_free(&p);
	b_u32(&p, 0x80000000u);
	EXPECT_RC(-EPROTO, one(&r, MIG_REC_ERROR, &p));
	b_free(&p);
	rd_free(&r);
}

/* No message buffer at all is allowed. */
TEST(mig_stream, no_message_buffer)
{
	struct memchan mc;
	struct mig_record rec;
	uint8_t *buf = NULL;
	size_t cap = 0;

	mc_init(&mc);
	put_raw(&mc, 77, 0, 0, NULL, 0, true);
	EXPECT_RC(-EPROTO, mig_read_record(&mc.chan, &buf, &cap, &rec, NULL, 0));
	EXPECT_RC(-EPROTO, mig_parse_record(mc.data, mc.len, &rec, NULL, 0));
	mc.pos = 0;
	EXPECT_RC(-EPROTO, mig_read_header(&mc.chan, NULL, 0));
	xfree(buf);
	mc_free(&mc);
}
