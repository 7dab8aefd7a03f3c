/*
 * metrics_test.c - /proc parsers against sample files in agent/testdata,
 * the live collector on this machine, and the config parsers.
 */
#include "agent/config.h"
#include "agent/metrics.h"

#include "common/fileutil.h"

#include <fcntl.h>
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
    assert_int_equal (n, 2);                    /* capped at max */
    assert_string_equal (nics[1].name, "eth0");
    assert_int_equal (rx, 9876543 + 100);       /* lo excluded */
    assert_int_equal (tx, 1234567 + 200);
    free (t);
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
    const char *yaml =
        "shed: dev-1\n"
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

    char *argv[] = { "shed-agent", "--connect", "unix:/x", "--run", "a=echo hi", "--run",
                     "b=true", "--restart", "never", "--service", "db:5432", NULL };
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_args (cfg, 11, argv, err, sizeof err), 0);
    assert_int_equal (cfg->nprocs, 2);
    assert_int_equal (cfg->procs[1].restart, AGENT_RESTART_NEVER);
    assert_int_equal (cfg->nservices, 1);
    assert_string_equal (cfg->connect, "unix:/x");
    char *bad_argv[] = { "shed-agent", "--run", "nocmd", NULL };
    agent_config_defaults (cfg);
    assert_int_equal (agent_config_args (cfg, 3, bad_argv, err, sizeof err), -1);
    free (cfg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parsers),
        cmocka_unit_test (test_collect_live),
        cmocka_unit_test (test_config),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
