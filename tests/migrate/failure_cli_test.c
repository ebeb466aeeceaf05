// SPDX-License-Identifier: MIT
/*
 * failure_cli_test.c - a failing migration as a user meets it (issue 6):
 * the real `iodirty incoming` and `iodirty migrate` processes (the binary
 * next to this test binary), over tcp.
 *
 * mig_fail_cli: the destination killed (SIGKILL) before the source
 * connects, at once, in the middle of RAM; stopped (SIGSTOP: a stalled
 * peer) against the source's --timeout; a bogus peer that answers with
 * garbage; and a bogus source against `iodirty incoming`. The migrate
 * process must exit 1, say what happened and that the source VM keeps
 * running; a second `iodirty migrate` to a fresh `iodirty incoming` must
 * then succeed with "destination RAM identical".
 *
 * mig_crosshost: source and destination in two network namespaces joined
 * by a veth pair (iproute2), as on two hosts: a migration that succeeds,
 * and one whose link goes down under it (the source times out and keeps
 * running), then a retry once the link is back. Skipped, with the reason,
 * where namespaces cannot be made (not root, no `ip`, not permitted).
 * Names are unique per run and removed afterwards, whatever happened.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/vmm.h>

#include "../../src/migrate/stream.h"
#include "../../src/migrate/transport.h"
#include "../harness/test.h"

#define FC_WAIT_MS    20000 /* the most a process or a wait may take */
#define FC_TIMEOUT    "1000" /* the source's --timeout, milliseconds */
#define FC_SLOW	      "8M" /* --max-bandwidth that keeps RAM moving */
#define FC_MID_RAM_MS 500 /* into the first pass at FC_SLOW */

/* The VM of both ends; small, its device DMAing. */
static const char *const fc_vm_opts[] = {
	"--mem", "128M", "--ram-ws", "16M", "--dma-window", "4M", NULL,
};

static void fc_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

static uint64_t fc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* `iodirty`, next to this binary; skip where no VM can run. */
static void fc_iodirty(char *path, size_t len)
{
	char self[PATH_MAX], msg[VMM_MSG_LEN];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	ASSERT_GT(n, 0);
	self[n] = 0;
	snprintf(path, len, "%s/iodirty", dirname(self));
	if (access(path, X_OK))
		SKIP("%s is not built (make builds it with the tests)", path);
	if (vmm_available(msg, sizeof(msg)))
		SKIP("no VM can run here: %s", msg);
}

/* ---- argument lists ---- */

struct fc_argv {
	char *v[64];
	int n;
};

static void fc_arg(struct fc_argv *a, const char *s)
{
	ASSERT_LT(a->n, 62);
	a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

static void fc_args(struct fc_argv *a, const char *const *list)
{
	for (; *list; list++)
		fc_arg(a, *list);
}

/* ---- child processes, their output in a file ---- */

struct fc_proc {
	pid_t pid;
	char log[64]; /* its stdout and stderr */
};

static void fc_spawn(struct fc_proc *p, struct fc_argv *a)
{
	int fd;

	snprintf(p->log, sizeof(p->log), "/tmp/iodirty-fc-XXXXXX");
	fd = mkstemp(p->log);
	ASSERT_GE(fd, 0);
	fflush(NULL);
	p->pid = fork();
	ASSERT_GE(p->pid, 0);
	if (!p->pid) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(a->v[0], a->v);
		_exit(127);
	}
	close(fd);
}

