/*
 * netns.c - the netns driver (see netns.h): namespaces, veths, cgroups and
 * the shed's init process. Network calls live in netlink.c, cgroup files in
 * cgroup.c, rate limits in tc.c; this file is the lifecycle.
 */
#include "node/drivers/netns.h"
#include "node/drivers/cgroup.h"
#include "node/drivers/drv_state.h"
#include "node/drivers/netlink.h"
#include "node/drivers/shednet.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_COMP "netns"

typedef struct {
    char data_dir[DRIVER_PATH_MAX];
    char node[DRIVER_NAME_MAX + 1];
    char netns_dir[DRIVER_PATH_MAX];
    char bridge[DRIVER_IFNAME_MAX + 1];
    char agent_path[DRIVER_PATH_MAX];
    /* The cgroup hierarchy root, for the agent: see s_spawn. "" when too
     * long for the agent's flag (it then reports from /proc). */
    char cgroup_root[DRIVER_PATH_MAX];
    int stop_timeout_ms;
    uint32_t mtu;
    char agent_config[PATH_MAX]; /* "" = sheds get no agent.yaml from us */
    cgroup_t *cg;
} s_netns_t;

/* ---- names and paths ---------------------------------------------------- */

/* Paths are bounded where the config is accepted (data_dir and netns_dir
 * at most S_DIR_MAX bytes), so drv_fmt never truncates them. */
#define S_DIR_MAX 150

static void
s_netcfg (const s_netns_t *self, shednet_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->comp = S_COMP;
    cfg->node = self->node;
    cfg->netns_dir = self->netns_dir;
    cfg->bridge = self->bridge;
    cfg->mtu = self->mtu;
}

void
driver_netns_paths (const driver_netns_config_t *config, const char *name, char *netns_path,
                    size_t size, char veth[16])
{
    shednet_paths (config->netns_dir ? config->netns_dir : "/run/netns",
                   config->node_name ? config->node_name : "node", name, netns_path, size, veth);
}

static void
s_paths (s_netns_t *self, const char *name, char *dir, char *ns_path, char veth[16])
{
    if (dir)
        snprintf (dir, PATH_MAX, "%s/sheds/%s", self->data_dir, name);
    shednet_paths (self->netns_dir, self->node, name, ns_path, PATH_MAX, veth);
}

static int
s_ns_create (s_netns_t *self, const char *path, driver_error_t *err)
{
    shednet_config_t cfg;
    s_netcfg (self, &cfg);
    return shednet_ns_create (&cfg, path, err);
}

static int
s_net_setup (s_netns_t *self, const drv_state_t *st, const char *ns_path, driver_error_t *err)
{
    shednet_config_t cfg;
    s_netcfg (self, &cfg);
    return shednet_link_setup (&cfg, st, ns_path, err);
}

/* ---- cgroup ------------------------------------------------------------- */

static int
s_cgroup_setup (s_netns_t *self, const drv_state_t *st, driver_error_t *err)
{
    char why[DRIVER_MSG_MAX] = "";
    cgroup_limits_t lim;
    memset (&lim, 0, sizeof lim);
    lim.cpus_milli = (uint32_t) st->cpus_milli;
    lim.memory_bytes = st->memory_mb * 1024 * 1024;
    lim.pids_max = (uint32_t) st->pids_max;
    lim.io_read_bps = st->io_read_bps;
    lim.io_write_bps = st->io_write_bps;
    if ((lim.io_read_bps || lim.io_write_bps)
        && cgroup_block_device (self->data_dir, lim.io_device, sizeof lim.io_device) != 0)
        log_warn (S_COMP, "I/O limit not applied: data dir is not on a block device|shed=%s",
                  st->name);
    if (cgroup_create (self->cg, st->name, why, sizeof why) != 0
        || cgroup_apply (self->cg, st->name, &lim, why, sizeof why) != 0)
        return driver_fail (
            err, errno == EACCES || errno == EPERM ? DRIVER_ERR_PERMISSION : DRIVER_ERR_IO,
            "netns: %s: %s", st->name, why);
    return 0;
}

/* ---- the shed's init ---------------------------------------------------- */

static void
s_on_term (int sig)
{
    (void) sig;
    _exit (0);
}

/* PID 1 of the shed when there is no agent: reap orphans, leave on TERM.
 * Runs in a forked copy of the daemon: async-signal-safe calls only. */
