/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ebbctl's shared pieces: options, argument walking, output. Modelled on bpftool. */
#ifndef EBBCTL_H
#define EBBCTL_H

#include <stdbool.h>
#include <stdio.h>
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
/* Set while restore checks its lines before running any: ctl_object_run then names the object
 * and the command in vet_object and vet_command (the tables' own names) instead of running it. */
extern bool batch_vetting;
extern const char *vet_object, *vet_command;

/* Where help goes: stdout when it was asked for (`help`, `--help`: `ebbctl help | less`), stderr
 * when it comes with an error (a missing command). */
extern FILE *help_out;
/* Prints "Error: ..." (or {"error": ...} with -j) and returns -1. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning on stderr when a VIP of table size m has more nodes than m serves evenly
 * (Maglev: m >= 100 x nodes); the change is made all the same. */
void ctl_warn_table_size(const struct ebb_vip_key *vip, int nodes, __u32 m);
/* Prints a JSON document (consumed) on stdout. */
void json_print(json_object *doc);
/* A document already serialized (plain), printed as json_print prints one. */
void json_print_text(const char *text);
/* A command that changed state and has nothing to show: "null" under -j, like bpftool. */
int done_ok(void);

/* talk.c: a change says what it did (issue 17). ctl_said prints fmt's text on stdout (fields,
 * consumed, as the JSON document with -j; NULL: "null"), and records it for ebbd and the journal
 * with who ran which command; nothing in a batch (restore records itself once). Returns 0. */
