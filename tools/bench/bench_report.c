// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench_report: the last step of `make bench`. Merges the parts tools/bench.sh collected (the
 * machine, bench_xdp's per-packet and control-plane figures, the lab's end-to-end runs) into
 * one JSON document, computes the medians and ratios of the raw end-to-end runs, and prints the
 * table.
 *
 *   bench_report --machine M.json --xdp X.json --e2e E.json [--out bench.json]
 *   bench_report --print bench.json          the table of an earlier run, again
 *   bench_report --cell X.json [X2.json...] PATH_ID
 *                        "6.5x(200ns)": one path's median over the files, for tools/bench/ablate.sh
 *   bench_report --vs-katran X.json [X2.json...]
 *                        ebb beside Katran over several bench_xdp runs (tools/bench/vs_katran.sh):
 *                        per path the median of the runs' ebb/Katran medians, and each run's
 */
#include <getopt.h>
#include <math.h> /* NAN, isnan: macros, no libm */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "bench_util.h"

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static double num(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v ? json_object_get_double(v) : NAN;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v ? json_object_get_string(v) : NULL;
}

static json_object *load(const char *path)
{
	json_object *o = path ? json_object_from_file(path) : NULL;

	if (path && !o)
		fprintf(stderr, "bench_report: cannot read %s\n", path);
	return o;
}

static void add_double(json_object *o, const char *key, double v)
{
	if (!isnan(v))
		json_object_object_add(o, key, json_object_new_double(
			(double)(long long)(v * 1000 + (v < 0 ? -0.5 : 0.5)) / 1000));
}

/* Median of one numeric field over the runs that match key=value. */
static double median_of(json_object *runs, const char *key, const char *value, const char *key2,
			const char *value2, const char *field)
{
	double v[256];
	int n = 0;

	for (size_t i = 0; runs && i < json_object_array_length(runs) && n < 256; i++) {
		json_object *r = json_object_array_get_idx(runs, i);
		const char *a = str(r, key), *b = key2 ? str(r, key2) : NULL;

		if (!a || strcmp(a, value) || (key2 && (!b || strcmp(b, value2))))
			continue;
		if (!isnan(num(r, field)))
			v[n++] = num(r, field);
	}
	return n ? median(v, n) : NAN;
}

/* The end-to-end summary from the raw runs bench.sh recorded. */
static void summarize_e2e(json_object *e2e)
{
	json_object *flood = get(e2e, "flood"), *wrk = get(e2e, "wrk");
	json_object *runs;

	if (flood && (runs = get(flood, "runs"))) {
		/* per run: delivered / seconds, and the share of what was offered */
		for (size_t i = 0; i < json_object_array_length(runs); i++) {
			json_object *r = json_object_array_get_idx(runs, i);
			double secs = num(r, "seconds");

			add_double(r, "offered_pps", num(r, "sent") / secs);
			add_double(r, "delivered_pps", num(r, "delivered") / secs);
			add_double(r, "delivered_pct", 100 * num(r, "delivered") / num(r, "sent"));
		}
		for (int k = 0; k < 2; k++) {
			const char *lb = k ? "floor" : "ebb";
			json_object *s = json_object_new_object();

			add_double(s, "offered_pps", median_of(runs, "lb", lb, NULL, NULL, "offered_pps"));
			add_double(s, "delivered_pps", median_of(runs, "lb", lb, NULL, NULL, "delivered_pps"));
			add_double(s, "delivered_pct", median_of(runs, "lb", lb, NULL, NULL, "delivered_pct"));
			add_double(s, "prog_ns", median_of(runs, "lb", lb, NULL, NULL, "prog_ns"));
			json_object_object_add(flood, lb, s);
		}
		add_double(flood, "delivered_ratio_ebb_to_floor",
			   num(get(flood, "ebb"), "delivered_pps") / num(get(flood, "floor"), "delivered_pps"));
	}
	if (wrk && (runs = get(wrk, "runs"))) {
		static const char *const kinds[] = { "keepalive", "close" };
		static const char *const targets[] = { "ebb", "direct" };
		static const char *const fields[] = { "rps", "p50_us", "p75_us", "p90_us", "p99_us", "errors" };

		for (int k = 0; k < 2; k++) {
			json_object *kind = json_object_new_object();

			for (int t = 0; t < 2; t++) {
				json_object *s = json_object_new_object();

				for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
					add_double(s, fields[f], median_of(runs, "kind", kinds[k], "target",
									   targets[t], fields[f]));
				json_object_object_add(kind, targets[t], s);
			}
			add_double(kind, "rps_ratio_ebb_to_direct",
				   num(get(kind, "ebb"), "rps") / num(get(kind, "direct"), "rps"));
			json_object_object_add(wrk, kinds[k], kind);
		}
	}
}