static void
s_placeholder_init (void)
{
    prctl (PR_SET_NAME, "shed-init", 0, 0, 0);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    for (;;)
        if (waitpid (-1, NULL, 0) < 0 && errno == ECHILD)
            pause ();
}

static int
s_spawn (s_netns_t *self, drv_state_t *st, const char *dir, const char *ns_path,
         driver_error_t *err)
{
    char why[DRIVER_MSG_MAX] = "";
    /* Everything the children need is prepared before fork. */
    char log_path[PATH_MAX], sock[DRIVER_PATH_MAX];
    drv_fmt (log_path, sizeof log_path, "%s/console.log", dir);
    snprintf (sock, sizeof sock, "%s", st->agent_socket[0] ? st->agent_socket : "");
    if (!sock[0])
        drv_fmt (sock, sizeof sock, "%s/agent.sock", dir);
    const char *agent = st->agent_path[0] ? st->agent_path : self->agent_path;
    bool have_agent = agent[0] && access (agent, X_OK) == 0;
    /* shed-agent's own flags (agent/main.c): the shed name it believes it
     * has is informational; the host names the shed by the socket. The
     * shed shares the host's /proc, so the agent reads its own CPU, memory
     * and processes from its cgroup: it gets the hierarchy root we use and
     * finds its groups below it from /proc/self/cgroup (agent/
     * cgroup_metrics.h says why that beats passing each v1 controller's
     * directory). Only the agent gets these flags (argv is used for nothing
     * else), built here because the child may only exec after fork. */
    char connect[DRIVER_PATH_MAX + 8];
    snprintf (connect, sizeof connect, "unix:%s", sock);
    char *argv[] = { (char *) "shed-agent",
                     (char *) "--init",
                     (char *) "--shed",
                     st->name,
                     (char *) "--connect",
                     connect,
                     NULL,
                     NULL,
                     NULL,
                     NULL,
                     NULL };
    size_t argc = 6;
    if (have_agent && self->cgroup_root[0]) {
        argv[argc++] = (char *) "--cgroup-root";
        argv[argc++] = self->cgroup_root;
    }
    /* The shed's own agent.yaml (a copy of driver.agent_config made at
     * create, or one an operator put there): what it supervises, tails and
     * registers. The command line above still wins for the channel. */
    char agent_conf[PATH_MAX];
    drv_fmt (agent_conf, sizeof agent_conf, "%s/agent.yaml", dir);
    if (have_agent && access (agent_conf, R_OK) == 0) {
        argv[argc++] = (char *) "--config";
        argv[argc++] = agent_conf;
    }
    int ns_fd = open (ns_path, O_RDONLY | O_CLOEXEC);
    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2] = { -1, -1 }, go[2] = { -1, -1 };
    int rc = 0;
    if (ns_fd < 0 || log_fd < 0 || null_fd < 0 || pipe2 (report, O_CLOEXEC) != 0
        || pipe2 (go, O_CLOEXEC) != 0) {
        rc = driver_fail (err, DRIVER_ERR_IO, "netns: start %s: %s", st->name, strerror (errno));
        goto out;
    }
    pid_t mid = fork ();
    if (mid < 0) {
        rc = driver_fail (err, DRIVER_ERR_IO, "netns: start %s: fork: %s", st->name,
                          strerror (errno));
        goto out;
    }
    if (mid == 0) {
        /* Intermediate: new session (no controlling tty, not in the
         * daemon's process group), enter the netns, make a PID namespace
         * whose first child is the shed's init, report its pid, leave. */
        setsid ();
        if (setns (ns_fd, CLONE_NEWNET) != 0 || unshare (CLONE_NEWPID) != 0)
            _exit (1);
        pid_t init = fork ();
        if (init < 0)
            _exit (2);
        if (init == 0) {
            char c;
            close (report[0]);
            close (go[1]);
            /* Wait until the daemon moved us into the cgroup, so not one
             * instruction of the shed runs outside its limits. */
            if (read (go[0], &c, 1) != 1)
                _exit (3);
            dup2 (null_fd, 0);
            dup2 (log_fd, 1);
            dup2 (log_fd, 2);
            /* Drop every descriptor the daemon had (sockets, locks). */
            syscall (SYS_close_range, 3, ~0U, 0);
            sigset_t all;
            sigemptyset (&all);
            sigprocmask (SIG_SETMASK, &all, NULL);
            if (chdir (dir) != 0)
                _exit (4);
            if (have_agent)
                execv (agent, argv);
            s_placeholder_init ();
            _exit (0);
        }
        ssize_t n = write (report[1], &init, sizeof init);
        _exit (n == (ssize_t) sizeof init ? 0 : 5);
    }
    close (report[1]);
    report[1] = -1;
    close (go[0]);
    go[0] = -1;
    pid_t init = -1;
    ssize_t n = read (report[0], &init, sizeof init);
    int status = 0;
    while (waitpid (mid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t) sizeof init || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        rc = driver_fail (err, DRIVER_ERR_PERMISSION,
                          "netns: start %s: cannot enter the "
                          "namespace or create a PID namespace (need root)",
                          st->name);
        goto out;
    }
    if (cgroup_attach (self->cg, st->name, init, why, sizeof why) != 0) {
        kill (init, SIGKILL);
        rc = driver_fail (err, DRIVER_ERR_IO, "netns: start %s: %s", st->name, why);
        goto out;
    }
    if (write (go[1], "g", 1) != 1) {
        kill (init, SIGKILL);
        rc = driver_fail (err, DRIVER_ERR_IO, "netns: start %s: init vanished", st->name);
        goto out;
    }
    st->pid = (uint64_t) init;
    /* The start time pins the pid: a recycled pid is not our shed. */
    for (int i = 0; i < 100 && !(st->starttime = drv_proc_starttime (init)); i++)
        usleep (1000);
    log_info (S_COMP, "shed started|shed=%s pid=%d agent=%s%s", st->name, (int) init,
              have_agent ? "yes" : "placeholder",
              have_agent && argv[argc - 1] == agent_conf ? " config=agent.yaml" : "");
