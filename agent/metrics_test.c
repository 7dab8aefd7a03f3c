/*
 * metrics_test.c - /proc and cgroup parsers against sample files in
 * agent/testdata, the live collector on this machine, the collector in
 * cgroup mode over temporary trees laid out like cgroup v1 and v2 (and the
 * disks it reports there), and the config parsers.
 */
#include "agent/cgroup_metrics.h"
#include "agent/config.h"
#include "agent/metrics.h"

#include "common/fileutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char *
s_sample (const char *name)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", AGENT_TESTDATA, name);
    char *text = shed_read_file (path, 1 << 20, NULL);
    assert_non_null (text);
    return text;
}

static void
test_parsers (void **state)
{
    char *t = s_sample ("stat");
    agent_cpu_sample_t cpu;
    assert_int_equal (agent_parse_stat (t, &cpu), 0);
    assert_int_equal (cpu.cpus, 2);
    assert_int_equal (cpu.btime, 1700000000);
    assert_int_equal (cpu.total, 4705 + 150 + 1120 + 16250 + 520 + 0 + 35 + 0);
    assert_int_equal (cpu.busy, cpu.total - 16250 - 520);
    free (t);
    assert_int_equal (agent_parse_stat ("garbage\n", &cpu), -1);

    t = s_sample ("meminfo");
    uint64_t used, total;
    assert_int_equal (agent_parse_meminfo (t, &used, &total), 0);
    assert_int_equal (total, 4028500ull * 1024);
    assert_int_equal (used, (4028500ull - 3021500ull) * 1024);
    free (t);
    assert_int_equal (agent_parse_meminfo ("", &used, &total), -1);

    t = s_sample ("loadavg");
    double l1, l5, l15;
    assert_int_equal (agent_parse_loadavg (t, &l1, &l5, &l15), 0);
    assert_true (l1 == 0.52 && l5 == 0.58 && l15 == 0.59);
    free (t);
    assert_int_equal (agent_parse_loadavg ("x", &l1, &l5, &l15), -1);

    t = s_sample ("netdev");
    agent_nic_t nics[2];
    size_t n;
    uint64_t rx, tx;
    assert_int_equal (agent_parse_netdev (t, nics, 2, &n, &rx, &tx), 0);
    assert_int_equal (n, 2); /* capped at max */
    assert_string_equal (nics[1].name, "eth0");
    assert_int_equal (rx, 9876543 + 100); /* lo excluded */
    assert_int_equal (tx, 1234567 + 200);
    free (t);
}

/* ---- cgroup parsers ------------------------------------------------------ */

