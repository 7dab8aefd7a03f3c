/* prom.c - see prom.h. */
#include "node/metrics/prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _shed_prom_t {
    char *buf;
    size_t len, cap;
    bool oom;        /* an append failed: the text is incomplete */
    char **families; /* names started so far (a handful: linear search) */
    size_t nfamilies, capfamilies;
    const char *current; /* points into families[], NULL: none */
    shed_prom_type_t type;
};

/* ---- buffer ---------------------------------------------------------------- */

static void
s_append (shed_prom_t *self, const char *data, size_t n)
{
    if (self->oom)
        return;
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *buf = realloc (self->buf, cap);
        if (!buf) {
            self->oom = true;
            return;
        }
        self->buf = buf;
        self->cap = cap;
    }
    memcpy (self->buf + self->len, data, n);
    self->len += n;
    self->buf[self->len] = '\0';
}

static void
s_puts (shed_prom_t *self, const char *text)
{
    s_append (self, text, strlen (text));
}

/* Escape what the format needs escaped: always backslash and newline, and
 * the double quote inside label values (HELP text keeps its quotes). */
static void
s_escaped (shed_prom_t *self, const char *text, bool quote)
{
    const char *run = text;
    for (const char *p = text; *p; p++) {
        const char *esc = *p == '\\'             ? "\\\\"
                          : *p == '\n'           ? "\\n"
                          : (*p == '"' && quote) ? "\\\""
                                                 : NULL;
        if (!esc)
            continue;
        s_append (self, run, (size_t) (p - run));
        s_puts (self, esc);
        run = p + 1;
    }
    s_puts (self, run);
}

/* ---- names and values ------------------------------------------------------ */

bool
shed_prom_metric_name_valid (const char *name)
{
    if (!name || !*name || (*name >= '0' && *name <= '9'))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
              || c == ':'))
            return false;
    }
    return true;
}

bool
shed_prom_label_name_valid (const char *name)
{
    if (!name || !*name || (*name >= '0' && *name <= '9') || strncmp (name, "__", 2) == 0)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_'))
            return false;
    }
    return true;
}

char *
shed_prom_format_double (double value, char *buf, size_t size)
{
    if (isnan (value))
        snprintf (buf, size, "NaN");
    else if (isinf (value))
        snprintf (buf, size, "%s", value > 0 ? "+Inf" : "-Inf");
    else {
        /* %.15g reads back exactly for most values a node reports (0.25,
         * 1.5, 12.3); the rest need all 17 digits. */
        snprintf (buf, size, "%.15g", value);
        if (strtod (buf, NULL) != value)
            snprintf (buf, size, "%.17g", value);
    }
    return buf;
}

/* ---- families and samples -------------------------------------------------- */

shed_prom_t *
shed_prom_new (void)
{
    return calloc (1, sizeof (shed_prom_t));
}

void
shed_prom_destroy (shed_prom_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_prom_t *self = *self_p;
    for (size_t i = 0; i < self->nfamilies; i++)
        free (self->families[i]);
    free (self->families);
    free (self->buf);
    free (self);
    *self_p = NULL;
}

int
shed_prom_family (shed_prom_t *self, const char *name, shed_prom_type_t type, const char *help)
{
    self->current = NULL;
    if (!shed_prom_metric_name_valid (name)
        || (type != SHED_PROM_COUNTER && type != SHED_PROM_GAUGE && type != SHED_PROM_HISTOGRAM))
        return -1;
    for (size_t i = 0; i < self->nfamilies; i++)
        if (strcmp (self->families[i], name) == 0)
            return -1;
    if (self->nfamilies == self->capfamilies) {
        size_t cap = self->capfamilies ? self->capfamilies * 2 : 64;
        char **families = realloc (self->families, cap * sizeof *families);
        if (!families) {
            self->oom = true;
            return -1;
        }
        self->families = families;
        self->capfamilies = cap;
    }
    char *copy = strdup (name);
    if (!copy) {
        self->oom = true;
        return -1;
    }
    self->families[self->nfamilies++] = copy;
    s_puts (self, "# HELP ");
    s_puts (self, name);
    s_puts (self, " ");
    s_escaped (self, help ? help : "", false);
    s_puts (self, "\n# TYPE ");
    s_puts (self, name);
    s_puts (self, type == SHED_PROM_COUNTER     ? " counter\n"
                  : type == SHED_PROM_HISTOGRAM ? " histogram\n"
                                                : " gauge\n");
    self->current = copy;
    self->type = type;
    return 0;
}

