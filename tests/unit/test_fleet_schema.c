// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The schema of the fleet's desired state (doc/fleet.md, "Schema"), pure C, no root:
 *  - each key kind's check (fleet_vip_check, fleet_node_check, fleet_host_check) over a table
 *    of good and bad values: truncated JSON, wrong types, unknown enum values ("INACTIVE",
 *    "bogus", 7, null as a node state), numbers out of range (drain_timeout_s -1 and 2^32,
 *    weights 0, 1001, "x"), unknown fields, keys whose name does not parse;
 *  - fleet_state_parse over the same values as one etcd range: a bad key is left out of the
 *    state (never defaulted: a bad state is never read as active) and listed as invalid, with
 *    its key, its reason, and the object it still names; the good keys beside it are read;
 *  - what the writers put (fleet_vip_json, fleet_node_json) passes the same check;
 *  - the drain clock's key (state/drains/ADDR) and the node's drain_lease: a lease id is an
 *    integer 1..2^63-2, only a draining node has one, and a drain key is this drain's clock
 *    only under the very lease the node names (fleet_drain_find).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "test.h"

#define F "t"
#define VIPK "/ebb/" F "/state/vips/"
#define NODEK "/ebb/" F "/state/nodes/"
#define HOSTK "/ebb/" F "/state/hosts/"
#define DRAINK "/ebb/" F "/state/drains/"
#define GENK "/ebb/" F "/state/history/"
#define LEASE "7587899387296034567"

#define GOOD_VIP "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}"
#define W "\"weights\":{\"203.0.113.10:80/tcp\":100}"

struct row {
	const char *key, *val;
	const char *why; /* NULL: valid; else a part of the reason */
};

