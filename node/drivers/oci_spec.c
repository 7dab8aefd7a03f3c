/*
 * oci_spec.c - config.json of a container shed (see oci_spec.h).
 *
 * Shaped like runc's own `runc spec --rootless` and the defaults of other
 * runtimes: the default capability set, noNewPrivileges, masked and
 * read-only /proc and /sys paths, /sys bound read-only (a sysfs of its own
 * needs a network namespace the shed owns; ours belongs to the host, see
 * shednet.h), cgroup namespace with /sys/fs/cgroup read-only.
 */
#include "node/drivers/oci_spec.h"

#include <jansson.h>
#include <stdlib.h>

/* The container default set (runc's, Docker's): enough for a developer's
 * root to install packages, chown and bind low ports, no more. */
static const char *const s_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const s_masked[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};

static const char *const s_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static json_t *
s_strings (const char *const *items, size_t n)
{
    json_t *a = json_array ();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new (a, json_string (items[i]));
    return a;
}

static json_t *
s_null_list (const char *const *items)
{
    json_t *a = json_array ();
    for (size_t i = 0; a && items && items[i]; i++)
        json_array_append_new (a, json_string (items[i]));
    return a;
}

static json_t *
s_mount (const char *dst, const char *type, const char *src, const char *opts)
{
    json_t *m = json_pack ("{s:s, s:s, s:s}", "destination", dst, "type", type, "source", src);
    json_t *o = json_array ();
    /* opts: comma separated */
    const char *p = opts;
    while (p && *p) {
        const char *end = p;
        while (*end && *end != ',')
            end++;
        json_array_append_new (o, json_stringn (p, (size_t) (end - p)));
        p = *end ? end + 1 : end;
    }
    json_object_set_new (m, "options", o);
    return m;
}

