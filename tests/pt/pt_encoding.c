// SPDX-License-Identifier: MIT
/*
 * pt_encoding.c - the engine's descriptors bit for bit, the control words
 * that gate its dirty updates, the errnos of its API, its table memory
 * accounting and how it unwinds when an allocation fails.
 *
 * Expected values are built here from the bit positions the specifications
 * give, not from the engine's headers:
 *   AMD IOMMU (pub. 48882) §2.2.3 PTE: PR 0, A 5, D 6, NextLevel 11:9,
 *       OA 51:12, FC 60, IR 61, IW 62; §2.2.2.1 DTE: V 0, TV 1, HAD 8:7,
 *       Mode 11:9
 *   VT-d (D51397) §9.8 second-stage entry: R 0, W 1, PS 7, A 8, D 9, SNP 11,
 *       ADDR 51:12; §9.6 PASID entry: P 0, AW 4:2, PGTT 8:6, SSADE 9
 *   Arm DDI 0487 D8.3: type 1:0, AttrIndx 4:2, AP[1] 6, AP[2] 7, SH 9:8,
 *       AF 10, nG 11, OA 47:12, DBM 51, PXN 53, UXN 54; SMMUv3 CD: T0SZ 5:0,
 *       V 31, HD 42, HA 43
 *   mock (Linux iommufd selftest, v6.19): the AMD bits over a 2 KiB page,
 *       OA 51:11; MOCK_DIRTY_TRACK bit 0
 */
#include <iodirty/alloc.h>

#include "pt_common.h"

#define BIT(n)	   (1ULL << (n))
#define MASK(h, l) ((~0ULL >> (63 - (h))) & (~0ULL << (l)))

#define AMD_PR	BIT(0)
#define AMD_A	BIT(5)
#define AMD_D	BIT(6)
#define AMD_OA	MASK(51, 12)
#define AMD_FC	BIT(60)
#define AMD_IR	BIT(61)
#define AMD_IW	BIT(62)
#define MOCK_OA MASK(51, 11)

#define VTD_R	 BIT(0)
#define VTD_W	 BIT(1)
#define VTD_PS	 BIT(7)
#define VTD_A	 BIT(8)
#define VTD_D	 BIT(9)
#define VTD_SNP	 BIT(11)
#define VTD_ADDR MASK(51, 12)

#define ARM_PAGE   3ULL
#define ARM_BLOCK  1ULL
#define ARM_ATTR_C (1ULL << 2)
#define ARM_AP1	   BIT(6)
#define ARM_AP2	   BIT(7)
#define ARM_SH_IS  (3ULL << 8)
#define ARM_AF	   BIT(10)
#define ARM_NG	   BIT(11)
#define ARM_OA	   MASK(47, 12)
#define ARM_DBM	   BIT(51)
#define ARM_PXN	   BIT(53)
#define ARM_UXN	   BIT(54)

#define AMD_DTE_HAD MASK(8, 7)
#define VTD_SSADE   BIT(9)
#define ARM_CD_HD   BIT(42)
#define ARM_CD_HA   BIT(43)
#define MOCK_TRACK  BIT(0)

/* An output address that fits every format and is aligned to 1 GiB. */
#define FAKE_PA 0x76540000000ULL

static struct pt_domain *dom_new(enum pt_format fmt, uint64_t pgsizes,
				 bool dirty)
{
	struct pt_config cfg = {
		.format = fmt,
		.pgsize_bitmap = pgsizes,
		.dirty_tracking = dirty,
	};
	struct pt_domain *dom = pt_domain_alloc(&cfg);

	ASSERT_FALSE(IS_ERR(dom));
	return dom;
}

static uint64_t leaf_at(struct pt_domain *dom, uint64_t iova,
			unsigned int *level)
{
	unsigned int lvl = 99;
	uint64_t e = 0;

	ASSERT_RC(0, pt_leaf_entry(dom, iova, &e, &lvl));
	if (level)
		*level = lvl;
	return e;
}

/* The descriptor a fresh leaf must have, from the specifications. */
static uint64_t want_leaf(enum pt_format fmt, uint64_t pa, unsigned int level,
			  unsigned int prot, bool dirty)
{
	uint64_t e = 0;

	switch (fmt) {
	case PT_FMT_AMDV1:
	case PT_FMT_MOCK:
		e = AMD_PR | (pa & (fmt == PT_FMT_MOCK ? MOCK_OA : AMD_OA));
		e |= prot & PT_PROT_READ ? AMD_IR : 0;
		e |= prot & PT_PROT_WRITE ? AMD_IW : 0;
		e |= prot & PT_PROT_CACHE ? AMD_FC : 0;
		break;
	case PT_FMT_VTDSS:
		e = pa & VTD_ADDR;
		e |= prot & PT_PROT_READ ? VTD_R : 0;
		e |= prot & PT_PROT_WRITE ? VTD_W : 0;
		e |= prot & PT_PROT_CACHE ? VTD_SNP : 0;
		e |= level ? VTD_PS : 0;
		break;
	case PT_FMT_ARM_S1:
		e = (pa & ARM_OA) | (level ? ARM_BLOCK : ARM_PAGE) | ARM_AP1 |
		    ARM_SH_IS | ARM_AF | ARM_NG;
		e |= prot & PT_PROT_CACHE ? ARM_ATTR_C : 0;
		if (!(prot & PT_PROT_WRITE))
			e |= ARM_AP2;
		else if (dirty)
			e |= ARM_DBM;
		e |= prot & PT_PROT_NOEXEC ? ARM_PXN | ARM_UXN : 0;
		break;
	default:
		break;
	}
	return e;
}

static const unsigned int enc_prots[] = {
	PT_PROT_READ,
	PT_PROT_WRITE,
	RW,
	PT_PROT_READ | PT_PROT_CACHE,
	RW | PT_PROT_CACHE,
	PT_PROT_READ | PT_PROT_NOEXEC,
	RW | PT_PROT_NOEXEC,
	RW | PT_PROT_CACHE | PT_PROT_NOEXEC,
};

