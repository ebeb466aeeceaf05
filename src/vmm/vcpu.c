// SPDX-License-Identifier: MIT
/*
 * vcpu.c - vCPU threads: KVM_RUN loops, the exits the payload can cause,
 * and pausing (a signal kicks a vCPU out of the guest; immediate_exit keeps
 * it out until resumed).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <iodirty/compiler.h>

#include "vmm_private.h"

/*
 * The signal that kicks a vCPU thread out of KVM_RUN: a real-time one, so
 * that SIGUSR1/2 stay the program's (`iodirty migrate` switches over on
 * SIGUSR1; sharing it made every kick a switchover request).
 */
#define SIG_KICK (SIGRTMIN + 1)

void vmm_fail(struct vmm *vm, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (!vm->failed[0]) {
		va_start(ap, fmt);
		vsnprintf(vm->failed, sizeof(vm->failed), fmt, ap);
		va_end(ap);
		pr_err(vm->cfg.log, "%s", vm->failed);
	}
	__atomic_store_n(&vm->paused, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

static void kick_handler(int sig)
{
	(void)sig;
}

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;	/* no SA_RESTART: KVM_RUN returns */
	sigaction(SIG_KICK, &sa, NULL);
}

/* x86-64 long mode, flat segments, the identity map vm.c built. */
static int setup_long_mode(struct vmm_vcpu *c)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 11,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(c->fd, KVM_GET_SREGS, &sregs))
		return -errno;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = GUEST_GDT;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = GUEST_PML4;
	sregs.cr4 = 1u << 5;				/* PAE */
	sregs.cr0 = (1u << 0) | (1u << 1) | (1u << 4) | (1u << 5) |
		    (1u << 31);				/* PE MP ET NE PG */
	sregs.efer = (1u << 8) | (1u << 10);		/* LME LMA */
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs))
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE;
	regs.rsp = GUEST_STACK_TOP - (uint64_t)c->index * GUEST_STACK_SIZE;
	regs.rdi = c->index;
	regs.rsi = GUEST_PARAMS;
	regs.rdx = GUEST_STATUS;
	regs.rflags = 0x2;
	return ioctl(c->fd, KVM_SET_REGS, &regs) ? -errno : 0;
}

static int setup_cpuid(struct vmm_vcpu *c)
{
	struct {
		struct kvm_cpuid2 cpuid;
		struct kvm_cpuid_entry2 e[128];
	} buf = { .cpuid.nent = 128 };

	if (ioctl(c->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, &buf))
		return -errno;
	return ioctl(c->fd, KVM_SET_CPUID2, &buf) ? -errno : 0;
}

