/* netaddr.c - see netaddr.h. */
#include "node/netaddr.h"

#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RTF_UP 0x0001 /* route.h's RTF_UP, without pulling in net/route.h */

int
shed_netaddr_route_iface (const char *route_text, char *ifname)
{
    unsigned best_metric = ~0u;
    int rc = -1;
    const char *line = route_text;
    while (line && *line) {
        char iface[IFNAMSIZ + 1];
        unsigned long dest, gw, mask;
        unsigned flags, metric;
        /* Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex
         * in network order; the header line does not scan). */
        if (sscanf (line, "%16s %lx %lx %x %*d %*d %u %lx", iface, &dest, &gw, &flags, &metric,
                    &mask)
                == 6
            && dest == 0 && mask == 0 && (flags & S_RTF_UP) && strlen (iface) < IFNAMSIZ
            && (rc != 0 || metric < best_metric)) {
            strcpy (ifname, iface);
            best_metric = metric;
            rc = 0;
        }
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return rc;
}

int
shed_netaddr_route6_iface (const char *route_text, char *ifname)
{
    unsigned best_metric = ~0u;
    int rc = -1;
    const char *line = route_text;
    while (line && *line) {
        char dest[33], iface[IFNAMSIZ + 1];
        unsigned plen, metric, flags;
        /* dest plen src splen nexthop metric refcnt use flags iface, all
         * hex (no header line). The kernel's "unreachable" default on lo
         * has RTF_UP clear; lo is skipped anyway. */
        if (sscanf (line, "%32s %x %*32s %*x %*32s %x %*x %*x %x %16s", dest, &plen, &metric,
                    &flags, iface)
                == 5
            && strspn (dest, "0") == 32 && plen == 0 && (flags & S_RTF_UP)
            && strcmp (iface, "lo") != 0 && strlen (iface) < IFNAMSIZ
            && (rc != 0 || metric < best_metric)) {
            strcpy (ifname, iface);
            best_metric = metric;
            rc = 0;
        }
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return rc;
}

/* An address of `family` a peer on another host can reach: not loopback,
 * and for IPv6 not link-local (it needs a scope id only this host knows)
 * nor multicast. */
static bool
s_usable (const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl (((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) != 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
    return !IN6_IS_ADDR_LOOPBACK (a) && !IN6_IS_ADDR_LINKLOCAL (a) && !IN6_IS_ADDR_MULTICAST (a)
           && !IN6_IS_ADDR_UNSPECIFIED (a) && !IN6_IS_ADDR_V4MAPPED (a);
}

/* The first usable address of `family` on an up interface: of `ifname`
 * when given, else of any non-loopback one. */
static int
s_iface_addr (int family, const char *ifname, char *out, size_t outlen)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return -1;
    int rc = -1;
    for (struct ifaddrs *ifa = list; ifa && rc != 0; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != family)
            continue;
        if ((ifa->ifa_flags & IFF_LOOPBACK) || !(ifa->ifa_flags & IFF_UP))
            continue;
        if (ifname && strcmp (ifa->ifa_name, ifname) != 0)
            continue;
        if (!s_usable (ifa->ifa_addr))
            continue; /* a loopback address on another device: still unreachable */
        char text[SHED_IP_TEXT_MAX];
        if (shed_ip_from_sockaddr (ifa->ifa_addr, text, NULL) == 0 && strlen (text) < outlen) {
            strcpy (out, text);
            rc = 0;
        }
    }
    freeifaddrs (list);
    return rc;
}

static void
s_read (const char *path, char *text, size_t size)
{
    text[0] = '\0';
    FILE *f = fopen (path, "r");
    if (f) {
        size_t n = fread (text, 1, size - 1, f);
        text[n] = '\0';
        fclose (f);
    }
}

int
shed_netaddr_default_family (int family, char *out, size_t outlen, char *why, size_t whylen)
{
    char text[16384];
    char ifname[IFNAMSIZ + 1];
    int found;
    if (family == AF_INET6) {
        s_read ("/proc/net/ipv6_route", text, sizeof text);
        found = shed_netaddr_route6_iface (text, ifname);
    }
    else {
        s_read ("/proc/net/route", text, sizeof text);
        found = shed_netaddr_route_iface (text, ifname);
    }
    if (found == 0 && s_iface_addr (family, ifname, out, outlen) == 0)
        return 0;
    /* No default route (an isolated cluster network): any real address. */
    if (s_iface_addr (family, NULL, out, outlen) == 0)
        return 0;
    snprintf (why, whylen, "no up, non-loopback %s interface address on this host",
              family == AF_INET6 ? "global IPv6" : "IPv4");
    return -1;
}

int
shed_netaddr_default (char *out, size_t outlen, char *why, size_t whylen)
{
    return shed_netaddr_default_family (AF_INET, out, outlen, why, whylen);
}

bool
shed_netaddr_is_local (const char *addr)
{
    char canon[SHED_IP_TEXT_MAX];
    int family = shed_ip_canon (addr, canon);
    if (!family)
        return false;
    if ((family == 4 && strncmp (canon, "127.", 4) == 0) || strcmp (canon, "::1") == 0)
        return true;
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return true; /* cannot tell: let the bind decide */
    bool found = false;
    for (struct ifaddrs *ifa = list; ifa && !found; ifa = ifa->ifa_next) {
        char text[SHED_IP_TEXT_MAX];
        found = ifa->ifa_addr
                && (ifa->ifa_addr->sa_family == AF_INET || ifa->ifa_addr->sa_family == AF_INET6)
                && shed_ip_from_sockaddr (ifa->ifa_addr, text, NULL) == 0
                && strcmp (text, canon) == 0;
    }
    freeifaddrs (list);
    return found;
}

int
shed_netaddr_resolve (shed_config_t *cfg, char *err, size_t errlen)
{
    int bind_family = shed_ip_family (cfg->bind_addr);
    if (cfg->advertise_addr[0]) {
        /* An IPv4 socket cannot talk to an IPv6 peer nor the reverse;
         * only bind :: (dual stack) takes both. */
        int adv_family = shed_ip_family (cfg->advertise_addr);
        if (adv_family && bind_family && adv_family != bind_family
            && !(bind_family == 6 && shed_ip_is_any (cfg->bind_addr))) {
            snprintf (err, errlen,
                      "advertise address %s is IPv%d but bind %s is IPv%d: peers would dial an "
                      "address family this node does not listen on; bind %s or advertise an "
                      "IPv%d address",
                      cfg->advertise_addr, adv_family, cfg->bind_addr, bind_family,
                      adv_family == 6 ? "'::' or an IPv6 address"
                                      : "'0.0.0.0', '::' or an IPv4 address",
                      bind_family);
            return -1;
        }
        if (!shed_netaddr_is_local (cfg->advertise_addr)) {
            char mine[64] = "", why[128];
            shed_netaddr_default_family (adv_family == 6 ? AF_INET6 : AF_INET, mine, sizeof mine,
                                         why, sizeof why);
            snprintf (err, errlen,
                      "advertise address %s is not on this host (no interface holds it): peers "
                      "would probe an address nobody answers on; set 'advertise'%s%s or add the "
                      "address to an interface",
                      cfg->advertise_addr, mine[0] ? " to e.g. " : "", mine);
            return -1;
        }
        return 0;
    }
    if (!shed_ip_is_any (cfg->bind_addr))
        return 0; /* shed_config_finish advertises the bind address */
    char why[128], why6[128] = "";
    /* bind :: prefers the IPv6 default route's address; its socket is
     * dual stack, so an IPv4 one serves when the host has no IPv6. */
    if (bind_family == 6
        && shed_netaddr_default_family (AF_INET6, cfg->advertise_addr, sizeof cfg->advertise_addr,
                                        why6, sizeof why6)
               == 0)
        return 0;
    if (shed_netaddr_default (cfg->advertise_addr, sizeof cfg->advertise_addr, why, sizeof why)
        != 0) {
        snprintf (err, errlen,
                  "bind is %s and no address to advertise was found (%s%s%s); loopback is "
                  "never advertised: set 'advertise' to an address peers can reach",
                  cfg->bind_addr, why6, why6[0] ? "; " : "", why);
        return -1;
    }
    return 0;
}
