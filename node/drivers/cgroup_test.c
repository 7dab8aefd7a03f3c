/*
 * cgroup_test.c - cgroup v1 and v2 file writes against temporary directory
 * trees shaped like /sys/fs/cgroup (plain files stand in for control
 * files), so the mapping is checked on any machine, root or not.
 */
#include "node/drivers/cgroup.h"
#include "node/drivers/drv_state.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char s_root[64];

static void
s_read (const char *path, char *buf, size_t size)
{
    FILE *f = fopen (path, "r");
    if (!f)
        fail_msg ("missing %s", path);
    size_t n = fread (buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose (f);
}

static void
s_expect (const char *dir, const char *file, const char *want)
{
    char path[512], got[256];
    snprintf (path, sizeof path, "%s/%s/%s", s_root, dir, file);
    s_read (path, got, sizeof got);
    if (strcmp (got, want) != 0)
        fail_msg ("%s: got '%s', want '%s'", path, got, want);
}

static void
s_mk (const char *sub)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", s_root, sub);
    mkdir (path, 0755);
}

static void
s_put (const char *sub, const char *text)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", s_root, sub);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static int
s_setup (void **state)
{
    snprintf (s_root, sizeof s_root, "/tmp/shed-cg-%d-XXXXXX", (int) getpid ());
    assert_non_null (mkdtemp (s_root));
    return 0;
}

static int
s_teardown (void **state)
{
    drv_remove_tree (s_root);
    return 0;
}

static void
test_v1 (void **state)
{
    const char *ctrls[] = { "cpu", "cpuacct", "memory", "pids", "blkio" };
    for (size_t i = 0; i < 5; i++)
        s_mk (ctrls[i]);
    char why[256] = "";
    cgroup_t *cg = cgroup_new (s_root, "shed", 0, why, sizeof why);
    assert_non_null (cg);
    assert_int_equal (cgroup_version (cg), 1); /* no cgroup.controllers */
    assert_int_equal (cgroup_create (cg, "web", why, sizeof why), 0);

    cgroup_limits_t lim = { .cpus_milli = 1500,
                            .memory_bytes = 512ULL << 20,
                            .pids_max = 256,
                            .io_read_bps = 1000000,
                            .io_write_bps = 2000000,
                            .io_device = "8:0" };
    if (cgroup_apply (cg, "web", &lim, why, sizeof why) != 0)
        fail_msg ("%s", why);
    s_expect ("cpu/shed/web", "cpu.cfs_period_us", "100000");
    s_expect ("cpu/shed/web", "cpu.cfs_quota_us", "150000");
    s_expect ("memory/shed/web", "memory.limit_in_bytes", "536870912");
    s_expect ("pids/shed/web", "pids.max", "256");
    s_expect ("blkio/shed/web", "blkio.throttle.read_bps_device", "8:0 1000000");
    s_expect ("blkio/shed/web", "blkio.throttle.write_bps_device", "8:0 2000000");

    /* Lifting limits writes v1's "unlimited" spellings. */
    cgroup_limits_t none;
    memset (&none, 0, sizeof none);
    assert_int_equal (cgroup_apply (cg, "web", &none, why, sizeof why), 0);
    s_expect ("cpu/shed/web", "cpu.cfs_quota_us", "-1");
    s_expect ("memory/shed/web", "memory.limit_in_bytes", "-1");
    s_expect ("pids/shed/web", "pids.max", "max");

    assert_int_equal (cgroup_attach (cg, "web", 4242, why, sizeof why), 0);
    s_expect ("memory/shed/web", "cgroup.procs", "4242");

    /* Usage parsing of v1 files. */
    s_put ("cpuacct/shed/web/cpuacct.usage", "2500000000\n");
    s_put ("memory/shed/web/memory.usage_in_bytes", "1048576\n");
    s_put ("blkio/shed/web/blkio.throttle.io_service_bytes",
           "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
    s_put ("pids/shed/web/pids.current", "3\n");
    driver_usage_t u;
    memset (&u, 0, sizeof u);
    assert_int_equal (cgroup_usage (cg, "web", &u), 0);
    assert_int_equal (u.cpu_usec, 2500000);
    assert_int_equal (u.memory_bytes, 1048576);
    assert_int_equal (u.io_read_bytes, 4096);
    assert_int_equal (u.io_write_bytes, 8192);
    assert_int_equal (u.pids, 3);

    char path[512];
    assert_int_equal (cgroup_remove (cg, "web", why, sizeof why), 0);
    snprintf (path, sizeof path, "%s/memory/shed/web", s_root);
    assert_int_equal (access (path, F_OK), -1);
    cgroup_destroy (&cg);
    assert_null (cg);
}

static void
test_v2 (void **state)
{
    s_put ("cgroup.controllers", "cpuset cpu io memory pids\n");
    char why[256] = "";
    cgroup_t *cg = cgroup_new (s_root, "shed", 0, why, sizeof why);
    assert_non_null (cg);
    assert_int_equal (cgroup_version (cg), 2);
    assert_int_equal (cgroup_create (cg, "db", why, sizeof why), 0);
    s_expect ("shed", "cgroup.subtree_control", "+cpu +memory +io +pids");

    cgroup_limits_t lim = { .cpus_milli = 2000,
                            .memory_bytes = 1ULL << 30,
                            .pids_max = 100,
                            .io_read_bps = 0,
                            .io_write_bps = 5000000,
                            .io_device = "259:0" };
    if (cgroup_apply (cg, "db", &lim, why, sizeof why) != 0)
        fail_msg ("%s", why);
    s_expect ("shed/db", "cpu.max", "200000 100000");
    s_expect ("shed/db", "memory.max", "1073741824");
    s_expect ("shed/db", "memory.swap.max", "0");
    s_expect ("shed/db", "pids.max", "100");
    s_expect ("shed/db", "io.max", "259:0 rbps=max wbps=5000000");

    cgroup_limits_t none;
    memset (&none, 0, sizeof none);
    assert_int_equal (cgroup_apply (cg, "db", &none, why, sizeof why), 0);
    s_expect ("shed/db", "cpu.max", "max 100000");
    s_expect ("shed/db", "memory.max", "max");

    s_put ("shed/db/cpu.stat", "usage_usec 777\nuser_usec 700\nsystem_usec 77\n");
    s_put ("shed/db/memory.current", "2048\n");
    s_put ("shed/db/io.stat", "259:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:0 rbytes=1 wbytes=2\n");
    s_put ("shed/db/pids.current", "7\n");
    driver_usage_t u;
    memset (&u, 0, sizeof u);
    assert_int_equal (cgroup_usage (cg, "db", &u), 0);
    assert_int_equal (u.cpu_usec, 777);
    assert_int_equal (u.memory_bytes, 2048);
    assert_int_equal (u.io_read_bytes, 101);
    assert_int_equal (u.io_write_bytes, 202);
    assert_int_equal (u.pids, 7);
    cgroup_destroy (&cg);

    /* Errors are one line naming the file. */
    assert_null (cgroup_new ("/nonexistent-cgroup-root", "shed", 0, why, sizeof why));
    assert_non_null (strstr (why, "/nonexistent-cgroup-root"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_v1, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_v2, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
