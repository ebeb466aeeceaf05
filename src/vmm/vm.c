// SPDX-License-Identifier: MIT
/*
 * vm.c - a VM: RAM (memfd, hugetlb when asked), the guest's GDT and
 * identity page tables, the payload and its parameters, the passthrough
 * devices (attached, given guest RAM with IOVA = GPA, their BAR0 mapped
 * into the guest at GUEST_BAR_BASE), and the dirty sync that unions KVM's
 * log with the devices' tracker (vmm-behaviour.md §4.2).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>
#include <iodirty/uapi/iodirty_dma.h>

#include "vmm_private.h"

#define SZ_2M (2ULL << 20)
#define SZ_1G (1ULL << 30)
#define LOW_RAM_MAX (3ULL << 30)	/* RAM below the 32-bit PCI hole */
#define HIGH_RAM_BASE (4ULL << 30)
#define MAX_MEM (128ULL << 30)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* The TSC rate the guest's pacing uses (the guest sees the host's TSC). */
static uint64_t tsc_hz(void)
{
	struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
	uint64_t t0 = now_ns(), c0 = rdtsc(), t1, c1;

	nanosleep(&ts, NULL);
	t1 = now_ns();
	c1 = rdtsc();
	return (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
}

static uint8_t *gpa_to_hva(struct vmm *vm, uint64_t gpa)
{
	for (unsigned int i = 0; i < vm->nram; i++) {
		struct vmm_slot *s = &vm->slot[i];

		if (gpa >= s->gpa && gpa - s->gpa < s->size)
			return s->hva + (gpa - s->gpa);
	}
	return NULL;
}

static int ram_create(struct vmm *vm, char *msg, size_t msglen)
{
	uint64_t mem = vm->cfg.mem, low = mem < LOW_RAM_MAX ? mem : LOW_RAM_MAX;
	uint64_t largest;
	unsigned int flags = MFD_CLOEXEC;
	int rc;

	if (vm->cfg.hugetlb)
		flags |= MFD_HUGETLB;
	vm->mem_fd = memfd_create("iodirty-guest-ram", flags);
	if (vm->mem_fd < 0) {
		rc = -errno;
		snprintf(msg, msglen, "guest RAM%s: %s",
			 vm->cfg.hugetlb ? " (hugetlb)" : "", strerror(-rc));
		return rc;
	}
	if (ftruncate(vm->mem_fd, (off_t)mem)) {
		rc = -errno;
		snprintf(msg, msglen, "guest RAM of %llu MiB: %s",
			 (unsigned long long)(mem >> 20), strerror(-rc));
		return rc;
	}
	vm->mem = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->mem_fd, 0);
	if (vm->mem == MAP_FAILED) {
		rc = -errno;
		vm->mem = NULL;
		snprintf(msg, msglen, "mapping guest RAM%s: %s",
			 vm->cfg.hugetlb ? " (are hugetlb pages reserved?)" :
					   "",
			 strerror(-rc));
		return rc;
	}
	vm->mem_map_size = mem;
	vm->slot[0] = (struct vmm_slot){ 0, 0, low, vm->mem, true };
	vm->nslots = vm->nram = 1;
	if (mem > low) {
		vm->slot[1] = (struct vmm_slot){ 1, HIGH_RAM_BASE, mem - low,
						 vm->mem + low, true };
		vm->nslots = vm->nram = 2;
	}
	for (unsigned int i = 0; i < vm->nram; i++) {
		rc = kvm_set_slot(vm, &vm->slot[i], false);
		if (rc) {
			snprintf(msg, msglen, "KVM_SET_USER_MEMORY_REGION: %s",
				 strerror(-rc));
			return rc;
		}
	}
	/* KVM_GET_DIRTY_LOG's scratch: the largest slot (above 6 GiB, high). */
	largest = mem - low > low ? mem - low : low;
	vm->log_bits = xcalloc(DIV_ROUND_UP(largest >> VMM_PAGE_SHIFT, 64), 8);
	return vm->log_bits ? 0 : -ENOMEM;
}

