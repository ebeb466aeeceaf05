// SPDX-License-Identifier: MIT
/*
 * passthrough_test.c - the VMM's VFIO client (vmm.h vmm_pt_*) against the
 * emulated host, through the kernel ABI only: auto-domain decisions for
 * each device mix on each IOMMU, the tracker choice and QEMU's blocker
 * messages (vmm-behaviour.md §1.2, §1.5, §1.8), the unioned dirty bitmap
 * against an oracle of what the devices wrote, unmap during tracking
 * (§1.7), and trackers that fail part-way.
 *
 * Each test sets IODIRTY_IOMMU / IODIRTY_DEVICES in its own child before
 * the first open, which builds that host. Built into iodirty-test
 * (emulation linked in) and iodirty-abitest (run under `iodirty exec`).
 */
#include "passthrough_util.h"

#include <iodirty/alloc.h>

/* ---- names ---- */

TEST(vmm_pt, tracker_names)
{
	static const char *const names[] = { "auto", "device", "iommu", "type1",
					     "none" };
	enum vmm_tracker t;

	for (unsigned int i = 0; i < 5; i++) {
		EXPECT_EQ(
			strcmp(vmm_tracker_name((enum vmm_tracker)i), names[i]),
			0);
		ASSERT_RC(0, vmm_tracker_parse(names[i], &t));
		EXPECT_EQ(t, (enum vmm_tracker)i);
	}
	EXPECT_RC(-EINVAL, vmm_tracker_parse("vf", &t));
	EXPECT_EQ(strcmp(vmm_tracker_name((enum vmm_tracker)42), "?"), 0);
}

/* ---- auto domains: the decision for every device mix ---- */

/*
 * @expect, one token per device: N / n a new HWPT with / without dirty
 * tracking (a trailing ! when HWPTs were found incompatible first), S<k>
 * the HWPT of device k, s<k> the same while this device's IOMMU could
 * track but that HWPT does not, M the IOAS (mdev), C / c the legacy
 * container (IOMMU-backed / mdev). @tracker: what AUTO chooses, or
 * "block:<k>" for QEMU's "doesn't support device and IOMMU dirty
 * tracking" naming device k. @warn: devices warned about as QEMU does
 * ("IOMMU instance for device %s doesn't support dirty tracking").
 */
struct decision_variant {
	const char *name;
	const char *iommu;
	const char *devices;
	enum vmm_pt_backend backend;
	const char *expect;
	const char *tracker;
	unsigned int warn;
};

#define FD VMM_PT_IOMMUFD
/* clang-format off */
#define DV(io, devs, expect, tracker, warn) \
	{ io ":" devs, io, devs, FD, expect, tracker, warn }
#define DECISIONS(io, mix_nd_d)						\
	DV(io, "dma,dma", "N S0", "iommu", 0),				\
	DV(io, "dma,dma-nodirty", "N n!", "block:1", 1u << 1),		\
	DV(io, "dma-nodirty,dma", mix_nd_d, "block:0", 0),		\
	DV(io, "dma,mdev", "N M", "block:1", 0),			\
	DV(io, "mdev", "M", "block:0", 0),				\
	DV(io, "dma-log", "N", "device", 0),				\
	DV(io, "dma-log,dma", "N S0", "iommu", 0),			\
	DV(io, "dma-log,dma-log", "N S0", "device", 0),			\
	DV(io, "dma-nodirty,dma-nodirty", "n S0", "block:0", 0),	\
	DV(io, "dma,dma-nodirty,dma,mdev,dma-log", "N n! S0 M S0",	\
	   "block:1", 1u << 1)
/* clang-format on */

static const struct decision_variant decisions[] = {
	/* AMD and Intel domains span IOMMU units: the dirty-capable device
	 * joins the first, untracked, HWPT (QEMU tries existing ones first). */
	DECISIONS("amd", "n s0"),
	DECISIONS("intel", "n s0"),
	/* An SMMUv3 domain belongs to one SMMU: EINVAL, a new HWPT. */
	DECISIONS("arm", "n N!"),
	{ "legacy:dma,dma", "amd", "dma,dma", VMM_PT_LEGACY, "C C", "type1",
	  0 },
	{ "legacy:mdev,mdev", "amd", "mdev,mdev", VMM_PT_LEGACY, "c c", "type1",
	  0 },
	{ "legacy:dma-log,dma-log", "intel", "dma-log,dma-log", VMM_PT_LEGACY,
	  "C C", "device", 0 },
	{ "legacy:dma,mdev", "arm", "dma,mdev", VMM_PT_LEGACY, "C c", "type1",
	  0 },
};

static void expect_decision(const struct vmm_pt *pt, unsigned int i,
			    const char *tok)
{
	const struct vmm_pt_device *d = vmm_pt_device(pt, i);
	char want[VMM_MSG_LEN];
	bool bang = tok[1] == '!';

	switch (tok[0]) {
	case 'N':
	case 'n': {
		bool dirty = tok[0] == 'N';

		EXPECT_NE(d->hwpt_id, 0);
		EXPECT_EQ(d->hwpt_dirty, dirty);
		EXPECT_EQ(d->iommu_dirty_capable, dirty);
		snprintf(
			want, sizeof(want), "hwpt %u (new, %s", d->hwpt_id,
			dirty ? "dirty tracking: IOMMU reports the capability" :
				"no dirty tracking: IOMMU lacks the capability");
		EXPECT_EQ(strncmp(d->attach, want, strlen(want)), 0);
		EXPECT_EQ(!!strstr(d->attach, "incompatible: hwpt"), bang);
		/* A new HWPT is nobody else's. */
		for (unsigned int j = 0; j < i; j++)
			EXPECT_NE(vmm_pt_device(pt, j)->hwpt_id, d->hwpt_id);
		break;
	}
	case 'S':
	case 's': {
		const struct vmm_pt_device *o = vmm_pt_device(pt, tok[1] - '0');

		EXPECT_EQ(d->hwpt_id, o->hwpt_id);
		EXPECT_EQ(d->hwpt_dirty, o->hwpt_dirty);
		snprintf(want, sizeof(want), "hwpt %u (shared with %s%s",
			 o->hwpt_id, o->name,
			 tok[0] == 's' ? "; no dirty tracking although" : ")");
		EXPECT_EQ(strncmp(d->attach, want, strlen(want)), 0);
		EXPECT_EQ(d->iommu_dirty_capable,
			  tok[0] == 's' || o->hwpt_dirty);
		break;
	}
	case 'M':
		EXPECT_TRUE(d->mdev);
		EXPECT_EQ(d->hwpt_id, 0);
		EXPECT_FALSE(d->hwpt_dirty);
		EXPECT_FALSE(d->iommu_dirty_capable);
		EXPECT_EQ(strncmp(d->attach, "IOAS ", 5), 0);
		EXPECT_TRUE(strstr(d->attach, "(mdev: no IOMMU of its own)"));
		break;
	case 'C':
	case 'c':
		EXPECT_EQ(d->mdev, tok[0] == 'c');
		EXPECT_EQ(d->hwpt_id, 0);
		EXPECT_FALSE(d->hwpt_dirty);
		EXPECT_EQ(strncmp(d->attach, "type1 container (", 17), 0);
		break;
	default:
		ASSERT_TRUE(0);
	}
	if (tok[0] != 'M' && tok[0] != 'c')
		EXPECT_FALSE(d->mdev);
}

