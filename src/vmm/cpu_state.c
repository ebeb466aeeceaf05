// SPDX-License-Identifier: MIT
/*
 * cpu_state.c - a vCPU's state for migration, as a versioned blob:
 *
 *   u32 magic "IODC" | u32 version | u32 size of each part (regs, sregs,
 *   fpu) | kvm_regs | kvm_sregs | kvm_fpu | u64 TSC
 *
 * The TSC travels because the guest paces itself by it: a destination VM's
 * TSC starts near zero, and the guest would otherwise wait out the time the
 * source ran.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_private.h"

#define CPU_STATE_MAGIC	  0x43444f49u /* "IODC" */
#define CPU_STATE_VERSION 1u
#define MSR_IA32_TSC	  0x10

struct cpu_state_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t regs_size;
	uint32_t sregs_size;
	uint32_t fpu_size;
	uint32_t pad;
};

struct msr_one {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e;
};

int vmm_cpu_save(struct vmm *vm, unsigned int i, uint8_t *buf, size_t len)
{
	struct cpu_state_hdr hdr = {
		.magic = CPU_STATE_MAGIC,
		.version = CPU_STATE_VERSION,
		.regs_size = sizeof(struct kvm_regs),
		.sregs_size = sizeof(struct kvm_sregs),
		.fpu_size = sizeof(struct kvm_fpu),
	};
	struct msr_one tsc = { .hdr.nmsrs = 1, .e.index = MSR_IA32_TSC };
	size_t need = sizeof(hdr) + hdr.regs_size + hdr.sregs_size +
		      hdr.fpu_size + 8;
	struct vmm_vcpu *c;
	uint8_t *p = buf;

	if (i >= vm->nvcpus)
		return -EINVAL;
	if (len < need)
		return -ENOSPC;
	c = &vm->vcpu[i];
	memcpy(p, &hdr, sizeof(hdr));
	p += sizeof(hdr);
	if (ioctl(c->fd, KVM_GET_REGS, p))
		return -errno;
	p += hdr.regs_size;
	if (ioctl(c->fd, KVM_GET_SREGS, p))
		return -errno;
	p += hdr.sregs_size;
	if (ioctl(c->fd, KVM_GET_FPU, p))
		return -errno;
	p += hdr.fpu_size;
	if (ioctl(c->fd, KVM_GET_MSRS, &tsc) != 1)
		return -EIO;
	memcpy(p, &tsc.e.data, 8);
	return (int)need;
}

int vmm_cpu_load(struct vmm *vm, unsigned int i, const uint8_t *buf,
		 size_t len)
{
	struct msr_one tsc = { .hdr.nmsrs = 1, .e.index = MSR_IA32_TSC };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct cpu_state_hdr hdr;
	struct vmm_vcpu *c;
	const uint8_t *p = buf;

	if (i >= vm->nvcpus || len < sizeof(hdr))
		return -EINVAL;
	memcpy(&hdr, p, sizeof(hdr));
	if (hdr.magic != CPU_STATE_MAGIC || hdr.version != CPU_STATE_VERSION ||
	    hdr.regs_size != sizeof(regs) || hdr.sregs_size != sizeof(sregs) ||
	    hdr.fpu_size != sizeof(fpu) ||
	    len != sizeof(hdr) + sizeof(regs) + sizeof(sregs) + sizeof(fpu) + 8)
		return -EINVAL;
	p += sizeof(hdr);
	memcpy(&regs, p, sizeof(regs));
	p += sizeof(regs);
	memcpy(&sregs, p, sizeof(sregs));
	p += sizeof(sregs);
	memcpy(&fpu, p, sizeof(fpu));
	p += sizeof(fpu);
	memcpy(&tsc.e.data, p, 8);
	c = &vm->vcpu[i];
	/* KVM checks what it is given: what it refuses is a bad state. */
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) ||
	    ioctl(c->fd, KVM_SET_REGS, &regs) ||
	    ioctl(c->fd, KVM_SET_FPU, &fpu))
		return -EINVAL;
	if (ioctl(c->fd, KVM_SET_MSRS, &tsc) != 1)
		return -EINVAL;
	return 0;
}
