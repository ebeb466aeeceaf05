// SPDX-License-Identifier: MIT
/*
 * kvm.c - the VM's KVM side: /dev/kvm, the VM fd, memory slots, and CPU
 * dirty logging (vmm-behaviour.md §4.1): the bitmap with manual protect
 * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: KVM_GET_DIRTY_LOG, then
 * KVM_CLEAR_DIRTY_LOG re-arms exactly the pages harvested), or the per-vCPU
 * dirty ring (KVM_CAP_DIRTY_LOG_RING, KVM_RESET_DIRTY_RINGS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>

#include "vmm_private.h"

int vmm_available(char *msg, size_t msglen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), v;

	if (fd < 0) {
		int e = errno;

		snprintf(msg, msglen,
			 e == ENOENT ? "no /dev/kvm on this machine: KVM is not available" :
			 e == EACCES ? "/dev/kvm: permission denied (need access to KVM)" :
				       "/dev/kvm: %s",
			 strerror(e));
		return -e;
	}
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (v != KVM_API_VERSION) {
		snprintf(msg, msglen, "/dev/kvm: API version %d, need %d", v,
			 KVM_API_VERSION);
		return -ENOTSUP;
	}
	return 0;
}

int kvm_vm_create(struct vmm *vm, char *msg, size_t msglen)
{
	int rc = vmm_available(msg, msglen), cap;

	if (rc)
		return rc;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return -errno;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		rc = -errno;
		snprintf(msg, msglen, "KVM_CREATE_VM: %s", strerror(-rc));
		return rc;
	}
	/* Intel VMX wants these; other KVMs ignore or refuse harmlessly. */
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	{
		uint64_t ident = 0xfffbc000ULL;

		ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	}

	if (vm->cfg.dirty_ring) {
		struct kvm_enable_cap ec = { .cap = KVM_CAP_DIRTY_LOG_RING };
		uint32_t entries = vm->cfg.ring_entries ? vm->cfg.ring_entries :
							  4096;

		cap = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
			    KVM_CAP_DIRTY_LOG_RING);
		if (cap <= 0) {
			snprintf(msg, msglen, "KVM has no dirty ring");
			return -ENOTSUP;
		}
		ec.args[0] = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
		if ((int)ec.args[0] > cap || !is_power_of_2_u64(entries)) {
			snprintf(msg, msglen,
				 "dirty ring of %u entries: KVM takes a power of two up to %d bytes",
				 entries, cap);
			return -EINVAL;
		}
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &ec)) {
			rc = -errno;
			snprintf(msg, msglen, "KVM_CAP_DIRTY_LOG_RING: %s",
				 strerror(-rc));
			return rc;
		}
		vm->cfg.ring_entries = entries;
	} else {
		cap = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
			    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
		if (cap > 0) {
			struct kvm_enable_cap ec = {
				.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
				.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
			};

			/* Start clean: migration sends everything anyway. */
			vm->manual_protect = !ioctl(vm->vm_fd, KVM_ENABLE_CAP,
						    &ec);
		}
	}
	return 0;
}

int kvm_set_slot(struct vmm *vm, struct vmm_slot *s, bool log)
{
	struct kvm_userspace_memory_region r = {
		.slot = s->slot,
		.flags = log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = s->gpa,
		.memory_size = s->size,
		.userspace_addr = (uintptr_t)s->hva,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

/* The bitmap way: GET, then CLEAR exactly what was harvested. */
int kvm_log_sync(struct vmm *vm, struct vmm_dirty *dirty, uint64_t *pages)
{
	*pages = 0;
	for (unsigned int i = 0; i < vm->nslots; i++) {
		struct vmm_slot *s = &vm->slot[i];
		uint64_t npages = s->size >> VMM_PAGE_SHIFT;
		struct kvm_dirty_log log = { .slot = s->slot };

		if (!s->ram)
			continue;
		memset(vm->log_bits, 0, DIV_ROUND_UP(npages, 64) * 8);
		log.dirty_bitmap = vm->log_bits;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log))
			return -errno;
		*pages += vmm_dirty_or(dirty, s->gpa, vm->log_bits, npages);
		if (vm->manual_protect) {
			struct kvm_clear_dirty_log clear = {
				.slot = s->slot,
				.first_page = 0,
				.num_pages = (uint32_t)npages,
				.dirty_bitmap = vm->log_bits,
			};

			if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear))
				return -errno;
		}
	}
	return 0;
}

/*
 * The ring way: every entry KVM published (flags DIRTY) is taken and
 * marked for reset; KVM_RESET_DIRTY_RINGS re-arms those pages.
 */
int kvm_ring_harvest(struct vmm *vm, struct vmm_dirty *dirty, uint64_t *pages)
{
	uint32_t mask = vm->cfg.ring_entries - 1;

	*pages = 0;
	pthread_mutex_lock(&vm->ring_lock);
	for (unsigned int v = 0; v < vm->nvcpus; v++) {
		struct vmm_vcpu *c = &vm->vcpu[v];

		for (;;) {
			struct kvm_dirty_gfn *g = &c->ring[c->ring_next & mask];
			uint32_t flags = __atomic_load_n(&g->flags,
							 __ATOMIC_ACQUIRE);
			uint32_t slot = g->slot & 0xffff;

			if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
				break;
			for (unsigned int i = 0; i < vm->nslots; i++) {
				if (vm->slot[i].slot == slot && vm->slot[i].ram) {
					vmm_dirty_set(dirty,
						      vm->slot[i].gpa +
							      (g->offset
							       << VMM_PAGE_SHIFT),
						      VMM_PAGE_SIZE);
					(*pages)++;
					break;
				}
			}
			__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET,
					 __ATOMIC_RELEASE);
			c->ring_next++;
		}
	}
	ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
	pthread_mutex_unlock(&vm->ring_lock);
	return 0;
}
