/* SPDX-License-Identifier: MIT */
/*
 * passthrough_util.h - what the tests of the VMM's VFIO client share: the
 * emulated host chosen through the environment, a log that records what
 * the VMM said, guest RAM, the DMA engine driven through its BAR0 registers
 * on the device fd (include/iodirty/uapi/iodirty_dma.h), and an oracle of
 * what a device wrote, found by scanning RAM for its blocks.
 *
 * Like the VMM, these helpers reach the host only through the kernel ABI,
 * so the tests run in-process and as an unmodified program under
 * `iodirty exec`. Waits poll with a generous limit and never judge speed.
 */
#ifndef IODIRTY_TESTS_VMM_PASSTHROUGH_UTIL_H
#define IODIRTY_TESTS_VMM_PASSTHROUGH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/uapi/iodirty_dma.h>
#include <iodirty/uapi/iommufd.h>
#include <iodirty/uapi/vfio.h>
#include <iodirty/vmm.h>

#include "../harness/test.h"

#define PTT_PAGE    4096ULL
#define PTT_MB	    (1ULL << 20)
#define PTT_GPA_HI  0x100000000ULL /* RAM above 4 GiB */
#define PTT_RAM	    (64 * PTT_MB)
#define PTT_WAIT_MS 20000 /* the most any wait polls for */

/* ---- the host and the VMM's log ---- */

struct ptt_log {
	struct iod_log log;
	char text[32768];
	size_t len;
	unsigned int nwarn;
	unsigned int nerr;
};

static struct ptt_log ptt_log;

static void ptt_log_line(void *opaque, enum iod_log_level level,
			 const char *msg)
{
	static const char tag[] = "EWID";
	struct ptt_log *l = opaque;
	int n;

	if (level == IOD_LOG_WARN)
		l->nwarn++;
	if (level == IOD_LOG_ERR)
		l->nerr++;
	if (getenv("IODIRTY_TEST_VERBOSE"))
		fprintf(stderr, "  vmm %c: %s\n", tag[level], msg);
	if (l->len >= sizeof(l->text) - 1)
		return;
	n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%c %s\n",
		     tag[level], msg);
	if (n > 0)
		l->len += (size_t)n;
	if (l->len > sizeof(l->text) - 1)
		l->len = sizeof(l->text) - 1;
}

/* Did the VMM log a line at @level ('E', 'W', ...) containing @needle? */
static inline bool ptt_logged(char level, const char *needle)
{
	const char *p = ptt_log.text;

	while ((p = strstr(p, needle))) {
		const char *bol = p;

		while (bol > ptt_log.text && bol[-1] != '\n')
			bol--;
		if (*bol == level)
			return true;
		p++;
	}
	return false;
}

static inline void ptt_log_reset(void)
{
	ptt_log.len = 0;
	ptt_log.text[0] = 0;
	ptt_log.nwarn = 0;
	ptt_log.nerr = 0;
}

/* The emulated host of this test: read at the first open of a node. */
static inline void ptt_host(const char *iommu, const char *devices)
{
	if (sysconf(_SC_PAGESIZE) != (long)PTT_PAGE)
		SKIP("these tests assume a 4 KiB base page");
	setenv("IODIRTY_IOMMU", iommu, 1);
	setenv("IODIRTY_DEVICES", devices, 1);
	ptt_log_reset();
	ptt_log.log = (struct iod_log){ .fn = ptt_log_line,
					.opaque = &ptt_log,
					.level = IOD_LOG_DEBUG };
}

static inline unsigned int ptt_ndevices(const char *devices)
{
	unsigned int n = 1;

	for (const char *p = devices; *p; p++)
		n += *p == ',';
	return n;
}

