// SPDX-License-Identifier: MIT
/*
 * cmd-incoming.c - `iodirty incoming URI`: the destination of a live
 * migration. Builds the same VM as the source (same VM options), waits for
 * the source on URI, takes the migration, and on success runs the VM for
 * --run-seconds (or until Ctrl-C), reporting what the guest's own checks
 * say afterwards.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iodirty/json.h>
#include <iodirty/migrate.h>
#include <iodirty/parse.h>

#include "../migrate/transport.h"
#include "vmopts.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int cmd_incoming(int argc, char **argv)
{
	static const struct option own[] = {
		{ "verify", no_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ "accept-timeout", required_argument, NULL, 'a' },
		{ "run-seconds", required_argument, NULL, 'r' },
		{ "report-fd", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("incoming");
	uint64_t run_seconds = 0, timeout = 10000, accept_timeout = 60000, v;
	struct vmm_guest_stats g0, g;
	char ram_msg[256] = "";
	bool ram_ok;
	struct mig_transport t = { .fd = -1 };
	char msg[512] = "", actual[300];
	int c, rc, listen_fd = -1, report_fd = -1;
	struct mig_params p;
	struct mig_stats st;
	struct mig_uri uri;
	struct vm_opts o;
	struct vmm *vm;
	bool json = false;

	vm_opts_init(&o);
	mig_params_default(&p);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", vm_opts_merge(own), NULL)) != -1) {
		if (vm_opts_parse(&o, c, optarg, self))
			continue;
		switch (c) {
		case 'V':
			p.verify = true;
			break;
		case 't':
			if (parse_u64(optarg, &timeout) || !timeout)
				usage_error(self, "--timeout takes milliseconds");
			break;
		case 'a':
			if (parse_u64(optarg, &accept_timeout) || !accept_timeout)
				usage_error(self, "--accept-timeout takes milliseconds");
			break;
		case 'r':
			if (parse_u64(optarg, &run_seconds))
				usage_error(self, "--run-seconds takes a number");
			break;
		case 'R':
			if (parse_u64(optarg, &v) || v > 1024)
				usage_error(self, "--report-fd takes an fd");
			report_fd = (int)v;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("usage: iodirty incoming %s\n\n%s\n", self->usage,
			       self->help);
			return 0;
		default:
			usage_error(self, "unknown option");
		}
	}
	if (optind != argc - 1)
		usage_error(self, "which URI? e.g. tcp::4444 or unix:/tmp/m.sock");
	if (mig_uri_parse(argv[optind], &uri, msg, sizeof(msg)))
		usage_error(self, "%s", msg);
	vm_opts_finish(&o, self);
	p.timeout_ms = (int)timeout;
	o.cfg.incoming = true;

	if (vmm_available(msg, sizeof(msg)))
		die("incoming: %s", msg);
	if (vmm_create(&o.cfg, &vm, msg, sizeof(msg)))
		die("incoming: %s", msg);

	if (uri.kind == MIG_URI_TCP || uri.kind == MIG_URI_UNIX) {
		if (mig_listen(&uri, &listen_fd, actual, sizeof(actual), msg,
			       sizeof(msg)))
			die("incoming: %s", msg);
		if (report_fd >= 0) {
			dprintf(report_fd, "%s\n", actual);
			close(report_fd);
		}
		if (!json)
			fprintf(stderr, "incoming: waiting on %s\n", actual);
		rc = mig_accept(listen_fd, (int)accept_timeout, &t, msg,
				sizeof(msg));
		mig_listen_close(listen_fd, &uri);
		if (rc)
			die("incoming: %s", msg);
		t.timeout_ms = (int)timeout;
	} else if (mig_open_file(&uri, false, (int)timeout, &t, msg,
				 sizeof(msg))) {
		die("incoming: %s", msg);
	}

	rc = mig_destination(vm, &t.chan, t.two_way, &p, &st, msg, sizeof(msg));
	mig_transport_close(&t);
	if (rc) {
		fprintf(stderr, "incoming: migration failed: %s; the VM never ran here\n",
			msg);
		vmm_destroy(vm);
		return 1;
	}
	if (!json) {
		if (isatty(STDOUT_FILENO))
			printf("\r\033[K"); /* over a progress line, if any */
		printf("incoming: VM running here after %llu ms (%llu pages, %llu zero; device state %llu bytes); load took %llu ms\n",
		       (unsigned long long)st.total_ms,
		       (unsigned long long)st.pages_sent,
		       (unsigned long long)st.zero_pages,
		       (unsigned long long)st.device_bytes,
		       (unsigned long long)st.dest_load_ms);
		if (st.verdict == MIG_VERIFY_IDENTICAL)
			printf("incoming: RAM identical to the saved image (%llu pages)\n",
			       (unsigned long long)st.verify_pages);
		else if (st.verdict == MIG_VERIFY_DIFFERENT)
			printf("incoming: RAM DIFFERS from the saved image in %llu pages, first at GPA 0x%llx\n",
			       (unsigned long long)st.verify_mismatch,
			       (unsigned long long)st.verify_first_gpa);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	vmm_guest_stats(vm, &g0);
	for (uint64_t s = 0; !stop && (!run_seconds || s < run_seconds); s++) {
		sleep(1);
		if (vmm_failed(vm))
			break;
	}
	vmm_pause(vm);
	vmm_guest_stats(vm, &g);
	ram_ok = !vmm_ram_writer_check(vm, ram_msg, sizeof(ram_msg));
	if (json) {
		struct json j;

		json_init(&j, stdout, 1);
		json_open(&j, NULL, '{');
		json_str(&j, "role", "destination");
		json_u64(&j, "total_ms", st.total_ms);
		json_u64(&j, "load_ms", st.dest_load_ms);
		json_u64(&j, "verify_ms", st.dest_verify_ms);
		json_u64(&j, "pages", st.pages_sent);
		json_u64(&j, "zero_pages", st.zero_pages);
		json_u64(&j, "device_bytes", st.device_bytes);
		json_u64(&j, "dma_seq_continuous", st.dma_seq_continuous);
		json_u64(&j, "guest_ram_pages_after", g.ram_pages - g0.ram_pages);
		json_u64(&j, "guest_dma_ok_after", g.dma_good - g0.dma_good);
		json_u64(&j, "guest_dma_bad", g.dma_bad);
		json_str(&j, "ram_writer_check", ram_ok ? "ok" : ram_msg);
		json_str(&j, "failed", vmm_failed(vm) ? vmm_failed(vm) : "");
		json_close(&j);
	} else {
		printf("incoming: the guest ran on here: %llu RAM pages written, %s; %llu more DMA blocks checked, %llu bad%s\n",
		       (unsigned long long)(g.ram_pages - g0.ram_pages),
		       ram_ok ? "the RAM writer's invariant holds" :
				"THE RAM WRITER'S INVARIANT IS BROKEN",
		       (unsigned long long)(g.dma_good - g0.dma_good),
		       (unsigned long long)g.dma_bad,
		       g.dma_bad ? " - THE GUEST SAW BAD DMA" : "");
		if (!ram_ok)
			printf("incoming: %s\n", ram_msg);
	}
	rc = vmm_failed(vm) || g.dma_bad || !ram_ok ? 1 : 0;
	if (vmm_failed(vm))
		fprintf(stderr, "incoming: the VM stopped: %s\n", vmm_failed(vm));
	vmm_destroy(vm);
	return rc;
}
