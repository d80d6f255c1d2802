// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench_flood: a bounded UDP flood from the lab's client, for `make bench`'s end-to-end packets
 * per second. This kernel has no pktgen (lab.md trap 4), so:
 *
 *   live  BPF_PROG_TEST_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) on the client's
 *         eth0: a two-instruction XDP program returns XDP_TX for a prebuilt 64-byte frame, and
 *         the kernel transmits it out of eth0, batch after batch, without a socket. The veth's
 *         peer needs an XDP program for that (lab.md trap 1): bench.sh puts one there.
 *   udp   sendmmsg() on a UDP socket, 64 datagrams a call: the fallback, slower (the client's
 *         whole stack per packet).
 *
 * Either way it sends for SECONDS, cycles over FLOWS source ports (so the flows spread over the
 * nodes) and prints one JSON object: {"mode", "sent", "seconds", "pps"}. Given the id of the
 * LB's XDP program, it also turns on the kernel's BPF run-time statistics while it sends
 * (BPF_ENABLE_STATS: on for as long as this process holds the descriptor, off again when it
 * exits, however it exits) and adds what that program cost per packet in the lab: "prog_ns".
 * Run it inside the client's namespace (nsenter --net); it only ever addresses the lab.
 *
 *   bench_flood live IFNAME DST_MAC SRC_IP DST_IP DPORT SECONDS [FLOWS [PROG_ID]]
 *   bench_flood udp DST_IP DPORT SECONDS [FLOWS [PROG_ID]]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "packets.h"
#include "bench_util.h"

uint16_t test_ports[8];

#define MAX_FLOWS 64
#define BATCH 65536 /* frames per BPF_PROG_TEST_RUN call */
#define PAYLOAD 22 /* 14 + 20 + 8 + 22 = 64 bytes */

static int usage(void)
{
	fprintf(stderr, "usage: bench_flood live IFNAME DST_MAC SRC_IP DST_IP DPORT SECONDS [FLOWS]\n"
			"       bench_flood udp DST_IP DPORT SECONDS [FLOWS]\n");
	return 2;
}

static bool lab_addr(const char *s)
{
	/* documentation ranges only: 198.51.100.0/24, 203.0.113.0/24, 192.0.2.0/24 */
	return !strncmp(s, "198.51.100.", 11) || !strncmp(s, "203.0.113.", 10) ||
	       !strncmp(s, "192.0.2.", 8);
}

/* The LB program's run-time statistics, around the flood. */
static int stats_fd = -1, prog_fd_lb = -1;
static struct bpf_prog_info info0;

static int prog_info(struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(prog_fd_lb, info, &len);
}

static void stats_begin(const char *prog_id)
{
	if (!prog_id)
		return;
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	prog_fd_lb = bpf_prog_get_fd_by_id((__u32)atoi(prog_id));
	if (stats_fd < 0 || prog_fd_lb < 0 || prog_info(&info0)) {
		fprintf(stderr, "bench_flood: no run-time statistics of program %s: %s\n", prog_id,
			strerror(errno));
		prog_fd_lb = -1;
	}
}

static void report(const char *mode, unsigned long long sent, double secs)
{
	struct bpf_prog_info info1;

	printf("{\"mode\": \"%s\", \"sent\": %llu, \"seconds\": %.3f, \"pps\": %.0f", mode, sent,
	       secs, secs > 0 ? sent / secs : 0);
	if (prog_fd_lb >= 0 && !prog_info(&info1) && info1.run_cnt > info0.run_cnt)
		printf(", \"prog_runs\": %llu, \"prog_ns\": %.1f",
		       (unsigned long long)(info1.run_cnt - info0.run_cnt),
		       (double)(info1.run_time_ns - info0.run_time_ns) / (info1.run_cnt - info0.run_cnt));
	printf("}\n");
	if (stats_fd >= 0)
		close(stats_fd);
}

