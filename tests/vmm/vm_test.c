// SPDX-License-Identifier: MIT
/*
 * vm_test.c - the KVM half of the VMM (include/iodirty/vmm.h: vm.c, kvm.c,
 * vcpu.c, dirty.c, payload.S) on the real /dev/kvm, issue 5:
 *
 *   vm.no_kvm         without /dev/kvm (or without access to it) the VMM
 *                     says so plainly; every other test here skips with
 *                     vmm_available()'s reason then
 *   vm.boots          the payload runs on 1 and 2 vCPUs (and on hugetlb
 *                     RAM, skipped with the reason when the huge pages are
 *                     not there): each vCPU's status advances, passes end
 *   vm.high_ram       --mem above the 3 GiB low-RAM limit: a second region
 *                     at 4 GiB, the VM runs, dirty syncs cover both slots
 *   vm.pause          no guest progress while paused, progress on resume
 *   vm.writer_check   the RAM writer's invariant (guest.h) holds on a
 *                     paused VM; one corrupted page fails it with -EBADMSG
 *                     naming the page
 *   vm.populated      vmm_ram_populated(): what set-up and the guest wrote
 *                     holds data, RAM nobody touched does not
 *   vm.dirty_oracle   the unioned bitmap of one sync interval equals an
 *                     oracle of what the vCPUs and the device wrote, for
 *                     the KVM bitmap (manual protect) and the dirty ring
 *
 * The oracle reads the guest's own status counters and its slice of the
 * working set (guest.h, payload.S), and the device's blocks in RAM. The
 * VM's devices are those of the emulated host (IODIRTY_DEVICES, as in
 * passthrough_util.h), reached through the kernel ABI: built into
 * iodirty-test and iodirty-abitest (run under `iodirty exec`). Waits poll
 * with a generous limit and never judge speed.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/sysinfo.h>

#include "../../src/vmm/guest.h"
#include "passthrough_util.h"

#define VT_MEM	      (64 * PTT_MB)
#define VT_LOW_MAX    (3ULL << 30) /* vm.c: RAM below the PCI hole */
#define VT_HIGH_BASE  (4ULL << 30)
#define VT_2M	      (2 * PTT_MB)
#define VT_RAM_RATE   4000 /* pages/s: an interval writes part of the set */
#define VT_DMA_WINDOW (4 * PTT_MB)
#define VT_DMA_RATE   (1 * PTT_MB) /* 256 blocks/s */

/* ---- the VM ---- */

/*
 * A VM that stopped: a host whose KVM overflows its dirty ring (PVM's
 * emulator ignores the ring's soft limit) cannot run a ring test; else
 * a failure.
 */
static void vt_expect_alive(struct vmm *vm)
{
	const char *failed = vmm_failed(vm);

	if (failed && strstr(failed, "dirty ring overflowed"))
		SKIP("this host's KVM loses dirty ring entries: %s", failed);
	if (failed)
		fprintf(stderr, "  VM failed: %s\n", failed);
	ASSERT_FALSE(failed);
}

static void vt_need_kvm(void)
{
	char msg[VMM_MSG_LEN] = "";

	if (vmm_available(msg, sizeof(msg)))
		SKIP("no VM can run here: %s", msg);
}

static struct vmm_config vt_config(unsigned int vcpus, unsigned int ndev)
{
	struct vmm_config c = {
		.mem = VT_MEM,
		.vcpus = vcpus,
		.ram_ws = 16 * PTT_MB,
		.ram_rate = VT_RAM_RATE,
		.dma_window = VT_DMA_WINDOW,
		.dma_rate = VT_DMA_RATE,
		.dma_block = 4096,
		.dma_pattern = DMA_PATTERN_SEQUENTIAL,
		.ndevices = ndev,
		.pt = ptt_cfg(VMM_PT_IOMMUFD),
		.log = &ptt_log.log,
	};

	c.pt.tracker = VMM_TRACKER_IOMMU;
	return c;
}

static struct vmm *vt_create(const struct vmm_config *c)
{
	char msg[VMM_MSG_LEN] = "";
	struct vmm *vm = NULL;
	int rc = vmm_create(c, &vm, msg, sizeof(msg));

	if (rc)
		fprintf(stderr, "  vmm_create: %s\n", msg);
	ASSERT_RC(0, rc);
	return vm;
}

static uint8_t *vt_hva(struct vmm *vm, uint64_t gpa)
{
	uint64_t g[VMM_MAX_RAM_REGIONS], s[VMM_MAX_RAM_REGIONS];
	uint8_t *h[VMM_MAX_RAM_REGIONS];
	unsigned int n = vmm_ram(vm, g, s, h);

	for (unsigned int i = 0; i < n; i++)
		if (gpa >= g[i] && gpa - g[i] < s[i])
			return h[i] + (gpa - g[i]);
	ASSERT_TRUE(0);
	return NULL;
}

