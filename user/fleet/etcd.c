// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * etcd v3 through its JSON gateway (etcd 3.4: /v3/kv/range, /v3/kv/put, /v3/kv/txn,
 * /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke,
 * /v3/lease/timetolive), with libcurl.
 * int64 fields travel as JSON strings, keys and values as base64.
 *
 * Failover: a call goes to the endpoint that answered last; when that one cannot be reached
 * (connect error, timeout, 5xx "unavailable"), the next is tried, each endpoint once per round;
 * with patience_ms set, rounds repeat while some member is up but none answers (an election).
 * An answer with an etcd error (e.g. a lease that does not exist) is an answer: no failover.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "etcd.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64(const char *s, size_t len)
{
	const unsigned char *in = (const unsigned char *)s;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);

		*p++ = b64chars[v >> 18 & 63];
		*p++ = b64chars[v >> 12 & 63];
		*p++ = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
		*p++ = i + 2 < len ? b64chars[v & 63] : '=';
	}
	*p = 0;
	return out;
}

char *etcd_unb64(const char *s, size_t *len)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n / 4 * 3 + 4);
	unsigned v = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *c = strchr(b64chars, s[i]);

		if (s[i] == '=' || !s[i])
			break;
		if (!c)
			continue;
		v = v << 6 | (unsigned)(c - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(v >> bits & 0xff);
		}
	}
	out[o] = 0;
	if (len)
		*len = o;
	return out;
}

int64_t etcd_int(json_object *o, const char *field)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, field, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

static json_object *jb64(const char *s)
{
	char *b = etcd_b64(s, strlen(s));
	json_object *o = json_object_new_string(b ? b : "");

	free(b);
	return o;
}

static json_object *jint64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_object_new_string(buf);
}

int etcd_endpoint_kind(const char *ep)
{
	size_t l = strlen(ep);

	if (!strncmp(ep, "https://", 8) && l > 8)
		return 0;
	if (!strncmp(ep, "http://", 7) && l > 7)
		return 1;
	return -1;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int etcd_init(struct etcd *c, char *const *endpoints, int n, long timeout_ms, const struct etcd_sec *sec)
{
	static bool global;
	const struct etcd_sec none = {};

	memset(c, 0, sizeof(*c));
	if (!sec)
		sec = &none;
	if (n < 1 || n > ETCD_MAX_ENDPOINTS) {
		snprintf(c->err, sizeof(c->err), "need 1..%d etcd endpoints", ETCD_MAX_ENDPOINTS);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		size_t l = strlen(endpoints[i]);
		int kind = etcd_endpoint_kind(endpoints[i]);

		if (kind < 0 || (kind == 1 && !sec->insecure)) {
			snprintf(c->err, sizeof(c->err), "etcd endpoint '%.150s' must be https://HOST:PORT%.50s",
				 endpoints[i], kind == 1 ? " (plain http only when allowed as insecure)" : "");
			etcd_free(c);
			return -1;
		}
		c->ep[i] = strdup(endpoints[i]);
		if (c->ep[i][l - 1] == '/')
			c->ep[i][l - 1] = 0;
		c->n_ep++;
	}
	if (!!(sec->cert && *sec->cert) != !!(sec->key && *sec->key) ||
	    !!(sec->user && *sec->user) != !!(sec->password_file && *sec->password_file)) {
		snprintf(c->err, sizeof(c->err), "etcd: a client certificate needs its key, a user its password file");
		etcd_free(c);
		return -1;
	}
	c->ca = dup_or_null(sec->ca);
	c->cert = dup_or_null(sec->cert);
	c->key = dup_or_null(sec->key);
	c->user = dup_or_null(sec->user);
	c->password_file = dup_or_null(sec->password_file);
	if (!global) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global = true;
	}
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	c->curl = curl_easy_init();
	if (!c->curl) {
		snprintf(c->err, sizeof(c->err), "curl_easy_init failed");
		etcd_free(c);
		return -1;
	}
	return 0;
}

void etcd_free(struct etcd *c)
{
	for (int i = 0; i < c->n_ep; i++)
		free(c->ep[i]);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c->user);
	free(c->password_file);
	free(c->token);
	memset(c, 0, sizeof(*c));
}

struct buf {
	char *p;
	size_t n;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	size_t len = size * nmemb;
	char *np;

	if (b->n + len > 64 << 20) /* 64 MiB: far beyond any fleet's state */
		return 0;
	np = realloc(b->p, b->n + len + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, data, len);
	b->p = np;
	b->n += len;
	b->p[b->n] = 0;
	return len;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* One call, as etcd_call, with body (a JSON string) and the token as it is now. */
static json_object *call_body(struct etcd *c, const char *path, const char *body)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	json_object *ans = NULL;

