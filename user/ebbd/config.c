// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The configuration file (libconfig syntax; see tools/ebbd.example.conf). Everything is checked
 * when it is read, and every error names the file and line it comes from: a typo in a setting
 * name is an error too, not a silently ignored line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libconfig.h>

#include "ebbd.h"
#include "fleet.h"

const char *const hook_event_name[EV_MAX] = { "drained", "down", "up", "scale-in", "scale-out" };
static const char *const hook_key[EV_MAX] = { "on-drained", "on-down", "on-up", "on-scale-in",
					      "on-scale-out" };

static const char *cfg_path;
static char *cfg_text; /* the file's text: libconfig gives -1 for an integer it cannot hold */

static int cerr(const config_setting_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cerr(const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "Error: %s:%d: %s\n", cfg_path, s ? config_setting_source_line(s) : 0, msg);
	return -1;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->interval = 1.0;
	c->drain_check = 0.2;
	c->lost_quiet = 60;
	c->walk_cpu = 0.04;
	c->hook_timeout = 30;
	c->metrics = strdup("127.0.0.1:9477");
}

char **argv_dup(char *const *argv)
{
	size_t n = 0;
	char **out;

	while (argv[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++)
		out[i] = strdup(argv[i]);
	return out;
}

void argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Refuses names a group does not know: a misspelt setting must not be silently ignored. */
static int check_names(const config_setting_t *g, const char *const *known)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = config_setting_name(s);
		bool ok = false;

		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(*k, name);
		if (!ok) {
			char list[512] = "";

			for (const char *const *k = known; *k; k++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 k == known ? "" : ", ", *k);
			return cerr(s, "unknown setting '%s' (expected one of: %s)", name, list);
		}
	}
	return 0;
}

/*
 * The integer literal written for setting s on its line, as text (NULL if not found): libconfig
 * turns one too big for 64 bits into -1, which must not be reported as "-1".
 */
static const char *int_literal(const config_setting_t *s, char *buf, size_t len)
{
	const char *p = cfg_text, *name = config_setting_name(s);
	int line = config_setting_source_line(s);
	size_t nl = name ? strlen(name) : 0;

	for (int l = 1; p && l < line; l++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	for (; p && nl && *p && *p != '\n'; p++) {
		const char *q = p + nl;
		size_t n = 0;

		if (strncmp(p, name, nl) || (p > cfg_text && (isalnum((unsigned char)p[-1]) || p[-1] == '-')))
			continue;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != '=' && *q != ':')
			continue;
		for (q++; *q == ' ' || *q == '\t'; q++)
			;
		while (n + 1 < len && (isdigit((unsigned char)q[n]) || (!n && (q[n] == '-' || q[n] == '+'))))
			n++;
		if (!n)
			return NULL;
		memcpy(buf, q, n);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

static int get_num(const config_setting_t *g, const char *name, double *out, double min, double max)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	char lit[64];
	double v;

	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		if (int_literal(s, lit, sizeof(lit)) && strtod(lit, NULL) != v)
			return cerr(s, "'%s' must be between %g and %g, not %s (out of range)", name, min,
				    max, lit);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return cerr(s, "'%s' must be a number", name);
	}
	if (v < min || v > max)
		return cerr(s, "'%s' must be between %g and %g, not %g", name, min, max, v);
	*out = v;
	return 0;
}

static int get_int(const config_setting_t *g, const char *name, int *out, int min, int max)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	double v = *out;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return cerr(s, "'%s' must be a whole number", name);
	if (get_num(g, name, &v, min, max))
		return -1;
	*out = (int)v;
	return 0;
}

static int get_str(const config_setting_t *g, const char *name, char **out, bool required)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return required ? cerr(g, "missing '%s'", name) : 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cerr(s, "'%s' must be a string", name);
	free(*out);
	*out = strdup(config_setting_get_string(s));
	return 0;
}

/*
 * The program of a hook or probe must be there when the configuration is read, not found
 * missing when the event comes: an absolute path to an executable file, or a name found in
 * PATH as execvp will search it.
 */
