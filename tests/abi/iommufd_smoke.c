// SPDX-License-Identifier: MIT
/*
 * iommufd_smoke.c - placeholder ABI test: open /dev/iommu, allocate an IOAS.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <iodirty/uapi/iommufd.h>

#include "../harness/test.h"

TEST(iommufd_abi, open_alloc_ioas)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int fd = open("/dev/iommu", O_RDWR);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, &cmd), 0);
	EXPECT_EQ(cmd.out_ioas_id, 1);
	close(fd);
}
