// SPDX-License-Identifier: MIT
/*
 * host.c - the emulated host of this process: its IOMMU, its iommufd state,
 * and the device nodes it answers. Built once, at the first open of one of
 * its nodes, from the environment (interpose.h). This is the one piece of
 * process-wide state: it stands for the kernel, of which a process has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iodirty/err.h>
#include <iodirty/iommufd.h>

#include "interpose_private.h"

struct emu_host {
	struct iommufd_host *iommufd;
	struct iod_log log;
	bool force;
	bool verbose;
	char iommu[16];
};

static struct emu_host host;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static bool env_true(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

static void host_init(void)
{
	const char *iommu = getenv("IODIRTY_IOMMU");

	host.force = env_true("IODIRTY_FORCE");
	host.verbose = env_true("IODIRTY_VERBOSE");
	host.log = (struct iod_log){ .fn = iod_log_stderr,
				     .level = host.verbose ? IOD_LOG_DEBUG :
							     IOD_LOG_WARN };
	snprintf(host.iommu, sizeof(host.iommu), "%s",
		 iommu && *iommu ? iommu : "amd");
	host.iommufd = iommufd_host_alloc(&host.log);
}

static void describe_nodes(FILE *out);
static void interpose_describe_stderr(void);

static struct emu_host *emu_host(void)
{
	static pthread_once_t told = PTHREAD_ONCE_INIT;

	pthread_once(&host_once, host_init);
	if (host.verbose)
		pthread_once(&told, interpose_describe_stderr);
	return &host;
}

static long iommufd_fop_ioctl(struct emu_file *f, unsigned long cmd,
			      uint64_t arg)
{
	return iommufd_ioctl(f->priv, cmd, arg);
}

static void iommufd_fop_release(struct emu_file *f)
{
	iommufd_ctx_close(f->priv);
}

const struct emu_fops iommufd_fops = {
	.name = "iodirty-iommufd",
	.ioctl = iommufd_fop_ioctl,
	.release = iommufd_fop_release,
};

static int iommufd_node_open(const char *path, int flags)
{
	struct emu_host *h = emu_host();
	struct iommufd_ctx *ictx;
	int fd;

	(void)path;
	if (!h->iommufd)
		return -ENOMEM;
	ictx = iommufd_ctx_open(h->iommufd, false);
	if (IS_ERR(ictx))
		return (int)PTR_ERR(ictx);
	fd = emu_fd_install(&iommufd_fops, ictx, flags);
	if (fd < 0)
		iommufd_ctx_close(ictx);
	return fd;
}

static const struct emu_node nodes[] = {
	{ "/dev/iommu", iommufd_node_open },
};

static bool real_node_exists(const char *path)
{
	return !access(path, F_OK);
}

const struct emu_node *emu_node_find(const char *path)
{
	for (unsigned int i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (strcmp(path, nodes[i].path))
			continue;
		if (real_node_exists(path) && !emu_host()->force)
			return NULL;
		return &nodes[i];
	}
	return NULL;
}

void interpose_describe(FILE *out)
{
	emu_host();
	describe_nodes(out);
}

static void interpose_describe_stderr(void)
{
	describe_nodes(stderr);
}

static void describe_nodes(FILE *out)
{
	struct emu_host *h = &host;

	for (unsigned int i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		bool real = real_node_exists(nodes[i].path);

		if (real && !h->force)
			fprintf(out, "iodirty: %-28s real kernel\n",
				nodes[i].path);
		else
			fprintf(out, "iodirty: %-28s emulated (iommu %s%s)\n",
				nodes[i].path, h->iommu[0] ? h->iommu : "amd",
				real ? ", forced over the real node" : "");
	}
}