TEST_VARIANTS(vmm_pt, decisions, struct decision_variant, decisions)
{
	struct vmm_pt_config cfg = ptt_cfg(v->backend);
	unsigned int n = ptt_ndevices(v->devices), i = 0;
	char expect[64], *tok, *save = NULL, msg[VMM_MSG_LEN] = "";
	enum vmm_tracker t = VMM_TRACKER_AUTO;
	struct vmm_pt *pt;
	int rc;

	ptt_host(v->iommu, v->devices);
	pt = ptt_up(&cfg, v->devices);
	ASSERT_EQ(vmm_pt_ndevices(pt), n);
	snprintf(expect, sizeof(expect), "%s", v->expect);
	for (tok = strtok_r(expect, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), i++) {
		const struct vmm_pt_device *d = vmm_pt_device(pt, i);
		char name[16], warn[96], kind[16];

		ASSERT_TRUE(d);
		snprintf(name, sizeof(name), "0000:00:%02x.0", i + 1);
		EXPECT_EQ(strcmp(d->name, name), 0);
		EXPECT_EQ(d->index, i);
		EXPECT_GE(d->fd, 0);
		EXPECT_NE(d->mig_flags & VFIO_MIGRATION_STOP_COPY, 0);
		EXPECT_EQ(d->dma_logging,
			  !strcmp(ptt_kind(v->devices, i, kind, sizeof(kind)),
				  "dma-log"));
		expect_decision(pt, i, tok);
		snprintf(
			warn, sizeof(warn),
			"IOMMU instance for device %s doesn't support dirty tracking",
			d->name);
		EXPECT_EQ(ptt_logged('W', warn), !!(v->warn & (1u << i)));
		printf("  decision %-6s %-8s %-34s %s: %s\n", v->iommu,
		       v->backend == VMM_PT_IOMMUFD ? "iommufd" : "legacy",
		       v->devices, d->name, d->attach);
	}
	EXPECT_EQ(i, n);
	EXPECT_EQ(vmm_pt_device(pt, n), NULL);

	rc = vmm_pt_choose_tracker(pt, &t, msg, sizeof(msg));
	if (!strncmp(v->tracker, "block:", 6)) {
		char want[VMM_MSG_LEN];

		snprintf(
			want, sizeof(want),
			"0000:00:%02x.0: VFIO device doesn't support device and IOMMU dirty tracking",
			v->tracker[6] - '0' + 1);
		EXPECT_RC(-EPERM, rc);
		EXPECT_EQ(strcmp(msg, want), 0);
		if (strcmp(msg, want))
			fprintf(stderr, "  msg '%s'\n  want '%s'\n", msg, want);
		EXPECT_EQ(vmm_pt_tracker(pt), VMM_TRACKER_NONE);
	} else {
		EXPECT_RC(0, rc);
		EXPECT_EQ(strcmp(vmm_tracker_name(t), v->tracker), 0);
		EXPECT_EQ(vmm_pt_tracker(pt), t);
	}
	printf("  decision %-6s %-8s %-34s tracker: %s%s%s\n", v->iommu,
	       v->backend == VMM_PT_IOMMUFD ? "iommufd" : "legacy", v->devices,
	       rc ? "blocked: " : vmm_tracker_name(t), rc ? msg : "",
	       !rc && msg[0] ? " (warning)" : "");
	vmm_pt_destroy(pt);
}

/* ---- the tracker choice and its blockers ---- */

struct blocker_variant {
	const char *name;
	const char *iommu;
	const char *devices;
	enum vmm_pt_backend backend;
	enum vmm_tracker tracker; /* asked for */
	enum vmm_onoffauto enable_migration;
	bool ddt_off; /* x-device-dirty-page-tracking=off */
	bool force;
	int rc;
	enum vmm_tracker chosen;
	const char *msg; /* a prefix of the message; "": none */
	char level; /* a line logged at this level (a blocker: I)... */
	const char *logged; /* ...containing this */
};

#define LG    VMM_PT_LEGACY
#define T(x)  VMM_TRACKER_##x
#define NOSUP "VFIO device doesn't support device and IOMMU dirty tracking"
#define LOST  "what devices write by DMA will be lost)"

