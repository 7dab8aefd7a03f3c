/*
 * agent_e2e_test.c - the real shed-agent binary against a host listener on
 * a Unix socket in a fresh temp dir:
 *
 *   - hello arrives with the origin stamped by the host (not the payload);
 *   - metrics arrive at the host-configured interval with plausible values;
 *   - a supervised process's stdout/stderr lines arrive as logs, before its
 *     exit code arrives as a process event;
 *   - a provisioning run executes in order, streams output, stops at the
 *     failing step and reports its exit code;
 *   - with no host listening the agent buffers, drops its oldest, and on
 *     connecting reports the dropped count first; it reconnects after the
 *     host restarts;
 *   - an abusive client on another shed's socket is cut off while the real
 *     agent's events keep flowing;
 *   - in --init mode orphans are reaped (no zombies left behind).
 */
#include "bridges/agent_host.h"

#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_bucket.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char dir[64];
    char path[128];
    agent_host_t *host;
    pid_t agent;
} s_fix_t;

static agent_host_t *
s_host (s_fix_t *fx)
{
    agent_host_config_t cfg = {
        .node = "node-e2e",
        .metrics_interval_ms = 300,
        .heartbeat_ms = 1000,
    };
    agent_host_t *host = agent_host_new (&cfg);
    assert_non_null (host);
    assert_int_equal (agent_host_add_shed (host, "e2e", fx->path), 0);
    return host;
}

static int
s_setup (void **state)
{
    s_fix_t *fx = calloc (1, sizeof *fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/agent-e2e-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->path, sizeof fx->path, "%s/agent.sock", fx->dir);
    *state = fx;
    return 0;
}

static void
s_stop_agent (s_fix_t *fx)
{
    if (fx->agent <= 0)
        return;
    kill (fx->agent, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid (fx->agent, NULL, WNOHANG) == fx->agent) {
            fx->agent = 0;
            return;
        }
        usleep (50 * 1000);
    }
    kill (fx->agent, SIGKILL);
    waitpid (fx->agent, NULL, 0);
    fx->agent = 0;
}

static int
s_teardown (void **state)
{
    s_fix_t *fx = *state;
    s_stop_agent (fx);
    agent_host_destroy (&fx->host);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system (cmd) != 0)
        fprintf (stderr, "cleanup of %s failed\n", fx->dir);
    free (fx);
    return 0;
}

/* Start shed-agent with `extra` arguments (NULL-terminated). */
static void
s_spawn (s_fix_t *fx, const char *const *extra)
{
    char target[160];
    snprintf (target, sizeof target, "unix:%s", fx->path);
    char *argv[32] = { SHED_AGENT_BIN, "--connect",     target, "--shed",
                       "e2e",          "--backoff-min", "50",   "--backoff-max",
                       "200",          "--log-level",   "warn" };
    size_t n = 11;
    if (getenv ("AGENT_E2E_LOG")) /* debugging aid */
        argv[10] = getenv ("AGENT_E2E_LOG");
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = (char *) (uintptr_t) extra[i]; /* execv's old signature */
    argv[n] = NULL;
    fx->agent = fork ();
    assert_true (fx->agent >= 0);
    if (fx->agent == 0) {
        execv (argv[0], argv);
        _exit (127);
    }
}

static const char *
s_text (const agent_event_t *ev)
{
    return ev->msg.u.agent_log.text;
}

