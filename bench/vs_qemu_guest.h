/* SPDX-License-Identifier: MIT */
/*
 * vs_qemu_guest.h - what bench/vs_qemu.c and the boot sector it gives QEMU
 * (vs_qemu_guest.S) share: where the parameters sit in the sector, and
 * where the guest reports in RAM. Used from C and from assembly.
 *
 * The sector is loaded at 0x7c00 by the firmware. The host patches the
 * parameters (u64 each) into its copy before writing the disk image:
 *   VQG_P_WS_START   first byte of the RAM writer's working set
 *   VQG_P_WS_PAGES   pages in it
 *   VQG_P_TSC        TSC ticks per page written (0: unpaced)
 *   VQG_P_LOW_END    end of RAM below 4 GiB (the fill stops there)
 *   VQG_P_HIGH_END   end of RAM above 4 GiB (4 GiB when there is none)
 * The guest reports at VQG_STATUS (u64 each): STAGE (1 once all RAM is
 * filled and the writer runs), PASS (the pass being written), PAGES (pages
 * written by the writer).
 */
#ifndef IODIRTY_BENCH_VS_QEMU_GUEST_H
#define IODIRTY_BENCH_VS_QEMU_GUEST_H

#define VQG_LOAD	 0x7c00
#define VQG_SECTOR	 512
#define VQG_PARAMS	 0x1c8
#define VQG_P_WS_START	 (VQG_PARAMS + 0)
#define VQG_P_WS_PAGES	 (VQG_PARAMS + 8)
#define VQG_P_TSC	 (VQG_PARAMS + 16)
#define VQG_P_LOW_END	 (VQG_PARAMS + 24)
#define VQG_P_HIGH_END	 (VQG_PARAMS + 32)
#define VQG_STATUS	 0x5000
#define VQG_S_STAGE	 0
#define VQG_S_PASS	 8
#define VQG_S_PAGES	 16
#define VQG_PT_BASE	 0x10000	/* PML4, PDPT, 8 page directories */
#define VQG_PT_GIB	 8		/* identity-mapped with 2 MiB pages */
#define VQG_FILL_FROM	 0x100000

#endif
