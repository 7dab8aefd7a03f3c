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

#endif