static const struct guest_params *vt_params(struct vmm *vm)
{
	return (const struct guest_params *)vt_hva(vm, GUEST_PARAMS);
}

static const volatile struct guest_status *vt_status(struct vmm *vm)
{
	return (const volatile struct guest_status *)vt_hva(vm, GUEST_STATUS);
}

/* Wait until every vCPU's loop and every RAM writer has moved on. */
static void vt_wait_running(struct vmm *vm, uint64_t min_pages)
{
	const struct guest_params *p = vt_params(vm);
	const volatile struct guest_status *st = vt_status(vm);
	uint64_t t0 = ptt_now_ms();
	bool all;

	do {
		vt_expect_alive(vm);
		all = true;
		for (unsigned int c = 0; c < p->nvcpus; c++) {
			all &= st[c].alive > 0;
			if (p->roles[c] & GUEST_ROLE_RAM)
				all &= st[c].ram_pages >= min_pages;
			if (p->roles[c] & GUEST_ROLE_DMA)
				all &= st[c].dma_started == p->ndev;
		}
		if (!all)
			ptt_sleep_ms(5);
	} while (!all && ptt_now_ms() - t0 < PTT_WAIT_MS);
	ASSERT_TRUE(all);
}

static void vt_expect_writer_ok(struct vmm *vm)
{
	char msg[VMM_MSG_LEN] = "";
	int rc = vmm_ram_writer_check(vm, msg, sizeof(msg));

	if (rc)
		fprintf(stderr, "  vmm_ram_writer_check: %s\n", msg);
	EXPECT_RC(0, rc);
}

/* ---- no /dev/kvm ---- */

/*
 * In a mount namespace of this test's own child, an empty /dev: the VMM
 * must say there is no KVM, not fail on something later. Then a /dev/kvm
 * the process may not open: permission denied, said as such.
 */
TEST(vm, no_kvm)
{
	struct vmm_config c = vt_config(1, 0);
	char msg[VMM_MSG_LEN] = "";
	struct vmm *vm = NULL;

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755"))
		SKIP("cannot hide /dev/kvm in a mount namespace: %s",
		     strerror(errno));
	EXPECT_RC(-ENOENT, vmm_available(msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "no /dev/kvm"));
	EXPECT_TRUE(strstr(msg, "KVM is not available"));

	msg[0] = 0;
	EXPECT_RC(-ENOENT, vmm_create(&c, &vm, msg, sizeof(msg)));
	EXPECT_TRUE(vm == NULL);
	EXPECT_TRUE(strstr(msg, "no /dev/kvm"));

	/* A node nobody but its owner (root) may open, opened as nobody. */
	if (mknod("/dev/kvm", S_IFCHR | 0600, makedev(10, 232)) ||
	    setgid(65534) || setuid(65534))
		SKIP("cannot make an unreadable /dev/kvm: %s", strerror(errno));
	msg[0] = 0;
	EXPECT_RC(-EACCES, vmm_available(msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "/dev/kvm: permission denied"));
}

/* ---- the payload runs ---- */

