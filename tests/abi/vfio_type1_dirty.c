// SPDX-License-Identifier: MIT
/*
 * vfio_type1_dirty.c - the type1 backend's software dirty tracking,
 * VFIO_IOMMU_DIRTY_PAGES and UNMAP_DMA with GET_DIRTY_BITMAP, with the
 * rules of kernel-abi.md §4.2 (Linux vfio_iommu_type1.c): v1 is EACCES;
 * one operation per call; a bitmap of the smallest page size, big enough,
 * for a range that cuts no mapping; and what counts as dirty: the pages a
 * mediated device's driver pinned (exactly those, and again in every
 * report while pinned), or, once an IOMMU-backed device is in the
 * container, every page of every mapping, every time.
 */
#include "abi_util.h"

#define IOVA	 0x40000000ULL
#define NPAGES	 512
#define MAP_SIZE (NPAGES * ABI_PAGE)
#define WIN_FIRST 64
#define WIN_PAGES 256

#define D_START	 VFIO_IOMMU_DIRTY_PAGES_FLAG_START
#define D_STOP	 VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP
#define D_GET	 VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP

/* A type1 v2 container with the groups of devices [0, @n). */
struct t1 {
	int container, group[4], dev[4];
	unsigned int n;
	uint8_t *buf;
};

static void t1_init(struct t1 *t, const char *devices, unsigned int n,
		    unsigned long type)
{
	abi_vfio_host(devices, NULL);
	memset(t, 0, sizeof(*t));
	t->n = n;
	t->container = abi_vfio_container_open();
	for (unsigned int i = 0; i < n; i++) {
		t->group[i] = abi_vfio_group_open(i);
		ASSERT_GE(t->group[i], 0);
		ASSERT_EQ(abi_vfio_set_container(t->group[i], t->container), 0);
	}
	ASSERT_EQ(ioctl(t->container, VFIO_SET_IOMMU, type), 0);
	for (unsigned int i = 0; i < n; i++) {
		t->dev[i] = abi_vfio_group_device(t->group[i], i);
		ASSERT_GE(t->dev[i], 0);
	}
	t->buf = abi_buf(MAP_SIZE, ABI_PAGE);
	ASSERT_EQ(abi_type1_map(t->container, t->buf, IOVA, MAP_SIZE,
				ABI_DMA_MAP_RW),
		  0);
}

/* Device @i writes @n more random blocks in the window, then stops. */
static void t1_dma(struct t1 *t, unsigned int i, uint64_t n)
{
	uint64_t w = abi_reg64(t->dev[i], DMA_REG_WRITES);

	abi_dma_setup(t->dev[i], IOVA + WIN_FIRST * ABI_PAGE,
		      WIN_PAGES * ABI_PAGE, ABI_PAGE, DMA_PATTERN_RANDOM,
		      400 * ABI_PAGE);
	abi_dma_run(t->dev[i]);
	abi_dma_wait_writes(t->dev[i], w + n);
	abi_dma_stop(t->dev[i]);
}

static int get_bitmap(struct t1 *t, uint64_t *bits)
{
	memset(bits, 0, NPAGES / 8);
	return abi_type1_dirty_get(t->container, IOVA, MAP_SIZE, ABI_PAGE,
				   bits, NPAGES / 8);
}

TEST(vfio_type1_dirty, v1_eacces)
{
	struct t1 t;
	uint64_t bits[NPAGES / 64];

	t1_init(&t, "mdev", 1, VFIO_TYPE1_IOMMU);
	EXPECT_ERRNO(EACCES, abi_type1_dirty(t.container, D_START));
	EXPECT_ERRNO(EACCES, abi_type1_dirty(t.container, D_STOP));
	EXPECT_ERRNO(EACCES, abi_type1_dirty(t.container, 0));
	EXPECT_ERRNO(EACCES, get_bitmap(&t, bits));
}