/* GDT, and an identity map of [0, 4 GiB) and the RAM above with 2M pages. */
static void guest_tables(struct vmm *vm)
{
	uint64_t *gdt = (uint64_t *)gpa_to_hva(vm, GUEST_GDT);
	uint64_t *pml4 = (uint64_t *)gpa_to_hva(vm, GUEST_PML4);
	uint64_t *pdpt = (uint64_t *)gpa_to_hva(vm, GUEST_PDPT);
	uint64_t top = HIGH_RAM_BASE, ngib;

	if (vm->cfg.mem > LOW_RAM_MAX)
		top = HIGH_RAM_BASE + vm->cfg.mem - LOW_RAM_MAX;
	ngib = DIV_ROUND_UP(top, SZ_1G);
	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffULL;	/* 64-bit code */
	gdt[2] = 0x00cf92000000ffffULL;	/* data */
	pml4[0] = GUEST_PDPT | 0x3;
	for (uint64_t g = 0; g < ngib; g++) {
		uint64_t *pd = (uint64_t *)gpa_to_hva(vm, GUEST_PD + g * 4096);

		pdpt[g] = (GUEST_PD + g * 4096) | 0x3;
		for (uint64_t i = 0; i < 512; i++)
			pd[i] = (g * SZ_1G + i * SZ_2M) | 0x83; /* P RW PS */
	}
}

/* Where things go in the guest, and who does what. */
static int guest_params(struct vmm *vm, char *msg, size_t msglen)
{
	struct guest_params *p = (struct guest_params *)gpa_to_hva(vm,
								    GUEST_PARAMS);
	uint64_t low = vm->slot[0].size, at = GUEST_WORK, ws;
	unsigned int writers;

	memset(p, 0, sizeof(*p));
	p->magic = GUEST_PARAMS_MAGIC;
	p->nvcpus = vm->nvcpus;
	p->ndev = vm->cfg.ndevices;
	for (unsigned int i = 0; i < vm->cfg.ndevices; i++) {
		struct guest_dev *d = &p->dev[i];

		d->bar = GUEST_BAR_BASE + i * DMA_BAR0_SIZE;
		d->window = at;
		d->size = vm->cfg.dma_window;
		d->rate = vm->cfg.dma_rate;
		d->block = vm->cfg.dma_block;
		d->pattern = vm->cfg.dma_pattern;
		d->index = vmm_pt_device(vm->pt, i)->index;
		at += (vm->cfg.dma_window + SZ_2M - 1) & ~(SZ_2M - 1);
	}
	if (at + SZ_2M > low) {
		snprintf(msg, msglen,
			 "%llu MiB of RAM leaves no room for the working set after %u DMA windows of %llu MiB",
			 (unsigned long long)(vm->cfg.mem >> 20),
			 vm->cfg.ndevices,
			 (unsigned long long)(vm->cfg.dma_window >> 20));
		return -EINVAL;
	}
	ws = vm->cfg.ram_ws && vm->cfg.ram_ws < low - at ? vm->cfg.ram_ws :
							    low - at;
	/* One vCPU does both; with more, the last one drives the devices. */
	writers = vm->nvcpus > 1 && vm->cfg.ndevices ? vm->nvcpus - 1 :
						       vm->nvcpus;
	p->ram_start = at;
	p->ram_pages = ws >> VMM_PAGE_SHIFT;
	/* The rate is the VM's: each writer takes its share. */
	p->ram_tsc_per_page = vm->cfg.ram_rate ? tsc_hz() * writers /
							 vm->cfg.ram_rate :
						 0;
	p->ram_writers = writers;
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		p->roles[i] = i < writers ? GUEST_ROLE_RAM : 0;
		if (vm->cfg.ndevices && (i == vm->nvcpus - 1))
			p->roles[i] |= GUEST_ROLE_DMA;
	}
	return 0;
}

static int devices_create(struct vmm *vm, char *msg, size_t msglen)
{
	int rc;

	rc = vmm_pt_create(&vm->cfg.pt, &vm->pt, msg, msglen);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < vm->cfg.ndevices; i++) {
		rc = vmm_pt_add_device(vm->pt, i, msg, msglen);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < vm->nram; i++) {
		struct vmm_slot *s = &vm->slot[i];

		rc = vmm_pt_map_ram(vm->pt, s->gpa, s->size, s->hva);
		if (rc) {
			snprintf(msg, msglen,
				 "mapping guest RAM at 0x%llx for DMA: %s",
				 (unsigned long long)s->gpa, strerror(-rc));
			return rc;
		}
	}
	/* BAR0 of each device, mapped straight into the guest. */
	for (unsigned int i = 0; i < vm->cfg.ndevices; i++) {
		const struct vmm_pt_device *d = vmm_pt_device(vm->pt, i);
		struct vmm_slot *s = &vm->slot[vm->nslots];

		vm->bar_map[i] = mmap(NULL, DMA_BAR0_SIZE,
				      PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
				      0);
		if (vm->bar_map[i] == MAP_FAILED) {
			rc = -errno;
			vm->bar_map[i] = NULL;
			snprintf(msg, msglen, "mmap of %s BAR0: %s", d->name,
				 strerror(-rc));
			return rc;
		}
		*s = (struct vmm_slot){ 8 + i,
					GUEST_BAR_BASE + i * DMA_BAR0_SIZE,
					DMA_BAR0_SIZE, vm->bar_map[i], false };
		rc = kvm_set_slot(vm, s, false);
		if (rc) {
			snprintf(msg, msglen, "mapping %s BAR0 into the guest: %s",
				 d->name, strerror(-rc));
			return rc;
		}
		vm->nslots++;
	}
	return 0;
}

