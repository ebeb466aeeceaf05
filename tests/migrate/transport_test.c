// SPDX-License-Identifier: MIT
/*
 * transport_test.c - the migration transports (src/migrate/transport.h):
 * every URI form and every malformed one; tcp over 127.0.0.1 and ::1, unix
 * sockets, file save/restore, fd: with a socketpair and a pipe, moving
 * bytes both ways and checking them; and what a peer that stalls, closes or
 * is not there looks like to the stream code (the errnos of struct
 * mig_chan). Network traffic stays on 127.0.0.0/8 and ::1.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../src/migrate/transport.h"
#include "../harness/test.h"

#define SHORT_MS 200 /* the stalled-peer timeout under test */
#define LONG_MS	 10000 /* a bound nothing here should reach */

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

/* Byte @i of the test pattern: not periodic at any power of two. */
static uint8_t pat(uint64_t i, uint8_t salt)
{
	return (uint8_t)(i * 131 + (i >> 11) * 7 + salt);
}

static uint8_t *pattern(size_t len, uint8_t salt)
{
	uint8_t *p = malloc(len);

	ASSERT_TRUE(p);
	for (size_t i = 0; i < len; i++)
		p[i] = pat(i, salt);
	return p;
}

/* ---- a writer on another thread ---- */

struct writer {
	pthread_t th;
	struct mig_chan *chan;
	const uint8_t *buf;
	size_t len;
	size_t chunk; /* bytes per write call */
	unsigned int delay_ms; /* between calls */
	int rc;
	int64_t max_gap_ms; /* longest time between two writes ending */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int64_t last = ms_now();

	for (size_t off = 0; off < w->len;) {
		size_t n = w->len - off < w->chunk ? w->len - off : w->chunk;
		int64_t now;

		w->rc = w->chan->write(w->chan, w->buf + off, n);
		if (w->rc)
			return NULL;
		now = ms_now();
		if (now - last > w->max_gap_ms)
			w->max_gap_ms = now - last;
		last = now;
		off += n;
		if (w->delay_ms)
			sleep_ms(w->delay_ms);
	}
	return NULL;
}

static void writer_start(struct writer *w, struct mig_chan *chan,
			 const uint8_t *buf, size_t len, size_t chunk,
			 unsigned int delay_ms)
{
	*w = (struct writer){ .chan = chan,
			      .buf = buf,
			      .len = len,
			      .chunk = chunk,
			      .delay_ms = delay_ms };
	ASSERT_EQ(pthread_create(&w->th, NULL, writer_main, w), 0);
}

static int writer_join(struct writer *w)
{
	pthread_join(w->th, NULL);
	return w->rc;
}

/*
 * @len bytes from @a to @b, written in 1 MiB calls and read in uneven
 * ones, then a short answer from @b to @a (when both are two-way); checks
 * every byte and both ends' counters.
 */
static void exchange(struct mig_transport *a, struct mig_transport *b,
		     size_t len, bool answer)
{
	static const size_t reads[] = { 1,	   7,	    4096,
					65536 + 3, 1 << 20, (3 << 20) + 5 };
	uint8_t *src = pattern(len, 0x11), *dst = malloc(len);
	uint8_t ans[100], got[100];
	uint64_t in0 = b->bytes_in, out0 = a->bytes_out;
	struct writer w;
	size_t off = 0;

	ASSERT_TRUE(dst);
	writer_start(&w, &a->chan, src, len, 1 << 20, 0);
	for (unsigned int i = 0; off < len; i++) {
		size_t n = reads[i % 6];

		if (n > len - off)
			n = len - off;
		ASSERT_RC(0, b->chan.read(&b->chan, dst + off, n));
		off += n;
	}
	ASSERT_RC(0, writer_join(&w));
	EXPECT_MEMEQ(src, dst, len);
	EXPECT_EQ(a->bytes_out - out0, len);
	EXPECT_EQ(b->bytes_in - in0, len);
	if (answer) {
		for (unsigned int i = 0; i < sizeof(ans); i++)
			ans[i] = pat(i, 0x77);
		ASSERT_RC(0, b->chan.write(&b->chan, ans, sizeof(ans)));
		ASSERT_RC(0, a->chan.read(&a->chan, got, sizeof(got)));
		EXPECT_MEMEQ(ans, got, sizeof(ans));
	}
	free(src);
	free(dst);
}

/* ---- connections ---- */

/* Listen on @uri, connect to where it listens, accept: two ends. */
static void tcp_pair(const char *uri, struct mig_transport *a,
		     struct mig_transport *b, int timeout_ms, char *actual,
		     size_t actual_len)
{
	struct mig_uri u, c;
	char msg[256] = "";
	int lfd;

	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	ASSERT_RC(0,
		  mig_listen(&u, &lfd, actual, actual_len, msg, sizeof(msg)));
	ASSERT_RC(0, mig_uri_parse(actual, &c, msg, sizeof(msg)));
	if (mig_connect(&c, timeout_ms, a, msg, sizeof(msg)))
		test_fail_at(__FILE__, __LINE__, "connect: %s", msg);
	ASSERT_GE(a->fd, 0);
	ASSERT_RC(0, mig_accept(lfd, timeout_ms, b, msg, sizeof(msg)));
	mig_listen_close(lfd, &u);
}

static bool ipv6_loopback(char *why, size_t len)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok;

	if (fd < 0) {
		snprintf(why, len, "no IPv6 sockets: %s", strerror(errno));
		return false;
	}
	ok = !bind(fd, (struct sockaddr *)&a, sizeof(a));
	if (!ok)
		snprintf(why, len, "cannot bind [::1]: %s", strerror(errno));
	close(fd);
	return ok;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

