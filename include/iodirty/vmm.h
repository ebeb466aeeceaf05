/* SPDX-License-Identifier: MIT */
/*
 * vmm.h - the VMM: a KVM virtual machine (real /dev/kvm) with passthrough
 * devices reached only through the Linux kernel ABI (/dev/iommu,
 * /dev/vfio/...), what QEMU does for the same job (shared/spec/
 * vmm-behaviour.md §1, §4). Nothing here includes a host-side header: on a
 * machine with real hardware the same code drives the real kernel.
 *
 * Three parts:
 *   vmm_dirty  one global dirty bitmap over guest RAM (4 KiB pages), the
 *              union of what the CPU (KVM) and the devices (a tracker)
 *              wrote (src/vmm/dirty.c)
 *   vmm_pt     the passthrough devices: backend (iommufd cdev, or the
 *              legacy VFIO container), attach with auto domains, tracker
 *              choice and blockers, dirty start/stop/sync, unmap that
 *              harvests first (src/vmm/passthrough.c)
 *   vmm        the KVM VM: RAM, vCPUs running the guest payloads, KVM
 *              dirty logging (src/vmm/kvm.c, vcpu.c, payload.S)
 * Functions return 0 / -errno unless they say otherwise; where a reason
 * matters to a user they also fill a message buffer.
 */
#ifndef IODIRTY_VMM_H
#define IODIRTY_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define VMM_PAGE_SIZE	   4096ULL
#define VMM_PAGE_SHIFT	   12
#define VMM_MAX_RAM_REGIONS 4
#define VMM_MAX_DEVICES	   16
#define VMM_MSG_LEN	   256

/* ---- the global dirty bitmap ---- */

struct vmm_dirty_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t npages;
	uint64_t *bits;			/* bit i: page gpa + i * 4 KiB */
};

struct vmm_dirty {
	struct vmm_dirty_region r[VMM_MAX_RAM_REGIONS];
	unsigned int n;
};

/** vmm_dirty_init() - a clean bitmap over the given RAM regions; -ENOMEM. */
int vmm_dirty_init(struct vmm_dirty *d, const uint64_t *gpa,
		   const uint64_t *size, unsigned int n);
void vmm_dirty_destroy(struct vmm_dirty *d);
/** vmm_dirty_set() - mark every page [gpa, gpa + len) touches. */
void vmm_dirty_set(struct vmm_dirty *d, uint64_t gpa, uint64_t len);
/**
 * vmm_dirty_or() - OR in a bitmap of @npages pages from @gpa (4 KiB
 * aligned), one bit per page, as the kernel returns them (LE u64 words).
 * Return: how many of those bits were set.
 */
uint64_t vmm_dirty_or(struct vmm_dirty *d, uint64_t gpa,
		      const uint64_t *bits, uint64_t npages);
/** vmm_dirty_count() - dirty pages in the whole bitmap. */
uint64_t vmm_dirty_count(const struct vmm_dirty *d);
void vmm_dirty_clear(struct vmm_dirty *d);
/** vmm_dirty_test() - is the page holding @gpa dirty? */
bool vmm_dirty_test(const struct vmm_dirty *d, uint64_t gpa);

/* ---- passthrough devices ---- */

enum vmm_pt_backend {
	VMM_PT_IOMMUFD,		/* /dev/iommu + /dev/vfio/devices/vfioN */
	VMM_PT_LEGACY,		/* /dev/vfio/vfio + /dev/vfio/N, type1v2 */
};

enum vmm_tracker {
	VMM_TRACKER_AUTO,	/* choose as QEMU does */
	VMM_TRACKER_DEVICE,	/* VFIO DMA logging on every device */
	VMM_TRACKER_IOMMU,	/* IOMMU dirty bits on every HWPT */
	VMM_TRACKER_TYPE1,	/* the legacy container's dirty pages */
	VMM_TRACKER_NONE,	/* nothing tracks DMA (migrate only if forced) */
};

enum vmm_onoffauto {
	VMM_AUTO,
	VMM_ON,
	VMM_OFF,
};

