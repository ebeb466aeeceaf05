// SPDX-License-Identifier: MIT
/*
 * iommufd_ioctl.c - libFuzzer target for the emulated iommufd's ioctl
 * decoder: iommufd_ioctl() (src/iommufd/main.c), the handlers behind its
 * table, IOMMU_TEST_CMD and the VFIO type1 compat numbers
 * (shared/spec/kernel-abi.md §1.1-1.4, §2.5, §6.2).
 *
 * An input is a sequence of operations on one iommufd context of a fresh
 * iommufd_host: mostly ioctls, now and then a close and reopen of the
 * context, or an armed allocation failure (alloc_fail_nth_set) for the next
 * ioctl. Each ioctl picks a number (the real commands, IOMMU_TEST_CMD and
 * the VFIO compat numbers most often, then near misses and random ones), a
 * struct whose fields are drawn with a bias towards meaningful values
 * (object ids 1..8, IOVAs in the mock aperture, lengths in pages of the
 * fuzzer's memory), a size word (sizeof, min_size, around them, zero, huge,
 * with a zero or a dirty tail), and a place for the struct.
 *
 * Every user pointer the emulation may follow points into the arena below
 * or at an address that can never be mapped (the null page, the last page
 * of the user address space, non-canonical and kernel addresses): never at
 * the harness's own heap. The arena is mapped once per process and never
 * unmapped, so memory an IOAS maps stays mapped for the life of every
 * context:
 *
 *   guard | map 1M rw | ro 64K | hole 16K | rw2 64K | hole2 16K | slot 64K | guard
 *
 * The holes and guards are PROT_NONE rather than munmap'd, so that nothing
 * else can ever be mapped there; to copy_{from,to}_user and to the pin check
 * they are unmapped memory. Structs go in the slot (or the read-only part,
 * so that writing the answer back faults, or across the end of a mapping,
 * or at an unmapped address); the data pointers go everywhere but the slot.
 * The harness writes through a second, always-writable mapping of the same
 * memfd, and zeroes it at the start of every input.
 *
 * Checked after every ioctl, on top of ASan, UBSan and LeakSanitizer:
 *  - the return value is 0, 1 from VFIO_CHECK_EXTENSION, or a negative
 *    errno from the set these ioctls can return;
 *  - the dispatcher's own answer (EFAULT for the size word or the struct,
 *    ENOTTY, EINVAL below min_size, E2BIG for a dirty tail) is predicted from
 *    what the arena holds, and a command that reaches its handler is never
 *    ENOTTY; when the dispatcher fails, nothing was written;
 *  - nothing is written past what the command may write: the struct's
 *    min(size, sizeof) (argsz for VFIO_IOMMU_GET_INFO), the length of an
 *    output buffer (num_iovas ranges, data_len, the bitmap's bytes); input
 *    buffers are never written;
 *  - after a context is closed, no user page is still pinned
 *    (IOMMU_TEST_OP_MD_CHECK_REFS with refs 0 over every part of the arena
 *    a pin can hold, from a fresh context); and the emulation never logs an
 *    error (an object left with users at close).
 *
 * IODIRTY_FUZZ_TRACE=1 prints every operation, its struct and its result,
 * for reading a reproducer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/err.h>
#include <iodirty/iommufd.h>
#include <iodirty/log.h>
#include <iodirty/uapi/iommufd.h>
#include <iodirty/uapi/iommufd_test.h>
#include <iodirty/uapi/vfio.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's own bookkeeping is no news to the fuzzer. */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

#define SZ_4K 0x1000ULL
#define SZ_1M 0x100000ULL
#define SZ_2M 0x200000ULL

enum {
	MAX_OPS = 64,
	GUARD = 64 << 10,
	MAP_OFF = 0,
	MAP_LEN = 1 << 20,
	RO_OFF = MAP_OFF + MAP_LEN,
	RO_LEN = 64 << 10,
	HOLE_OFF = RO_OFF + RO_LEN,
	HOLE_LEN = 16 << 10,
	RW2_OFF = HOLE_OFF + HOLE_LEN,
	RW2_LEN = 64 << 10,
	HOLE2_OFF = RW2_OFF + RW2_LEN,
	HOLE2_LEN = 16 << 10,
	SLOT_OFF = HOLE2_OFF + HOLE2_LEN,
	SLOT_LEN = 64 << 10,
	ARENA_LEN = SLOT_OFF + SLOT_LEN,
	CANARY_LEN = 32,
	CANARY = 0xa5,
	SNAP_LEN = 256,
};

struct region {
	uint64_t off, len;
	int prot;
};

static const struct region regions[] = {
	{ MAP_OFF, MAP_LEN, PROT_READ | PROT_WRITE },
	{ RO_OFF, RO_LEN, PROT_READ },
	{ HOLE_OFF, HOLE_LEN, PROT_NONE },
	{ RW2_OFF, RW2_LEN, PROT_READ | PROT_WRITE },
	{ HOLE2_OFF, HOLE2_LEN, PROT_NONE },
	{ SLOT_OFF, SLOT_LEN, PROT_READ | PROT_WRITE },
};

static uint8_t *arena; /* what the emulated kernel is shown */
static uint8_t *alias; /* the same pages, always writable, for the harness */
static uint64_t A; /* arena as an address */
static bool trace;

/* ---- The input ---------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);

	return (uint16_t)(lo | (uint16_t)u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	uint32_t lo = u16(in);

	return lo | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct in *in)
{
	uint64_t lo = u32(in);

	return lo | (uint64_t)u32(in) << 32;
}

static void in_bytes(struct in *in, void *dst, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memcpy(dst, in->p, k);
	memset((uint8_t *)dst + k, 0, n - k);
	in->p += k;
	in->n -= k;
}

/* ---- The arena ---------------------------------------------------------- */

