// SPDX-License-Identifier: MIT
/*
 * vfio_migration.c - the VMM's side of VFIO migration v2 for its
 * passthrough devices (kernel-abi.md §5.3; QEMU hw/vfio/migration.c): the
 * device state feature, the data fd's pre-copy info, the stop-copy size,
 * and BAR0 register access for the device controls migration uses.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <iodirty/uapi/vfio.h>
#include <iodirty/vmm.h>

static const char *const state_names[] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static const char *state_name(uint32_t s)
{
	return s < sizeof(state_names) / sizeof(state_names[0]) ?
		       state_names[s] :
		       "?";
}

struct mig_feature {
	struct vfio_device_feature hdr;
	union {
		struct vfio_device_feature_mig_state state;
		struct vfio_device_feature_mig_data_size size;
	};
};

int vmm_pt_mig_state(struct vmm_pt *pt, unsigned int i, uint32_t *state)
{
	struct mig_feature f = {
		.hdr = { .argsz = sizeof(f),
			 .flags = VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE },
	};

	if (i >= vmm_pt_ndevices(pt))
		return -EINVAL;
	if (ioctl(vmm_pt_device(pt, i)->fd, VFIO_DEVICE_FEATURE, &f))
		return -errno;
	*state = f.state.device_state;
	return 0;
}

int vmm_pt_mig_set_state(struct vmm_pt *pt, unsigned int i, uint32_t state,
			 int *data_fd, char *msg, size_t msglen)
{
	struct mig_feature f = {
		.hdr = { .argsz = sizeof(f),
			 .flags = VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE },
		.state = { .device_state = state, .data_fd = -1 },
	};
	const struct vmm_pt_device *d;
	uint32_t cur = 0;
	int rc;

	if (i >= vmm_pt_ndevices(pt))
		return -EINVAL;
	d = vmm_pt_device(pt, i);
	vmm_pt_mig_state(pt, i, &cur);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, &f)) {
		rc = -errno;
		snprintf(msg, msglen, "%s: migration state %s -> %s: %s",
			 d->name, state_name(cur), state_name(state),
			 strerror(-rc));
		return rc;
	}
	if (data_fd)
		*data_fd = f.state.data_fd;
	else if (f.state.data_fd >= 0)
		close(f.state.data_fd);
	return 0;
}

int vmm_pt_mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

int vmm_pt_mig_data_size(struct vmm_pt *pt, unsigned int i, uint64_t *bytes)
{
	struct mig_feature f = {
		.hdr = { .argsz = sizeof(f),
			 .flags = VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE },
	};

	if (i >= vmm_pt_ndevices(pt))
		return -EINVAL;
	if (ioctl(vmm_pt_device(pt, i)->fd, VFIO_DEVICE_FEATURE, &f))
		return -errno;
	*bytes = f.size.stop_copy_length;
	return 0;
}

int vmm_pt_reg_read(struct vmm_pt *pt, unsigned int i, uint32_t off,
		    void *val, unsigned int size)
{
	ssize_t n;

	if (i >= vmm_pt_ndevices(pt))
		return -EINVAL;
	n = pread(vmm_pt_device(pt, i)->fd, val, size, off);
	return n == (ssize_t)size ? 0 : n < 0 ? -errno : -EIO;
}

int vmm_pt_reg_write(struct vmm_pt *pt, unsigned int i, uint32_t off,
		     const void *val, unsigned int size)
{
	ssize_t n;

	if (i >= vmm_pt_ndevices(pt))
		return -EINVAL;
	n = pwrite(vmm_pt_device(pt, i)->fd, val, size, off);
	return n == (ssize_t)size ? 0 : n < 0 ? -errno : -EIO;
}
