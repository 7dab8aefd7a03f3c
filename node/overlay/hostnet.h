/*
 * hostnet.h - the host-side links the overlay needs, over rtnetlink with
 * libmnl, in the calling thread's network namespace: the node bridge and its
 * gateway address, and for `plain` mode the kernel VXLAN device with static
 * FDB entries (MAC -> peer underlay address, all-zero MAC per peer for
 * broadcast) and neighbour entries (IP -> MAC, answered by the device's ARP
 * proxy).
 *
 * Every call returns 0, or -errno with a one-line reason in `why`.
 */
#ifndef SHED_OVERLAY_HOSTNET_H
#define SHED_OVERLAY_HOSTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Create the bridge unless it exists; set its MTU (0 = leave) and up.
 * *created says whether we made it. */
int hostnet_bridge_ensure (const char *name, int mtu, bool *created, char *why, size_t whylen);

/* ifindex of a link, 0 if absent. */
unsigned hostnet_ifindex (const char *ifname);

/* Set master (NULL = unchanged), MTU (0 = unchanged), up. */
int hostnet_link_set (const char *ifname, const char *master, int mtu, bool up, char *why,
                      size_t whylen);

/* Delete a link; absent is success. */
int hostnet_link_del (const char *ifname, char *why, size_t whylen);

/* Add / delete an IPv4 address "a.b.c.d" with a prefix. Add: EEXIST is
 * success; delete: absent is success. */
int hostnet_addr (const char *ifname, const char *ip, int prefix, bool add, char *why,
                  size_t whylen);

/* The kernel VXLAN device of `plain` mode: no learning, ARP proxy on,
 * UDP dstport `port`, local address `local` (NULL = any). */
int hostnet_vxlan_create (const char *name, uint32_t vni, uint16_t port, const char *local,
                          char *why, size_t whylen);

/* VXLAN FDB entry MAC -> dst (IPv4). `append` adds another destination for
 * the same MAC (the all-zero MAC: one per peer, for broadcast). */
int hostnet_fdb (const char *dev, const uint8_t mac[6], const char *dst, bool add, bool append,
                 char *why, size_t whylen);

/* Permanent neighbour entry IP -> MAC on dev. */
int hostnet_neigh (const char *dev, const char *ip, const uint8_t mac[6], bool add, char *why,
                   size_t whylen);

#endif
