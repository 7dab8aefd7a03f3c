/*
 * bus_internal.h - pieces of the bus actor (bus.c) exposed for tests and
 * fuzzing only; not an API for other components.
 *
 * A consumer (or a peer) asks for last values by subscribing to
 * "$snapreq.<nonce>\0<prefix1>\0<prefix2>\0..." (docs/events.md, "Last
 * values and snapshots"). The bytes come from the network (the CURVE
 * consumer endpoint, a peer's XSUB), so the parser is fuzzed
 * (fuzz/fuzz_snapreq.c).
 */
#ifndef SHED_BUS_INTERNAL_H
#define SHED_BUS_INTERNAL_H

#include "bridges/event_msg.h"

#include <stddef.h>
#include <stdint.h>

#define BUS_SNAPREQ_ROUTE "$snapreq."            /* + nonce NUL prefixes...: a request */
#define BUS_SUB_MAX       (EVENT_TOPIC_MAX + 1)  /* one prefix, NUL included */

/* Parse a whole "$snapreq.<nonce>\0p1\0p2\0..." subscription of `len`
 * bytes (the route already checked by the caller) into a NUL-terminated
 * nonce (1..EVENT_NONCE_MAX bytes) and up to EVENT_PREFIXES_MAX prefixes
 * (each < BUS_SUB_MAX bytes, every one NUL-terminated in the input).
 * Returns 0, or -1 if anything is out of bounds (then nonce/prefixes are
 * partly written and must not be used). */
int bus_snapreq_parse (const uint8_t *data, size_t len, char nonce [EVENT_NONCE_MAX + 1],
                       char prefixes [][BUS_SUB_MAX], size_t *nprefixes);

#endif
