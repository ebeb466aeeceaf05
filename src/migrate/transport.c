// SPDX-License-Identifier: MIT
/*
 * transport.c - migration transports (transport.h): the URIs of QEMU's
 * migrate / -incoming (tcp:, unix:, file:, fd:), sockets and files opened
 * from them, and the byte channel of stream.h over each.
 *
 * The channel tries each read or write first and waits in poll() only when
 * the fd is not ready, so a fast stream costs one syscall per chunk and a
 * stalled peer is -ETIMEDOUT after timeout_ms without progress. Socket I/O
 * uses MSG_DONTWAIT (the fd's own flags are left alone) and MSG_NOSIGNAL;
 * a pipe is O_NONBLOCK and its writes keep SIGPIPE blocked and swallow the
 * one they raise, so no process-wide signal disposition changes.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <iodirty/alloc.h>
#include <iodirty/compiler.h>

#include "transport.h"

static_assert(MIG_UNIX_PATH_MAX + 1 ==
		      sizeof(((struct sockaddr_un *)0)->sun_path),
	      "MIG_UNIX_PATH_MAX follows sun_path");

#define LISTEN_BACKLOG 16
#define MAX_ADDRS      16
#define LOOPBACK_CHUNK (1u << 20)

static __printf(4, 5) int fail(char *msg, size_t msglen, int err,
			       const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return err;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline @timeout_ms from now; -1 (none) for a negative timeout. */
static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* What is left of @deadline, for poll(): -1 forever, 0 when past. */
static int time_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/*
 * Wait until @fd is ready for @events, or its peer failed (POLLERR, POLLHUP:
 * the next read or write reports how).
 * Return: 0; -ETIMEDOUT; -EBADF for an fd that is not open.
 */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, time_left(deadline));

		if (n > 0)
			return p.revents & POLLNVAL ? -EBADF : 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* ---- URIs ---- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/* A host name or IPv4 address, as getaddrinfo takes them. */
static bool host_chars_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

/* What is between the brackets: an IPv6 address, maybe with a %scope. */
static bool ipv6_ok(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *pct = memchr(s, '%', n);
	size_t alen = pct ? (size_t)(pct - s) : n;

	if (!alen || alen >= sizeof(buf))
		return false;
	if (pct && !host_chars_ok(pct + 1, n - alen - 1))
		return false;
	if (pct && n - alen - 1 == 0)
		return false;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	return inet_pton(AF_INET6, buf, &a) == 1;
}

static int parse_tcp(const char *uri, const char *s, struct mig_uri *u,
		     char *msg, size_t msglen)
{
	const char *host, *port;
	size_t hlen;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end)
			return fail(msg, msglen, -EINVAL,
				    "'%s': no ']' closes the IPv6 address",
				    uri);
		host = s + 1;
		hlen = (size_t)(end - host);
		if (!ipv6_ok(host, hlen))
			return fail(msg, msglen, -EINVAL,
				    "'%s': '%.*s' is not an IPv6 address", uri,
				    (int)hlen, host);
		if (end[1] != ':')
			return fail(msg, msglen, -EINVAL,
				    "'%s': expected ':PORT' after ']'", uri);
		port = end + 2;
	} else {
		const char *colon = strchr(s, ':');

		if (!colon)
			return fail(msg, msglen, -EINVAL,
				    "'%s': expected tcp:HOST:PORT", uri);
		if (strchr(colon + 1, ':'))
			return fail(
				msg, msglen, -EINVAL,
				"'%s': an IPv6 address goes in brackets, as in tcp:[::1]:4444",
				uri);
		host = s;
		hlen = (size_t)(colon - s);
		if (!host_chars_ok(host, hlen))
			return fail(
				msg, msglen, -EINVAL,
				"'%s': '%.*s' is not a host name or address",
				uri, (int)hlen, host);
		port = colon + 1;
	}
	if (hlen >= sizeof(u->host))
		return fail(msg, msglen, -EINVAL,
			    "'%s': the host is longer than %zu bytes", uri,
			    sizeof(u->host) - 1);
	if (!*port)
		return fail(msg, msglen, -EINVAL, "'%s': no port", uri);
	if (!all_digits(port) || strlen(port) > 5 || atoi(port) > 65535)
		return fail(
			msg, msglen, -EINVAL,
			"'%s': the port '%s' is not 1 to 65535 (or 0: listen on any)",
			uri, port);
	u->kind = MIG_URI_TCP;
	memcpy(u->host, host, hlen);
	u->host[hlen] = 0;
	snprintf(u->port, sizeof(u->port), "%d", atoi(port));
	return 0;
}

