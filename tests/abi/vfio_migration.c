// SPDX-License-Identifier: MIT
/*
 * vfio_migration.c - VFIO migration v2 at the ABI (kernel-abi.md §5.3;
 * Linux include/uapi/linux/vfio.h and vfio_mig_get_next_state()): every
 * arc and every combined transition of the state machine, the ones that
 * are refused, DMA stopping before RUNNING -> STOP returns, the data fd in
 * STOP_COPY, PRE_COPY and RESUMING, VFIO_MIG_GET_PRECOPY_INFO,
 * MIG_DATA_SIZE, and the device's state carried out and back in: its
 * registers, and STATE_SIZE bytes of internal state up to 64 MiB.
 *
 * A device's state is tied to its index, so a "destination" is the same
 * device after VFIO_DEVICE_RESET.
 */
#include <stdlib.h>

#include "abi_util.h"

#define IOVA	 0x40000000ULL
#define MAP_SIZE (256 * ABI_PAGE)

enum {
	ERROR = VFIO_DEVICE_STATE_ERROR,
	STOP = VFIO_DEVICE_STATE_STOP,
	RUNNING = VFIO_DEVICE_STATE_RUNNING,
	STOP_COPY = VFIO_DEVICE_STATE_STOP_COPY,
	RESUMING = VFIO_DEVICE_STATE_RESUMING,
	RUNNING_P2P = VFIO_DEVICE_STATE_RUNNING_P2P,
	PRE_COPY = VFIO_DEVICE_STATE_PRE_COPY,
	PRE_COPY_P2P = VFIO_DEVICE_STATE_PRE_COPY_P2P,
	NSTATES = VFIO_DEVICE_STATE_NR,
};

static const char *const state_names[] = {
	"ERROR",     "STOP",	    "RUNNING",	"STOP_COPY",
	"RESUMING",  "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
};

/* A migration stream in memory. */
struct stream {
	uint8_t *data;
	size_t len, cap;
};

