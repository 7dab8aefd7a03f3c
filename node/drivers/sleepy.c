/* sleepy.c - the slow test driver (see sleepy.h). */
#include "node/drivers/sleepy.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    unsigned sleep_ms;
    unsigned snapshot_mb; /* 0: no snapshot op */
    char data_dir[DRIVER_PATH_MAX];
    zhashx_t *sheds; /* name -> "running" | "stopped" (static strings) */
} s_sleepy_t;

static char s_running[] = "running"; /* values of `sheds`: compared by address */
static char s_stopped[] = "stopped";

static void
s_nap (s_sleepy_t *self)
{
    /* Sleep in slices so a signal does not cut the pause short. */
    int64_t until = zclock_mono () + self->sleep_ms;
    int64_t left;
    while ((left = until - zclock_mono ()) > 0)
        usleep ((useconds_t) (left > 100 ? 100 : left) * 1000);
}

static void
s_dir (s_sleepy_t *self, const char *name, char *out, size_t size)
{
    snprintf (out, size, "%s/sheds/%s", self->data_dir, name);
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    s_sleepy_t *self = impl;
    int rc = driver_spec_check (spec, err);
    if (rc)
        return rc;
    s_nap (self);
    if (zhashx_lookup (self->sheds, spec->name))
        return driver_fail (err, DRIVER_ERR_EXISTS, "sleepy: create %s: exists", spec->name);
    if (self->data_dir[0]) {
        char path[DRIVER_PATH_MAX + 80];
        snprintf (path, sizeof path, "%s/sheds", self->data_dir);
        mkdir (path, 0700);
        s_dir (self, spec->name, path, sizeof path);
        if (mkdir (path, 0700) != 0 && errno != EEXIST)
            return driver_fail (err, DRIVER_ERR_IO, "sleepy: create %s: %s: %s", spec->name, path,
                                strerror (errno));
    }
    zhashx_insert (self->sheds, spec->name, s_stopped);
    return 0;
}

static int
s_set (s_sleepy_t *self, const char *name, char *state, const char *what, driver_error_t *err)
{
    s_nap (self);
    if (!zhashx_lookup (self->sheds, name))
        return driver_fail (err, DRIVER_ERR_NOT_FOUND, "sleepy: %s %s: no such shed", what, name);
    zhashx_update (self->sheds, name, state);
    return 0;
}

static int
s_start (void *impl, const char *name, driver_error_t *err)
{
    return s_set ((s_sleepy_t *) impl, name, s_running, "start", err);
}

static int
s_stop (void *impl, const char *name, driver_error_t *err)
{
    return s_set ((s_sleepy_t *) impl, name, s_stopped, "stop", err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    s_sleepy_t *self = impl;
    s_nap (self);
    if (!zhashx_lookup (self->sheds, name))
        return driver_fail (err, DRIVER_ERR_NOT_FOUND, "sleepy: delete %s: no such shed", name);
    zhashx_delete (self->sheds, name);
    if (self->data_dir[0]) {
        char path[DRIVER_PATH_MAX + 80], sock[DRIVER_PATH_MAX + 100];
        s_dir (self, name, path, sizeof path);
        snprintf (sock, sizeof sock, "%s/agent.sock", path);
        unlink (sock);
        rmdir (path);
    }
    return 0;
}

static int
s_status (void *impl, const char *name, driver_status_t *st, driver_error_t *err)
{
    (void) err;
    s_sleepy_t *self = impl;
    memset (st, 0, sizeof *st);
    const char *state = (const char *) zhashx_lookup (self->sheds, name);
    st->state = !state               ? DRIVER_ST_ABSENT
                : state == s_running ? DRIVER_ST_RUNNING
                                     : DRIVER_ST_STOPPED;
    return 0;
}

static int
s_usage (void *impl, const char *name, driver_usage_t *usage, driver_error_t *err)
{
    s_sleepy_t *self = impl;
    memset (usage, 0, sizeof *usage);
    if (!zhashx_lookup (self->sheds, name))
        return driver_fail (err, DRIVER_ERR_NOT_FOUND, "sleepy: usage %s: no such shed", name);
    return 0;
}

static int
s_list (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    (void) err;
    s_sleepy_t *self = impl;
    for (void *v = zhashx_first (self->sheds); v; v = zhashx_next (self->sheds))
        fn (arg, (const char *) zhashx_cursor (self->sheds));
    return 0;
}

/* A layer of snapshot_mb MiB of xorshift bytes (incompressible, cheap to
 * make), written in 1 MiB pieces as a driver writes a layer. */
static int
s_snapshot (void *impl, const char *name, const char *path, driver_snap_mode_t mode,
            uint64_t *bytes, driver_error_t *err)
{
    (void) mode;
    s_sleepy_t *self = impl;
    s_nap (self);
    if (!zhashx_lookup (self->sheds, name))
        return driver_fail (err, DRIVER_ERR_NOT_FOUND, "sleepy: snapshot %s: no such shed", name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return driver_fail (err, DRIVER_ERR_IO, "sleepy: snapshot %s: %s: %s", name, path,
                            strerror (errno));
    enum { S_PIECE = 1 << 20 };
    uint64_t *buf = (uint64_t *) malloc (S_PIECE);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t) zclock_time ();
    int rc = buf ? 0 : driver_fail (err, DRIVER_ERR_RESOURCE, "sleepy: out of memory");
    for (unsigned mb = 0; rc == 0 && mb < self->snapshot_mb; mb++) {
        for (size_t i = 0; i < S_PIECE / sizeof *buf; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        if (write (fd, buf, S_PIECE) != S_PIECE)
            rc = driver_fail (err, DRIVER_ERR_IO, "sleepy: snapshot %s: %s", name,
                              strerror (errno ? errno : ENOSPC));
    }
    free (buf);
    if (close (fd) != 0 && rc == 0)
        rc = driver_fail (err, DRIVER_ERR_IO, "sleepy: snapshot %s: %s", name, strerror (errno));
    if (rc == 0)
        *bytes = (uint64_t) self->snapshot_mb << 20;
    return rc;
}

static void
s_destroy (void *impl)
{
    s_sleepy_t *self = impl;
    zhashx_destroy (&self->sheds);
    free (self);
}

static const driver_ops_t s_ops_snap = {
    .name = "sleepy",
    .create = s_create,
    .start = s_start,
    .stop = s_stop,
    .remove = s_remove,
    .status = s_status,
    .usage = s_usage,
    .list = s_list,
    .snapshot = s_snapshot,
    .destroy = s_destroy,
};

static const driver_ops_t s_ops = {
    .name = "sleepy",
    .create = s_create,
    .start = s_start,
    .stop = s_stop,
    .remove = s_remove,
    .status = s_status,
    .usage = s_usage,
    .list = s_list,
    .destroy = s_destroy,
};

driver_t *
driver_sleepy_new (unsigned sleep_ms, unsigned snapshot_mb, const char *data_dir,
                   driver_error_t *err)
{
    s_sleepy_t *self = (s_sleepy_t *) calloc (1, sizeof *self);
    if (!self || !(self->sheds = zhashx_new ())) {
        free (self);
        driver_fail (err, DRIVER_ERR_RESOURCE, "sleepy: out of memory");
        return NULL;
    }
    self->sleep_ms = sleep_ms;
    self->snapshot_mb = snapshot_mb;
    snprintf (self->data_dir, sizeof self->data_dir, "%s", data_dir ? data_dir : "");
    return driver_new (snapshot_mb ? &s_ops_snap : &s_ops, self);
}
