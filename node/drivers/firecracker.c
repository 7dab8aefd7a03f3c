/*
 * firecracker.c - the Firecracker driver's ops (firecracker.h; the files
 * it shares with are listed in firecracker_int.h).
 */
#include "node/drivers/firecracker_int.h"
#include "node/drivers/json_read.h"
#include "node/drivers/netlink.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <assert.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP "firecracker"

void
driver_firecracker_api_sock (const driver_firecracker_config_t *config, const char *name, char *buf,
                             size_t size)
{
    drv_fmt (buf, size, "%s/sheds/%s/" FC_VM_DIR "/" FC_API_SOCK, config->data_dir, name);
}

static void
s_tap_name (const char *name, char tap[16])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t) *p) * 0x100000001b3ULL;
    snprintf (tap, 16, "ft%010llx", (unsigned long long) (h & 0xffffffffffULL));
}

/* A persistent TAP owned by root, attached to the bridge. */
static int
s_tap_create (const char *tap, const char *bridge, uint32_t mtu, driver_error_t *err)
{
    int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return driver_fail (err, DRIVER_ERR_PERMISSION, "firecracker: open /dev/net/tun: %s",
                            strerror (errno));
    struct ifreq ifr;
    memset (&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", tap);
    if (ioctl (fd, TUNSETIFF, &ifr) != 0 || ioctl (fd, TUNSETPERSIST, 1) != 0) {
        int saved = errno;
        close (fd);
        return driver_fail (err, DRIVER_ERR_PERMISSION, "firecracker: create TAP %s: %s", tap,
                            strerror (saved));
    }
    close (fd);
    char why[DRIVER_MSG_MAX];
    /* The overlay's MTU on the host end; the guest sets its own eth0
     * (Firecracker has no API for it). */
    if (nl_link_set (-1, tap, bridge[0] ? bridge : NULL, NULL, mtu, true, why, sizeof why) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s", why);
    return 0;
}

int
fc_load (const fc_t *self, const char *name, drv_state_t *st, char *dir, size_t size,
         driver_error_t *err)
{
    fc_shed_dir (self, name, dir, size);
    return drv_state_open ("firecracker", dir, name, st, err);
}

bool
fc_running (const drv_state_t *st)
{
    if (st->pid)
        return drv_proc_alive ((int) st->pid, st->starttime);
    return st->wanted_up;
}

/* The vsock's uds_path as Firecracker sees it: relative when the agent
 * socket is in vm/ (always, jailed), else the absolute path. */
static const char *
s_uds_path (const char *vm, const char *agent_socket)
{
    size_t n = strlen (vm);
    if (strncmp (agent_socket, vm, n) == 0 && agent_socket[n] == '/' && agent_socket[n + 1])
        return agent_socket + n + 1;
    return agent_socket;
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX], vm[PATH_MAX], state[PATH_MAX + 8], disk[PATH_MAX + 16];
    fc_shed_dir (self, spec->name, dir, sizeof dir);
    fc_vm_dir (self, spec->name, vm, sizeof vm);
    drv_fmt (state, sizeof state, "%s/state", dir);
    if (access (state, F_OK) == 0)
        return driver_fail (err, DRIVER_ERR_EXISTS, "firecracker: shed %s already exists",
                            spec->name);
    if (!spec->image[0] && !spec->layer[0])
        return driver_fail (err, DRIVER_ERR_INVALID,
                            "firecracker: %s: a rootfs image (or a snapshot) is required",
                            spec->name);
    drv_state_t st;
    drv_state_from_spec (&st, "firecracker", spec);
    s_tap_name (spec->name, st.veth);
    if (!st.agent_socket[0])
        drv_fmt (st.agent_socket, sizeof st.agent_socket, "%s/" FC_VSOCK, vm);
    if (self->jailer[0] && s_uds_path (vm, st.agent_socket) == st.agent_socket)
        return driver_fail (err, DRIVER_ERR_INVALID,
                            "firecracker: %s: jailed, the agent socket must be below %s",
                            spec->name, vm);
    if (!st.bridge[0])
        snprintf (st.bridge, sizeof st.bridge, "%s", self->bridge);
    if (shed_mkdir_p (vm, 0700) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: mkdir %s: %s", vm, strerror (errno));
    int rc = 0;
    char why[DRIVER_MSG_MAX];
    /* The shed's own disk: attaching the shared image read-write would
     * let every VM write into the others' root file system. */
    drv_fmt (disk, sizeof disk, "%s/" FC_ROOTFS, vm);
    if (spec->layer[0])
        rc = fc_bundle_extract (spec->layer, vm, spec->name, err);
    else if (fc_copy_file (spec->image, disk, why, sizeof why) != 0)
        rc = driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: %s", spec->name, why);
    if (rc == 0 && self->create_tap)
        rc = s_tap_create (st.veth, st.bridge, (uint32_t) st.mtu, err);
    if (rc == 0)
        rc = drv_state_save (dir, &st, err);
    if (rc != 0) {
        if (self->create_tap)
            nl_link_del (-1, st.veth, why, sizeof why);
        drv_remove_tree (dir);
    }
    return rc;
}

/* `base` plus, when the shed has an overlay address ("a.b.c.d/len"), the
 * kernel's ip= parameter for eth0. */
static void
s_boot_args (const char *base, const char *name, const char *ip, const char *gateway, char *out,
             size_t size)
{
    char addr[20] = "";
    unsigned len = 0;
    struct in_addr a;
    if (ip && sscanf (ip, "%19[0-9.]/%u", addr, &len) == 2 && len <= 32
        && inet_pton (AF_INET, addr, &a) == 1) {
        uint32_t mask = len ? htonl (0xffffffffu << (32 - len)) : 0;
        char maskt[INET_ADDRSTRLEN];
        struct in_addr m = { .s_addr = mask };
        inet_ntop (AF_INET, &m, maskt, sizeof maskt);
        drv_fmt (out, size, "%s ip=%s::%s:%s:%s:eth0:off", base, addr, gateway ? gateway : "",
                 maskt, name);
    }
    else
        drv_fmt (out, size, "%s", base);
}

/* A fresh boot: the VM's devices, then InstanceStart. */
static int
s_boot (fc_t *self, drv_state_t *st, const char *vm, const char *sock, driver_error_t *err)
{
    const char *name = st->name;
    char body[2048];
    int rc;
#define S_CALL(method, path, build)                                                                \
    do {                                                                                           \
        if ((build) != 0)                                                                          \
            return driver_fail (err, DRIVER_ERR_INVALID, "firecracker: %s: %s body too long",      \
                                name, path);                                                       \
        if ((rc = fc_api (self, sock, name, method, path, body, NULL, err)) != 0)                  \
            return rc;                                                                             \
    } while (0)
    S_CALL ("PUT", "/machine-config", fc_body_machine (st, body, sizeof body));
    /* The guest learns its overlay address from the kernel command line
     * (ip=CLIENT::GATEWAY:NETMASK:HOSTNAME:eth0:off, the kernel's own IP
     * autoconfiguration): no DHCP server on the overlay, nothing to run in
     * the image before the agent can reach the network. */
    char args[DRIVER_PATH_MAX + 128];
    s_boot_args (self->boot_args, name, st->ip, st->gateway, args, sizeof args);
    S_CALL ("PUT", "/boot-source",
            fc_body_boot (self->jailer[0] ? FC_KERNEL : self->kernel, args, body, sizeof body));
    S_CALL ("PUT", "/drives/rootfs", fc_body_drive (st, body, sizeof body));
    S_CALL ("PUT", "/network-interfaces/eth0", fc_body_net (st, body, sizeof body));
    S_CALL ("PUT", "/vsock",
            fc_body_vsock (st, s_uds_path (vm, st->agent_socket), body, sizeof body));
    S_CALL ("PUT", "/balloon", fc_body_balloon (st, self->memory_overcommit, body, sizeof body));
    S_CALL ("PUT", "/actions",
            snprintf (body, sizeof body, "{\"action_type\":\"InstanceStart\"}") < 0);
#undef S_CALL
    return 0;
}

int
fc_start (void *impl, const char *name, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX], vm[PATH_MAX], sock[PATH_MAX + 16], path[PATH_MAX + 32];
    drv_state_t st;
    int rc = fc_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    if (fc_running (&st))
        return 0; /* idempotent (without a process of ours: as last asked) */
    fc_vm_dir (self, name, vm, sizeof vm);
    drv_fmt (sock, sizeof sock, "%s/" FC_API_SOCK, vm);
    /* Firecracker binds the vsock's uds_path itself and refuses a path
     * that exists: a socket left by the last run must go (not the
     * node's listener, <uds_path>_1026). */
    if (unlink (st.agent_socket) != 0 && errno != ENOENT)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: remove %s: %s", name,
                            st.agent_socket, strerror (errno));
    if (self->jailer[0] && (rc = fc_jail_prepare (self, name, err)) != 0)
        return rc;
    if (self->bin[0] && (rc = fc_spawn (self, &st, err)) != 0)
        return rc;
    drv_fmt (path, sizeof path, "%s/" FC_RESTORE_STATE, vm);
    if (access (path, F_OK) == 0)
        rc = fc_restore (self, &st, sock, err);
    else
        rc = s_boot (self, &st, vm, sock, err);
    if (rc != 0) {
        if (st.pid && drv_proc_alive ((int) st.pid, st.starttime))
            kill ((pid_t) st.pid, SIGKILL);
        return rc;
    }
    st.wanted_up = true;
    log_info (S_COMP, "microVM started|shed=%s pid=%d", name, (int) st.pid);
    return drv_state_save (dir, &st, err);
}

