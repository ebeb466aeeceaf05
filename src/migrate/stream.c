// SPDX-License-Identifier: MIT
/*
 * stream.c - the migration stream of stream.h: framing and check-summing
 * records on the way out, and the only parser of bytes from a migration
 * peer on the way in. docs/migration.md ("Stream format") shows the format
 * with a worked example.
 *
 * Reading one record goes in this order, so that a peer can make us neither
 * allocate nor read more than the bound of the record's type:
 *   1. the 16-byte frame header: an unknown type is refused (EPROTO), and so
 *      is a length beyond the type's bound (EMSGSIZE), before anything else
 *      is read or the record buffer grown;
 *   2. the payload and its check, into the caller's record buffer, grown up
 *      to that bound and kept for the next record;
 *   3. mig_parse_record() over the whole frame: the check first (a mismatch
 *      is a corrupted stream, EBADMSG), then the frame's flags, then the
 *      payload field by field (EPROTO). No count or length from the peer is
 *      used before it has been compared with the bytes that are there.
 *
 * The layout of CONFIG's payload, which stream.h leaves to this file:
 *
 *   u32 page_size | u32 nregions | nregions x (u64 gpa | u64 size)
 *   | u32 nvcpus | u32 ndevices | ndevices x (u32 kind | u32 index | u64 mig_flags)
 *
 * In a RAM record, gpa_flags is a GPA with MIG_PAGE_ZERO or'ed in: bit 0
 * is the only flag, every other bit belongs to the GPA, and a GPA must be
 * page-aligned. A frame's flags are 0 in version 1; a record with any set
 * is refused, but only once its check has passed, so that a flipped bit
 * there reads as the corruption it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/err.h>

#include "stream.h"

enum {
	FRAME_HDR = 16,		/* u32 type | u32 flags | u64 len */
	FRAME_CHECK = 8,	/* u64 check after the payload */
	FRAME_MIN = FRAME_HDR + FRAME_CHECK,
	CONFIG_REGION = 16,	/* u64 gpa | u64 size */
	CONFIG_DEVICE = 16,	/* u32 kind | u32 index | u64 mig_flags */
};

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Say @fmt into @msg (which may be NULL or empty) and return @err. */
static __printf(4, 5) int fail(char *msg, size_t msglen, int err,
			       const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- payloads, one parser per type; rec->payload and rec->len are set ---- */

static int parse_config(struct mig_record *rec, char *msg, size_t msglen)
{
	struct mig_config *cfg = &rec->config;
	const uint8_t *p = rec->payload;
	uint64_t len = rec->len, off, want;

	if (len < 8)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG record of %" PRIu64 " bytes is too short for its page size and region count",
			    len);
	cfg->page_size = get_le32(p);
	cfg->nregions = get_le32(p + 4);
	if (cfg->nregions > MIG_MAX_REGIONS)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG has %" PRIu32 " RAM regions; at most %d are possible",
			    cfg->nregions, MIG_MAX_REGIONS);
	off = 8 + (uint64_t)cfg->nregions * CONFIG_REGION;
	if (len < off + 8)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG record of %" PRIu64 " bytes ends inside its %" PRIu32 " RAM regions",
			    len, cfg->nregions);
	cfg->nvcpus = get_le32(p + off);
	cfg->ndevices = get_le32(p + off + 4);
	if (cfg->ndevices > MIG_MAX_DEVICES)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG has %" PRIu32 " devices; at most %d are possible",
			    cfg->ndevices, MIG_MAX_DEVICES);
	want = off + 8 + (uint64_t)cfg->ndevices * CONFIG_DEVICE;
	if (len != want)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG record is %" PRIu64 " bytes, but nregions %" PRIu32 " and ndevices %" PRIu32 " make it %" PRIu64,
			    len, cfg->nregions, cfg->ndevices, want);

	if (cfg->page_size != MIG_PAGE_SIZE)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG: the source's page size is %" PRIu32 " bytes; this side's is %u",
			    cfg->page_size, MIG_PAGE_SIZE);
	for (uint32_t i = 0; i < cfg->nregions; i++) {
		const uint8_t *r = p + 8 + i * CONFIG_REGION;
		uint64_t gpa = get_le64(r), size = get_le64(r + 8), last;

		cfg->region[i].gpa = gpa;
		cfg->region[i].size = size;
		if (!size)
			return fail(msg, msglen, -EPROTO,
				    "CONFIG: RAM region %" PRIu32 " at GPA 0x%" PRIx64 " is empty",
				    i, gpa);
		if (!is_aligned_u64(gpa, MIG_PAGE_SIZE) ||
		    !is_aligned_u64(size, MIG_PAGE_SIZE))
			return fail(msg, msglen, -EPROTO,
				    "CONFIG: RAM region %" PRIu32 " (GPA 0x%" PRIx64 ", size 0x%" PRIx64 ") is not page-aligned",
				    i, gpa, size);
		if (range_last(gpa, size, &last))
			return fail(msg, msglen, -EPROTO,
				    "CONFIG: RAM region %" PRIu32 " (GPA 0x%" PRIx64 ", size 0x%" PRIx64 ") wraps past the end of the address space",
				    i, gpa, size);
		for (uint32_t j = 0; j < i; j++) {
			uint64_t s = cfg->region[j].gpa;
			uint64_t l = s + (cfg->region[j].size - 1);

			if (gpa <= l && s <= last)
				return fail(msg, msglen, -EPROTO,
					    "CONFIG: RAM regions %" PRIu32 " (GPA 0x%" PRIx64 ") and %" PRIu32 " (GPA 0x%" PRIx64 ") overlap",
					    j, s, i, gpa);
		}
	}
	if (cfg->nvcpus < 1 || cfg->nvcpus > MIG_MAX_VCPUS)
		return fail(msg, msglen, -EPROTO,
			    "CONFIG has %" PRIu32 " vCPUs; 1 to %d are possible",
			    cfg->nvcpus, MIG_MAX_VCPUS);
	/* kind, index and mig_flags are the session's to match with its own. */
	for (uint32_t i = 0; i < cfg->ndevices; i++) {
		const uint8_t *d = p + off + 8 + i * CONFIG_DEVICE;

		cfg->device[i].kind = get_le32(d);
		cfg->device[i].index = get_le32(d + 4);
		cfg->device[i].mig_flags = get_le64(d + 8);
	}
	return 0;
}

