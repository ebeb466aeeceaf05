/* SPDX-License-Identifier: MIT */
/*
 * migrate.h - live migration of a VM with passthrough devices, source and
 * destination, over any byte channel (src/migrate; docs/migration.md).
 *
 * Source: precopy. The first pass sends all RAM (zero pages as markers);
 * each later pass sends the union of what the vCPUs and the devices dirtied
 * (vmm_dirty_sync); device state that PRE_COPY offers goes along. When what
 * remains (pages and device stop-copy state) fits the downtime limit at the
 * measured bandwidth, or after max_passes, or on request: switchover - stop
 * the vCPUs, move the devices to STOP_COPY (their DMA stops), a final sync,
 * the last pages, the device state, the vCPU state, END.
 *
 * Handover on a two-way channel: the destination checks and loads
 * everything and answers READY without running; only then does the source
 * send GO, and the destination runs and answers RUNNING. Until GO is sent,
 * any failure resumes the source VM. After GO, the source never runs again:
 * if RUNNING does not come back, the outcome is reported as unknown (the
 * destination may be running) rather than risk two running copies.
 * On a one-way channel (file:, a pipe) the source saves and stays stopped;
 * the destination restores and runs.
 */
#ifndef IODIRTY_MIGRATE_H
#define IODIRTY_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm.h"

struct mig_chan;
struct mig_stats;

struct mig_params {
	uint64_t downtime_limit_ms;	/* default 300, as QEMU */
	uint64_t max_bandwidth;		/* bytes per second; 0: unlimited */
	unsigned int max_passes;	/* then switch over anyway; default 30 */
	bool auto_converge;		/* throttle the vCPUs when needed */
	unsigned int throttle_initial;	/* %, default 20 */
	unsigned int throttle_step;	/* %, default 10 */
	unsigned int throttle_max;	/* %, default 99 */
	uint64_t dma_rate_limit;	/* bytes/s per device when needed; 0 off */
	bool verify;			/* per-page hashes at both ends */
	int timeout_ms;			/* a stalled peer; default 10000 */
	/* Called about every 100 ms and at each pass: progress for a UI. */
	void (*progress)(const struct mig_stats *st, void *opaque);
	void *progress_opaque;
	/* Set from another thread (a signal) to switch over now. */
	volatile int *switchover_now;
};

enum mig_outcome {
	MIG_OUTCOME_DONE,		/* the destination runs the VM */
	MIG_OUTCOME_SAVED,		/* one-way: saved; the source stays stopped */
	MIG_OUTCOME_FAILED,		/* the source VM runs as before */
	MIG_OUTCOME_UNKNOWN,		/* GO was sent, no answer: source stopped */
};

enum mig_verdict {
	MIG_VERIFY_OFF,
	MIG_VERIFY_IDENTICAL,
	MIG_VERIFY_DIFFERENT,
};

struct mig_stats {
	/* progress */
	unsigned int pass;
	uint64_t ram_bytes;		/* guest RAM */
	uint64_t bytes_sent;		/* everything written to the channel */
	uint64_t pages_sent;
	uint64_t zero_pages;
	uint64_t remaining_bytes;	/* dirty pages + device state, estimated */
	uint64_t pass_pages;		/* pages this pass sends */
	uint64_t pass_pages_sent;	/* of which sent so far */
	uint64_t bandwidth;		/* bytes per second, this pass so far */
	uint64_t expected_downtime_ms;
	uint64_t cpu_dirty_rate;	/* pages per second, last pass */
	uint64_t dma_dirty_rate;
	uint64_t device_bytes;		/* device state sent */
	unsigned int throttle_pct;	/* vCPU throttle now */
	bool dma_limited;		/* the device DMA rate limit acted */
	bool switching_over;
	/* result */
	uint64_t setup_ms;
	uint64_t total_ms;
	uint64_t downtime_ms;
	uint64_t dest_load_ms;		/* destination only: END to READY */
	uint64_t dest_verify_ms;	/* of which hashing RAM (--verify) */
	unsigned int max_throttle_pct;
	uint64_t cpu_dirty_pages;	/* over the whole migration */
	uint64_t dma_dirty_pages;
	enum vmm_tracker tracker;
	enum mig_verdict verdict;
	uint64_t verify_pages;
	uint64_t verify_mismatch;
	uint64_t verify_first_gpa;	/* first differing page */
	bool dma_seq_continuous;	/* devices' SEQ carried over */
	enum mig_outcome outcome;
};

void mig_params_default(struct mig_params *p);

/**
 * mig_source() - migrate @vm (running, tracker chosen) over @ch.
 * Return: 0 when the outcome is DONE or SAVED; -errno with @msg otherwise
 * (st->outcome says whether the source VM runs again).
 */
int mig_source(struct vmm *vm, struct mig_chan *ch, bool two_way,
	       const struct mig_params *p, struct mig_stats *st, char *msg,
	       size_t msglen);

/**
 * mig_destination() - receive into @vm (created with incoming: nothing
 * running) from @ch; on success the VM runs.
 * Return: 0, or -errno with @msg; the VM never ran then.
 */
int mig_destination(struct vmm *vm, struct mig_chan *ch, bool two_way,
		    const struct mig_params *p, struct mig_stats *st,
		    char *msg, size_t msglen);

#endif
