// SPDX-License-Identifier: MIT
/*
 * migration.c - VFIO migration v2 for the emulated devices: the
 * VFIO_DEVICE_FEATURE_MIGRATION, MIG_DEVICE_STATE and MIG_DATA_SIZE
 * features, the device state machine, and the migration data fd
 * (shared/spec/kernel-abi.md §5.3).
 *
 * Every device supports STOP_COPY, P2P and PRE_COPY. A SET to a state that
 * is not one arc away follows the shortest path of arcs, never passing
 * through RESUMING, STOP_COPY or a PRE_COPY state on the way (nor starting
 * a new saving session from STOP_COPY), as Linux vfio_mig_get_next_state.
 *
 * The data stream is a sequence of frames, each [u32 type][u32 0][u64 len]
 * then len bytes: FULL (the device's whole state) then DELTA frames (what
 * changed since). Saving in PRE_COPY hands out a FULL frame, then a DELTA
 * per pass while the device runs; read() says ENOMSG when it has caught
 * up. STOP_COPY adds the last frame and read() then ends with 0. RESUMING
 * takes frames by write() and loads them at RESUMING -> STOP.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/uaccess.h>

#include "vfio_private.h"

enum { FRAME_FULL = 1, FRAME_DELTA = 2 };

struct frame_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t len;
};

/* The most a resuming stream may hold: a full state and its deltas. */
#define MIG_RESUME_MAX (3 * (DMA_STATE_MAX + (1ULL << 20)))

/*
 * A data transfer session. Its fd and the device each hold a reference
 * (Linux drivers keep the session's file while the device is in the
 * state that uses it): closing the fd does not end the session, so a
 * resuming stream written and closed still loads at RESUMING -> STOP.
 */
struct vfio_mig_file {
	pthread_mutex_t lock;
	unsigned int refs;
	struct vfio_device *dev;	/* NULL once the session has ended */
	bool saving;
	bool final;			/* saving: no more frames will come */
	uint8_t *buf;
	uint64_t len;			/* bytes in buf */
	uint64_t pos;			/* saving: bytes already read */
	uint64_t cap;
	uint64_t initial_end;		/* end of the PRE_COPY FULL frame */
};

static const bool arc[VFIO_DEVICE_STATE_NR][VFIO_DEVICE_STATE_NR] = {
	[VFIO_DEVICE_STATE_RUNNING] = {
		[VFIO_DEVICE_STATE_STOP] = true,
		[VFIO_DEVICE_STATE_RUNNING_P2P] = true,
		[VFIO_DEVICE_STATE_PRE_COPY] = true,
	},
	[VFIO_DEVICE_STATE_STOP] = {
		[VFIO_DEVICE_STATE_RUNNING] = true,
		[VFIO_DEVICE_STATE_RUNNING_P2P] = true,
		[VFIO_DEVICE_STATE_STOP_COPY] = true,
		[VFIO_DEVICE_STATE_RESUMING] = true,
	},
	[VFIO_DEVICE_STATE_STOP_COPY] = { [VFIO_DEVICE_STATE_STOP] = true },
	[VFIO_DEVICE_STATE_RESUMING] = { [VFIO_DEVICE_STATE_STOP] = true },
	[VFIO_DEVICE_STATE_RUNNING_P2P] = {
		[VFIO_DEVICE_STATE_RUNNING] = true,
		[VFIO_DEVICE_STATE_STOP] = true,
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = true,
	},
	[VFIO_DEVICE_STATE_PRE_COPY] = {
		[VFIO_DEVICE_STATE_RUNNING] = true,
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = true,
	},
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = {
		[VFIO_DEVICE_STATE_PRE_COPY] = true,
		[VFIO_DEVICE_STATE_RUNNING_P2P] = true,
		[VFIO_DEVICE_STATE_STOP_COPY] = true,
	},
};

