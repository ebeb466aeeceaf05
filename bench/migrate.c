// SPDX-License-Identifier: MIT
/*
 * migrate.c - `iodirty bench migrate`: live migration of a KVM VM over
 * loopback TCP, end to end (issue 6; migrate.h, docs/migration.md): total
 * time, downtime, bytes, and the first pass's throughput against raw
 * loopback TCP measured in the same run (mig_loopback_tcp_throughput: one
 * thread sending, one receiving, 1 MiB per call), the physical limit.
 *
 * Each row is one migration (mig_case.c): 1 vCPU, the source in this
 * process, the destination `iodirty incoming` in a child, 300 ms downtime
 * limit, no bandwidth cap, no verification (the destination's guest keeps
 * running its own checks: a row fails if it does not run, or sees a bad
 * DMA block). Guest RAM is filled before the boot (mig_case.c says how and
 * why), so that the first pass moves data, not zero markers. Workloads:
 *   idle     the RAM writer at 100 pages/s over 64 KiB, no device
 *   cpu      the RAM writer at 5000 pages/s (~20 MB/s) over 256 MiB
 *   dma      idle, plus one passthrough device DMA-writing 16 MiB at
 *            16 MiB/s (the tracker chosen as QEMU would)
 *   cpu+dma  both
 * The first pass is reported as wire bytes per second and as guest-RAM
 * bytes per second (every page of RAM, 4 KiB each, over the same time);
 * its ratio to the loopback figure measured right before the row is the
 * target's measure: at least 0.80. The downtime target (under the limit)
 * applies where the workload can converge: where what it dirties per
 * second is under half the first pass's wire rate.
 *
 * CPUs: the guest paces itself by spinning on rdtsc, so the source's vCPU
 * thread takes a CPU all the time, and the destination's from the handover
 * on; the header says what shares this machine's CPUs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <iodirty/migrate.h>
#include <iodirty/vmm.h>

#include "../src/migrate/transport.h"
#include "bench.h"
#include "mig_case.h"

#define NAME "migrate"

#define SZ_64K (64ULL << 10)
#define SZ_1M  (1ULL << 20)
#define SZ_1G  (1ULL << 30)

#define MAX_REPS       9
#define MAX_ROWS       8
#define LOOPBACK_BYTES (256 * SZ_1M)
#define LOOPBACK_REPS  3
#define DOWNTIME_LIMIT 300
#define WARMUP_MS      1000
#define TARGET_RATIO   0.80

struct workload {
	const char *name;
	uint64_t ram_ws, ram_rate;
	unsigned int ndevices;
	uint64_t dma_rate;
};

static const struct workload workloads[] = {
	{ "idle", SZ_64K, 100, 0, 0 },
	{ "cpu", 256 * SZ_1M, 5000, 0, 0 },
	{ "dma", SZ_64K, 100, 1, 16 * SZ_1M },
	{ "cpu+dma", 256 * SZ_1M, 5000, 1, 16 * SZ_1M },
};

/* Which rows a run has: guest size and workload index. */
struct plan {
	uint64_t mem;
	unsigned int wl;
};

static const struct plan plan_default[] = {
	{ SZ_1G, 0 }, { SZ_1G, 1 },	{ SZ_1G, 2 },
	{ SZ_1G, 3 }, { 4 * SZ_1G, 0 }, { 4 * SZ_1G, 3 },
};

static const struct plan plan_quick[] = {
	{ SZ_1G, 0 },
	{ SZ_1G, 3 },
};

struct row {
	uint64_t mem;
	const struct workload *wl;
	unsigned int reps, failed;
	char error[512];
	/* medians over the repetitions that succeeded */
	uint64_t total_ms, downtime_ms, setup_ms, passes, bytes_sent;
	uint64_t wire_bps, ram_bps, loop_bps;
	uint64_t ratio_ppm; /* first-pass wire / loopback */
	uint64_t fill_ms;
	uint64_t dirty_pps; /* the guest's own count, warm-up */
	uint64_t zero_pages; /* first pass, last repetition */
	uint64_t dest_pages_after;
	const char *tracker;
	bool can_converge, ratio_met, downtime_met;
};

struct opts {
	bool json, quick;
	unsigned int reps;
};

static double loadavg1(void)
{
	double l[1] = { 0 };

	return getloadavg(l, 1) == 1 ? l[0] : 0;
}