static void stream_free(struct stream *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

/*
 * Read a data fd until read() returns 0 (STOP_COPY: the end) or fails
 * with ENOMSG (PRE_COPY: caught up for now), appending to @s in reads of
 * @chunk bytes. Return: 0 at the end, ENOMSG when caught up.
 */
static int stream_read(int fd, struct stream *s, size_t chunk)
{
	for (;;) {
		ssize_t n;

		if (s->len + chunk > s->cap) {
			s->cap = s->cap ? 2 * s->cap : 1 << 20;
			while (s->cap < s->len + chunk)
				s->cap *= 2;
			s->data = realloc(s->data, s->cap);
			ASSERT_TRUE(s->data != NULL);
		}
		n = read(fd, s->data + s->len, chunk);
		if (n == 0)
			return 0;
		if (n < 0) {
			ASSERT_EQ(errno, ENOMSG);
			return ENOMSG;
		}
		ASSERT_LE((size_t)n, chunk);
		s->len += (size_t)n;
	}
}

/* Write all of @s to a resuming data fd in writes of @chunk bytes. */
static void stream_write(int fd, const struct stream *s, size_t chunk)
{
	for (size_t off = 0; off < s->len;) {
		size_t n = s->len - off < chunk ? s->len - off : chunk;
		ssize_t w = write(fd, s->data + off, n);

		ASSERT_GT(w, 0);
		off += (size_t)w;
	}
}

/* STOP_COPY from RUNNING or STOP: the whole stream; ends in STOP. */
static void save(int dev, struct stream *s)
{
	int fd = -2;

	ASSERT_EQ(abi_mig_set(dev, STOP_COPY, &fd), 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(stream_read(fd, s, 1 << 20), 0);
	close(fd);
	abi_mig_set_ok(dev, STOP);
}

/*
 * STOP -> RESUMING, the stream written, the data fd closed (as QEMU does
 * before the VM starts), then RESUMING -> STOP. Return: that SET's result.
 */
static int restore(int dev, const struct stream *s)
{
	int fd = -2, rc;

	ASSERT_EQ(abi_mig_set(dev, RESUMING, &fd), 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(abi_mig_get(dev), RESUMING);
	stream_write(fd, s, 1 << 20);
	close(fd);
	rc = abi_mig_set(dev, STOP, &fd);
	if (!rc)
		EXPECT_EQ(fd, -1);
	return rc;
}

/* The registers a migration must carry. */
static const uint32_t carried_regs[] = {
	DMA_REG_CTRL,	     DMA_REG_PATTERN,	 DMA_REG_BLOCK_SIZE,
	DMA_REG_WINDOW_IOVA, DMA_REG_WINDOW_SIZE, DMA_REG_RATE,
	DMA_REG_HOT_SIZE,    DMA_REG_SEED,	 DMA_REG_SEQ,
	DMA_REG_BYTES,	     DMA_REG_WRITES,	 DMA_REG_STATE_SIZE,
	DMA_REG_CURSOR,
};

struct regs {
	uint64_t v[ABI_ARRAY_SIZE(carried_regs)];
};

static void regs_read(int dev, struct regs *r)
{
	for (size_t i = 0; i < ABI_ARRAY_SIZE(carried_regs); i++)
		r->v[i] = carried_regs[i] == DMA_REG_CTRL ||
				  carried_regs[i] == DMA_REG_PATTERN ||
				  carried_regs[i] == DMA_REG_BLOCK_SIZE ?
			  abi_reg32(dev, carried_regs[i]) :
			  abi_reg64(dev, carried_regs[i]);
}

static void regs_expect(int dev, const struct regs *want, int line)
{
	struct regs got;

	regs_read(dev, &got);
	for (size_t i = 0; i < ABI_ARRAY_SIZE(carried_regs); i++)
		if (got.v[i] != want->v[i])
			test_fail_at(__FILE__, line,
				     "register 0x%03x is 0x%" PRIx64 ", want 0x%" PRIx64,
				     carried_regs[i], got.v[i], want->v[i]);
}

/* A bound device with memory mapped and attached: its DMA can run. */
static void dev_with_dma(struct abi_vdev *d, const char *devices)
{
	abi_vfio_host(devices, NULL);
	abi_vdev_open(d, 0);
	abi_vdev_map(d, IOVA, MAP_SIZE);
	abi_vdev_attach(d, d->ioas);
}

/*
 * Bring a freshly reset device (RUNNING) to @state; @valid is a stream
 * that restores it (for RESUMING). A data fd the way opens is closed,
 * except a resuming one, which is written and then closed.
 */
static void reach(int dev, uint32_t state, const struct stream *valid)
{
	int fd = -2;

	ASSERT_EQ(abi_mig_set(dev, state, &fd), 0);
	if (state == RESUMING)
		stream_write(fd, valid, 1 << 20);
	if (fd >= 0)
		close(fd);
	ASSERT_EQ(abi_mig_get(dev), state);
}

static bool is_precopy(uint32_t s)
{
	return s == PRE_COPY || s == PRE_COPY_P2P;
}

/*
 * Does a SET from @from to @to hand out a new data fd? Only when its path
 * opens a session: a saving one (STOP_COPY or PRE_COPY*, not already in
 * one) or a resuming one.
 */
static bool opens_session(uint32_t from, uint32_t to)
{
	if (from == to)
		return false;
	if (to == RESUMING)
		return true;
	if (to == STOP_COPY || is_precopy(to))
		return !is_precopy(from);
	return false;
}

/*
 * Every (from, to) pair of the seven states: the arcs of the uapi comment
 * and the combined transitions vfio_mig_get_next_state() makes of them.
 * Only STOP_COPY -> PRE_COPY(_P2P) is refused (EINVAL, and the device
 * stays where it was, data_fd -1).
 */
TEST(vfio_migration, all_transitions)
{
	static const uint32_t states[] = { STOP,     RUNNING,	   STOP_COPY,
					   RESUMING, RUNNING_P2P, PRE_COPY,
					   PRE_COPY_P2P };
	struct stream valid = { 0 };
	struct abi_vdev d;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	save(d.fd, &valid);
	ASSERT_GT(valid.len, 0);

	for (size_t i = 0; i < ABI_ARRAY_SIZE(states); i++) {
		for (size_t j = 0; j < ABI_ARRAY_SIZE(states); j++) {
			uint32_t from = states[i], to = states[j];
			bool refused = from == STOP_COPY && is_precopy(to);
			int fd = -2, rc;

			ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
			reach(d.fd, from, &valid);
			rc = abi_mig_set(d.fd, to, &fd);
			if (refused ? rc != -1 || errno != EINVAL : rc != 0)
				test_fail_at(__FILE__, __LINE__,
					     "%s -> %s: rc %d (%s)",
					     state_names[from], state_names[to],
					     rc, rc ? strerror(errno) : "");
			if (opens_session(from, to) && !refused ? fd < 0 :
								  fd != -1)
				test_fail_at(__FILE__, __LINE__,
					     "%s -> %s: data_fd %d",
					     state_names[from], state_names[to],
					     fd);
			if (abi_mig_get(d.fd) != (refused ? from : to))
				test_fail_at(__FILE__, __LINE__,
					     "%s -> %s: now in %s",
					     state_names[from], state_names[to],
					     state_names[abi_mig_get(d.fd)]);
			if (fd >= 0)
				close(fd);
		}
	}
	stream_free(&valid);
	abi_vdev_close(&d);
}

TEST(vfio_migration, refused)
{
	struct vfio_device_feature_mig_state st;
	struct abi_vdev d;
	int fd;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	/* ERROR is not a state one asks for; past the enum is nothing. */
	EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, ERROR, &fd));
	EXPECT_EQ(fd, -1);
	EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, NSTATES, &fd));
	EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, UINT32_MAX, &fd));
	EXPECT_EQ(abi_mig_get(d.fd), RUNNING);

	/* Out of STOP_COPY, never back to pre-copy. */
	ASSERT_EQ(abi_mig_set(d.fd, STOP_COPY, &fd), 0);
	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, PRE_COPY, &fd));
	EXPECT_EQ(fd, -1);
	EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, PRE_COPY_P2P, &fd));
	EXPECT_EQ(abi_mig_get(d.fd), STOP_COPY);

	/* RESUMING -> STOP with nothing written: no state to load. */
	abi_mig_set_ok(d.fd, STOP);
	ASSERT_EQ(abi_mig_set(d.fd, RESUMING, &fd), 0);
	ASSERT_GE(fd, 0);
	EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, STOP, NULL));
	close(fd);
	/* ... which leaves the device in ERROR, where every SET fails. */
	EXPECT_EQ(abi_mig_get(d.fd), ERROR);
	for (uint32_t s = STOP; s < NSTATES; s++)
		EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, s, NULL));
	EXPECT_EQ(abi_mig_get(d.fd), ERROR);
	/* RESET brings it back to RUNNING. */
	ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
	EXPECT_EQ(abi_mig_get(d.fd), RUNNING);
	abi_mig_set_ok(d.fd, STOP);

	/* GET ignores what the payload held. */
	st = (struct vfio_device_feature_mig_state){ 77, 77 };
	ASSERT_EQ(abi_feature(d.fd,
			      ABI_FEAT_GET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE),
			      &st, sizeof(st)),
		  0);
	EXPECT_EQ(st.device_state, STOP);
	abi_vdev_close(&d);
}