static void
test_lifecycle (void **state)
{
    s_fix_t *fx = *state;
    fx->host = s_host (fx);
    const char *extra[] = { "--run",
                            "hello=echo line-one; echo err-line >&2; echo line-two; exit 3",
                            "--restart", "never", NULL };
    s_spawn (fx, extra);

    bool connected = false, started = false, exited = false;
    int out_lines = 0, err_lines = 0, metrics = 0;
    int64_t first_metrics_ts = 0, last_metrics_ts = 0;
    uint64_t last_seq = 0;
    int64_t until = agent_clock_mono_ms () + 15000;
    while (agent_clock_mono_ms () < until && !(exited && metrics >= 4)) {
        agent_event_t *ev = agent_host_recv (fx->host, 500);
        if (!ev)
            continue;
        assert_string_equal (ev->node, "node-e2e");
        assert_string_equal (ev->shed, "e2e");
        assert_true (ev->seq > last_seq); /* per-origin, gap-free here */
        assert_int_equal (ev->seq, last_seq + 1);
        last_seq = ev->seq;
        if (ev->kind == AGENT_EVENT_CONNECTED) {
            connected = true;
            assert_string_equal (ev->msg.u.agent_hello.shed, "e2e");
            assert_true (ev->msg.u.agent_hello.caps & AGENT_CAP_PROVISION);
            assert_int_equal (ev->msg.u.agent_hello.pid, (uint64_t) fx->agent);
        }
        else if (ev->msg.hdr.type == AGENT_METRICS) {
            agent_metrics_t *m = &ev->msg.u.agent_metrics;
            assert_true (m->mem_total > 0 && m->mem_used > 0 && m->mem_used <= m->mem_total);
            assert_true (m->cpu_count >= 1 && m->cpu_pct >= 0 && m->cpu_pct <= 100);
            assert_true (m->procs >= 1 && m->disks.n >= 1);
            assert_true (m->disks.items[0].total > 0);
            if (!first_metrics_ts)
                first_metrics_ts = ev->ts_ms;
            last_metrics_ts = ev->ts_ms;
            metrics++;
        }
        else if (ev->msg.hdr.type == AGENT_LOG) {
            assert_false (exited); /* lines before the exit */
            if (!strcmp (ev->msg.u.agent_log.stream, "hello-out")) {
                out_lines++;
                assert_int_equal (ev->msg.u.agent_log.seq, (uint64_t) out_lines);
                assert_string_equal (s_text (ev), out_lines == 1 ? "line-one" : "line-two");
            }
            else {
                assert_string_equal (ev->msg.u.agent_log.stream, "hello-err");
                assert_string_equal (s_text (ev), "err-line");
                err_lines++;
            }
        }
        else if (ev->msg.hdr.type == AGENT_PROC_EVENT) {
            agent_proc_event_t *p = &ev->msg.u.agent_proc_event;
            assert_string_equal (p->name, "hello");
            if (p->kind == AGENT_PROC_START)
                started = true;
            else {
                assert_int_equal (p->kind, AGENT_PROC_EXIT);
                assert_true (started);
                assert_int_equal (p->exit_code, 3);
                assert_int_equal (p->signal, 0);
                assert_true (p->crashed);
                exited = true;
            }
        }
        agent_event_destroy (&ev);
    }
    assert_true (connected);
    assert_int_equal (out_lines, 2);
    assert_int_equal (err_lines, 1);
    assert_true (exited);
    assert_true (metrics >= 4);
    /* Interval 300 ms: 3+ gaps between first and last. */
    int64_t avg = (last_metrics_ts - first_metrics_ts) / (metrics - 1);
    assert_true (avg >= 200 && avg <= 1000);

    agent_msg_t latest;
    assert_int_equal (agent_host_metrics (fx->host, "e2e", &latest, NULL), 0);
    assert_true (latest.u.agent_metrics.mem_total > 0);
    wire_msg_free (&agent_proto, &latest);

    /* Provisioning: input on stdin, a failing step, a step never run. */
    agent_step_t steps[3];
    memset (steps, 0, sizeof steps);
    snprintf (steps[0].name, sizeof steps[0].name, "feed");
    snprintf (steps[0].cmd, sizeof steps[0].cmd, "cat");
    uint8_t input[] = "hello-input";
    steps[0].input.data = input;
    steps[0].input.len = sizeof input - 1;
    snprintf (steps[1].name, sizeof steps[1].name, "fail");
    snprintf (steps[1].cmd, sizeof steps[1].cmd, "echo two >&2; exit 4");
    snprintf (steps[2].name, sizeof steps[2].name, "never");
    snprintf (steps[2].cmd, sizeof steps[2].cmd, "echo three");
    agent_provision_t run;
    memset (&run, 0, sizeof run);
    run.run = 42;
    run.steps.n = 3;
    run.steps.items = steps;
    assert_int_equal (agent_host_provision (fx->host, "e2e", &run), 0);

    char out0[64] = "", err1[64] = "";
    int step_done = 0;
    bool done = false;
    until = agent_clock_mono_ms () + 10000;
    while (agent_clock_mono_ms () < until && !done) {
        agent_event_t *ev = agent_host_recv (fx->host, 500);
        if (!ev)
            continue;
        if (ev->msg.hdr.type == AGENT_PROVISION_OUTPUT) {
            agent_provision_output_t *o = &ev->msg.u.agent_provision_output;
            assert_int_equal (o->run, 42);
            assert_true (o->step < 2);
            char *dst = o->step == 0 ? out0 : err1;
            assert_int_equal (o->fd, o->step == 0 ? AGENT_FD_STDOUT : AGENT_FD_STDERR);
            assert_int_equal (o->offset, strlen (dst));
            strncat (dst, (const char *) o->data.data, o->data.len);
        }
        else if (ev->msg.hdr.type == AGENT_PROC_EVENT
                 && ev->msg.u.agent_proc_event.kind == AGENT_PROC_STEP_DONE) {
            agent_proc_event_t *p = &ev->msg.u.agent_proc_event;
            assert_int_equal (p->run, 42);
            assert_int_equal (p->step, (uint64_t) step_done);
            assert_int_equal (p->exit_code, step_done == 0 ? 0 : 4);
            assert_string_equal (p->name, step_done == 0 ? "feed" : "fail");
            step_done++;
        }
        else if (ev->msg.hdr.type == AGENT_PROVISION_DONE) {
            agent_provision_done_t *d = &ev->msg.u.agent_provision_done;
            assert_int_equal (d->run, 42);
            assert_false (d->ok);
            assert_int_equal (d->failed_step, 1);
            assert_int_equal (d->steps_run, 2);
            done = true;
        }
        agent_event_destroy (&ev);
    }
    assert_true (done);
    assert_int_equal (step_done, 2);
    assert_string_equal (out0, "hello-input");
    assert_string_equal (err1, "two\n");

    /* An orderly stop says goodbye. */
    s_stop_agent (fx);
    bool gone = false;
    agent_event_t *ev;
    while (!gone && (ev = agent_host_recv (fx->host, 2000))) {
        if (ev->kind == AGENT_EVENT_DISCONNECTED) {
            assert_string_equal (ev->reason, "agent closed");
            gone = true;
        }
        agent_event_destroy (&ev);
    }
    assert_true (gone);
}