static uint64_t vt_meminfo(const char *key)
{
	char line[128];
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	size_t n = strlen(key);

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* hugetlb RAM of @mem bytes, or skip saying why there is none. */
static void vt_need_hugetlb(uint64_t mem)
{
	uint64_t kb = vt_meminfo("Hugepagesize");
	uint64_t free_pages = vt_meminfo("HugePages_Free");

	if (kb != 2048)
		SKIP("hugetlb: the default huge page is %llu KiB, not 2 MiB",
		     (unsigned long long)kb);
	if (free_pages * kb * 1024 < mem)
		SKIP("hugetlb: %llu free 2 MiB huge pages, the VM needs %llu (echo N > /proc/sys/vm/nr_hugepages)",
		     (unsigned long long)free_pages,
		     (unsigned long long)(mem / VT_2M));
}

/* A test's VM configuration, once KVM (and hugetlb RAM if asked) is here. */
static struct vmm_config vt_begin(unsigned int vcpus, unsigned int ndev,
				  bool hugetlb)
{
	struct vmm_config c = vt_config(vcpus, ndev);

	vt_need_kvm();
	ptt_host("amd", "dma");
	if (hugetlb)
		vt_need_hugetlb(c.mem);
	c.hugetlb = hugetlb;
	return c;
}

struct boot_variant {
	const char *name;
	unsigned int vcpus;
	bool hugetlb;
};

static const struct boot_variant boots[] = {
	{ "1vcpu", 1, false },
	{ "2vcpus", 2, false },
	{ "hugetlb", 2, true },
};

TEST_VARIANTS(vm, boots, struct boot_variant, boots)
{
	struct vmm_config c = vt_begin(v->vcpus, 0, v->hugetlb);
	const volatile struct guest_status *st;
	const struct guest_params *p;
	uint64_t gpa[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	struct vmm *vm;

	c.ram_ws = 2 * PTT_MB;
	c.ram_rate = 0;
	vm = vt_create(&c);
	ASSERT_EQ(vmm_ram(vm, gpa, size, NULL), 1);
	EXPECT_EQ(gpa[0], 0);
	EXPECT_EQ(size[0], c.mem);
	p = vt_params(vm);
	st = vt_status(vm);
	/* Every vCPU writes RAM when there is no device to drive. */
	ASSERT_EQ(p->ram_writers, v->vcpus);
	EXPECT_EQ(p->ram_pages, c.ram_ws / PTT_PAGE);

	ASSERT_RC(0, vmm_start(vm));
	/* Two whole passes over each slice: the loop goes round. */
	vt_wait_running(vm, 2 * p->ram_pages / p->ram_writers + 1);
	vmm_pause(vm);
	for (unsigned int i = 0; i < v->vcpus; i++) {
		EXPECT_EQ(st[i].cpu, i);
		EXPECT_GE(st[i].ram_pass, 3);
		EXPECT_EQ(st[i].dma_bad, 0);
	}
	{
		struct vmm_guest_stats gs;

		vmm_guest_stats(vm, &gs);
		EXPECT_GE(gs.ram_pass, 3);
		EXPECT_EQ(gs.ram_pages,
			  st[0].ram_pages +
				  (v->vcpus > 1 ? st[1].ram_pages : 0));
		EXPECT_EQ(gs.dma_started, 0);
	}
	vt_expect_writer_ok(vm);
	EXPECT_FALSE(vmm_failed(vm));
	vmm_destroy(vm);
}

/* ---- RAM above 4 GiB ---- */

struct high_variant {
	const char *name;
	uint64_t mem;
};

/* 7 GiB: the high slot (4 GiB) is larger than the low one (3 GiB). */
static const struct high_variant highs[] = {
	{ "3g+64m", VT_LOW_MAX + 64 * PTT_MB },
	{ "7g", 7ULL << 30 },
};

TEST_VARIANTS(vm, high_ram, struct high_variant, highs)
{
	struct vmm_config c = vt_begin(1, 0, false);
	uint64_t gpa[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	char msg[VMM_MSG_LEN] = "";
	struct vmm_sync_stats ss;
	struct vmm_dirty d;
	struct sysinfo si;
	struct vmm *vm;

	/* The memfd is sparse, but a VM larger than the machine is not run. */
	if (sysinfo(&si) || (uint64_t)si.totalram * si.mem_unit < v->mem)
		SKIP("a VM of %llu MiB is larger than this machine's RAM",
		     (unsigned long long)(v->mem >> 20));
	c.mem = v->mem;
	c.ram_ws = 4 * PTT_MB;
	vm = vt_create(&c);
	ASSERT_EQ(vmm_ram(vm, gpa, size, NULL), 2);
	EXPECT_EQ(gpa[0], 0);
	EXPECT_EQ(size[0], VT_LOW_MAX);
	EXPECT_EQ(gpa[1], VT_HIGH_BASE);
	EXPECT_EQ(size[1], c.mem - VT_LOW_MAX);

	ASSERT_RC(0, vmm_dirty_init_ram(vm, &d));
	ASSERT_RC(0, vmm_dirty_log_start(vm, msg, sizeof(msg)));
	ASSERT_RC(0, vmm_start(vm));
	vt_wait_running(vm, 64);
	for (int i = 0; i < 2; i++) {
		vmm_dirty_clear(&d);
		ASSERT_RC(0, vmm_dirty_sync(vm, &d, &ss, msg, sizeof(msg)));
		EXPECT_GT(ss.cpu_pages, 0);
		EXPECT_EQ(ss.union_pages, vmm_dirty_count(&d));
		ptt_sleep_ms(50);
	}
	vmm_pause(vm);
	/* The guest never writes above 4 GiB: the high slot stays clean. */
	{
		uint64_t high = 0;

		for (uint64_t a = gpa[1]; a < gpa[1] + size[1]; a += PTT_PAGE)
			high += vmm_dirty_test(&d, a);
		EXPECT_EQ(high, 0);
	}
	vt_expect_writer_ok(vm);
	vmm_dirty_log_stop(vm);
	vmm_dirty_destroy(&d);
	vmm_destroy(vm);
}

/* ---- pause ---- */

static volatile sig_atomic_t vt_usr_signals;

static void vt_count_usr(int sig)
{
	(void)sig;
	vt_usr_signals++;
}

TEST(vm, pause)
{
	struct vmm_config c = vt_begin(2, 0, false);
	const volatile struct guest_status *st;
	struct guest_status before[2], after[2];
	struct vmm *vm;

	c.ram_rate = 0;
	vm = vt_create(&c);
	st = vt_status(vm);
	/* Paused before it starts: the vCPUs never enter the guest. */
	vmm_pause(vm);
	ASSERT_RC(0, vmm_start(vm));
	/*
	 * SIGUSR1/2 are the program's (iodirty migrate switches over on
	 * SIGUSR1): kicking the vCPUs out of KVM_RUN must not use them.
	 */
	signal(SIGUSR1, vt_count_usr);
	signal(SIGUSR2, vt_count_usr);
	ptt_sleep_ms(100);
	EXPECT_EQ(st[0].alive + st[1].alive, 0);
	vmm_resume(vm);

	for (int round = 0; round < 3; round++) {
		vt_wait_running(vm, st[0].ram_pages + 1);
		vmm_pause(vm);
		memcpy(before, (const void *)st, sizeof(before));
		ptt_sleep_ms(100);
		memcpy(after, (const void *)st, sizeof(after));
		EXPECT_MEMEQ(before, after, sizeof(before));
		vt_expect_writer_ok(vm);
		vmm_resume(vm);
		/* Progress again: each vCPU's loop goes on. */
		{
			uint64_t t0 = ptt_now_ms();

			while ((st[0].alive == before[0].alive ||
				st[1].alive == before[1].alive) &&
			       ptt_now_ms() - t0 < PTT_WAIT_MS)
				ptt_sleep_ms(2);
			EXPECT_GT(st[0].alive, before[0].alive);
			EXPECT_GT(st[1].alive, before[1].alive);
		}
	}
	EXPECT_FALSE(vmm_failed(vm));
	EXPECT_EQ(vt_usr_signals, 0);
	vmm_destroy(vm);
}

/* ---- the RAM writer's invariant ---- */

static uint64_t *vt_page(struct vmm *vm, uint64_t gpa)
{
	return (uint64_t *)vt_hva(vm, gpa);
}

/* vmm_ram_writer_check() fails with -EBADMSG naming page @idx at @gpa. */
static void vt_expect_writer_bad(struct vmm *vm, uint64_t idx, uint64_t gpa,
				 const char *also)
{
	char msg[VMM_MSG_LEN] = "", want[64];

	EXPECT_RC(-EBADMSG, vmm_ram_writer_check(vm, msg, sizeof(msg)));
	snprintf(want, sizeof(want), "page %llu (GPA 0x%llx)",
		 (unsigned long long)idx, (unsigned long long)gpa);
	if (!strstr(msg, want) || (also && !strstr(msg, also)))
		fprintf(stderr, "  message: %s\n  want: %s%s%s\n", msg, want,
			also ? " ... " : "", also ? also : "");
	EXPECT_TRUE(strstr(msg, want));
	if (also)
		EXPECT_TRUE(strstr(msg, also));
}

TEST(vm, writer_check)
{
	struct vmm_config c = vt_begin(2, 0, false);
	const volatile struct guest_status *st;
	const struct guest_params *p;
	uint64_t per, k = 0, pass = 0, start, *pg, keep;
	struct vmm *vm;
	int tries;

	c.ram_ws = 4 * PTT_MB;
	c.ram_rate = 0;
	vm = vt_create(&c);
	p = vt_params(vm);
	st = vt_status(vm);
	per = p->ram_pages / p->ram_writers;
	ASSERT_GE(per, 16);
	ASSERT_RC(0, vmm_start(vm));
	vt_wait_running(vm, per + 1);

	/*
	 * Writer 1, paused with its cursor k away from both ends of its
	 * slice: pages [0, k) hold pass p, [k, per) hold p - 1.
	 */
	for (tries = 0; tries < 100; tries++) {
		vmm_pause(vm);
		k = st[1].ram_pages % per;
		pass = st[1].ram_pages / per + 1;
		if (k >= 4 && k + 4 < per)
			break;
		vmm_resume(vm);
		ptt_sleep_ms(3);
	}
	ASSERT_LT(tries, 100);
	EXPECT_EQ(st[1].ram_pass, pass);
	start = p->ram_start + per * PTT_PAGE;
	vt_expect_writer_ok(vm);

	/* A wrong pass number in the middle of the old pages. */
	pg = vt_page(vm, start + (per - 2) * PTT_PAGE);
	keep = *pg;
	EXPECT_EQ(keep, pass - 1);
	*pg = pass + 7;
	vt_expect_writer_bad(vm, per - 2, start + (per - 2) * PTT_PAGE,
			     "a write was lost or misplaced");
	*pg = keep;
	vt_expect_writer_ok(vm);

	/*
	 * An old value before new ones: page k - 2 lost its write of pass p.
	 * The checker meets the break at page k - 1, new after old.
	 */
	pg = vt_page(vm, start + (k - 2) * PTT_PAGE);
	keep = *pg;
	EXPECT_EQ(keep, pass);
	*pg = pass - 1;
	vt_expect_writer_bad(vm, k - 1, start + (k - 1) * PTT_PAGE,
			     "after older pages");
	*pg = keep;

	/* A new value among old ones: the page a write went to too early. */
	pg = vt_page(vm, start + (k + 2) * PTT_PAGE);
	keep = *pg;
	*pg = pass;
	vt_expect_writer_bad(vm, k + 2, start + (k + 2) * PTT_PAGE,
			     "after older pages");
	*pg = keep;

	/* Writer 0 is checked too: its first page. */
	pg = vt_page(vm, p->ram_start);
	keep = *pg;
	*pg = 0x5a5a5a5a;
	vt_expect_writer_bad(vm, 0, p->ram_start, NULL);
	*pg = keep;
	vt_expect_writer_ok(vm);

	/* The guest goes on from a good state and keeps the invariant. */
	vmm_resume(vm);
	vt_wait_running(vm, st[1].ram_pages + per);
	vmm_pause(vm);
	vt_expect_writer_ok(vm);
	vmm_destroy(vm);
}

/* ---- what RAM holds data ---- */

static uint64_t vt_count_range(const struct vmm_dirty *d, uint64_t gpa,
			       uint64_t len)
{
	uint64_t n = 0;

	for (uint64_t a = gpa; a < gpa + len; a += PTT_PAGE)
		n += vmm_dirty_test(d, a);
	return n;
}

TEST(vm, populated)
{
	struct vmm_config c = vt_begin(2, 0, false);
	const struct guest_params *p;
	uint64_t ws_end, tail;
	struct vmm_dirty d;
	struct vmm *vm;

	c.ram_ws = 4 * PTT_MB;
	c.ram_rate = 0;
	vm = vt_create(&c);
	p = vt_params(vm);
	ws_end = p->ram_start + p->ram_pages * PTT_PAGE;
	/* Past the working set, with a 2 MiB margin: nobody touches it. */
	tail = (ws_end + 2 * VT_2M - 1) & ~(VT_2M - 1);
	ASSERT_LT(tail, c.mem);

	/* Set-up wrote the parameters, GDT, page tables and the payload. */
	ASSERT_RC(0, vmm_dirty_init_ram(vm, &d));
	ASSERT_RC(0, vmm_ram_populated(vm, &d));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_PARAMS));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_GDT));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_PML4));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_PDPT));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_PD));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_CODE));
	EXPECT_EQ(vt_count_range(&d, p->ram_start, ws_end - p->ram_start), 0);
	EXPECT_EQ(vt_count_range(&d, tail, c.mem - tail), 0);

	/* After a pass: every page of the working set, status and stacks. */
	ASSERT_RC(0, vmm_start(vm));
	vt_wait_running(vm, p->ram_pages / p->ram_writers + 1);
	vmm_pause(vm);
	vmm_dirty_clear(&d);
	ASSERT_RC(0, vmm_ram_populated(vm, &d));
	EXPECT_EQ(vt_count_range(&d, p->ram_start, ws_end - p->ram_start),
		  p->ram_pages);
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_STATUS));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_STACK_TOP - 8));
	EXPECT_TRUE(vmm_dirty_test(&d, GUEST_STACK_TOP - GUEST_STACK_SIZE - 8));
	EXPECT_EQ(vt_count_range(&d, tail, c.mem - tail), 0);
	vmm_dirty_destroy(&d);
	vmm_destroy(vm);
}