static const struct blocker_variant blockers[] = {
	{ "auto", "amd", "dma,dma", FD, T(AUTO), VMM_AUTO, false, false, 0,
	  T(IOMMU), "", 'I', "DMA dirty tracker: iommu" },
	{ "auto-nodirty", "intel", "dma,dma-nodirty", FD, T(AUTO), VMM_AUTO,
	  false, false, -EPERM, T(NONE), "0000:00:02.0: " NOSUP, 'I',
	  "migration blocked: 0000:00:02.0: " NOSUP },
	{ "migration-off", "amd", "dma,dma", FD, T(AUTO), VMM_OFF, false, false,
	  -EPERM, T(NONE),
	  "0000:00:01.0: Migration is disabled for VFIO device", 'I',
	  "Migration is disabled" },
	{ "migration-off-forced", "amd", "dma,dma", FD, T(AUTO), VMM_OFF, false,
	  true, 0, T(NONE),
	  "0000:00:01.0: Migration is disabled for VFIO device (forced: ", 'W',
	  LOST },
	{ "migration-off-legacy", "arm", "mdev", LG, T(AUTO), VMM_OFF, false,
	  false, -EPERM, T(NONE),
	  "0000:00:01.0: Migration is disabled for VFIO device", 0, NULL },
	{ "migration-on-nodirty", "amd", "dma,dma-nodirty", FD, T(AUTO), VMM_ON,
	  false, false, 0, T(NONE),
	  "0000:00:02.0: " NOSUP " (enable-migration=on: ", 'W', LOST },
	{ "forced-mdev", "arm", "dma,mdev", FD, T(AUTO), VMM_AUTO, false, true,
	  0, T(NONE), "0000:00:02.0: " NOSUP " (forced: ", 'W', LOST },
	{ "device-unsupported", "amd", "dma,dma", FD, T(DEVICE), VMM_AUTO,
	  false, false, -EPERM, T(NONE),
	  "0000:00:01.0: VFIO device doesn't support device dirty tracking", 0,
	  NULL },
	{ "device-one-lacks", "intel", "dma-log,dma", FD, T(DEVICE), VMM_AUTO,
	  false, false, -EPERM, T(NONE),
	  "0000:00:02.0: VFIO device doesn't support device dirty tracking", 0,
	  NULL },
	{ "device", "arm", "dma-log,dma-log", FD, T(DEVICE), VMM_AUTO, false,
	  false, 0, T(DEVICE), "", 0, NULL },
	{ "device-turned-off", "amd", "dma-log", FD, T(DEVICE), VMM_AUTO, true,
	  false, -EPERM, T(NONE),
	  "0000:00:01.0: device dirty tracking was requested but x-device-dirty-page-tracking is off",
	  0, NULL },
	{ "auto-device-off", "amd", "dma-log", FD, T(AUTO), VMM_AUTO, true,
	  false, 0, T(IOMMU), "", 0, NULL },
	{ "auto-device-off-nodirty", "intel", "dma-log,dma-nodirty", FD,
	  T(AUTO), VMM_AUTO, true, false, -EPERM, T(NONE),
	  "0000:00:02.0: " NOSUP, 0, NULL },
	{ "iommu-over-device", "arm", "dma-log,dma-log", FD, T(IOMMU), VMM_AUTO,
	  false, false, 0, T(IOMMU), "", 0, NULL },
	{ "iommu-mdev", "amd", "dma,mdev", FD, T(IOMMU), VMM_AUTO, false, false,
	  -EPERM, T(NONE),
	  "0000:00:02.0: VFIO device doesn't support IOMMU dirty tracking: attached to IOAS 1 (mdev: no IOMMU of its own)",
	  0, NULL },
	{ "iommu-legacy", "amd", "dma", LG, T(IOMMU), VMM_AUTO, false, false,
	  -EPERM, T(NONE),
	  "0000:00:01.0: VFIO device doesn't support IOMMU dirty tracking: the legacy VFIO container has none",
	  0, NULL },
	{ "iommu-legacy-on", "amd", "dma", LG, T(IOMMU), VMM_ON, false, false,
	  0, T(NONE),
	  "0000:00:01.0: VFIO device doesn't support IOMMU dirty tracking", 'W',
	  LOST },
	{ "type1-iommufd", "intel", "dma", FD, T(TYPE1), VMM_AUTO, false, false,
	  -EPERM, T(NONE),
	  "0000:00:01.0: type1 dirty tracking needs the legacy VFIO container",
	  0, NULL },
	{ "type1-dma", "intel", "dma", LG, T(TYPE1), VMM_AUTO, false, false, 0,
	  T(TYPE1),
	  "0000:00:01.0: type1 dirty tracking reports every mapped page dirty while an IOMMU-backed device is in the container",
	  'W', "precopy will not converge" },
	{ "type1-over-device", "amd", "dma-log,dma-log", LG, T(TYPE1), VMM_AUTO,
	  false, false, 0, T(TYPE1), "0000:00:01.0: type1", 'W',
	  "every mapped page dirty" },
	{ "type1-mdev", "arm", "mdev,mdev", LG, T(TYPE1), VMM_AUTO, false,
	  false, 0, T(TYPE1), "", 0, NULL },
	{ "auto-legacy-nodirty", "amd", "dma-nodirty", LG, T(AUTO), VMM_AUTO,
	  false, false, 0, T(TYPE1), "0000:00:01.0: type1", 'W',
	  "every mapped page dirty" },
	{ "device-legacy-mdev", "intel", "dma-log,mdev", LG, T(DEVICE),
	  VMM_AUTO, false, false, -EPERM, T(NONE),
	  "0000:00:02.0: VFIO device doesn't support device dirty tracking", 0,
	  NULL },
	{ "none", "amd", "dma", FD, T(NONE), VMM_AUTO, false, false, -EPERM,
	  T(NONE), "0000:00:01.0: no DMA dirty tracker (tracker=none)", 'I',
	  "tracker=none" },
	{ "none-forced", "amd", "dma", FD, T(NONE), VMM_AUTO, false, true, 0,
	  T(NONE), "0000:00:01.0: no DMA dirty tracker (tracker=none)", 'W',
	  "(forced: " },
	{ "none-on", "arm", "dma-log", LG, T(NONE), VMM_ON, false, false, 0,
	  T(NONE), "0000:00:01.0: no DMA dirty tracker", 'W',
	  "(enable-migration=on: " },
};

TEST_VARIANTS(vmm_pt, blockers, struct blocker_variant, blockers)
{
	struct vmm_pt_config cfg = ptt_cfg(v->backend);
	enum vmm_tracker t = VMM_TRACKER_AUTO;
	char msg[VMM_MSG_LEN] = "junk";
	struct vmm_pt *pt;
	int rc;

	ptt_host(v->iommu, v->devices);
	cfg.tracker = v->tracker;
	cfg.enable_migration = v->enable_migration;
	cfg.device_dirty_tracking = !v->ddt_off;
	cfg.force = v->force;
	pt = ptt_up(&cfg, v->devices);
	rc = vmm_pt_choose_tracker(pt, &t, msg, sizeof(msg));
	printf("  tracker %-24s rc %d %s: %s\n", v->name, rc,
	       vmm_tracker_name(rc ? VMM_TRACKER_NONE : t), msg);
	EXPECT_RC(v->rc, rc);
	if (!rc)
		EXPECT_EQ(t, v->chosen);
	EXPECT_EQ(vmm_pt_tracker(pt), v->chosen);
	if (v->msg[0])
		EXPECT_EQ(strncmp(msg, v->msg, strlen(v->msg)), 0);
	else
		EXPECT_EQ(msg[0], 0);
	if (v->logged)
		EXPECT_TRUE(ptt_logged(v->level, v->logged));
	/* A blocked VM cannot start tracking either. */
	if (rc) {
		char smsg[VMM_MSG_LEN] = "";

		EXPECT_RC(-EPERM, vmm_pt_dirty_start(pt, smsg, sizeof(smsg)));
		EXPECT_EQ(strcmp(smsg, msg), 0);
	}
	vmm_pt_destroy(pt);
}

TEST(vmm_pt, no_devices)
{
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_IOMMUFD);
	char msg[VMM_MSG_LEN] = "";
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	uint64_t pages = 1;
	struct vmm_pt *pt;

	ptt_host("amd", "dma");
	ASSERT_RC(0, vmm_pt_create(&cfg, &pt, msg, sizeof(msg)));
	ptt_ram_alloc(&ram, PTT_GPA_HI, 4 * PTT_MB, false);
	dirty = ptt_dirty(&ram);
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	EXPECT_EQ(ptt_choose(pt, 0), VMM_TRACKER_NONE);
	EXPECT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	EXPECT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	EXPECT_EQ(pages, 0);
	EXPECT_RC(0, vmm_pt_unmap_ram(pt, ram.gpa, ram.size, &dirty));
	EXPECT_EQ(vmm_dirty_count(&dirty), 0);
	EXPECT_RC(0, vmm_pt_dirty_stop(pt));
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	ptt_ram_free(&ram);
}

/*
 * §1.8: what one type1 bitmap describes (max_dirty_bitmap_size * 8 pages of
 * 4 KiB, 8 TiB) bounds the RAM type1 can track. The RAM is reserved, never
 * touched: an mdev container pins nothing until its device DMAs.
 */
#define LARGE                                                                   \
	"0000:00:01.0: Migration is currently not supported with large memory " \
	"VM due to dirty tracking limitation in backend"

