// SPDX-License-Identifier: MIT
/*
 * vmopts.c - parsing the VM options shared by run, migrate and incoming.
 */
#include <stdlib.h>
#include <string.h>

#include <iodirty/parse.h>
#include <iodirty/uapi/iodirty_dma.h>

#include "vmopts.h"

enum {
	OPT_MEM = VMOPT_BASE,
	OPT_VCPUS,
	OPT_DEVICES,
	OPT_IOMMU,
	OPT_BACKEND,
	OPT_TRACKER,
	OPT_ENABLE_MIGRATION,
	OPT_DEVICE_DIRTY,
	OPT_PRECOPY_DIRTY,
	OPT_FORCE,
	OPT_DIRTY_RING,
	OPT_HUGETLB,
	OPT_RAM_WS,
	OPT_RAM_RATE,
	OPT_DMA_WINDOW,
	OPT_DMA_RATE,
	OPT_DMA_BLOCK,
	OPT_DMA_PATTERN,
};

const struct option vm_options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "devices", required_argument, NULL, OPT_DEVICES },
	{ "iommu", required_argument, NULL, OPT_IOMMU },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "tracker", required_argument, NULL, OPT_TRACKER },
	{ "enable-migration", required_argument, NULL, OPT_ENABLE_MIGRATION },
	{ "device-dirty-tracking", required_argument, NULL, OPT_DEVICE_DIRTY },
	{ "precopy-dirty-tracking", required_argument, NULL, OPT_PRECOPY_DIRTY },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "dirty-ring", required_argument, NULL, OPT_DIRTY_RING },
	{ "hugetlb", no_argument, NULL, OPT_HUGETLB },
	{ "ram-ws", required_argument, NULL, OPT_RAM_WS },
	{ "ram-rate", required_argument, NULL, OPT_RAM_RATE },
	{ "dma-window", required_argument, NULL, OPT_DMA_WINDOW },
	{ "dma-rate", required_argument, NULL, OPT_DMA_RATE },
	{ "dma-block", required_argument, NULL, OPT_DMA_BLOCK },
	{ "dma-pattern", required_argument, NULL, OPT_DMA_PATTERN },
	{ NULL, 0, NULL, 0 },
};

void vm_opts_init(struct vm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->log = (struct iod_log){ .fn = iod_log_stderr, .level = IOD_LOG_WARN };
	o->devices = "dma";
	o->iommu = "amd";
	o->cfg.mem = 1ULL << 30;
	o->cfg.vcpus = 1;
	o->cfg.ram_ws = 256ULL << 20;
	o->cfg.ram_rate = 25000;
	o->cfg.dma_window = 16ULL << 20;
	o->cfg.dma_rate = 64ULL << 20;
	o->cfg.dma_block = 4096;
	o->cfg.dma_pattern = DMA_PATTERN_SEQUENTIAL;
	o->cfg.pt.backend = VMM_PT_IOMMUFD;
	o->cfg.pt.tracker = VMM_TRACKER_AUTO;
	o->cfg.pt.enable_migration = VMM_AUTO;
	o->cfg.pt.device_dirty_tracking = true;
	o->cfg.pt.precopy_dirty_tracking = true;
	o->cfg.pt.log = &o->log;
	o->cfg.log = &o->log;
}

static bool on_off(const char *arg, const char *name, const struct cmd *self)
{
	if (!strcmp(arg, "on"))
		return true;
	if (!strcmp(arg, "off"))
		return false;
	usage_error(self, "--%s takes on or off, not '%s'", name, arg);
}

static uint64_t size_arg(const char *arg, const char *name,
			 const struct cmd *self)
{
	uint64_t v;

	if (parse_size(arg, &v))
		usage_error(self, "--%s: '%s' is not a size (like 512M or 4G)",
			    name, arg);
	return v;
}

static uint64_t num_arg(const char *arg, const char *name,
			const struct cmd *self)
{
	uint64_t v;

	if (parse_u64(arg, &v))
		usage_error(self, "--%s: '%s' is not a number", name, arg);
	return v;
}

