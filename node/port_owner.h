/*
 * port_owner.h - when shed-node cannot bind a port, say who holds it.
 *
 * "Address already in use" alone sends an operator to netstat; shed-node
 * looks the port up itself (/proc/net/{tcp,udp}{,6} for the socket's inode,
 * then /proc/PID/fd for the process holding it) and names the well-known
 * neighbours that use its default ports (7946: Serf, Docker Swarm; 8600:
 * Consul's DNS) with the one-line config change that moves shed-node away
 * (docs/operations.md, "Ports").
 */
#ifndef SHED_NODE_PORT_OWNER_H
#define SHED_NODE_PORT_OWNER_H

#include "node/config.h"

#include <stddef.h>

/* Who holds local port `port` over `proto` ("tcp": listening, "udp":
 * bound), into out as "pid 1234 (serf)", "another process (pid unknown)"
 * when the socket is found but not its process (not root), or "" when no
 * socket holds it. */
void shed_port_owner (const char *proto, unsigned port, char *out, size_t outlen);

/* For every port this config makes shed-node bind that another socket
 * holds: one line each, "port 7946/udp (gossip) is held by pid 1234
 * (serf); Serf and Docker Swarm use 7946: set 'bind: 0.0.0.0:7956'".
 * Empty when none is. Call after a failed start, once our own sockets are
 * closed. */
void shed_port_explain (const shed_config_t *cfg, char *out, size_t outlen);

#endif