/* @s for a message: a long one is cut, so that what is wrong shows. */
static const char *uri_shown(const char *s, char *buf, size_t len)
{
	if (strlen(s) < len)
		return s;
	snprintf(buf, len, "%.*s...", (int)len - 4, s);
	return buf;
}

int mig_uri_parse(const char *uri, struct mig_uri *u, char *msg, size_t msglen)
{
	static const char *const unsupported[] = { "exec", "rdma", "vsock",
						   "channel" };
	const char *colon, *s;
	char shown[72];
	size_t n;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	if (!uri || !*uri)
		return fail(
			msg, msglen, -EINVAL,
			"empty migration URI: expected tcp:HOST:PORT, unix:PATH, file:PATH or fd:N");
	s = uri_shown(uri, shown, sizeof(shown));
	colon = strchr(uri, ':');
	if (!colon)
		return fail(
			msg, msglen, -EINVAL,
			"'%s': no scheme: expected tcp:HOST:PORT, unix:PATH, file:PATH or fd:N",
			s);
	n = (size_t)(colon - uri);
	if (n == 3 && !strncmp(uri, "tcp", 3))
		return parse_tcp(s, colon + 1, u, msg, msglen);
	if (n == 4 && !strncmp(uri, "unix", 4)) {
		size_t plen = strlen(colon + 1);

		if (!plen)
			return fail(msg, msglen, -EINVAL,
				    "'%s': no socket path", s);
		if (plen > MIG_UNIX_PATH_MAX)
			return fail(
				msg, msglen, -EINVAL,
				"'%s': the socket path is %zu bytes; a unix socket takes at most %d",
				s, plen, MIG_UNIX_PATH_MAX);
		u->kind = MIG_URI_UNIX;
		memcpy(u->path, colon + 1, plen + 1);
		return 0;
	}
	if (n == 4 && !strncmp(uri, "file", 4)) {
		size_t plen = strlen(colon + 1);

		if (!plen)
			return fail(msg, msglen, -EINVAL, "'%s': no file path",
				    s);
		if (plen >= sizeof(u->path))
			return fail(msg, msglen, -EINVAL,
				    "'%s': the path is longer than %zu bytes",
				    s, sizeof(u->path) - 1);
		u->kind = MIG_URI_FILE;
		memcpy(u->path, colon + 1, plen + 1);
		return 0;
	}
	if (n == 2 && !strncmp(uri, "fd", 2)) {
		const char *num = colon + 1;

		if (!all_digits(num) || strlen(num) > 10 ||
		    strtoll(num, NULL, 10) > INT_MAX)
			return fail(
				msg, msglen, -EINVAL,
				"'%s': expected fd:N with N an open file descriptor number",
				s);
		u->kind = MIG_URI_FD;
		u->fd = (int)strtol(num, NULL, 10);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++) {
		if (strlen(unsupported[i]) == n &&
		    !strncmp(uri, unsupported[i], n))
			return fail(
				msg, msglen, -EINVAL,
				"'%s': %s: is not supported; use tcp:, unix:, file: or fd:",
				s, unsupported[i]);
	}
	return fail(
		msg, msglen, -EINVAL,
		"'%s': unknown scheme '%.*s:'; use tcp:, unix:, file: or fd:",
		s, n > 16 ? 16 : (int)n, uri);
}

int mig_uri_format(const struct mig_uri *u, char *buf, size_t len)
{
	switch (u->kind) {
	case MIG_URI_TCP:
		if (strchr(u->host, ':'))
			return snprintf(buf, len, "tcp:[%s]:%s", u->host,
					u->port);
		return snprintf(buf, len, "tcp:%s:%s", u->host, u->port);
	case MIG_URI_UNIX:
		return snprintf(buf, len, "unix:%s", u->path);
	case MIG_URI_FILE:
		return snprintf(buf, len, "file:%s", u->path);
	case MIG_URI_FD:
		return snprintf(buf, len, "fd:%d", u->fd);
	}
	return snprintf(buf, len, "?");
}

/* ---- addresses ---- */

struct addr_list {
	struct sockaddr_storage a[MAX_ADDRS];
	socklen_t len[MAX_ADDRS];
	unsigned int n;
};

static void addr_add(struct addr_list *l, const void *sa, socklen_t len)
{
	if (l->n == MAX_ADDRS || len > sizeof(l->a[0]))
		return;
	memcpy(&l->a[l->n], sa, len);
	l->len[l->n++] = len;
}

