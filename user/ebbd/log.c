// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Logging: one event per line, a JSON object on stderr (journald keeps it as is, jq reads it).
 * Every line has ts (Unix time, seconds with ms), level and event; the rest is the event's data,
 * as numbers where they are numbers, so that a reader never parses prose.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int max_level = LOG_INFO;
static const char *const level_name[] = { "error", "warn", "info", "debug" };

/* The last decisions: the events log_emit wrote (level info and above), as JSON text. The
 * status page reads them (log_recent): the log keeps them so that it never calls up into it. */
#define EVENTS_N 30 /* recent decisions shown */
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static char *events[EVENTS_N];
static int events_head, events_n;

static void event_keep(const char *json)
{
	pthread_mutex_lock(&events_lock);
	free(events[events_head]);
	events[events_head] = strdup(json);
	events_head = (events_head + 1) % EVENTS_N;
	if (events_n < EVENTS_N)
		events_n++;
	pthread_mutex_unlock(&events_lock);
}

void log_recent(void (*each)(void *ctx, const char *json), void *ctx)
{
	pthread_mutex_lock(&events_lock);
	for (int k = 0; k < events_n; k++) /* newest first */
		each(ctx, events[(events_head - 1 - k + EVENTS_N) % EVENTS_N]);
	pthread_mutex_unlock(&events_lock);
}

void log_set_level(int level)
{
	max_level = level > LOG_DEBUG ? LOG_DEBUG : level;
}

bool log_enabled(int level)
{
	return level <= max_level;
}

json_object *log_new(int level, const char *event)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ts", NULL); /* first on the line; set when emitted */
	json_add_str(o, "level", level_name[level]);
	json_add_str(o, "event", event);
	json_object_object_add(o, "_level", json_object_new_int(level));
	return o;
}

void log_emit(json_object *ev)
{
	json_object *lv;
	struct timespec ts;
	char tsbuf[32];
	int level = LOG_INFO;

	if (!ev)
		return;
	if (json_object_object_get_ex(ev, "_level", &lv))
		level = json_object_get_int(lv);
	json_object_object_del(ev, "_level");
	if (level <= max_level) {
		/* Milliseconds, printed as such: json-c would print 17 digits. */
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(tsbuf, sizeof(tsbuf), "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
		json_object_object_add(ev, "ts", json_object_new_double_s(0, tsbuf));
		const char *line = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
									   JSON_C_TO_STRING_NOSLASHESCAPE);

		fprintf(stderr, "%s\n", line);
		fflush(stderr);
		/* Decisions and notices for the status page's "recent decisions" (not debug). */
		if (level <= LOG_INFO)
			event_keep(line);
	}
	json_object_put(ev);
}

void log_msg(int level, const char *event, const char *fmt, ...)
{
	char msg[1024];
	json_object *ev;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ev = log_new(level, event);
	json_add_str(ev, "msg", msg);
	log_emit(ev);
}

void json_add_str(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, val ? json_object_new_string(val) : NULL);
}

void json_add_int(json_object *o, const char *key, long long val)
{
	json_object_object_add(o, key, json_object_new_int64(val));
}

void json_add_double(json_object *o, const char *key, double val)
{
	char buf[32];

	if (!isfinite(val)) {
		json_object_object_add(o, key, NULL);
		return;
	}
	/* Three decimals are enough for seconds, ratios and rates, and stay readable. */
	snprintf(buf, sizeof(buf), "%.3f", val);
	json_object_object_add(o, key, json_object_new_double_s(val, buf));
}

void json_add_bool(json_object *o, const char *key, bool val)
{
	json_object_object_add(o, key, json_object_new_boolean(val));
}
