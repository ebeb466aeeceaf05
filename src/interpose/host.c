// SPDX-License-Identifier: MIT
/*
 * host.c - the emulated host of this process: its IOMMU, its iommufd and
 * VFIO state, and the nodes it answers. Built once, at the first open of
 * one of its nodes, from the environment (interpose.h). This is the one
 * piece of process-wide state: it stands for the kernel, of which a process
 * has one.
 *
 *   /dev/iommu                   iommufd
 *   /dev/vfio/vfio               the legacy VFIO container (type1)
 *   /dev/vfio/N                  the legacy group of device N
 *   /dev/vfio/devices/vfioN      device N's cdev
 *   /sys/kernel/iodirty/devices  what the devices are (vfio_host_describe)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/iommufd.h>
#include <iodirty/vfio.h>

#include "interpose_private.h"

struct emu_host {
	struct iommufd_host *iommufd;
	struct vfio_host *vfio;		/* NULL if IODIRTY_DEVICES was bad */
	struct iod_log log;
	bool force;
	bool verbose;
	const char *iommu;
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
	struct vfio_host_config cfg;
	const struct iommu_driver *drv;
	struct vfio_host *vfio;

	host.force = env_true("IODIRTY_FORCE");
	host.verbose = env_true("IODIRTY_VERBOSE");
	host.log = (struct iod_log){ .fn = iod_log_stderr,
				     .level = host.verbose ? IOD_LOG_DEBUG :
							     IOD_LOG_WARN };
	if (!iommu || !*iommu)
		iommu = "amd";
	drv = iommu_driver_by_name(iommu);
	if (!drv) {
		pr_err(&host.log,
		       "IODIRTY_IOMMU=%s: not amd, intel or arm; using amd",
		       iommu);
		drv = iommu_driver_by_name("amd");
	}
	host.iommu = drv->name;
	host.iommufd = iommufd_host_alloc(&host.log);
	if (!host.iommufd)
		return;
	cfg = (struct vfio_host_config){
		.iommu = drv,
		.devices = getenv("IODIRTY_DEVICES"),
		.iommufd = host.iommufd,
		.log = &host.log,
	};
	vfio = vfio_host_create(&cfg);
	if (IS_ERR(vfio))
		pr_err(&host.log, "IODIRTY_DEVICES: no VFIO devices: %s",
		       strerror((int)-PTR_ERR(vfio)));
	else
		host.vfio = vfio;
}

static void describe_nodes(FILE *out);

static void describe_stderr(void)
{
	describe_nodes(stderr);
}

static struct emu_host *emu_host(void)
{
	static pthread_once_t told = PTHREAD_ONCE_INIT;

	pthread_once(&host_once, host_init);
	if (host.verbose)
		pthread_once(&told, describe_stderr);
	return &host;
}

/* ---- /dev/iommu ---- */

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

static int iommufd_node_open(unsigned int index, int flags)
{
	struct iommufd_ctx *ictx;
	int fd;

	(void)index;
	if (!host.iommufd)
		return -ENOMEM;
	ictx = iommufd_ctx_open(host.iommufd, false);
	if (IS_ERR(ictx))
		return (int)PTR_ERR(ictx);
	fd = emu_fd_install(&iommufd_fops, ictx, flags);
	if (fd < 0)
		iommufd_ctx_close(ictx);
	return fd;
}

/* ---- /dev/vfio ---- */

static unsigned int vfio_count(void)
{
	return host.vfio ? vfio_host_ndevices(host.vfio) : 0;
}

static int container_node_open(unsigned int index, int flags)
{
	(void)index;
	return host.vfio ? vfio_container_open(host.vfio, flags) : -ENODEV;
}

static int group_node_open(unsigned int index, int flags)
{
	return vfio_group_open(host.vfio, index, flags);
}

static int cdev_node_open(unsigned int index, int flags)
{
	return vfio_cdev_open(host.vfio, index, flags);
}

/* ---- /sys/kernel/iodirty/devices: read-only text ---- */

struct text_file {
	char *text;
	size_t len;
	size_t pos;
};

