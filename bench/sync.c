// SPDX-License-Identifier: MIT
/*
 * sync.c - `iodirty bench sync`: what one full dirty sync of a real VM
 * costs per GiB of guest RAM, and how it splits between its two sources:
 * KVM's dirty log (KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG) and the DMA
 * tracker (IOMMU_HWPT_GET_DIRTY_BITMAP, VFIO DMA logging reports, or
 * type1's VFIO_IOMMU_DIRTY_PAGES). The sync timed is vmm_dirty_sync()
 * itself, which reports each source's time (struct vmm_sync_stats);
 * vmm-behaviour.md §4.2, performance-anchors.md sections 0, 3 and 7.
 *
 * Each case is one VM built as `iodirty run` builds it (src/vmm, KVM on
 * /dev/kvm): 2 vCPUs, the RAM writer on one, the device driver on the
 * other, and one passthrough device of the emulated host ("dma-log": its
 * IOMMU tracks dirty bits and it logs its own DMA, so one host serves all
 * three trackers), asked for explicitly:
 *   iommu   iommufd backend, IOMMU dirty bits on the device's HWPT
 *   device  iommufd backend, VFIO DMA logging on the device
 *   type1   legacy container; with an IOMMU-backed device type1 reports
 *           every mapped page dirty, in every sync
 * at two IOMMU leaf sizes. The emulated IOMMU maps the largest leaf the
 * alignment of IOVA and host address allows: 4K rows use plain memfd RAM
 * at a host address that is not 2 MiB-aligned (another VM is built if it
 * happens to be), 2M rows hugetlb RAM (--hugetlb), skipped with the reason
 * when too few 2 MiB huge pages are free.
 *
 * Two rows per case, the VM paused and the device stopped while timed:
 *   clean  nothing written since the last sync;
 *   dirty  the guest wrote PCT% of RAM (its working set, one u64 per
 *          page) and the device DMA-wrote another PCT% (its window, 4 KiB
 *          blocks), disjoint, since the last sync. The window ends 1 MiB
 *          short of a 2 MiB boundary, so the tracker's count proves the
 *          leaf size: 4K leaves report the window, 2M leaves the window
 *          rounded up to 2 MiB.
 * Every sync's counts are checked against what was written (KVM: the
 * working set plus at most SLACK_PAGES of stacks, status and page-table
 * pages; the tracker: exactly the pages above, all of RAM for type1, none
 * when clean); a mismatch fails the run.
 *
 * The limit is a stream read (bench_sum_u64) of the bytes any sync must
 * read at least, timed after each sync: one bitmap of RAM per source
 * (32 KiB per GiB each) and, for the IOMMU tracker, one 8-byte PTE per
 * leaf. Figures are medians over the repetitions (the best in --json too);
 * the ratio is the sync's median over the floor's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/uapi/iodirty_dma.h>
#include <iodirty/vmm.h>

#include "bench.h"

#define NAME "sync"

#define SZ_4K (1ULL << 12)
#define SZ_1M (1ULL << 20)
#define SZ_2M (1ULL << 21)
#define SZ_1G (1ULL << 30)

#define MAX_SIZES    4
#define MIN_SIZE     (256 * SZ_1M)
#define MAX_SIZE     (64 * SZ_1G)
#define MAX_REPS     100
#define DEFAULT_REPS 11
#define QUICK_REPS   5
#define DEFAULT_PCT  1
#define MAX_PCT	     25
#define VCPUS	     2
/* Pages KVM may log beyond the working set: stacks, status, guest PDs. */
#define SLACK_PAGES 16
/* Polling the guest and the device while they dirty; giving up. */
#define POLL_NS		 (200 * 1000)
#define DIRTY_TIMEOUT_NS (60ULL * 1000 * 1000 * 1000)
/* VMs built at once to find RAM that is not 2 MiB-aligned (4K rows). */
#define MAX_TRIES 3

struct sync_tracker {
	const char *name;
	enum vmm_tracker tracker;
	enum vmm_pt_backend backend;
};

static const struct sync_tracker trackers[] = {
	{ "iommu", VMM_TRACKER_IOMMU, VMM_PT_IOMMUFD },
	{ "device", VMM_TRACKER_DEVICE, VMM_PT_IOMMUFD },
	{ "type1", VMM_TRACKER_TYPE1, VMM_PT_LEGACY },
};