int vmm_create(const struct vmm_config *cfg, struct vmm **out, char *msg,
	       size_t msglen)
{
	uint64_t code = (uint64_t)(guest_payload_end - guest_payload_start);
	struct vmm *vm;
	int rc;

	*out = NULL;
	if (cfg->mem < 64ULL << 20 || cfg->mem % SZ_2M || cfg->mem > MAX_MEM) {
		snprintf(msg, msglen,
			 "memory must be a multiple of 2 MiB between 64 MiB and 128 GiB");
		return -EINVAL;
	}
	if (!cfg->vcpus || cfg->vcpus > GUEST_MAX_VCPUS) {
		snprintf(msg, msglen, "vCPUs must be 1..%d", GUEST_MAX_VCPUS);
		return -EINVAL;
	}
	if (cfg->ndevices > GUEST_MAX_DEVICES) {
		snprintf(msg, msglen, "at most %d devices", GUEST_MAX_DEVICES);
		return -EINVAL;
	}
	vm = xzalloc(sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	if (!vm->cfg.dma_window)
		vm->cfg.dma_window = 16ULL << 20;
	if (!vm->cfg.dma_block)
		vm->cfg.dma_block = 4096;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
	vm->nvcpus = cfg->vcpus;
	vm->paused = false;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	pthread_mutex_init(&vm->ring_lock, NULL);

	rc = kvm_vm_create(vm, msg, msglen);
	if (rc)
		goto err_destroy;
	rc = ram_create(vm, msg, msglen);
	if (rc)
		goto err_destroy;
	rc = vmm_dirty_init_ram(vm, &vm->ring_pending);
	if (rc)
		goto err_destroy;
	guest_tables(vm);
	memcpy(gpa_to_hva(vm, GUEST_CODE), guest_payload_start, code);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		rc = vcpu_create(vm, i, msg, msglen);
		if (rc)
			goto err_destroy;
	}
	if (cfg->ndevices) {
		rc = devices_create(vm, msg, msglen);
		if (rc)
			goto err_destroy;
	}
	rc = guest_params(vm, msg, msglen);
	if (rc)
		goto err_destroy;
	*out = vm;
	return 0;

err_destroy:
	vmm_destroy(vm);
	return rc;
}

void vmm_destroy(struct vmm *vm)
{
	if (!vm)
		return;
	vcpus_stop(vm);
	if (vm->pt)
		vmm_pt_destroy(vm->pt);
	for (unsigned int i = 0; i < VMM_MAX_DEVICES; i++)
		if (vm->bar_map[i])
			munmap(vm->bar_map[i], DMA_BAR0_SIZE);
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpu[i]);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->mem)
		munmap(vm->mem, vm->mem_map_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	vmm_dirty_destroy(&vm->ring_pending);
	xfree(vm->log_bits);
	pthread_mutex_destroy(&vm->ring_lock);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	xfree(vm);
}

int vmm_start(struct vmm *vm)
{
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		int rc = vcpu_start(&vm->vcpu[i]);

		if (rc)
			return rc;
	}
	return 0;
}

const char *vmm_failed(struct vmm *vm)
{
	const char *m;

	pthread_mutex_lock(&vm->lock);
	m = vm->failed[0] ? vm->failed : NULL;
	pthread_mutex_unlock(&vm->lock);
	return m;
}

struct vmm_pt *vmm_passthrough(struct vmm *vm)
{
	return vm->pt;
}

const struct vmm_config *vmm_config(const struct vmm *vm)
{
	return &vm->cfg;
}