/* "tcp:127.0.0.1:4444", "tcp:[::1]:4444", "unix:/path" for @sa. */
static void addr_format(const struct sockaddr_storage *sa, socklen_t salen,
			char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	switch (sa->ss_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "tcp:%s:%u", host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "tcp:[%s]:%u", host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const void *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t plen = salen > off ? salen - off : 0;

		plen = strnlen(un->sun_path, plen);
		snprintf(buf, len, "unix:%.*s", (int)plen, un->sun_path);
		break;
	}
	default:
		snprintf(buf, len, "family-%d", sa->ss_family);
	}
}

static int gai_errno(int gai)
{
	switch (gai) {
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_AGAIN:
		return -EAGAIN;
	default:
		/* EAI_NONAME, EAI_NODATA, EAI_FAMILY, ...: no such address */
		return -ENXIO;
	}
}

/*
 * The addresses of a tcp: URI, in the order to try them. An empty host is
 * loopback, IPv4 first: never the wildcard address.
 */
static int tcp_resolve(const struct mig_uri *u, bool passive,
		       struct addr_list *l, char *msg, size_t msglen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	struct addrinfo *res, *ai;
	uint16_t port = (uint16_t)atoi(u->port);
	int gai;

	l->n = 0;
	if (!u->host[0]) {
		struct sockaddr_in in = {
			.sin_family = AF_INET,
			.sin_port = htons(port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		};
		struct sockaddr_in6 in6 = {
			.sin6_family = AF_INET6,
			.sin6_port = htons(port),
			.sin6_addr = IN6ADDR_LOOPBACK_INIT,
		};

		addr_add(l, &in, sizeof(in));
		addr_add(l, &in6, sizeof(in6));
		return 0;
	}
	errno = 0;
	gai = getaddrinfo(u->host, u->port, &hints, &res);
	if (gai)
		return fail(msg, msglen, gai_errno(gai),
			    "cannot resolve '%s': %s", u->host,
			    gai == EAI_SYSTEM ? strerror(errno) :
						gai_strerror(gai));
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			addr_add(l, ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	if (!l->n)
		return fail(msg, msglen, -ENXIO,
			    "'%s' has no IPv4 or IPv6 address", u->host);
	return 0;
}

/* Field @idx (0-based) of a /proc/sys value ("4096 16384 4194304"), or -1. */
static long sysctl_field(const char *path, unsigned int idx)
{
	char buf[64], *p = buf, *end;
	long v = -1;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (unsigned int i = 0; i <= idx; i++, p = end) {
		v = strtol(p, &end, 10);
		if (end == p)
			return -1;
	}
	return v;
}

/*
 * Socket options for throughput, best effort. TCP: no Nagle delay for the
 * small records, and at least MIG_SOCK_BUF of buffer each way. A size set
 * by hand turns TCP's autotuning off for that socket, and on loopback a
 * pinned 4 MiB measured slower than autotuning (and than the kernel's
 * defaults for unix sockets): so a size is set only when autotuning would
 * stop short of MIG_SOCK_BUF (net.ipv4.tcp_[rw]mem) and the system allows
 * the whole size (net.core.[rw]mem_max). Called before connect() and
 * listen(), where TCP chooses its window scale.
 */
static void sock_tune(int fd, int family)
{
	static const struct {
		int opt;
		const char *autotune, *max;
	} bufs[] = {
		{ SO_SNDBUF, "/proc/sys/net/ipv4/tcp_wmem",
		  "/proc/sys/net/core/wmem_max" },
		{ SO_RCVBUF, "/proc/sys/net/ipv4/tcp_rmem",
		  "/proc/sys/net/core/rmem_max" },
	};
	int one = 1, want = MIG_SOCK_BUF;

	if (family != AF_INET && family != AF_INET6)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (size_t i = 0; i < ARRAY_SIZE(bufs); i++) {
		if (sysctl_field(bufs[i].autotune, 2) >= (long)MIG_SOCK_BUF ||
		    sysctl_field(bufs[i].max, 0) < (long)MIG_SOCK_BUF)
			continue;
		setsockopt(fd, SOL_SOCKET, bufs[i].opt, &want, sizeof(want));
	}
}

/* ---- the channel ---- */

/*
 * write() to a pipe without SIGPIPE: block it on this thread, and take
 * back the one this write raised (if none was pending before), so that a
 * reader that went away is EPIPE and nothing else.
 */
static ssize_t pipe_write(int fd, const void *p, size_t n)
{
	static const struct timespec zero;
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t r;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	r = write(fd, p, n);
	err = errno;
	if (r < 0 && err == EPIPE && !was_pending) {
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
		       errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return r;
}

static int chan_read(struct mig_chan *c, void *buf, size_t n)
{
	struct mig_transport *t = container_of(c, struct mig_transport, chan);
	int64_t deadline = 0; /* of the wait since the last progress */
	bool waiting = false;
	uint8_t *p = buf;

	if (t->fd < 0 || !t->can_read)
		return -EBADF;
	while (n) {
		ssize_t r = t->is_socket ? recv(t->fd, p, n, MSG_DONTWAIT) :
					   read(t->fd, p, n);
		int rc;

		if (r > 0) {
			p += r;
			n -= (size_t)r;
			atomic_fetch_add_explicit(&t->bytes_in, (uint64_t)r,
						  memory_order_relaxed);
			waiting = false;
			continue;
		}
		if (r == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (!waiting)
			deadline = deadline_of(t->timeout_ms);
		waiting = true;
		rc = wait_fd(t->fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
	return 0;
}

static int chan_write(struct mig_chan *c, const void *buf, size_t n)
{
	struct mig_transport *t = container_of(c, struct mig_transport, chan);
	int64_t deadline = 0; /* of the wait since the last progress */
	bool waiting = false;
	const uint8_t *p = buf;

	if (t->fd < 0 || !t->can_write)
		return -EBADF;
	while (n) {
		ssize_t r;
		int rc;

		if (t->is_socket)
			r = send(t->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else if (t->is_pipe)
			r = pipe_write(t->fd, p, n);
		else
			r = write(t->fd, p, n);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			atomic_fetch_add_explicit(&t->bytes_out, (uint64_t)r,
						  memory_order_relaxed);
			waiting = false;
			continue;
		}
		if (r == 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (!waiting)
			deadline = deadline_of(t->timeout_ms);
		waiting = true;
		rc = wait_fd(t->fd, POLLOUT, deadline);
		if (rc)
			return rc;
	}
	return 0;
}

static void transport_init(struct mig_transport *t, int timeout_ms)
{
	memset(t, 0, sizeof(*t));
	atomic_init(&t->bytes_in, 0);
	atomic_init(&t->bytes_out, 0);
	t->fd = -1;
	t->timeout_ms = timeout_ms;
	t->chan.read = chan_read;
	t->chan.write = chan_write;
	t->chan.opaque = t;
}

/* Who the peer is, for messages; a long path is cut short. */
static __printf(2, 3) void set_peer(struct mig_transport *t, const char *fmt,
				    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->peer, sizeof(t->peer), fmt, ap);
	va_end(ap);
}

static void transport_set_socket(struct mig_transport *t, int fd)
{
	t->fd = fd;
	t->is_socket = true;
	t->two_way = true;
	t->can_read = true;
	t->can_write = true;
}

/* ---- listening and accepting ---- */

/* /proc/net/unix's flag for a listening socket (__SO_ACCEPTCON). */
#define UNIX_ACCEPTCON 0x10000

/*
 * Whether a socket listens on the unix @path, as /proc/net/unix tells (for
 * this network namespace): 1, 0, or -errno when it cannot be told. No
 * connection is tried: a destination that answers one would take it for
 * its migration.
 */
static int unix_listening(const char *path)
{
	char cwd[PATH_MAX], *abs = NULL, *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f;

	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
	    asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	f = fopen("/proc/net/unix", "re");
	if (!f) {
		free(abs);
		return -errno;
	}
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned int flags, type, st;
		unsigned long inode;
		int off = -1;
		char *p;

		if (sscanf(line, "%*s %*x %*x %x %x %x %lu %n", &flags, &type,
			   &st, &inode, &off) < 4 ||
		    off < 0)
			continue;
		p = line + off;
		p[strcspn(p, "\n")] = 0;
		found = (flags & UNIX_ACCEPTCON) &&
			(!strcmp(p, path) || (abs && !strcmp(p, abs)));
	}
	free(line);
	free(abs);
	fclose(f);
	return found;
}

/* Bind @fd to a unix path, replacing one a dead listener left behind. */
static int unix_bind(int fd, const struct mig_uri *u,
		     const struct sockaddr_un *un, char *msg, size_t msglen)
{
	struct stat st;
	int rc;

	if (!bind(fd, (const struct sockaddr *)un, sizeof(*un)))
		return 0;
	if (errno != EADDRINUSE)
		return fail(msg, msglen, -errno, "bind unix:%s: %s", u->path,
			    strerror(errno));
	if (lstat(u->path, &st) || !S_ISSOCK(st.st_mode))
		return fail(msg, msglen, -EADDRINUSE,
			    "listen on unix:%s: it exists and is not a socket",
			    u->path);
	rc = unix_listening(u->path);
	if (rc > 0)
		return fail(msg, msglen, -EADDRINUSE,
			    "listen on unix:%s: another listener answers on it",
			    u->path);
	if (rc < 0)
		return fail(
			msg, msglen, -EADDRINUSE,
			"listen on unix:%s: it exists; remove it if nothing listens on it",
			u->path);
	/* Nobody listens: a stale socket file. */
	if (unlink(u->path) && errno != ENOENT)
		return fail(msg, msglen, -errno, "remove stale unix:%s: %s",
			    u->path, strerror(errno));
	if (bind(fd, (const struct sockaddr *)un, sizeof(*un)))
		return fail(msg, msglen, -errno, "bind unix:%s: %s", u->path,
			    strerror(errno));
	return 0;
}

/* @un for a unix: URI's path; -EINVAL for one that does not fit. */
static int unix_addr(const struct mig_uri *u, struct sockaddr_un *un, char *msg,
		     size_t msglen)
{
	size_t len = strnlen(u->path, sizeof(u->path));

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	if (!len || len >= sizeof(un->sun_path))
		return fail(msg, msglen, -EINVAL,
			    "unix socket path of %zu bytes: 1 to %d fit", len,
			    MIG_UNIX_PATH_MAX);
	memcpy(un->sun_path, u->path, len + 1);
	return 0;
}

static int unix_listen(const struct mig_uri *u, int *listen_fd, char *actual,
		       size_t actual_len, char *msg, size_t msglen)
{
	struct sockaddr_un un;
	int fd, rc;

	rc = unix_addr(u, &un, msg, msglen);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(msg, msglen, -errno, "socket: %s", strerror(errno));
	rc = unix_bind(fd, u, &un, msg, msglen);
	if (rc)
		goto err_close_fd;
	if (listen(fd, LISTEN_BACKLOG)) {
		rc = fail(msg, msglen, -errno, "listen on unix:%s: %s", u->path,
			  strerror(errno));
		goto err_unlink;
	}
	if (actual && actual_len)
		snprintf(actual, actual_len, "unix:%s", u->path);
	*listen_fd = fd;
	return 0;

err_unlink:
	unlink(u->path);
err_close_fd:
	close(fd);
	return rc;
}

/* An address family or address this host does not have: try the next. */
static bool addr_unavailable(int err)
{
	return err == EAFNOSUPPORT || err == EADDRNOTAVAIL ||
	       err == EPROTONOSUPPORT;
}

static int tcp_listen(const struct mig_uri *u, int *listen_fd, char *actual,
		      size_t actual_len, char *msg, size_t msglen)
{
	struct addr_list *l;
	char where[128] = "";
	int rc, fd = -1, one = 1;

	l = xmalloc(sizeof(*l));
	if (!l)
		return fail(msg, msglen, -ENOMEM, "out of memory");
	rc = tcp_resolve(u, true, l, msg, msglen);
	if (rc)
		goto out;
	rc = -EADDRNOTAVAIL;
	for (unsigned int i = 0; i < l->n; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);

		addr_format(&l->a[i], l->len[i], where, sizeof(where));
		fd = socket(l->a[i].ss_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			int err = errno;

			rc = fail(msg, msglen, -err, "listen on %s: %s", where,
				  strerror(err));
			if (addr_unavailable(err))
				continue;
			goto out;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sock_tune(fd, l->a[i].ss_family);
		if (bind(fd, (struct sockaddr *)&l->a[i], l->len[i]) ||
		    listen(fd, LISTEN_BACKLOG)) {
			int err = errno;

			close(fd);
			fd = -1;
			rc = fail(msg, msglen, -err, "listen on %s: %s", where,
				  strerror(err));
			if (addr_unavailable(err))
				continue;
			goto out;
		}
		if (!getsockname(fd, (struct sockaddr *)&ss, &sslen))
			addr_format(&ss, sslen, where, sizeof(where));
		if (actual && actual_len)
			snprintf(actual, actual_len, "%s", where);
		*listen_fd = fd;
		rc = 0;
		goto out;
	}
out:
	xfree(l);
	return rc;
}

int mig_listen(const struct mig_uri *u, int *listen_fd, char *actual,
	       size_t actual_len, char *msg, size_t msglen)
{
	char name[PATH_MAX + 16];

	*listen_fd = -1;
	if (actual && actual_len)
		actual[0] = 0;
	switch (u->kind) {
	case MIG_URI_TCP:
		return tcp_listen(u, listen_fd, actual, actual_len, msg,
				  msglen);
	case MIG_URI_UNIX:
		return unix_listen(u, listen_fd, actual, actual_len, msg,
				   msglen);
	default:
		mig_uri_format(u, name, sizeof(name));
		return fail(msg, msglen, -EINVAL,
			    "cannot listen on '%s': only tcp: and unix: listen",
			    name);
	}
}

void mig_listen_close(int listen_fd, const struct mig_uri *u)
{
	if (listen_fd < 0)
		return;
	close(listen_fd);
	if (u && u->kind == MIG_URI_UNIX)
		unlink(u->path);
}

int mig_accept(int listen_fd, int timeout_ms, struct mig_transport *t,
	       char *msg, size_t msglen)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, rc;

	transport_init(t, timeout_ms);
	if (listen_fd < 0)
		return fail(msg, msglen, -EBADF, "accept: no listening socket");
	for (;;) {
		/* Wait first: @listen_fd may be a blocking socket. */
		rc = wait_fd(listen_fd, POLLIN, deadline);
		if (rc == -ETIMEDOUT)
			return fail(msg, msglen, rc,
				    "no connection came within %d ms",
				    timeout_ms);
		if (rc)
			return fail(msg, msglen, rc, "accept: %s",
				    strerror(-rc));
		sslen = sizeof(ss);
		fd = accept4(listen_fd, (struct sockaddr *)&ss, &sslen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ECONNABORTED)
			continue;
		return fail(msg, msglen, -errno, "accept: %s", strerror(errno));
	}
	sock_tune(fd, ss.ss_family);
	if (ss.ss_family == AF_UNIX) {
		/* The connecting end has no name: say where it came in. */
		sslen = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sslen))
			sslen = 0;
	}
	addr_format(&ss, sslen, t->peer, sizeof(t->peer));
	transport_set_socket(t, fd);
	return 0;
}

/* ---- connecting ---- */

/* Connect non-blocking @fd to @sa by @deadline. Return: 0 or -errno. */
static int connect_by(int fd, const struct sockaddr_storage *sa,
		      socklen_t salen, int64_t deadline)
{
	int err = 0, rc;
	socklen_t len = sizeof(err);

	for (;;) {
		if (!connect(fd, (const struct sockaddr *)sa, salen))
			return 0;
		if (errno == EINPROGRESS || errno == EINTR)
			break;
		if (errno != EAGAIN)
			return -errno;
		/* A unix listener's backlog is full: try again shortly. */
		if (!time_left(deadline))
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 },
			  NULL);
	}
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return -errno;
	return -err;
}

