/*
 * config_yaml.c - reading the config file (config.h: shed_config_load_*).
 *
 * The YAML file is read with libyaml's event parser: a mapping of known keys,
 * one level of sections ("gossip:") and two list/map-valued keys (join, tags)
 * plus the hooks sequence. Anything else is an error that names the file line
 * and the key, because a silently ignored typo in a daemon's config costs
 * hours.
 */
#include "node/config_directive.h"
#include "common/duration.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* -------------------------------------------------------------------------
 * YAML walk
 */
typedef struct {
    yaml_parser_t parser;
    const char *origin;
    char *err;
    size_t errlen;
    shed_config_t *cfg;
    /* --check-config: report a bad value here and read on, so one run lists
     * every such error; NULL: stop at the first (a start). */
    shed_config_error_fn *collect;
    void *collect_arg;
    size_t nerrors;
} walk_t;

static int s_fail (walk_t *w, const yaml_event_t *ev, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (walk_t *w, const yaml_event_t *ev, const char *fmt, ...)
{
    char text[384];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    snprintf (w->err, w->errlen, "%s:%zu: %s", w->origin, ev ? ev->start_mark.line + 1 : 0, text);
    return -1;
}

/* Next event, turning libyaml's parse errors into our one-line form. */
static int
s_next (walk_t *w, yaml_event_t *ev)
{
    if (!yaml_parser_parse (&w->parser, ev)) {
        snprintf (w->err, w->errlen, "%s:%zu: YAML syntax error: %s", w->origin,
                  w->parser.problem_mark.line + 1,
                  w->parser.problem ? w->parser.problem : "unknown");
        return -1;
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        s_fail (w, ev, "YAML aliases are not supported");
        yaml_event_delete (ev);
        return -1;
    }
    return 0;
}

/* After s_fail on a bad value (not a broken structure): when collecting,
 * hand the error over and carry on with the next key. */
static int
s_soft (walk_t *w)
{
    if (!w->collect)
        return -1;
    config_one_line (w->err);
    w->collect (w->err, w->collect_arg);
    w->nerrors++;
    w->err[0] = '\0';
    return 0;
}

static int
s_scalar (walk_t *w, const char *key, const char *subkey, const yaml_event_t *ev)
{
    const directive_t *d = config_directive_find (key);
    if (!d) {
        s_fail (w, ev, "unknown key '%s'", key);
        return s_soft (w);
    }
    char why[256];
    if (config_directive_apply (w->cfg, d, subkey, (const char *) ev->data.scalar.value, why,
                                sizeof why)) {
        s_fail (w, ev, "key '%s': %s", key, why);
        return s_soft (w);
    }
    return 0;
}

static int s_mapping (walk_t *w, const char *prefix);

/* Walk a mapping whose keys must be scalars: fn gets each key and value
 * event; the walk stops at the end of the mapping or at the first error.
 * `keys_are` finishes the message for a key that is not a scalar. */
typedef int (s_pair_fn) (walk_t *w, const char *key, const yaml_event_t *k, const yaml_event_t *v,
                         void *arg);

static int
s_pairs (walk_t *w, const char *key, const char *keys_are, s_pair_fn *fn, void *arg)
{
    int rc = 0;
    while (rc == 0) {
        yaml_event_t k, v;
        if (s_next (w, &k))
            return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete (&k);
            break;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            rc = s_fail (w, &k, "key '%s': %s", key, keys_are);
            yaml_event_delete (&k);
            break;
        }
        if (s_next (w, &v)) {
            yaml_event_delete (&k);
            return -1;
        }
        rc = fn (w, key, &k, &v, arg);
        yaml_event_delete (&k);
        yaml_event_delete (&v);
    }
    return rc;
}

/* The fields of one hook while its mapping is read. */
typedef struct {
    char event[256];
    char command[SHED_HOOK_CMD_MAX + 1];
    char timeout[32];
    bool have_event, have_command;
} s_hook_fields_t;

static int
s_hook_field (walk_t *w, const char *key, const yaml_event_t *k, const yaml_event_t *v, void *arg)
{
    s_hook_fields_t *h = arg;
    const char *f = (const char *) k->data.scalar.value;
    const char *val = v->type == YAML_SCALAR_EVENT ? (const char *) v->data.scalar.value : NULL;
    char *dst = !strcmp (f, "event")        ? h->event
                : !strcmp (f, "command")    ? h->command
                : !strcmp (f, "timeout_ms") ? h->timeout
                                            : NULL;
    size_t cap = dst == h->event     ? sizeof h->event
                 : dst == h->command ? sizeof h->command
                                     : sizeof h->timeout;
    if (!dst)
        return s_fail (w, k, "key '%s': unknown hook field '%s' (event, command, timeout_ms)", key,
                       f);
    if (!val)
        return s_fail (w, v, "key '%s.%s': expected a string", key, f);
    if (strlen (val) >= cap)
        return s_fail (w, v, "key '%s.%s': longer than %zu bytes", key, f, cap - 1);
    strcpy (dst, val);
    h->have_event |= dst == h->event;
    h->have_command |= dst == h->command;
    return 0;
}

