// SPDX-License-Identifier: MIT
/*
 * source.c - the source side of a live migration (migrate.h): precopy
 * passes over the union of CPU and DMA dirty pages, convergence (downtime
 * estimate, auto-converge, device DMA rate limit), switchover with the
 * devices' VFIO stop-copy, and the two-phase handover.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/uapi/iodirty_dma.h>
#include <iodirty/uapi/vfio.h>

#include "migrate_private.h"

#define DEV_CHUNK (1u << 20)	/* device data per DEVICE record */

void mig_params_default(struct mig_params *p)
{
	memset(p, 0, sizeof(*p));
	p->downtime_limit_ms = 300;
	p->max_passes = 30;
	p->throttle_initial = 20;
	p->throttle_step = 10;
	p->throttle_max = 99;
	p->timeout_ms = 10000;
}

struct source {
	struct vmm *vm;
	struct vmm_pt *pt;
	struct mig_chan *ch;
	bool two_way;
	const struct mig_params *p;
	struct mig_stats *st;
	char *msg;
	size_t msglen;

	uint8_t *rec;			/* a RAM record being built */
	uint64_t rec_count;
	size_t rec_len;
	uint8_t *devbuf;
	int data_fd[VMM_MAX_DEVICES];
	uint64_t t0, last_progress;
	uint64_t pass_bytes, pass_t0;
	/* bandwidth cap */
	uint64_t bw_t0, bw_bytes;
	/* auto-converge */
	pthread_t throttle_thread;
	bool throttle_running;
	volatile unsigned int throttle_pct;
	volatile bool throttle_exit;
	unsigned int over_budget;	/* passes dirtying faster than sent */
	/* the receive side */
	uint8_t *rxbuf;
	size_t rxcap;
};

static void progress(struct source *s, bool force)
{
	uint64_t now = mig_now_ns();

	s->st->total_ms = (now - s->t0) / 1000000;
	/* Bandwidth, measured continuously once the pass is 50 ms old. */
	if (s->pass_t0 && now - s->pass_t0 > 50000000)
		s->st->bandwidth = (uint64_t)((double)s->pass_bytes * 1e9 /
					      (double)(now - s->pass_t0));
	if (s->st->pass_pages_sent && s->st->pass_pages_sent <= s->st->pass_pages)
		s->st->remaining_bytes = (s->st->pass_pages -
					  s->st->pass_pages_sent) *
					 MIG_PAGE_SIZE;
	if (!s->p->progress || (!force && now - s->last_progress < 100000000))
		return;
	s->last_progress = now;
	s->p->progress(s->st, s->p->progress_opaque);
}