struct vmm_pt_config {
	enum vmm_pt_backend backend;
	/* What the user asked for; AUTO chooses. */
	enum vmm_tracker tracker;
	/* QEMU's enable-migration: off blocks, on warns instead of blocking. */
	enum vmm_onoffauto enable_migration;
	/* QEMU's x-device-dirty-page-tracking (default true). */
	bool device_dirty_tracking;
	/* QEMU's x-pre-copy-dirty-page-tracking (default true). */
	bool precopy_dirty_tracking;
	/* Migrate even with no tracker (DMA writes will be lost). */
	bool force;
	const struct iod_log *log;
};

/* What the VMM learned about one device, and what it decided. */
struct vmm_pt_device {
	unsigned int index;		/* N of /dev/vfio/devices/vfioN */
	char name[32];
	int fd;				/* the device fd (regions, migration) */
	uint32_t devid;			/* iommufd device id (iommufd backend) */
	uint32_t hwpt_id;		/* HWPT attached to (0: IOAS, mdev) */
	bool hwpt_dirty;		/* that HWPT was allocated to track */
	bool iommu_dirty_capable;	/* GET_HW_INFO said so */
	bool mdev;			/* no IOMMU of its own */
	bool dma_logging;		/* DMA_LOGGING_START probes */
	uint64_t mig_flags;		/* VFIO_DEVICE_FEATURE_MIGRATION, 0 if none */
	char attach[VMM_MSG_LEN];	/* the attach decision, for a user */
};

struct vmm_pt;

/** vmm_pt_create() - the VM's passthrough state (opens /dev/iommu or
 * /dev/vfio/vfio). Return: 0, or -errno with @msg saying why. */
int vmm_pt_create(const struct vmm_pt_config *cfg, struct vmm_pt **out,
		  char *msg, size_t msglen);
void vmm_pt_destroy(struct vmm_pt *pt);

/**
 * vmm_pt_add_device() - open device @index, bind it (iommufd) or add its
 * group (legacy), read its capabilities, and attach it: iommufd with auto
 * domains exactly as vmm-behaviour.md §1.2 (try every HWPT of the IOAS,
 * EINVAL = incompatible, next; else allocate one, with DIRTY_TRACKING when
 * GET_HW_INFO reports the capability; an mdev attaches to the IOAS).
 * Return: 0, or -errno with @msg.
 */
int vmm_pt_add_device(struct vmm_pt *pt, unsigned int index, char *msg,
		      size_t msglen);

unsigned int vmm_pt_ndevices(const struct vmm_pt *pt);
const struct vmm_pt_device *vmm_pt_device(const struct vmm_pt *pt,
					  unsigned int i);

/** vmm_pt_map_ram() - map guest RAM for DMA, IOVA = GPA. */
int vmm_pt_map_ram(struct vmm_pt *pt, uint64_t gpa, uint64_t size, void *hva);

/**
 * vmm_pt_unmap_ram() - unmap guest RAM. While tracking, the range's DMA
 * dirty pages are first read into @dirty (iommufd: GET_DIRTY_BITMAP with
 * NO_CLEAR, then unmap even if that failed, returning its error; type1:
 * UNMAP_DMA with GET_DIRTY_BITMAP; device logging: unmap, then report),
 * so nothing written before the unmap is lost (§1.7).
 */
int vmm_pt_unmap_ram(struct vmm_pt *pt, uint64_t gpa, uint64_t size,
		     struct vmm_dirty *dirty);

/**
 * vmm_pt_choose_tracker() - the tracker for the VM, all or nothing as QEMU
 * (§1.5, §1.8): device logging if every device has it (and it is not
 * turned off), else IOMMU dirty tracking if every device's HWPT tracks,
 * else type1 on a legacy container, else none. A requested tracker that
 * cannot be had, or none at all, gives a blocker: -EPERM and @msg naming
 * the device and the reason (QEMU's wording, e.g. "0000:00:02.0: VFIO
 * device doesn't support device and IOMMU dirty tracking"), unless forced
 * or enable-migration=on (a warning then, and NONE).
 */
int vmm_pt_choose_tracker(struct vmm_pt *pt, enum vmm_tracker *chosen,
			  char *msg, size_t msglen);

/** vmm_pt_tracker() - what vmm_pt_choose_tracker() chose. */
enum vmm_tracker vmm_pt_tracker(const struct vmm_pt *pt);

