/*
 * driver.c - the driver wrapper: one mutex around the vtable, so drivers
 * can be written as if single-threaded, and the shared helpers.
 */
#include "node/drivers/driver.h"

#include <arpa/inet.h>
#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _driver_t {
    const driver_ops_t *ops;
    void *impl;
    pthread_mutex_t lock;
    int slow_timeout_ms; /* create/start; 0 = the node's default */
};

driver_t *
driver_new (const driver_ops_t *ops, void *impl)
{
    assert (ops);
    driver_t *self = (driver_t *) calloc (1, sizeof (driver_t));
    if (!self) {
        if (ops->destroy)
            ops->destroy (impl);
        return NULL;
    }
    self->ops = ops;
    self->impl = impl;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
driver_destroy (driver_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        driver_t *self = *self_p;
        if (self->ops->destroy)
            self->ops->destroy (self->impl);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

const char *
driver_name (driver_t *self)
{
    assert (self);
    return self->ops->name;
}

const char *
driver_agent_socket_name (driver_t *self)
{
    return self->ops->agent_socket_name ? self->ops->agent_socket_name : "agent.sock";
}

bool
driver_clones_repo (driver_t *self)
{
    return self && self->ops->clones_repo;
}

const char *
driver_agent_suffix (driver_t *self)
{
    assert (self);
    return self->ops->agent_suffix ? self->ops->agent_suffix : "";
}

int
driver_fail (driver_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err->message, sizeof err->message, fmt, ap);
        va_end (ap);
        /* One line, always: backends sometimes end messages with \n. */
        for (char *p = err->message; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    return code;
}

static bool
s_name_ok (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > DRIVER_NAME_MAX || name[0] < 'a' || name[0] > 'z' || name[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')
              || name[i] == '-'))
            return false;
    return true;
}

/* Every entry point checks the name first: names become paths, interface
 * and cgroup names, URLs; a name that passes Shed's rule is safe in all. */
#define S_CHECK_NAME(self, name, err)                                                              \
    if (!s_name_ok (name))                                                                         \
    return driver_fail (err, DRIVER_ERR_INVALID, "%s: invalid shed name '%.63s'",                  \
                        (self)->ops->name, (name) ? (name) : "")

int
driver_spec_check (const driver_spec_t *spec, driver_error_t *err)
{
    if (!s_name_ok (spec->name))
        return driver_fail (err, DRIVER_ERR_INVALID, "invalid shed name '%.63s'", spec->name);
    if (spec->ip[0]) {
        char ip[20];
        snprintf (ip, sizeof ip, "%s", spec->ip);
        char *slash = strchr (ip, '/');
        if (slash)
            *slash = '\0';
        struct in_addr a;
        if (inet_pton (AF_INET, ip, &a) != 1)
            return driver_fail (err, DRIVER_ERR_INVALID, "%s: bad ip '%s' (want A.B.C.D/LEN)",
                                spec->name, spec->ip);
    }
    if (spec->gateway[0]) {
        struct in_addr a;
        if (inet_pton (AF_INET, spec->gateway, &a) != 1)
            return driver_fail (err, DRIVER_ERR_INVALID, "%s: bad gateway '%s'", spec->name,
                                spec->gateway);
    }
    if (spec->mac[0]) {
        unsigned v[6];
        char tail;
        if (sscanf (spec->mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
                    &v[5], &tail)
                != 6
            || (v[0] & 1))
            return driver_fail (err, DRIVER_ERR_INVALID,
                                "%s: bad MAC '%s' (unicast "
                                "aa:bb:cc:dd:ee:ff)",
                                spec->name, spec->mac);
    }
    /* 68: the IPv4 minimum; 65535: the largest a link takes. */
    if (spec->mtu && (spec->mtu < 68 || spec->mtu > 65535))
        return driver_fail (err, DRIVER_ERR_INVALID, "%s: MTU %u out of range (68-65535)",
                            spec->name, (unsigned) spec->mtu);
    if (spec->bridge[0] && strlen (spec->bridge) > DRIVER_IFNAME_MAX)
        return driver_fail (err, DRIVER_ERR_INVALID, "%s: bridge name too long", spec->name);
    return 0;
}

int
driver_create_running (driver_t *self, const driver_spec_t *spec, bool *running,
                       driver_error_t *err)
{
    assert (self);
    assert (spec);
    bool ran = false;
    int rc = driver_spec_check (spec, err);
    if (rc == 0) {
        pthread_mutex_lock (&self->lock);
        if (self->ops->create_running)
            rc = self->ops->create_running (self->impl, spec, &ran, err);
        else
            rc = self->ops->create (self->impl, spec, err);
        pthread_mutex_unlock (&self->lock);
    }
    if (running)
        *running = rc == 0 && ran;
    return rc;
}

int
driver_create (driver_t *self, const driver_spec_t *spec, driver_error_t *err)
{
    return driver_create_running (self, spec, NULL, err);
}

void
driver_set_slow_timeout (driver_t *self, int timeout_ms)
{
    assert (self);
    self->slow_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

int
driver_slow_timeout (driver_t *self)
{
    return self ? self->slow_timeout_ms : 0;
}

#define S_CALL(self, name, err, call)                                                              \
    do {                                                                                           \
        assert (self);                                                                             \
        S_CHECK_NAME (self, name, err);                                                            \
        if (!(self)->ops->call)                                                                    \
            return driver_fail (err, DRIVER_ERR_UNSUPPORTED, "%s: " #call " is not supported",     \
                                (self)->ops->name);                                                \
    } while (0)

int
driver_start (driver_t *self, const char *name, driver_error_t *err)
{
    S_CALL (self, name, err, start);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->start (self->impl, name, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
driver_stop (driver_t *self, const char *name, driver_error_t *err)
{
    S_CALL (self, name, err, stop);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->stop (self->impl, name, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
driver_remove (driver_t *self, const char *name, driver_error_t *err)
{
    S_CALL (self, name, err, remove);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->remove (self->impl, name, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
driver_status (driver_t *self, const char *name, driver_status_t *st, driver_error_t *err)
{
    assert (st);
    memset (st, 0, sizeof *st);
    S_CALL (self, name, err, status);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->status (self->impl, name, st, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
driver_usage (driver_t *self, const char *name, driver_usage_t *usage, driver_error_t *err)
{
    assert (usage);
    memset (usage, 0, sizeof *usage);
    S_CALL (self, name, err, usage);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->usage (self->impl, name, usage, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
driver_snapshot (driver_t *self, const char *name, const char *path, driver_snap_mode_t mode,
                 uint64_t *bytes, driver_error_t *err)
{
    assert (path && bytes);
    *bytes = 0;
    S_CALL (self, name, err, snapshot);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->snapshot (self->impl, name, path, mode, bytes, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
driver_list (driver_t *self, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    assert (self);
    assert (fn);
    if (!self->ops->list)
        return driver_fail (err, DRIVER_ERR_UNSUPPORTED, "%s: list is not supported",
                            self->ops->name);
    pthread_mutex_lock (&self->lock);
    int rc = self->ops->list (self->impl, fn, arg, err);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

const char *
driver_strerror (int code)
{
    switch (code) {
    case DRIVER_OK:
        return "ok";
    case DRIVER_ERR_INVALID:
        return "invalid argument";
    case DRIVER_ERR_EXISTS:
        return "shed already exists";
    case DRIVER_ERR_NOT_FOUND:
        return "shed not found";
    case DRIVER_ERR_STATE:
        return "not possible in the shed's current state";
    case DRIVER_ERR_RESOURCE:
        return "not enough resources";
    case DRIVER_ERR_BACKEND:
        return "backend error";
    case DRIVER_ERR_UNAVAILABLE:
        return "backend unavailable";
    case DRIVER_ERR_PERMISSION:
        return "permission denied";
    case DRIVER_ERR_IO:
        return "I/O error";
    case DRIVER_ERR_UNSUPPORTED:
        return "not supported by this driver";
    case DRIVER_ERR_TIMEOUT:
        return "timed out";
    }
    return "unknown driver error";
}

const char *
driver_state_name (driver_state_t state)
{
    switch (state) {
    case DRIVER_ST_ABSENT:
        return "absent";
    case DRIVER_ST_STOPPED:
        return "stopped";
    case DRIVER_ST_STARTING:
        return "starting";
    case DRIVER_ST_RUNNING:
        return "running";
    case DRIVER_ST_ERROR:
        return "error";
    }
    return "unknown";
}