out:
    if (ns_fd >= 0)
        close (ns_fd);
    if (log_fd >= 0)
        close (log_fd);
    if (null_fd >= 0)
        close (null_fd);
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close (report[i]);
        if (go[i] >= 0)
            close (go[i]);
    }
    return rc;
}

/* ---- operations --------------------------------------------------------- */

/* Give a new shed its own agent.yaml: a copy of the node's agent_config
 * (copied, not linked, so a later edit of the node's file never changes a
 * running shed's behaviour at its next restart). A file already in the
 * shed's directory was put there for this shed and wins. */
static int
s_agent_config_copy (s_netns_t *self, const char *name, const char *dir, driver_error_t *err)
{
    if (!self->agent_config[0])
        return 0;
    char dst[PATH_MAX];
    drv_fmt (dst, sizeof dst, "%s/agent.yaml", dir);
    if (access (dst, F_OK) == 0)
        return 0;
    size_t len = 0;
    char *text = shed_read_file (self->agent_config, 1 << 20, &len);
    if (!text)
        return driver_fail (err, DRIVER_ERR_IO, "netns: %s: agent config %.150s: %s", name,
                            self->agent_config, strerror (errno));
    int rc = shed_write_file_atomic (dst, text, len, 0600);
    int saved = errno;
    free (text);
    if (rc != 0)
        return driver_fail (err, DRIVER_ERR_IO, "netns: %s: write %.150s: %s", name, dst,
                            strerror (saved));
    return 0;
}

static int
s_load (s_netns_t *self, const char *name, drv_state_t *st, char *dir, driver_error_t *err)
{
    s_paths (self, name, dir, NULL, NULL);
    return drv_state_open ("netns", dir, name, st, err);
}

static int
s_stop_procs (s_netns_t *self, drv_state_t *st)
{
    int pid = (int) st->pid;
    if (pid > 0 && drv_proc_alive (pid, st->starttime)) {
        kill (pid, SIGTERM);
        if (!drv_proc_wait_gone (pid, st->starttime, self->stop_timeout_ms, 10)) {
            log_warn (S_COMP, "init ignored SIGTERM, killing|shed=%s pid=%d", st->name, pid);
            kill (pid, SIGKILL);
        }
    }
    /* Anything left in the cgroup (PID 1's death kills its namespace, but
     * be sure), then wait for the group to empty. */
    for (int i = 0; i < 200; i++) {
        int n = cgroup_nprocs (self->cg, st->name);
        if (n <= 0)
            break;
        if (i % 20 == 0)
            cgroup_kill (self->cg, st->name);
        usleep (5000);
    }
    st->pid = 0;
    st->starttime = 0;
    return 0;
}

static void
s_teardown (s_netns_t *self, drv_state_t *st, const char *ns_path)
{
    char why[DRIVER_MSG_MAX] = "";
    s_stop_procs (self, st);
    shednet_config_t cfg;
    s_netcfg (self, &cfg);
    shednet_link_remove (&cfg, st); /* the veth and its anti-spoofing chain */
    shednet_ns_delete (ns_path);
    if (cgroup_remove (self->cg, st->name, why, sizeof why) != 0)
        log_warn (S_COMP, "%s", why);
}

