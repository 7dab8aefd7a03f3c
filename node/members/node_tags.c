/* node_tags.c - see node_tags.h. */
#include "node/members/node_tags.h"

#include "common/fileutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const shed_config_tag_t *
s_base_find (const shed_config_tag_t *base, size_t nbase, const char *key)
{
    for (size_t i = 0; i < nbase; i++)
        if (strcmp (base[i].key, key) == 0)
            return &base[i];
    return NULL;
}

/* Index of key's change, or ch->n. */
static size_t
s_change_index (const shed_tag_changes_t *ch, const char *key)
{
    size_t i = 0;
    while (i < ch->n && strcmp (ch->items[i].key, key) != 0)
        i++;
    return i;
}

static shed_tag_change_t *
s_change_find (shed_tag_changes_t *ch, const char *key)
{
    size_t i = s_change_index (ch, key);
    return i < ch->n ? &ch->items[i] : NULL;
}

/* Order is kept (new keys merge in the order they were set). */
static void
s_change_remove (shed_tag_changes_t *ch, shed_tag_change_t *c)
{
    size_t i = (size_t) (c - ch->items);
    memmove (&ch->items[i], &ch->items[i + 1], (ch->n - i - 1) * sizeof ch->items[0]);
    ch->n--;
}

int
shed_tag_changes_record (shed_tag_changes_t *ch, const shed_config_tag_t *base, size_t nbase,
                         const char *key, const char *value)
{
    if (!key || !*key || strlen (key) >= sizeof ch->items[0].key
        || (value && strlen (value) >= sizeof ch->items[0].value))
        return -1;
    const shed_config_tag_t *b = s_base_find (base, nbase, key);
    shed_tag_change_t *c = s_change_find (ch, key);
    /* Back to what the configuration says: no difference to keep. */
    bool same_as_base = value ? b && strcmp (b->value, value) == 0 : !b;
    if (same_as_base) {
        if (c)
            s_change_remove (ch, c);
        return 0;
    }
    if (!c) {
        if (ch->n >= SHED_TAG_CHANGES_MAX)
            return -1;
        c = &ch->items[ch->n++];
    }
    memset (c, 0, sizeof *c);
    snprintf (c->key, sizeof c->key, "%s", key);
    snprintf (c->value, sizeof c->value, "%s", value ? value : "");
    c->unset = !value;
    return 0;
}

int
shed_tags_merge (const shed_config_tag_t *base, size_t nbase, const shed_tag_changes_t *ch,
                 shed_config_tag_t *out, size_t *nout, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < nbase; i++) {
        size_t ci = s_change_index (ch, base[i].key);
        const shed_tag_change_t *c = ci < ch->n ? &ch->items[ci] : NULL;
        if (c && c->unset)
            continue;
        if (n >= max)
            return -1;
        out[n] = base[i];
        if (c)
            snprintf (out[n].value, sizeof out[n].value, "%s", c->value);
        n++;
    }
    for (size_t i = 0; i < ch->n; i++) {
        const shed_tag_change_t *c = &ch->items[i];
        if (c->unset || s_base_find (base, nbase, c->key))
            continue;
        if (n >= max)
            return -1;
        memset (&out[n], 0, sizeof out[n]);
        snprintf (out[n].key, sizeof out[n].key, "%s", c->key);
        snprintf (out[n].value, sizeof out[n].value, "%s", c->value);
        n++;
    }
    *nout = n;
    return 0;
}

/* -------------------------------------------------------------------------
 * The file
 */

static bool
s_plain (unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '%';
}

/* Append `text` to buf (cap bytes, *len used), escaped if `escape`.
 * Returns 0, or -1 if it does not fit. */
static int
s_put (char *buf, size_t cap, size_t *len, const char *text, bool escape)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*len + 4 > cap)
            return -1;
        if (!escape || s_plain (*p))
            buf[(*len)++] = (char) *p;
        else
            *len += (size_t) snprintf (buf + *len, 4, "%%%02X", *p);
    }
    return 0;
}

