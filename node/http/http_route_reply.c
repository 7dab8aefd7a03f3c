/* http_route_reply.c - replies as JSON for the /v1 routes (http_route.h):
 * written from the message descriptors (common/wire.h), so a field added
 * to a reply appears without code here. */
#include "node/http/http_route_int.h"

#include "cluster/gossip_msg.h"
#include "crypto/identity.h"
#include "node/ctl/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reply encoding ------------------------------------------------------------------ */

static void s_record (jw_t *j, const wire_desc_t *d, const void *rec);

static void
s_value (jw_t *j, const wire_field_t *f, const void *rec)
{
    const void *slot = (const uint8_t *) rec + f->offset;
    switch (f->kind) {
    case WIRE_U64:
        jw_u64 (j, *(const uint64_t *) slot);
        break;
    case WIRE_I64:
        jw_i64 (j, *(const int64_t *) slot);
        break;
    case WIRE_F64:
        jw_f64 (j, *(const double *) slot);
        break;
    case WIRE_BOOL:
        jw_bool (j, *(const bool *) slot);
        break;
    case WIRE_STR:
        jw_str (j, (const char *) slot);
        break;
    case WIRE_BIN: {
        char hex[2 * 64 + 1] = "";
        size_t n = f->max < 64 ? f->max : 64;
        for (size_t i = 0; i < n; i++)
            snprintf (hex + 2 * i, 3, "%02x", ((const uint8_t *) slot)[i]);
        jw_str (j, hex);
        break;
    }
    case WIRE_TAGS:
        jw_tags (j, (const wire_tags_t *) slot);
        break;
    case WIRE_LIST: {
        const wire_list_t *list = slot;
        if (f->max == 1) { /* one optional record: an object or null */
            if (list->n)
                s_record (j, f->sub, list->items);
            else
                jw_null (j);
            break;
        }
        jw_arr_begin (j);
        for (size_t i = 0; i < list->n; i++)
            s_record (j, f->sub, (const uint8_t *) list->items + i * f->sub->size);
        jw_arr_end (j);
        break;
    }
    default: /* blobs carry other protocols: routes decode them */
        jw_null (j);
        break;
    }
}

static void
s_record (jw_t *j, const wire_desc_t *d, const void *rec)
{
    jw_obj_begin (j);
    for (size_t i = 0; i < d->nfields; i++) {
        if (d->fields[i].kind == WIRE_BLOB)
            continue;
        jw_key (j, d->fields[i].name);
        s_value (j, &d->fields[i], rec);
    }
    jw_obj_end (j);
}

/* Only the fields a route names (GET /v1/node/tags: the status's name
 * and tags), in the route's order. */
static void
s_record_only (jw_t *j, const wire_desc_t *d, const void *rec, const char *const *names)
{
    jw_obj_begin (j);
    for (size_t n = 0; names[n]; n++)
        for (size_t i = 0; i < d->nfields; i++)
            if (d->fields[i].kind != WIRE_BLOB && strcmp (d->fields[i].name, names[n]) == 0) {
                jw_key (j, d->fields[i].name);
                s_value (j, &d->fields[i], rec);
            }
    jw_obj_end (j);
}

static const char *s_member_states[] = { "alive", "suspect", "failed", "left" };

/* The member list travels as a GOSSIP_MEMBERS message (api_msg.h); the
 * same shape as `shedctl members --json`. */
static int
s_members (jw_t *j, const api_members_rep_t *r, http_error_t *err)
{
    gossip_msg_t g;
    if (wire_decode (&gossip_proto, r->members.data, r->members.len, &g, NULL) != WIRE_OK)
        goto bad;
    if (g.hdr.type != GOSSIP_MEMBERS) {
        wire_msg_free (&gossip_proto, &g);
        goto bad;
    }
    const gossip_members_t *ms = &g.u.gossip_members;
    jw_obj_begin (j);
    jw_key (j, "members");
    jw_arr_begin (j);
    for (size_t i = 0; i < ms->members.n; i++) {
        const gossip_update_t *m = &ms->members.items[i];
        char key[SHED_KEY_TEXT_MAX] = "";
        if (m->key.len == 32)
            shed_key_to_text (m->key.data, key);
        jw_obj_begin (j);
        /* clang-format off */
        jw_key (j, "name");        jw_str (j, m->name);
        jw_key (j, "addr");        jw_str (j, m->addr);
        jw_key (j, "port");        jw_u64 (j, m->port);
        jw_key (j, "status");      jw_str (j, m->kind < 4 ? s_member_states[m->kind] : "unknown");
        jw_key (j, "incarnation"); jw_u64 (j, m->inc);
        jw_key (j, "tags");        jw_tags (j, &m->tags);
        jw_key (j, "public_key");  jw_str (j, key);
        /* clang-format on */
        jw_obj_end (j);
    }
    jw_arr_end (j);
    jw_obj_end (j);
    wire_msg_free (&gossip_proto, &g);
    return 0;
bad:
    http_error_set (err, 502, "bad_gateway", "the node's member list did not decode");
    return -1;
}

char *
http_reply_json (const http_match_t *m, const api_msg_t *rep, size_t *len, http_error_t *err)
{
    memset (err, 0, sizeof *err);
    if (rep->hdr.type == API_ERROR) {
        http_error_from_api (rep->u.api_error.code, rep->u.api_error.message, err);
        return NULL;
    }
    const http_route_t *r = m->route;
    const wire_desc_t *d = wire_proto_find (&api_proto, rep->hdr.type);
    if (!d || (r->rep_type && rep->hdr.type != r->rep_type)) {
        http_error_set (err, 502, "bad_gateway", "the node answered %s with type %u", r->name,
                        rep->hdr.type);
        return NULL;
    }
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&buf, &size);
    if (!out) {
        http_error_set (err, 500, "internal", "out of memory");
        return NULL;
    }
    jw_t j;
    jw_init (&j, out);
    int rc = 0;
    if (rep->hdr.type == API_MEMBERS_REP)
        rc = s_members (&j, &rep->u.api_members_rep, err);
    else if (r->rep_fields)
        s_record_only (&j, d, (const uint8_t *) rep + api_proto.body_offset, r->rep_fields);
    else
        s_record (&j, d, (const uint8_t *) rep + api_proto.body_offset);
    if (rc == 0)
        jw_end (&j);
    if (fclose (out) != 0 || rc != 0) {
        free (buf);
        if (!err->status)
            http_error_set (err, 500, "internal", "out of memory");
        return NULL;
    }
    *len = size;
    return buf;
}
