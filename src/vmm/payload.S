/* SPDX-License-Identifier: MIT */
/*
 * payload.S - the guest: a 64-bit program the VMM copies to GUEST_CODE and
 * starts on every vCPU, with no OS (src/vmm/guest.h has the layout).
 *
 *   RAM writer (GUEST_ROLE_RAM): pass after pass, writes the pass number
 *     at the start of each page of its slice of the working set, in order,
 *     paced by the TSC; QEMU's migration-test invariant (guest.h).
 *   Driver (GUEST_ROLE_DMA): programs each passthrough device through its
 *     BAR0 (window = its DMA area, IOVA = GPA) and starts it, then walks the
 *     windows checking every block it finds: magic, size, device index, the
 *     IOVA it was meant for, and a sequence number below the device's SEQ.
 *
 * Entry: %rdi = vCPU index, %rsi = &params, %rdx = &status[0].
 * Registers kept across the loop:
 *   %r15 vCPU index   %r14 params   %r13 my status   %r12 roles
 *   %r11 slice start  %r10 slice pages  %r9 page index  %r8 pass
 *   %rbp next TSC deadline (0: unpaced)
 * The code is position-independent data in the host binary (.rodata).
 */
#include "guest.h"
#include <iodirty/uapi/iodirty_dma.h>

	.section .rodata
	.balign 16
	.globl guest_payload_start
	.globl guest_payload_end
	.code64
guest_payload_start:
	mov	%rdi, %r15
	mov	%rsi, %r14
	imul	$GUEST_STATUS_SIZE, %rdi, %r13
	add	%rdx, %r13
	mov	%r15, GS_CPU(%r13)
	movzbl	GP_ROLES(%r14,%r15), %r12d

	/* My slice of the working set: writers are vCPUs 0..writers-1. */
	xor	%r10, %r10
	xor	%r11, %r11
	test	$GUEST_ROLE_RAM, %r12d
	jz	1f
	mov	GP_RAM_PAGES(%r14), %rax
	xor	%edx, %edx
	divq	GP_RAM_WRITERS(%r14)		/* rax = pages per writer */
	mov	%rax, %r10
	imul	%r15, %rax
	shl	$12, %rax
	add	GP_RAM_START(%r14), %rax
	mov	%rax, %r11
1:	xor	%r9, %r9
	mov	$1, %r8
	mov	%r8, GS_RAM_PASS(%r13)
	xor	%rbp, %rbp

	test	$GUEST_ROLE_DMA, %r12d
	jz	main_loop
	call	dma_start_all

main_loop:
	incq	GS_ALIVE(%r13)
	test	$GUEST_ROLE_RAM, %r12d
	jz	2f
	test	%r10, %r10
	jz	2f
	call	ram_step
2:	test	$GUEST_ROLE_DMA, %r12d
	jz	main_loop
	call	dma_check_step
	jmp	main_loop

/*
 * ram_step: up to 256 pages. Uses %rax, %rcx, %rdx, %rsi.
 */
ram_step:
	mov	$256, %ecx
3:	mov	GP_RAM_TSC(%r14), %rsi
	test	%rsi, %rsi
	jz	5f
	/* Paced: wait for the deadline; start over if far behind. */
	push	%rcx
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	test	%rbp, %rbp
	jnz	4f
	mov	%rax, %rbp
4:	cmp	%rbp, %rax
	jae	6f
	pause
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	jmp	4b
6:	mov	%rax, %rdx
	sub	%rbp, %rdx
	imul	$4096, %rsi, %rcx		/* more than 4096 pages late: */
	cmp	%rcx, %rdx
	jbe	7f
	mov	%rax, %rbp			/* resynchronise */
7:	add	%rsi, %rbp
	pop	%rcx
5:	/* page[r9] = pass */
	mov	%r9, %rax
	shl	$12, %rax
	add	%r11, %rax
	mov	%r8, (%rax)
	incq	GS_RAM_PAGES(%r13)
	inc	%r9
	cmp	%r10, %r9
	jb	8f
	xor	%r9, %r9
	inc	%r8
	mov	%r8, GS_RAM_PASS(%r13)
8:	dec	%ecx
	jnz	3b
	ret

