/*
 * container.c - the container driver's lifecycle (see container.h). The
 * pieces live beside it: oci_spec.c (config.json), oci_seccomp.c (the
 * profile), oci_runtime.c (runc/crun commands), rootfs.c (disk and
 * overlay), shednet.c (namespace and veth), cgroup.c (usage counters).
 */
#include "node/drivers/container.h"
#include "node/drivers/cgroup.h"
#include "node/drivers/container_snap.h"
#include "node/drivers/drv_state.h"
#include "node/drivers/netlink.h"
#include "node/drivers/oci_runtime.h"
#include "node/drivers/oci_spec.h"
#include "node/drivers/rootfs.h"
#include "node/drivers/shednet.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP    "container"
#define S_IDS     65536u /* ids per shed: a whole 16-bit range */
#define S_DIR_MAX 150    /* data_dir, netns_dir: paths stay bounded */

typedef struct {
    char data_dir[DRIVER_PATH_MAX];
    char node[DRIVER_NAME_MAX + 1];
    char netns_dir[DRIVER_PATH_MAX];
    char bridge[DRIVER_IFNAME_MAX + 1];
    char agent_path[DRIVER_PATH_MAX];
    char agent_config[PATH_MAX];
    char mkfs_path[DRIVER_PATH_MAX];
    char default_image[DRIVER_PATH_MAX];
    char cgroup_parent[DRIVER_NAME_MAX + 1];
    uint64_t default_disk_mb;
    uint32_t id_base;
    uint32_t id_slots;
    int stop_timeout_ms;
    uint32_t mtu;
    driver_image_resolve_fn *image_resolve;
    void *image_arg;
    oci_runtime_t *runtime;
    cgroup_t *cg;
} s_ctr_t;

void
driver_container_id (const char *node, const char *name, char *buf, size_t size)
{
    shednet_ns_name (node, name, buf, size);
}

static void
s_dir (const s_ctr_t *self, const char *name, char *dir)
{
    drv_fmt (dir, PATH_MAX, "%s/sheds/%s", self->data_dir, name);
}

static void
s_netcfg (const s_ctr_t *self, shednet_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->comp = S_COMP;
    cfg->node = self->node;
    cfg->netns_dir = self->netns_dir;
    cfg->bridge = self->bridge;
    cfg->mtu = self->mtu;
    cfg->unprivileged_ports = true;
}

static void
s_rootfs_spec (const s_ctr_t *self, const drv_state_t *st, const char *dir, rootfs_spec_t *rs)
{
    memset (rs, 0, sizeof *rs);
    rs->dir = dir;
    rs->image_root = st->image_root;
    rs->id_base = (uint32_t) st->id_base;
    rs->id_count = S_IDS;
    rs->disk_bytes = (st->disk_mb ? st->disk_mb : self->default_disk_mb) * 1024 * 1024;
    rs->mkfs_path = self->mkfs_path;
}

/* ---- id ranges ---------------------------------------------------------- */

/* The lowest slot no shed of this node holds. Sheds are few and creates
 * are serialised by the driver's mutex, so a scan of the state files is
 * the whole allocator, and the state file is the record of the claim. */