/*
 * RUNNING -> STOP returns only once DMA has stopped: nothing changes in
 * the registers or in memory afterwards, and STATUS says QUIESCED.
 * STOP -> RUNNING lets the engine go on, RUN having been kept.
 */
TEST(vfio_migration, stop_waits_for_dma)
{
	uint8_t *copy = malloc(MAP_SIZE);
	uint64_t w, seq;
	struct abi_vdev d;

	ASSERT_TRUE(copy != NULL);
	dev_with_dma(&d, "dma");
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE, DMA_PATTERN_RANDOM, 0);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 32);

	for (int round = 0; round < 3; round++) {
		abi_mig_set_ok(d.fd, STOP);
		w = abi_reg64(d.fd, DMA_REG_WRITES);
		seq = abi_reg64(d.fd, DMA_REG_SEQ);
		memcpy(copy, d.buf, MAP_SIZE);
		EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_QUIESCED,
			  DMA_STATUS_QUIESCED);
		EXPECT_EQ(abi_reg32(d.fd, DMA_REG_CTRL), DMA_CTRL_RUN);
		/* Every block started has landed: SEQ counts them all. */
		EXPECT_EQ(seq, w);
		abi_sleep_ms(30);
		EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WRITES), w);
		EXPECT_EQ(abi_reg64(d.fd, DMA_REG_SEQ), seq);
		EXPECT_EQ(memcmp(copy, d.buf, MAP_SIZE), 0);

		abi_mig_set_ok(d.fd, RUNNING);
		EXPECT_EQ(abi_reg32(d.fd, DMA_REG_STATUS) & DMA_STATUS_QUIESCED,
			  0);
		abi_dma_wait_writes(d.fd, w + 8);
	}
	free(copy);
	abi_vdev_close(&d);
}