static ssize_t text_pread(struct emu_file *f, void *buf, size_t n, off_t off)
{
	struct text_file *t = f->priv;

	if (off < 0)
		return -EINVAL;
	if ((size_t)off >= t->len)
		return 0;
	if (n > t->len - (size_t)off)
		n = t->len - (size_t)off;
	memcpy(buf, t->text + off, n);
	return (ssize_t)n;
}

static ssize_t text_read(struct emu_file *f, void *buf, size_t n)
{
	struct text_file *t = f->priv;
	ssize_t rc = text_pread(f, buf, n, (off_t)t->pos);

	if (rc > 0)
		t->pos += (size_t)rc;
	return rc;
}

static ssize_t text_write(struct emu_file *f, const void *buf, size_t n)
{
	(void)f;
	(void)buf;
	(void)n;
	return -EACCES;
}

static void text_release(struct emu_file *f)
{
	struct text_file *t = f->priv;

	xfree(t->text);
	xfree(t);
}

static const struct emu_fops text_fops = {
	.name = "iodirty-sysfs",
	.read = text_read,
	.pread = text_pread,
	.write = text_write,
	.release = text_release,
};

static int devices_node_open(unsigned int index, int flags)
{
	struct text_file *t;
	size_t len;
	int fd;

	(void)index;
	if (!host.vfio)
		return -ENOENT;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	t = xzalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	len = vfio_host_describe(host.vfio, NULL, 0);
	t->text = xmalloc(len + 1);
	if (!t->text) {
		xfree(t);
		return -ENOMEM;
	}
	t->len = vfio_host_describe(host.vfio, t->text, len + 1);
	fd = emu_fd_install(&text_fops, t, flags);
	if (fd < 0) {
		xfree(t->text);
		xfree(t);
	}
	return fd;
}

static const struct emu_node nodes[] = {
	{ "/dev/iommu", false, iommufd_node_open, NULL },
	{ "/dev/vfio/vfio", false, container_node_open, NULL },
	{ "/dev/vfio/devices/vfio", true, cdev_node_open, vfio_count },
	{ "/dev/vfio/", true, group_node_open, vfio_count },
	{ "/sys/kernel/iodirty/devices", false, devices_node_open, NULL },
};

static bool real_node_exists(const char *path)
{
	return !access(path, F_OK);
}

/* "12" -> 12; anything but a plain decimal number is not an index. */
static bool parse_index(const char *s, unsigned int *index)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000)
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*index = (unsigned int)v;
	return true;
}

const struct emu_node *emu_node_find(const char *path, unsigned int *index)
{
	/* Cheap test first: every node is under /dev or /sys. */
	if (strncmp(path, "/dev/", 5) && strncmp(path, "/sys/", 5))
		return NULL;
	for (unsigned int i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const struct emu_node *n = &nodes[i];
		size_t len = strlen(n->path);

		*index = 0;
		if (!n->numbered && strcmp(path, n->path))
			continue;
		if (n->numbered && (strncmp(path, n->path, len) ||
				    !parse_index(path + len, index)))
			continue;
		if (real_node_exists(path) && !emu_host()->force)
			return NULL;
		emu_host();
		if (n->numbered && *index >= n->count())
			return NULL;	/* no such device: ENOENT */
		return n;
	}
	return NULL;
}

static void describe_nodes(FILE *out)
{
	struct emu_host *h = &host;

	for (unsigned int i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const struct emu_node *n = &nodes[i];
		unsigned int count = n->numbered ? n->count() : 1;

		for (unsigned int j = 0; j < count; j++) {
			char path[64];
			bool real;

			if (n->numbered)
				snprintf(path, sizeof(path), "%s%u", n->path, j);
			else
				snprintf(path, sizeof(path), "%s", n->path);
			real = real_node_exists(path);
			if (real && !h->force)
				fprintf(out, "iodirty: %-30s real kernel\n",
					path);
			else
				fprintf(out, "iodirty: %-30s emulated (iommu %s)%s\n",
					path, h->iommu,
					real ? ", forced over the real node" :
					       "");
		}
	}
}

void interpose_describe(FILE *out)
{
	emu_host();
	describe_nodes(out);
}