/* ---- the dirty-sync oracle ---- */

struct oracle_variant {
	const char *name;
	unsigned int vcpus;
	unsigned int ndev;
	bool ring;
	uint32_t ring_entries;
	bool hugetlb;
};

/*
 * A ring of 16384 entries holds an interval's writes; one of 1024 fills
 * in it, so vCPUs harvest their own full rings (KVM_EXIT_DIRTY_RING_FULL).
 */
static const struct oracle_variant oracles[] = {
	{ "bitmap", 1, 0, false, 0, false },
	{ "bitmap-2vcpus", 2, 0, false, 0, false },
	{ "bitmap-dma", 1, 1, false, 0, false },
	{ "bitmap-dma-2vcpus", 2, 1, false, 0, false },
	{ "bitmap-dma-hugetlb", 2, 1, false, 0, true },
	{ "ring", 2, 0, true, 16384, false },
	{ "ring-dma", 2, 1, true, 16384, false },
	{ "ring-full", 1, 0, true, 1024, false },
};

/* One page set over the VM's RAM. */
struct vt_set {
	struct vmm_dirty d;
};

static void vt_set_init(struct vmm *vm, struct vt_set *s)
{
	ASSERT_RC(0, vmm_dirty_init_ram(vm, &s->d));
}

static void vt_set(struct vt_set *s, uint64_t gpa, uint64_t len)
{
	vmm_dirty_set(&s->d, gpa, len);
}

