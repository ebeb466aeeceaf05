// SPDX-License-Identifier: MIT
/*
 * dma_state.c - a DMA device's migratable state: its registers, the
 * engine's position and random state, and STATE_SIZE bytes of internal
 * state (to model devices whose state is large), as one versioned,
 * checksummed byte stream (what VFIO migration carries in its data fd).
 *
 *   u64 magic "IODYSTA1" | u32 version | u32 caps | u32 index |
 *   u32 reg_bytes | u64 rng | u64 state_size | regs | state | u64 fnv1a
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>

#include "dev_private.h"

#define DMA_STATE_MAGIC	  0x31415453594f4449ULL /* "IODYSTA1" */
#define DMA_STATE_VERSION 1u

struct dma_state_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t caps;
	uint32_t index;
	uint32_t reg_bytes;
	uint64_t rng;
	uint64_t state_size;
};

static uint64_t fnv1a(uint64_t h, const void *p, uint64_t n)
{
	const uint8_t *b = p;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV_SEED 0xcbf29ce484222325ULL

int dma_state_resize(struct dma_dev *d, uint64_t size)
{
	uint8_t *s;

	if (size > DMA_STATE_MAX)
		return -EINVAL;
	if (size == d->state_size)
		return 0;
	/* A state of a new size is sent in full: forget changed chunks. */
	xfree(d->chunk_dirty);
	d->chunk_dirty = NULL;
	if (!size) {
		xfree(d->state);
		d->state = NULL;
		d->state_size = 0;
		return 0;
	}
	s = xrealloc(d->state, size);
	if (!s)
		return -ENOMEM;
	/* New bytes get a pattern of their own, not zeros. */
	for (uint64_t i = d->state_size; i < size; i++)
		s[i] = (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)d->index;
	d->state = s;
	d->state_size = size;
	return 0;
}

static void chunk_mark(struct dma_dev *d, uint64_t off);
static void chunks_clear(struct dma_dev *d);

void dma_state_touch(struct dma_dev *d, uint64_t seq)
{
	uint64_t off;

	if (!d->state_size)
		return;
	off = (seq * 4099) % d->state_size;
	d->state[off] ^= (uint8_t)(seq | 1);
	chunk_mark(d, off);
}

uint64_t dma_dev_state_size(struct dma_dev *d)
{
	return sizeof(struct dma_state_hdr) + DMA_REG_END + d->state_size + 8;
}

int64_t dma_dev_save(struct dma_dev *d, void *buf, uint64_t len)
{
	struct dma_state_hdr hdr = {
		.magic = DMA_STATE_MAGIC,
		.version = DMA_STATE_VERSION,
		.caps = d->caps,
		.index = d->index,
		.reg_bytes = DMA_REG_END,
	};
	uint8_t *p = buf;
	uint64_t need, h;

	pthread_mutex_lock(&d->lock);
	need = dma_dev_state_size(d);
	if (len < need) {
		pthread_mutex_unlock(&d->lock);
		return -ENOSPC;
	}
	hdr.rng = d->rng;
	hdr.state_size = d->state_size;
	memcpy(p, &hdr, sizeof(hdr));
	p += sizeof(hdr);
	memcpy(p, d->bar, DMA_REG_END);
	p += DMA_REG_END;
	if (d->state_size)
		memcpy(p, d->state, d->state_size);
	p += d->state_size;
	h = fnv1a(FNV_SEED, buf, need - 8);
	memcpy(p, &h, 8);
	/* Pre-copy: the next delta holds what changed since this save. */
	chunks_clear(d);
	pthread_mutex_unlock(&d->lock);
	return (int64_t)need;
}

int dma_dev_load(struct dma_dev *d, const void *buf, uint64_t len)
{
	const uint8_t *p = buf;
	struct dma_state_hdr hdr;
	uint64_t need, h;
	int rc;

	if (len < sizeof(hdr) + 8)
		return -EINVAL;
	memcpy(&hdr, p, sizeof(hdr));
	if (hdr.magic != DMA_STATE_MAGIC || hdr.version != DMA_STATE_VERSION ||
	    hdr.reg_bytes != DMA_REG_END || hdr.state_size > DMA_STATE_MAX)
		return -EINVAL;
	/* A state from another kind of device, or another slot, is refused. */
	if (hdr.caps != d->caps || hdr.index != d->index)
		return -EINVAL;
	need = sizeof(hdr) + DMA_REG_END + hdr.state_size + 8;
	if (len != need)
		return -EINVAL;
	memcpy(&h, p + need - 8, 8);
	if (h != fnv1a(FNV_SEED, buf, need - 8))
		return -EINVAL;

	pthread_mutex_lock(&d->lock);
	dma_engine_wait_idle(d);
	rc = dma_state_resize(d, hdr.state_size);
	if (rc)
		goto out_unlock;
	memcpy(d->bar, p + sizeof(hdr), DMA_REG_END);
	if (hdr.state_size)
		memcpy(d->state, p + sizeof(hdr) + DMA_REG_END,
		       hdr.state_size);
	d->rng = hdr.rng;
	d->running = dma_reg_get32(d, DMA_REG_CTRL) & DMA_CTRL_RUN;
	/* STATUS came from the source: say what this device is doing. */
	dma_status_update(d);
	if (d->running && !d->quiesced)
		pthread_cond_broadcast(&d->wake);
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* ---- Pre-copy: deltas of the chunks changed since the last save. ---- */

#define DMA_DELTA_MAGIC 0x31544c44594f4449ULL /* "IODYDLT1" */

struct dma_delta_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t caps;
	uint32_t index;
	uint32_t reg_bytes;
	uint64_t rng;
	uint64_t state_size;
	uint64_t nchunks;
};

static uint64_t nchunks_of(uint64_t size)
{
	return DIV_ROUND_UP(size, DMA_STATE_CHUNK);
}

static uint64_t chunk_len(uint64_t size, uint64_t i)
{
	uint64_t off = i * DMA_STATE_CHUNK;

	return size - off < DMA_STATE_CHUNK ? size - off : DMA_STATE_CHUNK;
}

int dma_dev_precopy_start(struct dma_dev *d)
{
	uint64_t words;
	uint64_t *bits;

	pthread_mutex_lock(&d->lock);
	words = DIV_ROUND_UP(nchunks_of(d->state_size), 64);
	bits = xcalloc(words ? words : 1, sizeof(*bits));
	if (!bits) {
		pthread_mutex_unlock(&d->lock);
		return -ENOMEM;
	}
	xfree(d->chunk_dirty);
	d->chunk_dirty = bits;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void dma_dev_precopy_stop(struct dma_dev *d)
{
	pthread_mutex_lock(&d->lock);
	xfree(d->chunk_dirty);
	d->chunk_dirty = NULL;
	pthread_mutex_unlock(&d->lock);
}

/* Called with d->lock held, from dma_state_touch(). */
static void chunk_mark(struct dma_dev *d, uint64_t off)
{
	uint64_t c = off / DMA_STATE_CHUNK;

	if (d->chunk_dirty)
		d->chunk_dirty[c / 64] |= 1ULL << (c % 64);
}

/* Called with d->lock held, by a save. */
static void chunks_clear(struct dma_dev *d)
{
	if (d->chunk_dirty)
		memset(d->chunk_dirty, 0,
		       DIV_ROUND_UP(nchunks_of(d->state_size), 64) * 8);
}

uint64_t dma_dev_precopy_dirty_bytes(struct dma_dev *d)
{
	uint64_t n = 0, nch;

	pthread_mutex_lock(&d->lock);
	nch = nchunks_of(d->state_size);
	for (uint64_t c = 0; d->chunk_dirty && c < nch; c++)
		if (d->chunk_dirty[c / 64] & (1ULL << (c % 64)))
			n += chunk_len(d->state_size, c);
	pthread_mutex_unlock(&d->lock);
	return n;
}

uint64_t dma_dev_delta_size(struct dma_dev *d)
{
	uint64_t n;

	pthread_mutex_lock(&d->lock);
	n = sizeof(struct dma_delta_hdr) + DMA_REG_END +
	    nchunks_of(d->state_size) * 8 + d->state_size + 8;
	pthread_mutex_unlock(&d->lock);
	return n;
}

int64_t dma_dev_save_delta(struct dma_dev *d, void *buf, uint64_t len)
{
	struct dma_delta_hdr hdr = {
		.magic = DMA_DELTA_MAGIC,
		.version = DMA_STATE_VERSION,
		.caps = d->caps,
		.index = d->index,
		.reg_bytes = DMA_REG_END,
	};
	uint8_t *p = buf, *end = (uint8_t *)buf + len;
	uint64_t nch, h;

	pthread_mutex_lock(&d->lock);
	nch = nchunks_of(d->state_size);
	hdr.rng = d->rng;
	hdr.state_size = d->state_size;
	if (len < sizeof(hdr) + DMA_REG_END + 8)
		goto err_nospc;
	p += sizeof(hdr);
	memcpy(p, d->bar, DMA_REG_END);
	p += DMA_REG_END;
	for (uint64_t c = 0; d->chunk_dirty && c < nch; c++) {
		uint64_t cl = chunk_len(d->state_size, c);

		if (!(d->chunk_dirty[c / 64] & (1ULL << (c % 64))))
			continue;
		if ((uint64_t)(end - p) < 8 + cl + 8)
			goto err_nospc;
		memcpy(p, &c, 8);
		memcpy(p + 8, d->state + c * DMA_STATE_CHUNK, cl);
		p += 8 + cl;
		hdr.nchunks++;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	h = fnv1a(FNV_SEED, buf, (uint64_t)(p - (uint8_t *)buf));
	memcpy(p, &h, 8);
	p += 8;
	chunks_clear(d);
	pthread_mutex_unlock(&d->lock);
	return p - (uint8_t *)buf;

err_nospc:
	pthread_mutex_unlock(&d->lock);
	return -ENOSPC;
}

int dma_dev_load_delta(struct dma_dev *d, const void *buf, uint64_t len)
{
	const uint8_t *p = buf, *end;
	struct dma_delta_hdr hdr;
	uint64_t h, nch;
	int rc = 0;

	if (len < sizeof(hdr) + DMA_REG_END + 8)
		return -EINVAL;
	memcpy(&hdr, p, sizeof(hdr));
	memcpy(&h, p + len - 8, 8);
	if (hdr.magic != DMA_DELTA_MAGIC || hdr.version != DMA_STATE_VERSION ||
	    hdr.reg_bytes != DMA_REG_END || hdr.caps != d->caps ||
	    hdr.index != d->index || h != fnv1a(FNV_SEED, buf, len - 8))
		return -EINVAL;

	pthread_mutex_lock(&d->lock);
	if (hdr.state_size != d->state_size) {
		rc = -EINVAL;
		goto out_unlock;
	}
	/* Check every chunk record before applying any. */
	nch = nchunks_of(d->state_size);
	end = p + len - 8;
	p += sizeof(hdr) + DMA_REG_END;
	for (uint64_t i = 0; i < hdr.nchunks; i++) {
		uint64_t c;

		if ((uint64_t)(end - p) < 8) {
			rc = -EINVAL;
			goto out_unlock;
		}
		memcpy(&c, p, 8);
		if (c >= nch || (uint64_t)(end - p) < 8 + chunk_len(d->state_size, c)) {
			rc = -EINVAL;
			goto out_unlock;
		}
		p += 8 + chunk_len(d->state_size, c);
	}
	if (p != end) {
		rc = -EINVAL;
		goto out_unlock;
	}
	dma_engine_wait_idle(d);
	p = (const uint8_t *)buf + sizeof(hdr);
	memcpy(d->bar, p, DMA_REG_END);
	p += DMA_REG_END;
	for (uint64_t i = 0; i < hdr.nchunks; i++) {
		uint64_t c;

		memcpy(&c, p, 8);
		memcpy(d->state + c * DMA_STATE_CHUNK, p + 8,
		       chunk_len(d->state_size, c));
		p += 8 + chunk_len(d->state_size, c);
	}
	d->rng = hdr.rng;
	d->running = dma_reg_get32(d, DMA_REG_CTRL) & DMA_CTRL_RUN;
	dma_status_update(d);
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return rc;
}