int
fc_stop (void *impl, const char *name, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX], vm[PATH_MAX], sock[PATH_MAX + 16], path[PATH_MAX + 32];
    drv_state_t st;
    int rc = fc_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    fc_vm_dir (self, name, vm, sizeof vm);
    drv_fmt (sock, sizeof sock, "%s/" FC_API_SOCK, vm);
    bool managed = st.pid != 0;
    bool alive = managed && drv_proc_alive ((int) st.pid, st.starttime);
    if (alive || (!managed && st.wanted_up)) {
        /* Ask the guest first; an unreachable API is no reason to keep a
         * VM we are told to stop. */
        driver_error_t ignored;
        fc_api (self, sock, name, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", NULL,
                &ignored);
        if (alive && !drv_proc_wait_gone ((int) st.pid, st.starttime, self->stop_timeout_ms, 20))
            kill ((pid_t) st.pid, SIGKILL);
    }
    if (self->jailer[0])
        fc_jail_release (self, name);
    /* A restored guest's memory file is needed while it runs; once it has
     * stopped, the next start boots from the disk. A restore not yet
     * loaded (restore.vmstate still there) keeps both. */
    drv_fmt (path, sizeof path, "%s/" FC_RESTORE_STATE, vm);
    if (access (path, F_OK) != 0) {
        drv_fmt (path, sizeof path, "%s/" FC_RESTORE_MEM, vm);
        unlink (path);
    }
    st.pid = 0;
    st.starttime = 0;
    st.wanted_up = false;
    return drv_state_save (dir, &st, err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = fc_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    if ((rc = fc_stop (impl, name, err)) != 0)
        return rc;
    char why[DRIVER_MSG_MAX];
    if (self->create_tap)
        nl_link_del (-1, st.veth, why, sizeof why);
    if (drv_remove_tree (dir) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: remove %s: %s", dir,
                            strerror (errno));
    return 0;
}