/*
 * One page of a RAM record's page area (@p, @len bytes) at *@off: the
 * single walker behind parse_ram() and mig_ram_next().
 */
static int ram_page(const uint8_t *p, uint64_t len, uint64_t i, uint64_t count,
		    uint64_t *off, struct mig_ram_page *page, char *msg,
		    size_t msglen)
{
	uint64_t gpa_flags;

	if (*off > len || len - *off < 8)
		return fail(msg, msglen, -EPROTO,
			    "RAM record of %" PRIu64 " bytes ends before page %" PRIu64 " (its page count is %" PRIu64 ")",
			    len + 8, i, count);
	gpa_flags = get_le64(p + *off);
	page->gpa = gpa_flags & ~MIG_PAGE_ZERO;
	page->zero = gpa_flags & MIG_PAGE_ZERO;
	page->data = NULL;
	if (!is_aligned_u64(page->gpa, MIG_PAGE_SIZE))
		return fail(msg, msglen, -EPROTO,
			    "page at GPA 0x%" PRIx64 " is not page-aligned (page %" PRIu64 " of a RAM record)",
			    page->gpa, i);
	*off += 8;
	if (page->zero)
		return 0;
	if (len - *off < MIG_PAGE_SIZE)
		return fail(msg, msglen, -EPROTO,
			    "RAM record of %" PRIu64 " bytes ends inside the data of page %" PRIu64 " (GPA 0x%" PRIx64 ")",
			    len + 8, i, page->gpa);
	page->data = p + *off;
	*off += MIG_PAGE_SIZE;
	return 0;
}

static int parse_ram(struct mig_record *rec, char *msg, size_t msglen)
{
	struct mig_ram_page page;
	uint64_t count, off = 0;
	int ret;

	if (rec->len < 8)
		return fail(msg, msglen, -EPROTO,
			    "RAM record of %" PRIu64 " bytes has no page count",
			    rec->len);
	count = get_le64(rec->payload);
	if (count > MIG_REC_MAX_RAM_PAGES)
		return fail(msg, msglen, -EPROTO,
			    "RAM record's page count is %" PRIu64 "; at most %u pages fit in one",
			    count, MIG_REC_MAX_RAM_PAGES);
	for (uint64_t i = 0; i < count; i++) {
		ret = ram_page(rec->payload + 8, rec->len - 8, i, count, &off,
			       &page, msg, msglen);
		if (ret)
			return ret;
	}
	if (off != rec->len - 8)
		return fail(msg, msglen, -EPROTO,
			    "RAM record of %" PRIu64 " bytes goes on after its last page (page count %" PRIu64 ", stray bytes %" PRIu64 ")",
			    rec->len, count, rec->len - 8 - off);
	rec->ram.count = count;
	rec->ram.pages = rec->payload + 8;
	return 0;
}