/* ---- the table ---- */
static void print_machine(json_object *m)
{
	printf("ebb bench — %s, %s\n", str(m, "date") ?: "?", str(m, "git") ?: "?");
	printf("machine: %s, %s CPUs (nproc), kernel %s%s%s\n", str(m, "cpu") ?: "?",
	       str(m, "nproc") ?: "?", str(m, "kernel") ?: "?",
	       str(m, "virt") && *str(m, "virt") ? ", " : "", str(m, "virt") ?: "");
}

/* ebb beside Katran (make bench KATRAN_SRC=DIR): each pair timed back to back in every round. */
static void print_katran(json_object *paths)
{
	int shown = 0, met = 0, missed = 0;

	for (size_t i = 0; i < json_object_array_length(paths); i++) {
		json_object *p = json_object_array_get_idx(paths, i);
		const char *kid = str(p, "katran_id");
		json_object *k = NULL;
		char target[16] = "", status[16] = "";

		if (isnan(num(p, "vs_katran")) || !kid)
			continue;
		for (size_t j = 0; j < json_object_array_length(paths); j++)
			if (!strcmp(str(json_object_array_get_idx(paths, j), "id") ?: "", kid))
				k = json_object_array_get_idx(paths, j);
		if (!shown++) {
			printf("\nBeside Katran — its XDP object built from KATRAN_SRC as its lib/Makefile-bpf does,\n"
			       "  configured by tools/bench's own loader (one VIP, the same 3 nodes and Maglev table);\n"
			       "  each pair back to back in every round, the order alternating; ebb/Katran = median\n"
			       "  over rounds of (ebb x floor) / (Katran x floor). Katran forwards by IPIP (+20 bytes,\n"
			       "  its default gateway's MAC), ebb as the VIP says: dsr (MACs only) unless \"ipip\".\n");
			printf("  %-30s %-14s %5s %8s %7s %9s %7s %8s %7s\n", "path (ebb)", "flow table", "mode",
			       "ebb ns", "x floor", "Katran ns", "x floor", "ebb/Kat", "target");
		}
		if (!isnan(num(p, "vs_katran_target"))) {
			bool ok = json_object_get_boolean(get(p, "vs_katran_met"));

			snprintf(target, sizeof(target), "<=%g", num(p, "vs_katran_target"));
			snprintf(status, sizeof(status), "%s", ok ? "met" : "MISSED");
			ok ? met++ : missed++;
		}
		printf("  %-30s %-14s %5s %8.1f %6.2fx %9.1f %6.2fx %8.2f %7s  %s\n", str(p, "path") ?: "?",
		       str(p, "table") ?: "", strstr(str(p, "id") ?: "", "ipip") ? "ipip" :
		       strstr(str(p, "id") ?: "", "pass") ? "-" : "dsr",
		       num(p, "ns"), num(p, "ratio"), num(k, "ns"), num(k, "ratio"), num(p, "vs_katran"),
		       target, status);
	}
	if (shown)
		printf("  ebb/Katran targets: %d met, %d missed. Katran's flow table: one for the bench's CPU\n"
		       "  (lru_mapping), the same size and flows as ebb's big table; its 1-flow hits run in it.\n"
		       "  The SYN row: Katran built with MAX_CONN_RATE=1, ebb with flood-rate 1.\n", met, missed);
}

/* This tree beside the base commit (bench.sh's BENCH_BASE): each pair back to back in every
 * round. Returns the number of rows past the 5 % issue 14 allows. */
