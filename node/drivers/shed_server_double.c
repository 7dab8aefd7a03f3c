/*
 * shed_server_double.c - an in-memory Shed server (see shed_server_double.h).
 */
#include "node/drivers/shed_server_double.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_SHEDS 32

typedef struct {
    char name[64];
    char status[16];
    char repo[256];
    char ip[16];
    long cpus;
    long memory_mb;
} s_shed_t;

struct _shed_double_t {
    test_httpd_t *httpd;
    char url[64];
    char token[256];
    unsigned create_delay_ms;
    pthread_mutex_t lock;
    s_shed_t sheds[S_SHEDS];
    size_t n;
    size_t unauthorized;
    unsigned next_ip;
};

static s_shed_t *
s_find (shed_double_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->sheds[i].name, name) == 0)
            return &self->sheds[i];
    return NULL;
}

/* Shed's error shape. */
static int
s_err (char *out, size_t size, int status, const char *code, const char *message)
{
    json_t *doc = json_pack ("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps (doc, JSON_COMPACT);
    snprintf (out, size, "%s", text ? text : "");
    free (text);
    json_decref (doc);
    return status;
}

/* One shed as Shed shows it: empty and zero fields left out. */
static void
s_shed_json (const s_shed_t *s, char *out, size_t size)
{
    json_t *doc = json_pack ("{s:s,s:s,s:s,s:s}", "name", s->name, "status", s->status,
                             "created_at", "2026-01-20T10:30:00Z", "backend", "firecracker");
    if (s->repo[0])
        json_object_set_new (doc, "repo", json_string (s->repo));
    if (s->ip[0] && strcmp (s->status, "running") == 0)
        json_object_set_new (doc, "ip_address", json_string (s->ip));
    if (s->cpus)
        json_object_set_new (doc, "cpus", json_integer (s->cpus));
    if (s->memory_mb)
        json_object_set_new (doc, "memory_mb", json_integer (s->memory_mb));
    char *text = json_dumps (doc, JSON_COMPACT);
    snprintf (out, size, "%s", text ? text : "{}");
    free (text);
    json_decref (doc);
}

static bool
s_name_ok (const char *name)
{
    if (!name[0])
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || *p == '-'))
            return false;
    return true;
}

static int
s_create (shed_double_t *self, const test_httpd_req_t *req, char *out, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loads (req->body, 0, &jerr);
    const char *name = json_string_value (json_object_get (body, "name"));
    const char *repo = json_string_value (json_object_get (body, "repo"));
    int status;
    if (!json_is_object (body))
        status = s_err (out, size, 400, "INVALID_REQUEST", "body is not a JSON object");
    else if (!name || !s_name_ok (name) || strlen (name) >= sizeof self->sheds[0].name)
        status =
            s_err (out, size, 400, "INVALID_SHED_NAME", "name must be letters, digits and hyphens");
    else if (s_find (self, name)) {
        char m[128];
        snprintf (m, sizeof m, "shed %s already exists", name);
        status = s_err (out, size, 409, "SHED_ALREADY_EXISTS", m);
    }
    else if (repo && strstr (repo, "fail-clone"))
        status = s_err (out, size, 500, "CLONE_FAILED", "git clone failed:\nrepository not found");
    else if (self->n == S_SHEDS)
        status = s_err (out, size, 500, "INTERNAL_ERROR", "the double is full");
    else {
        if (self->create_delay_ms) {
            /* The clone and provisioning. */
            pthread_mutex_unlock (&self->lock);
            usleep (self->create_delay_ms * 1000u);
            pthread_mutex_lock (&self->lock);
        }
        s_shed_t *s = &self->sheds[self->n++];
        memset (s, 0, sizeof *s);
        snprintf (s->name, sizeof s->name, "%s", name);
        snprintf (s->status, sizeof s->status, "running"); /* create starts it */
        snprintf (s->repo, sizeof s->repo, "%s", repo ? repo : "");
        snprintf (s->ip, sizeof s->ip, "172.30.0.%u", 2 + self->next_ip++ % 250);
        s->cpus = (long) json_integer_value (json_object_get (body, "cpus"));
        s->memory_mb = (long) json_integer_value (json_object_get (body, "memory_mb"));
        s_shed_json (s, out, size);
        status = 201;
    }
    json_decref (body);
    return status;
}

