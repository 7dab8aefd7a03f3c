/* http_shed_compat.c - see http_shed_compat.h. Shed's API as its
 * documentation gives it (docs/api.md, "Shed compatibility", says which
 * parts and what differs). */
#include "node/http/http_shed_compat.h"

#include "bridges/event_msg.h"
#include "common/json_text.h"
#include "crypto/identity.h"

#include <ctype.h>
#include <stddef.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_NAME_MAX 63 /* a shed name on the local API (api_msg.h) */

typedef enum { R_INFO, R_HOSTKEY, R_LIST, R_CREATE, R_GET, R_DELETE, R_START, R_STOP } s_kind_t;

typedef struct {
    const char *name;
    const char *method;
    const char *path; /* "{}": one segment, the shed's name */
    http_role_t role;
    s_kind_t kind;
} s_route_t;

/* clang-format off */
static const s_route_t s_routes[] = {
    { "shed.info",   "GET",    "/api/info",             HTTP_ROLE_NONE,     R_INFO },
    { "shed.hostkey","GET",    "/api/ssh-host-key",     HTTP_ROLE_NONE,     R_HOSTKEY },
    { "shed.list",   "GET",    "/api/sheds",            HTTP_ROLE_READ,     R_LIST },
    { "shed.create", "POST",   "/api/sheds",            HTTP_ROLE_OPERATOR, R_CREATE },
    { "shed.get",    "GET",    "/api/sheds/{}",         HTTP_ROLE_READ,     R_GET },
    { "shed.delete", "DELETE", "/api/sheds/{}",         HTTP_ROLE_OPERATOR, R_DELETE },
    { "shed.start",  "POST",   "/api/sheds/{}/start",   HTTP_ROLE_OPERATOR, R_START },
    { "shed.stop",   "POST",   "/api/sheds/{}/stop",    HTTP_ROLE_OPERATOR, R_STOP },
};
/* clang-format on */
#define S_NROUTES (sizeof s_routes / sizeof s_routes[0])

bool
http_compat_path (const char *path)
{
    return path
           && (strncmp (path, HTTP_COMPAT_PREFIX, strlen (HTTP_COMPAT_PREFIX)) == 0
               || strcmp (path, "/api") == 0);
}

/* ---- routing -------------------------------------------------------------------- */

int
http_compat_match (const char *method, const char *path, http_compat_match_t *m, http_error_t *err)
{
    memset (m, 0, sizeof *m);
    memset (err, 0, sizeof *err);
    m->route = -1;
    if (!path || strlen (path) > HTTP_PATH_MAX) {
        http_error_set (err, 404, "NOT_FOUND", "no such route");
        return -1;
    }
    char name[sizeof m->name];
    for (size_t i = 0; i < S_NROUTES; i++) {
        if (!http_path_match (s_routes[i].path, path, name, sizeof name))
            continue;
        if (strcmp (s_routes[i].method, method) == 0) {
            m->route = (int) i;
            memcpy (m->name, name, sizeof name);
            return 0;
        }
        size_t used = strlen (err->allow);
        snprintf (err->allow + used, sizeof err->allow - used, "%s%s", used ? ", " : "",
                  s_routes[i].method);
    }
    if (err->allow[0]) {
        http_error_set (err, 405, "METHOD_NOT_ALLOWED", "%s %s: allowed: %s", method, path,
                        err->allow);
        return -1;
    }
    http_error_set (err, 404, "NOT_FOUND",
                    "no route %s %s (docs/api.md lists the Shed routes served)", method, path);
    return -1;
}

http_role_t
http_compat_role (const http_compat_match_t *m)
{
    return s_routes[m->route].role;
}

const char *
http_compat_name (const http_compat_match_t *m)
{
    return s_routes[m->route].name;
}

void
http_compat_routes (http_route_visit_fn fn, void *arg)
{
    for (size_t i = 0; i < S_NROUTES; i++) {
        char path[HTTP_PATH_MAX + 8];
        http_route_doc_path (s_routes[i].path, path, sizeof path);
        fn (arg, s_routes[i].method, path, s_routes[i].name);
    }
}

/* ---- JSON out ------------------------------------------------------------------- */