/*
 * Where the device may DMA: in RUNNING, RUNNING_P2P and the PRE_COPY
 * states it runs; in STOP, STOP_COPY and RESUMING it does not.
 */
TEST(vfio_migration, dma_by_state)
{
	static const struct {
		uint32_t state;
		bool runs;
	} cases[] = {
		{ RUNNING, true },    { RUNNING_P2P, true },
		{ PRE_COPY, true },   { PRE_COPY_P2P, true },
		{ STOP, false },      { STOP_COPY, false },
		{ RESUMING, false },
	};
	struct abi_vdev d;

	dev_with_dma(&d, "dma");
	for (size_t i = 0; i < ABI_ARRAY_SIZE(cases); i++) {
		uint64_t w;
		int fd = -2;

		ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
		abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE,
			      DMA_PATTERN_RANDOM, 0);
		abi_dma_run(d.fd);
		ASSERT_EQ(abi_mig_set(d.fd, cases[i].state, &fd), 0);
		w = abi_reg64(d.fd, DMA_REG_WRITES);
		if (cases[i].runs) {
			abi_dma_wait_writes(d.fd, w + 8);
		} else {
			abi_sleep_ms(20);
			if (abi_reg64(d.fd, DMA_REG_WRITES) != w)
				test_fail_at(__FILE__, __LINE__,
					     "DMA in %s",
					     state_names[cases[i].state]);
		}
		if (fd >= 0)
			close(fd);
	}
	abi_vdev_close(&d);
}

/*
 * STOP_COPY: read() hands out the state and then 0, again and again;
 * MIG_DATA_SIZE said how much; VFIO_MIG_GET_PRECOPY_INFO is EINVAL.
 */
TEST(vfio_migration, stop_copy_stream)
{
	struct vfio_device_feature_mig_data_size size = { 0 };
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	struct stream s = { 0 };
	struct abi_vdev d;
	uint8_t byte;
	int fd;

	dev_with_dma(&d, "dma");
	abi_reg_write64(d.fd, DMA_REG_STATE_SIZE, 3 << 20);
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE, DMA_PATTERN_RANDOM, 0);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 16);
	abi_mig_set_ok(d.fd, STOP);
	ASSERT_EQ(abi_feature(d.fd,
			      ABI_FEAT_GET(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE),
			      &size, sizeof(size)),
		  0);
	EXPECT_GE(size.stop_copy_length, 3 << 20);

	ASSERT_EQ(abi_mig_set(d.fd, STOP_COPY, &fd), 0);
	ASSERT_GE(fd, 0);
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	/* Odd-sized reads. */
	EXPECT_EQ(stream_read(fd, &s, 4093), 0);
	EXPECT_GE(s.len, 3 << 20);
	EXPECT_LE(s.len, size.stop_copy_length);
	EXPECT_EQ(read(fd, &byte, 1), 0);
	EXPECT_EQ(read(fd, &byte, 1), 0);
	/* An ioctl it does not know. */
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(VFIO_TYPE, VFIO_BASE + 60), 0));
	close(fd);
	abi_mig_set_ok(d.fd, STOP);
	stream_free(&s);
	abi_vdev_close(&d);
}

static int precopy_info(int fd, struct vfio_precopy_info *info)
{
	*info = (struct vfio_precopy_info){ .argsz = sizeof(*info),
					    .initial_bytes = 77,
					    .dirty_bytes = 77 };
	return ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, info);
}

