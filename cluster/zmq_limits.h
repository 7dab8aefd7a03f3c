/*
 * zmq_limits.h - bounds for every ZeroMQ socket that faces the network.
 *
 * libzmq's defaults let anyone who can reach a TCP endpoint hold a
 * half-open handshake for 30 s (ZMQ_HANDSHAKE_IVL) and, once past the
 * handshake, send a message of any size (ZMQ_MAXMSGSIZE -1): libzmq
 * allocates it whole before we see it. Call shed_zmq_limit_network() right
 * after creating each such socket, before bind/connect (docs/crypto.md,
 * "Threat model").
 */
#ifndef SHED_ZMQ_LIMITS_H
#define SHED_ZMQ_LIMITS_H

#include <czmq.h>
#include <stdint.h>

/* The wire codec refuses any declared size over 16 MiB (docs/wire.md), so
 * a larger message could never decode: refuse it at the socket. */
#define SHED_ZMQ_MAXMSG_DEFAULT   ((int64_t) 17 * 1024 * 1024)
/* Inbound traffic on a PUB/XPUB is subscriptions only. */
#define SHED_ZMQ_MAXMSG_SUBSCRIBE ((int64_t) 64 * 1024)
/* A CURVE handshake completes in one round trip; 5 s is generous. */
#define SHED_ZMQ_HANDSHAKE_MS     5000

/* Set ZMQ_MAXMSGSIZE (maxmsg bytes) and ZMQ_HANDSHAKE_IVL. Returns 0 or -1. */
int shed_zmq_limit_network (zsock_t *sock, int64_t maxmsg);

/* ZMQ_IPV6 on `handle` (a libzmq socket) as `endpoint` needs it, before the
 * bind or connect: on for "tcp://[v6]:port" (an IPv6 underlay,
 * docs/operations.md "IPv6 underlay"; libzmq refuses such an endpoint
 * without it), off otherwise. Not on for every socket: with it libzmq opens
 * IPv4 endpoints as IPv4-mapped IPv6 sockets, which fail on a host with
 * IPv6 disabled and report "tcp://[::ffff:a.b.c.d]:port" back. 0 or -1. */
int shed_zmq_ipv6_for (void *handle, const char *endpoint);

/* Process limits for sockets (docs/state.md, "Connections per node").
 * Every ZeroMQ socket holds at least one fd (its mailbox) and libzmq's
 * context allows 1,023 sockets by default; a node's sockets are bounded
 * (peer pools), but the defaults leave little room. Call once at start,
 * after zsys_init and before the first socket: raises the RLIMIT_NOFILE
 * soft limit to the hard limit and sets czmq's max sockets to
 * SHED_ZMQ_MAX_SOCKETS or, if fewer fds are allowed, to half of them
 * (at least czmq's default). Returns the max sockets set. A socket that
 * still cannot be made is counted where it is made (peer_pool.h). */
#define SHED_ZMQ_MAX_SOCKETS 8192
size_t shed_zmq_raise_limits (void);

/* File descriptors this process has open (entries of /proc/self/fd), or -1. */
int shed_proc_fds (void);

#endif