static const uint64_t leaf_sizes[] = { SZ_4K, SZ_2M };

struct sync_opts {
	uint64_t sizes[MAX_SIZES]; /* bytes of guest RAM */
	size_t nsizes;
	unsigned int tracker_mask; /* bit i: trackers[i] */
	unsigned int pct;
	uint64_t reps;
	bool json;
};

/* One VM under test. */
struct sync_case {
	const struct sync_tracker *tr;
	uint64_t mem, leaf;
	struct vmm *vm;
	struct vmm_pt *pt;
	struct vmm_dirty global;
	uint64_t ws_pages; /* what the RAM writer dirties per pass */
	uint64_t window; /* bytes the device writes per pass */
	uint64_t nblocks; /* 4 KiB blocks in the window */
	uint64_t seq0, writes0; /* the device's counters when last stopped */
	uint64_t *floor;
	size_t floor_words;
	uint64_t sink;
	struct iod_log log;
};

/* One row of output; times in ns, medians unless named min. */
struct sync_row {
	uint64_t mem, leaf;
	const char *tracker;
	unsigned int pct; /* 0: clean */
	char skipped[200]; /* why, when the row did not run */
	uint64_t cpu_pages, dma_pages, union_pages; /* the last sync's */
	uint64_t dma_expected, cpu_expected;
	uint64_t sync_min, sync_med, kvm_med, pt_med, floor_med;
	uint64_t kvm_bytes, pt_bytes; /* the floor's two parts */
};

static const char *size_name(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= SZ_1G && !(bytes % SZ_1G))
		snprintf(buf, len, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes >= SZ_1M)
		snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%lluK", (unsigned long long)(bytes >> 10));
	return buf;
}

static double per_gib_us(uint64_t mem, uint64_t ns)
{
	return (double)ns / 1000.0 / ((double)mem / (double)SZ_1G);
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ns };

	nanosleep(&ts, NULL);
}