static int check_program(const config_setting_t *e, const char *prog)
{
	struct stat st;

	if (strchr(prog, '/')) {
		if (prog[0] != '/')
			return cerr(e, "program '%s' must be an absolute path or a name found in PATH", prog);
		if (stat(prog, &st))
			return cerr(e, "program '%s': %s", prog, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return cerr(e, "program '%s' is not a regular file", prog);
		if (access(prog, X_OK))
			return cerr(e, "program '%s' is not executable: %s", prog, strerror(errno));
		return 0;
	}
	{
		const char *path = getenv("PATH");
		char buf[4096];

		if (!path || !*path)
			path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		for (const char *p = path; *p;) {
			const char *colon = strchr(p, ':');
			size_t n = colon ? (size_t)(colon - p) : strlen(p);

			if (n && snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog) < (int)sizeof(buf) &&
			    !stat(buf, &st) && S_ISREG(st.st_mode) && !access(buf, X_OK))
				return 0;
			p += n + (colon ? 1 : 0);
		}
		return cerr(e, "program '%s' is not found in PATH (%s); give its absolute path", prog, path);
	}
}

/* ["prog", "arg", ...]: run with execvp, no shell, so no quoting or interpolation surprises. */
static int get_argv(const config_setting_t *s, char ***out)
{
	int n = config_setting_length(s);
	char **argv;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return cerr(s, "'%s' must be an array of strings: [\"program\", \"arg\", ...]",
			    config_setting_name(s));
	if (n < 1)
		return cerr(s, "'%s' needs at least the program", config_setting_name(s));
	argv = calloc(n + 1, sizeof(*argv));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING || !*config_setting_get_string(e)) {
			argv_free(argv);
			return cerr(e, "'%s' must hold non-empty strings only", config_setting_name(s));
		}
		argv[i] = strdup(config_setting_get_string(e));
		if (i == 0 && check_program(e, argv[0])) {
			argv_free(argv);
			return -1;
		}
	}
	argv_free(*out);
	*out = argv;
	return 0;
}

static int get_hooks(const config_setting_t *g, char **hooks[EV_MAX])
{
	const config_setting_t *h = config_setting_get_member(g, "hooks");
	const char *known[EV_MAX + 1] = {};

	if (!h)
		return 0;
	if (!config_setting_is_group(h))
		return cerr(h, "'hooks' must be a group: hooks = { on-drained = [...]; }");
	memcpy(known, hook_key, sizeof(hook_key));
	if (check_names(h, known))
		return -1;
	for (int ev = 0; ev < EV_MAX; ev++) {
		const config_setting_t *s = config_setting_get_member(h, hook_key[ev]);

		if (s && get_argv(s, &hooks[ev]))
			return -1;
	}
	return 0;
}

static const config_setting_t *group(const config_setting_t *g, const char *name, int *err)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (s && !config_setting_is_group(s)) {
		*err = cerr(s, "'%s' must be a group: %s = { ... };", name, name);
		return NULL;
	}
	return s;
}

static int parse_health(const config_setting_t *g, struct health_cfg *h)
{
	static const char *const known[] = { "type", "port", "path", "interval", "timeout",
					     "rise", "fall", NULL };
	char *type = NULL;
	int port = 80, ret;

	*h = (struct health_cfg){ .interval = 2, .timeout = 1, .rise = 2, .fall = 3 };
	if (check_names(g, known) || get_str(g, "type", &type, true))
		return -1;
	if (!strcmp(type, "tcp"))
		h->type = CHECK_TCP;
	else if (!strcmp(type, "http"))
		h->type = CHECK_HTTP;
	free(type);
	if (h->type == CHECK_NONE)
		return cerr(config_setting_get_member(g, "type"), "health 'type' must be \"tcp\" or \"http\"");
	ret = get_int(g, "port", &port, 1, 65535) || get_str(g, "path", &h->path, false) ||
	      get_num(g, "interval", &h->interval, 0.05, 3600) ||
	      get_num(g, "timeout", &h->timeout, 0.01, 3600) || get_int(g, "rise", &h->rise, 1, 100) ||
	      get_int(g, "fall", &h->fall, 1, 100);
	if (ret)
		return -1;
	h->port = port;
	if (!h->path)
		h->path = strdup("/");
	if (h->path[0] != '/' || strpbrk(h->path, " \r\n"))
		return cerr(config_setting_get_member(g, "path"), "health 'path' must start with '/' and hold no spaces");
	if (h->timeout > h->interval)
		return cerr(g, "health 'timeout' (%g s) must not exceed its 'interval' (%g s)", h->timeout,
			    h->interval);
	return 0;
}

