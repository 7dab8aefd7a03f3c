/* duration.c - see duration.h. */
#include "common/duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    uint64_t ms;
} s_unit_t;

/* Longest name first where one is a prefix of another ("ms" before "m"),
 * and in decreasing size otherwise, so `rank` orders a sum's parts. */
static const s_unit_t s_units[] = {
    { "d", 86400000ull }, { "h", 3600000ull }, { "ms", 1ull }, { "m", 60000ull }, { "s", 1000ull },
};

static bool
s_digit (char c)
{
    return c >= '0' && c <= '9';
}

static int
s_invalid (const char *text, const char *detail, char *why, size_t whylen)
{
    /* The value is quoted as given, cut short: it may be hostile (a config
     * file), and the reason must stay one line. */
    char shown[SHED_DURATION_TEXT_MAX + 1];
    size_t n = 0;
    for (; text[n] && n < sizeof shown - 1; n++)
        shown[n] = (text[n] >= 0x20 && text[n] < 0x7f) ? text[n] : '?';
    shown[n] = '\0';
    snprintf (why, whylen, "invalid duration '%s'%s%s: %s", shown, text[n] ? "..." : "",
              detail ? detail : "", SHED_DURATION_HINT);
    return -1;
}

/* a * b + c without overflow; false on overflow. */
static bool
s_muladd (uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    if (b && a > (UINT64_MAX - c) / b)
        return false;
    *out = a * b + c;
    return true;
}

int
shed_duration_parse (const char *text, uint64_t bare_ms, uint64_t *ms, char *why, size_t whylen)
{
    if (!text)
        text = "";
    size_t len = strnlen (text, SHED_DURATION_TEXT_MAX + 1);
    if (len == 0 || len > SHED_DURATION_TEXT_MAX)
        return s_invalid (text, NULL, why, whylen);
    const char *p = text;
    uint64_t total = 0;
    size_t last_rank = (size_t) -1; /* none yet */
    bool first = true;
    while (*p) {
        /* number: digits [ '.' digits ] */
        uint64_t whole = 0, frac = 0, scale = 1;
        size_t nd = 0, nf = 0;
        for (; s_digit (*p); p++, nd++)
            if (!s_muladd (whole, 10, (uint64_t) (*p - '0'), &whole))
                return s_invalid (text, " (too long)", why, whylen);
        if (*p == '.') {
            p++;
            for (; s_digit (*p); p++, nf++) {
                if (nf >= 9) /* beyond a nanosecond of an hour: noise */
                    return s_invalid (text, " (too many decimals)", why, whylen);
                frac = frac * 10 + (uint64_t) (*p - '0');
                scale *= 10;
            }
        }
        if (nd + nf == 0)
            return s_invalid (text, NULL, why, whylen);
        /* unit */
        size_t u = 0, nunits = sizeof s_units / sizeof s_units[0];
        for (; u < nunits; u++)
            if (strncmp (p, s_units[u].name, strlen (s_units[u].name)) == 0)
                break;
        uint64_t unit;
        if (u == nunits) {
            if (*p || !first || bare_ms == 0)
                return s_invalid (text, NULL, why, whylen);
            unit = bare_ms; /* a bare number alone: the caller's unit */
        }
        else {
            p += strlen (s_units[u].name);
            /* A sum goes from larger to smaller units, each once. */
            if (last_rank != (size_t) -1 && s_units[u].ms >= s_units[last_rank].ms)
                return s_invalid (text, " (units out of order)", why, whylen);
            last_rank = u;
            unit = s_units[u].ms;
        }
        first = false;
        uint64_t part, fpart;
        if (!s_muladd (whole, unit, 0, &part) || !s_muladd (frac, unit, 0, &fpart))
            return s_invalid (text, " (too long)", why, whylen);
        if (fpart % scale)
            return s_invalid (text, " (finer than a millisecond)", why, whylen);
        if (!s_muladd (1, part, fpart / scale, &part) || !s_muladd (1, total, part, &total))
            return s_invalid (text, " (too long)", why, whylen);
    }
    *ms = total;
    return 0;
}

int
shed_duration_parse_range (const char *text, uint64_t bare_ms, uint64_t min_ms, uint64_t max_ms,
                           uint64_t *ms, char *why, size_t whylen)
{
    uint64_t v;
    if (shed_duration_parse (text, bare_ms, &v, why, whylen) != 0)
        return -1;
    if (v < min_ms || v > max_ms) {
        char lo[32], hi[32];
        shed_duration_format (min_ms, lo, sizeof lo);
        shed_duration_format (max_ms, hi, sizeof hi);
        snprintf (why, whylen, "'%s' is outside %s..%s", text, lo, hi);
        return -1;
    }
    *ms = v;
    return 0;
}

void
shed_duration_format (uint64_t ms, char *out, size_t len)
{
    if (len == 0)
        return;
    if (ms == 0) {
        snprintf (out, len, "0s");
        return;
    }
    static const s_unit_t order[] = {
        { "d", 86400000ull }, { "h", 3600000ull }, { "m", 60000ull }, { "s", 1000ull }, { "ms", 1 },
    };
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0] && ms; i++) {
        uint64_t n = ms / order[i].ms;
        if (!n)
            continue;
        ms -= n * order[i].ms;
        int w = snprintf (out + used, len - used, "%llu%s", (unsigned long long) n, order[i].name);
        if (w < 0 || (size_t) w >= len - used)
            return; /* cut short: still a string */
        used += (size_t) w;
    }
}
