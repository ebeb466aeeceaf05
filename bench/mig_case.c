// SPDX-License-Identifier: MIT
/*
 * mig_case.c - one live migration of our VMM for a benchmark (mig_case.h):
 * the source in this process, the destination a child running `iodirty
 * incoming --json` on 127.0.0.1 (this same binary, exec'd: the emulated
 * host is per process, so the two never share one), the same VM options on
 * both sides, as `iodirty migrate --local` does.
 *
 * Filled RAM. A guest that never touched its RAM is mostly pages the memfd
 * holds no data for, which the first pass sends as zero markers without
 * reading them; a first-pass throughput measured on that is not a transfer
 * rate. With @fill, every page of RAM outside the payload's first 2 MiB and
 * the devices' DMA windows is written before the boot (through the memfd's
 * mapping: a 4 KiB pattern with the page's GPA in its second word and the
 * first word left 0, the RAM writer's pass 0), so each
 * page goes on the wire as 4 KiB of data, as in a guest that has used its
 * RAM. The windows are left to the device (the guest's driver checks every
 * block in them, and a filled one would read as a bad block).
 *
 * The first pass. struct mig_stats has no first-pass figures of its own;
 * the progress callback sees them: its first call in pass 1 with no page
 * of the next pass counted (pass_pages_sent 0) is the one right after the
 * first dirty sync, where bytes_sent and pages_sent hold the first pass
 * (plus the 16-byte header and the CONFIG record before it) and bandwidth
 * that pass's bytes over its time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/vmm.h>

#include "../src/migrate/transport.h"
#include "bench.h"
#include "mig_case.h"

#define SZ_2M		(2ULL << 20)
#define DEST_REPORT_MAX 8192
#define TIMEOUT_MS	20000

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Every page of [@p, @p + @len) at GPA @gpa: a pattern, the GPA in its
 * second word, and its first word 0 - the RAM writer's "pass 0", so that
 * its invariant (guest.h) holds for pages it has not written yet.
 */
static void fill_pages(uint8_t *p, uint64_t gpa, uint64_t len)
{
	uint64_t pattern[VMM_PAGE_SIZE / 8];

	pattern[0] = 0;
	for (unsigned int i = 1; i < VMM_PAGE_SIZE / 8; i++)
		pattern[i] = i * 0x9e3779b97f4a7c15ULL;
	for (uint64_t off = 0; off < len; off += VMM_PAGE_SIZE) {
		uint64_t tag = gpa + off;

		memcpy(p + off, pattern, sizeof(pattern));
		memcpy(p + off + 8, &tag, 8);
	}
}