static void arena_init(void)
{
	size_t resv = ARENA_LEN + 2 * GUARD + SZ_2M;
	uint8_t *r;
	uintptr_t b;
	int fd;

	r = mmap(NULL, resv, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	fd = memfd_create("iommufd-fuzz-arena", MFD_CLOEXEC);
	if (r == MAP_FAILED || fd < 0 || ftruncate(fd, ARENA_LEN)) {
		perror("iommufd_ioctl fuzzer: arena");
		abort();
	}
	/* 2 MiB aligned, so a map of it can use the mock's 1 MiB leaves. */
	b = ((uintptr_t)r + GUARD + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1);
	arena = mmap((void *)b, ARENA_LEN, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_FIXED, fd, 0);
	alias = mmap(NULL, ARENA_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		     0);
	if (arena == MAP_FAILED || alias == MAP_FAILED) {
		perror("iommufd_ioctl fuzzer: arena");
		abort();
	}
	for (size_t i = 0; i < ARRAY_SIZE(regions); i++)
		if (mprotect(arena + regions[i].off, regions[i].len,
			     regions[i].prot)) {
			perror("iommufd_ioctl fuzzer: mprotect");
			abort();
		}
	close(fd);
	A = (uint64_t)(uintptr_t)arena;
}

/* The protection of the byte at @addr, and where that run of it ends. */
NO_COVERAGE static int prot_at(uint64_t addr, uint64_t *run_end)
{
	if (addr < A) {
		*run_end = A;
		return PROT_NONE;
	}
	if (addr - A >= ARENA_LEN) {
		*run_end = UINT64_MAX;
		return PROT_NONE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(regions); i++) {
		const struct region *r = &regions[i];

		if (addr - A < r->off + r->len) {
			*run_end = A + r->off + r->len;
			return r->prot;
		}
	}
	abort();
}

/* Offset of the first byte of [addr, addr + len) lacking @need; len if none. */
NO_COVERAGE static uint64_t first_without(uint64_t addr, uint64_t len, int need)
{
	uint64_t cur = addr, end;

	if (__builtin_add_overflow(addr, len, &end))
		end = UINT64_MAX;
	while (cur < end) {
		uint64_t run_end;

		if ((prot_at(cur, &run_end) & need) != need)
			return cur - addr;
		cur = run_end;
	}
	return end - addr < len ? end - addr : len;
}

static bool in_rw(uint64_t addr, uint64_t len)
{
	return first_without(addr, len, PROT_READ | PROT_WRITE) == len;
}

/* The part of [addr, addr + n) inside the arena, as an alias range. */
NO_COVERAGE static bool clip(uint64_t addr, uint64_t n, uint64_t *lo,
			     uint64_t *hi)
{
	uint64_t end;

	if (__builtin_add_overflow(addr, n, &end))
		end = UINT64_MAX;
	*lo = addr > A ? addr : A;
	*hi = end < A + ARENA_LEN ? end : A + ARENA_LEN;
	return *lo < *hi;
}

static void poke(uint64_t addr, const void *src, uint64_t n)
{
	uint64_t lo, hi;

	if (clip(addr, n, &lo, &hi))
		memcpy(alias + (lo - A), (const uint8_t *)src + (lo - addr),
		       hi - lo);
}

static void poke_fill(uint64_t addr, int c, uint64_t n)
{
	uint64_t lo, hi;

	if (clip(addr, n, &lo, &hi))
		memset(alias + (lo - A), c, hi - lo);
}

static void peek(uint64_t addr, void *dst, uint64_t n)
{
	uint64_t lo, hi;

	memset(dst, 0, n);
	if (clip(addr, n, &lo, &hi))
		memcpy((uint8_t *)dst + (lo - addr), alias + (lo - A), hi - lo);
}

/* ---- Value generators --------------------------------------------------- */

struct fz {
	struct in in;
	struct iommufd_host *host;
	struct iommufd_ctx *ictx;
	uint64_t recent_iova[4];
	unsigned int nrecent;
	unsigned long fail_nth; /* armed for the next ioctl */
	unsigned int nops;
};

/* Addresses that can never be mapped in this process. */
static uint64_t gen_garbage(struct in *in)
{
	static const uint64_t bad[] = {
		0,
		8,
		0xff0, /* the null page */
		0x7ffffffff000ULL, /* beyond TASK_SIZE */
		0x7ffffffffff8ULL,
		0x0000800000000000ULL, /* non-canonical */
		0x8000000000000000ULL,
		0xdead000000000000ULL,
		0xffff888000000000ULL, /* kernel */
		0xfffffffffffff000ULL,
		UINT64_MAX - 7,
		UINT64_MAX,
	};
	uint8_t s = u8(in);

	switch (s % 16) {
	case 12:
		return A - 1 - u8(in); /* the guard below */
	case 13:
		return A + ARENA_LEN + u8(in); /* the guard above */
	case 14:
		return A + HOLE_OFF + u16(in) % HOLE_LEN;
	case 15:
		return A + HOLE2_OFF + u16(in) % HOLE2_LEN;
	default:
		return bad[s % 16];
	}
}

/* A buffer the emulation reads or writes: anywhere but the slot. */
static uint64_t gen_ptr(struct in *in)
{
	uint8_t s = u8(in);

	switch (s % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
		return A + MAP_OFF + ((u32(in) % MAP_LEN) & ~7ULL);
	case 6:
	case 7:
		return A + MAP_OFF + u32(in) % MAP_LEN;
	case 8:
		return A + RW2_OFF + u16(in) % RW2_LEN;
	case 9:
		return A + RW2_OFF + RW2_LEN - 1 - u16(in) % 512;
	case 10:
		return A + RO_OFF + u16(in) % RO_LEN;
	case 11:
		return A + RO_OFF + RO_LEN - 1 - u16(in) % 512;
	case 12:
		return A + MAP_OFF + MAP_LEN - 1 - u16(in) % 4096;
	case 13:
		return A + HOLE_OFF + u16(in) % HOLE_LEN;
	case 14:
		return gen_garbage(in);
	default:
		return 0;
	}
}

/* User memory to map (IOAS_MAP user_va, VFIO vaddr, test uptrs). */
static uint64_t gen_uva(struct in *in)
{
	uint8_t s = u8(in);

	switch (s % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
	case 7:
		return A + MAP_OFF + SZ_4K * u8(in);
	case 8:
		return A + MAP_OFF + 2048 * (u16(in) % 512);
	case 9:
		return A + MAP_OFF;
	case 10:
		return A + RO_OFF + SZ_4K * (u8(in) % 16);
	case 11:
		return A + RW2_OFF + SZ_4K * (u8(in) % 16);
	case 12:
		return A + HOLE_OFF;
	case 13:
		return A + MAP_OFF + u32(in) % MAP_LEN;
	case 14:
		return A + MAP_OFF + MAP_LEN - SZ_4K * (1 + u8(in) % 4);
	default:
		return gen_garbage(in);
	}
}

/* A length; @uva, when in the map region, lets one end exactly there. */
static uint64_t gen_len(struct in *in, uint64_t uva)
{
	uint8_t s = u8(in);

	switch (s % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
		return SZ_4K * (1 + u8(in) % 64);
	case 6:
		return 2048 * (1 + (uint64_t)(u8(in) % 128));
	case 7:
		return SZ_1M;
	case 8:
		if (uva >= A + MAP_OFF && uva < A + MAP_OFF + MAP_LEN)
			return A + MAP_OFF + MAP_LEN - uva;
		return SZ_4K;
	case 9:
		return 0;
	case 10:
		return UINT64_MAX;
	case 11:
		return u64(in);
	case 12:
		return u32(in);
	case 13:
		return 1 + (uint64_t)u16(in);
	case 14:
		return SZ_4K * (1 + u16(in) % 320);
	default:
		return 1ULL << (u8(in) % 64);
	}
}

static uint64_t gen_iova(struct fz *fz)
{
	struct in *in = &fz->in;
	uint8_t s = u8(in);

	switch (s % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		return MOCK_APERTURE_START + SZ_4K * (u16(in) % 1024);
	case 5:
		return MOCK_APERTURE_START + 2048 * (uint64_t)(u16(in) % 2048);
	case 6:
		return MOCK_APERTURE_START + SZ_1M * (u8(in) % 4);
	case 7:
	case 8:
		if (fz->nrecent)
			return fz->recent_iova[u8(in) % fz->nrecent];
		return MOCK_APERTURE_START;
	case 9:
		return 0;
	case 10:
		return UINT64_MAX;
	case 11:
		return UINT64_MAX - 4095;
	case 12:
		return SZ_4K * u16(in);
	case 13:
		return u64(in);
	case 14:
		return (uint64_t)MOCK_APERTURE_LAST + 1 - SZ_4K * (u8(in) % 4);
	default:
		return u32(in);
	}
}

static uint64_t gen_pgsz(struct in *in)
{
	static const uint64_t sizes[] = {
		4096, 4096, 4096, 4096, 2048,	  2048,	 SZ_1M,
		1,    0,    512,  8192, 3 * 4096, SZ_2M,
	};
	uint8_t s = u8(in);

	if (s % 16 < ARRAY_SIZE(sizes))
		return sizes[s % 16];
	if (s % 16 == 13)
		return 1ULL << (u8(in) % 64);
	return u64(in);
}

static uint32_t gen_id(struct in *in)
{
	uint8_t s = u8(in);

	if (s < 192)
		return 1 + s % 8;
	if (s < 216)
		return 0;
	if (s < 240)
		return 9 + s % 8;
	return u32(in);
}

static uint32_t gen_flags(struct in *in, uint32_t mask)
{
	uint8_t s = u8(in);

	return s < 224 ? (s & mask) : u32(in);
}

static uint32_t gen_small(struct in *in, uint32_t max)
{
	uint8_t s = u8(in);

	return s < 224 ? s % (max + 1) : u32(in);
}

static uint32_t gen_rsv(struct in *in)
{
	return u8(in) < 240 ? 0 : u32(in);
}

static uint32_t gen_count(struct in *in)
{
	uint8_t s = u8(in);

	if (s < 200)
		return s % 9;
	if (s < 232)
		return s % 64;
	return u32(in);
}

/* ---- Commands ----------------------------------------------------------- */

/* VFIO_IOMMU_UNMAP_DMA and VFIO_IOMMU_DIRTY_PAGES with their bitmaps. */
struct compat_unmap {
	__u32 argsz;
	__u32 flags;
	__u64 iova;
	__u64 size;
	struct vfio_bitmap bitmap;
};

struct compat_dirty {
	__u32 argsz;
	__u32 flags;
	struct vfio_iommu_type1_dirty_bitmap_get get;
};

union ubuf {
	struct iommu_destroy destroy;
	struct iommu_ioas_alloc alloc;
	struct iommu_ioas_allow_iovas allow;
	struct iommu_ioas_copy copy;
	struct iommu_ioas_iova_ranges ranges;
	struct iommu_ioas_map map;
	struct iommu_ioas_unmap unmap;
	struct iommu_option option;
	struct iommu_vfio_ioas vfio_ioas;
	struct iommu_hwpt_alloc hwpt;
	struct iommu_hw_info info;
	struct iommu_hwpt_set_dirty_tracking track;
	struct iommu_hwpt_get_dirty_bitmap bitmap;
	struct iommu_hwpt_invalidate inval;
	struct iommu_test_cmd test;
	struct vfio_iommu_type1_info vinfo;
	struct vfio_iommu_type1_dma_map vmap;
	struct compat_unmap vunmap;
	struct compat_dirty vdirty;
	uint32_t size;
	uint64_t w[16];
	uint8_t b[128];
};

struct op {
	unsigned long cmd;
	const struct cmd_def *def;
	union ubuf u;
	uint32_t size; /* the size (argsz) word */
	bool int_arg; /* the arg is an integer, not a pointer */
	uint64_t arg;
	uint64_t in_ptr, in_len; /* what the emulation reads (only) */
	uint64_t out_ptr, out_len; /* where it may write, and how much */
};

struct cmd_def {
	uint32_t cmd;
	const char *name;
	uint16_t size, min_size; /* 0: no struct */
	bool table; /* iommufd's table: a size word */
	void (*build)(struct fz *fz, struct op *op);
};

/* Bytes the emulation may read through @ptr: written here, snapshotted. */
static void set_input(struct op *op, uint64_t ptr, const void *src,
		      uint64_t len)
{
	poke(ptr, src, len);
	op->in_ptr = ptr;
	op->in_len = len;
}

static void build_destroy(struct fz *fz, struct op *op)
{
	op->u.destroy.id = gen_id(&fz->in);
}

static void build_ioas_alloc(struct fz *fz, struct op *op)
{
	op->u.alloc.flags = gen_rsv(&fz->in);
}

static void build_allow_iovas(struct fz *fz, struct op *op)
{
	struct iommu_ioas_allow_iovas *c = &op->u.allow;
	struct iommu_iova_range ranges[32];
	unsigned int n;

	c->ioas_id = gen_id(&fz->in);
	c->num_iovas = gen_count(&fz->in);
	c->__reserved = gen_rsv(&fz->in);
	c->allowed_iovas = gen_ptr(&fz->in);
	n = c->num_iovas < ARRAY_SIZE(ranges) ? c->num_iovas :
						ARRAY_SIZE(ranges);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t s = u8(&fz->in);

		ranges[i].start = gen_iova(fz);
		if (s < 160)
			ranges[i].last =
				ranges[i].start + gen_len(&fz->in, 0) - 1;
		else if (s < 224)
			ranges[i].last = u64(&fz->in);
		else
			ranges[i].last = ranges[i].start;
	}
	set_input(op, c->allowed_iovas, ranges, n * sizeof(ranges[0]));
}