static int
s_hex (char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* Decode one %XX-escaped field into out[cap]; -1 if malformed, too long or
 * holding a NUL. */
static int
s_unescape (const char *field, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = field; *p; p++) {
        int c = (unsigned char) *p;
        if (c == '%') {
            int hi = s_hex (p[1]), lo = hi < 0 ? -1 : s_hex (p[2]);
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            p += 2;
        }
        if (c == 0 || n + 1 >= cap)
            return -1;
        out[n++] = (char) c;
    }
    out[n] = '\0';
    return 0;
}

int
shed_tag_changes_save (const shed_tag_changes_t *ch, const char *path, char *err, size_t errlen)
{
    /* Fits the worst case: 64 changes of a 63-byte key and a 255-byte value,
     * every byte escaped (3x). */
    size_t cap = SHED_TAGS_FILE_MAX, len = 0;
    char *buf = malloc (cap);
    if (!buf) {
        snprintf (err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = s_put (buf, cap, &len,
                    "# shed-node runtime tags (shedctl tags set/unset), "
                    "applied over the config's tags at start\n",
                    false);
    for (size_t i = 0; i < ch->n && rc == 0; i++) {
        const shed_tag_change_t *c = &ch->items[i];
        rc = s_put (buf, cap, &len, c->unset ? "unset " : "set ", false);
        rc = rc ? rc : s_put (buf, cap, &len, c->key, true);
        if (c->value[0]) { /* unset has none; "" is just "set KEY" */
            rc = rc ? rc : s_put (buf, cap, &len, " ", false);
            rc = rc ? rc : s_put (buf, cap, &len, c->value, true);
        }
        rc = rc ? rc : s_put (buf, cap, &len, "\n", false);
    }
    if (rc != 0)
        snprintf (err, errlen, "%s: too many tag changes", path);
    else if (shed_write_file_atomic (path, buf, len, 0600) != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        rc = -1;
    }
    free (buf);
    return rc;
}

int
shed_tag_changes_load (shed_tag_changes_t *ch, const char *path, char *err, size_t errlen)
{
    memset (ch, 0, sizeof *ch);
    size_t len = 0;
    char *text = shed_read_file (path, SHED_TAGS_FILE_MAX, &len);
    if (!text) {
        if (errno == ENOENT)
            return 0;
        snprintf (err, errlen, "%s: %s", path,
                  errno == EFBIG ? "larger than 64 KiB" : strerror (errno));
        return -1;
    }
    int rc = 0;
    size_t lineno = 0;
    char *save = NULL;
    /* Lines are split by hand (strtok_r would skip empty ones and lose
     * the line numbers errors give). */
    char *line = text;
    while (rc == 0 && line && *line) {
        char *nl = strchr (line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        if (*line && *line != '#') {
            char *op = strtok_r (line, " ", &save);
            char *key = strtok_r (NULL, " ", &save);
            char *value = strtok_r (NULL, " ", &save);
            char *extra = strtok_r (NULL, " ", &save);
            shed_tag_change_t c = { .unset = op && strcmp (op, "unset") == 0 };
            /* "set KEY" alone is an empty value. */
            bool shape = op && key && !extra && (c.unset ? !value : strcmp (op, "set") == 0);
            const char *why = NULL;
            if (!shape)
                why = "expected 'set KEY VALUE' or 'unset KEY'";
            else if (s_unescape (key, c.key, sizeof c.key) != 0 || !c.key[0]
                     || (value && s_unescape (value, c.value, sizeof c.value) != 0))
                why = "bad tag key or value (1-63 and 0-255 bytes, %XX escapes)";
            else if (s_change_find (ch, c.key))
                why = "tag listed twice";
            else if (ch->n >= SHED_TAG_CHANGES_MAX)
                why = "too many tag changes";
            else
                ch->items[ch->n++] = c;
            if (why) {
                snprintf (err, errlen, "%s:%zu: %s", path, lineno, why);
                rc = -1;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free (text);
    if (rc != 0)
        memset (ch, 0, sizeof *ch);
    return rc;
}
