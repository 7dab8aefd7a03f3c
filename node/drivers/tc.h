/*
 * tc.h - network rate limits for a shed's veth with tc's token bucket
 * filter (tbf), one per direction:
 *   - to the shed:   root tbf on the host end of the veth (its egress);
 *   - from the shed: root tbf on eth0 inside the shed's namespace.
 * Set over rtnetlink with libnl-route-3, which builds tbf's message (rate
 * table included) as `tc` does; no process is started. Inside the shed's
 * namespace the netlink socket is opened there (setns on this thread and
 * back, as netlink.h does).
 */
#ifndef SHED_DRV_TC_H
#define SHED_DRV_TC_H

#include <stddef.h>
#include <stdint.h>

/* libnl's tbf takes the rate as an int of bytes per second: the highest
 * rate we can set is INT32_MAX bytes/s, 17.18 Gbit/s, far above any
 * per-shed limit. */
#define TC_KBIT_MAX ((uint64_t) INT32_MAX / 125)

/* Limit `dev` (in ns_fd, -1 = ours) to `kbit` kbit/s; 0 removes the limit
 * (none there is fine). Returns 0, or -1 with a one-line reason in why
 * ("tc: rate limit on DEV: no such interface", ...). */
int tc_rate_limit (int ns_fd, const char *dev, uint64_t kbit, char *why, size_t why_size);

/* Parse a rate as tc writes it: a number (decimals allowed) and a unit,
 * bit|kbit|mbit|gbit|tbit (SI, as tc: 1mbit = 1000 kbit) or bytes per
 * second bps|kbps|mbps|gbps|tbps (x8), case-insensitive; "0" (no limit)
 * is the one bare number: a bare 1000 could be bits (tc) or kbit (our
 * net_kbit), so it is refused rather than guessed. kbit/s into *kbit,
 * rounded up (a non-zero rate never becomes "no limit"), at most
 * TC_KBIT_MAX. 0 or -1. */
int tc_rate_parse (const char *text, uint64_t *kbit);

/* The root qdisc of a link as the kernel reports it (tests, diagnostics). */
typedef struct {
    char kind[16];     /* "tbf", "noqueue", ...; "" when the dump has none */
    uint64_t rate_bps; /* tbf: bytes per second */
    uint32_t burst;    /* tbf: bucket, bytes */
    uint32_t limit;    /* tbf: queue, bytes */
} tc_root_t;

/* 0, or -1 with a reason in why (no such interface, namespace, netlink). */
int tc_root_get (int ns_fd, const char *dev, tc_root_t *out, char *why, size_t why_size);

#endif
