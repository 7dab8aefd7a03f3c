/*
 * container_test.c - the container driver with the real runtime (runc),
 * kernel, loop devices and overlayfs (needs root, runc, busybox-static).
 *
 * The test builds a busybox root directory (the "image"), then drives one
 * shed through create, start, status, stop, start, remove, and checks from
 * inside (a probe script run as the shed's PID 1) what a shed can and cannot do: its processes are an
 * unprivileged uid range on the host, it sees its own hostname, processes
 * and root (not the node's data dir), writes past --disk fail with ENOSPC,
 * mount and unshare are refused, and remove leaves nothing mounted; and a
 * shed's snapshot (LIVE and STOP) restored into a second shed.
 * Runs in a private network + mount namespace; names carry the pid.
 * Without root, runc or busybox, every test is skipped with a message.
 */
#include "node/drivers/container.h"
#include "node/drivers/rootfs.h"
#include "common/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static char s_tmp[128];
static char s_data[160];
static char s_image[200];
static char s_nsdir[160];
static char s_rtroot[160];
static char s_node[16];
static char s_cgparent[64];
static const char *s_skip_why = NULL;
static const char *s_runc;

#define S_BASE 0x71000000u

static int
s_resolve (void *arg, const char *ref, char digest[65], char *root, size_t size, char *why,
           size_t why_size)
{
    (void) arg;
    if (strcmp (ref, "busybox") != 0) {
        snprintf (why, why_size, "no image %s", ref);
        return -1;
    }
    memset (digest, 'a', 64);
    digest[64] = '\0';
    snprintf (root, size, "%s", s_image);
    return 0;
}

static driver_container_config_t
s_config (void)
{
    driver_container_config_t c;
    memset (&c, 0, sizeof c);
    c.data_dir = s_data;
    c.node_name = s_node;
    c.netns_dir = s_nsdir;
    c.cgroup_parent = s_cgparent;
    static char probe[256];
    snprintf (probe, sizeof probe, "%s/probe.sh", s_tmp);
    c.agent_path = probe; /* s_probe_write */
    c.runtime = s_runc;
    c.runtime_root = s_rtroot;
    c.id_base = S_BASE;
    c.id_slots = 16;
    c.stop_timeout_ms = 2000;
    c.image_resolve = s_resolve;
    return c;
}

static int
s_sh (const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd, sizeof cmd, fmt, ap);
    va_end (ap);
    int rc = system (cmd);
    return WIFEXITED (rc) ? WEXITSTATUS (rc) : -1;
}

/* What the probe (the shed's PID 1 in this test, see s_probe_write) wrote
 * to /results inside shed NAME, read through the host's view of its root;
 * waits for its last line. */
static char *
s_results (const char *name)
{
    char path[512];
    snprintf (path, sizeof path, "%s/sheds/%s/rootfs/results", s_data, name);
    for (int i = 0; i < 500; i++) {
        char *text = shed_read_file (path, 65536, NULL);
        if (text && strstr (text, "PROBE-DONE"))
            return text;
        free (text);
        usleep (10000);
    }
    return shed_read_file (path, 65536, NULL);
}

/* The test's "agent": a script bound in at /run/shed-agent and run as PID 1
 * by the runtime, with everything a shed's processes get (user namespace,
 * capabilities, seccomp, no new privileges). It tries what a hostile shed
 * would and writes what happened to /results, then idles like an init. */