char *
http_compat_error_json (const http_error_t *err, size_t *len)
{
    /* Shed's codes are upper snake case; ours for the same failures (auth,
     * limits) are lower: one shape for a Shed client either way. */
    char code[sizeof err->code];
    size_t i = 0;
    for (; err->code[i] && i + 1 < sizeof code; i++)
        code[i] = (char) toupper ((unsigned char) err->code[i]);
    code[i] = '\0';
    json_t *e = json_object ();
    json_t *doc = json_object ();
    if (!e || !doc) {
        json_decref (e);
        json_decref (doc);
        return NULL;
    }
    json_object_set_new (e, "code", json_text (code));
    json_object_set_new (e, "message", json_text (err->message));
    json_object_set_new (doc, "error", e);
    return http_json_body (doc, len);
}

/* Our states -> Shed's four (running, stopped, starting, error): a shed
 * whose node failed or left is "error" to a Shed client. */
static const char *
s_status (const char *state)
{
    if (strcmp (state, "running") == 0 || strcmp (state, "stopped") == 0
        || strcmp (state, "starting") == 0)
        return state;
    return "error";
}

/* One shed in Shed's fields. Empty and zero fields are left out, as Shed
 * does; "node" (where the scheduler placed it) is ours, and Shed's
 * clients ignore members they do not know. */
static json_t *
s_shed (const api_shed_t *s)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    json_object_set_new (o, "name", json_text (s->name));
    json_object_set_new (o, "status", json_text (s_status (s->state)));
    char when[32] = "";
    time_t t = (time_t) (s->created_ms / 1000);
    struct tm tm;
    if (s->created_ms && gmtime_r (&t, &tm))
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (when[0])
        json_object_set_new (o, "created_at", json_text (when));
    json_object_set_new (o, "repo", json_null ()); /* the cluster does not keep it */
    if (s->driver[0])
        json_object_set_new (o, "backend", json_text (s->driver));
    if (s->ip[0])
        json_object_set_new (o, "ip_address", json_text (s->ip));
    if (s->cpus_milli) /* Shed's cpus are whole CPUs */
        json_object_set_new (o, "cpus", json_integer ((json_int_t) ((s->cpus_milli + 999) / 1000)));
    if (s->memory_mb)
        json_object_set_new (o, "memory_mb", json_integer ((json_int_t) s->memory_mb));
    json_object_set_new (o, "node", json_text (s->node));
    return o;
}

/* ---- calls ---------------------------------------------------------------------- */

typedef struct {
    const http_compat_ctx_t *ctx;
    http_compat_call_fn call;
    void *arg;
    http_error_t err;
} s_env_t;

/* API_ERROR -> Shed's code for what was asked. */
static void
s_api_error (s_kind_t kind, const api_error_t *e, http_error_t *err)
{
    switch (e->code) {
    case API_ERR_NOT_FOUND:
        http_error_set (err, 404, "SHED_NOT_FOUND", "%s", e->message);
        return;
    case API_ERR_CONFLICT:
        if (kind == R_CREATE)
            http_error_set (err, 409, "SHED_ALREADY_EXISTS", "%s", e->message);
        else
            http_error_set (err, 409, "CONFLICT", "%s", e->message);
        return;
    case API_ERR_INVALID:
    case API_ERR_BAD_REQUEST:
        http_error_set (err, 400, "INVALID_REQUEST", "%s", e->message);
        return;
    case API_ERR_UNAVAILABLE:
        http_error_set (err, 503, "UNAVAILABLE", "%s", e->message);
        return;
    case API_ERR_UNSUPPORTED:
        http_error_set (err, 501, "NOT_IMPLEMENTED", "%s", e->message);
        return;
    default:
        http_error_set (err, 500, "INTERNAL_ERROR", "%s", e->message);
        return;
    }
}

/* One request; 0 with *rep of type `want`, else -1 with env->err set. */
static int
s_call (s_env_t *env, s_kind_t kind, api_msg_t *req, api_msg_t *rep, uint16_t want)
{
    char why[384] = "";
    bool unknown = false;
    int rc =
        env->call (env->arg, req, rep, http_request_timeout_ms (req), &unknown, why, sizeof why);
    if (rc != 0) {
        if (unknown)
            http_error_set (&env->err, 504, "OUTCOME_UNKNOWN",
                            "no answer from the node in time: the outcome is unknown (%s)", why);
        else
            http_error_set (&env->err, 503, "UNAVAILABLE", "%s", why);
        return -1;
    }
    if (rep->hdr.type == API_ERROR) {
        s_api_error (kind, &rep->u.api_error, &env->err);
        wire_msg_free (&api_proto, rep);
        return -1;
    }
    if (rep->hdr.type != want) {
        http_error_set (&env->err, 502, "INTERNAL_ERROR", "the node answered with type %u",
                        rep->hdr.type);
        wire_msg_free (&api_proto, rep);
        return -1;
    }
    return 0;
}