/**
 * vmm_pt_dirty_start() - start the chosen tracker on every HWPT / device
 * (rolling back those started if one fails), over the RAM mapped so far.
 * vmm_pt_dirty_stop() stops it. Return: 0, or -errno with @msg.
 */
int vmm_pt_dirty_start(struct vmm_pt *pt, char *msg, size_t msglen);
int vmm_pt_dirty_stop(struct vmm_pt *pt);

/**
 * vmm_pt_dirty_sync() - read (and clear) what the devices wrote since the
 * last sync and OR it into @dirty; *@pages gets how many pages the
 * tracker reported. NONE reports nothing. Return: 0, or -errno with @msg
 * when a tracker fails (the migration must fail with that reason).
 */
int vmm_pt_dirty_sync(struct vmm_pt *pt, struct vmm_dirty *dirty,
		      uint64_t *pages, char *msg, size_t msglen);

const char *vmm_tracker_name(enum vmm_tracker t);
int vmm_tracker_parse(const char *name, enum vmm_tracker *t);

/* ---- the KVM virtual machine ---- */

struct vmm_config {
	uint64_t mem;			/* bytes of RAM, a multiple of 2 MiB */
	unsigned int vcpus;
	bool hugetlb;			/* back RAM with hugetlb pages */
	bool dirty_ring;		/* KVM dirty ring instead of the bitmap */
	uint32_t ring_entries;		/* per vCPU, a power of two */
	/* The guest workload. */
	uint64_t ram_ws;		/* bytes the RAM writer dirties; 0: all */
	uint64_t ram_rate;		/* pages per second; 0: unlimited */
	uint64_t dma_window;		/* bytes each device writes */
	uint64_t dma_rate;		/* bytes per second per device; 0: max */
	uint32_t dma_block;		/* bytes per DMA write */
	uint32_t dma_pattern;		/* DMA_PATTERN_* */
	/* Passthrough devices 0..ndevices-1. */
	unsigned int ndevices;
	struct vmm_pt_config pt;
	/* Set up everything but start nothing (a migration destination). */
	bool incoming;
	const struct iod_log *log;
};

/* What the guest reports about itself (sum over vCPUs). */
struct vmm_guest_stats {
	uint64_t alive;			/* loop iterations */
	uint64_t ram_pass;		/* highest pass being written */
	uint64_t ram_pages;		/* pages written */
	uint64_t dma_good;		/* well-formed DMA blocks seen */
	uint64_t dma_bad;		/* malformed or misplaced ones */
	uint64_t dma_bad_gpa;
	uint64_t dma_started;		/* devices the driver started */
};

/* One dirty sync: where the dirty pages came from, and what it cost. */
struct vmm_sync_stats {
	uint64_t cpu_pages;		/* KVM reported */
	uint64_t dma_pages;		/* the tracker reported */
	uint64_t union_pages;		/* dirty in the global bitmap after */
	uint64_t kvm_ns;
	uint64_t pt_ns;
};

struct vmm;

/**
 * vmm_available() - can this machine run a VM? 0, or -errno with @msg
 * saying plainly why not (no /dev/kvm, no permission, wrong API version).
 */
int vmm_available(char *msg, size_t msglen);

/**
 * vmm_create() - a VM: RAM, vCPUs (not running), the payload and its
 * parameters in RAM, the passthrough devices opened, attached and given
 * guest RAM (IOVA = GPA), their BARs mapped into the guest.
 * Return: 0, or -errno with @msg.
 */
int vmm_create(const struct vmm_config *cfg, struct vmm **out, char *msg,
	       size_t msglen);
void vmm_destroy(struct vmm *vm);

/** vmm_start() - run the vCPUs (the guest starts its devices itself). */
int vmm_start(struct vmm *vm);
/** vmm_pause() - stop every vCPU; returns when none is in the guest. */
void vmm_pause(struct vmm *vm);
void vmm_resume(struct vmm *vm);
/** vmm_failed() - a vCPU stopped on an error: the message, or NULL. */
const char *vmm_failed(struct vmm *vm);

struct vmm_pt *vmm_passthrough(struct vmm *vm);
const struct vmm_config *vmm_config(const struct vmm *vm);

/** vmm_ram() - the RAM regions: how many, and each one's GPA/size/HVA. */
unsigned int vmm_ram(const struct vmm *vm, uint64_t *gpa, uint64_t *size,
		     uint8_t **hva);