static void build_ioas_copy(struct fz *fz, struct op *op)
{
	struct iommu_ioas_copy *c = &op->u.copy;

	c->flags = gen_flags(&fz->in, 7);
	c->dst_ioas_id = gen_id(&fz->in);
	c->src_ioas_id = gen_id(&fz->in);
	c->length = gen_len(&fz->in, 0);
	c->dst_iova = gen_iova(fz);
	c->src_iova = gen_iova(fz);
}

static void build_iova_ranges(struct fz *fz, struct op *op)
{
	struct iommu_ioas_iova_ranges *c = &op->u.ranges;

	c->ioas_id = gen_id(&fz->in);
	c->num_iovas = gen_count(&fz->in);
	c->__reserved = gen_rsv(&fz->in);
	c->allowed_iovas = gen_ptr(&fz->in);
	op->out_ptr = c->allowed_iovas;
	op->out_len = (uint64_t)c->num_iovas * sizeof(struct iommu_iova_range);
}

static void build_map(struct fz *fz, struct op *op)
{
	struct iommu_ioas_map *c = &op->u.map;

	c->flags = gen_flags(&fz->in, 7);
	c->ioas_id = gen_id(&fz->in);
	c->__reserved = gen_rsv(&fz->in);
	c->user_va = gen_uva(&fz->in);
	c->length = gen_len(&fz->in, c->user_va);
	c->iova = gen_iova(fz);
}

