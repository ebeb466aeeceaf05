/* SPDX-License-Identifier: MIT */
/*
 * vs_qemu_guest.S - the guest QEMU runs for `iodirty bench vs-qemu`: a
 * boot sector that does what our own payload's RAM writer does
 * (src/vmm/payload.S), so both VMMs migrate the same workload.
 *
 *   16-bit: the firmware jumps here at 0x7c00; A20 on, flat GDT,
 *           protected mode.
 *   32-bit: identity-map the first VQG_PT_GIB GiB with 2 MiB pages, then
 *           long mode.
 *   64-bit: write the GPA in the second word of every page of RAM from
 *           1 MiB up (below 4 GiB and above), so every page holds data, as
 *           the bench's fill does for our VM (the first word stays 0, the
 *           writer's pass 0); STAGE = 1; then the RAM writer,
 *           forever: pass p writes the u64 p at the start of each page of
 *           the working set in order, paced by the TSC with the same rule
 *           as payload.S (a deadline per page; more than 4096 pages late
 *           starts over from now).
 * Parameters and status: vs_qemu_guest.h. Addresses are computed from
 * label differences, so the sector is plain data in the host binary.
 */
#include "vs_qemu_guest.h"

#define ABS(x) ((x) - vs_qemu_guest_start + VQG_LOAD)

	.section .rodata.vs_qemu_guest, "a"
	.globl vs_qemu_guest_start
	.globl vs_qemu_guest_end
vs_qemu_guest_start:
	.code16
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$VQG_LOAD, %sp
	in	$0x92, %al			/* fast A20 */
	or	$2, %al
	and	$0xfe, %al
	out	%al, $0x92
	lgdtl	ABS(gdt_desc)
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $ABS(pm32)

	.code32
pm32:
	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	$VQG_LOAD, %esp
	/* Clear PML4, PDPT and the page directories. */
	mov	$VQG_PT_BASE, %edi
	xor	%eax, %eax
	mov	$((2 + VQG_PT_GIB) * 1024), %ecx
	rep stosl
	movl	$(VQG_PT_BASE + 0x1000 + 3), VQG_PT_BASE
	xor	%ecx, %ecx
1:	mov	%ecx, %eax			/* PDPT[g] = PD g */
	shl	$12, %eax
	add	$(VQG_PT_BASE + 0x2000 + 3), %eax
	mov	%eax, (VQG_PT_BASE + 0x1000)(,%ecx,8)
	inc	%ecx
	cmp	$VQG_PT_GIB, %ecx
	jb	1b
	xor	%ecx, %ecx
2:	mov	%ecx, %eax			/* PD entry i: i * 2 MiB, P RW PS */
	shl	$21, %eax
	or	$0x83, %eax
	mov	%eax, (VQG_PT_BASE + 0x2000)(,%ecx,8)
	mov	%ecx, %eax
	shr	$11, %eax
	mov	%eax, (VQG_PT_BASE + 0x2004)(,%ecx,8)
	inc	%ecx
	cmp	$(VQG_PT_GIB * 512), %ecx
	jb	2b
	mov	%cr4, %eax			/* PAE */
	or	$0x20, %eax
	mov	%eax, %cr4
	mov	$VQG_PT_BASE, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax			/* paging: long mode */
	or	$0x80000000, %eax
	mov	%eax, %cr0
	ljmp	$0x18, $ABS(lm64)

	.code64
lm64:
	mov	$VQG_STATUS, %ebx
	/* Fill: the GPA at the start of every page, below and above 4 GiB. */
	mov	ABS(vs_qemu_guest_start + VQG_P_LOW_END), %rdx
	mov	$VQG_FILL_FROM, %eax
3:	cmp	%rdx, %rax
	jae	4f
	mov	%rax, 8(%rax)
	add	$4096, %rax
	jmp	3b
4:	mov	ABS(vs_qemu_guest_start + VQG_P_HIGH_END), %rdx
	mov	$1, %eax
	shl	$32, %rax
5:	cmp	%rdx, %rax
	jae	6f
	mov	%rax, 8(%rax)
	add	$4096, %rax
	jmp	5b
6:	movq	$1, VQG_S_STAGE(%rbx)

	/* The RAM writer: %r8 pass, %r9 page, %r10 pages, %r11 start,
	 * %rsi TSC per page, %rbp next deadline (0: none yet). */
	mov	ABS(vs_qemu_guest_start + VQG_P_WS_START), %r11
	mov	ABS(vs_qemu_guest_start + VQG_P_WS_PAGES), %r10
	mov	ABS(vs_qemu_guest_start + VQG_P_TSC), %rsi
	mov	$1, %r8d
	mov	%r8, VQG_S_PASS(%rbx)
	xor	%r9d, %r9d
	xor	%ebp, %ebp
7:	test	%rsi, %rsi
	jz	10f
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	test	%rbp, %rbp
	jnz	8f
	mov	%rax, %rbp
8:	cmp	%rbp, %rax
	jae	9f
	pause
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	jmp	8b
9:	mov	%rax, %rdx
	sub	%rbp, %rdx
	imul	$4096, %rsi, %rcx		/* more than 4096 pages late: */
	cmp	%rcx, %rdx
	jbe	11f
	mov	%rax, %rbp			/* start over from now */
11:	add	%rsi, %rbp
10:	mov	%r9, %rax			/* page[r9] = pass */
	shl	$12, %rax
	add	%r11, %rax
	mov	%r8, (%rax)
	incq	VQG_S_PAGES(%rbx)
	inc	%r9
	cmp	%r10, %r9
	jb	7b
	xor	%r9d, %r9d
	inc	%r8
	mov	%r8, VQG_S_PASS(%rbx)
	jmp	7b

	.balign 8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		/* 0x08: 32-bit code */
	.quad	0x00cf92000000ffff		/* 0x10: data */
	.quad	0x00af9a000000ffff		/* 0x18: 64-bit code */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	ABS(gdt)

	.org	VQG_PARAMS
	.fill	40, 1, 0
	.org	VQG_SECTOR - 2
	.byte	0x55, 0xaa
vs_qemu_guest_end:
	.section .note.GNU-stack,"",@progbits