TEST(vmm_pt, type1_large_memory)
{
	const uint64_t tib8 = 8ULL << 40;
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_LEGACY);
	char msg[VMM_MSG_LEN] = "";
	struct vmm_pt *pt;
	uint8_t *ram;

	ptt_host("amd", "mdev");
	ram = mmap(NULL, tib8 + 2 * PTT_MB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		SKIP("cannot reserve 8 TiB of address space: %s",
		     strerror(errno));
	pt = ptt_up(&cfg, "mdev");
	ASSERT_RC(0, vmm_pt_map_ram(pt, PTT_GPA_HI, tib8, ram));
	EXPECT_EQ(ptt_choose(pt, 0), VMM_TRACKER_TYPE1);
	ASSERT_RC(0, vmm_pt_map_ram(pt, PTT_GPA_HI + tib8, 2 * PTT_MB,
				    ram + tib8));
	/* Chosen before the RAM grew: the start checks again. */
	EXPECT_RC(-EPERM, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	EXPECT_EQ(strcmp(msg, LARGE), 0);
	EXPECT_RC(-EPERM, vmm_pt_choose_tracker(pt, NULL, msg, sizeof(msg)));
	EXPECT_EQ(strcmp(msg, LARGE), 0);
	/* QEMU fails even with enable-migration=on; forcing goes on. */
	vmm_pt_destroy(pt);
	cfg.enable_migration = VMM_ON;
	pt = ptt_up(&cfg, "mdev");
	ASSERT_RC(0, vmm_pt_map_ram(pt, PTT_GPA_HI, tib8 + 2 * PTT_MB, ram));
	EXPECT_EQ(ptt_choose(pt, -EPERM), VMM_TRACKER_NONE);
	vmm_pt_destroy(pt);
	cfg.force = true;
	pt = ptt_up(&cfg, "mdev");
	ASSERT_RC(0, vmm_pt_map_ram(pt, PTT_GPA_HI, tib8 + 2 * PTT_MB, ram));
	EXPECT_EQ(ptt_choose(pt, 0), VMM_TRACKER_NONE);
	EXPECT_TRUE(ptt_logged('W', "large memory VM"));
	vmm_pt_destroy(pt);
	munmap(ram, tib8 + 2 * PTT_MB);
}

/* ---- what the devices wrote, and what the bitmap says ---- */

enum oracle_kind {
	ORACLE_EXACT, /* the pages written, no more */
	ORACLE_PINNED, /* type1 + mdev: every page ever pinned */
	ORACLE_ALL, /* type1 + IOMMU-backed: every mapped page */
};

struct dma_variant {
	const char *name;
	const char *iommu;
	const char *devices;
	enum vmm_pt_backend backend;
	enum vmm_tracker tracker;
	uint64_t gpa;
	bool huge_ok;
	uint64_t granule; /* reported beyond the writes: IOMMU leaf */
	enum oracle_kind oracle;
};

static const struct dma_variant dma_variants[] = {
	{ "iommu-amd", "amd", "dma,dma", FD, T(IOMMU), PTT_GPA_HI, false, 0,
	  ORACLE_EXACT },
	{ "iommu-intel", "intel", "dma,dma", FD, T(IOMMU), PTT_GPA_HI, false, 0,
	  ORACLE_EXACT },
	{ "iommu-arm", "arm", "dma,dma", FD, T(IOMMU), PTT_GPA_HI, false, 0,
	  ORACLE_EXACT },
	{ "iommu-amd-huge", "amd", "dma,dma", FD, T(IOMMU), PTT_GPA_HI, true,
	  2 * PTT_MB, ORACLE_EXACT },
	{ "iommu-intel-huge-low", "intel", "dma-log,dma", FD, T(IOMMU), 0, true,
	  2 * PTT_MB, ORACLE_EXACT },
	{ "iommu-arm-huge", "arm", "dma,dma", FD, T(IOMMU), PTT_GPA_HI, true,
	  2 * PTT_MB, ORACLE_EXACT },
	{ "device-amd", "amd", "dma-log,dma-log", FD, T(DEVICE), PTT_GPA_HI,
	  true, 0, ORACLE_EXACT },
	{ "device-arm-low", "arm", "dma-log,dma-log", FD, T(DEVICE), 0, true, 0,
	  ORACLE_EXACT },
	{ "device-legacy", "intel", "dma-log,dma-log", LG, T(DEVICE),
	  PTT_GPA_HI, true, 0, ORACLE_EXACT },
	{ "type1-mdev", "amd", "mdev,mdev", LG, T(TYPE1), PTT_GPA_HI, true, 0,
	  ORACLE_PINNED },
	{ "type1-dma", "intel", "dma,dma", LG, T(TYPE1), PTT_GPA_HI, true, 0,
	  ORACLE_ALL },
};

/* A VM with @v's devices, RAM mapped (in @nmaps equal pieces), tracking. */
static struct vmm_pt *dma_vm(const struct dma_variant *v, struct ptt_ram *ram,
			     unsigned int nmaps)
{
	struct vmm_pt_config cfg = ptt_cfg(v->backend);
	char msg[VMM_MSG_LEN] = "";
	struct vmm_pt *pt;
	uint64_t piece = PTT_RAM / nmaps;

	ptt_host(v->iommu, v->devices);
	ptt_ram_alloc(ram, v->gpa, PTT_RAM, v->huge_ok);
	pt = ptt_up(&cfg, v->devices);
	for (unsigned int i = 0; i < nmaps; i++)
		ASSERT_RC(0, vmm_pt_map_ram(pt, ram->gpa + i * piece, piece,
					    ram->hva + i * piece));
	EXPECT_EQ(ptt_choose(pt, 0), v->tracker);
	if (vmm_pt_dirty_start(pt, msg, sizeof(msg)))
		fprintf(stderr, "  vmm_pt_dirty_start: %s\n", msg);
	ASSERT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	return pt;
}

static int dev_fd(const struct vmm_pt *pt, unsigned int i)
{
	return vmm_pt_device(pt, i)->fd;
}

/* What the oracle says the tracker must report, given the writes. */
static void oracle_expected(const struct dma_variant *v,
			    const struct ptt_ram *ram, uint64_t *want,
			    const uint64_t *written)
{
	if (v->oracle == ORACLE_ALL) {
		for (uint64_t i = 0; i < ram->npages; i++)
			ptt_bit_set(want, i);
	} else {
		for (uint64_t w = 0; w < (ram->npages + 63) / 64; w++)
			want[w] |= written[w];
	}
}

/*
 * Two devices DMA (one 4 KiB blocks at random over the low half, the
 * other 8 KiB blocks in turn over an overlapping upper part) while the
 * "CPU" dirties pages (vmm_dirty_set); one sync unions both. A second
 * round shows the first one's bits were cleared (pinned pages excepted).
 */
TEST_VARIANTS(vmm_pt, dma_union, struct dma_variant, dma_variants)
{
	uint64_t *written, *want, *cpu, pages = 0, ncpu = 0;
	char msg[VMM_MSG_LEN] = "";
	struct vmm_dirty dirty;
	struct ptt_dma d0, d1;
	struct ptt_ram ram;
	struct vmm_pt *pt;

	pt = dma_vm(v, &ram, 1);
	dirty = ptt_dirty(&ram);
	written = ptt_bits_alloc(&ram);
	want = ptt_bits_alloc(&ram);
	cpu = ptt_bits_alloc(&ram);

	/* The CPU's share, through KVM elsewhere: every 7th page of 16 MiB. */
	for (uint64_t i = 3; i < 16 * PTT_MB / PTT_PAGE; i += 7) {
		vmm_dirty_set(&dirty, ram.gpa + i * PTT_PAGE, 1);
		ptt_bit_set(cpu, i);
		ncpu++;
	}
	EXPECT_EQ(vmm_dirty_count(&dirty), ncpu);

	d0 = ptt_dma_run(dev_fd(pt, 0), ram.gpa, 32 * PTT_MB, 4096,
			 DMA_PATTERN_RANDOM, test_seed() | 1, 1500);
	d1 = ptt_dma_run(dev_fd(pt, 1), ram.gpa + 24 * PTT_MB, 40 * PTT_MB,
			 8192, DMA_PATTERN_SEQUENTIAL, 1, 1000);
	EXPECT_GT(ptt_oracle(&ram, &d0, written), 0);
	EXPECT_GT(ptt_oracle(&ram, &d1, written), 0);
	oracle_expected(v, &ram, want, written);

	ASSERT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	ptt_expect_bitmap(&dirty, &ram, want, cpu, v->granule);
	if (!v->granule) {
		uint64_t both = 0;

		EXPECT_EQ(pages, ptt_bits_count(&ram, want));
		for (uint64_t i = 0; i < ram.npages; i++)
			both += ptt_bit(want, i) || ptt_bit(cpu, i);
		EXPECT_EQ(vmm_dirty_count(&dirty), both);
	} else {
		EXPECT_GE(pages, ptt_bits_count(&ram, want));
	}
	printf("  %s: round 1: %llu blocks by DMA, %llu pages from the tracker, %llu CPU pages, %llu in the union\n",
	       v->name, (unsigned long long)(d0.writes + d1.writes),
	       (unsigned long long)pages, (unsigned long long)ncpu,
	       (unsigned long long)vmm_dirty_count(&dirty));

	/* Round 2: the tracker forgot round 1 (read and clear). */
	vmm_dirty_clear(&dirty);
	if (v->oracle == ORACLE_EXACT)
		memset(want, 0, (ram.npages + 63) / 64 * 8);
	memset(written, 0, (ram.npages + 63) / 64 * 8);
	d0 = ptt_dma_run(dev_fd(pt, 0), ram.gpa + 16 * PTT_MB, 16 * PTT_MB,
			 4096, DMA_PATTERN_RANDOM, test_seed() + 2, 300);
	EXPECT_GT(ptt_oracle(&ram, &d0, written), 0);
	oracle_expected(v, &ram, want, written);
	ASSERT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	ptt_expect_bitmap(&dirty, &ram, want, NULL, v->granule);
	if (!v->granule)
		EXPECT_EQ(pages, ptt_bits_count(&ram, want));

	/* Nothing written: nothing (but type1's pinned or all pages). */
	vmm_dirty_clear(&dirty);
	ASSERT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	if (v->oracle == ORACLE_EXACT)
		EXPECT_EQ(pages, 0);
	else
		EXPECT_EQ(pages, ptt_bits_count(&ram, want));

	EXPECT_RC(0, vmm_pt_dirty_stop(pt));
	EXPECT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	EXPECT_EQ(pages, 0);
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	free(written);
	free(want);
	free(cpu);
	ptt_ram_free(&ram);
}

/*
 * §1.7: RAM mapped in two halves; the devices write all over it; the upper
 * half is unmapped while tracking runs (the harvest-first path); nothing
 * written there is lost, and the next sync still covers the lower half.
 */
TEST_VARIANTS(vmm_pt, unmap_harvest, struct dma_variant, dma_variants)
{
	uint64_t *written, *want, pages = 0, half = PTT_RAM / 2;
	char msg[VMM_MSG_LEN] = "";
	struct vmm_dirty dirty;
	struct ptt_dma d0, d1;
	struct ptt_ram ram, upper;
	struct vmm_pt *pt;

	pt = dma_vm(v, &ram, 2);
	dirty = ptt_dirty(&ram);
	written = ptt_bits_alloc(&ram);
	want = ptt_bits_alloc(&ram);
	d0 = ptt_dma_run(dev_fd(pt, 0), ram.gpa, PTT_RAM, 4096,
			 DMA_PATTERN_RANDOM, test_seed() | 1, 2000);
	d1 = ptt_dma_run(dev_fd(pt, 1), ram.gpa + half - 4 * PTT_MB, 8 * PTT_MB,
			 4096, DMA_PATTERN_SEQUENTIAL, 1, 500);
	ptt_oracle(&ram, &d0, written);
	ptt_oracle(&ram, &d1, written);
	oracle_expected(v, &ram, want, written);

	ASSERT_RC(0, vmm_pt_unmap_ram(pt, ram.gpa + half, half, &dirty));
	/* The upper half is in the bitmap already: compare it alone. */
	upper = ram;
	upper.gpa += half;
	upper.hva += half;
	upper.size = half;
	upper.npages = half / PTT_PAGE;
	{
		uint64_t *uw = ptt_bits_alloc(&upper);

		for (uint64_t i = 0; i < upper.npages; i++)
			if (ptt_bit(want, upper.npages + i))
				ptt_bit_set(uw, i);
		EXPECT_GT(ptt_bits_count(&upper, uw), 0);
		ptt_expect_bitmap(&dirty, &upper, uw, NULL, v->granule);
		free(uw);
	}
	/* Unmapped: no longer synced, and gone for the device. */
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, ram.gpa + half, half, &dirty));
	ASSERT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	ptt_expect_bitmap(&dirty, &ram, want, NULL, v->granule);
	EXPECT_LE(pages, upper.npages);
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	free(written);
	free(want);
	ptt_ram_free(&ram);
}

