// SPDX-License-Identifier: MIT
/*
 * dma_engine.c - a PCI function that DMAs: a register page (BAR0, see
 * include/iodirty/dev.h), and an engine thread that writes checksummed,
 * sequence-numbered blocks into an IOVA window through whatever path the
 * device's DMA takes (its IOMMU domain, or a vendor driver's pins).
 *
 * Registers live in a shared memfd page so that a mapping of BAR0 (the
 * VMM's, the guest's) and the device see the same bytes; the engine polls
 * CTRL while idle, looks at it before each block, and acts on pwrite() at
 * once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/dev.h>
#include <iodirty/err.h>

#include "dev_private.h"

enum { IDLE_POLL_NS = 1000 * 1000 };

static inline uint64_t *reg64(struct dma_dev *d, uint32_t off)
{
	return (uint64_t *)(d->bar + off);
}

static inline uint32_t *reg32(struct dma_dev *d, uint32_t off)
{
	return (uint32_t *)(d->bar + off);
}

uint64_t dma_reg_get64(struct dma_dev *d, uint32_t off)
{
	return __atomic_load_n(reg64(d, off), __ATOMIC_ACQUIRE);
}

uint32_t dma_reg_get32(struct dma_dev *d, uint32_t off)
{
	return __atomic_load_n(reg32(d, off), __ATOMIC_ACQUIRE);
}

void dma_reg_set64(struct dma_dev *d, uint32_t off, uint64_t v)
{
	__atomic_store_n(reg64(d, off), v, __ATOMIC_RELEASE);
}

void dma_reg_set32(struct dma_dev *d, uint32_t off, uint32_t v)
{
	__atomic_store_n(reg32(d, off), v, __ATOMIC_RELEASE);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void block_fill(uint64_t *w, uint32_t size, uint32_t index,
		       uint64_t seq, uint64_t iova)
{
	struct dma_block *b = (struct dma_block *)w;
	uint32_t n = size / 8;

	b->magic = DMA_BLOCK_MAGIC;
	b->dev_index = index;
	b->size = size;
	b->seq = seq;
	b->iova = iova;
	for (uint32_t i = sizeof(*b) / 8; i < n - 1; i++)
		w[i] = seq * 0x9e3779b97f4a7c15ULL + i;
	w[n - 1] = dma_block_checksum(w, size);
}

static bool config_valid(uint32_t bs, uint64_t base, uint64_t win,
			 uint32_t pat)
{
	uint64_t last;

	if (bs < DMA_BLOCK_MIN || bs > DMA_BLOCK_MAX || bs % DMA_BLOCK_MIN)
		return false;
	if (!win || win % bs || __builtin_add_overflow(base, win - 1, &last))
		return false;
	return pat <= DMA_PATTERN_HOTSET;
}

/* A RUN request is honoured only for a configuration that makes sense. */
static bool config_ok(struct dma_dev *d)
{
	return config_valid(dma_reg_get32(d, DMA_REG_BLOCK_SIZE),
			    dma_reg_get64(d, DMA_REG_WINDOW_IOVA),
			    dma_reg_get64(d, DMA_REG_WINDOW_SIZE),
			    dma_reg_get32(d, DMA_REG_PATTERN));
}

void dma_status_update(struct dma_dev *d)
{
	uint32_t st = dma_reg_get32(d, DMA_REG_STATUS) &
		      (DMA_STATUS_FAULT | DMA_STATUS_BADCONFIG);

	if (d->running)
		st |= DMA_STATUS_RUNNING;
	if (d->quiesced)
		st |= DMA_STATUS_QUIESCED;
	dma_reg_set32(d, DMA_REG_STATUS, st);
}