/*
 * PRE_COPY: the state while the device runs, then what changed; read()
 * is ENOMSG when it has caught up, GET_PRECOPY_INFO counts what is left
 * in both PRE_COPY states only; STOP_COPY adds the rest and ends with 0.
 * What was read restores the device as it was at STOP_COPY.
 */
TEST(vfio_migration, precopy)
{
	struct vfio_precopy_info info;
	struct stream s = { 0 };
	uint64_t initial, w, t0;
	struct abi_vdev d;
	struct regs at_stop;
	size_t before;
	int fd, fd2;

	dev_with_dma(&d, "dma");
	abi_reg_write64(d.fd, DMA_REG_STATE_SIZE, 1 << 20);
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE, DMA_PATTERN_RANDOM, 0);

	/* The engine idle: one initial chunk of data, then nothing. */
	ASSERT_EQ(abi_mig_set(d.fd, PRE_COPY, &fd), 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(precopy_info(fd, &info), 0);
	initial = info.initial_bytes;
	EXPECT_GE(initial, 1 << 20);
	EXPECT_EQ(info.dirty_bytes, 0);
	info.argsz = sizeof(info) - 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	s.cap = 1 << 21;
	s.data = malloc(s.cap);
	ASSERT_TRUE(s.data != NULL);
	ASSERT_EQ(read(fd, s.data, 1000), 1000);
	s.len = 1000;
	ASSERT_EQ(precopy_info(fd, &info), 0);
	EXPECT_EQ(info.initial_bytes, initial - 1000);
	EXPECT_EQ(stream_read(fd, &s, 65536), ENOMSG);
	EXPECT_EQ(s.len, initial);
	ASSERT_EQ(precopy_info(fd, &info), 0);
	EXPECT_EQ(info.initial_bytes, 0);
	EXPECT_EQ(info.dirty_bytes, 0);
	EXPECT_ERRNO(ENOMSG, read(fd, s.data, 1));

	/* Running, the device changes its state: more to read. */
	abi_dma_run(d.fd);
	w = abi_dma_wait_writes(d.fd, 32);
	ASSERT_EQ(precopy_info(fd, &info), 0);
	EXPECT_EQ(info.initial_bytes, 0);
	EXPECT_GT(info.dirty_bytes, 0);
	before = s.len;
	/* Still running: it may never catch up, so read a bounded while. */
	for (t0 = abi_now_ms(); abi_now_ms() - t0 < 50;) {
		ssize_t n;

		if (s.len + 4096 > s.cap) {
			s.cap *= 2;
			s.data = realloc(s.data, s.cap);
			ASSERT_TRUE(s.data != NULL);
		}
		n = read(fd, s.data + s.len, 4096);
		if (n < 0) {
			ASSERT_EQ(errno, ENOMSG);
			continue;
		}
		s.len += (size_t)n;
	}
	EXPECT_GT(s.len, before);

	/* PRE_COPY_P2P: the same session, info still answers. */
	ASSERT_EQ(abi_mig_set(d.fd, PRE_COPY_P2P, &fd2), 0);
	EXPECT_EQ(fd2, -1);
	EXPECT_EQ(precopy_info(fd, &info), 0);
	abi_dma_wait_writes(d.fd, w + 8);

	/* STOP_COPY: DMA stops, no new fd, no more info, the rest and 0. */
	ASSERT_EQ(abi_mig_set(d.fd, STOP_COPY, &fd2), 0);
	EXPECT_EQ(fd2, -1);
	regs_read(d.fd, &at_stop);
	EXPECT_ERRNO(EINVAL, precopy_info(fd, &info));
	before = s.len;
	EXPECT_EQ(stream_read(fd, &s, 65536), 0);
	EXPECT_GT(s.len, before);
	close(fd);
	abi_mig_set_ok(d.fd, STOP);

	/* The stream, pre-copy passes and all, restores it. */
	ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
	abi_mig_set_ok(d.fd, STOP);
	ASSERT_EQ(restore(d.fd, &s), 0);
	regs_expect(d.fd, &at_stop, __LINE__);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_STATE_SIZE), 1 << 20);
	stream_free(&s);
	abi_vdev_close(&d);
}

