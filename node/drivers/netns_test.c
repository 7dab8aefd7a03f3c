/*
 * netns_test.c - the netns driver against the real kernel (needs root).
 *
 *     test process: private network + mount namespace (vanish on exit)
 *
 *        sbrNNNNN (bridge, 198.19.0.1/16)
 *          |                     |
 *       svXXXXXXXXXX          svYYYYYYYYYY        host ends of the veths
 *          |                     |
 *     [ns shed-tN-web-a]    [ns shed-tN-web-b]    eth0 198.19.0.10 / .11
 *      PID ns, init           PID ns, init
 *
 * Checks: both sheds reach each other over the bridge (UDP echo, from
 * sockets opened inside each namespace), cgroup limits are in the real
 * cgroup files, tc limits the veth, stop/start, a new driver instance
 * re-adopts running sheds from their state files, delete removes the
 * namespace, veth, cgroups and files. Names carry the test's pid; the
 * cgroups (global) are removed on exit even when a check fails.
 * Without root, every test is skipped with a message.
 */
#include "node/drivers/netns.h"
#include "node/drivers/cgroup.h"
#include "node/drivers/drv_state.h"
#include "node/drivers/netlink.h"
#include "node/drivers/tc.h"
#include "common/fileutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

static char s_tmp[128];
static char s_data[160];
static char s_nsdir[160];
static char s_bridge[16];
static char s_node[16];
static char s_cgparent[64];
static bool s_ready;
static const char *s_skip_why = "needs root";

static driver_netns_config_t
s_config (void)
{
    driver_netns_config_t c;
    memset (&c, 0, sizeof c);
    c.data_dir = s_data;
    c.node_name = s_node;
    c.netns_dir = s_nsdir;
    c.cgroup_parent = s_cgparent;
    c.bridge = s_bridge;
    c.agent_path = "/nonexistent/shed-agent"; /* placeholder init */
    c.stop_timeout_ms = 2000;
    return c;
}

static int
s_group_setup (void **state)
{
    if (geteuid () != 0) {
        fprintf (stderr, "netns_test: SKIPPED: needs root (network namespaces, cgroups)\n");
        return 0;
    }
    if (unshare (CLONE_NEWNET | CLONE_NEWNS) != 0
        || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        s_skip_why = "cannot create namespaces here";
        fprintf (stderr, "netns_test: SKIPPED: unshare: %s\n", strerror (errno));
        return 0;
    }
    int pid = (int) getpid ();
    snprintf (s_tmp, sizeof s_tmp, "/tmp/shed-netns-test-%d", pid);
    snprintf (s_data, sizeof s_data, "%s/data", s_tmp);
    snprintf (s_nsdir, sizeof s_nsdir, "%s/netns", s_tmp);
    snprintf (s_bridge, sizeof s_bridge, "sbr%d", pid % 100000);
    snprintf (s_node, sizeof s_node, "t%d", pid);
    snprintf (s_cgparent, sizeof s_cgparent, "shed-test-%d", pid);
    mkdir (s_tmp, 0700);
    char why[256] = "";
    if (nl_bridge_create (-1, s_bridge, why, sizeof why) != 0
        || nl_link_set (-1, s_bridge, NULL, NULL, 0, true, why, sizeof why) != 0
        || nl_addr_add (-1, s_bridge, "198.19.0.1/16", why, sizeof why) != 0
        || nl_link_set (-1, "lo", NULL, NULL, 0, true, why, sizeof why) != 0) {
        fprintf (stderr, "netns_test: SKIPPED: bridge: %s\n", why);
        s_skip_why = "no bridge support";
        return 0;
    }
    s_ready = true;
    return 0;
}

static int
s_group_teardown (void **state)
{
    if (!s_ready)
        return 0;
    /* Whatever a failed check left behind. */
    driver_netns_config_t c = s_config ();
    driver_t *d = driver_netns_new (&c, NULL);
    const char *names[] = { "web-a", "web-b", "web-c" };
    for (size_t i = 0; d && i < 3; i++)
        driver_remove (d, names[i], NULL);
    driver_destroy (&d);
    const char *ctrls[] = { "cpu", "cpuacct", "memory", "blkio", "pids", "" };
    for (size_t i = 0; i < sizeof ctrls / sizeof ctrls[0]; i++) {
        char path[256];
        snprintf (path, sizeof path, "/sys/fs/cgroup/%s%s%s", ctrls[i], *ctrls[i] ? "/" : "",
                  s_cgparent);
        rmdir (path);
    }
    umount2 (s_nsdir, MNT_DETACH); /* the driver made it a shared mount */
    drv_remove_tree (s_tmp);
    return 0;
}

