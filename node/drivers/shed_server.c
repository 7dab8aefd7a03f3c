/*
 * shed_server.c - the shed-server driver (see shed_server.h).
 */
#include "node/drivers/shed_server.h"
#include "node/drivers/http.h"
#include "node/drivers/json_read.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define S_CODE_MAX 64 /* Shed's error codes: SHED_NOT_FOUND, ... */

typedef struct {
    char base[DRIVER_PATH_MAX];
    long slow_ms; /* create, start */
    char token_file[DRIVER_PATH_MAX];
} s_server_t;

/* Map an answer that is not 2xx to a driver error. Shed's shape is
 * {"error":{"code","message"}}; a body that is not JSON (a proxy's page)
 * is quoted as it is, cut short. */
static int
s_error (const char *what, const char *name, const http_reply_t *r, char code[S_CODE_MAX],
         driver_error_t *err)
{
    char message[160] = "", why[128];
    code[0] = '\0';
    json_t *doc = json_read (r->body, r->len, why, sizeof why);
    json_read_str (doc, "error.code", code, S_CODE_MAX);
    if (json_read_str (doc, "error.message", message, sizeof message) != 0 && !doc)
        snprintf (message, sizeof message, "%.120s", r->body);
    json_decref (doc);
    int rc;
    if (strcmp (code, "SHED_ALREADY_EXISTS") == 0)
        rc = DRIVER_ERR_EXISTS;
    else if (strcmp (code, "SHED_NOT_FOUND") == 0)
        rc = DRIVER_ERR_NOT_FOUND;
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

/* The bearer token from the token file into buf (size > 1): 0, "" when no
 * file is configured, or a driver error that names the file, never its
 * content. One line; surrounding white space is dropped; anything but
 * printable ASCII is refused (it would go into a header). */
static int
s_token (const s_server_t *self, char *buf, size_t size, driver_error_t *err)
{
    buf[0] = '\0';
    if (!self->token_file[0])
        return 0;
    int fd = open (self->token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return driver_fail (err, errno == EACCES ? DRIVER_ERR_PERMISSION : DRIVER_ERR_IO,
                            "shed-server: token file %s: %s", self->token_file, strerror (errno));
    size_t len = 0;
    ssize_t n;
    while (len < size - 1 && (n = read (fd, buf + len, size - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close (fd);
            explicit_bzero (buf, size);
            return driver_fail (err, DRIVER_ERR_IO, "shed-server: token file %s: %s",
                                self->token_file, strerror (e));
        }
        len += (size_t) n;
    }
    char extra;
    bool longer = len == size - 1 && read (fd, &extra, 1) == 1;
    close (fd);
    buf[len] = '\0';
    while (len
           && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '
               || buf[len - 1] == '\t'))
        buf[--len] = '\0';
    size_t lead = strspn (buf, " \t");
    memmove (buf, buf + lead, len - lead + 1);
    len -= lead;
    const char *bad = NULL;
    if (longer)
        bad = "too long for a token";
    else if (len == 0)
        bad = "empty";
    for (size_t i = 0; !bad && i < len; i++)
        if ((unsigned char) buf[i] < 0x21 || (unsigned char) buf[i] > 0x7e)
            bad = "not one token (white space or bytes outside printable ASCII)";
    if (bad) {
        explicit_bzero (buf, size);
        return driver_fail (err, DRIVER_ERR_INVALID, "shed-server: token file %s: %s",
                            self->token_file, bad);
    }
    return 0;
}

/* One call; 0 on 2xx (reply kept for the caller when `keep`). Shed's
 * error code, if any, into `code` when not NULL. */
static int
s_call (s_server_t *self, const char *method, const char *path, const char *body, const char *what,
        const char *name, long timeout_ms, http_reply_t *keep, char *code, driver_error_t *err)
{
    char token[SHED_SERVER_TOKEN_MAX + 1] = "", scratch[S_CODE_MAX];
    /* GET /api/info is Shed's bootstrap call: never authenticated. */
    int rc = strcmp (path, "/api/info") ? s_token (self, token, sizeof token, err) : 0;
    if (rc)
        return rc;
    http_reply_t r;
    int sent = http_request_bearer (self->base, method, path, body, token, timeout_ms, &r);
    explicit_bzero (token, sizeof token);
    if (sent != 0) {
        rc = driver_fail (err, DRIVER_ERR_UNAVAILABLE, "shed-server: %s %s: %s (%s)", what, name,
                          r.error, self->base);
        http_reply_free (&r);
        return rc;
    }
    if (r.status < 200 || r.status > 299)
        rc = s_error (what, name, &r, code ? code : scratch, err);
    if (keep && rc == 0)
        *keep = r;
    else
        http_reply_free (&r);
    return rc;
}

/* The shed's "status" in Shed's words, mapped. */
static driver_state_t
s_state (const char *status)
{
    if (strcasecmp (status, "running") == 0)
        return DRIVER_ST_RUNNING;
    if (strcasecmp (status, "stopped") == 0)
        return DRIVER_ST_STOPPED;
    if (strcasecmp (status, "starting") == 0)
        return DRIVER_ST_STARTING;
    return DRIVER_ST_ERROR; /* "error", or a word Shed does not document */
}

static int
s_create_running (void *impl, const driver_spec_t *spec, bool *running, driver_error_t *err)
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
    http_reply_t r;
    int rc = s_call (self, "POST", "/api/sheds", body, "create", spec->name, self->slow_ms, &r,
                     NULL, err);
    if (rc)
        return rc;
    /* 201 with the shed: Shed has started it (and cloned its repo). An
     * answer without a status is taken as not running: a start follows,
     * harmless if it runs (409 SHED_ALREADY_RUNNING is success). */
    char status[32] = "";
    json_t *doc = json_read (r.body, r.len, NULL, 0);
    if (json_read_str (doc, "status", status, sizeof status) == 0)
        *running = s_state (status) == DRIVER_ST_RUNNING;
    json_decref (doc);
    http_reply_free (&r);
    return 0;
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    bool running;
    return s_create_running (impl, spec, &running, err);
}

/* start / stop: `already` is Shed's code for "it is so already", which
 * driver.h's idempotent start and stop count as success. */
static int
s_action (void *impl, const char *name, const char *action, const char *already, long timeout_ms,
          driver_error_t *err)
{
    char path[128];
    snprintf (path, sizeof path, "/api/sheds/%s/%s", name, action);
    driver_error_t mine = { 0, "" };
    char code[S_CODE_MAX] = "";
    int rc = s_call ((s_server_t *) impl, "POST", path, NULL, action, name, timeout_ms, NULL, code,
                     &mine);
    if (rc != 0 && strcmp (code, already) == 0)
        return 0;
    if (rc && err)
        *err = mine;
    return rc;
}

static int
s_start (void *impl, const char *name, driver_error_t *err)
{
    return s_action (impl, name, "start", "SHED_ALREADY_RUNNING", ((s_server_t *) impl)->slow_ms,
                     err);
}

static int
s_stop (void *impl, const char *name, driver_error_t *err)
{
    return s_action (impl, name, "stop", "SHED_ALREADY_STOPPED", SHED_SERVER_CALL_TIMEOUT_MS, err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    char path[128];
    snprintf (path, sizeof path, "/api/sheds/%s", name);
    return s_call ((s_server_t *) impl, "DELETE", path, NULL, "delete", name,
                   SHED_SERVER_CALL_TIMEOUT_MS, NULL, NULL, err);
}

static int
s_status (void *impl, const char *name, driver_status_t *st, driver_error_t *err)
{
    char path[128];
    snprintf (path, sizeof path, "/api/sheds/%s", name);
    http_reply_t r;
    int rc = s_call ((s_server_t *) impl, "GET", path, NULL, "status", name,
                     SHED_SERVER_CALL_TIMEOUT_MS, &r, NULL, err);
    if (rc == DRIVER_ERR_NOT_FOUND)
        st->state = DRIVER_ST_ABSENT;
    if (rc)
        return rc;
    char state[32] = "", why[128];
    json_t *doc = json_read (r.body, r.len, why, sizeof why);
    if (!doc) {
        st->state = DRIVER_ST_ERROR;
        snprintf (st->detail, sizeof st->detail, "shed-server answered %s", why);
    }
    else if (json_read_str (doc, "status", state, sizeof state) != 0) {
        st->state = DRIVER_ST_ERROR;
        snprintf (st->detail, sizeof st->detail, "shed-server gives no status");
    }
    else if ((st->state = s_state (state)) == DRIVER_ST_ERROR)
        snprintf (st->detail, sizeof st->detail, "shed-server reports '%s'", state);
    /* Omitted by Shed when empty; a value that does not fit is left out. */
    json_read_str (doc, "ip_address", st->ip, sizeof st->ip);
    double pid;
    if (json_read_num (doc, "pid", &pid) == 0 && pid > 0 && pid < 4194305)
        st->pid = (int) pid;
    json_decref (doc);
    http_reply_free (&r);
    return 0;
}

static int
s_list (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    http_reply_t r;
    int rc = s_call ((s_server_t *) impl, "GET", "/api/sheds", NULL, "list", "sheds",
                     SHED_SERVER_CALL_TIMEOUT_MS, &r, NULL, err);
    if (rc)
        return rc;
    /* {"sheds": [...]}; elements without a name skipped. */
    char why[128];
    json_t *doc = json_read (r.body, r.len, why, sizeof why);
    const json_t *list = json_read_at (doc, "sheds");
    if (!doc)
        rc = driver_fail (err, DRIVER_ERR_BACKEND, "shed-server: list: %s", why);
    else if (!json_is_array (list))
        rc = driver_fail (err, DRIVER_ERR_BACKEND, "shed-server: list: no \"sheds\" array");
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
    .clones_repo = true,
    .create = s_create,
    .create_running = s_create_running,
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
    self->slow_ms = config->timeout_ms > 0 ? config->timeout_ms : SHED_SERVER_CREATE_TIMEOUT_MS;
    snprintf (self->token_file, sizeof self->token_file, "%s",
              config->token_file ? config->token_file : "");
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
    /* A token file that cannot be read is said now, not at the first create. */
    char token[SHED_SERVER_TOKEN_MAX + 1];
    int rc = s_token (self, token, sizeof token, err);
    explicit_bzero (token, sizeof token);
    if (rc) {
        free (self);
        return NULL;
    }
    char why[200];
    if (!http_global_init (why, sizeof why)) {
        free (self);
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "shed-server: %s", why);
        return NULL;
    }
    long slow = self->slow_ms;
    driver_t *driver = driver_new (&s_ops, self);
    if (driver)
        driver_set_slow_timeout (driver, slow > 0x7fffffffL ? 0x7fffffff : (int) slow);
    return driver;
}

int
driver_shed_server_info (const driver_shed_server_config_t *config, char *version, size_t size,
                         driver_error_t *err)
{
    s_server_t self;
    s_configure (&self, config);
    http_reply_t r;
    int rc = s_call (&self, "GET", "/api/info", NULL, "info", "", SHED_SERVER_CALL_TIMEOUT_MS, &r,
                     NULL, err);
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