static const struct row rows[] = {
	/* VIPs */
	{ VIPK "203.0.113.10:80/tcp", GOOD_VIP, NULL },
	{ VIPK "[2001:db8::10]:443/udp",
	  "{\"fwd\":\"ipip\",\"tcp_idle_s\":3,\"udp_idle_s\":3,\"fin_s\":1,\"drain_timeout_s\":604800,"
	  "\"encap_src4\":\"192.0.2.1\",\"encap_src6\":\"2001:db8::1\"}",
	  NULL },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":30", "truncated" },
	{ VIPK "203.0.113.10:80/tcp", "", "empty" },
	{ VIPK "203.0.113.10:80/tcp", "null", "null" },
	{ VIPK "203.0.113.10:80/tcp", "[1,2]", "not a JSON object" },
	{ VIPK "203.0.113.10:80/tcp", GOOD_VIP "x", "not JSON" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"gre\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}", "\"fwd\"" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"DSR\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}", "\"fwd\"" },
	{ VIPK "203.0.113.10:80/tcp", "{\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}", "missing \"fwd\"" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":-1}", "out of range" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":4294967296}", "out of range" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":0,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}", "out of range" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":\"900\",\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}", "must be an integer" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":9.5,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300}", "must be an integer" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":null,\"drain_timeout_s\":300}", "must be an integer" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"encap_src4\":\"2001:db8::1\"}", "IPv4" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"drain_timout_s\":3}", "unknown field" },
	/* table_size: one of EBB_TABLE_SIZES, absent = 65537 (older writers) */
	{ VIPK "203.0.113.11:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":2039}", NULL },
	{ VIPK "203.0.113.12:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":65537}", NULL },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":1000}", "not one of 251, 509" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":65521}", "not one of" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":0}", "out of range" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":131071}", "out of range" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"table_size\":\"251\"}", "must be an integer" },
	{ VIPK "203.0.113.999:80/tcp", GOOD_VIP, "bad VIP" },
	/* what parses must also pass the desired state's own check (libebb_desired.h): the words
	 * ebbctl says for the same VIP or node on the maps */
	{ VIPK "224.0.0.1:80/tcp", GOOD_VIP, "VIP address 224.0.0.1 is a multicast address: it must be a unicast address" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"ipip\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"encap_src4\":\"203.0.113.10\"}",
	  "encap-src 203.0.113.10 is a VIP address: the outer source must be this host's own address" },
	{ VIPK "203.0.113.10:80/tcp", "{\"fwd\":\"ipip\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":300,\"encap_src6\":\"ff02::1\"}",
	  "encap-src ff02::1 is a multicast address: it must be a unicast address" },
	{ NODEK "127.0.0.1", "{\"state\":\"active\"," W "}", "node 127.0.0.1 is a loopback address: it must be a unicast address" },
	{ VIPK "203.0.113.10", GOOD_VIP, "bad VIP" },
	{ VIPK "", GOOD_VIP, "bad VIP" },
	{ VIPK "203.0.113.10:080/tcp", GOOD_VIP, "as ebbctl prints it" },
	/* nodes */
	{ NODEK "198.51.100.10", "{\"state\":\"active\",\"since\":1765000000.5,\"mac\":\"02:00:00:00:00:0a\"," W "}", NULL },
	{ NODEK "198.51.100.11", "{\"state\":\"draining\",\"since\":1,\"drain_timeout_s\":604800," W "}", NULL },
	{ NODEK "198.51.100.12", "{\"state\":\"inactive\",\"weights\":{}}", NULL },
	{ NODEK "198.51.100.13", "{\"state\":\"down\",\"before_down\":\"draining\"," W "}", NULL },
	{ NODEK "2001:db8::20", "{\"state\":\"active\",\"weights\":{\"[2001:db8::10]:443/udp\":1000}}", NULL },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{", "truncated" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":10", "truncated" },
	{ NODEK "198.51.100.20", "{\"state\":\"INACTIVE\"," W "}", "\"state\" must be one of" },
	{ NODEK "198.51.100.20", "{\"state\":\"bogus\"," W "}", "\"state\" must be one of" },
	{ NODEK "198.51.100.20", "{\"state\":\"unused\"," W "}", "\"state\" must be one of" },
	{ NODEK "198.51.100.20", "{\"state\":\"\"," W "}", "\"state\" must be one of" },
	{ NODEK "198.51.100.20", "{\"state\":7," W "}", "\"state\" must be a string" },
	{ NODEK "198.51.100.20", "{\"state\":null," W "}", "\"state\" must be a string" },
	{ NODEK "198.51.100.20", "{\"state\":true," W "}", "\"state\" must be a string" },
	{ NODEK "198.51.100.20", "{" W "}", "missing \"state\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"down\"," W "}", "missing \"before_down\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"down\",\"before_down\":\"down\"," W "}", "\"before_down\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_timeout_s\":-1," W "}", "out of range" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_timeout_s\":4294967296," W "}", "out of range" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_timeout_s\":4294967295," W "}", "out of range" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_timeout_s\":\"5\"," W "}", "must be an integer" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"since\":\"now\"," W "}", "\"since\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"since\":-5," W "}", "\"since\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"mac\":\"02:00:00\"," W "}", "\"mac\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"mac\":7," W "}", "\"mac\" must be a string" },
	{ NODEK "198.51.100.14", "{\"state\":\"active\",\"node_prog\":true," W "}", NULL },
	{ NODEK "198.51.100.15", "{\"state\":\"active\",\"node_prog\":false," W "}", NULL },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"node_prog\":1," W "}", "\"node_prog\" must be true or false" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"node_prog\":\"true\"," W "}", "\"node_prog\" must be true or false" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"node_prog\":null," W "}", "\"node_prog\" must be true or false" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"node-prog\":true," W "}", "unknown field \"node-prog\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\"}", "missing \"weights\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":[]}", "\"weights\" must be an object" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":0}}", "out of range 1..1000" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":1001}}", "out of range 1..1000" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":-1}}", "out of range 1..1000" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":\"x\"}}", "must be an integer" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":50.5}}", "must be an integer" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80\":50}}", "bad VIP in \"weights\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"203.0.113.10:080/tcp\":50}}", "as ebbctl prints it" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"weights\":{\"bogus\":50}}", "bad VIP in \"weights\"" },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"wieghts\":{}," W "}", "unknown field \"wieghts\"" },
	{ NODEK "198.51.100.256", "{\"state\":\"active\"," W "}", "bad node address" },
	{ NODEK "n1", "{\"state\":\"active\"," W "}", "bad node address" },
	{ NODEK "2001:DB8::20", "{\"state\":\"active\"," W "}", "as ebbctl prints it" },
	/* the drain clock: the node's lease */
	{ NODEK "198.51.100.14", "{\"state\":\"draining\",\"since\":1,\"drain_lease\":" LEASE "," W "}", NULL },
	{ NODEK "198.51.100.14", "{\"state\":\"draining\",\"drain_lease\":1," W "}", NULL },
	{ NODEK "198.51.100.20", "{\"state\":\"active\",\"drain_lease\":" LEASE "," W "}", "is for a draining node" },
	{ NODEK "198.51.100.20", "{\"state\":\"down\",\"before_down\":\"draining\",\"drain_lease\":5," W "}", "is for a draining node" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_lease\":0," W "}", "lease id" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_lease\":-7," W "}", "lease id" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_lease\":99999999999999999999," W "}", "lease id" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_lease\":\"" LEASE "\"," W "}", "must be an integer" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_lease\":1.5," W "}", "must be an integer" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_lease\":null," W "}", "must be an integer" },
	{ NODEK "198.51.100.20", "{\"state\":\"draining\",\"drain_leases\":5," W "}", "unknown field" },
	/* the drain clock: its key */
	{ DRAINK "198.51.100.10", "{\"lease\":" LEASE ",\"elapsed_s\":0}", NULL },
	{ DRAINK "2001:db8::20", "{\"lease\":1,\"elapsed_s\":604800}", NULL },
	{ DRAINK "198.51.100.10", "{\"lease\":" LEASE ",\"elapsed_s\":604801}", "out of range" },
	{ DRAINK "198.51.100.10", "{\"lease\":" LEASE ",\"elapsed_s\":-1}", "out of range" },
	{ DRAINK "198.51.100.10", "{\"lease\":" LEASE ",\"elapsed_s\":1.5}", "must be an integer" },
	{ DRAINK "198.51.100.10", "{\"lease\":" LEASE "}", "missing \"elapsed_s\"" },
	{ DRAINK "198.51.100.10", "{\"elapsed_s\":3}", "missing \"lease\"" },
	{ DRAINK "198.51.100.10", "{\"lease\":0,\"elapsed_s\":3}", "lease id" },
	{ DRAINK "198.51.100.10", "{\"lease\":\"5\",\"elapsed_s\":3}", "must be an integer" },
	{ DRAINK "198.51.100.10", "{\"lease\":5,\"elapsed_s\":3,\"since\":1}", "unknown field" },
	{ DRAINK "198.51.100.10", "{\"lease\":5,\"elapsed_s\":", "truncated" },
	{ DRAINK "198.51.100.10", "[5,3]", "not a JSON object" },
	{ DRAINK "198.51.100.010", "{\"lease\":5,\"elapsed_s\":3}", "bad node address" },
	{ DRAINK "2001:DB8::20", "{\"lease\":5,\"elapsed_s\":3}", "as ebbctl prints it" },
	/* hosts */
	{ HOSTK "lb1", "{\"drain\":true}", NULL },
	{ HOSTK "lb1", "{\"drain\":false}", NULL },
	{ HOSTK "lb1", "{\"drain\":\"yes\"}", "\"drain\" must be true or false" },
	{ HOSTK "lb1", "{\"drain\":1}", "\"drain\" must be true or false" },
	{ HOSTK "lb1", "{}", "missing \"drain\"" },
	{ HOSTK "lb1", "{\"drain\":tr", "truncated" },
	{ HOSTK "lb1", "{\"drain\":tru}", "not JSON" },
	{ HOSTK "lb1", "{\"drain\":true,\"x\":1}", "unknown field" },
	{ HOSTK "lb/1", "{\"drain\":true}", "bad host name" },
	/* the slot history's generations (state/history/VIP/LEASE) */
	{ GENK "203.0.113.10:80/tcp/" LEASE, "{\"active\":{\"198.51.100.10\":100},\"draining\":{}}", NULL },
	{ GENK "[2001:db8::10]:443/udp/1", "{\"active\":{},\"draining\":{\"2001:db8::20\":1000}}", NULL },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{\"198.51.100.10\":", "truncated" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{}}", "missing \"draining\"" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{\"198.51.100.10\":0},\"draining\":{}}", "out of range 1..1000" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{\"198.51.100.10\":\"x\"},\"draining\":{}}", "must be an integer" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{\"198.51.100.010\":1},\"draining\":{}}", "not a node address" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{\"198.51.100.10\":1},\"draining\":{\"198.51.100.10\":1}}", "twice" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":[],\"draining\":{}}", "must be an object" },
	{ GENK "203.0.113.10:80/tcp/5", "{\"active\":{},\"draining\":{},\"time\":1}", "unknown field" },
	{ GENK "203.0.113.10:80/tcp/0", "{\"active\":{},\"draining\":{}}", "lease id" },
	{ GENK "203.0.113.10:80/tcp/x5", "{\"active\":{},\"draining\":{}}", "lease id" },
	{ GENK "203.0.113.10:80/tcp/05", "{\"active\":{},\"draining\":{}}", "lease id" },
	{ GENK "203.0.113.10:080/tcp/5", "{\"active\":{},\"draining\":{}}", "as ebbctl prints it" },
	/* anything else under state/ */
	{ "/ebb/" F "/state/node/198.51.100.10", "{\"state\":\"active\"," W "}", "not a key of the desired state" },
	{ "/ebb/" F "/state/serial", "anything", NULL },
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* Each row by its kind's check, through fleet_key_check. */
static void test_checks_table(void)
{
	for (size_t i = 0; i < N_ROWS; i++) {
		char why[FLEET_WHY_MAX] = "";
		int ret = fleet_key_check(F, rows[i].key, rows[i].val, why, sizeof(why));

		if (!rows[i].why) {
			if (!CHECK(ret == 0, "valid: %s = %s", rows[i].key, rows[i].val))
				printf("#   why: %s\n", why);
		} else if (CHECK(ret == -1, "invalid: %s = %s (%s)", rows[i].key, rows[i].val, why)) {
			if (!CHECK(strstr(why, rows[i].why) != NULL, "... the reason says '%s'", rows[i].why))
				printf("#   why: %s\n", why);
		}
	}
}

/* The same values read as one state: a bad key is left out (never read as something else),
 * listed with its key and reason, and still names its object when its name parses. */
static void test_state_parse(void)
{
	for (size_t i = 0; i < N_ROWS; i++) {
		const char *tail = strrchr(rows[i].key, '/');
		struct etcd_kv kvs[2] = {
			/* a generation is held under the lease its name gives */
			{ .key = (char *)rows[i].key, .value = (char *)rows[i].val, .mod_rev = 7,
			  .lease = strstr(rows[i].key, "/history/") ? strtoll(tail + 1, NULL, 10) : 0 },
			{ .key = "/ebb/" F "/state/serial", .value = "{}", .mod_rev = 9 },
		};
		struct etcd_range r = { .revision = 9, .n = 2, .kvs = kvs };
		struct fleet_state s;
		int objs;

		if (!ASSERT_OK(fleet_state_parse(&r, F, &s), "fleet_state_parse"))
			continue;
		objs = s.n_vips + s.n_nodes + s.n_hosts + s.n_drains + s.n_gens;
		if (!rows[i].why) {
			bool other = !strstr(rows[i].key, "/vips/") && !strstr(rows[i].key, "/nodes/") &&
				     !strstr(rows[i].key, "/hosts/") && !strstr(rows[i].key, "/drains/") &&
				     !strstr(rows[i].key, "/history/");

			CHECK(objs == (other ? 0 : 1) && s.n_invalid == 0 && s.rev == 9, "state: %s read", rows[i].key);
		} else {
			/* a generation names no object: it is left out of the rebuild, holding nothing */
			bool named_expected = !strstr(s.n_invalid ? s.invalid[0].why : "", "in the key") &&
					      !strstr(rows[i].why, "not a key") && !strstr(rows[i].key, "/history/");

			CHECK(objs == 0, "state: %s = %s left out, not read with defaults", rows[i].key, rows[i].val);
			if (CHECK(s.n_invalid == 1, "... listed as invalid") && s.invalid) {
				CHECK(!strcmp(s.invalid[0].key, rows[i].key) && s.invalid[0].mod_rev == 7 &&
					      strstr(s.invalid[0].why, rows[i].why),
				      "... with its key, revision and reason (%s)", s.invalid[0].why);
				CHECK(s.invalid[0].named == named_expected, "... %s its object",
				      named_expected ? "still names" : "names no");
			}
			CHECK(s.rev == 9, "... the rest of the state is read (serial)");
		}
		fleet_state_free(&s);
	}
}

/* A generation held under no lease, or another than its name gives, would outlive its time. */
static void test_gen_lease(void)
{
	for (int64_t held = 0; held < 2; held++) {
		struct etcd_kv kvs[1] = { { .key = GENK "203.0.113.10:80/tcp/5",
					    .value = "{\"active\":{\"198.51.100.10\":100},\"draining\":{}}",
					    .mod_rev = 7, .lease = held ? 6 : 0 } };
		struct etcd_range r = { .revision = 9, .n = 1, .kvs = kvs };
		struct fleet_state s;

		if (!ASSERT_OK(fleet_state_parse(&r, F, &s), "generation lease: parse"))
			continue;
		CHECK(s.n_gens == 0 && s.n_invalid == 1 && strstr(s.invalid[0].why, "not held under the lease"),
		      "a generation held under %s is invalid (%s)", held ? "another lease" : "no lease",
		      s.n_invalid ? s.invalid[0].why : "");
		fleet_state_free(&s);
	}
}

/* Good and bad keys side by side: the good ones are all read. */
static void test_mixed(void)
{
	struct etcd_kv kvs[] = {
		{ .key = VIPK "203.0.113.10:80/tcp", .value = "{\"fwd\":\"dsr\",", .mod_rev = 3 },
		{ .key = VIPK "203.0.113.11:80/tcp", .value = GOOD_VIP, .mod_rev = 4 },
		{ .key = NODEK "198.51.100.10", .value = "{\"state\":\"active\",\"weights\":{", .mod_rev = 5 },
		{ .key = NODEK "198.51.100.11", .value = "{\"state\":\"inactive\",\"weights\":{\"203.0.113.11:80/tcp\":7}}", .mod_rev = 6 },
		{ .key = NODEK "198.51.100.12", .value = "{\"state\":\"bogus\",\"weights\":{}}", .mod_rev = 7 },
		{ .key = "/ebb/" F "/leader", .value = "lb1", .mod_rev = 8 },
		{ .key = "/ebb/" F "/hosts/lb1", .value = "{\"applied\":", .mod_rev = 8 },
		{ .key = "/ebb/" F "/state/serial", .value = "{}", .mod_rev = 9 },
	};
	struct etcd_range r = { .revision = 9, .n = sizeof(kvs) / sizeof(kvs[0]), .kvs = kvs };
	struct ebb_vip_key k;
	struct ebb_addr a;
	struct ebb_err err;
	struct fleet_state s;

	if (!ASSERT_OK(fleet_state_parse(&r, F, &s), "mixed: parse"))
		return;
	ASSERT_EQ(s.n_vips, 1, "mixed: the good VIP read, the truncated one left out");
	ASSERT_EQ(s.n_nodes, 1, "mixed: the good node read, the truncated and the bogus one left out");
	ASSERT_EQ(s.n_invalid, 3, "mixed: 3 keys invalid (reports and the leader are not the state)");
	ebb_parse_vip("203.0.113.10:80/tcp", &k, &err);
	ebb_parse_addr("198.51.100.10", &a, &err);
	CHECK(s.n_invalid == 3 && s.invalid[0].kind == FLEET_KEY_VIP && s.invalid[0].named &&
		      !memcmp(&s.invalid[0].vip, &k, sizeof(k)),
	      "mixed: the truncated VIP key still names 203.0.113.10:80/tcp");
	CHECK(s.n_invalid == 3 && s.invalid[1].kind == FLEET_KEY_NODE && s.invalid[1].named &&
		      ebb_addr_eq(s.invalid[1].addr.a, a.a, a.family),
	      "mixed: the truncated node key still names 198.51.100.10");
	CHECK(s.n_nodes == 1 && s.nodes[0].state == EBB_NODE_INACTIVE && s.nodes[0].w[0].weight == 7,
	      "mixed: the good node as written");
	fleet_state_free(&s);
}

/* What the writers put passes the check they run before putting it. */
static void test_writers(void)
{
	struct fleet_vip v = { .o = { .fwd = EBB_FWD_IPIP, .tcp_idle_s = 1, .udp_idle_s = 2, .fin_s = 3,
				      .drain_timeout_s = 604800, .encap_src4 = 0x0100000a,
				      .table_size = 2039 } };
	struct fleet_node n = { .state = EBB_NODE_DOWN, .before_down = EBB_NODE_DRAINING, .have_mac = true,
				.mac = { 2, 0, 0, 0, 0, 1 }, .drain_timeout_s = 60, .since = 1765000000.25, .n_w = 1 };
	struct fleet_node nd = { .state = EBB_NODE_DRAINING, .drain_timeout_s = 60, .drain_lease = 7587899387296034567LL };
	struct fleet_vip v2;
	struct fleet_node n2;
	struct ebb_err err;
	char why[FLEET_WHY_MAX] = "";
	json_object *o;

	ebb_parse_vip("203.0.113.10:80/tcp", &v.key, &err);
	n.w[0].vip = v.key;
	n.w[0].weight = 1000;
	o = fleet_vip_json(&v);
	if (!CHECK(!fleet_vip_check("203.0.113.10:80/tcp", json_object_to_json_string(o), &v2, why, sizeof(why)),
		   "fleet_vip_json's output passes fleet_vip_check"))
		printf("#   why: %s\n", why);
	CHECK(!memcmp(&v.o, &v2.o, sizeof(v.o)), "... and reads back the same");
	json_object_put(o);
	/* 65537, what an older writer's VIP has, is written as the field's absence: an older
	 * reader (which refuses unknown fields) keeps reading it */
	v.o.table_size = EBB_RING_SIZE;
	o = fleet_vip_json(&v);
	CHECK(!strstr(json_object_to_json_string(o), "table_size"),
	      "a VIP of table size 65537 is written without \"table_size\": %s", json_object_to_json_string(o));
	CHECK(!fleet_vip_check("203.0.113.10:80/tcp", json_object_to_json_string(o), &v2, why, sizeof(why)) &&
		      v2.o.table_size == EBB_RING_SIZE,
	      "... and read back as table size 65537");
	json_object_put(o);
	o = fleet_node_json(&n);
	if (!CHECK(!fleet_node_check("198.51.100.10", json_object_to_json_string(o), &n2, why, sizeof(why)),
		   "fleet_node_json's output passes fleet_node_check"))
		printf("#   why: %s\n", why);
	CHECK(n2.state == n.state && n2.before_down == n.before_down && n2.drain_timeout_s == 60 &&
		      n2.have_mac && n2.n_w == 1 && n2.w[0].weight == 1000 && !n2.drain_lease && !n2.node_prog,
	      "... and reads back the same");
	json_object_put(o);
	/* node_prog: written when set, read back; a key without it is a node without the program */
	n.node_prog = true;
	o = fleet_node_json(&n);
	CHECK(strstr(json_object_to_json_string(o), "\"node_prog\": true") ||
		      strstr(json_object_to_json_string(o), "\"node_prog\":true"),
	      "fleet_node_json writes \"node_prog\": true for a node that runs it");
	if (!CHECK(!fleet_node_check("198.51.100.10", json_object_to_json_string(o), &n2, why, sizeof(why)),
		   "... which passes fleet_node_check"))
		printf("#   why: %s\n", why);
	CHECK(n2.node_prog, "... and reads back node_prog true");
	json_object_put(o);
	CHECK(!fleet_node_check("198.51.100.10", "{\"state\":\"active\",\"node_prog\":false,\"weights\":{}}", &n2,
				why, sizeof(why)) && !n2.node_prog,
	      "node_prog false reads back false");
	o = fleet_node_json(&nd);
	if (!CHECK(!fleet_node_check("198.51.100.10", json_object_to_json_string(o), &n2, why, sizeof(why)),
		   "a draining node with its drain_lease passes fleet_node_check"))
		printf("#   why: %s\n", why);
	CHECK(n2.drain_lease == 7587899387296034567LL, "... and its 63-bit lease id reads back exact");
	json_object_put(o);
}

/* A drain key is the node's clock only under the lease the node names, as etcd holds it. */
static void test_drain_find(void)
{
	struct etcd_kv kvs[] = {
		{ .key = NODEK "198.51.100.10", .value = "{\"state\":\"draining\",\"drain_lease\":41," W "}", .mod_rev = 5 },
		{ .key = DRAINK "198.51.100.10", .value = "{\"lease\":41,\"elapsed_s\":12}", .mod_rev = 5, .lease = 41 },
		/* a key whose value names the node's lease but that etcd holds under none */
		{ .key = NODEK "198.51.100.11", .value = "{\"state\":\"draining\",\"drain_lease\":42," W "}", .mod_rev = 6 },
		{ .key = DRAINK "198.51.100.11", .value = "{\"lease\":42,\"elapsed_s\":0}", .mod_rev = 6 },
		/* an older drain's key: another lease than the node's */
		{ .key = NODEK "198.51.100.12", .value = "{\"state\":\"draining\",\"drain_lease\":44," W "}", .mod_rev = 7 },
		{ .key = DRAINK "198.51.100.12", .value = "{\"lease\":43,\"elapsed_s\":0}", .mod_rev = 3, .lease = 43 },
		{ .key = "/ebb/" F "/state/serial", .value = "{}", .mod_rev = 9 },
	};
	struct etcd_range r = { .revision = 9, .n = sizeof(kvs) / sizeof(kvs[0]), .kvs = kvs };
	const struct fleet_drain *d;
	struct fleet_state s;

	if (!ASSERT_OK(fleet_state_parse(&r, F, &s), "drains: parse"))
		return;
	ASSERT_EQ(s.n_drains, 3, "drains: 3 drain keys read");
	ASSERT_EQ(s.n_invalid, 0, "drains: none invalid");
	d = s.n_nodes == 3 ? fleet_drain_find(&s, &s.nodes[0]) : NULL;
	CHECK(d && d->lease == 41 && d->kv_lease == 41 && d->elapsed_s == 12,
	      "drains: 198.51.100.10's clock is its key under lease 41, 12 s old at the grant");
	CHECK(s.n_nodes == 3 && !fleet_drain_find(&s, &s.nodes[1]),
	      "drains: a key etcd holds under no lease is no clock");
	CHECK(s.n_nodes == 3 && !fleet_drain_find(&s, &s.nodes[2]),
	      "drains: an older drain's key (another lease) is not this drain's clock");
	CHECK(s.n_nodes == 3 && fleet_node_drain_timeout(&s, &s.nodes[0]) == EBB_DEFAULT_DRAIN_TIMEOUT_S,
	      "drains: a node of no known VIP times out at the default");
	fleet_state_free(&s);
}

/* The timeout a drain's lease is granted for, and a re-issued drain's age without etcd: a node
 * that does not drain has none, a drain from before drain clocks has its since's. */
static void test_drain_timeout_age(void)
{
	struct etcd_kv kvs[] = {
		{ .key = VIPK "203.0.113.10:80/tcp", .value = "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":120}", .mod_rev = 2 },
		{ .key = VIPK "203.0.113.11:80/tcp", .value = "{\"fwd\":\"dsr\",\"tcp_idle_s\":900,\"udp_idle_s\":300,\"fin_s\":10,\"drain_timeout_s\":45}", .mod_rev = 2 },
		{ .key = NODEK "198.51.100.10", .value = "{\"state\":\"active\",\"weights\":{\"203.0.113.10:80/tcp\":1,\"203.0.113.11:80/tcp\":1}}", .mod_rev = 3 },
		{ .key = NODEK "198.51.100.11", .value = "{\"state\":\"draining\",\"drain_timeout_s\":7,\"weights\":{\"203.0.113.10:80/tcp\":1}}", .mod_rev = 3 },
		{ .key = "/ebb/" F "/state/serial", .value = "{}", .mod_rev = 9 },
	};
	struct etcd_range r = { .revision = 9, .n = sizeof(kvs) / sizeof(kvs[0]), .kvs = kvs };
	struct fleet_state s;
	__u32 age = 99;

	if (!ASSERT_OK(fleet_state_parse(&r, F, &s), "timeouts: parse") || !CHECK(s.n_nodes == 2, "timeouts: 2 nodes"))
		return;
	ASSERT_EQ(fleet_node_drain_timeout(&s, &s.nodes[0]), 120, "timeouts: the longest of the node's VIPs'");
	ASSERT_EQ(fleet_node_drain_timeout(&s, &s.nodes[1]), 7, "timeouts: the node's own first");
	CHECK(!fleet_drain_age(NULL, &s, &s.nodes[0], &age) && age == 0, "age: a node that does not drain: 0 (%u)", age);
	s.nodes[1].since = fleet_wall() - 42;
	CHECK(!fleet_drain_age(NULL, &s, &s.nodes[1], &age) && age >= 41 && age <= 43,
	      "age: a drain without drain_lease: its since's, read once with this clock (%u s for 42)", age);
	s.nodes[1].since = fleet_wall() + 600;
	CHECK(!fleet_drain_age(NULL, &s, &s.nodes[1], &age) && age == 0, "age: a since in the future: 0 (%u)", age);
	fleet_state_free(&s);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_checks_table();
	test_state_parse();
	test_gen_lease();
	test_mixed();
	test_writers();
	test_drain_find();
	test_drain_timeout_age();
	return test_summary("fleet_schema");
}