/* The shed `name` as Shed shows it; NULL with env->err on failure. */
static json_t *
s_show (s_env_t *env, s_kind_t kind, const char *name, char *state, size_t statecap)
{
    api_msg_t req = { .hdr.type = API_SHED_SHOW_REQ }, rep;
    snprintf (req.u.api_shed_show_req.name, sizeof req.u.api_shed_show_req.name, "%s", name);
    if (s_call (env, kind, &req, &rep, API_SHED_REP) != 0)
        return NULL;
    json_t *o = NULL;
    if (rep.u.api_shed_rep.shed.n == 1) {
        const api_shed_t *s = rep.u.api_shed_rep.shed.items;
        o = s_shed (s);
        if (state)
            snprintf (state, statecap, "%s", s->state);
    }
    else
        http_error_set (&env->err, 404, "SHED_NOT_FOUND", "shed '%s' not found", name);
    wire_msg_free (&api_proto, &rep);
    if (!o && !env->err.status)
        http_error_set (&env->err, 500, "INTERNAL_ERROR", "out of memory");
    return o;
}

static json_t *
s_info (s_env_t *env)
{
    api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
    if (s_call (env, R_INFO, &req, &rep, API_STATUS_REP) != 0)
        return NULL;
    /* ssh_port 0: the cluster serves no SSH (docs/api.md says what a Shed
     * client can and cannot do here). backend: Shed's CLI refuses to
     * create on a server that names none and sends it back in the create,
     * which the scheduler ignores: "cluster", the sheds go where it
     * places them (each shed's own "backend" is its node's driver). */
    json_t *o = json_pack ("{s:o,s:o,s:i,s:i,s:s}", "name", json_text (rep.u.api_status_rep.name),
                           "version", json_text (rep.u.api_status_rep.version), "ssh_port", 0,
                           "http_port", (int) env->ctx->http_port, "backend", HTTP_COMPAT_BACKEND);
    wire_msg_free (&api_proto, &rep);
    return o;
}

int
http_compat_host_key (const char *sign_key, char *out, size_t cap)
{
    /* OpenSSH's public key blob (RFC 8709): string "ssh-ed25519", string
     * the 32 key bytes; each string a 4-byte big-endian length first. */
    uint8_t key[32], blob[4 + 11 + 4 + 32];
    if (!sign_key || shed_key_from_text (sign_key, key) != 0)
        return -1;
    static const char type[] = "ssh-ed25519";
    size_t n = 0;
    blob[n++] = 0, blob[n++] = 0, blob[n++] = 0, blob[n++] = 11;
    memcpy (blob + n, type, 11);
    n += 11;
    blob[n++] = 0, blob[n++] = 0, blob[n++] = 0, blob[n++] = 32;
    memcpy (blob + n, key, 32);
    n += 32;
    char b64[sizeof blob * 2];
    sodium_bin2base64 (b64, sizeof b64, blob, n, sodium_base64_VARIANT_ORIGINAL);
    int w = snprintf (out, cap, "%s %s", type, b64);
    return w > 0 && (size_t) w < cap ? 0 : -1;
}

/* GET /api/ssh-host-key. The cluster runs no SSH server, but Shed's CLI
 * (its first, HTTP-first `shed server add`) fails the add without an
 * answer here, and writes what it gets into ~/.shed/known_hosts for
 * [host]:<ssh_port>. So: the node's Ed25519 identity key in OpenSSH form,
 * a well-formed line (an empty key would make a line that breaks the
 * parse of the whole file for Shed's newer CLI), pinned for port 0, where
 * no SSH client connects (docs/api.md, "Shed compatibility"). */
