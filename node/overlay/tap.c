/*
 * tap.c - the TAP device and link settings, with plain ioctls (no netlink
 * needed for these).
 *
 * IFF_VNET_HDR puts a struct virtio_net_hdr in front of every frame, in
 * both directions. With TUNSETOFFLOAD (CSUM, TSO4, TSO6, TSO_ECN) the
 * kernel may hand us TCP super-frames of up to ~64 KB with the checksum
 * left to do, instead of segmenting them first: one read, one seal, one
 * datagram, one write for ~45 wire segments. That is what moves the bare
 * TAP relay on the development machine from 0.9 to 11-13 Gbit/s
 * (docs/overlay.md). Without offloads we still use the vnet header (all zero), so
 * the datagram layout is the same either way.
 *
 * Multi-queue: one fd per queue, each read by its own TX thread.
 */
#include "node/overlay/overlay_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int
overlay__tap_open (const char *name, int queues, bool offload, int *fds, char *err, size_t errlen)
{
    for (int q = 0; q < queues; q++)
        fds[q] = -1;
    for (int q = 0; q < queues; q++) {
        int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            snprintf (err, errlen, "/dev/net/tun: %s", strerror (errno));
            goto fail;
        }
        fds[q] = fd;
        struct ifreq ifr;
        memset (&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (queues > 1)
            ifr.ifr_flags |= IFF_MULTI_QUEUE;
        snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
        if (ioctl (fd, TUNSETIFF, &ifr) < 0) {
            snprintf (err, errlen, "TUNSETIFF %s: %s", name, strerror (errno));
            goto fail;
        }
        int hdr = OVERLAY_VNET_HDR_BYTES;
        if (ioctl (fd, TUNSETVNETHDRSZ, &hdr) < 0) {
            snprintf (err, errlen, "TUNSETVNETHDRSZ: %s", strerror (errno));
            goto fail;
        }
        unsigned flags = offload ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN : 0;
        if (ioctl (fd, TUNSETOFFLOAD, flags) < 0) {
            snprintf (err, errlen, "TUNSETOFFLOAD: %s", strerror (errno));
            goto fail;
        }
    }
    return 0;
fail:
    for (int q = 0; q < queues; q++)
        if (fds[q] >= 0) {
            close (fds[q]);
            fds[q] = -1;
        }
    return -1;
}

static int
s_ifreq (unsigned long request, struct ifreq *ifr)
{
    int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    int rc = ioctl (sock, request, ifr);
    int saved = errno;
    close (sock);
    errno = saved;
    return rc;
}

int
overlay_set_link_mtu (const char *ifname, int mtu)
{
    struct ifreq ifr;
    memset (&ifr, 0, sizeof ifr);
    if (!ifname || strlen (ifname) >= sizeof ifr.ifr_name) {
        errno = EINVAL;
        return -1;
    }
    strcpy (ifr.ifr_name, ifname);
    ifr.ifr_mtu = mtu;
    return s_ifreq (SIOCSIFMTU, &ifr);
}

int
overlay__link_up (const char *ifname)
{
    struct ifreq ifr;
    memset (&ifr, 0, sizeof ifr);
    snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (s_ifreq (SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    return s_ifreq (SIOCSIFFLAGS, &ifr);
}

int
overlay__bridge_add (const char *bridge, const char *ifname)
{
    struct ifreq ifr;
    memset (&ifr, 0, sizeof ifr);
    snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", bridge);
    ifr.ifr_ifindex = (int) if_nametoindex (ifname);
    if (ifr.ifr_ifindex == 0)
        return -1;
    return s_ifreq (SIOCBRADDIF, &ifr);
}

int
overlay_compute_mtu (int underlay_mtu, bool ipv6_underlay)
{
    int ip = ipv6_underlay ? OVERLAY_IPV6_BYTES : OVERLAY_IPV4_BYTES;
    return underlay_mtu - ip - OVERLAY_UDP_BYTES - OVERLAY_FRAME_OVERHEAD - OVERLAY_ETH_BYTES
           - OVERLAY_VLAN_BYTES;
}