static int parse_device(struct mig_record *rec, char *msg, size_t msglen)
{
	const uint8_t *p = rec->payload;
	uint32_t device, phase;

	if (rec->len < 8)
		return fail(msg, msglen, -EPROTO,
			    "DEVICE record of %" PRIu64 " bytes is too short for its device and phase",
			    rec->len);
	device = get_le32(p);
	phase = get_le32(p + 4);
	if (device >= MIG_MAX_DEVICES)
		return fail(msg, msglen, -EPROTO,
			    "DEVICE record for device %" PRIu32 "; at most %d devices are possible",
			    device, MIG_MAX_DEVICES);
	if (phase != MIG_DEV_PRECOPY && phase != MIG_DEV_STOPCOPY)
		return fail(msg, msglen, -EPROTO,
			    "DEVICE record for device %" PRIu32 " has unknown phase %" PRIu32,
			    device, phase);
	rec->device.device = device;
	rec->device.phase = phase;
	rec->device.len = rec->len - 8;
	rec->device.data = p + 8;
	return 0;
}

static int parse_pass(struct mig_record *rec, char *msg, size_t msglen)
{
	if (rec->len != 16)
		return fail(msg, msglen, -EPROTO,
			    "PASS record's length is %" PRIu64 "; it is always 16",
			    rec->len);
	rec->pass.pass = get_le64(rec->payload);
	rec->pass.pages = get_le64(rec->payload + 8);
	return 0;
}

static int parse_cpu(struct mig_record *rec, char *msg, size_t msglen)
{
	const uint8_t *p = rec->payload;
	uint32_t vcpu, len;

	if (rec->len < 8)
		return fail(msg, msglen, -EPROTO,
			    "CPU record of %" PRIu64 " bytes is too short for its vCPU and length",
			    rec->len);
	vcpu = get_le32(p);
	len = get_le32(p + 4);
	if (vcpu >= MIG_MAX_VCPUS)
		return fail(msg, msglen, -EPROTO,
			    "CPU record for vCPU %" PRIu32 "; at most %d vCPUs are possible",
			    vcpu, MIG_MAX_VCPUS);
	if (len != rec->len - 8)
		return fail(msg, msglen, -EPROTO,
			    "CPU record of %" PRIu64 " bytes says vCPU %" PRIu32 "'s state is %" PRIu32 " bytes",
			    rec->len, vcpu, len);
	rec->cpu.vcpu = vcpu;
	rec->cpu.len = len;
	rec->cpu.data = p + 8;
	return 0;
}

static int parse_end(struct mig_record *rec, char *msg, size_t msglen)
{
	const uint8_t *p = rec->payload;
	uint32_t ndevices;

	if (rec->len < 12)
		return fail(msg, msglen, -EPROTO,
			    "END record of %" PRIu64 " bytes is too short for its page and device counts",
			    rec->len);
	ndevices = get_le32(p + 8);
	if (ndevices > MIG_MAX_DEVICES)
		return fail(msg, msglen, -EPROTO,
			    "END record has %" PRIu32 " devices; at most %d are possible",
			    ndevices, MIG_MAX_DEVICES);
	if (rec->len != 12 + 8 * (uint64_t)ndevices)
		return fail(msg, msglen, -EPROTO,
			    "END record is %" PRIu64 " bytes, but ndevices %" PRIu32 " makes it %" PRIu64,
			    rec->len, ndevices, 12 + 8 * (uint64_t)ndevices);
	rec->end.pages = get_le64(p);
	rec->end.ndevices = ndevices;
	for (uint32_t i = 0; i < ndevices; i++)
		rec->end.seq[i] = get_le64(p + 12 + 8 * i);
	return 0;
}