static void build_unmap(struct fz *fz, struct op *op)
{
	struct iommu_ioas_unmap *c = &op->u.unmap;

	c->ioas_id = gen_id(&fz->in);
	if (u8(&fz->in) < 32) {
		c->iova = 0;
		c->length = UINT64_MAX; /* everything */
	} else {
		c->iova = gen_iova(fz);
		c->length = gen_len(&fz->in, 0);
	}
}

static void build_option(struct fz *fz, struct op *op)
{
	struct iommu_option *c = &op->u.option;

	c->option_id = gen_small(&fz->in, 1);
	c->op = (__u16)gen_small(&fz->in, 1);
	c->__reserved = (__u16)gen_rsv(&fz->in);
	c->object_id =
		c->option_id == IOMMU_OPTION_HUGE_PAGES || u8(&fz->in) >= 224 ?
			gen_id(&fz->in) :
			0;
	c->val64 = gen_small(&fz->in, 1);
}

static void build_vfio_ioas(struct fz *fz, struct op *op)
{
	struct iommu_vfio_ioas *c = &op->u.vfio_ioas;

	c->ioas_id = gen_id(&fz->in);
	c->op = (__u16)gen_small(&fz->in, 2);
	c->__reserved = (__u16)gen_rsv(&fz->in);
}

static void build_hwpt_alloc(struct fz *fz, struct op *op)
{
	struct iommu_hwpt_alloc *c = &op->u.hwpt;
	struct iommu_hwpt_selftest sel;
	uint8_t s = u8(&fz->in);

	c->flags = gen_flags(&fz->in, 0xf);
	c->dev_id = gen_id(&fz->in);
	c->pt_id = gen_id(&fz->in);
	c->__reserved = gen_rsv(&fz->in);
	switch (s % 4) {
	case 1:
		c->data_type = IOMMU_HWPT_DATA_SELFTEST;
		c->data_len = s & 4 ? sizeof(sel) : 4;
		break;
	case 2:
		c->data_type = gen_small(&fz->in, 3);
		c->data_len = gen_small(&fz->in, 80);
		break;
	default:
		break; /* IOMMU_HWPT_DATA_NONE */
	}
	c->data_uptr = gen_ptr(&fz->in);
	if (c->data_len) {
		sel.iotlb = u8(&fz->in) < 128 ? IOMMU_TEST_IOTLB_DEFAULT :
						u32(&fz->in);
		sel.pagetable_type = gen_small(&fz->in, 3);
		set_input(op, c->data_uptr, &sel,
			  c->data_len < sizeof(sel) ? c->data_len :
						      sizeof(sel));
	}
	c->fault_id = s & 8 ? gen_id(&fz->in) : 0;
	c->__reserved2 = gen_rsv(&fz->in);
}

static void build_hw_info(struct fz *fz, struct op *op)
{
	struct iommu_hw_info *c = &op->u.info;
	uint8_t s = u8(&fz->in);

	c->flags = gen_flags(&fz->in, 1);
	c->dev_id = gen_id(&fz->in);
	switch (s % 8) {
	case 0:
		c->data_len = 0;
		break;
	case 1:
	case 2:
		c->data_len = sizeof(struct iommu_test_hw_info);
		break;
	case 3:
	case 4:
		c->data_len = u8(&fz->in);
		break;
	case 5:
	case 6:
		c->data_len = u16(&fz->in);
		break;
	default:
		c->data_len = u32(&fz->in);
		break;
	}
	c->data_uptr = gen_ptr(&fz->in);
	switch ((s >> 3) % 4) {
	case 0:
		c->in_data_type = IOMMU_HW_INFO_TYPE_SELFTEST;
		break;
	case 1:
		c->in_data_type = u32(&fz->in);
		break;
	default:
		c->in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;
		break;
	}
	if (s >= 240)
		c->__reserved[s % 3] = u8(&fz->in);
	op->out_ptr = c->data_uptr;
	op->out_len = c->data_len;
}

static void build_set_tracking(struct fz *fz, struct op *op)
{
	struct iommu_hwpt_set_dirty_tracking *c = &op->u.track;

	c->flags = gen_flags(&fz->in, 1);
	c->hwpt_id = gen_id(&fz->in);
	c->__reserved = gen_rsv(&fz->in);
}

/* Bytes of bitmap a (length, page_size) harvest may touch (iova_bitmap.h). */
static uint64_t bitmap_bytes(uint64_t length, uint64_t page_size)
{
	uint64_t nbits;

	if (!length || !page_size)
		return 0;
	nbits = ((length - 1) >> __builtin_ctzll(page_size)) + 1;
	return nbits / 8 + (nbits % 8 != 0);
}

static void build_get_bitmap(struct fz *fz, struct op *op)
{
	struct iommu_hwpt_get_dirty_bitmap *c = &op->u.bitmap;

	c->hwpt_id = gen_id(&fz->in);
	c->flags = gen_flags(&fz->in, 1);
	c->__reserved = gen_rsv(&fz->in);
	c->iova = gen_iova(fz);
	c->length = gen_len(&fz->in, 0);
	c->page_size = gen_pgsz(&fz->in);
	c->data = gen_ptr(&fz->in);
	op->out_ptr = c->data;
	op->out_len = bitmap_bytes(c->length, c->page_size);
}

static void build_invalidate(struct fz *fz, struct op *op)
{
	struct iommu_hwpt_invalidate *c = &op->u.inval;

	c->hwpt_id = gen_id(&fz->in);
	c->data_uptr = gen_ptr(&fz->in);
	c->data_type = gen_small(&fz->in, 3);
	c->entry_len = gen_small(&fz->in, 64);
	c->entry_num = gen_small(&fz->in, 4);
	c->__reserved = gen_rsv(&fz->in);
}