static int parse_scale(const config_setting_t *g, struct scale_cfg *s, bool have_probe)
{
	static const char *const known[] = { "metric", "target", "min", "max", "tolerance",
					     "scale-in-window", "scale-out-window", "hook-cooldown",
					     NULL };
	char *metric = NULL;
	const config_setting_t *ms = config_setting_get_member(g, "metric");

	*s = (struct scale_cfg){ .enabled = true, .tolerance = 0.1, .min = 1, .max = EBB_MAX_NODES - 1,
				 .in_window = 300, .out_window = 0, .hook_cooldown = 60 };
	if (check_names(g, known) || get_str(g, "metric", &metric, true))
		return -1;
	if (!strcmp(metric, "flows"))
		s->metric = METRIC_FLOWS;
	else if (!strcmp(metric, "new-flows"))
		s->metric = METRIC_NEW_FLOWS;
	else if (!strcmp(metric, "probe"))
		s->metric = METRIC_PROBE;
	else {
		free(metric);
		return cerr(ms, "scale 'metric' must be \"flows\", \"new-flows\" or \"probe\"");
	}
	free(metric);
	if (s->metric == METRIC_PROBE && !have_probe)
		return cerr(ms, "metric \"probe\" needs a 'probe' group in this pool");
	if (!config_setting_get_member(g, "target"))
		return cerr(g, "missing scale 'target' (load per node)");
	if (get_num(g, "target", &s->target, 1e-9, 1e12) || get_int(g, "min", &s->min, 0, EBB_MAX_NODES - 1) ||
	    get_int(g, "max", &s->max, 1, EBB_MAX_NODES - 1) ||
	    get_num(g, "tolerance", &s->tolerance, 0, 1) ||
	    get_num(g, "scale-in-window", &s->in_window, 0, 86400) ||
	    get_num(g, "scale-out-window", &s->out_window, 0, 86400) ||
	    get_num(g, "hook-cooldown", &s->hook_cooldown, 0, 86400))
		return -1;
	if (s->min > s->max)
		return cerr(g, "scale 'min' (%d) is above 'max' (%d)", s->min, s->max);
	return 0;
}

static int parse_probe(const config_setting_t *g, struct probe_cfg *p)
{
	static const char *const known[] = { "command", "url", "timeout", NULL };
	const config_setting_t *cmd = config_setting_get_member(g, "command");

	*p = (struct probe_cfg){ .timeout = 1 };
	if (check_names(g, known) || (cmd && get_argv(cmd, &p->argv)) || get_str(g, "url", &p->url, false) ||
	    get_num(g, "timeout", &p->timeout, 0.01, 3600))
		return -1;
	if (!!p->argv == !!p->url)
		return cerr(g, "a probe has either 'command' or 'url'");
	if (p->url && strncmp(p->url, "http://", 7))
		return cerr(config_setting_get_member(g, "url"), "probe 'url' must start with http://");
	return 0;
}

#define TRUTH_KEY_MIN 16
#define TRUTH_KEY_MAX 4096 /* what `ebbctl backend conns key FILE` reads: a longer one it would cut */

/* The key the nodes sign their reports with: a secret, so only its owner may read or write the
 * file (as ebbctl's `backend conns key` wants it); read now, so that a bad one is an error of
 * the file and not a node failing its first drain. */
static int read_truth_key(const config_setting_t *s, struct truth_cfg *t)
{
	unsigned char buf[TRUTH_KEY_MAX + 1];
	size_t n = 0;
	struct stat st;
	ssize_t r = 0;
	int fd;

	if (t->key_path[0] != '/')
		return cerr(s, "'truth-key' must be an absolute path, not \"%s\"", t->key_path);
	fd = open(t->key_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cerr(s, "'truth-key': cannot open %s: %s", t->key_path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		bool reg = S_ISREG(st.st_mode);

		close(fd);
		return cerr(s, "'truth-key': %s %s", t->key_path,
			    !reg ? "is not a regular file" :
				   "can be read or written by its group or others (chmod 600 it)");
	}
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) > 0)
		n += r;
	close(fd);
	if (r < 0 || n < TRUTH_KEY_MIN || n > TRUTH_KEY_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return cerr(s, "'truth-key': %s: %s", t->key_path,
			    r < 0 ? strerror(errno) : n < TRUTH_KEY_MIN ? "shorter than 16 bytes" :
									 "longer than 4096 bytes");
	}
	t->key = malloc(n);
	if (t->key)
		memcpy(t->key, buf, n);
	t->key_len = n;
	explicit_bzero(buf, sizeof(buf));
	return t->key ? 0 : cerr(s, "out of memory");
}

