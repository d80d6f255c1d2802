// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * synflood: TCP SYNs to one VIP from many spoofed sources, for the flood-guard test. Raw
 * Ethernet frames out of one device (AF_PACKET), sources drawn from a documentation prefix, a
 * fixed count at a bounded rate, then it stops. Lab use only. With `ack`, bare ACKs instead:
 * mid-flow segments of connections that never existed (spoofed ACKs, issue 14 item 6).
 *
 * synflood DEV DST_MAC VIP4 PORT SRC_PREFIX/24 COUNT RATE_PPS [ack]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static unsigned short csum_fold(unsigned long sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (unsigned short)~sum;
}

static unsigned long csum_add(unsigned long sum, const void *data, size_t len)
{
	const unsigned short *p = data;

	for (; len > 1; len -= 2)
		sum += *p++;
	if (len)
		sum += *(const unsigned char *)p;
	return sum;
}

static int parse_mac(const char *s, unsigned char *mac)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct {
		struct ether_header eth;
		struct iphdr ip;
		struct tcphdr tcp;
	} __attribute__((packed)) frame = {};
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	struct in_addr vip, prefix;
	unsigned long count, rate, sent = 0;
	struct timespec start, now;
	unsigned int port, seed = 1;
	bool ack = argc == 9 && !strcmp(argv[8], "ack");
	int fd;

	if ((argc != 8 && !ack) || parse_mac(argv[2], frame.eth.ether_dhost) || !inet_aton(argv[3], &vip) ||
	    !inet_aton(argv[5], &prefix) || sscanf(argv[4], "%u", &port) != 1) {
		fprintf(stderr, "usage: synflood DEV DST_MAC VIP4 PORT SRC_PREFIX COUNT RATE_PPS [ack]\n");
		return 2;
	}
	count = strtoul(argv[6], NULL, 10);
	rate = strtoul(argv[7], NULL, 10);
	to.sll_ifindex = if_nametoindex(argv[1]);
	if (!to.sll_ifindex || !rate) {
		fprintf(stderr, "Error: no device '%s' or zero rate\n", argv[1]);
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	memcpy(to.sll_addr, frame.eth.ether_dhost, ETH_ALEN);
	memcpy(frame.eth.ether_shost, "\x02\xeb\x00\x00\xff\x01", ETH_ALEN);
	frame.eth.ether_type = htons(ETHERTYPE_IP);
	frame.ip.version = 4;
	frame.ip.ihl = 5;
	frame.ip.ttl = 64;
	frame.ip.protocol = IPPROTO_TCP;
	frame.ip.tot_len = htons(sizeof(frame.ip) + sizeof(frame.tcp));
	frame.ip.daddr = vip.s_addr;
	frame.tcp.dest = htons(port);
	frame.tcp.doff = 5;
	frame.tcp.syn = !ack;
	frame.tcp.ack = ack;
	frame.tcp.window = htons(65535);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (sent < count) {
		struct {
			unsigned int saddr, daddr;
			unsigned char zero, proto;
			unsigned short len;
		} pseudo;
		unsigned long sum;
		double elapsed;

		/* Every frame a distinct flow: random host in the /24, random port. */
		frame.ip.saddr = (prefix.s_addr & htonl(0xffffff00)) | htonl(1 + rand_r(&seed) % 254);
		frame.tcp.source = htons(1024 + rand_r(&seed) % 64000);
		frame.tcp.seq = rand_r(&seed);
		if (ack)
			frame.tcp.ack_seq = rand_r(&seed);
		frame.ip.id = (unsigned short)sent;
		frame.ip.check = 0;
		frame.ip.check = csum_fold(csum_add(0, &frame.ip, sizeof(frame.ip)));
		pseudo = (typeof(pseudo)){ frame.ip.saddr, frame.ip.daddr, 0, IPPROTO_TCP,
					   htons(sizeof(frame.tcp)) };
		frame.tcp.check = 0;
		sum = csum_add(csum_add(0, &pseudo, sizeof(pseudo)), &frame.tcp, sizeof(frame.tcp));
		frame.tcp.check = csum_fold(sum);
		if (sendto(fd, &frame, sizeof(frame), 0, (struct sockaddr *)&to, sizeof(to)) < 0 &&
		    errno != ENOBUFS) {
			perror("sendto");
			return 1;
		}
		sent++;
		/* Pace to the rate: never ahead of sent/rate seconds. */
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
			if (sent <= elapsed * rate)
				break;
			usleep(200);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("sent %lu %s in %.2f s\n", sent, ack ? "ACKs" : "SYNs",
	       (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9);
	close(fd);
	return 0;
}
