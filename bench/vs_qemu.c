// SPDX-License-Identifier: MIT
/*
 * vs_qemu.c - `iodirty bench vs-qemu`: one guest workload live-migrated
 * over loopback TCP by QEMU and by iodirty in the same run, side by side:
 * total time, downtime, bytes sent, as ratios (issue 6; vmm-behaviour.md
 * for what QEMU does).
 *
 * The workload on both: RAM of --mem (1G), every page of it holding data
 * before the migration, and a RAM writer that writes the u64 pass number
 * at the start of each page of a 256 MiB working set at 2 MiB, 5000 pages
 * per second, paced on the TSC, on 1 vCPU, no devices.
 *   QEMU runs vs_qemu_guest.S from a 1 MiB raw disk (two copies of the
 *     image, one per QEMU): it fills RAM itself (the GPA in each page),
 *     then runs the writer. Two qemu-system-x86_64 processes, -accel kvm
 *     (TCG if KVM will not start, and then the comparison is not like for
 *     like: it says so), the destination with -incoming tcp:127.0.0.1:PORT;
 *     over QMP: migrate-set-parameters max-bandwidth 100 GiB/s (no cap) and
 *     downtime-limit 300, migrate, then query-migrate every 50 ms until it
 *     completes: total-time, downtime, ram.transferred, dirty-sync-count.
 *     The guest's progress (its status words) is read with HMP xp.
 *   iodirty: mig_case.c, our payload with the same working set and rate,
 *     RAM filled before the boot, destination `iodirty incoming` in a child.
 * QEMU is never installed by this project: without qemu-system-x86_64 on
 * PATH the bench says so and returns 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <iodirty/vmm.h>

#include "bench.h"
#include "mig_case.h"
#include "vs_qemu_guest.h"

#define NAME "vs-qemu"

#define SZ_1M (1ULL << 20)
#define SZ_1G (1ULL << 30)

#define QEMU		"qemu-system-x86_64"
#define WS_START	(2 * SZ_1M)
#define WS_BYTES	(256 * SZ_1M)
#define RATE		5000 /* pages per second */
#define DOWNTIME_LIMIT	300
#define WARMUP_MS	1000
#define BOOT_TIMEOUT_MS 180000
#define MIG_TIMEOUT_MS	300000
#define LOW_RAM_MAX	(3 * SZ_1G) /* QEMU's pc machine, as ours */
#define MAX_REPS	5

extern const uint8_t vs_qemu_guest_start[], vs_qemu_guest_end[];

struct qemu {
	pid_t pid;
	FILE *qmp;
	char sock[108]; /* sizeof(sockaddr_un.sun_path) */
};

struct qemu_result {
	const char *accel;
	uint64_t total_ms, downtime_ms, setup_ms, bytes, passes;
	uint64_t dirty_pps, boot_ms;
	uint64_t dest_pages_after;
	char error[256];
};