#define S_NEED_ROOT()                                                                              \
    do {                                                                                           \
        if (!s_ready) {                                                                            \
            fprintf (stderr, "netns_test: skipped: %s\n", s_skip_why);                             \
            skip ();                                                                               \
        }                                                                                          \
    } while (0)

static driver_spec_t
s_spec (const char *name, const char *ip)
{
    driver_spec_t s;
    memset (&s, 0, sizeof s);
    snprintf (s.name, sizeof s.name, "%s", name);
    snprintf (s.ip, sizeof s.ip, "%s", ip);
    snprintf (s.gateway, sizeof s.gateway, "198.19.0.1");
    s.cpus_milli = 1500;
    s.memory_mb = 256;
    s.pids_max = 64;
    return s;
}

/* A UDP socket bound inside the namespace at ns_path. */
static int
s_udp_in (const char *ns_path, const char *ip, int port)
{
    int home = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int ns = open (ns_path, O_RDONLY | O_CLOEXEC);
    assert_true (home >= 0 && ns >= 0);
    assert_int_equal (setns (ns, CLONE_NEWNET), 0);
    int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, ip, &a.sin_addr);
    int rc = bind (fd, (struct sockaddr *) &a, sizeof a);
    assert_int_equal (setns (home, CLONE_NEWNET), 0);
    close (home);
    close (ns);
    assert_int_equal (rc, 0);
    struct timeval tv = { .tv_sec = 1 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* from -> to and back, over the bridge. */
static bool
s_echo (int from, int to, const char *to_ip, int to_port, const char *from_ip, int from_port)
{
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) to_port) };
    inet_pton (AF_INET, to_ip, &dst.sin_addr);
    struct sockaddr_in back = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) from_port) };
    inet_pton (AF_INET, from_ip, &back.sin_addr);
    char buf[64];
    for (int attempt = 0; attempt < 3; attempt++) {
        sendto (from, "ping", 4, 0, (struct sockaddr *) &dst, sizeof dst);
        ssize_t n = recv (to, buf, sizeof buf, 0);
        if (n != 4 || memcmp (buf, "ping", 4) != 0)
            continue;
        sendto (to, "pong", 4, 0, (struct sockaddr *) &back, sizeof back);
        n = recv (from, buf, sizeof buf, 0);
        if (n == 4 && memcmp (buf, "pong", 4) == 0)
            return true;
    }
    return false;
}

static void
s_expect_file (const char *path, const char *want)
{
    char got[128] = "";
    FILE *f = fopen (path, "r");
    if (!f)
        fail_msg ("missing %s", path);
    if (!fgets (got, sizeof got, f))
        got[0] = '\0';
    fclose (f);
    got[strcspn (got, "\n")] = '\0';
    if (strcmp (got, want) != 0)
        fail_msg ("%s: got '%s', want '%s'", path, got, want);
}

/* A link's MTU as `ip -o link` shows it, in our namespace or (ns_path not
 * NULL) in a shed's; 0 if it cannot be read. */
static unsigned
s_link_mtu (const char *ns_path, const char *dev)
{
    char cmd[512];
    if (ns_path)
        snprintf (cmd, sizeof cmd, "nsenter --net=%s ip -o link show dev %s", ns_path, dev);
    else
        snprintf (cmd, sizeof cmd, "ip -o link show dev %s", dev);
    FILE *p = popen (cmd, "r");
    if (!p)
        return 0;
    char line[1024] = "";
    if (!fgets (line, sizeof line, p))
        line[0] = '\0';
    pclose (p);
    const char *m = strstr (line, " mtu ");
    return m ? (unsigned) strtoul (m + 5, NULL, 10) : 0;
}