void vmm_guest_stats(const struct vmm *vm, struct vmm_guest_stats *st);

/**
 * vmm_dirty_log_start() - KVM dirty logging on every RAM slot and the
 * passthrough tracker started (vmm_pt_dirty_start). Stop undoes both.
 */
int vmm_dirty_log_start(struct vmm *vm, char *msg, size_t msglen);
void vmm_dirty_log_stop(struct vmm *vm);

/**
 * vmm_dirty_sync() - one sync: the KVM log (bitmap, cleared with
 * KVM_CLEAR_DIRTY_LOG; or the dirty rings) and the passthrough tracker,
 * OR-ed into @dirty, with counts and times in @st.
 * Return: 0, or -errno with @msg (a tracker failing).
 */
int vmm_dirty_sync(struct vmm *vm, struct vmm_dirty *dirty,
		   struct vmm_sync_stats *st, char *msg, size_t msglen);

/*
 * vCPU state for migration: registers, segments and control registers,
 * FPU, and the TSC, as one versioned blob (src/vmm/cpu_state.c).
 */
#define VMM_CPU_STATE_MAX 4096

/** vmm_cpu_save() - the state of paused vCPU @i into @buf; its length. */
int vmm_cpu_save(struct vmm *vm, unsigned int i, uint8_t *buf, size_t len);
/**
 * vmm_cpu_load() - set vCPU @i (not running) from a saved blob.
 * Return: 0; -EINVAL for a blob of another version or size, or one KVM
 * refuses.
 */
int vmm_cpu_load(struct vmm *vm, unsigned int i, const uint8_t *buf,
		 size_t len);

/*
 * The VMM side of VFIO migration v2 (src/vmm/vfio_migration.c), for device
 * @i of the passthrough set: what QEMU's hw/vfio/migration.c does.
 */
/** vmm_pt_mig_state() - the device's VFIO migration state. */
int vmm_pt_mig_state(struct vmm_pt *pt, unsigned int i, uint32_t *state);
/**
 * vmm_pt_mig_set_state() - VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE SET to
 * @state; *@data_fd gets a new data fd when the arc opens one (else -1).
 * Return: 0, or -errno with @msg.
 */
int vmm_pt_mig_set_state(struct vmm_pt *pt, unsigned int i, uint32_t state,
			 int *data_fd, char *msg, size_t msglen);
/** vmm_pt_mig_precopy_info() - VFIO_MIG_GET_PRECOPY_INFO on @data_fd. */
int vmm_pt_mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);
/** vmm_pt_mig_data_size() - MIG_DATA_SIZE: the stop-copy length. */
int vmm_pt_mig_data_size(struct vmm_pt *pt, unsigned int i, uint64_t *bytes);
/** vmm_pt_reg_read() / write() - a BAR0 register of device @i (pread). */
int vmm_pt_reg_read(struct vmm_pt *pt, unsigned int i, uint32_t off,
		    void *val, unsigned int size);
int vmm_pt_reg_write(struct vmm_pt *pt, unsigned int i, uint32_t off,
		     const void *val, unsigned int size);

/** vmm_dirty_init_ram() - a clean global bitmap over this VM's RAM. */
int vmm_dirty_init_ram(const struct vmm *vm, struct vmm_dirty *d);
/**
 * vmm_ram_populated() - mark in @d (from vmm_dirty_init_ram()) every page
 * of RAM that holds data: the memfd's data extents (SEEK_DATA/SEEK_HOLE),
 * so swapped-out pages count. A page outside them has never been written
 * and reads as zero without being touched.
 * Return: 0, or -errno when the extents cannot be read (then every page is
 * marked).
 */
int vmm_ram_populated(const struct vmm *vm, struct vmm_dirty *d);

/**
 * vmm_ram_writer_check() - check, on a paused VM, the RAM writer's
 * invariant (guest.h): each writer's slice holds its pass number p up to
 * some page and p - 1 from there on. A lost or misplaced page write breaks
 * it, wherever it was lost.
 * Return: 0, -EBADMSG with @msg naming the page, or -ENOMEM.
 */
int vmm_ram_writer_check(struct vmm *vm, char *msg, size_t msglen);

#endif
