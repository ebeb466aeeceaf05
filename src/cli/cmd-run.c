// SPDX-License-Identifier: MIT
/*
 * cmd-run.c - `iodirty run`: boot the guest payloads in a KVM VM with
 * passthrough devices DMA-ing, say how each device was attached and which
 * dirty tracker the VM would migrate with (or what blocks migration), and
 * report dirty rates per second by source until Ctrl-C or --seconds.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/json.h>
#include <iodirty/parse.h>

#include "vmopts.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double mib(uint64_t pages)
{
	return (double)pages * VMM_PAGE_SIZE / (1 << 20);
}

int cmd_run(int argc, char **argv)
{
	static const struct option own[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("run");
	struct vmm_sync_stats st, total = { 0 };
	struct vmm_guest_stats gs0, gs;
	char msg[VMM_MSG_LEN] = "", blocker[VMM_MSG_LEN] = "";
	enum vmm_tracker tracker = VMM_TRACKER_NONE;
	uint64_t seconds = 0, t;
	struct vmm_dirty dirty;
	struct vm_opts o;
	struct vmm *vm;
	bool json = false, tracking = false;
	int c, rc;

	vm_opts_init(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", vm_opts_merge(own), NULL)) != -1) {
		if (vm_opts_parse(&o, c, optarg, self))
			continue;
		switch (c) {
		case 's':
			if (parse_u64(optarg, &seconds) || !seconds)
				usage_error(self, "--seconds takes a positive number");
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("usage: iodirty run %s\n\n%s\n", self->usage,
			       self->help);
			return 0;
		default:
			usage_error(self, "unknown option");
		}
	}
	if (optind < argc)
		usage_error(self, "unexpected argument '%s'", argv[optind]);
	vm_opts_finish(&o, self);

	if (vmm_available(msg, sizeof(msg)))
		die("run: %s", msg);
	rc = vmm_create(&o.cfg, &vm, msg, sizeof(msg));
	if (rc)
		die("run: %s", msg);

	if (!json)
		printf("VM: %llu MiB, %u vCPU%s, %u device%s, KVM dirty %s\n",
		       (unsigned long long)(o.cfg.mem >> 20), o.cfg.vcpus,
		       o.cfg.vcpus > 1 ? "s" : "", o.cfg.ndevices,
		       o.cfg.ndevices == 1 ? "" : "s",
		       o.cfg.dirty_ring ? "ring" : "bitmap");
	if (vmm_passthrough(vm)) {
		struct vmm_pt *pt = vmm_passthrough(vm);

		for (unsigned int i = 0; !json && i < vmm_pt_ndevices(pt); i++) {
			const struct vmm_pt_device *d = vmm_pt_device(pt, i);

			printf("  %s: %s\n", d->name, d->attach);
		}
		rc = vmm_pt_choose_tracker(pt, &tracker, blocker,
					   sizeof(blocker));
		if (!json) {
			if (rc)
				printf("migration: blocked: %s\n", blocker);
			else
				printf("migration: tracker %s%s%s\n",
				       vmm_tracker_name(tracker),
				       blocker[0] ? " - " : "", blocker);
		}
	}
	rc = vmm_dirty_init_ram(vm, &dirty);
	if (rc)
		die("run: %s", strerror(-rc));
	if (!vmm_dirty_log_start(vm, msg, sizeof(msg)))
		tracking = true;
	else if (!json)
		printf("dirty tracking not started: %s\n", msg);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	vmm_guest_stats(vm, &gs0);
	rc = vmm_start(vm);
	if (rc)
		die("run: starting vCPUs: %s", strerror(-rc));
	if (!json)
		printf("%5s %12s %12s %12s %12s %10s %10s\n", "t", "cpu MiB/s",
		       "dma MiB/s", "union MiB/s", "guest pg/s", "dma ok",
		       "dma bad");
	for (t = 1; !stop && (!seconds || t <= seconds); t++) {
		struct vmm_guest_stats prev;

		vmm_guest_stats(vm, &prev);
		sleep(1);
		if (vmm_failed(vm))
			break;
		vmm_guest_stats(vm, &gs);
		if (!tracking)
			continue;
		vmm_dirty_clear(&dirty);
		if (vmm_dirty_sync(vm, &dirty, &st, msg, sizeof(msg))) {
			fprintf(stderr, "iodirty run: dirty sync: %s\n", msg);
			break;
		}
		total.cpu_pages += st.cpu_pages;
		total.dma_pages += st.dma_pages;
		total.union_pages += st.union_pages;
		if (!json)
			printf("%4llus %12.1f %12.1f %12.1f %12llu %10llu %10llu\n",
			       (unsigned long long)t, mib(st.cpu_pages),
			       mib(st.dma_pages), mib(st.union_pages),
			       (unsigned long long)(gs.ram_pages - prev.ram_pages),
			       (unsigned long long)gs.dma_good,
			       (unsigned long long)gs.dma_bad);
		fflush(stdout);
	}
	vmm_pause(vm);
	vmm_guest_stats(vm, &gs);
	if (json) {
		struct json j;

		json_init(&j, stdout, 1);
		json_open(&j, NULL, '{');
		json_u64(&j, "mem_mib", o.cfg.mem >> 20);
		json_u64(&j, "vcpus", o.cfg.vcpus);
		json_u64(&j, "devices", o.cfg.ndevices);
		json_str(&j, "tracker", vmm_passthrough(vm) && !blocker[0] ?
						vmm_tracker_name(tracker) :
						"none");
		json_str(&j, "blocker", blocker);
		json_u64(&j, "seconds", t - 1);
		json_u64(&j, "cpu_dirty_pages", total.cpu_pages);
		json_u64(&j, "dma_dirty_pages", total.dma_pages);
		json_u64(&j, "union_dirty_pages", total.union_pages);
		json_u64(&j, "guest_ram_pages_written",
			 gs.ram_pages - gs0.ram_pages);
		json_u64(&j, "guest_dma_blocks_ok", gs.dma_good);
		json_u64(&j, "guest_dma_blocks_bad", gs.dma_bad);
		json_str(&j, "failed", vmm_failed(vm) ? vmm_failed(vm) : "");
		if (vmm_passthrough(vm)) {
			struct vmm_pt *pt = vmm_passthrough(vm);

			json_open(&j, "attach", '[');
			for (unsigned int i = 0; i < vmm_pt_ndevices(pt); i++) {
				const struct vmm_pt_device *d =
					vmm_pt_device(pt, i);

				json_open(&j, NULL, '{');
				json_str(&j, "device", d->name);
				json_u64(&j, "hwpt", d->hwpt_id);
				json_u64(&j, "hwpt_dirty", d->hwpt_dirty);
				json_str(&j, "decision", d->attach);
				json_close(&j);
			}
			json_close(&j);
		}
		json_close(&j);
	} else {
		printf("guest: %llu RAM pages written, pass %llu; %llu DMA blocks checked, %llu bad\n",
		       (unsigned long long)(gs.ram_pages - gs0.ram_pages),
		       (unsigned long long)gs.ram_pass,
		       (unsigned long long)gs.dma_good,
		       (unsigned long long)gs.dma_bad);
	}
	rc = vmm_failed(vm) || gs.dma_bad ? 1 : 0;
	if (vmm_failed(vm))
		fprintf(stderr, "iodirty run: the VM stopped: %s\n",
			vmm_failed(vm));
	if (tracking)
		vmm_dirty_log_stop(vm);
	vmm_dirty_destroy(&dirty);
	vmm_destroy(vm);
	return rc;
}
