// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl prog: attach, detach, show. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

struct prog_attach_args {
	const char *dev;
	int generic;
	__u32 flows;
};

static const struct ctl_choice modes[] = { { "native", 0 }, { "generic", 1 }, { NULL, 0 } };

#define DEV_ARG(type)                                                                        \
	{ .name = "dev", .metavar = "IFNAME", .kind = CTL_WORD, .flags = CTL_REQUIRED,        \
	  .offset = offsetof(type, dev), .missing = "device name" }

static const struct ctl_arg prog_attach_spec[] = {
	DEV_ARG(struct prog_attach_args),
	{ .name = "mode", .kind = CTL_CHOICE, .choices = modes,
	  .offset = offsetof(struct prog_attach_args, generic), .missing = "'native' or 'generic'" },
	{ .name = "flows", .metavar = "N", .kind = CTL_U32, .min = 1024, .max = 1u << 26,
	  .offset = offsetof(struct prog_attach_args, flows), .missing = "a number" },
	{ 0 },
};

static int do_attach(void *args)
{
	struct prog_attach_args *a = args;
	struct ebb_attach_opts o = { .bpffs = bpffs, .ifname = a->dev, .generic = a->generic,
				     .flow_table_size = a->flows };
	struct ebb_err err = {};

	if (batch_file) {
		/* A restore onto a live host: a device ebb runs on already is as the batch wants. */
		struct ebb_link_info links[64];
		int n = ebb_prog_list(bpffs, links, 64);

		for (int i = 0; i < n; i++)
			if (!strcmp(links[i].ifname, o.ifname) &&
			    (!strcmp(links[i].mode, "native") || !strcmp(links[i].mode, "generic")))
				return 0;
	}
	if (ebb_prog_attach(&o, &err))
		return ctl_error("%s", err.msg);
	return ctl_said(NULL, "ebb attached to %s (%s mode); it balances the VIPs' packets arriving there now",
			o.ifname, o.generic ? "generic" : "native");
}

struct prog_detach_args {
	const char *dev;
};

static const struct ctl_arg prog_detach_spec[] = {
	DEV_ARG(struct prog_detach_args),
	{ 0 },
};

static int do_detach(void *args)
{
	struct prog_detach_args *a = args;
	const char *ifname = a->dev;
	struct ebb_err err = {};

	if (ebb_prog_detach(bpffs, ifname, &err))
		return ctl_error("%s", err.msg);
	return ctl_said(NULL, "ebb detached from %s; packets arriving there go to the host's stack now", ifname);
}

struct prog_upgrade_args {
	const char *obj;
};

static const struct ctl_arg prog_upgrade_spec[] = {
	{ .name = "obj", .metavar = "FILE", .kind = CTL_WORD,
	  .offset = offsetof(struct prog_upgrade_args, obj) },
	{ 0 },
};

static int do_upgrade(void *args)
{
	struct prog_upgrade_args *a = args;
	const char *obj_path = a->obj;
	struct ebb_upgrade res;
	struct ebb_err err = {};
	struct ebb e;
	int ret;

	/* Writers hold the lock: no configuration change races the swap. The program is this
	 * host's own business, fleet or not. */
	if (ctl_open_local(&e))
		return -1;
	ret = ebb_prog_upgrade(bpffs, obj_path, &res, &err);
	ebb_close(&e);
	if (ret && res.devices) /* swapped, then something after failed: the new program runs */
		return ctl_error("%s (the new program runs: prog_id %u)", err.msg, res.new_prog_id);
	if (ret)
		return ctl_error("%s", err.msg);
	if (json_output) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "devices", json_object_new_int(res.devices));
		json_object_object_add(o, "old_prog_id", json_object_new_int64(res.old_prog_id[0]));
		json_object_object_add(o, "new_prog_id", json_object_new_int64(res.new_prog_id));
		json_object_object_add(o, "old_layout", json_object_new_int64(res.old_layout));
		json_object_object_add(o, "new_layout", json_object_new_int64(res.new_layout));
		json_object_object_add(o, "migrated", json_object_new_boolean(res.migrated));
		json_object_object_add(o, "maps_copied", json_object_new_int(res.maps_copied));
		json_object_object_add(o, "flows_copied", json_object_new_int64(res.flows_copied));
		json_object_object_add(o, "flows_copied_after_swap",
				       json_object_new_int64(res.flows_after_swap));
		json_object_object_add(o, "flows_checked", json_object_new_int64(res.flows_checked));
		json_object_object_add(o, "flows_missing", json_object_new_int64(res.flows_missing));
		json_object_object_add(o, "flows_other_node",
				       json_object_new_int64(res.flows_other_node));
		json_object_object_add(o, "flows_evicted", json_object_new_int64(res.flows_evicted));
		json_object_object_add(o, "flows_failed", json_object_new_int64(res.flows_failed));
		json_print(o);
	} else if (!quiet && res.migrated) {
		printf("upgraded %d device(s): prog_id %u -> %u, layout %u -> %u, flows copied %llu (+%llu after the swap)\n",
		       res.devices, res.old_prog_id[0], res.new_prog_id, res.old_layout, res.new_layout,
		       (unsigned long long)res.flows_copied, (unsigned long long)res.flows_after_swap);
		/* the migration's own check of the old LRU against the new tables */
		if (res.flows_missing || res.flows_failed)
			fprintf(stderr, "warning: %llu of the old table's %llu flows are not in the new one (%llu evicted by the copy, %llu found no way)\n",
				(unsigned long long)res.flows_missing,
				(unsigned long long)res.flows_checked,
				(unsigned long long)res.flows_evicted,
				(unsigned long long)res.flows_failed);
	} else if (!quiet) {
		printf("upgraded %d device(s): prog_id %u -> %u, maps and flows kept\n", res.devices,
		       res.old_prog_id[0], res.new_prog_id);
	}
	{
		char what[160];

		snprintf(what, sizeof(what), "upgraded %d device(s): prog_id %u -> %u, layout %u -> %u",
			 res.devices, res.old_prog_id[0], res.new_prog_id, res.old_layout, res.new_layout);
		ctl_record(what);
	}
	return 0;
}

