/*
 * swim_suspicion.c - Lifeguard's dynamic suspicion timeout.
 */
#include "cluster/swim_internal.h"

#include <math.h>
#include <string.h>

/* snprintf's "%s" copy without its format parsing: a suspicion and each
 * of its confirmations copy an accuser's name, and with slow members that
 * is ~N confirmations per second on every node. */
static void
s_copy_name (char dst[SWIM_NAME_MAX + 1], const char *src)
{
    size_t n = strnlen (src, SWIM_NAME_MAX);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

void
swim__suspicion_start (swim_suspicion_t *s, uint64_t now, uint32_t k, uint64_t min_ms,
                       uint64_t max_ms, const char *accuser)
{
    memset (s, 0, sizeof *s);
    s->start_ms = now;
    /* Our accuser table bounds how many confirmations we can tell apart. */
    uint32_t cap = (uint32_t) (sizeof s->accusers / sizeof s->accusers[0]) - 1;
    s->k = k < cap ? k : cap;
    s->min_ms = min_ms;
    s->max_ms = max_ms < min_ms ? min_ms : max_ms;
    if (accuser && *accuser) {
        s_copy_name (s->accusers[0], accuser);
        s->naccusers = 1;
    }
    s->timeout_ms = swim__suspicion_timeout (s);
}

bool
swim__suspicion_confirm (swim_suspicion_t *s, const char *from)
{
    if (s->n >= s->k || !from || !*from)
        return false;
    for (uint32_t i = 0; i < s->naccusers; i++)
        if (strcmp (s->accusers[i], from) == 0)
            return false; /* the same accuser twice is not independent */
    s_copy_name (s->accusers[s->naccusers], from);
    s->naccusers++;
    s->n++;
    s->timeout_ms = swim__suspicion_timeout (s);
    return true;
}

uint64_t
swim__suspicion_timeout (const swim_suspicion_t *s)
{
    if (s->k == 0)
        return s->min_ms;
    double frac = log ((double) s->n + 1.0) / log ((double) s->k + 1.0);
    double t = (double) s->max_ms - frac * (double) (s->max_ms - s->min_ms);
    uint64_t timeout = (uint64_t) floor (t);
    return timeout < s->min_ms ? s->min_ms : timeout;
}

uint64_t
swim__suspicion_deadline (const swim_suspicion_t *s)
{
    return s->start_ms + s->timeout_ms;
}
