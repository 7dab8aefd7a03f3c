/* http_route.c - see http_route.h. */
#include "node/http/http_route_int.h"

#include "common/json_text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options of `shedctl create` (node/ctl/ctl_sheds.c), same names. */
static const http_key_t s_create_keys[] = {
    { "name", "name", C_PLAIN, NULL },
    { "cpus", "cpus_milli", C_CPUS, NULL },
    { "memory", "memory_mb", C_SIZE_MB, NULL },
    { "disk", "disk_mb", C_SIZE_MB, NULL },
    { "gpus", "gpus", C_PLAIN, NULL },
    { "node", "node", C_PLAIN, NULL },
    { "constraints", "constraints", C_CONSTRAINTS, NULL },
    { "strategy", "strategy", C_PLAIN, NULL },
    { "tags", "tags", C_PLAIN, NULL },
    { "image", "image", C_PLAIN, NULL },
    { "from_snapshot", "snapshot", C_PLAIN, NULL },
    { "repo", "repo", C_PLAIN, NULL },
    { "request_id", "request_id", C_PLAIN, NULL },
    { "timeout_ms", "timeout_ms", C_PLAIN, NULL },
    { NULL, NULL, C_PLAIN, NULL },
};
static const http_key_t s_none_keys[] = { { NULL, NULL, C_PLAIN, NULL } };
static const http_key_t s_list_keys[] = { { "node", "node", C_PLAIN, NULL },
                                          { NULL, NULL, C_PLAIN, NULL } };
static const http_key_t s_op_keys[] = {
    { "request_id", "request_id", C_PLAIN, NULL },
    { "timeout_ms", "timeout_ms", C_PLAIN, NULL },
    { NULL, NULL, C_PLAIN, NULL },
};
static const http_key_t s_delete_keys[] = {
    { "force", "force", C_PLAIN, NULL },
    { "request_id", "request_id", C_PLAIN, NULL },
    { "timeout_ms", "timeout_ms", C_PLAIN, NULL },
    { NULL, NULL, C_PLAIN, NULL },
};
static const http_key_t s_services_keys[] = {
    { "name", "name", C_PLAIN, NULL },
    { "all", "all", C_PLAIN, NULL },
    { NULL, NULL, C_PLAIN, NULL },
};

/* `shedctl logs NAME [--stream S] [--tail N]`; ?follow=true is taken out
 * before the decoder (http_logs.h). */
static const http_key_t s_logs_keys[] = {
    { "stream", "stream", C_PLAIN, NULL },
    { "tail", "tail", C_PLAIN, NULL },
    { NULL, NULL, C_PLAIN, NULL },
};
/* `shedctl provision NAME --step CMD... [--user U] [--keep-going]
 * [--timeout-run D]`: steps are strings (commands, named step-N as shedctl
 * names them) or {"cmd", "name", "timeout_ms"} objects. */
/* clang-format off */
static const http_key_t s_provision_keys[] = {
    { "steps", "steps", C_STEPS, NULL },
    { "user", "user", C_PLAIN, NULL },
    { "keep_going", "keep_going", C_PLAIN, NULL },
    { "run", "run", C_PLAIN, NULL },
    { "timeout_ms", "timeout_ms", C_PLAIN, NULL },
    { NULL, NULL, C_PLAIN, NULL },
};
/* clang-format on */

