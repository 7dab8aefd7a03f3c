/*
 * firecracker.c - the Firecracker driver (see firecracker.h).
 */
#include "node/drivers/firecracker.h"
#include "node/drivers/drv_state.h"
#include "node/drivers/http.h"
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_COMP "firecracker"

typedef struct {
    char data_dir[DRIVER_PATH_MAX];
    char bin[DRIVER_PATH_MAX];
    char kernel[DRIVER_PATH_MAX];
    char boot_args[DRIVER_PATH_MAX];
    char bridge[DRIVER_IFNAME_MAX + 1];
    bool create_tap;
    int stop_timeout_ms;
    long api_timeout_ms;
} s_fc_t;

static void
s_dir (s_fc_t *self, const char *name, char *buf, size_t size)
{
    drv_fmt (buf, size, "%s/sheds/%s", self->data_dir, name);
}

void
driver_firecracker_api_sock (const driver_firecracker_config_t *config, const char *name, char *buf,
                             size_t size)
{
    drv_fmt (buf, size, "%s/sheds/%s/api.sock", config->data_dir, name);
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

/* One API call; 2xx is success, else the fault message becomes the error. */
static int
s_api (s_fc_t *self, const char *sock, const char *name, const char *method, const char *path,
       const char *body, http_reply_t *keep, driver_error_t *err)
{
    http_reply_t r;
    if (http_request (NULL, sock, method, path, body, self->api_timeout_ms, &r) != 0) {
        int rc = driver_fail (err, DRIVER_ERR_UNAVAILABLE, "firecracker: %s: %s %s: %s (%s)", name,
                              method, path, r.error, sock);
        http_reply_free (&r);
        return rc;
    }
    if (r.status < 200 || r.status > 299) {
        char fault[200] = "";
        if (json_get_str (r.body, r.len, "fault_message", fault, sizeof fault) != 0)
            snprintf (fault, sizeof fault, "%.120s", r.body);
        int rc =
            driver_fail (err, r.status == 400 ? DRIVER_ERR_INVALID : DRIVER_ERR_BACKEND,
                         "firecracker: %s: %s %s: %ld: %s", name, method, path, r.status, fault);
        http_reply_free (&r);
        return rc;
    }
    if (keep)
        *keep = r;
    else
        http_reply_free (&r);
    return 0;
}

static int
s_spawn (s_fc_t *self, drv_state_t *st, const char *dir, const char *sock, driver_error_t *err)
{
    char log_path[PATH_MAX];
    drv_fmt (log_path, sizeof log_path, "%s/firecracker.log", dir);
    unlink (sock);
    char sock_arg[PATH_MAX];
    drv_fmt (sock_arg, sizeof sock_arg, "%s", sock);
    char *argv[] = { self->bin, (char *) "--api-sock", sock_arg, (char *) "--id", st->name, NULL };
    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int report[2];
    if (log_fd < 0 || pipe2 (report, O_CLOEXEC) != 0) {
        if (log_fd >= 0)
            close (log_fd);
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: %s", st->name, strerror (errno));
    }
    /* Double fork: the VMM outlives a daemon restart and is never our
     * zombie; the middle process reports its pid. */
    pid_t mid = fork ();
    if (mid == 0) {
        setsid ();
        pid_t vmm = fork ();
        if (vmm == 0) {
            dup2 (log_fd, 1);
            dup2 (log_fd, 2);
            syscall (SYS_close_range, 3, ~0U, 0);
            execv (argv[0], argv);
            _exit (127);
        }
        ssize_t n = write (report[1], &vmm, sizeof vmm);
        _exit (vmm > 0 && n == (ssize_t) sizeof vmm ? 0 : 1);
    }
    close (report[1]);
    close (log_fd);
    pid_t vmm = -1;
    ssize_t n = mid > 0 ? read (report[0], &vmm, sizeof vmm) : -1;
    close (report[0]);
    if (mid > 0)
        while (waitpid (mid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (n != (ssize_t) sizeof vmm || vmm <= 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: %s: cannot spawn %s", st->name,
                            self->bin);
    st->pid = (uint64_t) vmm;
    st->starttime = drv_proc_starttime (vmm);
    /* The API socket appears once Firecracker is ready for calls. */
    for (int i = 0; i < 300; i++) {
        if (access (sock, F_OK) == 0)
            return 0;
        if (!drv_proc_alive (vmm, 0))
            break;
        usleep (10000);
    }
    kill (vmm, SIGKILL);
    return driver_fail (err, DRIVER_ERR_UNAVAILABLE,
                        "firecracker: %s: %s did not open %s "
                        "(see %s)",
                        st->name, self->bin, sock, log_path);
}

static int
s_load (s_fc_t *self, const char *name, drv_state_t *st, char *dir, size_t size,
        driver_error_t *err)
{
    s_dir (self, name, dir, size);
    return drv_state_open ("firecracker", dir, name, st, err);
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    s_fc_t *self = (s_fc_t *) impl;
    char dir[PATH_MAX], state[PATH_MAX + 8];
    s_dir (self, spec->name, dir, sizeof dir);
    drv_fmt (state, sizeof state, "%s/state", dir);
    if (access (state, F_OK) == 0)
        return driver_fail (err, DRIVER_ERR_EXISTS, "firecracker: shed %s already exists",
                            spec->name);
    if (!spec->image[0])
        return driver_fail (err, DRIVER_ERR_INVALID,
                            "firecracker: %s: a rootfs image is "
                            "required",
                            spec->name);
    if (shed_mkdir_p (dir, 0700) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "firecracker: mkdir %s: %s", dir, strerror (errno));
    drv_state_t st;
    drv_state_from_spec (&st, "firecracker", spec);
    s_tap_name (spec->name, st.veth);
    if (!st.agent_socket[0])
        drv_fmt (st.agent_socket, sizeof st.agent_socket, "%s/vsock.sock", dir);
    if (!st.bridge[0])
        snprintf (st.bridge, sizeof st.bridge, "%s", self->bridge);
    int rc = 0;
    if (self->create_tap)
        rc = s_tap_create (st.veth, st.bridge, (uint32_t) st.mtu, err);
    if (rc == 0)
        rc = drv_state_save (dir, &st, err);
    if (rc != 0) {
        char why[DRIVER_MSG_MAX];
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

static int
s_start (void *impl, const char *name, driver_error_t *err)
{
    s_fc_t *self = (s_fc_t *) impl;
    char dir[PATH_MAX], sock[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    if (st.pid && drv_proc_alive ((int) st.pid, st.starttime))
        return 0;
    drv_fmt (sock, sizeof sock, "%s/api.sock", dir);
    if (self->bin[0] && (rc = s_spawn (self, &st, dir, sock, err)) != 0)
        return rc;

    char body[1024], q1[DRIVER_PATH_MAX * 2], q2[DRIVER_PATH_MAX * 2];
    unsigned vcpus = (unsigned) ((st.cpus_milli + 999) / 1000);
    drv_fmt (body, sizeof body, "{\"vcpu_count\":%u,\"mem_size_mib\":%llu,\"smt\":false}",
             vcpus ? vcpus : 1, (unsigned long long) (st.memory_mb ? st.memory_mb : 512));
    if ((rc = s_api (self, sock, name, "PUT", "/machine-config", body, NULL, err)))
        goto fail;
    json_quote (self->kernel, q1, sizeof q1);
    /* The guest learns its overlay address from the kernel command line
     * (ip=CLIENT::GATEWAY:NETMASK:HOSTNAME:eth0:off, the kernel's own IP
     * autoconfiguration): no DHCP server on the overlay, nothing to run in
     * the image before the agent can reach the network. */
    char args[DRIVER_PATH_MAX + 128];
    s_boot_args (self->boot_args, name, st.ip, st.gateway, args, sizeof args);
    json_quote (args, q2, sizeof q2);
    drv_fmt (body, sizeof body, "{\"kernel_image_path\":%s,\"boot_args\":%s}", q1, q2);
    if ((rc = s_api (self, sock, name, "PUT", "/boot-source", body, NULL, err)))
        goto fail;
    json_quote (st.image, q1, sizeof q1);
    drv_fmt (body, sizeof body,
             "{\"drive_id\":\"rootfs\",\"path_on_host\":%s,"
             "\"is_root_device\":true,\"is_read_only\":false}",
             q1);
    if ((rc = s_api (self, sock, name, "PUT", "/drives/rootfs", body, NULL, err)))
        goto fail;
    if (st.mac[0])
        drv_fmt (body, sizeof body,
                 "{\"iface_id\":\"eth0\",\"host_dev_name\":\"%s\","
                 "\"guest_mac\":\"%s\"}",
                 st.veth, st.mac);
    else
        drv_fmt (body, sizeof body, "{\"iface_id\":\"eth0\",\"host_dev_name\":\"%s\"}", st.veth);
    if ((rc = s_api (self, sock, name, "PUT", "/network-interfaces/eth0", body, NULL, err)))
        goto fail;
    /* Guest CIDs 0-2 are reserved. Firecracker backs each VM's vsock with
     * its own Unix socket (uds_path), so the CID is only seen inside the
     * guest and need not be unique across VMs; derived from the name so it
     * is stable across restarts. */
    uint32_t cid = 3;
    for (const char *p = name; *p; p++)
        cid = cid * 31 + (uint8_t) *p;
    cid = 3 + cid % 0x7ffffff0u;
    json_quote (st.agent_socket, q1, sizeof q1);
    drv_fmt (body, sizeof body, "{\"guest_cid\":%u,\"uds_path\":%s}", cid, q1);
    if ((rc = s_api (self, sock, name, "PUT", "/vsock", body, NULL, err)))
        goto fail;
    if ((rc = s_api (self, sock, name, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}",
                     NULL, err)))
        goto fail;
    st.wanted_up = true;
    log_info (S_COMP, "microVM started|shed=%s pid=%d", name, (int) st.pid);
    return drv_state_save (dir, &st, err);
fail:
    if (st.pid && drv_proc_alive ((int) st.pid, st.starttime))
        kill ((pid_t) st.pid, SIGKILL);
    return rc;
}

static int
s_stop (void *impl, const char *name, driver_error_t *err)
{
    s_fc_t *self = (s_fc_t *) impl;
    char dir[PATH_MAX], sock[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    drv_fmt (sock, sizeof sock, "%s/api.sock", dir);
    bool managed = st.pid != 0;
    bool alive = managed && drv_proc_alive ((int) st.pid, st.starttime);
    if (alive || (!managed && st.wanted_up)) {
        /* Ask the guest first; an unreachable API is no reason to keep a
         * VM we are told to stop. */
        driver_error_t ignored;
        s_api (self, sock, name, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", NULL,
               &ignored);
        if (alive && !drv_proc_wait_gone ((int) st.pid, st.starttime, self->stop_timeout_ms, 20))
            kill ((pid_t) st.pid, SIGKILL);
    }
    st.pid = 0;
    st.starttime = 0;
    st.wanted_up = false;
    return drv_state_save (dir, &st, err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    s_fc_t *self = (s_fc_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, sizeof dir, err);
    if (rc)
        return rc;
    if ((rc = s_stop (impl, name, err)) != 0)
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
    s_fc_t *self = (s_fc_t *) impl;
    char dir[PATH_MAX], sock[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, sizeof dir, err);
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
    drv_fmt (sock, sizeof sock, "%s/api.sock", dir);
    http_reply_t r;
    driver_error_t api_err;
    if (s_api (self, sock, name, "GET", "/", NULL, &r, &api_err) != 0) {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "%s", api_err.message);
        return 0;
    }
    char state[32] = "";
    json_get_str (r.body, r.len, "state", state, sizeof state);
    http_reply_free (&r);
    if (strcmp (state, "Running") == 0)
        out->state = DRIVER_ST_RUNNING;
    else if (strcmp (state, "Not started") == 0)
        out->state = DRIVER_ST_STARTING;
    else {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "vm: %s", state[0] ? state : "unknown");
    }
    return 0;
}

static int
s_usage (void *impl, const char *name, driver_usage_t *usage, driver_error_t *err)
{
    s_fc_t *self = (s_fc_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, sizeof dir, err);
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
    s_fc_t *self = (s_fc_t *) impl;
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
driver_firecracker_new (const driver_firecracker_config_t *config, driver_error_t *err)
{
    assert (config);
    if (!config->data_dir || !*config->data_dir || strlen (config->data_dir) > 150) {
        driver_fail (err, DRIVER_ERR_INVALID,
                     "firecracker: data_dir is required (at most "
                     "150 bytes)");
        return NULL;
    }
    s_fc_t *self = (s_fc_t *) calloc (1, sizeof (s_fc_t));
    if (!self) {
        driver_fail (err, DRIVER_ERR_IO, "firecracker: out of memory");
        return NULL;
    }
    snprintf (self->data_dir, sizeof self->data_dir, "%s", config->data_dir);
    snprintf (self->bin, sizeof self->bin, "%s",
              config->firecracker_bin ? config->firecracker_bin : "");
    snprintf (self->kernel, sizeof self->kernel, "%s",
              config->kernel_image ? config->kernel_image : "");
    snprintf (self->boot_args, sizeof self->boot_args, "%s",
              config->boot_args ? config->boot_args : "console=ttyS0 reboot=k panic=1 pci=off");
    snprintf (self->bridge, sizeof self->bridge, "%s", config->bridge ? config->bridge : "");
    self->create_tap = config->create_tap;
    self->stop_timeout_ms = config->stop_timeout_ms > 0 ? config->stop_timeout_ms : 10000;
    self->api_timeout_ms = config->api_timeout_ms > 0 ? config->api_timeout_ms : 5000;
    if (self->bin[0] && access (self->bin, X_OK) != 0) {
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "firecracker: %s: %s", self->bin,
                     strerror (errno));
        free (self);
        return NULL;
    }
    http_global_init ();
    return driver_new (&s_ops, self);
}
