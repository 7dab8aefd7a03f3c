/*
 * shednet.c - a shed's network namespace and veth (see shednet.h). Netlink
 * calls live in netlink.c, rate limits in tc.c.
 */
#include "node/drivers/shednet.h"
#include "node/drivers/netlink.h"
#include "node/drivers/tc.h"
#include "node/overlay/nftables.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

uint64_t
shednet_hash (const char *text)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *text; text++)
        h = (h ^ (uint8_t) *text) * 0x100000001b3ULL;
    return h;
}

void
shednet_ns_name (const char *node, const char *name, char *buf, size_t size)
{
    snprintf (buf, size, "shed-%s-%s", node, name);
}

void
shednet_veth_name (const char *ns_name, char veth[16])
{
    snprintf (veth, 16, "sv%010llx",
              (unsigned long long) (shednet_hash (ns_name) & 0xffffffffffULL));
}

void
shednet_paths (const char *netns_dir, const char *node, const char *name, char *ns_path,
               size_t size, char veth[16])
{
    char ns[160];
    shednet_ns_name (node, name, ns, sizeof ns);
    if (ns_path)
        snprintf (ns_path, size, "%s/%s", netns_dir, ns);
    if (veth)
        shednet_veth_name (ns, veth);
}

/* Like iproute2: the netns dir is a shared mount so that namespace mounts
 * made here propagate to other mount namespaces (and back). */
static int
s_ns_dir_prepare (const shednet_config_t *cfg, driver_error_t *err)
{
    if (shed_mkdir_p (cfg->netns_dir, 0755) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "%s: mkdir %s: %s", cfg->comp, cfg->netns_dir,
                            strerror (errno));
    if (mount ("", cfg->netns_dir, "none", MS_SHARED | MS_REC, NULL) == 0)
        return 0;
    if (errno != EINVAL)
        return driver_fail (err, errno == EPERM ? DRIVER_ERR_PERMISSION : DRIVER_ERR_IO,
                            "%s: make %s shared: %s", cfg->comp, cfg->netns_dir, strerror (errno));
    /* Not a mount point yet: bind it onto itself, then share it. */
    if (mount (cfg->netns_dir, cfg->netns_dir, "none", MS_BIND | MS_REC, NULL) != 0
        || mount ("", cfg->netns_dir, "none", MS_SHARED | MS_REC, NULL) != 0)
        return driver_fail (err, errno == EPERM ? DRIVER_ERR_PERMISSION : DRIVER_ERR_IO,
                            "%s: mount %s: %s", cfg->comp, cfg->netns_dir, strerror (errno));
    return 0;
}