static int send_rec(struct source *s, enum mig_rec_type type,
		    const void *payload, uint64_t len)
{
	int rc = mig_write_record(s->ch, type, payload, len);

	if (rc) {
		snprintf(s->msg, s->msglen, "sending %s: %s", mig_rec_name(type),
			 strerror(-rc));
		return rc;
	}
	s->st->bytes_sent += len + 24;
	s->pass_bytes += len + 24;
	s->bw_bytes += len + 24;
	/* Hold to --max-bandwidth. */
	if (s->p->max_bandwidth) {
		uint64_t due = s->bw_t0 + (uint64_t)((double)s->bw_bytes * 1e9 /
						     (double)s->p->max_bandwidth);
		uint64_t now = mig_now_ns();

		if (due > now) {
			struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000000ULL),
					       .tv_nsec = (long)((due - now) % 1000000000ULL) };

			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

static int flush_ram(struct source *s)
{
	int rc;

	if (!s->rec_count)
		return 0;
	memcpy(s->rec, &s->rec_count, 8);
	rc = send_rec(s, MIG_REC_RAM, s->rec, s->rec_len);
	s->rec_count = 0;
	s->rec_len = 8;
	progress(s, false);
	return rc;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	for (unsigned int i = 0; i < MIG_PAGE_SIZE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] |
		       w[i + 5] | w[i + 6] | w[i + 7];
	return !acc;
}

/* One page into the RAM record; @hva NULL: known zero, not read. */
static int send_page_at(struct source *s, uint64_t gpa, const uint8_t *hva)
{
	uint64_t tag = gpa;
	bool zero;

	/* What the devices write meanwhile is in the next sync. */
	guest_ram_racy_begin();
	zero = !hva || page_is_zero(hva);
	if (!zero)
		memcpy(s->rec + s->rec_len + 8, hva, MIG_PAGE_SIZE);
	guest_ram_racy_end();
	if (zero)
		tag |= MIG_PAGE_ZERO;
	memcpy(s->rec + s->rec_len, &tag, 8);
	s->rec_len += 8;
	if (!zero) {
		s->rec_len += MIG_PAGE_SIZE;
	} else {
		s->st->zero_pages++;
	}
	s->st->pages_sent++;
	s->st->pass_pages_sent++;
	if (++s->rec_count == MIG_REC_MAX_RAM_PAGES)
		return flush_ram(s);
	return 0;
}

static int send_page(struct source *s, uint64_t gpa)
{
	return send_page_at(s, gpa, mig_gpa_hva(s->vm, gpa));
}

/*
 * The first pass: every page. A page the memfd has never held data for is
 * zero without reading it (reading would allocate it); one written since
 * the scan is dirty in the log, which started before it.
 */
static int send_all_ram(struct source *s)
{
	struct vmm_dirty pop = { 0 };
	int rc = vmm_dirty_init_ram(s->vm, &pop);

	if (rc)
		return rc;
	vmm_ram_populated(s->vm, &pop);	/* on failure, all marked */
	for (unsigned int r = 0; r < pop.n && !rc; r++) {
		const struct vmm_dirty_region *reg = &pop.r[r];
		const uint8_t *hva = mig_gpa_hva(s->vm, reg->gpa);

		for (uint64_t i = 0; i < reg->npages && !rc; i++) {
			uint64_t gpa = reg->gpa + i * MIG_PAGE_SIZE;

			if (reg->bits[i / 64] & (1ULL << (i % 64)))
				rc = send_page_at(s, gpa,
						  hva + i * MIG_PAGE_SIZE);
			else
				rc = send_page_at(s, gpa, NULL);
		}
	}
	vmm_dirty_destroy(&pop);
	return rc ? rc : flush_ram(s);
}

static int send_dirty(struct source *s, const struct vmm_dirty *d)
{
	int rc = 0;

	for (unsigned int r = 0; r < d->n && !rc; r++) {
		const struct vmm_dirty_region *reg = &d->r[r];

		for (uint64_t w = 0; w < DIV_ROUND_UP(reg->npages, 64) && !rc;
		     w++)
			for (uint64_t m = reg->bits[w]; m && !rc; m &= m - 1)
				rc = send_page(s, reg->gpa +
							  ((w * 64 + ffs64(m))
							   << VMM_PAGE_SHIFT));
		/* (one lookup per dirty page: the dirty set is the small one) */
	}
	return rc ? rc : flush_ram(s);
}

/*
 * Send what the device's data fd has now: all of it after STOP_COPY (read
 * ends with 0), or up to the temporary end in PRE_COPY (ENOMSG).
 */
static int send_device_data(struct source *s, unsigned int i, uint32_t phase)
{
	for (;;) {
		ssize_t n = read(s->data_fd[i], s->devbuf + 8, DEV_CHUNK);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOMSG && phase == MIG_DEV_PRECOPY)
			return 0;
		if (n < 0) {
			snprintf(s->msg, s->msglen,
				 "%s: reading its migration data: %s",
				 vmm_pt_device(s->pt, i)->name, strerror(errno));
			return -errno;
		}
		if (!n)
			return 0;
		memcpy(s->devbuf, &i, 4);
		memcpy(s->devbuf + 4, &phase, 4);
		rc = send_rec(s, MIG_REC_DEVICE, s->devbuf, (uint64_t)n + 8);
		if (rc)
			return rc;
		s->st->device_bytes += (uint64_t)n;
	}
}

static unsigned int ndev(struct source *s)
{
	return s->pt ? vmm_pt_ndevices(s->pt) : 0;
}

/* ---- auto-converge: take the vCPUs off the CPU pct% of each 20 ms ---- */

static void *throttle_thread(void *arg)
{
	struct source *s = arg;

	while (!s->throttle_exit) {
		unsigned int pct = s->throttle_pct;
		struct timespec off = { .tv_nsec = (long)pct * 200000L };
		struct timespec on = { .tv_nsec = (long)(100 - pct) * 200000L };

		if (pct) {
			vmm_pause(s->vm);
			nanosleep(&off, NULL);
			vmm_resume(s->vm);
		}
		nanosleep(&on, NULL);
	}
	return NULL;
}

static void throttle_stop(struct source *s)
{
	if (!s->throttle_running)
		return;
	s->throttle_exit = true;
	pthread_join(s->throttle_thread, NULL);
	s->throttle_running = false;
}