static int
s_status (void *impl, const char *name, driver_status_t *out, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX], sock[PATH_MAX];
    drv_state_t st;
    int rc = fc_load (self, name, &st, dir, sizeof dir, err);
    if (rc == DRIVER_ERR_NOT_FOUND)
        out->state = DRIVER_ST_ABSENT;
    if (rc)
        return rc;
    snprintf (out->ip, sizeof out->ip, "%s", st.ip);
    if (st.pid && !drv_proc_alive ((int) st.pid, st.starttime)) {
        out->state = st.wanted_up ? DRIVER_ST_ERROR : DRIVER_ST_STOPPED;
        if (st.wanted_up)
            snprintf (out->detail, sizeof out->detail, "firecracker process %d exited",
                      (int) st.pid);
        return 0;
    }
    if (!st.wanted_up) {
        out->state = DRIVER_ST_STOPPED;
        return 0;
    }
    out->pid = (int) st.pid;
    fc_vm_dir (self, name, sock, sizeof sock);
    size_t n = strlen (sock);
    drv_fmt (sock + n, sizeof sock - n, "/" FC_API_SOCK);
    http_reply_t r;
    driver_error_t api_err;
    if (fc_api (self, sock, name, "GET", "/", NULL, &r, &api_err) != 0) {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "%s", api_err.message);
        return 0;
    }
    char state[32] = "", why[128] = "";
    json_t *doc = json_read (r.body, r.len, why, sizeof why);
    json_read_str (doc, "state", state, sizeof state);
    json_decref (doc);
    http_reply_free (&r);
    if (strcmp (state, "Running") == 0)
        out->state = DRIVER_ST_RUNNING;
    else if (strcmp (state, "Not started") == 0)
        out->state = DRIVER_ST_STARTING;
    else {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "vm: %s",
                  state[0] ? state
                  : why[0] ? why
                           : "unknown");
    }
    return 0;
}