/* Its output so far, NUL-terminated. */
static void fc_output(const struct fc_proc *p, char *buf, size_t len)
{
	int fd = open(p->log, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

static bool fc_says(const struct fc_proc *p, const char *text)
{
	static char out[65536];

	fc_output(p, out, sizeof(out));
	return strstr(out, text);
}

/* Wait (bounded) until its output says @text. */
static bool fc_wait_text(const struct fc_proc *p, const char *text)
{
	uint64_t t0 = fc_now_ms();

	while (!fc_says(p, text)) {
		if (fc_now_ms() - t0 > FC_WAIT_MS)
			return false;
		fc_sleep_ms(10);
	}
	return true;
}

/*
 * Its exit code (128 + signal if killed by one); one that outlives the
 * bound is killed, and that is a failure.
 */
static int fc_wait(struct fc_proc *p)
{
	uint64_t t0 = fc_now_ms();
	int status = 0;
	pid_t r;

	if (p->pid <= 0)
		return -1;
	while ((r = waitpid(p->pid, &status, WNOHANG)) == 0) {
		if (fc_now_ms() - t0 > FC_WAIT_MS) {
			test_fail_at(__FILE__, __LINE__,
				     "pid %d still running after %d ms",
				     (int)p->pid, FC_WAIT_MS);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			break;
		}
		fc_sleep_ms(10);
	}
	p->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Kill it if it runs, show its output if the test failed, remove it. */
static void fc_reap(struct fc_proc *p, bool show)
{
	static char out[65536];

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
	if (!p->log[0])
		return;
	if (show) {
		fc_output(p, out, sizeof(out));
		fprintf(stderr, "  --- output of the child (%s) ---\n%s\n",
			p->log, out);
	}
	unlink(p->log);
	p->log[0] = 0;
}

/* ---- the two ends ---- */

/* In a network namespace (ip netns exec), or NULL: here. */
struct fc_site {
	const char *iodirty;
	const char *ip; /* the ip binary, with ns */
	const char *ns;
};

static void fc_prefix(struct fc_argv *a, const struct fc_site *s)
{
	if (s->ns) {
		fc_arg(a, s->ip);
		fc_arg(a, "netns");
		fc_arg(a, "exec");
		fc_arg(a, s->ns);
	}
	fc_arg(a, s->iodirty);
}

/*
 * `iodirty incoming` listening on @listen (port 0: any); *@uri gets the
 * address it listens on, which it reports through a pipe.
 */
static void fc_incoming(struct fc_proc *p, const struct fc_site *s,
			const char *listen, char *uri, size_t urilen)
{
	struct fc_argv a = { .n = 0 };
	struct pollfd pfd;
	char fdarg[16];
	int pipefd[2];
	ssize_t n;

	ASSERT_EQ(pipe(pipefd), 0);
	snprintf(fdarg, sizeof(fdarg), "%d", pipefd[1]);
	fc_prefix(&a, s);
	fc_arg(&a, "incoming");
	fc_arg(&a, "--verify");
	fc_arg(&a, "--run-seconds");
	fc_arg(&a, "1");
	fc_arg(&a, "--report-fd");
	fc_arg(&a, fdarg);
	fc_args(&a, fc_vm_opts);
	fc_arg(&a, listen);
	fc_spawn(p, &a);
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	ASSERT_EQ(poll(&pfd, 1, FC_WAIT_MS), 1);
	n = read(pipefd[0], uri, urilen - 1);
	close(pipefd[0]);
	if (n <= 0)
		fc_reap(p, true);
	ASSERT_GT(n, 0);
	uri[n] = 0;
	uri[strcspn(uri, "\n")] = 0;
}

/* `iodirty migrate --verify --warmup 0 [@extra...] @uri`. */
static void fc_migrate(struct fc_proc *p, const struct fc_site *s,
		       const char *uri, const char *const *extra)
{
	struct fc_argv a = { .n = 0 };

	fc_prefix(&a, s);
	fc_arg(&a, "migrate");
	fc_arg(&a, "--verify");
	fc_arg(&a, "--warmup");
	fc_arg(&a, "0");
	if (extra)
		fc_args(&a, extra);
	fc_args(&a, fc_vm_opts);
	fc_arg(&a, uri);
	fc_spawn(p, &a);
}

/* Does migrate say its VM runs on (not connected / nothing handed over)? */
static bool fc_says_runs_on(const struct fc_proc *m)
{
	return fc_says(m, "the VM was not moved") ||
	       fc_says(m, "the source VM resumed");
}

/* A failed migrate: exit 1, what happened, and that the VM runs on. */
static void fc_expect_failed(struct fc_proc *m, const char *says)
{
	int code = fc_wait(m);
	bool ok = code == 1 && fc_says(m, says) && fc_says_runs_on(m) &&
		  !fc_says(m, "outcome is unknown");

	EXPECT_EQ(code, 1);
	if (!fc_says(m, says))
		test_fail_at(__FILE__, __LINE__, "migrate does not say \"%s\"",
			     says);
	EXPECT_TRUE(fc_says_runs_on(m));
	EXPECT_FALSE(fc_says(m, "outcome is unknown"));
	fc_reap(m, !ok);
}

/* The retry: a fresh destination, a second migrate, RAM identical. */
static void fc_expect_retry(const struct fc_site *src,
			    const struct fc_site *dst, const char *listen)
{
	struct fc_proc in = { .pid = -1 }, m = { .pid = -1 };
	char uri[300];
	int code_m, code_in;

	fc_incoming(&in, dst, listen, uri, sizeof(uri));
	fc_migrate(&m, src, uri, NULL);
	code_m = fc_wait(&m);
	code_in = fc_wait(&in);
	EXPECT_EQ(code_m, 0);
	EXPECT_TRUE(fc_says(&m, "destination RAM identical"));
	EXPECT_EQ(code_in, 0);
	EXPECT_TRUE(fc_says(&in, "VM running here"));
	EXPECT_TRUE(fc_says(&in, ", 0 bad"));
	fc_reap(&m, code_m || !fc_says(&m, "destination RAM identical"));
	fc_reap(&in, code_in != 0);
}

/* ---- mig_fail_cli ---- */

enum fc_how {
	FC_KILL_BEFORE_CONNECT,
	FC_KILL_AT_ONCE, /* as the migration starts */
	FC_KILL_MID_RAM,
	FC_STOP_MID_RAM, /* a stalled destination */
};

struct fc_case {
	const char *name;
	enum fc_how how;
	const char *says; /* migrate's stderr */
};

static const struct fc_case fc_cases[] = {
	{ "dest_killed_before_connect", FC_KILL_BEFORE_CONNECT,
	  "Connection refused" },
	{ "dest_killed_at_once", FC_KILL_AT_ONCE, "migration failed: " },
	{ "dest_killed_mid_ram", FC_KILL_MID_RAM,
	  "migration failed: sending " },
	{ "dest_stopped_mid_ram", FC_STOP_MID_RAM, "timed out" },
};

TEST_VARIANTS(mig_fail_cli, dest, struct fc_case, fc_cases)
{
	static const char *const slow[] = { "--max-bandwidth", FC_SLOW,
					    "--timeout", FC_TIMEOUT, NULL };
	struct fc_proc in = { .pid = -1 }, m = { .pid = -1 };
	char iodirty[PATH_MAX], uri[300];
	struct fc_site here;

	fc_iodirty(iodirty, sizeof(iodirty));
	here = (struct fc_site){ .iodirty = iodirty };
	fc_incoming(&in, &here, "tcp:127.0.0.1:0", uri, sizeof(uri));
	if (v->how == FC_KILL_BEFORE_CONNECT)
		fc_reap(&in, false);
	fc_migrate(&m, &here, uri, slow);
	if (v->how != FC_KILL_BEFORE_CONNECT) {
		ASSERT_TRUE(fc_wait_text(&m, "migrating to"));
		if (v->how != FC_KILL_AT_ONCE)
			fc_sleep_ms(FC_MID_RAM_MS);
		/* Still moving RAM: the kill lands before END. */
		EXPECT_FALSE(fc_says(&m, "migration complete"));
		kill(in.pid, v->how == FC_STOP_MID_RAM ? SIGSTOP : SIGKILL);
	}
	fc_expect_failed(&m, v->says);
	fc_reap(&in, false);
	fc_expect_retry(&here, &here, "tcp:127.0.0.1:0");
}

/* A peer that is not a destination: it answers CONFIG with garbage. */
TEST(mig_fail_cli, bogus_peer)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	struct fc_proc m = { .pid = -1 };
	struct mig_transport t = { .fd = -1 };
	char iodirty[PATH_MAX], uri[300], msg[256];
	uint8_t *buf = NULL;
	size_t cap = 0;
	struct mig_record rec;
	struct fc_site here;
	struct mig_uri u;
	int lfd = -1;

	fc_iodirty(iodirty, sizeof(iodirty));
	here = (struct fc_site){ .iodirty = iodirty };
	ASSERT_EQ(mig_uri_parse("tcp:127.0.0.1:0", &u, msg, sizeof(msg)), 0);
	ASSERT_EQ(mig_listen(&u, &lfd, uri, sizeof(uri), msg, sizeof(msg)), 0);
	fc_migrate(&m, &here, uri, NULL);
	ASSERT_EQ(mig_accept(lfd, FC_WAIT_MS, &t, msg, sizeof(msg)), 0);
	mig_listen_close(lfd, &u);
	/* Take what a destination takes first, then answer wrongly. */
	ASSERT_EQ(mig_read_header(&t.chan, msg, sizeof(msg)), 0);
	ASSERT_EQ(mig_read_record(&t.chan, &buf, &cap, &rec, msg, sizeof(msg)),
		  0);
	EXPECT_EQ(rec.type, MIG_REC_CONFIG);
	ASSERT_EQ(t.chan.write(&t.chan, http, sizeof(http) - 1), 0);
	/* The source gives up, and tells its peer why. */
	ASSERT_EQ(mig_read_record(&t.chan, &buf, &cap, &rec, msg, sizeof(msg)),
		  0);
	EXPECT_EQ(rec.type, MIG_REC_ERROR);
	EXPECT_TRUE(strstr(rec.error.text, "unknown record type"));
	fc_expect_failed(&m, "unknown record type");
	mig_transport_close(&t);
	free(buf);
	fc_expect_retry(&here, &here, "tcp:127.0.0.1:0");
}

/* A bogus source: `iodirty incoming` says so, never runs, and is told. */
TEST(mig_fail_cli, bogus_source)
{
	struct fc_proc in = { .pid = -1 };
	struct mig_transport t = { .fd = -1 };
	char iodirty[PATH_MAX], uri[300], msg[256];
	uint8_t hdr[MIG_HEADER_LEN], *buf = NULL;
	uint32_t version = 2, hlen = MIG_HEADER_LEN;
	struct mig_record rec;
	struct fc_site here;
	struct mig_uri u;
	size_t cap = 0;
	int code;

	fc_iodirty(iodirty, sizeof(iodirty));
	here = (struct fc_site){ .iodirty = iodirty };
	fc_incoming(&in, &here, "tcp:127.0.0.1:0", uri, sizeof(uri));
	ASSERT_EQ(mig_uri_parse(uri, &u, msg, sizeof(msg)), 0);
	ASSERT_EQ(mig_connect(&u, FC_WAIT_MS, &t, msg, sizeof(msg)), 0);
	memcpy(hdr, MIG_MAGIC, 8);
	memcpy(hdr + 8, &version, 4);
	memcpy(hdr + 12, &hlen, 4);
	ASSERT_EQ(t.chan.write(&t.chan, hdr, sizeof(hdr)), 0);
	ASSERT_EQ(mig_read_record(&t.chan, &buf, &cap, &rec, msg, sizeof(msg)),
		  0);
	EXPECT_EQ(rec.type, MIG_REC_ERROR);
	EXPECT_EQ(rec.error.err, -EPROTONOSUPPORT);
	EXPECT_TRUE(strstr(rec.error.text, "version 2"));
	mig_transport_close(&t);
	free(buf);
	code = fc_wait(&in);
	EXPECT_EQ(code, 1);
	EXPECT_TRUE(fc_says(
		&in,
		"migration stream version 2; this iodirty reads version 1"));
	EXPECT_TRUE(fc_says(&in, "the VM never ran here"));
	fc_reap(&in, code != 1);
}

/* ---- mig_crosshost: two network namespaces, one veth pair ---- */

#define FC_NET_SRC "10.77.0.1"
#define FC_NET_DST "10.77.0.2"

struct fc_net {
	char ip[32];
	char ns_src[32], ns_dst[32];
	char veth_src[16], veth_dst[16];
};

/* Run `ip ...` (no namespace of ours) to the end; its exit code. */
static int fc_ip(const struct fc_net *n, char *out, size_t outlen, ...)
{
	struct fc_argv a = { .n = 0 };
	struct fc_proc p = { .pid = -1 };
	va_list ap;
	int code;

	fc_arg(&a, n->ip);
	va_start(ap, outlen);
	for (const char *s; (s = va_arg(ap, const char *));)
		fc_arg(&a, s);
	va_end(ap);
	fc_spawn(&p, &a);
	code = fc_wait(&p);
	if (out) {
		fc_output(&p, out, outlen);
		out[strcspn(out, "\n")] = 0;
	}
	fc_reap(&p, false);
	return code;
}

static void fc_net_teardown(const struct fc_net *n)
{
	/* Deleting a namespace deletes the veth end in it, and its peer. */
	fc_ip(n, NULL, 0, "netns", "del", n->ns_src, NULL);
	fc_ip(n, NULL, 0, "netns", "del", n->ns_dst, NULL);
	fc_ip(n, NULL, 0, "link", "del", n->veth_src, NULL);
}

/*
 * Two namespaces joined by a veth pair: 0, or the reason they cannot be
 * made here, in @why.
 */
static int fc_net_setup(const struct fc_net *n, char *why, size_t len)
{
	const char *step[][10] = {
		{ "netns", "add", n->ns_src },
		{ "netns", "add", n->ns_dst },
		{ "link", "add", n->veth_src, "type", "veth", "peer", "name",
		  n->veth_dst },
		{ "link", "set", n->veth_src, "netns", n->ns_src },
		{ "link", "set", n->veth_dst, "netns", n->ns_dst },
		{ "-n", n->ns_src, "addr", "add", FC_NET_SRC "/24", "dev",
		  n->veth_src },
		{ "-n", n->ns_dst, "addr", "add", FC_NET_DST "/24", "dev",
		  n->veth_dst },
		{ "-n", n->ns_src, "link", "set", "dev", n->veth_src, "up" },
		{ "-n", n->ns_dst, "link", "set", "dev", n->veth_dst, "up" },
		{ "-n", n->ns_src, "link", "set", "dev", "lo", "up" },
		{ "-n", n->ns_dst, "link", "set", "dev", "lo", "up" },
	};

	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		char out[512];
		const char *const *s = step[i];

		if (fc_ip(n, out, sizeof(out), s[0], s[1], s[2], s[3], s[4],
			  s[5], s[6], s[7], s[8], s[9])) {
			snprintf(why, len, "`ip %s %s %s` failed: %s", s[0],
				 s[1], s[2], out);
			return -1;
		}
	}
	return 0;
}

/* The test itself: a migration across, and one whose link goes down. */
static void fc_crosshost(const struct fc_net *n, const char *iodirty)
{
	static const char *const slow[] = { "--max-bandwidth", FC_SLOW,
					    "--timeout", FC_TIMEOUT, NULL };
	struct fc_site src = { .iodirty = iodirty,
			       .ip = n->ip,
			       .ns = n->ns_src };
	struct fc_site dst = { .iodirty = iodirty,
			       .ip = n->ip,
			       .ns = n->ns_dst };
	struct fc_proc in = { .pid = -1 }, m = { .pid = -1 };
	char uri[300];

	/* Across the veth: a migration that completes. */
	fc_expect_retry(&src, &dst, "tcp:" FC_NET_DST ":0");

	/* The link goes down under it: the source times out, runs on. */
	fc_incoming(&in, &dst, "tcp:" FC_NET_DST ":0", uri, sizeof(uri));
	EXPECT_TRUE(strstr(uri, FC_NET_DST));
	fc_migrate(&m, &src, uri, slow);
	ASSERT_TRUE(fc_wait_text(&m, "migrating to"));
	fc_sleep_ms(FC_MID_RAM_MS);
	EXPECT_FALSE(fc_says(&m, "migration complete"));
	EXPECT_EQ(fc_ip(n, NULL, 0, "-n", n->ns_src, "link", "set", "dev",
			n->veth_src, "down", NULL),
		  0);
	fc_expect_failed(&m, "timed out");
	fc_reap(&in, false);

	/* The link back: the retry goes through. */
	EXPECT_EQ(fc_ip(n, NULL, 0, "-n", n->ns_src, "link", "set", "dev",
			n->veth_src, "up", NULL),
		  0);
	fc_expect_retry(&src, &dst, "tcp:" FC_NET_DST ":0");
}

/*
 * The guardian: a child that outlives this test however it ends (an
 * ASSERT's _exit, the runner's alarm). It waits on a pipe only this test
 * process holds; a byte means the test ended by itself and waits for it,
 * bare end of file that the test died: then it first kills what the test
 * started (its process group). Either way it removes the namespaces.
 */
static pid_t fc_guardian(const struct fc_net *n, int *ctl)
{
	int p[2];
	pid_t pid;

	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		pid_t group = getpgid(getppid());
		char c;

		setpgid(0, 0);
		close(p[1]);
		if (read(p[0], &c, 1) != 1 && group > 1)
			kill(-group, SIGKILL);
		fc_net_teardown(n);
		_exit(0);
	}
	close(p[0]);
	*ctl = p[1];
	return pid;
}

