/* node_hooks_test.c - orchestration hooks with real /bin/sh commands: the
 * event as JSON on stdin and in the environment, prefix matching, the
 * timeout (the process group is killed), the queue bound (drops counted). */
#include "node/events/node_hooks.h"

#include "agent/proto/agent_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char s_dir[64];

/* A fake proc event: the supervised process `crasher` exited with code 3. */
static void
s_proc_event (bus_event_t *ev, uint8_t **buf)
{
    agent_msg_t m = { .hdr.type = AGENT_PROC_EVENT };
    m.u.agent_proc_event.kind = AGENT_PROC_EXIT;
    snprintf (m.u.agent_proc_event.name, sizeof m.u.agent_proc_event.name, "crasher");
    m.u.agent_proc_event.pid = 4242;
    m.u.agent_proc_event.exit_code = 3;
    m.u.agent_proc_event.crashed = true;
    size_t len = 0;
    assert_int_equal (wire_encode (&agent_proto, &m, buf, &len), WIRE_OK);
    memset (ev, 0, sizeof *ev);
    snprintf (ev->topic, sizeof ev->topic, "proc.node1.web");
    snprintf (ev->origin, sizeof ev->origin, "node1");
    snprintf (ev->kind, sizeof ev->kind, "agent.proc");
    ev->seq = 17;
    ev->tseq = 2;
    ev->boot = 99;
    ev->time_us = 1700000000123456;
    ev->payload = *buf;
    ev->size = len;
}

typedef struct {
    shed_hooks_t *hooks;
    uint64_t want_done; /* succeeded + failed */
    int64_t deadline;   /* mono ms */
} s_wait_t;

static int
s_check (zloop_t *loop, int timer_id, void *arg)
{
    s_wait_t *w = arg;
    shed_hooks_stats_t st;
    shed_hooks_stats (w->hooks, &st);
    bool done = st.succeeded + st.failed >= w->want_done && st.running == 0;
    return done || zclock_mono () >= w->deadline ? -1 : 0;
}

/* Run the loop until want_done runs finished, at most `ms`. */
static void
s_run (zloop_t *loop, shed_hooks_t *hooks, uint64_t want_done, int ms)
{
    s_wait_t w = { hooks, want_done, zclock_mono () + ms };
    int t = zloop_timer (loop, 10, 0, s_check, &w);
    zloop_start (loop);
    zloop_timer_end (loop, t);
}

