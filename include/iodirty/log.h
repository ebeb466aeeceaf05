/* SPDX-License-Identifier: MIT */
/*
 * log.h - logging through a per-context callback. Libraries never write to
 * stderr themselves: each context (a domain, an iommufd context, a VMM) holds
 * a struct iod_log and its owner decides where the lines go.
 */
#ifndef IODIRTY_LOG_H
#define IODIRTY_LOG_H

#include <stdarg.h>

#include "compiler.h"

enum iod_log_level {
	IOD_LOG_ERR,
	IOD_LOG_WARN,
	IOD_LOG_INFO,
	IOD_LOG_DEBUG,
};

typedef void (*iod_log_fn)(void *opaque, enum iod_log_level level,
			   const char *msg);

struct iod_log {
	iod_log_fn fn;		  /* NULL: discard */
	void *opaque;
	enum iod_log_level level; /* lines above this level are dropped */
};

/**
 * iod_logf() - format one line and hand it to @log's callback.
 * @log: the context's log; NULL or a NULL callback discards the line.
 * @level: severity.
 * @fmt: printf format.
 */
void iod_logf(const struct iod_log *log, enum iod_log_level level,
	      const char *fmt, ...) __printf(3, 4);

/** iod_log_stderr() - a ready callback that prints "iodirty: <msg>" to stderr. */
void iod_log_stderr(void *opaque, enum iod_log_level level, const char *msg);

#define pr_err(log, ...)   iod_logf(log, IOD_LOG_ERR, __VA_ARGS__)
#define pr_warn(log, ...)  iod_logf(log, IOD_LOG_WARN, __VA_ARGS__)
#define pr_info(log, ...)  iod_logf(log, IOD_LOG_INFO, __VA_ARGS__)
#define pr_debug(log, ...) iod_logf(log, IOD_LOG_DEBUG, __VA_ARGS__)

#endif
