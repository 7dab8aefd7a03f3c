/*
 * tc.h - network rate limits for a shed's veth with tc's token bucket
 * filter (tbf), one per direction:
 *   - to the shed:   root tbf on the host end of the veth (its egress);
 *   - from the shed: root tbf on eth0 inside the shed's namespace.
 * We exec `tc` (iproute2) with an argument array, never a shell; inside
 * the namespace the child setns()es before exec. Building tbf's netlink
 * message by hand (rate tables) is not worth it for a call made once per
 * shed start.
 */
#ifndef SHED_DRV_TC_H
#define SHED_DRV_TC_H

#include <stddef.h>
#include <stdint.h>

/* Limit `dev` (in ns_fd, -1 = ours) to `kbit` kbit/s; 0 removes the limit.
 * Returns 0, or -1 with tc's own error line in why. */
int tc_rate_limit (const char *tc_path, int ns_fd, const char *dev, uint64_t kbit, char *why,
                   size_t why_size);

/* Parse a rate as tc writes it: a number (decimals allowed) and a unit,
 * bit|kbit|mbit|gbit|tbit (SI, as tc: 1mbit = 1000 kbit) or bytes per
 * second bps|kbps|mbps|gbps|tbps (x8), case-insensitive; "0" (no limit)
 * is the one bare number: a bare 1000 could be bits (tc) or kbit (our
 * net_kbit), so it is refused rather than guessed. kbit/s into *kbit,
 * rounded up (a non-zero rate never becomes "no limit"). 0 or -1. */
int tc_rate_parse (const char *text, uint64_t *kbit);

/* Run `tc qdisc show dev DEV` (for tests): output into buf. */
int tc_show (const char *tc_path, int ns_fd, const char *dev, char *buf, size_t size);

#endif
