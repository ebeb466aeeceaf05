/* SPDX-License-Identifier: MIT */
/*
 * transport.h - where a migration stream goes: the URIs QEMU's migrate and
 * -incoming take, and the byte channel (struct mig_chan, stream.h) over each.
 *
 *   tcp:HOST:PORT   tcp:127.0.0.1:4444, tcp:[::1]:4444, tcp:localhost:4444.
 *                   Listening with an empty host (tcp::4444) binds loopback
 *                   only: 127.0.0.1, or [::1] when IPv4 is unavailable.
 *                   Every interface only when asked: tcp:0.0.0.0:4444.
 *                   Port 0 listens on a port the kernel picks.
 *   unix:PATH       a unix stream socket
 *   file:PATH       save to / restore from a file
 *   fd:N            an inherited fd: a socket is two-way, a pipe or a file
 *                   one-way (in the direction it was opened for)
 *
 * A transport is one connection (or file) and its channel. Its channel
 * reads and writes everything or fails; each wait for the peer is bounded by
 * timeout_ms, so a peer that sends (or takes) nothing for that long is
 * -ETIMEDOUT, while a slow one that keeps moving is not. A dead peer is an
 * errno (-EPIPE, -ECONNRESET), never SIGPIPE. One thread may read while
 * another writes; two readers (or two writers) need their own lock.
 *
 * Functions return 0 or -errno and, where they take @msg, say in it what
 * failed ("connect to tcp:127.0.0.1:4444: Connection refused"). @msg may
 * be NULL.
 */
#ifndef IODIRTY_MIGRATE_TRANSPORT_H
#define IODIRTY_MIGRATE_TRANSPORT_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

enum mig_uri_kind {
	MIG_URI_TCP = 1,
	MIG_URI_UNIX,
	MIG_URI_FILE,
	MIG_URI_FD,
};

/* The longest unix: path: sizeof(sockaddr_un.sun_path) less its NUL. */
#define MIG_UNIX_PATH_MAX 107

/* A parsed URI. */
struct mig_uri {
	enum mig_uri_kind kind;
	char host[256]; /* tcp: no brackets; "" = loopback */
	char port[8]; /* tcp: decimal 0..65535; 0 = any (listen) */
	char path[PATH_MAX]; /* unix:, file: */
	int fd; /* fd: */
};

/*
 * TCP buffers: at least this much each way, by the kernel's autotuning
 * where it gets there by itself (Linux's defaults do), else set by hand
 * where net.core.[rw]mem_max allow it.
 */
#define MIG_SOCK_BUF (4u << 20)

/*
 * One open transport. Fill it with mig_connect(), mig_accept(),
 * mig_open_file() or mig_socketpair(); pass &chan to the stream code.
 */
struct mig_transport {
	int fd; /* -1 when closed */
	bool is_socket;
	bool is_pipe; /* writes guard against SIGPIPE */
	bool two_way; /* a socket */
	bool can_read;
	bool can_write;
	int timeout_ms; /* bound on each wait; < 0 waits forever */
	struct mig_chan chan;
	/* Counted by the reader and the writer, read by anyone. */
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	char peer[128]; /* "tcp:127.0.0.1:54321", "unix:/run/m.sock" */
};

/**
 * mig_uri_parse() - parse a migration URI.
 * @uri: "tcp:HOST:PORT", "unix:PATH", "file:PATH" or "fd:N"
 * @u: filled on success
 * @msg: on failure, what is wrong with @uri (a long @uri is cut short)
 * @msglen: size of @msg
 *
 * Only the form is checked: host names are resolved when used. Port 0 is
 * valid here (listening on any port); mig_connect() refuses it.
 *
 * Return: 0; -EINVAL for an empty URI, an unknown scheme, a host or port
 * missing or malformed, an IPv6 address outside brackets, a port beyond
 * 65535, a unix path longer than MIG_UNIX_PATH_MAX, an empty file path or
 * an fd that is not a non-negative decimal number.
 */
int mig_uri_parse(const char *uri, struct mig_uri *u, char *msg, size_t msglen);

/**
 * mig_uri_format() - the URI back as text ("tcp:[::1]:4444").
 * Return: the length it needs, as snprintf.
 */
int mig_uri_format(const struct mig_uri *u, char *buf, size_t len);

/**
 * mig_listen() - listen on a tcp: or unix: URI (the destination's -incoming).
 * @u: a tcp: or unix: URI
 * @listen_fd: the listening socket, for mig_accept()
 * @actual: where it listens, as a URI: "tcp:127.0.0.1:43567" for port 0
 * @actual_len: size of @actual (may be 0)
 * @msg: on failure, what failed
 * @msglen: size of @msg
 *
 * An empty tcp host listens on loopback only; when 127.0.0.1 is taken, that
 * is -EADDRINUSE, not a quiet move to [::1]. A unix: socket left behind by
 * a listener that is gone is replaced; a path that is not a socket, or
 * that a listener still has (/proc/net/unix says; no connection is tried),
 * is not. Close with mig_listen_close().
 *
 * Return: 0; -EINVAL for a file: or fd: URI; -EADDRINUSE when the address
 * is taken; -ENXIO when a host name does not resolve; -EADDRNOTAVAIL when
 * loopback is unavailable; another -errno from socket(), bind() or listen().
 */