struct prog_set_args {
	__u32 flood_rate, mtu, rescue_rate;
};

/* 1320: an IPv6 tunnel still leaves IPv6's minimum of 1280 to the client (RFC 8201). */
static const struct ctl_arg prog_set_spec[] = {
	{ .name = "flood-rate", .metavar = "N", .kind = CTL_U32, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct prog_set_args, flood_rate), .max = 100000000 },
	/* its range is the model's (ebb_desired_settings_check): 0 is off */
	{ .name = "mtu", .metavar = "N", .kind = CTL_U32, .flags = CTL_OR,
	  .offset = offsetof(struct prog_set_args, mtu), .max = 65535,
	  .bad = "mtu must be 0 (off) or 1320..65535, not '%s'" },
	{ .name = "rescue-rate", .metavar = "N", .kind = CTL_U32, .flags = CTL_OR,
	  .offset = offsetof(struct prog_set_args, rescue_rate), .max = 100000000 },
	{ 0 },
};

static int do_set(void *args)
{
	struct prog_set_args *a = args;
	bool mtu = ctl_given("mtu"), rescue = ctl_given("rescue-rate");
	const char *what = mtu ? "mtu" : rescue ? "rescue-rate" : "flood-rate";
	enum ebb_setting which = mtu ? EBB_SETTING_MTU : rescue ? EBB_SETTING_RESCUE_RATE : EBB_SETTING_FLOOD_RATE;
	__u32 value = mtu ? a->mtu : rescue ? a->rescue_rate : a->flood_rate;
	struct ebb_err err = {};
	struct ebb e;

	/* On a fleet host this is refused (ctl_open): every host's datapath must treat a flow
	 * the same way, whichever host ECMP sends it to; the fleet has no such setting yet. */
	if (ctl_open(&e, true))
		return -1;
	if (ctl_close(&e, ebb_settings_set(&e, which, value, &err), &err))
		return -1;
	if (mtu && !value)
		return ctl_said(NULL, "mtu off; the datapath sends no ICMP too big and bounds no rescue from its next packet");
	return ctl_said(NULL, "%s set to %u; the datapath uses it from its next packet", what, value);
}

/* The pinned maps' layout version (meta), 0 when unknown. */
static __u32 read_layout(void)
{
	struct ebb_meta meta = {};
	char path[600];
	__u32 zero = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/meta", bpffs);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(fd, &zero, &meta))
		meta.layout_version = 0;
	close(fd);
	return meta.layout_version;
}

/* Flow-table size and the settings, from the pinned maps; false when there are none. */
static bool read_settings(__u32 *flow_entries, struct ebb_settings *settings)
{
	struct bpf_map_info info = {};
	__u32 zero = 0, len = sizeof(info);
	struct ebb_err err = {};
	bool ok = false;
	struct ebb e;

	if (ebb_open(&e, bpffs, &err))
		return false;
	if (!bpf_map_lookup_elem(e.settings_fd, &zero, settings) &&
	    !bpf_obj_get_info_by_fd(e.flows6_fd >= 0 ? e.flows6_fd : e.flows_fd, &info, &len)) {
		*flow_entries = info.max_entries;
		ok = true;
	}
	ebb_close(&e);
	return ok;
}

/* What the kernel says of a program (bpf_prog_info): its tag (as bpftool prints it) and when it
 * was loaded, in UTC; false when the id is gone. */
static bool prog_facts(__u32 id, char *tag, size_t tag_len, char *loaded, size_t loaded_len)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	struct timespec boot, real;
	time_t at;
	struct tm tm;
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return false;
	}
	close(fd);
	snprintf(tag, tag_len, "%02x%02x%02x%02x%02x%02x%02x%02x", info.tag[0], info.tag[1],
		 info.tag[2], info.tag[3], info.tag[4], info.tag[5], info.tag[6], info.tag[7]);
	/* load_time is CLOCK_BOOTTIME ns; the wall clock is now less the time since */
	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_REALTIME, &real);
	at = real.tv_sec - (time_t)((boot.tv_sec * 1000000000ULL + boot.tv_nsec - info.load_time) /
				    1000000000ULL);
	gmtime_r(&at, &tm);
	strftime(loaded, loaded_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return true;
}