TEST(vfio_type1_dirty, checks)
{
	struct vfio_iommu_type1_dirty_bitmap hdr = { .argsz = 7,
						     .flags = D_START };
	uint64_t bits[NPAGES / 64], wide[(NPAGES + 128) / 64], size;
	uint8_t *more = abi_buf(8 * ABI_PAGE, ABI_PAGE);
	struct t1 t;

	t1_init(&t, "mdev", 1, VFIO_TYPE1v2_IOMMU);
	EXPECT_ERRNO(EINVAL, ioctl(t.container, VFIO_IOMMU_DIRTY_PAGES, &hdr));
	/* No operation, two at once, an unknown one. */
	EXPECT_ERRNO(EINVAL, abi_type1_dirty(t.container, 0));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty(t.container, D_START | D_STOP));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty(t.container, D_START | D_GET));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty(t.container, 1u << 3));
	/* Not tracking: no bitmap (GET, and UNMAP with a bitmap). */
	EXPECT_ERRNO(EINVAL, get_bitmap(&t, bits));
	size = MAP_SIZE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap_bitmap(t.container, IOVA, &size,
						    ABI_PAGE, bits,
						    sizeof(bits)));
	/* STOP while off, START twice: both fine. */
	EXPECT_EQ(abi_type1_dirty(t.container, D_STOP), 0);
	ASSERT_EQ(abi_type1_dirty(t.container, D_START), 0);
	EXPECT_EQ(abi_type1_dirty(t.container, D_START), 0);
	EXPECT_EQ(get_bitmap(&t, bits), 0);

	/* GET: argsz without the range; a wrapping range. */
	hdr = (__typeof__(hdr)){ .argsz = sizeof(hdr) + 39, .flags = D_GET };
	EXPECT_ERRNO(EINVAL, ioctl(t.container, VFIO_IOMMU_DIRTY_PAGES, &hdr));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, UINT64_MAX - 4095,
						 2 * ABI_PAGE, ABI_PAGE, bits,
						 8));
	/* The bitmap: too small, empty, bigger than the most, page size. */
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA, MAP_SIZE,
						 ABI_PAGE, bits,
						 NPAGES / 8 - 8));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA, MAP_SIZE,
						 ABI_PAGE, bits, 0));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA, MAP_SIZE,
						 ABI_PAGE, bits,
						 (256ULL << 20) + 8));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA, MAP_SIZE,
						 8192, bits, NPAGES / 8));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA, MAP_SIZE,
						 2048, bits, NPAGES / 8));
	/* The range: size 0, misaligned, cutting the mapping. */
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA, 0,
						 ABI_PAGE, bits, 8));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA + 8,
						 MAP_SIZE, ABI_PAGE, bits,
						 NPAGES / 8));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA,
						 MAP_SIZE + 8, ABI_PAGE, bits,
						 NPAGES / 8 + 8));
	EXPECT_ERRNO(EINVAL, abi_type1_dirty_get(t.container, IOVA,
						 MAP_SIZE / 2, ABI_PAGE, bits,
						 NPAGES / 8));
	EXPECT_ERRNO(EINVAL,
		     abi_type1_dirty_get(t.container, IOVA + ABI_PAGE,
					 MAP_SIZE - ABI_PAGE, ABI_PAGE, bits,
					 NPAGES / 8));
	/* Covering it and holes on both sides is fine. */
	EXPECT_EQ(abi_type1_dirty_get(t.container, IOVA - 64 * ABI_PAGE,
				      MAP_SIZE + 128 * ABI_PAGE, ABI_PAGE,
				      wide, sizeof(wide)),
		  0);
	/* A bitmap the kernel cannot write. */
	EXPECT_ERRNO(EFAULT, abi_type1_dirty_get(t.container, IOVA, MAP_SIZE,
						 ABI_PAGE, abi_hole(ABI_PAGE),
						 NPAGES / 8));

	/* UNMAP with a bitmap: argsz, the bitmap's size and page size. */
	ASSERT_EQ(abi_type1_map(t.container, more, IOVA + MAP_SIZE,
				8 * ABI_PAGE, ABI_DMA_MAP_RW),
		  0);
	{
		struct vfio_iommu_type1_dma_unmap unmap = {
			.argsz = sizeof(unmap) + 23,
			.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
			.iova = IOVA + MAP_SIZE,
			.size = 8 * ABI_PAGE,
		};

		EXPECT_ERRNO(EINVAL,
			     ioctl(t.container, VFIO_IOMMU_UNMAP_DMA, &unmap));
	}
	size = 8 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap_bitmap(t.container,
						    IOVA + MAP_SIZE, &size,
						    ABI_PAGE, bits, 0));
	size = 8 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap_bitmap(t.container,
						    IOVA + MAP_SIZE, &size,
						    8192, bits, 8));
	size = 4 * ABI_PAGE;
	EXPECT_ERRNO(EINVAL, abi_type1_unmap_bitmap(t.container,
						    IOVA + MAP_SIZE, &size,
						    ABI_PAGE, bits, 8));
	size = 8 * ABI_PAGE;
	EXPECT_EQ(abi_type1_unmap_bitmap(t.container, IOVA + MAP_SIZE, &size,
					 ABI_PAGE, bits, 8),
		  0);
	EXPECT_EQ(size, 8 * ABI_PAGE);

	/* After STOP, GET is refused again. */
	EXPECT_EQ(abi_type1_dirty(t.container, D_STOP), 0);
	EXPECT_ERRNO(EINVAL, get_bitmap(&t, bits));
}