/* A resuming data fd has no pre-copy info and nothing to read. */
TEST(vfio_migration, resuming_fd)
{
	struct vfio_precopy_info info;
	struct abi_vdev d;
	uint8_t byte;
	int fd;

	abi_vfio_host("dma", NULL);
	abi_vdev_open(&d, 0);
	abi_mig_set_ok(d.fd, STOP);
	ASSERT_EQ(abi_mig_set(d.fd, RESUMING, &fd), 0);
	ASSERT_GE(fd, 0);
	EXPECT_ERRNO(EINVAL, precopy_info(fd, &info));
	EXPECT_EQ(read(fd, &byte, 1), -1);
	close(fd);
	abi_vdev_close(&d);
}

/* ThreadSanitizer makes the device's byte loops over 256 MiB a minute. */
#if defined(__SANITIZE_THREAD__)
#define ABI_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ABI_TSAN 1
#endif
#endif

struct state_variant {
	const char *name;
	uint64_t state_size;
	bool running; /* the engine was running when the device stopped */
};

static const struct state_variant save_variants[] = {
	{ "regs_only", 0, true },
	{ "state_1M", 1 << 20, true },
	{ "state_1M_idle", 1 << 20, false },
	{ "state_64M", 64ULL << 20, false },
	{ "state_256M", 256ULL << 20, false },
};

/*
 * Save in STOP_COPY, RESET, restore by RESUMING -> STOP: the registers,
 * SEQ and the counters come back, and the state saved again is the same
 * bytes. Back in RUNNING, a device that was running goes on where it was.
 */
TEST_VARIANTS(vfio_migration, save_restore, struct state_variant,
	      save_variants)
{
	struct stream a = { 0 }, b = { 0 };
	struct abi_vdev d;
	struct regs saved;
	uint64_t seq, writes, t0;

#ifdef ABI_TSAN
	if (v->state_size > (64ULL << 20))
		SKIP("256 MiB of state under ThreadSanitizer takes a minute; 64 MiB is run");
#endif
	dev_with_dma(&d, "dma");
	abi_reg_write64(d.fd, DMA_REG_STATE_SIZE, v->state_size);
	ASSERT_EQ(abi_reg64(d.fd, DMA_REG_STATE_SIZE), v->state_size);
	abi_reg_write64(d.fd, DMA_REG_SEED, 12345);
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE, DMA_PATTERN_RANDOM, 0);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 64);
	if (!v->running)
		abi_reg_write32(d.fd, DMA_REG_CTRL, 0);
	abi_mig_set_ok(d.fd, STOP);
	regs_read(d.fd, &saved);
	seq = abi_reg64(d.fd, DMA_REG_SEQ);
	writes = abi_reg64(d.fd, DMA_REG_WRITES);
	save(d.fd, &a);

	/* The destination: the same device, reset. */
	ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_SEQ), 0);
	EXPECT_EQ(abi_reg64(d.fd, DMA_REG_STATE_SIZE), 0);
	abi_mig_set_ok(d.fd, STOP);
	ASSERT_EQ(restore(d.fd, &a), 0);
	EXPECT_EQ(abi_mig_get(d.fd), STOP);
	regs_expect(d.fd, &saved, __LINE__);

	/* The same state again, byte for byte (registers and internal). */
	if (!v->running) {
		save(d.fd, &b);
		EXPECT_EQ(b.len, a.len);
		EXPECT_TRUE(b.len == a.len && !memcmp(a.data, b.data, a.len));
	}

	abi_mig_set_ok(d.fd, RUNNING);
	if (v->running) {
		/* It goes on from where it stopped: new blocks, new SEQs. */
		abi_dma_wait_writes(d.fd, writes + 16);
		EXPECT_GT(abi_reg64(d.fd, DMA_REG_SEQ), seq);
	} else {
		t0 = abi_reg64(d.fd, DMA_REG_WRITES);
		abi_sleep_ms(10);
		EXPECT_EQ(abi_reg64(d.fd, DMA_REG_WRITES), t0);
	}
	stream_free(&a);
	stream_free(&b);
	abi_vdev_close(&d);
}

/*
 * A damaged stream is refused at RESUMING -> STOP (EINVAL), the device is
 * in ERROR until RESET, and nothing of the damaged state is taken; the
 * good stream restores it afterwards.
 */