static int
s_handle (shed_double_t *self, const test_httpd_req_t *req, char *out, size_t size)
{
    if (strcmp (req->url, "/api/info") == 0 && strcmp (req->method, "GET") == 0) {
        snprintf (out, size,
                  "{\"name\":\"double\",\"version\":\"0.9.1\",\"ssh_port\":2222,"
                  "\"http_port\":8080,\"backend\":\"firecracker\"}");
        return 200;
    }
    if (self->token[0]) {
        char want[300];
        snprintf (want, sizeof want, "Bearer %s", self->token);
        if (strcmp (req->auth, want) != 0) {
            self->unauthorized++;
            return s_err (out, size, 401, "UNAUTHORIZED", "missing or invalid token");
        }
    }
    if (strcmp (req->url, "/api/sheds") == 0) {
        if (strcmp (req->method, "POST") == 0)
            return s_create (self, req, out, size);
        size_t n = (size_t) snprintf (out, size, "{\"sheds\":[");
        for (size_t i = 0; i < self->n && n < size; i++) {
            if (i)
                n += (size_t) snprintf (out + n, size - n, ",");
            if (n < size)
                s_shed_json (&self->sheds[i], out + n, size - n);
            n += strlen (out + n);
        }
        if (n < size)
            snprintf (out + n, size - n, "]}");
        return 200;
    }
    char name[64] = "", action[16] = "";
    if (sscanf (req->url, "/api/sheds/%63[^/]/%15s", name, action) < 1)
        return s_err (out, size, 404, "NOT_FOUND", "no such route");
    s_shed_t *s = s_find (self, name);
    char m[128];
    snprintf (m, sizeof m, "shed '%s' not found", name);
    if (!s)
        return s_err (out, size, 404, "SHED_NOT_FOUND", m);
    if (!action[0] && strcmp (req->method, "DELETE") == 0) {
        *s = self->sheds[--self->n];
        return 204;
    }
    if (!action[0] && strcmp (req->method, "GET") == 0) {
        s_shed_json (s, out, size);
        return 200;
    }
    if (strcmp (req->method, "POST") != 0)
        return s_err (out, size, 405, "METHOD_NOT_ALLOWED", "method not allowed");
    if (strcmp (action, "start") == 0) {
        if (strcmp (s->status, "running") == 0)
            return s_err (out, size, 409, "SHED_ALREADY_RUNNING", "shed is already running");
        snprintf (s->status, sizeof s->status, "running");
    }
    else if (strcmp (action, "stop") == 0) {
        if (strcmp (s->status, "stopped") == 0)
            return s_err (out, size, 409, "SHED_ALREADY_STOPPED", "shed is already stopped");
        snprintf (s->status, sizeof s->status, "stopped");
    }
    else
        return s_err (out, size, 404, "NOT_FOUND", "no such route");
    s_shed_json (s, out, size);
    return 200;
}

static int
s_handler (void *arg, const test_httpd_req_t *req, char *out, size_t size)
{
    shed_double_t *self = (shed_double_t *) arg;
    pthread_mutex_lock (&self->lock);
    int status = s_handle (self, req, out, size);
    pthread_mutex_unlock (&self->lock);
    return status;
}

shed_double_t *
shed_double_new (const char *token)
{
    shed_double_t *self = (shed_double_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->token, sizeof self->token, "%s", token ? token : "");
    self->httpd = test_httpd_new (NULL, s_handler, self);
    if (!self->httpd) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return NULL;
    }
    snprintf (self->url, sizeof self->url, "http://127.0.0.1:%d", test_httpd_port (self->httpd));
    return self;
}

void
shed_double_destroy (shed_double_t **self_p)
{
    if (*self_p) {
        shed_double_t *self = *self_p;
        test_httpd_destroy (&self->httpd);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

const char *
shed_double_url (shed_double_t *self)
{
    return self->url;
}

void
shed_double_set_create_delay (shed_double_t *self, unsigned ms)
{
    pthread_mutex_lock (&self->lock);
    self->create_delay_ms = ms;
    pthread_mutex_unlock (&self->lock);
}

int
shed_double_status (shed_double_t *self, const char *name, char *buf, size_t size)
{
    pthread_mutex_lock (&self->lock);
    s_shed_t *s = s_find (self, name);
    if (s)
        snprintf (buf, size, "%s", s->status);
    pthread_mutex_unlock (&self->lock);
    return s ? 0 : -1;
}

size_t
shed_double_sheds (shed_double_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->n;
    pthread_mutex_unlock (&self->lock);
    return n;
}

size_t
shed_double_count (shed_double_t *self)
{
    return test_httpd_count (self->httpd);
}

void
shed_double_get (shed_double_t *self, size_t i, test_httpd_req_t *out)
{
    test_httpd_get (self->httpd, i, out);
}

size_t
shed_double_unauthorized (shed_double_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->unauthorized;
    pthread_mutex_unlock (&self->lock);
    return n;
}