static int
s_id_pick (s_ctr_t *self, uint32_t *base, driver_error_t *err)
{
    char path[PATH_MAX];
    drv_fmt (path, sizeof path, "%s/sheds", self->data_dir);
    uint8_t *used = calloc (self->id_slots, 1);
    if (!used)
        return driver_fail (err, DRIVER_ERR_IO, "container: out of memory");
    DIR *d = opendir (path);
    struct dirent *e;
    while (d && (e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char dir[PATH_MAX];
        drv_fmt (dir, sizeof dir, "%s/%s", path, e->d_name);
        drv_state_t st;
        if (drv_state_load (dir, &st, NULL) != 0 || st.id_base < self->id_base)
            continue;
        uint64_t slot = (st.id_base - self->id_base) / S_IDS;
        if (slot < self->id_slots)
            used[slot] = 1;
    }
    if (d)
        closedir (d);
    int rc = driver_fail (err, DRIVER_ERR_RESOURCE, "container: all %u uid ranges are in use",
                          self->id_slots);
    for (uint32_t slot = 0; slot < self->id_slots; slot++)
        if (!used[slot]) {
            *base = self->id_base + slot * S_IDS;
            rc = 0;
            break;
        }
    free (used);
    return rc;
}

/* ---- the shed's files --------------------------------------------------- */

/* The runtime sets a container up as the shed's root (its user namespace),
 * so that uid must be able to walk to the bundle: <data_dir>, sheds/ and
 * the shed's directory get search permission for all (0711: no listing).
 * Everything in them stays 0600/0700 root (keyring, identity, state), so
 * search grants nothing else; a shed never sees these paths once it runs
 * (its root is pivoted to rootfs/). */
static int
s_search_path (s_ctr_t *self, const char *dir, driver_error_t *err)
{
    char sheds[PATH_MAX], up[PATH_MAX];
    /* The data dir's ancestors are the operator's: say which one is in the
     * way rather than change it. */
    drv_fmt (up, sizeof up, "%s", self->data_dir);
    for (char *slash = strrchr (up, '/'); slash && slash != up; slash = strrchr (up, '/')) {
        *slash = '\0';
        struct stat sb;
        if (stat (up, &sb) == 0 && !(sb.st_mode & S_IXOTH))
            return driver_fail (err, DRIVER_ERR_PERMISSION,
                                "container: %s (mode %04o) is not "
                                "searchable by other users, but a shed's root (an unprivileged "
                                "uid) must reach its bundle below it: chmod o+x %s",
                                up, (unsigned) (sb.st_mode & 07777), up);
    }
    drv_fmt (sheds, sizeof sheds, "%s/sheds", self->data_dir);
    if (shed_mkdir_p (dir, 0711) != 0 || chmod (self->data_dir, 0711) != 0
        || chmod (sheds, 0711) != 0 || chmod (dir, 0711) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: mkdir %s: %s", dir, strerror (errno));
    return 0;
}

static int
s_write_owned (const char *path, const char *text, uint32_t id, driver_error_t *err)
{
    if (shed_write_file_atomic (path, text, strlen (text), 0644) != 0 || chown (path, id, id) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: write %s: %s", path, strerror (errno));
    return 0;
}

/* /etc/hosts, /etc/hostname, /etc/resolv.conf: what makes a shed look
 * like a machine. The resolver is the gateway, where the node answers
 * *.shed (docs/dns.md); owned by the shed's root, so it may edit them. */
static int
s_etc_files (const drv_state_t *st, const char *dir, driver_error_t *err)
{
    char etc[PATH_MAX], path[PATH_MAX], text[1024], addr[20];
    drv_fmt (etc, sizeof etc, "%s/etc", dir);
    if (mkdir (etc, 0755) != 0 && errno != EEXIST)
        return driver_fail (err, DRIVER_ERR_IO, "container: mkdir %s: %s", etc, strerror (errno));
    snprintf (addr, sizeof addr, "%s", st->ip);
    char *slash = strchr (addr, '/');
    if (slash)
        *slash = '\0';
    int n = snprintf (text, sizeof text, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n");
    if (addr[0])
        snprintf (text + n, sizeof text - (size_t) n, "%s\t%s.shed.shed %s\n", addr, st->name,
                  st->name);
    drv_fmt (path, sizeof path, "%s/hosts", etc);
    if (s_write_owned (path, text, (uint32_t) st->id_base, err))
        return err ? err->code : -1;
    snprintf (text, sizeof text, "%s\n", st->name);
    drv_fmt (path, sizeof path, "%s/hostname", etc);
    if (s_write_owned (path, text, (uint32_t) st->id_base, err))
        return err ? err->code : -1;
    if (st->gateway[0])
        snprintf (text, sizeof text, "nameserver %s\nsearch shed\noptions ndots:1\n", st->gateway);
    else
        /* No overlay: nothing a shed can reach answers DNS. */
        snprintf (text, sizeof text, "# no resolver: this shed has no overlay address\n");
    drv_fmt (path, sizeof path, "%s/resolv.conf", etc);
    if (s_write_owned (path, text, (uint32_t) st->id_base, err))
        return err ? err->code : -1;
    return 0;
}

/* DIR/chan: setgid and group-owned by the shed's root group, so the socket
 * the node binds there (mode 0660, agent_host.c) takes that group: the
 * shed's root can connect, nobody else's. Its agent.yaml goes beside it. */
static int
s_channel (s_ctr_t *self, const drv_state_t *st, const char *dir, driver_error_t *err)
{
    char chan[PATH_MAX];
    drv_fmt (chan, sizeof chan, "%s/chan", dir);
    if ((mkdir (chan, 0750) != 0 && errno != EEXIST) || chown (chan, 0, (gid_t) st->id_base) != 0
        || chmod (chan, 02750) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: channel dir %s: %s", chan,
                            strerror (errno));
    if (!self->agent_config[0])
        return 0;
    char dst[PATH_MAX];
    drv_fmt (dst, sizeof dst, "%s/agent.yaml", chan);
    if (access (dst, F_OK) == 0)
        return 0;
    size_t len = 0;
    char *text = shed_read_file (self->agent_config, 1 << 20, &len);
    if (!text)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: agent config %.150s: %s", st->name,
                            self->agent_config, strerror (errno));
    int rc = shed_write_file_atomic (dst, text, len, 0640);
    int saved = errno;
    free (text);
    if (rc != 0 || chown (dst, 0, (gid_t) st->id_base) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: write %.150s: %s", st->name, dst,
                            strerror (saved));
    return 0;
}

/* ---- the bundle --------------------------------------------------------- */

static int
s_bundle_write (s_ctr_t *self, const drv_state_t *st, const char *dir, driver_error_t *err)
{
    char rootfs[PATH_MAX], hosts[PATH_MAX], hostname[PATH_MAX], resolv[PATH_MAX], chan[PATH_MAX],
        cgpath[DRIVER_NAME_MAX * 2 + 4], yaml[PATH_MAX];
    drv_fmt (rootfs, sizeof rootfs, "%s/rootfs", dir);
    drv_fmt (hosts, sizeof hosts, "%s/etc/hosts", dir);
    drv_fmt (hostname, sizeof hostname, "%s/etc/hostname", dir);
    drv_fmt (resolv, sizeof resolv, "%s/etc/resolv.conf", dir);
    drv_fmt (chan, sizeof chan, "%s/chan", dir);
    drv_fmt (yaml, sizeof yaml, "%s/agent.yaml", chan);
    drv_fmt (cgpath, sizeof cgpath, "/%s/%s", self->cgroup_parent, st->name);
    const char *agent = st->agent_path[0] ? st->agent_path : self->agent_path;
    bool have_agent = agent[0] && access (agent, X_OK) == 0;
    /* PID 1: the agent (it reaps, supervises, reports; docs/agent.md),
     * reading its own cgroup through the cgroup namespace. Without one, a
     * shell loop keeps the shed up (images without /bin/sh need the agent). */
    const char *with_agent[] = { OCI_AGENT_BIN,
                                 "--init",
                                 "--container",
                                 "--shed",
                                 st->name,
                                 "--connect",
                                 "unix:" OCI_AGENT_SOCKET,
                                 "--cgroup-root",
                                 "/sys/fs/cgroup",
                                 NULL,
                                 NULL,
                                 NULL };
    if (access (yaml, R_OK) == 0) {
        with_agent[9] = "--config";
        with_agent[10] = OCI_AGENT_CONFIG;
    }
    const char *placeholder[] = { "/bin/sh", "-c",
                                  "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done",
                                  NULL };
    const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "HOME=/root", "TERM=xterm", "container=shed", NULL };
    int major = -1, minor = -1;
    char dev[24];
    if ((st->io_read_bps || st->io_write_bps)) {
        if (cgroup_block_device (self->data_dir, dev, sizeof dev) == 0
            && sscanf (dev, "%d:%d", &major, &minor) == 2)
            ;
        else
            log_warn (S_COMP, "I/O limit not applied: data dir is not on a block device|shed=%s",
                      st->name);
    }
    char ns_path[PATH_MAX];
    drv_fmt (ns_path, sizeof ns_path, "%s", st->netns);
    oci_spec_t spec = {
        .hostname = st->name,
        .rootfs = rootfs,
        .id_base = (uint32_t) st->id_base,
        .id_count = S_IDS,
        .netns_path = ns_path,
        .cgroups_path = cgpath,
        .cgroup_v2 = cgroup_version (self->cg) == 2,
        .args = have_agent ? with_agent : placeholder,
        .env = env,
        .hosts_file = hosts,
        .hostname_file = hostname,
        .resolv_file = resolv,
        .channel_dir = chan,
        .agent_bin = have_agent ? agent : NULL,
        .cpus_milli = (uint32_t) st->cpus_milli,
        .memory_bytes = st->memory_mb * 1024 * 1024,
        .pids_max = (uint32_t) st->pids_max,
        .io_read_bps = st->io_read_bps,
        .io_write_bps = st->io_write_bps,
        .io_major = major,
        .io_minor = minor,
    };
    char *json = oci_spec_json (&spec);
    if (!json)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: config.json: out of memory",
                            st->name);
    char path[PATH_MAX];
    drv_fmt (path, sizeof path, "%s/config.json", dir);
    int rc = shed_write_file_atomic (path, json, strlen (json), 0600);
    int saved = errno;
    free (json);
    if (rc != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: write %s: %s", path, strerror (saved));
    if (!have_agent)
        log_warn (S_COMP, "no agent binary: the shed runs a shell loop as PID 1|shed=%s path=%s",
                  st->name, agent);
    return 0;
}

/* ---- operations --------------------------------------------------------- */

static int
s_load (s_ctr_t *self, const char *name, drv_state_t *st, char *dir, driver_error_t *err)
{
    s_dir (self, name, dir);
    return drv_state_open ("container", dir, name, st, err);
}

static void
s_id (const s_ctr_t *self, const char *name, char *id, size_t size)
{
    driver_container_id (self->node, name, id, size);
}

/* Stop the container and forget it in the runtime: SIGTERM to PID 1 (the
 * agent stops what it supervises), SIGKILL to everything after the
 * timeout, then delete (which also removes its cgroup). */
static void
s_stop_container (s_ctr_t *self, drv_state_t *st)
{
    char id[160], why[DRIVER_MSG_MAX] = "";
    s_id (self, st->name, id, sizeof id);
    int pid = 0;
    oci_state_t os = oci_runtime_state (self->runtime, id, &pid);
    if (os == OCI_ST_RUNNING || os == OCI_ST_PAUSED || os == OCI_ST_CREATED) {
        /* Pin PID 1 by its start time now, so a recycled pid is never
         * waited for or taken for the shed. */
        uint64_t since = pid > 0 ? drv_proc_starttime (pid) : 0;
        if (os == OCI_ST_RUNNING)
            oci_runtime_kill (self->runtime, id, "TERM", false, why, sizeof why);
        if (since && !drv_proc_wait_gone (pid, since, self->stop_timeout_ms, 10)) {
            log_warn (S_COMP, "PID 1 ignored SIGTERM, killing|shed=%s pid=%d", st->name, pid);
            oci_runtime_kill (self->runtime, id, "KILL", true, why, sizeof why);
        }
    }
    if (os != OCI_ST_ABSENT && oci_runtime_delete (self->runtime, id, why, sizeof why) != 0)
        log_warn (S_COMP, "%s", why);
    st->pid = 0;
    st->starttime = 0;
}

static int
s_teardown (s_ctr_t *self, drv_state_t *st, const char *dir, driver_error_t *err)
{
    char why[DRIVER_MSG_MAX] = "";
    s_stop_container (self, st);
    shednet_config_t net;
    s_netcfg (self, &net);
    shednet_link_remove (&net, st); /* the veth and its anti-spoofing chain */
    if (st->netns[0])
        shednet_ns_delete (st->netns);
    /* Never remove a tree that still has the shed's disk mounted in it. */
    if (rootfs_umount (dir, why, sizeof why) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: %s", st->name, why);
    return 0;
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX], state_path[PATH_MAX + 8], why[DRIVER_MSG_MAX] = "";
    s_dir (self, spec->name, dir);
    snprintf (state_path, sizeof state_path, "%s/state", dir);
    if (access (state_path, F_OK) == 0)
        return driver_fail (err, DRIVER_ERR_EXISTS, "container: shed %s already exists",
                            spec->name);
    /* A directory without its state file is what a create cut short by a
     * crash left (the state is saved last, so nothing ever ran from it):
     * it goes before this create makes its own. */
    if (access (dir, F_OK) == 0) {
        rootfs_umount (dir, why, sizeof why);
        if (drv_remove_tree (dir) != 0)
            return driver_fail (err, DRIVER_ERR_IO,
                                "container: %s: cannot clear what an interrupted create left: %s",
                                spec->name, strerror (errno));
        log_warn (S_COMP, "cleared what an interrupted create left|shed=%s", spec->name);
        why[0] = '\0';
    }
    drv_state_t st;
    drv_state_from_spec (&st, "container", spec);
    const char *ref = spec->image[0] ? spec->image : self->default_image;
    if (!ref[0])
        return driver_fail (err, DRIVER_ERR_INVALID,
                            "container: %s: no image (create --image "
                            "NAME, see shedctl image list, or set driver.default_image)",
                            spec->name);
    char root[DRIVER_PATH_MAX];
    if (self->image_resolve (self->image_arg, ref, st.image_digest, root, sizeof root, why,
                             sizeof why)
        != 0)
        return driver_fail (err, DRIVER_ERR_NOT_FOUND, "container: %s: image %s: %s", spec->name,
                            ref, why);
    snprintf (st.image_root, sizeof st.image_root, "%s", root);
    snprintf (st.image, sizeof st.image, "%s", ref);
    uint32_t base = 0;
    int rc = s_id_pick (self, &base, err);
    if (rc)
        return rc;
    st.id_base = base;
    if ((rc = s_search_path (self, dir, err)) != 0)
        return rc;
    shednet_paths (self->netns_dir, self->node, spec->name, st.netns, sizeof st.netns, st.veth);
    drv_fmt (st.agent_socket, sizeof st.agent_socket, "%s/chan/agent.sock", dir);
    /* A leftover namespace with this exact name (crash between steps) is
     * ours to replace. */
    if (shednet_ns_present (st.netns) || access (st.netns, F_OK) == 0) {
        nl_link_del (-1, st.veth, why, sizeof why);
        shednet_ns_delete (st.netns);
    }
    shednet_config_t net;
    s_netcfg (self, &net);
    rootfs_spec_t rs;
    s_rootfs_spec (self, &st, dir, &rs);
    if ((rc = s_channel (self, &st, dir, err)) == 0 && (rc = s_etc_files (&st, dir, err)) == 0) {
        if (rootfs_disk_create (&rs, why, sizeof why) != 0)
            rc = driver_fail (err, DRIVER_ERR_IO, "container: %s: disk: %s", spec->name, why);
    }
    /* From a snapshot: its layer on the new disk before the first start. */
    if (rc == 0 && spec->layer[0])
        rc = ctr_snap_restore (&rs, spec->name, spec->layer, err);
    if (rc == 0)
        rc = shednet_ns_create (&net, st.netns, err);
    if (rc == 0)
        rc = shednet_link_setup (&net, &st, st.netns, err);
    if (rc == 0)
        rc = drv_state_save (dir, &st, err);
    if (rc != 0) {
        s_teardown (self, &st, dir, NULL);
        drv_remove_tree (dir);
        return rc;
    }
    log_info (S_COMP,
              "shed created|shed=%s image=%s digest=%.12s ids=%u+65536 disk_mb=%llu "
              "netns=%s ip=%s",
              st.name, st.image, st.image_digest, base, (unsigned long long) (rs.disk_bytes >> 20),
              st.netns, st.ip);
    return 0;
}

static int
s_start (void *impl, const char *name, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX], id[160], why[DRIVER_MSG_MAX] = "";
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    s_id (self, name, id, sizeof id);
    int pid = 0;
    oci_state_t os = oci_runtime_state (self->runtime, id, &pid);
    if (os == OCI_ST_RUNNING)
        return 0;
    /* After a host reboot the namespace and veth are gone: rebuild them
     * from the state, same name, same address. */
    shednet_config_t net;
    s_netcfg (self, &net);
    if (!shednet_ns_present (st.netns)) {
        shednet_ns_delete (st.netns);
        nl_link_del (-1, st.veth, why, sizeof why);
        if ((rc = shednet_ns_create (&net, st.netns, err)) != 0
            || (rc = shednet_link_setup (&net, &st, st.netns, err)) != 0)
            return rc;
    }
    /* The image may have been removed and re-imported elsewhere; the
     * digest is what this shed was made from. */
    if (access (st.image_root, F_OK) != 0)
        return driver_fail (err, DRIVER_ERR_NOT_FOUND,
                            "container: %s: image %s (%.12s) is "
                            "gone from this node",
                            name, st.image, st.image_digest);
    rootfs_spec_t rs;
    s_rootfs_spec (self, &st, dir, &rs);
    if (rootfs_mount (&rs, why, sizeof why) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: %s", name, why);
    if ((rc = s_bundle_write (self, &st, dir, err)) != 0)
        return rc;
    if (os != OCI_ST_ABSENT)
        oci_runtime_delete (self->runtime, id, why, sizeof why); /* a stopped leftover */
    char log_path[PATH_MAX];
    drv_fmt (log_path, sizeof log_path, "%s/console.log", dir);
    int console = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (console < 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: open %s: %s", log_path,
                            strerror (errno));
    rc = oci_runtime_run (self->runtime, id, dir, console, &pid, why, sizeof why);
    close (console);
    if (rc != 0)
        return driver_fail (err, DRIVER_ERR_BACKEND, "container: start %s: %s", name, why);
    st.pid = (uint64_t) pid;
    st.starttime = drv_proc_starttime (pid);
    st.wanted_up = true;
    log_info (S_COMP, "shed started|shed=%s pid=%d runtime=%s", name, pid,
              oci_runtime_bin (self->runtime));
    return drv_state_save (dir, &st, err);
}

static int
s_stop (void *impl, const char *name, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    s_stop_container (self, &st);
    st.wanted_up = false;
    log_info (S_COMP, "shed stopped|shed=%s", name);
    return drv_state_save (dir, &st, err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    if ((rc = s_teardown (self, &st, dir, err)) != 0)
        return rc;
    if (drv_remove_tree (dir) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: remove %s: %s", dir, strerror (errno));
    log_info (S_COMP, "shed deleted|shed=%s", name);
    return 0;
}

static int
s_status (void *impl, const char *name, driver_status_t *out, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX], id[160];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc == DRIVER_ERR_NOT_FOUND) {
        out->state = DRIVER_ST_ABSENT;
        return rc;
    }
    if (rc)
        return rc;
    snprintf (out->ip, sizeof out->ip, "%s", st.ip);
    s_id (self, name, id, sizeof id);
    int pid = 0;
    oci_state_t os = oci_runtime_state (self->runtime, id, &pid);
    if (!shednet_ns_present (st.netns)) {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "network namespace %.200s missing", st.netns);
    }
    else if (os == OCI_ST_RUNNING) {
        out->state = DRIVER_ST_RUNNING;
        out->pid = pid;
    }
    else if (os == OCI_ST_UNKNOWN) {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "%s state %s failed",
                  oci_runtime_bin (self->runtime), id);
    }
    else {
        out->state = st.wanted_up ? DRIVER_ST_ERROR : DRIVER_ST_STOPPED;
        if (st.wanted_up)
            snprintf (out->detail, sizeof out->detail, "container %s",
                      os == OCI_ST_ABSENT   ? "is gone from the runtime"
                      : os == OCI_ST_PAUSED ? "is paused"
                                            : "exited");
    }
    return 0;
}

