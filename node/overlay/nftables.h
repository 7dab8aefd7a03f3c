/*
 * nftables.h - the node's nftables rules, driven through libnftables (no
 * shell, no `nft` process): every script is built here from values that
 * were parsed and re-formatted first, so nothing a peer or a shed sends can
 * add a command to it (docs/overlay.md, "Anti-spoofing" and "plain mode").
 *
 * Two rule sets, each in tables of the node's own (named after the node,
 * non-alphanumerics as '_'), so a script never touches anyone else's rules:
 *
 *   bridge shed_<node>   anti-spoofing: a chain per shed port (the veth's
 *                        host end) that drops frames whose source MAC, IPv4
 *                        address, ARP sender or ethertype is not the shed's;
 *                        a verdict map `ports` sends each port to its chain
 *                        from the `prerouting` hook (counters on every drop)
 *   inet shed_<node>     plain mode: VXLAN accepted only from members
 *
 * Every call returns 0, or -1 with errno (EINVAL: an input is not what it
 * must be, nothing was run) and a one-line reason in `why`.
 */
#ifndef SHED_OVERLAY_NFTABLES_H
#define SHED_OVERLAY_NFTABLES_H

#include <stdbool.h>
#include <stddef.h>

#define SHED_NFT_ADDR_MAX   46 /* INET6_ADDRSTRLEN */
#define SHED_NFT_MAC_MAX    18
#define SHED_NFT_NAME_MAX   80
#define SHED_NFT_SCRIPT_MAX 2048

/* The canonical text of an IPv4 or IPv6 address: parsed with inet_pton and
 * formatted again with inet_ntop. Returns 4 or 6 (the family), or -1 for
 * anything else (a prefix, spaces, braces, a newline, a trailing byte). */
int shed_nft_addr_canon (const char *text, char out[SHED_NFT_ADDR_MAX]);

/* "aa:bb:cc:dd:ee:ff" (lower case) from a MAC in that form; -1 otherwise. */
int shed_nft_mac_canon (const char *text, char out[SHED_NFT_MAC_MAX]);

/* "shed_" + node (non-alphanumerics as '_') + suffix. */
void shed_nft_table_name (const char *node, const char *suffix, char *out, size_t len);

/* Scripts (for the runner below; tests read them). A refused input leaves
 * buf empty. `ip` may carry a prefix ("198.19.5.2/16") or be NULL/"" (a
 * shed with no address: only its MAC and ethertypes are enforced). */
int shed_nft_antispoof_script (const char *table, const char *port, const char *mac, const char *ip,
                               char *buf, size_t len);
int shed_nft_antispoof_del_script (const char *table, const char *port, char *buf, size_t len);
int shed_nft_members_table_script (const char *table, unsigned port, char *buf, size_t len);
int shed_nft_member_script (const char *table, const char *addr, bool add, char *buf, size_t len);

/* Run a script through libnftables (atomic: one transaction); `out` (may be
 * NULL) gets what a `list` command printed. */
int shed_nft_run (const char *script, char *out, size_t outlen, char *why, size_t whylen);

/* Tests: replace what runs scripts (NULL: libnftables again). */
typedef int shed_nft_runner_fn (const char *script, char *out, size_t outlen, char *why,
                                size_t whylen);
void shed_nft_set_runner (shed_nft_runner_fn *fn);

/* Anti-spoofing for one bridge port of node `node`: install (or replace)
 * the port's chain; remove it (absent is success; the table goes with its
 * last port). */
int shed_nft_antispoof_add (const char *node, const char *port, const char *mac, const char *ip,
                            char *why, size_t whylen);
int shed_nft_antispoof_del (const char *node, const char *port, char *why, size_t whylen);

/* plain mode: a member's address into / out of the table's member set.
 * The address is validated again here, whoever validated it before. */
int shed_nft_member (const char *table, const char *addr, bool add, char *why, size_t whylen);

#endif
