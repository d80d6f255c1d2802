// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Operator hooks: on-drained, on-down, on-up, on-scale-in, on-scale-out. Each is an argv from
 * the configuration (a pool's own, else the global one), run with execvp semantics and no shell,
 * with the facts in the environment: EBB_EVENT, EBB_NODE, EBB_OLD_STATE, EBB_NEW_STATE,
 * EBB_FLOWS_CUT, EBB_POOL, EBB_BPFFS (and EBB_NODES_WANTED when scale-out asks for machines;
 * EBB_FLOWS_CUT_VERIFIED for on-drained: whether EBB_FLOWS_CUT is the node's own count).
 * A hook runs only for a transition this process wrote, right after writing it; it is killed at
 * hook-timeout; its failure is logged and changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ebbd.h"

struct hook_ctx {
	struct agent *a;
	int ev;
	char node[64];
	__u64 started;
};

static void on_done(int status, bool timed_out, const char *out, void *arg)
{
	struct hook_ctx *c = arg;
	bool ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	json_object *ev = log_new(ok ? LOG_INFO : LOG_ERROR, ok ? "hook_done" : "hook_failed");
	size_t len = strlen(out);

	json_add_str(ev, "hook", hook_event_name[c->ev]);
	json_add_str(ev, "node", c->node[0] ? c->node : NULL);
	json_add_double(ev, "run_s", (ebb_now_ns() - c->started) / 1e9);
	if (timed_out)
		json_add_str(ev, "error", "timed out; killed");
	else if (WIFEXITED(status))
		json_add_int(ev, "exit_status", WEXITSTATUS(status));
	else
		json_add_int(ev, "signal", WTERMSIG(status));
	/* The end of what it printed: where a failing script says why. */
	if (len && (!ok || log_enabled(LOG_DEBUG)))
		json_add_str(ev, "output", len > 400 ? out + len - 400 : out);
	log_emit(ev);
	if (!ok)
		c->a->hook_failures++;
	free(c);
}

void hook_fire(struct agent *a, int ev, const struct node *n, int pool, const char *old_state,
	       const char *new_state, long long flows_cut, const char *extra_env)
{
	char *const *argv = pool >= 0 && a->cfg.pools[pool].hooks[ev] ? a->cfg.pools[pool].hooks[ev] :
									 a->cfg.hooks[ev];
	char e_ev[64], e_node[96], e_old[64], e_new[64], e_cut[64], e_pool[300], e_bpffs[600];
	char *envp[9] = { e_ev, e_node, e_old, e_new, e_cut, e_pool, e_bpffs };
	struct hook_ctx *c;
	json_object *log;
	int ret;

	if (!argv)
		return;
	snprintf(e_ev, sizeof(e_ev), "EBB_EVENT=%s", hook_event_name[ev]);
	snprintf(e_node, sizeof(e_node), "EBB_NODE=%s", n ? n->name : "");
	snprintf(e_old, sizeof(e_old), "EBB_OLD_STATE=%s", old_state ? old_state : "");
	snprintf(e_new, sizeof(e_new), "EBB_NEW_STATE=%s", new_state ? new_state : "");
	snprintf(e_cut, sizeof(e_cut), "EBB_FLOWS_CUT=%lld", flows_cut);
	snprintf(e_pool, sizeof(e_pool), "EBB_POOL=%s", pool_name(a, pool) ? pool_name(a, pool) : "");
	snprintf(e_bpffs, sizeof(e_bpffs), "EBB_BPFFS=%s", a->bpffs);
	envp[7] = (char *)extra_env;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	*c = (struct hook_ctx){ .a = a, .ev = ev, .started = ebb_now_ns() };
	if (n)
		snprintf(c->node, sizeof(c->node), "%s", n->name);
	ret = proc_spawn(argv, envp, a->cfg.hook_timeout, false, on_done, c);
	log = log_new(ret ? LOG_ERROR : LOG_INFO, ret ? "hook_failed" : "hook_started");
	json_add_str(log, "hook", hook_event_name[ev]);
	json_add_str(log, "node", n ? n->name : NULL);
	json_add_str(log, "program", argv[0]);
	if (ret)
		json_add_str(log, "error", strerror(-ret));
	log_emit(log);
	a->hook_runs++;
	if (ret) {
		a->hook_failures++;
		free(c);
	}
}
