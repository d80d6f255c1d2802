// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbd [--config FILE] [--bpffs DIR] [-v]: the agent, in the foreground.
 *
 * One thread runs everything off one poll() loop: a tick every drain-check period (state read,
 * flow walk within its CPU budget, drain completion), a cycle every interval (rates, probes,
 * scaling), health checks and probes as non-blocking sockets and child processes, signals via
 * signalfd. Nothing in the loop waits for the network or for a child. The metrics endpoint has
 * its own thread and only copies a page the loop renders.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <bpf/libbpf.h>

#include "ebbd.h"
#include "truth.h"

#define MAX_POLL 512

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own messages only with -vv: ebbd reports its errors as log events. */
	(void)level;
	return libbpf_verbose ? vfprintf(stderr, fmt, ap) : 0;
}

static int usage(FILE *f)
{
	fprintf(f, "Usage: ebbd [--config FILE] [--bpffs DIR] [-v]    run the agent (foreground)\n"
		   "       ebbd --once [--config FILE] [--bpffs DIR]  one measurement, as JSON on stdout\n"
		   "       ebbd --check FILE                          check a configuration file\n"
		   "       ebbd --version\n"
		   "  -v: debug events (every cycle, every check); -vv: libbpf's messages too\n");
	return f == stderr ? 1 : 0;
}

static void reload(struct agent *a)
{
	struct config fresh;

	config_defaults(&fresh);
	if (config_load(a->cfg_path, &fresh)) {
		config_free(&fresh);
		log_msg(LOG_ERROR, "reload_failed", "%s has errors (see above); keeping the running configuration",
			a->cfg_path);
		return;
	}
	/* bpffs, the metrics address and the fleet block are taken at start only. */
	{
		struct fleet_cfg keep = a->cfg.fleet, dropped = fresh.fleet;

		a->cfg.fleet = dropped;
		fresh.fleet = keep;
	}
	config_free(&a->cfg);
	a->cfg = fresh;
	scale_reset(a);
	health_reset(a);
	log_msg(LOG_INFO, "reloaded", "%s: %d pool(s)", a->cfg_path, a->cfg.n_pools);
}

static void cycle_log(const struct agent *a)
{
	json_object *ev = log_new(LOG_DEBUG, "cycle"), *nodes = json_object_new_object();

	json_add_double(ev, "cycle_ms", a->cycle_ms);
	json_add_double(ev, "walk_ms", a->census.pass_ms);
	json_add_int(ev, "flows_walked", a->census.walked);
	json_add_int(ev, "flows_live", a->census.live_total);
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];
		json_object *o;

		if (!n->used)
			continue;
		o = json_object_new_object();
		json_add_str(o, "state", ebb_state_name(n->entry.state));
		json_add_int(o, "flows", n->census.flows);
		if (n->census.have_rates) {
			json_add_double(o, "new_flows_s", n->census.new_flows_s);
			json_add_double(o, "packets_s", n->census.packets_s);
			json_add_double(o, "bytes_s", n->census.bytes_s);
		}
		if (n->probe.load_known)
			json_add_double(o, "load", n->probe.load);
		json_object_object_add(nodes, n->name, o);
	}
	json_object_object_add(ev, "nodes", nodes);
	log_emit(ev);
}

#define HISTORY_SWEEP_NS (30 * NS_PER_S)