/*
 * After a pass: if the guest dirtied more than half of what could be sent
 * in the same time, twice in a row, throttle harder (QEMU's rule); the
 * devices, which a vCPU throttle cannot slow, get a DMA rate limit.
 */
static void converge(struct source *s, uint64_t dirty_bytes,
		     uint64_t sent_bytes)
{
	if (dirty_bytes * 2 < sent_bytes) {
		s->over_budget = 0;
		return;
	}
	if (++s->over_budget < 2)
		return;
	s->over_budget = 0;
	if (s->p->auto_converge) {
		unsigned int pct = s->throttle_pct ?
					   s->throttle_pct + s->p->throttle_step :
					   s->p->throttle_initial;

		if (pct > s->p->throttle_max)
			pct = s->p->throttle_max;
		s->throttle_pct = pct;
		s->st->throttle_pct = pct;
		if (pct > s->st->max_throttle_pct)
			s->st->max_throttle_pct = pct;
		if (!s->throttle_running &&
		    !pthread_create(&s->throttle_thread, NULL, throttle_thread,
				    s))
			s->throttle_running = true;
	}
	if (s->p->dma_rate_limit && !s->st->dma_limited) {
		for (unsigned int i = 0; i < ndev(s); i++)
			vmm_pt_reg_write(s->pt, i, DMA_REG_RATE,
					 &s->p->dma_rate_limit, 8);
		s->st->dma_limited = true;
	}
}

/*
 * Give the devices back the rate the guest set (the source's config): at
 * switchover, before their state is saved, so that the destination does
 * not inherit the limit; and after a failure.
 */
static void dma_limit_lift(struct source *s)
{
	uint64_t rate = vmm_config(s->vm)->dma_rate;

	if (!s->st->dma_limited)
		return;
	for (unsigned int i = 0; i < ndev(s); i++)
		vmm_pt_reg_write(s->pt, i, DMA_REG_RATE, &rate, 8);
}

/* Take the devices back to RUNNING after a failed switchover. */
static void devices_resume(struct source *s)
{
	char m[VMM_MSG_LEN];

	for (unsigned int i = 0; i < ndev(s); i++) {
		vmm_pt_mig_set_state(s->pt, i, VFIO_DEVICE_STATE_RUNNING, NULL,
				     m, sizeof(m));
		if (s->data_fd[i] >= 0) {
			close(s->data_fd[i]);
			s->data_fd[i] = -1;
		}
	}
}

static int wait_for(struct source *s, enum mig_rec_type want,
		    uint64_t *dest_hashes, uint64_t npages)
{
	struct mig_record rec;
	char m[VMM_MSG_LEN];

	for (;;) {
		int rc = mig_read_record(s->ch, &s->rxbuf, &s->rxcap, &rec, m,
					 sizeof(m));

		if (rc) {
			snprintf(s->msg, s->msglen,
				 "waiting for the destination's %s: %s",
				 mig_rec_name(want), m);
			return rc;
		}
		if (rec.type == want)
			return 0;
		if (rec.type == MIG_REC_ERROR) {
			snprintf(s->msg, s->msglen, "the destination failed: %s",
				 rec.error.text);
			return rec.error.err < 0 ? rec.error.err : -EIO;
		}
		if (rec.type == MIG_REC_VERIFY && dest_hashes &&
		    rec.verify.first <= npages &&
		    rec.verify.count <= npages - rec.verify.first) {
			memcpy(dest_hashes + rec.verify.first, rec.verify.hashes,
			       rec.verify.count * 8);
			continue;
		}
		snprintf(s->msg, s->msglen,
			 "the destination sent %s while the source waited for %s",
			 mig_rec_name(rec.type), mig_rec_name(want));
		return -EPROTO;
	}
}

static int send_verify(struct source *s, const uint64_t *hashes, uint64_t n)
{
	const uint64_t per = (MIG_REC_MAX_VERIFY - 16) / 8;
	uint8_t *buf = s->devbuf;
	int rc = 0;

	for (uint64_t first = 0; first < n && !rc; first += per) {
		uint64_t count = n - first < per ? n - first : per;

		memcpy(buf, &first, 8);
		memcpy(buf + 8, &count, 8);
		memcpy(buf + 16, hashes + first, count * 8);
		rc = send_rec(s, MIG_REC_VERIFY, buf, 16 + count * 8);
	}
	return rc;
}

