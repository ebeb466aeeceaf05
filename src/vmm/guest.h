/* SPDX-License-Identifier: MIT */
/*
 * guest.h - what the VMM and the guest payload (payload.S) share: the
 * guest physical memory layout and the parameter and status blocks. Used
 * from C and from assembly.
 *
 * Guest physical memory:
 *   0x001000  struct guest_params (the VMM writes it before the first run)
 *   0x002000  struct guest_status[vcpu], 128 bytes each (the guest writes)
 *   0x008000  GDT
 *   0x009000  PML4, 0x00a000 PDPT, 0x00b000.. page directories (2 MiB
 *             pages, identity map)
 *   0x100000  the payload's code
 *   0x1f0000  top of vCPU 0's stack (8 KiB per vCPU, downwards)
 *   0x200000  the DMA windows of the devices, then the RAM writer's
 *             working set
 *   0xfe000000 BAR0 of device i at GUEST_BAR_BASE + i * 4 KiB
 *
 * The RAM writer keeps QEMU's migration-test invariant: pass p writes the
 * u64 p at the start of every page of its slice in order, so at any
 * instant pages [0, k) hold p and pages [k, n) hold p - 1 (p >= 1). A
 * destination whose RAM lost a page write breaks it.
 */
#ifndef IODIRTY_VMM_GUEST_H
#define IODIRTY_VMM_GUEST_H

#define GUEST_PARAMS	  0x1000
#define GUEST_STATUS	  0x2000
#define GUEST_STATUS_SIZE 128
#define GUEST_GDT	  0x8000
#define GUEST_PML4	  0x9000
#define GUEST_PDPT	  0xa000
#define GUEST_PD	  0xb000
#define GUEST_CODE	  0x100000
#define GUEST_STACK_TOP	  0x1f0000
#define GUEST_STACK_SIZE  0x2000
#define GUEST_WORK	  0x200000
#define GUEST_BAR_BASE	  0xfe000000
#define GUEST_MAX_VCPUS	  32
#define GUEST_MAX_DEVICES 8
#define GUEST_PARAMS_MAGIC 0x53524150444f49 /* "IODPARS" */

/* Roles of a vCPU (bit mask). */
#define GUEST_ROLE_RAM	  0x1
#define GUEST_ROLE_DMA	  0x2

/* struct guest_params, offsets for assembly */
#define GP_MAGIC	  0
#define GP_NVCPUS	  8
#define GP_NDEV		  12
#define GP_RAM_START	  16	/* first page of the working set */
#define GP_RAM_PAGES	  24	/* pages in it */
#define GP_RAM_TSC	  32	/* TSC ticks per page written, 0: no wait */
#define GP_RAM_WRITERS	  40	/* vCPUs that write RAM */
#define GP_ROLES	  48	/* u8 roles[GUEST_MAX_VCPUS] */
#define GP_DEV		  80	/* struct guest_dev dev[GUEST_MAX_DEVICES] */
#define GD_BAR		  0	/* BAR0 GPA */
#define GD_WINDOW	  8	/* DMA window GPA (IOVA = GPA) */
#define GD_SIZE		  16	/* bytes */
#define GD_RATE		  24	/* bytes per second */
#define GD_BLOCK	  32	/* block size */
#define GD_PATTERN	  36
#define GD_INDEX	  40	/* the device's INDEX register value */
#define GD_STRIDE	  48

/* struct guest_status, offsets for assembly */
#define GS_ALIVE	  0	/* loop iterations */
#define GS_RAM_PASS	  8	/* the pass being written */
#define GS_RAM_PAGES	  16	/* pages written */
#define GS_DMA_GOOD	  24	/* well-formed DMA blocks seen */
#define GS_DMA_BAD	  32	/* malformed or misplaced blocks */
#define GS_DMA_BAD_GPA	  40	/* where the last bad one was */
#define GS_DMA_STARTED	  48	/* devices this vCPU started */
#define GS_CPU		  56	/* vCPU index */

#ifndef __ASSEMBLER__
#include <stdint.h>

struct guest_dev {
	uint64_t bar;
	uint64_t window;
	uint64_t size;
	uint64_t rate;
	uint32_t block;
	uint32_t pattern;
	uint32_t index;
	uint32_t pad;
};

struct guest_params {
	uint64_t magic;
	uint32_t nvcpus;
	uint32_t ndev;
	uint64_t ram_start;
	uint64_t ram_pages;
	uint64_t ram_tsc_per_page;
	uint64_t ram_writers;
	uint8_t roles[GUEST_MAX_VCPUS];
	struct guest_dev dev[GUEST_MAX_DEVICES];
};

struct guest_status {
	uint64_t alive;
	uint64_t ram_pass;
	uint64_t ram_pages;
	uint64_t dma_good;
	uint64_t dma_bad;
	uint64_t dma_bad_gpa;
	uint64_t dma_started;
	uint64_t cpu;
	uint64_t pad[8];
};

_Static_assert(__builtin_offsetof(struct guest_params, dev) == GP_DEV, "GP_DEV");
_Static_assert(sizeof(struct guest_dev) == GD_STRIDE, "GD_STRIDE");
_Static_assert(__builtin_offsetof(struct guest_params, roles) == GP_ROLES, "GP_ROLES");
_Static_assert(sizeof(struct guest_status) == GUEST_STATUS_SIZE, "status");
#endif

#endif