/* One hook: a mapping of event, command and an optional timeout_ms, each a
 * scalar. Errors name the item's line and the field. */
static int
s_hook_item (walk_t *w, const char *key, const yaml_event_t *start)
{
    s_hook_fields_t h = { .have_event = false };
    int rc = s_pairs (w, key, "hook fields are event, command, timeout_ms", s_hook_field, &h);
    if (rc)
        return rc;
    if (!h.have_event || !h.have_command)
        return s_fail (w, start, "key '%s': a hook needs event and command", key);
    const directive_t *d = config_directive_find (key);
    char why[256];
    if (config_directive_apply (w->cfg, d, h.event, h.command, why, sizeof why)) {
        s_fail (w, start, "key '%s': %s", key, why);
        return s_soft (w);
    }
    if (*h.timeout) {
        /* Like hooks_timeout_ms: "30s", "2m", or a bare number of ms. */
        uint64_t t;
        if (shed_duration_parse_range (h.timeout, 1, 100, 86400000, &t, why, sizeof why) != 0) {
            s_fail (w, start, "key '%s.timeout_ms': %s (a bare number is milliseconds)", key, why);
            return s_soft (w);
        }
        w->cfg->hooks[w->cfg->nhooks - 1].timeout_ms = (uint32_t) t;
    }
    return 0;
}

/* One tag of a `tags` mapping: its value must be a scalar. */
static int
s_tag_pair (walk_t *w, const char *key, const yaml_event_t *k, const yaml_event_t *v, void *arg)
{
    if (v->type != YAML_SCALAR_EVENT)
        return s_fail (w, v, "key '%s.%s': tag values must be strings", key,
                       (const char *) k->data.scalar.value);
    return s_scalar (w, key, (const char *) k->data.scalar.value, v);
}

/* hooks: [ {event: ..., command: ...}, ... ]; a later source replaces the list. */
static int
s_hooks (walk_t *w, const char *key)
{
    w->cfg->nhooks = 0;
    for (;;) {
        yaml_event_t item;
        if (s_next (w, &item))
            return -1;
        if (item.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete (&item);
            return 0;
        }
        int rc = item.type == YAML_MAPPING_START_EVENT
                     ? s_hook_item (w, key, &item)
                     : s_fail (w, &item,
                               "key '%s': list items must be {event: PREFIX, "
                               "command: CMD}",
                               key);
        yaml_event_delete (&item);
        if (rc)
            return rc;
    }
}

/* Handle the value after `key` (already joined with its section prefix). */
static int
s_value (walk_t *w, const char *key, yaml_event_t *ev)
{
    const directive_t *d = config_directive_find (key);
    int rc = 0;
    if (ev->type == YAML_SCALAR_EVENT) {
        if (d && (d->kind == D_TAGS))
            return s_fail (w, ev, "key '%s': expected a mapping of tag: value", key);
        if (d && d->kind == D_JOIN)
            w->cfg->njoin = 0; /* a later source replaces the list */
        if (d && d->kind == D_HOOKS)
            return s_fail (w, ev, "key '%s': expected a list of {event: PREFIX, command: CMD}",
                           key);
        return s_scalar (w, key, NULL, ev);
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT && d && d->kind == D_HOOKS)
        return s_hooks (w, key);
    if (ev->type == YAML_SEQUENCE_START_EVENT) {
        if (!d || d->kind != D_JOIN)
            return d ? s_fail (w, ev, "key '%s': a list is not allowed here", key)
                     : s_fail (w, ev, "unknown key '%s'", key);
        w->cfg->njoin = 0;
        while (rc == 0) {
            yaml_event_t item;
            if (s_next (w, &item))
                return -1;
            if (item.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete (&item);
                break;
            }
            if (item.type != YAML_SCALAR_EVENT)
                rc = s_fail (w, &item, "key '%s': list items must be HOST:PORT strings", key);
            else
                rc = s_scalar (w, key, NULL, &item);
            yaml_event_delete (&item);
        }
        return rc;
    }
    if (ev->type == YAML_MAPPING_START_EVENT) {
        if (config_directive_is_section (key))
            return s_mapping (w, key);
        if (!d || d->kind != D_TAGS)
            return d ? s_fail (w, ev, "key '%s': a mapping is not allowed here", key)
                     : s_fail (w, ev, "unknown key '%s'", key);
        return s_pairs (w, key, "tag names must be strings", s_tag_pair, NULL);
    }
    return s_fail (w, ev, "key '%s': unexpected YAML construct", key);
}

