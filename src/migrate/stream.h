/* SPDX-License-Identifier: MIT */
/*
 * stream.h - the migration stream: its format, and the only code that
 * parses bytes from a migration peer (stream.c). docs/migration.md shows it
 * with examples.
 *
 * A stream is a header, then records, little-endian throughout:
 *
 *   header   u8 magic[8] "IODYMIG\n" | u32 version (1) | u32 header_len (16)
 *   record   u32 type | u32 flags (0) | u64 len | payload[len] | u64 check
 *
 * check is XXH64(type, flags, len, payload) with seed 0: a record whose
 * check does not match is a corrupted stream. len is bounded per type
 * (MIG_REC_MAX_*): a longer record is refused before anything is read into
 * memory. Records the destination does not know are an error (an unknown
 * section), never skipped.
 *
 * Source -> destination, in order:
 *   CONFIG      the VM's shape, which the destination checks against its
 *               own: u32 page_size | u32 nregions | nregions x (u64 gpa |
 *               u64 size) | u32 nvcpus | u32 ndevices | ndevices x (u32 kind
 *               | u32 index | u64 mig_flags)
 *   RAM         a batch of pages: u64 count, then per page u64 gpa_flags
 *               (GPA | MIG_PAGE_ZERO; bits 1-11 are 0, the GPA being
 *               page-aligned), then 4096 bytes unless ZERO
 *   DEVICE      u32 device | u32 phase | bytes of that device's VFIO
 *               migration data stream (PRE_COPY or STOP_COPY)
 *   PASS        u64 pass | u64 pages sent in it (progress, statistics)
 *   CPU         u32 vcpu | u32 len | KVM state blob (struct mig_cpu)
 *   END         switchover data done: u64 pages, u32 ndevices, then per
 *               device u64 seq (its SEQ register at stop: continuity)
 *   VERIFY      u64 first_page | u64 count | u64 hash[count]: XXH3-64 of
 *               each page of RAM at stop, in RAM-region order
 *   GO          the destination may run the VM now
 * Destination -> source (on a two-way channel):
 *   CONFIG_OK   the shapes match; send RAM
 *   READY       everything loaded and checked; not running yet
 *   RUNNING     the VM runs on the destination
 *   ERROR       i32 -errno | text: the destination gives up (and will not
 *               run); a positive errno is taken as its negation
 */
#ifndef IODIRTY_MIGRATE_STREAM_H
#define IODIRTY_MIGRATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC	    "IODYMIG\n"
#define MIG_VERSION	    1u
#define MIG_HEADER_LEN	    16u
#define MIG_PAGE_SIZE	    4096u
#define MIG_PAGE_ZERO	    1ULL	/* gpa_flags bit 0: an all-zero page */
#define MIG_PAGE_FLAGS	    MIG_PAGE_ZERO	/* every flag gpa_flags has */

enum mig_rec_type {
	MIG_REC_CONFIG = 1,
	MIG_REC_RAM = 2,
	MIG_REC_DEVICE = 3,
	MIG_REC_PASS = 4,
	MIG_REC_CPU = 5,
	MIG_REC_END = 6,
	MIG_REC_VERIFY = 7,
	MIG_REC_GO = 8,
	MIG_REC_CONFIG_OK = 16,
	MIG_REC_READY = 17,
	MIG_REC_RUNNING = 18,
	MIG_REC_ERROR = 19,
};

/* Bounds on a record's payload, checked before it is read. */
#define MIG_REC_MAX_RAM_PAGES 1024u
#define MIG_REC_MAX_RAM	      (8 + MIG_REC_MAX_RAM_PAGES * (8 + MIG_PAGE_SIZE))
#define MIG_REC_MAX_DEVICE    (8 + (4u << 20))
#define MIG_REC_MAX_VERIFY    (16 + 8 * 65536u)
#define MIG_REC_MAX_SMALL     4096u	/* every other type */

#define MIG_MAX_REGIONS 4
#define MIG_MAX_DEVICES 16
#define MIG_MAX_VCPUS	32