static int
s_usage (void *impl, const char *name, driver_usage_t *usage, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    /* The runtime made the group where cgroup.c looks: <parent>/NAME. */
    cgroup_usage (self->cg, name, usage);
    uint64_t rx = 0, tx = 0;
    if (nl_link_stats (-1, st.veth, &rx, &tx) == 0) {
        usage->net_rx_bytes = tx; /* host end, mirrored */
        usage->net_tx_bytes = rx;
    }
    rootfs_disk_usage (dir, &usage->disk_used_bytes, &usage->disk_total_bytes);
    return 0;
}

/* LIVE: frozen while the layer is written (ctr_snap_live). STOP: stopped
 * (PID 1 told to end, as by a stop), written, started again if it ran; the
 * recorded wish (wanted_up) is left as it was. */
static int
s_snapshot (void *impl, const char *name, const char *path, driver_snap_mode_t mode,
            uint64_t *bytes, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    char dir[PATH_MAX], id[160], why[DRIVER_MSG_MAX] = "";
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    s_id (self, name, id, sizeof id);
    int pid = 0;
    oci_state_t os = oci_runtime_state (self->runtime, id, &pid);
    if (os == OCI_ST_UNKNOWN)
        return driver_fail (err, DRIVER_ERR_BACKEND, "container: snapshot %s: %s state failed",
                            name, oci_runtime_bin (self->runtime));
    rootfs_spec_t rs;
    s_rootfs_spec (self, &st, dir, &rs);
    if (rootfs_mount (&rs, why, sizeof why) != 0) /* a stopped shed after a reboot */
        return driver_fail (err, DRIVER_ERR_IO, "container: snapshot %s: %s", name, why);
    if (mode == DRIVER_SNAP_LIVE)
        return ctr_snap_live (self->runtime, id, os == OCI_ST_RUNNING, name, dir,
                              (uint32_t) st.id_base, path, bytes, err);
    bool was_up = os == OCI_ST_RUNNING || os == OCI_ST_PAUSED;
    if (was_up)
        s_stop_container (self, &st);
    rc = ctr_snap_write (name, dir, (uint32_t) st.id_base, path, bytes, err);
    if (was_up) {
        driver_error_t start_err = { 0 };
        int src = s_start (impl, name, &start_err);
        if (src != 0 && rc == 0) {
            unlink (path); /* the call failed: it leaves no file */
            return driver_fail (err, src,
                                "container: snapshot %s: written, but the restart "
                                "failed: %s",
                                name, start_err.message);
        }
    }
    return rc;
}