/* A "Name: N kB" (or plain N) line of /proc/meminfo; 0 if missing. */
static uint64_t meminfo(const char *name)
{
	char line[128];
	size_t len = strlen(name);
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ':') {
			v = strtoull(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* ---- the device's registers, from the VMM side ---- */

static int dev_read(struct sync_case *c, uint32_t off, uint64_t *v)
{
	*v = 0;
	return vmm_pt_reg_read(c->pt, 0, off, v, 8);
}

static int dev_ctrl(struct sync_case *c, uint32_t ctrl)
{
	return vmm_pt_reg_write(c->pt, 0, DMA_REG_CTRL, &ctrl, 4);
}

static int dev_status(struct sync_case *c, uint32_t *st)
{
	*st = 0;
	return vmm_pt_reg_read(c->pt, 0, DMA_REG_STATUS, st, 4);
}

/*
 * Stop the engine and wait for the block in flight at the stop: SEQ counts
 * blocks started, WRITES blocks done, and while stopped they differ by the
 * same amount as at the last stop (0 for a device that never faulted).
 */
static int dev_stop(struct sync_case *c)
{
	uint64_t t0 = bench_now_ns(), seq, writes;
	int rc = dev_ctrl(c, 0);

	if (!rc)
		rc = dev_read(c, DMA_REG_SEQ, &seq);
	while (!rc) {
		rc = dev_read(c, DMA_REG_WRITES, &writes);
		if (rc || seq - writes <= c->seq0 - c->writes0)
			break;
		if (bench_now_ns() - t0 > DIRTY_TIMEOUT_NS)
			return -ETIMEDOUT;
		sleep_ns(POLL_NS);
	}
	if (rc)
		return rc;
	c->seq0 = seq;
	c->writes0 = writes;
	return 0;
}

/* ---- building the VM ---- */

static void case_fini(struct sync_case *c)
{
	if (c->vm) {
		vmm_pause(c->vm);
		vmm_dirty_log_stop(c->vm);
		vmm_destroy(c->vm);
	}
	vmm_dirty_destroy(&c->global);
	free(c->floor);
	c->vm = NULL;
	c->floor = NULL;
}

static void case_config(const struct sync_case *c, struct vmm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem = c->mem;
	cfg->vcpus = VCPUS;
	cfg->hugetlb = c->leaf == SZ_2M;
	cfg->ram_ws = c->ws_pages * SZ_4K;
	cfg->ram_rate = 0;
	cfg->dma_window = c->window;
	cfg->dma_rate = 0;
	cfg->dma_block = SZ_4K;
	cfg->dma_pattern = DMA_PATTERN_SEQUENTIAL;
	cfg->ndevices = 1;
	cfg->pt = (struct vmm_pt_config){
		.backend = c->tr->backend,
		.tracker = c->tr->tracker,
		.enable_migration = VMM_AUTO,
		.device_dirty_tracking = true,
		.precopy_dirty_tracking = true,
		.log = &c->log,
	};
	cfg->log = &c->log;
}

/* The host address of guest RAM at GPA 0. */
static uint64_t ram_hva(struct vmm *vm)
{
	uint8_t *hva[VMM_MAX_RAM_REGIONS];

	vmm_ram(vm, NULL, NULL, hva);
	return (uint64_t)(uintptr_t)hva[0];
}

/*
 * A VM whose RAM gets @c->leaf as its largest IOMMU leaf: 4K needs a host
 * address off the 2 MiB grid, 2M one on it but off the 1 GiB grid (a VM
 * that misses is kept while the next is built, so the next lands
 * elsewhere). Return: 0, 1 with @why (the row is skipped), or -errno.
 */
static int case_vm(struct sync_case *c, const struct vmm_config *cfg, char *why,
		   size_t whylen)
{
	struct vmm *spare[MAX_TRIES] = { NULL };
	char msg[VMM_MSG_LEN] = "";
	int rc = 0, tries;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		uint64_t hva;

		rc = vmm_create(cfg, &c->vm, msg, sizeof(msg));
		if (rc)
			break;
		hva = ram_hva(c->vm);
		if (c->leaf == SZ_4K ? hva % SZ_2M != 0 :
				       hva % SZ_2M == 0 && hva % SZ_1G != 0)
			break;
		spare[tries] = c->vm;
		c->vm = NULL;
	}
	for (int i = 0; i < MAX_TRIES; i++)
		vmm_destroy(spare[i]);
	if (rc) {
		snprintf(why, whylen, "%s", msg);
		return cfg->hugetlb && (rc == -ENOMEM || rc == -ENOSPC) ? 1 :
									  rc;
	}
	if (!c->vm) {
		snprintf(
			why, whylen,
			"no guest RAM with %s as its largest IOMMU leaf in %d tries",
			c->leaf == SZ_4K ? "4K" : "2M", MAX_TRIES);
		return 1;
	}
	return 0;
}

/*
 * Build, start and settle the VM: tracker chosen (a blocker skips the
 * row), dirty logging on, vCPUs running until the guest has started its
 * device, then stopped with everything synced once.
 */
static int case_init(struct sync_case *c, const struct sync_tracker *tr,
		     uint64_t mem, uint64_t leaf, unsigned int pct, char *why,
		     size_t whylen)
{
	struct vmm_sync_stats st;
	struct vmm_guest_stats gs;
	struct vmm_config cfg;
	enum vmm_tracker got;
	char msg[VMM_MSG_LEN] = "";
	uint64_t t0, nleaves, fl;
	int rc;

	memset(c, 0, sizeof(*c));
	c->tr = tr;
	c->mem = mem;
	c->leaf = leaf;
	c->log = (struct iod_log){ .fn = iod_log_stderr, .level = IOD_LOG_ERR };
	c->ws_pages = mem / 100 * pct / SZ_4K;
	/* PCT% of RAM, ending 1 MiB short of a 2 MiB boundary. */
	c->window = (mem / 100 * pct) / SZ_2M * SZ_2M;
	if (c->window < SZ_2M)
		c->window = SZ_2M;
	c->window -= SZ_1M;
	c->nblocks = c->window / SZ_4K;
	case_config(c, &cfg);

	rc = case_vm(c, &cfg, why, whylen);
	if (rc)
		return rc;
	c->pt = vmm_passthrough(c->vm);
	rc = vmm_pt_choose_tracker(c->pt, &got, msg, sizeof(msg));
	if (rc || got != tr->tracker) {
		snprintf(why, whylen, "the VM got no %s tracker: %s", tr->name,
			 msg[0] ? msg : "another was chosen");
		return 1;
	}
	rc = vmm_dirty_init_ram(c->vm, &c->global);
	if (rc)
		return rc;
	rc = vmm_dirty_log_start(c->vm, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "iodirty bench " NAME ": %s\n", msg);
		return rc;
	}
	rc = vmm_start(c->vm);
	if (rc)
		return rc;
	for (t0 = bench_now_ns();;) {
		vmm_guest_stats(c->vm, &gs);
		if (gs.dma_started)
			break;
		if (vmm_failed(c->vm) ||
		    bench_now_ns() - t0 > DIRTY_TIMEOUT_NS) {
			fprintf(stderr,
				"iodirty bench " NAME
				": the guest did not start its device: %s\n",
				vmm_failed(c->vm) ? vmm_failed(c->vm) :
						    "timed out");
			return -ETIMEDOUT;
		}
		sleep_ns(POLL_NS);
	}
	/* Stopped: SEQ and WRITES agree (the first stop sets the offset). */
	rc = dev_stop(c);
	if (rc)
		return rc;
	vmm_pause(c->vm);
	rc = vmm_dirty_sync(c->vm, &c->global, &st, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "iodirty bench " NAME ": dirty sync: %s\n",
			msg);
		return rc;
	}

	nleaves = tr->tracker == VMM_TRACKER_IOMMU ? mem / leaf : 0;
	fl = 2 * (mem / SZ_4K / 8) + nleaves * 8;
	c->floor_words = (size_t)(fl / 8);
	c->floor = malloc(c->floor_words * 8);
	if (!c->floor)
		return -ENOMEM;
	for (size_t i = 0; i < c->floor_words; i++)
		c->floor[i] = i * 0x9e3779b97f4a7c15ULL;
	return 0;
}

