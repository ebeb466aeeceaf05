/* SPDX-License-Identifier: MIT */
/*
 * mig_case.h - one live migration of our VMM for a benchmark (bench/
 * migrate.c, bench/vs_qemu.c): the source VM in this process, the
 * destination `iodirty incoming` in a child process on loopback TCP, as
 * `iodirty migrate --local` runs them (src/cli/cmd-migrate.c).
 */
#ifndef IODIRTY_BENCH_MIG_CASE_H
#define IODIRTY_BENCH_MIG_CASE_H

#include <stdbool.h>
#include <stdint.h>

#include <iodirty/migrate.h>

/* Guest RAM below this holds the payload, its tables and stacks. */
#define MIG_CASE_RESERVED (2ULL << 20)

/* The emulated host's devices, the same for every case of a run. */
#define MIG_CASE_DEVICES "dma"

struct mig_case {
	const char *name;
	uint64_t mem;
	uint64_t ram_ws; /* bytes the RAM writer dirties */
	uint64_t ram_rate; /* pages per second */
	unsigned int ndevices; /* 0 or 1 */
	uint64_t dma_window; /* bytes the device writes */
	uint64_t dma_rate; /* bytes per second */
	bool fill; /* write every page of RAM before the boot */
	unsigned int warmup_ms; /* running before the migration starts */
	uint64_t downtime_limit_ms;
};

struct mig_case_result {
	struct mig_stats st;
	int rc;
	char msg[512];
	uint64_t fill_ns; /* writing RAM before the boot */
	uint64_t fill_bytes;
	uint64_t warmup_pages; /* the guest wrote during the warm-up */
	uint64_t warmup_ns;
	/* The first pass: every page of RAM, as the source measured it. */
	bool pass1_seen;
	uint64_t pass1_wire_bytes;
	uint64_t pass1_ns;
	uint64_t pass1_pages, pass1_zero_pages;
	/* The destination's own report (its --json). */
	bool dest_ok;
	uint64_t dest_guest_pages_after; /* the guest ran there */
	uint64_t dest_dma_bad;
	char dest_report[1024]; /* when it failed */
};

/**
 * mig_case_run() - build the VM of @c (fill its RAM first if asked), start
 * the destination, run the guest for the warm-up, migrate, wait for the
 * destination to run the guest and exit.
 * Return: 0 when the migration is done and the destination ran the guest
 * without a bad DMA block; -errno with @r->msg otherwise.
 */
int mig_case_run(const struct mig_case *c, struct mig_case_result *r);

/** mig_case_wire_bps() - first-pass wire bytes per second, 0 if unseen. */
double mig_case_wire_bps(const struct mig_case_result *r);

/** mig_case_ram_bps() - first-pass guest-RAM bytes per second. */
double mig_case_ram_bps(const struct mig_case_result *r);

#endif