static int run(struct agent *a)
{
	__u64 tick_ns = (__u64)(a->cfg.drain_check * NS_PER_S), next_tick = 0, next_cycle = 0;
	__u64 last_sweep = 0;
	struct pollfd pfd[MAX_POLL];
	sigset_t sigs;
	int sfd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	/* Blocked before the metrics thread starts, so that it inherits the mask. */
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "Error: signalfd: %s\n", strerror(errno));
		return 1;
	}
	scale_reset(a);
	if (metrics_start(a->cfg.metrics ? a->cfg.metrics : ""))
		return 1;
	/* after the signal mask: the fleet thread inherits it */
	if (fleet_start(a))
		return 1;
	{
		json_object *ev = log_new(LOG_INFO, "start");

		json_add_str(ev, "version", EBBD_VERSION);
		json_add_str(ev, "bpffs", a->bpffs);
		json_add_str(ev, "config", a->cfg_path);
		json_add_int(ev, "pools", a->cfg.n_pools);
		json_add_double(ev, "interval_s", a->cfg.interval);
		json_add_double(ev, "drain_check_s", a->cfg.drain_check);
		json_add_int(ev, "pid", getpid());
		log_emit(ev);
	}

	while (!a->stopping || proc_running()) {
		__u64 now = ebb_now_ns(), wake;
		struct signalfd_siginfo si;
		int n = 1, nn, np, timeout_ms;

		if (!a->stopping && now >= next_tick) {
			bool cycle = now >= next_cycle;

			next_tick = next_tick && now - next_tick < tick_ns ? next_tick + tick_ns : now + tick_ns;
			/* first: the heartbeat says ebbd ticks, whatever the state's reading gives */
			talk_tick(a, now, false);
			if (!state_refresh(a)) {
				measure_tick(a, now);
				/* before the drain decision, which reads what it took in */
				truth_tick(a, now);
				drain_tick(a, ebb_now_ns());
				health_tick(a, now);
				if (cycle) {
					static __u64 flows[EBB_MAX_NODES];

					measure_counters(a, now);
					probe_cycle(a);
					/* A fleet scales on fleet-wide flows: its leader decides, the other
					 * hosts' transitions are refused (fleet_transition), but each shows
					 * the same pool figures in its metrics. */
					if (fleet_enabled())
						fleet_flow_sums(a, flows);
					else
						measure_flows(a, flows);
					scale_cycle(a, flows, ebb_now_ns());
					/* Expired slot history goes, and owners that own their
					 * slot again. A walk of the whole map, so every 30 s at
					 * most: the datapath skips an expired owner by itself,
					 * so this only frees memory. Under the writers' lock, or
					 * later if a writer holds it. */
					if (now - last_sweep >= HISTORY_SWEEP_NS && !ebb_trylock(&a->e)) {
						ebb_history_sweep(&a->e, ebb_now_ns());
						ebb_unlock(&a->e);
						last_sweep = now;
					}
					a->cycle_ms = (ebb_now_ns() - now) / 1e6;
					if (log_enabled(LOG_DEBUG))
						cycle_log(a);
				}
			}
			fleet_tick(a, ebb_now_ns());
			if (cycle)
				next_cycle = now + (__u64)(a->cfg.interval * NS_PER_S);
			metrics_render(a, ebb_now_ns());
		}

		wake = a->stopping ? now + NS_PER_S : next_tick;
		if (net_next_deadline() && net_next_deadline() < wake)
			wake = net_next_deadline();
		if (proc_next_deadline() && proc_next_deadline() < wake)
			wake = proc_next_deadline();
		timeout_ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;

		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		nn = net_pollfds(pfd + n, MAX_POLL - n);
		np = proc_pollfds(pfd + n + nn, MAX_POLL - n - nn);
		if (poll(pfd, n + nn + np, timeout_ms) < 0 && errno != EINTR) {
			log_msg(LOG_ERROR, "poll", "%s", strerror(errno));
			return 1;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD) {
				proc_reap();
			} else if (si.ssi_signo == SIGHUP) {
				if (a->cfg_path)
					reload(a);
			} else if (!a->stopping) {
				/* Stop deciding now; hooks already running get their timeout to finish. */
				a->stopping = true;
				log_msg(LOG_INFO, "stopping", "signal %d; %d child process(es) to wait for",
					(int)si.ssi_signo, proc_running());
			}
		}
		net_events(pfd + n, nn);
		proc_events(pfd + n + nn, np);
		now = ebb_now_ns();
		net_timeouts(now);
		proc_timeouts(now);
	}
	fleet_stop();
	metrics_stop();
	talk_tick(a, ebb_now_ns(), true);
	log_msg(LOG_INFO, "stop", "clean exit");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' }, { "bpffs", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },	    { "once", no_argument, NULL, 'O' },
		{ "check", required_argument, NULL, 'K' },  { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },	    { 0 },
	};
	static struct agent agent; /* big (one entry per node id): not on the stack */
	struct agent *a = &agent;
	const char *bpffs = NULL, *check = NULL;
	bool once = false;
	int opt, verbose = 0, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) >= 0) {
		switch (opt) {
		case 'c':
			a->cfg_path = optarg;
			break;
		case 'B':
			if (optarg[0] != '/') {
				fprintf(stderr, "Error: --bpffs needs an absolute directory\n");
				return 1;
			}
			bpffs = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'O':
			once = true;
			break;
		case 'K':
			check = optarg;
			break;
		case 'V':
			printf("ebbd v%s (map layout %d, libbpf %s)\n", EBBD_VERSION, EBB_MAP_LAYOUT_VERSION,
			       libbpf_version_string());
			return 0;
		case 'h':
			return usage(stdout);
		default:
			fprintf(stderr, "Error: %s '%s'\n", optopt && strchr("cBK", optopt) ?
					"missing value after" : "unknown option", argv[optind - 1]);
			return usage(stderr);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected '%s'\n", argv[optind]);
		return usage(stderr);
	}
	log_set_level(LOG_INFO + verbose);
	libbpf_verbose = verbose > 1;
	libbpf_set_print(libbpf_print);
	signal(SIGPIPE, SIG_IGN);
	{
		/* As many descriptors as we may have: the metrics endpoint is capped well below. */
		struct rlimit rl;

		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	config_defaults(&a->cfg);
	if (check) {
		if (config_load(check, &a->cfg) || config_check_host(check, &a->cfg, true))
			return 1;
		printf("%s: OK (%d pool%s", check, a->cfg.n_pools, a->cfg.n_pools == 1 ? "" : "s");
		if (a->cfg.fleet.enabled)
			printf("; fleet \"%s\", host \"%s\", %d etcd endpoint%s", a->cfg.fleet.name,
			       a->cfg.fleet.host, a->cfg.fleet.n_etcd, a->cfg.fleet.n_etcd == 1 ? "" : "s");
		printf(")\n");
		return 0;
	}
	/* --once serves no metrics: only the daemon needs the address */
	if (a->cfg_path && (config_load(a->cfg_path, &a->cfg) ||
			    (!once && config_check_host(a->cfg_path, &a->cfg, false))))
		return 1;
	snprintf(a->bpffs, sizeof(a->bpffs), "%s",
		 bpffs ? bpffs : a->cfg.bpffs ? a->cfg.bpffs : EBB_DEFAULT_BPFFS);

	if (once) {
		struct ebb_err err = {};

		/* Say why plainly: this is a command, not the daemon waiting for state to appear. */
		if (ebb_open(&a->e, a->bpffs, &err)) {
			fprintf(stderr, "Error: %s\n", err.msg);
			return 1;
		}
		ebb_close(&a->e);
		log_set_level(LOG_WARN);
		ret = state_refresh(a) || measure_once(a) ? 1 : 0;
	} else {
		ret = run(a);
	}
	state_close(a);
	config_free(&a->cfg);
	return ret;
}