static int print_base(json_object *x, json_object *paths)
{
	json_object *base = get(x, "base");
	int shown = 0, met = 0, missed = 0;

	if (!base)
		return 0; /* a bench.json from before the base column */
	printf("\nBeside the base commit (issue 14: within 5 %%) — ");
	if (str(base, "na")) {
		printf("n/a (%s)\n", str(base, "na"));
		return 0;
	}
	printf("base: %s\n", str(base, "label") ?: str(base, "object") ?: "?");
	printf("  its balancer built from git archive with the Makefile's clang flags, loaded with maps of its\n"
	       "  own and set up by the same code; each pair back to back in every round, the order\n"
	       "  alternating; vs base = median over rounds of (this x floor) / (base x floor) - 1\n");
	for (size_t i = 0; i < json_object_array_length(paths); i++) {
		json_object *p = json_object_array_get_idx(paths, i);
		char status[16] = "";

		if (isnan(num(p, "vs_base_pct")))
			continue;
		if (!shown++)
			printf("  %-28s %-14s %8s %7s %8s %7s %8s %7s\n", "path", "flow table", "this ns",
			       "x floor", "base ns", "x floor", "vs base", "target");
		if (get(p, "vs_base_met")) {
			bool ok = json_object_get_boolean(get(p, "vs_base_met"));

			snprintf(status, sizeof(status), "%s", ok ? "met" : "MISSED");
			ok ? met++ : missed++;
		}
		printf("  %-28s %-14s %8.1f %6.2fx %8.1f %6.2fx %+7.1f%% %7s  %s\n", str(p, "path") ?: "?",
		       str(p, "table") ?: "", num(p, "ns"), num(p, "ratio"), num(p, "base_ns"),
		       num(p, "base_ratio"), num(p, "vs_base_pct"), "<=+5%", status);
	}
	if (!shown)
		printf("  n/a (no pair was timed: see the base rows' reasons in bench.json)\n");
	else
		printf("  within 5 %%: %d met, %d missed\n", met, missed);
	return missed;
}

/* The node program (bpf/node.bpf.c) beside the floor: the rows of issue 14's node side. */
static void print_node(json_object *x, json_object *paths)
{
	int shown = 0;

	for (size_t i = 0; i < json_object_array_length(paths); i++) {
		json_object *p = json_object_array_get_idx(paths, i);

		if (strcmp(str(p, "lb") ?: "", "node"))
			continue;
		if (!shown++) {
			printf("\nThe node program (bpf/node.bpf.c; its own maps; a real TCP connection in the bench's\n"
			       "  own network namespace); rescues of 2 candidates, IPv4 outer; what it did, as counted\n");
			printf("  %-28s %-14s %5s %8s %8s  %s\n", "path", "socket", "bytes", "ns", "x floor",
			       "verdict, reason");
		}
		printf("  %-28s %-14s %5.0f ", str(p, "path") ?: "?", str(p, "table") ?: "", num(p, "bytes"));
		if (str(p, "na"))
			printf("%17s  n/a (%s)\n", "", str(p, "na"));
		else
			printf("%8.1f %7.1fx  %s\n", num(p, "ns"), num(p, "ratio"), str(p, "measured") ?: "");
	}
	if (!shown && str(x, "node_na"))
		printf("\nThe node program: n/a (%s)\n", str(x, "node_na"));
}

/* Issue 16's figures of the flow table, beside the per-packet rows: memory per flow and the
 * census at 1M flows (bench_xdp's "flow_memory" and "census"). */