/*
 * Let the guest write its whole working set and the device its whole
 * window (a pass each, counted from now), then stop both.
 */
static int case_dirty(struct sync_case *c)
{
	struct vmm_guest_stats gs;
	uint64_t t0 = bench_now_ns(), ram0, writes;
	uint32_t st;
	int rc;

	vmm_guest_stats(c->vm, &gs);
	ram0 = gs.ram_pages;
	rc = dev_ctrl(c, DMA_CTRL_RUN);
	if (rc)
		return rc;
	vmm_resume(c->vm);
	for (;;) {
		rc = dev_read(c, DMA_REG_WRITES, &writes);
		if (!rc)
			rc = dev_status(c, &st);
		if (rc)
			break;
		vmm_guest_stats(c->vm, &gs);
		/* +1: a page written before the pause, counted after it. */
		if (writes - c->writes0 >= c->nblocks &&
		    gs.ram_pages - ram0 >= c->ws_pages + 1)
			break;
		if (st & (DMA_STATUS_FAULT | DMA_STATUS_BADCONFIG) ||
		    vmm_failed(c->vm) ||
		    bench_now_ns() - t0 > DIRTY_TIMEOUT_NS) {
			fprintf(stderr,
				"iodirty bench " NAME
				": dirtying stalled: device status 0x%x, %llu of %llu blocks, %llu of %llu pages%s%s\n",
				st, (unsigned long long)(writes - c->writes0),
				(unsigned long long)c->nblocks,
				(unsigned long long)(gs.ram_pages - ram0),
				(unsigned long long)c->ws_pages,
				vmm_failed(c->vm) ? "; " : "",
				vmm_failed(c->vm) ? vmm_failed(c->vm) : "");
			rc = -EIO;
			break;
		}
		sleep_ns(POLL_NS);
	}
	vmm_pause(c->vm);
	if (dev_stop(c) && !rc)
		rc = -EIO;
	return rc;
}

/* What the tracker must report for one sync. */
static uint64_t dma_expected(const struct sync_case *c, unsigned int pct)
{
	if (c->tr->tracker == VMM_TRACKER_TYPE1)
		return c->mem / SZ_4K;
	if (!pct)
		return 0;
	if (c->tr->tracker == VMM_TRACKER_IOMMU)
		return DIV_ROUND_UP(c->window, c->leaf) * c->leaf / SZ_4K;
	return c->window / SZ_4K;
}

