// SPDX-License-Identifier: MIT
/*
 * cmd-help.c - `iodirty help [VERB | --man]`, from the verb table.
 */
#include <string.h>

#include "cmd.h"

static void print_man(void)
{
	printf(".TH IODIRTY 1 \"\" \"iodirty " IODIRTY_VERSION "\" \"User Commands\"\n"
	       ".SH NAME\niodirty \\- live migration with IOMMU and device DMA dirty tracking\n"
	       ".SH SYNOPSIS\n.B iodirty\n.I verb\n[options]\n.SH VERBS\n");
	for (unsigned int i = 0; i < ncmds; i++)
		printf(".TP\n.B %s %s\n%s\n", cmds[i].name, cmds[i].usage,
		       cmds[i].help);
}

int cmd_help(int argc, char **argv)
{
	const struct cmd *cmd;

	if (argc > 1 && !strcmp(argv[1], "--man")) {
		print_man();
		return 0;
	}
	if (argc > 1) {
		cmd = cmd_find(argv[1]);
		if (!cmd) {
			fprintf(stderr, "iodirty help: unknown verb '%s'\n",
				argv[1]);
			return 2;
		}
		printf("usage: iodirty %s %s\n\n%s\n", cmd->name, cmd->usage,
		       cmd->help);
		return 0;
	}
	printf("usage: iodirty VERB [options]\n\nverbs:\n");
	for (unsigned int i = 0; i < ncmds; i++)
		printf("  %-10s %s\n", cmds[i].name, cmds[i].summary);
	printf("\n'iodirty help VERB' shows a verb's options.\n");
	return 0;
}
