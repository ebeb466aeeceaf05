// SPDX-License-Identifier: MIT
/*
 * migrate_stream.c - libFuzzer target for the migration stream's reader
 * (src/migrate/stream.c, the format of src/migrate/stream.h): the only code
 * that parses bytes from a migration peer.
 *
 * An input is one mode byte and then the bytes a peer sends:
 *
 *   mode bit 0  fix the checks: before reading, every record framed in the
 *               bytes gets the check its bytes call for, so that mutated
 *               payloads get past the check to the payload parsers
 *   mode bit 1  the channel ends with -ETIMEDOUT (a stalled peer) rather
 *               than -EPIPE (a closed one)
 *   mode bit 2  fail an allocation while reading the stream: the
 *               (mode >> 3) + 1'th from its start (alloc_fail_nth_set())
 *
 * The bytes go through an in-memory channel into mig_read_header() and then
 * mig_read_record() until it fails, walking each RAM record's pages with
 * mig_ram_next() and reading every byte of every page; and, whole, through
 * mig_parse_record(). Checked on top of ASan, UBSan and LeakSanitizer:
 *  - every return is 0 or an errno stream.h allows, and a refusal comes with
 *    a NUL-terminated sentence;
 *  - a record is never read past its frame: the channel hands out exactly
 *    16 bytes for a refused frame header and 24 + len for a record, and the
 *    record buffer never grows past the largest frame;
 *  - a parsed record is what its type promises: lengths within bounds,
 *    counts within limits, pointers inside the payload, CONFIG's regions
 *    valid, RAM pages page-aligned and exactly as many as the count, ERROR's
 *    text terminated.
 *
 * IODIRTY_FUZZ_MKCORPUS=DIR writes the seed corpus (valid streams made with
 * the writer, mig_write_record()) into DIR and exits:
 *
 *   IODIRTY_FUZZ_MKCORPUS=fuzz/corpus/migrate_stream build/fuzz/migrate_stream
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>

#include "../src/migrate/stream.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MODE_FIX_CHECKS = 1,
	MODE_TIMEOUT = 2,
	MODE_FAIL_ALLOC = 4,
	FRAME_HDR = 16,
	FRAME_MIN = 24,
	MAX_RECORDS = 256,
};

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

/* ---- the peer: bytes in memory, all-or-nothing reads ---- */

struct memchan {
	struct mig_chan chan;
	uint8_t *data;
	size_t len, pos;
	int end_err;		/* what a read past the end returns */
	/* the writer's side, for the corpus */
	size_t cap;
};

static int mc_read(struct mig_chan *c, void *buf, size_t n)
{
	struct memchan *mc = c->opaque;

	if (mc->len - mc->pos < n) {
		mc->pos = mc->len;
		return mc->end_err;
	}
	memcpy(buf, mc->data + mc->pos, n);
	mc->pos += n;
	return 0;
}

