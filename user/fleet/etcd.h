/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small etcd v3 client over etcd's JSON gateway (HTTP + JSON, libcurl + json-c): ranges,
 * puts, deletes, transactions and leases, the calls ebb's fleet mode needs. Several endpoints
 * (the cluster's members) are tried in turn: a member that does not answer within the timeout
 * is skipped for the next one, so a call costs at most n x timeout. Keys and values are plain
 * strings here; the base64 of the wire format stays inside etcd.c.
 *
 * Security (doc/fleet.md "etcd security"): https:// endpoints with a CA file and a client
 * certificate, and etcd's own authentication (a user whose role reaches the fleet's prefix
 * only): the password is read from a file, traded for a token at /v3/auth/authenticate, and the
 * token rides in the Authorization header; a token etcd no longer takes (expired, a restarted
 * member, an auth change) is traded again once per call. Plain http:// only with insecure set.
 *
 * One struct etcd per thread (it owns one curl handle and its connections).
 */
#ifndef EBB_ETCD_H
#define EBB_ETCD_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#define ETCD_MAX_ENDPOINTS 8

/* How to reach etcd safely; NULL strings: not used. */
struct etcd_sec {
	const char *ca; /* PEM CA bundle that signed the members' certificates (else the system's) */
	const char *cert, *key; /* PEM client certificate and its key (both or neither) */
	const char *user; /* etcd user (auth enabled on the cluster) */
	const char *password_file; /* the user's password: the file's first line */
	bool insecure; /* accept http:// endpoints (no TLS: anyone on the path reads and writes) */
};

struct etcd {
	char *ep[ETCD_MAX_ENDPOINTS];
	int n_ep;
	int cur; /* the endpoint that answered last: tried first next time */
	long timeout_ms; /* per attempt (connect + answer) */
	void *curl;
	char err[256]; /* why the last call failed */
	bool unreachable; /* the last call reached no member at all */
	/* How long a call keeps going round the members while some of them accept connections
	 * but none answers: a cluster that lost its leader (a member killed) elects another within
	 * a second or two and must not turn a write into a refusal. 0: one round only. When
	 * every member refuses the connection, etcd is down and the call fails at once. */
	long patience_ms;
	char *ca, *cert, *key, *user, *password_file;
	char *token; /* etcd's auth token for user, NULL until authenticated */
};

struct etcd_kv {
	char *key, *value;
	int64_t create_rev, mod_rev, version, lease;
};

struct etcd_range {
	int64_t revision; /* the store's revision when read */
	int n;
	struct etcd_kv *kvs;
};

/* endpoints: "https://HOST:PORT" each ("http://" only with sec->insecure); sec may be NULL
 * (no TLS files, no auth, no http). Returns -1 (with err) on a bad endpoint or setting. */
int etcd_init(struct etcd *c, char *const *endpoints, int n, long timeout_ms, const struct etcd_sec *sec);
/* An endpoint's form: 0 https, 1 http (allowed only with insecure), -1 neither. */
int etcd_endpoint_kind(const char *ep);
void etcd_free(struct etcd *c);

/* POSTs req (consumed) to path ("/v3/kv/range"...); returns the answer, or NULL (c->err). */
json_object *etcd_call(struct etcd *c, const char *path, json_object *req);

/* key, or every key under prefix when prefix is true. */
int etcd_get(struct etcd *c, const char *key, bool prefix, struct etcd_range *out);
void etcd_range_free(struct etcd_range *r);
const struct etcd_kv *etcd_range_find(const struct etcd_range *r, const char *key);

int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev);
int etcd_del(struct etcd *c, const char *key, bool prefix, int64_t *rev);

/* Transactions: build the compare and the two op lists with the helpers, then run. */
json_object *etcd_cmp(const char *key, const char *target, const char *result, int64_t num,
		      const char *value); /* target: "MOD", "CREATE", "VERSION", "VALUE" */
json_object *etcd_op_put(const char *key, const char *value, int64_t lease);
json_object *etcd_op_del(const char *key, bool prefix);
json_object *etcd_op_get(const char *key, bool prefix);
/* Runs the transaction (arrays consumed; NULL = empty). *ok: whether the compare held; *rev:
 * the revision after it; *resp (if given): the answer, for the caller to read and put. */
int etcd_txn(struct etcd *c, json_object *cmp, json_object *success, json_object *failure,
	     bool *ok, int64_t *rev, json_object **resp);

int etcd_lease_grant(struct etcd *c, int ttl, int64_t *id);
/* *ttl: the lease's remaining seconds; 0 when it has expired (then it is gone). */
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl);
int etcd_lease_revoke(struct etcd *c, int64_t id);
/* LeaseTimeToLive: *ttl the lease's remaining seconds as etcd's leader counts them (truncated to
 * whole seconds), *granted the TTL it was granted with; *ttl = -1 when the lease is gone. */
int etcd_lease_timetolive(struct etcd *c, int64_t id, int64_t *ttl, int64_t *granted);

/* The member's store revision (a cheap status call, needing no permission on any key). */
int etcd_revision(struct etcd *c, int64_t *rev);

/* helpers: base64 and JSON int64 strings */
char *etcd_b64(const char *s, size_t len);
char *etcd_unb64(const char *s, size_t *len);
int64_t etcd_int(json_object *o, const char *field);

#endif