TEST(mig_crosshost, veth)
{
	static const char *const ips[] = { "/usr/sbin/ip", "/sbin/ip",
					   "/usr/bin/ip", "/bin/ip" };
	char iodirty[PATH_MAX], why[600], out[1024];
	struct fc_net n = { .ip = "" };
	int ctl = -1, status;
	pid_t guardian;

	fc_iodirty(iodirty, sizeof(iodirty));
	if (geteuid())
		SKIP("network namespaces need root (uid %u here)",
		     (unsigned int)geteuid());
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]) && !n.ip[0]; i++)
		if (!access(ips[i], X_OK))
			snprintf(n.ip, sizeof(n.ip), "%s", ips[i]);
	if (!n.ip[0])
		SKIP("no ip (iproute2) in /usr/sbin, /sbin, /usr/bin or /bin");
	snprintf(n.ns_src, sizeof(n.ns_src), "iodirty-src-%d", (int)getpid());
	snprintf(n.ns_dst, sizeof(n.ns_dst), "iodirty-dst-%d", (int)getpid());
	snprintf(n.veth_src, sizeof(n.veth_src), "iodv%ds", (int)getpid());
	snprintf(n.veth_dst, sizeof(n.veth_dst), "iodv%dd", (int)getpid());

	/* This process and what it starts: one group, for the guardian. */
	ASSERT_EQ(setpgid(0, 0), 0);
	guardian = fc_guardian(&n, &ctl);
	if (fc_net_setup(&n, why, sizeof(why))) {
		ASSERT_EQ(write(ctl, "", 1), 1);
		close(ctl);
		waitpid(guardian, &status, 0);
		SKIP("two network namespaces cannot be made here: %s", why);
	}

	fc_crosshost(&n, iodirty);

	/* Done: the guardian cleans up while this waits, then check it did. */
	ASSERT_EQ(write(ctl, "", 1), 1);
	close(ctl);
	ASSERT_EQ(waitpid(guardian, &status, 0), guardian);
	fc_ip(&n, out, sizeof(out), "netns", "list", NULL);
	EXPECT_FALSE(strstr(out, n.ns_src) || strstr(out, n.ns_dst));
	EXPECT_NE(fc_ip(&n, NULL, 0, "link", "show", n.veth_src, NULL), 0);
}