/* "{node}" and "{nonce}" in s replaced by node and nonce (malloc'd). */
char *truth_subst(const char *s, const char *node, const char *nonce)
{
	size_t len = 1;
	char *out, *o;

	for (const char *p = s; *p;)
		if (!strncmp(p, "{node}", 6))
			len += strlen(node), p += 6;
		else if (!strncmp(p, "{nonce}", 7))
			len += strlen(nonce), p += 7;
		else
			len++, p++;
	out = o = malloc(len);
	if (!out)
		return NULL;
	for (const char *p = s; *p;)
		if (!strncmp(p, "{node}", 6))
			o = stpcpy(o, node), p += 6;
		else if (!strncmp(p, "{nonce}", 7))
			o = stpcpy(o, nonce), p += 7;
		else
			*o++ = *p++;
	*o = '\0';
	return out;
}

/* truth, truth-key, truth-interval, truth-timeout: the pool's reader of its nodes' reports */
static int parse_truth(const config_setting_t *g, struct truth_cfg *t)
{
	const config_setting_t *s = config_setting_get_member(g, "truth");
	const config_setting_t *k = config_setting_get_member(g, "truth-key");

	*t = (struct truth_cfg){ .interval = 1, .timeout = 5 };
	if (get_num(g, "truth-interval", &t->interval, 0.1, 3600) ||
	    get_num(g, "truth-timeout", &t->timeout, 0.1, 3600))
		return -1;
	if (!s) {
		const config_setting_t *o = k ? k : config_setting_get_member(g, "truth-interval");

		if (!o)
			o = config_setting_get_member(g, "truth-timeout");
		return o ? cerr(o, "'%s' needs 'truth' (the command or http:// URL that reads a node's report)",
				config_setting_name(o)) : 0;
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		struct net_req_opts o = {};
		char host[80], *url, *path = NULL;
		int ret;

		t->url = strdup(config_setting_get_string(s));
		if (strncmp(t->url, "http://", 7) || strpbrk(t->url, " \t\r\n"))
			return cerr(s, "'truth' must be a command [\"program\", \"arg\", ...] or an http:// URL without spaces");
		if (!strstr(t->url, "{nonce}"))
			return cerr(s, "'truth' URL must pass {nonce} to the node: the report has to carry it");
		/* as it will be asked: the host is the node's address (or a fixed IP address) */
		url = truth_subst(t->url, "192.0.2.1", "0");
		ret = url ? probe_parse_url(url, &o, host, sizeof(host), &path) : -ENOMEM;
		free(url);
		free(path);
		if (ret)
			return cerr(s, "'truth' URL must be http://{node}[:PORT]/PATH (or an IP address for {node}), not \"%s\"",
				    t->url);
	} else if (get_argv(s, &t->argv)) {
		return -1;
	}
	if (!k)
		return cerr(s, "'truth' needs 'truth-key' (the file holding the key the nodes sign their reports with)");
	if (get_str(g, "truth-key", &t->key_path, false))
		return -1;
	return read_truth_key(k, t);
}

static int parse_pool(const config_setting_t *g, struct pool_cfg *p, const struct config *c, int idx)
{
	static const char *const known[] = { "name", "vips", "health", "scale", "probe", "hooks",
					     "truth", "truth-key", "truth-interval", "truth-timeout",
					     NULL };
	const config_setting_t *vips, *h, *s, *pr;
	struct ebb_err err;
	int e = 0;

	p->line = config_setting_source_line(g);
	if (!config_setting_is_group(g))
		return cerr(g, "each pool must be a group: { name = \"...\"; vips = [...]; ... }");
	if (check_names(g, known) || get_str(g, "name", &p->name, true))
		return -1;
	for (int i = 0; i < idx; i++)
		if (!strcmp(c->pools[i].name, p->name))
			return cerr(config_setting_get_member(g, "name"), "pool '%s' is defined twice (first on line %d)",
				    p->name, c->pools[i].line);
	vips = config_setting_get_member(g, "vips");
	if (!vips)
		return cerr(g, "pool '%s' has no 'vips'", p->name);
	if (config_setting_type(vips) != CONFIG_TYPE_ARRAY || config_setting_length(vips) < 1)
		return cerr(vips, "'vips' must be a non-empty array of \"ADDR:PORT/PROTO\" strings");
	for (int i = 0; i < config_setting_length(vips) && i < EBB_MAX_VIPS; i++) {
		const config_setting_t *v = config_setting_get_elem(vips, i);

		if (config_setting_type(v) != CONFIG_TYPE_STRING ||
		    ebb_parse_vip(config_setting_get_string(v), &p->vips[i], &err))
			return cerr(v, "invalid VIP in 'vips' (ADDR:PORT/PROTO, [ADDR6]:PORT/PROTO)");
		{
			struct ebb_addr a = { .family = p->vips[i].family };

			memcpy(a.a, p->vips[i].addr, sizeof(a.a));
			if (ebb_check_unicast(&a, "VIP address", &err))
				return cerr(v, "%s", err.msg);
		}
		for (int j = 0; j < idx; j++)
			for (int k = 0; k < c->pools[j].n_vips; k++)
				if (!memcmp(&c->pools[j].vips[k], &p->vips[i], sizeof(p->vips[i])))
					return cerr(v, "VIP %s is already in pool '%s': a VIP belongs to one pool",
						    config_setting_get_string(v), c->pools[j].name);
		p->vip_lines[p->n_vips++] = config_setting_source_line(v);
	}
	h = group(g, "health", &e);
	s = group(g, "scale", &e);
	pr = group(g, "probe", &e);
	if (e || (h && parse_health(h, &p->health)) || (pr && parse_probe(pr, &p->probe)) ||
	    (s && parse_scale(s, &p->scale, pr != NULL)) || parse_truth(g, &p->truth))
		return -1;
	return get_hooks(g, p->hooks);
}

