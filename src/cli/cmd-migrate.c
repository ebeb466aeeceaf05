// SPDX-License-Identifier: MIT
/*
 * cmd-migrate.c - `iodirty migrate URI | --local`: boot the VM (same
 * options as `run`), let the devices DMA for a moment, and live-migrate it
 * to `iodirty incoming` at URI. --local starts that destination itself, on
 * loopback, and is the one-command demo. A terminal gets a live progress
 * line; the end is a verdict: pages sent, downtime, tracker, and whether
 * the destination's RAM is identical to the source's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iodirty/json.h>
#include <iodirty/migrate.h>
#include <iodirty/parse.h>

#include "../migrate/transport.h"
#include "vmopts.h"

static volatile int switchover_now;

static void on_sigusr1(int sig)
{
	(void)sig;
	__atomic_store_n(&switchover_now, 1, __ATOMIC_RELAXED);
}

static double mib(uint64_t b)
{
	return (double)b / (1 << 20);
}

/* The progress line, redrawn in place on a terminal. */
static void show_progress(const struct mig_stats *st, void *opaque)
{
	bool tty = *(bool *)opaque;
	uint64_t sent = st->bytes_sent, done = st->pass_pages_sent;
	char bar[21], down[32];
	unsigned int fill = 20;	/* the bar: this pass's pages */

	if (!tty)
		return;
	if (done > st->pass_pages)
		done = st->pass_pages;
	if (st->pass_pages)
		fill = (unsigned int)(20 * done / st->pass_pages);
	memset(bar, '#', fill);
	memset(bar + fill, '-', 20 - fill);
	bar[20] = 0;
	if (st->expected_downtime_ms == UINT64_MAX)
		snprintf(down, sizeof(down), "-");	/* before the first sync */
	else
		snprintf(down, sizeof(down), "%llu ms",
			 (unsigned long long)st->expected_downtime_ms);
	fprintf(stderr,
		"\r\033[K[%s] pass %u | %.0f MiB sent | remaining %.1f MiB | dirty cpu %.0f dma %.0f MiB/s | %.0f MiB/s | expected downtime %s",
		bar, st->pass, mib(sent), mib(st->remaining_bytes),
		mib(st->cpu_dirty_rate * 4096), mib(st->dma_dirty_rate * 4096),
		mib(st->bandwidth), down);
	if (st->throttle_pct)
		fprintf(stderr, " | vCPU throttle %u%%", st->throttle_pct);
	if (st->dma_limited)
		fprintf(stderr, " | DMA limited");
	if (st->switching_over)
		fprintf(stderr, " | switching over");
	fflush(stderr);
}