/* Act on CTRL as it is now. Called with d->lock held. */
static void ctrl_apply(struct dma_dev *d)
{
	uint32_t ctrl = dma_reg_get32(d, DMA_REG_CTRL);
	uint32_t st = dma_reg_get32(d, DMA_REG_STATUS);
	bool want = ctrl & DMA_CTRL_RUN;

	if (ctrl & DMA_CTRL_CLEAR) {
		dma_reg_set64(d, DMA_REG_BYTES, 0);
		dma_reg_set64(d, DMA_REG_WRITES, 0);
		dma_reg_set64(d, DMA_REG_FAULT_IOVA, 0);
		dma_reg_set32(d, DMA_REG_FAULT_REASON, 0);
		dma_reg_set32(d, DMA_REG_FAULT_WRITE, 0);
		st &= ~(DMA_STATUS_FAULT | DMA_STATUS_BADCONFIG);
		dma_reg_set32(d, DMA_REG_STATUS, st);
		ctrl &= ~DMA_CTRL_CLEAR;
		dma_reg_set32(d, DMA_REG_CTRL, ctrl);
	}
	if (want && !d->running) {
		if (st & DMA_STATUS_FAULT) {
			want = false;
		} else if (!config_ok(d)) {
			dma_reg_set32(d, DMA_REG_STATUS,
				      st | DMA_STATUS_BADCONFIG);
			want = false;
		} else {
			dma_reg_set32(d, DMA_REG_STATUS,
				      st & ~DMA_STATUS_BADCONFIG);
			if (dma_reg_get64(d, DMA_REG_CURSOR) >=
			    dma_reg_get64(d, DMA_REG_WINDOW_SIZE))
				dma_reg_set64(d, DMA_REG_CURSOR, 0);
		}
		/*
		 * A refused RUN is dropped (reads back 0), as a fault drops
		 * it: left set, the idle poll of CTRL would start the engine
		 * on its own once the configuration was made valid.
		 */
		if (!want)
			dma_reg_set32(d, DMA_REG_CTRL, ctrl & ~DMA_CTRL_RUN);
	}
	d->running = want;
	/* A stop ends a RATE pause, even if RUN is back before it wakes. */
	if (!want)
		d->rate_t0 = 0;
	dma_status_update(d);
	pthread_cond_broadcast(&d->wake);
}

void dma_dev_sync_bar(struct dma_dev *d)
{
	pthread_mutex_lock(&d->lock);
	ctrl_apply(d);
	pthread_mutex_unlock(&d->lock);
}

/* Where the next block goes, as an offset in the window. */
static uint64_t next_offset(struct dma_dev *d, uint32_t pat, uint64_t win,
			    uint32_t bs)
{
	uint64_t nblocks = win / bs, hot;

	switch (pat) {
	case DMA_PATTERN_RANDOM:
		return (rng_next(&d->rng) % nblocks) * bs;
	case DMA_PATTERN_HOTSET:
		hot = dma_reg_get64(d, DMA_REG_HOT_SIZE) / bs;
		if (!hot || hot > nblocks)
			hot = nblocks;
		return (rng_next(&d->rng) % hot) * bs;
	default: {
		uint64_t off = dma_reg_get64(d, DMA_REG_CURSOR);

		/*
		 * A block size changed since CURSOR last moved can leave it
		 * off a block boundary, where a block would overrun the
		 * window: start over then.
		 */
		if (off >= win || off % bs)
			off = 0;
		dma_reg_set64(d, DMA_REG_CURSOR, off + bs >= win ? 0 : off + bs);
		return off;
	}
	}
}

static uint64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

/*
 * Pause until @bytes more keep the engine within @rate. Called with
 * d->lock held; the pause waits on @wake, so that a stop (which also
 * zeroes rate_t0), a reset or destroy ends it at once: at 1 byte/s, a
 * 1 MiB block is a pause of 12 days.
 */
static void rate_limit(struct dma_dev *d, uint64_t rate, uint64_t bytes)
{
	uint64_t now_ns, due_ns;

	if (!rate)
		return;
	now_ns = monotonic_ns();
	if (!d->rate_t0 || d->rate_bps != rate) {
		d->rate_t0 = now_ns;
		d->rate_bytes = 0;
		d->rate_bps = rate;
	}
	d->rate_bytes += bytes;
	due_ns = d->rate_t0 +
		 (uint64_t)((double)d->rate_bytes * 1e9 / (double)rate);
	while (due_ns > now_ns && d->rate_t0 && d->running && !d->quiesced &&
	       !d->holds && !d->exiting) {
		uint64_t left = due_ns - now_ns;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(left / 1000000000ULL);
		ts.tv_nsec += (long)(left % 1000000000ULL);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
		now_ns = monotonic_ns();
	}
}