/* Without a bitmap to harvest into, an unmap during tracking is plain. */
TEST(vmm_pt, unmap_without_bitmap)
{
	static const struct dma_variant v = { "x",   "amd",    "dma,dma",
					      FD,    T(IOMMU), PTT_GPA_HI,
					      false, 0,	       ORACLE_EXACT };
	struct ptt_ram ram;
	struct vmm_pt *pt = dma_vm(&v, &ram, 2);

	EXPECT_RC(0, vmm_pt_unmap_ram(pt, ram.gpa, PTT_RAM / 2, NULL));
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, ram.gpa, PTT_RAM / 2, NULL));
	vmm_pt_destroy(pt);
	ptt_ram_free(&ram);
}

/*
 * x-pre-copy-dirty-page-tracking=off: no sync while a device runs; the
 * tracker keeps the bits until the devices stop (STOP via migration).
 */
TEST(vmm_pt, precopy_tracking_off)
{
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_IOMMUFD);
	struct vfio_device_feature_mig_state st = { 0 };
	uint64_t *written, pages = 1;
	char msg[VMM_MSG_LEN] = "";
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	struct ptt_dma d;
	struct vmm_pt *pt;

	ptt_host("intel", "dma,dma");
	cfg.precopy_dirty_tracking = false;
	ptt_ram_alloc(&ram, PTT_GPA_HI, PTT_RAM, false);
	pt = ptt_up(&cfg, "dma,dma");
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	ASSERT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	EXPECT_EQ(vmm_pt_tracker(pt), VMM_TRACKER_IOMMU);
	dirty = ptt_dirty(&ram);
	written = ptt_bits_alloc(&ram);
	d = ptt_dma_run(dev_fd(pt, 0), ram.gpa, ram.size, 4096,
			DMA_PATTERN_RANDOM, 5, 700);
	ptt_oracle(&ram, &d, written);

	ASSERT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	EXPECT_EQ(pages, 0);
	EXPECT_EQ(vmm_dirty_count(&dirty), 0);
	EXPECT_TRUE(ptt_logged('D', "sync deferred"));

	for (unsigned int i = 0; i < 2; i++) {
		st.device_state = VFIO_DEVICE_STATE_STOP;
		st.data_fd = -1;
		ASSERT_EQ(ptt_feature(
				  dev_fd(pt, i),
				  VFIO_DEVICE_FEATURE_SET |
					  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				  &st, sizeof(st)),
			  0);
	}
	ASSERT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	EXPECT_EQ(pages, ptt_bits_count(&ram, written));
	ptt_expect_bitmap(&dirty, &ram, written, NULL, 0);
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	free(written);
	ptt_ram_free(&ram);
}