static int setup(struct source *s)
{
	struct mig_config cfg;
	uint8_t buf[MIG_REC_MAX_SMALL];
	size_t len;
	int rc;

	rc = mig_write_header(s->ch);
	if (rc) {
		snprintf(s->msg, s->msglen, "sending the stream header: %s",
			 strerror(-rc));
		return rc;
	}
	mig_config_of(s->vm, &cfg);
	len = mig_encode_config(&cfg, buf, sizeof(buf));
	if (!len) {
		snprintf(s->msg, s->msglen,
			 "this VM's shape does not fit a CONFIG record");
		return -EMSGSIZE;
	}
	rc = send_rec(s, MIG_REC_CONFIG, buf, len);
	if (rc)
		return rc;
	if (s->two_way) {
		rc = wait_for(s, MIG_REC_CONFIG_OK, NULL, 0);
		if (rc)
			return rc;
	}
	/*
	 * Turning KVM's log on write-protects every page the vCPUs have
	 * mapped; a vCPU writing all the while fights it for the MMU lock
	 * (28 s for 1 GiB under an unpaced writer on a nested host, 7 ms
	 * paused). The vCPUs wait those milliseconds; the devices do not.
	 */
	vmm_pause(s->vm);
	rc = vmm_dirty_log_start(s->vm, s->msg, s->msglen);
	vmm_resume(s->vm);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < ndev(s); i++) {
		if (!(vmm_pt_device(s->pt, i)->mig_flags &
		      VFIO_MIGRATION_PRE_COPY))
			continue;
		rc = vmm_pt_mig_set_state(s->pt, i, VFIO_DEVICE_STATE_PRE_COPY,
					  &s->data_fd[i], s->msg, s->msglen);
		if (rc)
			return rc;
	}
	s->st->setup_ms = (mig_now_ns() - s->t0) / 1000000;
	return 0;
}

static uint64_t device_stop_copy_bytes(struct source *s)
{
	uint64_t total = 0, b;

	for (unsigned int i = 0; i < ndev(s); i++)
		if (!vmm_pt_mig_data_size(s->pt, i, &b))
			total += b;
	return total;
}

/* The precopy passes; returns when it is time to switch over. */
static int precopy(struct source *s, struct vmm_dirty *dirty)
{
	struct vmm_sync_stats sst;
	int rc;

	s->st->pass = 1;
	s->pass_t0 = mig_now_ns();
	s->pass_bytes = 0;
	s->st->pass_pages = mig_ram_pages(s->vm);
	s->st->pass_pages_sent = 0;
	rc = send_all_ram(s);
	for (unsigned int i = 0; !rc && i < ndev(s); i++)
		if (s->data_fd[i] >= 0)
			rc = send_device_data(s, i, MIG_DEV_PRECOPY);
	if (rc)
		return rc;

	for (;;) {
		uint64_t now = mig_now_ns(), dt = now - s->pass_t0 + 1;
		uint64_t remaining;

		s->st->bandwidth = (uint64_t)((double)s->pass_bytes * 1e9 / (double)dt);
		vmm_dirty_clear(dirty);
		rc = vmm_dirty_sync(s->vm, dirty, &sst, s->msg, s->msglen);
		if (rc)
			return rc;
		s->st->cpu_dirty_rate = (uint64_t)((double)sst.cpu_pages * 1e9 / (double)dt);
		s->st->dma_dirty_rate = (uint64_t)((double)sst.dma_pages * 1e9 / (double)dt);
		s->st->cpu_dirty_pages += sst.cpu_pages;
		s->st->dma_dirty_pages += sst.dma_pages;
		remaining = sst.union_pages * MIG_PAGE_SIZE +
			    device_stop_copy_bytes(s);
		s->st->remaining_bytes = remaining;
		s->st->pass_pages = sst.union_pages;
		s->st->pass_pages_sent = 0;
		s->st->expected_downtime_ms =
			s->st->bandwidth ? remaining * 1000 / s->st->bandwidth :
					   UINT64_MAX;
		progress(s, true);
		if (s->st->expected_downtime_ms <= s->p->downtime_limit_ms ||
		    s->st->pass >= s->p->max_passes ||
		    (s->p->switchover_now &&
		     __atomic_load_n(s->p->switchover_now, __ATOMIC_RELAXED)))
			return 0;
		converge(s, sst.union_pages * MIG_PAGE_SIZE, s->pass_bytes);

		s->st->pass++;
		s->pass_t0 = mig_now_ns();
		s->pass_bytes = 0;
		{
			uint64_t pb[2] = { s->st->pass, sst.union_pages };

			rc = send_rec(s, MIG_REC_PASS, pb, sizeof(pb));
		}
		if (!rc)
			rc = send_dirty(s, dirty);
		for (unsigned int i = 0; !rc && i < ndev(s); i++)
			if (s->data_fd[i] >= 0)
				rc = send_device_data(s, i, MIG_DEV_PRECOPY);
		if (rc)
			return rc;
	}
}

