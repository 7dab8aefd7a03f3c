/* ipaddr.c - see ipaddr.h. */
#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
shed_ip_family (const char *text)
{
    uint8_t bin[16];
    if (!text)
        return 0;
    if (inet_pton (AF_INET, text, bin) == 1)
        return 4;
    if (inet_pton (AF_INET6, text, bin) == 1)
        return 6;
    return 0;
}

/* in6 holds ::ffff:a.b.c.d */
static bool
s_mapped (const struct in6_addr *in6)
{
    return IN6_IS_ADDR_V4MAPPED (in6);
}

int
shed_ip_canon (const char *text, char out[SHED_IP_TEXT_MAX])
{
    struct in_addr in4;
    struct in6_addr in6;
    char tmp[SHED_IP_TEXT_MAX];
    int family = 0;
    if (text && inet_pton (AF_INET, text, &in4) == 1) {
        if (inet_ntop (AF_INET, &in4, tmp, sizeof tmp))
            family = 4;
    }
    else if (text && inet_pton (AF_INET6, text, &in6) == 1) {
        if (s_mapped (&in6)) {
            memcpy (&in4, &in6.s6_addr[12], 4);
            if (inet_ntop (AF_INET, &in4, tmp, sizeof tmp))
                family = 4;
        }
        else if (inet_ntop (AF_INET6, &in6, tmp, sizeof tmp))
            family = 6;
    }
    if (family)
        memcpy (out, tmp, strlen (tmp) + 1);
    else
        out[0] = '\0';
    return family;
}

bool
shed_ip_is_any (const char *text)
{
    char c[SHED_IP_TEXT_MAX];
    int family = shed_ip_canon (text, c);
    return (family == 4 && strcmp (c, "0.0.0.0") == 0) || (family == 6 && strcmp (c, "::") == 0);
}

bool
shed_ip_is_unicast (const char *text)
{
    struct in_addr in4;
    struct in6_addr in6;
    if (!text)
        return false;
    if (inet_pton (AF_INET, text, &in4) == 1) {
        uint32_t a = ntohl (in4.s_addr);
        return a != 0 && a != 0xffffffffu && (a >> 28) != 0xe; /* 224.0.0.0/4 */
    }
    if (inet_pton (AF_INET6, text, &in6) == 1) {
        if (s_mapped (&in6)) {
            char v4[SHED_IP_TEXT_MAX];
            shed_ip_canon (text, v4);
            return shed_ip_is_unicast (v4);
        }
        return !IN6_IS_ADDR_UNSPECIFIED (&in6) && !IN6_IS_ADDR_MULTICAST (&in6);
    }
    return false;
}

int
shed_ip_sockaddr (const char *text, uint16_t port, int family, struct sockaddr_storage *out,
                  socklen_t *outlen)
{
    memset (out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *) out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) out;
    struct in_addr in4 = { .s_addr = htonl (INADDR_ANY) };
    struct in6_addr in6 = in6addr_any;
    int got;
    if (!text || !*text)
        got = family == AF_INET6 ? 6 : 4;
    else if (inet_pton (AF_INET, text, &in4) == 1)
        got = 4;
    else if (inet_pton (AF_INET6, text, &in6) == 1)
        got = 6;
    else {
        errno = EINVAL;
        return -1;
    }
    if (family == AF_INET6) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons (port);
        if (got == 4) {
            /* ::ffff:a.b.c.d: how a dual-stack socket reaches an IPv4 peer */
            v6->sin6_addr.s6_addr[10] = 0xff;
            v6->sin6_addr.s6_addr[11] = 0xff;
            memcpy (&v6->sin6_addr.s6_addr[12], &in4, 4);
        }
        else
            v6->sin6_addr = in6;
        *outlen = sizeof *v6;
        return 0;
    }
    if (family != AF_INET) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    if (got == 6) {
        if (!s_mapped (&in6)) {
            errno = EAFNOSUPPORT; /* an IPv4 socket cannot reach it */
            return -1;
        }
        memcpy (&in4, &in6.s6_addr[12], 4);
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons (port);
    v4->sin_addr = in4;
    *outlen = sizeof *v4;
    return 0;
}

int
shed_ip_from_sockaddr (const struct sockaddr *sa, char out[SHED_IP_TEXT_MAX], uint16_t *port)
{
    char tmp[SHED_IP_TEXT_MAX];
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *) sa;
        if (!inet_ntop (AF_INET, &v4->sin_addr, out, SHED_IP_TEXT_MAX))
            return -1;
        if (port)
            *port = ntohs (v4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *) sa;
        if (!inet_ntop (AF_INET6, &v6->sin6_addr, tmp, sizeof tmp) || !shed_ip_canon (tmp, out))
            return -1;
        if (port)
            *port = ntohs (v6->sin6_port);
        return 0;
    }
    return -1;
}

static int
s_port (const char *text, uint16_t *port)
{
    char *end;
    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    unsigned long p = strtoul (text, &end, 10);
    if (errno || *end || p == 0 || p > 65535)
        return -1;
    *port = (uint16_t) p;
    return 0;
}

int
shed_hostport_split (const char *text, char *host, size_t hostlen, uint16_t *port,
                     uint16_t default_port)
{
    const char *start = text, *end;
    const char *rest; /* what follows the host: "" or ":PORT" */
    if (!text)
        return -1;
    if (text[0] == '[') {
        start = text + 1;
        end = strchr (start, ']');
        if (!end)
            return -1;
        rest = end + 1;
        if (*rest && *rest != ':')
            return -1;
    }
    else {
        const char *colon = strchr (text, ':');
        if (colon && strchr (colon + 1, ':')) {
            /* Two colons or more: a bare IPv6 literal, no port. */
            end = text + strlen (text);
            rest = end;
        }
        else {
            end = colon ? colon : text + strlen (text);
            rest = end;
        }
    }
    size_t hlen = (size_t) (end - start);
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    memcpy (host, start, hlen);
    host[hlen] = '\0';
    if (text[0] == '[' && shed_ip_family (host) != 6)
        return -1;
    *port = default_port;
    if (*rest == ':' && s_port (rest + 1, port) != 0)
        return -1;
    return 0;
}

int
shed_hostport_join (char *buf, size_t size, const char *host, unsigned port)
{
    int n = strchr (host, ':') ? snprintf (buf, size, "[%s]:%u", host, port)
                               : snprintf (buf, size, "%s:%u", host, port);
    return n < 0 || (size_t) n >= size ? -1 : n;
}

int
shed_ip_bind_family (const char *bind_addr)
{
    return shed_ip_family (bind_addr) == 6 ? AF_INET6 : AF_INET;
}
