/*
 * ipaddr.h - underlay addresses, IPv4 or IPv6, in one place
 * (docs/configuration.md "Addresses", docs/operations.md "IPv6 underlay").
 *
 * Every plane keeps a peer's underlay address as text: gossip carries it as
 * a string (cluster/gossip_msg.h), the peer directory derives the ZeroMQ
 * endpoints from it, the overlay parses it into a sockaddr. Peers compare
 * these strings, so they must be canonical: one text per address
 * (inet_ntop's), and an IPv4-mapped IPv6 address (what a dual-stack socket
 * reports for an IPv4 peer) is written as the plain IPv4 address. Host and
 * port are joined as "1.2.3.4:7946" or "[fd00::1]:7946" (RFC 3986), which
 * is also what libzmq expects after "tcp://".
 */
#ifndef SHED_COMMON_IPADDR_H
#define SHED_COMMON_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Text of any address, nul included (INET6_ADDRSTRLEN). */
#define SHED_IP_TEXT_MAX  46
/* "[" addr "]:" port, nul included. */
#define SHED_HOSTPORT_MAX (SHED_IP_TEXT_MAX + 8)

/* The family of a numeric literal: 4, 6, or 0 when `text` is not exactly
 * one address (names, scope ids "fe80::1%eth0", trailing bytes). */
int shed_ip_family (const char *text);

/* The canonical text of a numeric literal into out: inet_ntop's form, an
 * IPv4-mapped IPv6 address as IPv4. Returns the family (4 or 6), or 0
 * with out empty. out may be text. */
int shed_ip_canon (const char *text, char out[SHED_IP_TEXT_MAX]);

/* True for 0.0.0.0 and :: (a bind to every address). */
bool shed_ip_is_any (const char *text);

/* A literal an address a peer could use: not the unspecified address, not
 * multicast or broadcast (an alive record naming one would make every
 * member send there). Loopback is allowed: single-host clusters use it. */
bool shed_ip_is_unicast (const char *text);

/* sockaddr for `text` (a literal; NULL or "" is the wildcard of `family`)
 * and port, ready for a socket of `family` (AF_INET or AF_INET6): an IPv4
 * address for an AF_INET6 socket becomes ::ffff:a.b.c.d (dual stack); an
 * IPv6 one for an AF_INET socket is refused. 0, or -1 (EINVAL /
 * EAFNOSUPPORT in errno). */
int shed_ip_sockaddr (const char *text, uint16_t port, int family, struct sockaddr_storage *out,
                      socklen_t *outlen);

/* The canonical text (as shed_ip_canon) and port of a sockaddr from
 * recvfrom / accept; port may be NULL. 0, or -1 for another family. */
int shed_ip_from_sockaddr (const struct sockaddr *sa, char out[SHED_IP_TEXT_MAX], uint16_t *port);

/* Split "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 literal
 * (which has no port: write "[V6]:PORT" for one) into host (brackets
 * dropped) and port (default_port when none). HOST is not resolved here.
 * 0, or -1 (empty host, bad or zero port, unbalanced brackets, a bracketed
 * host that is not an IPv6 literal, host longer than hostlen - 1). */
int shed_hostport_split (const char *text, char *host, size_t hostlen, uint16_t *port,
                         uint16_t default_port);

/* "HOST:PORT", with brackets when HOST holds a ':' (IPv6). Returns the
 * length, or -1 when it does not fit. */
int shed_hostport_join (char *buf, size_t size, const char *host, unsigned port);

/* The socket family to open for a bind address: AF_INET6 for an IPv6
 * literal (:: is dual stack), AF_INET otherwise. */
int shed_ip_bind_family (const char *bind_addr);

#endif
