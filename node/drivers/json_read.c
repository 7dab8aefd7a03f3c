/*
 * json_read.c - bounded JSON validation and path lookup (see json_read.h).
 */
#include "node/drivers/json_read.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
s_ws (const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int
s_hex4 (const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned) (c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Parse a string at p (on the quote). If buf, unescape into it (size
 * bounded; *overflow set when it did not fit). Returns the end or NULL. */
static const char *
s_string (const char *p, const char *end, char *buf, size_t size, bool *overflow)
{
    size_t n = 0;
    if (p >= end || *p != '"')
        return NULL;
    p++;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char) *p;
        char tmp[4];
        size_t tlen = 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            switch (*p) {
            case '"':
                tmp[0] = '"';
                break;
            case '\\':
                tmp[0] = '\\';
                break;
            case '/':
                tmp[0] = '/';
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned cp;
                if (s_hex4 (p + 1, end, &cp))
                    return NULL;
                p += 4;
                if (cp >= 0xd800 && cp < 0xdc00) {
                    unsigned lo;
                    if (end - p < 7 || p[1] != '\\' || p[2] != 'u' || s_hex4 (p + 3, end, &lo)
                        || lo < 0xdc00 || lo > 0xdfff)
                        return NULL;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                else if (cp >= 0xdc00 && cp < 0xe000)
                    return NULL;
                if (cp < 0x80) {
                    tmp[0] = (char) cp;
                    tlen = 1;
                }
                else if (cp < 0x800) {
                    tmp[0] = (char) (0xc0 | (cp >> 6));
                    tmp[1] = (char) (0x80 | (cp & 0x3f));
                    tlen = 2;
                }
                else if (cp < 0x10000) {
                    tmp[0] = (char) (0xe0 | (cp >> 12));
                    tmp[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                    tmp[2] = (char) (0x80 | (cp & 0x3f));
                    tlen = 3;
                }
                else {
                    tmp[0] = (char) (0xf0 | (cp >> 18));
                    tmp[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
                    tmp[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
                    tmp[3] = (char) (0x80 | (cp & 0x3f));
                    tlen = 4;
                }
                break;
            }
            default:
                return NULL;
            }
        }
        else
            tmp[0] = (char) c;
        p++;
        if (buf) {
            if (n + tlen < size) {
                memcpy (buf + n, tmp, tlen);
                n += tlen;
            }
            else
                *overflow = true;
        }
    }
    if (p >= end)
        return NULL;
    if (buf && size)
        buf[n] = '\0';
    return p + 1;
}

static const char *
s_number (const char *p, const char *end)
{
    const char *start = p;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p > start ? p : NULL;
}

/* Skip one value at p (no leading ws). Returns its end or NULL. */
static const char *
s_value (const char *p, const char *end, int depth)
{
    if (p >= end || depth > JSON_READ_DEPTH)
        return NULL;
    switch (*p) {
    case '"':
        return s_string (p, end, NULL, 0, NULL);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        bool object = *p == '{';
        p = s_ws (p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (object) {
                p = s_string (p, end, NULL, 0, NULL);
                if (!p)
                    return NULL;
                p = s_ws (p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p = s_ws (p + 1, end);
            }
            p = s_value (p, end, depth + 1);
            if (!p)
                return NULL;
            p = s_ws (p, end);
            if (p >= end)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p = s_ws (p + 1, end);
        }
    }
    case 't':
        return end - p >= 4 && memcmp (p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && memcmp (p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return end - p >= 4 && memcmp (p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return s_number (p, end);
    }
}

bool
json_valid (const char *text, size_t len)
{
    if (!text)
        return false;
    const char *end = text + len;
    const char *p = s_value (s_ws (text, end), end, 0);
    return p && s_ws (p, end) == end;
}

const char *
json_find (const char *text, size_t len, const char *path, size_t *vlen)
{
    if (!json_valid (text, len))
        return NULL;
    const char *end = text + len;
    const char *p = s_ws (text, end);
    while (path && *path) {
        const char *dot = strchr (path, '.');
        size_t seglen = dot ? (size_t) (dot - path) : strlen (path);
        if (*p != '{')
            return NULL;
        p = s_ws (p + 1, end);
        bool found = false;
        while (p < end && *p != '}') {
            char key[128];
            bool overflow = false;
            p = s_string (p, end, key, sizeof key, &overflow);
            p = s_ws (p, end); /* valid document: ':' follows */
            p = s_ws (p + 1, end);
            if (!overflow && strlen (key) == seglen && memcmp (key, path, seglen) == 0) {
                found = true;
                break;
            }
            p = s_ws (s_value (p, end, 0), end);
            if (*p == ',')
                p = s_ws (p + 1, end);
        }
        if (!found)
            return NULL;
        path = dot ? dot + 1 : NULL;
    }
    const char *vend = s_value (p, end, 0);
    if (vlen)
        *vlen = (size_t) (vend - p);
    return p;
}

int
json_get_str (const char *text, size_t len, const char *path, char *buf, size_t size)
{
    size_t vlen;
    const char *v = json_find (text, len, path, &vlen);
    if (!v || *v != '"' || !size)
        return -1;
    bool overflow = false;
    if (!s_string (v, v + vlen, buf, size, &overflow) || overflow)
        return -1;
    return 0;
}

int
json_get_num (const char *text, size_t len, const char *path, double *out)
{
    size_t vlen;
    const char *v = json_find (text, len, path, &vlen);
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')) || vlen >= 64)
        return -1;
    char tmp[64];
    memcpy (tmp, v, vlen);
    tmp[vlen] = '\0';
    *out = strtod (tmp, NULL);
    return 0;
}

int
json_get_bool (const char *text, size_t len, const char *path, bool *out)
{
    size_t vlen;
    const char *v = json_find (text, len, path, &vlen);
    if (!v || (*v != 't' && *v != 'f'))
        return -1;
    *out = *v == 't';
    return 0;
}

int
json_each (const char *text, size_t len, const char *path, json_each_fn *fn, void *arg)
{
    size_t vlen;
    const char *v = json_find (text, len, path, &vlen);
    if (!v || *v != '[')
        return -1;
    const char *end = v + vlen;
    const char *p = s_ws (v + 1, end);
    int count = 0;
    while (p < end && *p != ']') {
        const char *e = s_value (p, end, 0);
        fn (arg, p, (size_t) (e - p));
        count++;
        p = s_ws (e, end);
        if (*p == ',')
            p = s_ws (p + 1, end);
    }
    return count;
}

int
json_quote (const char *value, char *buf, size_t size)
{
    size_t n = 0;
#define S_PUT(c)                                                                                   \
    do {                                                                                           \
        if (n + 1 >= size)                                                                         \
            return -1;                                                                             \
        buf[n++] = (c);                                                                            \
    } while (0)
    S_PUT ('"');
    for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
        if (*p == '"' || *p == '\\') {
            S_PUT ('\\');
            S_PUT ((char) *p);
        }
        else if (*p < 0x20) {
            char esc[8];
            snprintf (esc, sizeof esc, "\\u%04x", *p);
            for (char *e = esc; *e; e++)
                S_PUT (*e);
        }
        else
            S_PUT ((char) *p);
    }
    S_PUT ('"');
#undef S_PUT
    buf[n] = '\0';
    return (int) n;
}
