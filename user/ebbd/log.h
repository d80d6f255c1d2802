/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * log.c: one JSON object per line on stderr, and a ring of the last events of level info and
 * above, which the status page reads (log_recent). The log calls nothing of ebbd's: a page
 * that wants events asks for them.
 */
#ifndef EBBD_LOG_H
#define EBBD_LOG_H

#include <stdbool.h>
#include <json-c/json.h>

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
bool log_enabled(int level);
/* A new event line; add fields with the json_add_* helpers, then log_emit (which frees it). */
json_object *log_new(int level, const char *event);
void log_emit(json_object *ev);
void log_msg(int level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The ring's events, newest first, as log_emit wrote them. */
void log_recent(void (*each)(void *ctx, const char *json), void *ctx);
void json_add_str(json_object *o, const char *key, const char *val); /* NULL: null */
void json_add_int(json_object *o, const char *key, long long val);
void json_add_double(json_object *o, const char *key, double val); /* 3 decimals; NaN: null */
void json_add_bool(json_object *o, const char *key, bool val);

#endif /* EBBD_LOG_H */