static void
test_cgroup_parsers (void **state)
{
    uint64_t v;
    bool unl;
    assert_int_equal (agent_cgroup_parse_u64 ("268435456\n", &v), 0);
    assert_int_equal (v, 268435456);
    assert_int_equal (agent_cgroup_parse_u64 ("-1\n", &v), -1);
    assert_int_equal (agent_cgroup_parse_u64 ("12abc\n", &v), -1);
    assert_int_equal (agent_cgroup_parse_u64 ("", &v), -1);
    assert_int_equal (agent_cgroup_parse_u64 ("99999999999999999999999\n", &v), -1);

    assert_int_equal (agent_cgroup_parse_limit ("536870912\n", &v, &unl), 0);
    assert_false (unl);
    assert_int_equal (v, 536870912);
    assert_int_equal (agent_cgroup_parse_limit ("max\n", &v, &unl), 0);
    assert_true (unl);
    assert_int_equal (agent_cgroup_parse_limit ("9223372036854771712\n", &v, &unl), 0);
    assert_true (unl); /* v1's "no limit" */
    assert_int_equal (agent_cgroup_parse_limit ("maximum\n", &v, &unl), -1);
    assert_int_equal (agent_cgroup_parse_limit ("lots\n", &v, &unl), -1);

    char *t = s_sample ("cgroup_v1_memory.stat");
    assert_int_equal (agent_cgroup_parse_key (t, "total_inactive_file", &v), 0);
    assert_int_equal (v, 41943040);
    assert_int_equal (agent_cgroup_parse_key (t, "inactive_file", &v), 0);
    assert_int_equal (v, 40000000); /* whole words only */
    assert_int_equal (agent_cgroup_parse_key (t, "inactive", &v), -1);
    free (t);
    t = s_sample ("cgroup_v2_memory.stat");
    assert_int_equal (agent_cgroup_parse_key (t, "inactive_file", &v), 0);
    assert_int_equal (v, 20971520);
    assert_int_equal (agent_cgroup_parse_key (t, "total_inactive_file", &v), -1);
    free (t);
    t = s_sample ("cgroup_v2_cpu.stat");
    assert_int_equal (agent_cgroup_parse_key (t, "usage_usec", &v), 0);
    assert_int_equal (v, 1234567);
    free (t);
    assert_int_equal (agent_cgroup_parse_key ("usage_usec banana\n", "usage_usec", &v), -1);
    assert_int_equal (agent_cgroup_parse_key ("", "usage_usec", &v), -1);

    double cpus = -1;
    assert_int_equal (agent_cgroup_parse_cpu_max ("100000 100000\n", &cpus), 0);
    assert_true (cpus == 1.0);
    assert_int_equal (agent_cgroup_parse_cpu_max ("150000 100000\n", &cpus), 0);
    assert_true (cpus == 1.5);
    assert_int_equal (agent_cgroup_parse_cpu_max ("max 100000\n", &cpus), 0);
    assert_true (cpus == 0);
    assert_int_equal (agent_cgroup_parse_cpu_max ("100000 0\n", &cpus), -1);
    assert_int_equal (agent_cgroup_parse_cpu_max ("max\n", &cpus), -1);
    assert_int_equal (agent_cgroup_parse_cpu_max ("garbage\n", &cpus), -1);
    assert_int_equal (agent_cgroup_parse_cfs ("50000\n", "100000\n", &cpus), 0);
    assert_true (cpus == 0.5);
    assert_int_equal (agent_cgroup_parse_cfs ("-1\n", "100000\n", &cpus), 0);
    assert_true (cpus == 0);
    assert_int_equal (agent_cgroup_parse_cfs ("-2\n", "100000\n", &cpus), -1);
    assert_int_equal (agent_cgroup_parse_cfs ("50000\n", "0\n", &cpus), -1);

    t = s_sample ("cgroup.procs");
    assert_int_equal (agent_cgroup_count_procs (t), 3);
    free (t);
    assert_int_equal (agent_cgroup_count_procs ("1\njunk\n0\n2 x\n9\n"), 2);
    assert_int_equal (agent_cgroup_count_procs (""), 0);

    char ctrls[64], path[128];
    t = s_sample ("cgroup_v1_self");
    assert_int_equal (agent_cgroup_parse_self (t, "memory", ctrls, sizeof ctrls, path, sizeof path),
                      0);
    assert_string_equal (ctrls, "memory");
    assert_string_equal (path, "/shed/web");
    assert_int_equal (
        agent_cgroup_parse_self (t, "cpuacct", ctrls, sizeof ctrls, path, sizeof path), 0);
    assert_string_equal (ctrls, "cpu,cpuacct");
    assert_int_equal (agent_cgroup_parse_self (t, "cpu", ctrls, sizeof ctrls, path, sizeof path),
                      0);
    assert_string_equal (ctrls, "cpu,cpuacct"); /* not cpuset */
    assert_int_equal (
        agent_cgroup_parse_self (t, "net_prio", ctrls, sizeof ctrls, path, sizeof path), 0);
    assert_string_equal (path, "/");
    assert_int_equal (agent_cgroup_parse_self (t, NULL, ctrls, sizeof ctrls, path, sizeof path), 0);
    assert_string_equal (path, "/user.slice/session-3.scope");
    assert_int_equal (agent_cgroup_parse_self (t, "io", ctrls, sizeof ctrls, path, sizeof path),
                      -1);
    /* Too small a buffer is refused, not truncated. */
    assert_int_equal (agent_cgroup_parse_self (t, "memory", ctrls, sizeof ctrls, path, 5), -1);
    free (t);
    t = s_sample ("cgroup_v2_self");
    assert_int_equal (agent_cgroup_parse_self (t, NULL, ctrls, sizeof ctrls, path, sizeof path), 0);
    assert_string_equal (path, "/shed/web");
    assert_string_equal (ctrls, "");
    assert_int_equal (agent_cgroup_parse_self (t, "memory", ctrls, sizeof ctrls, path, sizeof path),
                      -1);
    free (t);
    assert_int_equal (
        agent_cgroup_parse_self ("0::/a/../../etc\n", NULL, ctrls, sizeof ctrls, path, sizeof path),
        -1);
    assert_int_equal (
        agent_cgroup_parse_self ("0::relative\n", NULL, ctrls, sizeof ctrls, path, sizeof path),
        -1);
    assert_int_equal (agent_cgroup_parse_self ("garbage\n::\n1:x\n", NULL, ctrls, sizeof ctrls,
                                               path, sizeof path),
                      -1);
    assert_int_equal (
        agent_cgroup_parse_self ("0::/a:b\n", NULL, ctrls, sizeof ctrls, path, sizeof path), 0);
    assert_string_equal (path, "/a:b");

    assert_true (agent_cgroup_cpu_pct (1000000000, 1000000000, 1) == 100);
    assert_true (agent_cgroup_cpu_pct (500000000, 1000000000, 2) == 25);
    assert_true (agent_cgroup_cpu_pct (5000000000, 1000000000, 1) == 100); /* capped */
    assert_true (agent_cgroup_cpu_pct (0, 1000000000, 1) == 0);
    assert_true (agent_cgroup_cpu_pct (1, 0, 1) == 0);
    assert_true (agent_cgroup_cpu_pct (1, 1, 0) == 0);
}

/* ---- the collector over temporary trees ---------------------------------- */