TEST(vfio_migration, corrupt_stream)
{
	struct stream a = { 0 }, bad = { 0 };
	struct abi_vdev d;
	struct regs saved;
	struct {
		const char *what;
		size_t off;	/* byte flipped, or the length kept */
		bool truncate;
	} cases[4];

	dev_with_dma(&d, "dma");
	abi_reg_write64(d.fd, DMA_REG_STATE_SIZE, 256 << 10);
	abi_dma_setup(d.fd, IOVA, MAP_SIZE, ABI_PAGE, DMA_PATTERN_RANDOM, 0);
	abi_dma_run(d.fd);
	abi_dma_wait_writes(d.fd, 16);
	abi_reg_write32(d.fd, DMA_REG_CTRL, 0);
	abi_mig_set_ok(d.fd, STOP);
	regs_read(d.fd, &saved);
	save(d.fd, &a);
	ASSERT_GT(a.len, 256 << 10);

	cases[0] = (__typeof__(cases[0])){ "a byte of state", a.len / 2, false };
	cases[1] = (__typeof__(cases[0])){ "the first byte", 0, false };
	cases[2] = (__typeof__(cases[0])){ "the last byte", a.len - 1, false };
	cases[3] = (__typeof__(cases[0])){ "cut short", a.len - 9, true };
	for (size_t i = 0; i < ABI_ARRAY_SIZE(cases); i++) {
		bad.len = bad.cap = a.len;
		bad.data = malloc(a.len);
		ASSERT_TRUE(bad.data != NULL);
		memcpy(bad.data, a.data, a.len);
		if (cases[i].truncate)
			bad.len = cases[i].off;
		else
			bad.data[cases[i].off] ^= 0x40;

		ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
		abi_mig_set_ok(d.fd, STOP);
		if (restore(d.fd, &bad) != -1 || errno != EINVAL)
			test_fail_at(__FILE__, __LINE__,
				     "%s: RESUMING -> STOP not EINVAL",
				     cases[i].what);
		EXPECT_EQ(abi_mig_get(d.fd), ERROR);
		EXPECT_ERRNO(EINVAL, abi_mig_set(d.fd, RUNNING, NULL));
		EXPECT_EQ(abi_reg64(d.fd, DMA_REG_SEQ), 0);
		EXPECT_EQ(abi_reg64(d.fd, DMA_REG_STATE_SIZE), 0);
		ASSERT_EQ(ioctl(d.fd, VFIO_DEVICE_RESET), 0);
		EXPECT_EQ(abi_mig_get(d.fd), RUNNING);
		stream_free(&bad);
	}

	abi_mig_set_ok(d.fd, STOP);
	ASSERT_EQ(restore(d.fd, &a), 0);
	regs_expect(d.fd, &saved, __LINE__);
	stream_free(&a);
	abi_vdev_close(&d);
}

/* A device's state is its own: another device (index, kind) refuses it. */
TEST(vfio_migration, state_of_another_device)
{
	struct stream a = { 0 };
	int iommufd, fd1, fd2;

	abi_vfio_host("dma,dma,dma-log", NULL);
	iommufd = abi_open();
	fd1 = abi_vfio_cdev_open_ok(0);
	ASSERT_EQ(abi_vfio_bind(fd1, iommufd, NULL), 0);
	abi_mig_set_ok(fd1, STOP);
	save(fd1, &a);

	for (unsigned int i = 1; i <= 2; i++) {
		fd2 = abi_vfio_cdev_open_ok(i);
		ASSERT_EQ(abi_vfio_bind(fd2, iommufd, NULL), 0);
		abi_mig_set_ok(fd2, STOP);
		EXPECT_ERRNO(EINVAL, restore(fd2, &a));
		EXPECT_EQ(abi_mig_get(fd2), ERROR);
		close(fd2);
	}
	/* Its own device takes it back. */
	ASSERT_EQ(ioctl(fd1, VFIO_DEVICE_RESET), 0);
	abi_mig_set_ok(fd1, STOP);
	EXPECT_EQ(restore(fd1, &a), 0);
	stream_free(&a);
	close(fd1);
	close(iommufd);
}
