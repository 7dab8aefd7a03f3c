/* tcp_listen.c - see tcp_listen.h. */
#include "common/tcp_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
shed_tcp_listen (const char *what, const char *text, int backlog, char *address, size_t addrlen,
                 bool *v6, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    socklen_t sslen = 0;
    const char *colon = strrchr (text, ':');
    char host[64];
    size_t hlen = colon ? (size_t) (colon - text) : 0;
    const char *h = text;
    *v6 = hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']';
    if (*v6) {
        h++;
        hlen -= 2;
    }
    char *end = NULL;
    unsigned long port = colon ? strtoul (colon + 1, &end, 10) : 0;
    if (!colon || hlen == 0 || hlen >= sizeof host || !colon[1] || *end || port > 65535) {
        snprintf (err, errlen, "%s '%s': expected IPv4:PORT or [IPv6]:PORT", what, text);
        return -1;
    }
    memcpy (host, h, hlen);
    host[hlen] = '\0';
    if (*v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons ((uint16_t) port);
        sslen = inet_pton (AF_INET6, host, &sin6->sin6_addr) == 1 ? sizeof *sin6 : 0;
    }
    else {
        struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons ((uint16_t) port);
        sslen = inet_pton (AF_INET, host, &sin->sin_addr) == 1 ? sizeof *sin : 0;
    }
    if (!sslen) {
        snprintf (err, errlen, "%s '%s': not an IP address", what, text);
        return -1;
    }
    int fd = socket (ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf (err, errlen, "%s %s: %s", what, text, strerror (errno));
        return -1;
    }
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (*v6)
        setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind (fd, (struct sockaddr *) &ss, sslen) != 0 || listen (fd, backlog) != 0) {
        snprintf (err, errlen, "%s %s: %s", what, text, strerror (errno));
        close (fd);
        return -1;
    }
    sslen = sizeof ss;
    uint16_t bound = (uint16_t) port;
    if (getsockname (fd, (struct sockaddr *) &ss, &sslen) == 0)
        bound = ntohs (*v6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                           : ((struct sockaddr_in *) &ss)->sin_port);
    snprintf (address, addrlen, "%s%s%s:%u", *v6 ? "[" : "", host, *v6 ? "]" : "",
              (unsigned) bound);
    return fd;
}