typedef struct {
    char dir[64];            /* /tmp/agent-cg-XXXXXX */
    char proc[128], cg[128]; /* <dir>/proc, <dir>/cg */
} s_tree_t;

/* <dir>/<rel> = text, making directories on the way. */
static void
s_put (const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr (path, '/');
    *slash = '\0';
    assert_int_equal (shed_mkdir_p (path, 0755), 0);
    *slash = '/';
    assert_int_equal (shed_write_file_atomic (path, text, strlen (text), 0644), 0);
}

static void
s_put_sample (const char *dir, const char *rel, const char *sample)
{
    char *t = s_sample (sample);
    s_put (dir, rel, t);
    free (t);
}

static void
s_del (const char *dir, const char *rel)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal (unlink (path), 0);
}

/* A fake /proc from the samples (host: 2 CPUs, 4028500 kB, load 0.52,
 * booted 1700000000), self/cgroup from `self_sample`. */
static void
s_tree (s_tree_t *t, const char *self_sample)
{
    snprintf (t->dir, sizeof t->dir, "/tmp/agent-cg-XXXXXX");
    assert_non_null (mkdtemp (t->dir));
    snprintf (t->proc, sizeof t->proc, "%s/proc", t->dir);
    snprintf (t->cg, sizeof t->cg, "%s/cg", t->dir);
    s_put_sample (t->proc, "stat", "stat");
    s_put_sample (t->proc, "meminfo", "meminfo");
    s_put_sample (t->proc, "loadavg", "loadavg");
    s_put_sample (t->proc, "net/dev", "netdev");
    if (self_sample)
        s_put_sample (t->proc, "self/cgroup", self_sample);
    assert_int_equal (shed_mkdir_p (t->cg, 0755), 0);
}