/* Loopback TCP: median of LOOPBACK_REPS transfers. */
static int loopback(uint64_t *bps)
{
	uint64_t v[LOOPBACK_REPS];

	for (int i = 0; i < LOOPBACK_REPS; i++) {
		double b = 0;
		int rc = mig_loopback_tcp_throughput(LOOPBACK_BYTES, &b);

		if (rc)
			return rc;
		v[i] = (uint64_t)b;
	}
	*bps = bench_median_u64(v, LOOPBACK_REPS);
	return 0;
}

static void row_run(struct row *row, uint64_t mem, const struct workload *wl,
		    unsigned int reps)
{
	uint64_t total[MAX_REPS], down[MAX_REPS], setup[MAX_REPS],
		passes[MAX_REPS], bytes[MAX_REPS], wire[MAX_REPS],
		ram[MAX_REPS], loop[MAX_REPS], ratio[MAX_REPS], fill[MAX_REPS],
		dirty[MAX_REPS];
	struct mig_case c = {
		.name = wl->name,
		.mem = mem,
		.ram_ws = wl->ram_ws,
		.ram_rate = wl->ram_rate,
		.ndevices = wl->ndevices,
		.dma_window = 16 * SZ_1M,
		.dma_rate = wl->ndevices ? wl->dma_rate : 64 * SZ_1M,
		.fill = true,
		.warmup_ms = WARMUP_MS,
		.downtime_limit_ms = DOWNTIME_LIMIT,
	};
	unsigned int n = 0;

	memset(row, 0, sizeof(*row));
	row->mem = mem;
	row->wl = wl;
	row->reps = reps;
	row->tracker = "none";
	for (unsigned int i = 0; i < reps; i++) {
		struct mig_case_result r;
		int rc;

		rc = loopback(&loop[n]);
		if (rc) {
			snprintf(row->error, sizeof(row->error),
				 "loopback TCP: %s", strerror(-rc));
			row->failed++;
			continue;
		}
		rc = mig_case_run(&c, &r);
		if (rc || !r.pass1_seen) {
			snprintf(row->error, sizeof(row->error), "%s",
				 rc ? r.msg : "no first-pass figures");
			row->failed++;
			continue;
		}
		total[n] = r.st.total_ms;
		down[n] = r.st.downtime_ms;
		setup[n] = r.st.setup_ms;
		passes[n] = r.st.pass;
		bytes[n] = r.st.bytes_sent;
		wire[n] = (uint64_t)mig_case_wire_bps(&r);
		ram[n] = (uint64_t)mig_case_ram_bps(&r);
		ratio[n] = loop[n] ? wire[n] * 1000000 / loop[n] : 0;
		fill[n] = r.fill_ns / 1000000;
		dirty[n] = r.warmup_ns ? r.warmup_pages * 1000000000ULL /
						 r.warmup_ns :
					 0;
		row->zero_pages = r.pass1_zero_pages;
		row->dest_pages_after = r.dest_guest_pages_after;
		row->tracker = vmm_tracker_name(r.st.tracker);
		n++;
	}
	if (!n)
		return;
	row->total_ms = bench_median_u64(total, n);
	row->downtime_ms = bench_median_u64(down, n);
	row->setup_ms = bench_median_u64(setup, n);
	row->passes = bench_median_u64(passes, n);
	row->bytes_sent = bench_median_u64(bytes, n);
	row->wire_bps = bench_median_u64(wire, n);
	row->ram_bps = bench_median_u64(ram, n);
	row->loop_bps = bench_median_u64(loop, n);
	row->ratio_ppm = bench_median_u64(ratio, n);
	row->fill_ms = bench_median_u64(fill, n);
	row->dirty_pps = bench_median_u64(dirty, n);
	row->can_converge =
		(wl->ram_rate * VMM_PAGE_SIZE + wl->ndevices * wl->dma_rate) *
			2 <
		row->wire_bps;
	row->ratio_met = row->ratio_ppm >= (uint64_t)(TARGET_RATIO * 1e6);
	row->downtime_met = row->downtime_ms <= DOWNTIME_LIMIT;
}

static double mbs(uint64_t bps)
{
	return (double)bps / 1e6;
}