static void print_table(json_object *x)
{
	json_object *mem = get(x, "flow_memory"), *c = get(x, "census");
	json_object *v4 = get(mem, "ipv4"), *t = get(mem, "ipv4_999"), *v6 = get(mem, "ipv6"),
		    *k = get(mem, "katran");

	if (!mem && !c)
		return; /* a bench.json from before these figures */
	printf("\nThe flow table (issue 16): memory per flow and the census, this run\n");
	if (v4)
		printf("  IPv4, the bucket table for %.0f flows: %.0f buckets of 128 bytes, %.1f MiB memlock;\n"
		       "    %.0f random inserts, %.3f %% succeeded (load %.3f), %.0f flows held: %.1f bytes per flow\n",
		       num(v4, "inserts"), num(v4, "buckets"), num(v4, "memlock_bytes") / 1048576,
		       num(v4, "inserts"), num(v4, "success_pct"), num(v4, "load"), num(v4, "held"),
		       num(v4, "bytes_per_flow"));
	if (t)
		printf("    the smallest table where 99.9 %% succeed: %.0f buckets (load %.3f): %.1f bytes per\n"
		       "    flow (target <= 32%s)\n", num(t, "buckets"), num(t, "load"),
		       num(t, "bytes_per_flow"), num(t, "bytes_per_flow") <= 32 ? ": met" : ": MISSED");
	if (v6)
		printf("  IPv6, flows6 (LRU hash, %.0f-byte key, %.0f-byte entry word), %.0f entries: %.1f bytes per flow\n",
		       num(v6, "key_bytes"), num(v6, "value_bytes"), num(v6, "entries"),
		       num(v6, "bytes_per_flow"));
	if (k)
		printf("  Katran: its flow LRU (%.0f-byte key, %.0f-byte value), %.0f entries: %.1f bytes per entry\n"
		       "    (one such LRU per forwarding CPU)\n", num(k, "key_bytes"), num(k, "value_bytes"),
		       num(k, "entries"), num(k, "bytes_per_entry"));
	for (int i = 0; i < 2; i++, c = get(x, "census_big")) {
		if (!c)
			continue;
		if (str(c, "na")) {
			printf("  census: n/a (%s)\n", str(c, "na"));
			continue;
		}
		printf("  census at %.0f flows (user/lib/census.c, the %s table: %.0f buckets, sized for %.0f),\n"
		       "    median of %.0f passes: %.2f ms wall clock, %.2f ms CPU%s; opening it %.0f ms, once;\n"
		       "    of the CPU, the batch lookups over flows6 (empty, %.0f entries): %.2f ms\n",
		       num(c, "flows"), str(c, "table") ?: "?", num(c, "buckets"), num(c, "sized_for"),
		       num(c, "passes"), num(c, "ms"), num(c, "cpu_ms"),
		       i ? "" : num(c, "ms") <= 10 ? " (target <= 10 ms: met)" : " (target <= 10 ms: MISSED)",
		       num(c, "open_ms"), num(c, "sized_for"), num(c, "flows6_cpu_ms"));
	}
}

static int print_paths(json_object *x)
{
	json_object *paths = get(x, "paths");
	int missed = 0, met = 0;

	if (!paths) {
		printf("\nPer packet: n/a (%s)\n", str(x, "na") ?: "bench_xdp did not run");
		return 0;
	}
	printf("\nPer packet — BPF_PROG_TEST_RUN, %d interleaved rounds, medians; floor = floor_tx "
	       "(swap MACs, XDP_TX)\n", (int)num(x, "rounds"));
	printf("  floor: %.1f ns per packet (repeat %.0f; wrapped paths: %.0f distinct packets per run)\n",
	       num(x, "floor_ns"), num(x, "repeat"), num(x, "wrap_repeat"));
	printf("  %-28s %-14s %5s %8s %8s %8s  %s\n", "path", "flow table", "bytes", "ns", "x floor",
	       "target", "");
	for (size_t i = 0; i < json_object_array_length(paths); i++) {
		json_object *p = json_object_array_get_idx(paths, i);
		char target[16] = "", status[32] = "";

		if (strcmp(str(p, "lb") ?: "ebb", "ebb"))
			continue; /* Katran, the base commit, the node program: in tables of their own */
		if (!isnan(num(p, "target_ratio")))
			snprintf(target, sizeof(target), "<=%gx", num(p, "target_ratio"));
		printf("  %-28s %-14s %5.0f ", str(p, "path") ?: "?", str(p, "table") ?: "", num(p, "bytes"));
		if (str(p, "na")) {
			printf("%17s %8s  n/a (%s)\n", "", target, str(p, "na"));
			continue;
		}
		if (get(p, "met")) {
			bool ok = json_object_get_boolean(get(p, "met"));
			bool counted = !get(p, "counted") || json_object_get_boolean(get(p, "counted"));

			if (counted) {
				snprintf(status, sizeof(status), "%s", ok ? "met" : "MISSED");
				ok ? met++ : missed++;
			} else {
				snprintf(status, sizeof(status), "(%s)", ok ? "met" : "missed");
			}
		}
		/* issue 14's rows: the path this build took, as counted */
		printf("%8.1f %7.1fx %8s  %s\n", num(p, "ns"), num(p, "ratio"), target,
		       str(p, "measured") ?: status);
	}
	printf("  targets: %d met, %d missed (each counted on its path's first row; (met)/(missed): the\n"
	       "  same target on another table size, for information). 1M = 1,048,576 flows in the\n"
	       "  flow table; \"shuffled\": a different flow every packet, in an order unrelated to the one\n"
	       "  they were inserted in, so the table's cache misses show; \"in order\": the same flows in\n"
	       "  their insertion order (cheaper for Katran's LRU hash: its entries likely lie in that order).\n"
	       "  Wrapped paths (a distinct packet per run) subtract the wrapper's cost, measured on the floor;\n"
	       "  the method check runs the plain hit through the wrapper: it should match \"1 flow\".\n",
	       met, missed);
	printf("  rescue: a mid-flow ACK no flow entry knows, on a VIP whose slots changed owner (2\n"
	       "  candidates, both running the node program), a fresh client each run; claim: the owner's\n"
	       "  claim of such a flow (the balancer's own rescue turned back), its entry deleted before\n"
	       "  each batch. Their last column is the verdict and reason counted: a build without rescues\n"
	       "  takes another path, timed and named as such. \"node prog\": a hit of a flow pinned to a\n"
	       "  node that runs the node program (the rescue VIP's), beside \"1M, same flow\" (a node\n"
	       "  that does not), both in the same table.\n");
	print_katran(paths);
	print_table(x);
	missed += print_base(x, paths);
	print_node(x, paths);
	return missed;
}