void fleet_cfg_marker(const struct fleet_cfg *fc, struct fleet_marker *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->fleet, sizeof(m->fleet), "%s", fc->name);
	snprintf(m->host, sizeof(m->host), "%s", fc->host);
	m->lease_ttl = fc->lease_ttl;
	for (int i = 0; i < fc->n_etcd && i < ETCD_MAX_ENDPOINTS; i++)
		snprintf(m->etcd[i], sizeof(m->etcd[i]), "%s", fc->etcd[i]);
	m->n_etcd = fc->n_etcd;
	snprintf(m->ca, sizeof(m->ca), "%s", fc->etcd_ca ? fc->etcd_ca : "");
	snprintf(m->cert, sizeof(m->cert), "%s", fc->etcd_cert ? fc->etcd_cert : "");
	snprintf(m->key, sizeof(m->key), "%s", fc->etcd_key ? fc->etcd_key : "");
	snprintf(m->user, sizeof(m->user), "%s", fc->etcd_user ? fc->etcd_user : "");
	snprintf(m->password_file, sizeof(m->password_file), "%s",
		 fc->etcd_password_file ? fc->etcd_password_file : "");
	m->insecure = fc->etcd_insecure;
}

/* A file ebbd and ebbctl will read to reach etcd: an absolute path (ebbctl runs from anywhere,
 * and finds it in the marker) that can be read now, not found missing at the first call. */
static int get_file(const config_setting_t *g, const char *name, char **out, size_t max)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (get_str(g, name, out, false))
		return -1;
	if (!*out)
		return 0;
	if ((*out)[0] != '/' || strlen(*out) >= max)
		return cerr(s, "'%s' must be an absolute path of fewer than %zu characters", name, max);
	if (access(*out, R_OK))
		return cerr(s, "'%s': cannot read %s: %s", name, *out, strerror(errno));
	return 0;
}