/* The host's limits change while the real agent is connected (a node's
 * SIGHUP): the agent takes the second HELLO_ACK on the same connection
 * and sends metrics at the new interval, without reconnecting. */
static void
test_settings_change (void **state)
{
    s_fix_t *fx = *state;
    agent_host_config_t cfg = { .node = "node-e2e",
                                .metrics_interval_ms = 5000,
                                .heartbeat_ms = 1000 };
    fx->host = agent_host_new (&cfg);
    assert_non_null (fx->host);
    assert_int_equal (agent_host_add_shed (fx->host, "e2e", fx->path), 0);
    s_spawn (fx, NULL);
    int connected = 0, metrics = 0;
    int64_t until = agent_clock_mono_ms () + 10000, changed_at = 0;
    while (agent_clock_mono_ms () < until && metrics < 5) {
        agent_event_t *ev = agent_host_recv (fx->host, 100);
        if (ev && ev->kind == AGENT_EVENT_CONNECTED)
            connected++;
        else if (ev && ev->msg.hdr.type == AGENT_METRICS && changed_at)
            metrics++;
        agent_event_destroy (&ev);
        if (connected && !changed_at) {
            usleep (300 * 1000); /* past the first metrics sample */
            agent_host_config_t limits = { .metrics_interval_ms = 200, .heartbeat_ms = 1000 };
            assert_int_equal (agent_host_set_limits (fx->host, &limits), 0);
            changed_at = agent_clock_mono_ms ();
        }
    }
    /* Five samples at 200 ms, long before the old 5 s interval's next one. */
    assert_int_equal (metrics, 5);
    assert_true (agent_clock_mono_ms () - changed_at < 4000);
    assert_int_equal (connected, 1);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "e2e", &st), 0);
    assert_int_equal (st.connections, 1);
    assert_int_equal (st.bad_total, 0);
}

static void
test_buffer_and_reconnect (void **state)
{
    s_fix_t *fx = *state;
    /* No host yet: 100 lines + a START event into a 20-message buffer. */
    const char *extra[] = {
        "--run", "chatter=i=0; while [ $i -lt 100 ]; do echo l$i; i=$((i+1)); done; exec sleep 60",
        "--buffer-frames", "20", NULL
    };
    s_spawn (fx, extra);
    usleep (1000 * 1000);
    fx->host = s_host (fx);

    uint64_t dropped = 0;
    int logs = 0, connected = 0;
    char last[64] = "";
    bool saw_dropped_first = false;
    int64_t until = agent_clock_mono_ms () + 10000;
    /* Until every one of the 101 messages (START + 100 lines) is either
     * delivered or counted as dropped (later drops: BACKPRESSURE notices). */
    while (agent_clock_mono_ms () < until
           && (strcmp (last, "l99") != 0 || dropped + (uint64_t) logs < 101)) {
        agent_event_t *ev = agent_host_recv (fx->host, 500);
        if (!ev)
            continue;
        if (ev->kind == AGENT_EVENT_CONNECTED) {
            connected++;
            assert_true (ev->msg.u.agent_hello.buffered > 0);
        }
        else if (ev->msg.hdr.type == AGENT_DROPPED) {
            if (logs == 0) { /* the first notice comes first */
                saw_dropped_first = true;
                assert_int_equal (ev->msg.u.agent_dropped.reason, AGENT_DROP_DISCONNECTED);
                assert_true (ev->msg.u.agent_dropped.count >= 80);
            }
            dropped += ev->msg.u.agent_dropped.count;
        }
        else if (ev->msg.hdr.type == AGENT_LOG) {
            logs++;
            snprintf (last, sizeof last, "%.63s", s_text (ev));
            /* The sequence numbers show the gap. */
            assert_true (ev->msg.u.agent_log.seq > 80);
        }
        agent_event_destroy (&ev);
    }
    assert_int_equal (connected, 1);
    assert_true (saw_dropped_first);
    assert_string_equal (last, "l99");
    /* Every one of the 101 messages is either delivered or counted. */
    assert_int_equal (dropped + (uint64_t) logs, 101);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "e2e", &st), 0);
    assert_int_equal (st.agent_dropped, dropped);

    /* The host restarts: the agent comes back by itself. */
    agent_host_destroy (&fx->host);
    usleep (300 * 1000);
    fx->host = s_host (fx);
    bool back = false;
    until = agent_clock_mono_ms () + 10000;
    while (!back && agent_clock_mono_ms () < until) {
        agent_event_t *ev = agent_host_recv (fx->host, 500);
        if (ev && ev->kind == AGENT_EVENT_CONNECTED)
            back = true;
        agent_event_destroy (&ev);
    }
    assert_true (back);
}