static bool vt_in(const struct vt_set *s, uint64_t gpa)
{
	return vmm_dirty_test(&s->d, gpa);
}

/* Stop device 0's engine from the host and wait for its last block. */
static uint64_t vt_dma_stop(struct vmm *vm)
{
	struct vmm_pt *pt = vmm_passthrough(vm);
	uint32_t ctrl = 0, status = 0;
	uint64_t seq = 0, writes = 0, t0 = ptt_now_ms();

	ASSERT_RC(0, vmm_pt_reg_write(pt, 0, DMA_REG_CTRL, &ctrl, 4));
	/*
	 * The device was reset when it was opened and the guest never
	 * clears it: every block it started has landed when WRITES == SEQ.
	 */
	do {
		ASSERT_RC(0, vmm_pt_reg_read(pt, 0, DMA_REG_SEQ, &seq, 8));
		ASSERT_RC(0,
			  vmm_pt_reg_read(pt, 0, DMA_REG_WRITES, &writes, 8));
		if (writes != seq)
			ptt_sleep_ms(1);
	} while (writes != seq && ptt_now_ms() - t0 < PTT_WAIT_MS);
	ASSERT_EQ(writes, seq);
	ASSERT_RC(0, vmm_pt_reg_read(pt, 0, DMA_REG_STATUS, &status, 4));
	ASSERT_EQ(status & (DMA_STATUS_FAULT | DMA_STATUS_RUNNING), 0);
	return seq;
}

