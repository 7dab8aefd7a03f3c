/* netaddr.c - see netaddr.h. */
#include "node/netaddr.h"

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

/* The first IPv4 address of an up interface: of `ifname` when given, else
 * of any non-loopback one. */
static int
s_iface_addr (const char *ifname, char *out, size_t outlen)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return -1;
    int rc = -1;
    for (struct ifaddrs *ifa = list; ifa && rc != 0; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
            continue;
        if ((ifa->ifa_flags & IFF_LOOPBACK) || !(ifa->ifa_flags & IFF_UP))
            continue;
        if (ifname && strcmp (ifa->ifa_name, ifname) != 0)
            continue;
        struct sockaddr_in *sin = (struct sockaddr_in *) ifa->ifa_addr;
        if ((ntohl (sin->sin_addr.s_addr) >> 24) == 127)
            continue; /* a loopback address on another device: still unreachable */
        if (inet_ntop (AF_INET, &sin->sin_addr, out, (socklen_t) outlen))
            rc = 0;
    }
    freeifaddrs (list);
    return rc;
}

int
shed_netaddr_default (char *out, size_t outlen, char *why, size_t whylen)
{
    char text[16384] = "";
    FILE *f = fopen ("/proc/net/route", "r");
    if (f) {
        size_t n = fread (text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose (f);
    }
    char ifname[IFNAMSIZ + 1];
    if (shed_netaddr_route_iface (text, ifname) == 0) {
        if (s_iface_addr (ifname, out, outlen) == 0)
            return 0;
    }
    /* No default route (an isolated cluster network): any real address. */
    if (s_iface_addr (NULL, out, outlen) == 0)
        return 0;
    snprintf (why, whylen, "no up, non-loopback IPv4 interface address on this host");
    return -1;
}

bool
shed_netaddr_is_local (const char *addr)
{
    struct in_addr want;
    if (inet_pton (AF_INET, addr, &want) != 1)
        return false;
    if ((ntohl (want.s_addr) >> 24) == 127)
        return true;
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return true; /* cannot tell: let the bind decide */
    bool found = false;
    for (struct ifaddrs *ifa = list; ifa && !found; ifa = ifa->ifa_next)
        found = ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET
                && ((struct sockaddr_in *) ifa->ifa_addr)->sin_addr.s_addr == want.s_addr;
    freeifaddrs (list);
    return found;
}

int
shed_netaddr_resolve (shed_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->advertise_addr[0]) {
        if (!shed_netaddr_is_local (cfg->advertise_addr)) {
            char mine[64] = "", why[128];
            shed_netaddr_default (mine, sizeof mine, why, sizeof why);
            snprintf (err, errlen,
                      "advertise address %s is not on this host (no interface holds it): peers "
                      "would probe an address nobody answers on; set 'advertise'%s%s or add the "
                      "address to an interface",
                      cfg->advertise_addr, mine[0] ? " to e.g. " : "", mine);
            return -1;
        }
        return 0;
    }
    if (strcmp (cfg->bind_addr, "0.0.0.0") != 0)
        return 0; /* shed_config_finish advertises the bind address */
    char why[128];
    if (shed_netaddr_default (cfg->advertise_addr, sizeof cfg->advertise_addr, why, sizeof why)
        != 0) {
        snprintf (err, errlen,
                  "bind is 0.0.0.0 and no address to advertise was found (%s); loopback is "
                  "never advertised: set 'advertise' to an address peers can reach",
                  why);
        return -1;
    }
    return 0;
}