static int row_check(const struct sync_case *c, const struct sync_row *row,
		     const struct vmm_sync_stats *st)
{
	char sz[16], lf[16];
	bool cpu_ok = st->cpu_pages >= row->cpu_expected &&
		      st->cpu_pages <= row->cpu_expected + SLACK_PAGES;

	if (cpu_ok && st->dma_pages == row->dma_expected)
		return 0;
	fprintf(stderr,
		"iodirty bench " NAME
		": %s %s %s, %u%% dirty: KVM reported %llu pages (want %llu..%llu), the %s tracker %llu (want %llu)\n",
		size_name(sz, sizeof(sz), c->mem),
		size_name(lf, sizeof(lf), c->leaf), c->tr->name, row->pct,
		(unsigned long long)st->cpu_pages,
		(unsigned long long)row->cpu_expected,
		(unsigned long long)(row->cpu_expected + SLACK_PAGES),
		c->tr->name, (unsigned long long)st->dma_pages,
		(unsigned long long)row->dma_expected);
	return -EIO;
}

static int row_run(struct sync_case *c, unsigned int pct, uint64_t reps,
		   struct sync_row *row)
{
	uint64_t t_sync[MAX_REPS], t_kvm[MAX_REPS], t_pt[MAX_REPS],
		t_floor[MAX_REPS];
	char msg[VMM_MSG_LEN] = "";
	int rc;

	row->pct = pct;
	row->cpu_expected = pct ? c->ws_pages : 0;
	row->dma_expected = dma_expected(c, pct);
	row->kvm_bytes = c->mem / SZ_4K / 8;
	row->pt_bytes = c->floor_words * 8 - row->kvm_bytes;
	for (uint64_t r = 0; r < reps; r++) {
		struct vmm_sync_stats st;
		uint64_t t0;

		if (pct) {
			rc = case_dirty(c);
			if (rc)
				return rc;
		}
		vmm_dirty_clear(&c->global);
		rc = vmm_dirty_sync(c->vm, &c->global, &st, msg, sizeof(msg));
		if (rc) {
			fprintf(stderr,
				"iodirty bench " NAME ": dirty sync: %s\n",
				msg);
			return rc;
		}
		rc = row_check(c, row, &st);
		if (rc)
			return rc;
		t_sync[r] = st.kvm_ns + st.pt_ns;
		t_kvm[r] = st.kvm_ns;
		t_pt[r] = st.pt_ns;
		t0 = bench_now_ns();
		c->sink += bench_sum_u64(c->floor, c->floor_words);
		t_floor[r] = bench_now_ns() - t0;
		row->cpu_pages = st.cpu_pages;
		row->dma_pages = st.dma_pages;
		row->union_pages = st.union_pages;
	}
	row->sync_min = bench_min_u64(t_sync, reps);
	row->sync_med = bench_median_u64(t_sync, reps);
	row->kvm_med = bench_median_u64(t_kvm, reps);
	row->pt_med = bench_median_u64(t_pt, reps);
	row->floor_med = bench_median_u64(t_floor, reps);
	return 0;
}

/* Why a 2M case cannot run here, or "" if it can. */
static void hugetlb_check(uint64_t mem, char *why, size_t len)
{
	uint64_t free_pages = meminfo("HugePages_Free"),
		 page_kb = meminfo("Hugepagesize"), need = mem / SZ_2M;

	why[0] = 0;
	if (page_kb != 2048)
		snprintf(
			why, len,
			"2M IOMMU leaves need hugetlb guest RAM in 2 MiB pages; the default huge page is %llu kB",
			(unsigned long long)page_kb);
	else if (free_pages < need)
		snprintf(
			why, len,
			"2M IOMMU leaves need hugetlb guest RAM: %llu free 2 MiB huge pages, %llu needed (sysctl vm.nr_hugepages)",
			(unsigned long long)free_pages,
			(unsigned long long)need);
}

/* ---- output ---- */