/* A port on 127.0.0.1 that nobody listens on (just freed). */
static unsigned int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char path[128];

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/iodirty-tr-XXXXXX");
		ASSERT_TRUE(mkdtemp(tmpdir));
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void tmp_cleanup(void)
{
	char cmd[128];

	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	EXPECT_EQ(system(cmd), 0);
	tmpdir[0] = 0;
}

/* ---- URIs ---- */

TEST(mig_transport, uri_good)
{
	static const struct {
		const char *s;
		enum mig_uri_kind kind;
		const char *where; /* host, or path */
		const char *port;
		int fd;
		const char *formatted; /* NULL: @s itself */
	} good[] = {
		{ "tcp:127.0.0.1:4444", MIG_URI_TCP, "127.0.0.1", "4444", 0,
		  NULL },
		{ "tcp:[::1]:4444", MIG_URI_TCP, "::1", "4444", 0, NULL },
		{ "tcp:localhost:1", MIG_URI_TCP, "localhost", "1", 0, NULL },
		{ "tcp:my-host_1.example:65535", MIG_URI_TCP,
		  "my-host_1.example", "65535", 0, NULL },
		{ "tcp::4444", MIG_URI_TCP, "", "4444", 0, NULL },
		{ "tcp:0.0.0.0:4444", MIG_URI_TCP, "0.0.0.0", "4444", 0, NULL },
		{ "tcp:[::]:4444", MIG_URI_TCP, "::", "4444", 0, NULL },
		{ "tcp:[fe80::1%lo]:5", MIG_URI_TCP, "fe80::1%lo", "5", 0,
		  NULL },
		{ "tcp:[::ffff:127.0.0.1]:7", MIG_URI_TCP, "::ffff:127.0.0.1",
		  "7", 0, NULL },
		{ "tcp:127.0.0.1:0", MIG_URI_TCP, "127.0.0.1", "0", 0, NULL },
		{ "tcp:127.0.0.1:04444", MIG_URI_TCP, "127.0.0.1", "4444", 0,
		  "tcp:127.0.0.1:4444" },
		{ "unix:/run/iodirty/mig.sock", MIG_URI_UNIX,
		  "/run/iodirty/mig.sock", NULL, 0, NULL },
		{ "unix:relative.sock", MIG_URI_UNIX, "relative.sock", NULL, 0,
		  NULL },
		{ "unix:a:b,c", MIG_URI_UNIX, "a:b,c", NULL, 0, NULL },
		{ "file:/var/lib/vm.state", MIG_URI_FILE, "/var/lib/vm.state",
		  NULL, 0, NULL },
		{ "file:a,offset=1", MIG_URI_FILE, "a,offset=1", NULL, 0,
		  NULL },
		{ "fd:0", MIG_URI_FD, NULL, NULL, 0, NULL },
		{ "fd:42", MIG_URI_FD, NULL, NULL, 42, NULL },
		{ "fd:2147483647", MIG_URI_FD, NULL, NULL, 2147483647, NULL },
	};
	char msg[256], buf[512];
	struct mig_uri u;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *want =
			good[i].formatted ? good[i].formatted : good[i].s;

		msg[0] = 0;
		if (mig_uri_parse(good[i].s, &u, msg, sizeof(msg))) {
			test_fail_at(__FILE__, __LINE__, "'%s' refused: %s",
				     good[i].s, msg);
			continue;
		}
		EXPECT_EQ(u.kind, good[i].kind);
		if (good[i].kind == MIG_URI_TCP) {
			EXPECT_EQ(strcmp(u.host, good[i].where), 0);
			EXPECT_EQ(strcmp(u.port, good[i].port), 0);
		} else if (good[i].kind == MIG_URI_FD) {
			EXPECT_EQ(u.fd, good[i].fd);
		} else {
			EXPECT_EQ(strcmp(u.path, good[i].where), 0);
		}
		EXPECT_EQ(mig_uri_format(&u, buf, sizeof(buf)),
			  (int)strlen(want));
		if (strcmp(buf, want))
			test_fail_at(__FILE__, __LINE__,
				     "'%s' formats as '%s', want '%s'",
				     good[i].s, buf, want);
	}
}

TEST(mig_transport, uri_unix_path_limit)
{
	char s[8 + MIG_UNIX_PATH_MAX + 2], msg[256];
	struct mig_uri u;

	/* 107 bytes fit sun_path with its NUL; 108 do not. */
	memcpy(s, "unix:", 5);
	memset(s + 5, 'p', MIG_UNIX_PATH_MAX);
	s[5 + MIG_UNIX_PATH_MAX] = 0;
	ASSERT_RC(0, mig_uri_parse(s, &u, msg, sizeof(msg)));
	EXPECT_EQ(strlen(u.path), MIG_UNIX_PATH_MAX);
	s[5 + MIG_UNIX_PATH_MAX] = 'p';
	s[6 + MIG_UNIX_PATH_MAX] = 0;
	msg[0] = 0;
	EXPECT_RC(-EINVAL, mig_uri_parse(s, &u, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "at most 107"));
}

