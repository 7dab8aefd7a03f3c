/*
 * shed_server.c - the shed-server driver (see shed_server.h).
 */
#include "node/drivers/shed_server.h"
#include "node/drivers/http.h"
#include "node/drivers/json_read.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char base[DRIVER_PATH_MAX];
    long timeout_ms;
} s_server_t;

/* Map an answer that is not 2xx to a driver error. */
static int
s_error (const char *what, const char *name, const http_reply_t *r, driver_error_t *err)
{
    char code[64] = "", message[160] = "", why[128];
    json_t *doc = json_read (r->body, r->len, why, sizeof why);
    if (json_read_str (doc, "error.code", code, sizeof code) != 0)
        json_read_str (doc, "code", code, sizeof code);
    if (json_read_str (doc, "error.message", message, sizeof message) != 0
        && json_read_str (doc, "message", message, sizeof message) != 0
        && json_read_str (doc, "error", message, sizeof message) != 0)
        snprintf (message, sizeof message, "%.120s", r->len && r->body[0] != '{' ? r->body : "");
    json_decref (doc);
    int rc;
    if (strcmp (code, "SHED_ALREADY_EXISTS") == 0)
        rc = DRIVER_ERR_EXISTS;
    else if (strcmp (code, "SHED_NOT_FOUND") == 0)
        rc = DRIVER_ERR_NOT_FOUND;
    else if (strcmp (code, "BACKEND_ERROR") == 0)
        rc = DRIVER_ERR_BACKEND;
    else if (strncmp (code, "INVALID", 7) == 0 || r->status == 400 || r->status == 422)
        rc = DRIVER_ERR_INVALID;
    else if (r->status == 404)
        rc = DRIVER_ERR_NOT_FOUND;
    else if (r->status == 409)
        rc = code[0] ? DRIVER_ERR_STATE : DRIVER_ERR_EXISTS;
    else if (r->status == 401 || r->status == 403)
        rc = DRIVER_ERR_PERMISSION;
    else if (r->status == 503)
        rc = DRIVER_ERR_UNAVAILABLE;
    else
        rc = DRIVER_ERR_BACKEND;
    return driver_fail (err, rc, "shed-server: %s %s: %ld %s%s%s", what, name, r->status,
                        code[0] ? code : "error", message[0] ? ": " : "", message);
}

/* One call; 0 on 2xx (reply kept for the caller when `keep`). */
static int
s_call (s_server_t *self, const char *method, const char *path, const char *body, const char *what,
        const char *name, http_reply_t *keep, driver_error_t *err)
{
    http_reply_t r;
    if (http_request (self->base, NULL, method, path, body, self->timeout_ms, &r) != 0) {
        int rc = driver_fail (err, DRIVER_ERR_UNAVAILABLE, "shed-server: %s %s: %s (%s)", what,
                              name, r.error, self->base);
        http_reply_free (&r);
        return rc;
    }
    int rc = 0;
    if (r.status < 200 || r.status > 299)
        rc = s_error (what, name, &r, err);
    if (keep && rc == 0)
        *keep = r;
    else
        http_reply_free (&r);
    return rc;
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    s_server_t *self = (s_server_t *) impl;
    char name[80], image[DRIVER_PATH_MAX * 2], repo[DRIVER_PATH_MAX * 2];
    json_quote (spec->name, name, sizeof name);
    json_quote (spec->image, image, sizeof image);
    json_quote (spec->repo, repo, sizeof repo);
    unsigned cpus = (spec->cpus_milli + 999) / 1000;
    char body[2048];
    int n = snprintf (body, sizeof body, "{\"name\":%s,\"cpus\":%u,\"memory_mb\":%llu", name,
                      cpus ? cpus : 1, (unsigned long long) spec->memory_mb);
    if (spec->image[0])
        n += snprintf (body + n, sizeof body - (size_t) n, ",\"image\":%s", image);
    if (spec->repo[0])
        n += snprintf (body + n, sizeof body - (size_t) n, ",\"repo\":%s", repo);
    snprintf (body + n, sizeof body - (size_t) n, "}");
    return s_call (self, "POST", "/api/sheds", body, "create", spec->name, NULL, err);
}

static int
s_action (void *impl, const char *name, const char *action, driver_error_t *err)
{
    char path[128];
    snprintf (path, sizeof path, "/api/sheds/%s/%s", name, action);
    return s_call ((s_server_t *) impl, "POST", path, NULL, action, name, NULL, err);
}

static int
s_start (void *impl, const char *name, driver_error_t *err)
{
    return s_action (impl, name, "start", err);
}