TEST_VARIANTS(pt_encoding, fresh_leaf_bits, struct fmt_variant, pt_all_formats)
{
	uint64_t sizes = pt_format_pgsizes(v->format);

	for (int dirty = 0; dirty < 2; dirty++) {
		for (unsigned int bit = 0; bit < 64; bit++) {
			uint64_t size = 1ULL << bit, iova = 5 * size;

			if (!(sizes & size))
				continue;
			for (size_t i = 0; i < ARRAY_SIZE(enc_prots); i++) {
				unsigned int prot = enc_prots[i], level;
				struct pt_domain *dom;
				uint64_t e, pa = FAKE_PA + size;

				dom = dom_new(v->format, size, dirty);
				ASSERT_RC(0, pt_map(dom, iova, pa, size, prot));
				e = leaf_at(dom, iova, &level);
				EXPECT_EQ(level, (bit - ffs64(pt_format_granule(
								v->format))) /
							 9);
				EXPECT_EQ(e, want_leaf(v->format, pa, level,
						       prot, dirty));
				/* One descriptor covers the whole leaf. */
				EXPECT_EQ(leaf_at(dom, iova + size - 1, NULL),
					  e);
				pt_domain_free(dom);
			}
		}
	}
}

/* The mock's 2 KiB pages use bit 11 of the output address. */
TEST(pt_encoding, mock_odd_2k_page)
{
	struct pt_domain *dom = dom_new(PT_FMT_MOCK, 0, true);
	uint64_t pa = FAKE_PA + 3 * SZ_2K, got;

	ASSERT_RC(0, pt_map(dom, 7 * SZ_2K, pa, SZ_2K, RW));
	EXPECT_EQ(leaf_at(dom, 7 * SZ_2K, NULL), AMD_PR | AMD_IR | AMD_IW | pa);
	EXPECT_TRUE(leaf_at(dom, 7 * SZ_2K, NULL) & BIT(11));
	ASSERT_RC(0, pt_iova_to_phys(dom, 7 * SZ_2K + 5, &got, NULL));
	EXPECT_EQ(got, pa + 5);
	pt_domain_free(dom);
}

/* AMD v1, VT-d and mock: where the accessed and dirty bits live. */
struct ad_variant {
	const char *name;
	enum pt_format format;
	uint64_t a, d;
};

static const struct ad_variant ad_formats[] = {
	{ "amdv1", PT_FMT_AMDV1, AMD_A, AMD_D },
	{ "vtdss", PT_FMT_VTDSS, VTD_A, VTD_D },
	{ "mock", PT_FMT_MOCK, AMD_A, AMD_D },
};

/* Harvest [iova, iova + len) at one bit per granule into a u64. */
static uint64_t harvest64(struct pt_domain *dom, uint64_t iova, uint64_t len,
			  unsigned int flags)
{
	uint64_t gran = pt_format_granule(pt_domain_format(dom)), bits = 0;
	struct iova_bitmap *ib;

	ib = iova_bitmap_alloc(iova, len, gran, (uintptr_t)&bits, NULL);
	ASSERT_FALSE(IS_ERR(ib));
	EXPECT_RC(0, pt_read_and_clear_dirty(dom, iova, len, flags, ib));
	iova_bitmap_free(ib);
	return bits;
}

TEST_VARIANTS(pt_encoding, accessed_dirty_bits, struct ad_variant, ad_formats)
{
	uint64_t gran = pt_format_granule(v->format), huge = gran << 9;
	uint64_t iova = 64 * huge, hiova = 128 * huge, base, hbase, x = 7;
	struct pt_domain *dom = dom_new(v->format, 0, true);
	struct pt_mem mem;

	pt_mem_alloc(&mem, 2 * huge, huge);
	ASSERT_RC(0, pt_map(dom, iova, (uintptr_t)mem.base, gran, RW));
	ASSERT_RC(0, pt_map(dom, hiova, (uintptr_t)mem.base + huge, huge, RW));
	base = leaf_at(dom, iova, NULL);
	hbase = leaf_at(dom, hiova, NULL);
	EXPECT_EQ(base & (v->a | v->d), 0);

	/* Tracking off: the hardware sets neither bit. */
	ASSERT_RC(0, pt_dma_write(dom, iova, &x, 1, NULL));
	ASSERT_RC(0, pt_dma_read(dom, iova, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base);
	EXPECT_EQ(harvest64(dom, iova, 64 * gran, 0), 0);

	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	ASSERT_RC(0, pt_dma_read(dom, iova, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | v->a);
	ASSERT_RC(0, pt_dma_write(dom, iova, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | v->a | v->d);

	/* NO_CLEAR reports and keeps D; a clearing harvest keeps A only. */
	EXPECT_EQ(harvest64(dom, iova, 64 * gran, PT_DIRTY_NO_CLEAR), 1);
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | v->a | v->d);
	EXPECT_EQ(harvest64(dom, iova, 64 * gran, 0), 1);
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | v->a);
	EXPECT_EQ(harvest64(dom, iova, 64 * gran, 0), 0);

	/* pt_set_dirty() is a write without data. */
	ASSERT_RC(0, pt_set_dirty(dom, iova + 5));
	EXPECT_EQ(leaf_at(dom, iova, NULL) & v->d, v->d);

	/* Turning tracking off keeps what was dirty until harvested. */
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | v->a | v->d);
	EXPECT_EQ(harvest64(dom, iova, 64 * gran, 0), 1);
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | v->a);

	/*
	 * A huge leaf has one D bit: a write anywhere sets it, a harvest of
	 * part of the leaf reports that part and cleans all of it.
	 */
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	ASSERT_RC(0, pt_dma_write(dom, hiova + huge - 1, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, hiova, NULL), hbase | v->a | v->d);
	EXPECT_EQ(harvest64(dom, hiova + 8 * gran, 64 * gran, 0), ~0ULL);
	EXPECT_EQ(leaf_at(dom, hiova, NULL), hbase | v->a);
	EXPECT_EQ(harvest64(dom, hiova + 100 * gran, 64 * gran, 0), 0);
	EXPECT_EQ(mem.base[2 * huge - 1], x);

	pt_domain_free(dom);
	pt_mem_free(&mem);
}

