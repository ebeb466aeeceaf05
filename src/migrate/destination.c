// SPDX-License-Identifier: MIT
/*
 * destination.c - the destination side of a live migration (migrate.h):
 * check the source's VM shape against ours, take RAM, device state and
 * vCPU state into a VM that is not running, load and check everything at
 * END, and run only on GO. Every record comes through stream.c, which
 * checks its bounds and integrity; here each is checked against this VM
 * (a page outside RAM, a device or vCPU that does not exist, records out of
 * order) before anything is applied.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/uapi/iodirty_dma.h>
#include <iodirty/uapi/vfio.h>

#include "migrate_private.h"

struct dest {
	struct vmm *vm;
	struct vmm_pt *pt;
	struct mig_chan *ch;
	bool two_way;
	const struct mig_params *p;
	struct mig_stats *st;
	char *msg;
	size_t msglen;
	int data_fd[VMM_MAX_DEVICES];
	uint8_t *cpu[MIG_MAX_VCPUS];	/* saved vCPU state, loaded at END */
	uint32_t cpu_len[MIG_MAX_VCPUS];
	uint64_t end_seq[MIG_MAX_DEVICES];
	uint64_t *hashes;		/* ours, at END (--verify) */
	uint64_t *src_hashes;		/* the source's (one-way streams) */
	struct vmm_dirty held;		/* pages that may hold non-zero data */
	bool ended;
};

static unsigned int ndev(struct dest *d)
{
	return d->pt ? vmm_pt_ndevices(d->pt) : 0;
}

static int fail(struct dest *d, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct dest *d, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->msg, d->msglen, fmt, ap);
	va_end(ap);
	return rc;
}

static int take_ram(struct dest *d, const struct mig_record *rec)
{
	struct mig_ram_page pg;
	uint64_t i = 0;
	size_t off = 0;
	int rc;

	while (!(rc = mig_ram_next(rec, &i, &off, &pg))) {
		uint8_t *hva = mig_gpa_hva(d->vm, pg.gpa);

		if (!hva)
			return fail(d, -ERANGE,
				    "the stream has a page at GPA 0x%llx, outside this VM's RAM",
				    (unsigned long long)pg.gpa);
		/* A page never written here is zero: leave it untouched. */
		if (!pg.zero) {
			memcpy(hva, pg.data, MIG_PAGE_SIZE);
			vmm_dirty_set(&d->held, pg.gpa, MIG_PAGE_SIZE);
		} else if (vmm_dirty_test(&d->held, pg.gpa)) {
			memset(hva, 0, MIG_PAGE_SIZE);
		}
		d->st->pages_sent++;
		if (pg.zero)
			d->st->zero_pages++;
	}
	return rc == 1 ? 0 : fail(d, -EPROTO, "malformed RAM record");
}