/* Read key/value pairs until the mapping ends. */
static int
s_mapping (walk_t *w, const char *prefix)
{
    for (;;) {
        yaml_event_t k;
        if (s_next (w, &k))
            return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete (&k);
            return 0;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            int rc = s_fail (w, &k, "expected a key name");
            yaml_event_delete (&k);
            return rc;
        }
        char key[128];
        int n = snprintf (key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "",
                          (const char *) k.data.scalar.value);
        if (n < 0 || (size_t) n >= sizeof key) {
            int rc = s_fail (w, &k, "key name too long");
            yaml_event_delete (&k);
            return rc;
        }
        yaml_event_delete (&k);
        yaml_event_t v;
        if (s_next (w, &v))
            return -1;
        int rc = s_value (w, key, &v);
        yaml_event_delete (&v);
        if (rc)
            return rc;
    }
}

static int
s_load (shed_config_t *cfg, const char *text, size_t len, const char *origin, char *err,
        size_t errlen, shed_config_error_fn *collect, void *collect_arg, size_t *nerrors)
{
    walk_t w = { .origin = origin,
                 .err = err,
                 .errlen = errlen,
                 .cfg = cfg,
                 .collect = collect,
                 .collect_arg = collect_arg };
    if (!yaml_parser_initialize (&w.parser)) {
        snprintf (err, errlen, "%s: cannot initialise YAML parser", origin);
        return -1;
    }
    yaml_parser_set_input_string (&w.parser, (const unsigned char *) text, len);
    int rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (s_next (&w, &ev)) {
            rc = -1;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            rc = s_mapping (&w, "");
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document is a scalar null: accept it, reject text. */
            if (ev.data.scalar.length != 0)
                rc = s_fail (&w, &ev, "the top level must be a mapping of key: value");
            break;
        default:
            rc = s_fail (&w, &ev, "the top level must be a mapping of key: value");
        }
        yaml_event_delete (&ev);
    }
    yaml_parser_delete (&w.parser);
    if (rc != 0)
        config_one_line (err);
    if (nerrors)
        *nerrors = w.nerrors;
    return rc;
}

int
shed_config_load_buffer (shed_config_t *cfg, const char *text, size_t len, const char *origin,
                         char *err, size_t errlen)
{
    return s_load (cfg, text, len, origin, err, errlen, NULL, NULL, NULL);
}

size_t
shed_config_check_buffer (shed_config_t *cfg, const char *text, size_t len, const char *origin,
                          shed_config_error_fn *fn, void *arg)
{
    char err[512] = "";
    size_t n = 0;
    if (s_load (cfg, text, len, origin, err, sizeof err, fn, arg, &n) != 0) {
        /* A broken structure ends the walk: that error is the last one. */
        fn (err, arg);
        n++;
    }
    return n;
}

/* The file's bytes (malloc'd, at most 1 MiB), or NULL with the reason. */
static char *
s_read_file (const char *path, size_t *lenp, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    char *buf = malloc (1 << 20);
    size_t len = buf ? fread (buf, 1, (1 << 20), f) : 0;
    bool too_big = buf && len == (1 << 20);
    fclose (f);
    if (!buf || too_big) {
        snprintf (err, errlen, "%s: %s", path, buf ? "file larger than 1 MiB" : "out of memory");
        free (buf);
        return NULL;
    }
    *lenp = len;
    return buf;
}

int
shed_config_load_file (shed_config_t *cfg, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *buf = s_read_file (path, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = shed_config_load_buffer (cfg, buf, len, path, err, errlen);
    free (buf);
    return rc;
}

size_t
shed_config_check_file (shed_config_t *cfg, const char *path, shed_config_error_fn *fn, void *arg)
{
    char err[512];
    size_t len;
    char *buf = s_read_file (path, &len, err, sizeof err);
    if (!buf) {
        fn (err, arg);
        return 1;
    }
    size_t n = shed_config_check_buffer (cfg, buf, len, path, fn, arg);
    free (buf);
    return n;
}