static void build_test(struct fz *fz, struct op *op)
{
	static const uint32_t ops[] = {
		IOMMU_TEST_OP_MOCK_DOMAIN,
		IOMMU_TEST_OP_MOCK_DOMAIN,
		IOMMU_TEST_OP_MOCK_DOMAIN,
		IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		IOMMU_TEST_OP_ADD_RESERVED,
		IOMMU_TEST_OP_MD_CHECK_MAP,
		IOMMU_TEST_OP_MD_CHECK_REFS,
		IOMMU_TEST_OP_DIRTY,
		IOMMU_TEST_OP_DIRTY,
		IOMMU_TEST_OP_DIRTY,
		IOMMU_TEST_OP_ACCESS_RW,
	};
	struct iommu_test_cmd *c = &op->u.test;
	struct in *in = &fz->in;
	uint8_t s = u8(in);
	uint8_t bits[512];

	if (s % 16 < ARRAY_SIZE(ops))
		c->op = ops[s % 16];
	else if (s % 16 == 13)
		c->op = u32(in);
	else
		c->op = 1 + u8(in) % 24;
	c->id = gen_id(in);
	c->__reserved = gen_rsv(in);
	switch (c->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		c->add_reserved.start = gen_iova(fz);
		c->add_reserved.length = gen_len(in, 0);
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		c->mock_domain_flags.dev_flags = gen_flags(in, 0xf);
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		c->mock_domain_replace.pt_id = gen_id(in);
		break;
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		c->check_map.iova = gen_iova(fz);
		c->check_map.uptr = gen_uva(in);
		c->check_map.length = gen_len(in, c->check_map.uptr);
		break;
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		c->check_refs.uptr = gen_uva(in);
		c->check_refs.length = gen_len(in, c->check_refs.uptr);
		c->check_refs.refs = gen_small(in, 3);
		break;
	case IOMMU_TEST_OP_ACCESS_PAGES:
		c->access_pages.flags = gen_flags(in, 1);
		c->access_pages.iova = gen_iova(fz);
		c->access_pages.length = gen_len(in, 0);
		c->access_pages.uptr = gen_ptr(in);
		break;
	case IOMMU_TEST_OP_ACCESS_RW:
		c->access_rw.iova = gen_iova(fz);
		c->access_rw.length = gen_small(in, 8192);
		c->access_rw.uptr = gen_ptr(in);
		c->access_rw.flags = gen_flags(in, 5);
		op->out_ptr = c->access_rw.uptr;
		op->out_len = c->access_rw.length;
		break;
	case IOMMU_TEST_OP_DIRTY: {
		uint64_t n;

		c->dirty.flags = gen_rsv(in);
		c->dirty.iova = gen_iova(fz);
		c->dirty.length = gen_len(in, 0);
		c->dirty.page_size = gen_pgsz(in);
		c->dirty.uptr = gen_ptr(in);
		/* A bitmap of length / page_size bits, allocated; and wrapped. */
		n = c->dirty.page_size ?
			    DIV_ROUND_UP(c->dirty.length / c->dirty.page_size,
					 8) :
			    0;
		n = n < sizeof(bits) ? n : sizeof(bits);
		if (u8(in) < 128)
			memset(bits, 0xff, n);
		else
			in_bytes(in, bits, n);
		set_input(op, c->dirty.uptr, bits, n);
		break;
	}
	case IOMMU_TEST_OP_CREATE_ACCESS:
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		c->create_access.out_access_fd = gen_id(in);
		c->create_access.flags = gen_flags(in, 1);
		break;
	default:
		/* No user pointers: ops not emulated get a zero union. */
		memset(&c->__union_size, 0, sizeof(c->__union_size));
		break;
	}
	c->last = gen_rsv(in);
}

static void build_vfio_int(struct fz *fz, struct op *op)
{
	uint8_t s = u8(&fz->in);

	op->int_arg = true;
	switch (s % 8) {
	case 0:
	case 1:
	case 2:
		op->arg = VFIO_TYPE1v2_IOMMU;
		break;
	case 3:
		op->arg = VFIO_TYPE1_IOMMU;
		break;
	case 4:
	case 5:
		op->arg = s % 16;
		break;
	default:
		op->arg = u64(&fz->in);
		break;
	}
}

static void build_vfio_info(struct fz *fz, struct op *op)
{
	op->u.vinfo.flags = gen_rsv(&fz->in);
}

static void build_vfio_map(struct fz *fz, struct op *op)
{
	struct vfio_iommu_type1_dma_map *c = &op->u.vmap;

	c->flags = gen_flags(&fz->in, 7);
	c->vaddr = gen_uva(&fz->in);
	c->iova = gen_iova(fz);
	c->size = gen_len(&fz->in, c->vaddr);
}

static void build_vfio_unmap(struct fz *fz, struct op *op)
{
	struct compat_unmap *c = &op->u.vunmap;

	c->flags = gen_flags(&fz->in, 7);
	if (c->flags & VFIO_DMA_UNMAP_FLAG_ALL && u8(&fz->in) < 128) {
		c->iova = 0;
		c->size = 0;
	} else {
		c->iova = gen_iova(fz);
		c->size = gen_len(&fz->in, 0);
	}
	c->bitmap.pgsize = gen_pgsz(&fz->in);
	c->bitmap.size = gen_small(&fz->in, 4096);
	c->bitmap.data = (__u64 *)(uintptr_t)gen_ptr(&fz->in);
	op->out_ptr = (uintptr_t)c->bitmap.data;
	op->out_len = c->bitmap.size;
}

static void build_vfio_dirty(struct fz *fz, struct op *op)
{
	struct compat_dirty *c = &op->u.vdirty;

	c->flags = gen_flags(&fz->in, 7);
	c->get.iova = gen_iova(fz);
	c->get.size = gen_len(&fz->in, 0);
	c->get.bitmap.pgsize = gen_pgsz(&fz->in);
	c->get.bitmap.size = gen_small(&fz->in, 4096);
	c->get.bitmap.data = (__u64 *)(uintptr_t)gen_ptr(&fz->in);
	op->out_ptr = (uintptr_t)c->get.bitmap.data;
	op->out_len = c->get.bitmap.size;
}

#define TABLE(_cmd, _type, _last, _build)                                    \
	{                                                                    \
		_cmd, #_cmd, sizeof(_type), offsetofend(_type, _last), true, \
			_build                                               \
	}

/* The iommufd table in number order, then IOMMU_TEST_CMD. */
static const struct cmd_def iommufd_cmds[] = {
	TABLE(IOMMU_DESTROY, struct iommu_destroy, id, build_destroy),
	TABLE(IOMMU_IOAS_ALLOC, struct iommu_ioas_alloc, out_ioas_id,
	      build_ioas_alloc),
	TABLE(IOMMU_IOAS_ALLOW_IOVAS, struct iommu_ioas_allow_iovas,
	      allowed_iovas, build_allow_iovas),
	TABLE(IOMMU_IOAS_COPY, struct iommu_ioas_copy, src_iova,
	      build_ioas_copy),
	TABLE(IOMMU_IOAS_IOVA_RANGES, struct iommu_ioas_iova_ranges,
	      out_iova_alignment, build_iova_ranges),
	TABLE(IOMMU_IOAS_MAP, struct iommu_ioas_map, iova, build_map),
	TABLE(IOMMU_IOAS_UNMAP, struct iommu_ioas_unmap, length, build_unmap),
	TABLE(IOMMU_OPTION, struct iommu_option, val64, build_option),
	TABLE(IOMMU_VFIO_IOAS, struct iommu_vfio_ioas, __reserved,
	      build_vfio_ioas),
	TABLE(IOMMU_HWPT_ALLOC, struct iommu_hwpt_alloc, __reserved,
	      build_hwpt_alloc),
	TABLE(IOMMU_GET_HW_INFO, struct iommu_hw_info, __reserved,
	      build_hw_info),
	TABLE(IOMMU_HWPT_SET_DIRTY_TRACKING,
	      struct iommu_hwpt_set_dirty_tracking, __reserved,
	      build_set_tracking),
	TABLE(IOMMU_HWPT_GET_DIRTY_BITMAP, struct iommu_hwpt_get_dirty_bitmap,
	      data, build_get_bitmap),
	TABLE(IOMMU_HWPT_INVALIDATE, struct iommu_hwpt_invalidate, __reserved,
	      build_invalidate),
	TABLE(IOMMU_TEST_CMD, struct iommu_test_cmd, last, build_test),
};