static int
s_rm (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static void
s_tree_free (s_tree_t *t)
{
    nftw (t->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static agent_metrics_collector_t *
s_collector (const s_tree_t *t)
{
    const char *mounts[] = { "/" };
    agent_metrics_collector_t *m = agent_metrics_new (t->proc, mounts, 1);
    assert_non_null (m);
    assert_int_equal (agent_metrics_use_cgroup (m, t->cg), 0);
    return m;
}

/* Collect and check that the message passes the validator. */
static agent_metrics_t
s_collect (agent_metrics_collector_t *c)
{
    agent_msg_t msg;
    assert_int_equal (agent_metrics_collect (c, &msg), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, &msg, &buf, &len), 0);
    free (buf);
    return msg.u.agent_metrics;
}

#define HOST_MEM (4028500ull * 1024)
#define MIB      (1024ull * 1024)

static void
test_cgroup_collect_v1 (void **state)
{
    s_tree_t t;
    s_tree (&t, "cgroup_v1_self");
    /* cpu and cpuacct mounted together, as most distributions do. */
    s_put (t.cg, "cpu,cpuacct/shed/web/cpuacct.usage", "1000\n");
    s_put (t.cg, "cpu,cpuacct/shed/web/cpu.cfs_quota_us", "100000\n");
    s_put (t.cg, "cpu,cpuacct/shed/web/cpu.cfs_period_us", "100000\n");
    s_put (t.cg, "memory/shed/web/memory.usage_in_bytes", "100000000\n");
    s_put (t.cg, "memory/shed/web/memory.limit_in_bytes", "268435456\n");
    s_put_sample (t.cg, "memory/shed/web/memory.stat", "cgroup_v1_memory.stat");
    s_put_sample (t.cg, "pids/shed/web/cgroup.procs", "cgroup.procs");

    agent_metrics_collector_t *c = s_collector (&t);
    agent_metrics_t m = s_collect (c);
    assert_int_equal (m.mem_used, 100000000 - 41943040);
    assert_int_equal (m.mem_total, 256 * MIB);
    assert_int_equal (m.cpu_count, 1);
    assert_true (m.cpu_pct == 0); /* first sample */
    assert_int_equal (m.procs, 3);
    assert_true (m.uptime_s < 5);  /* the agent's, not the host's */
    assert_true (m.load1 == 0.52); /* the host's: no per-group load */
    assert_int_equal (m.net_rx, 9876543 + 100);
    /* time () reads the coarse clock, up to a tick behind the
     * CLOCK_REALTIME the collector stamped its start with: at a second's
     * edge the start can be a second "after" time (), hence the + 1 (CI's
     * ASan run once saw exactly that). */
    uint64_t bt = agent_metrics_boot_time (c);
    assert_true (bt + 5 >= (uint64_t) time (NULL) && bt <= (uint64_t) time (NULL) + 1);

    /* 50 s of CPU within a few ms: a full CPU (capped). */
    s_put (t.cg, "cpu,cpuacct/shed/web/cpuacct.usage", "50000001000\n");
    usleep (60 * 1000); /* past the 50 ms minimum window */
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    m = s_collect (c);
    assert_true (m.cpu_pct == 100);
    /* Within 50 ms of the last sample: the last value, same base (unless
     * this machine was too slow to collect twice within 50 ms). */
    m = s_collect (c);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 50)
        assert_true (m.cpu_pct == 100);
    /* No new CPU time: idle. */
    usleep (60 * 1000);
    m = s_collect (c);
    assert_true (m.cpu_pct == 0);

    /* Unlimited: the host's memory and CPUs. */
    s_put (t.cg, "memory/shed/web/memory.limit_in_bytes", "9223372036854771712\n");
    s_put (t.cg, "cpu,cpuacct/shed/web/cpu.cfs_quota_us", "-1\n");
    m = s_collect (c);
    assert_int_equal (m.mem_total, HOST_MEM);
    assert_int_equal (m.cpu_count, 2);
    /* A limit above the host's memory is no limit either. */
    s_put (t.cg, "memory/shed/web/memory.limit_in_bytes", "68719476736\n");
    m = s_collect (c);
    assert_int_equal (m.mem_total, HOST_MEM);

    /* No memory.stat: the raw usage. No pids group: the memory group's procs. */
    s_del (t.cg, "memory/shed/web/memory.stat");
    s_put (t.cg, "memory/shed/web/cgroup.procs", "1\n2\n");
    s_del (t.cg, "pids/shed/web/cgroup.procs");
    m = s_collect (c);
    assert_int_equal (m.mem_used, 100000000);
    assert_int_equal (m.procs, 2);

    /* Garbage: /proc values, no crash. */
    s_put (t.cg, "memory/shed/web/memory.usage_in_bytes", "\x01garbage\xff\n");
    s_put (t.cg, "cpu,cpuacct/shed/web/cpuacct.usage", "");
    s_put (t.cg, "memory/shed/web/cgroup.procs", "not a pid\n-3\n");
    m = s_collect (c);
    assert_int_equal (m.mem_total, HOST_MEM);
    assert_int_equal (m.mem_used, (4028500ull - 3021500ull) * 1024);
    assert_int_equal (m.cpu_count, 2);
    assert_int_equal (m.procs, 0);
    agent_metrics_destroy (&c);

    /* The same through the reader: the errors are counted. */
    agent_cgroup_t *cg = agent_cgroup_new (t.cg, t.proc);
    agent_cgroup_sample_t cs;
    assert_int_equal (agent_cgroup_read (cg, &cs), 0);
    assert_int_equal (agent_cgroup_version (cg), 1);
    assert_false (cs.have_mem);
    assert_false (cs.have_cpu);
    assert_true (agent_cgroup_errors (cg) >= 2);
    agent_cgroup_destroy (&cg);
    assert_null (cg);

    /* cpu and cpuacct mounted apart (each its own directory). */
    s_tree_t t2;
    s_tree (&t2, "cgroup_v1_self");
    s_put (t2.cg, "cpuacct/shed/web/cpuacct.usage", "1000\n");
    s_put (t2.cg, "cpu/shed/web/cpu.cfs_quota_us", "50000\n");
    s_put (t2.cg, "cpu/shed/web/cpu.cfs_period_us", "100000\n");
    c = s_collector (&t2);
    m = s_collect (c);
    assert_int_equal (m.cpu_count, 1);        /* half a CPU, rounded up */
    assert_int_equal (m.mem_total, HOST_MEM); /* no memory group: /proc */
    s_put (t2.cg, "cpuacct/shed/web/cpuacct.usage", "999000000000\n");
    usleep (60 * 1000);
    m = s_collect (c);
    assert_true (m.cpu_pct == 100);
    agent_metrics_destroy (&c);

    s_tree_free (&t);
    s_tree_free (&t2);
}

static void
test_cgroup_collect_v2 (void **state)
{
    s_tree_t t;
    s_tree (&t, "cgroup_v2_self");
    s_put (t.cg, "cgroup.controllers", "cpuset cpu io memory pids\n");
    s_put (t.cg, "shed/web/memory.current", "100000000\n");
    s_put (t.cg, "shed/web/memory.max", "max\n");
    s_put_sample (t.cg, "shed/web/memory.stat", "cgroup_v2_memory.stat");
    s_put_sample (t.cg, "shed/web/cpu.stat", "cgroup_v2_cpu.stat");
    s_put (t.cg, "shed/web/cpu.max", "150000 100000\n");
    s_put_sample (t.cg, "shed/web/cgroup.procs", "cgroup.procs");

    agent_metrics_collector_t *c = s_collector (&t);
    agent_metrics_t m = s_collect (c);
    assert_int_equal (m.mem_used, 100000000 - 20971520);
    assert_int_equal (m.mem_total, HOST_MEM); /* "max" */
    assert_int_equal (m.cpu_count, 2);        /* 1.5 rounded up */
    assert_int_equal (m.procs, 3);
    assert_true (m.uptime_s < 5);

    s_put (t.cg, "shed/web/memory.max", "536870912\n");
    s_put (t.cg, "shed/web/cpu.max", "100000 100000\n");
    s_put (t.cg, "shed/web/cpu.stat", "usage_usec 901234567\nuser_usec 1\n");
    usleep (60 * 1000); /* past the 50 ms minimum window */
    m = s_collect (c);
    assert_int_equal (m.mem_total, 512 * MIB);
    assert_int_equal (m.cpu_count, 1);
    assert_true (m.cpu_pct == 100);

    /* No quota: every host CPU; a quota beyond the host's: the host's. */
    s_put (t.cg, "shed/web/cpu.max", "max 100000\n");
    m = s_collect (c);
    assert_int_equal (m.cpu_count, 2);
    s_put (t.cg, "shed/web/cpu.max", "800000 100000\n");
    m = s_collect (c);
    assert_int_equal (m.cpu_count, 2);

    /* Garbage and missing files: /proc values. */
    s_put (t.cg, "shed/web/cpu.stat", "usage_usec banana\n");
    s_put (t.cg, "shed/web/cpu.max", "lots\n");
    s_del (t.cg, "shed/web/memory.current");
    s_del (t.cg, "shed/web/cgroup.procs");
    m = s_collect (c);
    assert_int_equal (m.mem_total, HOST_MEM);
    assert_int_equal (m.mem_used, (4028500ull - 3021500ull) * 1024);
    assert_int_equal (m.cpu_count, 2);
    assert_int_equal (m.procs, 0); /* the fake /proc has no pids */
    agent_metrics_destroy (&c);
    s_tree_free (&t);
}

static void
test_cgroup_not_found (void **state)
{
    /* No self/cgroup, a group at the root, a group whose dir is missing:
     * all /proc mode, except the uptime. */
    const char *selfs[] = { NULL, "cgroup_v2_self", NULL };
    for (int i = 0; i < 3; i++) {
        s_tree_t t;
        s_tree (&t, selfs[i]);
        s_put (t.cg, "cgroup.controllers", "memory\n");
        if (i == 2) {
            s_put (t.proc, "self/cgroup", "0::/\n");
            s_put (t.cg, "memory.current", "1\n");
        }
        agent_metrics_collector_t *c = s_collector (&t);
        agent_metrics_t m = s_collect (c);
        assert_int_equal (m.mem_total, HOST_MEM);
        assert_int_equal (m.cpu_count, 2);
        assert_true (m.uptime_s < 5);
        agent_metrics_destroy (&c);
        s_tree_free (&t);
    }
}

/* A container collector over `t` (no configured mounts: the default disks). */
static agent_metrics_collector_t *
s_container (const s_tree_t *t)
{
    agent_metrics_collector_t *m = agent_metrics_new (t->proc, NULL, 0);
    assert_non_null (m);
    assert_int_equal (agent_metrics_use_container (m, t->cg), 0);
    return m;
}

/* PIDs in the fake /proc: the container's own PID namespace. */
static void
s_pids (const s_tree_t *t, int n)
{
    for (int i = 1; i <= n; i++) {
        char rel[32];
        snprintf (rel, sizeof rel, "%d/comm", i * 7);
        s_put (t->proc, rel, "sh\n");
    }
}

/* Container mode, cgroup v2: the cgroup namespace makes self/cgroup say
 * "/" and the mount root is the shed's group. Processes come from the
 * container's own /proc (also those in subgroups that cgroup.procs of the
 * root omits); the disk is "/" only. */
static void
test_container_v2 (void **state)
{
    s_tree_t t;
    s_tree (&t, NULL);
    s_put (t.proc, "self/cgroup", "0::/\n");
    s_put (t.proc, "self/mounts",
           "overlay / overlay rw 0 0\n"
           "/dev/sda1 /etc/resolv.conf ext4 ro 0 0\n"
           "/dev/sda1 /.shed/agent ext4 ro 0 0\n");
    s_pids (&t, 4);
    s_put (t.cg, "cgroup.controllers", "cpuset cpu io memory pids\n");
    s_put (t.cg, "memory.current", "100000000\n");
    s_put (t.cg, "memory.max", "268435456\n");
    s_put_sample (t.cg, "memory.stat", "cgroup_v2_memory.stat");
    s_put_sample (t.cg, "cpu.stat", "cgroup_v2_cpu.stat");
    s_put (t.cg, "cpu.max", "50000 100000\n");
    s_put (t.cg, "cgroup.procs", "1\n");
    s_put (t.cg, "build/cgroup.procs", "7\n14\n21\n");

    agent_metrics_collector_t *c = s_container (&t);
    agent_metrics_t m = s_collect (c);
    assert_int_equal (m.mem_used, 100000000 - 20971520);
    assert_int_equal (m.mem_total, 256 * MIB);
    assert_int_equal (m.cpu_count, 1); /* half a CPU, rounded up */
    assert_int_equal (m.procs, 4);     /* /proc, not the root's cgroup.procs */
    assert_true (m.uptime_s < 5);
    assert_int_equal (m.disks.n, 1);
    assert_string_equal (m.disks.items[0].mount, "/");

    s_put (t.cg, "cpu.stat", "usage_usec 901234567\n");
    usleep (60 * 1000);
    m = s_collect (c);
    assert_true (m.cpu_pct == 100);
    agent_metrics_destroy (&c);

    /* The same tree in netns mode: a group at "/" is the host's, ignored. */
    c = s_collector (&t);
    m = s_collect (c);
    assert_int_equal (m.mem_total, HOST_MEM);
    agent_metrics_destroy (&c);

    /* Without a cgroup namespace self/cgroup names the host's path, which
     * is not under this mount: container mode does not care. */
    s_put (t.proc, "self/cgroup", "0::/shed/web\n");
    c = s_container (&t);
    m = s_collect (c);
    assert_int_equal (m.mem_total, 256 * MIB);
    agent_metrics_destroy (&c);

    /* Nothing readable under the mount: /proc values, no crash. */
    s_del (t.cg, "memory.current");
    s_del (t.cg, "cpu.stat");
    c = s_container (&t);
    m = s_collect (c);
    assert_int_equal (m.mem_total, HOST_MEM);
    assert_int_equal (m.cpu_count, 2);
    assert_int_equal (m.procs, 4);
    agent_metrics_destroy (&c);
    s_tree_free (&t);
}

/* Container mode, cgroup v1 (this host's hybrid layout): one directory
 * per controller, each the shed's group: as runc mounts them (cpu and
 * cpuacct links to "cpu,cpuacct"), or under the combined name only, found
 * through self/cgroup's controller list. */
static void
test_container_v1 (void **state)
{
    for (int layout = 0; layout < 3; layout++) {
        s_tree_t t;
        s_tree (&t, NULL);
        s_pids (&t, 2);
        if (layout < 2)
            s_put (t.proc, "self/cgroup", "12:pids:/\n7:cpu,cpuacct:/\n4:memory:/\n0::/\n");
        s_put (t.cg, "unified/cgroup.controllers", "\n"); /* hybrid: not v2 */
        s_put (t.cg, "cpu,cpuacct/cpuacct.usage", "1000\n");
        s_put (t.cg, "cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
        s_put (t.cg, "cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        s_put (t.cg, "memory/memory.usage_in_bytes", "100000000\n");
        s_put (t.cg, "memory/memory.limit_in_bytes", "9223372036854771712\n");
        s_put_sample (t.cg, "memory/memory.stat", "cgroup_v1_memory.stat");
        s_put (t.cg, "pids/cgroup.procs", "1\n");
        if (layout != 1) {
            char from[256], to[256];
            snprintf (to, sizeof to, "%s/cpu", t.cg);
            assert_int_equal (symlink ("cpu,cpuacct", to), 0);
            snprintf (from, sizeof from, "%s/cpuacct", t.cg);
            assert_int_equal (symlink ("cpu,cpuacct", from), 0);
        }
        agent_metrics_collector_t *c = s_container (&t);
        agent_metrics_t m = s_collect (c);
        assert_int_equal (m.mem_used, 100000000 - 41943040);
        assert_int_equal (m.mem_total, HOST_MEM); /* no limit */
        assert_int_equal (m.cpu_count, 2);
        assert_int_equal (m.procs, 2);
        s_put (t.cg, "cpu,cpuacct/cpuacct.usage", "999000000000\n");
        usleep (60 * 1000);
        m = s_collect (c);
        assert_true (m.cpu_pct == 100);
        agent_metrics_destroy (&c);

        agent_cgroup_t *cg = agent_cgroup_new_container (t.cg, t.proc);
        agent_cgroup_sample_t cs;
        assert_int_equal (agent_cgroup_read (cg, &cs), 0);
        assert_int_equal (agent_cgroup_version (cg), 1);
        assert_true (cs.have_mem && cs.have_cpu && cs.have_procs);
        assert_int_equal (cs.procs, 1);
        assert_int_equal (agent_cgroup_errors (cg), 0);
        agent_cgroup_destroy (&cg);
        s_tree_free (&t);
    }
}

/* The disks of a collector over `t` with its working directory in `cwd`. */
static agent_metrics_t
s_collect_in (agent_metrics_collector_t *c, const char *cwd)
{
    char here[4096];
    assert_non_null (getcwd (here, sizeof here));
    assert_int_equal (chdir (cwd), 0);
    agent_metrics_t m = s_collect (c);
    assert_int_equal (chdir (here), 0);
    return m;
}

static bool
s_has_disk (const agent_metrics_t *m, const char *mount)
{
    for (size_t i = 0; i < m->disks.n; i++)
        if (strcmp (m->disks.items[i].mount, mount) == 0)
            return true;
    return false;
}

static void
test_cgroup_disks (void **state)
{
    /* The host's mount table, as a netns shed sees it: host disks that
     * exist here (statvfs works on them), a host mount that does not, and
     * the shed's directory <dir>/my shed (a space: "\040") on its own. */
    s_tree_t t;
    s_tree (&t, "cgroup_v2_self");
    s_put (t.cg, "cgroup.controllers", "memory\n");
    char shed[160], sub[200], table[1024];
    snprintf (shed, sizeof shed, "%s/my shed", t.dir);
    snprintf (sub, sizeof sub, "%s/work", shed);
    assert_int_equal (shed_mkdir_p (sub, 0755), 0);
    snprintf (table, sizeof table,
              "/dev/vda1 / ext4 rw,relatime 0 0\n"
              "proc /proc proc rw 0 0\n"
              "/dev/vda1 /tmp ext4 rw,relatime 0 0\n"
              "/dev/vdb /proc ext4 rw 0 0\n"
              "/dev/vdc /run/netns/no-such-dir-here ext4 rw 0 0\n"
              "tmpfs %s/my\\040shed tmpfs rw 0 0\n"
              "/dev/vdd %s/my ext4 rw 0 0\n",
              t.dir, t.dir);
    s_put (t.proc, "self/mounts", table);

    /* /proc mode (a VM): "/" and every /dev mount, as before. */
    agent_metrics_collector_t *c = agent_metrics_new (t.proc, NULL, 0);
    assert_non_null (c);
    agent_metrics_t m = s_collect_in (c, sub);
    assert_true (s_has_disk (&m, "/"));
    assert_true (s_has_disk (&m, "/tmp"));
    assert_true (s_has_disk (&m, "/proc"));
    assert_false (s_has_disk (&m, shed)); /* tmpfs: not a /dev mount */
    agent_metrics_destroy (&c);

    /* cgroup mode (a netns shed): "/" and the mount holding the working
     * directory (the longest mount point above it), nothing of the host's. */
    c = agent_metrics_new (t.proc, NULL, 0);
    assert_int_equal (agent_metrics_use_cgroup (c, t.cg), 0);
    m = s_collect_in (c, sub);
    assert_int_equal (m.disks.n, 2);
    assert_string_equal (m.disks.items[0].mount, "/");
    assert_string_equal (m.disks.items[1].mount, shed);
    assert_true (m.disks.items[1].total > 0);
    /* At the mount point itself: the same. */
    m = s_collect_in (c, shed);
    assert_int_equal (m.disks.n, 2);
    assert_string_equal (m.disks.items[1].mount, shed);
    /* A directory on a host mount (/tmp here): that one, still only two. */
    m = s_collect_in (c, t.dir);
    assert_int_equal (m.disks.n, 2);
    assert_string_equal (m.disks.items[1].mount, "/tmp");
    /* A directory on "/": just "/". */
    m = s_collect_in (c, "/");
    assert_int_equal (m.disks.n, 1);
    assert_string_equal (m.disks.items[0].mount, "/");
    /* No mount table: just "/". */
    s_del (t.proc, "self/mounts");
    m = s_collect_in (c, sub);
    assert_int_equal (m.disks.n, 1);
    assert_string_equal (m.disks.items[0].mount, "/");
    agent_metrics_destroy (&c);

    /* Configured mounts win in cgroup mode too. */
    s_put (t.proc, "self/mounts", table);
    const char *mounts[] = { "/", "/tmp", "/proc" };
    c = agent_metrics_new (t.proc, mounts, 3);
    assert_int_equal (agent_metrics_use_cgroup (c, t.cg), 0);
    m = s_collect_in (c, sub);
    assert_int_equal (m.disks.n, 3);
    assert_string_equal (m.disks.items[2].mount, "/proc");
    agent_metrics_destroy (&c);
    s_tree_free (&t);
}

static void
test_collect_live (void **state)
{
    agent_metrics_collector_t *m = agent_metrics_new ("/proc", NULL, 0);
    agent_msg_t msg;
    assert_int_equal (agent_metrics_collect (m, &msg), 0);
    usleep (100 * 1000);
    assert_int_equal (agent_metrics_collect (m, &msg), 0);
    agent_metrics_t *x = &msg.u.agent_metrics;
    assert_true (x->cpu_count >= 1);
    assert_true (x->cpu_pct >= 0 && x->cpu_pct <= 100);
    assert_true (x->mem_total > 0 && x->mem_used <= x->mem_total);
    assert_true (x->procs >= 1);
    assert_true (x->disks.n >= 1);
    assert_string_equal (x->disks.items[0].mount, "/");
    assert_true (x->disks.items[0].used <= x->disks.items[0].total);
    /* It encodes: every value passes the validator. */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, &msg, &buf, &len), 0);
    free (buf);
    assert_true (agent_metrics_boot_time (m) > 1000000000);
    agent_metrics_destroy (&m);
    assert_null (m);

    /* This machine's real cgroup files (whatever version, wherever this
     * test runs: maybe in no group at all): sane values, never a crash. */
    m = agent_metrics_new ("/proc", NULL, 0);
    assert_int_equal (agent_metrics_use_cgroup (m, "/sys/fs/cgroup"), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal (agent_metrics_collect (m, &msg), 0);
        assert_true (x->cpu_count >= 1);
        assert_true (x->cpu_pct >= 0 && x->cpu_pct <= 100);
        assert_true (x->mem_total > 0);
        assert_true (x->uptime_s < 5);
        assert_int_equal (wire_encode (&agent_proto, &msg, &buf, &len), 0);
        free (buf);
        usleep (20 * 1000);
    }
    agent_metrics_destroy (&m);
}

static void
test_config (void **state)
{
    agent_proc_spec_t p;
    assert_int_equal (agent_config_parse_run ("web=python3 -m http.server", &p), 0);
    assert_string_equal (p.name, "web");
    assert_string_equal (p.cmd, "python3 -m http.server");
    assert_int_equal (agent_config_parse_run ("=x", &p), -1);
    assert_int_equal (agent_config_parse_run ("a b=x", &p), -1);
    agent_service_spec_t s;
    assert_int_equal (agent_config_parse_service ("web:8080/http", &s), 0);
    assert_int_equal (s.port, 8080);
    assert_string_equal (s.protocol, "http");
    assert_int_equal (agent_config_parse_service ("web:0", &s), -1);
    assert_int_equal (agent_config_parse_service ("Web:80", &s), -1);

    char path[] = "/tmp/agent-config-test-XXXXXX";
    int fd = mkstemp (path);
    const char *yaml = "shed: dev-1\n"
                       "connect: unix:/tmp/x.sock\n"
                       "metrics_interval_ms: 1500\n"
                       "processes:\n"
                       "  - name: web\n"
                       "    cmd: sleep 1\n"
                       "    restart: always\n"
                       "tail:\n"
                       "  - {stream: syslog, path: /var/log/syslog}\n"
                       "services:\n"
                       "  - name: web\n"
                       "    port: 8080\n"
                       "    tags: {env: dev}\n";
    assert_int_equal (write (fd, yaml, strlen (yaml)), (ssize_t) strlen (yaml));
    close (fd);
    agent_config_t *cfg = malloc (sizeof *cfg);
    agent_config_defaults (cfg);
    char err[256];
    assert_int_equal (agent_config_load (cfg, path, err, sizeof err), 0);
    assert_string_equal (cfg->shed, "dev-1");
    assert_int_equal (cfg->metrics_interval_ms, 1500);
    assert_int_equal (cfg->nprocs, 1);
    assert_int_equal (cfg->procs[0].restart, AGENT_RESTART_ALWAYS);
    assert_int_equal (cfg->ntails, 1);
    assert_int_equal (cfg->services[0].ntags, 1);

    /* An error names the line. */
    fd = open (path, O_WRONLY | O_TRUNC);
    const char *bad = "shed: x\nprocesses:\n  - name: web\n    cmd: x\n    restart: sometimes\n";
    assert_int_equal (write (fd, bad, strlen (bad)), (ssize_t) strlen (bad));
    close (fd);
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_load (cfg, path, err, sizeof err), -1);
    assert_non_null (strstr (err, ":5:"));
    unlink (path);

    char *argv[] = { "shed-agent", "--connect", "unix:/x", "--run",     "a=echo hi", "--run",
                     "b=true",     "--restart", "never",   "--service", "db:5432",   NULL };
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_args (cfg, 11, argv, err, sizeof err), 0);
    assert_int_equal (cfg->nprocs, 2);
    assert_int_equal (cfg->procs[1].restart, AGENT_RESTART_NEVER);
    assert_int_equal (cfg->nservices, 1);
    assert_string_equal (cfg->connect, "unix:/x");
    assert_string_equal (cfg->cgroup_root, ""); /* a VM: /proc only */
    char *cg_argv[] = { "shed-agent", "--cgroup-root", "/sys/fs/cgroup", NULL };
    assert_int_equal (agent_config_args (cfg, 3, cg_argv, err, sizeof err), 0);
    assert_string_equal (cfg->cgroup_root, "/sys/fs/cgroup");
    assert_false (cfg->container);
    char *ct_argv[] = { "shed-agent", "--container", NULL };
    assert_int_equal (agent_config_args (cfg, 2, ct_argv, err, sizeof err), 0);
    assert_true (cfg->container);
    char *cg_bad[] = { "shed-agent", "--cgroup-root", "", NULL };
    assert_int_equal (agent_config_args (cfg, 3, cg_bad, err, sizeof err), -1);
    char *bad_argv[] = { "shed-agent", "--run", "nocmd", NULL };
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_args (cfg, 3, bad_argv, err, sizeof err), -1);
    free (cfg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parsers),           cmocka_unit_test (test_cgroup_parsers),
        cmocka_unit_test (test_cgroup_collect_v1), cmocka_unit_test (test_cgroup_collect_v2),
        cmocka_unit_test (test_cgroup_not_found),  cmocka_unit_test (test_container_v2),
        cmocka_unit_test (test_container_v1),      cmocka_unit_test (test_cgroup_disks),
        cmocka_unit_test (test_collect_live),      cmocka_unit_test (test_config),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
