/*
 * prom.h - a Prometheus text exposition writer (format 0.0.4).
 *
 *     shed_prom_t *p = shed_prom_new ();
 *     shed_prom_family (p, "shed_members", SHED_PROM_GAUGE, "Members by status.");
 *     shed_prom_u64 (p, 3, "status", "alive", NULL);
 *     shed_prom_u64 (p, 0, "status", "failed", NULL);
 *     const char *text = shed_prom_text (p, &len);
 *
 * A family's `# HELP` and `# TYPE` lines are written once, when it is
 * started; its samples follow until the next family starts. A family name
 * can be started only once per writer (the format wants a family's samples
 * together), so a second start is refused. Names are checked against the
 * format's grammar; label values are escaped (backslash, double quote,
 * newline) and HELP text too (backslash, newline). A refused call writes
 * nothing and returns -1, so one bad label never corrupts the exposition.
 *
 * Not thread-safe: one writer per render.
 */
#ifndef SHED_NODE_PROM_H
#define SHED_NODE_PROM_H

#include "common/histogram.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _shed_prom_t shed_prom_t;

typedef enum {
    SHED_PROM_COUNTER,
    SHED_PROM_GAUGE,
    SHED_PROM_HISTOGRAM, /* samples only through shed_prom_histogram */
} shed_prom_type_t;

/* The content type of what shed_prom_text returns. */
#define SHED_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

shed_prom_t *shed_prom_new (void);
/* NULL-safe; nulls the caller's pointer. */
void shed_prom_destroy (shed_prom_t **self_p);

/* Start a family: writes `# HELP name help` and `# TYPE name type`.
 * Returns 0, or -1 if the name is not a metric name or was started before.
 * After a refusal no family is current, so the samples meant for it are
 * refused too instead of landing under the previous family. */
int shed_prom_family (shed_prom_t *self, const char *name, shed_prom_type_t type, const char *help);

/* One sample of the current family, with labels given as name, value
 * pairs ended by NULL: shed_prom_u64 (p, 12, "peer", "node2", NULL).
 * Returns 0, or -1 (no current family, a bad label name, an odd list, a
 * counter given a negative value, out of memory). */
int shed_prom_u64 (shed_prom_t *self, uint64_t value, ...) __attribute__ ((sentinel));
int shed_prom_f64 (shed_prom_t *self, double value, ...) __attribute__ ((sentinel));

/* One histogram of the current family (started SHED_PROM_HISTOGRAM; the
 * plain sample calls refuse such a family): writes name_bucket{...,le="B"}
 * for every bound and "+Inf", then name_sum and name_count, each with the
 * labels given (NULL-ended pairs; "le" is refused, it is the writer's).
 * Returns 0 or -1 as shed_prom_u64. */
int shed_prom_histogram (shed_prom_t *self, const shed_hist_snap_t *snap, ...)
    __attribute__ ((sentinel));

/* The exposition so far (NUL-terminated; *len without the NUL, len may be
 * NULL). Owned by the writer, valid until its next call. NULL if an
 * allocation failed earlier (the text would be incomplete). */
const char *shed_prom_text (shed_prom_t *self, size_t *len);

/* Name checks, exposed for tests: metric names [a-zA-Z_:][a-zA-Z0-9_:]*,
 * label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__" (reserved). */
bool shed_prom_metric_name_valid (const char *name);
bool shed_prom_label_name_valid (const char *name);

/* Format a sample value as the format spells it ("NaN", "+Inf", "-Inf",
 * else the shortest decimal that reads back as the same double) into buf
 * (at least 32 bytes). Returns buf. */
char *shed_prom_format_double (double value, char *buf, size_t size);

#endif