/* CONFIG: what both ends must agree on. */
struct mig_config {
	uint32_t page_size;		/* MIG_PAGE_SIZE */
	uint32_t nregions;
	struct {
		uint64_t gpa;
		uint64_t size;
	} region[MIG_MAX_REGIONS];
	uint32_t nvcpus;
	uint32_t ndevices;
	struct {
		uint32_t kind;		/* emulated device kind, or 0xffff unknown */
		uint32_t index;
		uint64_t mig_flags;	/* VFIO_MIGRATION_* */
	} device[MIG_MAX_DEVICES];
};

/* DEVICE phases. */
enum { MIG_DEV_PRECOPY = 1, MIG_DEV_STOPCOPY = 2 };

struct mig_ram_page {
	uint64_t gpa;
	bool zero;
	const uint8_t *data;		/* MIG_PAGE_SIZE bytes, or NULL if zero */
};

/* A parsed record. Pointers point into the record buffer. */
struct mig_record {
	enum mig_rec_type type;
	uint64_t len;
	const uint8_t *payload;
	union {
		struct mig_config config;
		struct {
			uint64_t count;
			const uint8_t *pages;	/* walk with mig_ram_next() */
		} ram;
		struct {
			uint32_t device;
			uint32_t phase;
			uint64_t len;
			const uint8_t *data;
		} device;
		struct {
			uint64_t pass;
			uint64_t pages;
		} pass;
		struct {
			uint32_t vcpu;
			uint32_t len;
			const uint8_t *data;
		} cpu;
		struct {
			uint64_t pages;
			uint32_t ndevices;
			uint64_t seq[MIG_MAX_DEVICES];
		} end;
		struct {
			uint64_t first;
			uint64_t count;
			const uint8_t *hashes;	/* count LE u64 */
		} verify;
		struct {
			int32_t err;
			char text[256];
		} error;
	};
};

/*
 * A byte channel to or from the peer: read/write everything or fail.
 * read returns 0, -ETIMEDOUT for a stalled peer, -EPIPE at end of stream
 * before all bytes came, or another -errno. (src/migrate/transport.c)
 */
struct mig_chan {
	int (*read)(struct mig_chan *c, void *buf, size_t n);
	int (*write)(struct mig_chan *c, const void *buf, size_t n);
	void *opaque;
};

/* ---- writing (stream.c) ---- */

int mig_write_header(struct mig_chan *c);
/** mig_write_record() - frame, check-sum and send one record. */
int mig_write_record(struct mig_chan *c, enum mig_rec_type type,
		     const void *payload, uint64_t len);
/** mig_encode_config() - CONFIG's payload into @buf; returns its length. */
size_t mig_encode_config(const struct mig_config *cfg, uint8_t *buf,
			 size_t len);

/* ---- reading: the only parser of peer bytes ---- */

/**
 * mig_read_header() - read and check the header.
 * Return: 0; -EPROTO for a bad magic or header length; -EPROTONOSUPPORT for
 * an unknown version; a channel error.
 */
int mig_read_header(struct mig_chan *c, char *msg, size_t msglen);

/**
 * mig_read_record() - read one record into @buf (grown as needed up to the
 * type's bound), check it and parse it into @rec.
 * Return: 0; -EBADMSG for a bad check (corrupted), -EPROTO for an unknown
 * type or a malformed payload, -EMSGSIZE for a length beyond the type's
 * bound, -EPIPE for a truncated stream, -ETIMEDOUT; @msg says which.
 */
int mig_read_record(struct mig_chan *c, uint8_t **buf, size_t *cap,
		    struct mig_record *rec, char *msg, size_t msglen);

/**
 * mig_parse_record() - check and parse a whole framed record already in
 * memory (what mig_read_record does after reading): for the fuzzer and
 * tests. Return: as mig_read_record.
 */
int mig_parse_record(const uint8_t *rec, size_t len, struct mig_record *out,
		     char *msg, size_t msglen);

/**
 * mig_ram_next() - the next page of a RAM record: 0 and *@page, 1 when
 * there are no more, -EPROTO when the record is malformed (it was checked
 * when parsed, so only a bug gives that).
 */
int mig_ram_next(const struct mig_record *rec, uint64_t *i, size_t *off,
		 struct mig_ram_page *page);

/** mig_rec_name() - "CONFIG", "RAM", ... for messages. */
const char *mig_rec_name(uint32_t type);

#endif