static void
s_write_text (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

typedef struct {
    int count;
    bool a, b;
} s_seen_t;

static void
s_on_list (void *arg, const char *name)
{
    s_seen_t *seen = (s_seen_t *) arg;
    seen->count++;
    seen->a |= strcmp (name, "web-a") == 0;
    seen->b |= strcmp (name, "web-b") == 0;
}

static void
test_lifecycle (void **state)
{
    S_NEED_ROOT ();
    driver_netns_config_t cfg = s_config ();
    /* The node's agent config: every new shed gets its own copy. */
    char agent_yaml[256];
    snprintf (agent_yaml, sizeof agent_yaml, "%s/agent.yaml", s_tmp);
    s_write_text (agent_yaml, "processes:\n  - {name: x, cmd: \"exit 3\"}\n");
    cfg.agent_config = agent_yaml;
    driver_error_t err = { 0, "" };
    driver_t *d = driver_netns_new (&cfg, &err);
    if (!d)
        fail_msg ("%s", err.message);
    assert_string_equal (driver_name (d), "netns");

    driver_spec_t a = s_spec ("web-a", "198.19.0.10/16");
    a.net_kbit = 10000;
    a.mtu = 1402; /* the overlay's, encrypted mode */
    driver_spec_t b = s_spec ("web-b", "198.19.0.11/16");
    /* web-b's own agent.yaml, put there before the create: it wins. */
    char path_b[512];
    snprintf (path_b, sizeof path_b, "%s/sheds/web-b", s_data);
    char mk[600];
    snprintf (mk, sizeof mk, "mkdir -p %s", path_b);
    assert_int_equal (system (mk), 0);
    strncat (path_b, "/agent.yaml", sizeof path_b - strlen (path_b) - 1);
    s_write_text (path_b, "# web-b's own\n");
    if (driver_create (d, &a, &err) != 0)
        fail_msg ("%s", err.message);
    if (driver_create (d, &b, &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (driver_create (d, &a, &err), DRIVER_ERR_EXISTS);
    assert_non_null (strstr (err.message, "web-a already exists"));

    driver_status_t st;
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);

    assert_int_equal (driver_start (d, "web-a", &err), 0);
    if (driver_start (d, "web-b", &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (driver_start (d, "web-a", &err), 0); /* idempotent */
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_true (st.pid > 0);
    int pid_a = st.pid;

    /* Connectivity over the bridge. */
    char ns_a[256], ns_b[256], veth_a[16], veth_b[16];
    driver_netns_paths (&cfg, "web-a", ns_a, sizeof ns_a, veth_a);
    driver_netns_paths (&cfg, "web-b", ns_b, sizeof ns_b, veth_b);
    int sa = s_udp_in (ns_a, "198.19.0.10", 7001);
    int sb = s_udp_in (ns_b, "198.19.0.11", 7002);
    assert_true (s_echo (sa, sb, "198.19.0.11", 7002, "198.19.0.10", 7001));
    close (sa);
    close (sb);

    /* The spec's MTU on both ends of web-a's link; web-b (none) keeps
     * the kernel's. */
    assert_int_equal (s_link_mtu (NULL, veth_a), 1402);
    assert_int_equal (s_link_mtu (ns_a, "eth0"), 1402);
    assert_int_equal (s_link_mtu (ns_b, "eth0"), 1500);

    /* Agent config: web-a got a copy of the node's file, web-b kept its own. */
    char copy[512], *text;
    snprintf (copy, sizeof copy, "%s/sheds/web-a/agent.yaml", s_data);
    text = shed_read_file (copy, 4096, NULL);
    assert_non_null (text);
    assert_non_null (strstr (text, "exit 3"));
    free (text);
    text = shed_read_file (path_b, 4096, NULL);
    assert_non_null (text);
    assert_string_equal (text, "# web-b's own\n");
    free (text);

    /* Limits in the real cgroup files (v1 here, v2 elsewhere). */
    char why[256];
    cgroup_t *cg = cgroup_new (NULL, s_cgparent, 0, why, sizeof why);
    assert_non_null (cg);
    char path[512];
    if (cgroup_version (cg) == 2) {
        cgroup_path (cg, "web-a", NULL, "memory.max", path, sizeof path);
        s_expect_file (path, "268435456");
        cgroup_path (cg, "web-a", NULL, "cpu.max", path, sizeof path);
        s_expect_file (path, "150000 100000");
    }
    else {
        cgroup_path (cg, "web-a", "memory", "memory.limit_in_bytes", path, sizeof path);
        s_expect_file (path, "268435456");
        cgroup_path (cg, "web-a", "cpu", "cpu.cfs_quota_us", path, sizeof path);
        s_expect_file (path, "150000");
    }
    cgroup_path (cg, "web-a", "pids", "pids.max", path, sizeof path);
    s_expect_file (path, "64");
    assert_int_equal (cgroup_nprocs (cg, "web-a"), 1); /* the init */

    /* tbf on the host end of web-a's link, as the kernel reports it. */
    tc_root_t tq;
    assert_int_equal (tc_root_get (-1, veth_a, &tq, why, sizeof why), 0);
    assert_string_equal (tq.kind, "tbf");
    assert_int_equal (tq.rate_bps, 10000 * 125);

    driver_usage_t u;
    assert_int_equal (driver_usage (d, "web-a", &u, &err), 0);
    assert_true (u.pids >= 1);
    assert_true (u.net_tx_bytes > 0);
    assert_int_equal (u.memory_limit, 268435456);

    /* Stop: init gone, cgroup empty, namespace kept. */
    assert_int_equal (driver_stop (d, "web-a", &err), 0);
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);
    assert_false (drv_proc_alive (pid_a, 0));
    assert_int_equal (cgroup_nprocs (cg, "web-a"), 0);
    assert_int_equal (driver_stop (d, "web-a", &err), 0); /* idempotent */
    assert_int_equal (driver_start (d, "web-a", &err), 0);
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_int_not_equal (st.pid, pid_a);
    pid_a = st.pid;

    /* After a host reboot (namespace and veth gone) start rebuilds the
     * link from the state file: the MTU included. */
    assert_int_equal (driver_stop (d, "web-a", &err), 0);
    umount2 (ns_a, MNT_DETACH);
    unlink (ns_a);
    char why2[256];
    nl_link_del (-1, veth_a, why2, sizeof why2);
    if (driver_start (d, "web-a", &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (s_link_mtu (NULL, veth_a), 1402);
    assert_int_equal (s_link_mtu (ns_a, "eth0"), 1402);
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    pid_a = st.pid;

    /* A node agent config that cannot be read fails the create, naming it. */
    {
        driver_netns_config_t bad_cfg = cfg;
        bad_cfg.agent_config = "/nonexistent/agent.yaml";
        driver_t *d2 = driver_netns_new (&bad_cfg, &err);
        assert_non_null (d2);
        driver_spec_t c = s_spec ("web-c", "198.19.0.12/16");
        assert_int_equal (driver_create (d2, &c, &err), DRIVER_ERR_IO);
        assert_non_null (strstr (err.message, "/nonexistent/agent.yaml"));
        snprintf (copy, sizeof copy, "%s/sheds/web-c", s_data);
        assert_int_equal (access (copy, F_OK), -1);
        driver_destroy (&d2);
    }

    /* A "restarted daemon": a new driver finds both sheds, running. */
    driver_destroy (&d);
    d = driver_netns_new (&cfg, &err);
    assert_non_null (d);
    s_seen_t seen = { 0, false, false };
    assert_int_equal (driver_list (d, s_on_list, &seen, &err), 0);
    assert_int_equal (seen.count, 2);
    assert_true (seen.a && seen.b);
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_int_equal (st.pid, pid_a);

    /* The init dies behind our back: status says so. */
    kill (pid_a, SIGKILL);
    for (int i = 0; i < 100 && drv_proc_alive (pid_a, 0); i++)
        usleep (10000);
    assert_int_equal (driver_status (d, "web-a", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_ERROR);
    assert_non_null (strstr (st.detail, "exited"));

    /* Delete removes everything. */
    assert_int_equal (driver_remove (d, "web-a", &err), 0);
    assert_int_equal (driver_remove (d, "web-b", &err), 0);
    assert_int_equal (driver_status (d, "web-a", &st, &err), DRIVER_ERR_NOT_FOUND);
    assert_int_equal (st.state, DRIVER_ST_ABSENT);
    assert_int_equal (driver_remove (d, "web-a", &err), DRIVER_ERR_NOT_FOUND);
    assert_int_equal (access (ns_a, F_OK), -1);
    assert_int_equal (access (ns_b, F_OK), -1);
    assert_int_equal (nl_ifindex (-1, veth_a), 0);
    assert_int_equal (nl_ifindex (-1, veth_b), 0);
    cgroup_path (cg, "web-a", "memory", NULL, path, sizeof path);
    assert_int_equal (access (path, F_OK), -1);
    snprintf (path, sizeof path, "%s/sheds/web-a", s_data);
    assert_int_equal (access (path, F_OK), -1);

    /* Bad input never reaches the kernel. */
    assert_int_equal (driver_start (d, "../etc", &err), DRIVER_ERR_INVALID);
    driver_spec_t bad = s_spec ("bad", "300.1.1.1/16");
    assert_int_equal (driver_create (d, &bad, &err), DRIVER_ERR_INVALID);
    assert_non_null (strstr (err.message, "bad ip"));

    cgroup_destroy (&cg);
    driver_destroy (&d);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lifecycle),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