static int mc_write(struct mig_chan *c, const void *buf, size_t n)
{
	struct memchan *mc = c->opaque;

	if (mc->cap - mc->len < n) {
		size_t cap = mc->cap ? mc->cap * 2 : 4096;
		uint8_t *p;

		while (cap - mc->len < n)
			cap *= 2;
		p = realloc(mc->data, cap);
		if (!p)
			return -ENOMEM;
		mc->data = p;
		mc->cap = cap;
	}
	memcpy(mc->data + mc->len, buf, n);
	mc->len += n;
	return 0;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The check each framed record at @p calls for, from @off on. */
static void fix_checks(uint8_t *p, size_t n, size_t off)
{
	while (off <= n && n - off >= FRAME_MIN) {
		uint64_t len = le64(p + off + 8);

		if (len > n - off - FRAME_MIN)
			return;
		put_le64(p + off + FRAME_HDR + len,
			 XXH64(p + off, FRAME_HDR + len, 0));
		off += FRAME_MIN + len;
	}
}

/* ---- what a parsed record must be ---- */

static uint64_t type_bound(uint32_t type)
{
	switch (type) {
	case MIG_REC_RAM:
		return MIG_REC_MAX_RAM;
	case MIG_REC_DEVICE:
		return MIG_REC_MAX_DEVICE;
	case MIG_REC_VERIFY:
		return MIG_REC_MAX_VERIFY;
	default:
		return MIG_REC_MAX_SMALL;
	}
}

static int ret_ok(int ret)
{
	return !ret || ret == -EBADMSG || ret == -EPROTO || ret == -EMSGSIZE ||
	       ret == -EPIPE || ret == -ETIMEDOUT ||
	       (ret == -ENOMEM && alloc_fail_nth_fired());
}

static void check_msg(int ret, const char *msg, size_t msglen)
{
	if (!ret)
		return;
	CHECK(memchr(msg, '\0', msglen));
	CHECK(msg[0]);
}

static volatile uint64_t sink;

static void inside(const struct mig_record *rec, const uint8_t *p, uint64_t n)
{
	CHECK(p >= rec->payload);
	CHECK(n <= rec->len);
	CHECK((uint64_t)(p - rec->payload) <= rec->len - n);
}

static void check_ram(const struct mig_record *rec)
{
	struct mig_ram_page page;
	uint64_t i = 0, n = 0;
	size_t off = 0;
	int ret;

	CHECK(rec->ram.count <= MIG_REC_MAX_RAM_PAGES);
	while (!(ret = mig_ram_next(rec, &i, &off, &page))) {
		CHECK(is_aligned_u64(page.gpa, MIG_PAGE_SIZE));
		if (page.zero) {
			CHECK(!page.data);
		} else {
			inside(rec, page.data, MIG_PAGE_SIZE);
			/* Every byte of the page, as the destination copies it. */
			sink += XXH64(page.data, MIG_PAGE_SIZE, 0);
		}
		n++;
	}
	CHECK(ret == 1);
	CHECK(n == rec->ram.count);
	CHECK(off == rec->len - 8);
}

static void check_config(const struct mig_config *cfg)
{
	CHECK(cfg->page_size == MIG_PAGE_SIZE);
	CHECK(cfg->nregions <= MIG_MAX_REGIONS);
	CHECK(cfg->nvcpus >= 1 && cfg->nvcpus <= MIG_MAX_VCPUS);
	CHECK(cfg->ndevices <= MIG_MAX_DEVICES);
	for (uint32_t i = 0; i < cfg->nregions; i++) {
		uint64_t last;

		CHECK(cfg->region[i].size);
		CHECK(is_aligned_u64(cfg->region[i].gpa, MIG_PAGE_SIZE));
		CHECK(is_aligned_u64(cfg->region[i].size, MIG_PAGE_SIZE));
		CHECK(!range_last(cfg->region[i].gpa, cfg->region[i].size, &last));
		for (uint32_t j = 0; j < i; j++)
			CHECK(cfg->region[j].gpa + (cfg->region[j].size - 1) <
				      cfg->region[i].gpa ||
			      last < cfg->region[j].gpa);
	}
}

static void check_record(const struct mig_record *rec)
{
	CHECK(rec->len <= type_bound(rec->type));
	switch (rec->type) {
	case MIG_REC_CONFIG:
		check_config(&rec->config);
		break;
	case MIG_REC_RAM:
		check_ram(rec);
		break;
	case MIG_REC_DEVICE:
		CHECK(rec->device.device < MIG_MAX_DEVICES);
		CHECK(rec->device.phase == MIG_DEV_PRECOPY ||
		      rec->device.phase == MIG_DEV_STOPCOPY);
		CHECK(rec->device.len == rec->len - 8);
		inside(rec, rec->device.data, rec->device.len);
		if (rec->device.len)
			sink += XXH64(rec->device.data, rec->device.len, 0);
		break;
	case MIG_REC_PASS:
		CHECK(rec->len == 16);
		sink += rec->pass.pass + rec->pass.pages;
		break;
	case MIG_REC_CPU:
		CHECK(rec->cpu.vcpu < MIG_MAX_VCPUS);
		CHECK(rec->cpu.len == rec->len - 8);
		inside(rec, rec->cpu.data, rec->cpu.len);
		if (rec->cpu.len)
			sink += XXH64(rec->cpu.data, rec->cpu.len, 0);
		break;
	case MIG_REC_END:
		CHECK(rec->end.ndevices <= MIG_MAX_DEVICES);
		CHECK(rec->len == 12 + 8 * (uint64_t)rec->end.ndevices);
		for (uint32_t i = 0; i < rec->end.ndevices; i++)
			sink += rec->end.seq[i];
		break;
	case MIG_REC_VERIFY:
		CHECK(rec->len == 16 + 8 * rec->verify.count);
		inside(rec, rec->verify.hashes, 8 * rec->verify.count);
		if (rec->verify.count)
			sink += XXH64(rec->verify.hashes, 8 * rec->verify.count, 0);
		break;
	case MIG_REC_ERROR:
		CHECK(rec->error.err < 0 && rec->error.err >= -4095);
		CHECK(memchr(rec->error.text, '\0', sizeof(rec->error.text)));
		for (const char *t = rec->error.text; *t; t++)
			CHECK((unsigned char)*t >= 0x20 && *t != 0x7f);
		break;
	case MIG_REC_GO:
	case MIG_REC_CONFIG_OK:
	case MIG_REC_READY:
	case MIG_REC_RUNNING:
		CHECK(rec->len == 0);
		break;
	default:
		CHECK(!"a record of an unknown type was returned");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memchan mc = { .chan = { mc_read, mc_write, NULL } };
	struct mig_record rec;
	uint8_t *bytes, *buf = NULL;
	size_t n, cap = 0;
	char msg[128];
	uint8_t mode;
	int ret;

	if (!size)
		return 0;
	mode = data[0];
	n = size - 1;
	/* A copy of exactly the peer's bytes, so ASan sees a read past them. */
	bytes = malloc(n ? n : 1);
	CHECK(bytes);
	memcpy(bytes, data + 1, n);

	/* The whole input as one record. */
	if (mode & MODE_FIX_CHECKS)
		fix_checks(bytes, n, 0);
	ret = mig_parse_record(bytes, n, &rec, msg, sizeof(msg));
	CHECK(ret_ok(ret) && ret != -ETIMEDOUT);
	check_msg(ret, msg, sizeof(msg));
	if (!ret) {
		CHECK(n == FRAME_MIN + rec.len);
		CHECK(rec.payload == bytes + FRAME_HDR);
		check_record(&rec);
	}

	/* The input as a stream: a header, then records. */
	memcpy(bytes, data + 1, n);
	if (mode & MODE_FIX_CHECKS)
		fix_checks(bytes, n, MIG_HEADER_LEN);
	mc.chan.opaque = &mc;
	mc.data = bytes;
	mc.len = n;
	mc.end_err = mode & MODE_TIMEOUT ? -ETIMEDOUT : -EPIPE;
	if (mode & MODE_FAIL_ALLOC)
		alloc_fail_nth_set((mode >> 3) + 1u);
	ret = mig_read_header(&mc.chan, msg, sizeof(msg));
	CHECK(ret_ok(ret) || ret == -EPROTONOSUPPORT);
	check_msg(ret, msg, sizeof(msg));
	for (int i = 0; !ret && i < MAX_RECORDS; i++) {
		size_t at = mc.pos;

		ret = mig_read_record(&mc.chan, &buf, &cap, &rec, msg,
				      sizeof(msg));
		CHECK(ret_ok(ret));
		check_msg(ret, msg, sizeof(msg));
		CHECK(cap <= FRAME_MIN + MIG_REC_MAX_RAM);
		if (!ret) {
			CHECK(mc.pos - at == FRAME_MIN + rec.len);
			CHECK(rec.payload == buf + FRAME_HDR);
			CHECK(cap >= FRAME_MIN + rec.len);
			check_record(&rec);
		} else if (ret == -EMSGSIZE ||
			   (ret == -EPROTO && !strncmp(msg, "unknown", 7))) {
			/* Refused from the frame header alone. */
			CHECK(mc.pos - at == FRAME_HDR);
		}
	}
	alloc_fail_nth_set(0);
	xfree(buf);
	free(bytes);
	return 0;
}

/* ---- the seed corpus ---- */

static void put(struct memchan *mc, enum mig_rec_type type, const void *p,
		size_t len)
{
	CHECK(!mig_write_record(&mc->chan, type, p, len));
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void seed(const char *dir, const char *name, uint8_t mode,
		 const struct memchan *mc)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(&mode, 1, 1, f) == 1);
	CHECK(fwrite(mc->data, 1, mc->len, f) == mc->len);
	CHECK(!fclose(f));
	printf("%s: %zu bytes\n", path, mc->len + 1);
}

static void mc_reset(struct memchan *mc)
{
	free(mc->data);
	memset(mc, 0, sizeof(*mc));
	mc->chan.write = mc_write;
	mc->chan.opaque = mc;
}

static void mkcorpus(const char *dir)
{
	struct mig_config cfg = {
		.page_size = MIG_PAGE_SIZE,
		.nregions = 2,
		.region = { { 0, 0xa0000 }, { 0x100000, 0x3f00000 } },
		.nvcpus = 2,
		.ndevices = 2,
		.device = { { 1, 0, 5 }, { 2, 1, 1 } },
	};
	uint8_t p[8 + 3 * (8 + MIG_PAGE_SIZE)];
	uint8_t big[MIG_REC_MAX_SMALL];
	struct memchan mc = { 0 };
	size_t len;

	/* A source's whole stream, checks as written, then to be fixed. */
	mc_reset(&mc);
	CHECK(!mig_write_header(&mc.chan));
	len = mig_encode_config(&cfg, big, sizeof(big));
	put(&mc, MIG_REC_CONFIG, big, len);
	put_le64(p, 2);
	put_le64(p + 8, 0x1000);
	memset(p + 16, 0x5a, MIG_PAGE_SIZE);
	put_le64(p + 16 + MIG_PAGE_SIZE, 0x2000 | MIG_PAGE_ZERO);
	put(&mc, MIG_REC_RAM, p, 24 + MIG_PAGE_SIZE);
	put_le64(p, 3);
	put_le64(p + 8, 1);
	put(&mc, MIG_REC_PASS, p, 16);
	put_u32(p, 1);
	put_u32(p + 4, MIG_DEV_PRECOPY);
	memcpy(p + 8, "precopy bytes", 13);
	put(&mc, MIG_REC_DEVICE, p, 21);
	put_u32(p + 4, MIG_DEV_STOPCOPY);
	put(&mc, MIG_REC_DEVICE, p, 8);
	put_u32(p, 1);
	put_u32(p + 4, 6);
	memcpy(p + 8, "vcpu-1", 6);
	put(&mc, MIG_REC_CPU, p, 14);
	put_le64(p, 2);
	put_u32(p + 8, 2);
	put_le64(p + 12, 41);
	put_le64(p + 20, 42);
	put(&mc, MIG_REC_END, p, 28);
	put_le64(p, 0);
	put_le64(p + 8, 2);
	put_le64(p + 16, 0x1111111111111111ULL);
	put_le64(p + 24, 0x2222222222222222ULL);
	put(&mc, MIG_REC_VERIFY, p, 32);
	put(&mc, MIG_REC_GO, NULL, 0);
	seed(dir, "source-stream", 0, &mc);
	seed(dir, "source-stream-fixed", MODE_FIX_CHECKS, &mc);
	/* The second allocation, the buffer's growth for RAM, fails. */
	seed(dir, "source-stream-nomem", MODE_FIX_CHECKS | MODE_FAIL_ALLOC | 1 << 3,
	     &mc);

	/* The destination's answers, ending in an ERROR; stalled at the end. */
	mc_reset(&mc);
	CHECK(!mig_write_header(&mc.chan));
	put(&mc, MIG_REC_CONFIG_OK, NULL, 0);
	put(&mc, MIG_REC_READY, NULL, 0);
	put(&mc, MIG_REC_RUNNING, NULL, 0);
	put_u32(p, (uint32_t)-EIO);
	memcpy(p + 4, "vCPU 0: its state is refused\0", 29);
	put(&mc, MIG_REC_ERROR, p, 33);
	seed(dir, "destination-stream", MODE_FIX_CHECKS | MODE_TIMEOUT, &mc);

	/* RAM batches of zero pages only, and three pages mixed. */
	mc_reset(&mc);
	CHECK(!mig_write_header(&mc.chan));
	put_le64(p, 4);
	for (int i = 0; i < 4; i++)
		put_le64(p + 8 + 8 * i, (uint64_t)(i + 16) << 12 | MIG_PAGE_ZERO);
	put(&mc, MIG_REC_RAM, p, 40);
	put_le64(p, 0);
	put(&mc, MIG_REC_RAM, p, 8);
	seed(dir, "ram-zero-pages", MODE_FIX_CHECKS, &mc);

	/* The largest CONFIG and END. */
	mc_reset(&mc);
	CHECK(!mig_write_header(&mc.chan));
	cfg.nregions = MIG_MAX_REGIONS;
	for (int i = 0; i < MIG_MAX_REGIONS; i++) {
		cfg.region[i].gpa = (uint64_t)i << 32;
		cfg.region[i].size = 0x10000;
	}
	cfg.nvcpus = MIG_MAX_VCPUS;
	cfg.ndevices = MIG_MAX_DEVICES;
	for (int i = 0; i < MIG_MAX_DEVICES; i++) {
		cfg.device[i].kind = 1;
		cfg.device[i].index = (uint32_t)i;
		cfg.device[i].mig_flags = 7;
	}
	len = mig_encode_config(&cfg, big, sizeof(big));
	put(&mc, MIG_REC_CONFIG, big, len);
	put_le64(p, 99);
	put_u32(p + 8, MIG_MAX_DEVICES);
	for (int i = 0; i < MIG_MAX_DEVICES; i++)
		put_le64(p + 12 + 8 * i, (uint64_t)i);
	put(&mc, MIG_REC_END, p, 12 + 8 * MIG_MAX_DEVICES);
	seed(dir, "config-end-max", MODE_FIX_CHECKS, &mc);

	/* Lone records, no header: for mig_parse_record(). */
	mc_reset(&mc);
	len = mig_encode_config(&cfg, big, sizeof(big));
	put(&mc, MIG_REC_CONFIG, big, len);
	seed(dir, "record-config", MODE_FIX_CHECKS, &mc);
	mc_reset(&mc);
	put_le64(p, 2);
	put_le64(p + 8, 0x3000 | MIG_PAGE_ZERO);
	put_le64(p + 16, 0x4000 | MIG_PAGE_ZERO);
	put(&mc, MIG_REC_RAM, p, 24);
	seed(dir, "record-ram", MODE_FIX_CHECKS, &mc);
	mc_reset(&mc);
	put_le64(p, 7);
	put_le64(p + 8, 1000);
	put(&mc, MIG_REC_PASS, p, 16);
	seed(dir, "record-pass", MODE_FIX_CHECKS, &mc);
	mc_reset(&mc);
	put_u32(p, 22);
	memcpy(p + 4, "bad\x1b[0m text", 12);
	put(&mc, MIG_REC_ERROR, p, 16);
	seed(dir, "record-error", MODE_FIX_CHECKS, &mc);
	free(mc.data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("IODIRTY_FUZZ_MKCORPUS");

	(void)argc;
	(void)argv;
	if (dir && *dir) {
		mkcorpus(dir);
		exit(0);
	}
	return 0;
}