/* A process that is gone or a zombie (nobody reaped it yet). */
static bool
s_dead (int pid)
{
    char path[64], buf[256] = "";
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return true;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    const char *paren = strrchr (buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static char *
s_slurp (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    char *buf = calloc (1, 65536);
    size_t n = fread (buf, 1, 65535, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

static void
test_event_on_stdin (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    shed_config_t cfg;
    shed_config_defaults (&cfg);
    strcpy (cfg.name, "node1");
    strcpy (cfg.api_endpoint, "ipc:///run/shed-test/api.sock");
    /* The node's own SHED_ADDR (another node's) is not what a hook gets. */
    setenv ("SHED_ADDR", "ipc:///elsewhere/api.sock", 1);
    char cmd[320];
    snprintf (cmd, sizeof cmd,
              "cat > %s/stdin.json; echo \"$SHED_EVENT_TOPIC $SHED_EVENT_ORIGIN "
              "$SHED_EVENT_SEQ $SHED_NODE $SHED_HOOK_EVENT $SHED_ADDR\" > %s/env",
              s_dir, s_dir);
    char err[256];
    assert_int_equal (shed_config_set (&cfg, "hooks", "proc.=placeholder", err, sizeof err), 0);
    snprintf (cfg.hooks[0].command, sizeof cfg.hooks[0].command, "%s", cmd);
    assert_int_equal (shed_config_set (&cfg, "hooks", "member.=exit 1", err, sizeof err), 0);
    shed_hooks_t *hooks = shed_hooks_new (&cfg, NULL, loop, err, sizeof err);
    assert_non_null (hooks);

    bus_event_t ev;
    uint8_t *buf = NULL;
    s_proc_event (&ev, &buf);
    assert_int_equal (shed_hooks_dispatch (hooks, &ev), 1); /* member. does not match */
    free (buf);                                             /* copied at dispatch */
    s_run (loop, hooks, 1, 5000);

    shed_hooks_stats_t st;
    shed_hooks_stats (hooks, &st);
    assert_int_equal (st.matched, 1);
    assert_int_equal (st.started, 1);
    assert_int_equal (st.succeeded, 1);
    assert_int_equal (st.failed, 0);

    char path[128];
    snprintf (path, sizeof path, "%s/stdin.json", s_dir);
    char *json = s_slurp (path);
    assert_non_null (json);
    assert_non_null (strstr (json, "\"topic\":\"proc.node1.web\""));
    assert_non_null (strstr (json, "\"origin\":\"node1\""));
    assert_non_null (strstr (json, "\"seq\":17"));
    assert_non_null (strstr (json, "\"kind\":\"agent.proc\""));
    assert_non_null (strstr (json, "\"time_us\":1700000000123456"));
    assert_non_null (strstr (json, "\"event\":\"exit\""));
    assert_non_null (strstr (json, "\"name\":\"crasher\""));
    assert_non_null (strstr (json, "\"exit_code\":3"));
    assert_non_null (strstr (json, "\"crashed\":true"));
    free (json);
    snprintf (path, sizeof path, "%s/env", s_dir);
    char *env = s_slurp (path);
    assert_non_null (env);
    assert_string_equal (env,
                         "proc.node1.web node1 17 node1 proc. ipc:///run/shed-test/api.sock\n");
    unsetenv ("SHED_ADDR");
    free (env);

    /* A failing hook is counted as failed. */
    snprintf (ev.topic, sizeof ev.topic, "member.node2");
    snprintf (ev.kind, sizeof ev.kind, "member");
    ev.payload = (const uint8_t *) "garbage";
    ev.size = 7;
    assert_int_equal (shed_hooks_dispatch (hooks, &ev), 1);
    s_run (loop, hooks, 2, 5000);
    shed_hooks_stats (hooks, &st);
    assert_int_equal (st.failed, 1);
    shed_hooks_destroy (&hooks);
    assert_null (hooks);
    zloop_destroy (&loop);
}

static void
test_timeout_and_queue (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    shed_config_t cfg;
    shed_config_defaults (&cfg);
    cfg.hooks_concurrency = 1;
    cfg.hooks_queue = 1;
    char err[256];
    /* The shell starts a grandchild that would outlive a kill of the shell
     * alone; the whole group must die at the timeout. */
    char cmd[256];
    snprintf (cmd, sizeof cmd, "slow.=sleep 30 & echo $! > %s/grandchild; wait", s_dir);
    assert_int_equal (shed_config_set (&cfg, "hooks", cmd, err, sizeof err), 0);
    cfg.hooks[0].timeout_ms = 300;
    shed_hooks_t *hooks = shed_hooks_new (&cfg, NULL, loop, err, sizeof err);
    assert_non_null (hooks);
    bus_event_t ev;
    memset (&ev, 0, sizeof ev);
    snprintf (ev.topic, sizeof ev.topic, "slow.x");
    snprintf (ev.kind, sizeof ev.kind, "test");
    ev.payload = (const uint8_t *) "";
    /* one runs, one waits, the third is dropped */
    assert_int_equal (shed_hooks_dispatch (hooks, &ev), 1);
    assert_int_equal (shed_hooks_dispatch (hooks, &ev), 1);
    assert_int_equal (shed_hooks_dispatch (hooks, &ev), 0);
    shed_hooks_stats_t st;
    shed_hooks_stats (hooks, &st);
    assert_int_equal (st.running, 1);
    assert_int_equal (st.queued, 1);
    assert_int_equal (st.dropped, 1);
    int64_t t0 = zclock_mono ();
    s_run (loop, hooks, 2, 5000);
    shed_hooks_stats (hooks, &st);
    assert_int_equal (st.started, 2);
    assert_int_equal (st.timed_out, 2);
    assert_int_equal (st.failed, 2);
    assert_true (zclock_mono () - t0 < 3000);
    char path[128];
    snprintf (path, sizeof path, "%s/grandchild", s_dir);
    char *pid = s_slurp (path);
    assert_non_null (pid);
    usleep (50 * 1000);
    assert_true (s_dead (atoi (pid))); /* killed with its group */
    free (pid);
    shed_hooks_destroy (&hooks);
    zloop_destroy (&loop);
}

/* A guest's flood of events fills only its own queue: membership and
 * shed-lifecycle events keep their budget and start first. */
static void
test_guest_flood_does_not_starve_membership (void **state)
{
    (void) state;
    zloop_t *loop = zloop_new ();
    shed_config_t cfg;
    shed_config_defaults (&cfg);
    cfg.hooks_concurrency = 1;
    cfg.hooks_queue = 4;
    char err[256], cmd[256];
    assert_int_equal (shed_config_set (&cfg, "hooks", "proc.=sleep 0.2", err, sizeof err), 0);
    snprintf (cmd, sizeof cmd, "member.=echo ok > %s/member-ran", s_dir);
    assert_int_equal (shed_config_set (&cfg, "hooks", cmd, err, sizeof err), 0);
    shed_hooks_t *hooks = shed_hooks_new (&cfg, NULL, loop, err, sizeof err);
    assert_non_null (hooks);
    bus_event_t ev;
    memset (&ev, 0, sizeof ev);
    snprintf (ev.kind, sizeof ev.kind, "test");
    ev.payload = (const uint8_t *) "";
    snprintf (ev.topic, sizeof ev.topic, "proc.node1.web");
    for (int i = 0; i < 200; i++)
        shed_hooks_dispatch (hooks, &ev);
    shed_hooks_stats_t st;
    shed_hooks_stats (hooks, &st);
    assert_int_equal (st.dropped, 200 - 1 - 4); /* one runs, four wait */
    snprintf (ev.topic, sizeof ev.topic, "member.node2");
    assert_int_equal (shed_hooks_dispatch (hooks, &ev), 1);
    shed_hooks_stats (hooks, &st);
    assert_int_equal (st.dropped_control, 0);
    /* It runs next, before the guest's queued four. */
    s_run (loop, hooks, 2, 5000);
    char path[128];
    snprintf (path, sizeof path, "%s/member-ran", s_dir);
    char *text = s_slurp (path);
    assert_non_null (text);
    assert_string_equal (text, "ok\n");
    free (text);
    shed_hooks_destroy (&hooks);
    zloop_destroy (&loop);
}

int
main (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/shed-hooks-test.XXXXXX");
    if (!mkdtemp (s_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_event_on_stdin),
        cmocka_unit_test (test_timeout_and_queue),
        cmocka_unit_test (test_guest_flood_does_not_starve_membership),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (system (cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