	long long deadline = mono_ms() + c->patience_ms;
	bool all_refused;

	if (c->token) {
		char auth[600];

		snprintf(auth, sizeof(auth), "Authorization: %s", c->token);
		hdr = curl_slist_append(hdr, auth);
	}
	c->unreachable = false;
again:
	all_refused = true;
	for (int tries = 0; tries < c->n_ep; tries++) {
		int i = (c->cur + tries) % c->n_ep;
		struct buf b = {};
		char url[512];
		long code = 0;
		CURLcode rc;

		snprintf(url, sizeof(url), "%s%s", c->ep[i], path);
		curl_easy_reset(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
		/* the scheme was checked by etcd_init; no redirect ever leaves these endpoints */
		curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
		if (c->ca)
			curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
		if (c->cert) {
			curl_easy_setopt(c->curl, CURLOPT_SSLCERT, c->cert);
			curl_easy_setopt(c->curl, CURLOPT_SSLKEY, c->key);
		}
		rc = curl_easy_perform(c->curl);
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
		if (rc != CURLE_OK || code == 503 || code == 502 || code == 0) {
			if (rc != CURLE_COULDNT_CONNECT)
				all_refused = false;
			snprintf(c->err, sizeof(c->err), "etcd %s: %s", c->ep[i],
				 rc != CURLE_OK ? curl_easy_strerror(rc) : "unavailable");
			free(b.p);
			continue;
		}
		c->cur = i;
		ans = b.p ? json_tokener_parse(b.p) : NULL;
		if (!ans) {
			snprintf(c->err, sizeof(c->err), "etcd %s: unreadable answer (HTTP %ld)", c->ep[i], code);
		} else if (code != 200) {
			json_object *m = NULL;

			if (!json_object_object_get_ex(ans, "message", &m))
				json_object_object_get_ex(ans, "error", &m);
			snprintf(c->err, sizeof(c->err), "etcd %s: %s", c->ep[i],
				 m ? json_object_get_string(m) : "error");
			json_object_put(ans);
			ans = NULL;
		} else if (json_object_object_get_ex(ans, "error", NULL)) {
			/* a streaming call (keepalive) reports errors inside a 200 */
			json_object *m = NULL;

			json_object_object_get_ex(ans, "error", &m);
			if (json_object_is_type(m, json_type_object))
				json_object_object_get_ex(m, "message", &m);
			snprintf(c->err, sizeof(c->err), "etcd %s: %s", c->ep[i],
				 m ? json_object_get_string(m) : "error");
			json_object_put(ans);
			ans = NULL;
		}
		free(b.p);
		curl_slist_free_all(hdr);
		return ans;
	}
	if (!all_refused && mono_ms() + 100 < deadline) {
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
		goto again;
	}
	c->unreachable = true;
	if (c->n_ep > 1) {
		char last[sizeof(c->err)];

		memcpy(last, c->err, sizeof(last));
		snprintf(c->err, sizeof(c->err), "no etcd member answered (%d tried; last: %.180s)", c->n_ep,
			 last);
	}
	curl_slist_free_all(hdr);
	return NULL;
}

/* The user's password: the file's first line (read at each authentication, so that a new
 * password needs no restart). */
static int read_password(struct etcd *c, char *pw, size_t len)
{
	FILE *f = fopen(c->password_file, "re");
	size_t n;

	if (!f) {
		snprintf(c->err, sizeof(c->err), "etcd password file %.180s: %s", c->password_file, strerror(errno));
		return -1;
	}
	if (!fgets(pw, (int)len, f))
		pw[0] = 0;
	fclose(f);
	n = strcspn(pw, "\r\n");
	pw[n] = 0;
	if (!n) {
		snprintf(c->err, sizeof(c->err), "etcd password file %.180s is empty", c->password_file);
		return -1;
	}
	return 0;
}

/* Trades user and password for a token (c->token). */
static int authenticate(struct etcd *c)
{
	json_object *r, *ans, *t = NULL;
	char pw[256];
	int ret = -1;

	free(c->token);
	c->token = NULL;
	if (read_password(c, pw, sizeof(pw)))
		return -1;
	r = json_object_new_object();
	json_object_object_add(r, "name", json_object_new_string(c->user));
	json_object_object_add(r, "password", json_object_new_string(pw));
	ans = call_body(c, "/v3/auth/authenticate", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
	/* the password leaves no copy behind in this process's memory */
	explicit_bzero(pw, sizeof(pw));
	{
		char *body = (char *)json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN);

		explicit_bzero(body, strlen(body));
	}
	json_object_put(r);
	if (!ans) {
		char why[sizeof(c->err)];

		/* unreachable keeps its own words: callers tell an outage from a refusal by them */
		if (c->unreachable)
			return -1;
		memcpy(why, c->err, sizeof(why));
		snprintf(c->err, sizeof(c->err), "etcd user '%.40s' cannot authenticate: %.170s", c->user, why);
		return -1;
	}
	if (json_object_object_get_ex(ans, "token", &t) && json_object_get_string_len(t) > 0 &&
	    json_object_get_string_len(t) < 512) {
		c->token = strdup(json_object_get_string(t));
		ret = 0;
	} else {
		snprintf(c->err, sizeof(c->err), "etcd user '%.40s': no token in etcd's answer", c->user);
	}
	json_object_put(ans);
	return ret;
}

/* etcd's answers when the token must be traded again: it expired (simple tokens live a few
 * minutes unused), the member restarted, the auth store changed, or none was sent yet. */
static bool token_refused(const char *err)
{
	return strstr(err, "invalid auth token") || strstr(err, "revision of auth store is old") ||
	       strstr(err, "user name is empty") || strstr(err, "auth token is expired");
}

json_object *etcd_call(struct etcd *c, const char *path, json_object *req)
{
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	json_object *ans = NULL;

	if (c->user && !c->token && authenticate(c))
		goto out;
	ans = call_body(c, path, body);
	if (!ans && c->user && !c->unreachable && token_refused(c->err) && !authenticate(c))
		ans = call_body(c, path, body);
out:
	json_object_put(req);
	return ans;
}

static json_object *range_req(const char *key, bool prefix)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "key", jb64(key));
	if (prefix) {
		size_t n = strlen(key);
		char *end = strdup(key);

		/* the range_end of a prefix: its last byte plus one */
		if (n)
			end[n - 1]++;
		json_object_object_add(r, "range_end", jb64(end));
		free(end);
	}
	return r;
}

