/* SPDX-License-Identifier: MIT */
/*
 * dev_private.h - the insides of a DMA device, shared by its engine
 * (dma_engine.c), its dirty log (dma_log.c) and its state (dma_state.c).
 *
 * Locks: @lock guards the engine's control state and the registers it
 * changes; @log_lock guards the dirty log and nests inside nothing (the
 * engine takes it with @lock released, after each DMA write).
 */
#ifndef IODIRTY_DEV_PRIVATE_H
#define IODIRTY_DEV_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include <iodirty/dev.h>

struct dma_log {
	struct dma_log_range range[DMA_LOG_MAX_RANGES];
	uint64_t *bits[DMA_LOG_MAX_RANGES];	/* one bit per page */
	unsigned int n;
	unsigned int pgshift;
};

struct dma_dev {
	uint32_t index;
	uint32_t caps;
	const struct iod_log *log;
	int bar_fd;
	uint8_t *bar;			/* BAR0, shared memfd page */
	uint64_t *block;		/* the engine's DMA buffer */

	pthread_mutex_t lock;
	pthread_cond_t wake;		/* engine: something to do */
	pthread_cond_t idle;		/* no DMA in flight */
	pthread_t thread;
	bool running;			/* engine started (CTRL.RUN honoured) */
	bool quiesced;			/* stopped for migration */
	bool in_flight;
	unsigned int holds;		/* waiters in dma_engine_wait_idle() */
	bool exiting;
	uint64_t rng;
	struct dma_path path;
	uint64_t rate_t0, rate_bytes, rate_bps;

	uint8_t *state;			/* STATE_SIZE bytes of internal state */
	uint64_t state_size;
	uint64_t *chunk_dirty;		/* pre-copy: changed chunks, or NULL */

	pthread_mutex_t log_lock;
	atomic_bool logging;
	struct dma_log dlog;
};

uint64_t dma_reg_get64(struct dma_dev *d, uint32_t off);
uint32_t dma_reg_get32(struct dma_dev *d, uint32_t off);
void dma_reg_set64(struct dma_dev *d, uint32_t off, uint64_t v);
void dma_reg_set32(struct dma_dev *d, uint32_t off, uint32_t v);

/*
 * dma_engine.c: wait, with @lock held, until no DMA is in flight; the
 * engine starts no new block meanwhile.
 */
void dma_engine_wait_idle(struct dma_dev *d);

/* dma_engine.c: STATUS.RUNNING and QUIESCED from the engine's state. */
void dma_status_update(struct dma_dev *d);

/* dma_log.c: record a completed DMA write in the device's own log. */
void dma_log_record(struct dma_dev *d, uint64_t iova, uint64_t len);

/* dma_state.c: the internal state blob; called with @lock held. */
int dma_state_resize(struct dma_dev *d, uint64_t size);
void dma_state_touch(struct dma_dev *d, uint64_t seq);

#endif