static int
s_usage (void *impl, const char *name, driver_usage_t *usage, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = fc_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    usage->memory_limit = st.memory_mb * 1024 * 1024;
    /* The VMM process is the VM: its cpu time and RSS are the shed's. */
    if (st.pid && drv_proc_alive ((int) st.pid, st.starttime)) {
        char path[64], buf[1024];
        snprintf (path, sizeof path, "/proc/%d/stat", (int) st.pid);
        FILE *f = fopen (path, "re");
        if (f) {
            if (fgets (buf, sizeof buf, f)) {
                char *p = strrchr (buf, ')');
                unsigned long long ut = 0, stime = 0;
                long rss = 0;
                if (p
                    && sscanf (p + 2,
                               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                               "%*d %*d %*d %*d %*d %*d %*u %*u %ld",
                               &ut, &stime, &rss)
                           == 3) {
                    long hz = sysconf (_SC_CLK_TCK);
                    usage->cpu_usec = (ut + stime) * 1000000ULL / (unsigned long long) hz;
                    usage->memory_bytes = (uint64_t) rss * (uint64_t) sysconf (_SC_PAGESIZE);
                }
            }
            fclose (f);
        }
    }
    uint64_t rx = 0, tx = 0;
    if (nl_link_stats (-1, st.veth, &rx, &tx) == 0) {
        usage->net_rx_bytes = tx; /* what the TAP sends, the guest receives */
        usage->net_tx_bytes = rx;
    }
    return 0;
}

static int
s_list (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    fc_t *self = (fc_t *) impl;
    char path[PATH_MAX];
    drv_fmt (path, sizeof path, "%s/sheds", self->data_dir);
    DIR *d = opendir (path);
    if (!d)
        return errno == ENOENT ? 0
                               : driver_fail (err, DRIVER_ERR_IO, "firecracker: list %s: %s", path,
                                              strerror (errno));
    struct dirent *e;
    while ((e = readdir (d))) {
        char state[PATH_MAX + 300];
        if (e->d_name[0] == '.')
            continue;
        drv_fmt (state, sizeof state, "%s/%s/state", path, e->d_name);
        if (access (state, F_OK) == 0)
            fn (arg, e->d_name);
    }
    closedir (d);
    return 0;
}