/*
 * ARM: dirty is "writable-dirty" (DBM set, AP[2] clear); harvesting makes
 * the leaf writable-clean (AP[2] set) and the next write clears AP[2].
 */
TEST(pt_encoding, arm_dbm_ap2_transitions)
{
	struct pt_domain *dom = dom_new(PT_FMT_ARM_S1, 0, true);
	uint64_t iova = SZ_1G, ro = SZ_1G + SZ_2M, base, x = 3;
	struct pt_fault f;
	struct pt_mem mem;

	pt_mem_alloc(&mem, 2 * SZ_4K, SZ_4K);
	ASSERT_RC(0, pt_map(dom, iova, (uintptr_t)mem.base, SZ_4K, RW));
	ASSERT_RC(0, pt_map(dom, ro, (uintptr_t)mem.base + SZ_4K, SZ_4K,
			    PT_PROT_READ));
	base = leaf_at(dom, iova, NULL);
	/* A fresh writable leaf starts dirty. */
	EXPECT_EQ(base & (ARM_DBM | ARM_AP2), ARM_DBM);
	EXPECT_EQ(harvest64(dom, iova, 64 * SZ_4K, PT_DIRTY_NO_CLEAR), 1);
	EXPECT_EQ(leaf_at(dom, iova, NULL), base);
	EXPECT_EQ(harvest64(dom, iova, 64 * SZ_4K, 0), 1);
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | ARM_AP2);
	EXPECT_EQ(harvest64(dom, iova, 64 * SZ_4K, 0), 0);

	/* A read changes nothing; a write makes it writable-dirty again. */
	ASSERT_RC(0, pt_dma_read(dom, iova, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | ARM_AP2);
	ASSERT_RC(0, pt_dma_write(dom, iova, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base);
	EXPECT_EQ(harvest64(dom, iova, 64 * SZ_4K, 0), 1);
	EXPECT_EQ(leaf_at(dom, iova, NULL), base | ARM_AP2);

	/* "Tracking off" changes nothing on ARM: HA/HD stay set. */
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_TRUE(pt_dirty_tracking_enabled(dom));
	ASSERT_RC(0, pt_set_dirty(dom, iova));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base);
	EXPECT_EQ(harvest64(dom, iova, 64 * SZ_4K, 0), 1);

	/* A read-only leaf has AP[2] and no DBM: writes fault, never dirty. */
	EXPECT_EQ(leaf_at(dom, ro, NULL) & (ARM_DBM | ARM_AP2), ARM_AP2);
	EXPECT_RC(-EFAULT, pt_dma_write(dom, ro, &x, 1, &f));
	EXPECT_EQ(f.reason, PT_FAULT_PERMISSION);
	EXPECT_RC(0, pt_set_dirty(dom, ro));
	EXPECT_EQ(harvest64(dom, ro, 64 * SZ_4K, 0), 0);
	pt_domain_free(dom);

	/* Without dirty tracking: no DBM, AP[2] clear, writes leave no trace. */
	dom = dom_new(PT_FMT_ARM_S1, 0, false);
	ASSERT_RC(0, pt_map(dom, iova, (uintptr_t)mem.base, SZ_4K, RW));
	base = leaf_at(dom, iova, NULL);
	EXPECT_EQ(base & (ARM_DBM | ARM_AP2), 0);
	ASSERT_RC(0, pt_dma_write(dom, iova, &x, 1, NULL));
	EXPECT_EQ(leaf_at(dom, iova, NULL), base);
	EXPECT_FALSE(pt_dirty_tracking_enabled(dom));
	pt_domain_free(dom);
	pt_mem_free(&mem);
}

/* Control words: the enable bits and the fields around them. */
TEST(pt_encoding, ctrl_amdv1_dte)
{
	struct pt_config cfg = { .format = PT_FMT_AMDV1,
				 .va_lg2 = 57,
				 .dirty_tracking = true };
	struct pt_domain *dom = dom_new(PT_FMT_AMDV1, 0, true);
	uint64_t c = pt_domain_ctrl(dom);

	EXPECT_EQ(c & 3, 3); /* V, TV */
	EXPECT_EQ((c >> 9) & 7, 4); /* Mode: 4 levels */
	EXPECT_NE(c & AMD_OA, 0); /* root pointer */
	EXPECT_EQ(c & AMD_DTE_HAD, 0);
	EXPECT_FALSE(pt_dirty_tracking_enabled(dom));
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	EXPECT_EQ(pt_domain_ctrl(dom), c | AMD_DTE_HAD);
	EXPECT_TRUE(pt_dirty_tracking_enabled(dom));
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_EQ(pt_domain_ctrl(dom), c);
	pt_domain_free(dom);

	dom = pt_domain_alloc(&cfg);
	ASSERT_FALSE(IS_ERR(dom));
	EXPECT_EQ((pt_domain_ctrl(dom) >> 9) & 7, 5);
	pt_domain_free(dom);
}

