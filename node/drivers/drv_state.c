/*
 * drv_state.c - per-shed state files and process checks shared by the
 * local drivers (see drv_state.h).
 */
#include "node/drivers/drv_state.h"
#include "common/fileutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

WIRE_DEFINE_PROTO (drv, DRV_MESSAGES, 1, DRV_STATE_VERSION, NULL)

#define S_COPY(dst, src) snprintf ((dst), sizeof (dst), "%s", (src))

void
drv_state_from_spec (drv_state_t *st, const char *driver, const driver_spec_t *spec)
{
    memset (st, 0, sizeof *st);
    S_COPY (st->name, spec->name);
    S_COPY (st->driver, driver);
    st->cpus_milli = spec->cpus_milli;
    st->memory_mb = spec->memory_mb;
    st->disk_mb = spec->disk_mb;
    st->pids_max = spec->pids_max;
    st->io_read_bps = spec->io_read_bps;
    st->io_write_bps = spec->io_write_bps;
    st->net_kbit = spec->net_kbit;
    S_COPY (st->image, spec->image);
    S_COPY (st->repo, spec->repo);
    S_COPY (st->ip, spec->ip);
    S_COPY (st->mac, spec->mac);
    S_COPY (st->gateway, spec->gateway);
    S_COPY (st->bridge, spec->bridge);
    st->mtu = spec->mtu;
    S_COPY (st->agent_path, spec->agent_path);
    S_COPY (st->agent_socket, spec->agent_socket);
}

void
drv_state_to_spec (const drv_state_t *st, driver_spec_t *spec)
{
    memset (spec, 0, sizeof *spec);
    S_COPY (spec->name, st->name);
    spec->cpus_milli = (uint32_t) st->cpus_milli;
    spec->memory_mb = st->memory_mb;
    spec->disk_mb = st->disk_mb;
    spec->pids_max = (uint32_t) st->pids_max;
    spec->io_read_bps = st->io_read_bps;
    spec->io_write_bps = st->io_write_bps;
    spec->net_kbit = st->net_kbit;
    S_COPY (spec->image, st->image);
    S_COPY (spec->repo, st->repo);
    S_COPY (spec->ip, st->ip);
    S_COPY (spec->mac, st->mac);
    S_COPY (spec->gateway, st->gateway);
    S_COPY (spec->bridge, st->bridge);
    spec->mtu = (uint32_t) st->mtu;
    S_COPY (spec->agent_path, st->agent_path);
    S_COPY (spec->agent_socket, st->agent_socket);
}

int
drv_state_save (const char *dir, const drv_state_t *st, driver_error_t *err)
{
    drv_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = DRV_STATE;
    msg.u.drv_state = *st;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&drv_proto, &msg, &buf, &len);
    if (rc != WIRE_OK)
        return driver_fail (err, DRIVER_ERR_INVALID, "%s: state encode: %s", st->name,
                            wire_strerror (rc));
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/state", dir);
    rc = shed_write_file_atomic (path, buf, len, 0600);
    int saved = errno;
    free (buf);
    if (rc != 0)
        return driver_fail (err, DRIVER_ERR_IO, "write %s: %s", path, strerror (saved));
    return 0;
}

int
drv_state_load (const char *dir, drv_state_t *st, driver_error_t *err)
{
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/state", dir);
    size_t len = 0;
    char *data = shed_read_file (path, 1 << 20, &len);
    if (!data)
        return driver_fail (err, errno == ENOENT ? DRIVER_ERR_NOT_FOUND : DRIVER_ERR_IO,
                            "read %s: %s", path, strerror (errno));
    drv_msg_t msg;
    const char *field = NULL;
    int rc = wire_decode (&drv_proto, (const uint8_t *) data, len, &msg, &field);
    free (data);
    if (rc != WIRE_OK)
        return driver_fail (err, DRIVER_ERR_IO, "%s: corrupt state file: %s%s%s", path,
                            wire_strerror (rc), field && *field ? " in " : "", field ? field : "");
    *st = msg.u.drv_state;
    return 0;
}

uint64_t
drv_proc_starttime (int pid)
{
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read (fd, buf, sizeof buf - 1);
    close (fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm may hold spaces and parens: fields start after the LAST ')'. */
    char *p = strrchr (buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    char state = *p;
    if (state == 'Z' || state == 'X')
        return 0;
    /* p is field 3 (state); starttime is field 22. */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr (p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull (p, NULL, 10) : 0;
}

bool
drv_proc_alive (int pid, uint64_t starttime)
{
    uint64_t now = drv_proc_starttime (pid);
    return now != 0 && (starttime == 0 || now == starttime);
}

bool
drv_proc_wait_gone (int pid, uint64_t starttime, int timeout_ms, int step_ms)
{
    for (int waited = 0; drv_proc_alive (pid, starttime); waited += step_ms) {
        if (waited >= timeout_ms)
            return false;
        usleep ((useconds_t) step_ms * 1000);
    }
    return true;
}

int
drv_state_open (const char *comp, const char *dir, const char *name, drv_state_t *st,
                driver_error_t *err)
{
    int rc = drv_state_load (dir, st, err);
    if (rc == DRIVER_ERR_NOT_FOUND)
        return driver_fail (err, rc, "%s: no shed %s here", comp, name);
    return rc;
}

int
drv_remove_tree (const char *path)
{
    struct stat st;
    if (lstat (path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR (st.st_mode))
        return unlink (path);
    DIR *d = opendir (path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        snprintf (child, sizeof child, "%s/%s", path, e->d_name);
        drv_remove_tree (child);
    }
    closedir (d);
    return rmdir (path);
}

int
drv_state_list (const char *data_dir, const char *comp, driver_list_fn *fn, void *arg,
                driver_error_t *err)
{
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%.*s/sheds", PATH_MAX - 16, data_dir);
    DIR *d = opendir (path);
    if (!d)
        return errno == ENOENT ? 0
                               : driver_fail (err, DRIVER_ERR_IO, "%s: list %s: %s", comp, path,
                                              strerror (errno));
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char state[PATH_MAX + 300];
        snprintf (state, sizeof state, "%s/%s/state", path, e->d_name);
        if (access (state, F_OK) == 0)
            fn (arg, e->d_name);
    }
    closedir (d);
    return 0;
}

void
drv_fmt (char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, size, fmt, ap);
    va_end (ap);
}

int
drv_why (char *why, size_t size, const char *fmt, ...)
{
    if (why && size) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (why, size, fmt, ap);
        va_end (ap);
    }
    return -1;
}