static int parse_verify(struct mig_record *rec, char *msg, size_t msglen)
{
	const uint8_t *p = rec->payload;
	uint64_t first, count, last;

	if (rec->len < 16)
		return fail(msg, msglen, -EPROTO,
			    "VERIFY record of %" PRIu64 " bytes is too short for its first page and count",
			    rec->len);
	first = get_le64(p);
	count = get_le64(p + 8);
	/* Compare without multiplying: count is the peer's. */
	if ((rec->len - 16) % 8 || (rec->len - 16) / 8 != count)
		return fail(msg, msglen, -EPROTO,
			    "VERIFY record of %" PRIu64 " bytes does not hold exactly the %" PRIu64 " page hashes it counts",
			    rec->len, count);
	if (count && range_last(first, count, &last))
		return fail(msg, msglen, -EPROTO,
			    "VERIFY record's %" PRIu64 " pages from page %" PRIu64 " run past page 2^64",
			    count, first);
	rec->verify.first = first;
	rec->verify.count = count;
	rec->verify.hashes = p + 16;
	return 0;
}

/* GO, CONFIG_OK, READY, RUNNING: the type says it all. */
static int parse_empty(struct mig_record *rec, char *msg, size_t msglen)
{
	if (rec->len)
		return fail(msg, msglen, -EPROTO,
			    "%s record should be empty; its length is %" PRIu64,
			    mig_rec_name(rec->type), rec->len);
	return 0;
}

static int parse_error(struct mig_record *rec, char *msg, size_t msglen)
{
	const uint8_t *text = rec->payload + 4;
	uint64_t n = 0, len;
	uint32_t err;

	if (rec->len < 4)
		return fail(msg, msglen, -EPROTO,
			    "ERROR record of %" PRIu64 " bytes is too short for its errno",
			    rec->len);
	/*
	 * stream.h says "u32 errno"; mig_send_error() writes the int32 -errno.
	 * Either is taken, and rec->error.err is always the -errno.
	 */
	err = get_le32(rec->payload);
	if (err > INT32_MAX)
		err = -err;
	if (err < 1 || err > MAX_ERRNO)
		return fail(msg, msglen, -EPROTO,
			    "ERROR record carries %" PRId32 ", which is not an errno",
			    (int32_t)get_le32(rec->payload));
	rec->error.err = -(int32_t)err;
	/*
	 * The text is for a terminal: up to the first NUL, cut to fit, and
	 * control characters (an escape sequence, a newline) shown as '?'.
	 */
	len = rec->len - 4;
	for (; n < len && n < sizeof(rec->error.text) - 1 && text[n]; n++)
		rec->error.text[n] =
			text[n] < 0x20 || text[n] == 0x7f ? '?' : (char)text[n];
	rec->error.text[n] = '\0';
	return 0;
}

struct rec_type {
	const char *name;
	uint64_t max;	/* the payload's bound */
	int (*parse)(struct mig_record *rec, char *msg, size_t msglen);
};

static const struct rec_type rec_types[] = {
	[MIG_REC_CONFIG] = { "CONFIG", MIG_REC_MAX_SMALL, parse_config },
	[MIG_REC_RAM] = { "RAM", MIG_REC_MAX_RAM, parse_ram },
	[MIG_REC_DEVICE] = { "DEVICE", MIG_REC_MAX_DEVICE, parse_device },
	[MIG_REC_PASS] = { "PASS", MIG_REC_MAX_SMALL, parse_pass },
	[MIG_REC_CPU] = { "CPU", MIG_REC_MAX_SMALL, parse_cpu },
	[MIG_REC_END] = { "END", MIG_REC_MAX_SMALL, parse_end },
	[MIG_REC_VERIFY] = { "VERIFY", MIG_REC_MAX_VERIFY, parse_verify },
	[MIG_REC_GO] = { "GO", MIG_REC_MAX_SMALL, parse_empty },
	[MIG_REC_CONFIG_OK] = { "CONFIG_OK", MIG_REC_MAX_SMALL, parse_empty },
	[MIG_REC_READY] = { "READY", MIG_REC_MAX_SMALL, parse_empty },
	[MIG_REC_RUNNING] = { "RUNNING", MIG_REC_MAX_SMALL, parse_empty },
	[MIG_REC_ERROR] = { "ERROR", MIG_REC_MAX_SMALL, parse_error },
};

static const struct rec_type *rec_type(uint32_t type)
{
	if (type >= ARRAY_SIZE(rec_types) || !rec_types[type].name)
		return NULL;
	return &rec_types[type];
}