static json_t *
s_host_key (s_env_t *env)
{
    api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
    if (s_call (env, R_HOSTKEY, &req, &rep, API_STATUS_REP) != 0)
        return NULL;
    char text[128];
    int rc = http_compat_host_key (rep.u.api_status_rep.sign_key, text, sizeof text);
    wire_msg_free (&api_proto, &rep);
    if (rc != 0) {
        http_error_set (&env->err, 503, "UNAVAILABLE", "the node did not give its identity key");
        return NULL;
    }
    return json_pack ("{s:s}", "host_key", text);
}

static json_t *
s_list (s_env_t *env)
{
    api_msg_t req = { .hdr.type = API_SHED_LIST_REQ }, rep; /* no node: the whole cluster */
    if (s_call (env, R_LIST, &req, &rep, API_SHED_LIST_REP) != 0)
        return NULL;
    json_t *arr = json_array ();
    for (size_t i = 0; arr && i < rep.u.api_shed_list_rep.sheds.n; i++)
        json_array_append_new (arr, s_shed (&rep.u.api_shed_list_rep.sheds.items[i]));
    wire_msg_free (&api_proto, &rep);
    return arr ? json_pack ("{s:o}", "sheds", arr) : NULL;
}

/* Shed's rule: letters, digits and hyphens. */
static bool
s_name_ok (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > S_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '-')
            return false;
    return true;
}

/* Shed's create body: name (required), repo, image, cpus, memory_mb.
 * Members Shed's newer servers take and the cluster has no use for
 * (backend, no_provision, ...) are ignored, as Shed's own server ignores
 * members it does not know; a known member of the wrong type is a 400. */
static int
s_create_decode (const char *body, size_t len, api_msg_t *req, http_error_t *err)
{
    api_shed_create_req_t *c = &req->u.api_shed_create_req;
    json_error_t jerr;
    json_t *root = json_loadb (body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        http_error_set (err, 400, "INVALID_REQUEST", "malformed JSON at line %d column %d: %s",
                        jerr.line, jerr.column, jerr.text);
        return -1;
    }
    int rc = -1;
    json_t *v;
    if (!json_is_object (root)) {
        http_error_set (err, 400, "INVALID_REQUEST", "expected a JSON object");
        goto out;
    }
    v = json_object_get (root, "name");
    if (!json_is_string (v) || !s_name_ok (json_string_value (v))
        || strlen (json_string_value (v)) != json_string_length (v)) {
        http_error_set (err, 400, "INVALID_SHED_NAME", "name: 1-%d letters, digits and hyphens",
                        S_NAME_MAX);
        goto out;
    }
    snprintf (c->name, sizeof c->name, "%s", json_string_value (v));
    static const struct {
        const char *key;
        size_t off, cap;
    } strs[] = {
        { "repo", offsetof (api_shed_create_req_t, repo), sizeof c->repo },
        { "image", offsetof (api_shed_create_req_t, image), sizeof c->image },
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        v = json_object_get (root, strs[i].key);
        if (!v || json_is_null (v))
            continue;
        const char *s = json_string_value (v);
        if (!s || json_string_length (v) >= strs[i].cap || strlen (s) != json_string_length (v)) {
            http_error_set (err, 400, "INVALID_REQUEST",
                            "%s: expected a string of at most %zu bytes", strs[i].key,
                            strs[i].cap - 1);
            goto out;
        }
        memcpy ((char *) c + strs[i].off, s, json_string_length (v) + 1);
    }
    v = json_object_get (root, "cpus");
    if (v && !json_is_null (v)) {
        if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > 4096) {
            http_error_set (err, 400, "INVALID_REQUEST", "cpus: expected a whole number 0-4096");
            goto out;
        }
        c->cpus_milli = (uint64_t) json_integer_value (v) * 1000;
    }
    v = json_object_get (root, "memory_mb");
    if (v && !json_is_null (v)) {
        if (!json_is_integer (v) || json_integer_value (v) < 0
            || json_integer_value (v) > (json_int_t) 1 << 32) {
            http_error_set (err, 400, "INVALID_REQUEST", "memory_mb: expected a whole number");
            goto out;
        }
        c->memory_mb = (uint64_t) json_integer_value (v);
    }
    rc = 0;
out:
    json_decref (root);
    return rc;
}