static void *engine_thread(void *arg)
{
	struct dma_dev *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct pt_fault fault;
		uint64_t win, base, off, seq, rate;
		uint32_t bs, pat;
		int rc;

		while (!d->exiting &&
		       (!d->running || d->quiesced || d->holds)) {
			struct timespec ts;

			d->rate_t0 = 0;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += IDLE_POLL_NS;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&d->wake, &d->lock, &ts);
			/* Pick up writes made through a mapping of BAR0. */
			if (!d->quiesced)
				ctrl_apply(d);
		}
		if (d->exiting)
			break;
		/* A stop or CLEAR written through a mapping of BAR0. */
		if ((dma_reg_get32(d, DMA_REG_CTRL) &
		     (DMA_CTRL_RUN | DMA_CTRL_CLEAR)) != DMA_CTRL_RUN) {
			ctrl_apply(d);
			continue;
		}

		bs = dma_reg_get32(d, DMA_REG_BLOCK_SIZE);
		win = dma_reg_get64(d, DMA_REG_WINDOW_SIZE);
		base = dma_reg_get64(d, DMA_REG_WINDOW_IOVA);
		pat = dma_reg_get32(d, DMA_REG_PATTERN);
		rate = dma_reg_get64(d, DMA_REG_RATE);
		/*
		 * RUN checked the configuration, but the registers are memory
		 * that a mapping of BAR0 can change while the engine runs,
		 * and dma_dev_load() restores them as the stream has them:
		 * check the values this block uses, read once, and stop as a
		 * refused RUN does rather than overrun d->block, divide by a
		 * zero window or write outside it.
		 */
		if (!config_valid(bs, base, win, pat)) {
			dma_reg_set32(d, DMA_REG_STATUS,
				      dma_reg_get32(d, DMA_REG_STATUS) |
					      DMA_STATUS_BADCONFIG);
			dma_reg_set32(d, DMA_REG_CTRL,
				      dma_reg_get32(d, DMA_REG_CTRL) &
					      ~DMA_CTRL_RUN);
			d->running = false;
			dma_status_update(d);
			continue;
		}
		off = next_offset(d, pat, win, bs);
		seq = dma_reg_get64(d, DMA_REG_SEQ);
		dma_reg_set64(d, DMA_REG_SEQ, seq + 1);
		d->in_flight = true;
		pthread_mutex_unlock(&d->lock);

		/* The DMA itself runs unlocked: quiesce waits for it. */
		block_fill(d->block, bs, d->index, seq, base + off);
		rc = d->path.write ? d->path.write(d->path.opaque, base + off,
						   d->block, bs, &fault) :
				     -EFAULT;
		if (!d->path.write) {
			fault.reason = PT_FAULT_NOT_PRESENT;
			fault.iova = base + off;
			fault.write = true;
		}
		if (!rc)
			dma_log_record(d, base + off, bs);
		else if (fault.iova > base + off && fault.iova - (base + off) < bs)
			/* What landed before the fault is written: log it. */
			dma_log_record(d, base + off, fault.iova - (base + off));

		pthread_mutex_lock(&d->lock);
		d->in_flight = false;
		if (rc) {
			dma_reg_set64(d, DMA_REG_FAULT_IOVA, fault.iova);
			dma_reg_set32(d, DMA_REG_FAULT_REASON, fault.reason);
			dma_reg_set32(d, DMA_REG_FAULT_WRITE, fault.write);
			dma_reg_set32(d, DMA_REG_STATUS,
				      dma_reg_get32(d, DMA_REG_STATUS) |
					      DMA_STATUS_FAULT);
			/* A fault stops the engine; RUN reads back 0. */
			dma_reg_set32(d, DMA_REG_CTRL,
				      dma_reg_get32(d, DMA_REG_CTRL) &
					      ~DMA_CTRL_RUN);
			d->running = false;
			dma_status_update(d);
			pr_warn(d->log, "dma%u: DMA write fault at iova 0x%llx (%s)",
				d->index, (unsigned long long)fault.iova,
				fault.reason == PT_FAULT_PERMISSION ?
					"permission" : "not mapped");
		} else {
			dma_reg_set64(d, DMA_REG_BYTES,
				      dma_reg_get64(d, DMA_REG_BYTES) + bs);
			dma_reg_set64(d, DMA_REG_WRITES,
				      dma_reg_get64(d, DMA_REG_WRITES) + 1);
			dma_state_touch(d, seq);
		}
		pthread_cond_broadcast(&d->idle);
		if (!rc)
			rate_limit(d, rate, bs);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static void regs_reset(struct dma_dev *d)
{
	memset(d->bar, 0, DMA_REG_END);
	dma_reg_set32(d, DMA_REG_ID, DMA_DEV_ID);
	dma_reg_set32(d, DMA_REG_VERSION, DMA_DEV_VERSION);
	dma_reg_set32(d, DMA_REG_CAPS, d->caps);
	dma_reg_set32(d, DMA_REG_INDEX, d->index);
	dma_reg_set32(d, DMA_REG_BLOCK_SIZE, 4096);
	dma_reg_set64(d, DMA_REG_SEED, 1);
	d->rng = 1;
	d->running = false;
	d->rate_t0 = 0;
}

