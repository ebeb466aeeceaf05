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