TEST(mig_transport, uri_bad)
{
	static const struct {
		const char *s;
		const char *says; /* a part of the message */
	} bad[] = {
		{ "", "empty" },
		{ "tcp", "no scheme" },
		{ "/tmp/vm.state", "no scheme" },
		{ "127.0.0.1:4444", "unknown scheme" },
		{ "ftp:host:21", "unknown scheme 'ftp:'" },
		{ "TCP:127.0.0.1:4444", "unknown scheme" },
		{ ":4444", "unknown scheme" },
		{ "exec:cat > vm.state", "exec: is not supported" },
		{ "rdma:127.0.0.1:4444", "rdma: is not supported" },
		{ "tcp:", "expected tcp:HOST:PORT" },
		{ "tcp:4444", "expected tcp:HOST:PORT" },
		{ "tcp:localhost", "expected tcp:HOST:PORT" },
		{ "tcp:127.0.0.1:", "no port" },
		{ "tcp::", "no port" },
		{ "tcp:127.0.0.1:65536", "not 1 to 65535" },
		{ "tcp:127.0.0.1:99999", "not 1 to 65535" },
		{ "tcp:127.0.0.1:123456", "not 1 to 65535" },
		{ "tcp:127.0.0.1:-1", "not 1 to 65535" },
		{ "tcp:127.0.0.1:+80", "not 1 to 65535" },
		{ "tcp:127.0.0.1: 80", "not 1 to 65535" },
		{ "tcp:127.0.0.1:80 ", "not 1 to 65535" },
		{ "tcp:127.0.0.1:0x50", "not 1 to 65535" },
		{ "tcp:127.0.0.1:http", "not 1 to 65535" },
		{ "tcp:127.0.0.1:4444,ipv4", "not 1 to 65535" },
		{ "tcp:::1:4444", "in brackets" },
		{ "tcp:fe80::1:4444", "in brackets" },
		{ "tcp:[::1:4444", "no ']'" },
		{ "tcp:[::1]4444", "expected ':PORT'" },
		{ "tcp:[::1]", "expected ':PORT'" },
		{ "tcp:[::1]:", "no port" },
		{ "tcp:[]:4444", "not an IPv6 address" },
		{ "tcp:[localhost]:4444", "not an IPv6 address" },
		{ "tcp:[127.0.0.1]:4444", "not an IPv6 address" },
		{ "tcp:[::1%]:4444", "not an IPv6 address" },
		{ "tcp:[::g]:4444", "not an IPv6 address" },
		{ "tcp:bad host:4444", "not a host name" },
		{ "tcp:host]:4444", "not a host name" },
		{ "tcp:h\tx:4444", "not a host name" },
		{ "unix:", "no socket path" },
		{ "file:", "no file path" },
		{ "fd:", "expected fd:N" },
		{ "fd:abc", "expected fd:N" },
		{ "fd:-1", "expected fd:N" },
		{ "fd:3x", "expected fd:N" },
		{ "fd: 3", "expected fd:N" },
		{ "fd:+3", "expected fd:N" },
		{ "fd:2147483648", "expected fd:N" },
		{ "fd:99999999999", "expected fd:N" },
		{ "fd:migfd", "expected fd:N" },
	};
	char msg[256];
	struct mig_uri u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		msg[0] = 0;
		rc = mig_uri_parse(bad[i].s, &u, msg, sizeof(msg));
		if (rc != -EINVAL)
			test_fail_at(__FILE__, __LINE__,
				     "'%s': returned %d, want -EINVAL",
				     bad[i].s, rc);
		else if (!strstr(msg, bad[i].says))
			test_fail_at(__FILE__, __LINE__,
				     "'%s': message '%s' does not say '%s'",
				     bad[i].s, msg, bad[i].says);
	}
	/* No URI at all, and no room for a message. */
	EXPECT_RC(-EINVAL, mig_uri_parse(NULL, &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL, mig_uri_parse("tcp:x", &u, NULL, 0));
}

TEST(mig_transport, uri_long)
{
	size_t n = PATH_MAX + 300;
	char *s = malloc(n), msg[256] = "";
	struct mig_uri u;

	ASSERT_TRUE(s);
	/* A host of 256 bytes: one too many. */
	snprintf(s, n, "tcp:%0256d:1", 0);
	memset(s + 4, 'h', 256);
	EXPECT_RC(-EINVAL, mig_uri_parse(s, &u, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "longer than 255"));
	memset(s + 4, 'h', 255);
	memmove(s + 4 + 255, s + 4 + 256, strlen(s + 4 + 256) + 1);
	EXPECT_RC(0, mig_uri_parse(s, &u, msg, sizeof(msg)));
	/* A file path of PATH_MAX bytes: no room for its NUL. */
	memcpy(s, "file:", 5);
	memset(s + 5, 'f', PATH_MAX);
	s[5 + PATH_MAX] = 0;
	msg[0] = 0;
	EXPECT_RC(-EINVAL, mig_uri_parse(s, &u, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "longer than"));
	s[5 + PATH_MAX - 1] = 0;
	EXPECT_RC(0, mig_uri_parse(s, &u, msg, sizeof(msg)));
	free(s);
}

/* ---- tcp ---- */