static void print_e2e(json_object *e)
{
	json_object *flood = get(e, "flood"), *wrk = get(e, "wrk");

	if (!e || str(e, "na")) {
		printf("\nEnd to end: n/a (%s)\n", e ? str(e, "na") : "no end-to-end part");
		return;
	}
	printf("\nEnd to end — lab on veth: client -> LB (native XDP on its eth0) -> %s nginx nodes\n",
	       str(e, "nodes") ?: "?");
	if (flood && !str(flood, "na")) {
		printf("  UDP flood to %s, %s-byte frames from the client (%s),\n"
		       "  %s x %s s per program, interleaved, medians; counted at the nodes' eth0 (ebb) or\n"
		       "  back at the client's (floor)\n",
		       str(flood, "vip") ?: "?", str(flood, "bytes") ?: "?",
		       !strcmp(str(flood, "mode") ?: "", "live") ? "BPF_PROG_TEST_RUN live frames" :
								    "sendmmsg",
		       str(flood, "rounds") ?: "?", str(flood, "seconds") ?: "?");
		printf("  %-28s %12s %14s %10s %14s\n", "LB program", "offered pps", "delivered pps",
		       "delivered", "program ns/pkt");
		for (int k = 0; k < 2; k++) {
			json_object *s = get(flood, k ? "floor" : "ebb");

			printf("  %-28s %12.0f %14.0f %9.1f%% %14.1f\n",
			       k ? "floor (reflects to client)" : "ebb (to the nodes)",
			       num(s, "offered_pps"), num(s, "delivered_pps"), num(s, "delivered_pct"),
			       num(s, "prog_ns"));
		}
		printf("  ebb / floor: delivered pps %.2f, program time per packet %.1fx. The generator and\n"
		       "  the veth/bridge path share the CPUs: the whole path costs ~%.1f us per packet, the LB\n"
		       "  program a small part of it (program ns: the kernel's BPF run-time statistics, on\n"
		       "  during the flood only; they add the cost of two clock reads to every run).\n",
		       num(flood, "delivered_ratio_ebb_to_floor"),
		       num(get(flood, "ebb"), "prog_ns") / num(get(flood, "floor"), "prog_ns"),
		       1e6 / num(get(flood, "floor"), "delivered_pps"));
	} else if (flood) {
		printf("  UDP flood: n/a (%s)\n", str(flood, "na"));
	}
	if (wrk && !str(wrk, "na")) {
		printf("  wrk -t%s -c%s --latency, %s x %s s per case, interleaved, medians; the VIP %s\n"
		       "  has one node, %s, which is also the direct target\n", str(wrk, "threads") ?: "?",
		       str(wrk, "connections") ?: "?", str(wrk, "rounds") ?: "?", str(wrk, "seconds") ?: "?",
		       str(wrk, "vip") ?: "?", str(wrk, "node") ?: "?");
		printf("  %-30s %10s %9s %9s %9s %9s %7s\n", "", "req/s", "p50 us", "p75 us", "p90 us",
		       "p99 us", "errors");
		for (int k = 0; k < 2; k++) {
			json_object *kind = get(wrk, k ? "close" : "keepalive");

			for (int t = 0; t < 2; t++) {
				json_object *s = get(kind, t ? "direct" : "ebb");

				printf("  %-23s %-6s %10.0f %9.0f %9.0f %9.0f %9.0f %7.0f\n",
				       t ? "" : (k ? "new connections" : "keep-alive"),
				       t ? "direct" : "ebb", num(s, "rps"), num(s, "p50_us"), num(s, "p75_us"),
				       num(s, "p90_us"), num(s, "p99_us"), num(s, "errors"));
			}
			printf("  %-30s %9.2fx\n", k ? "  conn/s, ebb / direct" : "  req/s, ebb / direct",
			       num(kind, "rps_ratio_ebb_to_direct"));
		}
	} else if (wrk) {
		printf("  wrk: n/a (%s)\n", str(wrk, "na"));
	}
}

