/*
 * netlink.c - rtnetlink over libmnl for the netns driver (see netlink.h).
 */
#include "node/drivers/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Open a NETLINK_ROUTE socket in ns_fd's namespace (or ours for -1). */
static struct mnl_socket *
s_open (int ns_fd, int *err)
{
    int self_ns = -1;
    if (ns_fd >= 0) {
        self_ns = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self_ns < 0 || setns (ns_fd, CLONE_NEWNET) != 0) {
            *err = errno;
            if (self_ns >= 0)
                close (self_ns);
            return NULL;
        }
    }
    struct mnl_socket *nl = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
    int saved = errno;
    if (nl && mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        saved = errno;
        mnl_socket_close (nl);
        nl = NULL;
    }
    if (self_ns >= 0) {
        /* Going home cannot fail for a namespace we came from; if it
         * somehow did, this thread would be lost in the shed's netns. */
        if (setns (self_ns, CLONE_NEWNET) != 0)
            abort ();
        close (self_ns);
    }
    *err = saved;
    return nl;
}

int
nl_talk (int ns_fd, struct nlmsghdr *nlh, nl_msg_fn *fn, void *arg)
{
    int err = 0;
    struct mnl_socket *nl = s_open (ns_fd, &err);
    if (!nl)
        return -err;
    /* Unique per request even when two threads talk in the same second. */
    static unsigned seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = (unsigned) time (NULL) + __atomic_add_fetch (&seq, 1, __ATOMIC_RELAXED);
    unsigned portid = mnl_socket_get_portid (nl);
    int rc = 0;
    if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
        rc = -errno;
    else {
        char buf[16384];
        for (;;) {
            ssize_t n = mnl_socket_recvfrom (nl, buf, sizeof buf);
            if (n < 0) {
                rc = -errno;
                break;
            }
            int r = mnl_cb_run (buf, (size_t) n, nlh->nlmsg_seq, portid, fn, arg);
            if (r <= MNL_CB_STOP) {
                rc = r < 0 ? -errno : 0;
                break;
            }
        }
    }
    mnl_socket_close (nl);
    return rc;
}

static void
s_why (char *why, size_t why_size, const char *what, const char *name, int rc)
{
    if (why && why_size)
        snprintf (why, why_size, "netlink: %s %s: %s", what, name, strerror (-rc));
}

struct nlmsghdr *
nl_link_msg (void *buf, uint16_t type, uint16_t flags, struct ifinfomsg **ifm_out)
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

/* ---- lookups ------------------------------------------------------------ */

typedef struct {
    unsigned index;
    uint64_t rx, tx;
} s_link_info_t;

static int
s_link_attr_cb (const struct nlattr *attr, void *data)
{
    s_link_info_t *info = (s_link_info_t *) data;
    if (mnl_attr_get_type (attr) == IFLA_STATS64
        && mnl_attr_get_payload_len (attr) >= sizeof (struct rtnl_link_stats64)) {
        struct rtnl_link_stats64 st;
        memcpy (&st, mnl_attr_get_payload (attr), sizeof st);
        info->rx = st.rx_bytes;
        info->tx = st.tx_bytes;
    }
    return MNL_CB_OK;
}

static int
s_link_cb (const struct nlmsghdr *nlh, void *data)
{
    s_link_info_t *info = (s_link_info_t *) data;
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload (nlh);
    info->index = (unsigned) ifm->ifi_index;
    mnl_attr_parse (nlh, sizeof *ifm, s_link_attr_cb, data);
    return MNL_CB_OK;
}

static int
s_link_get (int ns_fd, const char *ifname, s_link_info_t *info)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = nl_link_msg (buf, RTM_GETLINK, 0, NULL);
    mnl_attr_put_strz (nlh, IFLA_IFNAME, ifname);
    memset (info, 0, sizeof *info);
    return nl_talk (ns_fd, nlh, s_link_cb, info);
}

unsigned
nl_ifindex (int ns_fd, const char *ifname)
{
    s_link_info_t info;
    if (s_link_get (ns_fd, ifname, &info) != 0)
        return 0;
    return info.index;
}

int
nl_link_stats (int ns_fd, const char *ifname, uint64_t *rx_bytes, uint64_t *tx_bytes)
{
    s_link_info_t info;
    int rc = s_link_get (ns_fd, ifname, &info);
    if (rc == 0) {
        *rx_bytes = info.rx;
        *tx_bytes = info.tx;
    }
    return rc;
}

/* ---- links -------------------------------------------------------------- */

int
nl_veth_create (const char *host, const char *peer, int peer_ns_fd, char *why, size_t why_size)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = nl_link_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NULL);
    mnl_attr_put_strz (nlh, IFLA_IFNAME, host);
    struct nlattr *linkinfo = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
    mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *infodata = mnl_attr_nest_start (nlh, IFLA_INFO_DATA);
    struct nlattr *peerinfo = mnl_attr_nest_start (nlh, VETH_INFO_PEER);
    /* The peer's attributes follow its own ifinfomsg. */
    struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header (nlh, sizeof *pifm);
    memset (pifm, 0, sizeof *pifm);
    pifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz (nlh, IFLA_IFNAME, peer);
    if (peer_ns_fd >= 0)
        mnl_attr_put_u32 (nlh, IFLA_NET_NS_FD, (uint32_t) peer_ns_fd);
    mnl_attr_nest_end (nlh, peerinfo);
    mnl_attr_nest_end (nlh, infodata);
    mnl_attr_nest_end (nlh, linkinfo);
    int rc = nl_talk (-1, nlh, NULL, NULL);
    if (rc)
        s_why (why, why_size, "create veth", host, rc);
    return rc;
}

