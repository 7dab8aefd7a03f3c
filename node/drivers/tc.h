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
int tc_rate_limit (const char *tc_path, int ns_fd, const char *dev, uint64_t kbit,
                   char *why, size_t why_size);

/* Run `tc qdisc show dev DEV` (for tests): output into buf. */
int tc_show (const char *tc_path, int ns_fd, const char *dev, char *buf, size_t size);

#endif