static int tcp_connect(const struct mig_uri *u, int64_t deadline,
		       struct mig_transport *t, char *msg, size_t msglen)
{
	char name[sizeof(u->host) + 32], where[128];
	struct addr_list *l;
	int rc;

	mig_uri_format(u, name, sizeof(name));
	if (!strcmp(u->port, "0"))
		return fail(msg, msglen, -EINVAL,
			    "connect to %s: port 0 is only for listening",
			    name);
	l = xmalloc(sizeof(*l));
	if (!l)
		return fail(msg, msglen, -ENOMEM, "out of memory");
	rc = tcp_resolve(u, false, l, msg, msglen);
	if (rc)
		goto out;
	for (unsigned int i = 0; i < l->n; i++) {
		int fd;

		addr_format(&l->a[i], l->len[i], where, sizeof(where));
		fd = socket(l->a[i].ss_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
		} else {
			sock_tune(fd, l->a[i].ss_family);
			rc = connect_by(fd, &l->a[i], l->len[i], deadline);
		}
		if (!rc) {
			set_peer(t, "%s", where);
			transport_set_socket(t, fd);
			goto out;
		}
		if (fd >= 0)
			close(fd);
		if (strcmp(name, where))
			fail(msg, msglen, rc, "connect to %s (%s): %s", name,
			     where, strerror(-rc));
		else
			fail(msg, msglen, rc, "connect to %s: %s", name,
			     strerror(-rc));
		if (rc == -ETIMEDOUT)
			break;
	}
out:
	xfree(l);
	return rc;
}

