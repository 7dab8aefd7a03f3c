/* hostnet.c - rtnetlink over libmnl for the node bridge and plain mode (see
 * hostnet.h). One short-lived socket per call: these run on configuration
 * changes (a peer or a shed comes or goes), never per packet. */
#include "node/overlay/hostnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

static int
s_talk (struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
    struct mnl_socket *nl = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl)
        return -errno;
    if (mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close (nl);
        return -e;
    }
    static unsigned seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = (unsigned) time (NULL) + __atomic_add_fetch (&seq, 1, __ATOMIC_RELAXED);
    unsigned portid = mnl_socket_get_portid (nl);
    int rc = 0;
    if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
        rc = -errno;
    else {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        for (;;) {
            ssize_t n = mnl_socket_recvfrom (nl, buf, sizeof buf);
            if (n < 0) {
                rc = -errno;
                break;
            }
            int r = mnl_cb_run (buf, (size_t) n, nlh->nlmsg_seq, portid, cb, data);
            if (r <= MNL_CB_STOP) {
                rc = r < 0 ? -errno : 0;
                break;
            }
        }
    }
    mnl_socket_close (nl);
    return rc;
}

static int
s_fail (char *why, size_t whylen, const char *what, const char *name, int rc)
{
    if (why && whylen)
        snprintf (why, whylen, "netlink: %s %s: %s", what, name, strerror (-rc));
    return rc;
}

static struct nlmsghdr *
s_link_msg (char *buf, uint16_t type, uint16_t flags, struct ifinfomsg **ifm_out)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof *ifm);
    ifm->ifi_family = AF_UNSPEC;
    if (ifm_out)
        *ifm_out = ifm;
    return nlh;
}

static int
s_index_cb (const struct nlmsghdr *nlh, void *data)
{
    const struct ifinfomsg *ifm = mnl_nlmsg_get_payload (nlh);
    *(unsigned *) data = (unsigned) ifm->ifi_index;
    return MNL_CB_OK;
}

unsigned
hostnet_ifindex (const char *ifname)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = s_link_msg (buf, RTM_GETLINK, 0, NULL);
    mnl_attr_put_strz (nlh, IFLA_IFNAME, ifname);
    unsigned index = 0;
    if (s_talk (nlh, s_index_cb, &index) != 0)
        return 0;
    return index;
}

int
hostnet_link_set (const char *ifname, const char *master, int mtu, bool up, char *why,
                  size_t whylen)
{
    unsigned index = hostnet_ifindex (ifname);
    if (!index)
        return s_fail (why, whylen, "find link", ifname, -ENODEV);
    unsigned master_index = 0;
    if (master && !(master_index = hostnet_ifindex (master)))
        return s_fail (why, whylen, "find bridge", master, -ENODEV);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = s_link_msg (buf, RTM_NEWLINK, 0, &ifm);
    ifm->ifi_index = (int) index;
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = up ? IFF_UP : 0;
    if (master)
        mnl_attr_put_u32 (nlh, IFLA_MASTER, master_index);
    if (mtu > 0)
        mnl_attr_put_u32 (nlh, IFLA_MTU, (uint32_t) mtu);
    int rc = s_talk (nlh, NULL, NULL);
    return rc ? s_fail (why, whylen, "set link", ifname, rc) : 0;
}

int
hostnet_bridge_ensure (const char *name, int mtu, bool *created, char *why, size_t whylen)
{
    *created = false;
    if (!hostnet_ifindex (name)) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = s_link_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NULL);
        mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
        struct nlattr *linkinfo = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
        mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end (nlh, linkinfo);
        int rc = s_talk (nlh, NULL, NULL);
        if (rc && rc != -EEXIST)
            return s_fail (why, whylen, "create bridge", name, rc);
        *created = rc == 0;
    }
    return hostnet_link_set (name, NULL, mtu, true, why, whylen);
}

int
hostnet_link_del (const char *ifname, char *why, size_t whylen)
{
    unsigned index = hostnet_ifindex (ifname);
    if (!index)
        return 0;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = s_link_msg (buf, RTM_DELLINK, 0, &ifm);
    ifm->ifi_index = (int) index;
    int rc = s_talk (nlh, NULL, NULL);
    return rc && rc != -ENODEV ? s_fail (why, whylen, "delete link", ifname, rc) : 0;
}