static void
s_destroy (void *impl)
{
    free (impl);
}

static const driver_ops_t s_ops = {
    .name = "firecracker",
    .agent_suffix = "_1026", /* shed-agent dials vsock CID 2 port 1026 */
    /* In vm/, the directory Firecracker (and, jailed, the jail) sees. */
    .agent_socket_name = FC_VM_DIR "/" FC_VSOCK,
    .create = s_create,
    .start = fc_start,
    .stop = fc_stop,
    .remove = s_remove,
    .status = s_status,
    .usage = s_usage,
    .list = s_list,
    .snapshot = fc_snapshot,
    .destroy = s_destroy,
};

static void
s_copy (char *dst, size_t size, const char *src, const char *fallback)
{
    snprintf (dst, size, "%s", src && *src ? src : fallback);
}

driver_t *
driver_firecracker_new (const driver_firecracker_config_t *config, driver_error_t *err)
{
    assert (config);
    if (!config->data_dir || !*config->data_dir || strlen (config->data_dir) > 150) {
        driver_fail (err, DRIVER_ERR_INVALID,
                     "firecracker: data_dir is required (at most 150 bytes)");
        return NULL;
    }
    fc_t *self = (fc_t *) calloc (1, sizeof (fc_t));
    if (!self) {
        driver_fail (err, DRIVER_ERR_IO, "firecracker: out of memory");
        return NULL;
    }
    s_copy (self->data_dir, sizeof self->data_dir, config->data_dir, "");
    s_copy (self->bin, sizeof self->bin, config->firecracker_bin, "");
    s_copy (self->kernel, sizeof self->kernel, config->kernel_image, "");
    s_copy (self->boot_args, sizeof self->boot_args, config->boot_args,
            "console=ttyS0 reboot=k panic=1 pci=off");
    s_copy (self->bridge, sizeof self->bridge, config->bridge, "");
    s_copy (self->jailer, sizeof self->jailer, config->jailer_bin, "");
    if (config->jailer_chroot_base && *config->jailer_chroot_base)
        s_copy (self->chroot_base, sizeof self->chroot_base, config->jailer_chroot_base, "");
    else
        drv_fmt (self->chroot_base, sizeof self->chroot_base, "%s/jail", self->data_dir);
    self->jailer_uid = config->jailer_uid;
    self->jailer_gid = config->jailer_gid;
    self->memory_overcommit = config->memory_overcommit;
    self->create_tap = config->create_tap;
    self->stop_timeout_ms = config->stop_timeout_ms > 0 ? config->stop_timeout_ms : 10000;
    self->api_timeout_ms = config->api_timeout_ms > 0 ? config->api_timeout_ms : 5000;
    const char *bad = NULL;
    if (self->bin[0] && access (self->bin, X_OK) != 0)
        bad = self->bin;
    else if (self->jailer[0] && access (self->jailer, X_OK) != 0)
        bad = self->jailer;
    if (bad) {
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "firecracker: %s: %s", bad, strerror (errno));
        free (self);
        return NULL;
    }
    /* The jailer execs Firecracker as an unprivileged user: uid 0 would
     * make the jail pointless, and it needs the binary to run. */
    if (self->jailer[0] && (!self->bin[0] || !self->jailer_uid || !self->jailer_gid)) {
        driver_fail (err, DRIVER_ERR_INVALID,
                     "firecracker: the jailer needs firecracker_bin and a non-root uid and gid");
        free (self);
        return NULL;
    }
    char why[200];
    if (!http_global_init (why, sizeof why)) {
        free (self);
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "firecracker: %s", why);
        return NULL;
    }
    return driver_new (&s_ops, self);
}