static void fill_ram(struct vmm *vm, const struct mig_case *c,
		     struct mig_case_result *r)
{
	uint64_t gpa[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	uint8_t *hva[VMM_MAX_RAM_REGIONS];
	unsigned int n = vmm_ram(vm, gpa, size, hva);
	/* The payload's 2 MiB, then each device's window, 2 MiB-aligned. */
	uint64_t skip =
		MIG_CASE_RESERVED +
		c->ndevices * ((c->dma_window + SZ_2M - 1) & ~(SZ_2M - 1));
	uint64_t t0 = bench_now_ns();

	for (unsigned int i = 0; i < n; i++) {
		uint64_t from = gpa[i] < skip ? skip - gpa[i] : 0;

		if (from >= size[i])
			continue;
		fill_pages(hva[i] + from, gpa[i] + from, size[i] - from);
		r->fill_bytes += size[i] - from;
	}
	r->fill_ns = bench_now_ns() - t0;
}

struct dest {
	pid_t pid;
	int out_fd; /* its stdout: the --json report */
	char uri[128];
};

static void arg_u64(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* `iodirty incoming --json ... tcp:127.0.0.1:0`; its address via a pipe. */
static int dest_spawn(const struct mig_case *c, struct dest *d, char *msg,
		      size_t msglen)
{
	char exe[PATH_MAX], fdarg[16], mem[24], ws[24], rate[24], win[24],
		drate[24];
	char *argv[40];
	int rep[2], out[2], n = 0;
	ssize_t got, l;

	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l <= 0) {
		snprintf(msg, msglen, "cannot find this binary: %s",
			 strerror(errno));
		return -errno;
	}
	exe[l] = 0;
	if (pipe(rep))
		return -errno;
	if (pipe2(out, O_CLOEXEC)) {
		close(rep[0]);
		close(rep[1]);
		return -errno;
	}
	snprintf(fdarg, sizeof(fdarg), "%d", rep[1]);
	arg_u64(mem, sizeof(mem), c->mem);
	arg_u64(ws, sizeof(ws), c->ram_ws);
	arg_u64(rate, sizeof(rate), c->ram_rate);
	arg_u64(win, sizeof(win), c->dma_window);
	arg_u64(drate, sizeof(drate), c->dma_rate);
	argv[n++] = exe;
	argv[n++] = (char *)"incoming";
	argv[n++] = (char *)"--json";
	argv[n++] = (char *)"--report-fd";
	argv[n++] = fdarg;
	argv[n++] = (char *)"--run-seconds";
	argv[n++] = (char *)"1";
	argv[n++] = (char *)"--timeout";
	argv[n++] = (char *)"20000";
	argv[n++] = (char *)"--mem";
	argv[n++] = mem;
	argv[n++] = (char *)"--vcpus";
	argv[n++] = (char *)"1";
	argv[n++] = (char *)"--devices";
	argv[n++] = (char *)(c->ndevices ? MIG_CASE_DEVICES : "none");
	argv[n++] = (char *)"--ram-ws";
	argv[n++] = ws;
	argv[n++] = (char *)"--ram-rate";
	argv[n++] = rate;
	argv[n++] = (char *)"--dma-window";
	argv[n++] = win;
	argv[n++] = (char *)"--dma-rate";
	argv[n++] = drate;
	argv[n++] = (char *)"tcp:127.0.0.1:0";
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	d->pid = fork();
	if (d->pid < 0) {
		int rc = -errno;

		close(rep[0]);
		close(rep[1]);
		close(out[0]);
		close(out[1]);
		return rc;
	}
	if (!d->pid) {
		close(rep[0]);
		dup2(out[1], STDOUT_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	close(rep[1]);
	close(out[1]);
	d->out_fd = out[0];
	got = read(rep[0], d->uri, sizeof(d->uri) - 1);
	close(rep[0]);
	if (got <= 0) {
		snprintf(msg, msglen, "the destination did not start");
		return -EIO;
	}
	d->uri[got] = 0;
	d->uri[strcspn(d->uri, "\n")] = 0;
	return 0;
}

/* A number member of the destination's JSON report; 0 if absent. */
static uint64_t report_u64(const char *text, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = strstr(text, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

/* Read the destination's report and wait for it; 0 if it ran the guest. */
static int dest_finish(struct dest *d, bool kill_it, struct mig_case_result *r)
{
	char *text = calloc(1, DEST_REPORT_MAX);
	size_t have = 0;
	int status = 0;

	if (kill_it)
		kill(d->pid, SIGTERM);
	while (text && have < DEST_REPORT_MAX - 1) {
		ssize_t n = read(d->out_fd, text + have,
				 DEST_REPORT_MAX - 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(d->out_fd);
	while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (text) {
		r->dest_guest_pages_after =
			report_u64(text, "guest_ram_pages_after");
		r->dest_dma_bad = report_u64(text, "guest_dma_bad");
		r->dest_ok = WIFEXITED(status) && !WEXITSTATUS(status) &&
			     strstr(text, "\"failed\": \"\"");
		if (!r->dest_ok) {
			const char *check =
				strstr(text, "\"ram_writer_check\"");

			snprintf(r->dest_report, sizeof(r->dest_report),
				 "exit status 0x%x: %s", (unsigned int)status,
				 check ? check : text);
		}
	}
	free(text);
	return r->dest_ok ? 0 : -EIO;
}

struct pass1_hook {
	struct mig_case_result *r;
};

static void on_progress(const struct mig_stats *st, void *opaque)
{
	struct pass1_hook *h = opaque;
	struct mig_case_result *r = h->r;

	/* Right after the first dirty sync: see the file's comment. */
	if (r->pass1_seen || st->pass != 1 || st->pass_pages_sent ||
	    !st->pages_sent || !st->bandwidth)
		return;
	r->pass1_seen = true;
	r->pass1_wire_bytes = st->bytes_sent;
	r->pass1_ns = (uint64_t)((double)st->bytes_sent * 1e9 /
				 (double)st->bandwidth);
	r->pass1_pages = st->pages_sent;
	r->pass1_zero_pages = st->zero_pages;
}

static void case_config(const struct mig_case *c, struct vmm_config *cfg,
			struct iod_log *log)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem = c->mem;
	cfg->vcpus = 1;
	cfg->ram_ws = c->ram_ws;
	cfg->ram_rate = c->ram_rate;
	cfg->dma_window = c->dma_window;
	cfg->dma_rate = c->dma_rate;
	cfg->dma_block = 4096;
	cfg->ndevices = c->ndevices;
	cfg->pt = (struct vmm_pt_config){
		.backend = VMM_PT_IOMMUFD,
		.tracker = VMM_TRACKER_AUTO,
		.enable_migration = VMM_AUTO,
		.device_dirty_tracking = true,
		.precopy_dirty_tracking = true,
		.log = log,
	};
	cfg->log = log;
}

int mig_case_run(const struct mig_case *c, struct mig_case_result *r)
{
	struct iod_log log = { .fn = iod_log_stderr, .level = IOD_LOG_ERR };
	struct mig_transport t = { .fd = -1 };
	struct pass1_hook hook = { .r = r };
	struct vmm_guest_stats g0, g1;
	struct vmm_config cfg;
	enum vmm_tracker tracker;
	struct mig_params p;
	struct dest d = { .pid = -1, .out_fd = -1 };
	struct mig_uri uri;
	struct vmm *vm = NULL;
	char why[VMM_MSG_LEN] = "";
	int rc;

	memset(r, 0, sizeof(*r));
	case_config(c, &cfg, &log);
	/* The emulated host is built once per process, from this. */
	setenv("IODIRTY_DEVICES", MIG_CASE_DEVICES, 0);
	rc = dest_spawn(c, &d, r->msg, sizeof(r->msg));
	if (rc)
		return r->rc = rc;
	rc = vmm_create(&cfg, &vm, why, sizeof(why));
	if (rc) {
		snprintf(r->msg, sizeof(r->msg), "source VM: %s", why);
		goto out_dest;
	}
	if (vmm_passthrough(vm)) {
		rc = vmm_pt_choose_tracker(vmm_passthrough(vm), &tracker, why,
					   sizeof(why));
		if (rc) {
			snprintf(r->msg, sizeof(r->msg),
				 "migration is blocked: %s", why);
			goto out_vm;
		}
	}
	if (c->fill)
		fill_ram(vm, c, r);
	rc = vmm_start(vm);
	if (rc) {
		snprintf(r->msg, sizeof(r->msg), "starting the vCPU: %s",
			 strerror(-rc));
		goto out_vm;
	}
	vmm_guest_stats(vm, &g0);
	r->warmup_ns = bench_now_ns();
	sleep_ms(c->warmup_ms);
	vmm_guest_stats(vm, &g1);
	r->warmup_ns = bench_now_ns() - r->warmup_ns;
	r->warmup_pages = g1.ram_pages - g0.ram_pages;
	if (vmm_failed(vm)) {
		snprintf(r->msg, sizeof(r->msg), "the guest stopped: %s",
			 vmm_failed(vm));
		rc = -EIO;
		goto out_vm;
	}

	rc = mig_uri_parse(d.uri, &uri, r->msg, sizeof(r->msg));
	if (!rc)
		rc = mig_connect(&uri, TIMEOUT_MS, &t, r->msg, sizeof(r->msg));
	if (rc)
		goto out_vm;
	mig_params_default(&p);
	p.downtime_limit_ms = c->downtime_limit_ms;
	p.timeout_ms = TIMEOUT_MS;
	p.progress = on_progress;
	p.progress_opaque = &hook;
	rc = mig_source(vm, &t.chan, t.two_way, &p, &r->st, r->msg,
			sizeof(r->msg));
	mig_transport_close(&t);
out_vm:
	vmm_destroy(vm);
out_dest:
	if (dest_finish(&d, rc != 0, r) && !rc) {
		snprintf(
			r->msg, sizeof(r->msg),
			"the destination did not run the guest cleanly (%.400s)",
			r->dest_report);
		rc = -EIO;
	}
	if (!rc && r->dest_dma_bad) {
		snprintf(r->msg, sizeof(r->msg),
			 "the guest saw %llu bad DMA blocks on the destination",
			 (unsigned long long)r->dest_dma_bad);
		rc = -EIO;
	}
	return r->rc = rc;
}

double mig_case_wire_bps(const struct mig_case_result *r)
{
	return r->pass1_ns ?
		       (double)r->pass1_wire_bytes * 1e9 / (double)r->pass1_ns :
		       0;
}

double mig_case_ram_bps(const struct mig_case_result *r)
{
	return r->pass1_ns ? (double)r->pass1_pages * VMM_PAGE_SIZE * 1e9 /
				     (double)r->pass1_ns :
			     0;
}