static void print_header(const struct sync_opts *o)
{
	char model[128];

	bench_cpu_model(model, sizeof(model));
	printf("dirty sync of a KVM VM (%d vCPUs, 1 device) per GiB of guest RAM: KVM dirty log + DMA tracker\n",
	       VCPUS);
	printf("cpu: %s, %u online; %llu reps, medians; dirty = guest writes %u%% of RAM and the device DMA-writes %u%% more\n",
	       model, bench_cpu_count(), (unsigned long long)o->reps, o->pct,
	       o->pct);
	printf("floor = stream read of one bitmap per source (+ one PTE per leaf for iommu), after each sync\n\n");
	printf("%4s %4s %-6s %5s %8s %8s %12s %12s %6s %11s %11s %12s %8s\n",
	       "RAM", "leaf", "track", "dirty", "cpu pg", "dma pg",
	       "sync us/GiB", "(best)", "KVM %", "KVM us/GiB", "DMA us/GiB",
	       "floor us/GiB", "x floor");
}

static void print_row(const struct sync_row *row)
{
	char sz[16], lf[16], a[24], b[24], c[24], d[24], e[24], f[24], g[24];
	char dirty[8];

	snprintf(dirty, sizeof(dirty), "%u%%", row->pct);
	if (row->skipped[0]) {
		/* Both rows of a case share the reason: say it once. */
		if (row->pct)
			return;
		snprintf(dirty, sizeof(dirty), "all");
		printf("%4s %4s %-6s %5s skipped: %s\n",
		       size_name(sz, sizeof(sz), row->mem),
		       size_name(lf, sizeof(lf), row->leaf), row->tracker,
		       dirty, row->skipped);
		fflush(stdout);
		return;
	}
	printf("%4s %4s %-6s %5s %8llu %8llu %12s %12s %6s %11s %11s %12s %8s\n",
	       size_name(sz, sizeof(sz), row->mem),
	       size_name(lf, sizeof(lf), row->leaf), row->tracker, dirty,
	       (unsigned long long)row->cpu_pages,
	       (unsigned long long)row->dma_pages,
	       bench_fmt(a, sizeof(a), per_gib_us(row->mem, row->sync_med)),
	       bench_fmt(b, sizeof(b), per_gib_us(row->mem, row->sync_min)),
	       bench_fmt(
		       c, sizeof(c),
		       100.0 * ratio(row->kvm_med, row->kvm_med + row->pt_med)),
	       bench_fmt(d, sizeof(d), per_gib_us(row->mem, row->kvm_med)),
	       bench_fmt(e, sizeof(e), per_gib_us(row->mem, row->pt_med)),
	       bench_fmt(f, sizeof(f), per_gib_us(row->mem, row->floor_med)),
	       bench_fmt(g, sizeof(g), ratio(row->sync_med, row->floor_med)));
	fflush(stdout);
}

/* The floor's time split by bytes: each source against its own share. */
static uint64_t floor_part(const struct sync_row *row, uint64_t bytes)
{
	return (uint64_t)((double)row->floor_med * (double)bytes /
			  (double)(row->kvm_bytes + row->pt_bytes));
}

static void print_footer(const struct sync_row *rows, size_t nrows)
{
	char sz[16], lf[16], a[24], b[24];

	printf("\neach source against its share of the floor (its bitmap; + PTEs for iommu):\n");
	for (size_t i = 0; i < nrows; i++) {
		const struct sync_row *row = &rows[i];

		if (row->skipped[0])
			continue;
		printf("  %4s %4s %-6s %3u%%: KVM %sx, DMA tracker %sx\n",
		       size_name(sz, sizeof(sz), row->mem),
		       size_name(lf, sizeof(lf), row->leaf), row->tracker,
		       row->pct,
		       bench_fmt(a, sizeof(a),
				 ratio(row->kvm_med,
				       floor_part(row, row->kvm_bytes))),
		       bench_fmt(b, sizeof(b),
				 ratio(row->pt_med,
				       floor_part(row, row->pt_bytes))));
	}
}