static json_t *
s_create (s_env_t *env, const char *body, size_t len)
{
    api_msg_t req = { .hdr.type = API_SHED_CREATE_REQ }, rep;
    if (s_create_decode (body, len, &req, &env->err) != 0)
        return NULL;
    snprintf (req.u.api_shed_create_req.request_id, sizeof req.u.api_shed_create_req.request_id,
              "%s", env->ctx->request_id ? env->ctx->request_id : "");
    /* No node: the scheduler places it (docs/scheduling.md). */
    if (s_call (env, R_CREATE, &req, &rep, API_SHED_REP) != 0)
        return NULL;
    json_t *o = NULL;
    if (rep.u.api_shed_rep.shed.n == 1)
        o = s_shed (rep.u.api_shed_rep.shed.items);
    else
        http_error_set (&env->err, 500, "INTERNAL_ERROR", "the node's answer names no shed");
    wire_msg_free (&api_proto, &rep);
    return o;
}

/* start / stop / delete. Shed answers 409 for a start of a running shed
 * and a stop of a stopped one, where our API does nothing and says OK;
 * so look first. (Another client may start it in between: then the start
 * does nothing and answers 200, which is what it would have seen a moment
 * earlier.) */
static json_t *
s_op (s_env_t *env, s_kind_t kind, const char *name, bool *no_content)
{
    char state[16] = "";
    json_t *before = s_show (env, kind, name, state, sizeof state);
    if (!before)
        return NULL;
    json_decref (before);
    if (kind == R_START && strcmp (state, "running") == 0) {
        http_error_set (&env->err, 409, "SHED_ALREADY_RUNNING", "shed '%s' is already running",
                        name);
        return NULL;
    }
    if (kind == R_STOP && strcmp (state, "stopped") == 0) {
        http_error_set (&env->err, 409, "SHED_ALREADY_STOPPED", "shed '%s' is already stopped",
                        name);
        return NULL;
    }
    api_msg_t req = { .hdr.type = API_SHED_OP_REQ }, rep;
    api_shed_op_req_t *op = &req.u.api_shed_op_req;
    op->op = kind == R_START  ? API_SHED_OP_START
             : kind == R_STOP ? API_SHED_OP_STOP
                              : API_SHED_OP_DELETE;
    snprintf (op->name, sizeof op->name, "%s", name);
    snprintf (op->request_id, sizeof op->request_id, "%s",
              env->ctx->request_id ? env->ctx->request_id : "");
    char why[384] = "";
    bool unknown = false;
    int rc =
        env->call (env->arg, &req, &rep, http_request_timeout_ms (&req), &unknown, why, sizeof why);
    if (rc != 0) {
        http_error_set (&env->err, unknown ? 504 : 503, unknown ? "OUTCOME_UNKNOWN" : "UNAVAILABLE",
                        "%s", why);
        return NULL;
    }
    if (rep.hdr.type == API_ERROR) {
        s_api_error (kind, &rep.u.api_error, &env->err);
        wire_msg_free (&api_proto, &rep);
        return NULL;
    }
    if (kind == R_DELETE) {
        wire_msg_free (&api_proto, &rep);
        *no_content = true;
        return NULL;
    }
    /* The op ran on the shed's own node, which answers with the record as
     * the op left it: that is the shed to show. This node's copy of the
     * record follows a moment later (docs/state.md), so a show here could
     * still see the state from before the op. */
    json_t *after = NULL;
    if (rep.hdr.type == API_SHED_REP && rep.u.api_shed_rep.shed.n == 1) {
        after = s_shed (rep.u.api_shed_rep.shed.items);
        if (!after)
            http_error_set (&env->err, 500, "INTERNAL_ERROR", "out of memory");
    }
    else
        http_error_set (&env->err, 502, "INTERNAL_ERROR",
                        "the node answered the %s with type %u, not the shed",
                        kind == R_START ? "start" : "stop", rep.hdr.type);
    wire_msg_free (&api_proto, &rep);
    return after;
}

