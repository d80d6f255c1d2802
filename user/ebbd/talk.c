// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbd's side of what it and ebbctl tell each other beside the maps (libebb_agent.h):
 * the heartbeat, by which `ebbctl node drain` knows whether anything will retire the node, and
 * ebbctl's records of its changes, by which ebbd's log and status page say who changed what and
 * when (ebbd cannot see who wrote a map; ebbctl says it in a queue ebbd pops).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ebbd.h"

/* Records popped per tick: a burst (a script of many changes) is logged over a few ticks. */
#define CHANGES_PER_TICK 64

static void change_log(const struct ebb_change_rec *r)
{
	json_object *ev = log_new(LOG_INFO, "ebbctl_change");
	char user[64] = "", when[40];
	struct passwd *pw = getpwuid(r->uid);
	struct timespec ts;
	time_t t = (time_t)(r->realtime_ns / 1000000000ULL);
	struct tm tm;
	double late;

	if (pw)
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	json_add_int(ev, "uid", r->uid);
	if (user[0])
		json_add_str(ev, "user", user);
	/* the operator behind sudo, when the login said who */
	if (r->loginuid != ~0u && r->loginuid != r->uid) {
		struct passwd *lp = getpwuid(r->loginuid);

		json_add_int(ev, "loginuid", r->loginuid);
		if (lp)
			json_add_str(ev, "login", lp->pw_name);
	}
	json_add_int(ev, "pid", r->pid);
	json_add_str(ev, "cmd", r->cmd);
	json_add_str(ev, "what", r->what);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03uZ",
		 (unsigned)(r->realtime_ns / 1000000ULL % 1000));
	json_add_str(ev, "at", when);
	/* a record that waited (no ebbd ran when it was made) says how long */
	clock_gettime(CLOCK_REALTIME, &ts);
	late = ((double)ts.tv_sec * 1e9 + ts.tv_nsec - (double)r->realtime_ns) / 1e9;
	if (late > 2)
		json_add_double(ev, "logged_late_s", late);
	log_emit(ev);
	status_change(r, user[0] ? user : NULL);
}

void talk_tick(struct agent *a, __u64 now, bool stopped)
{
	static __u64 started;
	struct ebb_agent_beat b = { .at_ns = now, .pid = (__u32)getpid(), .stopped = stopped,
				    .tick_ms = (__u32)(a->cfg.drain_check * 1000), .fleet = fleet_enabled() };
	struct ebb_change_rec r;
	int fd;

	if (!started)
		started = now;
	b.started_ns = started;
	/* where the state is (its directory exists): a missing one is said by state.c */
	ebb_beat_write(a->bpffs, &b);
	if (stopped)
		return;
	fd = ebb_changes_open(a->bpffs, false);
	if (fd < 0)
		return;
	for (int i = 0; i < CHANGES_PER_TICK && !bpf_map_lookup_and_delete_elem(fd, NULL, &r); i++) {
		r.cmd[sizeof(r.cmd) - 1] = r.what[sizeof(r.what) - 1] = '\0';
		change_log(&r);
	}
	close(fd);
}