/*
 * A mediated device only: its driver pins the pages it DMAs to, and those
 * are exactly the dirty pages: pinned before START they are dirty at once,
 * and pinned pages stay dirty in every later report.
 */
TEST(vfio_type1_dirty, mdev_pinned_pages)
{
	uint64_t p0[NPAGES / 64], p1[NPAGES / 64], got[NPAGES / 64];
	uint64_t want[NPAGES / 64], size;
	struct t1 t;

	t1_init(&t, "mdev", 1, VFIO_TYPE1v2_IOMMU);
	/* DMA before tracking starts: these pages are pinned now. */
	t1_dma(&t, 0, 16);
	EXPECT_GT(abi_dma_scan(t.buf, IOVA, NPAGES, 0, p0), 4);
	ASSERT_EQ(abi_type1_dirty(t.container, D_START), 0);
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, p0, NPAGES);
	/* Still pinned, still dirty, with no DMA in between. */
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, p0, NPAGES);

	/* More DMA: the union. */
	memset(t.buf, 0, MAP_SIZE);
	t1_dma(&t, 0, 16);
	abi_dma_scan(t.buf, IOVA, NPAGES, 0, p1);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(want); i++)
		want[i] = p0[i] | p1[i];
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, want, NPAGES);
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, want, NPAGES);

	/* A STOP and START keep the pins: dirty again at once. */
	ASSERT_EQ(abi_type1_dirty(t.container, D_STOP), 0);
	ASSERT_EQ(abi_type1_dirty(t.container, D_START), 0);
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, want, NPAGES);

	/* The bits are OR-ed into what the caller's bitmap holds. */
	memset(got, 0, sizeof(got));
	got[0] = 1;
	ASSERT_EQ(abi_type1_dirty_get(t.container, IOVA, MAP_SIZE, ABI_PAGE,
				      got, sizeof(got)),
		  0);
	want[0] |= 1;
	ABI_EXPECT_BITMAP(got, want, NPAGES);
	want[0] = p0[0] | p1[0];

	/* UNMAP with a bitmap reports the same, and the mapping is gone. */
	memset(got, 0, sizeof(got));
	size = MAP_SIZE;
	ASSERT_EQ(abi_type1_unmap_bitmap(t.container, IOVA, &size, ABI_PAGE,
					 got, sizeof(got)),
		  0);
	EXPECT_EQ(size, MAP_SIZE);
	ABI_EXPECT_BITMAP(got, want, NPAGES);
	memset(got, 0, sizeof(got));
	EXPECT_EQ(get_bitmap(&t, got), 0);
	EXPECT_EQ(abi_popcount(got, NPAGES), 0);
}

/*
 * An IOMMU-backed device: type1 cannot see what it wrote, so every page
 * of every mapping is dirty in every report, DMA or not.
 */