static void print_control(json_object *c)
{
	json_object *mg = get(c, "maglev_build"), *dr = get(c, "drain"),
		    *ag = get(c, "agent_cycle"), *ring = get(c, "ring_swap");

	printf("\nControl plane\n");
	if (!c) {
		printf("  n/a\n");
		return;
	}
	printf("  Maglev build (%s slots), median of 9:", str(c, "ring_size") ?: "65537");
	for (size_t i = 0; mg && i < json_object_array_length(mg); i++) {
		json_object *o = json_object_array_get_idx(mg, i);

		printf("%s %.0f nodes %.2f ms", i ? "," : "", num(o, "nodes"), num(o, "ms"));
	}
	printf("\n");
	for (int k = 0; k < 2; k++) {
		json_object *d = get(dr, k ? "libebb" : "ebbctl");

		if (!d)
			continue;
		if (json_object_is_type(d, json_type_string)) {
			printf("  drain via ebbctl: %s\n", json_object_get_string(d));
			continue;
		}
		printf("  %-34s datapath after %6.1f ms (command %.1f ms); activate -> datapath %.1f ms\n",
		       k ? "drain via ebb_node_set_state():" : "drain via `ebbctl node drain`:",
		       num(d, "drain_to_datapath_ms"), num(d, "command_ms"),
		       num(d, "activate_to_datapath_ms"));
	}
	if (ring)
		printf("  a fresh ring (a drain rebuilds both rings of each of the node's VIPs): build + fill\n"
		       "  %.1f ms by batch update, %.1f ms through mmap; swapping it in (map-in-map update, which\n"
		       "  waits for an RCU grace period) %.1f ms\n",
		       num(ring, "fill_ms"), num(ring, "fill_mmap_ms"), num(ring, "outer_update_ms"));
	printf("  agent cycle (ebbd --once, after filling the table):");
	for (size_t i = 0; ag && i < json_object_array_length(ag); i++) {
		json_object *o = json_object_array_get_idx(ag, i);

		if (str(o, "na"))
			printf("%s %.0f flows n/a (%s)", i ? "," : "", num(o, "flows"), str(o, "na"));
		else
			printf("%s %.0f flows %.1f ms", i ? "," : "", num(o, "flows"), num(o, "cycle_ms"));
	}
	printf("\n");
	printf("  census in process (the pass alone, on the mmapped table):");
	for (size_t i = 0; ag && i < json_object_array_length(ag); i++) {
		json_object *o = json_object_array_get_idx(ag, i);

		if (isnan(num(o, "census_inproc_ms")))
			continue;
		printf("%s %.0f flows %.1f ms", i ? "," : "", num(o, "flows"), num(o, "census_inproc_ms"));
	}
	printf("\n");
	/* libebb's counts as ebbctl takes them (tools/bench/show.sh times the commands at 4M) */
	printf("  node show / vip show counts (libebb, in process):");
	for (size_t i = 0; ag && i < json_object_array_length(ag); i++) {
		json_object *o = json_object_array_get_idx(ag, i);

		if (isnan(num(o, "node_show_count_ms")))
			continue;
		printf("%s %.0f flows %.1f / %.1f ms", i ? "," : "", num(o, "flows"),
		       num(o, "node_show_count_ms"), num(o, "vip_show_count_ms"));
	}
	printf("\n");
}

static int print_all(json_object *doc)
{
	int missed;

	print_machine(get(doc, "machine"));
	missed = print_paths(get(doc, "per_packet"));
	print_e2e(get(doc, "end_to_end"));
	print_control(get(doc, "control_plane"));
	return missed;
}