static uint64_t now_ms(void)
{
	return bench_now_ns() / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static bool qemu_on_path(char *path, size_t len)
{
	const char *p = getenv("PATH");

	while (p && *p) {
		size_t n = strcspn(p, ":");

		snprintf(path, len, "%.*s/%s", (int)n, p, QEMU);
		if (n && !access(path, X_OK))
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static uint64_t tsc_hz(void)
{
	uint32_t lo, hi;
	uint64_t t0 = bench_now_ns(), c0, c1;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	c0 = ((uint64_t)hi << 32) | lo;
	sleep_ms(100);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	c1 = ((uint64_t)hi << 32) | lo;
	return (uint64_t)((double)(c1 - c0) * 1e9 /
			  (double)(bench_now_ns() - t0));
}

/* The boot sector with this run's parameters, as a 1 MiB raw disk. */
static int write_image(const char *path, uint64_t mem)
{
	uint8_t sector[VQG_SECTOR];
	uint64_t low = mem < LOW_RAM_MAX ? mem : LOW_RAM_MAX;
	uint64_t high = 4 * SZ_1G + (mem - low);
	uint64_t v[5] = { WS_START, WS_BYTES / 4096, tsc_hz() / RATE, low,
			  high };
	int fd, rc = 0;

	if (vs_qemu_guest_end - vs_qemu_guest_start != VQG_SECTOR)
		return -EINVAL;
	memcpy(sector, vs_qemu_guest_start, VQG_SECTOR);
	memcpy(sector + VQG_PARAMS, v, sizeof(v));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector) ||
	    ftruncate(fd, (off_t)SZ_1M))
		rc = -EIO;
	close(fd);
	return rc;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int qemu_start(struct qemu *q, const char *exe, const char *dir,
		      const char *role, const char *accel, uint64_t mem,
		      const char *incoming)
{
	char memarg[32], drive[512], qmp[512];
	char *argv[32];
	int n = 0;

	snprintf(q->sock, sizeof(q->sock), "%s/%s.qmp", dir, role);
	snprintf(memarg, sizeof(memarg), "%lluM",
		 (unsigned long long)(mem >> 20));
	snprintf(drive, sizeof(drive), "file=%s/%s.img,format=raw,if=ide", dir,
		 role);
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", q->sock);
	argv[n++] = (char *)exe;
	argv[n++] = (char *)"-accel";
	argv[n++] = (char *)accel;
	argv[n++] = (char *)"-m";
	argv[n++] = memarg;
	argv[n++] = (char *)"-smp";
	argv[n++] = (char *)"1";
	argv[n++] = (char *)"-nodefaults";
	argv[n++] = (char *)"-display";
	argv[n++] = (char *)"none";
	argv[n++] = (char *)"-serial";
	argv[n++] = (char *)"none";
	argv[n++] = (char *)"-drive";
	argv[n++] = drive;
	argv[n++] = (char *)"-qmp";
	argv[n++] = qmp;
	if (incoming) {
		argv[n++] = (char *)"-incoming";
		argv[n++] = (char *)incoming;
	}
	argv[n] = NULL;
	fflush(stdout);
	q->pid = fork();
	if (q->pid < 0)
		return -errno;
	if (!q->pid) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	return 0;
}

/* One reply (not an event) into @buf; -EIO when QEMU is gone. */
static int qmp_reply(struct qemu *q, char *buf, size_t len)
{
	while (fgets(buf, (int)len, q->qmp))
		if (!strstr(buf, "\"event\""))
			return 0;
	return -EIO;
}

static int qmp(struct qemu *q, const char *cmd, char *buf, size_t len)
{
	if (fprintf(q->qmp, "%s\n", cmd) < 0 || fflush(q->qmp))
		return -EIO;
	if (qmp_reply(q, buf, len))
		return -EIO;
	return strstr(buf, "\"error\"") ? -EINVAL : 0;
}

static int qmp_connect(struct qemu *q)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[4096];
	uint64_t t0 = now_ms();
	int fd;

	memcpy(a.sun_path, q->sock, sizeof(a.sun_path));
	for (;;) {
		int status;

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			break;
		close(fd);
		if (waitpid(q->pid, &status, WNOHANG) == q->pid) {
			q->pid = -1;
			return -ECHILD;
		}
		if (now_ms() - t0 > 10000)
			return -ETIMEDOUT;
		sleep_ms(20);
	}
	q->qmp = fdopen(fd, "r+");
	if (!q->qmp) {
		close(fd);
		return -ENOMEM;
	}
	if (qmp_reply(q, buf, sizeof(buf))) /* the greeting */
		return -EIO;
	return qmp(q, "{\"execute\": \"qmp_capabilities\"}", buf, sizeof(buf));
}

static void qemu_stop(struct qemu *q)
{
	char buf[1024];
	int status;

	if (q->qmp) {
		qmp(q, "{\"execute\": \"quit\"}", buf, sizeof(buf));
		fclose(q->qmp);
		q->qmp = NULL;
	}
	if (q->pid > 0) {
		for (int i = 0; i < 100; i++) {
			if (waitpid(q->pid, &status, WNOHANG) == q->pid) {
				q->pid = -1;
				return;
			}
			sleep_ms(20);
		}
		kill(q->pid, SIGKILL);
		waitpid(q->pid, &status, 0);
		q->pid = -1;
	}
}

/* The guest's status words (stage, pass, pages) through HMP xp. */
static int guest_status(struct qemu *q, uint64_t v[3])
{
	char buf[4096];
	const char *p;
	int rc = qmp(
		q,
		"{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"xp /3gx 0x5000\"}}",
		buf, sizeof(buf));

	if (rc)
		return rc;
	p = buf;
	/* "0000000000005000: 0x... 0x...\r\n0000000000005010: 0x...\r\n" */
	for (int i = 0; i < 3; i++) {
		p = strstr(p, " 0x");
		if (!p) {
			fprintf(stderr, "bench " NAME ": HMP xp said: %.300s\n",
				buf);
			return -EPROTO;
		}
		v[i] = strtoull(p + 1, (char **)&p, 16);
	}
	return 0;
}

/* A number after "key": in a QMP reply; 0 if absent. */
static uint64_t reply_u64(const char *buf, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = strstr(buf, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

static int qemu_migrate(struct qemu *src, struct qemu *dst, int port,
			struct qemu_result *r)
{
	char buf[8192], cmd[256];
	uint64_t st[3], st1[3], t0;
	int rc;

	t0 = now_ms();
	do {
		rc = guest_status(src, st);
		if (rc)
			return rc;
		if (now_ms() - t0 > BOOT_TIMEOUT_MS)
			return -ETIMEDOUT;
		if (!st[0])
			sleep_ms(100);
	} while (!st[0]);
	r->boot_ms = now_ms() - t0;
	t0 = bench_now_ns();
	sleep_ms(WARMUP_MS);
	rc = guest_status(src, st1);
	if (rc)
		return rc;
	r->dirty_pps = (st1[2] - st[2]) * 1000000000ULL / (bench_now_ns() - t0);
	rc = qmp(
		src,
		"{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": 107374182400, \"downtime-limit\": 300}}",
		buf, sizeof(buf));
	if (rc)
		return rc;
	snprintf(
		cmd, sizeof(cmd),
		"{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:127.0.0.1:%d\"}}",
		port);
	rc = qmp(src, cmd, buf, sizeof(buf));
	if (rc)
		return rc;
	t0 = now_ms();
	for (;;) {
		rc = qmp(src, "{\"execute\": \"query-migrate\"}", buf,
			 sizeof(buf));
		if (rc)
			return rc;
		if (strstr(buf, "\"status\": \"completed\""))
			break;
		if (strstr(buf, "\"status\": \"failed\"") ||
		    now_ms() - t0 > MIG_TIMEOUT_MS) {
			snprintf(r->error, sizeof(r->error),
				 "QEMU's migration did not complete: %.200s",
				 buf);
			return -EIO;
		}
		sleep_ms(50);
	}
	r->total_ms = reply_u64(buf, "total-time");
	r->downtime_ms = reply_u64(buf, "downtime");
	r->setup_ms = reply_u64(buf, "setup-time");
	r->bytes = reply_u64(buf, "transferred");
	r->passes = reply_u64(buf, "dirty-sync-count");
	/* The guest runs on at the destination. */
	rc = guest_status(dst, st);
	sleep_ms(500);
	if (!rc)
		rc = guest_status(dst, st1);
	if (rc)
		return rc;
	r->dest_pages_after = st1[2] - st[2];
	return 0;
}

static int qemu_run(const char *exe, uint64_t mem, const char *accel,
		    struct qemu_result *r)
{
	char dir[] = "/tmp/iodirty-vs-qemu-XXXXXX", path[300], incoming[64];
	struct qemu src = { .pid = -1 }, dst = { .pid = -1 };
	int port, rc;

	memset(r, 0, sizeof(*r));
	r->accel = accel;
	if (!mkdtemp(dir))
		return -errno;
	snprintf(path, sizeof(path), "%s/src.img", dir);
	rc = write_image(path, mem);
	snprintf(path, sizeof(path), "%s/dst.img", dir);
	if (!rc)
		rc = write_image(path, mem);
	port = free_port();
	if (!rc && port < 0)
		rc = -EADDRNOTAVAIL;
	snprintf(incoming, sizeof(incoming), "tcp:127.0.0.1:%d", port);
	if (!rc)
		rc = qemu_start(&dst, exe, dir, "dst", accel, mem, incoming);
	if (!rc)
		rc = qemu_start(&src, exe, dir, "src", accel, mem, NULL);
	if (!rc)
		rc = qmp_connect(&dst);
	if (!rc)
		rc = qmp_connect(&src);
	if (rc && !r->error[0])
		snprintf(r->error, sizeof(r->error),
			 "starting QEMU (-accel %s): %s", accel, strerror(-rc));
	if (!rc) {
		rc = qemu_migrate(&src, &dst, port, r);
		if (rc && !r->error[0])
			snprintf(r->error, sizeof(r->error),
				 "QEMU's migration: %s", strerror(-rc));
	}
	qemu_stop(&src);
	qemu_stop(&dst);
	snprintf(path, sizeof(path), "%s/src.img", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dst.img", dir);
	unlink(path);
	unlink(src.sock);
	unlink(dst.sock);
	rmdir(dir);
	return rc;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

/* One line of the side-by-side table. */
static void cmp_row(const char *label, uint64_t q, uint64_t o, bool with_ratio)
{
	printf("%-22s %12llu %12llu", label, (unsigned long long)q,
	       (unsigned long long)o);
	if (with_ratio)
		printf(" %8.3f", ratio(o, q));
	printf("\n");
}

int bench_vs_qemu(int argc, char **argv)
{
	struct mig_case_result ours[MAX_REPS];
	struct qemu_result theirs[MAX_REPS];
	uint64_t mem = SZ_1G, reps = 1;
	char exe[4096], msg[VMM_MSG_LEN];
	const char *accel = "kvm";
	bool json = false;
	const struct bench_opt opts[] = {
		{ .name = "--json", .kind = BENCH_OPT_FLAG, .dst = &json },
		{ .name = "--mem",
		  .kind = BENCH_OPT_SIZE,
		  .dst = &mem,
		  .min = 512 * SZ_1M,
		  .max = 8 * SZ_1G,
		  .align = 2 * SZ_1M,
		  .hint = "512M..8G, a multiple of 2M" },
		BENCH_OPT_REPS(&reps, MAX_REPS),
	};
	int rc;

	rc = bench_args_parse(NAME, BENCH_VS_QEMU_USAGE, argc, argv, opts,
			      ARRAY_SIZE(opts));
	if (rc != BENCH_ARGS_RUN)
		return rc == BENCH_ARGS_HELP ? 0 : 2;
	if (!qemu_on_path(exe, sizeof(exe))) {
		if (json)
			printf("{\"bench\": \"" NAME "\", \"skipped\": \"" QEMU
			       " is not on PATH (Debian: qemu-system-x86)\"}\n");
		else
			printf("bench " NAME ": skipped: " QEMU
			       " is not on PATH (Debian package qemu-system-x86; this project does not install it)\n");
		return 0;
	}
	if (vmm_available(msg, sizeof(msg))) {
		printf("bench " NAME ": skipped: %s\n", msg);
		return 0;
	}
	for (uint64_t i = 0; i < reps && !rc; i++) {
		struct mig_case c = {
			.name = "vs-qemu",
			.mem = mem,
			.ram_ws = WS_BYTES,
			.ram_rate = RATE,
			.dma_window = 16 * SZ_1M,
			.dma_rate = 64 * SZ_1M,
			.fill = true,
			.warmup_ms = WARMUP_MS,
			.downtime_limit_ms = DOWNTIME_LIMIT,
		};

		rc = qemu_run(exe, mem, accel, &theirs[i]);
		if (rc && !i && !strcmp(accel, "kvm")) {
			fprintf(stderr, "bench " NAME ": %s; trying TCG\n",
				theirs[i].error);
			accel = "tcg";
			rc = qemu_run(exe, mem, accel, &theirs[i]);
		}
		if (rc) {
			fprintf(stderr, "bench " NAME ": %s\n",
				theirs[i].error);
			return 1;
		}
		rc = mig_case_run(&c, &ours[i]);
		if (rc) {
			fprintf(stderr, "bench " NAME ": iodirty: %s\n",
				ours[i].msg);
			return 1;
		}
	}
	{
		uint64_t q_total[MAX_REPS], q_down[MAX_REPS], q_bytes[MAX_REPS],
			q_pass[MAX_REPS], q_dirty[MAX_REPS], o_total[MAX_REPS],
			o_down[MAX_REPS], o_bytes[MAX_REPS], o_pass[MAX_REPS],
			o_dirty[MAX_REPS];
		size_t n = reps;
		bool like = !strcmp(accel, "kvm");

		for (size_t i = 0; i < n; i++) {
			q_total[i] = theirs[i].total_ms;
			q_down[i] = theirs[i].downtime_ms;
			q_bytes[i] = theirs[i].bytes;
			q_pass[i] = theirs[i].passes;
			q_dirty[i] = theirs[i].dirty_pps;
			o_total[i] = ours[i].st.total_ms;
			o_down[i] = ours[i].st.downtime_ms;
			o_bytes[i] = ours[i].st.bytes_sent;
			o_pass[i] = ours[i].st.pass;
			o_dirty[i] = ours[i].warmup_ns ?
					     ours[i].warmup_pages *
						     1000000000ULL /
						     ours[i].warmup_ns :
					     0;
		}
		uint64_t qt = bench_median_u64(q_total, n),
			 qd = bench_median_u64(q_down, n),
			 qb = bench_median_u64(q_bytes, n),
			 qp = bench_median_u64(q_pass, n),
			 qr = bench_median_u64(q_dirty, n),
			 ot = bench_median_u64(o_total, n),
			 od = bench_median_u64(o_down, n),
			 ob = bench_median_u64(o_bytes, n),
			 op = bench_median_u64(o_pass, n),
			 orr = bench_median_u64(o_dirty, n);

		if (json) {
			struct json j;

			json_init(&j, stdout, 2);
			json_open(&j, NULL, '{');
			json_str(&j, "bench", NAME);
			json_u64(&j, "mem_mib", mem >> 20);
			json_u64(&j, "ws_mib", WS_BYTES >> 20);
			json_u64(&j, "rate_pages_per_s", RATE);
			json_u64(&j, "reps", n);
			json_str(&j, "qemu_accel", accel);
			json_u64(&j, "like_for_like", like);
			json_open(&j, "qemu", '{');
			json_u64(&j, "total_ms", qt);
			json_u64(&j, "downtime_ms", qd);
			json_u64(&j, "ram_transferred_bytes", qb);
			json_u64(&j, "dirty_syncs", qp);
			json_u64(&j, "guest_dirty_pages_per_s", qr);
			json_u64(&j, "boot_and_fill_ms", theirs[n - 1].boot_ms);
			json_u64(&j, "dest_guest_pages_500ms",
				 theirs[n - 1].dest_pages_after);
			json_close(&j);
			json_open(&j, "iodirty", '{');
			json_u64(&j, "total_ms", ot);
			json_u64(&j, "downtime_ms", od);
			json_u64(&j, "bytes_sent", ob);
			json_u64(&j, "passes", op);
			json_u64(&j, "guest_dirty_pages_per_s", orr);
			json_close(&j);
			json_double(&j, "total_ratio", ratio(ot, qt));
			json_double(&j, "downtime_ratio", ratio(od, qd));
			json_double(&j, "bytes_ratio", ratio(ob, qb));
			json_close(&j);
		} else {
			printf("live migration of the same guest workload by QEMU (%s) and by iodirty, loopback TCP, %u run%s each, medians\n",
			       accel, (unsigned int)n, n == 1 ? "" : "s");
			printf("guest: %llu MiB, 1 vCPU, every page holding data, RAM writer at %d pages/s over %llu MiB; downtime limit %d ms, no bandwidth cap\n",
			       (unsigned long long)(mem >> 20), RATE,
			       (unsigned long long)(WS_BYTES >> 20),
			       DOWNTIME_LIMIT);
			if (!like)
				printf("QEMU runs under TCG (KVM would not start it): NOT like for like\n");
			printf("\n%-22s %12s %12s %8s\n", "", "QEMU", "iodirty",
			       "ratio");
			cmp_row("total ms", qt, ot, true);
			cmp_row("downtime ms", qd, od, true);
			cmp_row("bytes sent", qb, ob, true);
			cmp_row("passes (dirty syncs)", qp, op, false);
			cmp_row("guest dirty pages/s", qr, orr, false);
			printf("(QEMU: bytes = ram.transferred; iodirty: every byte of the stream. ratio = iodirty / QEMU)\n");
		}
	}
	return 0;
}