#define R  HTTP_ROLE_READ
#define OP HTTP_ROLE_OPERATOR
/* clang-format off */
static const http_route_t s_routes[] = {
    { "status",       "GET",    "/v1/status",          R,  API_STATUS_REQ,     API_STATUS_REP,     0, false, s_none_keys,     200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "members",      "GET",    "/v1/members",         R,  API_MEMBERS_REQ,    API_MEMBERS_REP,    0, false, s_none_keys,     200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.list",   "GET",    "/v1/sheds",           R,  API_SHED_LIST_REQ,  API_SHED_LIST_REP,  0, false, s_list_keys,     200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.create", "POST",   "/v1/sheds",           OP, API_SHED_CREATE_REQ, API_SHED_REP,      0, true,  s_create_keys,   201, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.show",   "GET",    "/v1/sheds/{}",        R,  API_SHED_SHOW_REQ,  API_SHED_REP,       0, false, s_none_keys,     200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.delete", "DELETE", "/v1/sheds/{}",        OP, API_SHED_OP_REQ,    0, API_SHED_OP_DELETE, false, s_delete_keys, 200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.start",  "POST",   "/v1/sheds/{}/start",  OP, API_SHED_OP_REQ,    0, API_SHED_OP_START, false, s_op_keys,      200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.stop",   "POST",   "/v1/sheds/{}/stop",   OP, API_SHED_OP_REQ,    0, API_SHED_OP_STOP,  false, s_op_keys,      200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "services",     "GET",    "/v1/services",        R,  API_SVC_LIST_REQ,   API_SVC_LIST_REP,   0, false, s_services_keys, 200, HTTP_ROUTE_JSON, NULL, NULL, false, NULL },
    { "sheds.logs",   "GET",    "/v1/sheds/{}/logs",   R,  API_LOGS_REQ,       API_LOGS_REP,       0, false, s_logs_keys,     200, HTTP_ROUTE_JSON, "shed", NULL, false, NULL },
    { "sheds.provision", "POST", "/v1/sheds/{}/provision", OP, API_PROVISION_REQ, API_PROVISION_REP, 0, true, s_provision_keys, 200, HTTP_ROUTE_JSON, "shed", NULL, false, NULL },
    /* shedctl remote: any local API request as msgpack, the role checked
     * per request type (http_passthrough.h) */
    { "api",          "POST",   "/v1/api",             R,  0,                  0,                  0, true,  s_none_keys,     200, HTTP_ROUTE_MSGPACK, NULL, NULL, false, NULL },
    /* server-sent events (http_events.h) */
    { "events",       "GET",    "/v1/events",          R,  0,                  0,                  0, false, s_none_keys,     200, HTTP_ROUTE_EVENTS, NULL, NULL, false, NULL },
};
/* clang-format on */
#undef R
#undef OP
#define S_NROUTES (sizeof s_routes / sizeof s_routes[0])

size_t
http_route_count (void)
{
    return S_NROUTES + http_ops_nroutes;
}

const http_route_t *
http_route_at (size_t i)
{
    return i < S_NROUTES ? &s_routes[i] : &http_ops_routes[i - S_NROUTES];
}

/* ---- errors --------------------------------------------------------------------- */

void
http_error_set (http_error_t *err, unsigned status, const char *code, const char *fmt, ...)
{
    err->status = status;
    snprintf (err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->message, sizeof err->message, fmt, ap);
    va_end (ap);
}

void
http_error_from_api (uint64_t api_code, const char *message, http_error_t *err)
{
    static const struct {
        unsigned status;
        const char *code;
    } map[] = {
        [API_ERR_BAD_REQUEST] = { 400, "bad_request" },
        [API_ERR_UNSUPPORTED] = { 501, "not_implemented" },
        [API_ERR_INTERNAL] = { 500, "internal" },
        [API_ERR_UNAVAILABLE] = { 503, "unavailable" },
        [API_ERR_INVALID] = { 400, "invalid" },
        [API_ERR_NOT_FOUND] = { 404, "not_found" },
        [API_ERR_CONFLICT] = { 409, "conflict" },
    };
    if (api_code < sizeof map / sizeof map[0] && map[api_code].code)
        http_error_set (err, map[api_code].status, map[api_code].code, "%s", message);
    else
        http_error_set (err, 500, "internal", "%s", message);
}

