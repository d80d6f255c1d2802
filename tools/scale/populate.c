// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * populate BPFFS VIPS NODES FLOWS [v4]: adds VIPS VIPs ([2001:db8:100::N]:80/tcp; with v4,
 * 198.51.100.N:80/tcp) and NODES nodes (2001:db8:1::N; with v4, 10.1.N/256.N%256; node i
 * serving VIP i mod VIPS) through libebb, the code ebbctl runs, in one process (an ebbctl per
 * node would time process start-up), then writes FLOWS live entries straight into the pinned
 * flow table (IPv4: the bucket table, pinned by include/ebb_flowtable.h as the datapath pins,
 * so a few are lost or evicted when it is full; IPv6: flows6), spread evenly
 * over the configured VIPs and, within a VIP, round-robin over its member nodes, as the
 * datapath would have pinned them (VIP id recorded, last_seen now). Clients come from
 * 2001:db8:2::/48 (IPv6 VIPs) or 198.18.0.0/15 (IPv4 VIPs, the benchmarking range). For
 * tools/scale.sh: filling a table through packets would take far longer than the commands
 * it measures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "ebb_flowtable.h"

#define BATCH 65536

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	static struct ebb_vip_key vkeys[EBB_MAX_VIPS];
	static __u32 vids[EBB_MAX_VIPS], members[EBB_MAX_VIPS][64], n_members[EBB_MAX_VIPS];
	struct ebb_flow_key *keys;
	__u64 *vals;
	struct ebb_ft_bucket *t = NULL;
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	unsigned long pinned = 0, lost = 0, evicted = 0;
	bool v4;
	struct ebb_vip_key k, *prev = NULL;
	struct ebb_member_key mk, *mprev = NULL;
	struct ebb_err err = {};
	struct ebb e;
	unsigned long n, done = 0;
	int nv = 0;
	__u64 now;

	int want_vips, want_nodes;
	double t0;

	if (argc < 5 || argc > 6 || !(n = strtoul(argv[4], NULL, 10)) ||
	    (argc == 6 && strcmp(argv[5], "v4"))) {
		fprintf(stderr, "usage: populate BPFFS VIPS NODES FLOWS [v4]\n");
		return 1;
	}
	v4 = argc == 6;
	want_vips = atoi(argv[2]);
	want_nodes = atoi(argv[3]);
	if (ebb_open(&e, argv[1], &err) || ebb_lock(&e, &err)) {
		fprintf(stderr, "Error: %s\n", err.msg);
		return 1;
	}
	t0 = ebb_now_ns() / 1e9;
	for (int i = 1; i <= want_vips; i++) {
		struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR };
		char s[64];

		if (v4)
			snprintf(s, sizeof(s), "198.51.100.%d:80/tcp", i);
		else
			snprintf(s, sizeof(s), "[2001:db8:100::%x]:80/tcp", i);
		if (ebb_parse_vip(s, &k, &err) || ebb_vip_add(&e, &k, &o, &err)) {
			fprintf(stderr, "Error: vip add %s: %s\n", s, err.msg);
			return 1;
		}
	}
	printf("%d VIPs added in %.2f s\n", want_vips, ebb_now_ns() / 1e9 - t0);
	t0 = ebb_now_ns() / 1e9;
	for (int i = 1; i <= want_nodes; i++) {
		struct ebb_node_opts o = { .have_mac = true, .mac = { 2, 0, 0, 0, i >> 8, i & 0xff } };
		struct ebb_addr a;
		char s[64], v[64];

		if (v4) {
			snprintf(s, sizeof(s), "10.1.%d.%d", i / 256, i % 256);
			snprintf(v, sizeof(v), "198.51.100.%d:80/tcp", (i - 1) % want_vips + 1);
		} else {
			snprintf(s, sizeof(s), "2001:db8:1::%x", i);
			snprintf(v, sizeof(v), "[2001:db8:100::%x]:80/tcp", (i - 1) % want_vips + 1);
		}
		if (ebb_parse_addr(s, &a, &err) || ebb_parse_vip(v, &k, &err) || ebb_node_add(&e, &a, &k, &o, &err)) {
			fprintf(stderr, "Error: node add %s vip %s: %s\n", s, v, err.msg);
			return 1;
		}
	}
	printf("%d nodes added in %.2f s (%.1f ms each: two tables rebuilt and swapped per add)\n",
	       want_nodes, ebb_now_ns() / 1e9 - t0, (ebb_now_ns() / 1e9 - t0) * 1e3 / (want_nodes ? want_nodes : 1));
	t0 = ebb_now_ns() / 1e9;
	while (nv < EBB_MAX_VIPS && !bpf_map_get_next_key(e.vips_fd, prev, &k)) {
		struct ebb_vip v;

		prev = &k;
		if (!bpf_map_lookup_elem(e.vips_fd, &k, &v)) {
			vkeys[nv] = k;
			vids[nv++] = v.id;
		}
	}
	while (!bpf_map_get_next_key(e.members_fd, mprev, &mk)) {
		mprev = &mk;
		for (int i = 0; i < nv; i++)
			if (vids[i] == mk.vip_id && n_members[i] < 64)
				members[i][n_members[i]++] = mk.node_id;
	}
	for (int i = 0; i < nv; i++)
		if (!n_members[i]) {
			fprintf(stderr, "Error: a VIP has no node\n");
			return 1;
		}
	if (!nv) {
		fprintf(stderr, "Error: no VIP\n");
		return 1;
	}
	now = ebb_now_ns();
	keys = calloc(BATCH, sizeof(*keys));
	vals = calloc(BATCH, sizeof(*vals));
	if (!keys || !vals)
		return 1;
	if (v4) {
		long page = sysconf(_SC_PAGESIZE);

		if (bpf_obj_get_info_by_fd(e.flows_fd, &info, &info_len) ||
		    info.value_size != sizeof(struct ebb_ft_bucket)) {
			fprintf(stderr, "Error: the flow table is not the bucket table\n");
			return 1;
		}
		t = mmap(NULL, ((size_t)info.max_entries * sizeof(*t) + page - 1) / page * page,
			 PROT_READ | PROT_WRITE, MAP_SHARED, e.flows_fd, 0);
		if (t == MAP_FAILED) {
			fprintf(stderr, "Error: cannot map the flow table: %s\n", strerror(errno));
			return 1;
		}
	} else if (e.flows6_fd < 0) {
		fprintf(stderr, "Error: no IPv6 flow table\n");
		return 1;
	}
	while (done < n) {
		__u32 cnt = n - done < BATCH ? n - done : BATCH;

		for (__u32 j = 0; j < cnt; j++) {
			unsigned long i = done + j;
			int v = i % nv;
			struct ebb_flow_key *fk = &keys[j];
			__u32 tick = ebb_ft_tick_of_ns(now);

			memset(fk, 0, sizeof(*fk));
			memcpy(fk->dst, vkeys[v].addr, sizeof(fk->dst));
			fk->family = vkeys[v].family;
			fk->proto = vkeys[v].proto;
			fk->dport = vkeys[v].port ? vkeys[v].port : htons(80);
			fk->sport = htons(10000 + (i & 31));
			if (fk->family == EBB_FAMILY_V6) {
				fk->src[0] = htonl(0x20010db8);
				fk->src[1] = htonl(0x00020000);
				fk->src[3] = htonl(i >> 5);
			} else {
				fk->src[0] = htonl(0xc6120000 + (i >> 5)); /* 198.18.0.0/15 */
			}
			vals[j] = ebb_ft_entry(0, vids[v], members[v][(i / nv) % n_members[v]], 0, tick);
			if (t) {
				struct ebb_ft_where w = ebb_ft_where_key(fk, info.max_entries);
				struct ebb_ft_scan st;
				int way, r;

				ebb_ft_pin_prepare(&st, w.fp, ebb_ft_keyword4(fk),
						   vals[j] | (__u64)w.fp << EBB_FT_FP_SHIFT, tick);
				r = ebb_ft_pin(&t[w.b[0]], &t[w.b[1]], &st, &way);
				lost += r == EBB_FT_LOST;
				evicted += r == EBB_FT_EVICTED;
				pinned += r != EBB_FT_LOST;
			}
		}
		if (!t && bpf_map_update_batch(e.flows6_fd, keys, vals, &cnt, &bo)) {
			fprintf(stderr, "Error: batch update: %s\n", strerror(errno));
			return 1;
		}
		done += cnt;
	}
	if (t)
		printf("bucket table of %u buckets: %lu pinned (%lu of them evicting another), %lu lost\n",
		       info.max_entries, pinned, evicted, lost);
	printf("%lu flows written over %d VIPs in %.2f s\n", done, nv, ebb_now_ns() / 1e9 - t0);
	ebb_close(&e);
	return 0;
}
