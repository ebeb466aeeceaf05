// SPDX-License-Identifier: MIT
/*
 * vfio_feature.c - VFIO_DEVICE_FEATURE's core checks and PROBE, in the
 * order of Linux vfio_ioctl_device_feature() and vfio_check_feature()
 * (kernel-abi.md §5.1): argsz below the header, unknown flag bits and GET
 * with SET but no PROBE are EINVAL before the feature is looked at; an
 * unknown feature is ENOTTY, and so is DMA logging on a device that has no
 * log; a GET or SET the feature does not offer, neither of them without
 * PROBE, and a payload below the feature's size are EINVAL.
 */
#include "abi_util.h"

#define F_MIGRATION VFIO_DEVICE_FEATURE_MIGRATION
#define F_STATE	    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
#define F_SIZE	    VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define F_START	    VFIO_DEVICE_FEATURE_DMA_LOGGING_START
#define F_STOP	    VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP
#define F_REPORT    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT
#define GET	    VFIO_DEVICE_FEATURE_GET
#define SET	    VFIO_DEVICE_FEATURE_SET
#define PROBE	    VFIO_DEVICE_FEATURE_PROBE

/* The raw ioctl, header only, with any argsz. */
static int feature_hdr(int fd, uint32_t argsz, uint32_t flags)
{
	uint64_t buf[8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	f->argsz = argsz;
	f->flags = flags;
	return ioctl(fd, VFIO_DEVICE_FEATURE, f);
}

TEST(vfio_feature, core_checks)
{
	struct abi_vdev d;

	abi_vfio_host("dma-log", NULL);
	abi_vdev_open(&d, 0);

	/* argsz below the 8-byte header, whatever follows. */
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 7, PROBE | GET | F_MIGRATION));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 0, PROBE | GET | F_MIGRATION));
	/* Unknown flag bits: EINVAL even for an unknown feature. */
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 64, (1u << 19) | GET | 999));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 64, (1u << 31) | F_MIGRATION));
	/* GET and SET together need PROBE. */
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 64, GET | SET | F_STATE));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 64, GET | SET | 999));
	EXPECT_EQ(feature_hdr(d.fd, 8, PROBE | GET | SET | F_STATE), 0);

	/* Unknown features, and ones this device does not have: ENOTTY. */
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 64, PROBE | GET | 999));
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 64, GET | 0xffff));
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 64,
					 PROBE | GET |
						 VFIO_DEVICE_FEATURE_PCI_VF_TOKEN));
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 64, PROBE | SET | 10));
	abi_vdev_close(&d);
}

struct probe_case {
	uint32_t flags;
	int err; /* 0: supported */
};

TEST(vfio_feature, probe)
{
	static const struct probe_case cases[] = {
		/* MIGRATION: GET only. */
		{ PROBE | F_MIGRATION, 0 },
		{ PROBE | GET | F_MIGRATION, 0 },
		{ PROBE | SET | F_MIGRATION, EINVAL },
		{ PROBE | GET | SET | F_MIGRATION, EINVAL },
		/* MIG_DEVICE_STATE: GET and SET. */
		{ PROBE | F_STATE, 0 },
		{ PROBE | GET | F_STATE, 0 },
		{ PROBE | SET | F_STATE, 0 },
		{ PROBE | GET | SET | F_STATE, 0 },
		/* MIG_DATA_SIZE: GET only. */
		{ PROBE | GET | F_SIZE, 0 },
		{ PROBE | SET | F_SIZE, EINVAL },
		/* DMA logging: START and STOP are SET, REPORT is GET. */
		{ PROBE | SET | F_START, 0 },
		{ PROBE | GET | F_START, EINVAL },
		{ PROBE | SET | F_STOP, 0 },
		{ PROBE | GET | F_STOP, EINVAL },
		{ PROBE | GET | F_REPORT, 0 },
		{ PROBE | SET | F_REPORT, EINVAL },
	};
	struct abi_vdev d;

	abi_vfio_host("dma-log", NULL);
	abi_vdev_open(&d, 0);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(cases); i++) {
		int rc = feature_hdr(d.fd, 8, cases[i].flags);

		if (cases[i].err ? rc != -1 || errno != cases[i].err : rc) {
			test_fail_at(__FILE__, __LINE__,
				     "flags 0x%x: rc %d errno %d, want %d",
				     cases[i].flags, rc, rc ? errno : 0,
				     cases[i].err);
		}
	}
	abi_vdev_close(&d);
}

/*
 * Without PROBE: neither GET nor SET is EINVAL, and so is a payload
 * smaller than the feature's struct.
 */
TEST(vfio_feature, get_set_sizes)
{
	struct vfio_device_feature_migration mig = { .flags = 0 };
	struct vfio_device_feature_mig_data_size size = { 0 };
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 16, F_MIGRATION));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 16, F_STATE));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 8 + 7, GET | F_MIGRATION));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 8 + 7, GET | F_STATE));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 8 + 7, SET | F_STATE));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 8 + 7, GET | F_SIZE));
	EXPECT_ERRNO(EINVAL, feature_hdr(d.fd, 8, SET | F_MIGRATION));

	/* MIGRATION: stop-copy, P2P and pre-copy. */
	ASSERT_EQ(abi_feature(d.fd, GET | F_MIGRATION, &mig, sizeof(mig)), 0);
	EXPECT_EQ(mig.flags, VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
				     VFIO_MIGRATION_PRE_COPY);
	/* A larger argsz is fine. */
	EXPECT_EQ(feature_hdr(d.fd, 64, GET | F_MIGRATION), 0);

	/* MIG_DATA_SIZE covers at least the device state registers. */
	ASSERT_EQ(abi_feature(d.fd, GET | F_SIZE, &size, sizeof(size)), 0);
	EXPECT_GE(size.stop_copy_length, DMA_REG_END);
	abi_vdev_close(&d);
}

struct nolog_variant {
	const char *name;
	const char *devices;
};

static const struct nolog_variant nolog[] = {
	{ "dma", "dma" },
	{ "dma_nodirty", "dma-nodirty" },
	{ "mdev", "mdev" },
};

/*
 * A device without a log: every DMA logging feature is ENOTTY, PROBE too,
 * before vfio_check_feature() could say anything else.
 */
TEST_VARIANTS(vfio_feature, no_dma_logging, struct nolog_variant, nolog)
{
	struct vfio_device_feature_dma_logging_range range = { 0, ABI_PAGE };
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = ABI_PAGE,
		.num_ranges = 1,
		.ranges = abi_ptr(&range),
	};
	uint64_t bits = 0;
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = 0,
		.length = ABI_PAGE,
		.page_size = ABI_PAGE,
		.bitmap = abi_ptr(&bits),
	};
	struct abi_vdev d;

	abi_vfio_host(v->devices, NULL);
	abi_vdev_open(&d, 0);
	EXPECT_ERRNO(ENOTTY, abi_feature(d.fd, SET | F_START, &ctl, sizeof(ctl)));
	EXPECT_ERRNO(ENOTTY, abi_feature(d.fd, GET | F_REPORT, &rep, sizeof(rep)));
	EXPECT_ERRNO(ENOTTY, abi_feature(d.fd, SET | F_STOP, NULL, 0));
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 8, PROBE | SET | F_START));
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 8, PROBE | GET | F_START));
	EXPECT_ERRNO(ENOTTY, feature_hdr(d.fd, 8, PROBE | F_REPORT));
	/* Migration is there all the same. */
	EXPECT_EQ(feature_hdr(d.fd, 8, PROBE | GET | F_MIGRATION), 0);
	abi_vdev_close(&d);
}
