// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The MAC of a node on the local segment, from the kernel's neighbour table (rtnetlink), in
 * the network namespace ebbctl runs in. ebbctl never sends probes itself: an operator pings
 * the node, or passes `mac MAC`.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "libebb.h"

int ebb_neigh_lookup(const struct ebb_addr *addr, __u8 mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)),
			.nlmsg_type = RTM_GETNEIGH,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1 },
		.nd = { .ndm_family = addr->family == EBB_FAMILY_V6 ? AF_INET6 : AF_INET },
	};
	size_t alen = addr->family == EBB_FAMILY_V6 ? 16 : 4;
	char buf[16384] __attribute__((aligned(4)));
	int fd, found = -ENOENT;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		close(fd);
		return -errno;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len <= 0)
			break;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
			struct ndmsg *nd = NLMSG_DATA(nh);
			struct rtattr *rta;
			int rlen;
			const void *dst = NULL, *lladdr = NULL;
			size_t lladdr_len = 0;

			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (nh->nlmsg_type != RTM_NEWNEIGH ||
			    (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP)))
				continue;
			rlen = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
			for (rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			     RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen)) {
				if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == alen)
					dst = RTA_DATA(rta);
				else if (rta->rta_type == NDA_LLADDR) {
					lladdr = RTA_DATA(rta);
					lladdr_len = RTA_PAYLOAD(rta);
				}
			}
			if (dst && lladdr && lladdr_len == 6 && !memcmp(dst, addr->a, alen) &&
			    found != 0) {
				memcpy(mac, lladdr, 6);
				found = 0;
			}
		}
	}
	close(fd);
	return found;
}