static int unix_connect(const struct mig_uri *u, int64_t deadline,
			struct mig_transport *t, char *msg, size_t msglen)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;
	int fd, rc;

	rc = unix_addr(u, un, msg, msglen);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(msg, msglen, -errno, "socket: %s", strerror(errno));
	rc = connect_by(fd, &ss, sizeof(*un), deadline);
	if (rc) {
		close(fd);
		return fail(msg, msglen, rc, "connect to unix:%s: %s", u->path,
			    strerror(-rc));
	}
	set_peer(t, "unix:%s", u->path);
	transport_set_socket(t, fd);
	return 0;
}

int mig_connect(const struct mig_uri *u, int timeout_ms,
		struct mig_transport *t, char *msg, size_t msglen)
{
	int64_t deadline = deadline_of(timeout_ms);
	char name[PATH_MAX + 16];

	transport_init(t, timeout_ms);
	switch (u->kind) {
	case MIG_URI_TCP:
		return tcp_connect(u, deadline, t, msg, msglen);
	case MIG_URI_UNIX:
		return unix_connect(u, deadline, t, msg, msglen);
	default:
		mig_uri_format(u, name, sizeof(name));
		return fail(msg, msglen, -EINVAL,
			    "cannot connect to '%s': use mig_open_file()",
			    name);
	}
}

