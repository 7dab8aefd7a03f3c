/* http_route_decode.c - see http_route.h: a matched route's path name,
 * query arguments and JSON body into its local API request, strictly (an
 * unknown field, a wrong type or a value out of bounds is a 400 naming
 * it), and how long to wait for the node's answer. Apart from
 * http_route.c (the sheds' table, routing, errors) because it is the
 * translation both tables share (http_route_int.h). */
#include "node/http/http_route_int.h"

#include "cluster/placement.h"
#include "node/api/api_client.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CREATE_DEADLINE_MS   30000 /* the node's defaults (docs/scheduling.md, "Deadlines") */
#define S_OP_DEADLINE_MS       10000
/* A move or a snapshot's capture has no deadline of its own: the node
 * gives a peer that does it SHED_SNAP_CREATE_MS (node/snapshots/node_snaps.h),
 * shedctl waits as long (node/ctl/ctl_snapshots.c), and so does this
 * connection's thread, plus the margin for the node's own answer. */
#define S_SNAPSHOT_WAIT_MS     (30 * 60 * 1000)
/* A provision run: 10 min unless the request says (node/ctl/ctl_provision.c
 * takes 1 s to 24 h). A join is answered by the node's join_timeout_ms
 * (5 s by default): wait longer so its reason is not lost to ours. */
#define S_PROVISION_RUN_MS     (10 * 60 * 1000)
#define S_PROVISION_RUN_MAX_MS (24 * 3600 * 1000)
#define S_JOIN_WAIT_MS         30000

static void *
s_body (api_msg_t *msg)
{
    return (uint8_t *) msg + api_proto.body_offset;
}

static const wire_field_t *
s_field (const wire_desc_t *d, const char *name)
{
    for (size_t i = 0; i < d->nfields; i++)
        if (strcmp (d->fields[i].name, name) == 0)
            return &d->fields[i];
    return NULL;
}

