/* SPDX-License-Identifier: MIT */
/*
 * interpose.h - the emulated host as a process sees it through the device
 * nodes: the shim (src/interpose/shim.c) gives open/close/dup/fcntl/ioctl/
 * mmap/pread/pwrite on /dev/iommu (and, with the VFIO emulation, the
 * /dev/vfio nodes) to the emulated kernel, and every other fd to the real
 * one. It is linked into the iodirty binary and built as
 * libiodirty-preload.so for `iodirty exec`.
 *
 * Configuration, read once at the first open of an emulated node:
 *   IODIRTY_IOMMU    amd | intel | arm   the host's IOMMU (default amd)
 *   IODIRTY_DEVICES  comma-separated device kinds (include/iodirty/vfio.h;
 *                    default "dma")
 *   IODIRTY_FORCE    1: emulate a node even where the real one exists
 *   IODIRTY_VERBOSE  1: say on stderr which host each node uses
 */
#ifndef IODIRTY_INTERPOSE_H
#define IODIRTY_INTERPOSE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* An open emulated file, as struct file is to the kernel. */
struct emu_file;

struct emu_fops {
	const char *name;
	long (*ioctl)(struct emu_file *f, unsigned long cmd, uint64_t arg);
	ssize_t (*pread)(struct emu_file *f, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(struct emu_file *f, const void *buf, size_t n,
			  off_t off);
	ssize_t (*read)(struct emu_file *f, void *buf, size_t n);
	ssize_t (*write)(struct emu_file *f, const void *buf, size_t n);
	/* 0 and *out, or -errno; NULL: mmap is ENODEV. */
	int (*mmap)(struct emu_file *f, void *addr, size_t len, int prot,
		    int flags, off_t off, void **out);
	void (*release)(struct emu_file *f);
};

struct emu_file {
	const struct emu_fops *fops;
	void *priv;
	unsigned int refs;	/* fds referring to it */
	int flags;		/* open flags */
};

/**
 * emu_fd_install() - give @fops/@priv a real fd, as a kernel open does.
 * Return: the fd, or -errno.
 */
int emu_fd_install(const struct emu_fops *fops, void *priv, int flags);

/**
 * emu_fd_get() - the emulated file behind @fd if it is one with @fops (the
 * kernel's fdget() plus a type check), with a reference; NULL otherwise.
 * @fops NULL accepts any emulated file.
 */
struct emu_file *emu_fd_get(int fd, const struct emu_fops *fops);

/** emu_file_put() - drop a reference taken by emu_fd_get(). */
void emu_file_put(struct emu_file *f);

/* The file operations of /dev/iommu (what iommufd_fops is to Linux). */
extern const struct emu_fops iommufd_fops;

/** interpose_describe() - one line per node: path and which host answers. */
void interpose_describe(FILE *out);

#endif
