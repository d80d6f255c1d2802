// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What ebbctl and ebbd tell each other beside the maps (libebb_agent.h): ebbd's heartbeat, so
 * that ebbctl can warn when nothing will act on a change, and ebbctl's record of each change,
 * so that ebbd can log who made it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb_agent.h"
#include "internal.h"

/* An ebbd whose last tick is older than this is not acting on anything: 5 s of slack for a
 * loaded machine, on top of a few of its ticks. */
#define BEAT_SLACK_NS (5 * 1000000000ULL)

static int pin_open(const char *bpffs, const char *name, enum bpf_map_type type, __u32 key_size,
		    __u32 value_size, __u32 max, bool create)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	return ebb_map_pin_or_get(path, type, name, key_size, value_size, max, create);
}

int ebb_beat_write(const char *bpffs, const struct ebb_agent_beat *b)
{
	int fd = pin_open(bpffs, EBB_BEAT_PIN, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(*b), 1, true);
	__u32 zero = 0;
	int ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(fd, &zero, b, BPF_ANY))
		ret = -errno;
	close(fd);
	return ret;
}

int ebb_beat_read(const char *bpffs, struct ebb_agent_beat *b)
{
	int fd = pin_open(bpffs, EBB_BEAT_PIN, BPF_MAP_TYPE_ARRAY, 0, 0, 0, false);
	__u32 zero = 0;
	int ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, b))
		ret = -errno;
	else if (!b->at_ns)
		ret = -ENOENT;
	close(fd);
	return ret;
}

bool ebb_agent_running(const char *bpffs, char *why, size_t len)
{
	struct ebb_agent_beat b;
	__u64 now = ebb_now_ns(), age;

	if (ebb_beat_read(bpffs, &b)) {
		snprintf(why, len, "no ebbd has run on %s", bpffs);
		return false;
	}
	age = now > b.at_ns ? now - b.at_ns : 0;
	if (b.stopped) {
		snprintf(why, len, "ebbd (pid %u) stopped %.0f s ago", b.pid, age / 1e9);
		return false;
	}
	if (age > BEAT_SLACK_NS + 3ULL * b.tick_ms * 1000000ULL) {
		snprintf(why, len, "ebbd (pid %u) last ticked %.0f s ago: killed or hung", b.pid, age / 1e9);
		return false;
	}
	snprintf(why, len, "ebbd (pid %u) is running", b.pid);
	return true;
}

int ebb_changes_open(const char *bpffs, bool create)
{
	return pin_open(bpffs, EBB_CHANGES_PIN, BPF_MAP_TYPE_QUEUE, 0, sizeof(struct ebb_change_rec),
			EBB_CHANGES_MAX, create);
}

int ebb_change_push(const char *bpffs, const struct ebb_change_rec *r)
{
	int fd = ebb_changes_open(bpffs, true), ret = 0;

	if (fd < 0)
		return fd;
	/* BPF_EXIST: a full queue drops its oldest record rather than this one */
	if (bpf_map_update_elem(fd, NULL, r, BPF_EXIST))
		ret = -errno;
	close(fd);
	return ret;
}
