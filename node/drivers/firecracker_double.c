/*
 * firecracker_double.c - TEST SUPPORT: the validating Firecracker stand-in
 * (firecracker_double.h).
 */
#include "node/drivers/firecracker_double.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_LOG 64

typedef enum { S_FRESH, S_RUNNING, S_PAUSED } s_vm_t;

struct _fc_double_t {
    fc_openapi_t *api;
    test_httpd_t *httpd;
    char workdir[256];
    pthread_mutex_t lock;
    s_vm_t vm;
    bool configured; /* any pre-boot resource set: /snapshot/load is refused */
    bool boot_source;
    uint64_t mem_mib;
    char root_drive[256]; /* path_on_host of the root device */
    char drives[4][2][128];
    size_t ndrives;
    size_t violations;
    char first[1024];
    test_httpd_req_t log[S_LOG];
    size_t nlog;
    char fault_url[128];
    char fault[200];
};

static int s_answer (char *out, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static int
s_answer (char *out, size_t size, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    json_t *o = json_pack ("{s:s}", "fault_message", msg);
    char *text = json_dumps (o, JSON_COMPACT);
    snprintf (out, size, "%s", text ? text : "{}");
    free (text);
    json_decref (o);
    return 400;
}

/* A breach by the driver: counted, and answered as Firecracker would. */
static int
s_violation (fc_double_t *self, const test_httpd_req_t *req, char *out, size_t size,
             const char *why)
{
    if (self->violations++ == 0)
        snprintf (self->first, sizeof self->first, "%s %s: %s", req->method, req->url, why);
    return s_answer (out, size, "%s", why);
}

static void
s_path (fc_double_t *self, const char *path, char *out, size_t size)
{
    if (path[0] == '/')
        snprintf (out, size, "%s", path);
    else
        snprintf (out, size, "%s/%s", self->workdir, path);
}

static bool
s_exists (fc_double_t *self, const char *path)
{
    char p[600];
    s_path (self, path, p, sizeof p);
    return access (p, F_OK) == 0;
}

static void
s_fresh (fc_double_t *self)
{
    self->vm = S_FRESH;
    self->configured = self->boot_source = false;
    self->mem_mib = 128;
    self->root_drive[0] = '\0';
    self->ndrives = 0;
}

static const char *
s_state_name (s_vm_t vm)
{
    return vm == S_FRESH ? "Not started" : vm == S_RUNNING ? "Running" : "Paused";
}

/* Pre-boot configuration (machine, boot source, devices). */
static int
s_preboot (fc_double_t *self, const test_httpd_req_t *req, json_t *body, char *out, size_t size)
{
    if (self->vm != S_FRESH)
        return s_violation (self, req, out, size,
                            "The requested operation is not supported after starting the microVM.");
    self->configured = true;
    if (strcmp (req->url, "/machine-config") == 0)
        self->mem_mib = (uint64_t) json_integer_value (json_object_get (body, "mem_size_mib"));
    else if (strcmp (req->url, "/boot-source") == 0)
        self->boot_source = true;
    else if (strncmp (req->url, "/drives/", 8) == 0) {
        const char *id = json_string_value (json_object_get (body, "drive_id"));
        const char *path = json_string_value (json_object_get (body, "path_on_host"));
        if (!id || strcmp (id, req->url + 8) != 0)
            return s_violation (self, req, out, size, "drive_id differs from the path's id");
        if (!path || !s_exists (self, path))
            return s_violation (
                self, req, out, size,
                "Unable to open the drive's backing file: No such file or directory");
        if (json_is_true (json_object_get (body, "is_root_device")))
            snprintf (self->root_drive, sizeof self->root_drive, "%s", path);
        if (self->ndrives < 4) {
            snprintf (self->drives[self->ndrives][0], 128, "%s", id);
            snprintf (self->drives[self->ndrives++][1], 128, "%s", path);
        }
    }
    else if (strcmp (req->url, "/vsock") == 0) {
        const char *uds = json_string_value (json_object_get (body, "uds_path"));
        if (uds && s_exists (self, uds))
            return s_violation (self, req, out, size, "vsock: Address in use (uds_path exists)");
    }
    return 204;
}

static int
s_snapshot_create (fc_double_t *self, const test_httpd_req_t *req, json_t *body, char *out,
                   size_t size)
{
    if (self->vm != S_PAUSED)
        return s_violation (self, req, out, size,
                            "Cannot create a snapshot: the microVM is not paused");
    char p[600];
    json_t *drives = json_object ();
    for (size_t i = 0; i < self->ndrives; i++)
        json_object_set_new (drives, self->drives[i][0], json_string (self->drives[i][1]));
    json_t *state =
        json_pack ("{s:o,s:I}", "drives", drives, "mem_size_mib", (json_int_t) self->mem_mib);
    s_path (self, json_string_value (json_object_get (body, "snapshot_path")), p, sizeof p);
    int rc = json_dump_file (state, p, JSON_COMPACT);
    json_decref (state);
    if (rc != 0)
        return s_answer (out, size, "cannot write %s", p);
    /* Guest memory: mostly never touched, so mostly a hole. */
    s_path (self, json_string_value (json_object_get (body, "mem_file_path")), p, sizeof p);
    int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    off_t mem = (off_t) self->mem_mib << 20;
    bool ok = fd >= 0 && ftruncate (fd, mem) == 0 && pwrite (fd, "guest memory", 12, 0) == 12
              && pwrite (fd, "upper half", 10, mem / 2) == 10;
    if (fd >= 0)
        close (fd);
    return ok ? 204 : s_answer (out, size, "cannot write %s", p);
}

static int
s_snapshot_load (fc_double_t *self, const test_httpd_req_t *req, json_t *body, char *out,
                 size_t size)
{
    if (self->vm != S_FRESH || self->configured)
        return s_violation (
            self, req, out, size,
            "Loading a microVM snapshot not allowed after configuring boot-specific resources.");
    json_t *file = json_object_get (body, "mem_file_path");
    json_t *backend = json_object_get (body, "mem_backend");
    if ((file != NULL) == (backend != NULL))
        return s_violation (self, req, out, size, "exactly one of mem_file_path and mem_backend");
    const char *mem = file ? json_string_value (file)
                           : json_string_value (json_object_get (backend, "backend_path"));
    if (!mem || !s_exists (self, mem))
        return s_violation (self, req, out, size, "memory file: No such file or directory");
    char p[600];
    s_path (self, json_string_value (json_object_get (body, "snapshot_path")), p, sizeof p);
    json_error_t jerr;
    json_t *state = json_load_file (p, 0, &jerr);
    if (!state)
        return s_violation (self, req, out, size, "snapshot state: cannot read it");
    /* Firecracker reopens the disks at the paths it recorded. */
    const char *id;
    json_t *path;
    int rc = 204;
    json_object_foreach (json_object_get (state, "drives"), id, path)
    {
        if (rc == 204 && !s_exists (self, json_string_value (path)))
            rc = s_violation (self, req, out, size,
                              "a drive of the snapshot: No such file or directory");
    }
    json_decref (state);
    if (rc != 204)
        return rc;
    self->configured = true;
    self->vm = json_is_true (json_object_get (body, "resume_vm")) ? S_RUNNING : S_PAUSED;
    return 204;
}

static int
s_handle (fc_double_t *self, const test_httpd_req_t *req, char *out, size_t size)
{
    char why[512];
    if (fc_openapi_check (self->api, req->method, req->url, req->body, why, sizeof why) != 0)
        return s_violation (self, req, out, size, why);
    if (strcmp (req->method, "GET") == 0 && strcmp (req->url, "/") == 0) {
        snprintf (out, size,
                  "{\"app_name\":\"Firecracker\",\"id\":\"anonymous-instance\",\"state\":\"%s\","
                  "\"vmm_version\":\"%s\"}",
                  s_state_name (self->vm), fc_openapi_version (self->api));
        return 200;
    }
    if (self->fault_url[0] && strcmp (self->fault_url, req->url) == 0) {
        self->fault_url[0] = '\0';
        return s_answer (out, size, "%s", self->fault);
    }
    json_t *body = req->body[0] ? json_loads (req->body, 0, NULL) : NULL;
    int rc = 204;
    const char *url = req->url;
    bool put = strcmp (req->method, "PUT") == 0;
    if (put
        && (strcmp (url, "/machine-config") == 0 || strcmp (url, "/boot-source") == 0
            || strncmp (url, "/drives/", 8) == 0 || strncmp (url, "/network-interfaces/", 20) == 0
            || strcmp (url, "/vsock") == 0 || strcmp (url, "/balloon") == 0))
        rc = s_preboot (self, req, body, out, size);
    else if (put && strcmp (url, "/actions") == 0) {
        const char *action = json_string_value (json_object_get (body, "action_type"));
        if (strcmp (action, "InstanceStart") == 0) {
            if (self->vm != S_FRESH || !self->boot_source || !self->root_drive[0])
                rc = s_violation (self, req, out, size,
                                  "InstanceStart: not a fresh, configured microVM");
            else
                self->vm = S_RUNNING;
        }
        else if (strcmp (action, "SendCtrlAltDel") == 0) {
            if (self->vm == S_FRESH)
                rc = s_answer (out, size, "The microVM is not running");
            else
                s_fresh (self); /* the guest reboots, Firecracker exits */
        }
    }
    else if (strcmp (req->method, "PATCH") == 0 && strcmp (url, "/vm") == 0) {
        const char *state = json_string_value (json_object_get (body, "state"));
        if (self->vm == S_FRESH)
            rc = s_violation (self, req, out, size, "The microVM is not started");
        else
            self->vm = strcmp (state, "Paused") == 0 ? S_PAUSED : S_RUNNING;
    }
    else if (put && strcmp (url, "/snapshot/create") == 0)
        rc = s_snapshot_create (self, req, body, out, size);
    else if (put && strcmp (url, "/snapshot/load") == 0)
        rc = s_snapshot_load (self, req, body, out, size);
    else
        rc = s_violation (self, req, out, size, "the double does not model this call");
    json_decref (body);
    return rc;
}

static int
s_handler (void *arg, const test_httpd_req_t *req, char *out, size_t size)
{
    fc_double_t *self = (fc_double_t *) arg;
    pthread_mutex_lock (&self->lock);
    if (self->nlog < S_LOG)
        self->log[self->nlog++] = *req;
    int rc = s_handle (self, req, out, size);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

fc_double_t *
fc_double_new (fc_openapi_t *api, const char *sock, const char *workdir)
{
    fc_double_t *self = (fc_double_t *) calloc (1, sizeof (fc_double_t));
    if (!self)
        return NULL;
    self->api = api;
    snprintf (self->workdir, sizeof self->workdir, "%s", workdir);
    pthread_mutex_init (&self->lock, NULL);
    s_fresh (self);
    self->httpd = test_httpd_new (sock, s_handler, self);
    if (!self->httpd) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return NULL;
    }
    return self;
}

void
fc_double_destroy (fc_double_t **self_p)
{
    if (*self_p) {
        fc_double_t *self = *self_p;
        test_httpd_destroy (&self->httpd);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

size_t
fc_double_violations (fc_double_t *self, char *first, size_t size)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->violations;
    snprintf (first, size, "%s", self->first);
    pthread_mutex_unlock (&self->lock);
    return n;
}

size_t
fc_double_count (fc_double_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->nlog;
    pthread_mutex_unlock (&self->lock);
    return n;
}

void
fc_double_get (fc_double_t *self, size_t i, test_httpd_req_t *out)
{
    pthread_mutex_lock (&self->lock);
    if (i < self->nlog)
        *out = self->log[i];
    else
        memset (out, 0, sizeof *out);
    pthread_mutex_unlock (&self->lock);
}

const char *
fc_double_state (fc_double_t *self)
{
    pthread_mutex_lock (&self->lock);
    const char *s = s_state_name (self->vm);
    pthread_mutex_unlock (&self->lock);
    return s;
}

void
fc_double_fault (fc_double_t *self, const char *url, const char *fault)
{
    pthread_mutex_lock (&self->lock);
    snprintf (self->fault_url, sizeof self->fault_url, "%s", url);
    snprintf (self->fault, sizeof self->fault, "%s", fault);
    pthread_mutex_unlock (&self->lock);
}