static int
s_create (void *impl, const driver_spec_t *spec, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    char dir[PATH_MAX], ns_path[PATH_MAX], veth[16];
    s_paths (self, spec->name, dir, ns_path, veth);
    struct stat sb;
    char state_path[PATH_MAX + 8];
    snprintf (state_path, sizeof state_path, "%s/state", dir);
    if (stat (state_path, &sb) == 0)
        return driver_fail (err, DRIVER_ERR_EXISTS, "netns: shed %s already exists", spec->name);
    if (shed_mkdir_p (dir, 0700) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "netns: mkdir %s: %s", dir, strerror (errno));

    drv_state_t st;
    drv_state_from_spec (&st, "netns", spec);
    snprintf (st.veth, sizeof st.veth, "%s", veth);
    drv_fmt (st.netns, sizeof st.netns, "%s", ns_path);
    if (!st.agent_socket[0])
        drv_fmt (st.agent_socket, sizeof st.agent_socket, "%s/agent.sock", dir);

    /* A leftover namespace with this exact name (crash between steps) is
     * ours to replace. */
    if (shednet_ns_present (ns_path) || access (ns_path, F_OK) == 0)
        s_teardown (self, &st, ns_path);
    int rc = s_agent_config_copy (self, spec->name, dir, err);
    if (rc == 0)
        rc = s_ns_create (self, ns_path, err);
    if (rc == 0)
        rc = s_net_setup (self, &st, ns_path, err);
    if (rc == 0)
        rc = s_cgroup_setup (self, &st, err);
    if (rc == 0)
        rc = drv_state_save (dir, &st, err);
    if (rc != 0) {
        s_teardown (self, &st, ns_path);
        drv_remove_tree (dir);
        return rc;
    }
    log_info (S_COMP, "shed created|shed=%s netns=%s veth=%s ip=%s mtu=%u", st.name, ns_path,
              st.veth, st.ip, st.mtu ? (unsigned) st.mtu : (unsigned) self->mtu);
    return 0;
}

static int
s_start (void *impl, const char *name, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    if (st.pid && drv_proc_alive ((int) st.pid, st.starttime))
        return 0;
    /* After a host reboot the namespace and veth are gone: rebuild them
     * from the spec, same name, same address. */
    if (!shednet_ns_present (st.netns)) {
        shednet_ns_delete (st.netns);
        char why[DRIVER_MSG_MAX];
        nl_link_del (-1, st.veth, why, sizeof why);
        if ((rc = s_ns_create (self, st.netns, err)) != 0
            || (rc = s_net_setup (self, &st, st.netns, err)) != 0)
            return rc;
    }
    if ((rc = s_cgroup_setup (self, &st, err)) != 0)
        return rc;
    if ((rc = s_spawn (self, &st, dir, st.netns, err)) != 0)
        return rc;
    st.wanted_up = true;
    return drv_state_save (dir, &st, err);
}

static int
s_stop (void *impl, const char *name, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    s_stop_procs (self, &st);
    st.wanted_up = false;
    log_info (S_COMP, "shed stopped|shed=%s", name);
    return drv_state_save (dir, &st, err);
}

static int
s_remove (void *impl, const char *name, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    s_teardown (self, &st, st.netns);
    if (drv_remove_tree (dir) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "netns: remove %s: %s", dir, strerror (errno));
    log_info (S_COMP, "shed deleted|shed=%s", name);
    return 0;
}

static int
s_status (void *impl, const char *name, driver_status_t *out, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc == DRIVER_ERR_NOT_FOUND) {
        out->state = DRIVER_ST_ABSENT;
        return rc;
    }
    if (rc)
        return rc;
    snprintf (out->ip, sizeof out->ip, "%s", st.ip);
    bool alive = st.pid && drv_proc_alive ((int) st.pid, st.starttime);
    if (!shednet_ns_present (st.netns)) {
        out->state = DRIVER_ST_ERROR;
        snprintf (out->detail, sizeof out->detail, "network namespace %.200s missing", st.netns);
    }
    else if (alive) {
        out->state = DRIVER_ST_RUNNING;
        out->pid = (int) st.pid;
    }
    else {
        out->state = st.wanted_up ? DRIVER_ST_ERROR : DRIVER_ST_STOPPED;
        if (st.wanted_up)
            snprintf (out->detail, sizeof out->detail, "init process %d exited", (int) st.pid);
    }
    return 0;
}