static void print_json(const struct sync_opts *o, const struct sync_row *rows,
		       size_t nrows)
{
	struct json j;

	bench_json_begin(&j, NAME);
	json_u64(&j, "vcpus", VCPUS);
	json_u64(&j, "reps", o->reps);
	json_u64(&j, "dirty_pct_per_source", o->pct);
	json_open(&j, "rows", '[');
	for (size_t i = 0; i < nrows; i++) {
		const struct sync_row *row = &rows[i];

		json_open(&j, NULL, '{');
		json_u64(&j, "mem_mib", row->mem >> 20);
		json_u64(&j, "leaf", row->leaf);
		json_str(&j, "tracker", row->tracker);
		json_u64(&j, "dirty_pct", row->pct);
		json_str(&j, "skipped", row->skipped);
		if (!row->skipped[0]) {
			json_u64(&j, "cpu_pages", row->cpu_pages);
			json_u64(&j, "dma_pages", row->dma_pages);
			json_u64(&j, "union_pages", row->union_pages);
			json_u64(&j, "dma_pages_expected", row->dma_expected);
			json_double(&j, "sync_us_per_gib",
				    per_gib_us(row->mem, row->sync_med));
			json_double(&j, "sync_us_per_gib_best",
				    per_gib_us(row->mem, row->sync_min));
			json_double(&j, "kvm_us_per_gib",
				    per_gib_us(row->mem, row->kvm_med));
			json_double(&j, "dma_us_per_gib",
				    per_gib_us(row->mem, row->pt_med));
			json_double(&j, "kvm_share",
				    ratio(row->kvm_med,
					  row->kvm_med + row->pt_med));
			json_u64(&j, "floor_bytes",
				 row->kvm_bytes + row->pt_bytes);
			json_double(&j, "floor_us_per_gib",
				    per_gib_us(row->mem, row->floor_med));
			json_double(&j, "ratio_to_floor",
				    ratio(row->sync_med, row->floor_med));
			json_double(&j, "kvm_ratio_to_floor",
				    ratio(row->kvm_med,
					  floor_part(row, row->kvm_bytes)));
			json_double(&j, "dma_ratio_to_floor",
				    ratio(row->pt_med,
					  floor_part(row, row->pt_bytes)));
		}
		json_close(&j);
	}
	json_close(&j);
	json_close(&j);
}

/* ---- command line ---- */

/* "iommu,type1" into the unsigned int mask at @dst (bit i: trackers[i]). */
static int parse_trackers(const char *val, void *dst)
{
	unsigned int mask = 0;
	char buf[64], *tok, *save = NULL;

	if (strlen(val) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, val, strlen(val) + 1);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t t;

		for (t = 0; t < ARRAY_SIZE(trackers); t++)
			if (!strcmp(tok, trackers[t].name))
				break;
		if (t == ARRAY_SIZE(trackers))
			return -EINVAL;
		mask |= 1U << t;
	}
	if (!mask)
		return -EINVAL;
	*(unsigned int *)dst = mask;
	return 0;
}

static enum bench_args sync_parse(int argc, char **argv, struct sync_opts *o)
{
	uint64_t pct = DEFAULT_PCT;
	bool quick = false;
	const struct bench_opt opts[] = {
		{ .name = "--json", .kind = BENCH_OPT_FLAG, .dst = &o->json },
		{ .name = "--quick", .kind = BENCH_OPT_FLAG, .dst = &quick },
		{ .name = "--sizes",
		  .kind = BENCH_OPT_SIZE_LIST,
		  .dst = o->sizes,
		  .n = &o->nsizes,
		  .max_n = MAX_SIZES,
		  .min = MIN_SIZE,
		  .max = MAX_SIZE,
		  .align = SZ_2M,
		  .hint = "up to " BENCH_STR(
			  MAX_SIZES) " sizes, multiples of 2M from 256M to 64G, like 1G,4G" },
		{ .name = "--trackers",
		  .kind = BENCH_OPT_FN,
		  .dst = &o->tracker_mask,
		  .parse = parse_trackers,
		  .hint = "a list of iommu, device, type1" },
		{ .name = "--dirty",
		  .kind = BENCH_OPT_U64,
		  .dst = &pct,
		  .min = 1,
		  .max = MAX_PCT,
		  .hint = "a percentage 1.." BENCH_STR(MAX_PCT) },
		BENCH_OPT_REPS(&o->reps, MAX_REPS),
	};
	enum bench_args rc;