static void check_tcp_end(const struct mig_transport *t, const char *prefix)
{
	int v = 0;
	socklen_t len = sizeof(v);

	EXPECT_TRUE(t->two_way);
	EXPECT_TRUE(t->can_read);
	EXPECT_TRUE(t->can_write);
	if (strncmp(t->peer, prefix, strlen(prefix)))
		test_fail_at(__FILE__, __LINE__, "peer '%s', want '%s...'",
			     t->peer, prefix);
	ASSERT_EQ(getsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	EXPECT_NE(v, 0);
	/* Close-on-exec: a migration socket must not leak into children. */
	EXPECT_TRUE(fcntl(t->fd, F_GETFD) & FD_CLOEXEC);
}

TEST(mig_transport, tcp_v4)
{
	struct mig_transport a, b;
	char actual[128];
	unsigned int port;

	tcp_pair("tcp:127.0.0.1:0", &a, &b, LONG_MS, actual, sizeof(actual));
	/* Port 0: the listener says which port it got. */
	ASSERT_EQ(sscanf(actual, "tcp:127.0.0.1:%u", &port), 1);
	EXPECT_GT(port, 0);
	EXPECT_LE(port, 65535);
	check_tcp_end(&a, actual);
	check_tcp_end(&b, "tcp:127.0.0.1:");
	exchange(&a, &b, 24 << 20, true);
	exchange(&b, &a, 5 << 20, true);
	/* A read or write of nothing is nothing. */
	EXPECT_RC(0, a.chan.read(&a.chan, NULL, 0));
	EXPECT_RC(0, a.chan.write(&a.chan, NULL, 0));
	EXPECT_RC(0, mig_transport_close(&a));
	EXPECT_EQ(a.fd, -1);
	EXPECT_RC(0, mig_transport_close(&a));
	EXPECT_RC(-EBADF, a.chan.write(&a.chan, "x", 1));
	mig_transport_close(&b);
}

TEST(mig_transport, tcp_v6)
{
	struct mig_transport a, b;
	char actual[128], why[128];
	unsigned int port;

	if (!ipv6_loopback(why, sizeof(why)))
		SKIP("%s", why);
	tcp_pair("tcp:[::1]:0", &a, &b, LONG_MS, actual, sizeof(actual));
	ASSERT_EQ(sscanf(actual, "tcp:[::1]:%u", &port), 1);
	EXPECT_GT(port, 0);
	check_tcp_end(&a, actual);
	check_tcp_end(&b, "tcp:[::1]:");
	exchange(&a, &b, 8 << 20, true);
	mig_transport_close(&a);
	mig_transport_close(&b);
}

TEST(mig_transport, tcp_host_name)
{
	struct mig_transport a, b;
	char actual[128];

	/* localhost comes from /etc/hosts: loopback, no DNS. */
	tcp_pair("tcp:localhost:0", &a, &b, LONG_MS, actual, sizeof(actual));
	if (strncmp(actual, "tcp:127.", 8) && strncmp(actual, "tcp:[::1]:", 10))
		test_fail_at(__FILE__, __LINE__, "localhost listens on %s",
			     actual);
	exchange(&a, &b, 1 << 20, true);
	mig_transport_close(&a);
	mig_transport_close(&b);
}

/* An empty host listens on loopback, never on every interface. */
TEST(mig_transport, tcp_listen_default_loopback)
{
	struct mig_transport a, b;
	char actual[128], msg[256], uri[64];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct mig_uri u, c;
	unsigned int port;
	int lfd, lfd2 = 7;

	ASSERT_RC(0, mig_uri_parse("tcp::0", &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_listen(&u, &lfd, actual, sizeof(actual), msg,
				sizeof(msg)));
	ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	EXPECT_TRUE(is_loopback(&ss));
	/* IPv4 first: this box has it. */
	EXPECT_EQ(ss.ss_family, AF_INET);
	ASSERT_EQ(sscanf(actual, "tcp:127.0.0.1:%u", &port), 1);
	/* tcp::PORT to connect is loopback too. */
	snprintf(uri, sizeof(uri), "tcp::%u", port);
	ASSERT_RC(0, mig_uri_parse(uri, &c, msg, sizeof(msg)));
	ASSERT_RC(0, mig_connect(&c, LONG_MS, &a, msg, sizeof(msg)));
	ASSERT_RC(0, mig_accept(lfd, LONG_MS, &b, msg, sizeof(msg)));
	exchange(&a, &b, 4096, true);
	mig_transport_close(&a);
	mig_transport_close(&b);

	/* The port taken on 127.0.0.1: no quiet move to ::1 or elsewhere. */
	msg[0] = 0;
	EXPECT_RC(-EADDRINUSE,
		  mig_listen(&c, &lfd2, NULL, 0, msg, sizeof(msg)));
	EXPECT_EQ(lfd2, -1);
	EXPECT_TRUE(strstr(msg, "tcp:127.0.0.1:"));
	EXPECT_TRUE(strstr(msg, strerror(EADDRINUSE)));
	mig_listen_close(lfd, &u);
}

TEST(mig_transport, tcp_listen_in_use)
{
	char actual[128], msg[256] = "";
	struct mig_uri u, c;
	int lfd, lfd2 = 7;

	ASSERT_RC(0, mig_uri_parse("tcp:127.0.0.1:0", &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_listen(&u, &lfd, actual, sizeof(actual), msg,
				sizeof(msg)));
	ASSERT_RC(0, mig_uri_parse(actual, &c, msg, sizeof(msg)));
	EXPECT_RC(-EADDRINUSE,
		  mig_listen(&c, &lfd2, NULL, 0, msg, sizeof(msg)));
	EXPECT_EQ(lfd2, -1);
	EXPECT_TRUE(strstr(msg, actual));
	mig_listen_close(lfd, &u);
}

TEST(mig_transport, tcp_connect_refused)
{
	struct mig_transport t;
	char uri[64], msg[256] = "";
	struct mig_uri u;

	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", closed_port());
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	EXPECT_RC(-ECONNREFUSED,
		  mig_connect(&u, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_EQ(t.fd, -1);
	if (!strstr(msg, uri) || !strstr(msg, strerror(ECONNREFUSED)))
		test_fail_at(__FILE__, __LINE__, "message '%s'", msg);
	EXPECT_RC(0, mig_transport_close(&t));
	/* Port 0 is for listening. */
	ASSERT_RC(0, mig_uri_parse("tcp:127.0.0.1:0", &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL, mig_connect(&u, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "port 0"));
}

TEST(mig_transport, accept_timeout)
{
	struct mig_transport t;
	char actual[128], msg[256] = "";
	struct mig_uri u;
	int64_t t0, dt;
	int lfd;

	ASSERT_RC(0, mig_uri_parse("tcp:127.0.0.1:0", &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_listen(&u, &lfd, actual, sizeof(actual), msg,
				sizeof(msg)));
	t0 = ms_now();
	EXPECT_RC(-ETIMEDOUT, mig_accept(lfd, SHORT_MS, &t, msg, sizeof(msg)));
	dt = ms_now() - t0;
	EXPECT_GE(dt, SHORT_MS - 5);
	EXPECT_LT(dt, SHORT_MS + 1000);
	EXPECT_EQ(t.fd, -1);
	EXPECT_TRUE(strstr(msg, "200 ms"));
	EXPECT_RC(-EBADF, mig_accept(-1, SHORT_MS, &t, msg, sizeof(msg)));
	mig_listen_close(lfd, &u);
}

/* Not a socket URI, not a file URI: each opener says so. */
TEST(mig_transport, wrong_kind)
{
	struct mig_transport t;
	char msg[256];
	struct mig_uri u;
	int lfd;

	ASSERT_RC(0,
		  mig_uri_parse("file:/nonexistent/x", &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL, mig_listen(&u, &lfd, NULL, 0, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL, mig_connect(&u, SHORT_MS, &t, msg, sizeof(msg)));
	ASSERT_RC(0, mig_uri_parse("fd:0", &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL, mig_listen(&u, &lfd, NULL, 0, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL, mig_connect(&u, SHORT_MS, &t, msg, sizeof(msg)));
	ASSERT_RC(0, mig_uri_parse("tcp:127.0.0.1:1", &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL,
		  mig_open_file(&u, true, SHORT_MS, &t, msg, sizeof(msg)));
	ASSERT_RC(0,
		  mig_uri_parse("unix:/nonexistent/s", &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL,
		  mig_open_file(&u, false, SHORT_MS, &t, msg, sizeof(msg)));
}

/* ---- what the stream code sees of a bad peer ---- */

TEST(mig_transport, stalled_peer_times_out)
{
	struct mig_transport a, b;
	char actual[128], c;
	uint8_t *big;
	int64_t t0, dt;
	int rc;

	tcp_pair("tcp:127.0.0.1:0", &a, &b, SHORT_MS, actual, sizeof(actual));
	/* Nothing comes: the read gives up after SHORT_MS, not before. */
	t0 = ms_now();
	EXPECT_RC(-ETIMEDOUT, b.chan.read(&b.chan, &c, 1));
	dt = ms_now() - t0;
	EXPECT_GE(dt, SHORT_MS - 5);
	EXPECT_LT(dt, SHORT_MS + 1000);

	/* Part of what was asked comes, then nothing. */
	ASSERT_RC(0, a.chan.write(&a.chan, "abc", 3));
	t0 = ms_now();
	big = malloc(64 << 20);
	ASSERT_TRUE(big);
	EXPECT_RC(-ETIMEDOUT, b.chan.read(&b.chan, big, 10));
	EXPECT_EQ(b.bytes_in, 3);
	EXPECT_LT(ms_now() - t0, SHORT_MS + 1000);

	/* Nobody reads: a writer times out once the buffers are full. */
	memset(big, 0x5a, 64 << 20);
	t0 = ms_now();
	rc = a.chan.write(&a.chan, big, 64 << 20);
	dt = ms_now() - t0;
	EXPECT_RC(-ETIMEDOUT, rc);
	EXPECT_GT(a.bytes_out, 3);
	EXPECT_LT(a.bytes_out, 3 + (64 << 20));
	EXPECT_GE(dt, SHORT_MS - 5);
	EXPECT_LT(dt, SHORT_MS + 3000);
	free(big);
	mig_transport_close(&a);
	mig_transport_close(&b);
}

/*
 * A slow peer that keeps sending is not a stalled one: one byte every
 * quarter of the timeout, 8 bytes over twice the timeout, for one read.
 * A machine loaded enough to hold the sender up for a whole timeout makes
 * that a real stall: then a timeout is right, and the test skips saying so.
 */
TEST(mig_transport, slow_peer_is_not_stalled)
{
	static const uint8_t msg[8] = "01234567";
	const int timeout_ms = 1000;
	struct mig_transport a, b;
	char actual[128];
	uint8_t got[8];
	struct writer w;
	int64_t t0;
	int rc;

	tcp_pair("tcp:127.0.0.1:0", &a, &b, timeout_ms, actual, sizeof(actual));
	t0 = ms_now();
	writer_start(&w, &a.chan, msg, sizeof(msg), 1, timeout_ms / 4);
	rc = b.chan.read(&b.chan, got, sizeof(got));
	if (rc == -ETIMEDOUT)
		shutdown(b.fd, SHUT_RDWR);
	writer_join(&w);
	if (rc == -ETIMEDOUT && w.max_gap_ms >= timeout_ms)
		SKIP("the sender was held up for %" PRId64 " ms (timeout %d)",
		     w.max_gap_ms, timeout_ms);
	EXPECT_RC(0, rc);
	EXPECT_RC(0, w.rc);
	EXPECT_MEMEQ(got, msg, sizeof(msg));
	EXPECT_GT(ms_now() - t0, timeout_ms);
	mig_transport_close(&a);
	mig_transport_close(&b);
}

TEST(mig_transport, peer_closes_mid_read)
{
	struct mig_transport a, b;
	char actual[128];
	uint8_t buf[100];

	tcp_pair("tcp:127.0.0.1:0", &a, &b, LONG_MS, actual, sizeof(actual));
	ASSERT_RC(0, a.chan.write(&a.chan, "0123456789", 10));
	mig_transport_close(&a);
	/* 10 of the 100 bytes came, then end of stream. */
	EXPECT_RC(-EPIPE, b.chan.read(&b.chan, buf, sizeof(buf)));
	EXPECT_EQ(b.bytes_in, 10);
	EXPECT_MEMEQ(buf, "0123456789", 10);
	/* And at a record boundary, too. */
	EXPECT_RC(-EPIPE, b.chan.read(&b.chan, buf, 1));
	mig_transport_close(&b);
}

TEST(mig_transport, peer_reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct mig_transport a, b;
	char actual[128];
	uint8_t buf[16];

	tcp_pair("tcp:127.0.0.1:0", &a, &b, LONG_MS, actual, sizeof(actual));
	/* An abortive close: the peer sends RST. */
	ASSERT_EQ(setsockopt(a.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	mig_transport_close(&a);
	EXPECT_RC(-ECONNRESET, b.chan.read(&b.chan, buf, sizeof(buf)));
	mig_transport_close(&b);
}

/* Writing to a peer that is gone is an errno, never SIGPIPE. */
TEST(mig_transport, write_to_closed_peer)
{
	struct mig_transport a, b;
	char actual[128];
	static uint8_t buf[64 << 10];
	sigset_t pending;
	int rc = 0;

	tcp_pair("tcp:127.0.0.1:0", &a, &b, LONG_MS, actual, sizeof(actual));
	mig_transport_close(&b);
	for (int i = 0; i < 100 && !rc; i++) {
		rc = a.chan.write(&a.chan, buf, sizeof(buf));
		if (!rc)
			sleep_ms(5);
	}
	if (rc != -EPIPE && rc != -ECONNRESET)
		test_fail_at(
			__FILE__, __LINE__,
			"write to a closed peer: %d, want -EPIPE or -ECONNRESET",
			rc);
	ASSERT_EQ(sigpending(&pending), 0);
	EXPECT_FALSE(sigismember(&pending, SIGPIPE));
	mig_transport_close(&a);
}

/* ---- unix sockets ---- */

TEST(mig_transport, unix_socket)
{
	struct mig_transport a, b, t;
	char uri[160], actual[160], msg[256] = "";
	struct mig_uri u;
	struct stat st;
	int lfd, lfd2;

	snprintf(uri, sizeof(uri), "unix:%s", tmp_path("mig.sock"));
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_listen(&u, &lfd, actual, sizeof(actual), msg,
				sizeof(msg)));
	EXPECT_EQ(strcmp(actual, uri), 0);
	ASSERT_RC(0, mig_connect(&u, LONG_MS, &a, msg, sizeof(msg)));
	ASSERT_RC(0, mig_accept(lfd, LONG_MS, &b, msg, sizeof(msg)));
	EXPECT_EQ(strcmp(a.peer, uri), 0);
	EXPECT_EQ(strcmp(b.peer, uri), 0);
	EXPECT_TRUE(a.two_way && b.two_way);
	exchange(&a, &b, 16 << 20, true);

	/* A second listener while the first answers: refused. */
	EXPECT_RC(-EADDRINUSE,
		  mig_listen(&u, &lfd2, NULL, 0, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "another listener"));
	mig_transport_close(&a);
	mig_transport_close(&b);

	/* The listener dies without removing its socket: replaced. */
	close(lfd);
	ASSERT_EQ(lstat(u.path, &st), 0);
	ASSERT_RC(0, mig_listen(&u, &lfd, NULL, 0, msg, sizeof(msg)));
	ASSERT_RC(0, mig_connect(&u, LONG_MS, &a, msg, sizeof(msg)));
	ASSERT_RC(0, mig_accept(lfd, LONG_MS, &b, msg, sizeof(msg)));
	exchange(&b, &a, 4096, true);
	mig_transport_close(&a);
	mig_transport_close(&b);
	mig_listen_close(lfd, &u);
	EXPECT_ERRNO(ENOENT, lstat(u.path, &st));

	/* Nobody there. */
	EXPECT_RC(-ENOENT, mig_connect(&u, SHORT_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, uri));
	EXPECT_EQ(t.fd, -1);
	tmp_cleanup();
}

/* A URI built by hand, not parsed: a path sun_path cannot hold. */
TEST(mig_transport, unix_path_too_long)
{
	static struct mig_uri u = { .kind = MIG_URI_UNIX };
	struct mig_transport t;
	char msg[256] = "";
	int lfd;

	memset(u.path, 'p', MIG_UNIX_PATH_MAX + 1);
	EXPECT_RC(-EINVAL, mig_listen(&u, &lfd, NULL, 0, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "1 to 107 fit"));
	EXPECT_RC(-EINVAL, mig_connect(&u, SHORT_MS, &t, msg, sizeof(msg)));
	EXPECT_EQ(t.fd, -1);
}

TEST(mig_transport, unix_path_not_a_socket)
{
	char uri[160], msg[256] = "";
	struct mig_uri u;
	struct stat st;
	int fd, lfd;

	snprintf(uri, sizeof(uri), "unix:%s", tmp_path("precious"));
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	fd = open(u.path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, "data", 4), 4);
	close(fd);
	EXPECT_RC(-EADDRINUSE, mig_listen(&u, &lfd, NULL, 0, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "not a socket"));
	/* The file is left alone. */
	ASSERT_EQ(stat(u.path, &st), 0);
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_size, 4);
	tmp_cleanup();
}

/* ---- files and fds ---- */

TEST(mig_transport, file_save_restore)
{
	size_t len = (3 << 20) + 12345;
	uint8_t *src = pattern(len, 0x33), *dst = malloc(len + 1);
	char uri[160], msg[256] = "";
	struct mig_transport w, r;
	struct mig_uri u;
	struct stat st;

	ASSERT_TRUE(dst);
	snprintf(uri, sizeof(uri), "file:%s", tmp_path("vm.state"));
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	/* Nothing saved yet. */
	EXPECT_RC(-ENOENT,
		  mig_open_file(&u, false, LONG_MS, &r, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, uri));

	ASSERT_RC(0, mig_open_file(&u, true, LONG_MS, &w, msg, sizeof(msg)));
	EXPECT_FALSE(w.two_way);
	EXPECT_EQ(strcmp(w.peer, uri), 0);
	ASSERT_RC(0, w.chan.write(&w.chan, src, 100));
	ASSERT_RC(0, w.chan.write(&w.chan, src + 100, len - 100));
	EXPECT_EQ(w.bytes_out, len);
	/* One-way: a saved file answers nothing. */
	EXPECT_RC(-EBADF, w.chan.read(&w.chan, dst, 1));
	ASSERT_RC(0, mig_transport_close(&w));
	ASSERT_EQ(stat(u.path, &st), 0);
	EXPECT_EQ(st.st_size, len);
	EXPECT_EQ(st.st_mode & 077, 0);

	ASSERT_RC(0, mig_open_file(&u, false, LONG_MS, &r, msg, sizeof(msg)));
	EXPECT_RC(-EBADF, r.chan.write(&r.chan, src, 1));
	ASSERT_RC(0, r.chan.read(&r.chan, dst, 7));
	ASSERT_RC(0, r.chan.read(&r.chan, dst + 7, len - 7));
	EXPECT_MEMEQ(src, dst, len);
	EXPECT_EQ(r.bytes_in, len);
	/* A truncated file: end of stream. */
	EXPECT_RC(-EPIPE, r.chan.read(&r.chan, dst, 1));
	mig_transport_close(&r);

	/* Saving again replaces, never appends. */
	ASSERT_RC(0, mig_open_file(&u, true, LONG_MS, &w, msg, sizeof(msg)));
	ASSERT_RC(0, w.chan.write(&w.chan, "x", 1));
	ASSERT_RC(0, mig_transport_shutdown_write(&w));
	EXPECT_EQ(w.fd, -1);
	ASSERT_EQ(stat(u.path, &st), 0);
	EXPECT_EQ(st.st_size, 1);
	free(src);
	free(dst);
	tmp_cleanup();
}

TEST(mig_transport, fd_socketpair)
{
	struct mig_transport a, b;
	char uri[32], msg[256] = "";
	struct mig_uri u;
	int sv[2];

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	/* A socket is two-way, whichever direction is asked for. */
	ASSERT_RC(0, mig_open_file(&u, true, LONG_MS, &a, msg, sizeof(msg)));
	snprintf(uri, sizeof(uri), "fd:%d", sv[1]);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_open_file(&u, false, LONG_MS, &b, msg, sizeof(msg)));
	EXPECT_TRUE(a.two_way && a.can_read && a.can_write);
	EXPECT_TRUE(b.two_way && b.can_read && b.can_write);
	EXPECT_EQ(strcmp(b.peer, uri), 0);
	exchange(&a, &b, 8 << 20, true);
	exchange(&b, &a, 1 << 20, true);
	/* The fd was handed over: closing the transport closes it. */
	mig_transport_close(&a);
	EXPECT_ERRNO(EBADF, fcntl(sv[0], F_GETFD));
	mig_transport_close(&b);
	EXPECT_ERRNO(EBADF, fcntl(sv[1], F_GETFD));
}

TEST(mig_transport, fd_pipe)
{
	char uri[32], msg[256] = "";
	struct mig_transport w, r, t;
	struct mig_uri uw, ur;
	uint8_t byte;
	int p[2];

	ASSERT_EQ(pipe(p), 0);
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	ASSERT_RC(0, mig_uri_parse(uri, &uw, msg, sizeof(msg)));
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	ASSERT_RC(0, mig_uri_parse(uri, &ur, msg, sizeof(msg)));
	/* The wrong direction for each end is refused, and the fd kept. */
	EXPECT_RC(-EBADF,
		  mig_open_file(&uw, false, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "writing only"));
	EXPECT_RC(-EBADF,
		  mig_open_file(&ur, true, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "reading only"));
	EXPECT_EQ(fcntl(p[0], F_GETFD) >= 0 && fcntl(p[1], F_GETFD) >= 0, 1);

	ASSERT_RC(0, mig_open_file(&uw, true, LONG_MS, &w, msg, sizeof(msg)));
	ASSERT_RC(0, mig_open_file(&ur, false, LONG_MS, &r, msg, sizeof(msg)));
	EXPECT_FALSE(w.two_way || r.two_way);
	EXPECT_RC(-EBADF, w.chan.read(&w.chan, &byte, 1));
	EXPECT_RC(-EBADF, r.chan.write(&r.chan, "x", 1));
	/* Far more than a pipe holds: the writer waits for the reader. */
	exchange(&w, &r, 4 << 20, false);
	/* The writer is done: the reader sees end of stream. */
	ASSERT_RC(0, mig_transport_shutdown_write(&w));
	EXPECT_RC(-EPIPE, r.chan.read(&r.chan, &byte, 1));
	mig_transport_close(&r);
}

TEST(mig_transport, fd_pipe_reader_gone)
{
	static uint8_t buf[256 << 10];
	char uri[32], msg[256] = "";
	struct mig_transport w;
	sigset_t pending, mask;
	struct mig_uri u;
	int p[2];

	ASSERT_EQ(pipe(p), 0);
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_open_file(&u, true, LONG_MS, &w, msg, sizeof(msg)));
	close(p[0]);
	/* SIGPIPE's default would kill this test: it must not come. */
	EXPECT_RC(-EPIPE, w.chan.write(&w.chan, buf, sizeof(buf)));
	ASSERT_EQ(sigpending(&pending), 0);
	EXPECT_FALSE(sigismember(&pending, SIGPIPE));
	ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
	EXPECT_FALSE(sigismember(&mask, SIGPIPE));
	mig_transport_close(&w);
}

TEST(mig_transport, fd_pipe_stalled)
{
	char uri[32], msg[256] = "";
	struct mig_transport r;
	struct mig_uri u;
	uint8_t byte;
	int64_t t0, dt;
	int p[2];

	ASSERT_EQ(pipe(p), 0);
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_open_file(&u, false, SHORT_MS, &r, msg, sizeof(msg)));
	t0 = ms_now();
	EXPECT_RC(-ETIMEDOUT, r.chan.read(&r.chan, &byte, 1));
	dt = ms_now() - t0;
	EXPECT_GE(dt, SHORT_MS - 5);
	EXPECT_LT(dt, SHORT_MS + 1000);
	mig_transport_close(&r);
	close(p[1]);
}

TEST(mig_transport, fd_not_open)
{
	char uri[32], msg[256] = "";
	struct mig_transport t;
	struct mig_uri u;
	int fd = dup(0);

	ASSERT_GE(fd, 0);
	close(fd);
	snprintf(uri, sizeof(uri), "fd:%d", fd);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	EXPECT_RC(-EBADF,
		  mig_open_file(&u, true, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "not open"));
	EXPECT_EQ(t.fd, -1);
}

TEST(mig_transport, fd_datagram_socket)
{
	char uri[32], msg[256] = "";
	struct mig_transport t;
	struct mig_uri u;
	int sv[2];

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	EXPECT_RC(-EPROTOTYPE,
		  mig_open_file(&u, true, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "stream socket"));
	close(sv[0]);
	close(sv[1]);
}

TEST(mig_transport, fd_listening_socket)
{
	char uri[32], actual[128], msg[256] = "";
	struct mig_transport t;
	struct mig_uri u;
	int lfd;

	ASSERT_RC(0, mig_uri_parse("tcp:127.0.0.1:0", &u, msg, sizeof(msg)));
	ASSERT_RC(0, mig_listen(&u, &lfd, actual, sizeof(actual), msg,
				sizeof(msg)));
	snprintf(uri, sizeof(uri), "fd:%d", lfd);
	ASSERT_RC(0, mig_uri_parse(uri, &u, msg, sizeof(msg)));
	EXPECT_RC(-EINVAL,
		  mig_open_file(&u, false, LONG_MS, &t, msg, sizeof(msg)));
	EXPECT_TRUE(strstr(msg, "listening socket"));
	EXPECT_GE(fcntl(lfd, F_GETFD), 0);
	close(lfd);
}

/* ---- half-close, in-process pairs, the loopback figure ---- */

TEST(mig_transport, half_close)
{
	struct mig_transport a, b;
	char actual[128];
	uint8_t buf[8];

	tcp_pair("tcp:127.0.0.1:0", &a, &b, LONG_MS, actual, sizeof(actual));
	ASSERT_RC(0, a.chan.write(&a.chan, "done", 4));
	ASSERT_RC(0, mig_transport_shutdown_write(&a));
	EXPECT_RC(-EBADF, a.chan.write(&a.chan, "more", 4));
	EXPECT_RC(-EBADF, mig_transport_shutdown_write(&a));
	ASSERT_RC(0, b.chan.read(&b.chan, buf, 4));
	EXPECT_MEMEQ(buf, "done", 4);
	EXPECT_RC(-EPIPE, b.chan.read(&b.chan, buf, 1));
	/* The other direction still works. */
	ASSERT_RC(0, b.chan.write(&b.chan, "ack", 3));
	ASSERT_RC(0, a.chan.read(&a.chan, buf, 3));
	EXPECT_MEMEQ(buf, "ack", 3);
	mig_transport_close(&a);
	mig_transport_close(&b);
}

TEST(mig_transport, socketpair)
{
	struct mig_transport a, b;
	uint8_t byte;

	ASSERT_RC(0, mig_socketpair(SHORT_MS, &a, &b));
	EXPECT_TRUE(a.two_way && b.two_way);
	exchange(&a, &b, 8 << 20, true);
	exchange(&b, &a, 8 << 20, true);
	EXPECT_RC(-ETIMEDOUT, a.chan.read(&a.chan, &byte, 1));
	mig_transport_close(&b);
	EXPECT_RC(-EPIPE, a.chan.read(&a.chan, &byte, 1));
	mig_transport_close(&a);
}

TEST(mig_transport, loopback_throughput)
{
	double bps = 0;

	EXPECT_RC(-EINVAL, mig_loopback_tcp_throughput(0, &bps));
	ASSERT_RC(0, mig_loopback_tcp_throughput(64 << 20, &bps));
	EXPECT_GT(bps, 1e6);
	/* An odd size: the last write is short. */
	ASSERT_RC(0, mig_loopback_tcp_throughput((1 << 20) + 1, &bps));
	EXPECT_GT(bps, 0);
}