/* A JSON string into a char[max + 1] field. */
static int
s_set_str (char *dst, uint64_t max, const char *key, json_t *v, http_error_t *err)
{
    if (!json_is_string (v)) {
        http_error_set (err, 400, "bad_request", "field '%s': expected a string", key);
        return -1;
    }
    size_t len = json_string_length (v);
    const char *s = json_string_value (v);
    if (len > max) {
        http_error_set (err, 400, "bad_request", "field '%s': longer than %llu bytes", key,
                        (unsigned long long) max);
        return -1;
    }
    if (memchr (s, '\0', len)) {
        http_error_set (err, 400, "bad_request", "field '%s': contains a NUL character", key);
        return -1;
    }
    memcpy (dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int
s_set (const wire_field_t *f, void *body, const char *key, json_t *v, http_error_t *err)
{
    void *slot = (uint8_t *) body + f->offset;
    switch (f->kind) {
    case WIRE_STR:
        return s_set_str ((char *) slot, f->max, key, v, err);
    case WIRE_U64: {
        json_int_t n = json_is_integer (v) ? json_integer_value (v) : -1;
        if (n < 0) {
            http_error_set (err, 400, "bad_request", "field '%s': expected a non-negative integer",
                            key);
            return -1;
        }
        if (f->max && (uint64_t) n > f->max) {
            http_error_set (err, 400, "bad_request", "field '%s': at most %llu", key,
                            (unsigned long long) f->max);
            return -1;
        }
        *(uint64_t *) slot = (uint64_t) n;
        return 0;
    }
    case WIRE_BOOL:
        if (!json_is_boolean (v)) {
            http_error_set (err, 400, "bad_request", "field '%s': expected true or false", key);
            return -1;
        }
        *(bool *) slot = json_is_true (v);
        return 0;
    case WIRE_TAGS: {
        wire_tags_t *tags = slot;
        if (!json_is_object (v) || json_object_size (v) > f->max) {
            http_error_set (err, 400, "bad_request",
                            "field '%s': expected an object of at most %llu string values", key,
                            (unsigned long long) f->max);
            return -1;
        }
        tags->items = calloc (json_object_size (v) + 1, sizeof *tags->items);
        if (!tags->items) {
            http_error_set (err, 500, "internal", "out of memory");
            return -1;
        }
        const char *k;
        json_t *tv;
        json_object_foreach (v, k, tv)
        {
            wire_tag_t *t = &tags->items[tags->n];
            if (!*k || strlen (k) > WIRE_TAG_KEY_MAX) {
                http_error_set (err, 400, "bad_request", "field '%s': keys are 1-%d bytes", key,
                                WIRE_TAG_KEY_MAX);
                return -1;
            }
            strcpy (t->key, k);
            if (s_set_str (t->value, WIRE_TAG_VALUE_MAX, key, tv, err) != 0)
                return -1;
            tags->n++;
        }
        return 0;
    }
    case WIRE_LIST: {
        /* Lists of one-string records (constraints) are arrays of strings. */
        wire_list_t *list = slot;
        const wire_desc_t *sub = f->sub;
        if (!sub || sub->nfields != 1 || sub->fields[0].kind != WIRE_STR) {
            http_error_set (err, 400, "bad_request", "field '%s' cannot be set", key);
            return -1;
        }
        if (!json_is_array (v) || json_array_size (v) > f->max) {
            http_error_set (err, 400, "bad_request",
                            "field '%s': expected an array of at most %llu strings", key,
                            (unsigned long long) f->max);
            return -1;
        }
        list->items = calloc (json_array_size (v) + 1, sub->size);
        if (!list->items) {
            http_error_set (err, 500, "internal", "out of memory");
            return -1;
        }
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item)
        {
            char *dst = (char *) list->items + i * sub->size + sub->fields[0].offset;
            if (s_set_str (dst, sub->fields[0].max, key, item, err) != 0)
                return -1;
            list->n++;
        }
        return 0;
    }
    default:
        http_error_set (err, 400, "bad_request", "field '%s' cannot be set", key);
        return -1;
    }
}

/* Numbers people write: 2, 0.5, "1500m" cpus; 512 (MiB), "4G" sizes. */
static int
s_convert (const http_key_t *k, const wire_field_t *f, void *body, json_t *v, http_error_t *err)
{
    uint64_t *slot = (uint64_t *) ((uint8_t *) body + f->offset);
    if (k->conv == C_CPUS) {
        uint64_t milli = 0;
        bool ok;
        if (json_is_number (v)) {
            double d = json_number_value (v);
            ok = isfinite (d) && d > 0 && d <= 1e6;
            milli = ok ? (uint64_t) llround (d * 1000) : 0;
        }
        else
            ok = json_is_string (v) && placement_cpus_parse (json_string_value (v), &milli) == 0;
        if (!ok || milli == 0) {
            http_error_set (err, 400, "bad_request",
                            "field 'cpus': expected a count like 2, 0.5 or \"1500m\"");
            return -1;
        }
        *slot = milli;
        return 0;
    }
    /* C_SIZE_MB */
    uint64_t mb = 0;
    bool ok;
    if (json_is_integer (v)) {
        ok = json_integer_value (v) >= 0;
        mb = ok ? (uint64_t) json_integer_value (v) : 0;
    }
    else {
        uint64_t bytes = 0;
        ok = json_is_string (v)
             && placement_size_parse (json_string_value (v), 1024 * 1024, &bytes) == 0;
        mb = (bytes + 1024 * 1024 - 1) / (1024 * 1024);
    }
    if (!ok) {
        http_error_set (err, 400, "bad_request",
                        "field '%s': expected a size like \"512M\" or \"4G\", or MiB as an integer",
                        k->json);
        return -1;
    }
    *slot = mb;
    return 0;
}

/* A word for a number field ("live" -> 0), as shedctl's options take it. */
static int
s_enum (const http_key_t *k, const wire_field_t *f, void *body, json_t *v, http_error_t *err)
{
    const char *text = json_is_string (v) ? json_string_value (v) : NULL;
    for (uint64_t i = 0; text && k->names[i]; i++)
        if (strcmp (text, k->names[i]) == 0) {
            *(uint64_t *) ((uint8_t *) body + f->offset) = i;
            return 0;
        }
    char names[160] = "";
    for (size_t i = 0, used = 0; k->names[i] && used < sizeof names; i++)
        used += (size_t) snprintf (names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                   k->names[i]);
    http_error_set (err, 400, "bad_request", "field '%s': expected one of %s", k->json, names);
    return -1;
}

/* A field the route fixes (the op of a tags change, drain or undrain). */
static int
s_set_fixed (const wire_desc_t *d, void *body, const char *name, uint64_t value)
{
    const wire_field_t *f = s_field (d, name);
    if (f && f->kind == WIRE_U64)
        *(uint64_t *) ((uint8_t *) body + f->offset) = value;
    else if (f && f->kind == WIRE_BOOL)
        *(bool *) ((uint8_t *) body + f->offset) = value != 0;
    else
        return -1;
    return 0;
}

/* Provision steps: a command ("step-N" as shedctl names it) or an object
 * {"cmd", "name", "timeout_ms"}; the list's fields are api_provstep_t's. */
static int
s_steps (const wire_field_t *f, void *body, json_t *v, http_error_t *err)
{
    wire_list_t *list = (wire_list_t *) ((uint8_t *) body + f->offset);
    if (!json_is_array (v) || json_array_size (v) == 0 || json_array_size (v) > f->max) {
        http_error_set (err, 400, "bad_request",
                        "field 'steps': expected an array of 1 to %llu steps (strings or "
                        "objects)",
                        (unsigned long long) f->max);
        return -1;
    }
    api_provstep_t *steps = calloc (json_array_size (v), sizeof *steps);
    if (!steps) {
        http_error_set (err, 500, "internal", "out of memory");
        return -1;
    }
    list->items = steps;
    size_t i;
    json_t *item;
    json_array_foreach (v, i, item)
    {
        api_provstep_t *st = &steps[i];
        list->n++;
        char key[32];
        snprintf (key, sizeof key, "steps[%zu]", i);
        if (json_is_string (item)) {
            if (s_set_str (st->cmd, sizeof st->cmd - 1, key, item, err) != 0)
                return -1;
        }
        else if (json_is_object (item)) {
            const char *k;
            json_t *x;
            json_object_foreach (item, k, x)
            {
                int rc = 0;
                if (strcmp (k, "cmd") == 0)
                    rc = s_set_str (st->cmd, sizeof st->cmd - 1, key, x, err);
                else if (strcmp (k, "name") == 0)
                    rc = s_set_str (st->name, sizeof st->name - 1, key, x, err);
                else if (strcmp (k, "timeout_ms") == 0 && json_is_integer (x)
                         && json_integer_value (x) >= 0)
                    st->timeout_ms = (uint64_t) json_integer_value (x);
                else if (strcmp (k, "timeout_ms") == 0) {
                    http_error_set (err, 400, "bad_request",
                                    "field '%s.timeout_ms': expected a non-negative integer", key);
                    rc = -1;
                }
                else {
                    http_error_set (err, 400, "bad_request",
                                    "unknown field '%s.%.32s' (cmd, name, timeout_ms)", key, k);
                    rc = -1;
                }
                if (rc != 0)
                    return -1;
            }
        }
        else {
            http_error_set (err, 400, "bad_request",
                            "field '%s': expected a command or an object {\"cmd\": ...}", key);
            return -1;
        }
        if (!st->cmd[0]) {
            http_error_set (err, 400, "bad_request", "field '%s': no command", key);
            return -1;
        }
        if (!st->name[0])
            snprintf (st->name, sizeof st->name, "step-%zu", i + 1);
    }
    return 0;
}

static const http_key_t *
s_key (const http_route_t *r, const char *name)
{
    for (const http_key_t *k = r->keys; k->json; k++)
        if (strcmp (k->json, name) == 0)
            return k;
    return NULL;
}

static int
s_apply (const http_route_t *r, const wire_desc_t *d, void *body, const char *name, json_t *v,
         http_error_t *err)
{
    const http_key_t *k = s_key (r, name);
    const wire_field_t *f = k ? s_field (d, k->field) : NULL;
    if (!f) {
        http_error_set (err, 400, "bad_request", "unknown field '%.64s'", name);
        return -1;
    }
    if (k->conv == C_CPUS || k->conv == C_SIZE_MB)
        return s_convert (k, f, body, v, err);
    if (k->conv == C_ENUM)
        return s_enum (k, f, body, v, err);
    if (k->conv == C_STEPS)
        return s_steps (f, body, v, err);
    if (s_set (f, body, name, v, err) != 0)
        return -1;
    if (k->conv == C_CONSTRAINTS) {
        const wire_list_t *list = (const wire_list_t *) ((uint8_t *) body + f->offset);
        for (size_t i = 0; i < list->n; i++) {
            const char *text =
                (const char *) list->items + i * f->sub->size + f->sub->fields[0].offset;
            place_constraint_t pc;
            char why[200];
            if (placement_constraint_parse (text, &pc, why, sizeof why) != 0) {
                http_error_set (err, 400, "bad_request", "constraint '%.64s': %s", text, why);
                return -1;
            }
        }
    }
    return 0;
}

/* A query argument as the JSON value its field's kind wants. */
static json_t *
s_arg_json (const wire_field_t *f, const char *value)
{
    if (f->kind == WIRE_BOOL) {
        if (!*value || strcmp (value, "true") == 0 || strcmp (value, "1") == 0)
            return json_true ();
        if (strcmp (value, "false") == 0 || strcmp (value, "0") == 0)
            return json_false ();
        return json_string ("not a boolean");
    }
    if (f->kind == WIRE_U64) {
        char *end = NULL;
        if (*value < '0' || *value > '9' || strlen (value) > 18)
            return json_string ("not a number");
        unsigned long long n = strtoull (value, &end, 10);
        return *end ? json_string ("not a number") : json_integer ((json_int_t) n);
    }
    return json_string (value); /* NULL for ill-formed UTF-8 */
}

int
http_request_decode (const http_match_t *m, const http_arg_t *args, size_t nargs, const char *body,
                     size_t len, api_msg_t *req, http_error_t *err)
{
    memset (req, 0, sizeof *req);
    memset (err, 0, sizeof *err);
    const http_route_t *r = m->route;
    const wire_desc_t *d = wire_proto_find (&api_proto, r->req_type);
    if (!d) {
        http_error_set (err, 500, "internal", "route %s has no request type", r->name);
        return -1;
    }
    if (r->kind != HTTP_ROUTE_JSON) {
        http_error_set (err, 500, "internal", "route %s is not a JSON route", r->name);
        return -1;
    }
    req->hdr.type = r->req_type;
    void *b = s_body (req);
    if (r->req_type == API_SHED_OP_REQ)
        req->u.api_shed_op_req.op = r->op;
    if (r->op_field && s_set_fixed (d, b, r->op_field, r->op) != 0) {
        http_error_set (err, 500, "internal", "route %s: no field %s", r->name, r->op_field);
        goto fail;
    }
    if (m->name[0]) {
        const char *pf = r->path_field ? r->path_field : "name";
        const wire_field_t *f = s_field (d, pf);
        json_t *v = json_string (m->name);
        int rc = f && v ? s_set (f, b, pf, v, err) : -1;
        json_decref (v);
        if (rc != 0) {
            if (!err->status)
                http_error_set (err, 400, "bad_request", "the name in the path is not UTF-8");
            goto fail;
        }
    }
    if (nargs > HTTP_ARGS_MAX) {
        http_error_set (err, 400, "bad_request", "more than %d query arguments", HTTP_ARGS_MAX);
        goto fail;
    }
    for (size_t i = 0; i < nargs; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp (args[i].key, args[j].key) == 0) {
                http_error_set (err, 400, "bad_request", "query argument '%.64s' given twice",
                                args[i].key);
                goto fail;
            }
        const http_key_t *k = r->body ? NULL : s_key (r, args[i].key);
        const wire_field_t *f = k ? s_field (d, k->field) : NULL;
        if (!f) {
            http_error_set (err, 400, "bad_request", "unknown query argument '%.64s'", args[i].key);
            goto fail;
        }
        const char *value = args[i].value ? args[i].value : "";
        json_t *v = k->conv == C_ENUM ? json_string (value) : s_arg_json (f, value);
        int rc = v ? s_apply (r, d, b, args[i].key, v, err) : -1;
        json_decref (v);
        if (rc != 0) {
            if (!err->status)
                http_error_set (err, 400, "bad_request", "query argument '%.64s' is not UTF-8",
                                args[i].key);
            goto fail;
        }
    }
    if (!r->body && len > 0) {
        http_error_set (err, 400, "bad_request", "%s %s takes no body", r->method, r->path);
        goto fail;
    }
    if (r->body && len == 0 && r->body_optional) {
        body = "{}"; /* POST .../move, .../drain: every member optional */
        len = 2;
    }
    if (r->body) {
        json_error_t jerr;
        json_t *root = json_loadb (body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            http_error_set (err, 400, "malformed_json", "malformed JSON at line %d column %d: %s",
                            jerr.line, jerr.column, jerr.text);
            goto fail;
        }
        if (!json_is_object (root)) {
            json_decref (root);
            http_error_set (err, 400, "bad_request", "expected a JSON object");
            goto fail;
        }
        const char *key;
        json_t *v;
        int rc = 0;
        json_object_foreach (root, key, v)
        {
            if ((rc = s_apply (r, d, b, key, v, err)) != 0)
                break;
        }
        json_decref (root);
        if (rc != 0)
            goto fail;
    }
    /* Required strings and lists must be there (the path gives a name; a
     * create's body must; a join needs seeds). */
    for (size_t i = 0; i < d->nfields; i++) {
        const wire_field_t *f = &d->fields[i];
        bool empty = (f->kind == WIRE_STR && !*((char *) b + f->offset))
                     || (f->kind == WIRE_LIST && !((wire_list_t *) ((char *) b + f->offset))->n);
        if ((f->flags & WIRE_REQ) && empty) {
            const char *json = f->name; /* named as the client writes it */
            for (const http_key_t *k = r->keys; k->json; k++)
                if (strcmp (k->field, f->name) == 0)
                    json = k->json;
            http_error_set (err, 400, "bad_request", "missing field '%s'", json);
            goto fail;
        }
    }
    return 0;
fail:
    wire_msg_free (&api_proto, req);
    return -1;
}