static bool is_precopy(enum vfio_device_mig_state s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* May @s be passed through on the way from @from? */
static bool intermediate_ok(enum vfio_device_mig_state from,
			    enum vfio_device_mig_state s)
{
	if (s == VFIO_DEVICE_STATE_RESUMING ||
	    s == VFIO_DEVICE_STATE_STOP_COPY || s == VFIO_DEVICE_STATE_ERROR)
		return false;
	return !is_precopy(s) || is_precopy(from);
}

/*
 * The first arc of the shortest path from @cur to @target (BFS), or -EINVAL
 * when there is none the rules allow.
 */
static int next_state(enum vfio_device_mig_state cur,
		      enum vfio_device_mig_state target)
{
	int prev[VFIO_DEVICE_STATE_NR], queue[VFIO_DEVICE_STATE_NR];
	int head = 0, tail = 0;

	if (cur == VFIO_DEVICE_STATE_ERROR)
		return -EINVAL;
	if (cur == VFIO_DEVICE_STATE_STOP_COPY && is_precopy(target))
		return -EINVAL;
	for (int i = 0; i < VFIO_DEVICE_STATE_NR; i++)
		prev[i] = -1;
	prev[cur] = cur;
	queue[tail++] = cur;
	while (head < tail) {
		int s = queue[head++];

		if (s != (int)cur && s != (int)target &&
		    !intermediate_ok(cur, (enum vfio_device_mig_state)s))
			continue;
		for (int n = 0; n < VFIO_DEVICE_STATE_NR; n++) {
			if (!arc[s][n] || prev[n] != -1)
				continue;
			prev[n] = s;
			if (n == (int)target) {
				while (prev[n] != (int)cur)
					n = prev[n];
				return n;
			}
			queue[tail++] = n;
		}
	}
	return -EINVAL;
}

uint64_t vfio_mig_flags(const struct vfio_device *dev)
{
	(void)dev;
	return VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
	       VFIO_MIGRATION_PRE_COPY;
}

/* ---- the data file ---- */

static int mf_reserve(struct vfio_mig_file *mf, uint64_t more)
{
	uint64_t need = mf->len + more, cap = mf->cap ? mf->cap : 1 << 16;
	uint8_t *b;

	if (need <= mf->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	b = xrealloc(mf->buf, cap);
	if (!b)
		return -ENOMEM;
	mf->buf = b;
	mf->cap = cap;
	return 0;
}

/* Append a frame made by @save (dma_dev_save or dma_dev_save_delta). */
static int mf_append(struct vfio_mig_file *mf, uint32_t type, uint64_t max,
		     int64_t (*save)(struct dma_dev *, void *, uint64_t),
		     struct dma_dev *dma)
{
	struct frame_hdr hdr = { .type = type };
	int64_t n;
	int rc;

	rc = mf_reserve(mf, sizeof(hdr) + max);
	if (rc)
		return rc;
	n = save(dma, mf->buf + mf->len + sizeof(hdr), max);
	if (n < 0)
		return (int)n;
	hdr.len = (uint64_t)n;
	memcpy(mf->buf + mf->len, &hdr, sizeof(hdr));
	mf->len += sizeof(hdr) + (uint64_t)n;
	return 0;
}

static int mf_append_full(struct vfio_mig_file *mf, struct dma_dev *dma)
{
	return mf_append(mf, FRAME_FULL, dma_dev_state_size(dma), dma_dev_save,
			 dma);
}

static int mf_append_delta(struct vfio_mig_file *mf, struct dma_dev *dma)
{
	return mf_append(mf, FRAME_DELTA, dma_dev_delta_size(dma),
			 dma_dev_save_delta, dma);
}

static ssize_t mig_read(struct emu_file *f, void *buf, size_t n)
{
	struct vfio_mig_file *mf = f->priv;
	ssize_t rc;

	pthread_mutex_lock(&mf->lock);
	if (!mf->saving) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (!mf->dev && mf->pos == mf->len && !mf->final) {
		rc = -ENODEV;
		goto out_unlock;
	}
	/* Caught up in PRE_COPY: another pass if the device changed. */
	if (mf->pos == mf->len && !mf->final && mf->dev &&
	    dma_dev_precopy_dirty_bytes(mf->dev->dma)) {
		rc = mf_append_delta(mf, mf->dev->dma);
		if (rc)
			goto out_unlock;
	}
	if (mf->pos == mf->len) {
		rc = mf->final ? 0 : -ENOMSG;
		goto out_unlock;
	}
	if (n > mf->len - mf->pos)
		n = mf->len - mf->pos;
	memcpy(buf, mf->buf + mf->pos, n);
	mf->pos += n;
	rc = (ssize_t)n;
out_unlock:
	pthread_mutex_unlock(&mf->lock);
	return rc;
}

static ssize_t mig_write(struct emu_file *f, const void *buf, size_t n)
{
	struct vfio_mig_file *mf = f->priv;
	ssize_t rc;

	pthread_mutex_lock(&mf->lock);
	if (mf->saving) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (!mf->dev) {
		rc = -ENODEV;
		goto out_unlock;
	}
	if (mf->len + n > MIG_RESUME_MAX) {
		rc = -EFBIG;
		goto out_unlock;
	}
	rc = mf_reserve(mf, n);
	if (rc)
		goto out_unlock;
	memcpy(mf->buf + mf->len, buf, n);
	mf->len += n;
	rc = (ssize_t)n;
out_unlock:
	pthread_mutex_unlock(&mf->lock);
	return rc;
}

static long mig_ioctl(struct emu_file *f, unsigned long cmd, uint64_t arg)
{
	struct vfio_mig_file *mf = f->priv;
	size_t minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	long rc = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	pthread_mutex_lock(&mf->lock);
	if (!mf->dev || !mf->saving || !is_precopy(mf->dev->mig_state)) {
		rc = -EINVAL;
		goto out_unlock;
	}
	info.flags = 0;
	info.initial_bytes = mf->pos < mf->initial_end ?
				     mf->initial_end - mf->pos : 0;
	info.dirty_bytes = mf->len - mf->pos - info.initial_bytes +
			   dma_dev_precopy_dirty_bytes(mf->dev->dma);
out_unlock:
	pthread_mutex_unlock(&mf->lock);
	if (rc)
		return rc;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static void mf_put(struct vfio_mig_file *mf)
{
	unsigned int refs;

	pthread_mutex_lock(&mf->lock);
	refs = --mf->refs;
	pthread_mutex_unlock(&mf->lock);
	if (refs)
		return;
	pthread_mutex_destroy(&mf->lock);
	xfree(mf->buf);
	xfree(mf);
}

static void mig_release(struct emu_file *f)
{
	mf_put(f->priv);
}

static const struct emu_fops mig_fops = {
	.name = "iodirty-vfio-migration",
	.read = mig_read,
	.write = mig_write,
	.ioctl = mig_ioctl,
	.release = mig_release,
};

/* A new session file; its fd is what the SET returns. */
static int mig_file_open(struct vfio_device *dev, bool saving,
			 struct vfio_mig_file **out)
{
	struct vfio_mig_file *mf = xzalloc(sizeof(*mf));
	int fd;

	if (!mf)
		return -ENOMEM;
	pthread_mutex_init(&mf->lock, NULL);
	mf->refs = 2;		/* the fd's and the device's */
	mf->dev = dev;
	mf->saving = saving;
	fd = emu_fd_install(&mig_fops, mf, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		pthread_mutex_destroy(&mf->lock);
		xfree(mf);
		return fd;
	}
	dev->mig_file = mf;
	*out = mf;
	return fd;
}

/* End the session: the file stays open but is disabled. */
static void mig_file_end(struct vfio_device *dev)
{
	struct vfio_mig_file *mf = dev->mig_file;

	if (!mf)
		return;
	pthread_mutex_lock(&mf->lock);
	mf->dev = NULL;
	pthread_mutex_unlock(&mf->lock);
	dev->mig_file = NULL;
	if (dev->precopy_active) {
		dma_dev_precopy_stop(dev->dma);
		dev->precopy_active = false;
	}
	mf_put(mf);
}

/* Parse and load the frames a resuming file received. */
static int mig_load(struct vfio_device *dev, struct vfio_mig_file *mf)
{
	uint64_t off = 0;
	bool have_full = false;
	int rc;

	while (off < mf->len) {
		struct frame_hdr hdr;

		if (mf->len - off < sizeof(hdr))
			return -EINVAL;
		memcpy(&hdr, mf->buf + off, sizeof(hdr));
		off += sizeof(hdr);
		if (hdr.reserved || hdr.len > mf->len - off)
			return -EINVAL;
		if (hdr.type == FRAME_FULL) {
			rc = dma_dev_load(dev->dma, mf->buf + off, hdr.len);
			have_full = true;
		} else if (hdr.type == FRAME_DELTA && have_full) {
			rc = dma_dev_load_delta(dev->dma, mf->buf + off,
						hdr.len);
		} else {
			return -EINVAL;
		}
		if (rc)
			return rc;
		off += hdr.len;
	}
	return have_full ? 0 : -EINVAL;
}

/* One arc. Returns a new data fd (>= 0), -1 for none, or -errno. */
static int do_arc(struct vfio_device *dev, enum vfio_device_mig_state to)
{
	enum vfio_device_mig_state from = dev->mig_state;
	struct vfio_mig_file *mf;
	int fd = -1, rc;

	switch (to) {
	case VFIO_DEVICE_STATE_STOP:
		if (from == VFIO_DEVICE_STATE_RUNNING ||
		    from == VFIO_DEVICE_STATE_RUNNING_P2P)
			dma_dev_quiesce(dev->dma);
		if (from == VFIO_DEVICE_STATE_RESUMING) {
			mf = dev->mig_file;
			if (!mf)
				return -EINVAL;
			pthread_mutex_lock(&mf->lock);
			rc = mig_load(dev, mf);
			pthread_mutex_unlock(&mf->lock);
			mig_file_end(dev);
			if (rc)
				return rc;
		}
		if (from == VFIO_DEVICE_STATE_STOP_COPY)
			mig_file_end(dev);
		break;
	case VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		if (from == VFIO_DEVICE_STATE_STOP)
			dma_dev_unquiesce(dev->dma);
		if (is_precopy(from) && to == VFIO_DEVICE_STATE_RUNNING)
			mig_file_end(dev);
		if (from == VFIO_DEVICE_STATE_PRE_COPY_P2P)
			mig_file_end(dev);
		break;
	case VFIO_DEVICE_STATE_PRE_COPY:
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		if (is_precopy(from))
			break;		/* same session */
		rc = dma_dev_precopy_start(dev->dma);
		if (rc)
			return rc;
		dev->precopy_active = true;
		fd = mig_file_open(dev, true, &mf);
		if (fd < 0) {
			dma_dev_precopy_stop(dev->dma);
			dev->precopy_active = false;
			return fd;
		}
		pthread_mutex_lock(&mf->lock);
		rc = mf_append_full(mf, dev->dma);
		mf->initial_end = mf->len;
		pthread_mutex_unlock(&mf->lock);
		if (rc)
			return rc;
		break;
	case VFIO_DEVICE_STATE_STOP_COPY:
		if (from == VFIO_DEVICE_STATE_PRE_COPY_P2P) {
			/* DMA stops here; the last delta follows. */
			dma_dev_quiesce(dev->dma);
			mf = dev->mig_file;
			if (!mf)
				return -EINVAL;
			pthread_mutex_lock(&mf->lock);
			rc = mf_append_delta(mf, dev->dma);
			mf->final = true;
			pthread_mutex_unlock(&mf->lock);
			dma_dev_precopy_stop(dev->dma);
			dev->precopy_active = false;
			if (rc)
				return rc;
			break;
		}
		fd = mig_file_open(dev, true, &mf);
		if (fd < 0)
			return fd;
		pthread_mutex_lock(&mf->lock);
		rc = mf_append_full(mf, dev->dma);
		mf->final = true;
		pthread_mutex_unlock(&mf->lock);
		if (rc)
			return rc;
		break;
	case VFIO_DEVICE_STATE_RESUMING:
		fd = mig_file_open(dev, false, &mf);
		if (fd < 0)
			return fd;
		break;
	default:
		return -EINVAL;
	}
	dev->mig_state = to;
	return fd;
}

static int mig_set_state(struct vfio_device *dev,
			 enum vfio_device_mig_state target, int *data_fd)
{
	*data_fd = -1;
	if ((unsigned int)target >= VFIO_DEVICE_STATE_NR ||
	    target == VFIO_DEVICE_STATE_ERROR)
		return -EINVAL;
	while (dev->mig_state != target) {
		int next = next_state(dev->mig_state, target);
		int fd;

		if (next < 0)
			return next;
		fd = do_arc(dev, (enum vfio_device_mig_state)next);
		if (fd < -1) {
			dev->mig_state = VFIO_DEVICE_STATE_ERROR;
			return fd;
		}
		if (fd >= 0)
			*data_fd = fd;
	}
	return 0;
}

void vfio_mig_reset(struct vfio_device *dev)
{
	mig_file_end(dev);
	if (dev->mig_state != VFIO_DEVICE_STATE_RUNNING)
		dma_dev_unquiesce(dev->dma);
	dev->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

int vfio_mig_feature(struct vfio_device *dev, uint32_t flags, uint64_t arg,
		     uint32_t argsz)
{
	struct vfio_device_feature_migration mig = {
		.flags = vfio_mig_flags(dev),
	};
	int rc = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET,
				    sizeof(mig));

	if (rc != 1)
		return rc;
	return copy_to_user(arg, &mig, sizeof(mig)) ? -EFAULT : 0;
}

int vfio_mig_state_feature(struct vfio_device *dev, uint32_t flags,
			   uint64_t arg, uint32_t argsz)
{
	struct vfio_device_feature_mig_state st;
	int rc = vfio_check_feature(flags, argsz,
				    VFIO_DEVICE_FEATURE_GET |
					    VFIO_DEVICE_FEATURE_SET,
				    sizeof(st));

	if (rc != 1)
		return rc;
	if (copy_from_user(&st, arg, sizeof(st)))
		return -EFAULT;
	pthread_mutex_lock(&dev->lock);
	if (flags & VFIO_DEVICE_FEATURE_GET) {
		st.device_state = dev->mig_state;
		st.data_fd = -1;
		rc = 0;
	} else {
		rc = mig_set_state(dev, st.device_state, &st.data_fd);
	}
	pthread_mutex_unlock(&dev->lock);
	/*
	 * A failed SET still writes the struct back, with data_fd -1
	 * (vfio_ioctl_device_feature_mig_device_state(): out_copy).
	 */
	if (copy_to_user(arg, &st, sizeof(st)))
		return -EFAULT;
	return rc;
}

int vfio_mig_data_size_feature(struct vfio_device *dev, uint32_t flags,
			       uint64_t arg, uint32_t argsz)
{
	struct vfio_device_feature_mig_data_size size;
	int rc = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET,
				    sizeof(size));

	if (rc != 1)
		return rc;
	pthread_mutex_lock(&dev->lock);
	size.stop_copy_length =
		sizeof(struct frame_hdr) +
		(dev->precopy_active ?
			 dma_dev_delta_size(dev->dma) -
				 (dma_dev_state_size(dev->dma) -
				  dma_dev_precopy_dirty_bytes(dev->dma)) :
			 dma_dev_state_size(dev->dma));
	pthread_mutex_unlock(&dev->lock);
	return copy_to_user(arg, &size, sizeof(size)) ? -EFAULT : 0;
}