/* The kind of device @i in @devices ("dma", "mdev", ...). */
static inline const char *ptt_kind(const char *devices, unsigned int i,
				   char *buf, size_t len)
{
	const char *p = devices;
	size_t n;

	for (; i && p; i--) {
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		return "";
	n = strcspn(p, ",");
	snprintf(buf, len, "%.*s", (int)n, p);
	return buf;
}

static inline struct vmm_pt_config ptt_cfg(enum vmm_pt_backend backend)
{
	return (struct vmm_pt_config){
		.backend = backend,
		.tracker = VMM_TRACKER_AUTO,
		.enable_migration = VMM_AUTO,
		.device_dirty_tracking = true,
		.precopy_dirty_tracking = true,
		.log = &ptt_log.log,
	};
}

/* A VM with every device of @devices added. */
static inline struct vmm_pt *ptt_up(const struct vmm_pt_config *cfg,
				    const char *devices)
{
	char msg[VMM_MSG_LEN] = "";
	struct vmm_pt *pt = NULL;
	unsigned int n = ptt_ndevices(devices);
	int rc;

	rc = vmm_pt_create(cfg, &pt, msg, sizeof(msg));
	if (rc)
		fprintf(stderr, "  vmm_pt_create: %s\n", msg);
	ASSERT_RC(0, rc);
	for (unsigned int i = 0; i < n; i++) {
		rc = vmm_pt_add_device(pt, i, msg, sizeof(msg));
		if (rc)
			fprintf(stderr, "  vmm_pt_add_device(%u): %s\n", i,
				msg);
		ASSERT_RC(0, rc);
	}
	return pt;
}

static inline enum vmm_tracker ptt_choose(struct vmm_pt *pt, int want_rc)
{
	enum vmm_tracker t = VMM_TRACKER_AUTO;
	char msg[VMM_MSG_LEN] = "";
	int rc = vmm_pt_choose_tracker(pt, &t, msg, sizeof(msg));

	if (rc != want_rc)
		fprintf(stderr, "  vmm_pt_choose_tracker: %s\n", msg);
	ASSERT_RC(want_rc, rc);
	return rc ? VMM_TRACKER_NONE : t;
}

/* ---- guest RAM ---- */

struct ptt_ram {
	uint8_t *raw;
	size_t raw_len;
	uint8_t *hva;
	uint64_t gpa;
	uint64_t size;
	uint64_t npages;
};

/*
 * @size bytes of zeroed RAM for guest address @gpa. @huge_ok: the host
 * address is 2 MiB aligned (IOMMU huge leaves possible, as for IOVA);
 * otherwise it sits 4 KiB past such a boundary, so every IO page-table
 * leaf is 4 KiB and IOMMU dirty bits are exact to the page.
 */
static inline void ptt_ram_alloc(struct ptt_ram *r, uint64_t gpa, uint64_t size,
				 bool huge_ok)
{
	uintptr_t base;

	r->raw_len = size + 4 * PTT_MB;
	r->raw = mmap(NULL, r->raw_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(r->raw != MAP_FAILED);
	base = ((uintptr_t)r->raw + 2 * PTT_MB - 1) &
	       ~(uintptr_t)(2 * PTT_MB - 1);
	r->hva = (uint8_t *)base + (huge_ok ? 0 : PTT_PAGE);
	r->gpa = gpa;
	r->size = size;
	r->npages = size / PTT_PAGE;
}

static inline void ptt_ram_free(struct ptt_ram *r)
{
	munmap(r->raw, r->raw_len);
}

static inline struct vmm_dirty ptt_dirty(const struct ptt_ram *r)
{
	struct vmm_dirty d;

	ASSERT_RC(0, vmm_dirty_init(&d, &r->gpa, &r->size, 1));
	return d;
}

/* ---- the DMA engine, through BAR0 on the device fd ---- */

static inline uint64_t ptt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void ptt_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static inline uint64_t ptt_bar0(int fd)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};

	ASSERT_EQ(ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info), 0);
	ASSERT_GE(info.size, (uint64_t)DMA_BAR0_SIZE);
	return info.offset;
}

static inline void ptt_w32(int fd, uint32_t reg, uint32_t v)
{
	ASSERT_EQ(pwrite(fd, &v, 4, (off_t)(ptt_bar0(fd) + reg)), 4);
}

static inline void ptt_w64(int fd, uint32_t reg, uint64_t v)
{
	ASSERT_EQ(pwrite(fd, &v, 8, (off_t)(ptt_bar0(fd) + reg)), 8);
}