const char *mig_rec_name(uint32_t type)
{
	const struct rec_type *t = rec_type(type);

	return t ? t->name : "unknown";
}

/*
 * The frame header's type and length, before anything else is read or
 * allocated: the type must be known, the length within its bound.
 */
static int check_frame(const uint8_t *hdr, const struct rec_type **t,
		       char *msg, size_t msglen)
{
	uint32_t type = get_le32(hdr);
	uint64_t len = get_le64(hdr + 8);

	*t = rec_type(type);
	if (!*t)
		return fail(msg, msglen, -EPROTO, "unknown record type %" PRIu32,
			    type);
	if (len > (*t)->max)
		return fail(msg, msglen, -EMSGSIZE,
			    "%s record of %" PRIu64 " bytes is longer than its bound of %" PRIu64,
			    (*t)->name, len, (*t)->max);
	return 0;
}

/* ---- writing ---- */

/**
 * mig_write_header() - send the stream header.
 * Return: 0, or the channel's error.
 */
int mig_write_header(struct mig_chan *c)
{
	uint8_t hdr[MIG_HEADER_LEN];

	memcpy(hdr, MIG_MAGIC, 8);
	put_le32(hdr + 8, MIG_VERSION);
	put_le32(hdr + 12, MIG_HEADER_LEN);
	return c->write(c, hdr, sizeof(hdr));
}

/**
 * mig_write_record() - frame, check-sum and send one record.
 * @c: the channel
 * @type: a known record type
 * @payload: @len bytes, as the type's layout has them (not checked here:
 *	the receiver does that)
 * @len: the payload's length, within the type's bound
 *
 * Return: 0; -EINVAL for an unknown type or a NULL payload with a length;
 * -EMSGSIZE for a length the receiver would refuse; -ENOMEM when the hash
 * state cannot be allocated; or the channel's error.
 */
int mig_write_record(struct mig_chan *c, enum mig_rec_type type,
		     const void *payload, uint64_t len)
{
	const struct rec_type *t = rec_type((uint32_t)type);
	uint8_t hdr[FRAME_HDR], check[FRAME_CHECK];
	XXH64_state_t *st;
	int ret;

	if (!t || (len && !payload))
		return -EINVAL;
	if (len > t->max)
		return -EMSGSIZE;
	put_le32(hdr, (uint32_t)type);
	put_le32(hdr + 4, 0);
	put_le64(hdr + 8, len);

	st = XXH64_createState();
	if (!st)
		return -ENOMEM;
	XXH64_reset(st, 0);
	XXH64_update(st, hdr, sizeof(hdr));
	if (len)
		XXH64_update(st, payload, (size_t)len);
	put_le64(check, XXH64_digest(st));
	XXH64_freeState(st);

	ret = c->write(c, hdr, sizeof(hdr));
	if (!ret && len)
		ret = c->write(c, payload, (size_t)len);
	if (!ret)
		ret = c->write(c, check, sizeof(check));
	return ret;
}

/**
 * mig_encode_config() - CONFIG's payload into @buf.
 * @cfg: the VM's shape; only its counts are checked here
 * @buf: where the payload goes
 * @len: @buf's size; MIG_REC_MAX_SMALL is always enough
 *
 * Return: the payload's length; 0 when @cfg has more regions or devices
 * than the format holds, or @len is too small (nothing is written then).
 */
size_t mig_encode_config(const struct mig_config *cfg, uint8_t *buf,
			 size_t len)
{
	size_t need, off;

	if (cfg->nregions > MIG_MAX_REGIONS || cfg->ndevices > MIG_MAX_DEVICES)
		return 0;
	need = 8 + (size_t)cfg->nregions * CONFIG_REGION + 8 +
	       (size_t)cfg->ndevices * CONFIG_DEVICE;
	if (!buf || len < need)
		return 0;
	put_le32(buf, cfg->page_size);
	put_le32(buf + 4, cfg->nregions);
	off = 8;
	for (uint32_t i = 0; i < cfg->nregions; i++, off += CONFIG_REGION) {
		put_le64(buf + off, cfg->region[i].gpa);
		put_le64(buf + off + 8, cfg->region[i].size);
	}
	put_le32(buf + off, cfg->nvcpus);
	put_le32(buf + off + 4, cfg->ndevices);
	off += 8;
	for (uint32_t i = 0; i < cfg->ndevices; i++, off += CONFIG_DEVICE) {
		put_le32(buf + off, cfg->device[i].kind);
		put_le32(buf + off + 4, cfg->device[i].index);
		put_le64(buf + off + 8, cfg->device[i].mig_flags);
	}
	return off;
}

