// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Facts about a device by name (the one ebb is attached to: loader.c says which), asked of the
 * kernel through sockets (never /sys/class/net, which shows another namespace's devices under
 * `nsenter --net`).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "libebb.h"
#include "internal.h"

int ebb_device_mtu(const char *ifname, __u32 *mtu)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ret = ioctl(fd, SIOCGIFMTU, &ifr) ? -errno : 0;
	close(fd);
	if (!ret)
		*mtu = ifr.ifr_mtu;
	return ret;
}

int ebb_device_addrs(const char *ifname, __be32 *src4, __be32 *src6)
{
	struct ifaddrs *ifas, *ifa;

	if (getifaddrs(&ifas))
		return -ENOENT;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || strcmp(ifa->ifa_name, ifname))
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET && !*src4) {
			*src4 = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
		} else if (ifa->ifa_addr->sa_family == AF_INET6 && !(src6[0] | src6[3])) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;

			if (!IN6_IS_ADDR_LINKLOCAL(a))
				memcpy(src6, a, 16);
		}
	}
	freeifaddrs(ifas);
	return 0;
}
