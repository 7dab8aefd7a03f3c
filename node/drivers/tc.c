/*
 * tc.c - tbf rate limits over rtnetlink with libnl-route-3 (see tc.h).
 */
#include "node/drivers/tc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/pkt_sched.h>
#include <math.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* tbf's queue: what may wait at the rate, in time (tc's "latency"). */
#define TC_LATENCY_US 50000

/* A NETLINK_ROUTE socket in ns_fd's namespace (or ours for -1). A socket
 * belongs to the namespace it was created in; this thread goes there and
 * comes back. NULL with why. */
static struct nl_sock *
s_open (int ns_fd, const char *dev, char *why, size_t why_size)
{
    int self_ns = -1;
    if (ns_fd >= 0) {
        self_ns = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self_ns < 0 || setns (ns_fd, CLONE_NEWNET) != 0) {
            snprintf (why, why_size, "tc: %s: cannot enter the shed's network namespace: %s", dev,
                      strerror (errno));
            if (self_ns >= 0)
                close (self_ns);
            return NULL;
        }
    }
    struct nl_sock *sk = nl_socket_alloc ();
    int rc = sk ? nl_connect (sk, NETLINK_ROUTE) : -NLE_NOMEM;
    if (self_ns >= 0) {
        /* Going home cannot fail for a namespace we came from; if it
         * somehow did, this thread would be lost in the shed's netns. */
        if (setns (self_ns, CLONE_NEWNET) != 0)
            abort ();
        close (self_ns);
    }
    if (rc < 0) {
        snprintf (why, why_size, "tc: %s: netlink: %s", dev, nl_geterror (rc));
        nl_socket_free (sk);
        return NULL;
    }
    return sk;
}

/* ifindex of dev, or 0 with why. */
static int
s_ifindex (struct nl_sock *sk, const char *what, const char *dev, char *why, size_t why_size)
{
    struct rtnl_link *link = NULL;
    int rc = strlen (dev) < IFNAMSIZ ? rtnl_link_get_kernel (sk, 0, dev, &link) : -NLE_NODEV;
    if (rc < 0) {
        snprintf (why, why_size, "tc: %s %s: %s", what, dev,
                  rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV ? "no such interface"
                                                              : nl_geterror (rc));
        return 0;
    }
    int ifindex = rtnl_link_get_ifindex (link);
    rtnl_link_put (link);
    return ifindex;
}

int
tc_rate_limit (int ns_fd, const char *dev, uint64_t kbit, char *why, size_t why_size)
{
    if (kbit > TC_KBIT_MAX) {
        snprintf (why, why_size, "tc: rate limit on %s: %llu kbit/s is over the %llu tbf takes",
                  dev, (unsigned long long) kbit, (unsigned long long) TC_KBIT_MAX);
        return -1;
    }
    struct nl_sock *sk = s_open (ns_fd, dev, why, why_size);
    if (!sk)
        return -1;
    int ifindex = s_ifindex (sk, "rate limit on", dev, why, why_size);
    /* No link, no limit: removing one is done (as `tc qdisc del` failing
     * was fine). */
    if (!ifindex && kbit == 0) {
        nl_socket_free (sk);
        return 0;
    }
    struct rtnl_qdisc *q = ifindex ? rtnl_qdisc_alloc () : NULL;
    int rc = -1;
    if (q) {
        rtnl_tc_set_ifindex (TC_CAST (q), ifindex);
        rtnl_tc_set_parent (TC_CAST (q), TC_H_ROOT);
        if (kbit == 0) {
            /* `tc qdisc del dev DEV root`: failing means there was no
             * limit, fine either way. */
            rtnl_qdisc_delete (sk, q);
            rc = 0;
        }
        else {
            /* Burst: 10 ms at the rate, at least 16 KiB so one full-size
             * frame (and GSO bursts) always passes; the latency bounds the
             * queue. tc's `replace`: create, or replace what is there. */
            uint64_t bytes = kbit * 125;
            uint64_t burst = bytes / 100 < 16384 ? 16384 : bytes / 100;
            int err = rtnl_tc_set_kind (TC_CAST (q), "tbf");
            if (err == 0) {
                rtnl_qdisc_tbf_set_rate (q, (int) bytes, (int) burst, 0);
                err = rtnl_qdisc_tbf_set_limit_by_latency (q, TC_LATENCY_US);
            }
            if (err == 0)
                err = rtnl_qdisc_add (sk, q, NLM_F_CREATE | NLM_F_REPLACE);
            if (err < 0)
                snprintf (why, why_size, "tc: rate limit on %s: %s", dev, nl_geterror (err));
            rc = err < 0 ? -1 : 0;
        }
        rtnl_qdisc_put (q);
    }
    else if (ifindex)
        snprintf (why, why_size, "tc: rate limit on %s: out of memory", dev);
    nl_socket_free (sk);
    return rc;
}

int
tc_root_get (int ns_fd, const char *dev, tc_root_t *out, char *why, size_t why_size)
{
    memset (out, 0, sizeof *out);
    struct nl_sock *sk = s_open (ns_fd, dev, why, why_size);
    if (!sk)
        return -1;
    int rc = -1;
    struct nl_cache *cache = NULL;
    int ifindex = s_ifindex (sk, "qdisc of", dev, why, why_size);
    int err = ifindex ? rtnl_qdisc_alloc_cache (sk, &cache) : 0;
    if (err < 0)
        snprintf (why, why_size, "tc: qdisc of %s: %s", dev, nl_geterror (err));
    else if (ifindex) {
        struct rtnl_qdisc *q = rtnl_qdisc_get_by_parent (cache, ifindex, TC_H_ROOT);
        if (q) {
            const char *kind = rtnl_tc_get_kind (TC_CAST (q));
            snprintf (out->kind, sizeof out->kind, "%s", kind ? kind : "");
            if (kind && !strcmp (kind, "tbf")) {
                out->rate_bps = (uint64_t) rtnl_qdisc_tbf_get_rate (q);
                out->burst = (uint32_t) rtnl_qdisc_tbf_get_rate_bucket (q);
                out->limit = (uint32_t) rtnl_qdisc_tbf_get_limit (q);
            }
            rtnl_qdisc_put (q);
        }
        rc = 0;
    }
    nl_cache_free (cache);
    nl_socket_free (sk);
    return rc;
}

int
tc_rate_parse (const char *text, uint64_t *kbit)
{
    if (!text || !isdigit ((unsigned char) text[0]))
        return -1;
    char *end;
    errno = 0;
    double num = strtod (text, &end);
    if (errno || end == text || !isfinite (num) || num < 0)
        return -1;
    if (*end == '\0') {
        if (num != 0)
            return -1;
        *kbit = 0;
        return 0;
    }
    static const struct {
        const char *unit;
        double bits;
    } units[] = {
        { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 }, { "tbit", 1e12 },
        { "bps", 8 }, { "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 }, { "tbps", 8e12 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp (end, units[i].unit) != 0)
            continue;
        double k = ceil (num * units[i].bits / 1000.0);
        if (k > (double) TC_KBIT_MAX)
            return -1;
        *kbit = (uint64_t) k;
        return 0;
    }
    return -1;
}