/* ---- files and inherited fds ---- */

static int open_fd(const struct mig_uri *u, bool writing,
		   struct mig_transport *t, char *msg, size_t msglen)
{
	struct stat st;
	int fl, acc;

	if (fstat(u->fd, &st))
		return fail(msg, msglen, -EBADF, "fd:%d is not open", u->fd);
	if (S_ISSOCK(st.st_mode)) {
		struct sockaddr_storage ss = { 0 };
		int type = 0, listening = 0;
		socklen_t len = sizeof(type);

		if (getsockopt(u->fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
		    type != SOCK_STREAM)
			return fail(msg, msglen, -EPROTOTYPE,
				    "fd:%d is not a stream socket", u->fd);
		len = sizeof(listening);
		if (!getsockopt(u->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
				&len) &&
		    listening)
			return fail(
				msg, msglen, -EINVAL,
				"fd:%d is a listening socket: pass a connected one",
				u->fd);
		len = sizeof(ss);
		if (!getsockname(u->fd, (struct sockaddr *)&ss, &len))
			sock_tune(u->fd, ss.ss_family);
		transport_set_socket(t, u->fd);
		set_peer(t, "fd:%d", u->fd);
		return 0;
	}
	fl = fcntl(u->fd, F_GETFL);
	if (fl < 0)
		return fail(msg, msglen, -EBADF, "fd:%d is not open", u->fd);
	acc = fl & O_ACCMODE;
	if (writing && acc == O_RDONLY)
		return fail(msg, msglen, -EBADF,
			    "fd:%d is open for reading only: cannot save to it",
			    u->fd);
	if (!writing && acc == O_WRONLY)
		return fail(
			msg, msglen, -EBADF,
			"fd:%d is open for writing only: cannot restore from it",
			u->fd);
	/* A pipe or a device must not block past the timeout. */
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) &&
	    !(fl & O_NONBLOCK) && fcntl(u->fd, F_SETFL, fl | O_NONBLOCK))
		return fail(msg, msglen, -errno, "fd:%d: %s", u->fd,
			    strerror(errno));
	t->fd = u->fd;
	t->is_pipe = S_ISFIFO(st.st_mode);
	t->can_read = !writing;
	t->can_write = writing;
	set_peer(t, "fd:%d", u->fd);
	return 0;
}