static void print_header(const struct opts *o, double load)
{
	char model[128];

	bench_cpu_model(model, sizeof(model));
	printf("live migration over loopback TCP: source here, destination `iodirty incoming` in a child; 1 vCPU, downtime limit %d ms, no bandwidth cap\n",
	       DOWNTIME_LIMIT);
	printf("cpu: %s, %u online; load average %.1f; %u rep%s per row, medians\n",
	       model, bench_cpu_count(), load, o->reps,
	       o->reps == 1 ? "" : "s");
	printf("RAM: every page outside the payload's 2 MiB and the DMA window written before the boot (4 KiB pattern + GPA), so the first pass moves data, not zero markers\n");
	printf("CPUs shared by: the source vCPU (spins: the guest paces itself on rdtsc and never halts), the sending thread, the device's DMA engine (dma rows), the destination process (its vCPU spins too after the handover), the kernel's loopback TCP, and whatever else runs here\n");
	printf("loopback = raw TCP over 127.0.0.1, one sending and one receiving thread and no vCPU, %u x %llu MiB right before each migration (median)\n",
	       LOOPBACK_REPS, (unsigned long long)(LOOPBACK_BYTES >> 20));
	printf("workloads: idle = RAM writer 100 pages/s over 64 KiB; cpu = 5000 pages/s over 256 MiB; dma = one device writing 16 MiB at 16 MiB/s\n\n");
	printf("%4s %-8s %7s %6s %8s %6s %8s %9s %10s %9s %9s %6s %s\n", "RAM",
	       "workload", "dirty/s", "passes", "total ms", "down", "sent MB",
	       "p1 wire", "p1 RAM", "loopback", "fill ms", "ratio", "targets");
	printf("%4s %-8s %7s %6s %8s %6s %8s %9s %10s %9s %9s %6s\n", "", "",
	       "(pages)", "", "", "ms", "", "MB/s", "MB/s", "MB/s", "", "");
}

static void print_row(const struct row *r)
{
	char a[24], b[24], c[24], d[24], e[24];

	if (!r->reps || r->failed == r->reps) {
		printf("%3lluG %-8s FAILED: %s\n",
		       (unsigned long long)(r->mem >> 30), r->wl->name,
		       r->error);
		fflush(stdout);
		return;
	}
	printf("%3lluG %-8s %7llu %6llu %8llu %6llu %8s %9s %10s %9s %9llu %6s %s, %s%s\n",
	       (unsigned long long)(r->mem >> 30), r->wl->name,
	       (unsigned long long)r->dirty_pps, (unsigned long long)r->passes,
	       (unsigned long long)r->total_ms,
	       (unsigned long long)r->downtime_ms,
	       bench_fmt(a, sizeof(a), mbs(r->bytes_sent)),
	       bench_fmt(b, sizeof(b), mbs(r->wire_bps)),
	       bench_fmt(c, sizeof(c), mbs(r->ram_bps)),
	       bench_fmt(d, sizeof(d), mbs(r->loop_bps)),
	       (unsigned long long)r->fill_ms,
	       bench_fmt(e, sizeof(e), (double)r->ratio_ppm / 1e6),
	       r->ratio_met ? "p1 >= 80%: met" : "p1 >= 80%: NOT met",
	       !r->can_converge ? "downtime: n/a (cannot converge)" :
	       r->downtime_met	? "downtime: met" :
				  "downtime: NOT met",
	       r->failed ? " (some reps failed)" : "");
	fflush(stdout);
}

static void print_summary(const struct row *rows, size_t n, double load0,
			  double load1)
{
	unsigned int ok = 0, ratio = 0, conv = 0, down = 0;

	for (size_t i = 0; i < n; i++) {
		if (!rows[i].reps || rows[i].failed == rows[i].reps)
			continue;
		ok++;
		ratio += rows[i].ratio_met;
		conv += rows[i].can_converge;
		down += rows[i].can_converge && rows[i].downtime_met;
	}
	printf("\ntarget: first pass >= %.0f%% of loopback TCP: %s (%u of %u rows)\n",
	       TARGET_RATIO * 100, ok && ratio == ok ? "met" : "NOT met", ratio,
	       ok);
	printf("target: downtime under %d ms where the workload can converge: %s (%u of %u rows)\n",
	       DOWNTIME_LIMIT, conv && down == conv ? "met" : "NOT met", down,
	       conv);
	printf("load average %.1f at the start, %.1f at the end\n", load0,
	       load1);
}

