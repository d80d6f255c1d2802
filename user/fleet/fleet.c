// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The fleet's desired state in etcd and the marker ebbd pins next to the maps (see fleet.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "fleet.h"
#include "libebb_desired.h"

double fleet_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool fleet_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= FLEET_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
		    *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

void fleet_key(char *buf, size_t len, const char *fleet, const char *rest)
{
	snprintf(buf, len, "/ebb/%s/%s", fleet, rest);
}

static void marker_path(const char *bpffs, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", bpffs, FLEET_MARKER);
}

static json_object *marker_json(const struct fleet_marker *m)
{
	json_object *doc = json_object_new_object(), *eps = json_object_new_array();
	const struct {
		const char *name, *val;
	} opt[] = { { "etcd_ca", m->ca }, { "etcd_cert", m->cert }, { "etcd_key", m->key },
		    { "etcd_user", m->user }, { "etcd_password_file", m->password_file } };

	json_object_object_add(doc, "fleet", json_object_new_string(m->fleet));
	json_object_object_add(doc, "host", json_object_new_string(m->host));
	for (int i = 0; i < m->n_etcd; i++)
		json_object_array_add(eps, json_object_new_string(m->etcd[i]));
	json_object_object_add(doc, "etcd", eps);
	json_object_object_add(doc, "lease_ttl", json_object_new_int(m->lease_ttl));
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (opt[i].val[0])
			json_object_object_add(doc, opt[i].name, json_object_new_string(opt[i].val));
	if (m->insecure)
		json_object_object_add(doc, "etcd_insecure", json_object_new_boolean(true));
	return doc;
}

size_t fleet_marker_len(const struct fleet_marker *m)
{
	json_object *doc = marker_json(m);
	size_t n = strlen(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(doc);
	return n;
}

void fleet_marker_sec(const struct fleet_marker *m, struct etcd_sec *sec)
{
	*sec = (struct etcd_sec){ .ca = m->ca, .cert = m->cert, .key = m->key, .user = m->user,
				  .password_file = m->password_file, .insecure = m->insecure };
}

int fleet_marker_write(const char *bpffs, const struct fleet_marker *m, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	json_object *doc = marker_json(m);
	char path[600], val[FLEET_MARKER_SIZE] = {};
	const char *s;
	int fd, ret = 0;

	s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strlen(s) >= sizeof(val)) {
		json_object_put(doc);
		return ebb_errf(err, "fleet marker too long");
	}
	strcpy(val, s);
	json_object_put(doc);
	if (ebb_ensure_bpffs(bpffs, err))
		return -1;
	marker_path(bpffs, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ebb_fleet", 4, sizeof(val), 1, &opts);
		if (fd < 0)
			return ebb_errf(err, "cannot create the fleet marker: %s", strerror(errno));
		if (bpf_obj_pin(fd, path)) {
			ret = ebb_errf(err, "cannot pin %s: %s", path, strerror(errno));
			close(fd);
			return ret;
		}
	}
	if (bpf_map_update_elem(fd, &(__u32){ 0 }, val, BPF_ANY))
		ret = ebb_errf(err, "cannot write %s: %s", path, strerror(errno));
	close(fd);
	return ret;
}

int fleet_marker_read(const char *bpffs, struct fleet_marker *m)
{
	char path[600], val[FLEET_MARKER_SIZE];
	json_object *doc, *v;
	int fd;

	memset(m, 0, sizeof(*m));
	marker_path(bpffs, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(fd, &(__u32){ 0 }, val)) {
		close(fd);
		return -ENOENT;
	}
	close(fd);
	val[sizeof(val) - 1] = 0;
	doc = json_tokener_parse(val);
	if (!doc)
		return -ENOENT;
	if (json_object_object_get_ex(doc, "fleet", &v))
		snprintf(m->fleet, sizeof(m->fleet), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(doc, "host", &v))
		snprintf(m->host, sizeof(m->host), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(doc, "lease_ttl", &v))
		m->lease_ttl = json_object_get_int(v);
	if (json_object_object_get_ex(doc, "etcd", &v) && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) && m->n_etcd < ETCD_MAX_ENDPOINTS; i++)
			snprintf(m->etcd[m->n_etcd++], sizeof(m->etcd[0]), "%s",
				 json_object_get_string(json_object_array_get_idx(v, i)));
	{
		const struct {
			const char *name;
			char *buf;
			size_t len;
		} opt[] = { { "etcd_ca", m->ca, sizeof(m->ca) }, { "etcd_cert", m->cert, sizeof(m->cert) },
			    { "etcd_key", m->key, sizeof(m->key) }, { "etcd_user", m->user, sizeof(m->user) },
			    { "etcd_password_file", m->password_file, sizeof(m->password_file) } };

		for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
			if (json_object_object_get_ex(doc, opt[i].name, &v))
				snprintf(opt[i].buf, opt[i].len, "%s", json_object_get_string(v));
	}
	if (json_object_object_get_ex(doc, "etcd_insecure", &v))
		m->insecure = json_object_get_boolean(v);
	json_object_put(doc);
	return m->fleet[0] && m->n_etcd ? 0 : -ENOENT;
}

void fleet_marker_remove(const char *bpffs)
{
	char path[600];

	marker_path(bpffs, path, sizeof(path));
	unlink(path);
}

/* ---- the schema of the desired state (doc/fleet.md, "Schema") ---- */