enum { N_IOMMUFD = ARRAY_SIZE(iommufd_cmds) - 1 }; /* without TEST_CMD */

/* VFIO type1 numbers 0x3b64..0x3b75; size/min_size describe argsz. */
static const struct cmd_def vfio_cmds[] = {
	{ VFIO_GET_API_VERSION, "VFIO_GET_API_VERSION", 0, 0, false, NULL },
	{ VFIO_CHECK_EXTENSION, "VFIO_CHECK_EXTENSION", 0, 0, false,
	  build_vfio_int },
	{ VFIO_SET_IOMMU, "VFIO_SET_IOMMU", 0, 0, false, build_vfio_int },
	{ VFIO_IOMMU_GET_INFO, "VFIO_IOMMU_GET_INFO",
	  sizeof(struct vfio_iommu_type1_info),
	  offsetofend(struct vfio_iommu_type1_info, iova_pgsizes), false,
	  build_vfio_info },
	{ VFIO_IOMMU_MAP_DMA, "VFIO_IOMMU_MAP_DMA",
	  sizeof(struct vfio_iommu_type1_dma_map),
	  sizeof(struct vfio_iommu_type1_dma_map), false, build_vfio_map },
	{ VFIO_IOMMU_UNMAP_DMA, "VFIO_IOMMU_UNMAP_DMA",
	  sizeof(struct compat_unmap),
	  sizeof(struct vfio_iommu_type1_dma_unmap), false, build_vfio_unmap },
	{ VFIO_IOMMU_DIRTY_PAGES, "VFIO_IOMMU_DIRTY_PAGES",
	  sizeof(struct compat_dirty),
	  sizeof(struct vfio_iommu_type1_dirty_bitmap), false,
	  build_vfio_dirty },
};

static const struct cmd_def *find_def(unsigned long cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(iommufd_cmds); i++)
		if (iommufd_cmds[i].cmd == cmd)
			return &iommufd_cmds[i];
	for (size_t i = 0; i < ARRAY_SIZE(vfio_cmds); i++)
		if (vfio_cmds[i].cmd == (uint32_t)cmd)
			return &vfio_cmds[i];
	return NULL;
}

static unsigned long gen_cmd(struct fz *fz, uint8_t k)
{
	struct in *in = &fz->in;
	static const unsigned long dirty_path[] = {
		IOMMU_IOAS_MAP,
		IOMMU_HWPT_ALLOC,
		IOMMU_HWPT_SET_DIRTY_TRACKING,
		IOMMU_HWPT_GET_DIRTY_BITMAP,
	};
	uint8_t c;

	switch (k % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
		return iommufd_cmds[u8(in) % N_IOMMUFD].cmd;
	case 7:
		return dirty_path[u8(in) % ARRAY_SIZE(dirty_path)];
	case 8:
	case 9:
		return IOMMU_TEST_CMD;
	case 10:
		return vfio_cmds[u8(in) % ARRAY_SIZE(vfio_cmds)].cmd;
	case 11:
		return _IO(VFIO_TYPE, 0x64 + u8(in) % 18);
	case 12:
		c = u8(in);
		switch (c % 4) {
		case 0: /* the holes: 0x8e..0x9f */
			return _IO(IOMMUFD_TYPE, 0x8e + (c >> 2) % 18);
		case 1: /* past the table */
			return _IO(IOMMUFD_TYPE, 0xa1 + (c >> 2) % 16);
		case 2: /* a real number with size and direction bits */
			return _IOWR(IOMMUFD_TYPE,
				     IOMMUFD_CMD_BASE + (c >> 2) % 14,
				     struct iommu_destroy);
		default: /* upper bits set: truncated by the compat path */
			return (1UL << 32) |
			       iommufd_cmds[(c >> 2) % N_IOMMUFD].cmd;
		}
	case 13:
		return u32(in);
	case 14:
		return (unsigned long)u64(in);
	default:
		return _IO(IOMMUFD_TYPE, u8(in));
	}
}

/* ---- One ioctl ---------------------------------------------------------- */

#define PASS 1 /* the dispatcher hands the command to its handler */

static bool known_errno(long rc)
{
	switch (-rc) {
	case EFAULT:
	case EINVAL:
	case E2BIG:
	case ENOTTY:
	case EOPNOTSUPP:
	case EOVERFLOW:
	case ENOENT:
	case EBUSY:
	case ENOMEM:
	case EEXIST:
	case ENOSPC:
	case EADDRINUSE:
	case EPERM:
	case ENODEV:
	case EMSGSIZE:
	case EIO: /* IOMMU_TEST_OP_MD_CHECK_REFS: a count that differs */
		return true;
	default:
		return false;
	}
}

/*
 * What iommufd_fops_ioctl() answers before any handler runs, from what the
 * arena holds (§1.1); PASS when the handler runs. *@ambiguous: the tail has
 * both a non-zero byte and a fault; Linux reads it word by word and says
 * E2BIG when the byte comes first, the emulation reads 256-byte chunks, so
 * EFAULT is accepted as well.
 */
static long predict(const struct op *op, bool *ambiguous)
{
	unsigned int nr = op->cmd & 0xff;
	const struct cmd_def *def;
	uint64_t arg = op->arg, body;
	uint32_t size;

	*ambiguous = false;
	if (nr < IOMMUFD_CMD_BASE || nr > _IOC_NR(IOMMU_TEST_CMD)) {
		uint64_t need;

		switch ((uint32_t)op->cmd) {
		case VFIO_GET_API_VERSION:
			return 0;
		case VFIO_CHECK_EXTENSION:
		case VFIO_SET_IOMMU:
			return PASS;
		case VFIO_IOMMU_MAP_DMA:
			need = sizeof(struct vfio_iommu_type1_dma_map);
			break;
		case VFIO_IOMMU_UNMAP_DMA:
			need = sizeof(struct vfio_iommu_type1_dma_unmap);
			break;
		case VFIO_IOMMU_GET_INFO:
			need = offsetofend(struct vfio_iommu_type1_info,
					   iova_pgsizes);
			break;
		default:
			return -ENOTTY;
		}
		return first_without(arg, need, PROT_READ) < need ? -EFAULT :
								    PASS;
	}
	if (first_without(arg, 4, PROT_READ) < 4)
		return -EFAULT;
	def = find_def(op->cmd);
	if (!def || !def->table || def->cmd != op->cmd)
		return -ENOTTY;
	peek(arg, &size, sizeof(size));
	if (size < def->min_size)
		return -EINVAL;
	if (size > def->size) {
		uint64_t tail = size - def->size;
		uint64_t bad = first_without(arg + def->size, tail, PROT_READ);
		uint64_t lo, hi, nz = bad;

		if (bad && clip(arg + def->size, bad, &lo, &hi)) {
			const uint8_t *p = alias + (lo - A);

			for (uint64_t i = 0; i < hi - lo; i++)
				if (p[i]) {
					nz = i;
					break;
				}
		}
		if (nz < bad) {
			*ambiguous = bad < tail;
			return -E2BIG;
		}
		if (bad < tail)
			return -EFAULT;
	}
	body = size < def->size ? size : def->size;
	if (first_without(arg, body, PROT_READ) < body)
		return -EFAULT;
	return PASS;
}