static int parse_fleet(const config_setting_t *g, struct fleet_cfg *f)
{
	static const char *const known[] = { "name", "host", "etcd", "lease-ttl", "bird-socket",
					     "bird-dir", "birdc", "etcd-ca", "etcd-cert", "etcd-key",
					     "etcd-user", "etcd-password-file", "etcd-insecure", NULL };
	const config_setting_t *eps = config_setting_get_member(g, "etcd"), *s;

	*f = (struct fleet_cfg){ .enabled = true, .line = config_setting_source_line(g), .lease_ttl = 5 };
	if (check_names(g, known) || get_str(g, "name", &f->name, true) || get_str(g, "host", &f->host, true) ||
	    get_int(g, "lease-ttl", &f->lease_ttl, 2, 300) || get_str(g, "bird-socket", &f->bird_socket, false) ||
	    get_str(g, "bird-dir", &f->bird_dir, false) || get_str(g, "birdc", &f->birdc, false))
		return -1;
	if (!fleet_name_ok(f->name))
		return cerr(config_setting_get_member(g, "name"),
			    "fleet 'name' must be 1..63 letters, digits, '-', '_' or '.', not \"%s\"", f->name);
	if (!fleet_name_ok(f->host))
		return cerr(config_setting_get_member(g, "host"),
			    "fleet 'host' must be 1..63 letters, digits, '-', '_' or '.', not \"%s\"", f->host);
	s = config_setting_get_member(g, "etcd-insecure");
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return cerr(s, "'etcd-insecure' must be true or false");
		f->etcd_insecure = config_setting_get_bool(s);
	}
	if (!eps)
		return cerr(g, "fleet has no 'etcd' (its endpoints: etcd = [\"https://ADDR:2379\", …];)");
	if ((config_setting_type(eps) != CONFIG_TYPE_ARRAY && config_setting_type(eps) != CONFIG_TYPE_LIST) ||
	    config_setting_length(eps) < 1 || config_setting_length(eps) > FLEET_MAX_ETCD)
		return cerr(eps, "fleet 'etcd' must be an array of 1..%d \"https://ADDR:PORT\" strings", FLEET_MAX_ETCD);
	for (int i = 0; i < config_setting_length(eps); i++) {
		const char *ep;
		int kind;

		s = config_setting_get_elem(eps, i);
		ep = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
		kind = ep ? etcd_endpoint_kind(ep) : -1;
		if (kind < 0 || strlen(ep) > 200 || strpbrk(ep, " \t\r\n"))
			return cerr(s, "fleet 'etcd' endpoint must be \"https://ADDR:PORT\"%s%s%s", ep ? ", not \"" : "",
				    ep ? ep : "", ep ? "\"" : "");
		/* plain http: anyone who reaches a member could rewrite every host's desired state */
		if (kind == 1 && !f->etcd_insecure)
			return cerr(s, "fleet 'etcd' endpoint \"%s\" is plain http: etcd must be reached over https "
				       "(etcd-ca, etcd-cert, etcd-key); set 'etcd-insecure = true;' to allow http anyway",
				    ep);
		if (kind == 1 && !f->insecure_line)
			f->insecure_line = config_setting_source_line(s);
		f->etcd[f->n_etcd++] = strdup(ep);
	}
	if (get_file(g, "etcd-ca", &f->etcd_ca, 256) || get_file(g, "etcd-cert", &f->etcd_cert, 256) ||
	    get_file(g, "etcd-key", &f->etcd_key, 256) ||
	    get_file(g, "etcd-password-file", &f->etcd_password_file, 256) ||
	    get_str(g, "etcd-user", &f->etcd_user, false))
		return -1;
	if (!!f->etcd_cert != !!f->etcd_key)
		return cerr(g, "fleet needs both 'etcd-cert' and 'etcd-key' (etcd's client certificate), or neither");
	if (!!f->etcd_user != !!f->etcd_password_file)
		return cerr(g, "fleet needs both 'etcd-user' and 'etcd-password-file' (etcd auth), or neither");
	if (f->etcd_user && (!*f->etcd_user || strlen(f->etcd_user) >= 64 || strpbrk(f->etcd_user, "\"\\ \t\r\n")))
		return cerr(config_setting_get_member(g, "etcd-user"), "'etcd-user' must be 1..63 characters, no spaces or quotes");
	{
		/* ebbctl finds all this in the marker pinned beside the maps: it must fit there */
		struct fleet_marker *m = malloc(sizeof(*m));
		size_t len;

		if (!m)
			return cerr(g, "out of memory");
		fleet_cfg_marker(f, m);
		len = fleet_marker_len(m);
		free(m);
		if (len >= FLEET_MARKER_SIZE)
			return cerr(g, "the fleet block's names, endpoints and paths take %zu bytes in the fleet marker ebbctl reads, more than its %d: use shorter paths or fewer endpoints",
				    len, FLEET_MARKER_SIZE - 1);
	}
	if (!!f->bird_socket != !!f->bird_dir)
		return cerr(g, "fleet needs both 'bird-socket' and 'bird-dir' (BIRD control), or neither");
	if (f->bird_dir && f->bird_dir[0] != '/')
		return cerr(config_setting_get_member(g, "bird-dir"), "'bird-dir' must be an absolute directory");
	if (f->bird_socket && f->bird_socket[0] != '/')
		return cerr(config_setting_get_member(g, "bird-socket"), "'bird-socket' must be an absolute path");
	if (!f->birdc)
		f->birdc = strdup("birdc");
	return 0;
}

