/* hostnet.c - rtnetlink over libmnl for the node bridge and plain mode (see
 * hostnet.h). One short-lived socket per call: these run on configuration
 * changes (a peer or a shed comes or goes), never per packet. */
#include "node/overlay/hostnet.h"
#include "node/drivers/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

static int
s_fail (char *why, size_t whylen, const char *what, const char *name, int rc)
{
    if (why && whylen)
        snprintf (why, whylen, "netlink: %s %s: %s", what, name, strerror (-rc));
    return rc;
}

/* Links, bridge and addresses are the netns driver's calls, in our own
 * namespace (-1); only what plain mode needs is built here. */

unsigned
hostnet_ifindex (const char *ifname)
{
    return nl_ifindex (-1, ifname);
}

int
hostnet_link_set (const char *ifname, const char *master, int mtu, bool up, char *why,
                  size_t whylen)
{
    return nl_link_set (-1, ifname, master, NULL, mtu > 0 ? (uint32_t) mtu : 0, up, why, whylen);
}

int
hostnet_bridge_ensure (const char *name, int mtu, bool *created, char *why, size_t whylen)
{
    *created = false;
    if (!hostnet_ifindex (name)) {
        int rc = nl_bridge_create (-1, name, why, whylen);
        if (rc && rc != -EEXIST)
            return rc;
        *created = rc == 0;
    }
    return hostnet_link_set (name, NULL, mtu, true, why, whylen);
}

int
hostnet_link_del (const char *ifname, char *why, size_t whylen)
{
    int rc = nl_link_del (-1, ifname, why, whylen);
    return rc == -ENODEV ? 0 : rc;
}

int
hostnet_addr (const char *ifname, const char *ip, int prefix, bool add, char *why, size_t whylen)
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
    int rc = nl_talk (-1, nlh, NULL, NULL);
    if (rc == -EEXIST && add)
        rc = 0;
    if (!add && (rc == -EADDRNOTAVAIL || rc == -ENOENT || rc == -ESRCH))
        rc = 0;
    return rc ? s_fail (why, whylen, add ? "add address" : "delete address", ip, rc) : 0;
}

int
hostnet_vxlan_create (const char *name, uint32_t vni, uint16_t port, const char *local, char *why,
                      size_t whylen)
{
    /* An IPv6 local address makes the kernel open an IPv6 VXLAN socket
     * (an IPv6 underlay, docs/overlay.md); FDB destinations follow it. */
    struct in_addr laddr = { 0 };
    struct in6_addr laddr6 = IN6ADDR_ANY_INIT;
    bool v6 = local && strchr (local, ':');
    if (local && *local
        && (v6 ? inet_pton (AF_INET6, local, &laddr6) : inet_pton (AF_INET, local, &laddr)) != 1)
        return s_fail (why, whylen, "parse local address", local, -EINVAL);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = nl_link_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NULL);
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
    if (v6)
        mnl_attr_put (nlh, IFLA_VXLAN_LOCAL6, sizeof laddr6, &laddr6);
    else if (laddr.s_addr)
        mnl_attr_put (nlh, IFLA_VXLAN_LOCAL, sizeof laddr, &laddr);
    mnl_attr_nest_end (nlh, data);
    mnl_attr_nest_end (nlh, linkinfo);
    int rc = nl_talk (-1, nlh, NULL, NULL);
    return rc ? s_fail (why, whylen, "create vxlan", name, rc) : 0;
}

int
hostnet_fdb (const char *dev, const uint8_t mac[6], const char *dst, bool add, bool append,
             char *why, size_t whylen)
{
    uint8_t daddr[16];
    size_t dlen = strchr (dst, ':') ? 16 : 4;
    if (inet_pton (dlen == 16 ? AF_INET6 : AF_INET, dst, daddr) != 1)
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
    mnl_attr_put (nlh, NDA_DST, dlen, daddr);
    int rc = nl_talk (-1, nlh, NULL, NULL);
    if (!add && (rc == -ENOENT || rc == -ESRCH))
        rc = 0;
    return rc ? s_fail (why, whylen, add ? "add fdb entry on" : "delete fdb entry on", dev, rc) : 0;
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
    int rc = nl_talk (-1, nlh, NULL, NULL);
    if (!add && (rc == -ENOENT || rc == -ESRCH))
        rc = 0;
    return rc ? s_fail (why, whylen, add ? "add neighbour on" : "delete neighbour on", dev, rc) : 0;
}
