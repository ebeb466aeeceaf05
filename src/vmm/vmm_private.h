/* SPDX-License-Identifier: MIT */
/*
 * vmm_private.h - the VM's insides, shared by vm.c (set-up, the guest),
 * kvm.c (the VM fd, memory slots, dirty logging) and vcpu.c (threads).
 *
 * Locks: @lock guards the pause/run state of the vCPUs and @failed;
 * @ring_lock serialises harvesting the dirty rings (a vCPU whose ring is
 * full harvests into @ring_pending itself).
 */
#ifndef IODIRTY_VMM_PRIVATE_H
#define IODIRTY_VMM_PRIVATE_H

#include <linux/kvm.h>
#include <pthread.h>

#include <iodirty/vmm.h>

#include "guest.h"

struct vmm_slot {
	uint32_t slot;
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	bool ram;			/* guest RAM (logged, migrated) */
};

struct vmm_vcpu {
	struct vmm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	struct kvm_dirty_gfn *ring;	/* dirty ring, or NULL */
	uint32_t ring_next;		/* next entry to harvest */
	uint32_t ring_empty;		/* full-ring exits in a row with none */
	pthread_t thread;
	bool started;
	bool in_guest;			/* between pause checks */
};

struct vmm {
	struct vmm_config cfg;
	int kvm_fd;
	int vm_fd;
	int mem_fd;			/* memfd behind RAM */
	uint64_t mem_map_size;
	uint8_t *mem;			/* all RAM, as one mapping */
	struct vmm_slot slot[VMM_MAX_RAM_REGIONS + VMM_MAX_DEVICES];
	unsigned int nslots, nram;
	struct vmm_vcpu vcpu[GUEST_MAX_VCPUS];
	unsigned int nvcpus;
	struct vmm_pt *pt;
	void *bar_map[VMM_MAX_DEVICES];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused;
	bool exiting;
	unsigned int running;		/* vCPUs not parked */
	char failed[VMM_MSG_LEN];

	bool logging;
	bool manual_protect;		/* KVM_CLEAR_DIRTY_LOG in use */
	uint64_t *log_bits;		/* KVM_GET_DIRTY_LOG scratch */
	pthread_mutex_t ring_lock;
	struct vmm_dirty ring_pending;	/* harvested from full rings */
};

/* kvm.c */
int kvm_vm_create(struct vmm *vm, char *msg, size_t msglen);
int kvm_set_slot(struct vmm *vm, struct vmm_slot *s, bool log);
int kvm_log_sync(struct vmm *vm, struct vmm_dirty *dirty, uint64_t *pages);
int kvm_ring_harvest(struct vmm *vm, struct vmm_dirty *dirty, uint64_t *pages);

/* vcpu.c */
int vcpu_create(struct vmm *vm, unsigned int index, char *msg, size_t msglen);
void vcpu_destroy(struct vmm_vcpu *vcpu);
int vcpu_start(struct vmm_vcpu *vcpu);
void vcpus_stop(struct vmm *vm);
void vmm_fail(struct vmm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* payload.S */
extern const unsigned char guest_payload_start[];
extern const unsigned char guest_payload_end[];

#endif