static int whyf(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int whyf(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* One JSON object, the whole value, nothing after it (strict: a cut value never half-parses). */
static json_object *parse_object(const char *val, char *why, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	size_t n = strlen(val);
	json_object *o;

	if (!tok) {
		whyf(why, len, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* the terminating NUL included: it ends a top-level number or literal */
	o = json_tokener_parse_ex(tok, val, (int)n + 1);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (!n)
			whyf(why, len, "empty value, not a JSON object");
		else if (e == json_tokener_success)
			whyf(why, len, "null, not a JSON object");
		else if (e == json_tokener_error_parse_eof || e == json_tokener_continue)
			whyf(why, len, "truncated JSON: the value ends after %zu bytes, inside the document", n);
		else
			whyf(why, len, "not JSON: %s at byte %zu", json_tokener_error_desc(e),
			     json_tokener_get_parse_end(tok));
	} else if (!json_object_is_type(o, json_type_object)) {
		whyf(why, len, "a JSON %s, not a JSON object", json_type_to_name(json_object_get_type(o)));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static const char *type_name(json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

/* Every field of o is one of names (NULL-terminated). */
static int known_fields(json_object *o, const char *const *names, char *why, size_t len)
{
	json_object_object_foreach(o, k, v)
	{
		bool known = false;

		(void)v;
		for (int i = 0; names[i] && !known; i++)
			known = !strcmp(k, names[i]);
		if (!known)
			return whyf(why, len, "unknown field \"%.64s\"", k);
	}
	return 0;
}

/* An integer field in lo..hi; dflt when absent and !required. */
static int get_uint(json_object *o, const char *k, bool required, long long lo, long long hi, __u32 dflt,
		    __u32 *out, char *why, size_t len)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, k, &v)) {
		if (required)
			return whyf(why, len, "missing \"%s\"", k);
		*out = dflt;
		return 0;
	}
	if (!v || !json_object_is_type(v, json_type_int))
		return whyf(why, len, "\"%s\" must be an integer %lld..%lld, not %s", k, lo, hi, type_name(v));
	x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return whyf(why, len, "\"%s\" is %s%lld, out of range %lld..%lld", k,
			    x == INT64_MAX ? "at least " : x == INT64_MIN ? "at most " : "", (long long)x, lo, hi);
	*out = (__u32)x;
	return 0;
}

/* A 64-bit integer field in 1..INT64_MAX (an etcd lease id); 0 when absent and !required. */
static int get_id(json_object *o, const char *k, bool required, int64_t *out, char *why, size_t len)
{
	json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, k, &v)) {
		if (required)
			return whyf(why, len, "missing \"%s\"", k);
		return 0;
	}
	if (!v || !json_object_is_type(v, json_type_int))
		return whyf(why, len, "\"%s\" must be an integer (an etcd lease id), not %s", k, type_name(v));
	/* json-c saturates a larger number at INT64_MAX: that is no lease id either */
	*out = json_object_get_int64(v);
	if (*out < 1 || *out == INT64_MAX)
		return whyf(why, len, "\"%s\" must be an etcd lease id 1..%lld, not %lld", k,
			    (long long)INT64_MAX - 1, (long long)*out);
	return 0;
}

/* A string field; NULL (and 0) when absent and !required. */
static int get_str(json_object *o, const char *k, bool required, const char **out, char *why, size_t len)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, k, &v))
		return required ? whyf(why, len, "missing \"%s\"", k) : 0;
	if (!v || !json_object_is_type(v, json_type_string))
		return whyf(why, len, "\"%s\" must be a string, not %s", k, type_name(v));
	*out = json_object_get_string(v);
	return 0;
}

/* One of the node states ebb_state_name prints (lower case); "unused" is no state. */
static int get_state(json_object *o, const char *k, bool required, bool down_ok, __u8 *out, char *why,
		     size_t len)
{
	const char *s, *names = down_ok ? "active, draining, inactive, down" : "active, draining, inactive";
	json_object *v;
	int st;

	if (!json_object_object_get_ex(o, k, &v)) {
		if (required)
			return whyf(why, len, "missing \"%s\" (%s)", k, names);
		return 1;
	}
	if (!v || !json_object_is_type(v, json_type_string))
		return whyf(why, len, "\"%s\" must be a string (%s), not %s", k, names, type_name(v));
	s = json_object_get_string(v);
	st = ebb_state_parse(s);
	if (st <= EBB_NODE_UNUSED || (st == EBB_NODE_DOWN && !down_ok))
		return whyf(why, len, "\"%s\" must be one of %s, not \"%.32s\"", k, names, s);
	*out = (__u8)st;
	return 0;
}

/* The key's name as the writers print it: one object has one key. */
static int vip_name(const char *name, const char *where, struct ebb_vip_key *k, char *why, size_t len)
{
	struct ebb_err err = {};
	char canon[64];

	if (ebb_parse_vip(name, k, &err))
		return whyf(why, len, "bad VIP %s: %s", where, err.msg);
	ebb_fmt_vip(k, canon, sizeof(canon));
	if (strcmp(canon, name))
		return whyf(why, len, "VIP \"%.64s\" %s is not written as ebbctl prints it (%s)", name, where, canon);
	return 0;
}

static int node_name(const char *name, struct ebb_addr *a, char *why, size_t len)
{
	struct ebb_err err = {};
	char canon[64];

	if (ebb_parse_addr(name, a, &err))
		return whyf(why, len, "bad node address in the key: %s", err.msg);
	ebb_fmt_addr(a->a, a->family, canon, sizeof(canon));
	if (strcmp(canon, name))
		return whyf(why, len, "node \"%.64s\" in the key is not written as ebbctl prints it (%s)", name, canon);
	return 0;
}

static int get_addr(json_object *o, const char *k, __u8 family, struct ebb_addr *a, bool *have, char *why,
		    size_t len)
{
	struct ebb_err err = {};
	const char *s;

	*have = false;
	if (get_str(o, k, false, &s, why, len))
		return -1;
	if (!s)
		return 0;
	if (ebb_parse_addr(s, a, &err) || a->family != family)
		return whyf(why, len, "\"%s\" must be an IPv%d address, not \"%.64s\"", k,
			    family == EBB_FAMILY_V4 ? 4 : 6, s);
	*have = true;
	return 0;
}

static const char *const vip_fields[] = { "fwd", "tcp_idle_s", "udp_idle_s", "fin_s", "drain_timeout_s",
					  "encap_src4", "encap_src6", "table_size", NULL };