static void vt_dma_run(struct vmm *vm)
{
	uint32_t ctrl = DMA_CTRL_RUN;

	ASSERT_RC(0, vmm_pt_reg_write(vmm_passthrough(vm), 0, DMA_REG_CTRL,
				      &ctrl, 4));
}

static uint64_t vt_dma_writes(struct vmm *vm)
{
	uint64_t w = 0;

	ASSERT_RC(0, vmm_pt_reg_read(vmm_passthrough(vm), 0, DMA_REG_WRITES, &w,
				     8));
	return w;
}

static void vt_sync(struct vmm *vm, struct vmm_dirty *d,
		    struct vmm_sync_stats *ss)
{
	char msg[VMM_MSG_LEN] = "";
	int rc = vmm_dirty_sync(vm, d, ss, msg, sizeof(msg));

	if (rc)
		fprintf(stderr, "  vmm_dirty_sync: %s\n", msg);
	ASSERT_RC(0, rc);
}

/*
 * The pages the vCPUs may dirty besides the working set: the status page,
 * each vCPU's stack (GUEST_STACK_SIZE below its top) and the guest page
 * tables (PML4, PDPT, one PD per GiB mapped), whose accessed and dirty
 * bits the CPU sets. Nothing else is written by the payload.
 */
static uint64_t vt_cpu_extras(struct vmm *vm, struct vt_set *s)
{
	const struct vmm_config *c = vmm_config(vm);
	uint64_t top = c->mem > VT_LOW_MAX ?
			       VT_HIGH_BASE + c->mem - VT_LOW_MAX :
			       VT_HIGH_BASE;
	uint64_t ngib = (top + (1ULL << 30) - 1) >> 30;

	vt_set(s, GUEST_STATUS, PTT_PAGE);
	for (unsigned int i = 0; i < c->vcpus; i++)
		vt_set(s,
		       GUEST_STACK_TOP - (uint64_t)(i + 1) * GUEST_STACK_SIZE,
		       GUEST_STACK_SIZE);
	vt_set(s, GUEST_PML4, PTT_PAGE);
	vt_set(s, GUEST_PDPT, PTT_PAGE);
	vt_set(s, GUEST_PD, ngib * PTT_PAGE);
	return 1 + 2 * c->vcpus + 2 + ngib;
}

