/*
 * netlink.h - the rtnetlink calls the netns driver needs, over libmnl.
 *
 * Every call takes `ns_fd`: -1 means the calling thread's network
 * namespace, otherwise an open /run/netns/... (or /proc/PID/ns/net) file.
 * A netlink socket belongs to the namespace it was created in, so for a
 * foreign namespace we switch THIS thread into it, open the socket and
 * switch back before talking (setns on one thread is fine in a threaded
 * daemon; nothing else runs on this thread meanwhile).
 *
 * Return 0, or -errno with a one-line reason in `why`.
 */
#ifndef SHED_DRV_NETLINK_H
#define SHED_DRV_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The transport under every call, for modules that build their own
 * requests (the overlay's VXLAN device, FDB and neighbour entries): send
 * `nlh` with NLM_F_ACK in ns_fd's namespace and read until the ACK; `fn`
 * (may be NULL) sees each data message of the reply. 0 or -errno. */
typedef int (nl_msg_fn) (const struct nlmsghdr *nlh, void *arg);
int nl_talk (int ns_fd, struct nlmsghdr *nlh, nl_msg_fn *fn, void *arg);

/* Start an RTM_{NEW,DEL,GET}LINK request in `buf` (MNL_SOCKET_BUFFER_SIZE
 * bytes); *ifm_out, if not NULL, gets its ifinfomsg. */
struct nlmsghdr *nl_link_msg (void *buf, uint16_t type, uint16_t flags, struct ifinfomsg **ifm_out);

/* veth pair: `host` here, `peer` created directly inside `peer_ns_fd`. */
int nl_veth_create (const char *host, const char *peer, int peer_ns_fd, char *why, size_t why_size);

/* A bridge (for tests and the host bridge if nobody else made it). */
int nl_bridge_create (int ns_fd, const char *name, char *why, size_t why_size);

/* Change a link: master (NULL = unchanged), MAC "aa:bb:.." (NULL =
 * unchanged), mtu (0 = unchanged), up. */
int nl_link_set (int ns_fd, const char *ifname, const char *master, const char *mac, uint32_t mtu,
                 bool up, char *why, size_t why_size);

/* Add "a.b.c.d/len" to ifname. EEXIST is success. */
int nl_addr_add (int ns_fd, const char *ifname, const char *cidr, char *why, size_t why_size);

/* Default route via gateway out of ifname. EEXIST is success. */
int nl_route_default (int ns_fd, const char *ifname, const char *gateway, char *why,
                      size_t why_size);

/* Delete a link. Returns 0, -ENODEV if absent (why untouched), or -errno. */
int nl_link_del (int ns_fd, const char *ifname, char *why, size_t why_size);

/* Byte counters of a link (as the link sees them). */
int nl_link_stats (int ns_fd, const char *ifname, uint64_t *rx_bytes, uint64_t *tx_bytes);

/* ifindex of a link in ns_fd, 0 if absent. */
unsigned nl_ifindex (int ns_fd, const char *ifname);

#endif
