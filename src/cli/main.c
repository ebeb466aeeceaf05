// SPDX-License-Identifier: MIT
/*
 * main.c - the iodirty binary: dispatch on the verb.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "vmopts.h"

const struct cmd cmds[] = {
	{ "help", cmd_help, "show the verbs, or one verb's usage",
	  "[VERB | --man]",
	  "Without a verb, list every verb. With one, print its usage and "
	  "description. --man prints the man page (roff)." },
	{ "version", cmd_version, "print the version", "",
	  "Print the version of iodirty." },
	{ "exec", cmd_exec, "run a program against the emulated host",
	  "[-v] [--iommu amd|intel|arm] [--devices LIST] [--force] -- PROG [ARGS...]",
	  "Run PROG with libiodirty-preload.so, so that its open, ioctl, mmap, "
	  "pread and pwrite of /dev/iommu (and the VFIO nodes) reach the "
	  "emulated host, and everything else the real kernel. A node is "
	  "emulated only where the real one is absent, unless --force. -v says "
	  "which host each node uses." },
	{ "run", cmd_run, "boot a VM with passthrough devices DMA-ing",
	  VM_OPTIONS_USAGE " [--seconds N] [--json]",
	  "Boot the guest payloads in a KVM VM (/dev/kvm) with the passthrough "
	  "devices of --devices on the emulated host (dma, dma-nodirty, "
	  "dma-log, mdev) DMA-ing into guest RAM. Print how each device was "
	  "attached (which HWPT, and why), the dirty tracker the VM would "
	  "migrate with or what blocks migration, and each second the dirty "
	  "rate by source (CPU, DMA, union) and the guest's own checks of the "
	  "DMA it sees. Stops on Ctrl-C or after --seconds." },
	{ "migrate", cmd_migrate, "live-migrate a VM with passthrough devices",
	  "URI | --local " VM_OPTIONS_USAGE
	  " [--verify|--no-verify] [--downtime-limit MS] [--max-bandwidth B/S]"
	  " [--max-passes N] [--auto-converge] [--dma-limit B/S] [--timeout MS]"
	  " [--warmup S] [--json]",
	  "Boot the VM as `run` does, let the guest write RAM and its devices "
	  "DMA for --warmup seconds (3), and live-migrate it to `iodirty incoming` at URI (tcp:HOST:PORT, "
	  "tcp:[::1]:PORT, unix:PATH, file:PATH, fd:N), or, with --local, to a "
	  "destination it starts itself on loopback (with --verify on). "
	  "Precopy over the union of CPU and DMA dirty pages; switchover when "
	  "the rest fits --downtime-limit (300 ms). Prints a live progress "
	  "line, then pages sent, downtime, the tracker, and with --verify "
	  "whether the destination's RAM is identical. SIGUSR1 switches over at "
	  "once. Exit: 0 done; 1 failed (before GO the source VM resumes and "
	  "nothing is lost; after GO the outcome is unknown and it stays "
	  "stopped); 3 the destination's RAM differs." },
	{ "incoming", cmd_incoming, "receive a live migration",
	  "URI " VM_OPTIONS_USAGE
	  " [--verify] [--timeout MS] [--accept-timeout MS] [--run-seconds N]"
	  " [--json]",
	  "Build the same VM as the source (give the same VM options), wait for "
	  "it on URI (tcp::PORT listens on loopback), take the migration, and "
	  "run the VM only once everything is loaded and checked. Then report "
	  "what the guest's own checks see for --run-seconds (until Ctrl-C if "
	  "0)." },
	{ "bench", cmd_bench, "run a benchmark", "NAME [--json] [options]",
	  "Run benchmark NAME and print its figures; where a physical limit "
	  "applies, the limit measured in the same run and the ratio to it. "
	  "`iodirty bench list` names the benchmarks; --json prints one JSON "
	  "object." },
};

const unsigned int ncmds = ARRAY_SIZE(cmds);

const struct cmd *cmd_find(const char *name)
{
	for (unsigned int i = 0; i < ncmds; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("iodirty: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void usage_error(const struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "iodirty %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: iodirty %s %s\n", cmd->name, cmd->usage);
	exit(2);
}

int main(int argc, char **argv)
{
	const struct cmd *cmd;

	if (argc < 2) {
		cmd_help(1, argv);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv);
	cmd = cmd_find(argv[1]);
	if (!cmd) {
		fprintf(stderr, "iodirty: unknown verb '%s'; try 'iodirty help'\n",
			argv[1]);
		return 2;
	}
	return cmd->fn(argc - 1, argv + 1);
}