int
hostnet_addr (const char *ifname, const char *ip, int prefix, bool add, char *why,
              size_t whylen)
{
    struct in_addr addr;
    if (inet_pton (AF_INET, ip, &addr) != 1 || prefix < 0 || prefix > 32)
        return s_fail (why, whylen, "parse address", ip, -EINVAL);
    unsigned index = hostnet_ifindex (ifname);
    if (!index)
        return add ? s_fail (why, whylen, "find link", ifname, -ENODEV) : 0;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
    nlh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof *ifa);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char) prefix;
    ifa->ifa_index = index;
    mnl_attr_put (nlh, IFA_LOCAL, sizeof addr, &addr);
    mnl_attr_put (nlh, IFA_ADDRESS, sizeof addr, &addr);
    int rc = s_talk (nlh, NULL, NULL);
    if (rc == -EEXIST && add)
        rc = 0;
    if (!add && (rc == -EADDRNOTAVAIL || rc == -ENOENT || rc == -ESRCH))
        rc = 0;
    return rc ? s_fail (why, whylen, add ? "add address" : "delete address", ip, rc) : 0;
}

int
hostnet_vxlan_create (const char *name, uint32_t vni, uint16_t port, const char *local,
                      char *why, size_t whylen)
{
    struct in_addr laddr = { 0 };
    if (local && *local && inet_pton (AF_INET, local, &laddr) != 1)
        return s_fail (why, whylen, "parse local address", local, -EINVAL);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = s_link_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NULL);
    mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
    struct nlattr *linkinfo = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
    mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "vxlan");
    struct nlattr *data = mnl_attr_nest_start (nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32 (nlh, IFLA_VXLAN_ID, vni);
    mnl_attr_put_u16 (nlh, IFLA_VXLAN_PORT, htons (port));
    mnl_attr_put_u8 (nlh, IFLA_VXLAN_LEARNING, 0);
    /* The device answers ARP from its neighbour table: what encrypted mode
     * does in userspace. */
    mnl_attr_put_u8 (nlh, IFLA_VXLAN_PROXY, 1);
    if (laddr.s_addr)
        mnl_attr_put (nlh, IFLA_VXLAN_LOCAL, sizeof laddr, &laddr);
    mnl_attr_nest_end (nlh, data);
    mnl_attr_nest_end (nlh, linkinfo);
    int rc = s_talk (nlh, NULL, NULL);
    return rc ? s_fail (why, whylen, "create vxlan", name, rc) : 0;
}

int
hostnet_fdb (const char *dev, const uint8_t mac[6], const char *dst, bool add, bool append,
             char *why, size_t whylen)
{
    struct in_addr daddr;
    if (inet_pton (AF_INET, dst, &daddr) != 1)
        return s_fail (why, whylen, "parse fdb destination", dst, -EINVAL);
    unsigned index = hostnet_ifindex (dev);
    if (!index)
        return add ? s_fail (why, whylen, "find link", dev, -ENODEV) : 0;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
    nlh->nlmsg_type = add ? RTM_NEWNEIGH : RTM_DELNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    if (add)
        nlh->nlmsg_flags |= NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_REPLACE);
    struct ndmsg *ndm = mnl_nlmsg_put_extra_header (nlh, sizeof *ndm);
    ndm->ndm_family = AF_BRIDGE;
    ndm->ndm_ifindex = (int) index;
    ndm->ndm_state = NUD_PERMANENT | NUD_NOARP;
    ndm->ndm_flags = NTF_SELF;
    mnl_attr_put (nlh, NDA_LLADDR, 6, mac);
    mnl_attr_put (nlh, NDA_DST, sizeof daddr, &daddr);
    int rc = s_talk (nlh, NULL, NULL);
    if (!add && (rc == -ENOENT || rc == -ESRCH))
        rc = 0;
    return rc ? s_fail (why, whylen, add ? "add fdb entry on" : "delete fdb entry on", dev, rc)
              : 0;
}

int
hostnet_neigh (const char *dev, const char *ip, const uint8_t mac[6], bool add, char *why,
               size_t whylen)
{
    struct in_addr addr;
    if (inet_pton (AF_INET, ip, &addr) != 1)
        return s_fail (why, whylen, "parse neighbour", ip, -EINVAL);
    unsigned index = hostnet_ifindex (dev);
    if (!index)
        return add ? s_fail (why, whylen, "find link", dev, -ENODEV) : 0;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
    nlh->nlmsg_type = add ? RTM_NEWNEIGH : RTM_DELNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    struct ndmsg *ndm = mnl_nlmsg_put_extra_header (nlh, sizeof *ndm);
    ndm->ndm_family = AF_INET;
    ndm->ndm_ifindex = (int) index;
    ndm->ndm_state = NUD_PERMANENT;
    mnl_attr_put (nlh, NDA_DST, sizeof addr, &addr);
    if (add)
        mnl_attr_put (nlh, NDA_LLADDR, 6, mac);
    int rc = s_talk (nlh, NULL, NULL);
    if (!add && (rc == -ENOENT || rc == -ESRCH))
        rc = 0;
    return rc ? s_fail (why, whylen, add ? "add neighbour on" : "delete neighbour on", dev, rc)
              : 0;
}
