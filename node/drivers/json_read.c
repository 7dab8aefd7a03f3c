/*
 * json_read.c - bounded JSON reading over jansson (see json_read.h).
 */
#include "node/drivers/json_read.h"

#include "common/json_text.h"

#include <stdio.h>
#include <string.h>

/* true when v holds at most `left` containers nested (v included). jansson's own
 * parser stops at 2048, so this recursion is bounded too. */
static bool
s_depth_ok (json_t *v, int left)
{
    if (!json_is_object (v) && !json_is_array (v))
        return true;
    if (left <= 0)
        return false;
    if (json_is_array (v)) {
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item)
        {
            if (!s_depth_ok (item, left - 1))
                return false;
        }
        return true;
    }
    const char *key;
    json_t *item;
    json_object_foreach (v, key, item)
    {
        if (!s_depth_ok (item, left - 1))
            return false;
    }
    return true;
}

json_t *
json_read (const char *text, size_t len, char *why, size_t why_size)
{
    if (!text || !len) {
        snprintf (why, why_size, "empty answer");
        return NULL;
    }
    if (len > JSON_READ_MAX) {
        snprintf (why, why_size, "answer of %zu bytes is over %d", len, JSON_READ_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb (text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf (why, why_size, "invalid JSON: line %d column %d: %s", jerr.line, jerr.column,
                  jerr.text);
        return NULL;
    }
    if (!s_depth_ok (doc, JSON_READ_DEPTH)) {
        json_decref (doc);
        snprintf (why, why_size, "invalid JSON: nested deeper than %d levels", JSON_READ_DEPTH);
        return NULL;
    }
    return doc;
}

const json_t *
json_read_at (const json_t *doc, const char *path)
{
    const json_t *v = doc;
    while (v && path && *path) {
        const char *dot = strchr (path, '.');
        size_t seglen = dot ? (size_t) (dot - path) : strlen (path);
        if (!json_is_object (v))
            return NULL;
        v = json_object_getn (v, path, seglen);
        path = dot ? dot + 1 : NULL;
    }
    return v;
}

int
json_read_str (const json_t *doc, const char *path, char *buf, size_t size)
{
    const json_t *v = json_read_at (doc, path);
    if (!json_is_string (v) || !size)
        return -1;
    size_t n = json_string_length (v);
    const char *s = json_string_value (v);
    if (n >= size || memchr (s, '\0', n))
        return -1;
    memcpy (buf, s, n + 1);
    return 0;
}

int
json_read_num (const json_t *doc, const char *path, double *out)
{
    const json_t *v = json_read_at (doc, path);
    if (!json_is_number (v))
        return -1;
    *out = json_number_value (v);
    return 0;
}

int
json_read_bool (const json_t *doc, const char *path, bool *out)
{
    const json_t *v = json_read_at (doc, path);
    if (!json_is_boolean (v))
        return -1;
    *out = json_is_true (v);
    return 0;
}

int
json_quote (const char *value, char *buf, size_t size)
{
    json_t *v = json_text (value);
    if (!v)
        return -1;
    size_t n = json_dumpb (v, buf, size, JSON_ENCODE_ANY);
    json_decref (v);
    /* json_dumpb returns the full length even when it did not fit. */
    if (n == 0 || n >= size)
        return -1;
    buf[n] = '\0';
    return (int) n;
}