static int kv_of(json_object *o, struct etcd_kv *kv)
{
	json_object *k = NULL, *v = NULL;

	memset(kv, 0, sizeof(*kv));
	json_object_object_get_ex(o, "key", &k);
	json_object_object_get_ex(o, "value", &v);
	kv->key = etcd_unb64(k ? json_object_get_string(k) : "", NULL);
	kv->value = etcd_unb64(v ? json_object_get_string(v) : "", NULL);
	kv->create_rev = etcd_int(o, "create_revision");
	kv->mod_rev = etcd_int(o, "mod_revision");
	kv->version = etcd_int(o, "version");
	kv->lease = etcd_int(o, "lease");
	return kv->key && kv->value ? 0 : -1;
}

static int range_of(json_object *ans, struct etcd_range *out)
{
	json_object *hdr = NULL, *kvs = NULL;

	memset(out, 0, sizeof(*out));
	json_object_object_get_ex(ans, "header", &hdr);
	out->revision = etcd_int(hdr, "revision");
	if (json_object_object_get_ex(ans, "kvs", &kvs) && json_object_is_type(kvs, json_type_array)) {
		int n = (int)json_object_array_length(kvs);

		out->kvs = calloc(n ? n : 1, sizeof(*out->kvs));
		if (!out->kvs)
			return -1;
		for (int i = 0; i < n; i++)
			if (!kv_of(json_object_array_get_idx(kvs, i), &out->kvs[out->n]))
				out->n++;
	}
	return 0;
}

int etcd_get(struct etcd *c, const char *key, bool prefix, struct etcd_range *out)
{
	json_object *ans = etcd_call(c, "/v3/kv/range", range_req(key, prefix));
	int ret;

	memset(out, 0, sizeof(*out));
	if (!ans)
		return -1;
	ret = range_of(ans, out);
	json_object_put(ans);
	return ret;
}

void etcd_range_free(struct etcd_range *r)
{
	for (int i = 0; i < r->n; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

const struct etcd_kv *etcd_range_find(const struct etcd_range *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->kvs[i].key, key))
			return &r->kvs[i];
	return NULL;
}

static int header_rev(json_object *ans, int64_t *rev)
{
	json_object *hdr = NULL;

	if (!ans)
		return -1;
	json_object_object_get_ex(ans, "header", &hdr);
	if (rev)
		*rev = etcd_int(hdr, "revision");
	json_object_put(ans);
	return 0;
}

int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *rev)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "key", jb64(key));
	json_object_object_add(r, "value", jb64(value));
	if (lease)
		json_object_object_add(r, "lease", jint64(lease));
	return header_rev(etcd_call(c, "/v3/kv/put", r), rev);
}

int etcd_del(struct etcd *c, const char *key, bool prefix, int64_t *rev)
{
	return header_rev(etcd_call(c, "/v3/kv/deleterange", range_req(key, prefix)), rev);
}

