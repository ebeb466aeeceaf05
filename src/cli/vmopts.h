/* SPDX-License-Identifier: MIT */
/*
 * vmopts.h - the options every verb that builds a VM takes (run, migrate,
 * incoming), parsed in one place: the VM, its workload, its passthrough
 * devices and the emulated host they sit on.
 */
#ifndef IODIRTY_CLI_VMOPTS_H
#define IODIRTY_CLI_VMOPTS_H

#include <getopt.h>

#include <iodirty/vmm.h>

#include "cmd.h"

struct vm_opts {
	struct vmm_config cfg;
	const char *devices;	/* the emulated host's devices, "none" */
	const char *iommu;	/* amd, intel or arm */
	struct iod_log log;
};

/* Option codes start here so verbs can add their own below it. */
enum { VMOPT_BASE = 0x200 };

/* The getopt_long entries, terminated by a zero entry. */
extern const struct option vm_options[];

/* The usage text of those options, for the verb table. */
#define VM_OPTIONS_USAGE                                                       \
	"[--mem SIZE] [--vcpus N] [--devices LIST|none] "                      \
	"[--iommu amd|intel|arm] [--backend iommufd|legacy] "                  \
	"[--tracker auto|device|iommu|type1|none] "                            \
	"[--enable-migration auto|on|off] [--device-dirty-tracking on|off] "   \
	"[--precopy-dirty-tracking on|off] [--force] [--dirty-ring ENTRIES] "  \
	"[--hugetlb] [--ram-ws SIZE] [--ram-rate PAGES/S] [--dma-window SIZE] " \
	"[--dma-rate BYTES/S] [--dma-block SIZE] [--dma-pattern seq|random|hot]"

void vm_opts_init(struct vm_opts *o);

/**
 * vm_opts_parse() - take option @opt (a getopt_long code) with @arg.
 * Return: 1 if it was one of ours, 0 if not; a bad value is a usage error
 * of @self (exits).
 */
int vm_opts_parse(struct vm_opts *o, int opt, const char *arg,
		  const struct cmd *self);

/**
 * vm_opts_finish() - check the whole, and tell the emulated host (through
 * its environment, read at the first open of a device node) which IOMMU
 * and devices it has. Usage errors exit.
 */
void vm_opts_finish(struct vm_opts *o, const struct cmd *self);

/** vm_opts_merge() - @own options then vm_options, into @out (static). */
const struct option *vm_opts_merge(const struct option *own);

#endif
