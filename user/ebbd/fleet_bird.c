// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The routes this host announces: BIRD's files, and its reload as a child of the main loop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "fleet_shared.h"

/* ---- BIRD ---- */

/*
 * The route files are sized from their worst case, so that no VIP is ever left out: one line
 * per VIP address of the state (at most EBB_MAX_VIPS in all, fleet_state_parse keeps no more),
 * each at most the longest text inet_ntop gives (INET6_ADDRSTRLEN - 1, an IPv4-mapped IPv6
 * address written out in full) with the /128 prefix length.
 */
#define BIRD_LINE_FMT "route %s/%d blackhole;\n"
#define BIRD_LINE_MAX (sizeof("route /128 blackhole;\n") - 1 + INET6_ADDRSTRLEN - 1)
#define BIRD_FILE_MAX (EBB_MAX_VIPS * BIRD_LINE_MAX + 1)

static bool bird_busy, bird_written; /* bird_written: the files say bird_cur4/6 */
static __u64 bird_retry_ns;
static char bird_cur4[BIRD_FILE_MAX], bird_cur6[BIRD_FILE_MAX];

/*
 * A write or a reload failed: logged when the reason changes, and kept (the host's report,
 * so `ebbctl fleet show` on any host, and the metrics) until a write and reload succeed.
 * Called with fleet_sh.mu held.
 */
static void bird_fail(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bird_fail(const char *event, const char *fmt, ...)
{
	char why[sizeof(fleet_sh.routes_err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	bird_written = false; /* write both files and reload again */
	bird_retry_ns = fleet_mono_ns() + NS_PER_S;
	if (!strcmp(why, fleet_sh.routes_err))
		return;
	snprintf(fleet_sh.routes_err, sizeof(fleet_sh.routes_err), "%s", why);
	{
		json_object *ev = log_new(LOG_ERROR, event);

		json_add_str(ev, "error", why);
		json_add_str(ev, "detail", "BGP announces what BIRD had before; retried every second");
		log_emit(ev);
	}
}

static void bird_done(int status, bool timed_out, const char *out, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&fleet_sh.mu);
	bird_busy = false;
	if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status)) {
		/* birdc's first line is its banner; the reason is its last line */
		char *text = strdup(out ? out : ""), *e, *last;

		e = text ? text + strlen(text) : NULL;
		while (e && e > text && (e[-1] == '\n' || e[-1] == ' '))
			*--e = 0;
		last = text ? (strrchr(text, '\n') ? strrchr(text, '\n') + 1 : text) : "";
		bird_fail("fleet_bird_failed", "birdc -s %s configure %s: %s", fleet_sh.cfg.bird_socket,
			  timed_out ? "timed out" : "failed", last[0] ? last : "no output");
		free(text);
		pthread_mutex_unlock(&fleet_sh.mu);
		return;
	}
	if (fleet_sh.routes_err[0]) {
		log_msg(LOG_INFO, "fleet_bird_ok", "BIRD took the route files again (was: %s)", fleet_sh.routes_err);
		fleet_sh.routes_err[0] = 0;
	}
	pthread_mutex_unlock(&fleet_sh.mu);
	log_msg(LOG_DEBUG, "fleet_bird_configured", "%s", out);
}

/* The whole text to a temporary file beside PATH, then renamed over it: BIRD never reads half. */
static int write_file(const char *path, const char *text)
{
	char tmp[700];
	size_t len = strlen(text);
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	errno = 0;
	err = fwrite(text, 1, len, f) != len;
	if (fclose(f) || err || rename(tmp, path)) {
		err = errno ? errno : EIO;
		unlink(tmp);
		errno = err;
		return -1;
	}
	return 0;
}

/* Every VIP address of the state of FAMILY, once, into buf (BIRD_FILE_MAX bytes). */
static int bird_text(char *buf, const struct fleet_state *st, __u8 family)
{
	size_t len = 0;

	buf[0] = 0;
	for (int i = 0; st && i < st->n_vips; i++) {
		const struct ebb_vip_key *k = &st->vips[i].key;
		char addr[INET6_ADDRSTRLEN], line[BIRD_LINE_MAX + 1];
		int n;

		if (k->family != family)
			continue;
		ebb_fmt_addr(k->addr, k->family, addr, sizeof(addr));
		n = snprintf(line, sizeof(line), BIRD_LINE_FMT, addr, family == EBB_FAMILY_V4 ? 32 : 128);
		if (n < 0 || (size_t)n >= sizeof(line) || len + n >= BIRD_FILE_MAX)
			return -1; /* cannot happen (sized above); never a file cut short */
		if (strstr(buf, line)) /* one route per address, whatever its ports */
			continue;
		memcpy(buf + len, line, n + 1);
		len += n;
	}
	return 0;
}

/* Writes the two route files and asks BIRD to reconfigure when what to announce changed. */
void fleet_bird_sync(bool announce, const struct fleet_state *st)
{
	static char v4[BIRD_FILE_MAX], v6[BIRD_FILE_MAX];
	char path[600];
	char *argv[] = { fleet_sh.cfg.birdc, "-s", fleet_sh.cfg.bird_socket, "configure", NULL };
	int ret;

	if (!fleet_sh.cfg.bird_dir)
		return;
	if (bird_text(v4, announce ? st : NULL, EBB_FAMILY_V4) || bird_text(v6, announce ? st : NULL, EBB_FAMILY_V6)) {
		bird_fail("fleet_bird_file", "the route files would exceed %zu bytes", (size_t)BIRD_FILE_MAX);
		return;
	}
	if ((bird_written && !strcmp(v4, bird_cur4) && !strcmp(v6, bird_cur6)) || bird_busy ||
	    fleet_mono_ns() < bird_retry_ns)
		return;
	snprintf(path, sizeof(path), "%s/ebb-vips4.conf", fleet_sh.cfg.bird_dir);
	if (write_file(path, v4)) {
		bird_fail("fleet_bird_file", "cannot write %s (through %s.tmp): %s", path, path, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/ebb-vips6.conf", fleet_sh.cfg.bird_dir);
	if (write_file(path, v6)) {
		bird_fail("fleet_bird_file", "cannot write %s (through %s.tmp): %s", path, path, strerror(errno));
		return;
	}
	memcpy(bird_cur4, v4, sizeof(v4));
	memcpy(bird_cur6, v6, sizeof(v6));
	bird_written = true;
	ret = proc_spawn(argv, NULL, 5, false, bird_done, NULL);
	if (!ret)
		bird_busy = true;
	else
		bird_fail("fleet_bird_failed", "cannot start %s: %s", fleet_sh.cfg.birdc, strerror(-ret));
}