/* ---- reading ---- */

/* A channel's error while reading @what, said for a user. */
static int chan_fail(int ret, const char *what, const char *name, uint64_t len,
		     char *msg, size_t msglen)
{
	char rec[64] = "";

	if (ret > 0)	/* a channel that breaks its contract */
		ret = -EIO;
	if (name)
		snprintf(rec, sizeof(rec), " of a %s record of %" PRIu64 " bytes",
			 name, len);
	switch (ret) {
	case -EPIPE:
		return fail(msg, msglen, ret,
			    "truncated stream: it ended before %s%s was complete",
			    what, rec);
	case -ETIMEDOUT:
		return fail(msg, msglen, ret,
			    "the peer stopped sending: timed out waiting for %s%s",
			    what, rec);
	default:
		return fail(msg, msglen, ret, "reading %s%s: %s", what, rec,
			    strerror(-ret));
	}
}

/**
 * mig_read_header() - read and check the stream header.
 * @c: the channel
 * @msg: gets a sentence for the user when the header is refused
 * @msglen: @msg's size
 *
 * Return: 0; -EPROTO for a bad magic or header length; -EPROTONOSUPPORT for
 * an unknown version; -EPIPE when the stream ends inside the header;
 * -ETIMEDOUT or another channel error.
 */
int mig_read_header(struct mig_chan *c, char *msg, size_t msglen)
{
	uint8_t hdr[MIG_HEADER_LEN];
	uint32_t version, hlen;
	int ret;

	ret = c->read(c, hdr, sizeof(hdr));
	if (ret)
		return chan_fail(ret, "the 16-byte stream header", NULL, 0, msg,
				 msglen);
	if (memcmp(hdr, MIG_MAGIC, 8))
		return fail(msg, msglen, -EPROTO,
			    "not an iodirty migration stream: it starts with %02x %02x %02x %02x %02x %02x %02x %02x, not \"IODYMIG\\n\"",
			    hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5],
			    hdr[6], hdr[7]);
	version = get_le32(hdr + 8);
	hlen = get_le32(hdr + 12);
	if (version != MIG_VERSION)
		return fail(msg, msglen, -EPROTONOSUPPORT,
			    "migration stream version %" PRIu32 "; this iodirty reads version %u",
			    version, MIG_VERSION);
	if (hlen != MIG_HEADER_LEN)
		return fail(msg, msglen, -EPROTO,
			    "migration stream header says it is %" PRIu32 " bytes; in version %u it is %u",
			    hlen, MIG_VERSION, MIG_HEADER_LEN);
	return 0;
}

/**
 * mig_parse_record() - check and parse one whole framed record in memory.
 * @buf: the record, frame header to check
 * @size: its size: exactly one record
 * @out: the parsed record; its pointers point into @buf
 * @msg: gets a sentence for the user when the record is refused
 * @msglen: @msg's size
 *
 * Return: 0; -EPIPE when @size is short of the record; -EPROTO for an
 * unknown type, bytes after the record, flags or a malformed payload;
 * -EMSGSIZE for a length beyond the type's bound; -EBADMSG for a check that
 * does not match.
 */
int mig_parse_record(const uint8_t *buf, size_t size, struct mig_record *out,
		     char *msg, size_t msglen)
{
	const struct rec_type *t;
	uint64_t len, sent, check;
	uint32_t flags;
	int ret;

	memset(out, 0, sizeof(*out));
	if (size < FRAME_MIN)
		return fail(msg, msglen, -EPIPE,
			    "truncated stream: a framed record is %d bytes at least, and %zu are there",
			    FRAME_MIN, size);
	ret = check_frame(buf, &t, msg, msglen);
	if (ret)
		return ret;
	flags = get_le32(buf + 4);
	len = get_le64(buf + 8);
	if (size - FRAME_MIN < len)
		return fail(msg, msglen, -EPIPE,
			    "truncated stream: %zu of the %" PRIu64 " bytes of a framed %s record are there",
			    size, FRAME_MIN + len, t->name);
	if (size - FRAME_MIN > len)
		return fail(msg, msglen, -EPROTO,
			    "%s record of %" PRIu64 " bytes is followed by stray bytes (%" PRIu64 ")",
			    t->name, len, size - FRAME_MIN - len);

	sent = get_le64(buf + FRAME_HDR + len);
	check = XXH64(buf, FRAME_HDR + len, 0);
	if (sent != check)
		return fail(msg, msglen, -EBADMSG,
			    "corrupted stream: %s record of %" PRIu64 " bytes: check mismatch (sent %016" PRIx64 ", computed %016" PRIx64 ")",
			    t->name, len, sent, check);
	if (flags)
		return fail(msg, msglen, -EPROTO,
			    "%s record has flags 0x%" PRIx32 "; version %u has none",
			    t->name, flags, MIG_VERSION);

	out->type = (enum mig_rec_type)get_le32(buf);
	out->len = len;
	out->payload = buf + FRAME_HDR;
	return t->parse(out, msg, msglen);
}

