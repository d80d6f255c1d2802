// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A change says what it did and what happens next (issue 17): on stdout for the operator (or
 * as JSON fields with -j), and as a record for ebbd's log and status page (a queue ebbd pops,
 * libebb_agent.h) and the system journal (syslog), with who ran which command. ebbd cannot see
 * who wrote a map, so the writer says it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "libebb_agent.h"
#include "ebbctl.h"

static char cmdline[240];
bool ctl_record_node_side;

void ctl_cmdline_set(int argc, char **argv)
{
	size_t used = 0;

	for (int i = 0; i < argc && used < sizeof(cmdline) - 1; i++)
		used += snprintf(cmdline + used, sizeof(cmdline) - used, "%s%s", i ? " " : "", argv[i]);
}

static __u32 loginuid(void)
{
	FILE *f = fopen("/proc/self/loginuid", "r");
	unsigned int v = ~0u;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = ~0u;
		fclose(f);
	}
	return v;
}

/* The record for ebbd (its log, its status page) and the journal; failures only weaken the
 * trail, never the change, which is made already: said with -v. */
void ctl_record(const char *what)
{
	struct ebb_change_rec r = { .uid = getuid(), .loginuid = loginuid(), .pid = getpid() };
	struct timespec ts;
	int ret;

	clock_gettime(CLOCK_REALTIME, &ts);
	r.realtime_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	snprintf(r.cmd, sizeof(r.cmd), "%s", cmdline);
	snprintf(r.what, sizeof(r.what), "%s", what);
	/* a node's own state (decap, backend) has no ebbd to pop the queue: the journal only */
	ret = ctl_record_node_side ? 0 : ebb_change_push(bpffs, &r);
	if (ret && verbose)
		fprintf(stderr, "Warning: cannot record the change for ebbd in %s/%s: %s\n", bpffs,
			EBB_CHANGES_PIN, strerror(-ret));
	/* Only where a syslog daemon or journald listens: else ebbd's log is the record. */
	if (!access("/dev/log", W_OK)) {
		openlog("ebbctl", LOG_PID, LOG_USER);
		if (r.loginuid != ~0u && r.loginuid != r.uid)
			syslog(LOG_NOTICE, "uid=%u loginuid=%u cmd=\"%s\": %s", r.uid, r.loginuid, r.cmd, r.what);
		else
			syslog(LOG_NOTICE, "uid=%u cmd=\"%s\": %s", r.uid, r.cmd, r.what);
		closelog();
	}
}

int ctl_said(json_object *fields, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* a batch (restore) says and records itself once, at its end */
	if (batch_file) {
		json_object_put(fields);
		return 0;
	}
	if (json_output) {
		if (fields)
			json_print(fields);
		else
			printf("null\n");
	} else if (!quiet) {
		printf("%s\n", what);
	}
	json_object_put(json_output ? NULL : fields);
	ctl_record(what);
	return 0;
}

bool ctl_agent_check(const char *consequence, json_object *fields)
{
	char why[160];
	bool running = ebb_agent_running(bpffs, why, sizeof(why));

	if (fields)
		json_object_object_add(fields, "ebbd_running", json_object_new_boolean(running));
	/* said even with -q and -j (stderr): a drain nobody retires is the operator's to know */
	if (!running && consequence && !batch_file)
		fprintf(stderr, "Warning: %s: %s\n", why, consequence);
	return running;
}