int config_load(const char *path, struct config *c)
{
	static const char *const known[] = { "bpffs", "interval", "drain-check", "drain-lost-quiet",
					     "walk-cpu", "metrics", "hook-timeout", "hooks", "pools",
					     "fleet", NULL };
	const config_setting_t *fleet;
	int ferr = 0;
	const config_setting_t *root, *pools;
	double walk_pct = c->walk_cpu * 100;
	config_t cfg;
	int ret = -1;

	cfg_path = path;
	config_init(&cfg);
	{
		/* Read here, so that what fails is said exactly (a directory is not "No such file"),
		 * and the text is at hand for int_literal. */
		FILE *f = fopen(path, "re");
		struct stat st;
		size_t len = 0;
		int rc;

		if (!f) {
			fprintf(stderr, "Error: %s: cannot read: %s\n", path, strerror(errno));
			goto out;
		}
		if (fstat(fileno(f), &st) || S_ISDIR(st.st_mode)) {
			fprintf(stderr, "Error: %s: %s\n", path,
				S_ISDIR(st.st_mode) ? "is a directory, not a configuration file" : strerror(errno));
			fclose(f);
			goto out;
		}
		free(cfg_text);
		cfg_text = NULL;
		if (getdelim(&cfg_text, &len, '\0', f) < 0 && ferror(f)) {
			fprintf(stderr, "Error: %s: cannot read: %s\n", path, strerror(errno));
			fclose(f);
			goto out;
		}
		rewind(f);
		rc = config_read(&cfg, f);
		fclose(f);
		if (rc != CONFIG_TRUE) {
			fprintf(stderr, "Error: %s:%d: %s\n",
				config_error_file(&cfg) ? config_error_file(&cfg) : path,
				config_error_line(&cfg), config_error_text(&cfg));
			goto out;
		}
	}
	root = config_root_setting(&cfg);
	if (check_names(root, known) || get_str(root, "bpffs", &c->bpffs, false) ||
	    get_num(root, "interval", &c->interval, 0.05, 3600) ||
	    get_num(root, "drain-check", &c->drain_check, 0.01, 60) ||
	    get_num(root, "drain-lost-quiet", &c->lost_quiet, 0, 86400) ||
	    get_num(root, "walk-cpu", &walk_pct, 0.1, 100) || get_str(root, "metrics", &c->metrics, false) ||
	    get_num(root, "hook-timeout", &c->hook_timeout, 0.1, 86400) || get_hooks(root, c->hooks))
		goto out;
	c->walk_cpu = walk_pct / 100;
	if (c->metrics && c->metrics[0]) {
		struct sockaddr_storage ss;
		socklen_t sl;

		/* Checked here, not only when the endpoint starts: --check must refuse it too. */
		c->metrics_line = config_setting_get_member(root, "metrics") ?
					  config_setting_source_line(config_setting_get_member(root, "metrics")) : 0;
		if (metrics_parse_addr(c->metrics, &ss, &sl)) {
			cerr(config_setting_get_member(root, "metrics"),
			     "'metrics' must be \"IPv4:PORT\" or \"[IPv6]:PORT\" (port 1-65535) or \"\", not \"%s\"",
			     c->metrics);
			goto out;
		}
	}
	fleet = group(root, "fleet", &ferr);
	if (ferr || (fleet && parse_fleet(fleet, &c->fleet)))
		goto out;
	if (c->bpffs && c->bpffs[0] != '/') {
		cerr(config_setting_get_member(root, "bpffs"), "'bpffs' must be an absolute directory");
		goto out;
	}
	pools = config_setting_get_member(root, "pools");
	if (pools) {
		if (config_setting_type(pools) != CONFIG_TYPE_LIST) {
			cerr(pools, "'pools' must be a list: pools = ( { ... }, { ... } );");
			goto out;
		}
		c->n_pools = config_setting_length(pools);
		c->pools = calloc(c->n_pools ? c->n_pools : 1, sizeof(*c->pools));
		for (int i = 0; i < c->n_pools; i++)
			if (parse_pool(config_setting_get_elem(pools, i), &c->pools[i], c, i))
				goto out;
	}
	ret = 0;
out:
	config_destroy(&cfg);
	free(cfg_text);
	cfg_text = NULL;
	return ret;
}

/* Binds a TCP socket to ss (its port replaced by `port`) and closes it: 0 or errno. */
static int try_bind(const struct sockaddr_storage *ss, socklen_t sl, __u16 port)
{
	struct sockaddr_storage a = *ss;
	int fd, one = 1, ret = 0;

	if (a.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&a)->sin_port = htons(port);
	fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	/* as metrics_start binds, so that the answer is the one start would get */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sl))
		ret = errno;
	close(fd);
	return ret;
}