static int take_device(struct dest *d, const struct mig_record *rec)
{
	uint32_t i = rec->device.device;
	const uint8_t *p = rec->device.data;
	uint64_t left = rec->device.len;

	if (i >= ndev(d))
		return fail(d, -ERANGE,
			    "the stream has state for device %u; this VM has %u",
			    i, ndev(d));
	while (left) {
		ssize_t n = write(d->data_fd[i], p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(d, n < 0 ? -errno : -EIO,
				    "%s: writing its migration state: %s",
				    vmm_pt_device(d->pt, i)->name,
				    strerror(n < 0 ? errno : EIO));
		p += n;
		left -= (uint64_t)n;
	}
	d->st->device_bytes += rec->device.len;
	return 0;
}

static int take_cpu(struct dest *d, const struct mig_record *rec)
{
	uint32_t v = rec->cpu.vcpu;

	if (v >= vmm_config(d->vm)->vcpus)
		return fail(d, -ERANGE,
			    "the stream has state for vCPU %u; this VM has %u",
			    v, vmm_config(d->vm)->vcpus);
	xfree(d->cpu[v]);
	d->cpu[v] = xmalloc(rec->cpu.len ? rec->cpu.len : 1);
	if (!d->cpu[v])
		return fail(d, -ENOMEM, "out of memory");
	memcpy(d->cpu[v], rec->cpu.data, rec->cpu.len);
	d->cpu_len[v] = rec->cpu.len;
	return 0;
}

static int take_verify(struct dest *d, const struct mig_record *rec)
{
	uint64_t n = mig_ram_pages(d->vm);

	if (!d->src_hashes)
		return 0;	/* not asked to verify: ignore */
	if (rec->verify.first > n || rec->verify.count > n - rec->verify.first)
		return fail(d, -ERANGE, "VERIFY record beyond this VM's RAM");
	memcpy(d->src_hashes + rec->verify.first, rec->verify.hashes,
	       rec->verify.count * 8);
	return 0;
}

/*
 * END: everything the source had is here. Load the devices (their drivers
 * check the state: a mismatch fails), check their sequence numbers carried
 * over, set the vCPUs; nothing runs yet.
 */
static int finish(struct dest *d, const struct mig_record *rec)
{
	uint64_t t0 = mig_now_ns(), t1;
	int rc;

	if (rec->end.ndevices != ndev(d))
		return fail(d, -EPROTO, "END names %u devices; this VM has %u",
			    rec->end.ndevices, ndev(d));
	for (unsigned int i = 0; i < ndev(d); i++) {
		uint64_t seq = 0;

		rc = vmm_pt_mig_set_state(d->pt, i, VFIO_DEVICE_STATE_STOP,
					  NULL, d->msg, d->msglen);
		if (rc)
			return fail(d, rc,
				    "%s: the device refused its state (a device-state mismatch): %s",
				    vmm_pt_device(d->pt, i)->name,
				    strerror(-rc));
		close(d->data_fd[i]);
		d->data_fd[i] = -1;
		vmm_pt_reg_read(d->pt, i, DMA_REG_SEQ, &seq, 8);
		d->end_seq[i] = rec->end.seq[i];
		if (seq != rec->end.seq[i])
			return fail(d, -EPROTO,
				    "%s: DMA sequence %llu after loading, %llu at the source's stop",
				    vmm_pt_device(d->pt, i)->name,
				    (unsigned long long)seq,
				    (unsigned long long)rec->end.seq[i]);
	}
	d->st->dma_seq_continuous = true;
	for (unsigned int v = 0; v < vmm_config(d->vm)->vcpus; v++) {
		if (!d->cpu[v])
			return fail(d, -EPROTO, "no state for vCPU %u", v);
		rc = vmm_cpu_load(d->vm, v, d->cpu[v], d->cpu_len[v]);
		if (rc)
			return fail(d, rc, "vCPU %u: its state is refused: %s",
				    v, strerror(-rc));
	}
	t1 = mig_now_ns();
	if (d->hashes && mig_hash_ram(d->vm, d->hashes))
		return fail(d, -ENOMEM, "hashing RAM to verify it: out of memory");
	d->st->dest_load_ms = (mig_now_ns() - t0) / 1000000;
	d->st->dest_verify_ms = (mig_now_ns() - t1) / 1000000;
	d->ended = true;
	return 0;
}

static int send_hashes(struct dest *d)
{
	const uint64_t per = (MIG_REC_MAX_VERIFY - 16) / 8;
	uint64_t n = mig_ram_pages(d->vm);
	uint8_t *buf = xmalloc(MIG_REC_MAX_VERIFY);
	int rc = buf ? 0 : -ENOMEM;

	for (uint64_t first = 0; !rc && first < n; first += per) {
		uint64_t count = n - first < per ? n - first : per;

		memcpy(buf, &first, 8);
		memcpy(buf + 8, &count, 8);
		memcpy(buf + 16, d->hashes + first, count * 8);
		rc = mig_write_record(d->ch, MIG_REC_VERIFY, buf,
				      16 + count * 8);
	}
	xfree(buf);
	return rc;
}

/* GO: run. The devices go back to RUNNING, then the vCPUs start. */
static int go(struct dest *d)
{
	int rc;

	for (unsigned int i = 0; i < ndev(d); i++) {
		rc = vmm_pt_mig_set_state(d->pt, i, VFIO_DEVICE_STATE_RUNNING,
					  NULL, d->msg, d->msglen);
		if (rc)
			return rc;
	}
	rc = vmm_start(d->vm);
	if (rc)
		return fail(d, rc, "starting the vCPUs: %s", strerror(-rc));
	return 0;
}

int mig_destination(struct vmm *vm, struct mig_chan *ch, bool two_way,
		    const struct mig_params *p, struct mig_stats *st,
		    char *msg, size_t msglen)
{
	struct dest d = {
		.vm = vm, .pt = vmm_passthrough(vm), .ch = ch,
		.two_way = two_way, .p = p, .st = st, .msg = msg,
		.msglen = msglen,
	};
	struct mig_config mine;
	struct mig_record rec;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t t0 = mig_now_ns(), npages = mig_ram_pages(vm);
	bool running = false, have_config = false;
	int rc;

	memset(st, 0, sizeof(*st));
	st->ram_bytes = npages * MIG_PAGE_SIZE;
	st->outcome = MIG_OUTCOME_FAILED;
	for (unsigned int i = 0; i < VMM_MAX_DEVICES; i++)
		d.data_fd[i] = -1;
	if (p->verify) {
		d.hashes = xcalloc(npages, 8);
		d.src_hashes = two_way ? NULL : xcalloc(npages, 8);
		if (!d.hashes || (!two_way && !d.src_hashes)) {
			rc = fail(&d, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (vmm_dirty_init_ram(vm, &d.held)) {
		rc = fail(&d, -ENOMEM, "out of memory");
		goto out;
	}
	vmm_ram_populated(vm, &d.held);	/* on failure, all marked */
	mig_config_of(vm, &mine);

	rc = mig_read_header(ch, msg, msglen);
	if (rc)
		goto out;
	for (;;) {
		rc = mig_read_record(ch, &buf, &cap, &rec, msg, msglen);
		if (rc)
			goto out;
		/* The order the source sends in, and nothing else. */
		if (!have_config && rec.type != MIG_REC_CONFIG) {
			rc = fail(&d, -EPROTO, "%s before CONFIG",
				  mig_rec_name(rec.type));
			goto out;
		}
		if (d.ended && rec.type != MIG_REC_GO &&
		    rec.type != MIG_REC_VERIFY) {
			rc = fail(&d, -EPROTO, "%s after END",
				  mig_rec_name(rec.type));
			goto out;
		}
		switch (rec.type) {
		case MIG_REC_CONFIG:
			if (have_config) {
				rc = fail(&d, -EPROTO, "a second CONFIG");
				break;
			}
			rc = mig_config_check(&mine, &rec.config, msg, msglen);
			if (rc)
				break;
			have_config = true;
			/* Every device takes its state from now on. */
			for (unsigned int i = 0; !rc && i < ndev(&d); i++)
				rc = vmm_pt_mig_set_state(d.pt, i,
							  VFIO_DEVICE_STATE_RESUMING,
							  &d.data_fd[i], msg,
							  msglen);
			if (!rc && two_way)
				rc = mig_write_record(ch, MIG_REC_CONFIG_OK,
						      NULL, 0);
			break;
		case MIG_REC_RAM:
			rc = take_ram(&d, &rec);
			break;
		case MIG_REC_DEVICE:
			rc = take_device(&d, &rec);
			break;
		case MIG_REC_PASS:
			st->pass = (unsigned int)rec.pass.pass;
			break;
		case MIG_REC_CPU:
			rc = take_cpu(&d, &rec);
			break;
		case MIG_REC_END:
			rc = finish(&d, &rec);
			if (!rc && two_way && d.hashes)
				rc = send_hashes(&d);
			if (!rc && two_way)
				rc = mig_write_record(ch, MIG_REC_READY, NULL,
						      0);
			break;
		case MIG_REC_VERIFY:
			rc = take_verify(&d, &rec);
			break;
		case MIG_REC_GO:
			if (!d.ended) {
				rc = fail(&d, -EPROTO, "GO before END");
				break;
			}
			rc = go(&d);
			if (rc)
				break;
			running = true;
			if (two_way)
				mig_write_record(ch, MIG_REC_RUNNING, NULL, 0);
			if (d.src_hashes && d.hashes)
				mig_compare_hashes(vm, d.hashes, d.src_hashes, st);
			st->outcome = MIG_OUTCOME_DONE;
			goto out;
		case MIG_REC_ERROR:
			rc = fail(&d, rec.error.err < 0 ? rec.error.err : -EIO,
				  "the source gave up: %s", rec.error.text);
			break;
		default:
			rc = fail(&d, -EPROTO, "unexpected %s from the source",
				  mig_rec_name(rec.type));
		}
		if (rc)
			goto out;
	}
out:
	if (rc && !running && two_way)
		mig_send_error(ch, rc, msg);
	for (unsigned int i = 0; i < VMM_MAX_DEVICES; i++)
		if (d.data_fd[i] >= 0)
			close(d.data_fd[i]);
	for (unsigned int v = 0; v < MIG_MAX_VCPUS; v++)
		xfree(d.cpu[v]);
	xfree(d.hashes);
	xfree(d.src_hashes);
	vmm_dirty_destroy(&d.held);
	xfree(buf);
	st->total_ms = (mig_now_ns() - t0) / 1000000;
	return rc;
}
