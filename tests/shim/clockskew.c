// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * LD_PRELOAD=.output/libclockskew.so EBB_CLOCK_SKEW_S=-600 CMD: CMD's wall clock as ebb, date and
 * python read it (clock_gettime of CLOCK_REALTIME and its coarse variant, gettimeofday) runs
 * EBB_CLOCK_SKEW_S seconds off (a float, may be negative); monotonic clocks are left alone. The
 * tests use it to play a host whose clock is wrong (tests/integration/test_fleet_drain_clock.sh)
 * without touching the machine's clock.
 *
 * time() is left alone on purpose: OpenSSL checks certificates' validity with it, and the fleet
 * lab's certificates are minutes old, so a clock 600 s slow would only make etcd's TLS refuse
 * the writer (a real host's certificates are older than its clock error).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long skew_ns(void)
{
	const char *s = getenv("EBB_CLOCK_SKEW_S");

	return s ? (long long)(strtod(s, NULL) * 1e9) : 0;
}

static void add(struct timespec *ts, long long ns)
{
	long long t = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + ns;

	ts->tv_sec = t / 1000000000LL;
	ts->tv_nsec = t % 1000000000LL;
	if (ts->tv_nsec < 0) {
		ts->tv_nsec += 1000000000LL;
		ts->tv_sec--;
	}
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int ret;

	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	ret = real(id, ts);
	if (!ret && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		add(ts, skew_ns());
	return ret;
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return -1;
	/* glibc declares tv nonnull */
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}