TEST(vfio_type1_dirty, iommu_device_all_dirty)
{
	uint64_t got[2 * NPAGES / 64], all[2 * NPAGES / 64], size;
	uint8_t *second = abi_buf(64 * ABI_PAGE, ABI_PAGE);
	struct t1 t;

	t1_init(&t, "dma", 1, VFIO_TYPE1v2_IOMMU);
	/* A second mapping after a 64-page hole. */
	ASSERT_EQ(abi_type1_map(t.container, second,
				IOVA + MAP_SIZE + 64 * ABI_PAGE,
				64 * ABI_PAGE, ABI_DMA_MAP_RW),
		  0);
	memset(all, 0, sizeof(all));
	for (unsigned int p = 0; p < 2 * NPAGES; p++)
		if (p < NPAGES || (p >= NPAGES + 64 && p < NPAGES + 128))
			all[p / 64] |= 1ULL << (p % 64);

	ASSERT_EQ(abi_type1_dirty(t.container, D_START), 0);
	for (int round = 0; round < 3; round++) {
		if (round == 1)
			t1_dma(&t, 0, 16);
		memset(got, 0, sizeof(got));
		ASSERT_EQ(abi_type1_dirty_get(t.container, IOVA, 2 * MAP_SIZE,
					      ABI_PAGE, got, sizeof(got)),
			  0);
		ABI_EXPECT_BITMAP(got, all, 2 * NPAGES);
	}
	/* The device's DMA did land. */
	EXPECT_GT(abi_dma_scan(t.buf, IOVA, NPAGES, 0, got), 4);

	/* UNMAP of the second mapping: its pages, at offset 0 of the bitmap. */
	memset(got, 0, sizeof(got));
	size = 64 * ABI_PAGE;
	ASSERT_EQ(abi_type1_unmap_bitmap(t.container,
					 IOVA + MAP_SIZE + 64 * ABI_PAGE,
					 &size, ABI_PAGE, got, 8),
		  0);
	EXPECT_EQ(got[0], UINT64_MAX);
	EXPECT_EQ(got[1], 0);
}

/*
 * An mdev and an IOMMU-backed device in one container: everything is
 * dirty while the IOMMU-backed one is there. When it leaves, what it may
 * have written since the last report must not be lost: every page is
 * dirty once more (vfio_iommu_populate_bitmap_full), then only the pins.
 */
TEST(vfio_type1_dirty, mixed_container)
{
	uint64_t got[NPAGES / 64], all[NPAGES / 64], pinned[NPAGES / 64];
	struct t1 t;

	t1_init(&t, "mdev,dma", 2, VFIO_TYPE1v2_IOMMU);
	memset(all, 0xff, sizeof(all));
	t1_dma(&t, 0, 16);
	abi_dma_scan(t.buf, IOVA, NPAGES, 0, pinned);
	ASSERT_EQ(abi_type1_dirty(t.container, D_START), 0);
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, all, NPAGES);

	/* The IOMMU-backed device leaves. */
	close(t.dev[1]);
	close(t.group[1]);
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, all, NPAGES);
	ASSERT_EQ(get_bitmap(&t, got), 0);
	ABI_EXPECT_BITMAP(got, pinned, NPAGES);
}

/* Device @i writes the page at @iova (at least once), then stops. */
static void t1_dma_page(struct t1 *t, unsigned int i, uint64_t iova)
{
	uint64_t w = abi_reg64(t->dev[i], DMA_REG_WRITES);

	abi_dma_setup(t->dev[i], iova, ABI_PAGE, ABI_PAGE,
		      DMA_PATTERN_SEQUENTIAL, 0);
	abi_dma_run(t->dev[i]);
	abi_dma_wait_writes(t->dev[i], w + 1);
	abi_dma_stop(t->dev[i]);
}

/* Set bits [@first, @first + @n) of @bits. */
static void bits_fill_ref(uint64_t *bits, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		bits[p / 64] |= 1ULL << (p % 64);
}

/*
 * UNMAP the @pages pages at @iova with a 2-word bitmap: exactly @want
 * (128 bits) comes back, and the whole mapping is gone.
 */
static void t1_unmap_expect(struct t1 *t, uint64_t iova, uint64_t pages,
			    const uint64_t *want)
{
	uint64_t got[2], size = pages * ABI_PAGE;

	memset(got, 0, sizeof(got));
	ASSERT_EQ(abi_type1_unmap_bitmap(t->container, iova, &size, ABI_PAGE,
					 got, sizeof(got)),
		  0);
	EXPECT_EQ(size, pages * ABI_PAGE);
	ABI_EXPECT_BITMAP(got, want, 128);
}

