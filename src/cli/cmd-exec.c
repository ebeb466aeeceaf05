// SPDX-License-Identifier: MIT
/*
 * cmd-exec.c - `iodirty exec [-v] [--iommu KIND] [--devices LIST] [--force]
 * -- PROG ARGS...`: run an unmodified program against the emulated host,
 * through libiodirty-preload.so (src/interpose).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iodirty/iommu.h>

#include "cmd.h"

static const char preload_name[] = "libiodirty-preload.so";

/* The preload library sits next to the iodirty binary. */
static int find_preload(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -errno;
	exe[n] = 0;
	if ((size_t)snprintf(out, len, "%s/%s", dirname(exe), preload_name) >=
	    len)
		return -ENAMETOOLONG;
	return access(out, R_OK) ? -errno : 0;
}

int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "iommu", required_argument, NULL, 'i' },
		{ "devices", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("exec");
	char preload[PATH_MAX], *env;
	const char *old;
	bool verbose = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+v", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			setenv("IODIRTY_VERBOSE", "1", 1);
			break;
		case 'i':
			if (!iommu_driver_by_name(optarg))
				usage_error(self, "--iommu: '%s' is not amd, intel or arm",
					    optarg);
			setenv("IODIRTY_IOMMU", optarg, 1);
			break;
		case 'd':
			setenv("IODIRTY_DEVICES", optarg, 1);
			break;
		case 'f':
			setenv("IODIRTY_FORCE", "1", 1);
			break;
		case 'h':
			printf("usage: iodirty exec %s\n\n%s\n", self->usage,
			       self->help);
			return 0;
		default:
			usage_error(self, "unknown option");
		}
	}
	if (optind >= argc)
		usage_error(self, "which program? put it after --");

	rc = find_preload(preload, sizeof(preload));
	if (rc)
		die("exec: cannot find %s next to this binary: %s",
		    preload_name, strerror(-rc));
	/*
	 * What the caller preloads comes first (a sanitizer runtime must be
	 * the first library loaded); ours follows.
	 */
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		if (asprintf(&env, "%s:%s", old, preload) < 0)
			die("exec: out of memory");
	} else {
		env = preload;
	}
	setenv("LD_PRELOAD", env, 1);
	if (verbose)
		fprintf(stderr, "iodirty: exec %s with %s (iommu %s)\n",
			argv[optind], preload,
			getenv("IODIRTY_IOMMU") ? getenv("IODIRTY_IOMMU") : "amd");
	execvp(argv[optind], argv + optind);
	die("exec: %s: %s", argv[optind], strerror(errno));
}
