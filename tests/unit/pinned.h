/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The balancer's maps pinned under a bpffs directory of the test run's own and opened with
 * ebb_open as ebbctl opens them: for the unit tests of libebb's state operations (the slot
 * history's). Include after test.h.
 */
#ifndef EBB_TEST_PINNED_H
#define EBB_TEST_PINNED_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "test.h"
#include "balancer.skel.h"

struct pinned {
	char dir[256];
	struct balancer_bpf *skel;
	struct ebb e;
	bool open;
};

static inline int pinned_libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

/* Under /sys/fs/bpf/ebb-test-SUITE-PID-TAG; history_size: the slot history's entries (0: the
 * build's). */
static inline bool pinned_setup(struct pinned *p, const char *suite, const char *tag, __u32 history_size)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct ebb_err err = {};

	snprintf(p->dir, sizeof(p->dir), "/sys/fs/bpf/ebb-test-%s-%d-%s", suite, (int)getpid(), tag);
	if (!ASSERT_OK(ebb_ensure_bpffs(p->dir, &err), "setup: a bpffs directory of our own")) {
		printf("#   %s\n", err.msg);
		return false;
	}
	opts.pin_root_path = p->dir;
	p->skel = balancer_bpf__open_opts(&opts);
	if (!ASSERT_TRUE(p->skel != NULL, "setup: open the balancer"))
		return false;
	if (history_size)
		bpf_map__set_max_entries(p->skel->maps.slot_history, history_size);
	if (!ASSERT_OK(balancer_bpf__load(p->skel), "setup: load it, its maps pinned"))
		return false;
	if (!ASSERT_OK(ebb_open(&p->e, p->dir, &err), "setup: ebb_open on the pins, as ebbctl does")) {
		printf("#   %s\n", err.msg);
		return false;
	}
	p->open = true;
	return true;
}

static inline void pinned_teardown(struct pinned *p)
{
	if (p->open)
		ebb_close(&p->e);
	if (p->skel) {
		bpf_object__unpin_maps(p->skel->obj, NULL);
		balancer_bpf__destroy(p->skel);
	}
	if (p->dir[0])
		rmdir(p->dir);
}

/* A VIP or a node address the test spells right (abort otherwise: a typo in the test). */
static inline struct ebb_vip_key vkey(const char *s)
{
	struct ebb_vip_key k;

	if (ebb_parse_vip(s, &k, NULL))
		abort();
	return k;
}

static inline struct ebb_addr addr(const char *s)
{
	struct ebb_addr a;

	if (ebb_parse_addr(s, &a, NULL))
		abort();
	return a;
}

#endif