/*
 * Room for @need bytes in the record buffer: grown by doubling, never past
 * the largest frame of the type at hand (@max), and kept for the next one.
 */
static int buf_grow(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
	size_t size = *cap;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	if (size < 256)
		size = 256;
	while (size < need)
		size *= 2;
	if (size > max)
		size = need;
	p = xrealloc(*buf, size);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = size;
	return 0;
}

/**
 * mig_read_record() - read one record into the record buffer, check it and
 * parse it.
 * @c: the channel
 * @buf: the record buffer (NULL at first), grown as needed up to the
 *	record type's bound and reused; the caller frees it with xfree()
 * @cap: its size (0 at first)
 * @rec: the parsed record; its pointers point into *@buf until the next call
 * @msg: gets a sentence for the user when no record is returned
 * @msglen: @msg's size
 *
 * Return: 0; -EBADMSG for a bad check (corrupted); -EPROTO for an unknown
 * type or a malformed payload; -EMSGSIZE for a length beyond the type's
 * bound, refused before it is read; -EPIPE for a truncated stream;
 * -ETIMEDOUT; -ENOMEM; another channel error.
 */
int mig_read_record(struct mig_chan *c, uint8_t **buf, size_t *cap,
		    struct mig_record *rec, char *msg, size_t msglen)
{
	const struct rec_type *t;
	uint8_t hdr[FRAME_HDR];
	uint64_t len;
	int ret;

	memset(rec, 0, sizeof(*rec));
	ret = c->read(c, hdr, sizeof(hdr));
	if (ret)
		return chan_fail(ret, "the next record", NULL, 0, msg, msglen);
	ret = check_frame(hdr, &t, msg, msglen);
	if (ret)
		return ret;
	len = get_le64(hdr + 8);

	if (buf_grow(buf, cap, FRAME_MIN + (size_t)len, FRAME_MIN + t->max))
		return fail(msg, msglen, -ENOMEM,
			    "out of memory for a %s record of %" PRIu64 " bytes",
			    t->name, len);
	memcpy(*buf, hdr, sizeof(hdr));
	ret = c->read(c, *buf + FRAME_HDR, (size_t)len + FRAME_CHECK);
	if (ret)
		return chan_fail(ret, "the payload", t->name, len, msg,
				 msglen);
	return mig_parse_record(*buf, FRAME_MIN + (size_t)len, rec, msg,
				msglen);
}

/**
 * mig_ram_next() - the next page of a parsed RAM record.
 * @rec: a RAM record from mig_read_record() or mig_parse_record()
 * @i: the page's index, 0 at first
 * @off: its offset in the page area, 0 at first
 * @page: the page
 *
 * Return: 0 and *@page; 1 when there are no more pages; -EPROTO when @rec
 * is not a well-formed RAM record (it was checked when parsed: only a bug
 * gives that).
 */
int mig_ram_next(const struct mig_record *rec, uint64_t *i, size_t *off,
		 struct mig_ram_page *page)
{
	uint64_t o = *off;
	int ret;

	if (rec->type != MIG_REC_RAM || rec->len < 8 || !rec->ram.pages ||
	    rec->ram.count > MIG_REC_MAX_RAM_PAGES)
		return -EPROTO;
	if (*i >= rec->ram.count)
		return 1;
	ret = ram_page(rec->ram.pages, rec->len - 8, *i, rec->ram.count, &o,
		       page, NULL, 0);
	if (ret)
		return ret;
	(*i)++;
	*off = (size_t)o;
	return 0;
}