TEST(pt_encoding, ctrl_vtdss_pasid)
{
	struct pt_config cfg = { .format = PT_FMT_VTDSS,
				 .va_lg2 = 57,
				 .dirty_tracking = true };
	struct pt_domain *dom = dom_new(PT_FMT_VTDSS, 0, true);
	uint64_t c = pt_domain_ctrl(dom);

	EXPECT_EQ(c & 1, 1); /* P */
	EXPECT_EQ((c >> 2) & 7, 2); /* AW: 48-bit, 4 levels */
	EXPECT_EQ((c >> 6) & 7, 2); /* PGTT: second stage only */
	EXPECT_NE(c & MASK(63, 12), 0); /* SSPTPTR */
	EXPECT_EQ(c & VTD_SSADE, 0);
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	EXPECT_EQ(pt_domain_ctrl(dom), c | VTD_SSADE);
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_EQ(pt_domain_ctrl(dom), c);
	pt_domain_free(dom);

	dom = pt_domain_alloc(&cfg);
	ASSERT_FALSE(IS_ERR(dom));
	EXPECT_EQ((pt_domain_ctrl(dom) >> 2) & 7, 3);
	pt_domain_free(dom);
}

TEST(pt_encoding, ctrl_arm_cd)
{
	struct pt_domain *dom = dom_new(PT_FMT_ARM_S1, 0, true);
	uint64_t c = pt_domain_ctrl(dom);

	EXPECT_EQ(c & MASK(5, 0), 16); /* T0SZ = 64 - 48 */
	EXPECT_NE(c & BIT(31), 0); /* V */
	EXPECT_EQ(c & (ARM_CD_HA | ARM_CD_HD), ARM_CD_HA | ARM_CD_HD);
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_EQ(pt_domain_ctrl(dom), c);
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	EXPECT_EQ(pt_domain_ctrl(dom), c);
	pt_domain_free(dom);

	dom = dom_new(PT_FMT_ARM_S1, 0, false);
	c = pt_domain_ctrl(dom);
	EXPECT_EQ(c & (ARM_CD_HA | ARM_CD_HD), 0);
	EXPECT_RC(-EOPNOTSUPP, pt_set_dirty_tracking(dom, true));
	EXPECT_EQ(pt_domain_ctrl(dom), c);
	pt_domain_free(dom);
}

TEST(pt_encoding, ctrl_mock_flags)
{
	struct pt_domain *dom = dom_new(PT_FMT_MOCK, 0, true);

	EXPECT_EQ(pt_domain_ctrl(dom), 0);
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	EXPECT_EQ(pt_domain_ctrl(dom), MOCK_TRACK);
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_EQ(pt_domain_ctrl(dom), 0);
	pt_domain_free(dom);
}

/* ------------------------------------------------------------------ */
/* The API's errnos */

TEST(pt_api, format_registry)
{
	static const char *const names[PT_FMT_NR] = {
		[PT_FMT_AMDV1] = "amdv1",
		[PT_FMT_VTDSS] = "vtdss",
		[PT_FMT_ARM_S1] = "arm-s1",
		[PT_FMT_MOCK] = "mock",
	};

	for (unsigned int i = 0; i < PT_FMT_NR; i++) {
		enum pt_format f = PT_FMT_NR;

		EXPECT_EQ(strcmp(pt_format_name((enum pt_format)i), names[i]),
			  0);
		EXPECT_RC(0, pt_format_parse(names[i], &f));
		EXPECT_EQ(f, i);
	}
	EXPECT_RC(-EINVAL, pt_format_parse("amd", &(enum pt_format){ 0 }));
	EXPECT_RC(-EINVAL, pt_format_parse("", &(enum pt_format){ 0 }));
	EXPECT_EQ(strcmp(pt_format_name(PT_FMT_NR), "unknown"), 0);
	EXPECT_EQ(pt_format_granule(PT_FMT_AMDV1), SZ_4K);
	EXPECT_EQ(pt_format_granule(PT_FMT_MOCK), SZ_2K);
	EXPECT_EQ(pt_format_granule(PT_FMT_NR), 0);
	EXPECT_EQ(pt_format_pgsizes(PT_FMT_VTDSS), SZ_4K | SZ_2M | SZ_1G);
	EXPECT_EQ(pt_format_pgsizes(PT_FMT_ARM_S1), SZ_4K | SZ_2M | SZ_1G);
	EXPECT_EQ(pt_format_pgsizes(PT_FMT_MOCK), SZ_2K | SZ_1M);
	EXPECT_EQ(pt_format_pgsizes(PT_FMT_NR), 0);
}

static long alloc_rc(enum pt_format fmt, unsigned int va_lg2, uint64_t pgsizes)
{
	struct pt_config cfg = { .format = fmt,
				 .va_lg2 = va_lg2,
				 .pgsize_bitmap = pgsizes };
	struct pt_domain *dom = pt_domain_alloc(&cfg);

	if (IS_ERR(dom))
		return PTR_ERR(dom);
	pt_domain_free(dom);
	return 0;
}