static inline uint32_t ptt_r32(int fd, uint32_t reg)
{
	uint32_t v = 0;

	ASSERT_EQ(pread(fd, &v, 4, (off_t)(ptt_bar0(fd) + reg)), 4);
	return v;
}

static inline uint64_t ptt_r64(int fd, uint32_t reg)
{
	uint64_t v = 0;

	ASSERT_EQ(pread(fd, &v, 8, (off_t)(ptt_bar0(fd) + reg)), 8);
	return v;
}

/* What one run of the engine wrote: blocks with seq in [seq0, seq1). */
struct ptt_dma {
	uint64_t iova;
	uint64_t size;
	uint32_t bs;
	uint32_t index;
	uint64_t seq0;
	uint64_t seq1;
	uint64_t writes;
};

/*
 * Run the engine of device fd @fd over [iova, iova + size) in @bs blocks
 * with @pattern until it has written at least @min_writes, stop it and
 * wait until every write it started has landed (WRITES catches up with
 * SEQ). Fails the test on a DMA fault.
 */
static inline struct ptt_dma ptt_dma_run(int fd, uint64_t iova, uint64_t size,
					 uint32_t bs, enum dma_pattern pattern,
					 uint64_t seed, uint64_t min_writes)
{
	struct ptt_dma r = { .iova = iova, .size = size, .bs = bs };
	uint64_t t0 = ptt_now_ms();

	r.index = ptt_r32(fd, DMA_REG_INDEX);
	ptt_w32(fd, DMA_REG_CTRL, DMA_CTRL_CLEAR);
	ptt_w64(fd, DMA_REG_WINDOW_IOVA, iova);
	ptt_w64(fd, DMA_REG_WINDOW_SIZE, size);
	ptt_w32(fd, DMA_REG_BLOCK_SIZE, bs);
	ptt_w32(fd, DMA_REG_PATTERN, (uint32_t)pattern);
	ptt_w64(fd, DMA_REG_SEED, seed);
	ptt_w64(fd, DMA_REG_RATE, 0);
	r.seq0 = ptt_r64(fd, DMA_REG_SEQ);
	ptt_w32(fd, DMA_REG_CTRL, DMA_CTRL_RUN);
	ASSERT_EQ(ptt_r32(fd, DMA_REG_STATUS) & DMA_STATUS_BADCONFIG, 0);
	while (ptt_r64(fd, DMA_REG_WRITES) < min_writes &&
	       !(ptt_r32(fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	       ptt_now_ms() - t0 < PTT_WAIT_MS)
		ptt_sleep_ms(1);
	ptt_w32(fd, DMA_REG_CTRL, 0);
	/* No new block starts now; the one in flight lands. */
	r.seq1 = ptt_r64(fd, DMA_REG_SEQ);
	while (ptt_r64(fd, DMA_REG_WRITES) < r.seq1 - r.seq0 &&
	       !(ptt_r32(fd, DMA_REG_STATUS) & DMA_STATUS_FAULT) &&
	       ptt_now_ms() - t0 < PTT_WAIT_MS)
		ptt_sleep_ms(1);
	if (ptt_r32(fd, DMA_REG_STATUS) & DMA_STATUS_FAULT)
		fprintf(stderr, "  dma%u: fault at iova 0x%llx reason %u\n",
			r.index,
			(unsigned long long)ptt_r64(fd, DMA_REG_FAULT_IOVA),
			ptt_r32(fd, DMA_REG_FAULT_REASON));
	ASSERT_EQ(ptt_r32(fd, DMA_REG_STATUS) & DMA_STATUS_FAULT, 0);
	r.writes = ptt_r64(fd, DMA_REG_WRITES);
	ASSERT_EQ(r.writes, r.seq1 - r.seq0);
	ASSERT_GE(r.writes, min_writes);
	return r;
}

/* ---- the oracle ---- */

static inline void ptt_bit_set(uint64_t *bits, uint64_t i)
{
	bits[i / 64] |= 1ULL << (i % 64);
}

static inline bool ptt_bit(const uint64_t *bits, uint64_t i)
{
	return bits[i / 64] & (1ULL << (i % 64));
}

static inline uint64_t *ptt_bits_alloc(const struct ptt_ram *r)
{
	uint64_t *b = calloc((r->npages + 63) / 64, sizeof(uint64_t));

	ASSERT_TRUE(b);
	return b;
}

static inline uint64_t ptt_bits_count(const struct ptt_ram *r,
				      const uint64_t *bits)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < (r->npages + 63) / 64; w++)
		n += (uint64_t)__builtin_popcountll(bits[w]);
	return n;
}