TEST_VARIANTS(vm, dirty_oracle, struct oracle_variant, oracles)
{
	struct vmm_config c = vt_begin(v->vcpus, v->ndev, v->hugetlb);
	uint64_t c0[GUEST_MAX_VCPUS], c1[GUEST_MAX_VCPUS];
	uint64_t seq0 = 0, seq1 = 0, per, granule = PTT_PAGE;
	uint64_t need_cpu = 0, may_cpu, need_dma = 0, may_dma = 0, found = 0;
	uint64_t missing = 0, extra = 0, clean_ws = 0;
	const volatile struct guest_status *st;
	const struct guest_params *p;
	struct vt_set need, may_c, may_d;
	struct vmm_sync_stats ss;
	char msg[VMM_MSG_LEN] = "";
	struct vmm_dirty d;
	struct vmm *vm;

	c.dirty_ring = v->ring;
	c.ring_entries = v->ring_entries;
	vm = vt_create(&c);
	p = vt_params(vm);
	st = vt_status(vm);
	per = p->ram_pages / p->ram_writers;
	if (v->ndev) {
		enum vmm_tracker t = VMM_TRACKER_AUTO;
		uint8_t *hva[VMM_MAX_RAM_REGIONS];

		ASSERT_RC(0, vmm_pt_choose_tracker(vmm_passthrough(vm), &t, msg,
						   sizeof(msg)));
		ASSERT_EQ(t, VMM_TRACKER_IOMMU);
		/*
		 * The emulated IOMMU maps 2 MiB leaves where IOVA and host
		 * address are both 2 MiB aligned (IOVA = GPA here), and
		 * reports a dirty leaf whole.
		 */
		vmm_ram(vm, NULL, NULL, hva);
		if (!((uintptr_t)hva[0] % VT_2M))
			granule = VT_2M;
	}
	ASSERT_RC(0, vmm_dirty_init_ram(vm, &d));
	ASSERT_RC(0, vmm_dirty_log_start(vm, msg, sizeof(msg)));
	ASSERT_RC(0, vmm_start(vm));
	vt_wait_running(vm, 16);

	/* Pause, quiesce the device, sync to clear. */
	vmm_pause(vm);
	if (v->ndev)
		seq0 = vt_dma_stop(vm);
	vt_sync(vm, &d, &ss);
	for (unsigned int i = 0; i < v->vcpus; i++)
		c0[i] = st[i].ram_pages;

	/* A short interval: until each source wrote a little. */
	vmm_dirty_clear(&d);
	if (v->ndev)
		vt_dma_run(vm);
	vmm_resume(vm);
	{
		uint64_t t0 = ptt_now_ms();
		bool enough;

		ptt_sleep_ms(200);
		do {
			enough = !vmm_failed(vm);
			for (unsigned int i = 0; i < v->vcpus; i++)
				if (p->roles[i] & GUEST_ROLE_RAM)
					enough &= st[i].ram_pages >= c0[i] + 64;
			if (v->ndev)
				enough &= vt_dma_writes(vm) >= seq0 + 16;
			if (!enough)
				ptt_sleep_ms(5);
		} while (!enough && ptt_now_ms() - t0 < PTT_WAIT_MS);
	}
	vmm_pause(vm);
	vt_expect_alive(vm);
	if (v->ndev)
		seq1 = vt_dma_stop(vm);
	vt_sync(vm, &d, &ss);
	for (unsigned int i = 0; i < v->vcpus; i++)
		c1[i] = st[i].ram_pages;

	/*
	 * The oracle. A writer's status counts pages written; page n of its
	 * life is page n % per of its slice, and its counter moves just
	 * after the write. So pages c0 + 1 .. c1 - 1 were written in the
	 * interval; pages c0 and c1 may have been (written before the
	 * counter moved, on either side of a pause).
	 */
	vt_set_init(vm, &need);
	vt_set_init(vm, &may_c);
	vt_set_init(vm, &may_d);
	for (unsigned int i = 0; i < v->vcpus; i++) {
		uint64_t start = p->ram_start + i * per * PTT_PAGE;

		if (!(p->roles[i] & GUEST_ROLE_RAM))
			continue;
		ASSERT_GT(c1[i], c0[i] + 1);
		for (uint64_t n = c0[i]; n <= c1[i] && n <= c0[i] + per; n++) {
			uint64_t gpa = start + (n % per) * PTT_PAGE;

			if (n > c0[i] && n < c1[i])
				vt_set(&need, gpa, 1);
			vt_set(&may_c, gpa, 1);
		}
	}
	need_cpu = vmm_dirty_count(&need.d);
	vt_cpu_extras(vm, &may_c);
	may_cpu = vmm_dirty_count(&may_c.d);

	/*
	 * The device: blocks of its window with a sequence number of the
	 * interval; those pages must be dirty, and with 2 MiB IOMMU leaves
	 * the rest of their leaf may be.
	 */
	if (v->ndev) {
		const struct guest_dev *gd = &p->dev[0];

		ASSERT_GT(seq1, seq0);
		for (uint64_t off = 0; off < gd->size; off += gd->block) {
			uint64_t iova = gd->window + off;
			const uint8_t *b = vt_hva(vm, iova);
			const struct dma_block *h = (const struct dma_block *)b;

			if (dma_block_check(b, gd->block, gd->index, iova) ||
			    h->seq < seq0 || h->seq >= seq1)
				continue;
			found++;
			vt_set(&need, iova, gd->block);
			vt_set(&may_d, iova & ~(granule - 1),
			       ((iova + gd->block + granule - 1) &
				~(granule - 1)) -
				       (iova & ~(granule - 1)));
		}
		/*
		 * Sequential: every block of the interval is there, unless a
		 * slow interval (a loaded machine) went round the window.
		 */
		EXPECT_EQ(found, seq1 - seq0 < gd->size / gd->block ?
					 seq1 - seq0 :
					 gd->size / gd->block);
		need_dma = found * (gd->block / PTT_PAGE);
		may_dma = vmm_dirty_count(&may_d.d);
	}

	/* Every written page is dirty; every dirty page is allowed. */
	for (unsigned int r = 0; r < d.n; r++) {
		for (uint64_t i = 0; i < d.r[r].npages; i++) {
			uint64_t gpa = d.r[r].gpa + i * PTT_PAGE;
			bool got = vmm_dirty_test(&d, gpa);

			if (vt_in(&need, gpa) && !got && missing++ < 4)
				fprintf(stderr,
					"  GPA 0x%llx written, not dirty\n",
					(unsigned long long)gpa);
			if (got && !vt_in(&need, gpa) && !vt_in(&may_c, gpa) &&
			    !vt_in(&may_d, gpa) && extra++ < 4)
				fprintf(stderr,
					"  GPA 0x%llx dirty, not written\n",
					(unsigned long long)gpa);
			if (!got && gpa >= p->ram_start &&
			    gpa < p->ram_start + p->ram_pages * PTT_PAGE)
				clean_ws++;
		}
	}
	EXPECT_EQ(missing, 0);
	EXPECT_EQ(extra, 0);
	/*
	 * The interval wrote part of the working set, so pages written
	 * before it must have been cleaned (unless a slow interval went
	 * round a whole slice).
	 */
	if (need_cpu + 2 * v->vcpus < p->ram_pages / 2)
		EXPECT_GT(clean_ws, 0);

	/* Each source's count: KVM saw the CPU's pages, the tracker DMA's. */
	EXPECT_GE(ss.cpu_pages, need_cpu);
	EXPECT_LE(ss.cpu_pages, may_cpu);
	EXPECT_GE(ss.dma_pages, need_dma);
	EXPECT_LE(ss.dma_pages, may_dma);
	if (granule == PTT_PAGE)
		EXPECT_EQ(ss.dma_pages, need_dma);
	EXPECT_EQ(ss.union_pages, vmm_dirty_count(&d));
	EXPECT_LE(ss.union_pages, ss.cpu_pages + ss.dma_pages);
	EXPECT_GE(ss.union_pages, need_cpu + need_dma);
	if (getenv("IODIRTY_TEST_VERBOSE"))
		fprintf(stderr,
			"  cpu %llu (need %llu, may %llu) dma %llu (need %llu, may %llu) union %llu, granule %llu\n",
			(unsigned long long)ss.cpu_pages,
			(unsigned long long)need_cpu,
			(unsigned long long)may_cpu,
			(unsigned long long)ss.dma_pages,
			(unsigned long long)need_dma,
			(unsigned long long)may_dma,
			(unsigned long long)ss.union_pages,
			(unsigned long long)granule);

	/*
	 * What the guest's driver saw of the device, and its own RAM, are
	 * sound; it may not have met a block yet: let it run until it has.
	 */
	{
		struct vmm_guest_stats gs;
		uint64_t t0 = ptt_now_ms();

		vmm_guest_stats(vm, &gs);
		if (v->ndev && !gs.dma_good) {
			vmm_resume(vm);
			while (!gs.dma_good &&
			       ptt_now_ms() - t0 < PTT_WAIT_MS) {
				ptt_sleep_ms(5);
				vmm_guest_stats(vm, &gs);
			}
			vmm_pause(vm);
			vmm_guest_stats(vm, &gs);
			EXPECT_GT(gs.dma_good, 0);
		}
		EXPECT_EQ(gs.dma_bad, 0);
	}
	vt_expect_writer_ok(vm);
	vmm_dirty_log_stop(vm);
	vmm_dirty_destroy(&need.d);
	vmm_dirty_destroy(&may_c.d);
	vmm_dirty_destroy(&may_d.d);
	vmm_dirty_destroy(&d);
	vmm_destroy(vm);
}