TEST(pt_api, domain_alloc_errnos)
{
	static const struct {
		enum pt_format fmt;
		unsigned int min_va, max_va, def_va;
	} f[] = {
		{ PT_FMT_AMDV1, 22, 57, 48 },
		{ PT_FMT_VTDSS, 22, 57, 48 },
		{ PT_FMT_ARM_S1, 22, 48, 48 },
		{ PT_FMT_MOCK, 21, 56, 38 },
	};
	struct pt_config cfg = { .format = PT_FMT_NR };

	EXPECT_EQ(PTR_ERR(pt_domain_alloc(&cfg)), -EINVAL);
	cfg.format = (enum pt_format) - 1;
	EXPECT_EQ(PTR_ERR(pt_domain_alloc(&cfg)), -EINVAL);

	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		uint64_t all = pt_format_pgsizes(f[i].fmt);
		struct pt_domain *dom;

		/* One table level must fit; no more than the format has. */
		EXPECT_EQ(alloc_rc(f[i].fmt, f[i].min_va - 1, 0), -EINVAL);
		EXPECT_EQ(alloc_rc(f[i].fmt, f[i].min_va, 0), 0);
		EXPECT_EQ(alloc_rc(f[i].fmt, f[i].max_va, 0), 0);
		EXPECT_EQ(alloc_rc(f[i].fmt, f[i].max_va + 1, 0), -EINVAL);
		EXPECT_EQ(alloc_rc(f[i].fmt, 64, 0), -EINVAL);
		/* Sizes the format cannot encode. */
		EXPECT_EQ(alloc_rc(f[i].fmt, 0, all << 1), -EINVAL);
		EXPECT_EQ(alloc_rc(f[i].fmt, 0, all | (all << 1)), -EINVAL);
		EXPECT_EQ(alloc_rc(f[i].fmt, 0, 1), -EINVAL);

		cfg = (struct pt_config){ .format = f[i].fmt };
		dom = pt_domain_alloc(&cfg);
		ASSERT_FALSE(IS_ERR(dom));
		EXPECT_EQ(pt_domain_format(dom), f[i].fmt);
		EXPECT_EQ(pt_domain_va_lg2(dom), f[i].def_va);
		EXPECT_EQ(pt_domain_pgsizes(dom), all);
		EXPECT_EQ(pt_domain_table_bytes(dom), 4096);
		pt_domain_free(dom);
	}
	EXPECT_EQ(alloc_rc(PT_FMT_AMDV1, 0, SZ_2K), -EINVAL);
	EXPECT_EQ(alloc_rc(PT_FMT_MOCK, 0, SZ_4K), -EINVAL);
	EXPECT_EQ(alloc_rc(PT_FMT_AMDV1, 0, 1ULL << 39), -EINVAL);

	/*
	 * A 30-bit space has two levels (4 KiB and 2 MiB entries): a 1 GiB
	 * leaf has nowhere to go, so asking only for it asks for nothing
	 * usable, and the default sizes leave it out.
	 */
	EXPECT_EQ(alloc_rc(PT_FMT_AMDV1, 30, SZ_1G), -EINVAL);
	cfg = (struct pt_config){ .format = PT_FMT_VTDSS, .va_lg2 = 30 };
	{
		struct pt_domain *dom = pt_domain_alloc(&cfg);

		ASSERT_FALSE(IS_ERR(dom));
		EXPECT_EQ(pt_domain_pgsizes(dom), SZ_4K | SZ_2M);
		pt_domain_free(dom);
	}
}

TEST_VARIANTS(pt_api, map_errnos, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format), huge = g << 9;
	struct pt_domain *dom = dom_new(v->format, 0, true);
	uint64_t top = 1ULL << pt_domain_va_lg2(dom), x = 256 * huge, pa;
	uint64_t pa0 = FAKE_PA;

	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0, g, 0));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0, g, PT_PROT_CACHE));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0, g, PT_PROT_NOEXEC));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0, 0, RW));
	EXPECT_RC(-EINVAL, pt_map(dom, x + g / 2, pa0, g, RW));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0 + 1, g, RW));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0, g + 8, RW));
	EXPECT_RC(-EOVERFLOW, pt_map(dom, -g, pa0, 2 * g, RW));
	EXPECT_RC(-EOVERFLOW, pt_map(dom, x, -g, 2 * g, RW));
	EXPECT_RC(-ERANGE, pt_map(dom, top - g, pa0, 2 * g, RW));
	EXPECT_RC(-ERANGE, pt_map(dom, top, pa0, g, RW));
	EXPECT_RC(-ENOENT, pt_iova_to_phys(dom, x, &pa, NULL));
	EXPECT_EQ(pt_domain_table_bytes(dom), 4096);

	/* The last page of the space is mappable. */
	EXPECT_RC(0, pt_map(dom, top - g, pa0, g, RW));
	EXPECT_RC(0, pt_iova_to_phys(dom, top - 1, &pa, NULL));
	EXPECT_EQ(pa, pa0 + g - 1);
	EXPECT_RC(-ENOENT, pt_iova_to_phys(dom, top, &pa, NULL));

	/* Overlap anywhere is -EEXIST and changes nothing. */
	ASSERT_RC(0, pt_map(dom, x, pa0, 4 * g, RW));
	ASSERT_RC(0, pt_map(dom, x + huge, pa0 + huge, huge, PT_PROT_READ));
	EXPECT_RC(-EEXIST, pt_map(dom, x - g, pa0, 2 * g, RW));
	EXPECT_RC(-EEXIST, pt_map(dom, x + 3 * g, pa0, 2 * g, RW));
	EXPECT_RC(-EEXIST, pt_map(dom, x + g, pa0, g, RW));
	EXPECT_RC(-EEXIST, pt_map(dom, x - huge, pa0, 2 * huge, RW));
	EXPECT_RC(-EEXIST, pt_map(dom, x + huge + 5 * g, pa0, g, RW));
	EXPECT_RC(-EEXIST, pt_map(dom, x + 2 * huge - g, pa0, 2 * g, RW));
	EXPECT_RC(-ENOENT, pt_iova_to_phys(dom, x - g, &pa, NULL));
	EXPECT_RC(-ENOENT, pt_iova_to_phys(dom, x + 4 * g, &pa, NULL));
	EXPECT_RC(-ENOENT, pt_iova_to_phys(dom, x + 2 * huge, &pa, NULL));
	EXPECT_RC(0, pt_iova_to_phys(dom, x + 3 * g, &pa, NULL));
	EXPECT_EQ(pa, pa0 + 3 * g);
	EXPECT_EQ(pt_unmap(dom, x, 4 * g), (int64_t)(4 * g));
	EXPECT_EQ(pt_unmap(dom, x + huge, huge), (int64_t)huge);
	pt_domain_free(dom);

	/* The domain's smallest size sets the alignment, not the format's. */
	dom = dom_new(v->format, huge, false);
	EXPECT_RC(-EINVAL, pt_map(dom, x + g, pa0, huge, RW));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0 + g, huge, RW));
	EXPECT_RC(-EINVAL, pt_map(dom, x, pa0, huge + g, RW));
	EXPECT_RC(0, pt_map(dom, x, pa0, huge, RW));
	/* A map may narrow the sizes, never widen them. */
	EXPECT_RC(-EINVAL, pt_map_pgsizes(dom, x + huge, pa0, g, RW, g));
	pt_domain_free(dom);

	/* pt_map_pgsizes(): only the domain's sizes in @pgsizes count. */
	dom = dom_new(v->format, 0, false);
	EXPECT_RC(-EINVAL, pt_map_pgsizes(dom, x, pa0, huge, RW, g << 1));
	EXPECT_RC(-EINVAL, pt_map_pgsizes(dom, x, pa0, huge, 0, g));
	EXPECT_RC(-EINVAL, pt_map_pgsizes(dom, x + g, pa0, huge, RW, huge));
	EXPECT_RC(-EINVAL, pt_map_pgsizes(dom, x, pa0 + g, huge, RW, huge));
	EXPECT_EQ(pt_domain_table_bytes(dom), 4096);
	EXPECT_RC(0, pt_map_pgsizes(dom, x, pa0, huge, RW, g | (g << 1)));
	EXPECT_RC(0, pt_map_pgsizes(dom, x + huge, pa0, huge, RW, 0));
	{
		unsigned int level;
		uint64_t size;

		leaf_at(dom, x + huge - 1, &level);
		EXPECT_EQ(level, 0);
		leaf_at(dom, x + huge, &level);
		EXPECT_EQ(level, 1);
		EXPECT_RC(0, pt_iova_to_phys(dom, x + huge - 1, &pa, &size));
		EXPECT_EQ(pa, pa0 + huge - 1);
		EXPECT_EQ(size, g);
	}
	EXPECT_RC(-EEXIST, pt_map_pgsizes(dom, x + huge, pa0, g, RW, g));
	pt_domain_free(dom);
}

