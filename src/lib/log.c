// SPDX-License-Identifier: MIT
/*
 * log.c - per-context logging callbacks.
 */
#include <stdio.h>

#include <iodirty/log.h>

void iod_logf(const struct iod_log *log, enum iod_log_level level,
	      const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!log || !log->fn || level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log->fn(log->opaque, level, line);
}

void iod_log_stderr(void *opaque, enum iod_log_level level, const char *msg)
{
	static const char *const names[] = {
		[IOD_LOG_ERR] = "error: ",
		[IOD_LOG_WARN] = "warning: ",
		[IOD_LOG_INFO] = "",
		[IOD_LOG_DEBUG] = "debug: ",
	};

	(void)opaque;
	fprintf(stderr, "iodirty: %s%s\n", names[level], msg);
}