bool
shednet_ns_present (const char *path)
{
    struct statfs sf;
    return statfs (path, &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

int
shednet_ns_create (const shednet_config_t *cfg, const char *path, driver_error_t *err)
{
    int rc = s_ns_dir_prepare (cfg, err);
    if (rc)
        return rc;
    int fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0)
        return driver_fail (err, errno == EEXIST ? DRIVER_ERR_EXISTS : DRIVER_ERR_IO,
                            "%s: create %s: %s", cfg->comp, path, strerror (errno));
    close (fd);
    /* A child makes the namespace and pins it with a bind mount, so this
     * (threaded) process never changes its own namespaces. */
    pid_t pid = fork ();
    if (pid < 0) {
        unlink (path);
        return driver_fail (err, DRIVER_ERR_IO, "%s: fork: %s", cfg->comp, strerror (errno));
    }
    if (pid == 0) {
        if (unshare (CLONE_NEWNET) != 0)
            _exit (1);
        if (mount ("/proc/self/ns/net", path, "none", MS_BIND, NULL) != 0)
            _exit (2);
        _exit (0);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        unlink (path);
        return driver_fail (err, DRIVER_ERR_PERMISSION, "%s: %s %s failed (need root)", cfg->comp,
                            WEXITSTATUS (status) == 1 ? "unshare for" : "bind mount of", path);
    }
    return 0;
}

void
shednet_ns_delete (const char *path)
{
    umount2 (path, MNT_DETACH);
    unlink (path);
}

/* Namespaced sysctls are written from a child inside the namespace: the
 * files under /proc/sys/net belong to the opener's network namespace. */
static int
s_sysctls (int ns_fd)
{
    static const char *const keys[] = {
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        "/proc/sys/net/ipv4/ping_group_range",
    };
    static const char *const values[] = { "0\n", "0 2147483647\n" };
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (setns (ns_fd, CLONE_NEWNET) != 0)
            _exit (1);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            int fd = open (keys[i], O_WRONLY | O_CLOEXEC);
            if (fd < 0)
                _exit (2);
            ssize_t n = write (fd, values[i], strlen (values[i]));
            close (fd);
            if (n < 0)
                _exit (3);
        }
        _exit (0);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

int
shednet_link_setup (const shednet_config_t *cfg, const drv_state_t *st, const char *ns_path,
                    driver_error_t *err)
{
    char why[DRIVER_MSG_MAX] = "";
    int ns_fd = open (ns_path, O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0)
        return driver_fail (err, DRIVER_ERR_IO, "%s: open %s: %s", cfg->comp, ns_path,
                            strerror (errno));
    const char *bridge = st->bridge[0]                   ? st->bridge
                         : cfg->bridge && cfg->bridge[0] ? cfg->bridge
                                                         : NULL;
    char mac[18];
    if (st->mac[0])
        snprintf (mac, sizeof mac, "%s", st->mac);
    else {
        /* Locally administered, derived from the namespace name: stable
         * across restarts, so neighbours' ARP caches stay right. */
        uint64_t h = shednet_hash (ns_path);
        snprintf (mac, sizeof mac, "02:%02x:%02x:%02x:%02x:%02x", (unsigned) (h >> 32) & 0xff,
                  (unsigned) (h >> 24) & 0xff, (unsigned) (h >> 16) & 0xff,
                  (unsigned) (h >> 8) & 0xff, (unsigned) h & 0xff);
    }
    /* Both ends get the overlay's MTU (the spec's, kept in the state file
     * so a rebuild after a reboot gets it too): a shed that believed in
     * 1500 would send frames the bridge and the tunnel drop. */
    uint32_t mtu = st->mtu ? (uint32_t) st->mtu : cfg->mtu;
    /* The rules match the port by name, so they go in before the veth
     * exists: no frame of the shed ever crosses the bridge unchecked. */
    if (shed_nft_antispoof_add (cfg->node ? cfg->node : "node", st->veth, mac, st->ip, why,
                                sizeof why)
        != 0) {
        close (ns_fd);
        return driver_fail (err, DRIVER_ERR_IO, "%s: %s: %s", cfg->comp, st->name, why);
    }
    int rc = 0;
    if (nl_veth_create (st->veth, "eth0", ns_fd, why, sizeof why) != 0
        || nl_link_set (-1, st->veth, bridge, NULL, mtu, true, why, sizeof why) != 0
        || nl_link_set (ns_fd, "lo", NULL, NULL, 0, true, why, sizeof why) != 0
        || nl_link_set (ns_fd, "eth0", NULL, mac, mtu, true, why, sizeof why) != 0
        || (st->ip[0] && nl_addr_add (ns_fd, "eth0", st->ip, why, sizeof why) != 0)
        || (st->gateway[0] && nl_route_default (ns_fd, "eth0", st->gateway, why, sizeof why) != 0))
        rc = driver_fail (err, DRIVER_ERR_IO, "%s: %s: %s", cfg->comp, st->name, why);
    if (rc == 0 && st->net_kbit
        && (tc_rate_limit (-1, st->veth, st->net_kbit, why, sizeof why) != 0
            || tc_rate_limit (ns_fd, "eth0", st->net_kbit, why, sizeof why) != 0))
        rc = driver_fail (err, DRIVER_ERR_IO, "%s: %s: %s", cfg->comp, st->name, why);
    if (rc == 0 && cfg->unprivileged_ports && s_sysctls (ns_fd) != 0)
        rc = driver_fail (err, DRIVER_ERR_IO, "%s: %s: cannot set the namespace's sysctls",
                          cfg->comp, st->name);
    close (ns_fd);
    return rc;
}

void
shednet_link_remove (const shednet_config_t *cfg, const drv_state_t *st)
{
    char why[DRIVER_MSG_MAX] = "";
    if (!st->veth[0])
        return;
    nl_link_del (-1, st->veth, why, sizeof why);
    if (shed_nft_antispoof_del (cfg->node ? cfg->node : "node", st->veth, why, sizeof why) != 0)
        log_warn (cfg->comp, "%s: %s", st->name, why);
}