/* ---- trackers failing part-way ---- */

/* A device's log stopped behind the VMM's back: its report fails. */
TEST(vmm_pt, sync_fails_devlog)
{
	static const struct dma_variant v = {
		"x",  "amd", "dma-log,dma-log", FD, T(DEVICE), PTT_GPA_HI,
		true, 0,     ORACLE_EXACT
	};
	char msg[VMM_MSG_LEN] = "", want[VMM_MSG_LEN];
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	uint64_t pages = 7;
	struct vmm_pt *pt = dma_vm(&v, &ram, 1);

	dirty = ptt_dirty(&ram);
	ASSERT_EQ(ptt_feature(dev_fd(pt, 1),
			      VFIO_DEVICE_FEATURE_SET |
				      VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			      NULL, 0),
		  0);
	EXPECT_RC(-EINVAL,
		  vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	snprintf(
		want, sizeof(want),
		"0000:00:02.0: Failed to get DMA logging report, iova: 0x%llx, size: 0x%llx: %s",
		(unsigned long long)ram.gpa, (unsigned long long)ram.size,
		strerror(EINVAL));
	EXPECT_EQ(strcmp(msg, want), 0);
	if (strcmp(msg, want))
		fprintf(stderr, "  msg  '%s'\n  want '%s'\n", msg, want);
	EXPECT_EQ(pages, 0);
	EXPECT_TRUE(ptt_logged('E', "Failed to get DMA logging report"));
	/* Unmap during tracking: unmapped, and the report's error returned. */
	EXPECT_RC(-EINVAL, vmm_pt_unmap_ram(pt, ram.gpa, ram.size, &dirty));
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, ram.gpa, ram.size, &dirty));
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	ptt_ram_free(&ram);
}

/* One device already logging: the start fails, the others roll back. */
TEST(vmm_pt, start_rollback_devlog)
{
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_IOMMUFD);
	struct vfio_device_feature_dma_logging_range r = { PTT_GPA_HI, PTT_MB };
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = PTT_PAGE,
		.num_ranges = 1,
		.ranges = (uint64_t)(uintptr_t)&r,
	};
	uint64_t bits[4] = { 0 };
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = PTT_GPA_HI,
		.length = PTT_MB,
		.page_size = PTT_PAGE,
		.bitmap = (uint64_t)(uintptr_t)bits,
	};
	const uint32_t report = VFIO_DEVICE_FEATURE_GET |
				VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	char msg[VMM_MSG_LEN] = "", want[VMM_MSG_LEN];
	struct ptt_ram ram;
	struct vmm_pt *pt;
	int rc;

	ptt_host("arm", "dma-log,dma-log,dma-log");
	ptt_ram_alloc(&ram, PTT_GPA_HI, PTT_RAM, true);
	pt = ptt_up(&cfg, "dma-log,dma-log,dma-log");
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	EXPECT_EQ(ptt_choose(pt, 0), VMM_TRACKER_DEVICE);
	ASSERT_EQ(ptt_feature(dev_fd(pt, 1),
			      VFIO_DEVICE_FEATURE_SET |
				      VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			      &ctl, sizeof(ctl)),
		  0);
	/* Linux/mlx5 refuses a second START with EINVAL: the errno comes back. */
	rc = vmm_pt_dirty_start(pt, msg, sizeof(msg));
	EXPECT_RC(-EINVAL, rc);
	snprintf(
		want, sizeof(want),
		"vfio: Could not start dirty page tracking - 0000:00:02.0: Failed to start DMA logging, err %d (%s)",
		rc, strerror(-rc));
	EXPECT_EQ(strcmp(msg, want), 0);
	/* Device 0 was started, then stopped; 1 is still ours; 2 never. */
	EXPECT_ERRNO(EINVAL,
		     ptt_feature(dev_fd(pt, 0), report, &rep, sizeof(rep)));
	EXPECT_EQ(ptt_feature(dev_fd(pt, 1), report, &rep, sizeof(rep)), 0);
	EXPECT_ERRNO(EINVAL,
		     ptt_feature(dev_fd(pt, 2), report, &rep, sizeof(rep)));
	/* Not started: stop is a no-op; once freed, it starts. */
	EXPECT_RC(0, vmm_pt_dirty_stop(pt));
	ASSERT_EQ(ptt_feature(dev_fd(pt, 1),
			      VFIO_DEVICE_FEATURE_SET |
				      VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			      NULL, 0),
		  0);
	EXPECT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	EXPECT_EQ(ptt_feature(dev_fd(pt, 2), report, &rep, sizeof(rep)), 0);
	vmm_pt_destroy(pt);
	ptt_ram_free(&ram);
}

/*
 * The dirty HWPT destroyed behind the VMM's back (its devices detached
 * first): start and sync fail with the kernel's ENOENT and say which.
 */
TEST(vmm_pt, iommu_tracker_fails)
{
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_IOMMUFD);
	struct vfio_device_detach_iommufd_pt det = { .argsz = sizeof(det) };
	char msg[VMM_MSG_LEN] = "", want[VMM_MSG_LEN];
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	uint64_t pages = 3;
	struct vmm_pt *pt;
	uint32_t hwpt;

	ptt_host("amd", "dma,dma");
	ptt_ram_alloc(&ram, PTT_GPA_HI, PTT_RAM, false);
	dirty = ptt_dirty(&ram);
	pt = ptt_up(&cfg, "dma,dma");
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	EXPECT_EQ(ptt_choose(pt, 0), VMM_TRACKER_IOMMU);
	ASSERT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	hwpt = vmm_pt_device(pt, 0)->hwpt_id;
	for (unsigned int i = 0; i < 2; i++)
		ASSERT_EQ(ioctl(dev_fd(pt, i), VFIO_DEVICE_DETACH_IOMMUFD_PT,
				&det),
			  0);
	destroy.id = hwpt;
	ASSERT_GE(ptt_find_fd(IOMMU_DESTROY, &destroy), 0);

	EXPECT_RC(-ENOENT,
		  vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	snprintf(
		want, sizeof(want),
		"IOMMU_HWPT_GET_DIRTY_BITMAP(hwpt_id %u, iova 0x%llx, size 0x%llx) failed: %s",
		hwpt, (unsigned long long)ram.gpa, (unsigned long long)ram.size,
		strerror(ENOENT));
	EXPECT_EQ(strcmp(msg, want), 0);
	if (strcmp(msg, want))
		fprintf(stderr, "  msg  '%s'\n  want '%s'\n", msg, want);
	/* The stop fails too; the VMM forgets it was tracking. */
	EXPECT_RC(-ENOENT, vmm_pt_dirty_stop(pt));
	EXPECT_TRUE(ptt_logged('E', "IOMMU_HWPT_SET_DIRTY_TRACKING"));
	EXPECT_RC(-ENOENT, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	snprintf(
		want, sizeof(want),
		"vfio: Could not start dirty page tracking - IOMMU_HWPT_SET_DIRTY_TRACKING(hwpt_id %u) failed: %s",
		hwpt, strerror(ENOENT));
	EXPECT_EQ(strcmp(msg, want), 0);
	EXPECT_RC(0, vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	EXPECT_EQ(pages, 0);
	/* Unmap still works (nothing to harvest: not tracking). */
	EXPECT_RC(0, vmm_pt_unmap_ram(pt, ram.gpa, ram.size, &dirty));
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	ptt_ram_free(&ram);
}

/*
 * The harvest before an iommufd unmap fails: the RAM is unmapped anyway
 * and the query's error is returned (QEMU, Jan 2026).
 */
TEST(vmm_pt, iommu_unmap_query_fails)
{
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_IOMMUFD);
	struct vfio_device_detach_iommufd_pt det = { .argsz = sizeof(det) };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	char msg[VMM_MSG_LEN] = "";
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	struct vmm_pt *pt;

	ptt_host("intel", "dma");
	ptt_ram_alloc(&ram, PTT_GPA_HI, PTT_RAM, false);
	dirty = ptt_dirty(&ram);
	pt = ptt_up(&cfg, "dma");
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	ASSERT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	ASSERT_EQ(ioctl(dev_fd(pt, 0), VFIO_DEVICE_DETACH_IOMMUFD_PT, &det), 0);
	destroy.id = vmm_pt_device(pt, 0)->hwpt_id;
	ASSERT_GE(ptt_find_fd(IOMMU_DESTROY, &destroy), 0);
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, ram.gpa, ram.size, &dirty));
	EXPECT_TRUE(ptt_logged('E', "dirty pages not harvested"));
	/* It is unmapped: mapping it again works. */
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, ram.gpa, ram.size, &dirty));
	EXPECT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	ptt_ram_free(&ram);
}