int mig_open_file(const struct mig_uri *u, bool writing, int timeout_ms,
		  struct mig_transport *t, char *msg, size_t msglen)
{
	char name[PATH_MAX + 16];
	int fd;

	transport_init(t, timeout_ms);
	switch (u->kind) {
	case MIG_URI_FILE:
		fd = open(u->path,
			  writing ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC :
				    O_RDONLY | O_CLOEXEC,
			  0600);
		if (fd < 0)
			return fail(msg, msglen, -errno, "open file:%s: %s",
				    u->path, strerror(errno));
		t->fd = fd;
		t->can_read = !writing;
		t->can_write = writing;
		set_peer(t, "file:%s", u->path);
		return 0;
	case MIG_URI_FD:
		return open_fd(u, writing, t, msg, msglen);
	default:
		mig_uri_format(u, name, sizeof(name));
		return fail(msg, msglen, -EINVAL,
			    "'%s' is not a file: or fd: URI", name);
	}
}

int mig_socketpair(int timeout_ms, struct mig_transport *a,
		   struct mig_transport *b)
{
	int sv[2];

	transport_init(a, timeout_ms);
	transport_init(b, timeout_ms);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv))
		return -errno;
	transport_set_socket(a, sv[0]);
	transport_set_socket(b, sv[1]);
	set_peer(a, "socketpair");
	set_peer(b, "socketpair");
	return 0;
}

