// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The node's connection count (bpf/conns.bpf.c): one walk of this network namespace's TCP
 * socket table by a BPF iterator, per local (VIP address, port), with what a reader needs to
 * judge the figure: the boot it was taken in and when (CLOCK_BOOTTIME, which never goes back
 * and counts suspend), and an HMAC for a reader on another host (doc/node-truth.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "libebb.h"
#include "internal.h"
#include "conns.skel.h"

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct ebb_conns_key *x = &((const struct ebb_conns_entry *)a)->key;
	const struct ebb_conns_key *y = &((const struct ebb_conns_entry *)b)->key;
	int r = x->family - y->family;

	if (!r)
		r = memcmp(x->addr, y->addr, sizeof(x->addr));
	return r ? r : x->port - y->port;
}

int ebb_conns_count(int prefixes_fd, struct ebb_conns_entry *out, int max,
		    struct ebb_conns_count *c, struct ebb_err *err)
{
	struct conns_bpf *skel;
	struct bpf_link *link = NULL;
	struct ebb_conns_key key, next, *prev = NULL;
	struct stat st;
	char buf[256];
	int iter_fd = -1, ret = 0, n = 0;
	ssize_t got;
	FILE *f;

	*c = (struct ebb_conns_count){};
	f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (!f || !fgets(c->boot_id, sizeof(c->boot_id), f)) {
		if (f)
			fclose(f);
		return ebb_errf(err, "cannot read this boot's id: %s", strerror(errno ? errno : EIO));
	}
	fclose(f);
	c->boot_id[strcspn(c->boot_id, "\n")] = 0;
	if (stat("/proc/self/ns/net", &st))
		return ebb_errf(err, "cannot name this network namespace: %s", strerror(errno));
	c->netns = st.st_ino;

	skel = conns_bpf__open();
	if (!skel)
		return ebb_errf(err, "cannot open the connection counter: %s", strerror(errno));
	skel->rodata->count_all = prefixes_fd < 0;
	if (prefixes_fd >= 0 && (ret = bpf_map__reuse_fd(skel->maps.decap_prefixes, prefixes_fd))) {
		ret = ebb_errf(err, "cannot use the node's VIP prefixes: %s", strerror(-ret));
		goto out;
	}
	ret = conns_bpf__load(skel);
	if (ret) {
		ret = ebb_errf(err, "cannot load the connection counter: %s", strerror(-ret));
		goto out;
	}
	link = bpf_program__attach_iter(skel->progs.ebb_conns, NULL);
	if (!link) {
		ret = ebb_errf(err, "cannot attach the TCP socket iterator: %s", strerror(errno));
		goto out;
	}
	iter_fd = bpf_iter_create(bpf_link__fd(link));
	if (iter_fd < 0) {
		ret = ebb_errf(err, "cannot start the TCP socket walk: %s", strerror(errno));
		goto out;
	}
	c->realtime_ns = clock_ns(CLOCK_REALTIME);
	c->boottime_ns = clock_ns(CLOCK_BOOTTIME);
	/* the program writes nothing: reading to the end is the walk */
	while ((got = read(iter_fd, buf, sizeof(buf))) > 0)
		;
	c->end_boottime_ns = clock_ns(CLOCK_BOOTTIME);
	if (got < 0) {
		ret = ebb_errf(err, "the TCP socket walk failed: %s", strerror(errno));
		goto out;
	}
	c->overflow = skel->bss->overflow;
	while (!bpf_map_get_next_key(bpf_map__fd(skel->maps.conns), prev, &next)) {
		key = next;
		prev = &key;
		if (n >= max) {
			c->overflow++;
			continue;
		}
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.conns), &key, &out[n].val))
			continue;
		out[n++].key = key;
	}
	qsort(out, n, sizeof(*out), entry_cmp);
	c->n = n;
out:
	if (iter_fd >= 0)
		close(iter_fd);
	bpf_link__destroy(link);
	conns_bpf__destroy(skel);
	return ret < 0 ? ret : n;
}

int ebb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		    unsigned char out[32])
{
	unsigned int n = 32;

	return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) ? 0 : -EINVAL;
}

char *ebb_conns_sign(const char *report, const void *key, size_t keylen)
{
	unsigned char mac[32];
	char hex[65], *out = NULL;
	json_object *env;

	if (ebb_hmac_sha256(key, keylen, report, strlen(report), mac))
		return NULL;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	env = json_object_new_object();
	json_object_object_add(env, "report", json_object_new_string(report));
	json_object_object_add(env, "hmac_sha256", json_object_new_string(hex));
	out = strdup(json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN));
	json_object_put(env);
	return out;
}

/* The reader's side: the HMAC over exactly the report string, compared in constant time; the
 * report is handed back parsed only when it holds. */
json_object *ebb_conns_verify(const char *envelope, const void *key, size_t keylen,
			      struct ebb_err *err)
{
	json_object *env = json_tokener_parse(envelope), *r, *m, *doc = NULL;
	unsigned char mac[32], want[32];
	const char *report, *hex;

	if (!env || !json_object_is_type(env, json_type_object) ||
	    !json_object_object_get_ex(env, "report", &r) || !json_object_is_type(r, json_type_string) ||
	    !json_object_object_get_ex(env, "hmac_sha256", &m) || !json_object_is_type(m, json_type_string)) {
		ebb_errf(err, "not a signed report (want {\"report\": STRING, \"hmac_sha256\": HEX})");
		goto out;
	}
	report = json_object_get_string(r);
	hex = json_object_get_string(m);
	if (strlen(hex) != 64) {
		ebb_errf(err, "hmac_sha256 is not 64 hex digits");
		goto out;
	}
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1])) {
			ebb_errf(err, "hmac_sha256 is not 64 hex digits");
			goto out;
		}
		want[i] = v;
	}
	if (ebb_hmac_sha256(key, keylen, report, json_object_get_string_len(r), mac) ||
	    CRYPTO_memcmp(mac, want, 32)) {
		ebb_errf(err, "the report's HMAC does not verify with this key");
		goto out;
	}
	doc = json_tokener_parse(report);
	if (!doc || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		doc = NULL;
		ebb_errf(err, "the signed report is not a JSON object");
	}
out:
	json_object_put(env);
	return doc;
}