/* type1 tracking stopped behind the VMM's back: GET_BITMAP says EINVAL. */
TEST(vmm_pt, type1_tracker_fails)
{
	static const struct dma_variant v = { "x",  "amd",    "mdev,dma",
					      LG,   T(TYPE1), PTT_GPA_HI,
					      true, 0,	      ORACLE_EXACT };
	struct vfio_iommu_type1_dirty_bitmap stop = {
		.argsz = sizeof(stop),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
	};
	char msg[VMM_MSG_LEN] = "", want[VMM_MSG_LEN];
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	uint64_t pages = 3;
	struct vmm_pt *pt = dma_vm(&v, &ram, 2);

	dirty = ptt_dirty(&ram);
	ASSERT_GE(ptt_find_fd(VFIO_IOMMU_DIRTY_PAGES, &stop), 0);
	EXPECT_RC(-EINVAL,
		  vmm_pt_dirty_sync(pt, &dirty, &pages, msg, sizeof(msg)));
	snprintf(
		want, sizeof(want),
		"VFIO_IOMMU_DIRTY_PAGES GET_BITMAP(iova 0x%llx, size 0x%llx) failed: %s",
		(unsigned long long)ram.gpa, (unsigned long long)(ram.size / 2),
		strerror(EINVAL));
	EXPECT_EQ(strcmp(msg, want), 0);
	if (strcmp(msg, want))
		fprintf(stderr, "  msg  '%s'\n  want '%s'\n", msg, want);
	/* UNMAP_DMA with the bitmap fails too: the mapping stays. */
	EXPECT_RC(-EINVAL, vmm_pt_unmap_ram(pt, ram.gpa, ram.size / 2, &dirty));
	EXPECT_RC(-EEXIST, vmm_pt_map_ram(pt, ram.gpa, ram.size / 2, ram.hva));
	EXPECT_RC(0, vmm_pt_dirty_stop(pt));
	EXPECT_RC(0, vmm_pt_unmap_ram(pt, ram.gpa, ram.size / 2, &dirty));
	vmm_pt_destroy(pt);
	vmm_dirty_destroy(&dirty);
	ptt_ram_free(&ram);
}

/* ---- errors and the life cycle ---- */

TEST(vmm_pt, errors)
{
	struct vmm_pt_config cfg = ptt_cfg(VMM_PT_IOMMUFD);
	char msg[VMM_MSG_LEN] = "";
	struct ptt_ram ram;
	struct vmm_pt *pt;

	ptt_host("amd", "dma,dma-log");
	cfg.backend = (enum vmm_pt_backend)7;
	EXPECT_RC(-EINVAL, vmm_pt_create(&cfg, &pt, msg, sizeof(msg)));
	EXPECT_EQ(pt, NULL);
	EXPECT_TRUE(strstr(msg, "backend"));
	cfg = ptt_cfg(VMM_PT_IOMMUFD);
	cfg.tracker = (enum vmm_tracker)9;
	EXPECT_RC(-EINVAL, vmm_pt_create(&cfg, &pt, msg, sizeof(msg)));
	cfg = ptt_cfg(VMM_PT_IOMMUFD);
	pt = ptt_up(&cfg, "dma,dma-log");
	EXPECT_RC(-ENOENT, vmm_pt_add_device(pt, 5, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "/dev/vfio/devices/vfio5"));
	EXPECT_RC(-EBUSY, vmm_pt_add_device(pt, 1, msg, sizeof(msg)));
	EXPECT_EQ(strcmp(msg, "0000:00:02.0: device already added"), 0);
	EXPECT_EQ(vmm_pt_ndevices(pt), 2);

	ptt_ram_alloc(&ram, PTT_GPA_HI, 8 * PTT_MB, false);
	EXPECT_RC(-EINVAL, vmm_pt_map_ram(pt, ram.gpa + 1, PTT_MB, ram.hva));
	EXPECT_RC(-EINVAL, vmm_pt_map_ram(pt, ram.gpa, 0, ram.hva));
	EXPECT_RC(-EOVERFLOW, vmm_pt_map_ram(pt, UINT64_MAX - PTT_PAGE + 1,
					     2 * PTT_PAGE, ram.hva));
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, 4 * PTT_MB, ram.hva));
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa + 4 * PTT_MB, 4 * PTT_MB,
				    ram.hva + 4 * PTT_MB));
	EXPECT_RC(-EEXIST,
		  vmm_pt_map_ram(pt, ram.gpa + PTT_MB, PTT_MB, ram.hva));
	/* The kernel refuses what it cannot map: its errno comes back. */
	EXPECT_RC(-EINVAL, vmm_pt_map_ram(pt, 0xfee00000ULL, PTT_MB, ram.hva));
	EXPECT_TRUE(ptt_logged('E', "map RAM gpa 0xfee00000"));
	EXPECT_RC(-EINVAL, vmm_pt_unmap_ram(pt, ram.gpa, PTT_MB, NULL));
	EXPECT_RC(-EINVAL, vmm_pt_unmap_ram(pt, ram.gpa, 6 * PTT_MB, NULL));
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, 0, PTT_MB, NULL));
	EXPECT_RC(-EINVAL, vmm_pt_unmap_ram(pt, 0, 0, NULL));
	/* Both mappings at once. */
	EXPECT_RC(0, vmm_pt_unmap_ram(pt, ram.gpa - PTT_MB, 10 * PTT_MB, NULL));
	EXPECT_RC(-ENOENT, vmm_pt_unmap_ram(pt, ram.gpa, 8 * PTT_MB, NULL));

	/* Running trackers pin the device set and the choice. */
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, 8 * PTT_MB, ram.hva));
	ASSERT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	EXPECT_EQ(vmm_pt_tracker(pt), VMM_TRACKER_IOMMU);
	EXPECT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
	EXPECT_RC(-EBUSY, vmm_pt_choose_tracker(pt, NULL, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "stop it first"));
	vmm_pt_destroy(pt);
	vmm_pt_destroy(NULL);
	ptt_ram_free(&ram);

	/* Legacy: GROUP_GET_DEVICE_FD needs the name only sysfs knows. */
	cfg = ptt_cfg(VMM_PT_LEGACY);
	pt = ptt_up(&cfg, "dma");
	EXPECT_RC(-ENODEV, vmm_pt_add_device(pt, 5, msg, sizeof(msg)));
	EXPECT_EQ(strcmp(msg, "vfio5: the device's name and group are unknown"),
		  0);
	EXPECT_RC(-EBUSY, vmm_pt_add_device(pt, 0, msg, sizeof(msg)));
	vmm_pt_destroy(pt);
}