int vcpu_create(struct vmm *vm, unsigned int index, char *msg, size_t msglen)
{
	struct vmm_vcpu *c = &vm->vcpu[index];
	long mmap_size;
	int rc;

	c->vm = vm;
	c->index = index;
	c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (c->fd < 0) {
		rc = -errno;
		snprintf(msg, msglen, "KVM_CREATE_VCPU %u: %s", index,
			 strerror(-rc));
		return rc;
	}
	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0) {
		snprintf(msg, msglen, "KVM_GET_VCPU_MMAP_SIZE failed");
		return -EINVAL;
	}
	c->run_size = (size_t)mmap_size;
	c->run = mmap(NULL, c->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (c->run == MAP_FAILED) {
		rc = -errno;
		c->run = NULL;
		snprintf(msg, msglen, "mmap of vCPU %u: %s", index,
			 strerror(-rc));
		return rc;
	}
	if (vm->cfg.dirty_ring) {
		c->ring = mmap(NULL,
			       vm->cfg.ring_entries *
				       sizeof(struct kvm_dirty_gfn),
			       PROT_READ | PROT_WRITE, MAP_SHARED, c->fd,
			       KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
		if (c->ring == MAP_FAILED) {
			rc = -errno;
			c->ring = NULL;
			snprintf(msg, msglen, "mmap of vCPU %u's dirty ring: %s",
				 index, strerror(-rc));
			return rc;
		}
	}
	rc = setup_cpuid(c);
	if (!rc)
		rc = setup_long_mode(c);
	if (rc)
		snprintf(msg, msglen, "setting up vCPU %u: %s", index,
			 strerror(-rc));
	return rc;
}

void vcpu_destroy(struct vmm_vcpu *c)
{
	if (c->ring)
		munmap(c->ring, c->vm->cfg.ring_entries *
					sizeof(struct kvm_dirty_gfn));
	if (c->run)
		munmap(c->run, c->run_size);
	if (c->fd > 0)
		close(c->fd);
}

/* Park while paused; false when the VM is going away. */
static bool wait_runnable(struct vmm_vcpu *c)
{
	struct vmm *vm = c->vm;
	bool go;

	pthread_mutex_lock(&vm->lock);
	c->in_guest = false;
	vm->running--;
	pthread_cond_broadcast(&vm->cond);
	while (vm->paused && !vm->exiting)
		pthread_cond_wait(&vm->cond, &vm->lock);
	go = !vm->exiting;
	if (go) {
		vm->running++;
		c->in_guest = true;
		c->run->immediate_exit = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static bool handle_exit(struct vmm_vcpu *c)
{
	struct kvm_run *run = c->run;
	struct vmm *vm = c->vm;
	uint64_t pages;

	switch (run->exit_reason) {
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_DIRTY_RING_FULL: {
		uint32_t next = c->ring_next;

		kvm_ring_harvest(vm, &vm->ring_pending, &pages);
		/*
		 * KVM says this ring is full, yet the entry it must publish
		 * next is not there, time after time (a sync on another
		 * thread may have emptied it once): KVM pushed past the end
		 * of the ring and overwrote entries - its instruction
		 * emulator does not stop at the soft limit (seen under PVM,
		 * with a "should never get full" warning in the host's
		 * log). Dirty pages are lost and the vCPU would spin here.
		 */
		c->ring_empty = c->ring_next == next ? c->ring_empty + 1 : 0;
		if (c->ring_empty >= 1000) {
			vmm_fail(vm,
				 "vCPU %u: KVM's dirty ring overflowed (full, with no entry to harvest): dirty pages were lost; use the dirty bitmap",
				 c->index);
			return false;
		}
		return true;
	}
	case KVM_EXIT_HLT:
		vmm_fail(vm, "vCPU %u halted (the payload never halts)",
			 c->index);
		return false;
	case KVM_EXIT_MMIO:
		vmm_fail(vm, "vCPU %u: %s of %u bytes at unbacked GPA 0x%llx",
			 c->index, run->mmio.is_write ? "write" : "read",
			 run->mmio.len,
			 (unsigned long long)run->mmio.phys_addr);
		return false;
	case KVM_EXIT_IO:
		vmm_fail(vm, "vCPU %u: unexpected I/O port 0x%x", c->index,
			 run->io.port);
		return false;
	case KVM_EXIT_SHUTDOWN:
		vmm_fail(vm, "vCPU %u: triple fault (guest shutdown)",
			 c->index);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vmm_fail(vm, "vCPU %u: KVM entry failed, reason 0x%llx",
			 c->index,
			 (unsigned long long)run->fail_entry
				 .hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vmm_fail(vm, "vCPU %u: KVM internal error %u", c->index,
			 run->internal.suberror);
		return false;
	default:
		vmm_fail(vm, "vCPU %u: unhandled exit %u", c->index,
			 run->exit_reason);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *c = arg;
	struct vmm *vm = c->vm;

	pthread_mutex_lock(&vm->lock);
	vm->running++;
	c->in_guest = true;
	pthread_mutex_unlock(&vm->lock);
	for (;;) {
		int rc;

		if (__atomic_load_n(&vm->paused, __ATOMIC_ACQUIRE) &&
		    !wait_runnable(c))
			break;
		if (__atomic_load_n(&vm->exiting, __ATOMIC_ACQUIRE))
			break;
		rc = ioctl(c->fd, KVM_RUN, 0);
		if (rc < 0 && errno != EINTR && errno != EAGAIN) {
			vmm_fail(vm, "vCPU %u: KVM_RUN: %s", c->index,
				 strerror(errno));
			continue;
		}
		if (rc < 0)
			continue;	/* kicked */
		if (!handle_exit(c))
			continue;	/* failed: parks on the next loop */
	}
	pthread_mutex_lock(&vm->lock);
	vm->running--;
	c->in_guest = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_start(struct vmm_vcpu *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install_kick_handler);
	if (pthread_create(&c->thread, NULL, vcpu_thread, c))
		return -EAGAIN;
	c->started = true;
	return 0;
}

static void kick_all(struct vmm *vm)
{
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *c = &vm->vcpu[i];

		if (!c->started)
			continue;
		c->run->immediate_exit = 1;
		pthread_kill(c->thread, SIG_KICK);
	}
}

void vmm_pause(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->paused, true, __ATOMIC_RELEASE);
	while (vm->running) {
		struct timespec ts;

		pthread_mutex_unlock(&vm->lock);
		kick_all(vm);
		pthread_mutex_lock(&vm->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vmm_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->failed[0]) {
		__atomic_store_n(&vm->paused, false, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vcpus_stop(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->exiting, true, __ATOMIC_RELEASE);
	__atomic_store_n(&vm->paused, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *c = &vm->vcpu[i];

		if (!c->started)
			continue;
		c->run->immediate_exit = 1;
		pthread_kill(c->thread, SIG_KICK);
		pthread_join(c->thread, NULL);
		c->started = false;
	}
}