TEST_VARIANTS(pt_api, unmap_errnos, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format);
	struct pt_domain *dom = dom_new(v->format, 0, true);
	uint64_t top = 1ULL << pt_domain_va_lg2(dom);

	EXPECT_EQ(pt_unmap(dom, g, 0), -EINVAL);
	EXPECT_EQ(pt_unmap(dom, g + 1, g), -EINVAL);
	EXPECT_EQ(pt_unmap(dom, g, g - 1), -EINVAL);
	EXPECT_EQ(pt_unmap(dom, -g, 2 * g), -EOVERFLOW);
	EXPECT_EQ(pt_unmap(dom, top - g, 2 * g), -ERANGE);
	EXPECT_EQ(pt_unmap_read_dirty(dom, top, g, NULL), -ERANGE);
	EXPECT_EQ(pt_unmap(dom, g, g), 0);
	EXPECT_EQ(pt_unmap(dom, 0, top), 0);
	pt_domain_free(dom);
}

TEST_VARIANTS(pt_api, dirty_errnos, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format), x = 1000 * g, pa;
	struct pt_domain *dom = dom_new(v->format, 0, false);
	uint64_t top = 1ULL << pt_domain_va_lg2(dom);
	bool arm = v->format == PT_FMT_ARM_S1;

	/* Not allocated for tracking: no dirty ops at all. */
	EXPECT_RC(-EOPNOTSUPP, pt_read_and_clear_dirty(dom, 0, g, 0, NULL));
	EXPECT_RC(-EOPNOTSUPP, pt_read_and_clear_dirty(dom, 0, g, 2, NULL));
	EXPECT_RC(-EOPNOTSUPP, pt_set_dirty_tracking(dom, true));
	EXPECT_RC(-EOPNOTSUPP, pt_set_dirty_tracking(dom, false));
	EXPECT_FALSE(pt_dirty_tracking_enabled(dom));
	ASSERT_RC(0, pt_map(dom, x, FAKE_PA, g, RW));
	EXPECT_RC(-EINVAL, pt_set_dirty(dom, x));
	pt_domain_free(dom);

	dom = dom_new(v->format, 0, true);
	EXPECT_RC(-EINVAL, pt_read_and_clear_dirty(dom, 0, g, 2, NULL));
	EXPECT_RC(-EINVAL, pt_read_and_clear_dirty(dom, 0, g, ~0u, NULL));
	EXPECT_RC(-EINVAL, pt_read_and_clear_dirty(dom, 0, 0, 0, NULL));
	EXPECT_RC(-EINVAL, pt_read_and_clear_dirty(dom, 1, g, 0, NULL));
	EXPECT_RC(-EINVAL, pt_read_and_clear_dirty(dom, 0, g + 1, 0, NULL));
	EXPECT_RC(-EOVERFLOW, pt_read_and_clear_dirty(dom, -g, 2 * g, 0, NULL));
	EXPECT_RC(-ERANGE,
		  pt_read_and_clear_dirty(dom, top - g, 2 * g, 0, NULL));
	EXPECT_RC(0, pt_read_and_clear_dirty(dom, 0, top, 0, NULL));
	EXPECT_RC(0, pt_read_and_clear_dirty(dom, 0, top, PT_DIRTY_NO_CLEAR,
					     NULL));

	/* pt_set_dirty: only while tracking; only where something is mapped. */
	ASSERT_RC(0, pt_map(dom, x, FAKE_PA, g, RW));
	EXPECT_RC(arm ? 0 : -EINVAL, pt_set_dirty(dom, x));
	ASSERT_RC(0, pt_set_dirty_tracking(dom, true));
	EXPECT_TRUE(pt_dirty_tracking_enabled(dom));
	EXPECT_RC(0, pt_set_dirty(dom, x + g - 1));
	EXPECT_RC(-ENOENT, pt_set_dirty(dom, x + g));
	EXPECT_RC(-ENOENT, pt_set_dirty(dom, top));
	ASSERT_RC(0, pt_set_dirty_tracking(dom, false));
	EXPECT_EQ(pt_dirty_tracking_enabled(dom), arm);
	EXPECT_RC(0, pt_iova_to_phys(dom, x + 3, &pa, NULL));
	EXPECT_EQ(pa, FAKE_PA + 3);
	pt_domain_free(dom);
}