/* Mapped before any device: iommufd's new HWPTs and type1's SET_IOMMU. */
struct early_variant {
	const char *name;
	enum vmm_pt_backend backend;
	const char *devices;
};

static const struct early_variant early_variants[] = {
	{ "iommufd", FD, "dma,dma" },
	{ "legacy", LG, "dma,mdev" },
};

TEST_VARIANTS(vmm_pt, ram_before_devices, struct early_variant, early_variants)
{
	struct vmm_pt_config cfg = ptt_cfg(v->backend);
	char msg[VMM_MSG_LEN] = "";
	struct ptt_ram ram;
	struct vmm_pt *pt;

	ptt_host("amd", v->devices);
	ptt_ram_alloc(&ram, PTT_GPA_HI, 8 * PTT_MB, false);
	ASSERT_RC(0, vmm_pt_create(&cfg, &pt, msg, sizeof(msg)));
	ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
	for (unsigned int i = 0; i < 2; i++)
		ASSERT_RC(0, vmm_pt_add_device(pt, i, msg, sizeof(msg)));
	/* Both devices reach the RAM: no fault, blocks where they wrote. */
	for (unsigned int i = 0; i < 2; i++) {
		struct ptt_dma d =
			ptt_dma_run(dev_fd(pt, i), ram.gpa, ram.size, 4096,
				    DMA_PATTERN_SEQUENTIAL, 1, 100);
		uint64_t *bits = ptt_bits_alloc(&ram);

		EXPECT_GT(ptt_oracle(&ram, &d, bits), 0);
		free(bits);
	}
	vmm_pt_destroy(pt);
	ptt_ram_free(&ram);
}

/* Destroy closes everything: the same devices bind again at once. */
TEST_VARIANTS(vmm_pt, destroy_releases, struct early_variant, early_variants)
{
	struct vmm_pt_config cfg = ptt_cfg(v->backend);
	char msg[VMM_MSG_LEN] = "";
	struct ptt_ram ram;
	struct vmm_pt *pt;

	ptt_host("intel", v->devices);
	ptt_ram_alloc(&ram, PTT_GPA_HI, 8 * PTT_MB, false);
	for (unsigned int round = 0; round < 3; round++) {
		pt = ptt_up(&cfg, v->devices);
		ASSERT_RC(0, vmm_pt_map_ram(pt, ram.gpa, ram.size, ram.hva));
		cfg.force = true;
		ASSERT_RC(0, vmm_pt_dirty_start(pt, msg, sizeof(msg)));
		vmm_pt_destroy(pt);
	}
	ptt_ram_free(&ram);
}

/*
 * Fail the 1st, 2nd, ... allocation over a whole life cycle: every step
 * returns an errno or succeeds, nothing crashes, and a clean run after it
 * works (nothing was left bound or mapped).
 */
struct sweep_variant {
	const char *name;
	enum vmm_pt_backend backend;
	const char *devices;
	enum vmm_tracker tracker;
};

static const struct sweep_variant sweep_variants[] = {
	{ "iommufd", FD, "dma,dma-log,dma", T(AUTO) },
	{ "iommufd-devlog", FD, "dma-log,dma-log", T(AUTO) },
	{ "legacy", LG, "mdev,dma", T(AUTO) },
};

static int life_cycle(const struct sweep_variant *v, struct ptt_ram *ram,
		      struct vmm_dirty *dirty)
{
	struct vmm_pt_config cfg = ptt_cfg(v->backend);
	unsigned int n = ptt_ndevices(v->devices);
	char msg[VMM_MSG_LEN] = "";
	struct vmm_pt *pt = NULL;
	uint64_t pages;
	int rc;

	cfg.tracker = v->tracker;
	rc = vmm_pt_create(&cfg, &pt, msg, sizeof(msg));
	if (rc)
		return rc;
	for (unsigned int i = 0; i < n && !rc; i++)
		rc = vmm_pt_add_device(pt, i, msg, sizeof(msg));
	if (!rc)
		rc = vmm_pt_map_ram(pt, ram->gpa, ram->size / 2, ram->hva);
	if (!rc)
		rc = vmm_pt_map_ram(pt, ram->gpa + ram->size / 2, ram->size / 2,
				    ram->hva + ram->size / 2);
	if (!rc)
		rc = vmm_pt_choose_tracker(pt, NULL, msg, sizeof(msg));
	if (!rc)
		rc = vmm_pt_dirty_start(pt, msg, sizeof(msg));
	if (!rc)
		rc = vmm_pt_dirty_sync(pt, dirty, &pages, msg, sizeof(msg));
	if (!rc)
		rc = vmm_pt_unmap_ram(pt, ram->gpa, ram->size / 2, dirty);
	if (!rc)
		rc = vmm_pt_dirty_stop(pt);
	vmm_pt_destroy(pt);
	return rc;
}

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

TEST_VARIANTS(vmm_pt, alloc_fail_sweep, struct sweep_variant, sweep_variants)
{
	struct vmm_dirty dirty;
	struct ptt_ram ram;
	unsigned int n, failed = 0;
	int fd;

	ptt_host("amd", v->devices);
	ptt_ram_alloc(&ram, PTT_GPA_HI, 8 * PTT_MB, false);
	dirty = ptt_dirty(&ram);
	/* The host itself comes up once per process, with the first open. */
	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_RC(0, life_cycle(v, &ram, &dirty));
	for (n = 1; n < 2000; n++) {
		int rc, fired;

		alloc_fail_nth_set(n);
		rc = life_cycle(v, &ram, &dirty);
		fired = alloc_fail_nth_fired();
		alloc_fail_nth_set(0);
		if (!fired) {
			EXPECT_RC(0, rc);
			break;
		}
		failed += rc != 0;
		EXPECT_LE(rc, 0);
		/* The next life cycle must not be hurt by this one. */
		ASSERT_RC(0, life_cycle(v, &ram, &dirty));
	}
	printf("  %s: %u allocations failed in turn, %u failed the life cycle\n",
	       v->name, n - 1, failed);
	EXPECT_GT(n, 1);
	EXPECT_LT(n, 2000);
	if (__lsan_do_recoverable_leak_check)
		EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0);
	vmm_dirty_destroy(&dirty);
	ptt_ram_free(&ram);
}
