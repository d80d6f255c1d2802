/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What tests/unit/bpf/ft_stress.bpf.c counts, read by tests/unit/test_ft_concurrency.c. */
#ifndef EBB_TEST_FT_STRESS_H
#define EBB_TEST_FT_STRESS_H

struct stress_stats {
	__u64 checked; /* hits whose node was checked */
	__u64 wrong; /* ... naming another flow's node */
	__u64 pinned, evicted, lost; /* ebb_ft_pin's outcomes (lost: another CPU changed the way) */
	__u64 cleared;
};

/* What syn_stress counts (syn_recent's cells, include/ebb.h). */
struct syn_stress_stats {
	__u64 noted; /* recorded by ebb_syn_note */
	__u64 settled; /* cleared by ebb_syn_settle */
	__u64 gave_up; /* its cell changed under every try */
	__u64 checked; /* a flow's record checked against what its CPU knows of it */
	__u64 lost; /* ... recorded, and not found */
	__u64 ghost; /* ... cleared, and found */
};

#endif