json_object *etcd_cmp(const char *key, const char *target, const char *result, int64_t num,
		      const char *value)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "key", jb64(key));
	json_object_object_add(o, "target", json_object_new_string(target));
	json_object_object_add(o, "result", json_object_new_string(result));
	if (!strcmp(target, "MOD"))
		json_object_object_add(o, "mod_revision", jint64(num));
	else if (!strcmp(target, "CREATE"))
		json_object_object_add(o, "create_revision", jint64(num));
	else if (!strcmp(target, "VERSION"))
		json_object_object_add(o, "version", jint64(num));
	else if (!strcmp(target, "VALUE"))
		json_object_object_add(o, "value", jb64(value ? value : ""));
	return o;
}

json_object *etcd_op_put(const char *key, const char *value, int64_t lease)
{
	json_object *o = json_object_new_object(), *r = json_object_new_object();

	json_object_object_add(r, "key", jb64(key));
	json_object_object_add(r, "value", jb64(value));
	if (lease)
		json_object_object_add(r, "lease", jint64(lease));
	json_object_object_add(o, "request_put", r);
	return o;
}

json_object *etcd_op_del(const char *key, bool prefix)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "request_delete_range", range_req(key, prefix));
	return o;
}

json_object *etcd_op_get(const char *key, bool prefix)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "request_range", range_req(key, prefix));
	return o;
}

int etcd_txn(struct etcd *c, json_object *cmp, json_object *success, json_object *failure,
	     bool *ok, int64_t *rev, json_object **resp)
{
	json_object *r = json_object_new_object(), *ans, *s = NULL, *hdr = NULL;

	json_object_object_add(r, "compare", cmp ? cmp : json_object_new_array());
	json_object_object_add(r, "success", success ? success : json_object_new_array());
	json_object_object_add(r, "failure", failure ? failure : json_object_new_array());
	ans = etcd_call(c, "/v3/kv/txn", r);
	if (!ans)
		return -1;
	/* "succeeded": false is left out of the answer (protobuf's JSON omits defaults) */
	if (ok)
		*ok = json_object_object_get_ex(ans, "succeeded", &s) && json_object_get_boolean(s);
	json_object_object_get_ex(ans, "header", &hdr);
	if (rev)
		*rev = etcd_int(hdr, "revision");
	if (resp)
		*resp = ans;
	else
		json_object_put(ans);
	return 0;
}

int etcd_lease_grant(struct etcd *c, int ttl, int64_t *id)
{
	json_object *r = json_object_new_object(), *ans;

	json_object_object_add(r, "TTL", jint64(ttl));
	json_object_object_add(r, "ID", jint64(0));
	ans = etcd_call(c, "/v3/lease/grant", r);
	if (!ans)
		return -1;
	*id = etcd_int(ans, "ID");
	json_object_put(ans);
	if (!*id) {
		snprintf(c->err, sizeof(c->err), "etcd granted no lease");
		return -1;
	}
	return 0;
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl)
{
	json_object *r = json_object_new_object(), *ans, *res = NULL;

	json_object_object_add(r, "ID", jint64(id));
	ans = etcd_call(c, "/v3/lease/keepalive", r);
	if (!ans)
		return -1;
	/* a stream of one message: {"result": {"header":…, "ID":…, "TTL":…}} */
	if (!json_object_object_get_ex(ans, "result", &res))
		res = ans;
	*ttl = etcd_int(res, "TTL");
	json_object_put(ans);
	return 0;
}

int etcd_lease_revoke(struct etcd *c, int64_t id)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "ID", jint64(id));
	return header_rev(etcd_call(c, "/v3/lease/revoke", r), NULL);
}

int etcd_lease_timetolive(struct etcd *c, int64_t id, int64_t *ttl, int64_t *granted)
{
	json_object *r = json_object_new_object(), *ans, *t = NULL;

	json_object_object_add(r, "ID", jint64(id));
	ans = etcd_call(c, "/v3/lease/timetolive", r);
	if (!ans)
		return -1;
	/* a gone lease answers {"ID":…,"TTL":"-1"}; an answer without TTL is not one */
	if (!json_object_object_get_ex(ans, "TTL", &t)) {
		snprintf(c->err, sizeof(c->err), "etcd: no TTL in the answer about lease %lld", (long long)id);
		json_object_put(ans);
		return -1;
	}
	*ttl = etcd_int(ans, "TTL");
	*granted = etcd_int(ans, "grantedTTL");
	json_object_put(ans);
	return 0;
}

int etcd_revision(struct etcd *c, int64_t *rev)
{
	/* a range outside the fleet's prefix would be refused to a user limited to it */
	return header_rev(etcd_call(c, "/v3/maintenance/status", json_object_new_object()), rev);
}