static void __attribute__((noreturn, format(printf, 2, 3)))
fail(const struct op *op, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr,
		"iommufd_ioctl fuzzer: invariant broken: cmd %#lx (%s) "
		"size %u arg %#llx: ",
		op->cmd, op->def ? op->def->name : "?", op->size,
		(unsigned long long)op->arg);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* The struct's size word: sizeof, min_size, around them, zero, huge. */
static uint32_t gen_size(struct in *in, uint32_t S, uint32_t M, int *tail)
{
	uint8_t s = u8(in);

	*tail = 0; /* 0: zero tail; 1: one non-zero byte in it */
	switch (s % 16) {
	case 7:
		return M;
	case 8:
		return M ? M - 1 - u8(in) % M : 0;
	case 9:
		return M + u8(in) % (S - M + 1);
	case 10:
		return S + 8 * (1 + u8(in) % 8);
	case 11:
		return S + u16(in) % 8192;
	case 12:
		*tail = 1;
		return S + 1 + u16(in) % 512;
	case 13:
		return 0;
	case 14:
		switch (u8(in) % 4) {
		case 0:
			return UINT32_MAX;
		case 1:
			return 0x80000000u;
		case 2:
			return S + SLOT_LEN;
		default:
			return S + 4096;
		}
	case 15:
		return u32(in);
	default:
		return S;
	}
}

/* Where the struct goes: @len bytes of it are meaningful. */
static uint64_t gen_arg(struct in *in, uint64_t len)
{
	uint8_t s = u8(in);

	switch (s % 16) {
	case 12: /* across the end of the slot, into the guard */
		return A + SLOT_OFF + SLOT_LEN - 1 - u16(in) % (len + 8);
	case 13: /* read-only: the answer cannot be written back */
		return A + RO_OFF + 8 * (u8(in) % 64);
	case 14: /* across the end of the read-only part, into a hole */
		return A + RO_OFF + RO_LEN - 1 - u16(in) % (len + 8);
	case 15:
		return gen_garbage(in);
	default:
		return A + SLOT_OFF + 8 * (s % 16);
	}
}

static void track_iova(struct fz *fz, uint64_t iova)
{
	fz->recent_iova[fz->nrecent % ARRAY_SIZE(fz->recent_iova)] = iova;
	if (fz->nrecent < ARRAY_SIZE(fz->recent_iova))
		fz->nrecent++;
}

static void do_ioctl(struct fz *fz, uint8_t k)
{
	struct in *in = &fz->in;
	struct op op = { 0 };
	uint8_t canary[CANARY_LEN], snap_struct[sizeof(union ubuf)];
	uint8_t snap_in[SNAP_LEN], now[SNAP_LEN];
	uint64_t struct_len = 0, extent = 0, struct_canary = 0;
	uint64_t out_canary = 0, snap_in_len = 0, snap_struct_len = 0;
	uint32_t S, M;
	bool ambiguous, fired;
	long want, rc;
	int tail = 0;

	op.cmd = gen_cmd(fz, k);
	op.def = find_def(op.cmd);
	/* Now and then the whole struct starts as raw bytes. */
	if ((k >> 4) % 8 == 7)
		in_bytes(in, op.u.b, sizeof(op.u.b));
	if (op.def && op.def->build)
		op.def->build(fz, &op);
	S = op.def && op.def->size ? op.def->size : 64;
	M = op.def && op.def->size ? op.def->min_size : 8;
	if (!op.int_arg) {
		op.size = gen_size(in, S, M, &tail);
		op.u.size = op.size;
		if (op.def && op.def->table) {
			/* The kernel reads min(size, sizeof); the size always. */
			struct_len = op.size < S ? op.size : S;
			if (struct_len < 4)
				struct_len = 4;
			extent = op.size < S ? op.size : S;
		} else {
			struct_len = S;
			switch ((uint32_t)op.cmd) {
			case VFIO_IOMMU_GET_INFO:
				extent = op.size;
				break;
			case VFIO_IOMMU_UNMAP_DMA:
				extent = sizeof(
					struct vfio_iommu_type1_dma_unmap);
				break;
			default:
				extent = 0;
				break;
			}
		}
		op.arg = gen_arg(in, struct_len);
	}

	if (!op.int_arg) {
		/* Readable bytes from the struct on. */
		uint64_t room =
			first_without(op.arg, UINT64_MAX - op.arg, PROT_READ);

		poke(op.arg, op.u.b, struct_len);
		if (op.def && op.def->table && op.size > S) {
			/* The tail: zero, but for one byte if asked. */
			uint64_t tl = op.size < room ? op.size : room;

			if (tl > S) {
				poke_fill(op.arg + S, 0, tl - S);
				if (tail)
					poke_fill(op.arg + S +
							  u16(in) % (tl - S),
						  1 + u8(in) % 255, 1);
			}
			struct_len = op.size;
		}
		/* A canary after what may be written, if it lies in the slot. */
		struct_canary =
			op.arg + (struct_len > extent ? struct_len : extent);
		if (op.arg >= A + SLOT_OFF &&
		    op.arg < A + SLOT_OFF + SLOT_LEN &&
		    struct_canary >= op.arg &&
		    struct_canary <= A + SLOT_OFF + SLOT_LEN - CANARY_LEN)
			poke_fill(struct_canary, CANARY, CANARY_LEN);
		else
			struct_canary = 0;
	}
	if (op.out_ptr >= A && op.out_ptr < A + SLOT_OFF &&
	    op.out_len < SLOT_OFF &&
	    op.out_ptr + op.out_len <= A + SLOT_OFF - CANARY_LEN &&
	    in_rw(op.out_ptr + op.out_len, CANARY_LEN)) {
		out_canary = op.out_ptr + op.out_len;
		poke_fill(out_canary, CANARY, CANARY_LEN);
	}
	if (op.in_len && in_rw(op.in_ptr, 1)) {
		snap_in_len = op.in_len < SNAP_LEN ? op.in_len : SNAP_LEN;
		snap_in_len = first_without(op.in_ptr, snap_in_len, PROT_READ);
		peek(op.in_ptr, snap_in, snap_in_len);
	}

	/* What the emulation is shown, after every poke of the harness. */
	if (!op.int_arg) {
		snap_struct_len = struct_len < sizeof(snap_struct) ?
					  struct_len :
					  sizeof(snap_struct);
		peek(op.arg, snap_struct, snap_struct_len);
	}
	want = predict(&op, &ambiguous);
	if (fz->fail_nth)
		alloc_fail_nth_set(fz->fail_nth);
	rc = iommufd_ioctl(fz->ictx, op.cmd, op.arg);
	fired = fz->fail_nth && alloc_fail_nth_fired();
	alloc_fail_nth_set(0);
	fz->fail_nth = 0;
	if (trace) {
		fprintf(stderr,
			"op %2u: %-30s cmd %#lx size %#x arg %#llx -> %ld%s\n",
			fz->nops, op.def ? op.def->name : "?", op.cmd, op.size,
			(unsigned long long)op.arg, rc,
			fired ? " (allocation failed)" : "");
		/* The struct as built, in 64-bit words. */
		for (size_t i = 0; op.def && i < op.def->size / 8; i++)
			fprintf(stderr, "%s%#llx%s", i ? " " : "       ",
				(unsigned long long)op.u.w[i],
				i + 1 == op.def->size / 8 ? "\n" : "");
	}

	/* The return value. */
	if (rc > 0 && !(rc == 1 && (uint32_t)op.cmd == VFIO_CHECK_EXTENSION))
		fail(&op, "returned %ld", rc);
	if (rc < 0 && !known_errno(rc))
		fail(&op, "returned %ld, not an errno these ioctls return", rc);
	if (want != PASS && rc != want &&
	    !(ambiguous && want == -E2BIG && rc == -EFAULT))
		fail(&op, "the dispatcher should answer %ld, got %ld", want,
		     rc);
	if (want == PASS && rc == -ENOTTY)
		fail(&op, "a known command reached its handler but got ENOTTY");

	/* What was written. */
	if (want != PASS && want != 0 && snap_struct_len) {
		uint8_t after[sizeof(snap_struct)];

		peek(op.arg, after, snap_struct_len);
		if (memcmp(after, snap_struct, snap_struct_len))
			fail(&op,
			     "the struct was written although the "
			     "dispatcher refused it (%ld)",
			     rc);
	}
	if (struct_canary) {
		peek(struct_canary, canary, CANARY_LEN);
		for (int i = 0; i < CANARY_LEN; i++)
			if (canary[i] != CANARY)
				fail(&op,
				     "written past the struct: byte %d "
				     "after %llu bytes",
				     i,
				     (unsigned long long)(struct_canary -
							  op.arg));
	}
	if (out_canary) {
		peek(out_canary, canary, CANARY_LEN);
		for (int i = 0; i < CANARY_LEN; i++)
			if (canary[i] != CANARY)
				fail(&op,
				     "written past an output buffer of "
				     "%llu bytes at %#llx (byte %d)",
				     (unsigned long long)op.out_len,
				     (unsigned long long)op.out_ptr, i);
	}
	if (snap_in_len) {
		peek(op.in_ptr, now, snap_in_len);
		if (memcmp(now, snap_in, snap_in_len))
			fail(&op, "an input buffer at %#llx was written",
			     (unsigned long long)op.in_ptr);
	}

	/* Remember where maps landed, to aim later ops at them. */
	if (!rc && op.arg >= A && op.arg < A + ARENA_LEN) {
		union ubuf out;

		peek(op.arg, &out, sizeof(out));
		if (op.cmd == IOMMU_IOAS_MAP && op.size >= S)
			track_iova(fz, out.map.iova);
		else if (op.cmd == IOMMU_IOAS_COPY && op.size >= S)
			track_iova(fz, out.copy.dst_iova);
	}
}