int
http_request_timeout_ms (const api_msg_t *req)
{
    uint64_t t = 0;
    if (req->hdr.type == API_SHED_CREATE_REQ)
        t = req->u.api_shed_create_req.timeout_ms ? req->u.api_shed_create_req.timeout_ms
                                                  : S_CREATE_DEADLINE_MS;
    else if (req->hdr.type == API_SHED_OP_REQ)
        t = req->u.api_shed_op_req.timeout_ms ? req->u.api_shed_op_req.timeout_ms
                                              : S_OP_DEADLINE_MS;
    else if (req->hdr.type == API_SHED_MOVE_REQ || req->hdr.type == API_SNAPSHOT_CREATE_REQ)
        return S_SNAPSHOT_WAIT_MS + SHED_API_REPLY_MARGIN_MS;
    else if (req->hdr.type == API_PROVISION_REQ) {
        /* the run's own timeout (shedctl's --timeout-run, its bounds) */
        t = req->u.api_provision_req.timeout_ms ? req->u.api_provision_req.timeout_ms
                                                : S_PROVISION_RUN_MS;
        return (int) (t < S_PROVISION_RUN_MAX_MS ? t : S_PROVISION_RUN_MAX_MS)
               + SHED_API_REPLY_MARGIN_MS;
    }
    else if (req->hdr.type == API_JOIN_REQ)
        return S_JOIN_WAIT_MS + SHED_API_REPLY_MARGIN_MS;
    else
        return HTTP_READ_TIMEOUT_MS;
    if (t > 3600000)
        t = 3600000;
    return (int) t + SHED_API_REPLY_MARGIN_MS;
}

const char *
http_request_id (const api_msg_t *req)
{
    if (req->hdr.type == API_SHED_CREATE_REQ)
        return req->u.api_shed_create_req.request_id;
    if (req->hdr.type == API_SHED_OP_REQ)
        return req->u.api_shed_op_req.request_id;
    return "";
}