static int
s_list (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    return drv_state_list (self->data_dir, S_COMP, fn, arg, err);
}

static void
s_destroy (void *impl)
{
    s_ctr_t *self = (s_ctr_t *) impl;
    if (self) {
        oci_runtime_destroy (&self->runtime);
        cgroup_destroy (&self->cg);
        free (self);
    }
}

static const driver_ops_t s_ops = {
    .name = "container",
    .agent_socket_name = "chan/agent.sock",
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

int
driver_container_available (const char *runtime, char *why, size_t why_size)
{
    bool v1 = access ("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0;
    const char *bin = runtime && *runtime ? runtime : oci_runtime_find (v1);
    if (!bin || access (bin, X_OK) != 0) {
        snprintf (why, why_size, "no OCI runtime (runc%s) installed", v1 ? "" : " or crun");
        return -1;
    }
    /* Debian's default; some hardened kernels turn user namespaces off. */
    char *text = shed_read_file ("/proc/sys/user/max_user_namespaces", 64, NULL);
    bool off = text && atol (text) == 0;
    free (text);
    if (off) {
        snprintf (why, why_size, "user namespaces are disabled (user.max_user_namespaces=0)");
        return -1;
    }
    return 0;
}

driver_t *
driver_container_new (const driver_container_config_t *config, driver_error_t *err)
{
    assert (config);
    if (!config->data_dir || !*config->data_dir || !config->image_resolve) {
        driver_fail (err, DRIVER_ERR_INVALID,
                     "container: data_dir and an image resolver are "
                     "required");
        return NULL;
    }
    if (strlen (config->data_dir) > S_DIR_MAX
        || (config->netns_dir && strlen (config->netns_dir) > S_DIR_MAX)
        || (config->node_name && strlen (config->node_name) > DRIVER_NAME_MAX)
        || (config->agent_config && strlen (config->agent_config) >= PATH_MAX)) {
        driver_fail (err, DRIVER_ERR_INVALID,
                     "container: data_dir/netns_dir over %d bytes, "
                     "node name over %d, or agent_config too long",
                     S_DIR_MAX, DRIVER_NAME_MAX);
        return NULL;
    }
    s_ctr_t *self = calloc (1, sizeof *self);
    if (!self) {
        driver_fail (err, DRIVER_ERR_IO, "container: out of memory");
        return NULL;
    }
#define S_SET(field, value, dflt)                                                                  \
    snprintf (self->field, sizeof self->field, "%s", (value) && *(value) ? (value) : (dflt))
    S_SET (data_dir, config->data_dir, "");
    S_SET (node, config->node_name, "node");
    S_SET (netns_dir, config->netns_dir, "/run/netns");
    S_SET (bridge, config->bridge, "");
    S_SET (agent_path, config->agent_path, DRIVER_AGENT_DEFAULT_PATH);
    S_SET (agent_config, config->agent_config, "");
    S_SET (mkfs_path, config->mkfs_path,
           access ("/usr/sbin/mkfs.ext4", X_OK) == 0 ? "/usr/sbin/mkfs.ext4" : "/sbin/mkfs.ext4");
    S_SET (default_image, config->default_image, "");
    S_SET (cgroup_parent, config->cgroup_parent, "shed");
#undef S_SET
    self->default_disk_mb = config->default_disk_mb ? config->default_disk_mb : 10240;
    self->id_base = config->id_base ? config->id_base : 0x70000000u;
    self->id_slots = config->id_slots ? config->id_slots : 4096;
    if ((uint64_t) self->id_base + (uint64_t) self->id_slots * S_IDS > 0xFFFFFFFFull) {
        free (self);
        driver_fail (err, DRIVER_ERR_INVALID,
                     "container: id_base + id_slots * 65536 passes "
                     "the last uid");
        return NULL;
    }
    self->stop_timeout_ms = config->stop_timeout_ms > 0 ? config->stop_timeout_ms : 5000;
    self->mtu = config->mtu;
    self->image_resolve = config->image_resolve;
    self->image_arg = config->image_arg;
    char why[DRIVER_MSG_MAX] = "";
    self->cg = cgroup_new (config->cgroup_root, self->cgroup_parent, 0, why, sizeof why);
    if (!self->cg) {
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "container: %s", why);
        free (self);
        return NULL;
    }
    const char *bin = config->runtime && *config->runtime
                          ? config->runtime
                          : oci_runtime_find (cgroup_version (self->cg) == 1);
    const char *state_root =
        config->runtime_root && *config->runtime_root ? config->runtime_root : "/run/shed-runc";
    self->runtime = oci_runtime_new (bin, state_root, why, sizeof why);
    if (!self->runtime) {
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "container: %s", why);
        cgroup_destroy (&self->cg);
        free (self);
        return NULL;
    }
    return driver_new (&s_ops, self);
}