int vm_opts_parse(struct vm_opts *o, int opt, const char *arg,
		  const struct cmd *self)
{
	struct vmm_config *c = &o->cfg;

	switch (opt) {
	case OPT_MEM:
		c->mem = size_arg(arg, "mem", self);
		break;
	case OPT_VCPUS:
		c->vcpus = (unsigned int)num_arg(arg, "vcpus", self);
		break;
	case OPT_DEVICES:
		o->devices = arg;
		break;
	case OPT_IOMMU:
		if (strcmp(arg, "amd") && strcmp(arg, "intel") &&
		    strcmp(arg, "arm"))
			usage_error(self, "--iommu takes amd, intel or arm");
		o->iommu = arg;
		break;
	case OPT_BACKEND:
		if (!strcmp(arg, "iommufd"))
			c->pt.backend = VMM_PT_IOMMUFD;
		else if (!strcmp(arg, "legacy"))
			c->pt.backend = VMM_PT_LEGACY;
		else
			usage_error(self, "--backend takes iommufd or legacy");
		break;
	case OPT_TRACKER:
		if (vmm_tracker_parse(arg, &c->pt.tracker))
			usage_error(self,
				    "--tracker takes auto, device, iommu, type1 or none");
		break;
	case OPT_ENABLE_MIGRATION:
		if (!strcmp(arg, "auto"))
			c->pt.enable_migration = VMM_AUTO;
		else
			c->pt.enable_migration = on_off(arg, "enable-migration",
							self) ?
							 VMM_ON :
							 VMM_OFF;
		break;
	case OPT_DEVICE_DIRTY:
		c->pt.device_dirty_tracking =
			on_off(arg, "device-dirty-tracking", self);
		break;
	case OPT_PRECOPY_DIRTY:
		c->pt.precopy_dirty_tracking =
			on_off(arg, "precopy-dirty-tracking", self);
		break;
	case OPT_FORCE:
		c->pt.force = true;
		break;
	case OPT_DIRTY_RING:
		c->dirty_ring = true;
		c->ring_entries = (uint32_t)num_arg(arg, "dirty-ring", self);
		break;
	case OPT_HUGETLB:
		c->hugetlb = true;
		break;
	case OPT_RAM_WS:
		c->ram_ws = size_arg(arg, "ram-ws", self);
		break;
	case OPT_RAM_RATE:
		c->ram_rate = num_arg(arg, "ram-rate", self);
		break;
	case OPT_DMA_WINDOW:
		c->dma_window = size_arg(arg, "dma-window", self);
		break;
	case OPT_DMA_RATE:
		c->dma_rate = size_arg(arg, "dma-rate", self);
		break;
	case OPT_DMA_BLOCK:
		c->dma_block = (uint32_t)size_arg(arg, "dma-block", self);
		break;
	case OPT_DMA_PATTERN:
		if (!strcmp(arg, "seq"))
			c->dma_pattern = DMA_PATTERN_SEQUENTIAL;
		else if (!strcmp(arg, "random"))
			c->dma_pattern = DMA_PATTERN_RANDOM;
		else if (!strcmp(arg, "hot"))
			c->dma_pattern = DMA_PATTERN_HOTSET;
		else
			usage_error(self, "--dma-pattern takes seq, random or hot");
		break;
	default:
		return 0;
	}
	return 1;
}

void vm_opts_finish(struct vm_opts *o, const struct cmd *self)
{
	struct vmm_config *c = &o->cfg;

	if (c->mem < (64ULL << 20) || c->mem % (2ULL << 20))
		usage_error(self, "--mem must be a multiple of 2M, at least 64M");
	if (!c->vcpus || c->vcpus > 32)
		usage_error(self, "--vcpus must be 1..32");
	if (c->dma_block < DMA_BLOCK_MIN || c->dma_block > DMA_BLOCK_MAX ||
	    c->dma_block % DMA_BLOCK_MIN)
		usage_error(self, "--dma-block must be a multiple of 64 up to 1M");
	if (!c->dma_window || c->dma_window % c->dma_block)
		usage_error(self, "--dma-window must be a multiple of --dma-block");
	if (c->dirty_ring && (!c->ring_entries ||
			      (c->ring_entries & (c->ring_entries - 1))))
		usage_error(self, "--dirty-ring takes a power of two");
	c->ndevices = 0;
	if (strcmp(o->devices, "none")) {
		c->ndevices = 1;
		for (const char *p = o->devices; *p; p++)
			c->ndevices += *p == ',';
		if (c->ndevices > 8)
			usage_error(self, "--devices: at most 8");
		setenv("IODIRTY_DEVICES", o->devices, 1);
	}
	setenv("IODIRTY_IOMMU", o->iommu, 1);
}

const struct option *vm_opts_merge(const struct option *own)
{
	static struct option all[64];
	unsigned int n = 0;

	for (; own && own->name && n < 32; own++)
		all[n++] = *own;
	for (const struct option *v = vm_options; v->name; v++)
		all[n++] = *v;
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	return all;
}