static int do_show(void *args)
{
	struct ebb_link_info links[64];
	struct ebb_settings settings;
	__u32 flow_entries = 0, layout;
	bool have_settings;
	int n;

	(void)args;
	n = ebb_prog_list(bpffs, links, 64);
	have_settings = read_settings(&flow_entries, &settings);
	layout = read_layout();
	if (json_output) {
		json_object *arr = json_object_new_array();

		for (int i = 0; i < n; i++) {
			json_object *o = json_object_new_object();
			char tag[32], loaded[32];

			json_object_object_add(o, "dev", json_object_new_string(links[i].ifname));
			json_object_object_add(o, "ifindex", json_object_new_int(links[i].ifindex));
			json_object_object_add(o, "mode", json_object_new_string(links[i].mode));
			json_object_object_add(o, "prog_id", json_object_new_int64(links[i].prog_id));
			json_object_object_add(o, "link_id", json_object_new_int64(links[i].link_id));
			if (prog_facts(links[i].prog_id, tag, sizeof(tag), loaded, sizeof(loaded))) {
				json_object_object_add(o, "tag", json_object_new_string(tag));
				json_object_object_add(o, "loaded_at", json_object_new_string(loaded));
			}
			/* The maps are shared by every device: the same figures on each entry. */
			if (have_settings) {
				json_object_object_add(o, "flow_table_size",
						       json_object_new_int64(flow_entries));
				json_object_object_add(o, "flood_rate",
						       json_object_new_int64(settings.flood_rate));
				json_object_object_add(o, "mtu", json_object_new_int64(settings.mtu));
				json_object_object_add(o, "rescue_rate",
						       json_object_new_int64(settings.rescue_rate));
			}
			if (layout)
				json_object_object_add(o, "map_layout", json_object_new_int64(layout));
			json_object_array_add(arr, o);
		}
		json_print(arr);
		return 0;
	}
	if (n == 0 && !quiet)
		printf("ebb is not attached to any device (state under %s)\n", bpffs);
	for (int i = 0; i < n; i++) {
		char tag[32] = "?", loaded[32] = "?";

		prog_facts(links[i].prog_id, tag, sizeof(tag), loaded, sizeof(loaded));
		printf("%s: ifindex %d mode %s prog_id %u link_id %u tag %s loaded_at %s\n",
		       links[i].ifname, links[i].ifindex, links[i].mode, links[i].prog_id,
		       links[i].link_id, tag, loaded);
	}
	if (n > 0 && !quiet && have_settings)
		printf("flow table: %u entries; flood guard: %u new flows/s per CPU%s; mtu %u%s; rescues: %u/s per CPU%s\n",
		       flow_entries, settings.flood_rate, settings.flood_rate ? "" : " (off)",
		       settings.mtu, settings.mtu ? "" : " (off)", settings.rescue_rate,
		       settings.rescue_rate ? "" : " (off)");
	if (n > 0 && !quiet && layout)
		printf("map layout: %u (this ebbctl: %d)\n", layout, EBB_MAP_LAYOUT_VERSION);
	return 0;
}

static void prog_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"  flows N: flows the table holds (IPv4: buckets of 8 sized for 84 %% load; IPv6: entries),\n"
		"  fixed when the table is first created.\n"
		"  flood-rate N: new flows per second per CPU beyond which new flows are placed by\n"
		"  hash without a flow-table entry (default %d; 0 turns the guard off).\n"
		"  mtu N: egress MTU for fwd ipip (default: the device's); larger once encapsulated\n"
		"  means an ICMP too-big back to the client.\n"
		"  rescue-rate N: rescues (mid-flow packets sent with their candidates) per second per\n"
		"  CPU; beyond it a packet goes the old way (default %d; 0 turns rescues off).\n",
		EBB_DEFAULT_FLOOD_RATE, EBB_DEFAULT_RESCUE_RATE);
}

static const struct ctl_command prog_commands[] = {
	{ .name = "attach", .run = do_attach, CTL_ARGS(prog_attach_args, prog_attach_spec) },
	{ .name = "detach", .run = do_detach, CTL_ARGS(prog_detach_args, prog_detach_spec) },
	{ .name = "upgrade", .run = do_upgrade, CTL_ARGS(prog_upgrade_args, prog_upgrade_spec) },
	{ .name = "set", .shortest = 2, .run = do_set, CTL_ARGS(prog_set_args, prog_set_spec) },
	{ .name = "show", .alias = "list", .run = do_show },
	{ NULL },
};

const struct ctl_object ctl_prog_object = { "prog", prog_commands, prog_notes };