struct dma_dev *dma_dev_create(const struct dma_dev_config *cfg)
{
	struct dma_dev *d = xzalloc(sizeof(*d));
	int rc = -ENOMEM;

	if (!d)
		return ERR_PTR(-ENOMEM);
	d->index = cfg->index;
	d->caps = cfg->caps;
	d->log = cfg->log;
	d->bar_fd = memfd_create("iodirty-bar0", MFD_CLOEXEC);
	if (d->bar_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	if (ftruncate(d->bar_fd, DMA_BAR0_SIZE)) {
		rc = -errno;
		goto err_close;
	}
	d->bar = mmap(NULL, DMA_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->bar_fd, 0);
	if (d->bar == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	d->block = xzalloc_aligned(64, DMA_BLOCK_MAX);
	if (!d->block)
		goto err_unmap;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	pthread_cond_init(&d->idle, NULL);
	pthread_mutex_init(&d->log_lock, NULL);
	regs_reset(d);
	if (pthread_create(&d->thread, NULL, engine_thread, d)) {
		rc = -EAGAIN;
		goto err_free_block;
	}
	return d;

err_free_block:
	pthread_mutex_destroy(&d->log_lock);
	pthread_cond_destroy(&d->idle);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	xfree(d->block);
err_unmap:
	munmap(d->bar, DMA_BAR0_SIZE);
err_close:
	close(d->bar_fd);
err_free:
	xfree(d);
	return ERR_PTR(rc);
}

void dma_dev_destroy(struct dma_dev *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->exiting = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	dma_dev_log_stop(d);
	xfree(d->chunk_dirty);
	xfree(d->state);
	pthread_mutex_destroy(&d->log_lock);
	pthread_cond_destroy(&d->idle);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	xfree(d->block);
	munmap(d->bar, DMA_BAR0_SIZE);
	close(d->bar_fd);
	xfree(d);
}

/*
 * The running engine keeps @lock from the end of one block to the start of
 * the next, so a waiter woken by @idle only gets the lock once the next
 * block is in flight: waiting for !in_flight alone never ends. A waiter
 * holds the engine off instead, and lets it go when done.
 */
void dma_engine_wait_idle(struct dma_dev *d)
{
	d->holds++;
	while (d->in_flight)
		pthread_cond_wait(&d->idle, &d->lock);
	if (!--d->holds)
		pthread_cond_broadcast(&d->wake);
}

void dma_dev_set_path(struct dma_dev *d, const struct dma_path *path)
{
	pthread_mutex_lock(&d->lock);
	dma_engine_wait_idle(d);
	if (path)
		d->path = *path;
	else
		memset(&d->path, 0, sizeof(d->path));
	pthread_mutex_unlock(&d->lock);
}

void *dma_dev_bar0(struct dma_dev *d)
{
	return d->bar;
}

int dma_dev_bar0_fd(struct dma_dev *d)
{
	return d->bar_fd;
}

static bool reg_writable(uint32_t off, unsigned int size)
{
	switch (off) {
	case DMA_REG_CTRL:
	case DMA_REG_PATTERN:
	case DMA_REG_BLOCK_SIZE:
		return size == 4;
	case DMA_REG_WINDOW_IOVA:
	case DMA_REG_WINDOW_SIZE:
	case DMA_REG_RATE:
	case DMA_REG_HOT_SIZE:
	case DMA_REG_SEED:
	case DMA_REG_STATE_SIZE:
		return size == 8;
	default:
		return false;
	}
}

static int reg_access_ok(uint32_t off, unsigned int size)
{
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	if (off % size || off >= DMA_BAR0_SIZE || off + size > DMA_BAR0_SIZE)
		return -EINVAL;
	return 0;
}

int dma_dev_reg_read(struct dma_dev *d, uint32_t off, void *val,
		     unsigned int size)
{
	int rc = reg_access_ok(off, size);

	if (rc)
		return rc;
	switch (size) {
	case 8: {
		uint64_t v = __atomic_load_n((uint64_t *)(d->bar + off),
					     __ATOMIC_ACQUIRE);

		memcpy(val, &v, 8);
		break;
	}
	case 4: {
		uint32_t v = __atomic_load_n((uint32_t *)(d->bar + off),
					     __ATOMIC_ACQUIRE);

		memcpy(val, &v, 4);
		break;
	}
	default:
		memcpy(val, d->bar + off, size);
	}
	return 0;
}

int dma_dev_reg_write(struct dma_dev *d, uint32_t off, const void *val,
		      unsigned int size)
{
	int rc = reg_access_ok(off, size);
	uint64_t v = 0;

	if (rc)
		return rc;
	/* Writes to read-only or reserved registers are dropped, as on PCI. */
	if (!reg_writable(off, size))
		return 0;
	memcpy(&v, val, size);
	pthread_mutex_lock(&d->lock);
	if (off != DMA_REG_CTRL && off != DMA_REG_RATE && d->running) {
		/* The engine's configuration is fixed while it runs. */
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	if (off == DMA_REG_STATE_SIZE) {
		rc = dma_state_resize(d, v);
		if (!rc)
			dma_reg_set64(d, off, v);
	} else if (size == 8) {
		dma_reg_set64(d, off, v);
		if (off == DMA_REG_SEED)
			d->rng = v ? v : 1;
	} else {
		dma_reg_set32(d, off, (uint32_t)v);
	}
	if (off == DMA_REG_CTRL)
		ctrl_apply(d);
	pthread_mutex_unlock(&d->lock);
	return rc == -EINVAL ? 0 : rc;
}

void dma_dev_quiesce(struct dma_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->quiesced = true;
	while (d->in_flight)
		pthread_cond_wait(&d->idle, &d->lock);
	dma_status_update(d);
	pthread_mutex_unlock(&d->lock);
}

void dma_dev_unquiesce(struct dma_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->quiesced = false;
	ctrl_apply(d);
	pthread_mutex_unlock(&d->lock);
}

void dma_dev_reset(struct dma_dev *d)
{
	pthread_mutex_lock(&d->lock);
	dma_engine_wait_idle(d);
	regs_reset(d);
	dma_state_resize(d, 0);
	d->quiesced = false;
	dma_status_update(d);
	pthread_mutex_unlock(&d->lock);
	dma_dev_log_stop(d);
}