static int
s_usage (void *impl, const char *name, driver_usage_t *usage, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    char dir[PATH_MAX];
    drv_state_t st;
    int rc = s_load (self, name, &st, dir, err);
    if (rc)
        return rc;
    cgroup_usage (self->cg, name, usage);
    uint64_t rx = 0, tx = 0;
    /* Host end counters, mirrored: what the host end receives, the shed sent. */
    if (nl_link_stats (-1, st.veth, &rx, &tx) == 0) {
        usage->net_rx_bytes = tx;
        usage->net_tx_bytes = rx;
    }
    return 0;
}

static int
s_list (void *impl, driver_list_fn *fn, void *arg, driver_error_t *err)
{
    s_netns_t *self = (s_netns_t *) impl;
    return drv_state_list (self->data_dir, S_COMP, fn, arg, err);
}

static void
s_destroy (void *impl)
{
    s_netns_t *self = (s_netns_t *) impl;
    if (self) {
        cgroup_destroy (&self->cg);
        free (self);
    }
}

static const driver_ops_t s_ops = {
    .name = "netns",
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
driver_netns_new (const driver_netns_config_t *config, driver_error_t *err)
{
    assert (config);
    if (!config->data_dir || !*config->data_dir) {
        driver_fail (err, DRIVER_ERR_INVALID, "netns: data_dir is required");
        return NULL;
    }
    if (strlen (config->data_dir) > S_DIR_MAX
        || (config->netns_dir && strlen (config->netns_dir) > S_DIR_MAX)
        || (config->node_name && strlen (config->node_name) > DRIVER_NAME_MAX)) {
        driver_fail (err, DRIVER_ERR_INVALID,
                     "netns: data_dir/netns_dir over %d bytes or "
                     "node name over %d",
                     S_DIR_MAX, DRIVER_NAME_MAX);
        return NULL;
    }
    s_netns_t *self = (s_netns_t *) calloc (1, sizeof (s_netns_t));
    if (!self) {
        driver_fail (err, DRIVER_ERR_IO, "netns: out of memory");
        return NULL;
    }
    snprintf (self->data_dir, sizeof self->data_dir, "%s", config->data_dir);
    snprintf (self->node, sizeof self->node, "%s", config->node_name ? config->node_name : "node");
    snprintf (self->netns_dir, sizeof self->netns_dir, "%s",
              config->netns_dir ? config->netns_dir : "/run/netns");
    snprintf (self->bridge, sizeof self->bridge, "%s", config->bridge ? config->bridge : "");
    snprintf (self->agent_path, sizeof self->agent_path, "%s",
              config->agent_path ? config->agent_path : DRIVER_AGENT_DEFAULT_PATH);
    /* The agent takes at most 255 bytes (AGENT_PATH_MAX) for its root. */
    const char *cg_root = config->cgroup_root ? config->cgroup_root : "/sys/fs/cgroup";
    if (strlen (cg_root) <= 255)
        snprintf (self->cgroup_root, sizeof self->cgroup_root, "%s", cg_root);
    else
        log_warn (S_COMP, "cgroup_root over 255 bytes: sheds' agents report host metrics");
    self->stop_timeout_ms = config->stop_timeout_ms > 0 ? config->stop_timeout_ms : 5000;
    self->mtu = config->mtu;
    if (config->agent_config && *config->agent_config) {
        if (strlen (config->agent_config) >= sizeof self->agent_config) {
            driver_fail (err, DRIVER_ERR_INVALID, "netns: agent_config path too long");
            free (self);
            return NULL;
        }
        snprintf (self->agent_config, sizeof self->agent_config, "%s", config->agent_config);
        /* Said now, not only at the first create that needs it. */
        if (access (self->agent_config, R_OK) != 0)
            log_warn (S_COMP, "agent config not readable: creates will fail|path=%s err=\"%s\"",
                      self->agent_config, strerror (errno));
    }
    char why[DRIVER_MSG_MAX] = "";
    self->cg =
        cgroup_new (config->cgroup_root, config->cgroup_parent ? config->cgroup_parent : "shed",
                    config->cgroup_version, why, sizeof why);
    if (!self->cg) {
        driver_fail (err, DRIVER_ERR_UNAVAILABLE, "netns: %s", why);
        free (self);
        return NULL;
    }
    return driver_new (&s_ops, self);
}