int config_check_host(const char *path, const struct config *c, bool checking)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int err;

	if (!c->metrics || !c->metrics[0] || metrics_parse_addr(c->metrics, &ss, &sl))
		return 0; /* none, or refused by config_load already */
	/* Port 0 first: whether the address is this host's, whatever holds the port. A bind
	 * sends nothing, so a foreign address in the file never becomes traffic. */
	err = try_bind(&ss, sl, 0);
	if (err && c->metrics_line) {
		fprintf(stderr, "Error: %s:%d: 'metrics': cannot serve metrics on %s: %s%s\n", path,
			c->metrics_line, c->metrics, strerror(err),
			err == EADDRNOTAVAIL ? " (not an address of this host)" : "");
		return -1;
	} else if (err) { /* the default: no line to name */
		fprintf(stderr, "Error: %s: cannot serve metrics on %s (the default; set 'metrics', \"\" for none): %s\n",
			path, c->metrics, strerror(err));
		return -1;
	}
	if (!checking)
		return 0; /* the port itself: metrics_start says why it cannot have it */
	err = try_bind(&ss, sl, ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
							      ((struct sockaddr_in *)&ss)->sin_port));
	if (err)
		fprintf(stderr, "Warning: %s:%d: 'metrics': %s%s cannot be bound now: %s%s\n", path,
			c->metrics_line, c->metrics, c->metrics_line ? "" : " (the default)", strerror(err),
			err == EADDRINUSE ? " (a running ebbd holds its own; anything else makes start fail)" : "");
	return 0;
}

void config_free(struct config *c)
{
	free(c->fleet.name);
	free(c->fleet.host);
	for (int i = 0; i < c->fleet.n_etcd; i++)
		free(c->fleet.etcd[i]);
	free(c->fleet.bird_socket);
	free(c->fleet.bird_dir);
	free(c->fleet.birdc);
	free(c->fleet.etcd_ca);
	free(c->fleet.etcd_cert);
	free(c->fleet.etcd_key);
	free(c->fleet.etcd_user);
	free(c->fleet.etcd_password_file);
	free(c->bpffs);
	free(c->metrics);
	for (int ev = 0; ev < EV_MAX; ev++)
		argv_free(c->hooks[ev]);
	for (int i = 0; i < c->n_pools; i++) {
		struct pool_cfg *p = &c->pools[i];

		free(p->name);
		free(p->health.path);
		argv_free(p->probe.argv);
		free(p->probe.url);
		argv_free(p->truth.argv);
		free(p->truth.url);
		free(p->truth.key_path);
		if (p->truth.key)
			explicit_bzero(p->truth.key, p->truth.key_len);
		free(p->truth.key);
		for (int ev = 0; ev < EV_MAX; ev++)
			argv_free(p->hooks[ev]);
	}
	free(c->pools);
	memset(c, 0, sizeof(*c));
}

/* The addresses the settings hold, read here (the readers of metrics.c, probe.c and truth.c
 * call down into the configuration, never the other way). */
int metrics_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *colon = strrchr(addr, ':');
	char host[128];
	__u32 port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	n = colon ? (size_t)(colon - addr) : 0;
	if (!colon || n >= sizeof(host) || ebb_parse_u32(colon + 1, 1, 65535, &port))
		return -1;
	memcpy(host, addr, n);
	host[n] = '\0';
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[n - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1;
	}
}

/* http://HOST[:PORT]/PATH with HOST an IP address (no resolver: it could block the loop). */
int probe_parse_url(const char *url, struct net_req_opts *o, char *host, size_t hlen, char **path)
{
	const char *h = url + 7, *slash = strchr(h, '/'), *port = NULL;
	size_t n = slash ? (size_t)(slash - h) : strlen(h);
	struct ebb_err err;
	__u32 p = 80;

	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*path = strdup(slash ? slash : "/");
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (!close)
			return -EINVAL;
		*close = '\0';
		port = close[1] == ':' ? close + 2 : NULL;
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else if (strchr(host, ':')) {
		char *colon = strchr(host, ':');

		*colon = '\0';
		port = colon + 1;
	}
	if (port && ebb_parse_u32(port, 1, 65535, &p))
		return -EINVAL;
	o->port = p;
	return ebb_parse_addr(host, &o->addr, &err);
}