static json_t *
s_mounts (const oci_spec_t *spec)
{
    json_t *a = json_array ();
    json_array_append_new (a, s_mount ("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new (
        a, s_mount ("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new (a, s_mount ("/dev/pts", "devpts", "devpts",
                                       "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
    json_array_append_new (
        a, s_mount ("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"));
    json_array_append_new (a, s_mount ("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
    json_array_append_new (a, s_mount ("/sys", "none", "/sys", "rbind,nosuid,noexec,nodev,ro"));
    json_array_append_new (
        a, s_mount ("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro"));
    json_array_append_new (a,
                           s_mount ("/run", "tmpfs", "tmpfs", "nosuid,nodev,mode=755,size=65536k"));
    json_array_append_new (
        a, s_mount ("/tmp", "tmpfs", "tmpfs", "nosuid,nodev,mode=1777,size=262144k"));
    /* The shed's own copies: it may edit them (they are its files); the
     * node writes them once, at create. */
    json_array_append_new (
        a, s_mount ("/etc/hosts", "none", spec->hosts_file, "bind,nosuid,nodev,noexec"));
    json_array_append_new (
        a, s_mount ("/etc/hostname", "none", spec->hostname_file, "bind,nosuid,nodev,noexec"));
    json_array_append_new (
        a, s_mount ("/etc/resolv.conf", "none", spec->resolv_file, "bind,nosuid,nodev,noexec"));
    /* The agent channel: one directory holding the shed's own socket (and
     * its agent.yaml), read-only: the only host socket a shed can reach. */
    json_array_append_new (
        a, s_mount (OCI_SHED_DIR, "none", spec->channel_dir, "bind,nosuid,nodev,noexec,ro"));
    if (spec->agent_bin)
        json_array_append_new (
            a, s_mount (OCI_AGENT_BIN, "none", spec->agent_bin, "bind,nosuid,nodev,ro"));
    return a;
}

static json_t *
s_resources (const oci_spec_t *spec)
{
    json_t *r = json_object ();
    if (spec->cpus_milli)
        json_object_set_new (r, "cpu",
                             json_pack ("{s:I, s:I}", "quota", (json_int_t) spec->cpus_milli * 100,
                                        "period", (json_int_t) 100000));
    if (spec->memory_bytes) {
        json_t *mem = json_pack ("{s:I}", "limit", (json_int_t) spec->memory_bytes);
        /* swap = memory + swap in OCI: equal means no swap. Only on v2:
         * v1 needs swap accounting (memsw), off on many kernels. */
        if (spec->cgroup_v2)
            json_object_set_new (mem, "swap", json_integer ((json_int_t) spec->memory_bytes));
        json_object_set_new (r, "memory", mem);
    }
    if (spec->pids_max)
        json_object_set_new (r, "pids", json_pack ("{s:I}", "limit", (json_int_t) spec->pids_max));
    if (spec->io_major >= 0 && (spec->io_read_bps || spec->io_write_bps)) {
        json_t *bio = json_object ();
        if (spec->io_read_bps)
            json_object_set_new (bio, "throttleReadBpsDevice",
                                 json_pack ("[{s:i, s:i, s:I}]", "major", spec->io_major, "minor",
                                            spec->io_minor, "rate",
                                            (json_int_t) spec->io_read_bps));
        if (spec->io_write_bps)
            json_object_set_new (bio, "throttleWriteBpsDevice",
                                 json_pack ("[{s:i, s:i, s:I}]", "major", spec->io_major, "minor",
                                            spec->io_minor, "rate",
                                            (json_int_t) spec->io_write_bps));
        json_object_set_new (r, "blockIO", bio);
    }
    /* Devices: runc's default allow list (null, zero, full, random,
     * urandom, tty, ptmx, pts) applies when nothing else is said. */
    return r;
}

static json_t *
s_linux (const oci_spec_t *spec)
{
    json_t *ns = json_pack ("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}, {s:s}, {s:s, s:s}]", "type", "pid",
                            "type", "ipc", "type", "uts", "type", "mount", "type", "cgroup", "type",
                            "user", "type", "network", "path", spec->netns_path);
    json_t *map = json_pack ("[{s:i, s:I, s:I}]", "containerID", 0, "hostID",
                             (json_int_t) spec->id_base, "size", (json_int_t) spec->id_count);
    json_t *l = json_pack (
        "{s:o, s:O, s:o, s:s, s:o, s:o, s:o, s:o}", "uidMappings", map, "gidMappings", map,
        "namespaces", ns, "cgroupsPath", spec->cgroups_path, "resources", s_resources (spec),
        "maskedPaths", s_strings (s_masked, sizeof s_masked / sizeof s_masked[0]), "readonlyPaths",
        s_strings (s_readonly, sizeof s_readonly / sizeof s_readonly[0]), "seccomp",
        (json_t *) oci_seccomp_json ());
    return l;
}

char *
oci_spec_json (const oci_spec_t *spec)
{
    json_t *caps = s_strings (s_caps, sizeof s_caps / sizeof s_caps[0]);
    json_t *process =
        json_pack ("{s:b, s:{s:i, s:i}, s:o, s:o, s:s, s:{s:O, s:O, s:O}, s:b}", "terminal", 0,
                   "user", "uid", 0, "gid", 0, "args", s_null_list (spec->args), "env",
                   s_null_list (spec->env), "cwd", "/", "capabilities", "bounding", caps,
                   "effective", caps, "permitted", caps, "noNewPrivileges", 1);
    /* No rlimits: a shed inherits the daemon's (the unit's LimitNOFILE);
     * raising one past the hard limit needs a capability the shed's user
     * namespace cannot have. */
    json_decref (caps);
    json_t *doc =
        json_pack ("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process",
                   process, "root", "path", spec->rootfs, "readonly", 0, "hostname", spec->hostname,
                   "mounts", s_mounts (spec), "linux", s_linux (spec));
    if (!doc)
        return NULL;
    char *text = json_dumps (doc, JSON_INDENT (1) | JSON_SORT_KEYS);
    json_decref (doc);
    return text;
}
