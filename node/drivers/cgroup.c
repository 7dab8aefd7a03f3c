/*
 * cgroup.c - a shed's control group on cgroup v1 or v2 (see cgroup.h).
 */
#include "node/drivers/cgroup.h"
#include "node/drivers/drv_state.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CFS_PERIOD_US 100000

/* v1 controllers we use, in the order we create them. */
static const char *s_v1[] = { "cpu", "cpuacct", "memory", "blkio", "pids" };
#define V1_COUNT (sizeof s_v1 / sizeof s_v1[0])

struct _cgroup_t {
    char root[PATH_MAX / 2];
    char parent[128];
    int version;
};

static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

/* Real cgroupfs files always exist; in a test tree (a plain directory) we
 * create them, so the same code paths can be checked without root. */
static bool
s_is_cgroupfs (const char *path)
{
    struct statfs sf;
    return statfs (path, &sf) == 0
           && (sf.f_type == CGROUP_SUPER_MAGIC || sf.f_type == CGROUP2_SUPER_MAGIC);
}

static int
s_write (const char *path, const char *text)
{
    int flags = O_WRONLY | O_TRUNC | O_CLOEXEC;
    int fd = open (path, flags);
    if (fd < 0 && errno == ENOENT) {
        char dir[PATH_MAX];
        snprintf (dir, sizeof dir, "%s", path);
        char *slash = strrchr (dir, '/');
        if (slash)
            *slash = '\0';
        if (s_exists (dir) && !s_is_cgroupfs (dir))
            fd = open (path, flags | O_CREAT, 0644);
        else
            errno = ENOENT;
    }
    if (fd < 0)
        return -1;
    size_t len = strlen (text);
    ssize_t n = write (fd, text, len);
    int saved = errno;
    close (fd);
    if (n != (ssize_t) len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

static char *
s_read (const char *path, char *buf, size_t size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read (fd, buf, size - 1);
    close (fd);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static uint64_t
s_read_u64 (const char *path)
{
    char buf[64];
    if (!s_read (path, buf, sizeof buf))
        return 0;
    return strtoull (buf, NULL, 10);
}

cgroup_t *
cgroup_new (const char *root, const char *parent, int version, char *why, size_t why_size)
{
    if (!root)
        root = "/sys/fs/cgroup";
    if (!parent || !*parent || strchr (parent, '.') == parent) {
        snprintf (why, why_size, "cgroup: parent group name is empty or invalid");
        return NULL;
    }
    if (!s_exists (root)) {
        snprintf (why, why_size, "cgroup: %s does not exist", root);
        return NULL;
    }
    cgroup_t *self = (cgroup_t *) calloc (1, sizeof (cgroup_t));
    if (!self) {
        snprintf (why, why_size, "cgroup: out of memory");
        return NULL;
    }
    snprintf (self->root, sizeof self->root, "%s", root);
    snprintf (self->parent, sizeof self->parent, "%s", parent);
    if (version == 0) {
        char probe[PATH_MAX];
        snprintf (probe, sizeof probe, "%s/cgroup.controllers", root);
        version = s_exists (probe) ? 2 : 1;
    }
    self->version = version;
    return self;
}

void
cgroup_destroy (cgroup_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
cgroup_version (cgroup_t *self)
{
    assert (self);
    return self->version;
}

int
cgroup_path (cgroup_t *self, const char *name, const char *controller, const char *file, char *buf,
             size_t size)
{
    assert (self);
    int n;
    if (self->version == 2)
        n = snprintf (buf, size, "%s/%s%s%s%s%s", self->root, self->parent, name ? "/" : "",
                      name ? name : "", file ? "/" : "", file ? file : "");
    else
        n = snprintf (buf, size, "%s/%s/%s%s%s%s%s", self->root, controller, self->parent,
                      name ? "/" : "", name ? name : "", file ? "/" : "", file ? file : "");
    return n > 0 && (size_t) n < size ? 0 : -1;
}

static int
s_mkdir (const char *path, char *why, size_t why_size)
{
    if (mkdir (path, 0755) != 0 && errno != EEXIST) {
        snprintf (why, why_size, "cgroup: mkdir %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

int
cgroup_create (cgroup_t *self, const char *name, char *why, size_t why_size)
{
    assert (self);
    char path[PATH_MAX];
    if (self->version == 2) {
        /* Controllers must be enabled top-down before a child can use
         * them; on a host where systemd owns the root this may fail for
         * the root, which is fine if they are already on. */
        char ctl[PATH_MAX];
        snprintf (ctl, sizeof ctl, "%s/cgroup.subtree_control", self->root);
        s_write (ctl, "+cpu +memory +io +pids");
        cgroup_path (self, NULL, NULL, NULL, path, sizeof path);
        if (s_mkdir (path, why, why_size))
            return -1;
        cgroup_path (self, NULL, NULL, "cgroup.subtree_control", ctl, sizeof ctl);
        if (s_write (ctl, "+cpu +memory +io +pids") != 0
            && s_write (ctl, "+cpu +memory +pids") != 0) {
            snprintf (why, why_size, "cgroup: enable controllers in %s: %s", ctl, strerror (errno));
            return -1;
        }
        cgroup_path (self, name, NULL, NULL, path, sizeof path);
        return s_mkdir (path, why, why_size);
    }
    int made = 0;
    for (size_t i = 0; i < V1_COUNT; i++) {
        char mount[PATH_MAX];
        snprintf (mount, sizeof mount, "%s/%s", self->root, s_v1[i]);
        if (!s_exists (mount))
            continue; /* controller not mounted here */
        cgroup_path (self, NULL, s_v1[i], NULL, path, sizeof path);
        if (s_mkdir (path, why, why_size))
            return -1;
        cgroup_path (self, name, s_v1[i], NULL, path, sizeof path);
        if (s_mkdir (path, why, why_size))
            return -1;
        made++;
    }
    if (!made) {
        snprintf (why, why_size, "cgroup: no v1 controller mounted under %s", self->root);
        return -1;
    }
    return 0;
}

/* Write one control file; `controller` picks the v1 hierarchy. */
static int
s_set (cgroup_t *self, const char *name, const char *controller, const char *file,
       const char *value, char *why, size_t why_size)
{
    char path[PATH_MAX];
    cgroup_path (self, name, controller, file, path, sizeof path);
    if (s_write (path, value) != 0) {
        snprintf (why, why_size, "cgroup: write '%s' to %s: %s", value, path, strerror (errno));
        return -1;
    }
    return 0;
}

static bool
s_has (cgroup_t *self, const char *controller)
{
    if (self->version == 2)
        return true;
    char mount[PATH_MAX];
    snprintf (mount, sizeof mount, "%s/%s", self->root, controller);
    return s_exists (mount);
}

int
cgroup_apply (cgroup_t *self, const char *name, const cgroup_limits_t *lim, char *why,
              size_t why_size)
{
    assert (self);
    assert (lim);
    char v[128];
    if (self->version == 2) {
        if (lim->cpus_milli)
            snprintf (v, sizeof v, "%llu %d",
                      (unsigned long long) lim->cpus_milli * CFS_PERIOD_US / 1000, CFS_PERIOD_US);
        else
            snprintf (v, sizeof v, "max %d", CFS_PERIOD_US);
        if (s_set (self, name, NULL, "cpu.max", v, why, why_size))
            return -1;
        if (lim->memory_bytes)
            snprintf (v, sizeof v, "%llu", (unsigned long long) lim->memory_bytes);
        else
            snprintf (v, sizeof v, "max");
        if (s_set (self, name, NULL, "memory.max", v, why, why_size))
            return -1;
        /* Without this the limit only pushes pages to swap. Hosts without
         * swap accounting have no such file: not an error. */
        char ignored[8];
        s_set (self, name, NULL, "memory.swap.max", lim->memory_bytes ? "0" : "max", ignored,
               sizeof ignored);
        snprintf (v, sizeof v, lim->pids_max ? "%u" : "max", lim->pids_max);
        if (s_set (self, name, NULL, "pids.max", v, why, why_size))
            return -1;
        if (lim->io_device[0]) {
            char r[32] = "max", w[32] = "max";
            if (lim->io_read_bps)
                snprintf (r, sizeof r, "%llu", (unsigned long long) lim->io_read_bps);
            if (lim->io_write_bps)
                snprintf (w, sizeof w, "%llu", (unsigned long long) lim->io_write_bps);
            snprintf (v, sizeof v, "%s rbps=%s wbps=%s", lim->io_device, r, w);
            if (s_set (self, name, NULL, "io.max", v, why, why_size))
                return -1;
        }
        return 0;
    }
    if (s_has (self, "cpu")) {
        if (s_set (self, name, "cpu", "cpu.cfs_period_us", "100000", why, why_size))
            return -1;
        if (lim->cpus_milli)
            snprintf (v, sizeof v, "%llu",
                      (unsigned long long) lim->cpus_milli * CFS_PERIOD_US / 1000);
        else
            snprintf (v, sizeof v, "-1");
        if (s_set (self, name, "cpu", "cpu.cfs_quota_us", v, why, why_size))
            return -1;
    }
    if (s_has (self, "memory")) {
        /* v1 takes -1 for "no limit". */
        if (lim->memory_bytes)
            snprintf (v, sizeof v, "%llu", (unsigned long long) lim->memory_bytes);
        else
            snprintf (v, sizeof v, "-1");
        if (s_set (self, name, "memory", "memory.limit_in_bytes", v, why, why_size))
            return -1;
    }
    if (s_has (self, "pids")) {
        snprintf (v, sizeof v, lim->pids_max ? "%u" : "max", lim->pids_max);
        if (s_set (self, name, "pids", "pids.max", v, why, why_size))
            return -1;
    }
    if (s_has (self, "blkio") && lim->io_device[0]) {
        /* v1 lifts a throttle with a rate of 0. */
        snprintf (v, sizeof v, "%s %llu", lim->io_device, (unsigned long long) lim->io_read_bps);
        if (s_set (self, name, "blkio", "blkio.throttle.read_bps_device", v, why, why_size))
            return -1;
        snprintf (v, sizeof v, "%s %llu", lim->io_device, (unsigned long long) lim->io_write_bps);
        if (s_set (self, name, "blkio", "blkio.throttle.write_bps_device", v, why, why_size))
            return -1;
    }
    return 0;
}

int
cgroup_attach (cgroup_t *self, const char *name, pid_t pid, char *why, size_t why_size)
{
    assert (self);
    char v[32];
    snprintf (v, sizeof v, "%d", (int) pid);
    if (self->version == 2)
        return s_set (self, name, NULL, "cgroup.procs", v, why, why_size);
    for (size_t i = 0; i < V1_COUNT; i++)
        if (s_has (self, s_v1[i]) && s_set (self, name, s_v1[i], "cgroup.procs", v, why, why_size))
            return -1;
    return 0;
}

/* cgroup.procs of the group (v1: the pids hierarchy, else memory). */
static int
s_procs_path (cgroup_t *self, const char *name, char *path, size_t size)
{
    const char *ctrl = self->version == 2 ? NULL : s_has (self, "pids") ? "pids" : "memory";
    return cgroup_path (self, name, ctrl, "cgroup.procs", path, size);
}

int
cgroup_nprocs (cgroup_t *self, const char *name)
{
    assert (self);
    char path[PATH_MAX];
    s_procs_path (self, name, path, sizeof path);
    FILE *f = fopen (path, "re");
    if (!f)
        return -1;
    int n = 0, pid;
    while (fscanf (f, "%d", &pid) == 1)
        n++;
    fclose (f);
    return n;
}

void
cgroup_kill (cgroup_t *self, const char *name)
{
    assert (self);
    char path[PATH_MAX];
    if (self->version == 2) {
        cgroup_path (self, name, NULL, "cgroup.kill", path, sizeof path);
        if (s_is_cgroupfs (self->root) && s_write (path, "1") == 0)
            return;
    }
    /* A few rounds: a fork between reading and killing escapes one round. */
    for (int round = 0; round < 5; round++) {
        s_procs_path (self, name, path, sizeof path);
        FILE *f = fopen (path, "re");
        if (!f)
            return;
        int pid, n = 0;
        while (fscanf (f, "%d", &pid) == 1) {
            if (pid > 1)
                kill (pid, SIGKILL);
            n++;
        }
        fclose (f);
        if (n == 0)
            return;
        usleep (10000);
    }
}

int
cgroup_remove (cgroup_t *self, const char *name, char *why, size_t why_size)
{
    assert (self);
    char path[PATH_MAX];
    int rc = 0;
    size_t count = self->version == 2 ? 1 : V1_COUNT;
    for (size_t i = 0; i < count; i++) {
        const char *ctrl = self->version == 2 ? NULL : s_v1[i];
        if (ctrl && !s_has (self, ctrl))
            continue;
        cgroup_path (self, name, ctrl, NULL, path, sizeof path);
        /* A test tree (plain directory) holds plain files: remove them. */
        if (!s_is_cgroupfs (path) && s_exists (path) && drv_remove_tree (path) == 0)
            continue;
        if (rmdir (path) != 0 && errno != ENOENT) {
            snprintf (why, why_size, "cgroup: rmdir %s: %s", path, strerror (errno));
            rc = -1;
        }
    }
    return rc;
}

int
cgroup_usage (cgroup_t *self, const char *name, driver_usage_t *u)
{
    assert (self);
    assert (u);
    char path[PATH_MAX], buf[4096];
    if (self->version == 2) {
        cgroup_path (self, name, NULL, "cpu.stat", path, sizeof path);
        if (s_read (path, buf, sizeof buf)) {
            char *p = strstr (buf, "usage_usec ");
            if (p)
                u->cpu_usec = strtoull (p + 11, NULL, 10);
        }
        cgroup_path (self, name, NULL, "memory.current", path, sizeof path);
        u->memory_bytes = s_read_u64 (path);
        cgroup_path (self, name, NULL, "memory.max", path, sizeof path);
        u->memory_limit = s_read_u64 (path); /* "max" reads as 0 */
        cgroup_path (self, name, NULL, "io.stat", path, sizeof path);
        if (s_read (path, buf, sizeof buf)) {
            for (char *p = buf; (p = strstr (p, "rbytes=")); p += 7)
                u->io_read_bytes += strtoull (p + 7, NULL, 10);
            for (char *p = buf; (p = strstr (p, "wbytes=")); p += 7)
                u->io_write_bytes += strtoull (p + 7, NULL, 10);
        }
        cgroup_path (self, name, NULL, "pids.current", path, sizeof path);
        u->pids = (uint32_t) s_read_u64 (path);
        return 0;
    }
    cgroup_path (self, name, "cpuacct", "cpuacct.usage", path, sizeof path);
    u->cpu_usec = s_read_u64 (path) / 1000;
    cgroup_path (self, name, "memory", "memory.usage_in_bytes", path, sizeof path);
    u->memory_bytes = s_read_u64 (path);
    cgroup_path (self, name, "memory", "memory.limit_in_bytes", path, sizeof path);
    u->memory_limit = s_read_u64 (path);
    if (u->memory_limit >= (1ULL << 62))
        u->memory_limit = 0; /* v1's "unlimited" */
    cgroup_path (self, name, "blkio", "blkio.throttle.io_service_bytes", path, sizeof path);
    if (s_read (path, buf, sizeof buf)) {
        char *line = buf;
        while (line && *line) {
            char dev[32], op[16];
            unsigned long long n;
            if (sscanf (line, "%31s %15s %llu", dev, op, &n) == 3) {
                if (strcmp (op, "Read") == 0)
                    u->io_read_bytes += n;
                else if (strcmp (op, "Write") == 0)
                    u->io_write_bytes += n;
            }
            line = strchr (line, '\n');
            if (line)
                line++;
        }
    }
    cgroup_path (self, name, "pids", "pids.current", path, sizeof path);
    u->pids = (uint32_t) s_read_u64 (path);
    return 0;
}

int
cgroup_block_device (const char *path, char *buf, size_t size)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return -1;
    unsigned maj = major (st.st_dev), min = minor (st.st_dev);
    char sys[PATH_MAX], real[PATH_MAX];
    snprintf (sys, sizeof sys, "/sys/dev/block/%u:%u", maj, min);
    if (!realpath (sys, real))
        return -1; /* not a block device (tmpfs, overlay, nfs) */
    char probe[PATH_MAX + 16];
    snprintf (probe, sizeof probe, "%s/partition", real);
    if (s_exists (probe)) {
        /* Throttling applies to whole disks: use the partition's parent. */
        char *slash = strrchr (real, '/');
        if (!slash)
            return -1;
        *slash = '\0';
        snprintf (probe, sizeof probe, "%s/dev", real);
        char dev[32];
        if (!s_read (probe, dev, sizeof dev) || sscanf (dev, "%u:%u", &maj, &min) != 2)
            return -1;
    }
    snprintf (buf, size, "%u:%u", maj, min);
    return 0;
}