static int
s_probe_write (void)
{
    char path[256], script[2048];
    snprintf (path, sizeof path, "%s/probe.sh", s_tmp);
    snprintf (script, sizeof script,
              "#!/bin/sh\n"
              "{ echo uid=$(id -u) host=$(hostname); cat /etc/resolv.conf;\n"
              "  echo procs=$(ls -d /proc/[0-9]* | wc -l);\n"
              "  echo motd=$(cat /etc/motd 2>/dev/null);\n"
              "  ls %s >/dev/null 2>&1 && echo DATA-VISIBLE;\n"
              "  cat /etc/shadow >/dev/null 2>&1 && echo SHADOW-READ;\n"
              "  mount -t tmpfs x /mnt 2>/dev/null && echo MOUNT-OK;\n"
              "  unshare -U -r id 2>/dev/null && echo UNSHARE-OK;\n"
              "  echo changed > /etc/motd && echo motd-written;\n"
              "  dd if=/dev/zero of=/fill bs=1M count=100 2>&1 | grep -o 'No space left';\n"
              "  rm -f /fill; echo PROBE-DONE; } > /results 2>&1\n"
              "trap 'exit 0' TERM INT\n"
              "while :; do sleep 3600 & wait; done\n",
              s_data);
    return shed_write_file_atomic (path, script, strlen (script), 0755);
}