static int get_mac(const char *ifname, __u8 mac[6])
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), ret;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ret = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (ret)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static int flood_live(int argc, char **argv)
{
	const char *ifname = argv[0], *src = argv[2], *dst = argv[3];
	int dport = atoi(argv[4]), flows = argc > 6 ? atoi(argv[6]) : 16, prog_fd, ifindex;
	double secs = atof(argv[5]), t0, t1;
	static __u8 frames[MAX_FLOWS][PKT_MAX];
	size_t len = 0;
	__u8 dmac[6], smac[6];
	unsigned long long sent = 0;
	struct bpf_insn tx[] = { BI_MOV64_IMM(BPF_REG_0, XDP_TX), BI_EXIT() };
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_XDP);

	if (flows < 1 || flows > MAX_FLOWS || secs <= 0 || secs > 30 || dport <= 0 || dport > 65535)
		return usage();
	ifindex = if_nametoindex(ifname);
	if (!ifindex || get_mac(ifname, smac)) {
		fprintf(stderr, "bench_flood: no device %s\n", ifname);
		return 1;
	}
	if (sscanf(argv[1], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
		   &dmac[4], &dmac[5]) != 6)
		return usage();
	for (int i = 0; i < flows; i++) {
		struct pkt_desc d = { .family = 4, .src = src, .dst = dst, .proto = IPPROTO_UDP,
				      .sport = (uint16_t)(20000 + i), .dport = (uint16_t)dport,
				      .payload = PAYLOAD };

		len = build_frame(&d, dmac, smac, frames[i]).len;
	}
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_tx", "Dual BSD/GPL", tx, 2, &po);
	if (prog_fd < 0) {
		fprintf(stderr, "bench_flood: cannot load the XDP_TX program: %s\n", strerror(errno));
		return 1;
	}
	stats_begin(argc > 7 ? argv[7] : NULL);
	t0 = now_s();
	for (int i = 0;; i = (i + 1) % flows) {
		struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = (__u32)ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frames[i], .data_size_in = (__u32)len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = BATCH,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(prog_fd, &o)) {
			fprintf(stderr, "bench_flood: live frames on %s: %s\n", ifname, strerror(errno));
			return 1;
		}
		sent += BATCH;
		if (now_s() - t0 >= secs)
			break;
	}
	t1 = now_s();
	report("live", sent, t1 - t0);
	return 0;
}

static int flood_udp(int argc, char **argv)
{
	const char *dst = argv[0];
	int dport = atoi(argv[1]), flows = argc > 3 ? atoi(argv[3]) : 16, fds[MAX_FLOWS];
	double secs = atof(argv[2]), t0;
	char payload[PAYLOAD] = "ebb bench flood";
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)dport) };
	struct mmsghdr msgs[64];
	struct iovec iov = { payload, sizeof(payload) };
	unsigned long long sent = 0;

	if (flows < 1 || flows > MAX_FLOWS || secs <= 0 || secs > 30 || inet_pton(AF_INET, dst, &to.sin_addr) != 1)
		return usage();
	for (int i = 0; i < flows; i++) {
		struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(20000 + i)) };

		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&from, sizeof(from)) ||
		    connect(fds[i], (struct sockaddr *)&to, sizeof(to))) {
			fprintf(stderr, "bench_flood: socket: %s\n", strerror(errno));
			return 1;
		}
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 64; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	stats_begin(argc > 4 ? argv[4] : NULL);
	t0 = now_s();
	for (int i = 0;; i = (i + 1) % flows) {
		int n = sendmmsg(fds[i], msgs, 64, 0);

		if (n > 0)
			sent += n;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
			break;
		if (now_s() - t0 >= secs)
			break;
	}
	report("udp", sent, now_s() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	libbpf_set_print(NULL);
	if (!strcmp(argv[1], "live") && argc >= 8) {
		if (!lab_addr(argv[4]) || !lab_addr(argv[5]))
			return fprintf(stderr, "bench_flood: lab addresses only\n"), 2;
		return flood_live(argc - 2, argv + 2);
	}
	if (!strcmp(argv[1], "udp") && argc >= 5) {
		if (!lab_addr(argv[2]))
			return fprintf(stderr, "bench_flood: lab addresses only\n"), 2;
		return flood_udp(argc - 2, argv + 2);
	}
	return usage();
}