int
nl_bridge_create (int ns_fd, const char *name, char *why, size_t why_size)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = nl_link_msg (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NULL);
    mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
    struct nlattr *linkinfo = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
    mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end (nlh, linkinfo);
    int rc = nl_talk (ns_fd, nlh, NULL, NULL);
    if (rc)
        s_why (why, why_size, "create bridge", name, rc);
    return rc;
}

static int
s_parse_mac (const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf (text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail)
        != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t) v[i];
    return 0;
}

int
nl_link_set (int ns_fd, const char *ifname, const char *master, const char *mac, uint32_t mtu,
             bool up, char *why, size_t why_size)
{
    unsigned index = nl_ifindex (ns_fd, ifname);
    if (!index) {
        s_why (why, why_size, "find link", ifname, -ENODEV);
        return -ENODEV;
    }
    unsigned master_index = 0;
    if (master) {
        master_index = nl_ifindex (ns_fd, master);
        if (!master_index) {
            s_why (why, why_size, "find bridge", master, -ENODEV);
            return -ENODEV;
        }
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = nl_link_msg (buf, RTM_NEWLINK, 0, &ifm);
    ifm->ifi_index = (int) index;
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = up ? IFF_UP : 0;
    if (master)
        mnl_attr_put_u32 (nlh, IFLA_MASTER, master_index);
    if (mtu)
        mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
    if (mac && *mac) {
        uint8_t hw[6];
        if (s_parse_mac (mac, hw) != 0) {
            s_why (why, why_size, "parse MAC for", ifname, -EINVAL);
            return -EINVAL;
        }
        mnl_attr_put (nlh, IFLA_ADDRESS, sizeof hw, hw);
    }
    int rc = nl_talk (ns_fd, nlh, NULL, NULL);
    if (rc)
        s_why (why, why_size, "set link", ifname, rc);
    return rc;
}

int
nl_link_del (int ns_fd, const char *ifname, char *why, size_t why_size)
{
    unsigned index = nl_ifindex (ns_fd, ifname);
    if (!index)
        return -ENODEV;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = nl_link_msg (buf, RTM_DELLINK, 0, &ifm);
    ifm->ifi_index = (int) index;
    int rc = nl_talk (ns_fd, nlh, NULL, NULL);
    if (rc && rc != -ENODEV)
        s_why (why, why_size, "delete link", ifname, rc);
    return rc;
}

/* ---- addresses and routes ---------------------------------------------- */

static int
s_parse_cidr (const char *cidr, struct in_addr *addr, unsigned *prefix)
{
    char ip[32];
    const char *slash = strchr (cidr, '/');
    size_t len = slash ? (size_t) (slash - cidr) : strlen (cidr);
    if (len >= sizeof ip)
        return -1;
    memcpy (ip, cidr, len);
    ip[len] = '\0';
    if (inet_pton (AF_INET, ip, addr) != 1)
        return -1;
    *prefix = 32;
    if (slash) {
        char *end;
        long p = strtol (slash + 1, &end, 10);
        if (*end || p < 0 || p > 32 || end == slash + 1)
            return -1;
        *prefix = (unsigned) p;
    }
    return 0;
}

int
nl_addr_add (int ns_fd, const char *ifname, const char *cidr, char *why, size_t why_size)
{
    struct in_addr addr;
    unsigned prefix;
    if (s_parse_cidr (cidr, &addr, &prefix) != 0) {
        s_why (why, why_size, "parse address", cidr, -EINVAL);
        return -EINVAL;
    }
    unsigned index = nl_ifindex (ns_fd, ifname);
    if (!index) {
        s_why (why, why_size, "find link", ifname, -ENODEV);
        return -ENODEV;
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof *ifa);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char) prefix;
    ifa->ifa_index = index;
    mnl_attr_put (nlh, IFA_LOCAL, sizeof addr, &addr);
    mnl_attr_put (nlh, IFA_ADDRESS, sizeof addr, &addr);
    int rc = nl_talk (ns_fd, nlh, NULL, NULL);
    if (rc == -EEXIST)
        rc = 0;
    if (rc)
        s_why (why, why_size, "add address", cidr, rc);
    return rc;
}

int
nl_route_default (int ns_fd, const char *ifname, const char *gateway, char *why, size_t why_size)
{
    struct in_addr gw;
    if (inet_pton (AF_INET, gateway, &gw) != 1) {
        s_why (why, why_size, "parse gateway", gateway, -EINVAL);
        return -EINVAL;
    }
    unsigned index = nl_ifindex (ns_fd, ifname);
    if (!index) {
        s_why (why, why_size, "find link", ifname, -ENODEV);
        return -ENODEV;
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header (nlh, sizeof *rtm);
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = 0;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put (nlh, RTA_GATEWAY, sizeof gw, &gw);
    mnl_attr_put_u32 (nlh, RTA_OIF, index);
    int rc = nl_talk (ns_fd, nlh, NULL, NULL);
    if (rc == -EEXIST)
        rc = 0;
    if (rc)
        s_why (why, why_size, "add default route via", gateway, rc);
    return rc;
}