/* Garbage on another shed's socket does not disturb this shed's agent. */
static void
test_abuser_beside_agent (void **state)
{
    s_fix_t *fx = *state;
    fx->host = s_host (fx);
    char other[160];
    snprintf (other, sizeof other, "%s/other.sock", fx->dir);
    assert_int_equal (agent_host_add_shed (fx->host, "other", other), 0);
    s_spawn (fx, NULL);

    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    assert_true (strlen (other) < sizeof sa.sun_path);
    memcpy (sa.sun_path, other, strlen (other));
    assert_int_equal (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t) (i * 7 + 1);
    junk[0] = 0xee; /* not a type */
    ssize_t sent = send (fd, junk, sizeof junk, MSG_NOSIGNAL);
    (void) sent; /* may already be closed */

    int metrics = 0;
    bool abuser_cut = false;
    int64_t until = agent_clock_mono_ms () + 10000;
    while (agent_clock_mono_ms () < until && !(metrics >= 3 && abuser_cut)) {
        agent_event_t *ev = agent_host_recv (fx->host, 500);
        if (!ev)
            continue;
        if (!strcmp (ev->shed, "e2e") && ev->msg.hdr.type == AGENT_METRICS)
            metrics++;
        if (!strcmp (ev->shed, "other") && ev->kind == AGENT_EVENT_DISCONNECTED)
            abuser_cut = true;
        agent_event_destroy (&ev);
    }
    close (fd);
    assert_true (abuser_cut);
    assert_true (metrics >= 3);
    agent_host_stats_t st;
    assert_int_equal (agent_host_stats (fx->host, "other", &st), 0);
    assert_int_equal (st.bad[AGENT_BAD_TYPE], 1);
    assert_int_equal (agent_host_stats (fx->host, "e2e", &st), 0);
    assert_int_equal (st.bad_total, 0);
}

/* Count zombie children of `ppid`. */
static int
s_zombies_of (pid_t ppid)
{
    DIR *d = opendir ("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir (d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen (path, "r");
        if (!f)
            continue;
        size_t len = fread (buf, 1, sizeof buf - 1, f);
        fclose (f);
        buf[len] = 0;
        char *rp = strrchr (buf, ')');
        char st;
        int pp;
        if (rp && sscanf (rp + 2, "%c %d", &st, &pp) == 2 && pp == ppid && st == 'Z')
            n++;
    }
    if (d)
        closedir (d);
    return n;
}

static void
test_init_reaps_orphans (void **state)
{
    s_fix_t *fx = *state;
    fx->host = s_host (fx);
    /* The shell forks sleepers and exits at once: they are orphaned and
     * re-parented to the agent (subreaper in --init mode). */
    const char *extra[] = {
        "--init",    "--run", "orphans=(sleep 0.2 &); (sleep 0.3 &); echo spawned",
        "--restart", "never", NULL
    };
    s_spawn (fx, extra);
    bool exited = false;
    int64_t until = agent_clock_mono_ms () + 10000;
    while (!exited && agent_clock_mono_ms () < until) {
        agent_event_t *ev = agent_host_recv (fx->host, 500);
        if (ev && ev->msg.hdr.type == AGENT_PROC_EVENT
            && ev->msg.u.agent_proc_event.kind == AGENT_PROC_EXIT) {
            assert_true (ev->msg.u.agent_proc_event.exit_code == 0);
            assert_false (ev->msg.u.agent_proc_event.crashed);
            exited = true;
        }
        agent_event_destroy (&ev);
    }
    assert_true (exited);
    usleep (800 * 1000); /* the sleepers end and must be reaped */
    assert_int_equal (s_zombies_of (fx->agent), 0);
}

int
main (void)
{
    signal (SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_lifecycle, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_buffer_and_reconnect, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_settings_change, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_abuser_beside_agent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_init_reaps_orphans, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