/* One path's median ratio (and ns) over several bench_xdp documents. */
static int cell(char **files, int nfiles, const char *id)
{
	double r[64], ns[64];
	int n = 0;

	for (int f = 0; f < nfiles && n < 64; f++) {
		json_object *x = load(files[f]), *paths = get(x, "paths");

		for (size_t i = 0; paths && i < json_object_array_length(paths); i++) {
			json_object *p = json_object_array_get_idx(paths, i);

			if (strcmp(str(p, "id") ?: "", id) || str(p, "na"))
				continue;
			r[n] = num(p, "ratio");
			ns[n++] = num(p, "ns");
		}
		json_object_put(x);
	}
	if (!n) {
		printf("n/a\n");
		return 1;
	}
	printf("%.1fx(%.0fns)\n", median(r, n), median(ns, n));
	return 0;
}

/* One figure over the runs (docs[d] -> o1 -> o2 -> field; o2 may be NULL), printed as the
 * median with each run's value. Returns 1 if a target was given and missed. */
static int runs_figure(json_object **docs, int n, const char *label, const char *o1,
		       const char *o2, const char *field, const char *unit, int prec, double target)
{
	double v[16];
	char each[160] = "";
	int m = 0;

	for (int d = 0; d < n; d++) {
		json_object *o = get(docs[d], o1);
		double x = num(o2 ? get(o, o2) : o, field);

		if (isnan(x))
			continue;
		v[m++] = x;
		snprintf(each + strlen(each), sizeof(each) - strlen(each), "%s%.*f", m > 1 ? " " : "",
			 prec, x);
	}
	if (!m)
		return 0;
	printf("  %-50s %7.*f %-3s", label, prec, median(v, m), unit);
	if (target > 0)
		printf(" <=%-5g %-6s", target, median(v, m) <= target ? "met" : "MISSED");
	else
		printf(" %-13s", "");
	printf(" each run: %s\n", each);
	return target > 0 && median(v, m) > target;
}

/* ebb/Katran over runs: each run's figure is already the median over its rounds. Returns the
 * number of targets missed. */