/*
 * Mappings whose pages sit across 64-bit words of the bitmap: odd page
 * counts, starts and ends off a word, one of a single page right after
 * another. Every report holds exactly their pages (all of them, or the
 * pinned ones: the first and last of each, and either side of a word
 * edge), nothing of a neighbour's and nothing past a mapping's end, into
 * a bitmap that may start at any byte.
 */
TEST(vfio_type1_dirty, word_edges)
{
	static const struct {
		uint64_t first, n;
	} maps[] = { { 3, 67 }, { 70, 1 }, { 129, 125 }, { 260, 67 } };
	static const uint64_t pins[] = { 3, 63, 64, 69, 70, 129, 191, 192, 253 };
	const uint64_t base = IOVA + 2 * MAP_SIZE, npages = 256;
	uint64_t got[5], all[4], pinned[4], want[2];
	uint8_t raw[8 * 4 + 1];
	struct t1 t;

	t1_init(&t, "mdev,dma", 2, VFIO_TYPE1v2_IOMMU);
	memset(all, 0, sizeof(all));
	memset(pinned, 0, sizeof(pinned));
	for (size_t i = 0; i < ABI_ARRAY_SIZE(maps); i++) {
		uint8_t *mem = abi_buf(maps[i].n * ABI_PAGE, ABI_PAGE);

		ASSERT_EQ(abi_type1_map(t.container, mem,
					base + maps[i].first * ABI_PAGE,
					maps[i].n * ABI_PAGE, ABI_DMA_MAP_RW),
			  0);
		if (maps[i].first + maps[i].n <= npages)
			bits_fill_ref(all, maps[i].first, maps[i].n);
	}
	for (size_t i = 0; i < ABI_ARRAY_SIZE(pins); i++) {
		t1_dma_page(&t, 0, base + pins[i] * ABI_PAGE);
		pinned[pins[i] / 64] |= 1ULL << (pins[i] % 64);
	}
	ASSERT_EQ(abi_type1_dirty(t.container, D_START), 0);

	/* The IOMMU-backed device is there: every page of each mapping. */
	for (int round = 0; round < 2; round++) {
		memset(got, 0, sizeof(got));
		ASSERT_EQ(abi_type1_dirty_get(t.container, base,
					      npages * ABI_PAGE, ABI_PAGE, got,
					      npages / 8),
			  0);
		ABI_EXPECT_BITMAP(got, all, npages);
		EXPECT_EQ(got[4], 0);
	}
	/* UNMAP of the last mapping (from a word's bit 4): 67 bits at 0. */
	memset(want, 0, sizeof(want));
	bits_fill_ref(want, 0, 67);
	t1_unmap_expect(&t, base + 260 * ABI_PAGE, 67, want);

	/*
	 * It leaves: every page once more, never a bit of a mapping's last
	 * word past its end, then the pins alone, at any byte alignment.
	 */
	close(t.dev[1]);
	close(t.group[1]);
	memset(got, 0, sizeof(got));
	ASSERT_EQ(abi_type1_dirty_get(t.container, base, npages * ABI_PAGE,
				      ABI_PAGE, got, npages / 8),
		  0);
	ABI_EXPECT_BITMAP(got, all, npages);
	memset(raw, 0, sizeof(raw));
	ASSERT_EQ(abi_type1_dirty_get(t.container, base, npages * ABI_PAGE,
				      ABI_PAGE, raw + 1, npages / 8),
		  0);
	EXPECT_EQ(raw[0], 0);
	memcpy(got, raw + 1, npages / 8);
	ABI_EXPECT_BITMAP(got, pinned, npages);

	/* UNMAP of the third mapping: its pins, from bit 0. */
	want[0] = 1ULL | 1ULL << 62 | 1ULL << 63;
	want[1] = 1ULL << (124 - 64);
	t1_unmap_expect(&t, base + 129 * ABI_PAGE, 125, want);
}
