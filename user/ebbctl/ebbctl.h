/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ebbctl's shared pieces: options, argument walking, output. Modelled on bpftool. */
#ifndef EBBCTL_H
#define EBBCTL_H

#include <stdbool.h>
#include <json-c/json.h>

#include "libebb.h"

#define EBB_VERSION "0.1.0"

extern bool json_output, pretty_output, quiet, verbose;
extern const char *bpffs;
extern const char *bin_name;
/* Set while `restore` runs a batch: errors name FILE and line; the batch holds the lock. */
extern const char *batch_file;
extern int batch_line;
extern bool batch_locked;

/* Prints "Error: ..." (or {"error": ...} with -j) and returns -1. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a JSON document (consumed) on stdout. */
void json_print(json_object *doc);
/* A command that changed state and has nothing to show: "null" under -j, like bpftool. */
int done_ok(void);

bool is_prefix(const char *pfx, const char *str);

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};
/* Runs the command named by argv[0] (prefix allowed, ambiguity refused). */
int cmd_select(const struct cmd *cmds, int argc, char **argv, int (*help)(int, char **));

/* Opens the pinned state; writers also take the lock. */
int ctl_open(struct ebb *e, bool writer);

int do_prog(int argc, char **argv);
int do_vip(int argc, char **argv);
int do_node(int argc, char **argv);
int do_flow(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_decap(int argc, char **argv);
int do_save(int argc, char **argv);
int do_restore(int argc, char **argv);

/* The top-level command table (objects, save, restore, help, version). */
extern const struct cmd ctl_objects[];
/* Takes options out of argv wherever they are; returns the new argc, -1 after an error. */
int ctl_strip_options(int argc, char **argv, bool allow_bpffs);

#define NEXT_ARG() ({ argc--; argv++; })
#define REQ_ARG(what)                                                        \
	({                                                                   \
		if (argc < 1)                                                \
			return ctl_error("missing %s", what);                \
		argv[0];                                                     \
	})

#endif