unsigned
http_compat_serve (const http_compat_match_t *m, const char *body, size_t len,
                   const http_compat_ctx_t *ctx, http_compat_call_fn call, void *arg, char **out,
                   size_t *outlen)
{
    s_env_t env = { .ctx = ctx, .call = call, .arg = arg };
    *out = NULL;
    *outlen = 0;
    s_kind_t kind = s_routes[m->route].kind;
    if (kind != R_CREATE && len > 0) {
        http_error_set (&env.err, 400, "INVALID_REQUEST", "%s %s takes no body",
                        s_routes[m->route].method, s_routes[m->route].path);
        *out = http_compat_error_json (&env.err, outlen);
        return *out ? env.err.status : 0;
    }
    bool no_content = false;
    json_t *doc = NULL;
    unsigned ok = 200;
    switch (kind) {
    case R_INFO:
        doc = s_info (&env);
        break;
    case R_HOSTKEY:
        doc = s_host_key (&env);
        break;
    case R_LIST:
        doc = s_list (&env);
        break;
    case R_CREATE:
        doc = s_create (&env, body, len);
        ok = 201;
        break;
    case R_GET:
        doc = s_show (&env, kind, m->name, NULL, 0);
        break;
    case R_DELETE:
    case R_START:
    case R_STOP:
        doc = s_op (&env, kind, m->name, &no_content);
        break;
    }
    if (no_content)
        return 204;
    if (doc) {
        *out = http_json_body (doc, outlen);
        return *out ? ok : 0;
    }
    if (!env.err.status)
        http_error_set (&env.err, 500, "INTERNAL_ERROR", "out of memory");
    *out = http_compat_error_json (&env.err, outlen);
    return *out ? env.err.status : 0;
}

/* ---- create progress stream (Accept: text/event-stream) ------------------------ */

bool
http_compat_wants_stream (const http_compat_match_t *m, const char *accept)
{
    return m->route >= 0 && s_routes[m->route].kind == R_CREATE && accept
           && strstr (accept, "text/event-stream") != NULL;
}

int
http_compat_create_check (const char *body, size_t len, char *name, size_t namecap,
                          http_error_t *err)
{
    api_msg_t req = { .hdr.type = API_SHED_CREATE_REQ };
    memset (err, 0, sizeof *err);
    if (s_create_decode (body, len, &req, err) != 0)
        return -1;
    snprintf (name, namecap, "%s", req.u.api_shed_create_req.name);
    return 0;
}

/* One SSE record: "event: <name>", one data line (compact JSON has no
 * newline), a blank line. */
static char *
s_sse (const char *event, json_t *doc, size_t *len)
{
    *len = 0;
    if (!doc)
        return NULL;
    char *data = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    if (!data)
        return NULL;
    char *out = NULL;
    int n = asprintf (&out, "event: %s\ndata: %s\n\n", event, data);
    free (data);
    if (n < 0)
        return NULL;
    *len = (size_t) n;
    return out;
}

char *
http_compat_sse_progress (const evpay_progress_t *p, const char *shed, size_t *len)
{
    *len = 0;
    if (strcmp (p->what, "create") != 0 || strcmp (p->name, shed) != 0
        || strcmp (p->state, "failed") == 0) /* the final error event says why, once */
        return NULL;
    /* The lines shedctl prints (ctl_create_progress.c): the target's
     * phases (network, rootfs, started) name the node they happened on. */
    bool target = !strcmp (p->state, "network") || !strcmp (p->state, "rootfs")
                  || !strcmp (p->state, "started");
    char message[EVENT_NODE_MAX + 300];
    if (target && p->peer[0])
        snprintf (message, sizeof message, "%s: %s", p->peer, p->why);
    else
        snprintf (message, sizeof message, "%s", p->why[0] ? p->why : p->state);
    return s_sse (
        "progress",
        json_pack ("{s:o,s:o}", "message", json_text (message), "phase", json_text (p->state)),
        len);
}

char *
http_compat_sse_final (unsigned status, const char *body, size_t bodylen, size_t *len)
{
    /* http_compat_serve's answer to the same create: 201 and the shed
     * (Shed's "complete": the synchronous answer's object), or Shed's
     * error document {"error": {"code", "message"}}, which is what Shed's
     * CLI reads from an "error" event. */
    json_t *doc = body ? json_loadb (body, bodylen, 0, NULL) : NULL;
    if (!doc) {
        http_error_t err;
        http_error_set (&err, 500, "INTERNAL_ERROR", "out of memory");
        size_t n;
        char *e = http_compat_error_json (&err, &n);
        doc = e ? json_loadb (e, n, 0, NULL) : NULL;
        free (e);
        status = 500;
    }
    return s_sse (status == 201 ? "complete" : "error", doc, len);
}