/*
 * Switchover, with the VM stopped: returns 0 once the destination is
 * READY (or the one-way stream is complete); the handover is the caller's.
 */
static int stop_and_copy(struct source *s, struct vmm_dirty *dirty,
			 uint64_t *hashes)
{
	uint8_t end[8 + 4 + 8 * VMM_MAX_DEVICES];
	struct vmm_sync_stats sst;
	uint32_t nd = ndev(s);
	int rc;

	s->st->switching_over = true;
	throttle_stop(s);
	vmm_pause(s->vm);
	dma_limit_lift(s);
	/* DMA stops here: the devices' last writes are in the final sync. */
	for (unsigned int i = 0; i < nd; i++) {
		int fd = -1;

		rc = vmm_pt_mig_set_state(s->pt, i, VFIO_DEVICE_STATE_STOP_COPY,
					  &fd, s->msg, s->msglen);
		if (rc)
			return rc;
		if (fd >= 0) {
			if (s->data_fd[i] >= 0)
				close(s->data_fd[i]);
			s->data_fd[i] = fd;
		}
	}
	/*
	 * No clear: precopy returned right after a sync, so @dirty still
	 * holds what that sync found and nobody has sent yet.
	 */
	rc = vmm_dirty_sync(s->vm, dirty, &sst, s->msg, s->msglen);
	if (rc)
		return rc;
	s->st->cpu_dirty_pages += sst.cpu_pages;
	s->st->dma_dirty_pages += sst.dma_pages;
	s->st->pass_pages = vmm_dirty_count(dirty);
	s->st->pass_pages_sent = 0;
	rc = send_dirty(s, dirty);
	for (unsigned int i = 0; !rc && i < nd; i++)
		rc = send_device_data(s, i, MIG_DEV_STOPCOPY);
	for (unsigned int i = 0; !rc && i < vmm_config(s->vm)->vcpus; i++) {
		/* A CPU record is u32 vcpu | u32 len | the blob: it bounds it. */
		uint8_t cpu[MIG_REC_MAX_SMALL];
		int n = vmm_cpu_save(s->vm, i, cpu + 8, sizeof(cpu) - 8);
		uint32_t v = i, len = (uint32_t)n;

		if (n < 0) {
			snprintf(s->msg, s->msglen, "saving vCPU %u: %s", i,
				 strerror(-n));
			return n;
		}
		memcpy(cpu, &v, 4);
		memcpy(cpu + 4, &len, 4);
		rc = send_rec(s, MIG_REC_CPU, cpu, 8 + len);
	}
	if (rc)
		return rc;
	memcpy(end, &s->st->pages_sent, 8);
	memcpy(end + 8, &nd, 4);
	for (unsigned int i = 0; i < nd; i++) {
		uint64_t seq = 0;

		vmm_pt_reg_read(s->pt, i, DMA_REG_SEQ, &seq, 8);
		memcpy(end + 12 + 8 * i, &seq, 8);
	}
	rc = send_rec(s, MIG_REC_END, end, 12 + 8 * nd);
	if (rc)
		return rc;
	if (!s->two_way) {
		/* Saved: the stream carries the source's own hashes. */
		if (s->p->verify) {
			rc = mig_hash_ram(s->vm, hashes);
			if (rc) {
				snprintf(s->msg, s->msglen,
					 "hashing RAM to verify it: out of memory");
				return rc;
			}
			rc = send_verify(s, hashes, mig_ram_pages(s->vm));
		}
		return rc;
	}
	return wait_for(s, MIG_REC_READY, s->p->verify ? hashes : NULL,
			mig_ram_pages(s->vm));
}

