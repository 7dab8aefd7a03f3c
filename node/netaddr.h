/*
 * netaddr.h - which address this node tells its peers (docs/operations.md,
 * "Addresses").
 *
 * With `bind: 0.0.0.0` and no `advertise`, the node advertises the IPv4
 * address of the interface that holds the default route (the lowest metric
 * one in /proc/net/route); with `bind: ::` the global IPv6 address of the
 * interface holding the IPv6 default route (/proc/net/ipv6_route), else the
 * IPv4 one as for 0.0.0.0 (a :: socket is dual stack). Link-local IPv6
 * addresses are never picked: they need a scope id only this host knows.
 * On a host with a management, a container and a
 * cluster network, that is the address the rest of the network routes to,
 * where "the first interface" used to be whichever the kernel listed first.
 * Loopback is never picked: peers on other hosts cannot reach it. An
 * `advertise` the operator set must be an address of this host, or the
 * node refuses to start: peers would probe an address nobody answers on.
 */
#ifndef SHED_NODE_NETADDR_H
#define SHED_NODE_NETADDR_H

#include "node/config.h"

#include <stdbool.h>
#include <stddef.h>

/* The name of the interface holding the IPv4 default route in `route_text`
 * (the text of /proc/net/route; lowest metric wins), into ifname (16
 * bytes). 0, or -1 when there is no usable default route. */
int shed_netaddr_route_iface (const char *route_text, char *ifname);

/* The same for the text of /proc/net/ipv6_route: the interface of the
 * lowest metric ::/0 route that is up (lo's "unreachable" default is not
 * one). 0, or -1. */
int shed_netaddr_route6_iface (const char *route_text, char *ifname);

/* The address of `family` (AF_INET, AF_INET6) to advertise when none is
 * set: the default route's interface's address, else the first usable one
 * of any up non-loopback interface. Canonical text. 0, or -1 with the
 * reason in why. */
int shed_netaddr_default_family (int family, char *out, size_t outlen, char *why, size_t whylen);
/* shed_netaddr_default_family (AF_INET, ...) */
int shed_netaddr_default (char *out, size_t outlen, char *why, size_t whylen);

/* True when `addr` (IPv4 or IPv6 literal) belongs to this host: an
 * interface holds it, or it is in 127.0.0.0/8 (all of it is local on
 * Linux) or ::1. */
bool shed_netaddr_is_local (const char *addr);

/* Settle cfg->advertise_addr before the start (and in --check-config):
 * pick it as above when bind is 0.0.0.0 or :: and it is unset; refuse one
 * that is not on this host, or of a family the bind cannot serve (IPv6
 * advertised with an IPv4 bind, or the reverse; :: serves both). 0, or -1
 * with a one-line reason. */
int shed_netaddr_resolve (shed_config_t *cfg, char *err, size_t errlen);

#endif