int mig_listen(const struct mig_uri *u, int *listen_fd, char *actual,
	       size_t actual_len, char *msg, size_t msglen);

/**
 * mig_listen_close() - close a listening socket from mig_listen(); for a
 * unix: URI remove its path too.
 */
void mig_listen_close(int listen_fd, const struct mig_uri *u);

/**
 * mig_accept() - wait for and accept one connection.
 * @listen_fd: from mig_listen()
 * @timeout_ms: how long to wait for it (< 0: forever); also the
 *              transport's timeout_ms
 * @t: the connection
 * @msg: on failure, what failed
 * @msglen: size of @msg
 *
 * Return: 0; -ETIMEDOUT when no peer came; -EBADF for a bad @listen_fd;
 * another -errno from accept(). @t is closed (fd -1) on failure.
 */
int mig_accept(int listen_fd, int timeout_ms, struct mig_transport *t,
	       char *msg, size_t msglen);

/**
 * mig_connect() - connect to a tcp: or unix: URI (the source's migrate).
 * @u: a tcp: or unix: URI; an empty tcp host is loopback
 * @timeout_ms: bound on the whole connect (< 0: forever); also the
 *              transport's timeout_ms
 * @t: the connection
 * @msg: on failure, what failed
 * @msglen: size of @msg
 *
 * Each address a host name resolves to is tried in turn.
 *
 * Return: 0; -EINVAL for a file: or fd: URI or port 0; -ECONNREFUSED when
 * nobody listens; -ENOENT for a unix path that does not exist; -ETIMEDOUT;
 * -ENXIO when a host name does not resolve; another -errno from connect().
 * @t is closed (fd -1) on failure.
 */
int mig_connect(const struct mig_uri *u, int timeout_ms,
		struct mig_transport *t, char *msg, size_t msglen);

/**
 * mig_open_file() - open a file: or fd: URI.
 * @u: a file: or fd: URI
 * @writing: saving (true) or restoring (false)
 * @timeout_ms: the transport's timeout_ms (pipes and sockets wait on peers)
 * @t: the transport
 * @msg: on failure, what failed
 * @msglen: size of @msg
 *
 * file: for writing is created or truncated (mode 0600 before umask). fd:
 * takes ownership of the fd: mig_transport_close() closes it. A socket fd
 * is two-way; any other fd can be used only in the direction it was opened
 * for, and a pipe is switched to O_NONBLOCK so that waits are bounded.
 *
 * Return: 0; -EINVAL for a tcp: or unix: URI or a listening socket; -EBADF
 * for an fd that is not open, or not open for the direction asked;
 * -EPROTOTYPE for a socket that is not SOCK_STREAM; an -errno from open().
 * @t is closed (fd -1) on failure and an fd: fd is left open.
 */
int mig_open_file(const struct mig_uri *u, bool writing, int timeout_ms,
		  struct mig_transport *t, char *msg, size_t msglen);

/**
 * mig_socketpair() - two connected transports in one process (a source and
 * a destination in one test or benchmark): a unix socketpair.
 * Return: 0 or the -errno of socketpair().
 */
int mig_socketpair(int timeout_ms, struct mig_transport *a,
		   struct mig_transport *b);

/**
 * mig_transport_shutdown_write() - say "no more bytes" to the peer, which
 * then reads end of stream, while this end can still read (a socket's
 * half-close). A one-way writer (pipe, file) is closed.
 * Return: 0; -EBADF when @t cannot write; the -errno of shutdown() or close().
 */
int mig_transport_shutdown_write(struct mig_transport *t);

/**
 * mig_transport_close() - close the transport; safe on one already closed
 * or never opened by a function above that failed.
 * Return: 0, or the -errno of close() (for a saved file: -EIO, -ENOSPC...
 * mean the file is not complete).
 */
int mig_transport_close(struct mig_transport *t);

/**
 * mig_loopback_tcp_throughput() - the physical limit for the benchmarks:
 * plain blocking send()/recv() of @bytes over loopback TCP (127.0.0.1, or
 * ::1 without IPv4), a sender thread and the caller receiving, with the same
 * socket options as a transport, 1 MiB per call.
 * Return: 0 and *@bytes_per_s; -EINVAL for 0 bytes; an -errno of the
 * sockets or of pthread_create().
 */
int mig_loopback_tcp_throughput(uint64_t bytes, double *bytes_per_s);

#endif
