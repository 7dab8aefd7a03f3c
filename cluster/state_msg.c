/*
 * state_msg.c - codec tables and semantic checks for the replicated-state
 * protocol (state_msg.h).
 */
#include "cluster/state_msg.h"

#include <string.h>

bool
state_kind_valid (const char *kind)
{
    size_t n = strnlen (kind, STATE_KIND_MAX + 1);
    if (n == 0 || n > STATE_KIND_MAX)
        return false;
    if (kind[0] < 'a' || kind[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Printable ASCII or UTF-8 continuation/lead bytes; no control characters,
 * so keys are safe to log and to print in tables. */
static bool
s_printable (const char *text, size_t max, bool allow_space)
{
    size_t n = strnlen (text, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == ' ' && !allow_space)
            return false;
    }
    return true;
}

bool
state_key_valid (const char *key)
{
    return s_printable (key, STATE_KEY_MAX, true);
}

bool
state_origin_valid (const char *name)
{
    return s_printable (name, STATE_ORIGIN_MAX, false);
}

size_t
state_rec_wire_size (const state_rec_t *rec)
{
    return STATE_REC_OVERHEAD + strlen (rec->origin) + strlen (rec->kind) + strlen (rec->key)
           + rec->value.len;
}

static int
s_check_rec (const state_rec_t *r, const char **why)
{
    if (!state_origin_valid (r->origin)) {
        *why = "bad record origin";
        return -1;
    }
    if (!state_kind_valid (r->kind)) {
        *why = "bad record kind";
        return -1;
    }
    if (!state_key_valid (r->key)) {
        *why = "bad record key";
        return -1;
    }
    if (r->version == 0) {
        *why = "record version 0";
        return -1;
    }
    if (r->tomb && r->value.len) {
        *why = "tombstone with a value";
        return -1;
    }
    return 0;
}

static int
s_check_recs (const state_rec_t *items, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++)
        if (s_check_rec (&items[i], why))
            return -1;
    return 0;
}

static int
s_validate (uint16_t type, const void *body, const char **why)
{
    switch (type) {
    case STATE_DIGEST: {
        const state_digest_t *m = (const state_digest_t *) body;
        if (!state_origin_valid (m->from)) {
            *why = "bad sender";
            return -1;
        }
        for (size_t i = 0; i < m->entries.n; i++)
            if (!state_origin_valid (m->entries.items[i].origin)) {
                *why = "bad digest origin";
                return -1;
            }
        return 0;
    }
    case STATE_DELTA: {
        const state_delta_t *m = (const state_delta_t *) body;
        if (!state_origin_valid (m->from)) {
            *why = "bad sender";
            return -1;
        }
        for (size_t i = 0; i < m->spans.n; i++) {
            const state_span_t *s = &m->spans.items[i];
            if (!state_origin_valid (s->origin)) {
                *why = "bad span origin";
                return -1;
            }
            if (s->base > s->upto) {
                *why = "span base above upto";
                return -1;
            }
        }
        return s_check_recs (m->recs.items, m->recs.n, why);
    }
    case STATE_PUSH: {
        const state_push_t *m = (const state_push_t *) body;
        if (!state_origin_valid (m->from)) {
            *why = "bad sender";
            return -1;
        }
        return s_check_recs (m->recs.items, m->recs.n, why);
    }
    case STATE_SNAPSHOT: {
        const state_snapshot_t *m = (const state_snapshot_t *) body;
        if (!state_origin_valid (m->origin)) {
            *why = "bad snapshot origin";
            return -1;
        }
        return s_check_recs (m->recs.items, m->recs.n, why);
    }
    }
    return 0;
}

WIRE_DEFINE_RECORD (state_rec, 0, STATE_REC_FIELDS)
WIRE_DEFINE_RECORD (state_dig, 0, STATE_DIG_FIELDS)
WIRE_DEFINE_RECORD (state_span, 0, STATE_SPAN_FIELDS)
WIRE_DEFINE_PROTO (state, STATE_MESSAGES, STATE_WIRE_VERSION_MIN, STATE_WIRE_VERSION, s_validate)