TEST_VARIANTS(pt_api, dma_faults, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format), x = 1000 * g;
	struct pt_domain *dom = dom_new(v->format, 0, true);
	uint64_t top = 1ULL << pt_domain_va_lg2(dom);
	uint8_t out[64], in[64];
	struct pt_fault f;
	struct pt_mem mem;

	pt_mem_alloc(&mem, 4 * g, g);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i + 1);
	ASSERT_RC(0, pt_map(dom, x, (uintptr_t)mem.base, g, RW));
	ASSERT_RC(0,
		  pt_map(dom, x + g, (uintptr_t)mem.base + g, g, PT_PROT_READ));
	ASSERT_RC(0, pt_map(dom, x + 2 * g, (uintptr_t)mem.base + 2 * g, g,
			    PT_PROT_WRITE));

	/* Zero bytes: no access, no fault. */
	memset(&f, 0xff, sizeof(f));
	EXPECT_RC(0, pt_dma_write(dom, top, out, 0, &f));
	EXPECT_EQ(f.reason, PT_FAULT_NONE);

	/* The bytes before the fault land; the fault names the first byte. */
	memset(&f, 0, sizeof(f));
	EXPECT_RC(-EFAULT, pt_dma_write(dom, x + g - 10, out, 20, &f));
	EXPECT_EQ(f.reason, PT_FAULT_PERMISSION);
	EXPECT_EQ(f.iova, x + g);
	EXPECT_TRUE(f.write);
	EXPECT_MEMEQ(mem.base + g - 10, out, 10);
	EXPECT_EQ(mem.base[g], 0);

	EXPECT_RC(-EFAULT, pt_dma_write(dom, x - 4, out, 8, &f));
	EXPECT_EQ(f.reason, PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(f.iova, x - 4);
	EXPECT_RC(-EFAULT, pt_dma_write(dom, x + 3 * g - 1, out, 2, &f));
	EXPECT_EQ(f.reason, PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(f.iova, x + 3 * g);
	EXPECT_RC(-EFAULT, pt_dma_read(dom, x - 1, in, 2, &f));
	EXPECT_EQ(f.reason, PT_FAULT_NOT_PRESENT);
	EXPECT_EQ(f.iova, x - 1);
	EXPECT_FALSE(f.write);
	EXPECT_RC(-EFAULT, pt_dma_write(dom, top + 8, out, 1, &f));
	EXPECT_EQ(f.reason, PT_FAULT_RANGE);
	EXPECT_EQ(f.iova, top + 8);
	EXPECT_RC(-EFAULT, pt_dma_read(dom, top - 1, in, 1, NULL));

	/* A write-only page: readable on ARM only (no write-only there). */
	memset(in, 0, sizeof(in));
	EXPECT_RC(0, pt_dma_write(dom, x + 2 * g, out, 8, NULL));
	if (v->format == PT_FMT_ARM_S1) {
		EXPECT_RC(0, pt_dma_read(dom, x + 2 * g, in, 8, &f));
		EXPECT_MEMEQ(in, out, 8);
	} else {
		EXPECT_RC(-EFAULT, pt_dma_read(dom, x + 2 * g, in, 8, &f));
		EXPECT_EQ(f.reason, PT_FAULT_PERMISSION);
		EXPECT_EQ(f.iova, x + 2 * g);
		EXPECT_FALSE(f.write);
	}
	EXPECT_RC(0, pt_dma_read(dom, x + g - 10, in, 20, NULL));
	EXPECT_MEMEQ(in, out, 10);
	pt_domain_free(dom);
	pt_mem_free(&mem);
}

/* ------------------------------------------------------------------ */
/* Table memory */

static unsigned int dom_levels(struct pt_domain *dom)
{
	unsigned int g = ffs64(pt_format_granule(pt_domain_format(dom)));

	return DIV_ROUND_UP(pt_domain_va_lg2(dom) - g, 9);
}

TEST_VARIANTS(pt_tables, accounting, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format), huge = g << 9;
	uint64_t span = huge << 9; /* what one level-1 table maps */
	uint64_t x = 4 * span, pa = FAKE_PA;
	struct pt_domain *dom = dom_new(v->format, g, false);
	unsigned int levels = dom_levels(dom);
	uint64_t t = 4096;

	/*
	 * One level-1 table's worth of granule leaves: the root, one table
	 * on each level below it down to level 1, and 512 leaf tables (on
	 * 4 levels: 1 + 1 + 1 + 512).
	 */
	EXPECT_EQ(pt_domain_table_bytes(dom), t);
	ASSERT_RC(0, pt_map(dom, x, pa, span, RW));
	EXPECT_EQ(pt_domain_table_bytes(dom), (levels - 1 + 512) * t);
	EXPECT_EQ(pt_domain_table_bytes_peak(dom), (levels - 1 + 512) * t);
	/* Unmapping it frees the tables it covered, not those above. */
	EXPECT_EQ(pt_unmap(dom, x, span), (int64_t)span);
	EXPECT_EQ(pt_domain_table_bytes(dom), (levels - 2) * t);
	EXPECT_EQ(pt_unmap(dom, 0, 1ULL << pt_domain_va_lg2(dom)), 0);
	EXPECT_EQ(pt_domain_table_bytes(dom), t);
	EXPECT_EQ(pt_domain_table_bytes_peak(dom), (levels - 1 + 512) * t);
	pt_domain_free(dom);

	/*
	 * All sizes, ragged: a granule, a huge leaf, a granule. Two leaf
	 * tables, one level-1 table and the chain above it.
	 */
	dom = dom_new(v->format, 0, false);
	ASSERT_RC(0,
		  pt_map(dom, x + huge - g, pa + huge - g, huge + 2 * g, RW));
	EXPECT_EQ(pt_domain_table_bytes(dom), (levels - 1 + 2) * t);

	/* A huge map over a leaf table emptied by unmap replaces it. */
	EXPECT_EQ(pt_unmap(dom, x + 2 * huge, g), (int64_t)g);
	EXPECT_EQ(pt_domain_table_bytes(dom), (levels - 1 + 2) * t);
	ASSERT_RC(0, pt_map(dom, x + 2 * huge, pa, huge, RW));
	EXPECT_EQ(pt_domain_table_bytes(dom), (levels - 1 + 1) * t);
	EXPECT_EQ(pt_unmap(dom, x, span), (int64_t)(2 * huge + g));
	EXPECT_EQ(pt_domain_table_bytes(dom), (levels - 2) * t);
	pt_domain_free(dom);
}