/* ---- Contexts ----------------------------------------------------------- */

static void fuzz_log_fn(void *opaque, enum iod_log_level level, const char *msg)
{
	(void)opaque;
	if (level != IOD_LOG_ERR)
		return;
	fprintf(stderr,
		"iommufd_ioctl fuzzer: the emulation logged an "
		"error: %s\n",
		msg);
	abort();
}

static const struct iod_log fuzz_log = {
	.fn = fuzz_log_fn,
	.level = IOD_LOG_WARN,
};

static struct iommufd_ctx *ctx_open(struct iommufd_host *host, bool vfio)
{
	struct iommufd_ctx *ictx = iommufd_ctx_open(host, vfio);

	if (IS_ERR(ictx)) {
		fprintf(stderr, "iommufd_ioctl fuzzer: iommufd_ctx_open: %ld\n",
			PTR_ERR(ictx));
		abort();
	}
	return ictx;
}

/*
 * With every context closed, no page of the arena may still be pinned: ask
 * MD_CHECK_REFS for a count of 0 over each part a pin can hold.
 */
static void check_no_pins(struct iommufd_host *host)
{
	struct iommufd_ctx *ictx = ctx_open(host, false);
	uint64_t at = A + SLOT_OFF;
	long rc = 0;

	/* Pins need mapped memory: map and ro, or rw2 (never the slot). */
	static const struct region pinnable[] = {
		{ MAP_OFF, MAP_LEN + RO_LEN, 0 },
		{ RW2_OFF, RW2_LEN, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(pinnable) && !rc; i++) {
		struct iommu_test_cmd cmd = {
			.size = sizeof(cmd),
			.op = IOMMU_TEST_OP_MD_CHECK_REFS,
			.check_refs = { .length = pinnable[i].len,
					.uptr = A + pinnable[i].off },
		};

		poke(at, &cmd, sizeof(cmd));
		rc = iommufd_ioctl(ictx, IOMMU_TEST_CMD, at);
	}
	iommufd_ctx_close(ictx);
	if (rc) {
		fprintf(stderr,
			"iommufd_ioctl fuzzer: invariant broken: user "
			"pages still pinned after every context was "
			"closed (MD_CHECK_REFS: %ld)\n",
			rc);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("IODIRTY_FUZZ_TRACE");

	(void)argc;
	(void)argv;
	trace = t && *t && strcmp(t, "0");
	arena_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz fz = { .in = { data, size } };

	memset(alias, 0, ARENA_LEN);
	fz.host = iommufd_host_alloc(&fuzz_log);
	if (!fz.host)
		abort();
	fz.ictx = ctx_open(fz.host, u8(&fz.in) & 1);
	for (; fz.in.n && fz.nops < MAX_OPS; fz.nops++) {
		uint8_t k = u8(&fz.in);

		if (k >= 248) {
			if (trace)
				fprintf(stderr, "op %2u: close and reopen\n",
					fz.nops);
			iommufd_ctx_close(fz.ictx);
			check_no_pins(fz.host);
			fz.ictx = ctx_open(fz.host, k & 1);
			fz.nrecent = 0;
		} else if (k >= 240) {
			/* Fail an allocation of the next ioctl. */
			fz.fail_nth = 1 + (k & 7) * (1 + u8(&fz.in) % 4);
		} else {
			do_ioctl(&fz, k);
		}
	}
	iommufd_ctx_close(fz.ictx);
	check_no_pins(fz.host);
	iommufd_host_free(fz.host);
	return 0;
}