static int
s_group_setup (void **state)
{
    (void) state;
    if (geteuid () != 0)
        s_skip_why = "needs root";
    else if (!(s_runc = access ("/usr/sbin/runc", X_OK) == 0  ? "/usr/sbin/runc"
                        : access ("/usr/bin/runc", X_OK) == 0 ? "/usr/bin/runc"
                                                              : NULL))
        s_skip_why = "needs runc (apt-get install runc)";
    else if (access ("/bin/busybox", X_OK) != 0)
        s_skip_why = "needs busybox-static";
    else if (unshare (CLONE_NEWNET | CLONE_NEWNS) != 0
             || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        s_skip_why = "cannot create namespaces here";
    if (s_skip_why) {
        fprintf (stderr, "container_test: SKIPPED: %s\n", s_skip_why);
        return 0;
    }
    int pid = (int) getpid ();
    snprintf (s_tmp, sizeof s_tmp, "/tmp/ctrtest-%d", pid);
    snprintf (s_data, sizeof s_data, "%s/data", s_tmp);
    snprintf (s_image, sizeof s_image, "%s/image", s_tmp);
    snprintf (s_nsdir, sizeof s_nsdir, "%s/netns", s_tmp);
    snprintf (s_rtroot, sizeof s_rtroot, "/run/shed-runc-test-%d", pid);
    snprintf (s_node, sizeof s_node, "c%d", pid);
    snprintf (s_cgparent, sizeof s_cgparent, "shed-ctest-%d", pid);
    /* A busybox root, owned by root as an imported image is. */
    if (s_sh ("set -e; mkdir -p %s/bin %s/etc %s/proc %s/sys %s/dev %s/tmp %s/root %s/run; "
              "cp /bin/busybox %s/bin/; for a in sh ls cat id ps sleep dd mount unshare "
              "hostname stat; do ln -s busybox %s/bin/$a; done; "
              "echo 'root:x:0:0:root:/root:/bin/sh' > %s/etc/passwd; mkdir -p %s",
              s_image, s_image, s_image, s_image, s_image, s_image, s_image, s_image, s_image,
              s_image, s_image, s_data)
        != 0) {
        s_skip_why = "cannot build the busybox root";
        fprintf (stderr, "container_test: SKIPPED: %s\n", s_skip_why);
    }
    else if (s_probe_write () != 0)
        s_skip_why = "cannot write the probe";
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    if (s_tmp[0]) {
        /* Containers a failed check left running (they hold the disks). */
        s_sh ("for c in $(%s --root %s list -q 2>/dev/null); do %s --root %s delete -f $c; "
              "done >/dev/null 2>&1",
              s_runc, s_rtroot, s_runc, s_rtroot);
        s_sh ("for f in %s/netns/* %s/netns; do umount -l $f; done >/dev/null 2>&1", s_tmp, s_tmp);
        s_sh ("umount -R %s/data/sheds/*/rootfs %s/data/sheds/*/lower %s/data/sheds/*/disk "
              ">/dev/null 2>&1; rm -rf %s %s",
              s_tmp, s_tmp, s_tmp, s_tmp, s_rtroot);
        s_sh ("for c in /sys/fs/cgroup/*/%s /sys/fs/cgroup/%s; do [ -d $c ] && "
              "find $c -depth -type d -exec rmdir {} + ; done >/dev/null 2>&1",
              s_cgparent, s_cgparent);
    }
    return 0;
}

#define S_SKIP_IF_NEEDED()                                                                         \
    do {                                                                                           \
        if (s_skip_why) {                                                                          \
            skip ();                                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static driver_spec_t
s_spec (const char *name)
{
    driver_spec_t spec;
    memset (&spec, 0, sizeof spec);
    snprintf (spec.name, sizeof spec.name, "%s", name);
    snprintf (spec.image, sizeof spec.image, "busybox");
    snprintf (spec.ip, sizeof spec.ip, "198.19.250.10/24");
    snprintf (spec.gateway, sizeof spec.gateway, "198.19.250.1");
    spec.disk_mb = 64;
    spec.memory_mb = 128;
    spec.pids_max = 64;
    return spec;
}

static void
test_lifecycle_and_isolation (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    driver_error_t err = { 0 };
    driver_container_config_t cfg = s_config ();
    driver_t *d = driver_container_new (&cfg, &err);
    assert_non_null (d);
    assert_string_equal (driver_agent_socket_name (d), "chan/agent.sock");

    driver_spec_t spec = s_spec ("web");
    int rc = driver_create (d, &spec, &err);
    if (rc)
        fprintf (stderr, "create: %s\n", err.message);
    assert_int_equal (rc, 0);
    assert_int_equal (driver_create (d, &spec, &err), DRIVER_ERR_EXISTS);
    rc = driver_start (d, "web", &err);
    if (rc)
        fprintf (stderr, "start: %s\n", err.message);
    assert_int_equal (rc, 0);

    driver_status_t st = { 0 };
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_true (st.pid > 0);

    /* On the host, PID 1 of the shed is the first uid of its range. */
    char path[512];
    snprintf (path, sizeof path, "/proc/%d/status", st.pid);
    char *status = shed_read_file (path, 65536, NULL);
    assert_non_null (status);
    char want[64];
    snprintf (want, sizeof want, "Uid:\t%u\t%u\t%u\t%u", S_BASE, S_BASE, S_BASE, S_BASE);
    assert_non_null (strstr (status, want));
    free (status);

    /* Inside: root, its own hostname and resolver, its own processes;
     * not the node's data dir, not the host's files, no mount, no user
     * namespace of its own; the image is its root's to change; past
     * --disk: ENOSPC. */
    char *res = s_results ("web");
    assert_non_null (res);
    fprintf (stderr, "shed web's probe:\n%s", res);
    assert_non_null (strstr (res, "uid=0 host=web\n"));
    assert_non_null (strstr (res, "nameserver 198.19.250.1"));
    assert_non_null (strstr (res, "search shed"));
    char *procs = strstr (res, "procs=");
    assert_non_null (procs);
    assert_true (atoi (procs + 6) <= 8);
    assert_null (strstr (res, "DATA-VISIBLE"));
    assert_null (strstr (res, "SHADOW-READ"));
    assert_null (strstr (res, "MOUNT-OK"));
    assert_null (strstr (res, "UNSHARE-OK"));
    assert_non_null (strstr (res, "motd=\n"));
    assert_non_null (strstr (res, "motd-written"));
    assert_non_null (strstr (res, "No space left"));
    assert_non_null (strstr (res, "PROBE-DONE"));
    free (res);

    driver_usage_t use = { 0 };
    assert_int_equal (driver_usage (d, "web", &use, &err), 0);
    assert_true (use.disk_total_bytes > 0 && use.disk_total_bytes <= 64ull << 20);
    assert_true (use.disk_used_bytes < 32ull << 20); /* the probe removed /fill */

    /* A second driver (a restarted node) finds it running. */
    driver_t *again = driver_container_new (&cfg, &err);
    assert_non_null (again);
    memset (&st, 0, sizeof st);
    assert_int_equal (driver_status (again, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    driver_destroy (&again);

    assert_int_equal (driver_stop (d, "web", &err), 0);
    assert_int_equal (driver_status (d, "web", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_STOPPED);
    /* Its writes survive a stop and start. */
    char results[512];
    snprintf (results, sizeof results, "%s/sheds/web/rootfs/results", s_data);
    unlink (results);
    assert_int_equal (driver_start (d, "web", &err), 0);
    res = s_results ("web");
    assert_non_null (res);
    assert_non_null (strstr (res, "motd=changed"));
    free (res);

    char dir[256];
    snprintf (dir, sizeof dir, "%s/sheds/web", s_data);
    assert_int_equal (driver_remove (d, "web", &err), 0);
    assert_int_equal (access (dir, F_OK), -1);
    snprintf (path, sizeof path, "%s/rootfs", dir);
    assert_false (rootfs_is_mountpoint (path));
    driver_destroy (&d);
}

static void
test_second_shed_gets_its_own_range (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    driver_error_t err = { 0 };
    driver_container_config_t cfg = s_config ();
    driver_t *d = driver_container_new (&cfg, &err);
    assert_non_null (d);
    driver_spec_t a = s_spec ("one"), b = s_spec ("two");
    snprintf (b.ip, sizeof b.ip, "198.19.250.11/24");
    assert_int_equal (driver_create (d, &a, &err), 0);
    assert_int_equal (driver_create (d, &b, &err), 0);
    assert_int_equal (driver_start (d, "two", &err), 0);
    driver_status_t st = { 0 };
    assert_int_equal (driver_status (d, "two", &st, &err), 0);
    char path[512], want[64];
    snprintf (path, sizeof path, "/proc/%d/status", st.pid);
    char *status = shed_read_file (path, 65536, NULL);
    assert_non_null (status);
    snprintf (want, sizeof want, "Uid:\t%u\t", S_BASE + 65536);
    assert_non_null (strstr (status, want));
    free (status);
    /* No image, unknown image: one clear line, nothing left behind. */
    driver_spec_t bad = s_spec ("bad");
    snprintf (bad.image, sizeof bad.image, "nosuch");
    assert_int_equal (driver_create (d, &bad, &err), DRIVER_ERR_NOT_FOUND);
    assert_non_null (strstr (err.message, "image nosuch"));
    assert_int_equal (driver_remove (d, "one", &err), 0);
    assert_int_equal (driver_remove (d, "two", &err), 0);
    driver_destroy (&d);
}

/* A missing runtime fails the driver with one line; a runtime that fails
 * fails the start with one line naming it, and the create is undone by the
 * caller's remove. */
static void
test_runtime_missing_or_failing (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    driver_error_t err = { 0 };
    driver_container_config_t cfg = s_config ();
    cfg.runtime = "/nonexistent/runc";
    assert_null (driver_container_new (&cfg, &err));
    assert_int_equal (err.code, DRIVER_ERR_UNAVAILABLE);
    assert_non_null (strstr (err.message, "/nonexistent/runc not found"));
    assert_null (strchr (err.message, '\n'));

    cfg.runtime = "/bin/false";
    driver_t *d = driver_container_new (&cfg, &err);
    assert_non_null (d);
    driver_spec_t spec = s_spec ("broken");
    assert_int_equal (driver_create (d, &spec, &err), 0);
    assert_int_equal (driver_start (d, "broken", &err), DRIVER_ERR_BACKEND);
    assert_non_null (strstr (err.message, "start broken: /bin/false run exited 1"));
    assert_null (strchr (err.message, '\n'));
    driver_status_t st = { 0 };
    assert_int_equal (driver_status (d, "broken", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_ERROR);
    assert_int_equal (driver_remove (d, "broken", &err), 0);
    driver_destroy (&d);
}

/* Run `cmd` with /bin/sh -c inside shed NAME as its root: nsenter into
 * the user, mount, UTS, IPC and PID namespaces of its PID 1 (runc exec
 * cannot: it joins the node-made network namespace after the user one).
 * Its stdout into out (may be NULL). The exit status. */
static int
s_exec_in (driver_t *d, const char *name, const char *cmd, char *out, size_t size)
{
    driver_status_t st = { 0 };
    driver_error_t err = { 0 };
    if (driver_status (d, name, &st, &err) != 0 || st.pid <= 0)
        return -1;
    char line[4096];
    snprintf (line, sizeof line, "nsenter -t %d -U -m -u -i -p -r -w /bin/sh -c '%s' 2>&1", st.pid,
              cmd);
    FILE *p = popen (line, "r");
    if (!p)
        return -1;
    size_t n = out ? fread (out, 1, size - 1, p) : 0;
    if (out)
        out[n] = '\0';
    else
        while (fgets (line, sizeof line, p))
            ;
    int rc = pclose (p);
    return WIFEXITED (rc) ? WEXITSTATUS (rc) : -1;
}

static uint32_t
s_pid1_uid (driver_t *d, const char *name)
{
    driver_status_t st = { 0 };
    driver_error_t err = { 0 };
    assert_int_equal (driver_status (d, name, &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/status", st.pid);
    char *status = shed_read_file (path, 65536, NULL);
    assert_non_null (status);
    char *uid = strstr (status, "Uid:\t");
    assert_non_null (uid);
    uint32_t v = (uint32_t) strtoul (uid + 5, NULL, 10);
    free (status);
    return v;
}

static double
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1000 + (double) ts.tv_nsec / 1e6;
}

/* A shed's writes, snapshotted LIVE, come back in a second shed made from
 * the file: old content, owned by the second shed's own root, a deleted
 * image file still deleted (whiteout), a replaced image dir still hiding
 * the image's content (opaque). The first shed runs on (thawed). STOP mode
 * leaves a running shed running; a full disk is "disk full" with nothing
 * left; a refused or missing layer fails the create and leaves nothing. */
static void
test_snapshot_and_restore (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    /* image content the shed will delete and replace */
    assert_int_equal (s_sh ("set -e; echo doomed > %s/etc/doomed; mkdir -p %s/opt; "
                            "echo old > %s/opt/old; for a in ln rm mkdir chown sync readlink "
                            "true test; do ln -sf busybox %s/bin/$a; done",
                            s_image, s_image, s_image, s_image),
                      0);
    driver_error_t err = { 0 };
    driver_container_config_t cfg = s_config ();
    driver_t *d = driver_container_new (&cfg, &err);
    assert_non_null (d);
    driver_spec_t a = s_spec ("snapa");
    snprintf (a.ip, sizeof a.ip, "198.19.250.20/24");
    assert_int_equal (driver_create (d, &a, &err), 0);
    assert_int_equal (driver_start (d, "snapa", &err), 0);
    free (s_results ("snapa")); /* the probe is done writing */
    char out[4096];
    int rc = s_exec_in (d, "snapa",
                        "set -e; echo old-content > /keep; chown 1000:1000 /keep; "
                        "ln /keep /keep2; ln -s /keep /keeplink; rm /etc/doomed; rm -rf /opt; "
                        "mkdir /opt; echo new > /opt/new; mkdir -p /var/lib/x; sync",
                        out, sizeof out);
    if (rc)
        fprintf (stderr, "exec: %s\n", out);
    assert_int_equal (rc, 0);

    char snap[256];
    snprintf (snap, sizeof snap, "%s/snap-live.tar", s_tmp);
    uint64_t bytes = 0;
    double t0 = s_ms ();
    rc = driver_snapshot (d, "snapa", snap, DRIVER_SNAP_LIVE, &bytes, &err);
    if (rc)
        fprintf (stderr, "snapshot: %s\n", err.message);
    assert_int_equal (rc, 0);
    fprintf (stderr, "LIVE snapshot: %llu bytes in %.0f ms\n", (unsigned long long) bytes,
             s_ms () - t0);
    struct stat sb;
    assert_int_equal (stat (snap, &sb), 0);
    assert_int_equal ((uint64_t) sb.st_size, bytes);
    /* thawed: running, and it answers */
    driver_status_t st = { 0 };
    assert_int_equal (driver_status (d, "snapa", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    char cid[160];
    driver_container_id (s_node, "snapa", cid, sizeof cid);
    assert_int_equal (s_sh ("%s --root %s state %s | grep -q '\"running\"'", s_runc, s_rtroot, cid),
                      0);
    assert_int_equal (s_exec_in (d, "snapa", "echo new-content > /keep", NULL, 0), 0);

    /* the second shed, from the file */
    driver_spec_t b = s_spec ("snapb");
    snprintf (b.ip, sizeof b.ip, "198.19.250.21/24");
    snprintf (b.layer, sizeof b.layer, "%s", snap);
    t0 = s_ms ();
    rc = driver_create (d, &b, &err);
    if (rc)
        fprintf (stderr, "create from snapshot: %s\n", err.message);
    assert_int_equal (rc, 0);
    fprintf (stderr, "create from a %llu-byte snapshot: %.0f ms\n", (unsigned long long) bytes,
             s_ms () - t0);
    assert_int_equal (driver_start (d, "snapb", &err), 0);
    free (s_results ("snapb"));
    rc = s_exec_in (d, "snapb",
                    "cat /keep; stat -c owner=%u:%g /keep; stat -c links=%h /keep; "
                    "readlink /keeplink; ls /etc/doomed 2>/dev/null || echo doomed-gone; "
                    "ls /opt; test -d /var/lib/x && echo dir-kept",
                    out, sizeof out);
    fprintf (stderr, "inside snapb:\n%s", out);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (out, "old-content\n"));
    assert_null (strstr (out, "new-content"));
    assert_non_null (strstr (out, "owner=1000:1000\n"));
    assert_non_null (strstr (out, "links=2\n"));
    assert_non_null (strstr (out, "/keep\n"));
    assert_non_null (strstr (out, "doomed-gone\n"));
    assert_non_null (strstr (out, "new\n")); /* /opt holds its new file */
    assert_null (strstr (out, "old\n"));     /* not the image's (opaque) */
    assert_non_null (strstr (out, "dir-kept\n"));
    /* on the host: owned by snapb's range, not snapa's */
    uint32_t base_a = s_pid1_uid (d, "snapa"), base_b = s_pid1_uid (d, "snapb");
    assert_int_not_equal (base_a, base_b);
    char path[512];
    snprintf (path, sizeof path, "%s/sheds/snapb/disk/upper/keep", s_data);
    assert_int_equal (stat (path, &sb), 0);
    assert_int_equal (sb.st_uid, base_b + 1000);
    snprintf (path, sizeof path, "%s/sheds/snapb/disk/upper/opt", s_data);
    assert_int_equal (stat (path, &sb), 0);
    assert_int_equal (sb.st_uid, base_b);

    /* STOP: a running shed is stopped, written, and running again; 20 MiB */
    assert_int_equal (
        s_exec_in (d, "snapa", "dd if=/dev/urandom of=/big bs=1M count=20 2>/dev/null", NULL, 0),
        0);
    char snap2[256];
    snprintf (snap2, sizeof snap2, "%s/snap-stop.tar", s_tmp);
    t0 = s_ms ();
    rc = driver_snapshot (d, "snapa", snap2, DRIVER_SNAP_STOP, &bytes, &err);
    if (rc)
        fprintf (stderr, "snapshot stop: %s\n", err.message);
    assert_int_equal (rc, 0);
    fprintf (stderr, "STOP snapshot (stop, write, start): %llu bytes in %.0f ms\n",
             (unsigned long long) bytes, s_ms () - t0);
    assert_true (bytes > 20u << 20);
    memset (&st, 0, sizeof st);
    assert_int_equal (driver_status (d, "snapa", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    t0 = s_ms ();
    rc = driver_snapshot (d, "snapa", snap2, DRIVER_SNAP_LIVE, &bytes, &err);
    assert_int_equal (rc, 0);
    fprintf (stderr, "LIVE snapshot of %llu bytes: %.0f ms\n", (unsigned long long) bytes,
             s_ms () - t0);
    driver_spec_t c = s_spec ("snapc");
    snprintf (c.ip, sizeof c.ip, "198.19.250.22/24");
    snprintf (c.layer, sizeof c.layer, "%s", snap2);
    t0 = s_ms ();
    assert_int_equal (driver_create (d, &c, &err), 0);
    fprintf (stderr, "create from a %llu-byte snapshot: %.0f ms\n", (unsigned long long) bytes,
             s_ms () - t0);
    assert_int_equal (driver_remove (d, "snapc", &err), 0);

    /* a full disk: "disk full", nothing left there, the shed thawed */
    char small[256], snap3[300];
    snprintf (small, sizeof small, "%s/small", s_tmp);
    assert_int_equal (mkdir (small, 0700), 0);
    assert_int_equal (mount ("tmpfs", small, "tmpfs", 0, "size=1m"), 0);
    snprintf (snap3, sizeof snap3, "%s/snap.tar", small);
    assert_int_equal (driver_snapshot (d, "snapa", snap3, DRIVER_SNAP_LIVE, &bytes, &err),
                      DRIVER_ERR_RESOURCE);
    fprintf (stderr, "to a full disk: %s\n", err.message);
    assert_non_null (strstr (err.message, "disk full"));
    assert_int_equal (s_sh ("test -z \"$(ls -A %s)\"", small), 0);
    assert_int_equal (umount (small), 0);
    assert_int_equal (driver_status (d, "snapa", &st, &err), 0);
    assert_int_equal (st.state, DRIVER_ST_RUNNING);
    assert_int_equal (s_exec_in (d, "snapa", "true", NULL, 0), 0);

    /* not a layer / no such file / no such shed */
    char junk[256];
    snprintf (junk, sizeof junk, "%s/junk.tar", s_tmp);
    assert_int_equal (s_sh ("head -c 3000 /dev/urandom > %s", junk), 0);
    driver_spec_t bad = s_spec ("snapbad");
    snprintf (bad.ip, sizeof bad.ip, "198.19.250.23/24");
    snprintf (bad.layer, sizeof bad.layer, "%s", junk);
    assert_int_equal (driver_create (d, &bad, &err), DRIVER_ERR_INVALID);
    fprintf (stderr, "junk layer: %s\n", err.message);
    snprintf (path, sizeof path, "%s/sheds/snapbad", s_data);
    assert_int_equal (access (path, F_OK), -1);
    snprintf (bad.layer, sizeof bad.layer, "%s/nosuch.tar", s_tmp);
    assert_int_equal (driver_create (d, &bad, &err), DRIVER_ERR_NOT_FOUND);
    assert_int_equal (access (path, F_OK), -1);
    assert_int_equal (driver_snapshot (d, "nosuch", snap, DRIVER_SNAP_LIVE, &bytes, &err),
                      DRIVER_ERR_NOT_FOUND);

    assert_int_equal (driver_remove (d, "snapa", &err), 0);
    assert_int_equal (driver_remove (d, "snapb", &err), 0);
    driver_destroy (&d);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lifecycle_and_isolation),
        cmocka_unit_test (test_second_shed_gets_its_own_range),
        cmocka_unit_test (test_runtime_missing_or_failing),
        cmocka_unit_test (test_snapshot_and_restore),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
