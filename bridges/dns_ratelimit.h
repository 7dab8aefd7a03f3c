/*
 * dns_ratelimit.h - per-source token buckets for a DNS listener that faces
 * untrusted clients (the shed listener on the overlay gateway, docs/dns.md).
 *
 * Each source address gets `rate` queries per second with bursts of up to
 * `burst`. The table is fixed-size (no allocation after new, no growth a
 * flood could drive): a source hashes, with a seed chosen at creation, to
 * one slot. A slot whose bucket has refilled completely is idle and may be
 * taken over by another source; an active slot is shared by the sources
 * that hash to it, so a collision can only make a limit stricter, never
 * lift it. The seed keeps a client from choosing whom it collides with.
 *
 * Pure apart from the seed: the caller passes the clock, so the tests
 * drive time by hand.
 *
 *     dns_ratelimit_t *rl = dns_ratelimit_new (100, 200, 1024, seed);
 *     if (!dns_ratelimit_allow (rl, (struct sockaddr *) &peer, now_ms))
 *         drop ();
 *     dns_ratelimit_destroy (&rl);
 */
#ifndef SHED_DNS_RATELIMIT_H
#define SHED_DNS_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct _dns_ratelimit_t dns_ratelimit_t;

/* rate: queries per second per source (> 0); burst: bucket size (0 = rate);
 * slots: table size, rounded up to a power of two (0 = 1024). NULL on bad
 * arguments or out of memory. */
dns_ratelimit_t *dns_ratelimit_new (uint32_t rate, uint32_t burst, size_t slots, uint64_t seed);
void dns_ratelimit_destroy (dns_ratelimit_t **self_p);

/* Take one token for `peer` (AF_INET or AF_INET6; anything else shares one
 * bucket) at monotonic time now_ms. true: answer; false: over the limit. */
bool dns_ratelimit_allow (dns_ratelimit_t *self, const struct sockaddr *peer, int64_t now_ms);

#endif