/* --local: start `iodirty incoming` on loopback; its address via a pipe. */
static pid_t spawn_destination(char **vm_argv, int vm_argc, bool verify,
			       bool json, char *uri, size_t urilen)
{
	char exe[PATH_MAX], fdarg[16];
	char *argv[128];
	int pipefd[2], n = 0;
	ssize_t got;
	pid_t pid;

	got = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (got <= 0)
		die("migrate --local: cannot find myself: %s", strerror(errno));
	exe[got] = 0;
	if (pipe(pipefd))
		die("migrate --local: pipe: %s", strerror(errno));
	snprintf(fdarg, sizeof(fdarg), "%d", pipefd[1]);
	argv[n++] = exe;
	argv[n++] = (char *)"incoming";
	argv[n++] = (char *)"--report-fd";
	argv[n++] = fdarg;
	argv[n++] = (char *)"--run-seconds";
	argv[n++] = (char *)"2";
	if (verify)
		argv[n++] = (char *)"--verify";
	for (int i = 0; i < vm_argc && n < 120; i++)
		argv[n++] = vm_argv[i];
	argv[n++] = (char *)"tcp:127.0.0.1:0";
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		die("migrate --local: fork: %s", strerror(errno));
	if (!pid) {
		close(pipefd[0]);
		if (json)	/* stdout is for the summary alone */
			dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	close(pipefd[1]);
	got = read(pipefd[0], uri, urilen - 1);
	close(pipefd[0]);
	if (got <= 0)
		die("migrate --local: the destination did not start");
	uri[got] = 0;
	uri[strcspn(uri, "\n")] = 0;
	return pid;
}

int cmd_migrate(int argc, char **argv)
{
	static const struct option own[] = {
		{ "local", no_argument, NULL, 'l' },
		{ "verify", no_argument, NULL, 'V' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "downtime-limit", required_argument, NULL, 'd' },
		{ "max-bandwidth", required_argument, NULL, 'b' },
		{ "max-passes", required_argument, NULL, 'p' },
		{ "auto-converge", no_argument, NULL, 'c' },
		{ "dma-limit", required_argument, NULL, 'D' },
		{ "timeout", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("migrate");
	struct mig_transport t = { .fd = -1 };
	enum vmm_tracker tracker = VMM_TRACKER_NONE;
	char msg[512] = "", blocker[VMM_MSG_LEN] = "", uristr[300] = "";
	uint64_t warmup = 3, v;
	char *vm_argv[96];
	int vm_argc = 0, c, rc, status = 0;
	bool local = false, json = false, tty, verify = false;
	bool dest_failed = false;	/* --local: the destination's exit */
	bool verify_set = false;
	struct mig_params p;
	struct mig_stats st;
	struct mig_uri uri;
	struct vm_opts o;
	struct vmm *vm;
	pid_t child = -1;

	vm_opts_init(&o);
	mig_params_default(&p);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", vm_opts_merge(own), NULL)) != -1) {
		if (vm_opts_parse(&o, c, optarg, self)) {
			/* The destination gets the same VM options. */
			if (vm_argc < 94) {
				vm_argv[vm_argc++] = argv[optind - (optarg ? 2 : 1)];
				if (optarg && argv[optind - 1] == optarg)
					vm_argv[vm_argc++] = optarg;
				else if (optarg)
					vm_argv[vm_argc - 1] = argv[optind - 1];
			}
			continue;
		}
		switch (c) {
		case 'l':
			local = true;
			break;
		case 'V':
			verify = verify_set = true;
			break;
		case 'N':
			verify = false;
			verify_set = true;
			break;
		case 'd':
			if (parse_u64(optarg, &p.downtime_limit_ms) ||
			    !p.downtime_limit_ms)
				usage_error(self, "--downtime-limit takes milliseconds");
			break;
		case 'b':
			if (parse_size(optarg, &p.max_bandwidth))
				usage_error(self, "--max-bandwidth takes bytes per second (like 1G)");
			break;
		case 'p':
			if (parse_u64(optarg, &v) || !v || v > 10000)
				usage_error(self, "--max-passes takes 1..10000");
			p.max_passes = (unsigned int)v;
			break;
		case 'c':
			p.auto_converge = true;
			break;
		case 'D':
			if (parse_size(optarg, &p.dma_rate_limit) ||
			    !p.dma_rate_limit)
				usage_error(self, "--dma-limit takes bytes per second");
			break;
		case 't':
			if (parse_u64(optarg, &v) || !v || v > 3600000)
				usage_error(self, "--timeout takes milliseconds");
			p.timeout_ms = (int)v;
			break;
		case 'w':
			if (parse_u64(optarg, &warmup) || warmup > 3600)
				usage_error(self, "--warmup takes seconds");
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("usage: iodirty migrate %s\n\n%s\n", self->usage,
			       self->help);
			return 0;
		default:
			usage_error(self, "unknown option");
		}
	}
	if (local && optind != argc)
		usage_error(self, "--local takes no URI");
	if (!local && optind != argc - 1)
		usage_error(self, "where to? a URI (tcp:HOST:PORT, unix:PATH, file:PATH, fd:N) or --local");
	p.verify = verify_set ? verify : local;
	if (!local && mig_uri_parse(argv[optind], &uri, msg, sizeof(msg)))
		usage_error(self, "%s", msg);
	vm_opts_finish(&o, self);
	tty = isatty(STDERR_FILENO) && !json;

	if (vmm_available(msg, sizeof(msg)))
		die("migrate: %s", msg);
	if (vmm_create(&o.cfg, &vm, msg, sizeof(msg)))
		die("migrate: %s", msg);
	if (vmm_passthrough(vm)) {
		rc = vmm_pt_choose_tracker(vmm_passthrough(vm), &tracker,
					   blocker, sizeof(blocker));
		if (rc) {
			fprintf(stderr, "iodirty migrate: migration is blocked: %s\n",
				blocker);
			fprintf(stderr, "  (--force migrates anyway, losing what the devices write)\n");
			vmm_destroy(vm);
			return 1;
		}
		if (tracker == VMM_TRACKER_NONE)
			fprintf(stderr,
				"iodirty migrate: WARNING: nothing tracks what the devices write; their DMA during the migration will be lost and --verify will say so\n");
	}
	if (!json)
		printf("source: %llu MiB, %u vCPU%s, %u device%s, tracker %s\n",
		       (unsigned long long)(o.cfg.mem >> 20), o.cfg.vcpus,
		       o.cfg.vcpus > 1 ? "s" : "", o.cfg.ndevices,
		       o.cfg.ndevices == 1 ? "" : "s", vmm_tracker_name(tracker));

	if (local)
		child = spawn_destination(vm_argv, vm_argc, p.verify, json, uristr,
					  sizeof(uristr));
	else
		snprintf(uristr, sizeof(uristr), "%s", argv[optind]);
	if (local && mig_uri_parse(uristr, &uri, msg, sizeof(msg)))
		die("migrate: the destination said '%s': %s", uristr, msg);

	rc = vmm_start(vm);
	if (rc)
		die("migrate: starting vCPUs: %s", strerror(-rc));
	if (!json && warmup)
		printf("warming up: the guest writes RAM and its devices DMA for %llu s\n",
		       (unsigned long long)warmup);
	fflush(stdout);
	sleep((unsigned int)warmup);
	if (vmm_failed(vm))
		die("migrate: the VM stopped before migrating: %s",
		    vmm_failed(vm));

	if (uri.kind == MIG_URI_TCP || uri.kind == MIG_URI_UNIX)
		rc = mig_connect(&uri, p.timeout_ms, &t, msg, sizeof(msg));
	else
		rc = mig_open_file(&uri, true, p.timeout_ms, &t, msg,
				   sizeof(msg));
	if (rc) {
		fprintf(stderr, "iodirty migrate: %s; nothing was sent, the VM was not moved\n",
			msg);
		rc = 1;
		goto out_destroy;
	}
	signal(SIGUSR1, on_sigusr1);
	p.switchover_now = &switchover_now;
	p.progress = show_progress;
	p.progress_opaque = &tty;
	if (!json)
		printf("migrating to %s%s\n", uristr,
		       p.verify ? " (verifying RAM)" : "");
	fflush(stdout);
	rc = mig_source(vm, &t.chan, t.two_way, &p, &st, msg, sizeof(msg));
	mig_transport_close(&t);
	if (tty)
		fprintf(stderr, "\n");
	if (child > 0) {
		/* Its report of the guest after the move first; ours ends. */
		vmm_destroy(vm);
		vm = NULL;
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
		dest_failed = !WIFEXITED(status) || WEXITSTATUS(status);
		child = 0;
	}

	if (json) {
		struct json j;

		json_init(&j, stdout, 1);
		json_open(&j, NULL, '{');
		json_str(&j, "outcome", st.outcome == MIG_OUTCOME_DONE ? "done" :
				       st.outcome == MIG_OUTCOME_SAVED ? "saved" :
				       st.outcome == MIG_OUTCOME_UNKNOWN ? "unknown" :
									   "failed");
		json_str(&j, "error", rc ? msg : "");
		json_u64(&j, "total_ms", st.total_ms);
		json_u64(&j, "downtime_ms", st.downtime_ms);
		json_u64(&j, "setup_ms", st.setup_ms);
		json_u64(&j, "passes", st.pass);
		json_u64(&j, "bytes_sent", st.bytes_sent);
		json_u64(&j, "pages_sent", st.pages_sent);
		json_u64(&j, "zero_pages", st.zero_pages);
		json_u64(&j, "device_state_bytes", st.device_bytes);
		json_u64(&j, "cpu_dirty_pages", st.cpu_dirty_pages);
		json_u64(&j, "dma_dirty_pages", st.dma_dirty_pages);
		json_u64(&j, "cpu_dirty_rate_pages_per_s", st.cpu_dirty_rate);
		json_u64(&j, "dma_dirty_rate_pages_per_s", st.dma_dirty_rate);
		json_u64(&j, "bandwidth_bytes_per_s", st.bandwidth);
		json_str(&j, "tracker", vmm_tracker_name(st.tracker));
		json_u64(&j, "throttle_max_pct", st.max_throttle_pct);
		json_u64(&j, "dma_rate_limited", st.dma_limited);
		json_str(&j, "verified", st.verdict == MIG_VERIFY_IDENTICAL ? "identical" :
					st.verdict == MIG_VERIFY_DIFFERENT ? "different" :
									    "not checked");
		json_u64(&j, "verify_mismatch_pages", st.verify_mismatch);
		json_close(&j);
	} else if (!rc) {
		char dev[32], sent[32];

		printf("migration %s in %.1f s: %u pass%s, %s sent (%llu pages, %llu of them zero), device state %s\n",
		       st.outcome == MIG_OUTCOME_SAVED ? "saved" : "complete",
		       (double)st.total_ms / 1000, st.pass,
		       st.pass == 1 ? "" : "es",
		       size_str(sent, sizeof(sent), st.bytes_sent),
		       (unsigned long long)st.pages_sent,
		       (unsigned long long)st.zero_pages,
		       size_str(dev, sizeof(dev), st.device_bytes));
		printf("  downtime %llu ms (limit %llu ms), setup %llu ms\n",
		       (unsigned long long)st.downtime_ms,
		       (unsigned long long)p.downtime_limit_ms,
		       (unsigned long long)st.setup_ms);
		printf("  tracker %s: dirtied by CPU %llu pages, by DMA %llu pages; vCPU throttle %s; device DMA rate limit %s\n",
		       vmm_tracker_name(st.tracker),
		       (unsigned long long)st.cpu_dirty_pages,
		       (unsigned long long)st.dma_dirty_pages,
		       st.max_throttle_pct ? "applied" : "not needed",
		       st.dma_limited ? "applied" : "not needed");
		if (st.max_throttle_pct)
			printf("  vCPU throttle reached %u%%\n", st.max_throttle_pct);
		if (st.verdict == MIG_VERIFY_IDENTICAL)
			printf("destination RAM identical (%llu pages compared)\n",
			       (unsigned long long)st.verify_pages);
		else if (st.verdict == MIG_VERIFY_DIFFERENT)
			printf("destination RAM DIFFERS in %llu of %llu pages (first at GPA 0x%llx): writes were lost\n",
			       (unsigned long long)st.verify_mismatch,
			       (unsigned long long)st.verify_pages,
			       (unsigned long long)st.verify_first_gpa);
	} else {
		fprintf(stderr, "iodirty migrate: migration failed: %s\n", msg);
		fprintf(stderr, "  %s\n",
			st.outcome == MIG_OUTCOME_UNKNOWN ?
				"the outcome is unknown: the source stays stopped so that two copies never run" :
				"the source VM resumed: nothing was handed over, nothing lost");
	}
	if (dest_failed)
		fprintf(stderr, "iodirty migrate: the destination reported a failure (exit status 0x%x)\n",
			status);
	fflush(stdout);
	if (!rc && st.verdict == MIG_VERIFY_DIFFERENT)
		rc = 3;
	else if (rc || dest_failed)
		rc = 1;
out_destroy:
	if (vm)
		vmm_destroy(vm);
	if (child > 0) {
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
	}
	return rc;
}