int fleet_vip_check(const char *name, const char *val, struct fleet_vip *v, char *why, size_t len)
{
	struct ebb_err err = {};
	json_object *o = NULL;
	struct ebb_addr a;
	const char *s;
	bool have;
	int ret = -1;

	memset(v, 0, sizeof(*v));
	if (vip_name(name, "in the key", &v->key, why, len))
		return -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (!(o = parse_object(val, why, len)) || known_fields(o, vip_fields, why, len) ||
	    get_str(o, "fwd", true, &s, why, len))
		goto out;
	if (!strcmp(s, "dsr")) {
		v->o.fwd = EBB_FWD_DSR;
	} else if (!strcmp(s, "ipip")) {
		v->o.fwd = EBB_FWD_IPIP;
	} else {
		whyf(why, len, "\"fwd\" must be \"dsr\" or \"ipip\", not \"%.32s\"", s);
		goto out;
	}
	if (get_uint(o, "tcp_idle_s", true, 1, EBB_MAX_TIMEOUT_S, 0, &v->o.tcp_idle_s, why, len) ||
	    get_uint(o, "udp_idle_s", true, 1, EBB_MAX_TIMEOUT_S, 0, &v->o.udp_idle_s, why, len) ||
	    get_uint(o, "fin_s", true, 1, EBB_MAX_TIMEOUT_S, 0, &v->o.fin_s, why, len) ||
	    get_uint(o, "drain_timeout_s", true, 1, EBB_MAX_TIMEOUT_S, 0, &v->o.drain_timeout_s, why, len))
		goto out;
	/* absent: written by a writer before table sizes, whose VIPs all have EBB_RING_SIZE */
	if (get_uint(o, "table_size", false, 1, EBB_RING_SIZE, EBB_RING_SIZE, &v->o.table_size, why, len))
		goto out;
	if (!ebb_table_size_ok(v->o.table_size)) {
		whyf(why, len, "\"table_size\" is %u, not one of %s", v->o.table_size, ebb_table_sizes_str());
		goto out;
	}
	if (get_addr(o, "encap_src4", EBB_FAMILY_V4, &a, &have, why, len))
		goto out;
	if (have)
		v->o.encap_src4 = a.a[0];
	if (get_addr(o, "encap_src6", EBB_FAMILY_V6, &a, &have, why, len))
		goto out;
	if (have)
		memcpy(v->o.encap_src6, a.a, sizeof(a.a));
	/* what the encoding allows, the model must too: the same check as every other write */
	if (ebb_desired_vip_check(&(struct ebb_desired_vip){ .key = v->key, .o = v->o }, &err)) {
		whyf(why, len, "%s", err.msg);
		goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

json_object *fleet_vip_json(const struct fleet_vip *v)
{
	json_object *o = json_object_new_object();
	char buf[64];

	json_object_object_add(o, "fwd", json_object_new_string(ebb_fwd_name(v->o.fwd)));
	json_object_object_add(o, "tcp_idle_s", json_object_new_int64(v->o.tcp_idle_s));
	json_object_object_add(o, "udp_idle_s", json_object_new_int64(v->o.udp_idle_s));
	json_object_object_add(o, "fin_s", json_object_new_int64(v->o.fin_s));
	json_object_object_add(o, "drain_timeout_s", json_object_new_int64(v->o.drain_timeout_s));
	/* only where it is not what its absence means: a host of an older ebb, which refuses an
	 * unknown field, keeps reading every VIP it can build */
	if (v->o.table_size && v->o.table_size != EBB_RING_SIZE)
		json_object_object_add(o, "table_size", json_object_new_int64(v->o.table_size));
	if (v->o.encap_src4)
		json_object_object_add(o, "encap_src4",
				       json_object_new_string(ebb_fmt_addr(&v->o.encap_src4, EBB_FAMILY_V4,
									   buf, sizeof(buf))));
	if (v->o.encap_src6[0] | v->o.encap_src6[1] | v->o.encap_src6[2] | v->o.encap_src6[3])
		json_object_object_add(o, "encap_src6",
				       json_object_new_string(ebb_fmt_addr(v->o.encap_src6, EBB_FAMILY_V6,
									   buf, sizeof(buf))));
	return o;
}

static const char *const node_fields[] = { "state", "since", "drain_timeout_s", "drain_lease", "before_down",
					   "mac", "node_prog", "weights", NULL };

int fleet_node_check(const char *name, const char *val, struct fleet_node *n, char *why, size_t len)
{
	json_object *o = NULL, *w;
	struct ebb_err err = {};
	const char *s;
	int ret = -1, r;

	memset(n, 0, sizeof(*n));
	if (node_name(name, &n->addr, why, len))
		return -1;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (!(o = parse_object(val, why, len)) || known_fields(o, node_fields, why, len) ||
	    get_state(o, "state", true, true, &n->state, why, len) < 0)
		goto out;
	/* where a down node returns to: needed when it is down, checked whenever given */
	r = get_state(o, "before_down", n->state == EBB_NODE_DOWN, false, &n->before_down, why, len);
	if (r < 0)
		goto out;
	if (r > 0)
		n->before_down = 0;
	if (get_str(o, "mac", false, &s, why, len))
		goto out;
	if (s) {
		if (ebb_parse_mac(s, n->mac, &err)) {
			whyf(why, len, "\"mac\" must be a MAC address, not \"%.32s\"", s);
			goto out;
		}
		n->have_mac = true;
	}
	if (get_uint(o, "drain_timeout_s", false, 0, EBB_MAX_TIMEOUT_S, 0, &n->drain_timeout_s, why, len))
		goto out;
	if (get_id(o, "drain_lease", false, &n->drain_lease, why, len))
		goto out;
	/* a drain's clock belongs to that drain: any other state has ended it */
	if (n->drain_lease && n->state != EBB_NODE_DRAINING) {
		whyf(why, len, "\"drain_lease\" is for a draining node, not a%s %s one",
		     n->state == EBB_NODE_ACTIVE || n->state == EBB_NODE_INACTIVE ? "n" : "", ebb_state_name(n->state));
		goto out;
	}
	/* optional: a node written before the attribute existed does not run the node program */
	if (json_object_object_get_ex(o, "node_prog", &w)) {
		if (!w || !json_object_is_type(w, json_type_boolean)) {
			whyf(why, len, "\"node_prog\" must be true or false, not %s", type_name(w));
			goto out;
		}
		n->node_prog = json_object_get_boolean(w);
	}
	if (json_object_object_get_ex(o, "since", &w)) {
		if (!w || !(json_object_is_type(w, json_type_int) || json_object_is_type(w, json_type_double))) {
			whyf(why, len, "\"since\" must be a number (UNIX seconds), not %s", type_name(w));
			goto out;
		}
		n->since = json_object_get_double(w);
		if (!(n->since >= 0 && n->since < 1e11)) {
			whyf(why, len, "\"since\" must be UNIX seconds >= 0, not %g", n->since);
			goto out;
		}
	}
	if (!json_object_object_get_ex(o, "weights", &w)) {
		whyf(why, len, "missing \"weights\"");
		goto out;
	}
	if (!w || !json_object_is_type(w, json_type_object)) {
		whyf(why, len, "\"weights\" must be an object {\"VIP\": weight}, not %s", type_name(w));
		goto out;
	}
	{
		json_object_object_foreach(w, vk, wv)
		{
			int64_t x;

			if (n->n_w >= EBB_MAX_VIPS) {
				whyf(why, len, "\"weights\" names more than %d VIPs", EBB_MAX_VIPS);
				goto out;
			}
			if (vip_name(vk, "in \"weights\"", &n->w[n->n_w].vip, why, len))
				goto out;
			for (int i = 0; i < n->n_w; i++)
				if (!memcmp(&n->w[i].vip, &n->w[n->n_w].vip, sizeof(n->w[i].vip))) {
					whyf(why, len, "\"weights\" names %.64s twice", vk);
					goto out;
				}
			if (!wv || !json_object_is_type(wv, json_type_int)) {
				whyf(why, len, "weight of %.64s must be an integer 1..%d, not %s", vk, EBB_MAX_WEIGHT,
				     type_name(wv));
				goto out;
			}
			x = json_object_get_int64(wv);
			if (x < 1 || x > EBB_MAX_WEIGHT) {
				whyf(why, len, "weight of %.64s is %lld, out of range 1..%d", vk, (long long)x,
				     EBB_MAX_WEIGHT);
				goto out;
			}
			n->w[n->n_w++].weight = (__u32)x;
		}
	}
	{
		struct ebb_desired_node dn = { .addr = n->addr, .state = n->state,
					       .drain_timeout_s = n->drain_timeout_s, .have_mac = n->have_mac,
					       .node_prog = n->node_prog };

		memcpy(dn.mac, n->mac, 6);
		if (ebb_desired_node_check(&dn, &err)) {
			whyf(why, len, "%s", err.msg);
			goto out;
		}
	}
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

static const char *const host_fields[] = { "drain", NULL };

int fleet_host_check(const char *name, const char *val, struct fleet_hostcfg *h, char *why, size_t len)
{
	json_object *o, *d;
	int ret = -1;

	memset(h, 0, sizeof(*h));
	if (!fleet_name_ok(name))
		return whyf(why, len, "bad host name in the key: 1..63 letters, digits, '-', '_' or '.'");
	snprintf(h->name, sizeof(h->name), "%s", name);
	if (!(o = parse_object(val, why, len)) || known_fields(o, host_fields, why, len))
		goto out;
	if (!json_object_object_get_ex(o, "drain", &d))
		whyf(why, len, "missing \"drain\"");
	else if (!d || !json_object_is_type(d, json_type_boolean))
		whyf(why, len, "\"drain\" must be true or false, not %s", type_name(d));
	else
		h->drain = json_object_get_boolean(d), ret = 0;
out:
	json_object_put(o);
	return ret;
}

static const char *const drain_fields[] = { "lease", "elapsed_s", NULL };

int fleet_drain_check(const char *name, const char *val, struct fleet_drain *d, char *why, size_t len)
{
	json_object *o;
	int ret = -1;

	memset(d, 0, sizeof(*d));
	if (node_name(name, &d->addr, why, len))
		return -1;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (!(o = parse_object(val, why, len)) || known_fields(o, drain_fields, why, len) ||
	    get_id(o, "lease", true, &d->lease, why, len) ||
	    get_uint(o, "elapsed_s", true, 0, EBB_MAX_TIMEOUT_S, 0, &d->elapsed_s, why, len))
		goto out;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

static const char *const gen_fields[] = { "active", "draining", NULL };

static int by_addr(const void *a, const void *b)
{
	const struct fleet_gen_member *x = a, *y = b;

	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	return memcmp(x->addr.a, y->addr.a, sizeof(x->addr.a));
}

/* One of a generation's two objects {"ADDR": weight, ...}, appended to g->m. */
static int gen_members(json_object *o, const char *k, bool active, struct fleet_gen *g, char *why, size_t len)
{
	json_object *w;

	if (!json_object_object_get_ex(o, k, &w))
		return whyf(why, len, "missing \"%s\"", k);
	if (!w || !json_object_is_type(w, json_type_object))
		return whyf(why, len, "\"%s\" must be an object {\"ADDR\": weight}, not %s", k, type_name(w));
	json_object_object_foreach(w, a, wv)
	{
		struct fleet_gen_member *m;
		int64_t x;

		if (g->n >= EBB_MAX_NODES - 1)
			return whyf(why, len, "more than %d nodes", EBB_MAX_NODES - 1);
		m = &g->m[g->n];
		memset(m, 0, sizeof(*m));
		if (node_name(a, &m->addr, why, len))
			return whyf(why, len, "\"%s\" names \"%.64s\", not a node address as ebbctl prints it", k, a);
		if (!wv || !json_object_is_type(wv, json_type_int))
			return whyf(why, len, "weight of %.64s must be an integer 1..%d, not %s", a, EBB_MAX_WEIGHT,
				    type_name(wv));
		x = json_object_get_int64(wv);
		if (x < 1 || x > EBB_MAX_WEIGHT)
			return whyf(why, len, "weight of %.64s is %lld, out of range 1..%d", a, (long long)x, EBB_MAX_WEIGHT);
		m->weight = (__u32)x;
		m->active = active;
		for (int i = 0; i < g->n; i++)
			if (!by_addr(&g->m[i], m))
				return whyf(why, len, "names %.64s twice", a);
		g->n++;
	}
	return 0;
}

int fleet_gen_check(const char *name, const char *val, struct fleet_gen *g, char *why, size_t len)
{
	const char *slash = strrchr(name, '/');
	char vip[80], *end;
	json_object *o = NULL;
	long long id;
	int ret = -1;

	memset(g, 0, sizeof(*g));
	if (!slash || (size_t)(slash - name) >= sizeof(vip))
		return whyf(why, len, "a history key is state/history/VIP/LEASE");
	snprintf(vip, sizeof(vip), "%.*s", (int)(slash - name), name);
	if (vip_name(vip, "in the key", &g->vip, why, len))
		return -1;
	errno = 0;
	id = strtoll(slash + 1, &end, 10);
	if (!slash[1] || *end || errno || id < 1 || id == INT64_MAX || slash[1] == '0')
		return whyf(why, len, "\"%.32s\" in the key is not an etcd lease id 1..%lld in decimal", slash + 1,
			    (long long)INT64_MAX - 1);
	g->lease = id;
	g->m = calloc(EBB_MAX_NODES, sizeof(*g->m));
	if (!g->m)
		return whyf(why, len, "out of memory");
	if (!(o = parse_object(val, why, len)) || known_fields(o, gen_fields, why, len) ||
	    gen_members(o, "active", true, g, why, len) || gen_members(o, "draining", false, g, why, len))
		goto out;
	qsort(g->m, g->n, sizeof(*g->m), by_addr);
	ret = 0;
out:
	json_object_put(o);
	if (ret) {
		free(g->m);
		g->m = NULL;
		g->n = 0;
	}
	return ret;
}

json_object *fleet_node_json(const struct fleet_node *n)
{
	json_object *o = json_object_new_object(), *w = json_object_new_object();
	char buf[64];

	json_object_object_add(o, "state", json_object_new_string(ebb_state_name(n->state)));
	json_object_object_add(o, "since", json_object_new_double(n->since));
	if (n->drain_timeout_s)
		json_object_object_add(o, "drain_timeout_s", json_object_new_int64(n->drain_timeout_s));
	if (n->drain_lease)
		json_object_object_add(o, "drain_lease", json_object_new_int64(n->drain_lease));
	if (n->state == EBB_NODE_DOWN)
		json_object_object_add(o, "before_down",
				       json_object_new_string(ebb_state_name(n->before_down)));
	if (n->have_mac)
		json_object_object_add(o, "mac", json_object_new_string(ebb_fmt_mac(n->mac, buf, sizeof(buf))));
	if (n->node_prog)
		json_object_object_add(o, "node_prog", json_object_new_boolean(true));
	for (int i = 0; i < n->n_w; i++)
		json_object_object_add(w, ebb_fmt_vip(&n->w[i].vip, buf, sizeof(buf)),
				       json_object_new_int64(n->w[i].weight));
	json_object_object_add(o, "weights", w);
	return o;
}

/* Which kind of key of /ebb/F/state/ this is, and its name (after the kind's prefix). */
static enum fleet_kind key_kind(const char *fleet, const char *key, const char **name, bool *serial)
{
	static const struct {
		const char *rest;
		enum fleet_kind kind;
	} kinds[] = { { "state/vips/", FLEET_KEY_VIP }, { "state/nodes/", FLEET_KEY_NODE },
		      { "state/hosts/", FLEET_KEY_HOST }, { "state/drains/", FLEET_KEY_DRAIN },
		      { "state/history/", FLEET_KEY_GEN } };
	char p[160];

	*serial = false;
	*name = NULL;
	fleet_key(p, sizeof(p), fleet, "state/serial");
	if (!strcmp(key, p)) {
		*serial = true;
		return FLEET_KEY_OTHER;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		fleet_key(p, sizeof(p), fleet, kinds[i].rest);
		if (!strncmp(key, p, strlen(p))) {
			*name = key + strlen(p);
			return kinds[i].kind;
		}
	}
	return FLEET_KEY_OTHER;
}

int fleet_key_check(const char *fleet, const char *key, const char *val, char *why, size_t len)
{
	struct fleet_node *n;
	struct fleet_vip v;
	struct fleet_hostcfg h;
	struct fleet_drain d;
	struct fleet_gen g;
	const char *name;
	bool serial;
	int ret;

	switch (key_kind(fleet, key, &name, &serial)) {
	case FLEET_KEY_VIP:
		return fleet_vip_check(name, val, &v, why, len);
	case FLEET_KEY_NODE:
		if (!(n = malloc(sizeof(*n))))
			return whyf(why, len, "out of memory");
		ret = fleet_node_check(name, val, n, why, len);
		free(n);
		return ret;
	case FLEET_KEY_HOST:
		return fleet_host_check(name, val, &h, why, len);
	case FLEET_KEY_DRAIN:
		return fleet_drain_check(name, val, &d, why, len);
	case FLEET_KEY_GEN:
		ret = fleet_gen_check(name, val, &g, why, len);
		free(g.m);
		return ret;
	default:
		return serial ? 0 : whyf(why, len, "not a key of the desired state (state/serial, state/vips/VIP, state/nodes/ADDR, state/hosts/HOST, state/drains/ADDR, state/history/VIP/LEASE)");
	}
}

static void add_invalid(struct fleet_state *s, const struct etcd_kv *kv, enum fleet_kind kind, const char *name,
			const char *why)
{
	struct fleet_invalid *in = &s->invalid[s->n_invalid++];
	char ignore[FLEET_WHY_MAX];

	memset(in, 0, sizeof(*in));
	snprintf(in->key, sizeof(in->key), "%s", kv->key);
	snprintf(in->why, sizeof(in->why), "%s", why);
	in->kind = kind;
	in->mod_rev = kv->mod_rev;
	/* a key whose name still names an object holds that object where it is */
	if (kind == FLEET_KEY_VIP)
		in->named = !vip_name(name, "in the key", &in->vip, ignore, sizeof(ignore));
	else if (kind == FLEET_KEY_NODE || kind == FLEET_KEY_DRAIN)
		in->named = !node_name(name, &in->addr, ignore, sizeof(ignore));
	else if (kind == FLEET_KEY_HOST && (in->named = fleet_name_ok(name)))
		snprintf(in->host, sizeof(in->host), "%s", name);
}

int fleet_state_parse(const struct etcd_range *r, const char *fleet, struct fleet_state *s)
{
	char state[128], why[FLEET_WHY_MAX];

	memset(s, 0, sizeof(*s));
	s->store_rev = r->revision;
	fleet_key(state, sizeof(state), fleet, "state/");
	s->nodes = calloc(r->n + 1, sizeof(*s->nodes));
	s->hosts = calloc(r->n + 1, sizeof(*s->hosts));
	s->invalid = calloc(r->n + 1, sizeof(*s->invalid));
	s->drains = calloc(r->n + 1, sizeof(*s->drains));
	s->gens = calloc(r->n + 1, sizeof(*s->gens));
	if (!s->nodes || !s->hosts || !s->invalid || !s->drains || !s->gens)
		return -1;
	for (int i = 0; i < r->n; i++) {
		const struct etcd_kv *kv = &r->kvs[i];
		const char *name;
		bool serial;
		enum fleet_kind kind;
		int bad = 0;

		if (strncmp(kv->key, state, strlen(state)))
			continue; /* the leader, the hosts' reports: not the desired state */
		kind = key_kind(fleet, kv->key, &name, &serial);
		if (serial) {
			s->rev = kv->mod_rev;
			continue;
		}
		switch (kind) {
		case FLEET_KEY_VIP:
			if (s->n_vips >= EBB_MAX_VIPS) {
				bad = whyf(why, sizeof(why), "more than %d VIPs in the state", EBB_MAX_VIPS);
			} else if (!(bad = fleet_vip_check(name, kv->value, &s->vips[s->n_vips], why, sizeof(why)))) {
				s->vips[s->n_vips].mod_rev = kv->mod_rev;
				s->n_vips++;
			}
			break;
		case FLEET_KEY_NODE:
			if (!(bad = fleet_node_check(name, kv->value, &s->nodes[s->n_nodes], why, sizeof(why)))) {
				s->nodes[s->n_nodes].mod_rev = kv->mod_rev;
				s->n_nodes++;
			}
			break;
		case FLEET_KEY_HOST:
			if (!(bad = fleet_host_check(name, kv->value, &s->hosts[s->n_hosts], why, sizeof(why)))) {
				s->hosts[s->n_hosts].mod_rev = kv->mod_rev;
				s->n_hosts++;
			}
			break;
		case FLEET_KEY_DRAIN:
			if (!(bad = fleet_drain_check(name, kv->value, &s->drains[s->n_drains], why, sizeof(why)))) {
				s->drains[s->n_drains].mod_rev = kv->mod_rev;
				s->drains[s->n_drains].kv_lease = kv->lease;
				s->n_drains++;
			}
			break;
		case FLEET_KEY_GEN: {
			struct fleet_gen *g = &s->gens[s->n_gens];

			if (!(bad = fleet_gen_check(name, kv->value, g, why, sizeof(why)))) {
				/* one held under no lease, or another, would outlive its time */
				if (kv->lease != g->lease) {
					bad = whyf(why, sizeof(why), "not held under the lease its name gives (%lld, held under %lld)",
						   (long long)g->lease, (long long)kv->lease);
					free(g->m);
					g->m = NULL;
				} else {
					g->kv_lease = kv->lease;
					g->mod_rev = kv->mod_rev;
					s->n_gens++;
				}
			}
			break;
		}
		default:
			bad = fleet_key_check(fleet, kv->key, kv->value, why, sizeof(why));
		}
		if (bad)
			add_invalid(s, kv, kind, name ? name : "", why);
	}
	return 0;
}

int fleet_state_read(struct etcd *c, const char *fleet, struct fleet_state *s)
{
	struct etcd_range r;
	char prefix[128];
	int ret;

	memset(s, 0, sizeof(*s));
	fleet_key(prefix, sizeof(prefix), fleet, "state/");
	if (etcd_get(c, prefix, true, &r))
		return -1;
	ret = fleet_state_parse(&r, fleet, s);
	etcd_range_free(&r);
	return ret;
}

void fleet_state_free(struct fleet_state *s)
{
	free(s->nodes);
	free(s->hosts);
	free(s->invalid);
	free(s->drains);
	for (int i = 0; s->gens && i < s->n_gens; i++)
		free(s->gens[i].m);
	free(s->gens);
	memset(s, 0, sizeof(*s));
}

struct fleet_vip *fleet_vip_find(struct fleet_state *s, const struct ebb_vip_key *k)
{
	for (int i = 0; i < s->n_vips; i++)
		if (!memcmp(&s->vips[i].key, k, sizeof(*k)))
			return &s->vips[i];
	return NULL;
}

struct fleet_node *fleet_node_find(struct fleet_state *s, const struct ebb_addr *a)
{
	for (int i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].addr.family == a->family && ebb_addr_eq(s->nodes[i].addr.a, a->a, a->family))
			return &s->nodes[i];
	return NULL;
}

struct fleet_hostcfg *fleet_host_find(struct fleet_state *s, const char *name)
{
	for (int i = 0; i < s->n_hosts; i++)
		if (!strcmp(s->hosts[i].name, name))
			return &s->hosts[i];
	return NULL;
}

const struct fleet_drain *fleet_drain_find(const struct fleet_state *s, const struct fleet_node *n)
{
	for (int i = 0; i < s->n_drains; i++) {
		const struct fleet_drain *d = &s->drains[i];

		/* a key under another lease (or none) is not this drain's clock */
		if (d->addr.family == n->addr.family && ebb_addr_eq(d->addr.a, n->addr.a, n->addr.family) &&
		    n->drain_lease && d->lease == n->drain_lease && d->kv_lease == n->drain_lease)
			return d;
	}
	return NULL;
}

const struct fleet_invalid *fleet_invalid_vip(const struct fleet_state *s, const struct ebb_vip_key *k)
{
	for (int i = 0; i < s->n_invalid; i++)
		if (s->invalid[i].named && s->invalid[i].kind == FLEET_KEY_VIP &&
		    !memcmp(&s->invalid[i].vip, k, sizeof(*k)))
			return &s->invalid[i];
	return NULL;
}

const struct fleet_invalid *fleet_invalid_node(const struct fleet_state *s, const struct ebb_addr *a)
{
	for (int i = 0; i < s->n_invalid; i++)
		if (s->invalid[i].named && s->invalid[i].kind == FLEET_KEY_NODE &&
		    s->invalid[i].addr.family == a->family && ebb_addr_eq(s->invalid[i].addr.a, a->a, a->family))
			return &s->invalid[i];
	return NULL;
}

/* ---- the drain clock (doc/fleet.md, "The drain clock") ---- */

__u32 fleet_node_drain_timeout(const struct fleet_state *s, const struct fleet_node *n)
{
	__u32 t = 0;

	if (n->drain_timeout_s)
		return n->drain_timeout_s;
	for (int i = 0; i < n->n_w; i++)
		for (int j = 0; j < s->n_vips; j++)
			if (!memcmp(&s->vips[j].key, &n->w[i].vip, sizeof(n->w[i].vip)) &&
			    s->vips[j].o.drain_timeout_s > t)
				t = s->vips[j].o.drain_timeout_s;
	return ebb_drain_timeout_s(0, t);
}

int fleet_drain_elapsed(struct etcd *c, const struct fleet_drain *d, double *elapsed)
{
	int64_t ttl, granted, ran;

	if (etcd_lease_timetolive(c, d->lease, &ttl, &granted))
		return -1;
	if (ttl < 0)
		return 1;
	ran = granted - ttl - 1;
	*elapsed = d->elapsed_s + (ran > 0 ? ran : 0);
	return 0;
}

int fleet_drain_age(struct etcd *c, const struct fleet_state *s, const struct fleet_node *n, __u32 *age_s)
{
	const struct fleet_drain *d;
	double e = 0;
	int r;

	*age_s = 0;
	if (n->state != EBB_NODE_DRAINING)
		return 0;
	if (!n->drain_lease) {
		/* a drain from before drain clocks: its since, read with this writer's clock, once */
		e = fleet_wall() - n->since;
		*age_s = n->since > 0 && e > 0 ? (e < EBB_MAX_TIMEOUT_S ? (__u32)e : EBB_MAX_TIMEOUT_S) : 0;
		return 0;
	}
	d = fleet_drain_find(s, n);
	r = d ? fleet_drain_elapsed(c, d, &e) : 1;
	if (r < 0)
		return -1;
	if (r > 0) /* its clock ran out: it has lasted its timeout at least */
		e = fleet_node_drain_timeout(s, n);
	*age_s = e < EBB_MAX_TIMEOUT_S ? (__u32)e : EBB_MAX_TIMEOUT_S;
	return 0;
}

int fleet_drain_grant(struct etcd *c, const char *fleet, struct fleet_node *n, __u32 timeout_s, __u32 age_s,
		      json_object *ops, char *why, size_t len)
{
	char key[256], rest[128], val[96];
	int64_t lease = 0;
	int ttl = (int)(timeout_s > age_s ? timeout_s - age_s : 0) + FLEET_DRAIN_MARGIN_S;

	if (etcd_lease_grant(c, ttl, &lease)) {
		snprintf(why, len, "cannot grant the drain's lease: %s", c->err);
		return -1;
	}
	n->drain_lease = lease;
	snprintf(rest, sizeof(rest), "state/drains/%s", n->name);
	fleet_key(key, sizeof(key), fleet, rest);
	snprintf(val, sizeof(val), "{\"lease\":%lld,\"elapsed_s\":%u}", (long long)lease, age_s);
	if (fleet_key_check(fleet, key, val, why, len)) {
		etcd_lease_revoke(c, lease);
		n->drain_lease = 0;
		return -1;
	}
	json_object_array_add(ops, etcd_op_put(key, val, lease));
	return 0;
}

void fleet_drain_end(const char *fleet, struct fleet_node *n, json_object *ops)
{
	char key[256], rest[128];

	snprintf(rest, sizeof(rest), "state/drains/%s", n->name);
	fleet_key(key, sizeof(key), fleet, rest);
	json_object_array_add(ops, etcd_op_del(key, false));
	n->drain_lease = 0;
}

/* ---- the slot history's generations (doc/fleet.md, "The slot history's generations") ---- */

int fleet_vip_set(const struct fleet_state *s, const struct ebb_vip_key *k, struct fleet_gen_member *out)
{
	int n = 0;

	for (int i = 0; i < s->n_nodes; i++) {
		const struct fleet_node *fn = &s->nodes[i];

		/* what places flows: inactive and down nodes are in neither table */
		if (fn->state != EBB_NODE_ACTIVE && fn->state != EBB_NODE_DRAINING)
			continue;
		for (int j = 0; j < fn->n_w; j++)
			if (!memcmp(&fn->w[j].vip, k, sizeof(*k))) {
				out[n++] = (struct fleet_gen_member){ .addr = fn->addr, .weight = fn->w[j].weight,
								      .active = fn->state == EBB_NODE_ACTIVE };
				break;
			}
	}
	qsort(out, n, sizeof(*out), by_addr);
	return n;
}

static int by_rev(const void *a, const void *b)
{
	const struct fleet_gen *x = *(const struct fleet_gen *const *)a, *y = *(const struct fleet_gen *const *)b;

	return x->mod_rev < y->mod_rev ? -1 : x->mod_rev > y->mod_rev ? 1 : (x->lease > y->lease) - (x->lease < y->lease);
}

/* All of s's generations of VIP k, oldest first (out: room for s->n_gens). */
static int vip_gens_all(const struct fleet_state *s, const struct ebb_vip_key *k, const struct fleet_gen **out)
{
	int n = 0;

	for (int i = 0; i < s->n_gens; i++)
		if (!memcmp(&s->gens[i].vip, k, sizeof(*k)))
			out[n++] = &s->gens[i];
	qsort(out, n, sizeof(*out), by_rev);
	return n;
}

int fleet_vip_gens(const struct fleet_state *s, const struct ebb_vip_key *k, const struct fleet_gen **out)
{
	const struct fleet_gen **all = calloc(s->n_gens + 1, sizeof(*all));
	int n, skip;

	if (!all)
		return 0;
	n = vip_gens_all(s, k, all);
	/* more than the bound (two writers at once): the latest only, as every host takes them */
	skip = n > FLEET_HISTORY_GENS ? n - FLEET_HISTORY_GENS : 0;
	for (int i = skip; i < n; i++)
		out[i - skip] = all[i];
	free(all);
	return n - skip;
}

/* The ops' effect on the nodes of before (a copy: nodes, n), by key: puts parsed by the schema,
 * deletes drop the node. Sets *vip_gone[i] for the VIPs of before the ops delete. */
static int ops_apply(const char *fleet, const struct fleet_state *before, json_object *ops, struct fleet_node *nodes,
		     int *n, int cap, bool *vip_gone)
{
	char pn[160], pv[160], why[FLEET_WHY_MAX];

	fleet_key(pn, sizeof(pn), fleet, "state/nodes/");
	fleet_key(pv, sizeof(pv), fleet, "state/vips/");
	for (size_t i = 0; i < json_object_array_length(ops); i++) {
		json_object *op = json_object_array_get_idx(ops, i), *r, *k, *v;
		bool put = json_object_object_get_ex(op, "request_put", &r);
		char *key, *val = NULL;

		if (!put && !json_object_object_get_ex(op, "request_delete_range", &r))
			continue;
		if (!json_object_object_get_ex(r, "key", &k) || !(key = etcd_unb64(json_object_get_string(k), NULL)))
			return -1;
		if (put && json_object_object_get_ex(r, "value", &v))
			val = etcd_unb64(json_object_get_string(v), NULL);
		if (!strncmp(key, pn, strlen(pn))) {
			struct fleet_node fn;
			struct ebb_addr a;
			struct ebb_err err = {};
			int at = -1;

			if (!ebb_parse_addr(key + strlen(pn), &a, &err)) {
				for (int j = 0; j < *n && at < 0; j++)
					if (nodes[j].addr.family == a.family && ebb_addr_eq(nodes[j].addr.a, a.a, a.family))
						at = j;
				if (!put && at >= 0) {
					nodes[at] = nodes[--*n];
				} else if (put && val && !fleet_node_check(key + strlen(pn), val, &fn, why, sizeof(why))) {
					if (at < 0 && *n < cap)
						at = (*n)++;
					if (at >= 0)
						nodes[at] = fn;
				}
			}
		} else if (!put && !strncmp(key, pv, strlen(pv))) {
			for (int j = 0; j < before->n_vips; j++) {
				char name[64];

				ebb_fmt_vip(&before->vips[j].key, name, sizeof(name));
				if (!strcmp(name, key + strlen(pv)))
					vip_gone[j] = true;
			}
		}
		free(key);
		free(val);
	}
	return 0;
}

static json_object *gen_json(const struct fleet_gen_member *m, int n)
{
	json_object *o = json_object_new_object(), *act = json_object_new_object(), *dr = json_object_new_object();
	char buf[64];

	for (int i = 0; i < n; i++)
		json_object_object_add(m[i].active ? act : dr, ebb_fmt_addr(m[i].addr.a, m[i].addr.family, buf, sizeof(buf)),
				       json_object_new_int64(m[i].weight));
	json_object_object_add(o, "active", act);
	json_object_object_add(o, "draining", dr);
	return o;
}

static bool same_set(const struct fleet_gen_member *a, int na, const struct fleet_gen_member *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (by_addr(&a[i], &b[i]) || a[i].weight != b[i].weight || a[i].active != b[i].active)
			return false;
	return true;
}

int fleet_history_ops(struct etcd *c, const char *fleet, const struct fleet_state *before, json_object *ops,
		      int64_t *leases, int *n_leases, char *why, size_t len)
{
	int cap = before->n_nodes + (int)json_object_array_length(ops), n = before->n_nodes, ret = -1;
	struct fleet_node *nodes = calloc(cap + 1, sizeof(*nodes));
	struct fleet_gen_member *was = calloc(before->n_nodes + 1, sizeof(*was)), *now = calloc(cap + 1, sizeof(*now));
	const struct fleet_gen **gens = calloc(before->n_gens + 1, sizeof(*gens));
	struct fleet_state after = *before;
	bool vip_gone[EBB_MAX_VIPS] = {};
	int64_t ttl_lease[EBB_MAX_VIPS];
	__u32 ttl_of[EBB_MAX_VIPS];
	int n_ttl = 0;

	*n_leases = 0;
	if (!nodes || !was || !now || !gens) {
		whyf(why, len, "out of memory");
		goto out;
	}
	memcpy(nodes, before->nodes, before->n_nodes * sizeof(*nodes));
	if (ops_apply(fleet, before, ops, nodes, &n, cap, vip_gone)) {
		whyf(why, len, "out of memory");
		goto out;
	}
	after.nodes = nodes;
	after.n_nodes = n;
	for (int i = 0; i < before->n_vips; i++) {
		const struct fleet_vip *v = &before->vips[i];
		char rest[200], key[FLEET_KEY_MAX], name[64], *val;
		int n_was, n_now, n_gens;
		int64_t lease = 0;
		json_object *o;

		ebb_fmt_vip(&v->key, name, sizeof(name));
		if (vip_gone[i]) {
			/* a VIP added again later must not find this one's history */
			snprintf(rest, sizeof(rest), "state/history/%s/", name);
			fleet_key(key, sizeof(key), fleet, rest);
			json_object_array_add(ops, etcd_op_del(key, true));
			continue;
		}
		n_was = fleet_vip_set(before, &v->key, was);
		n_now = fleet_vip_set(&after, &v->key, now);
		/* its tables do not change, or they were empty: no older owner to keep */
		if (!n_was || same_set(was, n_was, now, n_now))
			continue;
		/* one lease per TTL: a write that changes many VIPs grants few */
		for (int t = 0; t < n_ttl && !lease; t++)
			if (ttl_of[t] == v->o.tcp_idle_s)
				lease = ttl_lease[t];
		if (!lease) {
			if (etcd_lease_grant(c, (int)v->o.tcp_idle_s, &lease)) {
				whyf(why, len, "cannot grant the slot history's lease: %s", c->err);
				goto out;
			}
			ttl_of[n_ttl] = v->o.tcp_idle_s;
			ttl_lease[n_ttl++] = lease;
			leases[(*n_leases)++] = lease;
		}
		snprintf(rest, sizeof(rest), "state/history/%s/%lld", name, (long long)lease);
		fleet_key(key, sizeof(key), fleet, rest);
		o = gen_json(was, n_was);
		val = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		if (!val || fleet_key_check(fleet, key, val, why, len)) {
			free(val);
			goto out;
		}
		json_object_array_add(ops, etcd_op_put(key, val, lease));
		free(val);
		/* the bound: this one and the FLEET_HISTORY_GENS - 1 latest stay */
		n_gens = vip_gens_all(before, &v->key, gens);
		for (int g = 0; g < n_gens - (FLEET_HISTORY_GENS - 1); g++) {
			snprintf(rest, sizeof(rest), "state/history/%s/%lld", name, (long long)gens[g]->lease);
			fleet_key(key, sizeof(key), fleet, rest);
			json_object_array_add(ops, etcd_op_del(key, false));
		}
	}
	ret = 0;
out:
	if (ret)
		for (int i = 0; i < *n_leases; i++)
			etcd_lease_revoke(c, leases[i]);
	if (ret)
		*n_leases = 0;
	free(nodes);
	free(was);
	free(now);
	free(gens);
	return ret;
}