static void print_json(const struct opts *o, const struct row *rows, size_t n,
		       double load0, double load1)
{
	struct json j;

	bench_json_begin(&j, NAME);
	json_double(&j, "loadavg_start", load0);
	json_double(&j, "loadavg_end", load1);
	json_u64(&j, "reps", o->reps);
	json_u64(&j, "vcpus", 1);
	json_u64(&j, "downtime_limit_ms", DOWNTIME_LIMIT);
	json_str(
		&j, "ram_fill",
		"every page outside the payload's 2 MiB and the DMA window written before the boot");
	json_double(&j, "target_ratio", TARGET_RATIO);
	json_open(&j, "rows", '[');
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		bool failed = !r->reps || r->failed == r->reps;

		json_open(&j, NULL, '{');
		json_u64(&j, "mem_mib", r->mem >> 20);
		json_str(&j, "workload", r->wl->name);
		json_u64(&j, "ram_ws", r->wl->ram_ws);
		json_u64(&j, "ram_rate_pages_per_s", r->wl->ram_rate);
		json_u64(&j, "devices", r->wl->ndevices);
		json_u64(&j, "dma_rate", r->wl->dma_rate);
		json_u64(&j, "reps_failed", r->failed);
		json_str(&j, "error", failed ? r->error : "");
		if (!failed) {
			json_str(&j, "tracker", r->tracker);
			json_u64(&j, "guest_dirty_pages_per_s", r->dirty_pps);
			json_u64(&j, "passes", r->passes);
			json_u64(&j, "total_ms", r->total_ms);
			json_u64(&j, "downtime_ms", r->downtime_ms);
			json_u64(&j, "setup_ms", r->setup_ms);
			json_u64(&j, "bytes_sent", r->bytes_sent);
			json_u64(&j, "first_pass_zero_pages", r->zero_pages);
			json_u64(&j, "first_pass_wire_bytes_per_s",
				 r->wire_bps);
			json_u64(&j, "first_pass_ram_bytes_per_s", r->ram_bps);
			json_u64(&j, "loopback_tcp_bytes_per_s", r->loop_bps);
			json_double(&j, "first_pass_ratio",
				    (double)r->ratio_ppm / 1e6);
			json_u64(&j, "fill_ms", r->fill_ms);
			json_u64(&j, "dest_guest_pages_after",
				 r->dest_pages_after);
			json_u64(&j, "can_converge", r->can_converge);
			json_u64(&j, "ratio_target_met", r->ratio_met);
			json_u64(&j, "downtime_target_met",
				 r->can_converge && r->downtime_met);
		}
		json_close(&j);
	}
	json_close(&j);
	json_close(&j);
}

int bench_migrate(int argc, char **argv)
{
	struct opts o = { .reps = 0 };
	uint64_t reps = 1;
	const struct bench_opt opts[] = {
		{ .name = "--json", .kind = BENCH_OPT_FLAG, .dst = &o.json },
		{ .name = "--quick", .kind = BENCH_OPT_FLAG, .dst = &o.quick },
		BENCH_OPT_REPS(&reps, MAX_REPS),
	};
	struct row rows[MAX_ROWS];
	const struct plan *plan;
	char msg[VMM_MSG_LEN];
	size_t nplan, n = 0;
	double load0, load1;
	bool any_failed = false;
	enum bench_args rc;

	rc = bench_args_parse(NAME, BENCH_MIGRATE_USAGE, argc, argv, opts,
			      ARRAY_SIZE(opts));
	if (rc != BENCH_ARGS_RUN)
		return rc == BENCH_ARGS_HELP ? 0 : 2;
	o.reps = (unsigned int)reps;
	if (vmm_available(msg, sizeof(msg))) {
		printf("bench " NAME ": skipped: %s\n", msg);
		return 0;
	}
	plan = o.quick ? plan_quick : plan_default;
	nplan = o.quick ? ARRAY_SIZE(plan_quick) : ARRAY_SIZE(plan_default);
	load0 = loadavg1();
	if (!o.json)
		print_header(&o, load0);
	for (size_t i = 0; i < nplan; i++) {
		struct row *r = &rows[n++];

		row_run(r, plan[i].mem, &workloads[plan[i].wl], o.reps);
		any_failed |= r->failed > 0;
		if (!o.json)
			print_row(r);
	}
	load1 = loadavg1();
	if (o.json)
		print_json(&o, rows, n, load0, load1);
	else
		print_summary(rows, n, load0, load1);
	return any_failed ? 1 : 0;
}