/* Five levels when the space needs them; a top-level huge leaf needs none. */
TEST(pt_tables, levels)
{
	struct pt_config cfg = { .format = PT_FMT_VTDSS, .va_lg2 = 57 };
	struct pt_domain *dom = pt_domain_alloc(&cfg);

	ASSERT_FALSE(IS_ERR(dom));
	ASSERT_RC(0, pt_map(dom, 1ULL << 56, FAKE_PA, SZ_4K, RW));
	EXPECT_EQ(pt_domain_table_bytes(dom), 5 * 4096);
	ASSERT_RC(0, pt_map(dom, 1ULL << 55, FAKE_PA, SZ_1G, RW));
	EXPECT_EQ(pt_domain_table_bytes(dom), 7 * 4096);
	pt_domain_free(dom);

	dom = dom_new(PT_FMT_AMDV1, 0, false);
	ASSERT_RC(0, pt_map(dom, 7 * SZ_1G, FAKE_PA, SZ_1G, RW));
	EXPECT_EQ(pt_domain_table_bytes(dom), 2 * 4096);
	pt_domain_free(dom);
}

/* ------------------------------------------------------------------ */
/* Allocation failure */

TEST(pt_fail_nth, domain_alloc)
{
	struct pt_config cfg = { .format = PT_FMT_AMDV1 };
	struct pt_domain *dom;
	unsigned long n;

	for (n = 1; n < 16; n++) {
		alloc_fail_nth_set(n);
		dom = pt_domain_alloc(&cfg);
		alloc_fail_nth_set(0);
		if (!IS_ERR(dom))
			break;
		EXPECT_EQ(PTR_ERR(dom), -ENOMEM);
	}
	/* The domain and its root. */
	EXPECT_EQ(n, 3);
	ASSERT_FALSE(IS_ERR(dom));
	pt_domain_free(dom);
}

/*
 * Fail the 1st, 2nd, ... allocation of a map that needs a chain of tables
 * on each side of a root-entry boundary, until it succeeds. Each failure
 * is -ENOMEM and leaves the domain as it was: nothing new mapped, no table
 * left behind.
 */
static void sweep_map(struct pt_domain *dom, uint64_t iova, uint64_t pa,
		      uint64_t len, unsigned int want_allocs)
{
	uint64_t before = pt_domain_table_bytes(dom), got;
	unsigned long n;
	int rc = -1;

	for (n = 1; n < 64; n++) {
		alloc_fail_nth_set(n);
		rc = pt_map(dom, iova, pa, len, RW);
		if (!rc) {
			EXPECT_FALSE(alloc_fail_nth_fired());
			alloc_fail_nth_set(0);
			break;
		}
		EXPECT_TRUE(alloc_fail_nth_fired());
		alloc_fail_nth_set(0);
		EXPECT_RC(-ENOMEM, rc);
		EXPECT_EQ(pt_domain_table_bytes(dom), before);
		for (uint64_t off = 0; off < len; off += len / 8)
			EXPECT_RC(-ENOENT,
				  pt_iova_to_phys(dom, iova + off, &got, NULL));
	}
	ASSERT_RC(0, rc);
	EXPECT_EQ(n - 1, want_allocs);
	EXPECT_EQ(pt_domain_table_bytes(dom), before + want_allocs * 4096);
	for (uint64_t off = 0; off < len; off += len / 8) {
		EXPECT_RC(0, pt_iova_to_phys(dom, iova + off, &got, NULL));
		EXPECT_EQ(got, pa + off);
	}
}

TEST_VARIANTS(pt_fail_nth, map, struct fmt_variant, pt_all_formats)
{
	uint64_t g = pt_format_granule(v->format), huge = g << 9;
	struct pt_domain *dom = dom_new(v->format, 0, true);
	unsigned int levels = dom_levels(dom);
	uint64_t root_entry = g << (9 * (levels - 1));
	uint64_t iova = root_entry - huge - g, pa = FAKE_PA + huge - g;

	/*
	 * A granule, two huge leaves, a granule: every level below the root
	 * on both sides of the boundary.
	 */
	sweep_map(dom, iova, pa, 2 * huge + 2 * g, 2 * (levels - 1));
	EXPECT_EQ(pt_domain_table_bytes(dom), (1 + 2 * (levels - 1)) * 4096);

	/* Next to existing mappings, sharing some of their tables. */
	sweep_map(dom, root_entry - 3 * huge, FAKE_PA, huge, 0);
	sweep_map(dom, root_entry - 5 * huge + g, FAKE_PA + g, 8 * g, 1);
	sweep_map(dom, 3 * root_entry + huge - g, pa, 2 * g, levels);

	EXPECT_EQ(pt_unmap(dom, 0, 1ULL << pt_domain_va_lg2(dom)),
		  (int64_t)(3 * huge + 12 * g));
	EXPECT_EQ(pt_domain_table_bytes(dom), 4096);
	pt_domain_free(dom);
}