/*
 * Mark in @bits (one per page of @r) every page that holds a whole,
 * well-formed block of run @d (dma_block_check, and a seq of that run).
 * Return: blocks found.
 */
static inline uint64_t ptt_oracle(const struct ptt_ram *r,
				  const struct ptt_dma *d, uint64_t *bits)
{
	uint64_t found = 0;

	for (uint64_t off = 0; off < d->size; off += d->bs) {
		uint64_t iova = d->iova + off;
		const uint8_t *p = r->hva + (iova - r->gpa);
		const struct dma_block *b = (const struct dma_block *)p;

		if (dma_block_check(p, d->bs, d->index, iova) ||
		    b->seq < d->seq0 || b->seq >= d->seq1)
			continue;
		found++;
		for (uint64_t q = iova; q < iova + d->bs; q += PTT_PAGE)
			ptt_bit_set(bits, (q - r->gpa) / PTT_PAGE);
	}
	return found;
}

/*
 * Compare the global bitmap with the oracle over @r: pages the devices
 * wrote that are missing (always a failure: a lost write), and pages
 * reported that nobody wrote, allowed only inside a @granule-aligned block
 * holding a written page (an IOMMU huge leaf is dirty as a whole; 0: none
 * allowed). @cpu: pages the "CPU" dirtied, also expected.
 */
static inline void ptt_expect_bitmap(const struct vmm_dirty *d,
				     const struct ptt_ram *r,
				     const uint64_t *oracle,
				     const uint64_t *cpu, uint64_t granule)
{
	uint64_t missing = 0, extra = 0, gpages = granule / PTT_PAGE;

	for (uint64_t i = 0; i < r->npages; i++) {
		bool want = ptt_bit(oracle, i) || (cpu && ptt_bit(cpu, i));
		bool got = vmm_dirty_test(d, r->gpa + i * PTT_PAGE);
		bool near = false;

		if (want && !got && missing++ < 4)
			fprintf(stderr,
				"  page gpa 0x%llx written, not dirty\n",
				(unsigned long long)(r->gpa + i * PTT_PAGE));
		if (!got || want)
			continue;
		if (gpages) {
			uint64_t g0 =
				(r->gpa / PTT_PAGE + i) / gpages * gpages -
				r->gpa / PTT_PAGE;

			for (uint64_t j = g0; j < g0 + gpages && !near; j++)
				near = j < r->npages && ptt_bit(oracle, j);
		}
		if (!near && extra++ < 4)
			fprintf(stderr,
				"  page gpa 0x%llx dirty, not written\n",
				(unsigned long long)(r->gpa + i * PTT_PAGE));
	}
	EXPECT_EQ(missing, 0);
	EXPECT_EQ(extra, 0);
}

/* ---- reaching behind the VMM's back (failure injection) ---- */

/*
 * The fd of this process on which @cmd with @arg succeeds, trying every
 * open fd: how a test finds the VMM's /dev/iommu or container fd, which
 * vmm.h does not expose. -1 if none.
 */
static inline int ptt_find_fd(unsigned long cmd, void *arg)
{
	for (int fd = 3; fd < 1024; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		if (!ioctl(fd, cmd, arg))
			return fd;
	}
	return -1;
}

/* VFIO_DEVICE_FEATURE on a device fd, as the VMM does it. */
static inline int ptt_feature(int fd, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[1 + 8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	int rc;

	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	if (len)
		memcpy(buf + 1, data, len);
	rc = ioctl(fd, VFIO_DEVICE_FEATURE, buf);
	if (!rc && len)
		memcpy(data, buf + 1, len);
	return rc;
}

#endif
