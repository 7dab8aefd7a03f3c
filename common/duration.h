/*
 * duration.h - durations as people write them (docs/configuration.md,
 * "Durations"): a number with a unit, "500ms", "5s", "2m", "1h", or a sum
 * of them in decreasing units, "1m30s", "1h2m3s". Units: ms, s, m, h, d.
 * A part may have a fraction ("1.5s", "0.25h") as long as the whole is a
 * whole number of milliseconds. One parser for every shedctl flag and
 * every duration key of shed-node's config, so "5s" means the same
 * everywhere.
 *
 * A bare number ("250") has the unit the caller names (`bare_ms`
 * milliseconds per unit): the old meaning of a flag or of a key whose
 * name says its unit (gossip.probe_interval_ms: milliseconds,
 * dns.ttl_s: seconds). bare_ms 0 refuses bare numbers.
 */
#ifndef SHED_DURATION_H
#define SHED_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define SHED_DURATION_TEXT_MAX 64 /* longer input is refused */
/* What every error says after the value: the forms that work. */
#define SHED_DURATION_HINT     "use a number with a unit: 500ms, 5s, 2m, 1h"

/* Parse `text` into *ms. Returns 0, or -1 with a one-line reason in `why`
 * ("invalid duration '5x': use a number with a unit: 500ms, 5s, 2m, 1h"),
 * *ms untouched. Refused: empty, signs, spaces, unknown units, a unit
 * twice or out of order ("5s1m"), a fraction of a millisecond, more than
 * SHED_DURATION_TEXT_MAX bytes, sums past UINT64_MAX ms. */
int shed_duration_parse (const char *text, uint64_t bare_ms, uint64_t *ms, char *why,
                         size_t whylen);

/* The same, and `ms` must fall within [min_ms, max_ms]; the reason then
 * names both bounds ("'2h' is outside 100ms..1h"). */
int shed_duration_parse_range (const char *text, uint64_t bare_ms, uint64_t min_ms, uint64_t max_ms,
                               uint64_t *ms, char *why, size_t whylen);

/* Exact shortest text parse accepts back: "0s", "250ms", "1m30s",
 * "1h0m5s" becomes "1h5s", "1s500ms". */
void shed_duration_format (uint64_t ms, char *out, size_t len);

#endif
