// SPDX-License-Identifier: MIT
/*
 * cmd-version.c - `iodirty version`.
 */
#include "cmd.h"

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("iodirty " IODIRTY_VERSION "\n");
	return 0;
}