int mig_transport_shutdown_write(struct mig_transport *t)
{
	if (t->fd < 0 || !t->can_write)
		return -EBADF;
	if (!t->is_socket)
		return mig_transport_close(t);
	if (shutdown(t->fd, SHUT_WR))
		return -errno;
	t->can_write = false;
	return 0;
}

int mig_transport_close(struct mig_transport *t)
{
	int rc = 0;

	/* close() releases the fd even when it fails: never retry it. */
	if (t->fd >= 0 && close(t->fd) && errno != EINTR)
		rc = -errno;
	t->fd = -1;
	t->can_read = false;
	t->can_write = false;
	return rc;
}

/* ---- the physical limit, for the benchmarks ---- */

struct loopback_sender {
	int fd;
	uint64_t bytes;
	int err;
};

static void *loopback_send(void *arg)
{
	struct loopback_sender *s = arg;
	uint64_t left = s->bytes;
	uint8_t *buf = xmalloc(LOOPBACK_CHUNK);

	if (!buf) {
		s->err = -ENOMEM;
		shutdown(s->fd, SHUT_WR);
		return NULL;
	}
	memset(buf, 0xa5, LOOPBACK_CHUNK);
	while (left) {
		size_t n =
			left < LOOPBACK_CHUNK ? (size_t)left : LOOPBACK_CHUNK;
		ssize_t r = send(s->fd, buf, n, MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			s->err = -errno;
			break;
		}
		left -= (uint64_t)r;
	}
	xfree(buf);
	return NULL;
}

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK))
		return -errno;
	return 0;
}

int mig_loopback_tcp_throughput(uint64_t bytes, double *bytes_per_s)
{
	struct mig_transport tx, rx;
	struct loopback_sender s;
	struct mig_uri *u;
	struct timespec t0, t1;
	pthread_t th;
	uint64_t got = 0;
	char actual[128];
	uint8_t *buf;
	int lfd, rc;
	double secs;

	if (!bytes)
		return -EINVAL;
	u = xmalloc(sizeof(*u));
	buf = xmalloc(LOOPBACK_CHUNK);
	if (!u || !buf) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = mig_uri_parse("tcp::0", u, NULL, 0);
	if (!rc)
		rc = mig_listen(u, &lfd, actual, sizeof(actual), NULL, 0);
	if (rc)
		goto err_free;
	rc = mig_uri_parse(actual, u, NULL, 0);
	if (!rc)
		rc = mig_connect(u, 5000, &tx, NULL, 0);
	if (rc)
		goto err_close_listen;
	rc = mig_accept(lfd, 5000, &rx, NULL, 0);
	if (rc)
		goto err_close_tx;
	rc = set_blocking(tx.fd);
	if (!rc)
		rc = set_blocking(rx.fd);
	if (rc)
		goto err_close_rx;

	s = (struct loopback_sender){ .fd = tx.fd, .bytes = bytes };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = -pthread_create(&th, NULL, loopback_send, &s);
	if (rc)
		goto err_close_rx;
	while (got < bytes) {
		uint64_t left = bytes - got;
		ssize_t r = recv(rx.fd, buf,
				 left < LOOPBACK_CHUNK ? (size_t)left :
							 LOOPBACK_CHUNK,
				 0);

		if (r > 0) {
			got += (uint64_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		rc = r < 0 ? -errno : -EPIPE;
		/* Unblock the sender before waiting for it. */
		shutdown(rx.fd, SHUT_RDWR);
		break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(th, NULL);
	if (!rc)
		rc = s.err;
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!rc)
		*bytes_per_s = secs > 0 ? (double)bytes / secs : 0;

err_close_rx:
	mig_transport_close(&rx);
err_close_tx:
	mig_transport_close(&tx);
err_close_listen:
	mig_listen_close(lfd, NULL);
err_free:
	xfree(buf);
	xfree(u);
	return rc;
}
