/*
 * tcp_listen.h - a listening TCP socket on "IPv4:PORT" or "[IPv6]:PORT",
 * for the node's HTTP listeners (/metrics and /health, the remote API).
 *
 * They bind and listen themselves rather than let libmicrohttpd do it, so
 * a failure says why (MHD_start_daemon only returns NULL) and a port of 0
 * (tests) reports the port the kernel chose.
 */
#ifndef SHED_TCP_LISTEN_H
#define SHED_TCP_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

/* Bind and listen on `text` ("IPv4:PORT" or "[IPv6]:PORT"; PORT 0: any
 * free port) with SO_REUSEADDR (a restarted node gets its port back while
 * old connections sit in TIME_WAIT; it does not let two listeners share
 * it), IPV6_V6ONLY for an IPv6 address, close-on-exec. Returns the fd,
 * with the bound "addr:port" (brackets for IPv6) in `address` and the
 * family in *v6; or -1 with a reason naming `what` (the config key). */
int shed_tcp_listen (const char *what, const char *text, int backlog, char *address, size_t addrlen,
                     bool *v6, char *err, size_t errlen);

#endif