static int vs_katran(char **files, int nfiles)
{
	json_object *docs[16];
	int n = 0, met = 0, missed = 0;

	for (int f = 0; f < nfiles && n < 16; f++)
		if ((docs[n] = load(files[f])) && get(docs[n], "paths"))
			n++;
	if (!n) {
		printf("no bench_xdp run to read\n");
		return 1;
	}
	printf("%-30s %-14s %5s %8s %9s %8s %7s  %s\n", "path", "flow table", "mode", "ebb ns",
	       "Katran ns", "ebb/Kat", "target", "each run (median over its rounds)");
	json_object *paths0 = get(docs[0], "paths");

	for (size_t i = 0; i < json_object_array_length(paths0); i++) {
		json_object *p0 = json_object_array_get_idx(paths0, i);
		const char *id = str(p0, "id") ?: "";
		double r[16], ens[16], kns[16];
		char runs[160] = "", target[16] = "", status[16] = "";
		int m = 0;

		if (isnan(num(p0, "vs_katran")))
			continue;
		for (int d = 0; d < n; d++) {
			json_object *paths = get(docs[d], "paths");

			for (size_t j = 0; j < json_object_array_length(paths); j++) {
				json_object *p = json_object_array_get_idx(paths, j);

				if (strcmp(str(p, "id") ?: "", id) || isnan(num(p, "vs_katran")))
					continue;
				r[m] = num(p, "vs_katran");
				ens[m] = num(p, "ns");
				kns[m] = num(p, "katran_ns");
				snprintf(runs + strlen(runs), sizeof(runs) - strlen(runs), "%s%.2f",
					 m ? " " : "", r[m]);
				m++;
			}
		}
		if (!isnan(num(p0, "vs_katran_target"))) {
			bool ok = median(r, m) <= num(p0, "vs_katran_target");

			snprintf(target, sizeof(target), "<=%g", num(p0, "vs_katran_target"));
			snprintf(status, sizeof(status), "%s", ok ? "met" : "MISSED");
			ok ? met++ : missed++;
		}
		printf("%-30s %-14s %5s %8.1f %9.1f %8.2f %7s  %-6s %s\n", str(p0, "path") ?: "?",
		       str(p0, "table") ?: "", strstr(id, "ipip") ? "ipip" : strstr(id, "pass") ? "-" : "dsr",
		       median(ens, m), median(kns, m), median(r, m), target, status, runs);
	}
	printf("%d run(s); floor_tx per run:", n);
	for (int d = 0; d < n; d++)
		printf(" %.1f ns", num(docs[d], "floor_ns"));
	printf("; targets: %d met, %d missed\n", met, missed);
	printf("\nThe flow table in the same runs (medians over runs):\n");
	missed += runs_figure(docs, n, "IPv4 bytes per flow, 99.9 % of 1M random inserts",
			      "flow_memory", "ipv4_999", "bytes_per_flow", "B", 1, 32);
	runs_figure(docs, n, "  its load (flows / ways)", "flow_memory", "ipv4_999", "load", "", 3, 0);
	runs_figure(docs, n, "IPv4 bytes per flow, the table for 1M flows", "flow_memory", "ipv4",
		    "bytes_per_flow", "B", 1, 0);
	runs_figure(docs, n, "  % of its 1M random inserts that succeeded", "flow_memory", "ipv4",
		    "success_pct", "%", 3, 0);
	runs_figure(docs, n, "IPv6 bytes per flow (flows6, LRU hash)", "flow_memory", "ipv6",
		    "bytes_per_flow", "B", 1, 0);
	runs_figure(docs, n, "Katran bytes per flow entry (its LRU's memlock)", "flow_memory",
		    "katran", "bytes_per_entry", "B", 1, 0);
	missed += runs_figure(docs, n, "census at 1M flows, wall clock (median of 9 passes)",
			      "census", NULL, "ms", "ms", 2, 10);
	runs_figure(docs, n, "  CPU time", "census", NULL, "cpu_ms", "ms", 2, 0);
	runs_figure(docs, n, "  of it, batch lookups over the empty flows6", "census", NULL,
		    "flows6_cpu_ms", "ms", 2, 0);
	runs_figure(docs, n, "  the same flows in the big table (sized for more), wall", "census_big",
		    NULL, "ms", "ms", 2, 0);
	runs_figure(docs, n, "  CPU time", "census_big", NULL, "cpu_ms", "ms", 2, 0);
	for (int d = 0; d < n; d++)
		json_object_put(docs[d]);
	return missed;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "machine", required_argument, NULL, 'm' }, { "xdp", required_argument, NULL, 'x' },
		{ "e2e", required_argument, NULL, 'e' },     { "out", required_argument, NULL, 'o' },
		{ "print", required_argument, NULL, 'p' },   { "cell", required_argument, NULL, 'c' },
		{ "vs-katran", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *machine = NULL, *xdp = NULL, *e2e = NULL, *out = NULL, *print = NULL, *cellf = NULL,
		   *katf = NULL;
	json_object *doc, *x, *cp;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'm': machine = optarg; break;
		case 'x': xdp = optarg; break;
		case 'e': e2e = optarg; break;
		case 'o': out = optarg; break;
		case 'p': print = optarg; break;
		case 'c': cellf = optarg; break;
		case 'k': katf = optarg; break;
		default:
			fprintf(stderr, "usage: see the comment at the top of tools/bench/bench_report.c\n");
			return 2;
		}
	}
	if (cellf) {
		/* --cell FILE [FILE...] ID: optind points past the first file */
		if (optind >= argc)
			return 2;
		argv[optind - 1] = (char *)cellf;
		return cell(argv + optind - 1, argc - optind, argv[argc - 1]);
	}
	if (katf) {
		/* --vs-katran FILE [FILE...] */
		argv[optind - 1] = (char *)katf;
		return vs_katran(argv + optind - 1, argc - optind + 1) ? 3 : 0;
	}
	if (print) {
		doc = load(print);
		if (!doc)
			return 1;
		print_all(doc);
		return 0;
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "machine", load(machine) ?: json_object_new_object());
	x = load(xdp);
	if (!x) {
		x = json_object_new_object();
		json_object_object_add(x, "na", json_object_new_string("bench_xdp failed"));
	}
	cp = get(x, "control_plane");
	if (cp) {
		json_object_get(cp);
		json_object_object_del(x, "control_plane");
	}
	json_object_object_add(doc, "per_packet", x);
	{
		json_object *e = load(e2e);

		if (!e) {
			e = json_object_new_object();
			json_object_object_add(e, "na", json_object_new_string("the lab part did not run"));
		}
		summarize_e2e(e);
		json_object_object_add(doc, "end_to_end", e);
	}
	json_object_object_add(doc, "control_plane", cp);
	print_all(doc);
	if (out && json_object_to_file_ext(out, doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) {
		fprintf(stderr, "bench_report: cannot write %s\n", out);
		return 1;
	}
	if (out)
		printf("\nJSON: %s\n", out);
	return 0;
}