/*
 * dma_start_all: program and start every device. Uses %rax, %rbx, %rcx,
 * %rdx, %rsi.
 */
dma_start_all:
	push	%rbx
	xor	%ecx, %ecx
9:	cmp	GP_NDEV(%r14), %ecx
	jae	10f
	imul	$GD_STRIDE, %rcx, %rsi
	lea	GP_DEV(%r14,%rsi), %rsi		/* %rsi = &dev[i] */
	mov	GD_BAR(%rsi), %rbx
	mov	GD_WINDOW(%rsi), %rax
	mov	%rax, DMA_REG_WINDOW_IOVA(%rbx)
	mov	GD_SIZE(%rsi), %rax
	mov	%rax, DMA_REG_WINDOW_SIZE(%rbx)
	mov	GD_BLOCK(%rsi), %eax
	mov	%eax, DMA_REG_BLOCK_SIZE(%rbx)
	mov	GD_PATTERN(%rsi), %eax
	mov	%eax, DMA_REG_PATTERN(%rbx)
	mov	GD_RATE(%rsi), %rax
	mov	%rax, DMA_REG_RATE(%rbx)
	movl	$DMA_CTRL_RUN, DMA_REG_CTRL(%rbx)
	incq	GS_DMA_STARTED(%r13)
	inc	%ecx
	jmp	9b
10:	pop	%rbx
	ret

/*
 * dma_check_step: check the next 64 blocks of every device's window; the
 * per-device cursors live in the status block's spare words (pad[i]).
 * Uses %rax, %rbx, %rcx, %rdx, %rsi, %rdi (and saves %r12).
 */
#define GS_CURSOR 64
dma_check_step:
	push	%rbx
	push	%r12
	xor	%ecx, %ecx
11:	cmp	GP_NDEV(%r14), %ecx
	jae	20f
	imul	$GD_STRIDE, %rcx, %rsi
	lea	GP_DEV(%r14,%rsi), %rsi		/* %rsi = &dev[i] */
	push	%rcx
	mov	$64, %edi
12:	mov	GS_CURSOR(%r13,%rcx,8), %rax	/* cursor: byte offset */
	mov	GD_WINDOW(%rsi), %rdx
	add	%rax, %rdx			/* %rdx = block GPA */
	push	%rax
	mov	DMA_BLOCK_OFF_MAGIC(%rdx), %rax
	test	%rax, %rax
	jz	14f				/* not written yet */
	movabs	$DMA_BLOCK_MAGIC, %rbx
	cmp	%rbx, %rax
	jne	13f
	cmp	DMA_BLOCK_OFF_IOVA(%rdx), %rdx
	jne	13f
	mov	DMA_BLOCK_OFF_INDEX(%rdx), %eax
	cmp	GD_INDEX(%rsi), %eax
	jne	13f
	mov	DMA_BLOCK_OFF_SIZE(%rdx), %eax
	cmp	GD_BLOCK(%rsi), %eax
	jne	13f
	/*
	 * The device takes a sequence number (SEQ + 1) before it writes a
	 * block, so SEQ read after the block's seq is above it.
	 */
	mov	DMA_BLOCK_OFF_SEQ(%rdx), %rax
	mov	GD_BAR(%rsi), %rbx
	cmp	DMA_REG_SEQ(%rbx), %rax
	jae	13f
	incq	GS_DMA_GOOD(%r13)
	jmp	14f
13:	incq	GS_DMA_BAD(%r13)
	mov	%rdx, GS_DMA_BAD_GPA(%r13)
14:	pop	%rax
	mov	GD_BAR(%rsi), %rbx
	mov	GD_BLOCK(%rsi), %edx
	add	%rdx, %rax
	cmp	GD_SIZE(%rsi), %rax
	jb	15f
	xor	%eax, %eax
15:	mov	(%rsp), %rcx
	mov	%rax, GS_CURSOR(%r13,%rcx,8)
	dec	%edi
	jnz	12b
	pop	%rcx
	inc	%ecx
	jmp	11b
20:	pop	%r12
	pop	%rbx
	ret

guest_payload_end:
	.section .note.GNU-stack,"",@progbits
