// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The fleet's desired state in etcd and the marker ebbd pins next to the maps (see fleet.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "fleet.h"

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

static const char *jget_str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) :
		       NULL;
}

static __u32 jget_u32(json_object *o, const char *k, __u32 dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? (__u32)json_object_get_int64(v) : dflt;
}

static int parse_vip(const char *name, const char *val, struct fleet_vip *v)
{
	json_object *o = json_tokener_parse(val);
	struct ebb_err err;
	const char *s;

	memset(v, 0, sizeof(*v));
	if (!o || ebb_parse_vip(name, &v->key, &err)) {
		json_object_put(o);
		return -1;
	}
	ebb_fmt_vip(&v->key, v->name, sizeof(v->name));
	s = jget_str(o, "fwd");
	v->o.fwd = s && !strcmp(s, "ipip") ? EBB_FWD_IPIP : EBB_FWD_DSR;
	v->o.tcp_idle_s = jget_u32(o, "tcp_idle_s", EBB_DEFAULT_TCP_IDLE_S);
	v->o.udp_idle_s = jget_u32(o, "udp_idle_s", EBB_DEFAULT_UDP_IDLE_S);
	v->o.fin_s = jget_u32(o, "fin_s", EBB_DEFAULT_FIN_S);
	v->o.drain_timeout_s = jget_u32(o, "drain_timeout_s", EBB_DEFAULT_DRAIN_TIMEOUT_S);
	if ((s = jget_str(o, "encap_src4"))) {
		struct ebb_addr a;

		if (!ebb_parse_addr(s, &a, &err) && a.family == EBB_FAMILY_V4)
			v->o.encap_src4 = a.a[0];
	}
	if ((s = jget_str(o, "encap_src6"))) {
		struct ebb_addr a;

		if (!ebb_parse_addr(s, &a, &err) && a.family == EBB_FAMILY_V6)
			memcpy(v->o.encap_src6, a.a, sizeof(a.a));
	}
	json_object_put(o);
	return 0;
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

static int parse_node(const char *name, const char *val, struct fleet_node *n)
{
	json_object *o = json_tokener_parse(val), *w;
	struct ebb_err err;
	const char *s;
	int st;

	memset(n, 0, sizeof(*n));
	if (!o || ebb_parse_addr(name, &n->addr, &err)) {
		json_object_put(o);
		return -1;
	}
	ebb_fmt_addr(n->addr.a, n->addr.family, n->name, sizeof(n->name));
	st = ebb_state_parse((s = jget_str(o, "state")) ? s : "active");
	n->state = st > 0 ? st : EBB_NODE_ACTIVE;
	st = ebb_state_parse((s = jget_str(o, "before_down")) ? s : "active");
	n->before_down = st > 0 ? st : EBB_NODE_ACTIVE;
	if ((s = jget_str(o, "mac")) && !ebb_parse_mac(s, n->mac, &err))
		n->have_mac = true;
	n->drain_timeout_s = jget_u32(o, "drain_timeout_s", 0);
	if (json_object_object_get_ex(o, "since", &w))
		n->since = json_object_get_double(w);
	if (json_object_object_get_ex(o, "weights", &w) && json_object_is_type(w, json_type_object)) {
		json_object_object_foreach(w, vk, wv)
		{
			if (n->n_w >= EBB_MAX_VIPS || ebb_parse_vip(vk, &n->w[n->n_w].vip, &err))
				continue;
			n->w[n->n_w].weight = (__u32)json_object_get_int64(wv);
			if (n->w[n->n_w].weight < 1 || n->w[n->n_w].weight > EBB_MAX_WEIGHT)
				n->w[n->n_w].weight = EBB_DEFAULT_WEIGHT;
			n->n_w++;
		}
	}
	json_object_put(o);
	return 0;
}

json_object *fleet_node_json(const struct fleet_node *n)
{
	json_object *o = json_object_new_object(), *w = json_object_new_object();
	char buf[64];

	json_object_object_add(o, "state", json_object_new_string(ebb_state_name(n->state)));
	json_object_object_add(o, "since", json_object_new_double(n->since));
	if (n->drain_timeout_s)
		json_object_object_add(o, "drain_timeout_s", json_object_new_int64(n->drain_timeout_s));
	if (n->state == EBB_NODE_DOWN)
		json_object_object_add(o, "before_down",
				       json_object_new_string(ebb_state_name(n->before_down)));
	if (n->have_mac)
		json_object_object_add(o, "mac", json_object_new_string(ebb_fmt_mac(n->mac, buf, sizeof(buf))));
	for (int i = 0; i < n->n_w; i++)
		json_object_object_add(w, ebb_fmt_vip(&n->w[i].vip, buf, sizeof(buf)),
				       json_object_new_int64(n->w[i].weight));
	json_object_object_add(o, "weights", w);
	return o;
}

int fleet_state_parse(const struct etcd_range *r, const char *fleet, struct fleet_state *s)
{
	char pv[128], pn[128], ph[128], serial[128];

	memset(s, 0, sizeof(*s));
	s->store_rev = r->revision;
	fleet_key(pv, sizeof(pv), fleet, "state/vips/");
	fleet_key(pn, sizeof(pn), fleet, "state/nodes/");
	fleet_key(ph, sizeof(ph), fleet, "state/hosts/");
	fleet_key(serial, sizeof(serial), fleet, "state/serial");
	s->nodes = calloc(r->n + 1, sizeof(*s->nodes));
	s->hosts = calloc(r->n + 1, sizeof(*s->hosts));
	if (!s->nodes || !s->hosts)
		return -1;
	for (int i = 0; i < r->n; i++) {
		const struct etcd_kv *kv = &r->kvs[i];

		if (!strcmp(kv->key, serial)) {
			s->rev = kv->mod_rev;
		} else if (!strncmp(kv->key, pv, strlen(pv))) {
			if (s->n_vips < EBB_MAX_VIPS &&
			    !parse_vip(kv->key + strlen(pv), kv->value, &s->vips[s->n_vips])) {
				s->vips[s->n_vips].mod_rev = kv->mod_rev;
				s->n_vips++;
			}
		} else if (!strncmp(kv->key, pn, strlen(pn))) {
			if (!parse_node(kv->key + strlen(pn), kv->value, &s->nodes[s->n_nodes])) {
				s->nodes[s->n_nodes].mod_rev = kv->mod_rev;
				s->n_nodes++;
			}
		} else if (!strncmp(kv->key, ph, strlen(ph))) {
			json_object *o = json_tokener_parse(kv->value), *d;
			struct fleet_hostcfg *h = &s->hosts[s->n_hosts];

			snprintf(h->name, sizeof(h->name), "%s", kv->key + strlen(ph));
			h->drain = o && json_object_object_get_ex(o, "drain", &d) && json_object_get_boolean(d);
			h->mod_rev = kv->mod_rev;
			s->n_hosts++;
			json_object_put(o);
		}
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