char *
http_error_json (const http_error_t *err, size_t *len, ...)
{
    json_t *e = json_object (), *root = json_object ();
    if (!e || !root) {
        json_decref (e);
        json_decref (root);
        return NULL;
    }
    json_object_set_new (e, "code", json_text (err->code));
    json_object_set_new (e, "message", json_text (err->message));
    json_object_set_new (root, "error", e);
    va_list ap;
    va_start (ap, len);
    for (const char *k = va_arg (ap, const char *); k; k = va_arg (ap, const char *)) {
        const char *v = va_arg (ap, const char *);
        if (v && *v)
            json_object_set_new (root, k, json_text (v));
    }
    va_end (ap);
    return http_json_body (root, len);
}

char *
http_json_body (json_t *doc, size_t *len)
{
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    if (!text)
        return NULL;
    size_t n = strlen (text);
    char *out = realloc (text, n + 2);
    if (!out) {
        free (text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}

/* ---- routing -------------------------------------------------------------------- */

bool
http_path_match (const char *pattern, const char *path, char *name, size_t namecap)
{
    name[0] = '\0';
    while (*pattern) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t n = strcspn (path, "/");
            if (n == 0 || n >= namecap)
                return false;
            for (size_t i = 0; i < n; i++)
                if ((unsigned char) path[i] < 0x20 || path[i] == 0x7f)
                    return false;
            memcpy (name, path, n);
            name[n] = '\0';
            path += n;
            pattern += 2;
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    return *path == '\0';
}

int
http_route_match (const char *method, const char *path, http_match_t *m, http_error_t *err)
{
    memset (m, 0, sizeof *m);
    memset (err, 0, sizeof *err);
    if (!path || strlen (path) > HTTP_PATH_MAX) {
        http_error_set (err, 404, "not_found", "no such route");
        return -1;
    }
    char name[sizeof m->name];
    for (size_t i = 0; i < http_route_count (); i++) {
        const http_route_t *r = http_route_at (i);
        if (!http_path_match (r->path, path, name, sizeof name))
            continue;
        if (strcmp (r->method, method) == 0) {
            m->route = r;
            memcpy (m->name, name, sizeof name);
            return 0;
        }
        size_t used = strlen (err->allow);
        snprintf (err->allow + used, sizeof err->allow - used, "%s%s", used ? ", " : "", r->method);
    }
    if (err->allow[0]) {
        http_error_set (err, 405, "method_not_allowed", "%s %s: allowed: %s", method, path,
                        err->allow);
        return -1;
    }
    http_error_set (err, 404, "not_found", "no route %s %s (docs/api.md lists them)", method, path);
    return -1;
}

void
http_route_doc_path (const char *pattern, char *out, size_t cap)
{
    const char *brace = strstr (pattern, "{}");
    if (brace)
        snprintf (out, cap, "%.*s{name}%s", (int) (brace - pattern), pattern, brace + 2);
    else
        snprintf (out, cap, "%s", pattern);
}

void
http_routes (http_route_visit_fn fn, void *arg)
{
    for (size_t i = 0; i < http_route_count (); i++) {
        const http_route_t *r = http_route_at (i);
        char path[HTTP_PATH_MAX + 8];
        http_route_doc_path (r->path, path, sizeof path);
        fn (arg, r->method, path, r->name);
    }
}

http_role_t
http_route_role (const http_route_t *route)
{
    return route->role;
}

const char *
http_route_name (const http_route_t *route)
{
    return route->name;
}

bool
http_route_has_body (const http_route_t *route)
{
    return route->body;
}

unsigned
http_route_ok_status (const http_route_t *route)
{
    return route->ok_status;
}

http_route_kind_t
http_route_kind (const http_route_t *route)
{
    return route->kind;
}

bool
http_route_watchable (const http_route_t *route)
{
    return route->kind == HTTP_ROUTE_JSON
           && (route->req_type == API_SHED_LIST_REQ || route->req_type == API_MEMBERS_REQ
               || route->req_type == API_SVC_LIST_REQ);
}

bool
http_route_followable (const http_route_t *route)
{
    return route->kind == HTTP_ROUTE_JSON && route->req_type == API_LOGS_REQ;
}