unsigned int vmm_ram(const struct vmm *vm, uint64_t *gpa, uint64_t *size,
		     uint8_t **hva)
{
	for (unsigned int i = 0; i < vm->nram; i++) {
		if (gpa)
			gpa[i] = vm->slot[i].gpa;
		if (size)
			size[i] = vm->slot[i].size;
		if (hva)
			hva[i] = vm->slot[i].hva;
	}
	return vm->nram;
}

int vmm_dirty_init_ram(const struct vmm *vm, struct vmm_dirty *d)
{
	uint64_t gpa[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	unsigned int n = vmm_ram(vm, gpa, size, NULL);

	return vmm_dirty_init(d, gpa, size, n);
}

/* Mark in @d the pages of RAM at memfd offsets [off, off + len). */
static void mark_file_range(const struct vmm *vm, struct vmm_dirty *d,
			    uint64_t off, uint64_t len)
{
	for (unsigned int i = 0; i < vm->nram; i++) {
		const struct vmm_slot *s = &vm->slot[i];
		uint64_t base = (uint64_t)(s->hva - vm->mem);
		uint64_t lo = off > base ? off : base;
		uint64_t hi = off + len < base + s->size ? off + len :
							   base + s->size;

		if (lo < hi)
			vmm_dirty_set(d, s->gpa + (lo - base), hi - lo);
	}
}

int vmm_ram_populated(const struct vmm *vm, struct vmm_dirty *d)
{
	off_t end = (off_t)vm->mem_map_size, data = 0, hole;

	for (;;) {
		data = lseek(vm->mem_fd, data, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			return 0;	/* no data past here */
		if (data < 0)
			break;
		hole = lseek(vm->mem_fd, data, SEEK_HOLE);
		if (hole < 0)
			break;
		if (hole > end)
			hole = end;
		mark_file_range(vm, d, (uint64_t)data, (uint64_t)(hole - data));
		if (hole >= end)
			return 0;
		data = hole;
	}
	{
		int rc = -errno;

		mark_file_range(vm, d, 0, vm->mem_map_size);
		return rc;
	}
}

/*
 * One RAM writer's slice: pass p (its status) leaves pages [0, k) holding
 * p and [k, n) holding p - 1, for some k. Pages the memfd holds no data
 * for read as 0 without being read.
 */
static int check_slice(struct vmm *vm, const struct vmm_dirty *held,
		       unsigned int cpu, uint64_t start, uint64_t pages,
		       uint64_t pass, char *msg, size_t msglen)
{
	bool seen_old = false;

	for (uint64_t i = 0; i < pages; i++) {
		uint64_t gpa = start + i * VMM_PAGE_SIZE, v = 0;
		const uint8_t *hva = gpa_to_hva(vm, gpa);

		if (!hva) {
			snprintf(msg, msglen,
				 "vCPU %u's RAM writer: its page at GPA 0x%llx is not RAM",
				 cpu, (unsigned long long)gpa);
			return -EBADMSG;
		}
		if (vmm_dirty_test(held, gpa))
			memcpy(&v, hva, 8);
		if (v == pass && !seen_old)
			continue;
		if (v == pass - 1) {
			seen_old = true;
			continue;
		}
		snprintf(msg, msglen,
			 "vCPU %u's RAM writer is on pass %llu, but its page %llu (GPA 0x%llx) holds %llu%s: a write was lost or misplaced",
			 cpu, (unsigned long long)pass, (unsigned long long)i,
			 (unsigned long long)gpa, (unsigned long long)v,
			 v == pass ? " after older pages" : "");
		return -EBADMSG;
	}
	return 0;
}

int vmm_ram_writer_check(struct vmm *vm, char *msg, size_t msglen)
{
	const struct guest_params *p =
		(const struct guest_params *)gpa_to_hva(vm, GUEST_PARAMS);
	const struct guest_status *st =
		(const struct guest_status *)gpa_to_hva(vm, GUEST_STATUS);
	struct vmm_dirty held = { 0 };
	uint64_t per;
	int rc = 0;

	if (p->magic != GUEST_PARAMS_MAGIC || !p->ram_writers ||
	    p->ram_writers > vm->cfg.vcpus) {
		snprintf(msg, msglen, "the guest's parameter block is damaged");
		return -EBADMSG;
	}
	per = p->ram_pages / p->ram_writers;
	if (!per)
		return 0;
	if (vmm_dirty_init_ram(vm, &held)) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	vmm_ram_populated(vm, &held);
	for (unsigned int c = 0; c < p->ram_writers && !rc; c++) {
		if (!(p->roles[c] & GUEST_ROLE_RAM))
			continue;
		if (!st[c].ram_pass) {
			snprintf(msg, msglen, "vCPU %u's RAM writer never started", c);
			rc = -EBADMSG;
			break;
		}
		rc = check_slice(vm, &held, c,
				 p->ram_start + c * per * VMM_PAGE_SIZE, per,
				 st[c].ram_pass, msg, msglen);
	}
	vmm_dirty_destroy(&held);
	return rc;
}

void vmm_guest_stats(const struct vmm *vm, struct vmm_guest_stats *st)
{
	const struct guest_status *s =
		(const struct guest_status *)(vm->slot[0].hva + GUEST_STATUS);

	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		const volatile struct guest_status *v = &s[i];

		st->alive += v->alive;
		if (v->ram_pass > st->ram_pass)
			st->ram_pass = v->ram_pass;
		st->ram_pages += v->ram_pages;
		st->dma_good += v->dma_good;
		st->dma_bad += v->dma_bad;
		if (v->dma_bad_gpa)
			st->dma_bad_gpa = v->dma_bad_gpa;
		st->dma_started += v->dma_started;
	}
}

int vmm_dirty_log_start(struct vmm *vm, char *msg, size_t msglen)
{
	int rc;

	for (unsigned int i = 0; i < vm->nram; i++) {
		rc = kvm_set_slot(vm, &vm->slot[i], true);
		if (rc) {
			snprintf(msg, msglen, "KVM dirty logging: %s",
				 strerror(-rc));
			goto err_stop;
		}
	}
	/* The devices' tracker runs only if one was chosen (not blocked). */
	if (vm->pt && vmm_pt_tracker(vm->pt) != VMM_TRACKER_NONE) {
		rc = vmm_pt_dirty_start(vm->pt, msg, msglen);
		if (rc)
			goto err_stop;
	}
	vm->logging = true;
	return 0;

err_stop:
	for (unsigned int i = 0; i < vm->nram; i++)
		kvm_set_slot(vm, &vm->slot[i], false);
	return rc;
}

void vmm_dirty_log_stop(struct vmm *vm)
{
	if (vm->pt && vmm_pt_tracker(vm->pt) != VMM_TRACKER_NONE)
		vmm_pt_dirty_stop(vm->pt);
	for (unsigned int i = 0; i < vm->nram; i++)
		kvm_set_slot(vm, &vm->slot[i], false);
	vm->logging = false;
}

int vmm_dirty_sync(struct vmm *vm, struct vmm_dirty *dirty,
		   struct vmm_sync_stats *st, char *msg, size_t msglen)
{
	uint64_t t0 = now_ns(), t1;
	int rc;

	memset(st, 0, sizeof(*st));
	if (vm->cfg.dirty_ring) {
		uint64_t entries;

		/*
		 * A page can sit in the rings many times: once per reset it
		 * was dirtied after, and once per write KVM's instruction
		 * emulator made to it (mark_page_dirty pushes each). Gather
		 * the entries in ring_pending first, so that cpu_pages counts
		 * pages, as the bitmap's count does.
		 */
		rc = kvm_ring_harvest(vm, &vm->ring_pending, &entries);
		pthread_mutex_lock(&vm->ring_lock);
		for (unsigned int i = 0; i < vm->ring_pending.n; i++) {
			struct vmm_dirty_region *r = &vm->ring_pending.r[i];

			st->cpu_pages += vmm_dirty_or(dirty, r->gpa, r->bits,
						      r->npages);
		}
		vmm_dirty_clear(&vm->ring_pending);
		pthread_mutex_unlock(&vm->ring_lock);
	} else {
		rc = kvm_log_sync(vm, dirty, &st->cpu_pages);
	}
	if (rc) {
		snprintf(msg, msglen, "KVM dirty log: %s", strerror(-rc));
		return rc;
	}
	t1 = now_ns();
	st->kvm_ns = t1 - t0;
	if (vm->pt && vmm_pt_tracker(vm->pt) != VMM_TRACKER_NONE) {
		rc = vmm_pt_dirty_sync(vm->pt, dirty, &st->dma_pages, msg,
				       msglen);
		if (rc)
			return rc;
	}
	st->pt_ns = now_ns() - t1;
	st->union_pages = vmm_dirty_count(dirty);
	return 0;
}
