/* json_text.c - see json_text.h. */
#include "common/json_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at s[0..len), or 0 when it is not
 * one; *bad gets how many bytes the one U+FFFD replaces (the maximal
 * subpart: the lead byte and the continuation bytes that were still
 * possible). Table 3-7 of the Unicode Standard, "Well-Formed UTF-8 Byte
 * Sequences", row by row. */
static size_t
s_sequence (const uint8_t *s, size_t len, size_t *bad)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0; /* below: overlong */
        else if (c == 0xed)
            hi = 0x9f; /* above: surrogates */
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90; /* below: overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above: beyond U+10FFFF */
    }
    else {
        *bad = 1; /* 80..C1 (continuation, overlong lead), F5..FF */
        return 0;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return i;
}

char *
utf8_repair (const char *s, size_t len, size_t *out_len)
{
    /* One byte becomes at most the three of U+FFFD. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc (len * 3 + 1);
    if (!out)
        return NULL;
    const uint8_t *p = (const uint8_t *) s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t bad = 0, ok = s_sequence (p + i, len - i, &bad);
        if (ok) {
            memcpy (out + n, p + i, ok);
            n += ok;
            i += ok;
        }
        else {
            memcpy (out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i += bad;
        }
    }
    out[n] = '\0';
    if (out_len)
        *out_len = n;
    return out;
}

json_t *
json_text_n (const char *s, size_t len)
{
    if (!s)
        return json_string ("");
    /* Valid text (nearly always) costs one check inside jansson. */
    json_t *v = json_stringn (s, len);
    if (v)
        return v;
    size_t n;
    char *fixed = utf8_repair (s, len, &n);
    if (!fixed)
        return NULL;
    v = json_stringn (fixed, n);
    free (fixed);
    return v;
}

json_t *
json_text (const char *s)
{
    return json_text_n (s, s ? strlen (s) : 0);
}