static int
s_stop (void *impl, const char *name, driver_error_t *err)
{
    return s_action (impl, name, "stop", err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    char path[128];
    snprintf (path, sizeof path, "/api/sheds/%s", name);
    return s_call ((s_server_t *) impl, "DELETE", path, NULL, "delete", name, NULL, err);
}

static int
s_status (void *impl, const char *name, driver_status_t *st, driver_error_t *err)
{
    char path[128];
    snprintf (path, sizeof path, "/api/sheds/%s", name);
    http_reply_t r;
    int rc = s_call ((s_server_t *) impl, "GET", path, NULL, "status", name, &r, err);
    if (rc == DRIVER_ERR_NOT_FOUND)
        st->state = DRIVER_ST_ABSENT;
    if (rc)
        return rc;
    char state[32] = "", why[128];
    json_t *doc = json_read (r.body, r.len, why, sizeof why);
    if (json_read_str (doc, "status", state, sizeof state) != 0
        && json_read_str (doc, "state", state, sizeof state) != 0
        && json_read_str (doc, "shed.status", state, sizeof state) != 0)
        snprintf (state, sizeof state, "unknown");
    if (strcasecmp (state, "running") == 0)
        st->state = DRIVER_ST_RUNNING;
    else if (strcasecmp (state, "stopped") == 0 || strcasecmp (state, "created") == 0)
        st->state = DRIVER_ST_STOPPED;
    else if (strcasecmp (state, "starting") == 0 || strcasecmp (state, "creating") == 0)
        st->state = DRIVER_ST_STARTING;
    else if (!doc) {
        st->state = DRIVER_ST_ERROR;
        snprintf (st->detail, sizeof st->detail, "shed-server answered %s", why);
    }
    else {
        st->state = DRIVER_ST_ERROR;
        snprintf (st->detail, sizeof st->detail, "shed-server reports '%s'", state);
    }
    json_read_str (doc, "ip", st->ip, sizeof st->ip);
    double pid;
    if (json_read_num (doc, "pid", &pid) == 0)
        st->pid = (int) pid;
    json_decref (doc);
    http_reply_free (&r);
    return 0;
}

static int
s_list (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    http_reply_t r;
    int rc = s_call ((s_server_t *) impl, "GET", "/api/sheds", NULL, "list", "sheds", &r, err);
    if (rc)
        return rc;
    /* A bare array, or {"sheds": [...]}; elements without a name skipped. */
    char why[128];
    json_t *doc = json_read (r.body, r.len, why, sizeof why);
    const json_t *list = json_is_array (doc) ? doc : json_read_at (doc, "sheds");
    if (!doc)
        rc = driver_fail (err, DRIVER_ERR_BACKEND, "shed-server: list: %s", why);
    else if (!json_is_array (list))
        rc = driver_fail (err, DRIVER_ERR_BACKEND, "shed-server: list: unexpected answer");
    else {
        size_t i;
        const json_t *elem;
        json_array_foreach (list, i, elem)
        {
            char name[DRIVER_NAME_MAX + 1];
            if (json_read_str (elem, "name", name, sizeof name) == 0)
                fn (arg, name);
        }
    }
    json_decref (doc);
    http_reply_free (&r);
    return rc;
}

static void
s_destroy (void *impl)
{
    free (impl);
}

static const driver_ops_t s_ops = {
    .name = "shed-server",
    .create = s_create,
    .start = s_start,
    .stop = s_stop,
    .remove = s_remove,
    .status = s_status,
    .usage = NULL, /* Shed's API has no counters: unsupported */
    .list = s_list,
    .destroy = s_destroy,
};

static void
s_configure (s_server_t *self, const driver_shed_server_config_t *config)
{
    const char *base =
        config->base_url && *config->base_url ? config->base_url : "http://127.0.0.1:8080";
    snprintf (self->base, sizeof self->base, "%s", base);
    size_t len = strlen (self->base);
    if (len && self->base[len - 1] == '/')
        self->base[len - 1] = '\0';
    self->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 30000;
}

driver_t *
driver_shed_server_new (const driver_shed_server_config_t *config, driver_error_t *err)
{
    assert (config);
    s_server_t *self = (s_server_t *) calloc (1, sizeof (s_server_t));
    if (!self) {
        driver_fail (err, DRIVER_ERR_IO, "shed-server: out of memory");
        return NULL;
    }
    s_configure (self, config);
    http_global_init ();
    return driver_new (&s_ops, self);
}

int
driver_shed_server_info (const driver_shed_server_config_t *config, char *version, size_t size,
                         driver_error_t *err)
{
    s_server_t self;
    s_configure (&self, config);
    http_reply_t r;
    int rc = s_call (&self, "GET", "/api/info", NULL, "info", "", &r, err);
    if (rc)
        return rc;
    char why[128];
    json_t *doc = json_read (r.body, r.len, why, sizeof why);
    if (json_read_str (doc, "version", version, size) != 0 && size)
        version[0] = '\0';
    json_decref (doc);
    http_reply_free (&r);
    return 0;
}