int mig_source(struct vmm *vm, struct mig_chan *ch, bool two_way,
	       const struct mig_params *p, struct mig_stats *st, char *msg,
	       size_t msglen)
{
	struct source s = {
		.vm = vm, .pt = vmm_passthrough(vm), .ch = ch,
		.two_way = two_way, .p = p, .st = st, .msg = msg,
		.msglen = msglen,
	};
	uint64_t npages = mig_ram_pages(vm), t_down = 0;
	uint64_t *dest_hashes = NULL, *my_hashes = NULL;
	struct vmm_dirty dirty = { 0 };
	bool go_sent = false;
	int rc;

	memset(st, 0, sizeof(*st));
	st->ram_bytes = npages * MIG_PAGE_SIZE;
	st->tracker = s.pt ? vmm_pt_tracker(s.pt) : VMM_TRACKER_NONE;
	st->outcome = MIG_OUTCOME_FAILED;
	st->expected_downtime_ms = UINT64_MAX;	/* unknown until a sync */
	s.t0 = s.bw_t0 = mig_now_ns();
	for (unsigned int i = 0; i < VMM_MAX_DEVICES; i++)
		s.data_fd[i] = -1;
	s.rec = xmalloc(MIG_REC_MAX_RAM);
	s.devbuf = xmalloc(MIG_REC_MAX_DEVICE > MIG_REC_MAX_VERIFY ?
				   MIG_REC_MAX_DEVICE :
				   MIG_REC_MAX_VERIFY);
	if (p->verify) {
		dest_hashes = xcalloc(npages, 8);
		my_hashes = xcalloc(npages, 8);
	}
	rc = vmm_dirty_init_ram(vm, &dirty);
	if (!s.rec || !s.devbuf || rc ||
	    (p->verify && (!dest_hashes || !my_hashes))) {
		snprintf(msg, msglen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	s.rec_len = 8;

	rc = setup(&s);
	if (!rc)
		rc = precopy(&s, &dirty);
	if (!rc) {
		t_down = mig_now_ns();
		rc = stop_and_copy(&s, &dirty, dest_hashes);
	}
	if (!rc && two_way) {
		/*
		 * The destination is loaded and checked: hand over. A GO whose
		 * write failed never reached it whole, and it runs only on a
		 * whole, checked record: the source may still resume then.
		 * Once written, the source cannot know.
		 */
		rc = send_rec(&s, MIG_REC_GO, NULL, 0);
		if (!rc) {
			go_sent = true;
			rc = wait_for(&s, MIG_REC_RUNNING, NULL, 0);
		}
		if (rc && go_sent) {
			st->outcome = MIG_OUTCOME_UNKNOWN;
			snprintf(msg + strlen(msg), msglen - strlen(msg),
				 "; GO was sent, so the destination may be running: the source stays stopped");
			goto out;
		}
		if (rc)
			goto out;	/* GO never left: resume */
		st->downtime_ms = (mig_now_ns() - t_down) / 1000000;
		st->outcome = MIG_OUTCOME_DONE;
	} else if (!rc) {
		rc = send_rec(&s, MIG_REC_GO, NULL, 0);
		st->downtime_ms = (mig_now_ns() - t_down) / 1000000;
		st->outcome = rc ? MIG_OUTCOME_FAILED : MIG_OUTCOME_SAVED;
	}
	if (!rc) {
		char m[VMM_MSG_LEN];

		/* Off the downtime path: the devices leave STOP_COPY. */
		for (unsigned int i = 0; i < ndev(&s); i++)
			vmm_pt_mig_set_state(s.pt, i, VFIO_DEVICE_STATE_STOP,
					     NULL, m, sizeof(m));
		if (p->verify && two_way) {
			/* Handed over already: no hashes only means no verdict. */
			if (!mig_hash_ram(vm, my_hashes))
				mig_compare_hashes(vm, my_hashes, dest_hashes,
						   st);
		} else if (p->verify) {
			st->verdict = MIG_VERIFY_OFF; /* checked on restore */
		}
	}
out:
	throttle_stop(&s);
	if (rc && !go_sent) {
		/* Nothing handed over: the source VM carries on. */
		if (two_way && ch)
			mig_send_error(ch, rc, msg);
		devices_resume(&s);
		dma_limit_lift(&s);
		vmm_resume(vm);
		st->outcome = MIG_OUTCOME_FAILED;
	}
	vmm_dirty_log_stop(vm);
	for (unsigned int i = 0; i < VMM_MAX_DEVICES; i++)
		if (s.data_fd[i] >= 0)
			close(s.data_fd[i]);
	st->switching_over = false;
	st->total_ms = (mig_now_ns() - s.t0) / 1000000;
	progress(&s, true);
	vmm_dirty_destroy(&dirty);
	xfree(my_hashes);
	xfree(dest_hashes);
	xfree(s.rxbuf);
	xfree(s.devbuf);
	xfree(s.rec);
	return rc;
}