/* Check a NULL-ended list of label name, value pairs before anything is
 * written: a refused sample must leave no half line behind. */
static int
s_labels_valid (va_list ap, bool histogram)
{
    va_list aq;
    va_copy (aq, ap);
    int rc = 0;
    for (const char *k = va_arg (aq, const char *); k; k = va_arg (aq, const char *)) {
        const char *v = va_arg (aq, const char *);
        if (!v || !shed_prom_label_name_valid (k) || (histogram && strcmp (k, "le") == 0)) {
            rc = -1;
            break;
        }
    }
    va_end (aq);
    return rc;
}

/* One line: the family's name + suffix, the labels of `ap`, then `le`
 * when given (a histogram bucket's bound), then the value. */
static void
s_line (shed_prom_t *self, const char *suffix, const char *le, const char *value, va_list ap)
{
    s_puts (self, self->current);
    s_puts (self, suffix);
    const char *sep = "{";
    for (const char *k = va_arg (ap, const char *); k; k = va_arg (ap, const char *)) {
        const char *v = va_arg (ap, const char *);
        s_puts (self, sep);
        s_puts (self, k);
        s_puts (self, "=\"");
        s_escaped (self, v, true);
        s_puts (self, "\"");
        sep = ",";
    }
    if (le) {
        s_puts (self, sep);
        s_puts (self, "le=\"");
        s_puts (self, le);
        s_puts (self, "\"");
        sep = ",";
    }
    if (*sep == ',')
        s_puts (self, "}");
    s_puts (self, " ");
    s_puts (self, value);
    s_puts (self, "\n");
}

static void
s_sample (shed_prom_t *self, const char *value, va_list ap)
{
    s_line (self, "", NULL, value, ap);
}

int
shed_prom_u64 (shed_prom_t *self, uint64_t value, ...)
{
    va_list ap;
    va_start (ap, value);
    int rc = -1;
    if (self->current && self->type != SHED_PROM_HISTOGRAM && s_labels_valid (ap, false) == 0) {
        char text[24];
        snprintf (text, sizeof text, "%" PRIu64, value);
        s_sample (self, text, ap);
        rc = self->oom ? -1 : 0;
    }
    va_end (ap);
    return rc;
}

int
shed_prom_f64 (shed_prom_t *self, double value, ...)
{
    va_list ap;
    va_start (ap, value);
    int rc = -1;
    if (self->current && self->type != SHED_PROM_HISTOGRAM
        && !(self->type == SHED_PROM_COUNTER && value < 0) && s_labels_valid (ap, false) == 0) {
        char text[32];
        s_sample (self, shed_prom_format_double (value, text, sizeof text), ap);
        rc = self->oom ? -1 : 0;
    }
    va_end (ap);
    return rc;
}

int
shed_prom_histogram (shed_prom_t *self, const shed_hist_snap_t *snap, ...)
{
    va_list ap;
    va_start (ap, snap);
    int rc = -1;
    if (self->current && self->type == SHED_PROM_HISTOGRAM && snap
        && snap->nbounds <= SHED_HIST_BUCKETS_MAX && s_labels_valid (ap, true) == 0) {
        char le[32], text[32];
        va_list aq;
        for (size_t i = 0; i <= snap->nbounds; i++) {
            if (i < snap->nbounds)
                shed_prom_format_double (snap->bounds[i], le, sizeof le);
            else
                snprintf (le, sizeof le, "+Inf");
            snprintf (text, sizeof text, "%" PRIu64, snap->cumulative[i]);
            va_copy (aq, ap);
            s_line (self, "_bucket", le, text, aq);
            va_end (aq);
        }
        va_copy (aq, ap);
        s_line (self, "_sum", NULL, shed_prom_format_double (snap->sum, text, sizeof text), aq);
        va_end (aq);
        snprintf (text, sizeof text, "%" PRIu64, snap->count);
        s_line (self, "_count", NULL, text, ap);
        rc = self->oom ? -1 : 0;
    }
    va_end (ap);
    return rc;
}

const char *
shed_prom_text (shed_prom_t *self, size_t *len)
{
    if (self->oom)
        return NULL;
    if (len)
        *len = self->len;
    return self->buf ? self->buf : "";
}