int ctl_said(json_object *fields, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_record(const char *what);
/* Set by the node-side commands (decap, backend): their state has no ebbd, so no queue there. */
extern bool ctl_record_node_side;
void ctl_cmdline_set(int argc, char **argv);
/* Whether an ebbd runs on this state (fields gains "ebbd_running"); when not, warns on stderr
 * with `consequence` (NULL: no warning). */
bool ctl_agent_check(const char *consequence, json_object *fields);

bool is_prefix(const char *pfx, const char *str);

/* A name a word may select (a prefix of it does), and what it selects: two names of one thing
 * (del, delete) are not ambiguous. */
struct ctl_name {
	const char *name;
	const void *id;
	unsigned int shortest;	/* the fewest letters of name that select it (0: one) */
};
/* The index of the name word selects, or -1 after the error (unknown, with the name a typo most
 * likely meant, or ambiguous). */
int ctl_pick(const struct ctl_name *names, size_t n, const char *word);

/*
 * args.c: a command's arguments as data. Each entry names a keyword (or, without a name, a
 * positional argument), what its value is, and where the parse puts it in the command's own
 * argument struct; one parser reads every object command's words, and its usage line (in
 * `help` and in the errors' "usage: ...") is written from the same entries.
 */
enum ctl_kind {
	CTL_FLAG = 1,	/* the keyword alone: bool */
	CTL_WORD,	/* any word (a device, a file): const char * */
	CTL_U32,	/* a number in min..max: __u32 */
	CTL_CHOICE,	/* one word of choices: int, the word's value */
	CTL_VIP,	/* ADDR:PORT/PROTO: struct ebb_vip_key */
	CTL_ADDR,	/* an IPv4 or IPv6 address: struct ebb_addr */
	CTL_ENDPOINT,	/* ADDR:PORT or [ADDR6]:PORT: struct ctl_endpoint */
	CTL_PARSE,	/* read by the entry's own parse function */
	CTL_REFUSED,	/* a keyword known only to be refused, with the entry's bad message */
};

struct ctl_choice {
	const char *word;
	int value;
};

struct ctl_endpoint {
	struct ebb_addr addr;
	__u16 port;
	const char *word; /* as given: output echoes it */
};

#define CTL_REQUIRED (1u << 0)
#define CTL_ONCE (1u << 1)  /* given again is an error (the entry's twice message) */
#define CTL_MANY (1u << 2)  /* may come more than once: "..." in the usage */
#define CTL_INNER (1u << 3) /* only with the entry before: inside its brackets, [rates [interval S]] */
#define CTL_OR (1u << 4)    /* instead of the entry before, not with it: [vip VIP | node NODE] */

struct ctl_arg {
	const char *name;	/* the keyword; NULL: a positional argument */
	const char *metavar;	/* the value's name in the usage (a choice without one: {a|b}) */
	enum ctl_kind kind;
	unsigned int flags;
	size_t offset;		/* of the value in the command's argument struct */
	__u32 min, max;		/* CTL_U32's range */
	const char *unit;	/* CTL_U32: "seconds" in "timeout must be 1..60 seconds, not 'x'" */
	const struct ctl_choice *choices; /* CTL_CHOICE, ended by { NULL } */
	/* "missing <missing> after 'name'" (NULL: "value"); a positional's "missing <missing>"
	 * (NULL: its metavar) */
	const char *missing;
	/* A value that does not parse: the error, its %s the value (NULL: the kind's own words) */
	const char *bad;
	const char *twice;	/* a CTL_ONCE keyword given again (NULL: "'name' given twice") */
	/* CTL_PARSE: reads value into args and says its own error; value NULL: it is missing */
	int (*parse)(void *args, const char *value);
};

struct ctl_object;

struct ctl_command {
	const char *name;
	const char *alias;	/* another name for the same command (del: delete, show: list) */
	/* The fewest letters that select it (0: one). A command added after others that share its
	 * first letters takes more, so that the abbreviations operators already type keep their
	 * meaning (`n s` is node show, not set). */
	unsigned int shortest;
	int (*run)(void *args);
	const struct ctl_arg *args; /* ended by { 0 } (no kind); NULL: the command takes none */
	size_t args_size;	/* of the struct the arguments are parsed into */
	const void *defaults;	/* that struct before the parse (NULL: zeros) */
	/* The usage lines of a grammar the entries cannot say alone (two forms of one command),
	 * NULL-ended; NULL: written from the entries */
	const char *const *usage;
	/* An object (the top level's entries only): the words after its name are its commands'. */
	const struct ctl_object *object;
};

/* A command's entries and the struct they are parsed into. */
#define CTL_ARGS(type, spec) .args = spec, .args_size = sizeof(struct type)

struct ctl_object {
	const char *name;	/* NULL: the top level, whose entries are the objects and a few commands */
	const struct ctl_command *commands; /* ended by { NULL } */
	void (*notes)(FILE *f);	/* what follows the usage lines in help (VIP := ...) */
};

/* Selects the command argv[0] names (a prefix of it does, ambiguity refused), parses its words
 * into its argument struct and runs it; an object's entry goes on to its own commands, `help`
 * prints the usage written from the tables. */
int ctl_object_run(const struct ctl_object *obj, int argc, char **argv);
/* While a command of a table runs: its usage, one line ("vip add VIP [fwd {dsr|ipip}] ...",
 * forms joined by ", or "), and whether its keyword name was given. */
const char *ctl_usage(void);
bool ctl_given(const char *name);

/* cmd_fleet.c: opens the pinned state; writers also take the lock. On a fleet host a writer is
 * refused: its change would be local only. The write commands go through ctl_store_here(). */
int ctl_open(struct ebb *e, bool writer);
/* A writer for what belongs to this host alone (its program, its datapath settings). */
int ctl_open_local(struct ebb *e);
/* ctl.c: closes what ctl_open opened, after the write that returned ret: 0, or -1 once err is
 * said. */
int ctl_close(struct ebb *e, int ret, const struct ebb_err *err);

/* cmd_fleet.c: a fleet host's writes go to etcd (doc/fleet.md). */
bool ctl_fleet(void);
/* The ctl_fleet_* writes return 0 when written and applied (at revision ctl_fleet_rev), 1 when
 * the fleet's state was so already (nothing written), -1 after an error. */
extern long long ctl_fleet_rev;
const char *ctl_fleet_name(void);
int ctl_fleet_refuse(void);
int ctl_fleet_vip_add(const struct ebb_vip_key *k, const struct ebb_vip_opts *o);
int ctl_fleet_vip_del(const struct ebb_vip_key *k, bool force);
int ctl_fleet_node_add(const struct ebb_addr *a, const struct ebb_vip_key *vip,
		       const struct ebb_node_opts *o);
int ctl_fleet_node_del(const struct ebb_addr *a, const struct ebb_vip_key *vip, bool force);
int ctl_fleet_node_state(const struct ebb_addr *a, __u8 state, __u32 timeout);
int ctl_fleet_node_weight(const struct ebb_addr *a, const struct ebb_vip_key *vip, __u32 weight);
int ctl_fleet_node_prog(const struct ebb_addr *a, bool on);
/* {host: report} of the live hosts, or NULL (reason in err). */
json_object *ctl_fleet_reports(char *err, size_t len);
long long ctl_fleet_report_flows(json_object *rep, const char *node);

/*
 * Where the desired state is written (issue 18): store_maps.c's pinned maps through libebb, or
 * on a fleet host store_etcd.c's fleet state in etcd (doc/fleet.md). ctl_store_here() chooses once;
 * the write commands check their arguments, call the store, and say what it did. Each write
 * returns 0 when written (on etcd: applied by every live host), 1 when the state was so already
 * and nothing was written, -1 after it said the error.
 */
struct ctl_store {
	/* have_src: encap-src was given (on the maps, none given takes the device's addresses) */
	int (*vip_add)(const struct ebb_vip_key *k, const struct ebb_vip_opts *o, bool have_src);
	int (*vip_set)(const struct ebb_vip_key *k, const struct ebb_vip_opts *o);
	int (*vip_del)(const struct ebb_vip_key *k, bool force);
	int (*node_add)(const struct ebb_addr *a, const struct ebb_vip_key *vip,
			const struct ebb_node_opts *o);
	/* vip NULL: every VIP; *cut: the live flows a forced delete re-placed (-1: not counted) */
	int (*node_del)(const struct ebb_addr *a, const struct ebb_vip_key *vip, bool force,
			long long *cut);
	/* *was: the node's state before the write (-1: unknown) */
	int (*node_state)(const struct ebb_addr *a, __u8 state, __u32 timeout, int *was);
	int (*node_weight)(const struct ebb_addr *a, const struct ebb_vip_key *vip, __u32 weight);
	int (*node_prog)(const struct ebb_addr *a, bool on);
	/* What the talk-back adds about where a write that returned ret went ("" on the maps). */
	const char *(*where)(int ret, char *buf, size_t len);
	/* The hosts' ebbds applied the write (or it failed): one of them retires a drained node,
	 * so no check for a running ebbd is due. */
	bool ebbd_applies;
};
extern const struct ctl_store ctl_store_maps, ctl_store_etcd;
const struct ctl_store *ctl_store_here(void);
/* store_maps.c: the encap-src given is neither a VIP's address (e's; NULL: not checked) nor
 * one this host does not have. */
int ctl_check_encap_src(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip_opts *o);
/* cmd_decap.c: what `decap` and `backend` (the node program, which includes the decapsulator)
 * share: their attach and detach arguments, and the devices, prefixes and counters of `show`. */
struct ctl_xdp_args {
	const char *dev;
	int generic;
};
extern const struct ctl_arg ctl_xdp_attach_spec[], ctl_xdp_detach_spec[];
int ctl_xdp_attach(const struct ctl_xdp_args *a, const char *object,
		   int (*attach)(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err));
int ctl_xdp_detach(const struct ctl_xdp_args *a, const char *object,
		   int (*detach)(const char *bpffs, const char *ifname, struct ebb_err *err));
/* `OBJECT add|del PREFIX`: state_dir (NULL: the bpffs itself) names where the prefixes live. */
struct ctl_prefix_args {
	const char *prefix;
};
extern const struct ctl_arg ctl_prefix_spec[];
int ctl_prefix_change(const struct ctl_prefix_args *a, bool add, const char *object,
		      int (*state_dir)(char *dir, size_t len));
void ctl_show_links(json_object *jl, const struct ebb_link_info *links, int n);
void ctl_show_prefixes(json_object *jp, const struct ebb_decap_key *prefixes, int n);
void ctl_show_counters(json_object *js, const char *(*name)(__u32), __u32 max,
		       int (*stat)(const char *, __u32, struct ebb_reason_counter *),
		       const char *where, int width);

extern const struct ctl_object ctl_prog_object, ctl_vip_object, ctl_node_object, ctl_flow_object,
	ctl_stats_object, ctl_decap_object, ctl_backend_object, ctl_fleet_object;

/* cmd_batch.c: `save [file FILE]` and `restore FILE [if-empty]`, top-level commands. */
struct ctl_save_args {
	const char *file;
};
struct ctl_restore_args {
	const char *file;
	bool if_empty;
};
extern const struct ctl_arg ctl_save_spec[], ctl_restore_spec[];
int ctl_save(void *args);
int ctl_restore(void *args);

/* The top level (objects, save, restore, version; help): main.c's, which sets it before any
 * command runs (a batch runs its lines through it). */
extern const struct ctl_object *ctl_top;
/* args.c: takes the global options out of argv (the words after the program's name), before
 * the object and after it; returns the new argc, -1 after an error. --help stops the parse. */
int ctl_parse_options(int argc, char **argv, bool *version, bool *help);

#endif
