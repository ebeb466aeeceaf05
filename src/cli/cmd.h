/* SPDX-License-Identifier: MIT */
/*
 * cmd.h - the verb table of the iodirty binary. Each verb is one
 * cmd-<verb>.c and one row in main.c; `iodirty help` and the man page are
 * produced from the rows.
 */
#ifndef IODIRTY_CLI_CMD_H
#define IODIRTY_CLI_CMD_H

#include <stdio.h>

#include <iodirty/compiler.h>

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);	/* argv[0] is the verb */
	const char *summary;
	const char *usage;			/* after "iodirty <verb>" */
	const char *help;			/* the verb's description */
};

extern const struct cmd cmds[];
extern const unsigned int ncmds;

const struct cmd *cmd_find(const char *name);

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_incoming(int argc, char **argv);

/* die() - print "iodirty: <msg>" and exit 1. Only under src/cli/. */
void die(const char *fmt, ...) __printf(1, 2) __attribute__((noreturn));

/* usage_error() - "iodirty <verb>: <msg>", the verb's usage, exit 2. */
void usage_error(const struct cmd *cmd, const char *fmt, ...) __printf(2, 3)
	__attribute__((noreturn));

#define IODIRTY_VERSION "0.1.0"

#endif