	memset(o, 0, sizeof(*o));
	o->tracker_mask = (1U << ARRAY_SIZE(trackers)) - 1;
	rc = bench_args_parse(NAME, BENCH_SYNC_USAGE, argc, argv, opts,
			      ARRAY_SIZE(opts));
	if (rc != BENCH_ARGS_RUN)
		return rc;
	o->pct = (unsigned int)pct;
	/* 512M: its 2M rows need only 256 free huge pages. */
	if (!o->nsizes) {
		o->sizes[o->nsizes++] = SZ_1G / 2;
		o->sizes[o->nsizes++] = SZ_1G;
		if (!quick)
			o->sizes[o->nsizes++] = 4 * SZ_1G;
	}
	if (!o->reps)
		o->reps = quick ? QUICK_REPS : DEFAULT_REPS;
	return BENCH_ARGS_RUN;
}

/* Both rows of one case, or both skipped with the same reason. */
static int case_rows(const struct sync_opts *o, const struct sync_tracker *tr,
		     uint64_t mem, uint64_t leaf, struct sync_row *rows)
{
	char why[sizeof(rows[0].skipped)] = "";
	struct sync_case c;
	int rc = 0;

	for (int k = 0; k < 2; k++) {
		rows[k].mem = mem;
		rows[k].leaf = leaf;
		rows[k].tracker = tr->name;
		rows[k].pct = k ? o->pct : 0;
	}
	if (leaf == SZ_2M)
		hugetlb_check(mem, why, sizeof(why));
	if (!why[0]) {
		rc = case_init(&c, tr, mem, leaf, o->pct, why, sizeof(why));
		if (!rc) {
			rc = row_run(&c, 0, o->reps, &rows[0]);
			if (!rc)
				rc = row_run(&c, o->pct, o->reps, &rows[1]);
		}
		case_fini(&c);
	}
	if (rc == 1 || (!rc && why[0])) {
		for (int k = 0; k < 2; k++)
			snprintf(rows[k].skipped, sizeof(rows[k].skipped), "%s",
				 why);
		rc = 0;
	} else if (rc < 0 && why[0]) {
		fprintf(stderr, "iodirty bench " NAME ": %s\n", why);
	}
	return rc;
}

int bench_sync(int argc, char **argv)
{
	char msg[VMM_MSG_LEN] = "";
	struct sync_opts o;
	struct sync_row *rows;
	size_t nrows = 0;
	int rc;

	rc = sync_parse(argc, argv, &o);
	if (rc != BENCH_ARGS_RUN)
		return rc == BENCH_ARGS_HELP ? 0 : 2;
	if (vmm_available(msg, sizeof(msg))) {
		fprintf(stderr, "iodirty bench " NAME ": %s\n", msg);
		return 1;
	}
	rows = calloc(o.nsizes * ARRAY_SIZE(leaf_sizes) * ARRAY_SIZE(trackers) *
			      2,
		      sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "iodirty bench " NAME ": out of memory\n");
		return 1;
	}
	/* The emulated host, read once at the first open of one of its nodes. */
	setenv("IODIRTY_DEVICES", "dma-log", 1);
	setenv("IODIRTY_IOMMU", "amd", 1);
	setenv("IODIRTY_FORCE", "1", 1);
	if (!o.json)
		print_header(&o);
	for (size_t s = 0; s < o.nsizes && !rc; s++) {
		for (size_t l = 0; l < ARRAY_SIZE(leaf_sizes) && !rc; l++) {
			for (size_t t = 0; t < ARRAY_SIZE(trackers) && !rc;
			     t++) {
				if (!(o.tracker_mask & (1U << t)))
					continue;
				rc = case_rows(&o, &trackers[t], o.sizes[s],
					       leaf_sizes[l], &rows[nrows]);
				if (rc)
					break;
				if (!o.json) {
					print_row(&rows[nrows]);
					print_row(&rows[nrows + 1]);
				}
				nrows += 2;
			}
		}
	}
	if (rc) {
		fprintf(stderr, "iodirty bench " NAME ": failed: %s\n",
			strerror(rc < 0 ? -rc : EIO));
	} else if (o.json) {
		print_json(&o, rows, nrows);
	} else {
		print_footer(rows, nrows);
	}
	free(rows);
	return rc ? 1 : 0;
}
